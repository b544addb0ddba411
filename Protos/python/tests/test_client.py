"""The typed client against the real daemon: one method per RPC, the workflow, request ids and
retries, paging, streams and the asyncio flavour."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest

from foshan.subsidy.v1 import district_pb2 as d
from foshan.subsidy.v1 import health_pb2, reflection_pb2
from foshan.subsidy.v1 import types_pb2 as t
from subsidy_client import AsyncClient, Client, RetryPolicy, RpcError, StatusCode, make_uscc

SERVICES = {
    "Health": "health", "Identity": "identity", "Reflection": "reflection",
    "DistrictService": "district", "CityService": "city", "Admin": "admin",
    "Programmes": "programmes", "DistrictProgrammes": "district_programmes", "Calls": "calls",
}


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def test_one_method_per_rpc_with_the_protos_types():
    """Every RPC of every service in the protos has a method, taking and returning its types."""
    from foshan.subsidy.v1 import admin_pb2, city_pb2, district_pb2, health_pb2, identity_pb2, programmes_pb2, reflection_pb2

    seen = 0
    for module in (admin_pb2, city_pb2, district_pb2, health_pb2, identity_pb2, programmes_pb2, reflection_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            stub_cls = type(getattr(Client("/nonexistent"), SERVICES[service.name]))
            for method in service.methods:
                name = "who_am_i" if method.name == "WhoAmI" else snake(method.name)
                fn = getattr(stub_cls, name, None)
                assert fn is not None, f"{service.full_name}.{method.name} has no method {name}"
                hints = fn.__annotations__
                assert method.input_type.name in str(hints["request"]), (name, hints)
                if method.server_streaming:
                    assert "StreamCall" in str(hints["return"]), name
                else:
                    assert method.output_type.name in str(hints["return"]), (name, hints)
                seen += 1
    assert seen == 48  # every RPC of the protos today; a new one must get a method here


def test_every_rpc_the_daemon_lists_has_a_method(client):
    services = client("nanhai").reflection.list_services().services
    assert {s.name.rsplit(".", 1)[1] for s in services} == set(SERVICES)
    for service in services:
        stub = getattr(client("nanhai"), SERVICES[service.name.rsplit(".", 1)[1]])
        for method in service.methods:
            name = "who_am_i" if method.name == "WhoAmI" else snake(method.name)
            assert callable(getattr(stub, name, None)), method.full_name


def uscc(n: int) -> str:
    return make_uscc(f"91440605{n:08d}")  # a Nanhai (440605) enterprise


#: The day the district files on (metadata ``x-today``, which a --dev daemon takes): before
#: the decisions these tests date in 2022, as no decision may be dated before its filing.
FILED = "2022-01-04"


def prepare(client, serial):
    nanhai, city = client("nanhai", metadata={"x-today": FILED}), client("city")
    buyer, provider = uscc(20_000 + serial()), uscc(30_000 + serial())
    nanhai.district.register_applicant(applicant=t.Applicant(
        uscc=buyer, name="买方企业", locality=t.LOCAL, role=t.INDUSTRIAL_ENTERPRISE))
    nanhai.district.register_applicant(applicant=t.Applicant(
        uscc=provider, name="服务商", locality=t.LOCAL, role=t.SERVICE_PROVIDER))
    city.city.register_pool_member(member=t.PoolMember(uscc=provider, name="服务商", entry_date="2020-08-01"))
    return nanhai, city, buyer, provider


def voucher(buyer, provider, contract, fen=120_000_000):
    return t.Application(
        measure=t.CLOUD_VOUCHER, funding_year=2022, enterprise_uscc=buyer, provider_uscc=provider,
        project_name=f"上云 {contract}", contract_number=contract, contract_amount_fen=fen, paid_amount_fen=fen)


def test_health_and_identity(client):
    nanhai = client("nanhai")
    assert nanhai.health.check().status == health_pb2.SERVING_STATUS_SERVING
    assert nanhai.health.check(service="foshan.subsidy.v1.DistrictService").status == health_pb2.SERVING_STATUS_SERVING
    me = nanhai.identity.who_am_i()
    assert (me.tenant, me.role) == ("nanhai", t.DISTRICT)
    assert (client("city").identity.who_am_i().role) == t.CITY


def test_workflow_submit_review_approve_publicize_disburse(client, serial):
    nanhai, city, buyer, provider = prepare(client, serial)
    app = voucher(buyer, provider, f"PKG-{serial()}")
    assert nanhai.district.quote(application=app, decision_date="2022-06-01").explanation.award_fen == 50_000_000
    request = d.SubmitApplicationRequest(application=app)
    record = nanhai.district.submit_application(request).record
    assert request.request_id, "the client fills in a request id"
    assert record.history[0].request_id == request.request_id
    # The same request again (what a retry sends) is the first answer, not a second application.
    assert nanhai.district.submit_application(request).record == record
    assert nanhai.district.review_application(application_id=record.id, outcome=d.RECOMMEND).record.state == t.RECOMMENDED
    approved = city.city.approve_application(application_id=record.id, decision_date="2022-06-01").record
    assert (approved.state, approved.awarded_fen) == (t.APPROVED, 50_000_000)
    assert city.city.publicize_application(application_id=record.id, decision_date="2022-06-02").record.state == t.PUBLICIZED
    assert city.city.disburse_application(application_id=record.id, decision_date="2022-06-09").record.state == t.DISBURSED
    assert nanhai.district.get_application(application_id=record.id).record.state == t.DISBURSED
    assert all(chain.ok for chain in city.city.verify_audit().chains)


def test_errors_carry_their_details_and_are_not_retried(client, serial):
    nanhai, city, buyer, provider = prepare(client, serial)
    with pytest.raises(RpcError) as denied:
        nanhai.city.get_quota(funding_year=2022)
    assert denied.value.code == StatusCode.PERMISSION_DENIED
    # A cap without headroom: RESOURCE_EXHAUSTED with a CapViolation, and no retry.
    first = nanhai.district.submit_application(application=voucher(buyer, provider, f"CAP-{serial()}")).record.id
    second = nanhai.district.submit_application(application=voucher(buyer, provider, f"CAP-{serial()}")).record.id
    for app_id in (first, second):
        nanhai.district.review_application(application_id=app_id, outcome=d.RECOMMEND)
    city.city.approve_application(application_id=first, decision_date="2022-06-01")
    before = city.retries
    with pytest.raises(RpcError) as exhausted:
        city.city.approve_application(application_id=second, decision_date="2022-06-01")
    assert exhausted.value.code == StatusCode.RESOURCE_EXHAUSTED
    assert exhausted.value.status.cap_violations[0].cap_id == "CLOUD_VOUCHER.per_enterprise"
    assert city.retries == before


def test_a_request_too_large_for_a_frame_is_refused_before_sending_and_not_retried(client, serial):
    nanhai, _city, _buyer, _provider = prepare(client, serial)
    before = nanhai.retries
    with pytest.raises(RpcError) as oversized:
        nanhai.district.get_applicant(uscc="X" * (5 * 1024 * 1024))
    assert oversized.value.code == StatusCode.RESOURCE_EXHAUSTED and oversized.value.local
    assert "exceeds the maximum 4194304" in oversized.value.message
    assert nanhai.retries == before
    # The connection is untouched: the next call goes through on it.
    assert nanhai.health.check().status
    # A client told of a larger limit sends it, and the daemon (4 MiB) is the one to refuse it.
    larger = Client(nanhai.socket_path, max_frame_length=8 * 1024 * 1024, retry=RetryPolicy(attempts=1))
    with pytest.raises(RpcError) as refused:
        larger.district.get_applicant(uscc="X" * (5 * 1024 * 1024))
    assert not (refused.value.local and refused.value.code == StatusCode.RESOURCE_EXHAUSTED), "sent, not refused locally"


def test_same_request_id_with_other_content_is_refused(client, serial):
    nanhai, _city, buyer, provider = prepare(client, serial)
    request = d.SubmitApplicationRequest(application=voucher(buyer, provider, f"RID-{serial()}"))
    nanhai.district.submit_application(request)
    other = d.SubmitApplicationRequest(request_id=request.request_id, application=voucher(buyer, provider, f"RID-{serial()}"))
    with pytest.raises(RpcError) as reused:
        nanhai.district.submit_application(other)
    assert reused.value.code == StatusCode.ALREADY_EXISTS
    assert [v.field for v in reused.value.field_violations] == ["request.request_id"]


def test_a_lost_connection_is_retried_with_the_same_request_id(client, serial):
    """The connection drops while a submit is in flight (its outcome unknown); the client
    reconnects and resends the identical request, and the daemon answers with the one record."""
    nanhai, _city, buyer, provider = prepare(client, serial)
    request = d.SubmitApplicationRequest(application=voucher(buyer, provider, f"LOST-{serial()}"))
    conn = nanhai.connection
    threading.Timer(0.2, lambda: conn.sock.shutdown(2)).start()
    # --test-hooks: the handler starts 600 ms after the request arrives, so the first attempt's
    # connection is gone by then (the handler still runs and commits; the retry learns its result).
    record = nanhai.unary("/foshan.subsidy.v1.DistrictService/SubmitApplication", request,
                          d.SubmitApplicationResponse, metadata={"x-test-delay-ms": "600"}).record
    assert nanhai.retries == 1
    assert nanhai.connection is not conn
    assert record.history[0].request_id == request.request_id
    mine = [r for r in nanhai.district.list_applications(enterprise_uscc=buyer).records]
    assert [r.id for r in mine] == [record.id]


def test_deadline_exceeded_is_retried_then_reported(client):
    nanhai = client("nanhai", retry=RetryPolicy(attempts=3, initial_backoff=0.01))
    with pytest.raises(RpcError) as late:
        nanhai.unary("/foshan.subsidy.v1.Health/Check", health_pb2.HealthCheckRequest(),
                     health_pb2.HealthCheckResponse, timeout_ms=100, metadata={"x-test-delay-ms": "400"})
    assert late.value.code == StatusCode.DEADLINE_EXCEEDED
    assert nanhai.retries == 2


def test_a_missing_socket_is_unavailable_after_the_retries(tmp_path):
    lonely = Client(str(tmp_path / "nothing.sock"), retry=RetryPolicy(attempts=2, initial_backoff=0.01))
    with pytest.raises(RpcError) as gone:
        lonely.health.check()
    assert gone.value.code == StatusCode.UNAVAILABLE
    assert lonely.retries == 1


def test_paging_lists_every_applicant(client, serial):
    nanhai = client("nanhai")
    for _ in range(7):
        nanhai.district.register_applicant(applicant=t.Applicant(
            uscc=uscc(40_000 + serial()), name="分页企业", locality=t.LOCAL, role=t.INDUSTRIAL_ENTERPRISE))
    seen, token, pages = [], "", 0
    while True:
        page = nanhai.district.list_applicants(page_size=3, page_token=token)
        seen += [a.uscc for a in page.applicants]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages >= 3 and len(seen) == len(set(seen)) >= 7 and seen == sorted(seen)


def test_watch_quota_stream_and_cancel(client):
    city = client("city")
    watch = city.city.watch_quota(funding_year=2022, wait=15)
    first = next(watch)
    assert any(cap.cap_id == "CLOUD_VOUCHER.annual_budget" for cap in first.caps)
    watch.cancel()
    with pytest.raises(RpcError) as cancelled:
        list(watch)
    assert cancelled.value.code == StatusCode.CANCELLED


def test_request_message_or_fields_not_both(client):
    with pytest.raises(TypeError):
        client("nanhai").health.check(health_pb2.HealthCheckRequest(), service="")
    with pytest.raises(TypeError):
        client("nanhai").health.check(reflection_pb2.ListServicesRequest())


def test_asyncio_client(daemon):
    async def main():
        async with AsyncClient(daemon.socket("city")) as city:
            checks = await asyncio.gather(*(city.health.check() for _ in range(20)))
            quota = await city.city.get_quota(funding_year=2022)
            return checks, quota

    checks, quota = asyncio.run(main())
    assert {r.status for r in checks} == {health_pb2.SERVING_STATUS_SERVING}
    assert quota.caps


def test_admin_metrics(client):
    assert "subsidyd" in client("city").admin.get_metrics().text

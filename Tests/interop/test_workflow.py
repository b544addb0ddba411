"""Interop: the whole application lifecycle, driven by the Python client against the real daemon.

A district registers a buyer and a provider, the city puts the provider in the resource pool, the
district quotes, files and recommends a CLOUD_VOUCHER application, and the city approves,
publicizes and disburses it. Along the way: tenancy (another district, a district calling the
city's service), request_id idempotency, and the audit chains. Each test gets its own daemon, so
the caps it checks start from zero.
"""

from __future__ import annotations

import uuid

import pytest

from subsidy_client import Connection, RpcError, StatusCode, make_uscc, uscc_is_valid

DISTRICT = "/foshan.subsidy.v1.DistrictService/"
CITY = "/foshan.subsidy.v1.CityService/"
WAIT = 15.0  # seconds any single reply may take before a test gives up


def uscc(n: int, area: int = 0) -> str:
    """The n-th test USCC of a Foshan enterprise: 9 (business) 1 (enterprise) 44060<area>
    (district code) and an 8-digit body; both check characters computed."""
    code = make_uscc(f"9144060{area}{n:08d}")
    assert uscc_is_valid(code)
    return code


#: The day districts file on (metadata ``x-today``, which a --dev daemon takes): no decision may
#: be dated before its application was filed.
FILED = "2022-01-04"


def rid() -> str:
    return str(uuid.uuid4())


class Tenant:
    """One connection to one tenant's socket, with typed calls."""

    def __init__(self, daemon, pb, tenant: str):
        self.pb = pb
        self.name = tenant
        self.conn = Connection(daemon.socket(tenant))

    def call(self, method: str, request, response_cls, metadata=None):
        return self.conn.unary(method, request, response_cls, timeout_ms=10_000, wait=WAIT, metadata=metadata)

    def district(self, name: str, request):
        # Filings and reviews are made on FILED: the decisions these tests date in 2022 come after
        # them (none may be dated before its application's filing, nor before its recommendation).
        metadata = {"x-today": FILED} if name in ("SubmitApplication", "AmendApplication", "ReviewApplication") else None
        return self.call(DISTRICT + name, request, getattr(self.pb.district_pb2, f"{name}Response"), metadata)

    def city(self, name: str, request, response=None, metadata=None):
        module = self.pb.city_pb2
        response_cls = response or getattr(module, f"{name}Response")
        return self.call(CITY + name, request, response_cls, metadata)

    def close(self):
        self.conn.close()


@pytest.fixture
def tenants(own_daemon, pb):
    opened = {}

    def _get(name: str) -> Tenant:
        if name not in opened:
            opened[name] = Tenant(own_daemon, pb, name)
        return opened[name]

    yield _get
    for t in opened.values():
        t.close()


def register(nanhai: Tenant, pb, code: str, role) -> None:
    t, d = pb.types_pb2, pb.district_pb2
    reply = nanhai.district("RegisterApplicant", d.RegisterApplicantRequest(
        request_id=rid(),
        applicant=t.Applicant(uscc=code, name=f"测试企业 {code[-4:]}", locality=t.LOCAL, role=role),
    ))
    assert reply.applicant.uscc == code
    assert reply.applicant.district == nanhai.name  # set by the daemon from the socket


def voucher(pb, buyer: str, provider: str, contract_fen: int, contract: str):
    t = pb.types_pb2
    return t.Application(
        measure=t.CLOUD_VOUCHER, funding_year=2022, enterprise_uscc=buyer, provider_uscc=provider,
        project_name=f"上云 {contract}", contract_number=contract,
        contract_amount_fen=contract_fen, paid_amount_fen=contract_fen,
    )


def prepare(tenants, pb):
    """A buyer and a provider registered in Nanhai; the provider in the resource pool."""
    t, c = pb.types_pb2, pb.city_pb2
    nanhai, city = tenants("nanhai"), tenants("city")
    buyer, provider = uscc(1001), uscc(900)
    register(nanhai, pb, buyer, t.INDUSTRIAL_ENTERPRISE)
    register(nanhai, pb, provider, t.SERVICE_PROVIDER)
    member = city.city("RegisterPoolMember", c.RegisterPoolMemberRequest(
        request_id=rid(), member=t.PoolMember(uscc=provider, name="测试服务商", entry_date="2020-08-01"),
    )).member
    assert (member.uscc, member.entry_date, member.source) == (provider, "2020-08-01", "registration")
    return nanhai, city, buyer, provider


def decide(city: Tenant, pb, method: str, app_id: str, date: str = "", reason: str = ""):
    c = pb.city_pb2
    return city.city(method, c.DecideApplicationRequest(
        request_id=rid(), application_id=app_id, decision_date=date, reason=reason,
    ), c.DecideApplicationResponse).record


def committed(quota, cap_id: str, scope: str) -> int:
    return next((cap.committed for cap in quota.caps if cap.cap_id == cap_id and cap.scope == scope), 0)


def test_full_workflow(tenants, pb):
    t, d, c = pb.types_pb2, pb.district_pb2, pb.city_pb2
    nanhai, city, buyer, provider = prepare(tenants, pb)
    application = voucher(pb, buyer, provider, 120_000_000, "PY-1")  # 1,200,000 yuan, paid in full

    # A dry run first: 50 % of 1,200,000 would be 600,000; the per-enterprise cap binds at 500,000.
    quote = nanhai.district("Quote", d.QuoteRequest(application=application, decision_date="2022-06-01")).explanation
    assert quote.award_fen == 50_000_000
    assert quote.formula_fen > quote.award_fen
    binding = [limit for limit in quote.limits if limit.binding]
    assert [limit.cap_id for limit in binding] == ["CLOUD_VOUCHER.per_enterprise"], quote.rendered

    # File it. A retry with the same request_id returns the same record, unchanged.
    submit_id = rid()
    submitted = nanhai.district("SubmitApplication", d.SubmitApplicationRequest(request_id=submit_id, application=application)).record
    app_id = submitted.id
    assert app_id.startswith("nanhai-") and len(app_id) == len("nanhai-000001") and app_id[7:].isdigit()
    assert submitted.district == "nanhai"
    assert submitted.state == t.SUBMITTED
    assert submitted.application.enterprise_locality == t.LOCAL  # taken from the registry
    again = nanhai.district("SubmitApplication", d.SubmitApplicationRequest(request_id=submit_id, application=application)).record
    assert again == submitted
    # The same request_id with other content is refused, and changes nothing.
    other = voucher(pb, buyer, provider, 120_000_000, "PY-2")
    with pytest.raises(RpcError) as reused:
        nanhai.district("SubmitApplication", d.SubmitApplicationRequest(request_id=submit_id, application=other))
    assert reused.value.code == StatusCode.ALREADY_EXISTS == 6
    assert [v.field for v in reused.value.status.field_violations] == ["request.request_id"]
    listed = nanhai.district("ListApplications", d.ListApplicationsRequest()).records
    assert [r.id for r in listed] == [app_id]

    # 初审.
    reviewed = nanhai.district("ReviewApplication", d.ReviewApplicationRequest(
        request_id=rid(), application_id=app_id, outcome=d.RECOMMEND,
    )).record
    assert reviewed.state == t.RECOMMENDED

    # Tenancy: another district may not see it (whatever the rest of the id says), and a district
    # may not call the city's service at all.
    shunde = tenants("shunde")
    with pytest.raises(RpcError) as foreign:
        shunde.district("GetApplication", d.GetApplicationRequest(application_id=app_id))
    assert foreign.value.code == StatusCode.PERMISSION_DENIED
    with pytest.raises(RpcError) as role:
        nanhai.city("GetQuota", c.GetQuotaRequest(funding_year=2022))
    assert role.value.code == StatusCode.PERMISSION_DENIED
    assert role.value.message == "/foshan.subsidy.v1.CityService/GetQuota is not available to the district tenant nanhai"
    with pytest.raises(RpcError) as role:
        nanhai.city("ApproveApplication", c.ApproveApplicationRequest(
            request_id=rid(), application_id=app_id, decision_date="2022-06-01"))
    assert role.value.code == StatusCode.PERMISSION_DENIED

    # 复核: the award is committed against every cap.
    approved = city.city("ApproveApplication", c.ApproveApplicationRequest(
        request_id=rid(), application_id=app_id, decision_date="2022-06-01",
    )).record
    assert approved.state == t.APPROVED
    assert approved.awarded_fen == 50_000_000
    assert approved.decision_date == "2022-06-01"
    assert [l.cap_id for l in approved.explanation.limits if l.binding] == ["CLOUD_VOUCHER.per_enterprise"]

    # 公示, then disbursement once the 7 days are over.
    assert decide(city, pb, "PublicizeApplication", app_id, "2022-06-02").state == t.PUBLICIZED
    disbursed = decide(city, pb, "DisburseApplication", app_id, "2022-06-09")
    assert disbursed.state == t.DISBURSED
    assert [h.to_state for h in disbursed.history] == [t.SUBMITTED, t.RECOMMENDED, t.APPROVED, t.PUBLICIZED, t.DISBURSED]
    assert [h.tenant for h in disbursed.history] == ["nanhai", "nanhai", "city", "city", "city"]
    assert disbursed.history[0].request_id == submit_id

    # The district sees the final state; the city sees it too.
    assert nanhai.district("GetApplication", d.GetApplicationRequest(application_id=app_id)).record.state == t.DISBURSED
    assert city.city("GetApplication", d.GetApplicationRequest(application_id=app_id), d.GetApplicationResponse).record.state == t.DISBURSED

    quota = city.city("GetQuota", c.GetQuotaRequest(funding_year=2022))
    assert committed(quota, "CLOUD_VOUCHER.annual_budget", "2022") == 50_000_000
    assert committed(quota, "CLOUD_VOUCHER.per_enterprise", f"2022/{buyer}") == 50_000_000
    assert committed(quota, "CLOUD_VOUCHER.per_provider", f"2022/{provider}") == 50_000_000
    assert {x.id: x.committed_fen for x in quota.districts}.get("nanhai") == 50_000_000

    audit = city.city("VerifyAudit", c.VerifyAuditRequest())
    assert sorted(chain.file for chain in audit.chains) == sorted(
        ["ledger", "chancheng", "nanhai", "shunde", "gaoming", "sanshui"])
    assert all(chain.ok for chain in audit.chains), audit


def test_lifecycle_rules(tenants, pb):
    """The rules Protos/README.md states for the lifecycle RPCs."""
    t, d, c = pb.types_pb2, pb.district_pb2, pb.city_pb2
    nanhai, city, buyer, provider = prepare(tenants, pb)
    app_id = nanhai.district("SubmitApplication", d.SubmitApplicationRequest(
        request_id=rid(), application=voucher(pb, buyer, provider, 120_000_000, "PY-R"))).record.id

    # An illegal transition: FAILED_PRECONDITION naming the current state.
    with pytest.raises(RpcError) as early:
        city.city("ApproveApplication", c.ApproveApplicationRequest(request_id=rid(), application_id=app_id, decision_date="2022-06-01"))
    assert early.value.code == StatusCode.FAILED_PRECONDITION
    assert "SUBMITTED" in early.value.message
    assert [f.subject for f in early.value.status.precondition_failures] == ["state"]

    # An id of no district is NOT_FOUND; an id of another district is PERMISSION_DENIED.
    with pytest.raises(RpcError) as missing:
        nanhai.district("GetApplication", d.GetApplicationRequest(application_id="nowhere-000001"))
    assert missing.value.code == StatusCode.NOT_FOUND
    with pytest.raises(RpcError) as foreign:
        nanhai.district("GetApplication", d.GetApplicationRequest(application_id="shunde-999999"))
    assert foreign.value.code == StatusCode.PERMISSION_DENIED

    # RETURN and REJECT need a reason.
    with pytest.raises(RpcError) as no_reason:
        nanhai.district("ReviewApplication", d.ReviewApplicationRequest(request_id=rid(), application_id=app_id, outcome=d.RETURN))
    assert no_reason.value.code == StatusCode.INVALID_ARGUMENT
    assert no_reason.value.field_violations[0].field == "request.reason"

    nanhai.district("ReviewApplication", d.ReviewApplicationRequest(request_id=rid(), application_id=app_id, outcome=d.RECOMMEND))

    # decision_date: required, a date, inside the policy's validity window.
    with pytest.raises(RpcError) as no_date:
        city.city("ApproveApplication", c.ApproveApplicationRequest(request_id=rid(), application_id=app_id))
    assert no_date.value.code == StatusCode.INVALID_ARGUMENT
    assert no_date.value.field_violations[0].field == "request.decision_date"
    with pytest.raises(RpcError) as outside:
        # Entered on a day after the measures ended (a --dev daemon takes a call's own day).
        city.city("ApproveApplication", c.ApproveApplicationRequest(request_id=rid(), application_id=app_id, decision_date="2024-01-01"),
                  metadata={"x-today": "2024-01-02"})
    assert outside.value.code == StatusCode.FAILED_PRECONDITION
    assert [f.subject for f in outside.value.status.precondition_failures] == ["validity_window"]

    assert city.city("ApproveApplication", c.ApproveApplicationRequest(
        request_id=rid(), application_id=app_id, decision_date="2022-06-01")).record.awarded_fen == 50_000_000

    # The enterprise's 500,000 is used up: a second voucher for it has no headroom.
    second = nanhai.district("SubmitApplication", d.SubmitApplicationRequest(
        request_id=rid(), application=voucher(pb, buyer, provider, 10_000_000, "PY-S"))).record.id
    nanhai.district("ReviewApplication", d.ReviewApplicationRequest(request_id=rid(), application_id=second, outcome=d.RECOMMEND))
    with pytest.raises(RpcError) as exhausted:
        city.city("ApproveApplication", c.ApproveApplicationRequest(request_id=rid(), application_id=second, decision_date="2022-06-01"))
    assert exhausted.value.code == StatusCode.RESOURCE_EXHAUSTED
    violation = exhausted.value.status.cap_violations[0]
    assert (violation.cap_id, violation.scope) == ("CLOUD_VOUCHER.per_enterprise", f"2022/{buyer}")
    assert (violation.limit, violation.committed) == (50_000_000, 50_000_000)
    assert violation.requested > 0

    # Publicity: a decision_date is required; disbursement waits for the 7 days.
    with pytest.raises(RpcError) as undated:
        decide(city, pb, "PublicizeApplication", app_id)
    assert undated.value.code == StatusCode.INVALID_ARGUMENT
    decide(city, pb, "PublicizeApplication", app_id, "2022-06-02")
    with pytest.raises(RpcError) as too_soon:
        decide(city, pb, "DisburseApplication", app_id, "2022-06-08")
    assert too_soon.value.code == StatusCode.FAILED_PRECONDITION
    assert [f.subject for f in too_soon.value.status.precondition_failures] == ["publicity"]
    assert "2022-06-09" in too_soon.value.message
    assert decide(city, pb, "DisburseApplication", app_id, "2022-06-09").state == t.DISBURSED

    # Revocation needs a reason; a disbursed award can be revoked: a clawback, which keeps counting
    # against the caps until the money's recovery is recorded.
    with pytest.raises(RpcError) as unexplained:
        decide(city, pb, "RevokeApplication", app_id)
    assert unexplained.value.code == StatusCode.INVALID_ARGUMENT
    assert decide(city, pb, "RevokeApplication", app_id, reason="contract cancelled").state == t.REVOKED
    quota = city.city("GetQuota", c.GetQuotaRequest(funding_year=2022))
    assert committed(quota, "CLOUD_VOUCHER.annual_budget", "2022") == 50_000_000
    with pytest.raises(RpcError) as still_out:
        city.city("ApproveApplication", c.ApproveApplicationRequest(request_id=rid(), application_id=second, decision_date="2022-06-01"))
    assert still_out.value.code == StatusCode.RESOURCE_EXHAUSTED

    # RecordRecovery: the money is back. A reason and the day it came back are required; then the
    # record says when, its history has the entry, and the caps are free — once.
    with pytest.raises(RpcError) as undated_recovery:
        decide(city, pb, "RecordRecovery", app_id, reason="企业已退回")
    assert undated_recovery.value.code == StatusCode.INVALID_ARGUMENT
    assert undated_recovery.value.field_violations[0].field == "request.decision_date"
    recovered = city.city("RecordRecovery", c.DecideApplicationRequest(
        request_id=rid(), application_id=app_id, decision_date="2022-07-01", decision_document="缴款书 0001", reason="企业已退回",
    ), c.DecideApplicationResponse).record
    assert (recovered.state, recovered.recovered_on, recovered.recovery_document) == (t.REVOKED, "2022-07-01", "缴款书 0001")
    assert recovered.history[-1].action == "recover"
    with pytest.raises(RpcError) as twice:
        decide(city, pb, "RecordRecovery", app_id, "2022-07-02", reason="again")
    assert twice.value.code == StatusCode.FAILED_PRECONDITION
    with pytest.raises(RpcError) as imported:
        decide(city, pb, "RecordRecovery", "import-0123456789abcdef", "2022-07-02", reason="imported")
    assert imported.value.code == StatusCode.FAILED_PRECONDITION
    assert "imported award" in imported.value.message
    quota = city.city("GetQuota", c.GetQuotaRequest(funding_year=2022))
    assert committed(quota, "CLOUD_VOUCHER.annual_budget", "2022") == 0
    assert city.city("ApproveApplication", c.ApproveApplicationRequest(
        request_id=rid(), application_id=second, decision_date="2022-06-01")).record.state == t.APPROVED

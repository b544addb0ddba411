"""Interop: the programmes after 2023 through the typed Python client (PROGRAMMES.md).

A district lists the programmes it can file under; Shunde files a CLOUD_USE application under its
own programme, adds the seller to its catalogue and approves it itself; the city reads the award
and is refused when it tries to decide it. A client that never sets `programme` keeps meaning the
2020 policy (test_workflow.py files that way throughout).
"""

from __future__ import annotations

import uuid

import pytest

from subsidy_client import Client, RpcError, StatusCode, make_uscc


def uscc(n: int, area: int) -> str:
    return make_uscc(f"9144060{area}{n:08d}")


def test_a_district_sees_the_city_programmes_and_its_own(own_daemon):
    with Client(own_daemon.socket("nanhai")) as nanhai, Client(own_daemon.socket("shunde")) as shunde:
        assert [p.name for p in nanhai.programmes.list_programmes().programmes] == ["foshan-2020", "foshan-dx-2021"]
        listed = shunde.programmes.list_programmes().programmes
        assert [p.name for p in listed] == ["foshan-2020", "foshan-dx-2021", "shunde-dx-2021"]
        own = listed[-1]
        assert own.level == "district:shunde" and own.version.startswith("shunde-dx-2021@")
        assert listed[0].is_default


def test_shunde_decides_its_own_cloud_use_award_and_the_city_reads_it(own_daemon, pb):
    seller, buyer = uscc(8001, 6), uscc(8002, 6)
    # Calls made in 2024, after the 2020 measures ended, while Shunde's programme is in force.
    in_2024 = {"x-today": "2024-06-30"}
    with Client(own_daemon.socket("shunde"), metadata=in_2024) as shunde, Client(own_daemon.socket("city"), metadata=in_2024) as city:
        for code, role in ((seller, pb.types_pb2.SERVICE_PROVIDER), (buyer, pb.types_pb2.INDUSTRIAL_ENTERPRISE)):
            shunde.district.register_applicant(
                request_id=str(uuid.uuid4()),
                applicant=pb.types_pb2.Applicant(uscc=code, name="顺德企业", role=role, locality=pb.types_pb2.LOCAL))
        shunde.district_programmes.register_catalogue_member(
            request_id=str(uuid.uuid4()), catalogue="shunde-cloud-products", uscc=seller, entry_date="2022-01-01")
        application = pb.types_pb2.Application(
            programme="shunde-dx-2021", measure=pb.types_pb2.CLOUD_USE, funding_year=2024, enterprise_uscc=buyer,
            project_name="上云用云", contract_number="PY-SD-1", contract_amount_fen=300_000_000, paid_amount_fen=300_000_000,
            provider_uscc=seller, declared_revenue_fen=4_000_000_000)
        # Filed and recommended in the spring, decided in June: no decision may be dated before
        # its filing, nor before its recommendation.
        with Client(own_daemon.socket("shunde"), metadata={"x-today": "2024-03-01"}) as filing:
            record = filing.district.submit_application(request_id=str(uuid.uuid4()), application=application).record
            filing.district.review_application(request_id=str(uuid.uuid4()), application_id=record.id, outcome=pb.district_pb2.RECOMMEND)
        assert record.filed_on == "2024-03-01"
        with pytest.raises(RpcError) as refused:
            city.city.approve_application(request_id=str(uuid.uuid4()), application_id=record.id, decision_date="2024-06-01")
        assert refused.value.code == StatusCode.PERMISSION_DENIED
        approved = shunde.district_programmes.approve_application(
            request_id=str(uuid.uuid4()), application_id=record.id, decision_date="2024-06-01").record
        # 50% of 3,000,000 = 1,500,000, cut to the 500,000 tier of a revenue not above 50,000,000.
        assert approved.awarded_fen == 50_000_000
        assert approved.application.programme == "shunde-dx-2021"
        assert any(l.binding and "tier 500,000.00" in l.detail for l in approved.explanation.limits)
        seen = city.city.get_application(application_id=record.id).record
        assert seen.awarded_fen == 50_000_000
        quota = city.city.get_quota(programme="shunde-dx-2021", funding_year=2024)
        assert any(c.cap_id == "CLOUD_USE.annual_budget" and c.committed == 50_000_000 for c in quota.caps)

"""Interop: every minimal example of Protos/MEASURES.md is valid against the real daemon.

The examples come from Protos/reference/measures.py (the generator of MEASURES.md), for every
programme the daemon serves (the city's ListProgrammes names them all). Each is parsed with the
standard proto3 JSON parser (the mapping of Protos/README.md §11), its applicant registered with the
role and locality the reference says by the district the reference names (a district's own
programme is filed by that district), its seller put in the city's pool or the district's
catalogue when the reference says so, then submitted by that district and quoted by the city and
by the district: submit must accept it, and the quote must succeed (or, for a measure whose
condition no single application can meet, fail with exactly the precondition subject the
reference names).
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path

import pytest
from google.protobuf import json_format

from conftest import Daemon
from subsidy_client import Connection, RpcError, StatusCode

REPO = Path(__file__).resolve().parents[2]
DISTRICT = "/foshan.subsidy.v1.DistrictService/"
CITY = "/foshan.subsidy.v1.CityService/"
PROGRAMMES = "/foshan.subsidy.v1.Programmes/"
DISTRICT_PROGRAMMES = "/foshan.subsidy.v1.DistrictProgrammes/"
WAIT = 15.0


def _reference():
    spec = importlib.util.spec_from_file_location("measures_reference", REPO / "Protos" / "reference" / "measures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _reference()


def rid() -> str:
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def served(tmp_path_factory, pb):
    """(daemon, {programme name: (policy file, its examples, the measures the daemon lists)}) for
    every programme the daemon serves."""
    daemon = Daemon(tmp_path_factory.mktemp("measures"))
    try:
        with Connection(daemon.socket("city")) as conn:
            listed = conn.unary(PROGRAMMES + "ListProgrammes", pb.programmes_pb2.ListProgrammesRequest(),
                                pb.programmes_pb2.ListProgrammesResponse, timeout_ms=10_000, wait=WAIT).programmes
        files = {REFERENCE.load(p)["policy"]["name"]: p for p in REFERENCE.policy_files()}
        programmes = {}
        for programme in listed:
            assert programme.name in files, f"the daemon serves {programme.version}, which no Deploy/policy/*.toml names"
            measures = {pb.types_pb2.Measure.Name(m) for m in programme.measures}
            programmes[programme.name] = (files[programme.name], REFERENCE.examples(files[programme.name]), measures)
        yield daemon, programmes
    finally:
        daemon.stop()


def test_the_reference_is_fresh():
    """MEASURES.md is what the generator writes now (the CI check, also run here)."""
    assert REFERENCE.main(["--check"]) == 0


def test_every_programme_file_is_served_and_every_measure_has_an_example(served):
    _, programmes = served
    assert set(programmes) == {REFERENCE.load(p)["policy"]["name"] for p in REFERENCE.policy_files()}
    for name, (path, examples, listed) in programmes.items():
        measures = set(REFERENCE.load(path)["measure"])
        assert listed == measures, name
        assert {e["measure"] for e in examples} == measures, name


ALL_MEASURES = sorted({code for p in REFERENCE.policy_files() for code in REFERENCE.load(p).get("measure", {})})


@pytest.mark.parametrize("measure", ALL_MEASURES)
def test_minimal_example_is_accepted_and_quoted(served, pb, measure):
    daemon, programmes = served
    found = [(path, e) for path, examples, _ in programmes.values() for e in examples if e["measure"] == measure]
    if not found:
        pytest.skip(f"{measure} is not offered by any programme the daemon serves")
    path, ex = found[0]
    t, d, c, p = pb.types_pb2, pb.district_pb2, pb.city_pb2, pb.programmes_pb2
    pol = REFERENCE.load(path)["policy"]
    application = json_format.Parse(json.dumps(ex["application"], ensure_ascii=False), t.Application())
    assert application.programme == ex["application"].get("programme", "")

    with Connection(daemon.socket(ex["district"])) as district, Connection(daemon.socket("city")) as city:
        def call(conn, method, request, response_cls):
            return conn.unary(method, request, response_cls, timeout_ms=10_000, wait=WAIT)

        call(district, DISTRICT + "RegisterApplicant", d.RegisterApplicantRequest(
            request_id=rid(),
            applicant=t.Applicant(uscc=application.enterprise_uscc, name=f"示例 {ex['measure']}",
                                  locality=t.Locality.Value(ex["locality"].upper()),
                                  role=t.ApplicantRole.Value(ex["applicant_role"].upper())),
        ), d.RegisterApplicantResponse)
        if ex["pool_provider"]:
            call(city, CITY + "RegisterPoolMember", c.RegisterPoolMemberRequest(
                request_id=rid(),
                member=t.PoolMember(uscc=ex["pool_provider"], name="示例服务商", entry_date=str(pol["valid_from"])),
            ), c.RegisterPoolMemberResponse)
        if ex["catalogue"]:
            call(district, DISTRICT_PROGRAMMES + "RegisterCatalogueMember", p.RegisterCatalogueMemberRequest(
                request_id=rid(), catalogue=ex["catalogue"]["catalogue"], uscc=ex["catalogue"]["uscc"], name="示例目录产品商",
                entry_date=ex["catalogue"]["entry_date"],
            ), p.RegisterCatalogueMemberResponse)

        submitted = call(district, DISTRICT + "SubmitApplication",
                         d.SubmitApplicationRequest(request_id=rid(), application=application),
                         d.SubmitApplicationResponse)
        assert submitted.record.state == t.SUBMITTED
        assert submitted.record.application.measure == application.measure
        assert submitted.record.application.programme == application.programme

        quote = d.QuoteRequest(application_id=submitted.record.id)
        json_format.ParseDict(ex["decision"], quote)
        if ex["quote_expect"] == "OK":
            reply = call(city, CITY + "Quote", quote, d.QuoteResponse)
            assert reply.explanation.award_fen > 0, reply.explanation.rendered
            # The filing district's pre-check of the same JSON agrees.
            inline = d.QuoteRequest(application=application)
            json_format.ParseDict(ex["decision"], inline)
            again = call(district, DISTRICT + "Quote", inline, d.QuoteResponse)
            assert again.explanation.award_fen == reply.explanation.award_fen
        else:
            with pytest.raises(RpcError) as refused:
                call(city, CITY + "Quote", quote, d.QuoteResponse)
            assert refused.value.code == StatusCode.FAILED_PRECONDITION, refused.value
            subjects = [f.subject for f in refused.value.status.precondition_failures]
            assert subjects == [ex["quote_expect"]], refused.value

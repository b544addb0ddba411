"""Interop: the rules Protos/INTEGRATORS.md states about imports and WatchEvents, against the
real daemon (each test its own daemon, so the ledger starts empty).

- ImportHistory applies caps: a row past a cap refuses the whole request, nothing is imported;
  a re-import reports its rows already present; each imported row is an APPROVED event.
- WatchEvents: after_sequence = N streams the events after N; from_start replays from the first;
  0 alone means "from now", so events committed before the stream started are not sent.
"""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest

from subsidy_client import Connection, RpcError, StatusCode

REPO = Path(__file__).resolve().parents[2]
CITY = "/foshan.subsidy.v1.CityService/"
WAIT = 15.0

_spec = importlib.util.spec_from_file_location("measures_reference", REPO / "Protos" / "reference" / "measures.py")
REFERENCE = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REFERENCE)


def pool_entry_rows(pb, count: int, first: int, year: int = 2021):
    t = pb.types_pb2
    return [
        t.HistoricalAward(
            measure=t.POOL_ENTRY, funding_year=year, district="nanhai", enterprise_uscc=REFERENCE.example_uscc(first + i),
            amount_fen=10_000_000, decision_date=f"{year}-05-01", decision_document=f"佛工信〔{year}〕{first + i}号",
        )
        for i in range(count)
    ]


def import_rows(conn, pb, rows, request_id=None):
    c = pb.city_pb2
    return conn.unary(CITY + "ImportHistory", c.ImportHistoryRequest(request_id=request_id or str(uuid.uuid4()), awards=rows),
                      c.ImportHistoryResponse, timeout_ms=10_000, wait=WAIT)


def events(conn, pb, after: int, ms: int = 700, from_start: bool = False):
    """The events a WatchEvents(after) sends within `ms` (the stream then ends on its deadline)."""
    got = []
    request = pb.city_pb2.WatchEventsRequest(after_sequence=after, from_start=from_start)
    stream = conn.stream(CITY + "WatchEvents", request, pb.types_pb2.LedgerEvent, timeout_ms=ms)
    with pytest.raises(RpcError) as ended:
        for event in stream:
            got.append(event)
    assert ended.value.code == StatusCode.DEADLINE_EXCEEDED
    return got


def test_import_applies_caps_to_the_whole_request(own_daemon, pb):
    quota = REFERENCE.load(REFERENCE.POLICY_DIR / "foshan-2020.toml")["measure"]["POOL_ENTRY"]["cap"]["annual_count"]["limit_count"]
    with Connection(own_daemon.socket("city")) as city:
        assert import_rows(city, pb, pool_entry_rows(pb, quota - 1, first=100)).imported == quota - 1
        # Two more rows: the first fits, the second would be number quota + 1, so neither is imported.
        with pytest.raises(RpcError) as refused:
            import_rows(city, pb, pool_entry_rows(pb, 2, first=500))
        assert refused.value.code == StatusCode.RESOURCE_EXHAUSTED
        [cap] = refused.value.status.cap_violations
        assert (cap.cap_id, cap.scope, cap.limit, cap.committed, cap.requested) == ("POOL_ENTRY.annual_count", "2021", quota, quota, 1)
        # Nothing of the refused request counted: one more row still fits.
        assert import_rows(city, pb, pool_entry_rows(pb, 1, first=500)).imported == 1
        # A re-import (a new request id) reports its rows already present.
        again = import_rows(city, pb, pool_entry_rows(pb, 1, first=500))
        assert (again.imported, again.already_present) == (0, 1)


def test_import_row_above_the_measure_ceiling_is_refused(own_daemon, pb):
    row = pool_entry_rows(pb, 1, first=700)[0]
    row.amount_fen = 20_000_001  # 100,000 + the 100,000 provincial bonus is the most POOL_ENTRY awards
    with Connection(own_daemon.socket("city")) as city:
        with pytest.raises(RpcError) as refused:
            import_rows(city, pb, [row])
    assert refused.value.code == StatusCode.INVALID_ARGUMENT
    assert [v.field for v in refused.value.field_violations] == ["request.awards[0].amount_fen"]


def test_watch_events_after_sequence(own_daemon, pb):
    with Connection(own_daemon.socket("city")) as city:
        import_rows(city, pb, pool_entry_rows(pb, 3, first=800))
        # after_sequence = 0 is "from now": the three approvals already committed are not sent.
        assert events(city, pb, 0) == []
        # N > 0: every event after N, in order; from_start replays the log from its first event.
        replayed = events(city, pb, 1)
        assert [e.sequence for e in replayed] == [2, 3]
        assert [e.sequence for e in events(city, pb, 0, from_start=True)] == [1, 2, 3]
        both = city.stream(CITY + "WatchEvents", pb.city_pb2.WatchEventsRequest(after_sequence=1, from_start=True), pb.types_pb2.LedgerEvent,
                           timeout_ms=5_000)
        with pytest.raises(RpcError) as refused:
            next(iter(both))
        assert refused.value.code == StatusCode.INVALID_ARGUMENT and "request.from_start" in str(refused.value)
        assert {pb.types_pb2.ApplicationState.Name(e.state) for e in replayed} == {"APPROVED"}
        assert all(e.application_id.startswith("import-") and e.district == "nanhai" and e.amount_fen == 10_000_000 for e in replayed)
        # A stream opened with 0 does send what commits after it started. When its handler reads
        # "now" is not observable, so rows are imported until one arrives: it is a new one.
        stream = city.stream(CITY + "WatchEvents", pb.city_pb2.WatchEventsRequest(after_sequence=0), pb.types_pb2.LedgerEvent,
                             timeout_ms=20_000, wait=0.5)
        received = None
        for attempt in range(20):
            import_rows(city, pb, pool_entry_rows(pb, 1, first=900 + attempt))
            try:
                received = next(stream)
                break
            except RpcError as waited:
                assert waited.local and waited.code == StatusCode.DEADLINE_EXCEEDED, waited
        assert received is not None and received.sequence > 3
        city.cancel(stream.call_id)

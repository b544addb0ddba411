"""The USCC helper against Protos/USCC.md's test vectors, and those vectors against the daemon:
every valid one registers, every invalid one is refused naming the position the doc gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from foshan.subsidy.v1 import types_pb2 as t
from subsidy_client import RpcError, StatusCode, make_uscc, uscc_is_valid, uscc_problem
from subsidy_client.uscc import ORGANISATION_WEIGHTS, USCC_ALPHABET, USCC_WEIGHTS

DOC = Path(__file__).resolve().parents[2] / "USCC.md"


def vectors(kind: str):
    """Rows of the doc's table of `kind` ("valid" or "invalid"): (code, column 2, column 3)."""
    rows, section = [], None
    for line in DOC.read_text().splitlines():
        if line.startswith("#"):
            section = "valid" if "Valid codes" in line else "invalid" if "Invalid codes" in line else None
        m = re.match(r"^\| `([^`]*)` \| (.*?) \| (.*?) \|", line)
        if m and section == kind:
            rows.append(m.groups())
    assert rows, f"no {kind} vectors in {DOC}"
    return rows


def test_tables_match_the_doc():
    text = DOC.read_text()
    assert USCC_ALPHABET in text
    assert ", ".join(map(str, USCC_WEIGHTS)) in text
    assert ", ".join(map(str, ORGANISATION_WEIGHTS)) in text
    # GB 32100's weights are 3^(i-1) mod 31.
    assert USCC_WEIGHTS == tuple(pow(3, i, 31) for i in range(17))


@pytest.mark.parametrize("code,_area,_note", vectors("valid"))
def test_valid_vectors(code, _area, _note):
    assert uscc_problem(code) is None
    assert make_uscc(code[:16]) == code


@pytest.mark.parametrize("code,position,_note", vectors("invalid"))
def test_invalid_vectors(code, position, _note):
    problem = uscc_problem(code)
    assert problem is not None
    expected = "length" if position == "—" else f"position {position}:"
    assert expected in problem if position != "—" else problem.startswith("must be 18")


def test_the_doc_has_letters_and_both_special_check_values():
    codes = [row[0] for row in vectors("valid")]
    assert len(codes) >= 5
    assert any(any(c.isalpha() for c in code[8:16]) for code in codes)
    assert any(code[16] == "X" for code in codes) and any(code[16] == "0" for code in codes)
    assert any(code[17].isalpha() for code in codes) and any(code[17] == "0" for code in codes)


def _locality(code: str):
    return t.LOCAL if code[2:6] == "4406" else t.NON_LOCAL


@pytest.mark.parametrize("code,_area,_note", vectors("valid"))
def test_daemon_accepts_the_valid_vectors(client, code, _area, _note):
    # A district registers its own area's codes and any from outside the five districts (§5);
    # the doc's codes are Nanhai's (440605) or another city's.
    nanhai = client("nanhai")

    def register(uscc):
        return nanhai.district.register_applicant(applicant=t.Applicant(
            uscc=uscc, name=f"USCC vector {uscc}", locality=_locality(uscc), role=t.INDUSTRIAL_ENTERPRISE)).applicant

    # One organisation has one USCC: a vector with the organisation code (positions 9–17) of
    # one listed before it is valid, but refused once that one is registered (registering it
    # again is the same entry, so this holds whichever test runs first).
    earlier = [c for c, _, _ in vectors("valid")]
    twin = next((c for c in earlier[:earlier.index(code)] if c[8:17] == code[8:17]), None)
    if twin is not None:
        assert uscc_is_valid(code)
        assert register(twin).uscc == twin
        with pytest.raises(RpcError) as refused:
            register(code)
        assert refused.value.code == StatusCode.ALREADY_EXISTS
        assert [v.field for v in refused.value.field_violations] == ["applicant.uscc"]
        assert f"has the organisation code (主体标识码, positions 9–17) of {twin}" in refused.value.message
        return
    assert register(code).uscc == code
    assert nanhai.district.get_applicant(uscc=code).applicant.uscc == code


@pytest.mark.parametrize("code,position,_note", vectors("invalid"))
def test_daemon_refuses_the_invalid_vectors(client, code, position, _note):
    with pytest.raises(RpcError) as refused:
        client("nanhai").district.register_applicant(applicant=t.Applicant(
            uscc=code, name="USCC vector", locality=t.NON_LOCAL, role=t.INDUSTRIAL_ENTERPRISE))
    assert refused.value.code == StatusCode.INVALID_ARGUMENT
    assert [v.field for v in refused.value.field_violations] == ["applicant.uscc"]
    if position != "—":
        assert f"position {position}:" in refused.value.message, refused.value.message
    assert client("nanhai").retries == 0


def test_helper_agrees_with_daemon_on_random_codes(client):
    """100 random codes, half of them with one character changed: the helper and the daemon agree."""
    import random

    rng = random.Random(14)
    nanhai = client("nanhai")
    for i in range(100):
        code = make_uscc("91110108" + "".join(rng.choice(USCC_ALPHABET) for _ in range(8)))
        if i % 2:
            pos = rng.randrange(8, 18)
            code = code[:pos] + rng.choice(USCC_ALPHABET.replace(code[pos], "")) + code[pos + 1:]
        try:
            nanhai.district.get_applicant(uscc=code)
            accepted = True
        except RpcError as error:
            assert error.code in (StatusCode.INVALID_ARGUMENT, StatusCode.NOT_FOUND), error
            accepted = error.code == StatusCode.NOT_FOUND
        assert accepted == uscc_is_valid(code), (code, uscc_problem(code))

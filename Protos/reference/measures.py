#!/usr/bin/env python3
"""Generates Protos/MEASURES.md, the per-measure field reference, from the policy files and the
core's checks, so the reference cannot drift from what the daemon does.

Inputs (all read, nothing else is consulted):
  Deploy/policy/*.toml                          every programme file: its name, level, validity and
                                                retirement; amounts, rates, caps, localities, applicant
                                                roles, selection levels, follow-on keys, grade ceilings,
                                                difference awards, catalogues, stacking, revenue tiers
  Sources/SubsidyCore/Application+Validation.swift   which fields each measure requires (validate())
  Sources/SubsidyCore/Measure.swift              the codes and the formula's shape and base per measure
  Sources/SubsidyCore/InputLimits.swift          the length limits of texts and lists
  Sources/SubsidyCore/AwardCalculator.swift, CapRule.swift, Sources/SubsidyServer/Handlers/DistrictService.swift
                                                (checked, not read) the code behind each rule described in words
  Sources/SubsidyCore/DistrictID.swift           districts' names and area codes (a district programme's
                                                applicants are registered in its own district)
  Sources/SubsidyServer/Generated/EmbeddedPolicy.swift   the default programme (an application naming none)
  Sources/SubsidyServer/Handlers/CityViews.swift  the largest single award (maximumAwardFen)
  Protos/foshan/subsidy/v1/types.proto           the fields of Application

    python3 Protos/reference/measures.py           # rewrite Protos/MEASURES.md
    python3 Protos/reference/measures.py --check   # exit 1 if Protos/MEASURES.md is stale

Only the standard library is used (tomllib: Python 3.11+). `examples()` is also what
Tests/interop/test_measure_reference.py submits to the real daemon.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "Protos" / "MEASURES.md"
POLICY_DIR = REPO / "Deploy" / "policy"
CORE = REPO / "Sources" / "SubsidyCore"
EMBEDDED_POLICY = REPO / "Sources" / "SubsidyServer" / "Generated" / "EmbeddedPolicy.swift"
TYPES_PROTO = REPO / "Protos" / "foshan" / "subsidy" / "v1" / "types.proto"

# ── what the Swift sources say ─────────────────────────────────────────────────────────────────


class SourceDrift(Exception):
    """The Swift sources no longer have the shape this generator reads: update the generator."""


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def measure_codes() -> dict[str, str]:
    """Swift case name → wire code (`cloudVoucher` → `CLOUD_VOUCHER`), in declaration order."""
    codes = dict(re.findall(r'^\s*case (\w+) = "([A-Z_]+)"', _read(CORE / "Measure.swift"), re.M))
    if len(codes) < 2:
        raise SourceDrift("Measure.swift: no `case x = \"CODE\"` lines")
    return codes


#: The proto field each `Measure.FormulaBase` reads (Measure.swift); a new base fails the generator.
FORMULA_BASE_FIELDS = {
    "lowerOfContractAndPaid": "min(contract_amount_fen, paid_amount_fen)",
    "investedAmount": "invested_amount_fen",
    "constructionAmount": "construction_amount_fen",
    "totalInvestment": "total_investment_fen",
    "upperLevelAwardTotal": "upper_level_award_total_fen",
    "previousYearServiceSpend": "previous_year_service_spend_fen",
    "nationalFundingReceived": "upper_level_award_total_fen",
}

#: What a base means where its field's name does not say it (the field carries another quantity).
FORMULA_BASE_NOTES = {
    "nationalFundingReceived": "the national funding received for the project (国家级资金), carried in `upper_level_award_total_fen`",
}


def _switch_body(text: str, header: str) -> list[str]:
    """The lines of the `switch` that follows `header` (up to its closing brace)."""
    start = text.find(header)
    if start < 0:
        raise SourceDrift(f"`{header}` not found")
    lines = text[start:].splitlines()
    depth, body = 0, []
    for line in lines:
        depth += line.count("{") - line.count("}")
        body.append(line)
        if depth <= 0 and len(body) > 1:
            break
    return body


def formula_shapes(codes: dict[str, str]) -> tuple[dict[str, tuple[str, str | None, str | None]], dict[str, str]]:
    """code → (shape, base field or None, FormulaBase case or None); code → combined upper-level base field."""
    text = _read(CORE / "Measure.swift")
    shapes: dict[str, tuple[str, str | None, str | None]] = {}
    for line in _switch_body(text, "public var formulaShape"):
        m = re.match(r"\s*case ([.\w, ]+): \.(fixed|caseByCase|rate\(\.(\w+)\))", line)
        if not m:
            continue
        shape = "rate" if m.group(2).startswith("rate") else m.group(2)
        if m.group(3) and m.group(3) not in FORMULA_BASE_FIELDS:
            raise SourceDrift(f"Measure.swift: formula base .{m.group(3)} has no field in FORMULA_BASE_FIELDS")
        base = FORMULA_BASE_FIELDS[m.group(3)] if m.group(3) else None
        for case in re.findall(r"\.(\w+)", m.group(1)):
            shapes[codes[case]] = (shape, base, m.group(3))
    combined: dict[str, str] = {}
    for line in _switch_body(text, "public var combinedUpperLevelBase"):
        m = re.match(r"\s*case \.(\w+): \.(\w+)", line)
        if m:
            combined[codes[m.group(1)]] = FORMULA_BASE_FIELDS[m.group(2)]
    missing = set(codes.values()) - set(shapes)
    if missing:
        raise SourceDrift(f"Measure.swift formulaShape: no shape read for {sorted(missing)}")
    return shapes, combined


def required_fields(codes: dict[str, str]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """From `Application.validate()`: code → {field: rule} the measure requires, and the fields
    every measure requires ({field: rule}).

    A `case .a, .b:` branch requires its checks of every measure it names; inside it, a block
    opened by `if measure == .a …{` (on one line or several) requires its checks of `.a` only."""
    text = _read(CORE / "Application+Validation.swift")
    per: dict[str, dict[str, str]] = {code: {} for code in codes.values()}
    group: list[str] = []
    only: list[tuple[list[str], int]] = []  # the measures an `if measure == …` block names, and the depth it opened at
    depth = 0
    body = _switch_body(text, "switch measure {")
    for line in body:
        bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line).split("//")[0]
        m = re.match(r"\s*case ((?:\.\w+(?:, )?)+):", line)
        if m:
            group = [codes[c] for c in re.findall(r"\.(\w+)", m.group(1))]
            only = []
        elif re.search(r"\bif measure == \.\w+", bare) and "{" in bare:
            only.append(([codes[c] for c in re.findall(r"\bmeasure == \.(\w+)", bare)], depth))
        targets = only[-1][0] if only else group
        rule = None
        if m := re.search(r'requirePositive\(\w+, "(\w+)"\)', line):
            rule = "> 0"
        elif m := re.search(r'requireText\(\w+, "(\w+)"\)', line):
            rule = "not blank"
        elif m := re.search(r'invalidField\("application\.(\w+)", "required', line):
            rule = "required"
        if rule:
            for code in targets:
                per[code][m.group(1)] = rule
        depth += bare.count("{") - bare.count("}")
        while only and depth <= only[-1][1]:
            only.pop()
    # After the switch: what every measure needs.
    after = text[text.find("\n".join(body)) + len("\n".join(body)):]
    common = {m: "not blank" for m in re.findall(r'requireText\(\w+, "(\w+)"\)', after.split("func checkBounds")[0])}
    if not common or not any(per.values()):
        raise SourceDrift("Application+Validation.swift: validate() no longer has the shape read here")
    return per, common


def text_limits() -> dict[str, tuple[int, str]]:
    """application field → (limit, "characters" | "entries"), from checkBounds()."""
    limits_src = _read(CORE / "InputLimits.swift")
    values = {k: int(v.replace("_", "")) for k, v in re.findall(r"static let (\w+) = ([\d_]+)\b", limits_src)}
    validation = _read(CORE / "Application+Validation.swift")
    out: dict[str, tuple[int, str]] = {}
    for count, const, field in re.findall(
        r'InputLimits\.check\(\s*(count: )?[\w.]+, InputLimits\.(\w+), field: "application\.(\w+)"\)', validation
    ):
        out[field] = (values[const], "entries" if count else "characters")
    if "project_name" not in out:
        raise SourceDrift("Application+Validation.swift: checkBounds() limits not found")
    return out


def maximum_award_fen() -> int:
    """The largest single award the ledger accepts (`maximumAwardFen`, CityViews.swift)."""
    m = re.search(r"let maximumAwardFen: Int64 = ([\d_]+)", _read(REPO / "Sources" / "SubsidyServer" / "Handlers" / "CityViews.swift"))
    if not m:
        raise SourceDrift("CityViews.swift: maximumAwardFen not found")
    return int(m.group(1).replace("_", ""))


def default_programme() -> str:
    """The programme an application naming none is filed under (`EmbeddedPolicy.defaultName`)."""
    m = re.search(r'static let defaultName = "([^"]+)"', _read(EMBEDDED_POLICY))
    if not m:
        raise SourceDrift("EmbeddedPolicy.swift: defaultName not found")
    return m.group(1)


def districts() -> dict[str, tuple[str, str]]:
    """District id → (Chinese name, area code of the USCCs registered there), from DistrictID.swift."""
    text = _read(CORE / "DistrictID.swift")
    names = dict(re.findall(r'case \.(\w+): "([^"]+)"', "\n".join(_switch_body(text, "public var displayName"))))
    areas = dict(re.findall(r'case \.(\w+): "(\d{6})"', "\n".join(_switch_body(text, "public var divisionCode"))))
    if not names or set(names) != set(areas):
        raise SourceDrift("DistrictID.swift: displayName / divisionCode not read")
    return {d: (names[d], areas[d]) for d in areas}


def programme_district(pol: dict) -> str | None:
    """The district that runs the programme (`level = "district:<id>"`), or None for a city programme."""
    level = pol.get("level", "city")
    if level == "city":
        return None
    if not level.startswith("district:") or level.split(":", 1)[1] not in districts():
        raise SourceDrift(f"programme {pol['name']}: level {level!r} not understood")
    return level.split(":", 1)[1]


def application_fields() -> list[tuple[str, str]]:
    """(name, type) of every field of `message Application` in types.proto, in order."""
    text = _read(TYPES_PROTO)
    body = text[text.index("message Application {"):]
    body = body[: body.index("\n}")]
    return re.findall(r"^\s*(repeated \w+|\w+) (\w+) = \d+;", body, re.M)


#: Checks made in code (AwardCalculator.eligibility) rather than by the policy file, by measure,
#: each with a snippet that must still be in AwardCalculator.swift.
CODE_ELIGIBILITY = {
    "CLOUD_VOUCHER": (
        "`provider_uscc` was registered in Foshan (positions 3–8 are 4406xx: a local provider, 本地服务商) "
        "and is in the Foshan resource pool (资源池) on the decision date "
        "(`CityService.RegisterPoolMember` with an `entry_date` on or before it, or an approved "
        "`POOL_ENTRY`); otherwise `FAILED_PRECONDITION` `eligibility`",
        "usage.isPoolMember(provider, on: date)",
    ),
    "IDENTIFIER_NODE": (
        "`recognised_secondary_node` is `true` (recognised as a secondary node, 二级节点, by the "
        "national or provincial authority); otherwise `FAILED_PRECONDITION` `eligibility`",
        "application.recognisedSecondaryNode",
    ),
}

#: Optional fields that change a measure's award or checks (read in AwardCalculator), with why.
OPTIONAL_EFFECTS = {
    "POOL_ENTRY": {"in_provincial_pool": "`true` adds `provincial_pool_bonus_yuan` to the award — with the first entry only: POOL_ENTRY is once per enterprise, so one that joins the provincial pool later gets no second award (our reading of 条一; the bureaus may decide otherwise)"},
    "BENCHMARK_PROJECT": {
        "upper_level_subsidy_fen": "upper-level subsidy already received; city + upper-level ≤ the combined rate of the base",
        "contract_number": "if given, the content key is the contract (see INTEGRATORS.md, duplicates)",
    },
    "IDENTIFIER_NODE": {
        "upper_level_subsidy_fen": "upper-level subsidy already received; city + upper-level ≤ the combined rate of the base",
    },
    "CLUSTER_PILOT_FOLLOW_ON": {
        "served_enterprises": "USCCs of the Foshan cluster enterprises served (at most 5 000); those with a `CLOUD_VOUCHER` decided in the pilot's window count",
        "provincial_voucher_enterprises": "served enterprises holding a declared Guangdong voucher; each must also be in `served_enterprises`",
        "selection_date": "ignored for the window: it runs from the selection date recorded with the pilot's award",
    },
}

#: Fields every measure may carry, with what they do.
COMMON_OPTIONAL = {
    "contract_number": "at most 64 characters; when given, the content key is `contract:<canonical>` (otherwise `project:<USCC>:<canonical project_name>`)",
    "other_fund_declared": "`true` if the same content was also filed with another city fund; then `other_fund_reason` is required (not blank, at most 2 000 characters)",
    "enterprise_locality": "ignored from a district: the registry's locality is stored; read only by the city's inline `Quote` (unset = `LOCAL`)",
    "selection_date": "if given: a real date, not before 2000-01-01 and not after the decision date",
}

#: Fields every measure may carry that a programme's measures read, with what they do (see also each measure).
COMMON_OPTIONAL.update({
    "grade": "`STANDARD` or `EXCELLENT` (unset: none): the grade a recognition was given; read by a measure with ceilings or caps by grade (below), "
             "stored by the others; a number this build does not know is `INVALID_ARGUMENT`",
    "declared_revenue_fen": "the applicant's declared annual main-business revenue (年主营业务收入); a cap with revenue tiers takes its tier from it (below)",
})

#: What the keys the programmes added mean, each with the code that does it (file, snippet: checked).
RULE_CODE = {
    "ceiling_yuan_*": (CORE / "AwardCalculator.swift", "rule.gradeCeilings[application.grade]"),
    "difference_of": (CORE / "AwardCalculator.swift", "usage.earlierAwards(to: application.enterprise, under: rule.differenceOf)"),
    "difference_of (zero)": (CORE / "AwardCalculator.swift", "award <= .zero && binding.kind != .difference"),
    "stacking_base_rate_bp": (CORE / "AwardCalculator.swift",
                              "if funded.programme != programme && (rule?.stackingRate != nil || stackingElsewhere[funded.measure] != nil) { return false }"),
    "stacking_base_rate_bp (other levels)": (CORE / "Programmes.swift", "if let rate = rule.stackingRate { programme.stackingElsewhere[measure] = rate }"),
    "catalogue": (CORE / "AwardCalculator.swift", "usage.isCatalogueMember(provider, catalogue: catalogue, on: date)"),
    "grades": (CORE / "CapRule.swift", "grades?.contains(application.grade)"),
    "revenue_tier_above_yuan": (CORE / "CapRule.swift", "application.declaredRevenue > $0.revenueAbove"),
    "calls for applications": (REPO / "Sources" / "SubsidyServer" / "Handlers" / "DistrictService.swift",
                               "let filed = try await callFiledUnder(application, programme: policy, lateReason: request.lateReason, context: context)"),
}

# ── policy files ─────────────────────────────────────────────────────────────────────────────────

SUBJECT_TEXT = {
    "applicant": "per applicant (enterprise_uscc)",
    "provider": "per provider (provider_uscc), summed over every enterprise in every district",
    "pilot": "per pilot (canonical pilot_id)",
    "city": "city-wide",
}
PERIOD_TEXT = {"funding_year": "per funding year", "policy": "for the life of the policy"}


def yuan(n: int) -> str:
    return f"{n:,} yuan ({n * 100} fen)"


def bp(n: int) -> str:
    return f"{n / 100:g}% ({n} bp)"


def policy_files() -> list[Path]:
    files = sorted(POLICY_DIR.glob("*.toml"))
    if not files:
        raise SystemExit(f"no policy files in {POLICY_DIR}")
    return files


def load(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


# ── USCC for the examples (GB 32100 / GB 11714; see Protos/USCC.md) ─────────────────────────────

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def make_uscc(prefix16: str) -> str:
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(prefix16[8:], _ORG_WEIGHTS))
    value = 11 - total % 11
    prefix17 = prefix16 + ("X" if value == 10 else "0" if value == 11 else str(value))
    check = _ALPHABET[(31 - sum(_ALPHABET.index(c) * w for c, w in zip(prefix17, _WEIGHTS)) % 31) % 31]
    return prefix17 + check


def example_uscc(index: int, area: str = "440605") -> str:
    """A valid USCC of an enterprise of `area` (Nanhai by default), distinct per index."""
    return make_uscc(f"91{area}{9000 + index:08d}")


#: The district whose registry the examples of a city programme are filed from (any district may).
CITY_PROGRAMME_DISTRICT = "nanhai"

#: The grades, lowest first, with the key of each one's ceiling.
GRADES = {"STANDARD": "ceiling_yuan_standard", "EXCELLENT": "ceiling_yuan_excellent"}


# ── the examples ─────────────────────────────────────────────────────────────────────────────────


def examples(path: Path) -> list[dict]:
    """One minimal valid example per measure of the policy file `path`:
    {measure, programme, district (the tenant that registers the applicant and files it),
     application (JSON mapping, lowerCamelCase), applicant_role, locality,
     pool_provider (USCC to put in the city's pool first, or None),
     catalogue ({catalogue, uscc, entry_date} to register in the district's catalogue first, or None),
     decision (extra Quote/Approve fields),
     quote_expect ("OK" or a precondition subject the example cannot pass on its own)}.
    Each measure's example has its own USCCs (by the measure's place in Measure.swift), so the
    examples of every programme can be filed in one daemon."""
    doc = load(path)
    pol = doc["policy"]
    codes = measure_codes()
    per, common = required_fields(codes)
    shapes, _ = formula_shapes(codes)
    district = programme_district(pol) or CITY_PROGRAMME_DISTRICT
    area = districts()[district][1]
    out = []
    order = list(codes.values())
    for code, m in sorted(doc.get("measure", {}).items(), key=lambda kv: order.index(kv[0])):
        i = order.index(code)
        app: dict = {}
        if pol["name"] != default_programme():
            app["programme"] = pol["name"]
        app.update({"measure": code, "fundingYear": pol["first_funding_year"], "enterpriseUscc": example_uscc(i, area)})
        need = dict(common)
        need.update(per[code])
        provider = None
        for field in need:
            camel = re.sub(r"_(\w)", lambda g: g.group(1).upper(), field)
            if field.endswith("_fen"):
                app[camel] = "100000000"  # 1,000,000.00 yuan; int64 travels as a JSON string
            elif field == "project_name":
                app[camel] = f"示例项目 {code}"
            elif field == "contract_number":
                app[camel] = f"HT-EXAMPLE-{code}"
            elif field == "pilot_id":
                app[camel] = "PILOT-EXAMPLE-01"
            elif field == "provider_uscc":
                provider = example_uscc(50 + i, area if m.get("catalogue") else "440605")
                app[camel] = provider
            elif field == "selection_date":
                app[camel] = str(pol["valid_from"])
            elif field == "grade":
                app[camel] = next((g for g, key in GRADES.items() if key in m), "STANDARD")
            else:
                raise SourceDrift(f"{code}: no example value for required field {field}")
        if m.get("selection_levels"):
            app["selectionLevel"] = m["selection_levels"][0].upper()
        if code == "IDENTIFIER_NODE":
            app["recognisedSecondaryNode"] = True
        locality = "local" if "local" in m["localities"] else m["localities"][0]
        decision = {}
        if shapes[code][0] == "caseByCase":
            ceilings = [m[key] for key in GRADES.values() if key in m]
            issuer = districts()[district][0] + "函" if programme_district(pol) else "佛工信函"  # whose 文号
            decision = {"caseAmountFen": str(min([1_000_000] + ceilings) * 100), "decisionDocument": f"{issuer}〔示例〕1号"}
        catalogue = None
        if provider and m.get("catalogue"):
            catalogue = {"catalogue": m["catalogue"], "uscc": provider, "entry_date": str(pol["valid_from"])}
        out.append({
            "measure": code,
            "programme": pol["name"],
            "district": district,
            "application": app,
            "applicant_role": m["applicant_roles"][0],
            "locality": locality,
            "pool_provider": provider if provider and not catalogue else None,
            "catalogue": catalogue,
            "decision": decision,
            "quote_expect": "follow_on_condition" if "min_served_enterprises" in m else "OK",
        })
    return out


# ── the document ─────────────────────────────────────────────────────────────────────────────────


def render() -> str:
    codes = measure_codes()
    per, common = required_fields(codes)
    shapes, combined = formula_shapes(codes)
    limits = text_limits()
    fields = application_fields()
    field_types = dict((n, t) for t, n in fields)
    default = default_programme()
    names = districts()
    calc = _read(CORE / "AwardCalculator.swift")
    for code, (_, snippet) in CODE_ELIGIBILITY.items():
        if snippet not in calc:
            raise SourceDrift(f"AwardCalculator.swift no longer contains {snippet!r} ({code} eligibility)")
    for key, (path, snippet) in RULE_CODE.items():
        if snippet not in _read(path):
            raise SourceDrift(f"{path.name} no longer contains {snippet!r} (what {key} means)")
    for field in ("programme", "grade", "declared_revenue_fen"):
        if field not in field_types:
            raise SourceDrift(f"types.proto: Application has no {field}")

    out: list[str] = []
    w = out.append
    w("<!-- GENERATED by Protos/reference/measures.py from Deploy/policy/*.toml and Sources/SubsidyCore; do not edit.")
    w("     Regenerate: python3 Protos/reference/measures.py   (CI: --check fails when this file is stale) -->")
    w("")
    w("# Measures: the fields each one needs")
    w("")
    w("For every programme file in `Deploy/policy/` and every measure it offers: the `Application` fields")
    w("(`types.proto`) the daemon requires and reads, their units and bounds, the eligibility checks, the")
    w("award formula and caps, and a minimal valid example in the JSON mapping of `Protos/README.md` §11")
    w("(what `subsidyctl submit --file` reads). `Tests/interop/test_measure_reference.py` submits and quotes")
    w("every example against the real daemon. Rules that hold for every measure (duplicates, dates,")
    w("imports, paging, retries) are in [INTEGRATORS.md](INTEGRATORS.md); every method's status codes in")
    w("[METHODS.md](METHODS.md); the USCC check characters in [USCC.md](USCC.md).")
    w("")
    w("The daemon serves every programme file at once; a measure code belongs to one programme. An")
    w(f"application names its programme in `programme`; one that names none is filed under `{default}`.")
    w("`Programmes.ListProgrammes` lists the programmes the caller may use, with their state (open, closed,")
    w("retired). Once a measure runs calls for applications (申报批次, `Calls.OpenCall`), `SubmitApplication`")
    w("files it only inside an open call of its funding year, or late on purpose with the request's")
    w("`late_reason` (otherwise `FAILED_PRECONDITION` `call`); a measure without a call takes applications")
    w("whenever its programme is open.")
    w("")
    w("## Fields common to every measure")
    w("")
    w("Checked in this order by `SubmitApplication`, `AmendApplication`, `Quote` (and again at review and")
    w("approval); a malformed field is `INVALID_ARGUMENT` with a `FieldViolation` naming it")
    w("(`application.contract_amount_fen`), an ineligible application `FAILED_PRECONDITION`. From a district,")
    w("`enterprise_uscc` (its form, then its registration there) is checked right after `programme`, before")
    w("`measure`: the registry's entry decides the locality the rest is judged with.")
    w("")
    w("| field | type | rule |")
    w("| --- | --- | --- |")
    w(f"| `programme` | {field_types['programme']} | the programme filed under, by name; empty = `{default}`, the default, so every other programme's measures need it (below). "
      "A district may name only the city's programmes and its own (another is `INVALID_ARGUMENT` `application.programme`, unknown programme); "
      "a retired programme takes no new applications (`FAILED_PRECONDITION` `programme`)"
      + (f"; at most {limits['programme'][0]:,} {limits['programme'][1]}" if "programme" in limits else "") + " |")
    w("| `measure` | `Measure` | required: one of the measures below; one the programme does not offer is `FAILED_PRECONDITION` `measure` |")
    w("| `funding_year` | int32 | required (0 is `INVALID_ARGUMENT`); a year the programme does not open is `FAILED_PRECONDITION` `validity_window` |")
    w("| `enterprise_uscc` | string | required: a valid 18-character USCC ([USCC.md](USCC.md)); from a district it must be registered there (`RegisterApplicant`) with a role the measure accepts (`FAILED_PRECONDITION` `applicant` / `applicant.role`) |")
    for field, rule in common.items():
        lim = limits.get(field)
        w(f"| `{field}` | {field_types.get(field, '?')} | required, {rule} (only white space, invisible characters or punctuation counts as empty)"
          + (f"; at most {lim[0]:,} {lim[1]}" if lim else "") + " |")
    w("| every `*_fen` | int64 | integer fen (0.01 yuan), ≥ 0 (`INVALID_ARGUMENT` if negative); in JSON a decimal string (`\"120000000\"`) or integer, never a fraction |")
    for field, what in COMMON_OPTIONAL.items():
        w(f"| `{field}` | {field_types.get(field, '?')} | optional: {what} |")
    w("")
    w("Text limits (Unicode code points; lists in entries): "
      + ", ".join(f"`{f}` {n:,}" for f, (n, _) in sorted(limits.items())) + ".")
    w("Fields a measure does not list below are accepted and stored but do not affect its award.")
    w("")
    w("Units in the policy files: `*_yuan` whole yuan (the engine works in fen: 1 yuan = 100 fen);")
    w("`*_bp` basis points (10000 = 100%), percentages floored to the fen; every cap is inclusive")
    w("(committed + award ≤ limit). The award is the least of the formula, the per-project limit, the")
    w("combined upper-level limit, the grade ceiling, the difference and stacking limits where a measure")
    w("has them, and every amount cap's headroom (partial awards: see each programme).")
    w("A cap's ledger id is `<MEASURE>.<name>`; its scope is `<funding year>` or `<policy name>`, then")
    w("`/<subject>` for a per-applicant, per-provider or per-pilot cap (`2022/91440604MA4UH8XX6U`).")
    w("A city programme's caps are kept in the city ledger; a district programme's in that district's own")
    w("store (its `DistrictProgrammes.GetQuota`, or the city's `GetQuota` with `programme`).")
    stacking = [f"`{code}` ({load(path)['policy']['name']})" for path in policy_files()
                for code, m in load(path).get("measure", {}).items() if m.get("stacking_base_rate_bp")]
    if stacking:
        w("A stacking limit binds whichever level decides second: content a live award under a measure with a stacking")
        w(f"limit holds ({', '.join(stacking)}) is not refused as a duplicate by another programme's measure;")
        w("that limit binds its award instead: every live award for the content (this programme's too) + this award +")
        w("the upper-level funds declared for the content ≤ the limit's rate × the smallest of this application's base")
        w("(a rate measure's) and the bases the stacking awards were computed from, whatever their kinds. The upper-level")
        w("funds are the largest `upper_level_subsidy_fen` declared for the content, by this application or one an award")
        w("of it was made on (the same funds declared twice count once; declared with one award, they bind the next).")
        w("A fixed or case-by-case award with no such base known is `FAILED_PRECONDITION` `stacking`.")
    w("")

    for path in policy_files():
        doc = load(path)
        pol = doc["policy"]
        rel = path.relative_to(REPO)
        own = programme_district(pol)
        filer = own or CITY_PROGRAMME_DISTRICT
        decider = f"{names[own][0]}'s bureau" if own else "the city"
        w(f"## Programme `{pol['name']}` (`{rel}`)")
        w("")
        w(f"{pol['title']} — {pol['issuer']}.")
        w("")
        if own:
            w(f"- Level `district:{own}`: {names[own][0]} ({own}) decides its applications itself, on `DistrictProgrammes` (`ApproveApplication` … "
              f"`RevokeApplication`, from the {own} socket), against caps in its own store; only {own} files under it (another district naming it "
              "gets `INVALID_ARGUMENT` `application.programme`). The city reads and quotes its applications; deciding one is `PERMISSION_DENIED`.")
        else:
            w("- Level `city`: the city decides (`CityService.ApproveApplication` … `RevokeApplication`) against caps in the city ledger; any district files under it"
              " (`DistrictProgrammes` refuses its applications with `PERMISSION_DENIED`).")
        if pol["name"] == default:
            w(f"- The default programme: an application with no `programme` (or `\"{pol['name']}\"`) is filed under it.")
        else:
            w(f"- Applications name it: `\"programme\": \"{pol['name']}\"`.")
        w(f"- Decisions (approvals, quotes) dated {pol['valid_from']}..{pol['valid_through']} (inclusive);"
          f" funding years {pol['first_funding_year']}–{pol['last_funding_year']}.")
        if pol.get("retired_on"):
            w(f"- Retired on {pol['retired_on']}: from that day it takes no new applications (`FAILED_PRECONDITION` `programme`); "
              "its awards keep counting and can still be publicised, disbursed and revoked.")
        else:
            w("- Not retired (`retired_on` unset): it takes applications while its window lasts.")
        w(f"- Partial awards: {'allowed — a cap with some headroom left cuts the award to it' if pol['allow_partial_awards'] else 'not allowed — an award a cap would cut below its entitlement is refused `RESOURCE_EXHAUSTED`'}.")
        w(f"- Publicity (公示): {pol['publicity_days']} days before disbursement.")
        w("")
        exs = {e["measure"]: e for e in examples(path)}
        order = list(codes.values())
        for code, m in sorted(doc.get("measure", {}).items(), key=lambda kv: order.index(kv[0])):
            shape, base, base_case = shapes[code]
            w(f"### `{code}` (article {m['article']})")
            w("")
            # Formula.
            if shape == "fixed":
                text = f"fixed {yuan(m['amount_yuan'])}"
                if m.get("provincial_pool_bonus_yuan"):
                    text += f", plus {yuan(m['provincial_pool_bonus_yuan'])} if `in_provincial_pool`"
            elif shape == "rate":
                text = f"floor({bp(m['rate_bp'])} × `{base}`)"
                if base_case in FORMULA_BASE_NOTES:
                    text += f": {FORMULA_BASE_NOTES[base_case]}"
            else:
                approve = "`DistrictProgrammes.ApproveApplication`" if own else "`ApproveApplication`"
                text = (f"case by case (一事一议): {'the district bureau' if own else 'the city'}'s `case_amount_fen` (> 0; on approval at most {maximum_award_fen():,} fen) "
                        f"with its `decision_document` (not blank, at most {limits['decision_document'][0]} characters), given on {approve} and `Quote`")
            w(f"- **Award**: {text}.")
            if m.get("per_project_cap_yuan"):
                w(f"- **Per project**: at most {yuan(m['per_project_cap_yuan'])}.")
            if m.get("combined_upper_level_rate_bp") and code in combined:
                w(f"- **Combined upper-level**: `upper_level_subsidy_fen` + city award ≤ {bp(m['combined_upper_level_rate_bp'])} × `{combined[code]}`.")
            ceilings = {g: m[key] for g, key in GRADES.items() if key in m}
            if ceilings:
                w("- **Ceiling by grade** (the application's `grade`): "
                  + ", ".join(f"at most {yuan(n)} for `{g}`" for g, n in ceilings.items())
                  + ("" if set(ceilings) == set(GRADES) and per[code].get("grade") else "; any other grade is `FAILED_PRECONDITION` `eligibility`") + ".")
            if m.get("difference_of"):
                linked = ", ".join(f"`{x}`" for x in sorted(m["difference_of"], key=order.index))
                w(f"- **Difference award** (差额奖励, `difference_of`): paid = the amount decided (within the limits above) − every live award already made to the same "
                  f"`enterprise_uscc` under {linked} of this programme, never below zero. A zero difference is still approved and counts toward the count caps; "
                  "those earlier awards are not a duplicate of it.")
            if m.get("stacking_base_rate_bp") and base:
                w(f"- **Stacking across levels** (`stacking_base_rate_bp`): this award + the live awards for the same content under other programmes (city or district) "
                  f"+ the largest `upper_level_subsidy_fen` declared for the content (this application's, or one an award of it was made on) ≤ {bp(m['stacking_base_rate_bp'])} × `{base}`, or × the base an earlier award for the content was "
                  "computed from, when that is smaller (each award keeps the base its rate applied to, so a later filing declaring a larger contract makes no "
                  "room the contract does not have; imported awards, and awards made before bases were kept, have none). Content funded under another programme is counted here "
                  "instead of refused as a duplicate (under this programme it still is one); nothing left is `FAILED_PRECONDITION` `stacking`.")
            elif m.get("stacking_base_rate_bp"):
                w(f"- **Stacking across levels** (`stacking_base_rate_bp`): content an award under another programme (city or district) holds is not a duplicate "
                  f"of this one; when one does, this award + those awards + the largest `upper_level_subsidy_fen` declared for the content ≤ "
                  f"{bp(m['stacking_base_rate_bp'])} × the smallest base those awards were computed from (the amount decided is cut to it); with none of their "
                  "bases known, `FAILED_PRECONDITION` `stacking`. Under this programme the same content is still a duplicate.")
            # Fields.
            req = dict(common)
            req.update(per[code])
            w("- **Required fields** (besides `measure`, `funding_year`, `enterprise_uscc`):")
            if pol["name"] != default:
                w(f"  - `programme` ({field_types['programme']}): `\"{pol['name']}\"` — without it the application is filed under `{default}`, which does not offer {code} "
                  "(`FAILED_PRECONDITION` `measure`)")
            for field, rule in req.items():
                t = field_types.get(field)
                if t is None:
                    raise SourceDrift(f"validate() names application.{field}, which types.proto lacks")
                unit = " fen" if field.endswith("_fen") else ""
                extra = ""
                if field == "provider_uscc":
                    extra = "; a valid USCC different from `enterprise_uscc`"
                    if m.get("catalogue"):
                        extra += " (the seller of the catalogue product)"
                if field == "selection_date":
                    extra = " (`YYYY-MM-DD`, not before 2000-01-01, not after the decision date)"
                if field == "grade":
                    extra = ": " + " or ".join(f"`{g}`" for g in GRADES) + (" (the ceiling and the caps by grade depend on it)" if ceilings else "")
                if field == "declared_revenue_fen":
                    extra = " — the declared annual main-business revenue (年主营业务收入)" + (
                        "; it picks the revenue tier of the caps below" if any(c.get("revenue_tier_above_yuan") for c in m.get("cap", {}).values()) else "")
                if base_case in FORMULA_BASE_NOTES and field == base:
                    extra = f" — {FORMULA_BASE_NOTES[base_case].split(', carried in')[0]}"
                w(f"  - `{field}` ({t}{unit}): {rule}{extra}")
            if m.get("selection_levels"):
                levels = ", ".join(f"`{x.upper()}`" for x in m["selection_levels"])
                w(f"  - `selection_level`: one of {levels} (checked as eligibility: `FAILED_PRECONDITION` `eligibility`; at submit only a warning)")
            if code == "IDENTIFIER_NODE":
                w("  - `recognised_secondary_node`: `true` (eligibility, below)")
            opts = dict(OPTIONAL_EFFECTS.get(code, {}))
            if m.get("stacking_base_rate_bp") and "upper_level_subsidy_fen" not in req:
                opts.setdefault("upper_level_subsidy_fen", "upper-level funds already received for the content; they count toward the stacking limit")
            if any(c.get("grades") for c in m.get("cap", {}).values()) and "grade" not in req:
                opts.setdefault("grade", "the caps by grade below count only the applications of their grade")
            if any(c.get("revenue_tier_above_yuan") for c in m.get("cap", {}).values()) and "declared_revenue_fen" not in req:
                opts.setdefault("declared_revenue_fen", "picks the revenue tier of the caps below (unset: the lowest)")
            if opts:
                w("- **Optional fields it reads**:")
                for field, why in opts.items():
                    w(f"  - `{field}`: {why}")
            # Eligibility.
            w("- **Eligibility**:")
            w(f"  - applicant locality (from the district's registry): {', '.join('`' + x.upper() + '`' for x in m['localities'])}")
            w(f"  - registered applicant role: {', '.join('`' + x.upper() + '`' for x in m['applicant_roles'])} (`FAILED_PRECONDITION` `applicant.role`)")
            if code in CODE_ELIGIBILITY:
                w(f"  - {CODE_ELIGIBILITY[code][0]}")
            if m.get("catalogue"):
                where = (f"`DistrictProgrammes.RegisterCatalogueMember` from {own}, with an `entry_date` on or before it" if own
                         else "a city programme's catalogue has no members: the city ledger keeps none")
                w(f"  - `provider_uscc` is in the district catalogue `{m['catalogue']}` on the decision date ({where}); otherwise `FAILED_PRECONDITION` `eligibility`")
            if "min_served_enterprises" in m:
                w(f"  - follow-on condition (`FAILED_PRECONDITION` `follow_on_condition`): the ledger holds a live `CLUSTER_PILOT` award for the same canonical `pilot_id` to the same applicant, with a selection date S; "
                  f"at least {m['min_served_enterprises']} distinct Foshan enterprises among `served_enterprises` hold a `CLOUD_VOUCHER` decided from S to the earlier of S + {m['window_years']} years and the decision's own date, or are listed in `provincial_voucher_enterprises` "
                  f"(Foshan: a USCC whose positions 3–8 are 4406xx; USCCs sharing an organisation code, positions 9–17, count once)"
                  + (f"; the decision itself is dated within S + {m['window_years']} years" if m.get("decision_within_window") else ""))
            # Caps.
            caps = m.get("cap", {})
            if caps:
                w("- **Caps** (ledger id — whose awards — period — limit):")
                for name, cap in caps.items():
                    if "limit_count" in cap:
                        n = cap["limit_count"]
                        lim = f"{n} award{'s' if n != 1 else ''}"
                        if cap["subject"] == "city":
                            kind = " — full: `RESOURCE_EXHAUSTED` with a `CapViolation`"
                        elif n == 1:
                            kind = " — a one-time rule: used → `FAILED_PRECONDITION` `one_time`"
                        else:
                            kind = " — reached → `FAILED_PRECONDITION` `one_time`"
                    else:
                        lim = yuan(cap["limit_yuan"])
                        tiers = zip(cap.get("revenue_tier_above_yuan", []), cap.get("revenue_tier_limit_yuan", []))
                        lim += "".join(f"; {yuan(limit)} when `declared_revenue_fen` is above {yuan(above)}" for above, limit in tiers)
                        kind = " — no headroom: `RESOURCE_EXHAUSTED` with a `CapViolation`"
                    levels = f" (only applications selected at {', '.join(x.upper() for x in cap['selection_levels'])})" if cap.get("selection_levels") else ""
                    if cap.get("grades"):
                        levels += f" (only applications graded {', '.join(x.upper() for x in cap['grades'])})"
                    subject = SUBJECT_TEXT[cap["subject"]]
                    if own and cap["subject"] == "city":
                        subject = f"programme-wide (every award of the programme, in {own}'s store)"
                    w(f"  - `{code}.{name}` — {subject} — {PERIOD_TEXT[cap['period']]} — {lim}{levels}{kind}")
            else:
                w("- **Caps**: none in this programme.")
            # Example.
            ex = exs[code]
            first = ""
            if ex["pool_provider"]:
                first = f"; the provider `{ex['pool_provider']}` must be in the resource pool on the decision date"
            if ex["catalogue"]:
                first = f"; the provider `{ex['catalogue']['uscc']}` must be in catalogue `{ex['catalogue']['catalogue']}` on the decision date"
            w(f"- **Minimal valid example** (register `{ex['application']['enterpriseUscc']}` in `{ex['district']}` as `{ex['applicant_role'].upper()}`, `{ex['locality'].upper()}`, first"
              + first + "):")
            w("")
            w("  ```json")
            for line in json.dumps(ex["application"], ensure_ascii=False, indent=2).splitlines():
                w("  " + line)
            w("  ```")
            if ex["decision"]:
                w("")
                where = "`Quote` / `DistrictProgrammes.ApproveApplication`" if own else "`Quote` / `ApproveApplication`"
                w(f"  With {'the district' if own else 'the city'}'s decision on {where}: `{json.dumps(ex['decision'], ensure_ascii=False)}`.")
            if ex["quote_expect"] != "OK":
                w("")
                w(f"  It is accepted by `SubmitApplication` (with a warning), but `Quote` and approval answer `FAILED_PRECONDITION` `{ex['quote_expect']}` until the condition above holds.")
            w("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(REPO)} is stale: run python3 Protos/reference/measures.py and commit it", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

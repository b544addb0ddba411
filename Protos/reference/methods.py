#!/usr/bin/env python3
"""Generates Protos/METHODS.md — every RPC's contract: who may call it, its idempotency rule, and
every status it can return with the detail attached — from the protos and the Swift sources, and
fails when the sources raise something this script cannot attribute to methods.

How the statuses are found: raises.py lists every raise site in the handlers, the stores and the
core (`Sources/SubsidyServer/Handlers`, `Sources/SubsidyStore`, `Sources/SubsidyCore`, and the
call-level parts of `Sources/SubsidyServer/Transport`), by the function it is in. REACH below
says which RPCs reach each of those functions (read from the code: a handler's calls). Every
status of a function is listed for every method that reaches it, so:
  - a new `throw` in a function already in REACH shows up in METHODS.md by itself (and
    `--check` fails until METHODS.md is regenerated and committed);
  - a new function that raises, one that disappeared, or a precondition subject without an
    explanation in SUBJECTS fails `--check` until REACH / SUBJECTS say where it belongs.
What it cannot see: a handler that starts calling a raising function it did not call before (a
new edge between functions already in REACH). The call graph is not computed — by name it is
far too coarse in Swift (`submit`, `record`, `apply` exist on several types) — so REACH is kept
by hand: when a change makes a method reach another raising function, add the method there.

    python3 Protos/reference/methods.py           # rewrite Protos/METHODS.md
    python3 Protos/reference/methods.py --check   # CI: exit 1 if stale or if a raise is unattributed
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import raises  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "Protos" / "METHODS.md"
PROTOS = REPO / "Protos" / "foshan" / "subsidy" / "v1"
SERVICES_SWIFT = REPO / "Sources" / "SubsidyServer" / "SubsidyServices.swift"
FOUNDATION_SWIFT = REPO / "Sources" / "SubsidyServer" / "Handlers" / "FoundationServices.swift"
SCANNED = raises.SOURCES + [
    "Sources/SubsidyServer/Transport/CallContext.swift",
    "Sources/SubsidyServer/Transport/ReplyPage.swift",
    "Sources/SubsidyServer/Transport/BlockingWorkAdmission.swift",
]

# ── the methods, from the protos ──────────────────────────────────────────────────────────────────


@dataclass
class Method:
    service: str
    name: str
    request: str
    response: str
    streaming: bool
    mutating: bool = False
    roles: str = ""
    statuses: dict = field(default_factory=dict)  # (code, detail) -> {key: set of sources}

    @property
    def id(self) -> str:
        return f"{self.service}.{self.name}"


def methods() -> list[Method]:
    out = []
    messages: dict[str, str] = {}
    for proto in sorted(PROTOS.glob("*.proto")):
        text = proto.read_text(encoding="utf-8")
        for m in re.finditer(r"^message (\w+) \{(.*?)^\}", text, re.M | re.S):
            messages[m.group(1)] = m.group(2)
    for proto in sorted(PROTOS.glob("*.proto")):
        text = proto.read_text(encoding="utf-8")
        for s in re.finditer(r"^service (\w+) \{(.*?)^\}", text, re.M | re.S):
            for r in re.finditer(r"rpc (\w+)\((\w+)\) returns \((stream )?(\w+)\)", s.group(2)):
                mutating = bool(re.search(r"\bstring request_id = \d+;", messages.get(r.group(2), "")))
                out.append(Method(s.group(1), r.group(1), r.group(2), r.group(4), bool(r.group(3)), mutating))
    return out


def roles() -> dict[str, str]:
    """Service → who may call it, from the registrations in SubsidyServices.swift."""
    text = SERVICES_SWIFT.read_text(encoding="utf-8") + FOUNDATION_SWIFT.read_text(encoding="utf-8")
    out = {}
    for service, who in re.findall(r"(\w+)Service\([^)]*\)\s*\.registerMethods\(with: &router, roles: ([\w\[\]. ,]+)\)", text):
        out[service if service in ("District", "City") else service] = who
    for service, who in re.findall(r"(\w+)Service\(.*?\)\.registerMethods\(with: &router, roles: (\w+|\[[^\]]*\])\)", text):
        out.setdefault(service, who)
    every = "every tenant (district and city)"
    names = {"[.district]": "district tenants only", "[.city]": "the city tenant only", "everyone": every,
             "[.district, .city]": every, "[.city, .district]": every}
    result = {}
    for service, who in out.items():
        if who not in names:
            raise raises_drift(f"roles {who!r} of {service}Service not understood")
        full = {"District": "DistrictService", "City": "CityService"}.get(service, service)
        result[full] = names[who]
    return result


def raises_drift(message: str) -> SystemExit:
    return SystemExit(f"Protos/reference/methods.py: {message}; update the script")


# ── which methods reach which raising function ────────────────────────────────────────────────────

D = "DistrictService."
C = "CityService."
DP = "DistrictProgrammes."
CALLS = "Calls."
#: A district deciding its own programme's applications (DistrictProgrammesService, SubsidyStores+DistrictProgrammes).
DP_DECIDE = [DP + m for m in ("RejectApplication", "PublicizeApplication", "DisburseApplication", "RevokeApplication")]
DP_DECISIONS = [DP + "ApproveApplication"] + DP_DECIDE
#: The city's decisions on one application: each asks cityDecides for the application's programme.
C_DECISIONS = [C + m for m in ("ApproveApplication", "RejectApplication", "PublicizeApplication", "DisburseApplication", "RevokeApplication",
                                "RecordRecovery")]
#: A clawback's recovery recorded (the city's, a district's own programme's).
RECOVERY = [C + "RecordRecovery", DP + "RecordRecovery"]
STORE_METHODS = [D + m for m in ("RegisterApplicant", "GetApplicant", "ListApplicants", "UpdateApplicant", "SubmitApplication", "GetApplication",
                                 "ListApplications", "AmendApplication", "WithdrawApplication", "ReviewApplication", "Quote")] + \
                [C + m for m in ("GetApplication", "GetApplicant", "ListApplications", "ApproveApplication", "ApproveApplications", "RejectApplication", "PublicizeApplication",
                                 "DisburseApplication", "RevokeApplication", "Quote", "GetQuota", "WatchQuota", "WatchEvents",
                                 "RegisterPoolMember", "ListPoolMembers", "ImportHistory", "VerifyAudit")] + \
                DP_DECISIONS + [DP + "RegisterCatalogueMember", DP + "GetQuota"] + RECOVERY + \
                [CALLS + m for m in ("OpenCall", "CloseCall", "ListCalls")] + ["Admin.Backup", "Admin.GetMetrics"]
QUOTES = [D + "Quote", C + "Quote"]
APP_WIRE = [D + "SubmitApplication", D + "AmendApplication"] + QUOTES            # an Application from the wire
OWN_ENGINE = [DP + "ApproveApplication"]                                           # AwardCalculator against a district's own store
VALIDATED = APP_WIRE + [D + "ReviewApplication", C + "ApproveApplication"] + OWN_ENGINE  # Application.validate()
ENGINE = [C + "ApproveApplication"] + QUOTES                                       # AwardCalculator, errors returned
NOTICE = [D + "SubmitApplication", D + "AmendApplication", D + "ReviewApplication"]  # contentNotices: only the certain ones
BY_ID = [D + m for m in ("GetApplication", "AmendApplication", "WithdrawApplication", "ReviewApplication", "Quote")] + \
        [C + m for m in ("GetApplication", "ApproveApplication", "RejectApplication", "PublicizeApplication", "DisburseApplication",
                         "RevokeApplication", "Quote")] + DP_DECISIONS + RECOVERY
TRANSITIONS = [D + "AmendApplication", D + "WithdrawApplication", D + "ReviewApplication", C + "ApproveApplication",
               C + "RejectApplication", C + "PublicizeApplication", C + "DisburseApplication", C + "RevokeApplication"] + DP_DECISIONS
QUOTAS = [C + "GetQuota", C + "WatchQuota", DP + "GetQuota"]
LISTS = [D + "ListApplicants", D + "ListApplications", C + "ListApplications", C + "ListPoolMembers"]
CERTAIN = {"duplicate_content", "one_time"}  # what contentNotices rethrows; the rest become warnings


@dataclass
class Reach:
    methods: list[str]
    keep: set | None = None        # only sites whose key is in it
    drop: set | None = None        # sites (code or key) never reachable from these methods
    why: str = ""                  # for keep/drop
    prefix: str = ""               # replaces a leading "*." of field paths


REACH: dict[str, list[Reach]] = {
    "AdminService.swift:backup": [Reach(["Admin.Backup"])],
    "AdminService.swift:takeBackup": [Reach(["Admin.Backup"])],
    "Application+Validation.swift:checkBounds": [Reach(VALIDATED, drop={"application.decision_document"},
                                                       why="the core's decision document is never read from the wire Application")],
    "Application+Validation.swift:requirePositive": [Reach(VALIDATED)],
    "Application+Validation.swift:requireText": [Reach(VALIDATED)],
    "Application+Validation.swift:validate": [Reach(VALIDATED)],
    "ApplicationState.swift:applying": [Reach(TRANSITIONS, drop={"PERMISSION_DENIED"},
                                              why="each transition is served only to the role that makes it")],
    "AwardCalculator.swift:compute": [Reach(ENGINE + OWN_ENGINE), Reach(NOTICE, keep=CERTAIN, why="submit, amend and review report the rest as warnings")],
    "AwardCalculator.swift:duplicate": [Reach(ENGINE + NOTICE + OWN_ENGINE)],
    "AwardCalculator.swift:eligibility": [Reach(ENGINE + OWN_ENGINE)],
    # The follow-on rule is CLUSTER_PILOT_FOLLOW_ON's, a foshan-2020 (city) measure: no district decides it.
    "AwardCalculator.swift:checkFollowOn": [Reach(ENGINE)],
    "AwardCalculator.swift:exhausted": [Reach(ENGINE + OWN_ENGINE)],
    "AwardCalculator.swift:formula": [Reach(ENGINE + OWN_ENGINE)],
    "AwardCalculator.swift:difference": [Reach(ENGINE + OWN_ENGINE)],
    "AwardCalculator.swift:sameContentAwards": [Reach(ENGINE + OWN_ENGINE)],
    "AwardCalculator.swift:stackingOnAwardedBases": [Reach(ENGINE + OWN_ENGINE)],
    "AwardCalculator.swift:stackingTrace": [Reach(ENGINE + OWN_ENGINE)],
    # Another programme's stacking limit binding a measure without one: a city's, or a district's own.
    "AwardCalculator.swift:stackingOnOtherLevels": [Reach(ENGINE + OWN_ENGINE)],
    "CityLedger+Views.swift:indexApplicant": [Reach([D + "RegisterApplicant"])],
    "CityLedger+Views.swift:twinKnown": [Reach([D + "RegisterApplicant"])],
    "CityLedger+Views.swift:registerPoolMember": [Reach([C + "RegisterPoolMember"])],
    "CommitmentQueries.swift:requireWithinLimit": [Reach([C + "ApproveApplication", C + "ImportHistory", DP + "ApproveApplication"])],
    # An award to a USCC whose organisation-code twin holds one (twins may be registered by two
    # districts); a district's own approvals refuse it too (SubsidyStores+DistrictProgrammes.swift).
    "CityLedger.swift:commit": [Reach([C + "ApproveApplication"])],
    "CityLedger.swift:markDisbursed": [Reach([C + "DisburseApplication"])],
    "CityLedger.swift:release": [Reach([C + "RevokeApplication"])],
    "CityLedger.swift:recordRecovery": [Reach([C + "RecordRecovery"])],
    "CityLedger.swift:existingCommitment": [Reach([C + "DisburseApplication", C + "RevokeApplication", C + "RecordRecovery"])],
    "CityService.swift:recordRecovery": [Reach([C + "RecordRecovery"])],
    "Conversions.swift:recoveryRequest": [Reach(RECOVERY)],
    "DistrictStore.swift:recordRecovery": [Reach(RECOVERY)],
    "StoredApplication.swift:requireRecoverable": [Reach(RECOVERY)],
    "SubsidyStores+DistrictProgrammes.swift:decidingOwn": [Reach(DP_DECIDE + [DP + "RecordRecovery"])],
    # An imported award's revocation (an `import-…` id): the ledger only.
    "CityLedger+Imports.swift:revokeImport": [Reach([C + "RevokeApplication"])],
    "CityLedger.swift:pilotAward": [Reach(ENGINE)],
    # A district's own decision reads the city's awards for the same content first (stacking).
    # Both ledgers' usage reads (the city ledger's, a district's programme ledger's).
    "CommitmentQueries.swift:reading": [Reach(ENGINE + NOTICE + [C + "ImportHistory"] + OWN_ENGINE + QUOTES)],
    "CityService.swift:approvalDecision": [Reach([C + "ApproveApplication", DP + "ApproveApplication"]),
                                           Reach([C + "ApproveApplications"], drop={"request.case_amount_fen"},
                                                 why="a list carries no case amount (case by case is approved one at a time)")],
    "CityService.swift:approveApplications": [Reach([C + "ApproveApplications"])],
    "CityService.swift:getApplicant": [Reach([C + "GetApplicant"])],
    "CityService.swift:getApplication": [Reach([C + "GetApplication"])],
    "CityService.swift:disburseApplication": [Reach([C + "DisburseApplication"])],
    "CityService.swift:listApplications": [Reach([C + "ListApplications"])],
    "CityService.swift:publicizeApplication": [Reach([C + "PublicizeApplication"])],
    "CityService.swift:rejectApplication": [Reach([C + "RejectApplication"])],
    "CityService.swift:revokeApplication": [Reach([C + "RevokeApplication"])],
    "CityService.swift:decisionDocument": [Reach([C + "RejectApplication", C + "PublicizeApplication", C + "DisburseApplication",
                                                  C + "RevokeApplication"] + DP_DECIDE + RECOVERY)],
    "CityViews.swift:init": [Reach(QUOTAS)],  # QuotaQuery
    "CityViews.swift:importHistory": [Reach([C + "ImportHistory"])],
    "CityViews.swift:importedCommitment": [Reach([C + "ImportHistory"], prefix="request.awards[i].")],
    "CityViews.swift:importedBase": [Reach([C + "ImportHistory"], prefix="request.awards[i].")],
    "CityLedger+Imports.swift:addImportBase": [Reach([C + "ImportHistory"])],
    "SubsidyStores.swift:contentLimits": [Reach([C + "ImportHistory"])],
    "CityViews.swift:registerPoolMember": [Reach([C + "RegisterPoolMember"])],
    "CityViews.swift:watchEvents": [Reach([C + "WatchEvents"])],
    "Conversions.swift:init": [Reach(APP_WIRE, prefix="application.", drop={"DATA_LOSS"},
                                     why="DATA_LOSS here is the conversion of files the first release wrote, at start-up")],
    "Conversions.swift:checkRequestID": [Reach(["*mutating"])],
    "CallsService.swift:openCall": [Reach([CALLS + "OpenCall"])],
    "CallsService.swift:closeCall": [Reach([CALLS + "CloseCall"])],
    "CallsService.swift:listCalls": [Reach([CALLS + "ListCalls"])],
    # Who opens and closes a programme's calls: the city its programmes', a district its own's.
    "CallsService.swift:decidedBy": [Reach([CALLS + "OpenCall", CALLS + "CloseCall"])],
    "CityLedger+Calls.swift:openCall": [Reach([CALLS + "OpenCall"])],
    "CityLedger+Calls.swift:closeCall": [Reach([CALLS + "CloseCall"])],
    "DistrictService.swift:amendApplication": [Reach([D + "AmendApplication"])],
    # Filing against the measure's calls for applications: only a submission (an amendment keeps its call).
    "DistrictService.swift:callFiledUnder": [Reach([D + "SubmitApplication", D + "AmendApplication"])],
    "DistrictService.swift:checkedApplication": [Reach([D + "SubmitApplication", D + "AmendApplication", D + "Quote"])],
    "Conversions.swift:makeLinesOneLine": [Reach([D + "SubmitApplication", D + "AmendApplication", D + "Quote"])],
    "DistrictService.swift:requireNotRelocated": [Reach([D + "SubmitApplication", D + "AmendApplication", D + "UpdateApplicant"])],
    "DistrictService.swift:get": [Reach([D + "GetApplication", C + "GetApplication"])],
    "DistrictService.swift:getApplicant": [Reach([D + "GetApplicant"])],
    "DistrictService.swift:list": [Reach([D + "ListApplications", C + "ListApplications"])],
    "DistrictService.swift:listApplications": [Reach([D + "ListApplications"])],
    "DistrictService.swift:pageSize": [Reach(LISTS)],
    "DistrictService.swift:registerApplicant": [Reach([D + "RegisterApplicant"])],
    "DistrictService.swift:requireSameCall": [Reach([D + "AmendApplication"])],
    "DistrictService.swift:reviewApplication": [Reach([D + "ReviewApplication"])],
    "DistrictService.swift:submitApplication": [Reach([D + "SubmitApplication"])],
    "DistrictService.swift:updateApplicant": [Reach([D + "UpdateApplicant"])],
    "DistrictStore.swift:updateApplicant": [Reach([D + "UpdateApplicant"])],
    "SubsidyStores.swift:updateApplicant": [Reach([D + "UpdateApplicant"])],
    "DistrictStore.swift:requireRoleFitsPending": [Reach([D + "UpdateApplicant"])],
    "SubsidyStores.swift:amend": [Reach([D + "AmendApplication"])],
    # A recommendation on a day past its programme's window.
    "SubsidyStores.swift:review": [Reach([D + "ReviewApplication"])],
    "DistrictService.swift:withdrawApplication": [Reach([D + "WithdrawApplication"])],
    "DistrictStore.swift:applyReportingChanges": [Reach(TRANSITIONS, drop={"history"}),
                                  Reach([D + "AmendApplication", D + "ReviewApplication"], keep={"history"},
                                        why="the history bound refuses only a RETURN or an amendment")],
    "DistrictStore.swift:requireSame": [Reach([D + "RegisterApplicant"])],
    "DistrictProgrammesService.swift:checked": [Reach(DP_DECIDE)],
    "DistrictProgrammesService.swift:getQuota": [Reach([DP + "GetQuota"])],
    "DistrictProgrammesService.swift:registerCatalogueMember": [Reach([DP + "RegisterCatalogueMember"])],
    "DistrictProgrammesService.swift:rejectApplication": [Reach([DP + "RejectApplication"])],
    "DistrictProgrammesService.swift:revokeApplication": [Reach([DP + "RevokeApplication"])],
    "DistrictStore+Programmes.swift:insertCatalogueMember": [Reach([DP + "RegisterCatalogueMember"])],
    "DistrictStore+Programmes.swift:moveProgrammeCommitment": [Reach([DP + "DisburseApplication", DP + "RevokeApplication", DP + "RecordRecovery"])],
    # Quote holds it too: a district quoting its own programme, the city quoting a stored application of one.
    "DistrictStore+Programmes.swift:requireOneRevenueTier": [Reach([DP + "ApproveApplication"] + QUOTES)],
    # ProgrammeUsage: a district programme's usage, read by its decisions, quotes and the clerk's notices.
    # A decision's date is checked by the engine (approvals, quotes) against the application's programme.
    "Policy.swift:checkDecisionDate": [Reach(ENGINE + OWN_ENGINE)],
    "Policy.swift:fundingYear": [Reach(VALIDATED + QUOTAS + [C + "ImportHistory", CALLS + "OpenCall"])],
    "Policy.swift:rule": [Reach(APP_WIRE + ENGINE + [C + "ImportHistory"] + OWN_ENGINE)],
    # programme(for:): the programme a stored application names, asked by every decision on it, the
    # recommendation's re-check and Quote by id — refused only when a programme it names is no
    # longer served.
    "Programmes.swift:programme": [Reach(C_DECISIONS + DP_DECISIONS + [D + "ReviewApplication"] + QUOTES)],
    "Programmes.swift:programmeForFiling": [Reach(APP_WIRE)],
    "QuoteService.swift:quote": [Reach(QUOTES)],
    "RequestLog.swift:reused": [Reach(["*mutating"])],
    "StoreCall.swift:status": [Reach(STORE_METHODS)],
    # The storage limits: checked before a district adds a record to its file.
    "StorageLimits.swift:requireRoomToGrow": [
        Reach([D + "RegisterApplicant", D + "UpdateApplicant", D + "SubmitApplication", D + "AmendApplication", DP + "RegisterCatalogueMember"])],
    "SubsidyStores.swift:approveHoldingLocks": [Reach([C + "ApproveApplication"])],
    "SubsidyStores.swift:cityDecides": [Reach(C_DECISIONS)],
    "SubsidyStores+DistrictProgrammes.swift:approveOwn": [Reach([DP + "ApproveApplication"])],
    "SubsidyStores+DistrictProgrammes.swift:disburseOwn": [Reach([DP + "DisburseApplication"])],
    "SubsidyStores+DistrictProgrammes.swift:districtDecides": [Reach(DP_DECISIONS + [DP + "RecordRecovery"])],
    "SubsidyStores+DistrictProgrammes.swift:publicizeOwn": [Reach([DP + "PublicizeApplication"])],
    "SubsidyStores.swift:decidingThroughLedger": [Reach([C + "DisburseApplication", C + "RevokeApplication", C + "RecordRecovery"])],
    "SubsidyStores.swift:disburse": [Reach([C + "DisburseApplication"])],
    "SubsidyStores.swift:importHistory": [Reach([C + "ImportHistory"])],
    "SubsidyStores.swift:owning": [Reach(BY_ID)],
    "SubsidyStores.swift:publicize": [Reach([C + "PublicizeApplication"])],
    # A twin holding an award refuses the quote, as it refuses the approval.
    "SubsidyStores.swift:quote": [Reach(QUOTES)],
    "StoredApplication.swift:requireRevocable": [Reach([C + "RevokeApplication", DP + "RevokeApplication"])],
    "SubsidyStores.swift:requireIndexed": [Reach([D + "SubmitApplication", D + "UpdateApplicant", D + "AmendApplication"])],
    "SubsidyStores.swift:requireRegistered": [Reach([D + "SubmitApplication", D + "AmendApplication"])],
    "SubsidyStores.swift:storedApplication": [Reach(QUOTES)],
    # A decision dated before its application's filing or its recommendation: the city's approval
    # and refusal (and the plans and lists of ApproveApplications, per outcome), a district's own,
    # Quote of a stored one.
    "StoredApplication.swift:requireDecidable": [Reach([C + "ApproveApplication", C + "RejectApplication", DP + "ApproveApplication",
                                                    DP + "RejectApplication"] + QUOTES)],
    "ReplyPage.swift:add": [Reach(LISTS)],
    "BlockingWorkAdmission.swift:enter": [Reach(STORE_METHODS)],
}

#: Raising functions that no request reaches as a status of its own, and why.
NOT_A_STATUS = {
    "BlockingWorkAdmission.swift:take": "only a call that has already ended (its deadline, CANCEL, its client gone) stops waiting for its turn: "
                                        "the caller was answered by that end",
    "SubsidyError.swift:invalidField": "constructor: its callers are the sites",
    "SubsidyError.swift:precondition": "constructor: its callers are the sites",
    "SubsidyError+Caps.swift:capExhausted": "constructor: its callers are the sites",
    "SubsidyStores.swift:planApprovals": "ApproveApplications reports each application's refusal in its ApprovalOutcome.status, "
                                         "never as the call's status (so do the approvals of a list)",
    "SubsidyStores.swift:approve": "a list naming an application twice: ApproveApplications refuses it first (\"is listed twice\") "
                                   "and ApprovalCombiner never groups an application twice",
    "SubsidyStores.swift:failIfArmed": "test fault points, armed only with --test-hooks and SUBSIDYD_CRASH_AT",
    "SubsidyError+ErrorID.swift:redactingInternal": "rewrites the INTERNAL and DATA_LOSS raised elsewhere to an error id (shown so below)",
    "CallContext.swift:requireDistrict": "district methods are served to district tenants only (the router refuses the city first)",
    "Clock.swift:withCalendar": "passes the handler's own errors through; binding the call's day throws nothing of its own",
}

#: Every precondition subject, explained. A subject the code raises that is missing here fails --check.
SUBJECTS = {
    "state": "the transition is not legal from the application's current state (the message names it and the legal ones)",
    "validity_window": "a funding year the programme does not open, a decision date outside its validity window, or (an approval or quote) a decision dated before its funding year begins",
    "measure": "the programme in force does not offer the measure",
    "eligibility": "locality, selection level, the voucher provider's registration in Foshan and pool membership, or the secondary-node recognition (MEASURES.md)",
    "duplicate_content": "the same content (canonical contract, or applicant + project) is already funded (INTEGRATORS.md)",
    "one_time": "a one-time award (count cap per applicant or pilot) is already used",
    "follow_on_condition": "the CLUSTER_PILOT_FOLLOW_ON condition does not hold (MEASURES.md)",
    "formula": "the formula gives nothing (e.g. a zero base)",
    "combined_upper_level": "the upper-level subsidy already uses the whole combined limit",
    "application": "an AmendApplication of a SUBMITTED application that changes nothing (it would only move the filing day)",
    "applicant": "the enterprise_uscc is not registered in the caller's district; or (approvals) another USCC with its organisation code "
                 "(positions 9–17) holds an award, in the ledger or a district's programme, while it holds none: one organisation, one USCC",
    "applicant.role": "the registered role is not one the measure accepts",
    "applicant.locality": "LOCAL for a USCC registered outside Foshan (positions 3–8 not 4406xx)",
    "applicant.uscc": "the USCC belongs to another district's area (or relocated to another district)",
    "history": "the application already has 100 recorded changes: withdraw it and file a new one",
    "call": "(SubmitApplication) the measure runs calls for applications (申报批次) and none for the funding year is open today: file it inside one, or late on purpose with `late_reason`; "
            "(AmendApplication) a changed programme, measure or funding year would move it to another call, or out of or into one, or fall where no call is open: withdraw and file again; "
            "(OpenCall) the window overlaps another call of the same measure and year; (CloseCall) the call is already closed",
    "programme": "the programme named is not in force today (before `valid_from`, after `valid_through`) or was retired (`retired_on`), and takes no new applications (an amendment keeping the programme it was filed under is not one); or (`DistrictProgrammes.GetQuota`) the calling district runs no programme of its own",
    "declared_revenue": "(a district programme's approval or quote) the declared revenue puts the enterprise in another tier of a revenue-tiered cap than its earlier award of the same funding year: one revenue per enterprise and year",
    "stacking": "every public award for the content (other programmes' awards and the upper-level funds declared) already reaches the measure's stacking limit, "
                "or another programme's limit binding this award (MEASURES.md); or that limit binds it and no base is known to bound it by",
    "publicity": "disbursement before the publicity (公示) period has ended; the message names the first allowed day",
    "recovery": "the clawback's recovery was recorded already (the message names its date)",
    "commitment": "the ledger's commitment is not in a state that allows the step (already released, not live, not a clawback)",
    "request.awards[i]": "row i's content is already funded (live, imported earlier, earlier in the same request, or by a district's own programme), "
                         "or row i is an award that was revoked (import the corrected row instead); the whole import is refused",
    "request.awards[i].enterprise_uscc": "row i's enterprise, unknown to the ledger, has the organisation code (USCC positions 9–17) of another "
                                         "USCC the city's index holds; or a USCC with its organisation code holds an award (the ledger's or a "
                                         "district programme's) while it holds none: one organisation has one USCC; the whole import is refused",
    "request.awards[i].base_fen": "row i is an award already imported with another base: a base once recorded is not changed "
                                  "(revoke the row and import it corrected); or row i's content is held by another programme's stacking "
                                  "award and no base is known to bound it (declare base_fen); the whole import is refused",
    "request.awards[i].amount_fen": "row i's content is held by another programme's award under a measure with a stacking limit "
                                    "(Shunde's CLOUD_USE), and row i's amount exceeds what that limit leaves (the message gives it), "
                                    "as a live decision would be bound to it; the whole import is refused",
}

#: Statuses every call can get from the transport (Sources/SubsidyServer/Transport, README §2–§3, §9, §10).
COMMON = [
    ("INVALID_ARGUMENT", "FieldViolation", "`request` or `request.<field>`: the payload does not decode, or a string in it is not valid UTF-8 / contains NUL (§8)"),
    ("INVALID_ARGUMENT", "FieldViolation", "`frame.call_id`: the call id is already open on this connection"),
    ("PERMISSION_DENIED", "", "the caller's role may not call the method"),
    ("UNIMPLEMENTED", "", "unknown method name"),
    ("RESOURCE_EXHAUSTED", "", "the tenant's request rate, the per-connection call limit, or a reply larger than 4 MiB (retry rate and call limits later)"),
    ("UNAVAILABLE", "", "the daemon is shutting down (new calls; streams it ends)"),
    ("DEADLINE_EXCEEDED", "", "the request's `timeout_ms` passed (a mutation may still have happened: retry with its request_id)"),
    ("CANCELLED", "", "the client sent CANCEL (likewise)"),
    ("INTERNAL", "", "`internal error; error id <16 hex>`: a bug or storage failure, the cause only in the daemon's log"),
]

# ── assembling ─────────────────────────────────────────────────────────────────────────────────────


class Unattributed(Exception):
    pass


def assemble() -> tuple[list[Method], list[str]]:
    ms = methods()
    who = roles()
    by_id = {m.id: m for m in ms}
    problems: list[str] = []
    for m in ms:
        m.roles = who.get(m.service, "")
        if not m.roles:
            problems.append(f"{m.id}: no role registration found for {m.service}")
    found = raises.scan(REPO, SCANNED)
    for function in sorted(found):
        if function in NOT_A_STATUS:
            continue
        if function not in REACH:
            sites = ", ".join(sorted(f"{s.code} {s.key or s.message}" for s in found[function]))
            problems.append(f"{function} raises ({sites}) but REACH does not say which methods reach it")
    for function in sorted(set(REACH) | set(NOT_A_STATUS)):
        if function not in found:
            problems.append(f"{function} is in REACH/NOT_A_STATUS but raises nothing any more (or was renamed)")
    for function, entries in REACH.items():
        for entry in entries:
            targets = []
            for name in entry.methods:
                if name == "*all":
                    targets += ms
                elif name == "*mutating":
                    targets += [m for m in ms if m.mutating]
                elif name in by_id:
                    targets.append(by_id[name])
                else:
                    problems.append(f"REACH[{function}] names {name}, which no .proto declares")
            for site in found.get(function, ()):
                tags = {site.code, site.key}
                if entry.keep is not None and not (tags & entry.keep):
                    continue
                if entry.drop and tags & entry.drop:
                    continue
                if site.detail == "PreconditionFailure" and site.key.replace("[*]", "[i]") not in SUBJECTS:
                    problems.append(f"{function}: precondition subject {site.key!r} has no explanation in SUBJECTS")
                key = site.key
                if entry.prefix and key.startswith("*."):
                    key = entry.prefix + key[2:]
                if key.endswith(".*"):
                    key = key[:-1] + "<field>"
                key = key.replace("[*]", "[i]")
                text = key or site.message
                for m in targets:
                    m.statuses.setdefault((site.code, site.detail), {}).setdefault(text, set()).add(function)
    return ms, problems


REDACTED = {
    "INTERNAL": "internal error; error id <16 hex digits>",
    "DATA_LOSS": "stored data is damaged; error id <16 hex digits> (subsidyd --check reports the files)",
}

ORDER = ["INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
         "CANCELLED", "UNAVAILABLE", "DATA_LOSS", "INTERNAL"]

IDEMPOTENCY_NOTES = {
    "DistrictService.RegisterApplicant": "Registering the identical applicant again (new request_id) also succeeds; other details for the same USCC are ALREADY_EXISTS, "
                                         "unless no registration of it reached the district's registry (one failed or was cut off after the city's index): then "
                                         "the new one takes its place. Waits behind a backup or VerifyAudit (the enterprise's decision lock).",
    "CityService.ApproveApplication": "A retry of an approval interrupted by a crash completes it from the ledger; it is never computed twice.",
    "CityService.ImportHistory": "Each row's identity is its canonical content, so re-importing a file under a new request_id reports its rows `already_present`.",
    "CityService.RegisterPoolMember": "A USCC is in the pool once: a new request_id for the same USCC is ALREADY_EXISTS.",
    "Admin.Backup": "Not keyed by a request id: a repeated backup into the same (now non-empty) directory is FAILED_PRECONDITION.",
    "DistrictProgrammes.ApproveApplication": "The award, its cap charges and the approval are one transaction of the district's file: a crash leaves "
                                             "the approval whole or absent, and a retry never computes it twice.",
    "DistrictProgrammes.RegisterCatalogueMember": "A USCC is in a catalogue once: a new request_id for the same catalogue and USCC is ALREADY_EXISTS.",
}


def idempotency(m: Method) -> str:
    if m.id == "CityService.ApproveApplications":
        base = ("`request_id` required (≤ 128 bytes). Each application of the list is approved as `ApproveApplication` would, keyed by "
                "(`request_id`, its id): repeating the identical list approves nothing twice and answers with the approvals made; an "
                "application refused before is tried again. Once any application of the list was approved under it, the same "
                "`request_id` with another list (more ids, fewer, others) or other date, document or reason is ALREADY_EXISTS "
                "(`request.request_id`) for the whole call, and nothing is approved: send a new list under a new `request_id`. "
                "A list all of whose applications were refused binds nothing. With `plan_only`, nothing is committed.")
    elif m.mutating:
        base = ("`request_id` required (≤ 128 bytes): the same id with the same request returns the first response and changes nothing "
                "(also after a crash); the same id with other content or another method is ALREADY_EXISTS (`request.request_id`).")
    elif m.streaming:
        base = "Read-only stream: resubscribe freely."
    elif m.name == "Quote":
        base = "Read-only dry run: consumes nothing; retry freely (the answer may change as other decisions commit)."
    elif m.name == "Backup":
        base = "No request id."
    else:
        base = "Read-only: retry freely."
    note = IDEMPOTENCY_NOTES.get(m.id)
    return base + (" " + note if note else "")


def render() -> tuple[str, list[str]]:
    ms, problems = assemble()
    out: list[str] = []
    w = out.append
    w("<!-- GENERATED by Protos/reference/methods.py from Protos/foshan/subsidy/v1/*.proto and the Swift sources; do not edit.")
    w("     Regenerate: python3 Protos/reference/methods.py   (CI: --check fails when stale or when a raise is unattributed) -->")
    w("")
    w("# Methods: who may call them, retries, and every status they return")
    w("")
    w("For every RPC: the tenants that may call it, its idempotency rule, and every status the daemon can")
    w("end it with, with the typed detail attached (`Status.field_violations`, `cap_violations`,")
    w("`precondition_failures`, `status.proto`) and the field path, precondition subject or message.")
    w("The list is read from the code (`Protos/reference/raises.py` finds every raise in the handlers, the")
    w("stores and the core; `methods.py` attributes each to the methods that reach it), so it is complete")
    w("for what the code can raise — some entries need unusual data to happen (e.g. a stored application")
    w("failing re-validation only after the rules changed). Which methods reach which function is kept")
    w("by hand in `methods.py` (`REACH`); a raise in a function nobody attributed fails CI. Codes are")
    w("gRPC's (`Protos/README.md` §7).")
    w("Field requirements per measure: [MEASURES.md](MEASURES.md); the rules behind the statuses:")
    w("[INTEGRATORS.md](INTEGRATORS.md).")
    w("")
    w("## Every method")
    w("")
    w("Any call can also end with these (the transport's, before or around the handler):")
    w("")
    w("| code | detail | when |")
    w("| --- | --- | --- |")
    for code, detail, when in COMMON:
        w(f"| `{code}` | {detail or '—'} | {when} |")
    w("")
    w("`DATA_LOSS` (`stored data is damaged; error id …`) and `UNAVAILABLE` (`the store is busy; retry with the same")
    w("request id`) can end any method that reads or writes a store; they are listed per method below.")
    w("")
    w("## Precondition subjects")
    w("")
    w("| subject | meaning |")
    w("| --- | --- |")
    for subject, text in SUBJECTS.items():
        w(f"| `{subject}` | {text} |")
    w("")
    service = None
    rank = ["DistrictService", "CityService", "Programmes", "DistrictProgrammes", "Calls", "Admin", "Health", "Identity", "Reflection"]
    for m in sorted(ms, key=lambda m: rank.index(m.service) if m.service in rank else 99):
        if m.service != service:
            service = m.service
            w(f"## `foshan.subsidy.v1.{service}` — {m.roles}")
            w("")
        stream = " (server-streaming)" if m.streaming else ""
        w(f"### `{m.name}`{stream}")
        w("")
        w(f"`/foshan.subsidy.v1.{m.service}/{m.name}`: `{m.request}` → {'stream ' if m.streaming else ''}`{m.response}`. "
          f"Callers: {m.roles}.")
        w("")
        w(f"- **Idempotency**: {idempotency(m)}")
        if not m.statuses:
            w("- **Statuses**: only those of every method.")
            w("")
            continue
        w("- **Statuses** (besides every method's):")
        w("")
        w("  | code | detail | field / subject / message |")
        w("  | --- | --- | --- |")
        for (code, detail) in sorted(m.statuses, key=lambda k: (ORDER.index(k[0]) if k[0] in ORDER else 99, k[1])):
            keys = sorted(k.replace("*", "…") for k in m.statuses[(code, detail)])
            if code in REDACTED:
                # The router sends only an error id; the raised message goes to the daemon's log.
                keys = [REDACTED[code]]
            shown = ", ".join(f"`{k}`" for k in keys) if detail in ("FieldViolation", "PreconditionFailure") else "; ".join(
                f"`{k}`" if k and k != "…" else ("any cap of the measure (`cap_id`, `scope`, `limit`, `committed`, `requested`)" if detail == "CapViolation" else "—")
                for k in keys)
            w(f"  | `{code}` | {detail or '—'} | {shown} |")
        w("")
    return "\n".join(out).rstrip() + "\n", problems


def main(argv: list[str]) -> int:
    text, problems = render()
    for p in problems:
        print(f"methods.py: {p}", file=sys.stderr)
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(REPO)} is stale: run python3 Protos/reference/methods.py and commit it", file=sys.stderr)
            return 1
        return 1 if problems else 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

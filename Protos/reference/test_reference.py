"""Tests of the reference generators: the raise scanner reads the Swift shapes the sources use,
and the methods check refuses a raise no method is attributed to. Run by check.sh (CI)."""

from __future__ import annotations

import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measures  # noqa: E402
import methods  # noqa: E402
import raises  # noqa: E402

SWIFT = '''
struct Example {
    /// A doc comment naming SubsidyError(.internal, "not a site") is not a site.
    func first(_ text: String) throws(SubsidyError) -> Int {
        // throw .invalidField("commented.out", "no")
        guard !text.isEmpty else { throw .invalidField("request.text", "is required") }
        let date = try parseDate(text, field: "request.date")
        if date.isOld {
            throw SubsidyError.precondition(
                "validity_window", "too old \\(date)")
        }
        return 1
    }

    func second(
        _ id: String,
        update: (inout Int) throws -> Void = { _ in }
    ) throws -> Int {
        throw SubsidyError(
            .alreadyExists,
            "request \\(id) reused",
            details: [.field(path: "request.request_id", problem: "reused")]
        )
    }

    init(wire: Int, path: String) throws {
        // A conversion passing the field's path to the callee (which throws with it) is a site.
        let grade = try Grade(wire: wire, path: "\\(path).grade")
        throw SubsidyError(.notFound, "nothing for \\(wire)")
    }
}
'''


class ScannerTests(unittest.TestCase):
    def scan(self) -> dict:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "Example.swift"
            path.write_text(SWIFT, encoding="utf-8")
            return raises.scan_file(path)

    def test_sites_by_function(self):
        found = self.scan()
        self.assertEqual(found["first"], {
            raises.Site("INVALID_ARGUMENT", "FieldViolation", "request.text"),
            raises.Site("INVALID_ARGUMENT", "FieldViolation", "request.date"),
            raises.Site("FAILED_PRECONDITION", "PreconditionFailure", "validity_window"),
        })
        # A multi-line declaration with a default closure argument still opens its body.
        self.assertEqual(found["second"], {raises.Site("ALREADY_EXISTS", "FieldViolation", "request.request_id")})
        self.assertEqual(found["init"], {
            raises.Site("NOT_FOUND", "", "", "nothing for *"),
            raises.Site("INVALID_ARGUMENT", "FieldViolation", "*.grade"),
        })

    def test_the_real_sources_are_all_attributed(self):
        _, problems = methods.assemble()
        self.assertEqual(problems, [])

    def test_roles_of_every_registration_are_read(self):
        who = methods.roles()
        self.assertEqual(who["DistrictService"], "district tenants only")
        self.assertEqual(who["CityService"], "the city tenant only")
        self.assertEqual(who["Programmes"], "every tenant (district and city)")
        self.assertEqual(who["DistrictProgrammes"], "district tenants only")
        self.assertEqual(who["Calls"], "every tenant (district and city)")


class AttributionTests(unittest.TestCase):
    def test_an_unattributed_raise_is_a_problem(self):
        real = raises.scan

        def with_new_function(root, globs):
            found = real(root, globs)
            found["DistrictService.swift:brandNew"] = {raises.Site("NOT_FOUND", "", "", "gone")}
            return found

        with mock.patch.object(raises, "scan", with_new_function):
            _, problems = methods.assemble()
        self.assertTrue(any("brandNew" in p for p in problems), problems)

    def test_an_unexplained_subject_is_a_problem(self):
        real = raises.scan

        def with_new_subject(root, globs):
            found = real(root, globs)
            found["DistrictService.swift:submitApplication"] = found["DistrictService.swift:submitApplication"] | {
                raises.Site("FAILED_PRECONDITION", "PreconditionFailure", "brand_new_subject")}
            return found

        with mock.patch.object(raises, "scan", with_new_subject):
            _, problems = methods.assemble()
        self.assertTrue(any("brand_new_subject" in p for p in problems), problems)


VALIDATE = '''
extension Application {
    public func validate() throws(SubsidyError) {
        switch measure {
        case .cloudVoucher, .cloudUse:
            try Self.requireText(contractNumber, "contract_number")
            if measure == .cloudUse {
                // a { in a comment, and "} in a string" below, open and close nothing
                try Self.requirePositive(declaredRevenue, "declared_revenue_fen")
                let note = "} {"
            }
            try Self.requirePositive(paidAmount, "paid_amount_fen")
        case .clusterPilot, .clusterPilotFollowOn:
            try Self.requireText(pilotID, "pilot_id")
            if measure == .clusterPilot && selectionDate == nil {
                throw SubsidyError.invalidField("application.selection_date", "required for \\(measure)")
            }
        case .digitalFactory:
            if grade == .none {
                throw SubsidyError.invalidField("application.grade", "required for DIGITAL_FACTORY")
            }
        default:
            break
        }
        try Self.requireText(projectName, "project_name")
        try checkBounds()
    }

    func checkBounds() throws(SubsidyError) {}
}
'''


class MeasureTests(unittest.TestCase):
    def test_required_fields_are_read_from_validate(self):
        per, common = measures.required_fields(measures.measure_codes())
        self.assertEqual(common, {"project_name": "not blank"})
        # CLOUD_VOUCHER and CLOUD_USE share a branch; only CLOUD_USE declares its revenue.
        self.assertEqual(per["CLOUD_VOUCHER"], {
            "contract_number": "not blank", "contract_amount_fen": "> 0", "paid_amount_fen": "> 0", "provider_uscc": "required"})
        self.assertEqual(per["CLOUD_USE"], {
            "contract_number": "not blank", "contract_amount_fen": "> 0", "paid_amount_fen": "> 0", "provider_uscc": "required",
            "declared_revenue_fen": "> 0"})
        self.assertEqual(per["CLUSTER_PILOT"], {"pilot_id": "not blank", "selection_date": "required"})
        self.assertEqual(per["CLUSTER_PILOT_FOLLOW_ON"], {"pilot_id": "not blank"})
        self.assertEqual(per["DIGITAL_FACTORY"], {"grade": "required"})
        self.assertEqual(per["NATIONAL_MATCH"], {"upper_level_award_total_fen": "> 0"})

    def test_a_condition_on_the_measure_inside_a_shared_branch(self):
        real = measures._read

        def read(path):
            return VALIDATE if path.name == "Application+Validation.swift" else real(path)

        with mock.patch.object(measures, "_read", read):
            per, common = measures.required_fields(measures.measure_codes())
        self.assertEqual(common, {"project_name": "not blank"})
        # The check after the `if measure == .cloudUse { … }` block is the whole branch's again.
        self.assertEqual(per["CLOUD_VOUCHER"], {"contract_number": "not blank", "paid_amount_fen": "> 0"})
        self.assertEqual(per["CLOUD_USE"], {"contract_number": "not blank", "declared_revenue_fen": "> 0", "paid_amount_fen": "> 0"})
        self.assertEqual(per["CLUSTER_PILOT"], {"pilot_id": "not blank", "selection_date": "required"})
        self.assertEqual(per["CLUSTER_PILOT_FOLLOW_ON"], {"pilot_id": "not blank"})
        self.assertEqual(per["DIGITAL_FACTORY"], {"grade": "required"})

    def test_example_usccs_are_valid(self):
        # The two check characters, against codes the daemon's demo data uses.
        self.assertEqual(measures.make_uscc("9144060500000011"), "91440605000000115C")
        self.assertEqual(measures.make_uscc("9144060500000001"), "914406050000000193")

    def test_every_policy_file_has_an_example_per_measure(self):
        for path in measures.policy_files():
            doc = measures.load(path)
            self.assertEqual({e["measure"] for e in measures.examples(path)}, set(doc["measure"]))

    def test_the_examples_of_every_programme_can_be_filed_in_one_daemon(self):
        default = measures.default_programme()
        areas = {d: area for d, (_, area) in measures.districts().items()}
        seen: set[str] = set()
        for path in measures.policy_files():
            pol = measures.load(path)["policy"]
            for ex in measures.examples(path):
                app = ex["application"]
                # Named unless it is the default programme (clients that never name one mean it).
                self.assertEqual(app.get("programme", default), pol["name"])
                self.assertEqual(ex["programme"], pol["name"])
                # A district's own programme is filed by that district, for an enterprise of its area.
                own = measures.programme_district(pol)
                self.assertEqual(ex["district"], own or measures.CITY_PROGRAMME_DISTRICT)
                self.assertEqual(app["enterpriseUscc"][2:8], areas[ex["district"]])
                for uscc in (app["enterpriseUscc"], app.get("providerUscc")):
                    if uscc:
                        self.assertNotIn(uscc, seen)
                        seen.add(uscc)
                # A seller is in the pool, or in the catalogue its measure names: never both.
                if ex["catalogue"]:
                    self.assertIsNone(ex["pool_provider"])
                    self.assertEqual(ex["catalogue"]["uscc"], app["providerUscc"])

    def test_the_cloud_use_example_meets_its_validation(self):
        path = next(p for p in measures.policy_files() if "CLOUD_USE" in measures.load(p)["measure"])
        ex = next(e for e in measures.examples(path) if e["measure"] == "CLOUD_USE")
        app = ex["application"]
        for field in ("contractNumber", "providerUscc"):
            self.assertTrue(app[field])
        for field in ("contractAmountFen", "paidAmountFen", "declaredRevenueFen"):
            self.assertGreater(int(app[field]), 0)
        self.assertNotEqual(app["providerUscc"], app["enterpriseUscc"])
        self.assertEqual(ex["catalogue"]["catalogue"], measures.load(path)["measure"]["CLOUD_USE"]["catalogue"])


if __name__ == "__main__":
    unittest.main()

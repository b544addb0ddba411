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

    init(wire: Int) throws {
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
        self.assertEqual(found["init"], {raises.Site("NOT_FOUND", "", "", "nothing for *")})

    def test_the_real_sources_are_all_attributed(self):
        _, problems = methods.assemble()
        self.assertEqual(problems, [])


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


class MeasureTests(unittest.TestCase):
    def test_required_fields_are_read_from_validate(self):
        per, common = measures.required_fields(measures.measure_codes())
        self.assertEqual(common, {"project_name": "not blank"})
        self.assertEqual(per["CLOUD_VOUCHER"], {
            "contract_number": "not blank", "contract_amount_fen": "> 0", "paid_amount_fen": "> 0", "provider_uscc": "required"})
        self.assertEqual(per["CLUSTER_PILOT"], {"pilot_id": "not blank", "selection_date": "required"})
        self.assertEqual(per["CLUSTER_PILOT_FOLLOW_ON"], {"pilot_id": "not blank"})

    def test_example_usccs_are_valid(self):
        # The two check characters, against codes the daemon's demo data uses.
        self.assertEqual(measures.make_uscc("9144060500000011"), "91440605000000115C")
        self.assertEqual(measures.make_uscc("9144060500000001"), "914406050000000193")

    def test_every_policy_file_has_an_example_per_measure(self):
        for path in measures.policy_files():
            doc = measures.load(path)
            self.assertEqual({e["measure"] for e in measures.examples(path)}, set(doc["measure"]))


if __name__ == "__main__":
    unittest.main()

import Foundation
import SubsidyCore
import Testing

@Suite("Worked examples (Deploy/policy/EXAMPLES.md)")
struct WorkedExampleTests {
    @Test("every measure of the 2020 policy has exactly one worked example (the programmes' are in ProgrammeTests)")
    func oneExamplePerMeasure() throws {
        let measures = WorkedExample.all.map(\.application.measure)
        let offered = try Fixtures.policy().rules.keys
        #expect(Set(measures) == Set(offered))
        #expect(measures.count == offered.count)
    }

    @Test("worked example gives the documented award and binding limit", arguments: WorkedExample.all)
    func example(_ example: WorkedExample) throws {
        let decision = try AwardCalculator.compute(
            application: example.application, policy: Fixtures.policy(), usage: example.usage, decision: example.decision)
        #expect(decision.award.fen == example.expectedFen)
        #expect(decision.binding?.kind == example.binding)
        #expect(decision.binding?.capID == example.bindingCap)
        #expect(decision.policyVersion.hasPrefix("foshan-2020@"))
    }

    @Test("EXAMPLES.md lists each example with the same award and binding limit", arguments: WorkedExample.all)
    func documented(_ example: WorkedExample) throws {
        let document = try Fixtures.read("Deploy/policy/EXAMPLES.md")
        let row = try #require(document.split(separator: "\n").first { $0.hasPrefix("| \(example.id) |") }, "no row for \(example.id)")
        let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(cells.contains("`\(example.application.measure.rawValue)`"))
        #expect(cells.contains(Money(fen: example.expectedFen).description), "yuan")
        #expect(cells.contains(String(example.expectedFen)), "fen")
        let binding = example.bindingCap.map { "\(example.binding.label) `\($0)`" } ?? example.binding.label
        #expect(cells.contains(binding), "binding")
    }

    @Test("1,200,000-yuan voucher from an enterprise with 300,000 this year: 200,000.00, per-enterprise cap")
    func issueDoneWhenExample() throws {
        let example = try #require(WorkedExample.all.first { $0.id == "E2" })
        let decision = try AwardCalculator.compute(
            application: example.application, policy: Fixtures.policy(), usage: example.usage, decision: example.decision)
        #expect(decision.award == Money(yuan: 200_000))
        #expect(decision.formulaAmount == Money(yuan: 600_000))
        let binding = try #require(decision.binding)
        #expect(binding.kind == .perEnterprise)
        #expect(binding.capKey == CapKey(capID: "CLOUD_VOUCHER.per_enterprise", scope: "2022/91440604MA4UH8XX6U"))
        #expect(binding.limit == Money(yuan: 500_000))
        #expect(binding.committed == Money(yuan: 300_000))
        #expect(binding.headroom == Money(yuan: 200_000))
        #expect(decision.charges.map(\.key) == [
            CapKey(capID: "CLOUD_VOUCHER.per_enterprise", scope: "2022/91440604MA4UH8XX6U"),
            CapKey(capID: "CLOUD_VOUCHER.per_provider", scope: "2022/91440605MA51RCJ750"),
            CapKey(capID: "CLOUD_VOUCHER.annual_budget", scope: "2022"),
        ])

        let text = decision.render()
        #expect(text.contains("Award: 200,000.00 yuan (20000000 fen), bound by the per-enterprise cap CLOUD_VOUCHER.per_enterprise [2022/91440604MA4UH8XX6U]"))
        #expect(text.contains("Formula alone: 600,000.00 yuan"))
        #expect(text.contains("50% of min(contract 1,200,000.00, paid 1,200,000.00) = 600,000.00"))
        let bindingRows = text.split(separator: "\n").filter { $0.hasPrefix("*") }
        #expect(bindingRows.count == 1)
        #expect(bindingRows.first?.contains("per-enterprise") == true)
        #expect(bindingRows.first?.contains("300,000.00") == true)
        #expect(bindingRows.first?.contains("200,000.00") == true)

        // EXAMPLES.md shows this very text; only the policy hash line may differ.
        let document = try Fixtures.read("Deploy/policy/EXAMPLES.md")
        let section = try #require(document.components(separatedBy: "## E2 as `subsidyctl quote` shows it").last)
        let block = try #require(section.components(separatedBy: "```").dropFirst().first)
        func withoutPolicyLine(_ text: String) -> [Substring] {
            text.split(separator: "\n").filter { !$0.hasPrefix("Policy: ") }
        }
        #expect(withoutPolicyLine(block) == withoutPolicyLine(text))
    }

    @Test("the refusals EXAMPLES.md quotes")
    func documentedRefusals() throws {
        let policy = try Fixtures.policy()
        let e2 = try #require(WorkedExample.all.first { $0.id == "E2" })
        var full = e2.usage
        full.add(Money(yuan: 200_000), to: CapKey(capID: "CLOUD_VOUCHER.per_enterprise", scope: "2022/91440604MA4UH8XX6U"))
        #expect(throws: SubsidyError.capExhausted(
            "CLOUD_VOUCHER per-enterprise cap 500,000.00 yuan for 2022 (applicant 91440604MA4UH8XX6U) exhausted: committed 500,000.00, requested 600,000.00",
            key: CapKey(capID: "CLOUD_VOUCHER.per_enterprise", scope: "2022/91440604MA4UH8XX6U"), limit: .amount(Money(yuan: 500_000)),
            committed: CapUsage(amount: Money(yuan: 500_000), count: 2), requested: Money(yuan: 600_000))) {
            try AwardCalculator.compute(application: e2.application, policy: policy, usage: full, decision: e2.decision)
        }

        let e8 = try #require(WorkedExample.all.first { $0.id == "E8" })
        var fewer = e8.application
        fewer.provincialVoucherEnterprises.removeLast()
        #expect(throws: SubsidyError.precondition(
            "follow_on_condition",
            "pilot 粤工信-2021-集群试点-7 selected 2021-03-10 (shunde-000001); 14 of 16 served enterprises hold a voucher (12 Foshan vouchers decided 2021-03-10..2023-03-01, 2 more declared Guangdong vouchers); need ≥ 15 distinct Foshan enterprises")) {
            try AwardCalculator.compute(application: fewer, policy: policy, usage: e8.usage, decision: e8.decision)
        }

        #expect(throws: SubsidyError.precondition(
            "validity_window", "decision date 2024-01-01 is outside policy foshan-2020's validity window 2020-07-17..2023-12-31")) {
            try AwardCalculator.compute(application: e2.application, policy: policy, usage: e2.usage,
                                        decision: DecisionInput(decisionDate: Fixtures.date("2024-01-01")))
        }
    }
}

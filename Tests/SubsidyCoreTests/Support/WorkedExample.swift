import SubsidyCore

/// One worked example per measure. `Deploy/policy/EXAMPLES.md` lists exactly these (row id, award
/// in yuan and fen, the binding limit) and ``WorkedExampleTests`` runs them and checks the document.
struct WorkedExample: Sendable, CustomStringConvertible {
    let id: String
    let application: Application
    let usage: InMemoryUsageSnapshot
    let decision: DecisionInput
    let expectedFen: Int64
    let binding: LimitTrace.Kind
    /// The binding cap's id, when a cap binds.
    let bindingCap: String?

    var description: String { "\(id) \(application.measure)" }

    static let all: [WorkedExample] = {
        typealias F = Fixtures
        let decided = F.decisionDate
        // E8: 16 served enterprises; 13 with Foshan vouchers but one decided before the selection.
        let served = F.clusterEnterprises(16)
        var followOnUsage = F.usage()
        for (index, enterprise) in served.prefix(12).enumerated() {
            followOnUsage.vouchers.append(.init(enterprise: enterprise, decided: F.date("2021-06-01").adding(days: index * 30) ?? decided))
        }
        followOnUsage.vouchers.append(.init(enterprise: served[12], decided: F.date("2021-02-01")))
        return [
            WorkedExample(
                id: "E1", application: F.poolEntry(provincial: true),
                usage: F.usage([("POOL_ENTRY.annual_count", "2022", F.yuan("2,400,000.00"), 12)]),
                decision: DecisionInput(decisionDate: decided), expectedFen: 20_000_000, binding: .formula, bindingCap: nil),
            WorkedExample(
                id: "E2", application: F.voucher(contract: "1,200,000.00"),
                usage: F.usage([
                    ("CLOUD_VOUCHER.per_enterprise", "2022/91440604MA4UH8XX6U", F.yuan("300,000.00"), 1),
                    ("CLOUD_VOUCHER.per_provider", "2022/91440605MA51RCJ750", F.yuan("800,000.00"), 4),
                    ("CLOUD_VOUCHER.annual_budget", "2022", F.yuan("5,000,000.00"), 30),
                ]),
                decision: DecisionInput(decisionDate: decided), expectedFen: 20_000_000, binding: .perEnterprise,
                bindingCap: "CLOUD_VOUCHER.per_enterprise"),
            WorkedExample(
                id: "E3", application: F.benchmark(invested: "12,000,000.00", upper: "4,500,000.00", level: .provincial),
                usage: F.usage([("BENCHMARK_PROJECT.annual_count", "2022", F.yuan("18,000,000.00"), 10)]),
                decision: DecisionInput(decisionDate: decided), expectedFen: 150_000_000, binding: .combinedUpperLevel, bindingCap: nil),
            WorkedExample(
                id: "E4", application: F.identifierNode(construction: "5,000,000.00", total: "6,000,000.00", upper: "1,000,000.00"),
                usage: F.usage([("IDENTIFIER_NODE.annual_budget", "2022", F.yuan("5,000,000.00"), 3)]),
                decision: DecisionInput(decisionDate: decided), expectedFen: 100_000_000, binding: .annualBudget,
                bindingCap: "IDENTIFIER_NODE.annual_budget"),
            WorkedExample(
                id: "E5", application: F.crossIndustry(), usage: F.usage(),
                decision: DecisionInput(decisionDate: decided), expectedFen: 200_000_000, binding: .formula, bindingCap: nil),
            WorkedExample(
                id: "E6", application: F.caseByCase(.majorPlatform), usage: F.usage(),
                decision: DecisionInput(decisionDate: decided, caseAmount: F.yuan("8,000,000.00"), decisionDocument: "佛工信函〔2022〕15号"),
                expectedFen: 800_000_000, binding: .formula, bindingCap: nil),
            WorkedExample(
                id: "E7", application: F.clusterPilot(), usage: F.usage(),
                decision: DecisionInput(decisionDate: F.date("2021-05-20")), expectedFen: 100_000_000, binding: .formula, bindingCap: nil),
            WorkedExample(
                id: "E8", application: F.followOn(served: served, declared: Array(served[13...])), usage: followOnUsage,
                decision: DecisionInput(decisionDate: F.date("2023-03-01")), expectedFen: 200_000_000, binding: .formula, bindingCap: nil),
            WorkedExample(
                id: "E9", application: F.demoBase(upperTotal: "20,000,000.00"), usage: F.usage(),
                decision: DecisionInput(decisionDate: decided), expectedFen: 500_000_000, binding: .perProject, bindingCap: nil),
            WorkedExample(
                id: "E10", application: F.publicService(spend: "777,777.77"),
                usage: F.usage([("PUBLIC_SERVICE.annual_budget", "2022", F.yuan("1,200,000.00"), 4)]),
                decision: DecisionInput(decisionDate: decided), expectedFen: 38_888_888, binding: .formula, bindingCap: nil),
            WorkedExample(
                id: "E11", application: F.caseByCase(.innovationCarrier, enterprise: F.institution, year: 2023), usage: F.usage(),
                decision: DecisionInput(decisionDate: F.date("2023-05-20"), caseAmount: F.yuan("3,000,000.00"), decisionDocument: "佛工信函〔2023〕7号"),
                expectedFen: 300_000_000, binding: .formula, bindingCap: nil),
        ]
    }()
}

import SubsidyCore
import Testing

/// Every cap exactly at its limit, one fen over, with partial headroom, and exhausted.
@Suite("AwardCalculator caps")
struct AwardCalculatorCapTests {
    struct Row: Sendable, CustomStringConvertible {
        let name: String
        let application: Application
        let seed: [(String, String, Money, Int)]
        let expected: Expected
        var description: String { name }
    }

    typealias F = Fixtures
    static let buyer = "2022/91440604MA4UH8XX6U"
    static let provider = "2022/91440605MA51RCJ750"
    static let association = "2022/52440600MJL1234N1N"

    static let rows: [Row] = [
        // CLOUD_VOUCHER: contract 200,000.00 → formula 100,000.00 (10,000,000 fen).
        Row(name: "voucher per-enterprise: exactly at the limit", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.per_enterprise", buyer, F.yuan("400,000.00"), 2)], expected: .award(10_000_000, .formula)),
        Row(name: "voucher per-enterprise: one fen over", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.per_enterprise", buyer, F.yuan("400,000.01"), 2)],
            expected: .award(9_999_999, .perEnterprise, cap: "CLOUD_VOUCHER.per_enterprise")),
        Row(name: "voucher per-enterprise: partial headroom", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.per_enterprise", buyer, F.yuan("450,000.00"), 2)],
            expected: .award(5_000_000, .perEnterprise, cap: "CLOUD_VOUCHER.per_enterprise")),
        Row(name: "voucher per-enterprise: exhausted", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.per_enterprise", buyer, F.yuan("500,000.00"), 2)],
            expected: .refused(.resourceExhausted, "CLOUD_VOUCHER per-enterprise cap 500,000.00 yuan for 2022 (applicant 91440604MA4UH8XX6U) exhausted: committed 500,000.00, requested 100,000.00")),
        Row(name: "voucher per-enterprise: other year does not count", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.per_enterprise", "2021/91440604MA4UH8XX6U", F.yuan("500,000.00"), 2)], expected: .award(10_000_000, .formula)),

        Row(name: "voucher per-provider: exactly at the limit", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.per_provider", provider, F.yuan("2,900,000.00"), 20)], expected: .award(10_000_000, .formula)),
        Row(name: "voucher per-provider: one fen over", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.per_provider", provider, F.yuan("2,900,000.01"), 20)],
            expected: .award(9_999_999, .perProvider, cap: "CLOUD_VOUCHER.per_provider")),
        Row(name: "voucher per-provider: partial headroom", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.per_provider", provider, F.yuan("2,950,000.00"), 20)],
            expected: .award(5_000_000, .perProvider, cap: "CLOUD_VOUCHER.per_provider")),
        Row(name: "voucher per-provider: exhausted", application: F.voucher(contract: "300,000.00"),
            seed: [("CLOUD_VOUCHER.per_provider", provider, F.yuan("3,000,000.00"), 20)],
            expected: .refused(.resourceExhausted, "CLOUD_VOUCHER per-provider cap 3,000,000.00 yuan for 2022 (provider 91440605MA51RCJ750) exhausted: committed 3,000,000.00, requested 150,000.00")),

        Row(name: "voucher annual budget: exactly at the limit", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.annual_budget", "2022", F.yuan("19,900,000.00"), 99)], expected: .award(10_000_000, .formula)),
        Row(name: "voucher annual budget: one fen over", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.annual_budget", "2022", F.yuan("19,900,000.01"), 99)],
            expected: .award(9_999_999, .annualBudget, cap: "CLOUD_VOUCHER.annual_budget")),
        Row(name: "voucher annual budget: partial headroom", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.annual_budget", "2022", F.yuan("19,950,000.00"), 99)],
            expected: .award(5_000_000, .annualBudget, cap: "CLOUD_VOUCHER.annual_budget")),
        Row(name: "voucher annual budget: exhausted", application: F.voucher(contract: "200,000.00"),
            seed: [("CLOUD_VOUCHER.annual_budget", "2022", F.yuan("20,000,000.00"), 99)],
            expected: .refused(.resourceExhausted, "CLOUD_VOUCHER annual budget cap 20,000,000.00 yuan for 2022 exhausted")),
        Row(name: "voucher: paid below contract sets the base", application: F.voucher(contract: "200,000.00", paid: "150,000.01"),
            seed: [], expected: .award(7_500_000, .formula)),

        // BENCHMARK_PROJECT: 30% of invested, ≤ 3,000,000.00 per project.
        Row(name: "benchmark per-project: formula exactly at the limit", application: F.benchmark(invested: "10,000,000.00"),
            seed: [], expected: .award(300_000_000, .formula)),
        Row(name: "benchmark per-project: floor keeps it at the limit", application: F.benchmark(invested: "10,000,000.03"),
            seed: [], expected: .award(300_000_000, .formula)),
        Row(name: "benchmark per-project: formula one fen over", application: F.benchmark(invested: "10,000,000.04"),
            seed: [], expected: .award(300_000_000, .perProject)),
        Row(name: "benchmark annual count: 29 of 30 used", application: F.benchmark(invested: "1,000,000.00"),
            seed: [("BENCHMARK_PROJECT.annual_count", "2022", F.yuan("50,000,000.00"), 29)], expected: .award(30_000_000, .formula)),
        Row(name: "benchmark annual count: 30 of 30 used", application: F.benchmark(invested: "1,000,000.00"),
            seed: [("BENCHMARK_PROJECT.annual_count", "2022", F.yuan("50,000,000.00"), 30)],
            expected: .refused(.resourceExhausted, "BENCHMARK_PROJECT annual count cap 30 awards for 2022 exhausted: 30 awards committed")),
        Row(name: "benchmark annual count: provincial projects count too", application: F.benchmark(invested: "1,000,000.00", level: .provincial),
            seed: [("BENCHMARK_PROJECT.annual_count", "2022", F.yuan("50,000,000.00"), 30)],
            expected: .refused(.resourceExhausted, "annual count cap 30 awards")),

        // IDENTIFIER_NODE: 30% of construction, ≤ 2,000,000.00 per project, ≤ 6,000,000.00 a year.
        Row(name: "node per-project: just under", application: F.identifierNode(construction: "6,666,666.66", total: "20,000,000.00"),
            seed: [], expected: .award(199_999_999, .formula)),
        Row(name: "node per-project: formula floors to exactly the limit", application: F.identifierNode(construction: "6,666,666.67", total: "20,000,000.00"),
            seed: [], expected: .award(200_000_000, .formula)),
        Row(name: "node per-project: formula one fen over", application: F.identifierNode(construction: "6,666,666.70", total: "20,000,000.00"),
            seed: [], expected: .award(200_000_000, .perProject)),
        Row(name: "node annual budget: exactly at the limit", application: F.identifierNode(construction: "1,000,000.00", total: "2,000,000.00"),
            seed: [("IDENTIFIER_NODE.annual_budget", "2022", F.yuan("5,700,000.00"), 3)], expected: .award(30_000_000, .formula)),
        Row(name: "node annual budget: one fen over", application: F.identifierNode(construction: "1,000,000.00", total: "2,000,000.00"),
            seed: [("IDENTIFIER_NODE.annual_budget", "2022", F.yuan("5,700,000.01"), 3)],
            expected: .award(29_999_999, .annualBudget, cap: "IDENTIFIER_NODE.annual_budget")),
        Row(name: "node annual budget: partial headroom", application: F.identifierNode(construction: "1,000,000.00", total: "2,000,000.00"),
            seed: [("IDENTIFIER_NODE.annual_budget", "2022", F.yuan("5,800,000.00"), 3)],
            expected: .award(20_000_000, .annualBudget, cap: "IDENTIFIER_NODE.annual_budget")),
        Row(name: "node annual budget: exhausted", application: F.identifierNode(construction: "1,000,000.00", total: "2,000,000.00"),
            seed: [("IDENTIFIER_NODE.annual_budget", "2022", F.yuan("6,000,000.00"), 3)],
            expected: .refused(.resourceExhausted, "IDENTIFIER_NODE annual budget cap 6,000,000.00 yuan for 2022 exhausted")),

        // DEMO_BASE: 30% of the upper-level award total, ≤ 5,000,000.00 per project.
        Row(name: "demo base per-project: just under", application: F.demoBase(upperTotal: "16,666,666.66"),
            seed: [], expected: .award(499_999_999, .formula)),
        Row(name: "demo base per-project: formula one fen over", application: F.demoBase(upperTotal: "16,666,666.70"),
            seed: [], expected: .award(500_000_000, .perProject)),

        // PUBLIC_SERVICE: spend 200,000.00 → formula 100,000.00; ≤ 500,000.00 per institution, 5,000,000.00 a year.
        Row(name: "public service per-institution: exactly at the limit", application: F.publicService(spend: "200,000.00"),
            seed: [("PUBLIC_SERVICE.per_institution", association, F.yuan("400,000.00"), 1)], expected: .award(10_000_000, .formula)),
        Row(name: "public service per-institution: one fen over", application: F.publicService(spend: "200,000.00"),
            seed: [("PUBLIC_SERVICE.per_institution", association, F.yuan("400,000.01"), 1)],
            expected: .award(9_999_999, .perEnterprise, cap: "PUBLIC_SERVICE.per_institution")),
        Row(name: "public service per-institution: partial headroom", application: F.publicService(spend: "200,000.00"),
            seed: [("PUBLIC_SERVICE.per_institution", association, F.yuan("450,000.00"), 1)],
            expected: .award(5_000_000, .perEnterprise, cap: "PUBLIC_SERVICE.per_institution")),
        Row(name: "public service per-institution: exhausted", application: F.publicService(spend: "200,000.00"),
            seed: [("PUBLIC_SERVICE.per_institution", association, F.yuan("500,000.00"), 1)],
            expected: .refused(.resourceExhausted, "PUBLIC_SERVICE per-enterprise cap 500,000.00 yuan for 2022 (applicant 52440600MJL1234N1N) exhausted")),
        Row(name: "public service annual budget: exactly at the limit", application: F.publicService(spend: "200,000.00"),
            seed: [("PUBLIC_SERVICE.annual_budget", "2022", F.yuan("4,900,000.00"), 12)], expected: .award(10_000_000, .formula)),
        Row(name: "public service annual budget: one fen over", application: F.publicService(spend: "200,000.00"),
            seed: [("PUBLIC_SERVICE.annual_budget", "2022", F.yuan("4,900,000.01"), 12)],
            expected: .award(9_999_999, .annualBudget, cap: "PUBLIC_SERVICE.annual_budget")),
        Row(name: "public service annual budget: partial headroom", application: F.publicService(spend: "200,000.00"),
            seed: [("PUBLIC_SERVICE.annual_budget", "2022", F.yuan("4,950,000.00"), 12)],
            expected: .award(5_000_000, .annualBudget, cap: "PUBLIC_SERVICE.annual_budget")),
        Row(name: "public service annual budget: exhausted", application: F.publicService(spend: "200,000.00"),
            seed: [("PUBLIC_SERVICE.annual_budget", "2022", F.yuan("5,000,000.00"), 12)],
            expected: .refused(.resourceExhausted, "PUBLIC_SERVICE annual budget cap 5,000,000.00 yuan for 2022 exhausted")),

        // POOL_ENTRY: ≤ 40 enterprises a year, once per enterprise.
        Row(name: "pool entry annual count: 39 of 40 used", application: F.poolEntry(),
            seed: [("POOL_ENTRY.annual_count", "2022", F.yuan("3,900,000.00"), 39)], expected: .award(10_000_000, .formula)),
        Row(name: "pool entry annual count: 40 of 40 used", application: F.poolEntry(),
            seed: [("POOL_ENTRY.annual_count", "2022", F.yuan("4,000,000.00"), 40)],
            expected: .refused(.resourceExhausted, "POOL_ENTRY annual count cap 40 awards for 2022 exhausted")),
        Row(name: "pool entry: second first entry", application: F.poolEntry(provincial: true),
            seed: [("POOL_ENTRY.once_per_enterprise", "foshan-2020/91440607MA52A0K343", F.yuan("100,000.00"), 1)],
            expected: .refused(.failedPrecondition, "applicant 91440607MA52A0K343 already has 1 POOL_ENTRY award")),

        // One-time rules.
        Row(name: "cross-industry platform: second award", application: F.crossIndustry(),
            seed: [("CROSS_INDUSTRY_PLATFORM.once_per_enterprise", "foshan-2020/91440604MA54TBW28N", F.yuan("2,000,000.00"), 1)],
            expected: .refused(.failedPrecondition, "already has 1 CROSS_INDUSTRY_PLATFORM award")),
        Row(name: "cluster pilot: second award for the pilot", application: F.clusterPilot(),
            seed: [("CLUSTER_PILOT.once_per_pilot", "foshan-2020/\(F.pilotKey)", F.yuan("1,000,000.00"), 1)],
            expected: .refused(.failedPrecondition, "pilot \(F.pilotID) already has 1 CLUSTER_PILOT award")),
    ]

    @Test("cap boundary", arguments: rows)
    func capBoundary(_ row: Row) throws {
        let date = row.application.measure == .clusterPilot ? F.date("2021-05-20") : F.decisionDate
        check(try compute(row.application, usage: F.usage(row.seed), on: date), row.expected)
    }

    @Test("an exhausted cap is in the status details with limit, committed and requested fen")
    func exhaustedDetails() throws {
        let outcome = try compute(F.voucher(contract: "300,000.00"), usage: F.usage([("CLOUD_VOUCHER.per_provider", Self.provider, F.yuan("3,000,000.00"), 20)]))
        guard case let .failure(error) = outcome else { Issue.record("expected a refusal"); return }
        #expect(error.details == [.capExhausted(capID: "CLOUD_VOUCHER.per_provider", scope: Self.provider,
                                                limitFen: 300_000_000, committedFen: 300_000_000, requestedFen: 15_000_000)])
    }

    @Test("the follow-on award is once per pilot")
    func followOnOnce() throws {
        let served = F.clusterEnterprises(15)
        var usage = F.usage([("CLUSTER_PILOT_FOLLOW_ON.once_per_pilot", "foshan-2020/\(F.pilotKey)", F.yuan("2,000,000.00"), 1)])
        usage.vouchers = served.map { .init(enterprise: $0, decided: F.date("2022-01-01")) }
        check(try compute(F.followOn(served: served), usage: usage, on: F.date("2023-03-01")),
              .refused(.failedPrecondition, "already has 1 CLUSTER_PILOT_FOLLOW_ON award"))
    }

    @Test("case-by-case measures pass through any city cap the policy gives them")
    func caseByCaseCap() throws {
        let policy = try F.policy(replacing: """
            applicant_roles = ["platform", "industrial_enterprise", "service_provider", "institution"]

            # ───────────────────────────── 五
            """, with: """
            applicant_roles = ["platform", "industrial_enterprise", "service_provider", "institution"]

            [measure.MAJOR_PLATFORM.cap.annual_budget]
            subject = "city"
            period = "funding_year"
            limit_yuan = 10_000_000

            # ───────────────────────────── 五
            """)
        let usage = F.usage([("MAJOR_PLATFORM.annual_budget", "2022", F.yuan("4,000,000.00"), 1)])
        let outcome = try compute(F.caseByCase(.majorPlatform), usage: usage, caseAmount: F.yuan("8,000,000.00"),
                                  document: "佛工信函〔2022〕15号", policy: policy)
        check(outcome, .award(600_000_000, .annualBudget, cap: "MAJOR_PLATFORM.annual_budget"))
        let decision = try outcome.get()
        #expect(decision.decisionDocument == "佛工信函〔2022〕15号")
        #expect(decision.charges == [CapCharge(key: CapKey(capID: "MAJOR_PLATFORM.annual_budget", scope: "2022"),
                                               amount: F.yuan("6,000,000.00"), count: 1, limit: .amount(F.yuan("10,000,000.00")))])
    }
}

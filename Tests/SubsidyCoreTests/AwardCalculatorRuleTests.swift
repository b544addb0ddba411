import SubsidyCore
import Testing

/// The combined upper-level cap, the follow-on condition, the validity window, eligibility and the
/// configurable readings.
@Suite("AwardCalculator rules")
struct AwardCalculatorRuleTests {
    typealias F = Fixtures

    struct Row: Sendable, CustomStringConvertible {
        let name: String
        let application: Application
        var usage: InMemoryUsageSnapshot = Fixtures.usage()
        var date: CalendarDate = Fixtures.decisionDate
        var caseAmount: Money? = nil
        var document: String? = nil
        let expected: Expected
        var description: String { name }
    }

    // Benchmark: invested 10,000,000.00 → formula 3,000,000.00 = per-project cap; combined ≤ 5,000,000.00.
    // Node: construction 4,000,000.00 → formula 1,200,000.00; total 5,000,000.00 → combined ≤ 2,500,000.00.
    static let combinedRows: [Row] = [
        Row(name: "benchmark, no upper-level money", application: F.benchmark(invested: "10,000,000.00"), expected: .award(300_000_000, .formula)),
        Row(name: "benchmark, upper + city exactly 50%", application: F.benchmark(invested: "10,000,000.00", upper: "2,000,000.00", level: .provincial),
            expected: .award(300_000_000, .formula)),
        Row(name: "benchmark, upper one fen past", application: F.benchmark(invested: "10,000,000.00", upper: "2,000,000.01", level: .provincial),
            expected: .award(299_999_999, .combinedUpperLevel)),
        Row(name: "benchmark, partial room", application: F.benchmark(invested: "10,000,000.00", upper: "4,000,000.00", level: .national),
            expected: .award(100_000_000, .combinedUpperLevel)),
        Row(name: "benchmark, upper-level money already 50%", application: F.benchmark(invested: "10,000,000.00", upper: "5,000,000.00", level: .provincial),
            expected: .refused(.failedPrecondition, "upper-level subsidy leaves no room for city money")),
        Row(name: "benchmark, upper-level money above 50%", application: F.benchmark(invested: "10,000,000.00", upper: "6,000,000.00", level: .provincial),
            expected: .refused(.failedPrecondition, "combined_upper_level")),
        Row(name: "node, upper + city exactly 50%", application: F.identifierNode(construction: "4,000,000.00", total: "5,000,000.00", upper: "1,300,000.00"),
            expected: .award(120_000_000, .formula)),
        Row(name: "node, upper one fen past", application: F.identifierNode(construction: "4,000,000.00", total: "5,000,000.00", upper: "1,300,000.01"),
            expected: .award(119_999_999, .combinedUpperLevel)),
        Row(name: "node, upper-level money already 50% of total", application: F.identifierNode(construction: "4,000,000.00", total: "5,000,000.00", upper: "2,500,000.00"),
            expected: .refused(.failedPrecondition, "50% of total investment 5,000,000.00 = 2,500,000.00")),
    ]

    @Test("combined upper-level cap", arguments: combinedRows)
    func combined(_ row: Row) throws {
        check(try compute(row.application, usage: row.usage, on: row.date), row.expected)
    }

    /// Selected 2021-03-10, so the window is 2021-03-10...2023-03-10.
    static func followOnRow(_ name: String, vouchers: [String], declared: Int = 0, servedExtra: [USCC] = [], declaredExtra: [USCC] = [],
                            date: String = "2023-03-01", expected: Expected) -> Row {
        let served = F.clusterEnterprises(vouchers.count + declared)
        var usage = F.usage()
        usage.vouchers = zip(served, vouchers).map { .init(enterprise: $0, decided: F.date($1)) }
        return Row(name: name, application: F.followOn(served: served + servedExtra, declared: Array(served.suffix(declared)) + declaredExtra),
                   usage: usage, date: F.date(date), expected: expected)
    }

    /// A cluster enterprise registered in Guangzhou (440106), and one with the organisation code
    /// of `F.clusterEnterprises(1)[0]` registered in Chancheng.
    static let guangzhou = try! USCC.makeValid(prefix16: "91440106MA000099")
    static let twinOfFirst = try! USCC.makeValid(prefix16: "91440604MA000001")

    static let inWindow = Array(repeating: "2022-01-01", count: 15)
    static let followOnRows: [Row] = [
        followOnRow("14 voucher holders", vouchers: Array(inWindow.prefix(14)),
                    expected: .refused(.failedPrecondition, "14 of 14 served enterprises hold a voucher")),
        followOnRow("15 voucher holders", vouchers: inWindow, expected: .award(200_000_000, .formula)),
        followOnRow("14 Foshan vouchers + 1 declared Guangdong voucher", vouchers: Array(inWindow.prefix(14)), declared: 1,
                    expected: .award(200_000_000, .formula)),
        followOnRow("15, one decided on the window's last day", vouchers: Array(inWindow.prefix(14)) + ["2023-03-10"],
                    date: "2023-03-10", expected: .award(200_000_000, .formula)),
        followOnRow("15, one decided the day after two years", vouchers: Array(inWindow.prefix(14)) + ["2023-03-11"],
                    date: "2023-03-10", expected: .refused(.failedPrecondition, "14 of 15 served enterprises hold a voucher")),
        followOnRow("15, one decided after the follow-on's own (earlier) decision date", vouchers: Array(inWindow.prefix(14)) + ["2023-02-15"],
                    date: "2023-02-01", expected: .refused(.failedPrecondition, "14 of 15 served enterprises hold a voucher (14 Foshan vouchers decided 2021-03-10..2023-02-01")),
        followOnRow("15, one decided on the follow-on's own decision date", vouchers: Array(inWindow.prefix(14)) + ["2023-02-01"],
                    date: "2023-02-01", expected: .award(200_000_000, .formula)),
        followOnRow("15, one decided the day before selection", vouchers: Array(inWindow.prefix(14)) + ["2021-03-09"],
                    expected: .refused(.failedPrecondition, "14 of 15")),
        followOnRow("15, one decided on the selection day", vouchers: Array(inWindow.prefix(14)) + ["2021-03-10"],
                    expected: .award(200_000_000, .formula)),
        followOnRow("14 distinct, one listed twice", vouchers: Array(inWindow.prefix(14)), servedExtra: F.clusterEnterprises(1),
                    expected: .refused(.failedPrecondition, "14 of 14 served")),
        followOnRow("14 Foshan vouchers + 1 declared voucher of a Guangzhou enterprise", vouchers: Array(inWindow.prefix(14)),
                    servedExtra: [guangzhou], declaredExtra: [guangzhou],
                    expected: .refused(.failedPrecondition, "14 of 15 served enterprises hold a voucher (14 Foshan vouchers decided 2021-03-10..2023-03-01, 1 more declared Guangdong vouchers; not counted: 1 registered outside Foshan)")),
        followOnRow("14 Foshan vouchers + 1 declared voucher of a twin (one organisation code under another district's area)", vouchers: Array(inWindow.prefix(14)),
                    servedExtra: [twinOfFirst], declaredExtra: [twinOfFirst],
                    expected: .refused(.failedPrecondition, "14 of 15 served enterprises hold a voucher (14 Foshan vouchers decided 2021-03-10..2023-03-01, 1 more declared Guangdong vouchers; not counted: 1 sharing another's organisation code)")),
        followOnRow("15, decided after two years", vouchers: inWindow, date: "2023-03-11",
                    expected: .refused(.failedPrecondition, "decision date 2023-03-11 is more than 2 years after the pilot's selection on 2021-03-10")),
    ]

    @Test("follow-on condition", arguments: followOnRows)
    func followOn(_ row: Row) throws {
        check(try compute(row.application, usage: row.usage, on: row.date), row.expected)
    }

    @Test("follow-on decided after two years when the policy does not require it in the window")
    func followOnLateDecisionAllowed() throws {
        let policy = try F.policy(replacing: "decision_within_window = true", with: "decision_within_window = false")
        let row = Self.followOnRow("late", vouchers: Self.inWindow, date: "2023-06-01", expected: .award(200_000_000, .formula))
        check(try compute(row.application, usage: row.usage, on: row.date, policy: policy), row.expected)
        let lateVoucher = Self.followOnRow("late voucher", vouchers: Array(Self.inWindow.prefix(14)) + ["2023-04-01"], date: "2023-06-01",
                                           expected: .refused(.failedPrecondition, "14 of 15"))
        check(try compute(lateVoucher.application, usage: lateVoucher.usage, on: lateVoucher.date, policy: policy), lateVoucher.expected)
    }

    static let validityRows: [Row] = [
        Row(name: "decided 2020-07-16", application: F.poolEntry(year: 2020), date: F.date("2020-07-16"),
            expected: .refused(.failedPrecondition, "decision date 2020-07-16 is outside policy foshan-2020's validity window 2020-07-17..2023-12-31")),
        Row(name: "decided 2020-07-17", application: F.poolEntry(year: 2020), date: F.date("2020-07-17"), expected: .award(10_000_000, .formula)),
        Row(name: "decided 2023-12-31", application: F.poolEntry(year: 2023), date: F.date("2023-12-31"), expected: .award(10_000_000, .formula)),
        Row(name: "decided 2024-01-01", application: F.poolEntry(year: 2023), date: F.date("2024-01-01"),
            expected: .refused(.failedPrecondition, "outside policy foshan-2020's validity window 2020-07-17..2023-12-31")),
        Row(name: "funding year 2023 decided in 2022", application: F.poolEntry(year: 2023), date: F.date("2022-12-31"),
            expected: .refused(.failedPrecondition, "decision date 2022-12-31 is before funding year 2023 begins")),
        Row(name: "funding year 2022 decided in 2023", application: F.poolEntry(year: 2022), date: F.date("2023-01-01"), expected: .award(10_000_000, .formula)),
        Row(name: "funding year 2019", application: F.poolEntry(year: 2019), date: F.date("2020-08-01"),
            expected: .refused(.failedPrecondition, "funding year 2019 is outside policy foshan-2020 (funding years 2020–2023, in force 2020-07-17..2023-12-31)")),
        Row(name: "funding year 2024", application: F.poolEntry(year: 2024), date: F.date("2023-12-01"),
            expected: .refused(.failedPrecondition, "funding year 2024 is outside policy foshan-2020")),
    ]

    @Test("validity window edges", arguments: validityRows)
    func validity(_ row: Row) throws {
        check(try compute(row.application, usage: row.usage, on: row.date), row.expected)
    }

    static let eligibilityRows: [Row] = {
        var lateMember = F.usage()
        lateMember.poolMembers[F.provider] = F.date("2022-09-02")
        var funded = F.usage()
        funded.fundedContent = ["contract:ht-2022-1": [FundedContent(applicationID: "nanhai-000001", measure: .cloudVoucher, typed: "HT-2022-0001", key: "contract:ht-2022-1")]]
        var otherFund = F.voucher(contract: "100,000.00")
        otherFund.otherFundDeclared = true
        var otherFundWithReason = otherFund
        otherFundWithReason.otherFundReason = "市科技局研发补助资助的是不同的研发内容"
        var guangzhouSeller = F.voucher(contract: "100,000.00")
        guangzhouSeller.provider = guangzhou
        var guangzhouInPool = F.usage()
        guangzhouInPool.poolMembers[guangzhou] = F.date("2021-01-15")
        var selectedLater = F.crossIndustry()
        selectedLater.selectionDate = F.date("2022-09-02")
        return [
            Row(name: "non-local voucher buyer", application: F.voucher(contract: "100,000.00", locality: .nonLocal),
                expected: .refused(.failedPrecondition, "CLOUD_VOUCHER (article 一) is only for local applicants; 91440604MA4UH8XX6U is non_local")),
            Row(name: "relocated pool entrant", application: F.poolEntry(locality: .relocated),
                expected: .refused(.failedPrecondition, "POOL_ENTRY (article 一) is only for local applicants")),
            Row(name: "non-local platform", application: F.crossIndustry(locality: .nonLocal),
                expected: .refused(.failedPrecondition, "only for local, relocated applicants")),
            Row(name: "provider not in the pool", application: F.voucher(contract: "100,000.00"), usage: InMemoryUsageSnapshot(),
                expected: .refused(.failedPrecondition, "provider 91440605MA51RCJ750 is not in the Foshan industrial-internet resource pool (资源池) on 2022-09-01")),
            Row(name: "a pool provider registered in Guangzhou", application: guangzhouSeller, usage: guangzhouInPool,
                expected: .refused(.failedPrecondition, "provider \(guangzhou) was registered in area 440106, outside Foshan (4406xx): vouchers pay only for local providers' products")),
            Row(name: "provider joins the pool after the decision date", application: F.voucher(contract: "100,000.00"), usage: lateMember,
                expected: .refused(.failedPrecondition, "is not in the Foshan industrial-internet resource pool")),
            Row(name: "platform selected only at municipal level", application: F.crossIndustry(level: .municipal),
                expected: .refused(.failedPrecondition, "CROSS_INDUSTRY_PLATFORM (article 四) needs selection at level provincial, national; the application says municipal")),
            Row(name: "benchmark with no selection level", application: F.benchmark(invested: "100.00", level: .none),
                expected: .refused(.failedPrecondition, "needs selection at level municipal, provincial, national")),
            Row(name: "node not recognised as a secondary node", application: F.identifierNode(construction: "100.00", total: "100.00", recognised: false),
                expected: .refused(.failedPrecondition, "recognised as a secondary node")),
            Row(name: "same contract already funded", application: F.voucher(contract: "100,000.00"), usage: funded,
                expected: .refused(.failedPrecondition, "the same implementation content \"HT-2022-0001\" (canonical \"ht-2022-1\") is already funded as nanhai-000001 under CLOUD_VOUCHER")),
            Row(name: "same contract written differently", application: F.voucher(contract: "100,000.00", contractNumber: " ｈｔ-2022-0001 "), usage: funded,
                expected: .refused(.failedPrecondition, "already funded")),
            Row(name: "other fund declared without a reason", application: otherFund,
                expected: .refused(.invalidArgument, "application.other_fund_reason: required when other_fund_declared is true")),
            Row(name: "other fund declared with a reason", application: otherFundWithReason, expected: .award(5_000_000, .formula)),
            Row(name: "selected after the decision date", application: selectedLater,
                expected: .refused(.invalidArgument, "application.selection_date: 2022-09-02 is after the decision date 2022-09-01")),
            Row(name: "case by case without an amount", application: F.caseByCase(.majorPlatform), document: "佛工信函〔2022〕15号",
                expected: .refused(.invalidArgument, "case_amount_fen: required and > 0 for MAJOR_PLATFORM")),
            Row(name: "case by case without a document", application: F.caseByCase(.innovationCarrier), caseAmount: F.yuan("1.00"),
                expected: .refused(.invalidArgument, "decision_document: required for INNOVATION_CARRIER")),
            // Typed for a formula's measure, it would be dropped and the formula's award committed.
            Row(name: "an amount for a formula's measure", application: F.benchmark(invested: "10,000,000.00"), caseAmount: F.yuan("1.00"),
                expected: .refused(.invalidArgument, "case_amount_fen: applies only to case-by-case (一事一议) measures; BENCHMARK_PROJECT is awarded by its formula")),
            Row(name: "formula rounds down to nothing", application: F.voucher(contract: "0.01"),
                expected: .refused(.failedPrecondition, "CLOUD_VOUCHER formula gives 0.00 yuan")),
        ]
    }()

    @Test("eligibility", arguments: eligibilityRows)
    func eligibility(_ row: Row) throws {
        check(try compute(row.application, usage: row.usage, on: row.date, caseAmount: row.caseAmount, document: row.document), row.expected)
    }

    @Test("a policy that does not offer a measure refuses it")
    func measureNotOffered() throws {
        let text = "[policy]\ntitle = \"t\"\nissuer = \"i\"\nvalid_from = 2020-07-17\nvalid_through = 2023-12-31\nfirst_funding_year = 2020\nlast_funding_year = 2023\nallow_partial_awards = true\npublicity_days = 7\n[measure.POOL_ENTRY]\narticle = \"一\"\nlocalities = [\"local\"]\napplicant_roles = [\"platform\"]\namount_yuan = 100000\n"
        let policy = try Policy.load(text: text, name: "small")
        check(try compute(F.publicService(spend: "1.00"), policy: policy), .refused(.failedPrecondition, "PUBLIC_SERVICE is not offered by policy small"))
    }

    // MARK: configurable readings

    @Test("allow_partial_awards = false refuses an award a cap would cut, and allows one exactly at the limit")
    func partialAwardsOff() throws {
        let policy = try F.policy(replacing: "allow_partial_awards = true", with: "allow_partial_awards = false")
        #expect(!policy.allowPartialAwards)
        let key = "2022/91440604MA4UH8XX6U"
        check(try compute(F.voucher(contract: "200,000.00"), usage: F.usage([("CLOUD_VOUCHER.per_enterprise", key, F.yuan("450,000.00"), 1)]), policy: policy),
              .refused(.resourceExhausted, "CLOUD_VOUCHER per-enterprise cap 500,000.00 yuan for 2022 (applicant 91440604MA4UH8XX6U) leaves only 50,000.00 yuan of the 100,000.00 yuan due, and policy foshan-2020 does not allow partial awards"))
        check(try compute(F.voucher(contract: "200,000.00"), usage: F.usage([("CLOUD_VOUCHER.per_enterprise", key, F.yuan("400,000.00"), 1)]), policy: policy),
              .award(10_000_000, .formula))
        // The per-project and combined limits are the award's legal maximum, not a shortfall.
        check(try compute(F.benchmark(invested: "20,000,000.00"), policy: policy), .award(300_000_000, .perProject))
        check(try compute(F.benchmark(invested: "10,000,000.00", upper: "4,000,000.00", level: .provincial), policy: policy),
              .award(100_000_000, .combinedUpperLevel))
    }

    @Test("per-enterprise voucher cap for the whole policy instead of per year")
    func perEnterpriseWholePolicy() throws {
        let policy = try F.policy(replacing: """
            [measure.CLOUD_VOUCHER.cap.per_enterprise]
            subject = "applicant"
            period = "funding_year"
            """, with: """
            [measure.CLOUD_VOUCHER.cap.per_enterprise]
            subject = "applicant"
            period = "policy"
            """)
        let usage = F.usage([("CLOUD_VOUCHER.per_enterprise", "foshan-2020/91440604MA4UH8XX6U", F.yuan("450,000.00"), 2)])
        let outcome = try compute(F.voucher(contract: "200,000.00"), usage: usage, policy: policy)
        check(outcome, .award(5_000_000, .perEnterprise, cap: "CLOUD_VOUCHER.per_enterprise"))
        #expect(try outcome.get().charges.first?.key == CapKey(capID: "CLOUD_VOUCHER.per_enterprise", scope: "foshan-2020/91440604MA4UH8XX6U"))
        #expect(try outcome.get().binding?.detail.contains("for the life of the policy") == true)
    }

    @Test("provincially selected benchmark projects outside the quota when the policy says so")
    func benchmarkProvincialOutsideQuota() throws {
        let policy = try F.policy(replacing: """
            limit_count = 30
            selection_levels = ["municipal", "provincial", "national"]
            """, with: """
            limit_count = 30
            selection_levels = ["municipal"]
            """)
        let usage = F.usage([("BENCHMARK_PROJECT.annual_count", "2022", F.yuan("50,000,000.00"), 30)])
        let provincial = try compute(F.benchmark(invested: "1,000,000.00", level: .provincial), usage: usage, policy: policy)
        check(provincial, .award(30_000_000, .formula))
        #expect(try provincial.get().charges.isEmpty)
        check(try compute(F.benchmark(invested: "1,000,000.00", level: .municipal), usage: usage, policy: policy),
              .refused(.resourceExhausted, "annual count cap 30 awards for 2022 exhausted"))
    }

    @Test("pool entry: provincial bonus only when in the Guangdong pool")
    func poolEntryBonus() throws {
        check(try compute(F.poolEntry(provincial: false)), .award(10_000_000, .formula))
        let decision = try compute(F.poolEntry(provincial: true)).get()
        #expect(decision.award == Money(yuan: 200_000))
        #expect(decision.limits.contains { $0.detail == "first entry 100,000.00 + Guangdong provincial pool bonus 100,000.00 = 200,000.00" })
        #expect(decision.charges.map(\.key) == [
            CapKey(capID: "POOL_ENTRY.once_per_enterprise", scope: "foshan-2020/91440607MA52A0K343"),
            CapKey(capID: "POOL_ENTRY.annual_count", scope: "2022"),
        ])
    }

    @Test("committing a decision uses up the content and the headroom, as the ledger would")
    func commitSequence() throws {
        let policy = try F.policy()
        var usage = F.usage()
        // Seven enterprises buy 1,000,000.00 each from one provider: 500,000.00 each (per-enterprise
        // cap) until the provider's 3,000,000.00 is used up, so the seventh is refused.
        let buyers = F.clusterEnterprises(7)
        var awards: [Int64] = []
        for (index, buyer) in buyers.enumerated() {
            let application = F.voucher(contract: "1,000,000.00", enterprise: buyer, contractNumber: "HT-\(index)")
            switch try compute(application, usage: usage, policy: policy) {
            case let .success(decision):
                let committed = usage.commit(decision)
                #expect(committed)
                awards.append(decision.award.fen)
            case let .failure(error):
                #expect(error.code == .resourceExhausted)
                #expect(error.message.contains("per-provider cap 3,000,000.00 yuan for 2022"))
                awards.append(0)
            }
        }
        #expect(awards == [50_000_000, 50_000_000, 50_000_000, 50_000_000, 50_000_000, 50_000_000, 0])
        #expect(usage.committed(CapKey(capID: "CLOUD_VOUCHER.per_provider", scope: "2022/91440605MA51RCJ750")) ==
                CapUsage(amount: Money(yuan: 3_000_000), count: 6))
        // The same contract again is duplicate content.
        check(try compute(F.voucher(contract: "1,000,000.00", enterprise: buyers[0], contractNumber: "ht-0"), usage: usage, policy: policy),
              .refused(.failedPrecondition, "already funded"))
    }

    @Test("the in-memory ledger refuses a charge past its limit, as the real one must")
    func commitRechecksLimits() throws {
        let decision = try compute(F.voucher(contract: "200,000.00")).get()
        var usage = F.usage([("CLOUD_VOUCHER.per_enterprise", "2022/91440604MA4UH8XX6U", F.yuan("400,000.01"), 1)])
        let before = usage
        let committed = usage.commit(decision)
        #expect(!committed)
        #expect(usage.usage == before.usage)
        #expect(usage.fundedContent.isEmpty)
    }
}

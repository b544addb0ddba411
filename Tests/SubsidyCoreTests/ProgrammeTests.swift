import Foundation
import SubsidyCore
import Testing

/// The programmes after 2023 (shared/policy/PROGRAMMES.md): the three shipped files load as one
/// set, and the worked examples of PROGRAMMES.md (EXAMPLES.md, "Programmes") come out as written,
/// computed by the engine against an in-memory ledger the earlier awards are committed into.
@Suite("Programmes: several at once, new rule kinds as data")
struct ProgrammeTests {
    static let files = ["foshan-2020", "foshan-dx-2021", "shunde-dx-2021"]

    static func programmes() throws -> Programmes {
        try Programmes(files.map { try Policy.load(text: Fixtures.read("Deploy/policy/\($0).toml"), name: $0) })
    }

    static func programme(_ name: String) throws -> Policy {
        try #require(try programmes().programme(named: name))
    }

    /// A Shunde industrial enterprise and a seller in the Shunde catalogue since 2022.
    static let shundeEnterprise = Fixtures.manufacturer
    static let catalogueSeller = Fixtures.provider
    static let factoryOwner = Fixtures.uscc("91440606MA4W3BY65F")

    static func usage() -> InMemoryUsageSnapshot {
        var usage = Fixtures.usage()
        usage.catalogues["shunde-cloud-products"] = [catalogueSeller: Fixtures.date("2022-01-01")]
        return usage
    }

    static func cloudUse(spend: String, revenue: String, contract: String = "SD-CLOUD-2024-01", upper: String = "0") -> Application {
        Application(
            measure: .cloudUse, fundingYear: Fixtures.year(2024), enterprise: shundeEnterprise, projectName: "工业软件上云",
            contractNumber: contract, contractAmount: Fixtures.yuan(spend), paidAmount: Fixtures.yuan(spend), provider: catalogueSeller,
            upperLevelSubsidy: Fixtures.yuan(upper), programme: "shunde-dx-2021", declaredRevenue: Fixtures.yuan(revenue))
    }

    /// Commits `award` as the ledger would; a refusal (a charge past its limit) fails the test.
    static func commit(_ award: AwardDecision, into usage: inout InMemoryUsageSnapshot, as id: String) throws {
        let committed = usage.commit(award, applicationID: id)
        try #require(committed, "the in-memory ledger refused \(id)")
    }

    static func workshop(_ number: Int, year: Int) -> Application {
        Application(
            measure: .digitalWorkshop, fundingYear: Fixtures.year(year), enterprise: factoryOwner, projectName: "数字化车间 \(number)",
            programme: "foshan-dx-2021")
    }

    static func factory(_ grade: Grade, year: Int) -> Application {
        Application(
            measure: .digitalFactory, fundingYear: Fixtures.year(year), enterprise: factoryOwner,
            projectName: grade == .excellent ? "数字化示范工厂（优秀）" : "数字化示范工厂", programme: "foshan-dx-2021", grade: grade)
    }

    @Test("the three programme files load as one set, each with its level, window and measures")
    func shippedSetLoads() throws {
        let set = try Self.programmes()
        #expect(set.all.map(\.name) == ["foshan-2020", "foshan-dx-2021", "shunde-dx-2021"])
        #expect(set.defaultProgramme.name == "foshan-2020")
        let city = try Self.programme("foshan-dx-2021")
        #expect(city.level == .city)
        #expect(Set(city.rules.keys) == [.digitalFactory, .digitalWorkshop])
        let shunde = try Self.programme("shunde-dx-2021")
        #expect(shunde.level == .district(.shunde))
        #expect(Set(shunde.rules.keys) == [.cloudUse, .nationalMatch, .benchmarkMatch])
        #expect(try Self.programme("foshan-2020").state(on: Fixtures.date("2026-12-04")) == "closed")
        #expect(shunde.state(on: Fixtures.date("2024-06-01")) == "open")
        #expect(shunde.state(on: shunde.validFrom.adding(days: -1)!) == "scheduled", "not yet in force is not closed")
        // An application naming no programme is the 2020 policy's; an unknown one names the field.
        #expect(try set.programme(for: Fixtures.voucher(contract: "100000")).name == "foshan-2020")
        var unknown = Fixtures.voucher(contract: "100000")
        unknown.programme = "nanhai-2030"
        #expect(throws: SubsidyError.invalidField("application.programme", "unknown programme 'nanhai-2030' (programmes: foshan-2020, foshan-dx-2021, shunde-dx-2021)")) {
            try set.programme(for: unknown)
        }
        // Longer than any programme's name: said so, and not echoed (a request's name is bounded only here).
        let long = String(repeating: "长", count: 100_000)
        #expect(throws: SubsidyError.invalidField("request.programme", "must be at most 64 characters (got 100000)")) {
            try set.programme(long, visibleTo: .nanhai, field: "request.programme")
        }
    }

    @Test("a set with two programmes of one name, or one measure in two programmes, is refused")
    func setConflicts() throws {
        let dx = try Fixtures.read("Deploy/policy/foshan-dx-2021.toml")
        let again = try Policy.load(text: dx, name: "foshan-dx-2021")
        #expect(throws: PolicyError.self) { try Programmes([try Self.programme("foshan-2020"), again, again]) }
        let copy = try Policy.load(text: dx.replacingOccurrences(of: "name = \"foshan-dx-2021\"", with: "name = \"foshan-dx-copy\""), name: "foshan-dx-copy")
        do {
            _ = try Programmes([try Self.programme("foshan-2020"), again, copy])
            Issue.record("a measure in two programmes was accepted")
        } catch let error as PolicyError {
            #expect(error.problem.contains("DIGITAL_FACTORY is already offered by programme") || error.problem.contains("DIGITAL_WORKSHOP is already offered by programme"))
        }
    }

    @Test("a mistake in the new keys names its line: an unknown level, tiers without limits, an excellent ceiling below the standard")
    func newKeysAreValidated() throws {
        let shunde = try Fixtures.read("Deploy/policy/shunde-dx-2021.toml")
        let dx = try Fixtures.read("Deploy/policy/foshan-dx-2021.toml")
        let cases: [(String, String, String, String)] = [
            (shunde, "level = \"district:shunde\"", "level = \"district:foshan\"", "policy.level"),
            (shunde, "revenue_tier_limit_yuan = [1_000_000]", "revenue_tier_limit_yuan = [1_000_000, 2_000_000]", "measure.CLOUD_USE.cap.per_enterprise.revenue_tier_limit_yuan"),
            (dx, "ceiling_yuan_excellent = 20_000_000", "ceiling_yuan_excellent = 5_000_000", "measure.DIGITAL_FACTORY.ceiling_yuan_excellent"),
            (dx, "grades = [\"STANDARD\"]", "grades = [\"GOLD\"]", "measure.DIGITAL_FACTORY.cap.once_standard.grades"),
            (dx, "difference_of = [\"DIGITAL_WORKSHOP\", \"DIGITAL_FACTORY\"]", "difference_of = [\"DIGITAL_WORKSHOPS\"]", "measure.DIGITAL_FACTORY.difference_of"),
        ]
        for (text, old, new, key) in cases {
            #expect(text.contains(old))
            do {
                _ = try Policy.load(text: text.replacingOccurrences(of: old, with: new), name: "x")
                Issue.record("\(new) was accepted")
            } catch {
                #expect(error.key == key, "\(new): \(error)")
                let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(old) }.map { $0 + 1 }
                #expect(error.line == line, "\(new): \(error)")
            }
        }
    }

    @Test("example 1: CLOUD_USE of 3,000,000 catalogue spend pays 1,000,000 above 50,000,000 revenue, 500,000 below — the tier in the trace")
    func revenueTier() throws {
        let shunde = try Self.programme("shunde-dx-2021")
        let on = DecisionInput(decisionDate: Fixtures.date("2024-06-01"))
        let high = try AwardCalculator.compute(application: Self.cloudUse(spend: "3000000", revenue: "80000000"), policy: shunde, usage: Self.usage(), decision: on)
        #expect(high.formulaAmount == Money(yuan: 1_500_000))
        #expect(high.award == Money(yuan: 1_000_000))
        #expect(high.binding?.capID == "CLOUD_USE.per_enterprise")
        #expect(high.binding?.detail.contains("declared revenue 80,000,000.00 is above 50,000,000.00: tier 1,000,000.00") == true)
        #expect(high.policyVersion.hasPrefix("shunde-dx-2021@"))
        #expect(high.charges.first { $0.key.capID == "CLOUD_USE.per_enterprise" }?.limit == .amount(Money(yuan: 1_000_000)))

        let low = try AwardCalculator.compute(application: Self.cloudUse(spend: "3000000", revenue: "40000000"), policy: shunde, usage: Self.usage(), decision: on)
        #expect(low.award == Money(yuan: 500_000))
        #expect(low.binding?.detail.contains("declared revenue 40,000,000.00 is not above 50,000,000.00: tier 500,000.00") == true)

        // Outside the catalogue: refused, naming the catalogue.
        var outside = Self.cloudUse(spend: "3000000", revenue: "80000000")
        outside.provider = Fixtures.platform
        #expect(throws: SubsidyError.self) { try AwardCalculator.compute(application: outside, policy: shunde, usage: Self.usage(), decision: on) }
        // The revenue is declared, never assumed.
        #expect(throws: SubsidyError.invalidField("application.declared_revenue_fen", "must be > 0 (got 0 fen, 0.00 yuan)")) {
            try Self.cloudUse(spend: "3000000", revenue: "0").validate()
        }
    }

    @Test("example 2: workshops 2,000,000 + 2,000,000, then a standard factory of 10,000,000 pays 6,000,000, then 优秀 of 20,000,000 pays 10,000,000")
    func differenceAwards() throws {
        let dx = try Self.programme("foshan-dx-2021")
        var usage = Self.usage()
        for (number, year) in [(1, 2022), (2, 2023)] {
            let award = try AwardCalculator.compute(
                application: Self.workshop(number, year: year), policy: dx, usage: usage, decision: DecisionInput(decisionDate: Fixtures.date("\(year)-10-01")))
            #expect(award.award == Money(yuan: 2_000_000))
            try Self.commit(award, into: &usage, as: "nanhai-w\(number)")
        }
        let standard = try AwardCalculator.compute(
            application: Self.factory(.standard, year: 2024), policy: dx, usage: usage,
            decision: DecisionInput(decisionDate: Fixtures.date("2024-11-01"), caseAmount: Money(yuan: 10_000_000), decisionDocument: "佛工信〔2024〕88号"))
        #expect(standard.formulaAmount == Money(yuan: 10_000_000))
        #expect(standard.award == Money(yuan: 6_000_000))
        let difference = try #require(standard.binding)
        #expect(difference.kind == .difference)
        #expect(difference.detail.contains("nanhai-w1 DIGITAL_WORKSHOP 2,000,000.00 + nanhai-w2 DIGITAL_WORKSHOP 2,000,000.00 = 4,000,000.00"))
        try Self.commit(standard, into: &usage, as: "nanhai-f1")

        let excellent = try AwardCalculator.compute(
            application: Self.factory(.excellent, year: 2025), policy: dx, usage: usage,
            decision: DecisionInput(decisionDate: Fixtures.date("2025-11-01"), caseAmount: Money(yuan: 20_000_000), decisionDocument: "佛工信〔2025〕12号"))
        #expect(excellent.award == Money(yuan: 10_000_000))
        #expect(excellent.binding?.detail.contains("nanhai-f1 DIGITAL_FACTORY 6,000,000.00") == true)
        try Self.commit(excellent, into: &usage, as: "nanhai-f2")

        // A decision above its grade's ceiling is held to it.
        let ceiling = try AwardCalculator.compute(
            application: Self.factory(.standard, year: 2024), policy: dx, usage: Self.usage(),
            decision: DecisionInput(decisionDate: Fixtures.date("2024-11-01"), caseAmount: Money(yuan: 12_000_000), decisionDocument: "佛工信〔2024〕89号"))
        #expect(ceiling.award == Money(yuan: 10_000_000))
        #expect(ceiling.binding?.kind == .gradeCeiling)
        // Once per enterprise per grade.
        #expect(throws: SubsidyError.self) {
            try AwardCalculator.compute(
                application: Self.factory(.standard, year: 2025), policy: dx, usage: usage,
                decision: DecisionInput(decisionDate: Fixtures.date("2025-12-01"), caseAmount: Money(yuan: 10_000_000), decisionDocument: "佛工信〔2025〕13号"))
        }
    }

    @Test("a difference that earlier awards already reach pays nothing, is recorded and counts toward the annual count")
    func zeroDifference() throws {
        let dx = try Self.programme("foshan-dx-2021")
        var usage = Self.usage()
        for number in 1...5 {
            let award = try AwardCalculator.compute(
                application: Self.workshop(number, year: 2023), policy: dx, usage: usage, decision: DecisionInput(decisionDate: Fixtures.date("2023-10-01")))
            try Self.commit(award, into: &usage, as: "nanhai-w\(number)")
        }
        let factory = try AwardCalculator.compute(
            application: Self.factory(.standard, year: 2024), policy: dx, usage: usage,
            decision: DecisionInput(decisionDate: Fixtures.date("2024-11-01"), caseAmount: Money(yuan: 8_000_000), decisionDocument: "佛工信〔2024〕90号"))
        #expect(factory.award == .zero)
        #expect(factory.binding?.kind == .difference)
        #expect(factory.binding?.detail.contains("nothing is paid (the recognition is recorded and counted)") == true)
        #expect(factory.charges.contains { $0.key == CapKey(capID: "DIGITAL_FACTORY.annual_count", scope: "2024") && $0.count == 1 })
    }

    @Test("example 3: a sixth workshop for the same enterprise is refused (≤ 5 over the programme's life)")
    func sixthWorkshop() throws {
        let dx = try Self.programme("foshan-dx-2021")
        var usage = Self.usage()
        for number in 1...5 {
            let year = 2021 + number % 4
            let award = try AwardCalculator.compute(
                application: Self.workshop(number, year: year), policy: dx, usage: usage, decision: DecisionInput(decisionDate: Fixtures.date("\(year)-12-01")))
            try Self.commit(award, into: &usage, as: "nanhai-w\(number)")
        }
        do {
            _ = try AwardCalculator.compute(
                application: Self.workshop(6, year: 2025), policy: dx, usage: usage, decision: DecisionInput(decisionDate: Fixtures.date("2025-12-01")))
            Issue.record("a sixth workshop was awarded")
        } catch {
            #expect(error.code == .failedPrecondition)
            #expect(error.message.contains("already has 5 DIGITAL_WORKSHOP awards"), "\(error)")
            #expect(error.message.contains("for the life of the policy"), "\(error)")
        }
    }

    @Test("example 4: a contract of 1,000,000 funded in 2023 by the 2020 voucher with 500,000 gets at most 500,000 from CLOUD_USE (stacking)")
    func stacking() throws {
        let set = try Self.programmes()
        var usage = Self.usage()
        // The city's 2020 award for the contract, made in 2023.
        let voucher = Application(
            measure: .cloudVoucher, fundingYear: Fixtures.year(2023), enterprise: Self.shundeEnterprise, projectName: "工业软件上云",
            contractNumber: "SD-CLOUD-2023-07", contractAmount: Money(yuan: 1_000_000), paidAmount: Money(yuan: 1_000_000), provider: Fixtures.provider)
        let city = try AwardCalculator.compute(
            application: voucher, policy: set.defaultProgramme, usage: usage, decision: DecisionInput(decisionDate: Fixtures.date("2023-08-01")))
        #expect(city.award == Money(yuan: 500_000))
        try Self.commit(city, into: &usage, as: "shunde-000101")

        let shunde = try Self.programme("shunde-dx-2021")
        let on = DecisionInput(decisionDate: Fixtures.date("2024-03-01"))
        let same = Self.cloudUse(spend: "1000000", revenue: "80000000", contract: "sd cloud 2023 07")
        let award = try AwardCalculator.compute(application: same, policy: shunde, usage: usage, decision: on)
        #expect(award.award == Money(yuan: 500_000))
        let stackingTrace = try #require(award.limits.first { $0.kind == .stacking })
        #expect(stackingTrace.limit == Money(yuan: 1_000_000))
        #expect(stackingTrace.committed == Money(yuan: 500_000))
        #expect(stackingTrace.detail.contains("shunde-000101 (foshan-2020 CLOUD_VOUCHER) 500,000.00"))
        // A later filing declaring three times the spend on the same contract makes no room: the
        // base the voucher was computed from stands.
        let inflated = try AwardCalculator.compute(
            application: Self.cloudUse(spend: "3000000", revenue: "80000000", contract: "SD-CLOUD-2023-07"), policy: shunde, usage: usage, decision: on)
        #expect(inflated.award == Money(yuan: 500_000))
        let inflatedTrace = try #require(inflated.limits.first { $0.kind == .stacking })
        #expect(inflatedTrace.limit == Money(yuan: 1_000_000))
        #expect(inflatedTrace.detail.contains("the base shunde-000101 was awarded on, 1,000,000.00"), "\(inflatedTrace.detail)")
        // Another contract of the same project shares only the project's key: its own contract's
        // amount is its base, not the voucher's.
        let otherContract = try AwardCalculator.compute(
            application: Self.cloudUse(spend: "3000000", revenue: "80000000", contract: "SD-CLOUD-2024-99"), policy: shunde, usage: usage, decision: on)
        let otherTrace = try #require(otherContract.limits.first { $0.kind == .stacking })
        #expect(otherTrace.limit == Money(yuan: 3_000_000), "\(otherTrace.detail)")

        // With upper-level funds declared as well, stacking binds below the formula.
        let declared = try AwardCalculator.compute(
            application: Self.cloudUse(spend: "1000000", revenue: "80000000", contract: "SD-CLOUD-2023-07", upper: "200000"), policy: shunde, usage: usage, decision: on)
        #expect(declared.award == Money(yuan: 300_000))
        #expect(declared.binding?.kind == .stacking)
        try Self.commit(declared, into: &usage, as: "shunde-000102")

        // Within one programme the content is still funded once (general rule 2).
        #expect(throws: SubsidyError.self) { try AwardCalculator.compute(application: same, policy: shunde, usage: usage, decision: on) }
        // And the city's programmes, which have no stacking limit, still refuse content a district funded.
        var workshop = Self.workshop(1, year: 2024)
        workshop.enterprise = Self.shundeEnterprise
        workshop.contractNumber = "SD-CLOUD-2023-07"
        #expect(throws: SubsidyError.self) {
            try AwardCalculator.compute(application: workshop, policy: try Self.programme("foshan-dx-2021"), usage: usage, decision: on)
        }
    }

    @Test("stacking across levels the other way (P9): Shunde's CLOUD_USE decided first binds the city's later awards on the same contract to its limit")
    func stackingDistrictFirst() throws {
        let set = try Self.programmes()
        var usage = Self.usage()
        // Shunde pays 500,000 on a contract of 1,000,000 in 2023.
        var use = Self.cloudUse(spend: "1000000", revenue: "80000000", contract: "SD-CLOUD-2023-07")
        use.fundingYear = Fixtures.year(2023)
        let shunde = try #require(set.programme(named: "shunde-dx-2021"))
        let first = try AwardCalculator.compute(application: use, policy: shunde, usage: usage, decision: DecisionInput(decisionDate: Fixtures.date("2023-06-01")))
        #expect(first.award == Money(yuan: 500_000))
        try Self.commit(first, into: &usage, as: "shunde-000201")

        // The city's 2020 voucher on the same contract, 200,000 of upper-level funds declared:
        // 1,000,000 − 500,000 − 200,000 = 300,000, as P7 the other way round.
        let voucher = Application(
            measure: .cloudVoucher, fundingYear: Fixtures.year(2023), enterprise: Self.shundeEnterprise, projectName: "工业软件上云",
            contractNumber: "sd cloud 2023 07", contractAmount: Money(yuan: 1_000_000), paidAmount: Money(yuan: 1_000_000), provider: Fixtures.provider,
            upperLevelSubsidy: Money(yuan: 200_000))
        let on = DecisionInput(decisionDate: Fixtures.date("2023-08-01"))
        let city = try AwardCalculator.compute(application: voucher, policy: set.defaultProgramme, usage: usage, decision: on)
        #expect(city.award == Money(yuan: 300_000))
        let trace = try #require(city.binding)
        #expect(trace.kind == .stacking)
        #expect(trace.limit == Money(yuan: 1_000_000) && trace.committed == Money(yuan: 700_000))
        #expect(trace.detail.contains("stacking across levels (shunde-dx-2021's CLOUD_USE award shunde-000201 holds this content)"), "\(trace.detail)")
        // A fixed amount has no base of its own: the base Shunde's award was computed on binds it.
        var workshop = Self.workshop(1, year: 2024)
        workshop.enterprise = Self.shundeEnterprise
        workshop.contractNumber = "SD-CLOUD-2023-07"
        let fixed = try AwardCalculator.compute(
            application: workshop, policy: try #require(set.programme(named: "foshan-dx-2021")), usage: usage, decision: DecisionInput(decisionDate: Fixtures.date("2024-03-01")))
        #expect(fixed.award == Money(yuan: 500_000))
        #expect(fixed.binding?.kind == .stacking)
        #expect(fixed.binding?.detail.contains("the base shunde-000201 was awarded on, 1,000,000.00") == true, "\(fixed.binding?.detail ?? "")")
        #expect(fixed.limits.first { $0.kind == .duplicateContent }?.detail.contains("binds this one to that limit") == true)
        // The city's own awards of the content count too: a factory's difference award may share
        // the workshop's content, and nothing is left of the base after the two.
        let dx = try #require(set.programme(named: "foshan-dx-2021"))
        try Self.commit(fixed, into: &usage, as: "shunde-000301")
        var factory = Self.factory(.standard, year: 2024)
        (factory.enterprise, factory.contractNumber) = (Self.shundeEnterprise, "SD-CLOUD-2023-07")
        let full = #expect(throws: SubsidyError.self) {
            try AwardCalculator.compute(
                application: factory, policy: dx, usage: usage,
                decision: DecisionInput(decisionDate: Fixtures.date("2024-06-01"), caseAmount: Money(yuan: 10_000_000), decisionDocument: "佛工信〔2024〕8号"))
        }
        #expect(full?.message.contains("stacking") == true && full?.message.contains("shunde-000301") == true, "\(String(describing: full))")
        // A policy loaded on its own knows no other programme's limit: the content is refused, as before programmes were loaded as a set.
        let alone = try Policy.load(text: Fixtures.read("Deploy/policy/foshan-2020.toml"), name: "foshan-2020")
        let refused = #expect(throws: SubsidyError.self) { try AwardCalculator.compute(application: voucher, policy: alone, usage: usage, decision: on) }
        #expect(refused?.message.contains("duplicate_content") == true, "\(String(describing: refused))")

        // Without a base for Shunde's award (recorded before bases were kept), a fixed amount cannot be bounded: refused.
        var unknown = Self.usage()
        for key in workshop.contentKeys where key.hasPrefix("contract:") {
            unknown.fundedContent[key] = [
                FundedContent(applicationID: "shunde-000202", measure: .cloudUse, typed: "SD-CLOUD-2023-07", key: key, amount: Money(yuan: 500_000), programme: "shunde-dx-2021")
            ]
        }
        let unbounded = #expect(throws: SubsidyError.self) {
            try AwardCalculator.compute(
                application: workshop, policy: try #require(set.programme(named: "foshan-dx-2021")), usage: unknown, decision: DecisionInput(decisionDate: Fixtures.date("2024-03-01")))
        }
        #expect(unbounded?.message.contains("stacking") == true && unbounded?.message.contains("no base is known for shunde-000202") == true, "\(String(describing: unbounded))")
    }

    @Test("NATIONAL_MATCH pays 20% of the national funding, within 10,000,000 per enterprise and year; BENCHMARK_MATCH needs the district's 文号")
    func shundeMatches() throws {
        let shunde = try Self.programme("shunde-dx-2021")
        let national = Application(
            measure: .nationalMatch, fundingYear: Fixtures.year(2024), enterprise: Self.shundeEnterprise, projectName: "国家级智能制造示范",
            upperLevelAwardTotal: Money(yuan: 60_000_000), programme: "shunde-dx-2021")
        let award = try AwardCalculator.compute(application: national, policy: shunde, usage: Self.usage(), decision: DecisionInput(decisionDate: Fixtures.date("2024-05-01")))
        #expect(award.formulaAmount == Money(yuan: 12_000_000))
        #expect(award.award == Money(yuan: 10_000_000))
        #expect(award.binding?.capID == "NATIONAL_MATCH.per_enterprise")

        let benchmark = Application(
            measure: .benchmarkMatch, fundingYear: Fixtures.year(2024), enterprise: Self.shundeEnterprise, projectName: "省级标杆配套",
            programme: "shunde-dx-2021")
        #expect(throws: SubsidyError.self) {
            try AwardCalculator.compute(application: benchmark, policy: shunde, usage: Self.usage(), decision: DecisionInput(decisionDate: Fixtures.date("2024-05-01"), caseAmount: Money(yuan: 800_000)))
        }
        let decided = try AwardCalculator.compute(
            application: benchmark, policy: shunde, usage: Self.usage(),
            decision: DecisionInput(decisionDate: Fixtures.date("2024-05-01"), caseAmount: Money(yuan: 800_000), decisionDocument: "顺经促〔2024〕5号"))
        #expect(decided.award == Money(yuan: 800_000))
        #expect(decided.decisionDocument == "顺经促〔2024〕5号")
    }

    @Test("EXAMPLES.md's programme rows say what the engine computes", arguments: [
        ("P1", "CLOUD_USE", 100_000_000 as Int64, "per-enterprise `CLOUD_USE.per_enterprise`"),
        ("P2", "CLOUD_USE", 50_000_000, "per-enterprise `CLOUD_USE.per_enterprise`"),
        ("P3", "DIGITAL_FACTORY", 600_000_000, "difference"),
        ("P4", "DIGITAL_FACTORY", 1_000_000_000, "difference"),
        ("P6", "CLOUD_USE", 50_000_000, "formula (stacking leaves exactly 500,000.00 too)"),
        ("P7", "CLOUD_USE", 30_000_000, "stacking"),
        ("P8", "DIGITAL_FACTORY", 0, "difference"),
        ("P9", "CLOUD_VOUCHER", 30_000_000, "stacking"),
    ])
    func documented(_ id: String, _ measure: String, _ fen: Int64, _ binding: String) throws {
        let document = try Fixtures.read("Deploy/policy/EXAMPLES.md")
        let row = try #require(document.split(separator: "\n").first { $0.hasPrefix("| \(id) |") }, "no row for \(id)")
        let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(cells[1].hasSuffix("`\(measure)`"))
        #expect(cells.contains(String(fen)), "fen")
        #expect(cells[5].hasPrefix(Money(fen: fen).description), "yuan")
        #expect(cells.last == binding, "binding")
    }
}

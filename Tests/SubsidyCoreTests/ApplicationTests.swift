import SubsidyCore
import Testing

@Suite("Application")
struct ApplicationTests {
    typealias F = Fixtures

    struct Row: Sendable, CustomStringConvertible {
        let name: String
        let application: Application
        let path: String
        let problem: String
        var description: String { name }
    }

    static let invalidRows: [Row] = {
        var negative = F.voucher(contract: "100.00")
        negative.contractAmount = Money(fen: -500)
        var noProvider = F.voucher(contract: "100.00")
        noProvider.provider = nil
        var selfDealing = F.voucher(contract: "100.00")
        selfDealing.provider = F.buyer
        var noContract = F.voucher(contract: "100.00")
        noContract.contractNumber = "  "
        var unpaid = F.voucher(contract: "100.00")
        unpaid.paidAmount = .zero
        var noName = F.poolEntry()
        noName.projectName = "\u{3000}"
        var negativeUpper = F.benchmark(invested: "100.00")
        negativeUpper.upperLevelSubsidy = Money(fen: -1)
        var hugeUpper = F.benchmark(invested: "100.00")
        hugeUpper.upperLevelSubsidy = Money(fen: Int64.max - 1)
        var noPilot = F.clusterPilot()
        noPilot.pilotID = ""
        var noSelection = F.clusterPilot()
        noSelection.selectionDate = nil
        let served = F.clusterEnterprises(3)
        let strayDeclared = F.followOn(served: Array(served.prefix(2)), declared: [served[2]])
        var otherFund = F.publicService(spend: "1.00")
        otherFund.otherFundDeclared = true
        return [
            Row(name: "negative contract amount", application: negative, path: "application.contract_amount_fen", problem: "must be > 0 (got -500 fen, -5.00 yuan)"),
            Row(name: "voucher without provider", application: noProvider, path: "application.provider_uscc", problem: "required for CLOUD_VOUCHER"),
            Row(name: "voucher bought from oneself", application: selfDealing, path: "application.provider_uscc", problem: "must differ from the buying enterprise"),
            Row(name: "voucher without contract number", application: noContract, path: "application.contract_number", problem: "must not be empty"),
            Row(name: "voucher not paid", application: unpaid, path: "application.paid_amount_fen", problem: "must be > 0 (got 0 fen, 0.00 yuan)"),
            Row(name: "blank project name", application: noName, path: "application.project_name", problem: "must not be empty"),
            Row(name: "benchmark without investment", application: F.benchmark(invested: "0"), path: "application.invested_amount_fen", problem: "must be > 0"),
            Row(name: "negative upper-level subsidy", application: negativeUpper, path: "application.upper_level_subsidy_fen", problem: "must be ≥ 0 (got -1 fen, -0.01 yuan)"),
            Row(name: "upper-level subsidy past any real figure", application: hugeUpper, path: "application.upper_level_subsidy_fen",
                problem: "must be at most 100000000000000 fen, 1,000,000,000,000.00 yuan"),
            Row(name: "node without construction amount", application: F.identifierNode(construction: "0", total: "1.00"),
                path: "application.construction_amount_fen", problem: "must be > 0"),
            Row(name: "node without total investment", application: F.identifierNode(construction: "1.00", total: "0"),
                path: "application.total_investment_fen", problem: "must be > 0"),
            Row(name: "demo base without upper-level award", application: F.demoBase(upperTotal: "0"),
                path: "application.upper_level_award_total_fen", problem: "must be > 0"),
            Row(name: "public service without spend", application: F.publicService(spend: "0"),
                path: "application.previous_year_service_spend_fen", problem: "must be > 0"),
            Row(name: "pilot without id", application: noPilot, path: "application.pilot_id", problem: "must not be empty"),
            Row(name: "pilot without selection date", application: noSelection, path: "application.selection_date", problem: "required for CLUSTER_PILOT"),
            Row(name: "declared voucher holder not served", application: strayDeclared, path: "application.provincial_voucher_enterprises",
                problem: "\(served[2]) is not among served_enterprises"),
            Row(name: "other fund without reason", application: otherFund, path: "application.other_fund_reason",
                problem: "required when other_fund_declared is true"),
        ]
    }()

    @Test("validate names the proto field and the rule", arguments: invalidRows)
    func invalid(_ row: Row) {
        do {
            try row.application.validate()
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix(row.path + ": "), "\(error)")
            #expect(error.message.contains(row.problem), "\(error)")
            guard case let .field(path, _)? = error.details.first else { Issue.record("no field detail"); return }
            #expect(path == row.path)
        }
    }

    @Test("worked examples are valid", arguments: WorkedExample.all)
    func valid(_ example: WorkedExample) throws {
        try example.application.validate()
    }

    @Test("content fingerprint: the contract number when there is one, normalised")
    func fingerprintContract() {
        var a = F.voucher(contract: "100.00", contractNumber: "HT 20220001")
        var b = F.benchmark(invested: "100.00")
        b.contractNumber = "\u{3000}ｈｔ-２０２２０００１ "
        #expect(a.contentFingerprint == "contract:ht-20220001")
        #expect(a.contentFingerprint == b.contentFingerprint)  // across measures and applicants
        a.contractNumber = "HT-2022-0002"
        #expect(a.contentFingerprint != b.contentFingerprint)
    }

    @Test("content fingerprint without a contract: applicant and canonical project name, not the measure")
    func fingerprintProject() {
        var a = F.benchmark(invested: "100.00")
        a.projectName = "5G 智能工厂 ｐｈａｓｅ 1"
        var b = a
        b.projectName = "5G智能工厂PHASE1"
        #expect(a.contentFingerprint == "project:91440606MA4W3BY65F:5-g智能工厂phase-1")
        #expect(a.contentFingerprint == b.contentFingerprint)
        b.enterprise = F.buyer
        #expect(a.contentFingerprint != b.contentFingerprint)
        // The same project under two measures is the same content; only a pilot's selection award
        // and its follow-on may share it.
        var node = F.identifierNode(construction: "1.00", total: "1.00")
        node.enterprise = a.enterprise
        node.projectName = a.projectName
        #expect(node.contentFingerprint == a.contentFingerprint)
        #expect(F.clusterPilot().contentFingerprint == F.followOn(served: []).contentFingerprint)
        #expect(Measure.clusterPilot.sharesContent(with: .clusterPilotFollowOn))
        #expect(Measure.clusterPilotFollowOn.sharesContent(with: .clusterPilot))
        #expect(!Measure.benchmarkProject.sharesContent(with: .identifierNode))
        #expect(!Measure.clusterPilot.sharesContent(with: .clusterPilot))
    }

    @Test("district ids and display names")
    func districts() {
        #expect(DistrictID.allCases.map(\.rawValue) == ["chancheng", "nanhai", "shunde", "gaoming", "sanshui"])
        #expect(DistrictID.allCases.map(\.displayName) == ["禅城区", "南海区", "顺德区", "高明区", "三水区"])
        #expect(Measure.allCases.map(\.rawValue) == [
            "POOL_ENTRY", "CLOUD_VOUCHER", "BENCHMARK_PROJECT", "IDENTIFIER_NODE", "CROSS_INDUSTRY_PLATFORM", "MAJOR_PLATFORM",
            "CLUSTER_PILOT", "CLUSTER_PILOT_FOLLOW_ON", "DEMO_BASE", "PUBLIC_SERVICE", "INNOVATION_CARRIER",
            "DIGITAL_FACTORY", "DIGITAL_WORKSHOP", "CLOUD_USE", "NATIONAL_MATCH", "BENCHMARK_MATCH",
        ])
        #expect(FundingYear(999) == nil)
        #expect(FundingYear(2022)?.description == "2022")
    }
}

import Foundation
import SubsidyCore
import Testing

/// Shared fixtures: the real policy file, identities and small builders.
enum Fixtures {
    /// The repository root, found from this file's path (Tests/SubsidyCoreTests/Support/…).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func read(_ relativePath: String) throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent(relativePath), encoding: .utf8)
    }

    /// The text of `Deploy/policy/foshan-2020.toml`.
    static func policyText() throws -> String { try read("Deploy/policy/foshan-2020.toml") }

    /// The real policy, loaded as the daemon loads it (once per test process: a policy is a value).
    static func policy() throws -> Policy { try loadedPolicy.get() }

    private static let loadedPolicy = Result { try Policy.load(text: policyText(), name: "foshan-2020") }

    /// The real policy with one exact piece of text replaced (a configurable reading flipped).
    static func policy(replacing old: String, with new: String) throws -> Policy {
        let text = try policyText()
        #expect(text.contains(old), "policy file no longer contains \(old)")
        return try Policy.load(text: text.replacingOccurrences(of: old, with: new), name: "foshan-2020")
    }

    /// A USCC fixture. Traps on a malformed literal: a broken fixture is a bug in the test.
    static func uscc(_ text: String) -> USCC {
        do { return try USCC(validating: text) } catch { preconditionFailure("bad USCC fixture \(text): \(error)") }
    }

    static func date(_ text: String) -> CalendarDate {
        do { return try CalendarDate(parsing: text) } catch { preconditionFailure("bad date fixture \(text): \(error)") }
    }

    static func yuan(_ text: String) -> Money {
        do { return try Money(parsing: text) } catch { preconditionFailure("bad amount fixture \(text): \(error)") }
    }

    static func year(_ value: Int) -> FundingYear {
        guard let year = FundingYear(value) else { preconditionFailure("bad year fixture \(value)") }
        return year
    }

    // Valid codes, check characters computed by an independent implementation (see USCCTests).
    static let buyer = uscc("91440604MA4UH8XX6U")        // 禅城 industrial enterprise
    static let provider = uscc("91440605MA51RCJ750")     // 南海 pool provider
    static let manufacturer = uscc("91440606MA4W3BY65F") // 顺德 manufacturer
    static let poolApplicant = uscc("91440607MA52A0K343")
    static let nodeLead = uscc("91440608MA4X1P6N4B")
    static let platform = uscc("91440604MA54TBW28N")
    static let majorPlatform = uscc("91440605MA55HHK150")
    static let association = uscc("52440600MJL1234N1N")  // 社会团体 (民政 registration)
    static let institution = uscc("12440600MB2C0D1E1Q")  // 事业单位 (机构编制 registration)

    /// `count` distinct cluster enterprises, numbered from `start`.
    static func clusterEnterprises(_ count: Int, start: Int = 1) -> [USCC] {
        (start..<start + count).map { number in
            let digits = String(number)
            let body = "MA" + String(repeating: "0", count: 6 - digits.count) + digits
            do { return try USCC.makeValid(prefix16: "91440606" + body) } catch { preconditionFailure("\(error)") }
        }
    }

    static let decisionDate = date("2022-09-01")
    static let pilotID = "粤工信2021-集群试点-07"
    static let pilotSelected = date("2021-03-10")
    /// ``pilotID`` in canonical form, as caps and the ledger key it.
    static let pilotKey = CanonicalText(pilotID).key

    /// The usage snapshot with the voucher provider in the pool since 2021-01-15 and the pilot
    /// ``pilotID`` awarded to ``association``, selected ``pilotSelected``.
    static func usage(_ seed: [(String, String, Money, Int)] = []) -> InMemoryUsageSnapshot {
        var usage = InMemoryUsageSnapshot(poolMembers: [provider: date("2021-01-15")])
        usage.pilots[pilotKey] = PilotAward(applicationID: "shunde-000001", enterprise: association, selectionDate: pilotSelected)
        for (capID, scope, amount, count) in seed {
            usage.add(amount, count: count, to: CapKey(capID: capID, scope: scope))
        }
        return usage
    }

    // Builders, one per measure, with the fields the measure needs.

    static func voucher(contract: String, paid: String? = nil, enterprise: USCC = buyer, locality: Locality = .local,
                        contractNumber: String = "HT-2022-0001", year: Int = 2022) -> Application {
        Application(measure: .cloudVoucher, fundingYear: Fixtures.year(year), enterprise: enterprise, enterpriseLocality: locality,
                    projectName: "MES 上云", contractNumber: contractNumber, contractAmount: yuan(contract),
                    paidAmount: yuan(paid ?? contract), provider: provider)
    }

    static func poolEntry(provincial: Bool = false, locality: Locality = .local, year: Int = 2022) -> Application {
        Application(measure: .poolEntry, fundingYear: Fixtures.year(year), enterprise: poolApplicant, enterpriseLocality: locality,
                    projectName: "入选佛山市工业互联网产业生态供给资源池", inProvincialPool: provincial)
    }

    static func benchmark(invested: String, upper: String = "0", level: SelectionLevel = .municipal) -> Application {
        Application(measure: .benchmarkProject, fundingYear: year(2022), enterprise: manufacturer, projectName: "5G 智能工厂",
                    investedAmount: yuan(invested), upperLevelSubsidy: yuan(upper), selectionLevel: level)
    }

    static func identifierNode(construction: String, total: String, upper: String = "0", recognised: Bool = true) -> Application {
        Application(measure: .identifierNode, fundingYear: year(2022), enterprise: nodeLead, projectName: "陶瓷行业标识解析二级节点",
                    constructionAmount: yuan(construction), totalInvestment: yuan(total), upperLevelSubsidy: yuan(upper),
                    recognisedSecondaryNode: recognised)
    }

    static func crossIndustry(level: SelectionLevel = .national, locality: Locality = .relocated) -> Application {
        Application(measure: .crossIndustryPlatform, fundingYear: year(2022), enterprise: platform, enterpriseLocality: locality,
                    projectName: "跨行业跨领域工业互联网平台", selectionDate: date("2022-03-01"), selectionLevel: level)
    }

    static func caseByCase(_ measure: Measure, enterprise: USCC = majorPlatform, year: Int = 2022) -> Application {
        Application(measure: measure, fundingYear: Fixtures.year(year), enterprise: enterprise, projectName: "家电行业工业互联网平台")
    }

    static func clusterPilot() -> Application {
        Application(measure: .clusterPilot, fundingYear: year(2021), enterprise: association, projectName: "陶瓷产业集群数字化转型试点",
                    selectionDate: pilotSelected, selectionLevel: .provincial, pilotID: pilotID)
    }

    static func followOn(served: [USCC], declared: [USCC] = []) -> Application {
        Application(measure: .clusterPilotFollowOn, fundingYear: year(2023), enterprise: association, projectName: "陶瓷产业集群数字化转型试点",
                    selectionDate: pilotSelected, selectionLevel: .provincial, pilotID: pilotID, servedEnterprises: served,
                    provincialVoucherEnterprises: declared)
    }

    static func demoBase(upperTotal: String) -> Application {
        Application(measure: .demoBase, fundingYear: year(2022), enterprise: institution, enterpriseLocality: .local,
                    projectName: "佛山工业互联网产业示范基地", upperLevelAwardTotal: yuan(upperTotal), selectionDate: date("2022-01-20"),
                    selectionLevel: .national)
    }

    static func publicService(spend: String) -> Application {
        Application(measure: .publicService, fundingYear: year(2022), enterprise: association, projectName: "2021 年度工业互联网公共服务",
                    previousYearServiceSpend: yuan(spend))
    }
}

/// A code and message a refusal must carry.
struct Refusal: Sendable, CustomStringConvertible {
    let code: SubsidyError.Code
    let contains: String
    var description: String { "\(code) ‘\(contains)’" }
}

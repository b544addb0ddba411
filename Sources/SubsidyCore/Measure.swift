/// One support measure: the eleven of the 2020 Foshan policy (see RULES.md) and those of the
/// programmes that followed it (PROGRAMMES.md). Raw values are the wire and policy-file codes,
/// unique across programmes, so a cap id (`<MEASURE>.<name>`) names one programme's cap.
///
/// The numbers of each measure live in its programme file; the *shape* of its formula (what base,
/// fixed or case by case) is the text's and lives here.
public enum Measure: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// 条一 — first entry into the Foshan ecosystem supply resource pool (资源池), + provincial-pool bonus.
    case poolEntry = "POOL_ENTRY"
    /// 条一 — 上云上平台服务券, the cloud-adoption service voucher.
    case cloudVoucher = "CLOUD_VOUCHER"
    /// 条二 — 标杆示范项目, a benchmark demonstration project.
    case benchmarkProject = "BENCHMARK_PROJECT"
    /// 条三 — 标识解析二级节点, a secondary node of the identifier resolution system.
    case identifierNode = "IDENTIFIER_NODE"
    /// 条四 — 跨行业、跨领域工业互联网平台, a cross-industry, cross-domain platform.
    case crossIndustryPlatform = "CROSS_INDUSTRY_PLATFORM"
    /// 条四 — a platform of major significance, decided case by case (一事一议).
    case majorPlatform = "MAJOR_PLATFORM"
    /// 条五 — lead unit of a cluster digital-transformation pilot (产业集群试点), on selection.
    case clusterPilot = "CLUSTER_PILOT"
    /// 条五 — the pilot's follow-on award after serving ≥ 15 voucher-holding cluster enterprises.
    case clusterPilotFollowOn = "CLUSTER_PILOT_FOLLOW_ON"
    /// 条六 — 产业示范基地, a demonstration base, matched against its upper-level award.
    case demoBase = "DEMO_BASE"
    /// 条七 — public services (公共服务), subsidised after the fact.
    case publicService = "PUBLIC_SERVICE"
    /// 条八 — 公共创新服务载体, a public innovation carrier, decided case by case (一事一议).
    case innovationCarrier = "INNOVATION_CARRIER"
    /// foshan-dx-2021 — 数字化示范工厂, decided case by case up to a ceiling by grade, paid as the
    /// difference from earlier awards under linked measures (差额奖励).
    case digitalFactory = "DIGITAL_FACTORY"
    /// foshan-dx-2021 — 数字化示范车间, a fixed award per workshop.
    case digitalWorkshop = "DIGITAL_WORKSHOP"
    /// shunde-dx-2021 — 上云用云, a rate of the spend on products in the Shunde catalogue.
    case cloudUse = "CLOUD_USE"
    /// shunde-dx-2021 — 国家级项目配套, a rate of the national funding received.
    case nationalMatch = "NATIONAL_MATCH"
    /// shunde-dx-2021 — 省市标杆配套, decided case by case with the district's document number.
    case benchmarkMatch = "BENCHMARK_MATCH"

    /// Whether an award under `other` for the same content is part of the same project by design,
    /// not double funding: a cluster pilot's selection award and its follow-on (article 五).
    public func sharesContent(with other: Measure) -> Bool {
        switch (self, other) {
        case (.clusterPilot, .clusterPilotFollowOn), (.clusterPilotFollowOn, .clusterPilot): true
        default: false
        }
    }

    /// Whether an award's content is the contract it pays a share of — the 2020 voucher (a share of
    /// a service contract) and Shunde's 上云用云 (a share of the spend on catalogue products) — so
    /// that several contracts of one project are several contents ("several services for one
    /// project"), where every other measure's content is the project.
    public var contentIsItsContract: Bool {
        switch self {
        case .cloudVoucher, .cloudUse: true
        default: false
        }
    }

    /// How the text computes the amount; the policy file supplies the numbers.
    public enum FormulaShape: Hashable, Sendable {
        /// A fixed amount (`amount_yuan`).
        case fixed
        /// A rate (`rate_bp`) of the base, floored.
        case rate(FormulaBase)
        /// 一事一议: the amount and document number come from the city's decision.
        case caseByCase
    }

    /// What a rate applies to.
    public enum FormulaBase: Hashable, Sendable {
        /// The lower of contract amount and amount actually paid (voucher).
        case lowerOfContractAndPaid
        /// Amount already invested (项目已投入金额).
        case investedAmount
        /// Construction amount (项目建设金额).
        case constructionAmount
        /// Total investment of the project (项目投资总额).
        case totalInvestment
        /// Total upper-level award (上级奖补总金额).
        case upperLevelAwardTotal
        /// Previous year's service-project spend (上一年服务项目投入金额).
        case previousYearServiceSpend
        /// National funding received for the project (国家级资金), carried in the upper-level
        /// award total field.
        case nationalFundingReceived
    }

    /// The formula shape the text gives this measure.
    public var formulaShape: FormulaShape {
        switch self {
        case .poolEntry, .crossIndustryPlatform, .clusterPilot, .clusterPilotFollowOn, .digitalWorkshop: .fixed
        case .cloudVoucher, .cloudUse: .rate(.lowerOfContractAndPaid)
        case .nationalMatch: .rate(.nationalFundingReceived)
        case .benchmarkProject: .rate(.investedAmount)
        case .identifierNode: .rate(.constructionAmount)
        case .demoBase: .rate(.upperLevelAwardTotal)
        case .publicService: .rate(.previousYearServiceSpend)
        case .majorPlatform, .innovationCarrier, .digitalFactory, .benchmarkMatch: .caseByCase
        }
    }

    /// The base the combined “upper-level + city ≤ rate” limit applies to, where the text has one.
    public var combinedUpperLevelBase: FormulaBase? {
        switch self {
        case .benchmarkProject: .investedAmount   // 二: 不超过项目已投入金额的50%
        case .identifierNode: .totalInvestment     // 三: 不超过项目投资总额的50%
        default: nil
        }
    }

    /// Short Chinese name for explanations.
    public var displayName: String {
        switch self {
        case .poolEntry: "资源池首次入选奖励"
        case .cloudVoucher: "上云上平台服务券"
        case .benchmarkProject: "标杆示范项目"
        case .identifierNode: "标识解析二级节点"
        case .crossIndustryPlatform: "跨行业跨领域平台"
        case .majorPlatform: "重大平台（一事一议）"
        case .clusterPilot: "产业集群试点"
        case .clusterPilotFollowOn: "产业集群试点后续奖励"
        case .demoBase: "产业示范基地"
        case .publicService: "工业互联网公共服务"
        case .innovationCarrier: "公共创新服务载体（一事一议）"
        case .digitalFactory: "数字化示范工厂"
        case .digitalWorkshop: "数字化示范车间"
        case .cloudUse: "上云用云"
        case .nationalMatch: "国家级项目配套"
        case .benchmarkMatch: "省市标杆配套"
        }
    }

    /// Whether the application names a seller whose membership (pool or catalogue) is checked.
    public var hasProvider: Bool { self == .cloudVoucher || self == .cloudUse }

    public var description: String { rawValue }
}

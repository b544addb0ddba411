/// An application for one measure, with every field any measure needs. Fields a measure does not
/// use keep their zero defaults. Names mirror the proto's `Application` (`contractAmount` ⇄
/// `contract_amount_fen`, `enterprise` ⇄ `enterprise_uscc`, `provider` ⇄ `provider_uscc`), and
/// error paths use the proto names under `application.`. ``caseAmount`` and ``decisionDocument``
/// are not in the proto's `Application`: they come from the request (`case_amount_fen`,
/// `decision_document`), as proposed values for a quote.
public struct Application: Hashable, Sendable {
    /// The measure applied for.
    public var measure: Measure
    /// 资金年度 — the budget year the application is filed under.
    public var fundingYear: FundingYear
    /// The applicant: enterprise, lead unit (牵头单位) or institution.
    public var enterprise: USCC
    /// Whether the applicant is local, relocated to Foshan, or neither.
    public var enterpriseLocality: Locality
    /// Project name; part of the content fingerprint when there is no contract number.
    public var projectName: String
    /// 合同编号 — the contract number (voucher; optional elsewhere).
    public var contractNumber: String
    /// 合同金额 — contract amount (voucher).
    public var contractAmount: Money
    /// 实际支付金额 — amount actually paid (voucher).
    public var paidAmount: Money
    /// The seller of a voucher contract, a Foshan resource-pool provider.
    public var provider: USCC?
    /// 项目已投入金额 — amount invested so far (benchmark project).
    public var investedAmount: Money
    /// 项目建设金额 — construction amount (identifier node).
    public var constructionAmount: Money
    /// 项目投资总额 — total investment (identifier node's combined cap).
    public var totalInvestment: Money
    /// 上级补助 — national + provincial subsidy already received for this project.
    public var upperLevelSubsidy: Money
    /// 上级奖补总金额 — total upper-level award (demonstration base).
    public var upperLevelAwardTotal: Money
    /// 上一年服务项目投入金额 — previous year's spend on public-service projects.
    public var previousYearServiceSpend: Money
    /// Date of selection (入选) for pilots, platforms, bases and provincial benchmark projects.
    public var selectionDate: CalendarDate?
    /// The level of that selection.
    public var selectionLevel: SelectionLevel
    /// The applicant is also in the Guangdong provincial resource pool (pool-entry bonus).
    public var inProvincialPool: Bool
    /// The project is recognised as a secondary identifier-resolution node by the national or
    /// provincial authority.
    public var recognisedSecondaryNode: Bool
    /// The cluster pilot's identifier (its selection document or programme number); one-time rules
    /// for pilots are keyed on it.
    public var pilotID: String
    /// Cluster enterprises the pilot served (follow-on award), by USCC.
    public var servedEnterprises: [USCC]
    /// Served enterprises that hold a declared Guangdong (provincial) voucher, by USCC.
    public var provincialVoucherEnterprises: [USCC]
    /// The same content was also filed with another city fund (多头申报).
    public var otherFundDeclared: Bool
    /// Why, which the policy requires when ``otherFundDeclared`` is set.
    public var otherFundReason: String
    /// Amount proposed for a case-by-case measure (the city decides; see ``DecisionInput``).
    public var caseAmount: Money
    /// Document number proposed for a case-by-case measure.
    public var decisionDocument: String
    /// The programme applied under, by name (`foshan-dx-2021`); empty means the 2020 policy, so a
    /// client that predates programmes keeps meaning what it meant.
    public var programme: String
    /// The grade of a recognition (数字化示范工厂: standard or 优秀).
    public var grade: Grade
    /// 年主营业务收入 — the applicant's declared annual main-business revenue, stored with the
    /// application; a revenue-tiered cap takes its tier from it.
    public var declaredRevenue: Money

    /// An application; every field except the measure, year and applicant defaults to empty/zero.
    public init(
        measure: Measure,
        fundingYear: FundingYear,
        enterprise: USCC,
        enterpriseLocality: Locality = .local,
        projectName: String = "",
        contractNumber: String = "",
        contractAmount: Money = .zero,
        paidAmount: Money = .zero,
        provider: USCC? = nil,
        investedAmount: Money = .zero,
        constructionAmount: Money = .zero,
        totalInvestment: Money = .zero,
        upperLevelSubsidy: Money = .zero,
        upperLevelAwardTotal: Money = .zero,
        previousYearServiceSpend: Money = .zero,
        selectionDate: CalendarDate? = nil,
        selectionLevel: SelectionLevel = .none,
        inProvincialPool: Bool = false,
        recognisedSecondaryNode: Bool = false,
        pilotID: String = "",
        servedEnterprises: [USCC] = [],
        provincialVoucherEnterprises: [USCC] = [],
        otherFundDeclared: Bool = false,
        otherFundReason: String = "",
        caseAmount: Money = .zero,
        decisionDocument: String = "",
        programme: String = "",
        grade: Grade = .none,
        declaredRevenue: Money = .zero
    ) {
        self.measure = measure
        self.fundingYear = fundingYear
        self.enterprise = enterprise
        self.enterpriseLocality = enterpriseLocality
        self.projectName = projectName
        self.contractNumber = contractNumber
        self.contractAmount = contractAmount
        self.paidAmount = paidAmount
        self.provider = provider
        self.investedAmount = investedAmount
        self.constructionAmount = constructionAmount
        self.totalInvestment = totalInvestment
        self.upperLevelSubsidy = upperLevelSubsidy
        self.upperLevelAwardTotal = upperLevelAwardTotal
        self.previousYearServiceSpend = previousYearServiceSpend
        self.selectionDate = selectionDate
        self.selectionLevel = selectionLevel
        self.inProvincialPool = inProvincialPool
        self.recognisedSecondaryNode = recognisedSecondaryNode
        self.pilotID = pilotID
        self.servedEnterprises = servedEnterprises
        self.provincialVoucherEnterprises = provincialVoucherEnterprises
        self.otherFundDeclared = otherFundDeclared
        self.otherFundReason = otherFundReason
        self.caseAmount = caseAmount
        self.decisionDocument = decisionDocument
        self.programme = programme
        self.grade = grade
        self.declaredRevenue = declaredRevenue
    }

    /// The key under which “the same implementation content” (同一实施内容) is recognised, so it is
    /// never funded twice — across measures, districts and applicants (RULES.md general rule 2).
    ///
    /// - With a contract number: `contract:` + its ``CanonicalText`` key. Contract numbers are
    ///   city-wide identities on purpose: two applicants (a manufacturer and its platform partner)
    ///   claiming the same contract is exactly the double funding the rule forbids.
    /// - Without one: `project:` + applicant USCC + `:` + the canonical project name. The measure is
    ///   *not* part of the key: the same enterprise's same project may not be funded under two
    ///   measures. The one exception — a pilot's selection award and its follow-on, one project by
    ///   design — is ``Measure/sharesContent(with:)``, applied where funded content is compared.
    ///
    /// Canonical forms make `ＨＴ－２０２２ ００１`, `ht-2022-1。` and `HT\u{200B}-2022-001` one contract
    /// (see ``CanonicalText`` and `Deploy/policy/IDENTITY.md`).
    public var contentFingerprint: String {
        Self.contentFingerprint(contractNumber: contractNumber, projectName: projectName, enterprise: enterprise.rawValue)
    }

    /// ``contentFingerprint`` from the three fields it depends on (for rows stored before it
    /// existed, which need no valid application around them).
    public static func contentFingerprint(contractNumber: String, projectName: String, enterprise: String) -> String {
        let contract = CanonicalText(contractNumber)
        if !contract.isEmpty { return "contract:" + contract.key }
        return projectKey(projectName: projectName, enterprise: enterprise)
    }

    /// `project:<USCC>:<canonical project name>`: the applicant's project, whatever the measure.
    public static func projectKey(projectName: String, enterprise: String) -> String {
        "project:\(enterprise):\(CanonicalText(projectName).key)"
    }

    /// Every key this content is known by, each compared city-wide: the fingerprint, and the
    /// applicant's project as well when a contract number made the fingerprint, so typing a
    /// contract number on a benchmark project does not let the same project be funded again as an
    /// identifier node. (A voucher is its contract: one enterprise may buy several services for
    /// one project, so two vouchers sharing only the project key are not double funding; see
    /// ``isDoubleFunding(with:)``.)
    public var contentKeys: [String] {
        Self.contentKeys(measure: measure, contractNumber: contractNumber, projectName: projectName, enterprise: enterprise.rawValue)
    }

    /// ``contentKeys`` from the fields they depend on.
    public static func contentKeys(measure: Measure, contractNumber: String, projectName: String, enterprise: String) -> [String] {
        let fingerprint = contentFingerprint(contractNumber: contractNumber, projectName: projectName, enterprise: enterprise)
        let project = projectKey(projectName: projectName, enterprise: enterprise)
        return project == fingerprint || CanonicalText(projectName).isEmpty ? [fingerprint] : [fingerprint, project]
    }

    /// The keys to look for funded or pending content under: ``contentKeys``, and the keys the
    /// same typed text had under earlier canonical forms (``CanonicalText/earlierForms(_:)``),
    /// which an award stored then may still hold. Decisions lock and store ``contentKeys`` only.
    public var lookupKeys: [String] { contentKeys + earlierContentKeys }

    /// The keys of the contract number and the project name under earlier forms (see ``lookupKeys``).
    public var earlierContentKeys: [String] {
        CanonicalText.earlierForms(contractNumber).map { "contract:" + $0 } + CanonicalText.earlierForms(projectName).map { "project:\(enterprise):" + $0 }
    }

    /// Whether it names a contract (its content is then that contract, for the measures whose
    /// content is: ``Measure/contentIsItsContract``).
    public var hasContract: Bool { !CanonicalText(contractNumber).isEmpty }

    /// Whether funding this application when `funded` already holds one of its keys would fund
    /// the same content twice (general rule 2). Not when the two are a pilot's selection award and
    /// its follow-on (one project by design), nor when they share only a project name and each
    /// pays for a contract of its own (``isSameContent(_:contract:as:)``).
    public func isDoubleFunding(with funded: FundedContent) -> Bool {
        Self.isDoubleFunding(measure, contract: hasContract, as: funded)
    }

    /// ``isDoubleFunding(with:)`` for an award of `measure` (naming a contract: `contract`).
    public static func isDoubleFunding(_ measure: Measure, contract: Bool, as funded: FundedContent) -> Bool {
        isSameContent(measure, contract: contract, as: funded) && !measure.sharesContent(with: funded.measure)
    }

    /// Whether an award of `measure` (naming a contract: `contract`) and `funded` are for one
    /// content (the public money stacking adds up): not when they share only a project name and
    /// each pays for a contract of its own (``Measure/contentIsItsContract``) — a voucher and a
    /// 上云用云 award on two contracts of one project are two contents, each with its own base. An
    /// award naming no contract (an imported one) is its project's.
    public static func isSameContent(_ measure: Measure, contract: Bool, as funded: FundedContent) -> Bool {
        !(measure.contentIsItsContract && contract && funded.measure.contentIsItsContract && funded.hasContract && funded.key.hasPrefix("project:"))
    }

    /// ``isDoubleFunding(_:contract:as:)`` where only the two measures and the key they share are
    /// known (notices of pending applications, `--check`'s report): two awards paying a share of
    /// a contract are taken to name one each, as every live filing of them must.
    public static func isDoubleFunding(_ measure: Measure, _ other: Measure, sharing key: String) -> Bool {
        isDoubleFunding(measure, contract: true, as: FundedContent(applicationID: "", measure: other, typed: "", key: key, hasContract: true))
    }

    /// What the user typed for the content the fingerprint is keyed on: the contract number if
    /// there is one, else the project name.
    public var contentText: CanonicalText {
        let contract = CanonicalText(contractNumber)
        return contract.isEmpty ? CanonicalText(projectName) : contract
    }

    /// The pilot id in canonical form: once-per-pilot rules and the follow-on's link to its pilot
    /// are keyed on it, so `P-07`, `P-07 ` and `Ｐ－０７` are one pilot.
    public var pilotKey: String { CanonicalText(pilotID).key }
}

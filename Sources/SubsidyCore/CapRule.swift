/// One cap from the policy file (`[measure.<MEASURE>.cap.<name>]`): a limit on the running total of
/// awards under a measure, per subject and per period.
public struct CapRule: Hashable, Sendable {
    /// Whose awards are summed.
    public enum Subject: String, CaseIterable, Hashable, Sendable {
        /// Per applicant (enterprise, lead unit or institution), by USCC.
        case applicant
        /// Per voucher provider, summed over every buyer in every district, by USCC.
        case provider
        /// Per cluster pilot, by pilot id.
        case pilot
        /// One total for the whole city.
        case city
    }

    /// Over what time the total runs.
    public enum Period: String, CaseIterable, Hashable, Sendable {
        /// Per 资金年度.
        case fundingYear = "funding_year"
        /// For the whole life of the policy.
        case policy
    }

    /// `<MEASURE>.<name>`, the ledger's cap id.
    public let id: String
    public let measure: Measure
    public let subject: Subject
    public let period: Period
    public let limit: CapLimit
    /// The cap applies only to applications at these selection levels; `nil` means all. (Lets the
    /// file say whether provincially selected benchmark projects count toward the 30.)
    public let selectionLevels: Set<SelectionLevel>?

    /// One step of a revenue-tiered cap: above `revenueAbove` of declared revenue, the limit is
    /// `limit` (the highest step passed applies).
    public struct RevenueTier: Hashable, Sendable {
        public let revenueAbove: Money
        public let limit: Money

        public init(revenueAbove: Money, limit: Money) {
            self.revenueAbove = revenueAbove
            self.limit = limit
        }
    }

    /// The cap applies only to applications of these grades (`grades`); `nil` means all — so
    /// "once per enterprise per grade" is one count cap per grade.
    public var grades: Set<Grade>?
    /// Revenue tiers (`revenue_tier_above_yuan`, `revenue_tier_limit_yuan`), ascending: the limit
    /// depends on the applicant's declared revenue. Empty: ``limit`` for everyone.
    public var revenueTiers: [RevenueTier] = []

    public init(id: String, measure: Measure, subject: Subject, period: Period, limit: CapLimit, selectionLevels: Set<SelectionLevel>?) {
        self.id = id
        self.measure = measure
        self.subject = subject
        self.period = period
        self.limit = limit
        self.selectionLevels = selectionLevels
    }

    /// Whether the cap applies to `application`.
    public func applies(to application: Application) -> Bool {
        (selectionLevels?.contains(application.selectionLevel) ?? true) && (grades?.contains(application.grade) ?? true)
    }

    /// The limit for `application`: its revenue tier's, or ``limit``; with the tier used, if any
    /// (for the explanation).
    public func limit(for application: Application) -> (limit: CapLimit, tier: String?) {
        guard let tier = revenueTiers.last(where: { application.declaredRevenue > $0.revenueAbove }) else {
            guard let first = revenueTiers.first else { return (limit, nil) }
            return (limit, "declared revenue \(application.declaredRevenue) is not above \(first.revenueAbove): tier \(limit)")
        }
        return (.amount(tier.limit), "declared revenue \(application.declaredRevenue) is above \(tier.revenueAbove): tier \(tier.limit)")
    }

    /// The ledger key for `application` under policy `policyName`, or `nil` if the application
    /// lacks the subject (no provider) — ``Application/validate()`` rules that out.
    public func key(for application: Application, policyName: String) -> CapKey? {
        let period = switch self.period {
        case .fundingYear: application.fundingYear.description
        case .policy: policyName
        }
        let subjectID: String?
        switch subject {
        case .applicant: subjectID = application.enterprise.rawValue
        case .provider: subjectID = application.provider?.rawValue
        case .pilot: subjectID = application.pilotKey.isEmpty ? nil : application.pilotKey
        case .city: return CapKey(capID: id, scope: period)
        }
        return subjectID.map { CapKey(capID: id, scope: period + "/" + $0) }
    }

    /// How the explanation labels this cap.
    public var traceKind: LimitTrace.Kind {
        switch (limit, subject) {
        case (.count, .city): .annualCount
        case (.count, _): .oneTime
        case (.amount, .applicant): .perEnterprise
        case (.amount, .provider): .perProvider
        case (.amount, .pilot): .perProject
        case (.amount, .city): .annualBudget
        }
    }

    /// `per-provider cap 3,000,000.00 yuan for 2022` / `annual count cap 30 awards for 2022`.
    func describe(scope key: CapKey, limit: CapLimit? = nil) -> String {
        let label = traceKind == .oneTime ? "one-time" : traceKind.label
        let periodText = period == .fundingYear ? "for \(key.scope.prefix { $0 != "/" })" : "for the life of the policy"
        var subjectText = ""
        switch subject {
        case .city: break
        case .applicant: subjectText = " (applicant \(key.scope.drop { $0 != "/" }.dropFirst()))"
        case .provider: subjectText = " (provider \(key.scope.drop { $0 != "/" }.dropFirst()))"
        case .pilot: subjectText = " (pilot \(key.scope.drop { $0 != "/" }.dropFirst()))"
        }
        return "\(measure) \(label) cap \(limit ?? self.limit) \(periodText)\(subjectText)"
    }
}

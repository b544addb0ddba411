/// The result of ``AwardCalculator/compute(application:policy:usage:decision:)``: the award, why it
/// is that amount, and exactly what the ledger must commit.
public struct AwardDecision: Hashable, Sendable {
    public let measure: Measure
    public let fundingYear: FundingYear
    /// The applicant (enterprise, lead unit, institution).
    public let enterprise: USCC
    /// ``Application/contentFingerprint``; the ledger stores it with the commitment so the same
    /// content is never funded twice.
    public let contentFingerprint: String
    /// The contract number or project name as typed (``Application/contentText``), stored beside
    /// the canonical fingerprint so a bureau sees both.
    public var contentTyped: String = ""
    /// ``Application/contentKeys``: the ledger records each, so any of them is found again.
    public var contentKeys: [String] = []
    /// ``Application/pilotKey`` for pilot measures, else empty.
    public var pilotKey: String = ""
    /// For a `CLUSTER_PILOT`, the selection date its follow-on's window will run from.
    public var selectionDate: CalendarDate?
    public let decisionDate: CalendarDate
    /// The city's document number, for case-by-case measures.
    public let decisionDocument: String?
    /// The amount awarded: the least headroom of every amount limit.
    public let award: Money
    /// What the formula alone gives (fixed amount, rate × base, or the case amount).
    public let formulaAmount: Money
    /// Every limit and condition applied, in order; exactly one amount limit is ``LimitTrace/binding``.
    public let limits: [LimitTrace]
    /// What to add to each cap's running total on approval; the ledger records exactly these.
    public let charges: [CapCharge]
    /// ``Policy/version`` of the policy the award was computed under.
    public let policyVersion: String
    /// What the formula's rate applied to (a rate measure's base: `min(contract, paid)`, the
    /// amount invested, …), zero for fixed and case-by-case amounts. Kept with the commitment: a
    /// later award stacking on the same content under another programme is measured against the
    /// smallest base declared for it, not only the one its own application declares.
    public var stackingBase: Money = .zero
    /// The upper-level (national, provincial) funds its application declared for the content
    /// (``Application/upperLevelSubsidy``). Kept with the commitment: a later award for the same
    /// content under another programme counts them too, though its own application declares none.
    public var upperLevel: Money = .zero

    public init(
        measure: Measure, fundingYear: FundingYear, enterprise: USCC, contentFingerprint: String,
        decisionDate: CalendarDate, decisionDocument: String?, award: Money, formulaAmount: Money,
        limits: [LimitTrace], charges: [CapCharge], policyVersion: String
    ) {
        self.measure = measure
        self.fundingYear = fundingYear
        self.enterprise = enterprise
        self.contentFingerprint = contentFingerprint
        self.decisionDate = decisionDate
        self.decisionDocument = decisionDocument
        self.award = award
        self.formulaAmount = formulaAmount
        self.limits = limits
        self.charges = charges
        self.policyVersion = policyVersion
    }

    /// The limit that set the award.
    public var binding: LimitTrace? { limits.first(where: \.binding) }
}

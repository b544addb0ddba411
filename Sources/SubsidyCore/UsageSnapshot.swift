/// The city-wide facts an award depends on, as of one moment. The city ledger implements it with
/// SQL inside its write transaction; tests use ``InMemoryUsageSnapshot``.
///
/// “Committed” always means approved + disbursed and not released (RULES.md).
public protocol UsageSnapshot {
    /// The amount and number of live commitments under `key`.
    func committed(_ key: CapKey) throws(SubsidyError) -> CapUsage
    /// Every live commitment — any measure, any district — known by one of `keys`
    /// (``Application/contentKeys``), once per key it shares.
    func fundedContent(_ keys: [String]) throws(SubsidyError) -> [FundedContent]
    /// The live `CLUSTER_PILOT` award of the pilot with this canonical id
    /// (``Application/pilotKey``), if there is one: a follow-on belongs to it.
    func pilotAward(_ pilotKey: String) throws(SubsidyError) -> PilotAward?
    /// Whether `provider` is in the Foshan ecosystem supply resource pool (资源池) on `date`.
    func isPoolMember(_ provider: USCC, on date: CalendarDate) throws(SubsidyError) -> Bool
    /// Those of `enterprises` that hold a live `CLOUD_VOUCHER` commitment decided within
    /// `from...through` (inclusive), for the follow-on rule.
    func voucherRecipients(among enterprises: [USCC], decidedFrom from: CalendarDate, through: CalendarDate) throws(SubsidyError) -> Set<USCC>
    /// Every live award to `enterprise` under one of `measures`, in decision order: a difference
    /// award (差额奖励) subtracts them.
    func earlierAwards(to enterprise: USCC, under measures: Set<Measure>) throws(SubsidyError) -> [EarlierAward]
    /// Whether `provider` is in the product catalogue named `catalogue` on `date`.
    func isCatalogueMember(_ provider: USCC, catalogue: String, on date: CalendarDate) throws(SubsidyError) -> Bool
}

/// A live award that a difference award subtracts, as its explanation names it.
public struct EarlierAward: Hashable, Sendable {
    public var applicationID: String
    public var measure: Measure
    public var amount: Money
    public var decisionDate: CalendarDate?

    public init(applicationID: String, measure: Measure, amount: Money, decisionDate: CalendarDate?) {
        self.applicationID = applicationID
        self.measure = measure
        self.amount = amount
        self.decisionDate = decisionDate
    }
}

/// The programme part of a policy version: `foshan-2020@72d10169266f` → `foshan-2020`.
public func programmeName(ofVersion version: String) -> String {
    String(version.prefix { $0 != "@" })
}

/// A live commitment that holds some content, as duplicate checks report it.
public struct FundedContent: Hashable, Sendable {
    public var applicationID: String
    public var measure: Measure
    /// The contract number or project name as that application typed it.
    public var typed: String
    /// The content key the two share.
    public var key: String
    /// What that award is (stacking adds it to the public money for the content).
    public var amount: Money
    /// The programme it was awarded under (stacking applies across programmes, general rule 2
    /// within one).
    public var programme: String
    /// The base that award's rate applied to (``AwardDecision/stackingBase``); zero when unknown
    /// (a fixed or case-by-case amount, an imported award, one recorded before bases were kept).
    public var base: Money = .zero
    /// The upper-level funds that award's application declared (``AwardDecision/upperLevel``).
    public var upperLevel: Money = .zero
    /// Whether that award names a contract (an imported one may not): only two awards that each
    /// pay for a contract of their own are two contents for sharing a project name
    /// (``Application/isSameContent(_:contract:as:)``).
    public var hasContract: Bool
    /// Whether that award was revoked after payment and its money's recovery is not recorded (a
    /// clawback): it still funds the content, and a refusal says what frees it.
    public var awaitingRecovery: Bool = false

    public init(
        applicationID: String, measure: Measure, typed: String, key: String, amount: Money = .zero, programme: String = "foshan-2020", base: Money = .zero,
        upperLevel: Money = .zero, hasContract: Bool = false, awaitingRecovery: Bool = false
    ) {
        self.awaitingRecovery = awaitingRecovery
        self.base = base
        self.upperLevel = upperLevel
        self.hasContract = hasContract
        self.applicationID = applicationID
        self.measure = measure
        self.typed = typed
        self.key = key
        self.amount = amount
        self.programme = programme
    }
}

/// A pilot's live selection award, with the facts its follow-on is checked against.
public struct PilotAward: Hashable, Sendable {
    public var applicationID: String
    public var enterprise: USCC
    /// The selection date recorded with the award: the follow-on's window runs from it. Nil for
    /// an award recorded without one (an import that predates the field).
    public var selectionDate: CalendarDate?

    public init(applicationID: String, enterprise: USCC, selectionDate: CalendarDate?) {
        self.applicationID = applicationID
        self.enterprise = enterprise
        self.selectionDate = selectionDate
    }
}

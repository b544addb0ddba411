/// The ledger's usage as it would stand after a list of awards that are only planned: a
/// committee's batch is computed in its order, each application as if the ones before it had
/// been approved, and nothing is committed. Every question a ``UsageSnapshot`` answers sees the
/// planned awards: cap totals, funded content (so the same content twice in one batch is caught),
/// pilot awards and voucher recipients.
public struct PlannedUsage<Base: UsageSnapshot>: UsageSnapshot {
    public let base: Base
    private var added: [CapKey: CapUsage] = [:]
    private var content: [String: [FundedContent]] = [:]
    private var pilots: [String: PilotAward] = [:]
    private var vouchers: [InMemoryUsageSnapshot.Voucher] = []
    private var awards: [USCC: [EarlierAward]] = [:]

    public init(_ base: Base) { self.base = base }

    /// Counts `decision` (the award to application `id`) as approved.
    public mutating func add(_ decision: AwardDecision, applicationID id: String) {
        for charge in decision.charges {
            let current = added[charge.key] ?? .none
            // Totals stay far below Int64's range (each award is bounded by maximumAwardFen and
            // a batch by its size); saturate rather than trap all the same.
            added[charge.key] = CapUsage(amount: current.amount.adding(charge.amount) ?? current.amount, count: current.count + charge.count)
        }
        for key in decision.contentKeys {
            content[key, default: []].append(FundedContent(
                applicationID: id, measure: decision.measure, typed: decision.contentTyped, key: key, amount: decision.award,
                programme: programmeName(ofVersion: decision.policyVersion), base: decision.stackingBase, upperLevel: decision.upperLevel,
                hasContract: decision.contentKeys.contains { $0.hasPrefix("contract:") }))
        }
        awards[decision.enterprise, default: []].append(
            EarlierAward(applicationID: id, measure: decision.measure, amount: decision.award, decisionDate: decision.decisionDate))
        if !decision.pilotKey.isEmpty {
            pilots[decision.pilotKey] = PilotAward(applicationID: id, enterprise: decision.enterprise, selectionDate: decision.selectionDate)
        }
        if decision.measure == .cloudVoucher {
            vouchers.append(.init(enterprise: decision.enterprise, decided: decision.decisionDate))
        }
    }

    public func committed(_ key: CapKey) throws(SubsidyError) -> CapUsage {
        let stored = try base.committed(key)
        guard let planned = added[key] else { return stored }
        return CapUsage(amount: stored.amount.adding(planned.amount) ?? stored.amount, count: stored.count + planned.count)
    }

    public func fundedContent(_ keys: [String]) throws(SubsidyError) -> [FundedContent] {
        try base.fundedContent(keys) + keys.flatMap { content[$0] ?? [] }
    }

    public func pilotAward(_ pilotKey: String) throws(SubsidyError) -> PilotAward? {
        try base.pilotAward(pilotKey) ?? pilots[pilotKey]
    }

    public func isPoolMember(_ provider: USCC, on date: CalendarDate) throws(SubsidyError) -> Bool {
        try base.isPoolMember(provider, on: date)
    }

    public func voucherRecipients(among enterprises: [USCC], decidedFrom from: CalendarDate, through: CalendarDate) throws(SubsidyError) -> Set<USCC> {
        let wanted = Set(enterprises)
        let planned = vouchers.lazy.filter { wanted.contains($0.enterprise) && from <= $0.decided && $0.decided <= through }.map(\.enterprise)
        return try base.voucherRecipients(among: enterprises, decidedFrom: from, through: through).union(planned)
    }

    public func earlierAwards(to enterprise: USCC, under measures: Set<Measure>) throws(SubsidyError) -> [EarlierAward] {
        try base.earlierAwards(to: enterprise, under: measures) + (awards[enterprise] ?? []).filter { measures.contains($0.measure) }
    }

    public func isCatalogueMember(_ provider: USCC, catalogue: String, on date: CalendarDate) throws(SubsidyError) -> Bool {
        try base.isCatalogueMember(provider, catalogue: catalogue, on: date)
    }
}

/// `base` with the awards another store holds for the same content added to what it funds: the
/// city ledger's usage, with the districts' own programmes' awards read from their files just
/// before, so a city programme sees content a district programme funded (and a district's, the
/// city's). Everything else is `base`'s.
public struct WithFundedContent<Base: UsageSnapshot>: UsageSnapshot {
    public let base: Base
    public let elsewhere: [FundedContent]

    public init(_ base: Base, elsewhere: [FundedContent]) {
        self.base = base
        self.elsewhere = elsewhere
    }

    public func committed(_ key: CapKey) throws(SubsidyError) -> CapUsage { try base.committed(key) }

    public func fundedContent(_ keys: [String]) throws(SubsidyError) -> [FundedContent] {
        try base.fundedContent(keys) + elsewhere.filter { keys.contains($0.key) }
    }

    public func pilotAward(_ pilotKey: String) throws(SubsidyError) -> PilotAward? { try base.pilotAward(pilotKey) }

    public func isPoolMember(_ provider: USCC, on date: CalendarDate) throws(SubsidyError) -> Bool { try base.isPoolMember(provider, on: date) }

    public func voucherRecipients(among enterprises: [USCC], decidedFrom from: CalendarDate, through: CalendarDate) throws(SubsidyError) -> Set<USCC> {
        try base.voucherRecipients(among: enterprises, decidedFrom: from, through: through)
    }

    public func earlierAwards(to enterprise: USCC, under measures: Set<Measure>) throws(SubsidyError) -> [EarlierAward] {
        try base.earlierAwards(to: enterprise, under: measures)
    }

    public func isCatalogueMember(_ provider: USCC, catalogue: String, on date: CalendarDate) throws(SubsidyError) -> Bool {
        try base.isCatalogueMember(provider, catalogue: catalogue, on: date)
    }
}

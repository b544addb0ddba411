/// A ``UsageSnapshot`` held in memory: for tests, for quotes against a hand-made situation, and as
/// the reference model an invariant checker can replay the ledger into.
public struct InMemoryUsageSnapshot: UsageSnapshot, Sendable {
    /// A committed voucher, for the follow-on rule.
    public struct Voucher: Hashable, Sendable {
        public var enterprise: USCC
        public var decided: CalendarDate

        public init(enterprise: USCC, decided: CalendarDate) {
            self.enterprise = enterprise
            self.decided = decided
        }
    }

    public var usage: [CapKey: CapUsage]
    /// Live commitments by each of their ``Application/contentKeys``.
    public var fundedContent: [String: [FundedContent]]
    /// Live `CLUSTER_PILOT` awards by ``Application/pilotKey``.
    public var pilots: [String: PilotAward] = [:]
    /// Pool members and the first day of their membership.
    public var poolMembers: [USCC: CalendarDate]
    public var vouchers: [Voucher]
    /// Live awards by enterprise, for difference awards.
    public var awards: [USCC: [EarlierAward]] = [:]
    /// Catalogue members by catalogue name, with the first day of membership.
    public var catalogues: [String: [USCC: CalendarDate]] = [:]

    public init(usage: [CapKey: CapUsage] = [:], fundedContent: [String: [FundedContent]] = [:], poolMembers: [USCC: CalendarDate] = [:], vouchers: [Voucher] = []) {
        self.usage = usage
        self.fundedContent = fundedContent
        self.poolMembers = poolMembers
        self.vouchers = vouchers
    }

    public func committed(_ key: CapKey) -> CapUsage { usage[key] ?? .none }

    public func fundedContent(_ keys: [String]) -> [FundedContent] { keys.flatMap { fundedContent[$0] ?? [] } }

    public func pilotAward(_ pilotKey: String) -> PilotAward? { pilots[pilotKey] }

    public func isPoolMember(_ provider: USCC, on date: CalendarDate) -> Bool {
        poolMembers[provider].map { $0 <= date } ?? false
    }

    public func voucherRecipients(among enterprises: [USCC], decidedFrom from: CalendarDate, through: CalendarDate) -> Set<USCC> {
        let wanted = Set(enterprises)
        return Set(vouchers.lazy.filter { wanted.contains($0.enterprise) && from <= $0.decided && $0.decided <= through }.map(\.enterprise))
    }

    public func earlierAwards(to enterprise: USCC, under measures: Set<Measure>) -> [EarlierAward] {
        (awards[enterprise] ?? []).filter { measures.contains($0.measure) }
    }

    public func isCatalogueMember(_ provider: USCC, catalogue: String, on date: CalendarDate) -> Bool {
        catalogues[catalogue]?[provider].map { $0 <= date } ?? false
    }

    /// Adds `amount` and `count` to the total under `key` (seeding a situation); `false` on overflow.
    @discardableResult
    public mutating func add(_ amount: Money, count: Int = 1, to key: CapKey) -> Bool {
        let current = committed(key)
        guard let total = current.amount.adding(amount) else { return false }
        usage[key] = CapUsage(amount: total, count: current.count + count)
        return true
    }

    /// Records `decision` as the ledger would: every charge, the content fingerprint, for a
    /// voucher the recipient and for a pilot its selection. Returns `false` (changing nothing) if a
    /// charge would pass its limit — the same atomic re-check the ledger makes.
    @discardableResult
    public mutating func commit(_ decision: AwardDecision, applicationID: String = "") -> Bool {
        var next = usage
        for charge in decision.charges {
            let current = next[charge.key] ?? .none
            guard let amount = current.amount.adding(charge.amount) else { return false }
            let total = CapUsage(amount: amount, count: current.count + charge.count)
            switch charge.limit {
            case let .amount(limit) where total.amount > limit: return false
            case let .count(limit) where total.count > limit: return false
            default: next[charge.key] = total
            }
        }
        usage = next
        for key in decision.contentKeys {
            fundedContent[key, default: []].append(
                FundedContent(
                    applicationID: applicationID, measure: decision.measure, typed: decision.contentTyped, key: key, amount: decision.award,
                    programme: programmeName(ofVersion: decision.policyVersion), base: decision.stackingBase, upperLevel: decision.upperLevel,
                    hasContract: decision.contentKeys.contains { $0.hasPrefix("contract:") }))
        }
        awards[decision.enterprise, default: []].append(
            EarlierAward(applicationID: applicationID, measure: decision.measure, amount: decision.award, decisionDate: decision.decisionDate))
        if decision.measure == .clusterPilot, let selected = decision.selectionDate, !decision.pilotKey.isEmpty {
            pilots[decision.pilotKey] = PilotAward(applicationID: applicationID, enterprise: decision.enterprise, selectionDate: selected)
        }
        if decision.measure == .cloudVoucher {
            vouchers.append(Voucher(enterprise: decision.enterprise, decided: decision.decisionDate))
        }
        return true
    }
}

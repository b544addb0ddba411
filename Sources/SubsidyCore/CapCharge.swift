/// One entry the city ledger records when an award is approved: add ``amount`` and ``count`` to the
/// total under ``key``. The ledger records exactly these, and re-checks ``limit`` atomically
/// (committed + charge ≤ limit) inside its write transaction, so two districts racing for the
/// last headroom cannot both win.
public struct CapCharge: Hashable, Sendable, CustomStringConvertible {
    public let key: CapKey
    /// The award amount, charged to every cap the award falls under.
    public let amount: Money
    /// Always 1 today: each award counts once under every cap it falls under.
    public let count: Int
    /// The cap's limit, for the ledger's own check.
    public let limit: CapLimit

    public init(key: CapKey, amount: Money, count: Int, limit: CapLimit) {
        self.key = key
        self.amount = amount
        self.count = count
        self.limit = limit
    }

    public var description: String { "\(key) += \(amount) (\(count)) ≤ \(limit)" }
}

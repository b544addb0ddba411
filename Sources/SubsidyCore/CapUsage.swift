/// What is already committed (approved + disbursed, not released) under one ``CapKey``.
public struct CapUsage: Hashable, Sendable {
    /// Sum of committed amounts.
    public var amount: Money
    /// Number of live commitments (awards) — what count caps such as “≤ 40 enterprises a year” and
    /// the one-time rules limit.
    public var count: Int

    public static let none = CapUsage(amount: .zero, count: 0)

    public init(amount: Money, count: Int) {
        self.amount = amount
        self.count = count
    }
}

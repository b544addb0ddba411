/// 资金年度 — the budget year an application is filed under. Annual caps are keyed on it.
///
/// Any four-digit year can be represented (so old records still load); whether a year is open for
/// applications is the policy's decision: see ``Policy/fundingYear(_:)``.
public struct FundingYear: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let year: Int

    /// A year in 1000...9999, or `nil`.
    public init?(_ year: Int) {
        guard (1000...9999).contains(year) else { return nil }
        self.year = year
    }

    public static func < (lhs: FundingYear, rhs: FundingYear) -> Bool { lhs.year < rhs.year }

    public var description: String { String(year) }
}

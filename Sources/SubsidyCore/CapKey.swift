/// Identifies one running total in the city ledger: which cap, and for whom and when.
///
/// Two plain strings so the ledger can store them as two text columns and index on them:
/// - ``capID`` is `<MEASURE>.<cap name>` from the policy file, e.g. `CLOUD_VOUCHER.per_provider`;
/// - ``scope`` is the period, then the subject when the cap is not city-wide:
///   `2022` (city-wide, funding year 2022), `2022/91440604MA4UH8XX3N` (that provider or enterprise
///   in 2022), `foshan-2020/91440604MA4UH8XX3N` (for the life of policy `foshan-2020`),
///   `foshan-2020/<pilot id>` (a pilot, for the life of the policy).
public struct CapKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// `<MEASURE>.<cap name>`, e.g. `CLOUD_VOUCHER.per_enterprise`.
    public let capID: String
    /// `<funding year | policy name>[/<USCC | pilot id>]`.
    public let scope: String

    public init(capID: String, scope: String) {
        self.capID = capID
        self.scope = scope
    }

    public static func < (lhs: CapKey, rhs: CapKey) -> Bool {
        (lhs.capID, lhs.scope) < (rhs.capID, rhs.scope)
    }

    /// `CLOUD_VOUCHER.per_provider[2022/91440604MA4UH8XX3N]`.
    public var description: String { "\(capID)[\(scope)]" }
}

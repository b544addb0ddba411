/// The limit of one cap: an amount (inclusive, 不超过…（含）) or a number of awards (inclusive).
public enum CapLimit: Hashable, Sendable, CustomStringConvertible {
    /// At most this much committed under the key.
    case amount(Money)
    /// At most this many awards committed under the key (`1` makes a one-time rule).
    case count(Int)

    public var description: String {
        switch self {
        case let .amount(money): money.yuanText
        case let .count(count): "\(count) award\(count == 1 ? "" : "s")"
        }
    }
}

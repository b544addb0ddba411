extension SubsidyError {
    /// `RESOURCE_EXHAUSTED` for a cap with too little headroom, with the cap in the details.
    ///
    /// For a count cap (``CapLimit/count(_:)``) the detail's three numbers are counts of awards,
    /// not fen: `limitFen` is the limit, `committedFen` the awards committed, `requestedFen` 1.
    public static func capExhausted(_ message: String, key: CapKey, limit: CapLimit, committed: CapUsage, requested: Money) -> SubsidyError {
        let detail: Detail = switch limit {
        case let .amount(money):
            .capExhausted(capID: key.capID, scope: key.scope, limitFen: money.fen, committedFen: committed.amount.fen, requestedFen: requested.fen)
        case let .count(count):
            .capExhausted(capID: key.capID, scope: key.scope, limitFen: Int64(count), committedFen: Int64(committed.count), requestedFen: 1)
        }
        return SubsidyError(.resourceExhausted, message, details: [detail])
    }
}

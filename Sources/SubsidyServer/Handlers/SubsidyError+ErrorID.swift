import Logging
import SubsidyCore
import SubsidyStore
import Synchronization

extension SubsidyError {
    /// What an INTERNAL error becomes on the wire: `internal error; error id 7f3a…` and nothing
    /// else, because its message may carry SQL, schema or file names. The cause goes to the log
    /// at error level under the same id, so an operator can find it from what a clerk reports.
    /// DATA_LOSS (a stored row this binary cannot read) is redacted the same way.
    /// Other codes pass unchanged: their messages are written for the caller.
    /// A refusal for want of storage (the disk full, its reserve or a district's file limit
    /// reached) is the operator's to act on, not only the caller's: it is logged too
    /// (``StorageRefusalLog``).
    func redactingInternal(logger: Logger) -> SubsidyError {
        if code == .resourceExhausted, let cause {
            if let refusal = cause as? StorageRefusal {
                StorageRefusalLog.shared.note(refusal.limit, refusal.description, logger: logger)
            } else if let full = cause as? SQLiteError, full.isFull {
                StorageRefusalLog.shared.note("disk full", "a write found the disk full: \(full)", logger: logger)
            }
        }
        guard code == .internal || code == .dataLoss else { return self }
        let id = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let padded = String(repeating: "0", count: 16 - id.count) + id
        let cause = cause.map { ": \($0)" } ?? ""
        let label = code == .dataLoss ? "data loss" : "internal error"
        logger.error("\(label); error id \(padded): \(message)\(cause)", metadata: ["error.id": "\(padded)"])
        return code == .dataLoss
            ? SubsidyError(.dataLoss, "stored data is damaged; error id \(padded) (subsidyd --check reports the files)")
            : SubsidyError(.internal, "internal error; error id \(padded)")
    }
}

/// Storage refusals in the log: a warning at the first of each kind, then at most one a minute
/// for it, saying how many more there were. A district filing at its request rate against a
/// full disk would otherwise write a line per call into the journal of that same disk.
final class StorageRefusalLog: Sendable {
    static let shared = StorageRefusalLog(interval: .seconds(60))

    private let interval: Duration
    private let state = Mutex<[String: (last: ContinuousClock.Instant, unlogged: Int)]>([:])

    init(interval: Duration) {
        self.interval = interval
    }

    /// One refusal for want of `kind` (the limit reached, or the disk full), described by `what`.
    func note(_ kind: String, _ what: String, logger: Logger) {
        let now = ContinuousClock.now
        let unlogged: Int? = state.withLock { state in
            if let seen = state[kind], now - seen.last < interval {
                state[kind]!.unlogged += 1
                return nil
            }
            defer { state[kind] = (now, 0) }
            return state[kind]?.unlogged ?? 0
        }
        guard let unlogged else { return }
        let since = unlogged > 0 ? " (\(unlogged) more since the last such line)" : ""
        logger.warning("storage refusal: \(what)\(since)", metadata: ["storage.limit": "\(kind)"])
    }
}

import Logging
import SubsidyCore

extension SubsidyError {
    /// What an INTERNAL error becomes on the wire: `internal error; error id 7f3a…` and nothing
    /// else, because its message may carry SQL, schema or file names. The cause goes to the log
    /// at error level under the same id, so an operator can find it from what a clerk reports.
    /// DATA_LOSS (a stored row this binary cannot read) is redacted the same way.
    /// Other codes pass unchanged: their messages are written for the caller.
    func redactingInternal(logger: Logger) -> SubsidyError {
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

/// A policy file that cannot be used. A process-level failure (the daemon refuses to start), kept
/// apart from the per-request ``SubsidyError``.
///
/// Its description names the policy, the line and the key: `foshan-2020:42:
/// measure.CLOUD_VOUCHER.rate_bp: must be 1–10000 basis points (got 0)`.
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The policy's name as given to ``Policy/load(text:name:)``.
    public let policyName: String
    /// The 1-based line at fault, or `nil` when the problem has no single line (a missing table).
    public let line: Int?
    /// The dotted key or table at fault (`measure.CLOUD_VOUCHER.rate_bp`), or `nil` for syntax
    /// errors before a key was read.
    public let key: String?
    /// What is wrong.
    public let problem: String

    public init(policyName: String, line: Int?, key: String?, problem: String) {
        self.policyName = policyName
        self.line = line
        self.key = key
        self.problem = problem
    }

    public var description: String {
        var text = policyName
        if let line { text += ":\(line)" }
        text += ": "
        if let key { text += "\(key): " }
        return text + problem
    }
}

/// A per-request failure, carried to the caller as a wire status.
///
/// Modelled on grpc-swift's `RPCError`: an extensible ``Code`` using gRPC's canonical numbers, a
/// message for humans that names the field and the rule, and typed details a program can act on.
/// Every domain error becomes one of these in exactly one place, so the wire layer never guesses.
public struct SubsidyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// gRPC canonical status codes (same numbers and meanings).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let ok = Code(rawValue: 0)
        public static let cancelled = Code(rawValue: 1)
        public static let unknown = Code(rawValue: 2)
        public static let invalidArgument = Code(rawValue: 3)
        public static let deadlineExceeded = Code(rawValue: 4)
        public static let notFound = Code(rawValue: 5)
        public static let alreadyExists = Code(rawValue: 6)
        public static let permissionDenied = Code(rawValue: 7)
        public static let resourceExhausted = Code(rawValue: 8)
        public static let failedPrecondition = Code(rawValue: 9)
        public static let aborted = Code(rawValue: 10)
        public static let outOfRange = Code(rawValue: 11)
        public static let unimplemented = Code(rawValue: 12)
        public static let `internal` = Code(rawValue: 13)
        public static let unavailable = Code(rawValue: 14)
        public static let dataLoss = Code(rawValue: 15)
        public static let unauthenticated = Code(rawValue: 16)

        private static let names: [Int32: String] = [
            0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
            5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
            9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
            13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
        ]

        /// The canonical upper-case name, e.g. `RESOURCE_EXHAUSTED`.
        public var description: String { Self.names[rawValue] ?? "CODE_\(rawValue)" }

        /// Whether a call that failed with this code was refused for what it asked (its content,
        /// or the state it asked to change), so it changed nothing: a retry of the same content
        /// gets the same answer. Not so for INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED and
        /// the like, after which the change may or may not have been made.
        public var isRefusal: Bool {
            [Self.invalidArgument, .notFound, .alreadyExists, .permissionDenied, .failedPrecondition, .outOfRange].contains(self)
        }

        /// Parses a canonical name such as `NOT_FOUND`.
        public init?(name: String) {
            guard let entry = Self.names.first(where: { $0.value == name }) else { return nil }
            self.rawValue = entry.key
        }
    }

    /// Structured information that accompanies a status, mirrored by `StatusDetail` on the wire.
    public enum Detail: Hashable, Sendable {
        /// A request field that was wrong, by its proto field path (`application.contract_amount`).
        case field(path: String, problem: String)
        /// A cap that had no (or too little) headroom for the request.
        case capExhausted(capID: String, scope: String, limitFen: Int64, committedFen: Int64, requestedFen: Int64)
        /// A state or rule the request needed but did not find (`state`, `validity_window`, ...).
        case precondition(subject: String, problem: String)
    }

    public var code: Code
    public var message: String
    public var details: [Detail]
    /// The failure underneath (a storage error, say), kept for the server's log and never sent
    /// to the caller; like grpc-swift's `RPCError.cause`. Not part of equality.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, details: [Detail] = [], cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.details = details
        self.cause = cause
    }

    public static func == (lhs: SubsidyError, rhs: SubsidyError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.details == rhs.details
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(details)
    }

    public var description: String { "\(code): \(message)" }

    /// `INVALID_ARGUMENT` naming the field (`path`) and what is wrong with it.
    public static func invalidField(_ path: String, _ problem: String) -> SubsidyError {
        SubsidyError(.invalidArgument, "\(path): \(problem)", details: [.field(path: path, problem: problem)])
    }

    /// Most rows with a problem that one refusal of a file (an import, a batch) names: a
    /// sheet of thousands of rows is corrected in one pass, and the reply stays small.
    public static let rowsReported = 20

    /// The refusals of several rows of one file as one error: INVALID_ARGUMENT when any row's
    /// fields are wrong (a client branching on it must see every such row), else the first's
    /// code; each message on a line of its own, every detail. `more` says rows after the last may
    /// have problems too (the caller stopped at ``rowsReported``).
    public static func rows(_ problems: [SubsidyError], more: Bool) -> SubsidyError {
        Swift.precondition(!problems.isEmpty, "a refusal names at least one row")
        guard problems.count > 1 || more else { return problems[0] }
        let tail = more ? "\n(the first \(problems.count) rows with a problem; there may be more)" : ""
        let code = problems.contains { $0.code == .invalidArgument } ? .invalidArgument : problems[0].code
        return SubsidyError(code, problems.map(\.message).joined(separator: "\n") + tail, details: problems.flatMap(\.details))
    }

    /// `FAILED_PRECONDITION` naming the subject (e.g. `state`) and the rule.
    public static func precondition(_ subject: String, _ problem: String) -> SubsidyError {
        SubsidyError(.failedPrecondition, "\(subject): \(problem)", details: [.precondition(subject: subject, problem: problem)])
    }
}

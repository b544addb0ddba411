import SubsidyCore

/// Idempotency for mutating requests: the first result of each client-chosen request id is kept
/// in the same transaction as the change, so a retry (even after a crash) returns it, and the
/// same id with different content is refused.
///
/// Its table (`requests`) is created by each file's first migration. A tenant's request ids are
/// one namespace although their responses are kept in several files (the city's decisions in the
/// district file of each application, a district's calls in the ledger): every id is also bound to
/// its content in the tenant's *home* log — the ledger's for the city, its own file's for a
/// district — by a ``claim(_:in:)`` committed before (or with) the change, so the same id cannot
/// be applied to other content in another file. A claim is a row with an empty response; the
/// response stays in the file the change was made in.
enum RequestLog {
    /// The stored response for `requestID`, nil if new; ALREADY_EXISTS if reused for other content.
    static func lookup(_ requestID: String, fingerprint: String, in transaction: Transaction) throws -> [UInt8]? {
        guard let row = try transaction.query("SELECT fingerprint, response FROM requests WHERE request_id = ?", [.text(requestID)]).first else {
            return nil
        }
        guard try row.text("fingerprint") == fingerprint else { throw reused(requestID) }
        return try row.blob("response")
    }

    /// The refusal of a request id already used for a different request.
    static func reused(_ requestID: String) -> SubsidyError {
        SubsidyError(
            .alreadyExists,
            "request.request_id: \(Self.asSent(requestID)) was already used for a different request; use a new request id for new content",
            details: [.field(path: "request.request_id", problem: "already used for different content")]
        )
    }

    /// The id as the client sent it: stores keep it scoped by tenant (`nanhai:…`).
    static func asSent(_ stored: String) -> String {
        guard let colon = stored.firstIndex(of: ":"), stored[..<colon].allSatisfy({ $0.isLetter }) else { return stored }
        return String(stored[stored.index(after: colon)...])
    }

    /// Runs `body` once per request id inside one write transaction of `database`: a retry gets
    /// the first response back; the response is stored in the same transaction as the change.
    static func mutate(
        _ database: SQLiteDatabase, _ request: RequestKey, _ body: @escaping @Sendable (Transaction, String) throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await database.write { transaction in try mutate(request, in: transaction, body) }
    }

    /// ``mutate(_:_:_:)`` inside a write the caller holds, for several requests in one transaction
    /// (each in its own ``Transaction/attempt(_:)``).
    static func mutate(_ request: RequestKey, in transaction: Transaction, _ body: (Transaction, String) throws -> [UInt8]) throws -> [UInt8] {
        if let earlier = try lookup(request.id, fingerprint: request.fingerprint, in: transaction) { return earlier }
        let now = Timestamp.now()
        let response = try body(transaction, now)
        try record(request.id, fingerprint: request.fingerprint, response: response, at: now, in: transaction)
        return response
    }

    /// Binds `request`'s id to its content in this (home) log: nothing if it is already bound to
    /// the same content, ALREADY_EXISTS if to other content (in any file of the tenant). True if
    /// this call made the binding: only such a claim may be freed (``releaseClaim(_:in:)``), as an
    /// earlier one may stand for a change already made.
    @discardableResult
    static func claim(_ request: RequestKey, in transaction: Transaction) throws -> Bool {
        guard try lookup(request.id, fingerprint: request.fingerprint, in: transaction) == nil else { return false }
        try bind(request, in: transaction)
        return true
    }

    /// The claim's row, for a caller that has just looked the id up and found it unbound.
    static func bind(_ request: RequestKey, in transaction: Transaction) throws {
        try record(request.id, fingerprint: request.fingerprint, response: [], at: Timestamp.now(), in: transaction)
    }

    /// Frees a claim whose change was refused before it wrote anything, so the client may send
    /// corrected content under the same id, as it may for a refusal in one file. Only the claim
    /// itself (same content, no response) is removed.
    static func releaseClaim(_ request: RequestKey, in transaction: Transaction) throws {
        try transaction.query(
            "DELETE FROM requests WHERE request_id = ? AND fingerprint = ? AND length(response) = 0", [.text(request.id), .text(request.fingerprint)])
    }

    static func record(_ requestID: String, fingerprint: String, response: [UInt8], at time: String, in transaction: Transaction) throws {
        try transaction.query(
            "INSERT INTO requests (request_id, fingerprint, response, at) VALUES (?, ?, ?, ?)",
            [.text(requestID), .text(fingerprint), .blob(response), .text(time)]
        )
    }
}

/// Who made a change: the tenant and the peer's uid from SO_PEERCRED.
public struct Actor: Sendable, Hashable {
    public var tenant: String
    public var uid: UInt32
    public init(tenant: String, uid: UInt32) {
        self.tenant = tenant
        self.uid = uid
    }
}

/// A mutating request's identity for idempotency.
public struct RequestKey: Sendable, Hashable {
    public var id: String
    /// SHA-256 (hex) of the method and the request's content, so a retry matches exactly.
    public var fingerprint: String
    public init(id: String, fingerprint: String) {
        self.id = id
        self.fingerprint = fingerprint
    }
}

import SubsidyCore

/// The hash-chained audit log kept in every file: `h_i = SHA-256(h_{i-1} ‖ event_i)`, appended
/// in the same transaction as the change it records.
///
/// `audit_head` holds the last sequence number and hash, written with every append, so deleting
/// rows at the end of the chain is detected as well as edits, deletions and reordering inside it.
///
/// Its tables (`audit`, `audit_head`) are created by each file's first migration, spelled out
/// there literally so that a migration never changes after release.
public enum AuditChain {
    /// The hash before the first event.
    static let genesis = String(repeating: "0", count: 64)

    static func hash(previous: String, event: String) -> String {
        HexDigest.sha256(Array(previous.utf8) + Array(event.utf8))
    }

    /// Appends `event`, encoded as one line of JSON (``AuditEvent/encoded``).
    static func append(_ event: AuditEvent, at time: String, in transaction: Transaction) throws {
        try append(encoded: event.encoded, at: time, in: transaction)
    }

    private static func append(encoded event: String, at time: String, in transaction: Transaction) throws {
        let head = try transaction.query("SELECT seq, hash FROM audit_head WHERE id = 1")
        guard let row = head.first else { throw SQLiteError(code: 0, message: "audit_head is missing") }
        let seq = try row.int("seq") + 1
        let previous = try row.text("hash")
        let hash = hash(previous: previous, event: event)
        try transaction.query(
            "INSERT INTO audit (seq, at, event, prev_hash, hash) VALUES (?, ?, ?, ?, ?)",
            [.integer(seq), .text(time), .text(event), .text(previous), .text(hash)]
        )
        try transaction.query("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", [.integer(seq), .text(hash)])
    }

    /// The result of checking one file's chain.
    public struct Report: Sendable, Equatable {
        public var file: String
        public var rows: Int64
        /// The first row (by sequence number) that does not verify, or nil if all do.
        public var firstBadRow: Int64?
        public var problem: String
        public var ok: Bool { firstBadRow == nil }
    }

    /// Recomputes every hash in order.
    public static func verify(_ database: SQLiteDatabase, file: String) async throws -> Report {
        try await database.read { try verify(in: $0, file: file) }
    }

    /// Rows read at a time by ``verify(in:file:)``.
    static let verifyPage = 10_000

    /// ``verify(_:file:)`` inside the caller's read transaction. In pages, inside the one
    /// snapshot: a ledger at a million awards has millions of rows, and a VerifyAudit or a
    /// `--check` must not hold them all at once.
    static func verify(in transaction: Transaction, file: String, pageSize: Int = verifyPage) throws -> Report {
        let total = try transaction.query("SELECT COUNT(*) AS n FROM audit").first?.int("n") ?? 0
        func broken(_ row: Int64, _ problem: String) -> Report { Report(file: file, rows: total, firstBadRow: row, problem: problem) }
        var previous = genesis
        var expectedSeq: Int64 = 1
        while true {
            let page = try transaction.query(
                "SELECT seq, event, prev_hash, hash FROM audit WHERE seq >= ? ORDER BY seq LIMIT ?", [.integer(expectedSeq), .integer(Int64(pageSize))])
            if page.isEmpty { break }
            for row in page {
                let seq = try row.int("seq")
                if seq != expectedSeq { return broken(expectedSeq, "row \(expectedSeq) is missing (next is \(seq))") }
                if try row.text("prev_hash") != previous {
                    return broken(seq, "row \(seq) does not follow row \(seq - 1) (rows deleted or reordered)")
                }
                let expected = hash(previous: previous, event: try row.text("event"))
                if try row.text("hash") != expected { return broken(seq, "row \(seq) was altered: its hash does not match its content") }
                previous = expected
                expectedSeq += 1
            }
        }
        guard let head = try transaction.query("SELECT seq, hash FROM audit_head WHERE id = 1").first else {
            return broken(expectedSeq, "the chain's head row is missing (rows may have been deleted at the end)")
        }
        let headSeq = try head.int("seq")
        let headHash = try head.text("hash")
        if headSeq != expectedSeq - 1 || headHash != previous {
            return broken(expectedSeq, "the chain ends at row \(expectedSeq - 1) but the head says \(headSeq) (rows deleted at the end)")
        }
        return Report(file: file, rows: total, firstBadRow: nil, problem: "")
    }
}

extension DistrictStore {
    /// The ledger position this district last saw complete a ledger-first step, or nil if none has.
    public func seenLedgerPosition() async throws -> LedgerPosition? {
        try await database.read { transaction in
            try transaction.query("SELECT ledger_identity, ledger_seq, ledger_hash FROM ledger_seen WHERE id = 1").first.map {
                LedgerPosition(identity: try $0.text("ledger_identity"), sequence: try $0.int("ledger_seq"), hash: try $0.text("ledger_hash"))
            }
        }
    }

    /// Records `position` as seen, inside the district step of a ledger-first change. Only a
    /// later position of the same ledger replaces the record: a step never moves it backwards,
    /// and a different ledger is accepted only by ``acceptLedgerPosition(_:at:in:)``.
    func recordLedgerPosition(_ position: LedgerPosition, at time: String, in transaction: Transaction) throws {
        try transaction.query(
            """
            INSERT INTO ledger_seen (id, ledger_identity, ledger_seq, ledger_hash, updated_at) VALUES (1, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET ledger_seq = excluded.ledger_seq, ledger_hash = excluded.ledger_hash,
                updated_at = excluded.updated_at
            WHERE excluded.ledger_identity = ledger_seen.ledger_identity AND excluded.ledger_seq > ledger_seen.ledger_seq
            """,
            [.text(position.identity), .integer(position.sequence), .text(position.hash), .text(time)]
        )
    }

    /// The operator's "I restored the ledger deliberately": records `position` whatever was
    /// recorded before, and says so in this district's audit chain.
    func acceptLedgerPosition(_ position: LedgerPosition, by actor: Actor, at time: String) async throws {
        try await database.write { transaction in
            let previous = try transaction.query("SELECT ledger_identity, ledger_seq, ledger_hash FROM ledger_seen WHERE id = 1").first
            try transaction.query(
                """
                INSERT INTO ledger_seen (id, ledger_identity, ledger_seq, ledger_hash, updated_at) VALUES (1, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET ledger_identity = excluded.ledger_identity, ledger_seq = excluded.ledger_seq,
                    ledger_hash = excluded.ledger_hash, updated_at = excluded.updated_at
                """,
                [.text(position.identity), .integer(position.sequence), .text(position.hash), .text(time)]
            )
            let before = try previous.map { "\(try $0.text("ledger_identity"))@\(try $0.int("ledger_seq"))/\(try $0.text("ledger_hash"))" } ?? "none"
            try AuditChain.append(
                AuditEvent("accept-ledger", [
                    .text("ledger", "\(position.identity)@\(position.sequence)/\(position.hash)"), .text("previous", before),
                ] + AuditEvent.Field.actor(actor)),
                at: time, in: transaction
            )
        }
    }

    /// This file's audit head: its last row's sequence and hash (0 and the genesis hash if none).
    func auditHead() async throws -> (sequence: Int64, hash: String) {
        try await database.read { transaction in
            guard let head = try transaction.query("SELECT seq, hash FROM audit_head WHERE id = 1").first else {
                throw SQLiteError(code: 0, message: "\(self.database.path): audit_head is missing")
            }
            return (try head.int("seq"), try head.text("hash"))
        }
    }

    /// The hash of this file's audit row `sequence` (the genesis hash at 0), or nil if there is none.
    func auditHash(at sequence: Int64) async throws -> String? {
        guard sequence > 0 else { return AuditChain.genesis }
        return try await database.read { transaction in
            try transaction.query("SELECT hash FROM audit WHERE seq = ?", [.integer(sequence)]).first?.text("hash")
        }
    }
}

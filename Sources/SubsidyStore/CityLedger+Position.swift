import SubsidyCore

extension CityLedger {
    /// The ledger's identity and audit head, read inside `transaction`.
    func position(in transaction: Transaction) throws -> LedgerPosition {
        guard let identity = try transaction.query("SELECT identity FROM ledger_identity WHERE id = 1").first else {
            throw SQLiteError(code: 0, message: "\(database.path): ledger_identity is missing")
        }
        guard let head = try transaction.query("SELECT seq, hash FROM audit_head WHERE id = 1").first else {
            throw SQLiteError(code: 0, message: "\(database.path): audit_head is missing")
        }
        return LedgerPosition(identity: try identity.text("identity"), sequence: try head.int("seq"), hash: try head.text("hash"))
    }

    /// The ledger's current position.
    public func position() async throws -> LedgerPosition {
        try await database.read { try self.position(in: $0) }
    }

    /// The audit chain's hash at `sequence` (the genesis hash at 0), or nil if the row is gone.
    public func auditHash(at sequence: Int64) async throws -> String? {
        guard sequence > 0 else { return AuditChain.genesis }
        return try await database.read { transaction in
            try transaction.query("SELECT hash FROM audit WHERE seq = ?", [.integer(sequence)]).first?.text("hash")
        }
    }

    /// Each district's audit head as last recorded (``recordDistrictHeads(_:accepting:at:)``).
    public func districtHeads() async throws -> [String: (sequence: Int64, hash: String)] {
        try await database.read { transaction in
            var heads: [String: (sequence: Int64, hash: String)] = [:]
            for row in try transaction.query("SELECT district, seq, hash FROM district_heads") {
                heads[try row.text("district")] = (try row.int("seq"), try row.text("hash"))
            }
            return heads
        }
    }

    /// Records each district file's audit head. A chain only grows, so a record only moves
    /// forward — unless `accepting` (the operator's acceptance of the files as they are).
    /// `accepted`: districts whose file lacks what was recorded of it, accepted as they are by
    /// `actor` — each recorded in the ledger's audit chain with the head it lost and the one kept.
    func recordDistrictHeads(
        _ heads: [(district: DistrictID, sequence: Int64, hash: String)], accepting: Bool, at time: String,
        accepted: [DistrictID: (sequence: Int64, hash: String)] = [:], by actor: Actor? = nil
    ) async throws {
        try await database.write { transaction in
            for head in heads {
                guard let lost = accepted[head.district] else { continue }
                try AuditChain.append(
                    AuditEvent("accept-district-head", [
                        .text("district", head.district.rawValue), .integer("recorded_seq", lost.sequence), .text("recorded_hash", lost.hash),
                        .integer("seq", head.sequence), .text("hash", head.hash),
                    ] + (actor.map(AuditEvent.Field.actor) ?? [])),
                    at: time, in: transaction
                )
            }
            for head in heads {
                try transaction.query(
                    """
                    INSERT INTO district_heads (district, seq, hash, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (district) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, updated_at = excluded.updated_at
                    WHERE ? OR excluded.seq > district_heads.seq
                    """,
                    [.text(head.district.rawValue), .integer(head.sequence), .text(head.hash), .text(time), .integer(accepting ? 1 : 0)])
            }
        }
    }
}

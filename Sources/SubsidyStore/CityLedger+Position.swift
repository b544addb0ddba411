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
}

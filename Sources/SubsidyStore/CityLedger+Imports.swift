import SubsidyCore

/// Awards imported by ImportHistory: the id each row is kept under, and taking one back. An
/// imported award lives in the ledger only (no district holds it), so these read and change the
/// commitment itself.
extension CityLedger {
    /// The prefix of every imported award's id.
    public static let importPrefix = "import-"

    /// An imported award as the ledger holds it.
    public struct ImportedAward: Sendable, Equatable {
        public var applicationID: String
        public var district: String
        public var measure: String
        public var fundingYear: Int
        public var enterprise: String
        public var provider: String
        public var pilotID: String
        /// ``Application/contentFingerprint``: `contract:…` or `project:…`.
        public var contentFingerprint: String
        /// The contract number or project name as the import typed it.
        public var contentTyped: String
        public var amountFen: Int64
        public var decisionDate: String
        public var decisionDocument: String
        public var state: CommitmentState
        public var createdAt: String
        public var updatedAt: String
        public var releaseReason: String
        /// Who revoked it (empty tenant while it stands).
        public var releaseActor: Actor
        /// The programme version it was imported under (``programmeName(ofVersion:)``).
        public var policyVersion: String
    }

    /// The award imported as `id`, if there is one (`GetApplication` of an `import-…` id).
    public func importedAward(_ id: String) async throws -> ImportedAward? {
        try await database.lookup { [self] in try importedAward(id, in: $0) }
    }

    /// The award imported as `id`, if there is one.
    func importedAward(_ id: String, in transaction: Transaction) throws -> ImportedAward? {
        try transaction.query(
            """
            SELECT application_id, district, measure, funding_year, enterprise, provider, pilot_id, content_fingerprint, content_typed,
                   amount_fen, decision_date, decision_document, state, created_at, updated_at, release_reason,
                   release_actor_tenant, release_actor_uid, policy_version
            FROM commitments WHERE application_id = ? AND source = 'import'
            """,
            [.text(id)]
        ).first.map { row in
            ImportedAward(
                applicationID: try row.text("application_id"), district: try row.text("district"), measure: try row.text("measure"),
                fundingYear: Int(try row.int("funding_year")), enterprise: try row.text("enterprise"), provider: try row.text("provider"),
                pilotID: try row.text("pilot_id"), contentFingerprint: try row.text("content_fingerprint"),
                contentTyped: try row.text("content_typed"), amountFen: try row.int("amount_fen"), decisionDate: try row.text("decision_date"),
                decisionDocument: try row.text("decision_document"), state: try row.decode(CommitmentState.self, "state"),
                createdAt: try row.text("created_at"), updatedAt: try row.text("updated_at"), releaseReason: try row.text("release_reason"),
                releaseActor: Actor(tenant: try row.text("release_actor_tenant"), uid: UInt32(truncatingIfNeeded: try row.int("release_actor_uid"))),
                policyVersion: try row.text("policy_version"))
        }
    }

    /// Where an imported row goes (``importID(of:alongside:in:)``).
    enum ImportPlace {
        /// Its id, with the award the ledger already holds there (the same award) or nil (new).
        case id(String, stored: ImportedAward?)
        /// Its content-derived id holds an award of other content, and the request does not
        /// carry that award's row: a correction of it, or another award the caller must import
        /// beside it.
        case conflicting(ImportedAward)
    }

    /// Gives an imported award the base its rate applied to (`base_fen`), when it was imported
    /// without one, recorded as an `import-base` event; a base already recorded is not changed
    /// (FAILED_PRECONDITION on `request.awards[i].base_fen` if another is given). The row is
    /// otherwise the award as imported, so re-importing it with its base is how one is added.
    /// - Parameter fits: throws when the base cannot be recorded: the awards already made on the
    ///   content would lie beyond the limits it sets (called only when the base is new).
    func addImportBase(
        _ id: String, base: Money, row i: Int, actor: Actor, at time: String, in transaction: Transaction, fits: () throws -> Void
    ) throws {
        guard let stored = try transaction.query("SELECT stacking_base_fen FROM commitments WHERE application_id = ?", [.text(id)]).first?.int("stacking_base_fen") else { return }
        if stored > 0 {
            guard stored == base.fen else {
                throw SubsidyError.precondition(
                    "request.awards[\(i)].base_fen",
                    "\(id) was imported with the base \(Money(fen: stored)); a base once recorded is not changed (revoke the row and import it corrected)")
            }
            return
        }
        try fits()
        try transaction.query("UPDATE commitments SET stacking_base_fen = ? WHERE application_id = ?", [.integer(base.fen), .text(id)])
        try AuditChain.append(
            AuditEvent("import-base", [.text("application_id", id), .integer("base_fen", base.fen)] + AuditEvent.Field.actor(actor)), at: time, in: transaction)
    }

    /// The id an imported row is kept under. It is the row's content-derived id
    /// (`fields.applicationID`), unless that id holds an award of other content: two awards of one
    /// decision that differ only in their project, which the identity leaves out (an id must not
    /// change once issued). Such a second award has an id derived from both, and a re-import finds
    /// it there. A new one is given that id only when it cannot be a correction counted beside
    /// the award it corrects: the first award was revoked, or the request also carries the first
    /// award's row (`alongside`: the content fingerprints of the request's rows with this
    /// content-derived id). A row with neither contract nor project is its decision: any award
    /// under its id is the same one.
    ///
    /// A row imported before the canonical form last changed was given the id its texts had then
    /// (``CommitmentFields/earlierApplicationID``): found there, it is that award.
    func importID(of fields: CommitmentFields, alongside: Set<String>, in transaction: Transaction) throws -> ImportPlace {
        if let earlier = fields.earlierApplicationID, let award = try importedAward(earlier, in: transaction) {
            return .id(earlier, stored: award)
        }
        let first = try importedAward(fields.applicationID, in: transaction)
        guard let first, fields.namesItsContent, first.contentFingerprint != fields.contentFingerprint else {
            return .id(fields.applicationID, stored: first)
        }
        let second = Self.importPrefix
            + String(HexDigest.sha256(Array((fields.applicationID + "\u{1f}" + fields.contentFingerprint).utf8)).prefix(20))
        if let stored = try importedAward(second, in: transaction) { return .id(second, stored: stored) }
        guard !first.state.isInForce || alongside.contains(first.contentFingerprint) else { return .conflicting(first) }
        return .id(second, stored: nil)
    }

    /// Takes back the award imported as `id`: released, so it no longer counts against its caps
    /// and its content may be funded again. The decision's date and document, when given, go
    /// into the audit chain beside who did it and why. Returns the award as it now stands.
    func revokeImport(
        _ id: String, on date: CalendarDate?, document: String, requestID: String, actor: Actor, reason: String,
        at time: String, in transaction: Transaction
    ) throws -> ImportedAward {
        guard let award = try importedAward(id, in: transaction) else {
            throw SubsidyError(.notFound, "imported award \(id) does not exist")
        }
        guard award.state.isInForce else {
            throw SubsidyError.precondition(
                "commitment", "imported award \(id) was already revoked at \(award.updatedAt) (\(award.releaseReason))")
        }
        if let date, let decided = try? CalendarDate(parsing: award.decisionDate), date < decided {
            throw SubsidyError.invalidField("request.decision_date", "revocation on \(date) is before the imported decision of \(id) on \(decided)")
        }
        var note: [AuditEvent.Field] = []
        if let date { note.append(.text("decision_date", date.description)) }
        if !document.isEmpty { note.append(.text("decision_document", document)) }
        try release(applicationID: id, targetState: .revoked, requestID: requestID, actor: actor, reason: reason, note: note, at: time, in: transaction)
        guard let revoked = try importedAward(id, in: transaction) else { throw SubsidyError(.internal, "imported award \(id) vanished while revoked") }
        return revoked
    }
}

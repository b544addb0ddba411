import SubsidyCore

/// The city ledger: the authority for every city-wide cap. An approval records a commitment here
/// first (keyed by application, so a retry finds it) and only then marks the application approved
/// in its district; a release goes the same way. Recovery reconciles the districts with it.
public final class CityLedger: Sendable {
    public let database: SQLiteDatabase

    static let migrations = [
        SQLiteDatabase.Migration(
            version: 1,
            sql: """
                CREATE TABLE commitments (
                    application_id TEXT PRIMARY KEY,
                    district TEXT NOT NULL,
                    measure TEXT NOT NULL,
                    funding_year INTEGER NOT NULL,
                    enterprise TEXT NOT NULL,
                    provider TEXT NOT NULL DEFAULT '',
                    pilot_id TEXT NOT NULL DEFAULT '',
                    content_fingerprint TEXT NOT NULL,
                    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
                    decision_date TEXT NOT NULL,
                    decision_document TEXT NOT NULL DEFAULT '',
                    policy_version TEXT NOT NULL,
                    explanation BLOB NOT NULL DEFAULT x'',
                    state TEXT NOT NULL CHECK (state IN ('live', 'disbursed', 'released', 'clawback')),
                    source TEXT NOT NULL CHECK (source IN ('decision', 'import')),
                    request_id TEXT NOT NULL,
                    release_state TEXT NOT NULL DEFAULT '',
                    release_request_id TEXT NOT NULL DEFAULT '',
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE INDEX commitments_fingerprint ON commitments (content_fingerprint);
                CREATE INDEX commitments_district ON commitments (district);
                CREATE INDEX commitments_voucher ON commitments (measure, enterprise, decision_date);
                CREATE TABLE charges (
                    application_id TEXT NOT NULL REFERENCES commitments (application_id),
                    cap_id TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    amount_fen INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    PRIMARY KEY (application_id, cap_id, scope)
                );
                CREATE INDEX charges_cap ON charges (cap_id, scope);
                CREATE TABLE pool_members (
                    uscc TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    entry_date TEXT NOT NULL,
                    provincial INTEGER NOT NULL,
                    source TEXT NOT NULL
                );
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    application_id TEXT NOT NULL,
                    district TEXT NOT NULL,
                    state TEXT NOT NULL,
                    amount_fen INTEGER NOT NULL,
                    at TEXT NOT NULL
                );
                \(RequestLog.schema)
                \(AuditChain.schema)
                """
        ),
        // Who decided and why, so recovery can record the decision as its author's, not its own.
        SQLiteDatabase.Migration(
            version: 2,
            sql: """
                ALTER TABLE commitments ADD COLUMN actor_tenant TEXT NOT NULL DEFAULT '';
                ALTER TABLE commitments ADD COLUMN actor_uid INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE commitments ADD COLUMN reason TEXT NOT NULL DEFAULT '';
                ALTER TABLE commitments ADD COLUMN release_actor_tenant TEXT NOT NULL DEFAULT '';
                ALTER TABLE commitments ADD COLUMN release_actor_uid INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE commitments ADD COLUMN release_reason TEXT NOT NULL DEFAULT '';
                """
        ),
        // The city-wide applicant index: an enterprise is registered by one district, its
        // registered seat, so no other district can file for it under another locality or role.
        SQLiteDatabase.Migration(
            version: 3,
            sql: """
                CREATE TABLE applicants (
                    uscc TEXT PRIMARY KEY,
                    district TEXT NOT NULL,
                    name TEXT NOT NULL,
                    locality TEXT NOT NULL,
                    role TEXT NOT NULL,
                    created_at TEXT NOT NULL
                );
                """
        ),
        // A random identity, generated once, that every district records with the ledger
        // position it last saw: a different ledger file put in place is then recognised even if
        // its audit chain happens to be as long. (Version 4 is reserved for a parallel change.)
        SQLiteDatabase.Migration(
            version: 5,
            sql: """
                CREATE TABLE ledger_identity (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    identity TEXT NOT NULL,
                    created_at TEXT NOT NULL
                );
                INSERT INTO ledger_identity (id, identity, created_at)
                VALUES (1, lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
                """
        ),
    ]

    public init(path: String) throws {
        database = try SQLiteDatabase(path: path, migrations: Self.migrations)
    }

    /// Commitment states that count against caps: approved (reserved) and disbursed.
    static let counted = "('live', 'disbursed')"

    /// A commitment as the ledger records it.
    public struct Commitment: Sendable, Equatable {
        public var applicationID: String
        public var district: String
        public var measure: String
        public var fundingYear: Int
        public var enterprise: String
        public var amountFen: Int64
        public var decisionDate: String
        public var decisionDocument: String
        public var policyVersion: String
        public var explanation: [UInt8]
        /// live, disbursed, released or clawback.
        public var state: String
        public var requestID: String
        /// For released/clawback: the application state the release moves it to.
        public var releaseState: String
        /// The request id of the last ledger-first change after approval (disbursement or
        /// release), so recovery records it and a retry of that request is recognised.
        public var releaseRequestID: String
        /// Who approved, and why.
        public var actor: Actor
        public var reason: String
        /// Who made the last ledger-first change after approval, and why.
        public var releaseActor: Actor
        public var releaseReason: String
    }

    // MARK: Usage, as the policy engine sees it

    /// The ledger's current usage, read inside the caller's transaction so a decision and its
    /// commitment see the same state.
    struct Usage: UsageSnapshot {
        let connection: SQLiteConnection

        func committed(_ key: CapKey) throws(SubsidyError) -> CapUsage {
            let row = try wrap {
                try connection.query(
                    """
                    SELECT COALESCE(SUM(c.amount_fen), 0), COALESCE(SUM(c.count), 0) FROM charges c
                    JOIN commitments m ON m.application_id = c.application_id
                    WHERE c.cap_id = ? AND c.scope = ? AND m.state IN \(CityLedger.counted)
                    """,
                    [.text(key.capID), .text(key.scope)]
                ).first
            }
            return CapUsage(amount: Money(fen: row?.int(0) ?? 0), count: Int(row?.int(1) ?? 0))
        }

        func hasFunded(content fingerprint: String) throws(SubsidyError) -> Bool {
            try wrap {
                try !connection.query(
                    "SELECT 1 FROM commitments WHERE content_fingerprint = ? AND state IN \(CityLedger.counted) LIMIT 1", [.text(fingerprint)]
                ).isEmpty
            }
        }

        func isPoolMember(_ provider: USCC, on date: CalendarDate) throws(SubsidyError) -> Bool {
            try wrap {
                try !connection.query(
                    "SELECT 1 FROM pool_members WHERE uscc = ? AND entry_date <= ?", [.text(provider.rawValue), .text(date.description)]
                ).isEmpty
            }
        }

        func voucherRecipients(among enterprises: [USCC], decidedFrom from: CalendarDate, through: CalendarDate) throws(SubsidyError) -> Set<USCC> {
            guard !enterprises.isEmpty else { return [] }
            let wanted = Set(enterprises.map(\.rawValue))
            let rows = try wrap {
                try connection.query(
                    """
                    SELECT DISTINCT enterprise FROM commitments
                    WHERE measure = 'CLOUD_VOUCHER' AND state IN \(CityLedger.counted) AND decision_date BETWEEN ? AND ?
                    """,
                    [.text(from.description), .text(through.description)]
                )
            }
            return Set(enterprises.filter { wanted.contains($0.rawValue) && rows.contains([.text($0.rawValue)]) })
        }

        private func wrap<T>(_ body: () throws -> T) throws(SubsidyError) -> T {
            do { return try body() } catch { throw SubsidyError(.internal, "ledger read failed: \(error)") }
        }
    }

    /// Runs the policy engine against the ledger inside `transaction`.
    public func usage(in transaction: Transaction) -> some UsageSnapshot {
        Usage(connection: transaction.connection)
    }

    // MARK: Commitments

    public func commitment(for applicationID: String, in transaction: Transaction) throws -> Commitment? {
        try transaction.query(
            """
            SELECT application_id, district, measure, funding_year, enterprise, amount_fen, decision_date, decision_document,
                   policy_version, explanation, state, request_id, release_state, release_request_id,
                   actor_tenant, actor_uid, reason, release_actor_tenant, release_actor_uid, release_reason
            FROM commitments WHERE application_id = ?
            """,
            [.text(applicationID)]
        ).first.map(Self.commitment(row:))
    }

    public func commitments(district: String) throws -> [Commitment] {
        try database.read { transaction in
            try transaction.query(
                """
                SELECT application_id, district, measure, funding_year, enterprise, amount_fen, decision_date, decision_document,
                       policy_version, explanation, state, request_id, release_state, release_request_id,
                       actor_tenant, actor_uid, reason, release_actor_tenant, release_actor_uid, release_reason
                FROM commitments WHERE district = ? AND source = 'decision' ORDER BY application_id
                """,
                [.text(district)]
            ).map(Self.commitment(row:))
        }
    }

    private static func commitment(row: [SQLiteValue]) -> Commitment {
        Commitment(
            applicationID: row.text(0), district: row.text(1), measure: row.text(2), fundingYear: Int(row.int(3)),
            enterprise: row.text(4), amountFen: row.int(5), decisionDate: row.text(6), decisionDocument: row.text(7),
            policyVersion: row.text(8), explanation: row.blob(9), state: row.text(10), requestID: row.text(11),
            releaseState: row.text(12), releaseRequestID: row.text(13),
            actor: Actor(tenant: row.text(14), uid: UInt32(truncatingIfNeeded: row.int(15))), reason: row.text(16),
            releaseActor: Actor(tenant: row.text(17), uid: UInt32(truncatingIfNeeded: row.int(18))), releaseReason: row.text(19)
        )
    }

    /// Records a decision's commitment and every cap charge, re-checking each cap inside the same
    /// transaction (the policy engine already did; this is the ledger's own guarantee).
    public func commit(
        applicationID: String, district: String, application: Application, decision: AwardDecision,
        explanation: [UInt8], requestID: String, actor: Actor, reason: String, at time: String, in transaction: Transaction
    ) throws {
        try insertCommitment(
            CommitmentFields(
                applicationID: applicationID, district: district, measure: decision.measure, fundingYear: decision.fundingYear.year,
                enterprise: decision.enterprise.rawValue, provider: application.provider?.rawValue ?? "", pilotID: application.pilotID,
                contentFingerprint: decision.contentFingerprint, amount: decision.award, decisionDate: decision.decisionDate,
                decisionDocument: decision.decisionDocument ?? "", policyVersion: decision.policyVersion, explanation: explanation,
                source: "decision", requestID: requestID, inProvincialPool: application.inProvincialPool,
                actor: actor, reason: reason
            ),
            charges: decision.charges, at: time, in: transaction
        )
    }

    /// What a commitment row holds, live or imported.
    public struct CommitmentFields: Sendable {
        public var applicationID: String
        public var district: String
        public var measure: Measure
        public var fundingYear: Int
        public var enterprise: String
        public var provider: String
        public var pilotID: String
        public var contentFingerprint: String
        public var amount: Money
        public var decisionDate: CalendarDate
        public var decisionDocument: String
        public var policyVersion: String
        public var explanation: [UInt8]
        /// "decision" or "import".
        public var source: String
        public var requestID: String
        public var inProvincialPool: Bool
        public var actor: Actor
        public var reason: String

        public init(
            applicationID: String, district: String, measure: Measure, fundingYear: Int, enterprise: String, provider: String,
            pilotID: String, contentFingerprint: String, amount: Money, decisionDate: CalendarDate, decisionDocument: String,
            policyVersion: String, explanation: [UInt8], source: String, requestID: String, inProvincialPool: Bool,
            actor: Actor, reason: String
        ) {
            self.actor = actor
            self.reason = reason
            self.applicationID = applicationID
            self.district = district
            self.measure = measure
            self.fundingYear = fundingYear
            self.enterprise = enterprise
            self.provider = provider
            self.pilotID = pilotID
            self.contentFingerprint = contentFingerprint
            self.amount = amount
            self.decisionDate = decisionDate
            self.decisionDocument = decisionDocument
            self.policyVersion = policyVersion
            self.explanation = explanation
            self.source = source
            self.requestID = requestID
            self.inProvincialPool = inProvincialPool
        }
    }

    /// Inserts a commitment with its charges, then checks every charged cap is still within its
    /// limit; a violation throws RESOURCE_EXHAUSTED and the caller's transaction rolls back.
    public func insertCommitment(
        _ fields: CommitmentFields, charges: [CapCharge], at time: String, in transaction: Transaction
    ) throws {
        try transaction.query(
            """
            INSERT INTO commitments (application_id, district, measure, funding_year, enterprise, provider, pilot_id,
                content_fingerprint, amount_fen, decision_date, decision_document, policy_version, explanation, state, source,
                request_id, created_at, updated_at, actor_tenant, actor_uid, reason)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'live', ?, ?, ?, ?, ?, ?, ?)
            """,
            [.text(fields.applicationID), .text(fields.district), .text(fields.measure.rawValue), .integer(Int64(fields.fundingYear)),
             .text(fields.enterprise), .text(fields.provider), .text(fields.pilotID), .text(fields.contentFingerprint),
             .integer(fields.amount.fen), .text(fields.decisionDate.description), .text(fields.decisionDocument),
             .text(fields.policyVersion), .blob(fields.explanation), .text(fields.source), .text(fields.requestID), .text(time), .text(time),
             .text(fields.actor.tenant), .integer(Int64(fields.actor.uid)), .text(fields.reason)]
        )
        let usage = Usage(connection: transaction.connection)
        for charge in charges {
            try transaction.query(
                "INSERT INTO charges (application_id, cap_id, scope, amount_fen, count) VALUES (?, ?, ?, ?, ?)",
                [.text(fields.applicationID), .text(charge.key.capID), .text(charge.key.scope), .integer(charge.amount.fen), .integer(Int64(charge.count))]
            )
            let after = try usage.committed(charge.key)
            let over: Bool = switch charge.limit {
            case .amount(let limit): after.amount > limit
            case .count(let limit): after.count > limit
            }
            if over {
                let before = CapUsage(amount: Money(fen: after.amount.fen - charge.amount.fen), count: after.count - charge.count)
                throw SubsidyError.capExhausted(
                    "\(charge.key) would exceed its limit \(charge.limit): committed \(before.amount), requested \(charge.amount)",
                    key: charge.key, limit: charge.limit, committed: before, requested: charge.amount
                )
            }
        }
        if fields.measure == .poolEntry {
            try transaction.query(
                """
                INSERT INTO pool_members (uscc, name, entry_date, provincial, source) VALUES (?, '', ?, ?, 'award')
                ON CONFLICT (uscc) DO NOTHING
                """,
                [.text(fields.enterprise), .text(fields.decisionDate.description), .integer(fields.inProvincialPool ? 1 : 0)]
            )
        }
        try appendEvent(applicationID: fields.applicationID, district: fields.district, state: "APPROVED", amountFen: fields.amount.fen, at: time, in: transaction)
        try AuditChain.append(
            "commit \(fields.applicationID) source=\(fields.source) district=\(fields.district) measure=\(fields.measure) amount=\(fields.amount.fen) "
                + "policy=\(fields.policyVersion) request=\(fields.requestID) charges=\(charges.map { "\($0.key)+\($0.amount.fen)/\($0.count)" }.joined(separator: ","))",
            at: time, in: transaction
        )
    }

    /// Releases a commitment (reject after approval, revocation); after disbursement it becomes a
    /// clawback. `targetState` is the application state the district must reach.
    public func release(
        applicationID: String, targetState: ApplicationState, requestID: String, actor: Actor, reason: String,
        at time: String, in transaction: Transaction
    ) throws {
        guard let commitment = try commitment(for: applicationID, in: transaction) else {
            throw SubsidyError(.internal, "no commitment for \(applicationID) in the ledger")
        }
        let newState: String
        switch commitment.state {
        case "live": newState = "released"
        case "disbursed": newState = "clawback"
        default:
            throw SubsidyError.precondition("commitment", "the commitment of \(applicationID) is already \(commitment.state)")
        }
        try transaction.query(
            """
            UPDATE commitments SET state = ?, release_state = ?, release_request_id = ?, release_actor_tenant = ?,
                release_actor_uid = ?, release_reason = ?, updated_at = ?
            WHERE application_id = ?
            """,
            [.text(newState), .text(targetState.rawValue), .text(requestID), .text(actor.tenant), .integer(Int64(actor.uid)),
             .text(reason), .text(time), .text(applicationID)]
        )
        try appendEvent(applicationID: applicationID, district: commitment.district, state: targetState.rawValue, amountFen: commitment.amountFen, at: time, in: transaction)
        try AuditChain.append("\(newState) \(applicationID) amount=\(commitment.amountFen) to=\(targetState) request=\(requestID)", at: time, in: transaction)
    }

    /// Marks a commitment disbursed (still counted against its caps).
    public func markDisbursed(
        applicationID: String, requestID: String, actor: Actor, reason: String, at time: String, in transaction: Transaction
    ) throws {
        guard let commitment = try commitment(for: applicationID, in: transaction) else {
            throw SubsidyError(.internal, "no commitment for \(applicationID) in the ledger")
        }
        guard commitment.state == "live" else {
            throw SubsidyError.precondition("commitment", "the commitment of \(applicationID) is \(commitment.state), not live")
        }
        try transaction.query(
            """
            UPDATE commitments SET state = 'disbursed', release_request_id = ?, release_actor_tenant = ?, release_actor_uid = ?,
                release_reason = ?, updated_at = ?
            WHERE application_id = ?
            """,
            [.text(requestID), .text(actor.tenant), .integer(Int64(actor.uid)), .text(reason), .text(time), .text(applicationID)]
        )
        try appendEvent(applicationID: applicationID, district: commitment.district, state: "DISBURSED", amountFen: commitment.amountFen, at: time, in: transaction)
        try AuditChain.append("disburse \(applicationID) amount=\(commitment.amountFen) request=\(requestID)", at: time, in: transaction)
    }

    private func appendEvent(applicationID: String, district: String, state: String, amountFen: Int64, at time: String, in transaction: Transaction) throws {
        try transaction.query(
            "INSERT INTO events (application_id, district, state, amount_fen, at) VALUES (?, ?, ?, ?, ?)",
            [.text(applicationID), .text(district), .text(state), .integer(amountFen), .text(time)]
        )
    }

    // MARK: Idempotency

    /// Like ``DistrictStore/mutate(_:_:)`` for city-only requests (pool registration, imports).
    public func mutate(_ request: RequestKey, _ body: (Transaction, String) throws -> [UInt8]) throws -> [UInt8] {
        try RequestLog.mutate(database, request, body)
    }
}

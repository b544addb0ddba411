import SubsidyCore

/// One district's own file: its applicants, applications, their history, its request log and
/// its audit chain. Only this district's tenant (and the city, for decisions) reaches it.
public final class DistrictStore: Sendable {
    public let district: DistrictID
    /// The file. Only the stores' own operations open transactions on it; package-wide for the
    /// consistency tools and the tests below the process.
    package let database: SQLiteDatabase

    static let migrations = [
        SQLiteDatabase.Migration(
            version: 1,
            sql: """
                CREATE TABLE applicants (
                    uscc TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    locality TEXT NOT NULL,
                    role TEXT NOT NULL,
                    created_at TEXT NOT NULL
                );
                CREATE TABLE applications (
                    id TEXT PRIMARY KEY,
                    seq INTEGER NOT NULL UNIQUE,
                    measure TEXT NOT NULL,
                    funding_year INTEGER NOT NULL,
                    enterprise TEXT NOT NULL,
                    state TEXT NOT NULL,
                    content BLOB NOT NULL,
                    awarded_fen INTEGER NOT NULL DEFAULT 0 CHECK (awarded_fen >= 0),
                    explanation BLOB NOT NULL DEFAULT x'',
                    decision_date TEXT NOT NULL DEFAULT '',
                    decision_document TEXT NOT NULL DEFAULT '',
                    publicized_on TEXT NOT NULL DEFAULT '',
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE INDEX applications_filter ON applications (state, measure, funding_year);
                CREATE INDEX applications_enterprise ON applications (enterprise);
                CREATE TABLE transitions (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    application_id TEXT NOT NULL REFERENCES applications (id),
                    from_state TEXT,
                    to_state TEXT NOT NULL,
                    action TEXT NOT NULL,
                    tenant TEXT NOT NULL,
                    actor_uid INTEGER NOT NULL,
                    at TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    request_id TEXT NOT NULL
                );
                CREATE INDEX transitions_application ON transitions (application_id, id);
                CREATE TABLE requests (
                    request_id TEXT PRIMARY KEY,
                    fingerprint TEXT NOT NULL,
                    response BLOB NOT NULL,
                    at TEXT NOT NULL
                );
                CREATE TABLE audit (
                    seq INTEGER PRIMARY KEY,
                    at TEXT NOT NULL,
                    event TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                );
                CREATE TABLE audit_head (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    seq INTEGER NOT NULL,
                    hash TEXT NOT NULL
                );
                INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
                """
        ),
        // The ledger position (identity, audit head) this district last saw complete a
        // ledger-first step, so a ledger rolled back or replaced behind its back is refused at
        // start-up. No row until the first such step.
        SQLiteDatabase.Migration(
            version: 2,
            sql: """
                CREATE TABLE ledger_seen (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    ledger_identity TEXT NOT NULL,
                    ledger_seq INTEGER NOT NULL,
                    ledger_hash TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                """
        ),
        // The canonical content keys (Application.contentKeys: the fingerprint, and the project
        // key where it differs) of each application, so a
        // submit or review can say the same content is already pending elsewhere. Rows of earlier
        // versions are filled in at start-up (`fillContentKeys`).
        SQLiteDatabase.Migration(
            version: 3,
            sql: """
                ALTER TABLE applications ADD COLUMN content_key TEXT NOT NULL DEFAULT '';
                ALTER TABLE applications ADD COLUMN project_key TEXT NOT NULL DEFAULT '';
                CREATE INDEX applications_content ON applications (content_key, state);
                CREATE INDEX applications_project ON applications (project_key, state);
                """
        ),
        // Application content and explanations were stored in the protocol's encoding, which the
        // store cannot read; they are now the store's own JSON (ApplicationContent,
        // StoredExplanation). The rows written before wait here to be rewritten at the next open
        // (SubsidyStores.convertLegacyContent), which needs the server's decoder.
        SQLiteDatabase.Migration(
            version: 4,
            sql: """
                CREATE TABLE legacy_content (id TEXT PRIMARY KEY);
                INSERT INTO legacy_content SELECT id FROM applications;
                """
        ),
        // An award's explanation is kept once, with its commitment in the ledger; the copy each
        // approved application kept here goes (records read it from the ledger).
        SQLiteDatabase.Migration(
            version: 5,
            sql: """
                UPDATE applications SET explanation = x'' WHERE length(explanation) > 0;
                """
        ),
        // Every city decision keeps its date and document number (文号) in its history entry; an
        // application keeps the last day of its 公示 and its day of payment. Entries recorded
        // before take what the application row kept (the approval's date and document, the
        // 公示's first day); the 公示's last day of rows publicized before is filled in at start-up
        // (`fillPublicityLastDays`), as it depends on the policy.
        SQLiteDatabase.Migration(
            version: 6,
            sql: """
                ALTER TABLE transitions ADD COLUMN decision_date TEXT NOT NULL DEFAULT '';
                ALTER TABLE transitions ADD COLUMN decision_document TEXT NOT NULL DEFAULT '';
                ALTER TABLE applications ADD COLUMN publicity_last_day TEXT NOT NULL DEFAULT '';
                ALTER TABLE applications ADD COLUMN disbursed_on TEXT NOT NULL DEFAULT '';
                UPDATE transitions SET
                    decision_date = (SELECT a.decision_date FROM applications a WHERE a.id = transitions.application_id),
                    decision_document = (SELECT a.decision_document FROM applications a WHERE a.id = transitions.application_id)
                WHERE action = 'approve';
                UPDATE transitions SET
                    decision_date = (SELECT a.publicized_on FROM applications a WHERE a.id = transitions.application_id)
                WHERE action = 'publicize';
                """
        ),
        // An amendment records the fields it changed, before and after (JSON of FieldChange);
        // amendments made before have none recorded (''). A registry entry's changes (更名, role)
        // are kept beside it.
        SQLiteDatabase.Migration(
            version: 7,
            sql: """
                ALTER TABLE transitions ADD COLUMN changes TEXT NOT NULL DEFAULT '';
                CREATE TABLE applicant_changes (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    uscc TEXT NOT NULL REFERENCES applicants (uscc),
                    field TEXT NOT NULL,
                    before TEXT NOT NULL,
                    after TEXT NOT NULL,
                    tenant TEXT NOT NULL,
                    actor_uid INTEGER NOT NULL,
                    at TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    request_id TEXT NOT NULL
                );
                CREATE INDEX applicant_changes_uscc ON applicant_changes (uscc, id);
                """
        ),
        // The district's own programmes (PROGRAMMES.md, level district:<id>): their awards and
        // caps live here, beside the applications they decide, so a decision is one transaction
        // of this file. Totals are kept by triggers, as in the city ledger (its migration 7), and
        // the checker recomputes them from the charges. The district's product catalogue (like
        // the city's pool) is kept here too.
        SQLiteDatabase.Migration(
            version: 8,
            sql: """
                CREATE TABLE programme_commitments (
                    application_id TEXT PRIMARY KEY REFERENCES applications (id),
                    programme TEXT NOT NULL,
                    measure TEXT NOT NULL,
                    funding_year INTEGER NOT NULL,
                    enterprise TEXT NOT NULL,
                    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
                    decision_date TEXT NOT NULL,
                    decision_document TEXT NOT NULL DEFAULT '',
                    policy_version TEXT NOT NULL,
                    content_typed TEXT NOT NULL DEFAULT '',
                    state TEXT NOT NULL CHECK (state IN ('live', 'disbursed', 'released', 'clawback')),
                    request_id TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE INDEX programme_commitments_enterprise ON programme_commitments (measure, enterprise);
                CREATE TABLE programme_charges (
                    application_id TEXT NOT NULL REFERENCES programme_commitments (application_id),
                    cap_id TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0),
                    count INTEGER NOT NULL CHECK (count >= 0),
                    limit_kind TEXT NOT NULL CHECK (limit_kind IN ('amount', 'count')),
                    limit_value INTEGER NOT NULL,
                    PRIMARY KEY (application_id, cap_id)
                );
                CREATE TABLE programme_totals (
                    cap_id TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    amount_fen INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    PRIMARY KEY (cap_id, scope)
                );
                CREATE TABLE programme_content_keys (
                    key TEXT NOT NULL,
                    application_id TEXT NOT NULL REFERENCES programme_commitments (application_id),
                    PRIMARY KEY (key, application_id)
                );
                CREATE TABLE catalogue_members (
                    catalogue TEXT NOT NULL,
                    uscc TEXT NOT NULL,
                    name TEXT NOT NULL,
                    entry_date TEXT NOT NULL,
                    request_id TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    PRIMARY KEY (catalogue, uscc)
                );
                CREATE TRIGGER programme_totals_charge_added AFTER INSERT ON programme_charges
                WHEN (SELECT state FROM programme_commitments WHERE application_id = NEW.application_id) IN ('live', 'disbursed')
                BEGIN
                    INSERT INTO programme_totals (cap_id, scope, amount_fen, count) VALUES (NEW.cap_id, NEW.scope, NEW.amount_fen, NEW.count)
                    ON CONFLICT (cap_id, scope) DO UPDATE SET amount_fen = amount_fen + excluded.amount_fen, count = count + excluded.count;
                END;
                CREATE TRIGGER programme_totals_uncounted AFTER UPDATE OF state ON programme_commitments
                WHEN OLD.state IN ('live', 'disbursed') AND NEW.state NOT IN ('live', 'disbursed')
                BEGIN
                    UPDATE programme_totals SET
                        amount_fen = amount_fen - (SELECT c.amount_fen FROM programme_charges c WHERE c.application_id = NEW.application_id
                                                   AND c.cap_id = programme_totals.cap_id AND c.scope = programme_totals.scope),
                        count = count - (SELECT c.count FROM programme_charges c WHERE c.application_id = NEW.application_id
                                         AND c.cap_id = programme_totals.cap_id AND c.scope = programme_totals.scope)
                    WHERE (cap_id, scope) IN (SELECT cap_id, scope FROM programme_charges WHERE application_id = NEW.application_id);
                END;
                """
        ),
        // Calls for applications (申报批次): the call an application was filed under, and the
        // reason when it was filed outside an open one on purpose.
        SQLiteDatabase.Migration(
            version: 9,
            sql: """
                ALTER TABLE applications ADD COLUMN call_id TEXT NOT NULL DEFAULT '';
                ALTER TABLE applications ADD COLUMN late_reason TEXT NOT NULL DEFAULT '';
                CREATE INDEX applications_call ON applications (call_id, state);
                """
        ),
        // Keyset paging: a filtered list is `WHERE <filters> AND id > ? ORDER BY id LIMIT n`.
        // With (state, measure, funding_year) alone SQLite fetched every match and sorted it —
        // linear in the district's applications (a 50-record page took 90 ms at 200,000 a
        // district). Indexes that end in id hand out the ids in order: a page reads about n
        // index entries however many the district holds.
        SQLiteDatabase.Migration(
            version: 10,
            sql: """
                DROP INDEX applications_filter;
                DROP INDEX applications_enterprise;
                CREATE INDEX applications_state_page ON applications (state, id);
                CREATE INDEX applications_state_measure_page ON applications (state, measure, id);
                CREATE INDEX applications_state_year_page ON applications (state, funding_year, id);
                CREATE INDEX applications_filter_page ON applications (state, measure, funding_year, id);
                CREATE INDEX applications_measure_page ON applications (measure, id);
                CREATE INDEX applications_enterprise_page ON applications (enterprise, id);
                """
        ),
        // A tenant's request ids are one namespace, bound in its home file (RequestLog). Before,
        // the city's decisions kept their ids here only: they are listed to be bound in the
        // ledger (SubsidyStores.bindEarlierRequestIDs), once, at start-up.
        SQLiteDatabase.Migration(
            version: 11,
            sql: """
                CREATE TABLE requests_to_bind (request_id TEXT PRIMARY KEY) WITHOUT ROWID;
                INSERT INTO requests_to_bind (request_id)
                    SELECT request_id FROM requests WHERE substr(request_id, 1, 5) = 'city:' AND length(response) > 0;
                """
        ),
        // How many applications each call for applications holds, by state, and how many of them
        // were filed late: kept by triggers in the transaction of every change, so `ListCalls`
        // reads a row per call and state instead of every application filed under a call (a
        // walk of the index and a row read each, growing with every filing). Written so that it
        // can run again over a file that already has it (the counts rebuilt); a trigger that
        // exists is kept as it is, so correcting one takes a new migration that drops it first.
        SQLiteDatabase.Migration(
            version: 12,
            sql: """
                CREATE TABLE IF NOT EXISTS call_counts (
                    call_id TEXT NOT NULL,
                    state TEXT NOT NULL,
                    n INTEGER NOT NULL,
                    late INTEGER NOT NULL,
                    PRIMARY KEY (call_id, state)
                ) WITHOUT ROWID;
                DELETE FROM call_counts;
                INSERT INTO call_counts (call_id, state, n, late)
                    SELECT call_id, state, COUNT(*), SUM(late_reason != '') FROM applications WHERE call_id != '' GROUP BY call_id, state;
                CREATE TRIGGER IF NOT EXISTS call_counts_added AFTER INSERT ON applications
                WHEN NEW.call_id != ''
                BEGIN
                    INSERT INTO call_counts (call_id, state, n, late) VALUES (NEW.call_id, NEW.state, 1, NEW.late_reason != '')
                    ON CONFLICT (call_id, state) DO UPDATE SET n = n + 1, late = late + excluded.late;
                END;
                CREATE TRIGGER IF NOT EXISTS call_counts_changed AFTER UPDATE OF call_id, state, late_reason ON applications
                WHEN (OLD.call_id != '' OR NEW.call_id != '')
                     AND (OLD.call_id != NEW.call_id OR OLD.state != NEW.state OR OLD.late_reason != NEW.late_reason)
                BEGIN
                    UPDATE call_counts SET n = n - 1, late = late - (OLD.late_reason != '') WHERE call_id = OLD.call_id AND state = OLD.state;
                    INSERT INTO call_counts (call_id, state, n, late)
                        SELECT NEW.call_id, NEW.state, 1, NEW.late_reason != '' WHERE NEW.call_id != ''
                    ON CONFLICT (call_id, state) DO UPDATE SET n = n + 1, late = late + excluded.late;
                END;
                CREATE TRIGGER IF NOT EXISTS call_counts_removed AFTER DELETE ON applications
                WHEN OLD.call_id != ''
                BEGIN
                    UPDATE call_counts SET n = n - 1, late = late - (OLD.late_reason != '') WHERE call_id = OLD.call_id AND state = OLD.state;
                END;
                """
        ),
        // The charges of one cap scope, found by index: the district's GetQuota (and WatchQuota)
        // reads each scope's limit from its charges, and a revenue-tiered approval the tiers
        // already charged there. Without it each read walked every charge of the programme
        // (0.12 s a GetQuota at 20,000 awards, growing with each).
        SQLiteDatabase.Migration(
            version: 13,
            sql: """
                CREATE INDEX IF NOT EXISTS programme_charges_scope ON programme_charges (cap_id, scope);
                """
        ),
        // The base each award's rate applied to (``AwardDecision/stackingBase``), as in the
        // ledger (its migration 15): 0, unknown, for awards recorded before.
        .addColumn(version: 14, table: "programme_commitments", column: "stacking_base_fen", definition: "INTEGER NOT NULL DEFAULT 0"),
        // The day in Foshan the content as it stands was filed (``StoredApplication/filedOn``): no
        // decision may be dated before it. Applications stored before take the day of their last
        // submission or amendment as recorded (UTC in the history), in Foshan's time.
        .addColumn(
            version: 15, table: "applications", column: "filed_on", definition: "TEXT NOT NULL DEFAULT ''",
            fill: """
                UPDATE applications SET filed_on = COALESCE(
                    (SELECT date(MAX(at), '+8 hours') FROM transitions WHERE application_id = applications.id AND action IN ('submit', 'amend')),
                    date(created_at, '+8 hours'), '')
                WHERE filed_on = ''
                """),
        // The canonical form drops blank symbols, loose combining marks and private-use code
        // points too: a district programme's funded content is also known by its key in that form.
        .recanonicaliseProgrammeKeys(version: 16),
        // An organisation is awarded under one USCC, across the ledger and the districts'
        // programmes: their awards are found by organisation code (USCC positions 9–17).
        SQLiteDatabase.Migration(
            version: 17, sql: "CREATE INDEX IF NOT EXISTS programme_commitments_organisation ON programme_commitments (substr(enterprise, 9, 9));"),
        // Tildes separate like dashes: a district programme's funded content under that form too.
        .recanonicaliseProgrammeKeys(version: 18),
        // The day in Foshan the 初审 recommended it (``StoredApplication/recommendedOn``): the 复核
        // that follows it may not be dated before it. Applications recommended before take the day
        // of their last recommendation as recorded (UTC in the history), in Foshan's time.
        .addColumn(
            version: 19, table: "applications", column: "recommended_on", definition: "TEXT NOT NULL DEFAULT ''",
            fill: """
                UPDATE applications SET recommended_on = COALESCE(
                    (SELECT date(MAX(at), '+8 hours') FROM transitions WHERE application_id = applications.id AND action = 'recommend'), '')
                WHERE recommended_on = ''
                """),
        // The upper-level funds each award's application declared, as in the ledger (its
        // migration 21), from the applications in this file.
        .addColumn(
            version: 20, table: "programme_commitments", column: "upper_level_fen", definition: "INTEGER NOT NULL DEFAULT 0",
            fill: """
                UPDATE programme_commitments SET upper_level_fen = COALESCE((
                    SELECT json_extract(CAST(a.content AS TEXT), '$.upperLevelSubsidyFen') FROM applications a
                    WHERE a.id = programme_commitments.application_id AND json_valid(CAST(a.content AS TEXT))), 0)
                """),
        // As the ledger's migration 22: a clawback of the district's own programme counts against
        // its caps until its recovery is recorded.
        .countClawbacks(version: 21, triggers: ["programme_totals_": 2], totals: [MaintainedTotals.programmeTotals]),
    ]

    /// States in which an application still waits for a decision: its content is claimed but not
    /// funded.
    static let pendingStates: [ApplicationState] = [.submitted, .returned, .recommended]

    /// How many applications pending with one content key a district names to a filing's check:
    /// the warnings name at most this many (``SubsidyStores/pendingNamed``), however many a
    /// district has filed with it.
    static let pendingPerKey = SubsidyStores.pendingNamed + 1

    /// What this district's file holds of `keys`, in one read: its own programmes' live awards
    /// and its applications (other than `excluding`) still pending with one of them. A filing's
    /// checks ask every district both; one read each instead of two halves the hops.
    public func content(_ keys: [String], excluding id: String) async throws -> HeldContent {
        guard !keys.isEmpty else { return HeldContent(funded: [], pending: []) }
        return try await database.lookup { transaction in
            HeldContent(
                funded: try ProgrammeUsage(connection: transaction.connection, elsewhere: []).fundedContent(keys),
                pending: try Self.pendingApplications(withContent: keys, excluding: id, in: transaction))
        }
    }

    /// One indexed lookup per pending state of a key in `column`, as one statement: `state IN
    /// (…)` of three values and `ORDER BY id` each made SQLite open a temporary B-tree for every
    /// query — 20 of them for each filing's check across the five districts, 13% of the daemon's
    /// CPU in the review phase (`perf`). Equalities on the index (`column`, state) open none and
    /// skip decided applications however many share the key.
    private static func pendingQuery(_ column: String) -> String {
        pendingStates.map { state in
            "SELECT id, measure, state FROM applications WHERE \(column) = ?1 AND state = '\(state.rawValue)' AND id != ?2"
        }.joined(separator: " UNION ALL ") + " LIMIT \(pendingPerKey)"
    }

    private static let pendingQueries = ["content_key", "project_key"].map(pendingQuery)

    /// Applications of this district, other than `excluding`, pending with one of `keys` — once
    /// per key they share, in id order, at most ``pendingPerKey`` per key. When more are pending,
    /// which ones come is the index's order (state, then insertion), not the smallest ids.
    static func pendingApplications(withContent keys: [String], excluding id: String, in transaction: Transaction) throws -> [PendingContent] {
        // One lookup per key and column (an OR across the two columns could scan the table, and
        // its rows carry the whole application).
        var found: [PendingContent] = []
        for key in keys {
            var ids = Set<String>()
            var pending: [PendingContent] = []
            for query in pendingQueries {
                for row in try transaction.query(query, [.text(key), .text(id)]) where ids.insert(try row.text("id")).inserted {
                    pending.append(PendingContent(
                        applicationID: try row.text("id"), measure: try row.decode(Measure.self, "measure"),
                        state: try row.decode(ApplicationState.self, "state"), key: key))
                }
            }
            found += pending.sorted { $0.applicationID < $1.applicationID }.prefix(pendingPerKey)
        }
        return found
    }

    /// Fills in the content keys of applications stored before migration 3, so the duplicate
    /// warnings see them; returns how many. A row whose content does not decode gets a key no
    /// submit can produce.
    package func fillContentKeys() async throws -> Int {
        try await database.write { transaction in
            var filled = 0
            for row in try transaction.query("SELECT id, content FROM applications WHERE content_key = ''") {
                let id = try row.text("id")
                let keys = (try? ApplicationContent.decode(try row.blob("content")))?.contentKeys ?? ["undecodable:\(id)"]
                try transaction.query(
                    "UPDATE applications SET content_key = ?, project_key = ? WHERE id = ?", [.text(keys[0]), .text(keys.dropFirst().first ?? ""), .text(id)])
                filled += 1
            }
            return filled
        }
    }

    /// Rewrites the content that migration 4 listed as stored in the protocol's encoding (the
    /// explanations beside it went with migration 5: the ledger keeps them); returns the ids
    /// `decoder` could not read (left as they were, so reading them is DATA_LOSS, as any damaged row).
    package func convertLegacyContent(using decoder: any LegacyContentDecoder) async throws -> (converted: Int, failed: [String]) {
        try await database.rewriteListedRows(pending: "legacy_content", key: "id") { transaction, id in
            guard let stored = try transaction.query("SELECT content FROM applications WHERE id = ?", [.text(id)]).first else { return true }
            guard let application = try? decoder.application(fromLegacy: try stored.blob("content")) else { return false }
            try transaction.query("UPDATE applications SET content = ? WHERE id = ?", [.blob(ApplicationContent.encode(application)), .text(id)])
            return true
        }
    }

    /// Fills in the base of this district's programme awards made before it was kept (migration
    /// 14), from their applications (-1, unknown, for one that does not decode); returns how many.
    package func fillProgrammeStackingBases() async throws -> Int {
        try await database.write { transaction in
            let rows = try transaction.query(
                """
                SELECT c.application_id AS id, a.content AS content FROM programme_commitments c
                LEFT JOIN applications a ON a.id = c.application_id WHERE c.stacking_base_fen = 0
                """)
            for row in rows {
                let application = try? ApplicationContent.decode(try row.optionalBlob("content") ?? [])
                let fen = application.map { AwardCalculator.stackingBase(of: $0).fen } ?? 0
                try transaction.query(
                    "UPDATE programme_commitments SET stacking_base_fen = ? WHERE application_id = ?", [.integer(fen > 0 ? fen : -1), .text(try row.text("id"))])
            }
            return rows.count
        }
    }

    /// The decided applications of this district that declared upper-level funds, with the
    /// amount: one pass over the stored content, read where SQLite keeps it (the JSON the
    /// content is stored as), for the ledger's awards made before it kept them.
    package func declaredUpperLevels() async throws -> [(applicationID: String, fen: Int64)] {
        try await database.read { transaction in
            try transaction.query(
                """
                SELECT id, json_extract(CAST(content AS TEXT), '$.upperLevelSubsidyFen') AS fen FROM applications
                WHERE state IN ('APPROVED', 'PUBLICIZED', 'DISBURSED', 'REVOKED') AND json_valid(CAST(content AS TEXT)) AND fen > 0
                """
            ).map { (applicationID: try $0.text("id"), fen: try $0.int("fen")) }
        }
    }

    /// Fills in the last day of the 公示 of applications publicized before migration 6, for a
    /// 公示 of `days` days; returns how many.
    package func fillPublicityLastDays(days: Int) async throws -> Int {
        try await database.write { transaction in
            let rows = try transaction.query(
                "SELECT id, publicized_on FROM applications WHERE publicized_on != '' AND publicity_last_day = ''")
            var filled = 0
            for row in rows {
                let first = try CalendarDate(parsing: try row.text("publicized_on"))
                guard let last = first.adding(days: days - 1) else { continue }
                try transaction.query("UPDATE applications SET publicity_last_day = ? WHERE id = ?", [.text(last.description), .text(try row.text("id"))])
                filled += 1
            }
            return filled
        }
    }

    /// - Parameter migrating: see ``SQLiteDatabase/init(path:migrations:readers:lookups:cacheKiB:migrating:)``.
    public init(path: String, district: DistrictID, migrating: Bool = true) throws {
        self.district = district
        database = try SQLiteDatabase(path: path, migrations: Self.migrations, migrating: migrating)
    }

    // MARK: Idempotent mutations

    /// Runs a mutation once per request id: a retry returns the first response; the response is
    /// stored in the same transaction as the change.
    func mutate(
        _ request: RequestKey, _ body: @escaping @Sendable (Transaction, String) throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await RequestLog.mutate(database, request, body)
    }

    /// The stored response of an earlier request with this id, if any (ALREADY_EXISTS if the
    /// id was used for other content).
    func replay(_ request: RequestKey) async throws -> [UInt8]? {
        try await database.lookup { try RequestLog.lookup(request.id, fingerprint: request.fingerprint, in: $0) }
    }

    // MARK: Applicants

    /// Registers `applicant` in the registry with its audit event; the same entry again is a
    /// no-op, a different one under the same code is refused.
    package func insertApplicant(_ applicant: ApplicantRecord, by actor: Actor, at time: String, in transaction: Transaction) throws {
        if let existing = try Self.applicant(applicant.uscc, in: transaction, district: district) {
            try Self.requireSame(applicant, as: existing)
            return
        }
        try transaction.query(
            "INSERT INTO applicants (uscc, name, locality, role, created_at) VALUES (?, ?, ?, ?, ?)",
            [.text(applicant.uscc), .text(applicant.name), .text(applicant.locality.rawValue), .text(applicant.role.rawValue), .text(time)]
        )
        try AuditChain.append(
            AuditEvent("register-applicant", [
                .text("uscc", applicant.uscc), .text("name", applicant.name), .text("role", applicant.role.rawValue),
                .text("locality", applicant.locality.rawValue),
            ] + AuditEvent.Field.actor(actor)),
            at: time, in: transaction
        )
    }

    /// ALREADY_EXISTS unless `applicant` is the registry's `existing` entry: a registration again
    /// with the same details is the same registration; with other details it is refused.
    static func requireSame(_ applicant: ApplicantRecord, as existing: ApplicantRecord) throws(SubsidyError) {
        guard existing == applicant else {
            throw SubsidyError(.alreadyExists, "applicant \(applicant.uscc) is already registered in \(existing.district.rawValue) as \(existing.name)")
        }
    }

    /// Renames an applicant or changes its role, recording each field changed.
    func updateApplicant(
        _ uscc: String, name: String?, role: ApplicantRole?, by actor: Actor, reason: String, request: RequestKey, at time: String,
        in transaction: Transaction
    ) throws -> ApplicantRecord {
        guard var record = try Self.applicant(uscc, in: transaction, district: district) else {
            throw SubsidyError(.notFound, "applicant \(uscc) is not registered in \(district.rawValue)")
        }
        var changes: [(field: String, before: String, after: String)] = []
        if let name, name != record.name { changes.append(("name", record.name, name)); record.name = name }
        if let role, role != record.role { changes.append(("role", record.role.rawValue, role.rawValue)); record.role = role }
        guard !changes.isEmpty else { return record }
        try transaction.query("UPDATE applicants SET name = ?, role = ? WHERE uscc = ?", [.text(record.name), .text(record.role.rawValue), .text(uscc)])
        for change in changes {
            try transaction.query(
                """
                INSERT INTO applicant_changes (uscc, field, before, after, tenant, actor_uid, at, reason, request_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [.text(uscc), .text(change.field), .text(change.before), .text(change.after), .text(actor.tenant), .integer(Int64(actor.uid)),
                 .text(time), .text(reason), .text(request.id)])
        }
        try AuditChain.append(
            AuditEvent("update-applicant", [.text("uscc", uscc)] + changes.flatMap { [.text($0.field + ".before", $0.before), .text($0.field, $0.after)] }
                + [.text("request", request.id)] + AuditEvent.Field.actor(actor) + [.text("reason", reason)]),
            at: time, in: transaction)
        return record
    }

    /// FAILED_PRECONDITION (subject `applicant.role`) when `uscc` has applications waiting for a
    /// decision under measures that `role` may not hold in their programme: the role is checked
    /// when one is filed, so changing it afterwards would let an application go on to approval
    /// for a kind of body its measure is not for (a voucher for an institution). Decided awards
    /// are not affected. Inside the caller's transaction, so a filing committed just before the
    /// change is seen: the district's writes are one after another.
    func requireRoleFitsPending(_ uscc: String, role: ApplicantRole, programmes: Programmes, in transaction: Transaction) throws {
        let waiting = Self.pendingStates.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        var misfits: [String] = []
        for row in try transaction.query("SELECT id FROM applications WHERE enterprise = ? AND state IN (\(waiting)) ORDER BY id", [.text(uscc)]) {
            guard let stored = try Self.application(try row.text("id"), in: transaction, district: district),
                let rule = try? programmes.programme(for: stored.application).rule(for: stored.application.measure),
                !rule.applicantRoles.contains(role)
            else { continue }
            misfits.append("\(stored.id) (\(stored.application.measure), for \(rule.applicantRoles.map(\.rawValue).sorted().joined(separator: " or ")))")
        }
        guard misfits.isEmpty else {
            let more = misfits.count > 10 ? " and \(misfits.count - 10) more" : ""
            throw SubsidyError.precondition(
                "applicant.role",
                "\(uscc) has applications waiting for a decision that a \(role.rawValue) may not hold: \(misfits.prefix(10).joined(separator: ", "))\(more); "
                    + "decide or withdraw them first")
        }
    }

    /// How many changes of applicant `uscc` are recorded.
    func applicantChangeCount(_ uscc: String) async throws -> Int {
        try await database.read { transaction in
            Int(try transaction.query("SELECT COUNT(*) AS n FROM applicant_changes WHERE uscc = ?", [.text(uscc)]).first?.int("n") ?? 0)
        }
    }

    /// Every recorded change of applicant `uscc`, oldest first.
    public func applicantChanges(_ uscc: String) async throws -> [ApplicantChange] {
        try await database.read { try Self.applicantChanges(uscc, in: $0) }
    }

    static func applicantChanges(_ uscc: String, in transaction: Transaction) throws -> [ApplicantChange] {
        try transaction.query(
            "SELECT field, before, after, tenant, actor_uid, at, reason FROM applicant_changes WHERE uscc = ? ORDER BY id", [.text(uscc)]
        ).map { row in
            ApplicantChange(
                at: try row.text("at"), field: try row.text("field"), before: try row.text("before"), after: try row.text("after"),
                tenant: try row.text("tenant"), actorUID: UInt32(truncatingIfNeeded: try row.int("actor_uid")), reason: try row.text("reason"))
        }
    }

    public func applicant(_ uscc: String) async throws -> ApplicantRecord? {
        let district = self.district
        return try await database.lookup { try Self.applicant(uscc, in: $0, district: district) }
    }

    /// The registered applicant, read inside the caller's transaction.
    func applicantRecord(_ uscc: String, in transaction: Transaction) throws -> ApplicantRecord? {
        try Self.applicant(uscc, in: transaction, district: district)
    }

    static func applicant(_ uscc: String, in transaction: Transaction, district: DistrictID) throws -> ApplicantRecord? {
        try transaction.query("SELECT uscc, name, locality, role FROM applicants WHERE uscc = ?", [.text(uscc)]).first.map {
            try applicant(row: $0, district: district)
        }
    }

    static func applicant(row: SQLiteRow, district: DistrictID) throws -> ApplicantRecord {
        ApplicantRecord(
            uscc: try row.text("uscc"), name: try row.text("name"), district: district,
            locality: try row.decode(Locality.self, "locality"), role: try row.decode(ApplicantRole.self, "role")
        )
    }

    public func applicants(after: String, limit: Int) async throws -> [ApplicantRecord] {
        let district = self.district
        return try await database.read { transaction in
            try transaction.query(
                "SELECT uscc, name, locality, role FROM applicants WHERE uscc > ? ORDER BY uscc LIMIT ?", [.text(after), .integer(Int64(limit))]
            ).map { try Self.applicant(row: $0, district: district) }
        }
    }

    // MARK: Applications

    /// Files `application` in state SUBMITTED.
    package func insertApplication(
        _ application: Application, filedOn day: CalendarDate, actor: Actor, request: RequestKey, at time: String, in transaction: Transaction
    ) throws -> StoredApplication {
        let contentKeys = application.contentKeys
        let seq = try transaction.query("SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM applications").first?.int("next") ?? 1
        let digits = String(seq)
        let id = "\(district.rawValue)-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
        try transaction.query(
            """
            INSERT INTO applications (id, seq, measure, funding_year, enterprise, state, content, created_at, updated_at, content_key, project_key, filed_on)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.text(id), .integer(seq), .text(application.measure.rawValue), .integer(Int64(application.fundingYear.year)),
             .text(application.enterprise.rawValue), .text(ApplicationState.submitted.rawValue), .blob(ApplicationContent.encode(application)),
             .text(time), .text(time),
             .text(contentKeys.first ?? ""), .text(contentKeys.dropFirst().first ?? ""), .text(day.description)]
        )
        try recordTransition(id: id, from: nil, to: .submitted, action: .submit, actor: actor, reason: "", request: request, at: time, in: transaction)
        // The record as ``application(_:in:district:)`` would read it back, built from what was
        // just written: reading it back (and decoding the content just encoded) was 7% of a
        // submission's CPU (`perf`). A test compares the two on generated applications.
        let enterpriseName = try transaction.query("SELECT name FROM applicants WHERE uscc = ?", [.text(application.enterprise.rawValue)]).first?.text("name")
        return StoredApplication(
            id: id, district: district, measure: application.measure, fundingYear: application.fundingYear.year,
            enterprise: application.enterprise.rawValue, state: .submitted, application: application, awardedFen: 0, explanation: nil,
            decisionDate: "", decisionDocument: "", publicizedOn: "", createdAt: time, updatedAt: time,
            history: [
                TransitionEntry(
                    from: nil, to: .submitted, action: .submit, tenant: actor.tenant, actorUID: actor.uid, at: time, reason: "",
                    requestID: request.id, decisionDate: "", decisionDocument: "", changes: [])
            ],
            contentKey: contentKeys.first ?? "", projectKey: contentKeys.dropFirst().first ?? "", enterpriseName: enterpriseName ?? "",
            filedOn: day.description)
    }

    /// Moves an application along `transition`, checking it is legal from the current state,
    /// and applies `update` to the other columns in the same transaction.
    package func apply(
        _ transition: Transition, to id: String, actor: Actor, role: ActorRole, reason: String, request: RequestKey,
        decision: DecisionNote = .none, at time: String, in transaction: Transaction,
        update: (inout StoredApplication) throws -> Void = { _ in }
    ) throws -> StoredApplication {
        try applyReportingChanges(transition, to: id, actor: actor, role: role, reason: reason, request: request, decision: decision, at: time, in: transaction) {
            record in
            try update(&record)
            return []
        }
    }

    /// ``apply(_:to:actor:role:reason:request:decision:at:in:update:)`` whose `update` returns the
    /// fields it changed, for the history entry.
    func applyReportingChanges(
        _ transition: Transition, to id: String, actor: Actor, role: ActorRole, reason: String, request: RequestKey,
        decision: DecisionNote = .none, at time: String, in transaction: Transaction,
        changing update: (inout StoredApplication) throws -> [FieldChange]
    ) throws -> StoredApplication {
        guard var record = try Self.application(id, in: transaction, district: district) else {
            throw SubsidyError(.notFound, "application \(id) does not exist in \(district.rawValue)")
        }
        let before = record
        let from = record.state
        record.state = try from.applying(transition, as: role)
        if transition == .return || transition == .amend, record.history.count >= InputLimits.transitionsPerApplication {
            throw SubsidyError.precondition(
                "history",
                "application \(id) has \(record.history.count) recorded changes, the most one application may have "
                    + "(\(InputLimits.transitionsPerApplication)); withdraw it and file a new one")
        }
        let changes = try update(&record)
        // Content and explanation are rewritten only when they changed (an amendment, a district
        // programme's award): encoding them is most of a decision's district step otherwise.
        var assignments = """
            state = ?, awarded_fen = ?, decision_date = ?, decision_document = ?, publicized_on = ?, measure = ?, funding_year = ?,
            enterprise = ?, updated_at = ?, content_key = ?, project_key = ?, publicity_last_day = ?, disbursed_on = ?
            """
        var values: [SQLiteValue] = [
            .text(record.state.rawValue), .integer(record.awardedFen), .text(record.decisionDate), .text(record.decisionDocument),
            .text(record.publicizedOn), .text(record.measure.rawValue), .integer(Int64(record.fundingYear)), .text(record.enterprise), .text(time),
            .text(record.contentKey), .text(record.projectKey), .text(record.publicityLastDay), .text(record.disbursedOn),
        ]
        if record.application != before.application {
            assignments += ", content = ?"
            values.append(.blob(ApplicationContent.encode(record.application)))
        }
        if record.explanation != before.explanation {
            assignments += ", explanation = ?"
            values.append(.blob(StoredExplanation.encode(record.explanation)))
        }
        if record.filedOn != before.filedOn {
            assignments += ", filed_on = ?"
            values.append(.text(record.filedOn))
        }
        if record.recommendedOn != before.recommendedOn {
            assignments += ", recommended_on = ?"
            values.append(.text(record.recommendedOn))
        }
        try transaction.query("UPDATE applications SET \(assignments) WHERE id = ?", values + [.text(id)])
        try recordTransition(
            id: id, from: from, to: record.state, action: .transition(transition), actor: actor, reason: reason, request: request, decision: decision,
            changes: changes, at: time, in: transaction)
        // The record as a read would now return it, without reading and decoding it again.
        record.updatedAt = time
        if record.enterprise != before.enterprise {
            // An amendment that names another enterprise: its registered name, as the read joins it.
            record.enterpriseName = try transaction.query("SELECT name FROM applicants WHERE uscc = ?", [.text(record.enterprise)]).first?.text("name") ?? ""
        }
        record.history.append(
            TransitionEntry(
                from: from, to: record.state, action: .transition(transition), tenant: actor.tenant, actorUID: actor.uid, at: time, reason: reason,
                requestID: request.id, decisionDate: decision.date, decisionDocument: decision.document, changes: changes))
        assert(record == (try? Self.application(id, in: transaction, district: district)), "the record built in memory must be the one stored")
        return record
    }

    /// Records in the history of `id` (REVOKED, revoked after payment) that its money came back
    /// (``HistoryAction/recover``), with the decision's date and document, and returns the record.
    /// The caller has moved the commitment: the ledger's, or this file's own programme's.
    func recordRecovery(
        _ id: String, actor: Actor, reason: String, request: RequestKey, decision: DecisionNote, at time: String, in transaction: Transaction
    ) throws -> StoredApplication {
        guard var record = try Self.application(id, in: transaction, district: district) else {
            throw SubsidyError(.notFound, "application \(id) does not exist in \(district.rawValue)")
        }
        try transaction.query("UPDATE applications SET updated_at = ? WHERE id = ?", [.text(time), .text(id)])
        try recordTransition(id: id, from: record.state, to: record.state, action: .recover, actor: actor, reason: reason, request: request, decision: decision, at: time, in: transaction)
        record.updatedAt = time
        record.history.append(
            TransitionEntry(
                from: record.state, to: record.state, action: .recover, tenant: actor.tenant, actorUID: actor.uid, at: time, reason: reason,
                requestID: request.id, decisionDate: decision.date, decisionDocument: decision.document))
        return record
    }

    private func recordTransition(
        id: String, from: ApplicationState?, to: ApplicationState, action: HistoryAction, actor: Actor, reason: String,
        request: RequestKey, decision: DecisionNote = .none, changes: [FieldChange] = [], at time: String, in transaction: Transaction
    ) throws {
        // Most transitions change no field: JSONEncoder's "[]" without a JSONEncoder.
        let changed = changes.isEmpty ? "[]" : String(decoding: StoredJSON.encode(changes), as: UTF8.self)
        try transaction.query(
            """
            INSERT INTO transitions (application_id, from_state, to_state, action, tenant, actor_uid, at, reason, request_id,
                decision_date, decision_document, changes)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.text(id), from.map { .text($0.rawValue) } ?? .null, .text(to.rawValue), .text(action.rawValue), .text(actor.tenant),
             .integer(Int64(actor.uid)), .text(time), .text(reason), .text(request.id), .text(decision.date), .text(decision.document),
             .text(changes.isEmpty ? "" : changed)]
        )
        // The audit event names the decision's date and document only when it has them, so the
        // events of changes without them hash as they did before.
        var decisionFields: [AuditEvent.Field] = []
        if !decision.date.isEmpty { decisionFields.append(.text("decision_date", decision.date)) }
        if !decision.document.isEmpty { decisionFields.append(.text("decision_document", decision.document)) }
        if !changes.isEmpty { decisionFields.append(.text("changes", changed)) }
        try AuditChain.append(
            AuditEvent(action.rawValue, [
                .text("application", id), .text("from", from?.rawValue ?? ""), .text("to", to.rawValue), .text("request", request.id),
            ] + AuditEvent.Field.actor(actor) + [.text("reason", reason)] + decisionFields),
            at: time, in: transaction
        )
    }

    public func application(_ id: String) async throws -> StoredApplication? {
        let district = self.district
        return try await database.lookup { try Self.application(id, in: $0, district: district) }
    }

    /// The applications of `ids` that exist, in the order given, read in one transaction (one
    /// trip to the file's reader instead of one per application) — stopping after the one that
    /// takes the bytes read (content, explanation and history) past `byteBudget`, so a caller
    /// filling a page of that many bytes decodes about one page more than it keeps, however
    /// large the applications or long their histories.
    public func applications(_ ids: [String], byteBudget: Int = .max) async throws -> [StoredApplication] {
        let district = self.district
        return try await database.read { transaction in
            var found: [StoredApplication] = []
            var bytes = 0
            for id in ids where bytes < byteBudget {
                guard let application = try Self.application(id, in: transaction, district: district) else { continue }
                if byteBudget < .max {
                    bytes += Int(
                        try transaction.query(
                            """
                            SELECT length(content) + length(explanation)
                                   + (SELECT COALESCE(SUM(length(reason) + length(changes) + 64), 0) FROM transitions WHERE application_id = ?) AS bytes
                            FROM applications WHERE id = ?
                            """, [.text(id), .text(id)]
                        ).first?.int("bytes") ?? 0)
                }
                found.append(application)
            }
            return found
        }
    }

    static func application(_ id: String, in transaction: Transaction, district: DistrictID) throws -> StoredApplication? {
        guard let row = try transaction.query(
            """
            SELECT id, measure, funding_year, enterprise, state, content, awarded_fen, explanation, decision_date,
                   decision_document, publicized_on, created_at, updated_at, content_key, project_key, publicity_last_day, disbursed_on,
                   call_id, late_reason, filed_on, recommended_on,
                   COALESCE((SELECT name FROM applicants WHERE uscc = applications.enterprise), '') AS enterprise_name
            FROM applications WHERE id = ?
            """,
            [.text(id)]
        ).first else { return nil }
        let history = try transaction.query(
            """
            SELECT from_state, to_state, action, tenant, actor_uid, at, reason, request_id, decision_date, decision_document, changes
            FROM transitions WHERE application_id = ? ORDER BY id
            """,
            [.text(id)]
        ).map { row in
            TransitionEntry(
                from: try row.optionalText("from_state").map { raw in
                    guard let state = ApplicationState(rawValue: raw) else { throw SQLiteError.damaged("column from_state holds unknown value \"\(raw)\"") }
                    return state
                },
                to: try row.decode(ApplicationState.self, "to_state"),
                action: try row.decode(HistoryAction.self, "action"), tenant: try row.text("tenant"), actorUID: UInt32(truncatingIfNeeded: try row.int("actor_uid")),
                at: try row.text("at"), reason: try row.text("reason"), requestID: try row.text("request_id"),
                decisionDate: try row.text("decision_date"), decisionDocument: try row.text("decision_document"),
                changes: try Self.changes(try row.text("changes"))
            )
        }
        return StoredApplication(
            id: try row.text("id"), district: district, measure: try row.decode(Measure.self, "measure"),
            fundingYear: Int(try row.int("funding_year")), enterprise: try row.text("enterprise"),
            state: try row.decode(ApplicationState.self, "state"), application: try ApplicationContent.decode(try row.blob("content")),
            awardedFen: try row.int("awarded_fen"), explanation: try StoredExplanation.decode(try row.blob("explanation")),
            decisionDate: try row.text("decision_date"),
            decisionDocument: try row.text("decision_document"), publicizedOn: try row.text("publicized_on"),
            createdAt: try row.text("created_at"), updatedAt: try row.text("updated_at"),
            history: history, contentKey: try row.text("content_key"), projectKey: try row.text("project_key"),
            enterpriseName: try row.text("enterprise_name"), publicityLastDay: try row.text("publicity_last_day"),
            disbursedOn: try row.text("disbursed_on"), callID: try row.text("call_id"), lateReason: try row.text("late_reason"),
            filedOn: try row.text("filed_on"), recommendedOn: try row.text("recommended_on")
        )
    }

    /// Records the call `application` was filed under (and why it was filed late, if it was).
    func recordCall(_ callID: String, lateReason: String, for id: String, in transaction: Transaction) throws {
        try transaction.query("UPDATE applications SET call_id = ?, late_reason = ? WHERE id = ?", [.text(callID), .text(lateReason), .text(id)])
    }

    /// Applications filed under each call, by state now, and how many of them were filed late:
    /// the counts migration 12's triggers keep, a row per call and state.
    public func callCounts() async throws -> [String: (states: [ApplicationState: Int64], late: Int64)] {
        try await database.read { transaction in
            var counts: [String: (states: [ApplicationState: Int64], late: Int64)] = [:]
            for row in try transaction.query("SELECT call_id, state, n, late FROM call_counts WHERE n != 0") {
                let call = try row.text("call_id")
                var entry = counts[call] ?? ([:], 0)
                entry.states[try row.decode(ApplicationState.self, "state")] = try row.int("n")
                entry.late += try row.int("late")
                counts[call] = entry
            }
            return counts
        }
    }

    /// Ids of the applications matching `filter` after `afterID`, in id order: a page's
    /// candidates, read without their content so that merging districts costs no records.
    ///
    /// A text search reads each row's content, so it looks at no more than `filter.textScanRows`
    /// applications after `afterID` that pass the other filters in one call: when that many hold
    /// fewer than `limit` matches, ``ApplicationIDs/scannedThrough`` is the last id looked at and
    /// the next call goes on after it. One call's cost is then bounded whatever the district
    /// holds (a scan of 100,000 applications took 0.3 s of a core, warm), so a tenant's searches
    /// cannot hold the readers every tenant shares for seconds at a time.
    public func applicationIDs(_ filter: ApplicationFilter, afterID: String, limit: Int) async throws -> ApplicationIDs {
        try await database.read { transaction in
            // The indexed filters, which cost no content read.
            var conditions = ""
            var values: [SQLiteValue] = []
            if let measure = filter.measure { conditions += " AND measure = ?"; values.append(.text(measure.rawValue)) }
            if let state = filter.state { conditions += " AND state = ?"; values.append(.text(state.rawValue)) }
            if let year = filter.fundingYear { conditions += " AND funding_year = ?"; values.append(.integer(Int64(year))) }
            if let enterprise = filter.enterprise { conditions += " AND enterprise = ?"; values.append(.text(enterprise)) }
            var sql = "SELECT id FROM applications WHERE id > ?"
            var parameters: [SQLiteValue] = [.text(afterID)]
            var scannedThrough: String?
            if filter.text != nil {
                // Where the scan stops: the id `textScanRows` applications passing the indexed
                // filters on (an index walk, no content read); none if fewer remain. Counted
                // after those filters, so a search within one enterprise's few applications is
                // one call however large the district.
                scannedThrough = try transaction.query(
                    "SELECT id FROM applications WHERE id > ?" + conditions + " ORDER BY id LIMIT 1 OFFSET ?",
                    [.text(afterID)] + values + [.integer(Int64(max(1, filter.textScanRows) - 1))]
                ).first?.text("id")
                if let scannedThrough {
                    sql += " AND id <= ?"
                    parameters.append(.text(scannedThrough))
                }
            }
            sql += conditions
            parameters += values
            if let text = filter.text {
                // The content keys hold the canonical contract number and project name after
                // their prefix (`contract:`, `project:<USCC>:`), so the canonical text is looked
                // for after a colon — never in the prefix; the contract number and project name
                // are also matched as typed, and names and USCCs as they are.
                let canonical = "%:" + Self.likePattern(CanonicalText.canonical(text))
                let typed = Self.likePattern(text)
                sql += """
                     AND (content_key LIKE ? ESCAPE '\\' OR project_key LIKE ? ESCAPE '\\' OR enterprise LIKE ? ESCAPE '\\'
                          OR json_extract(CAST(content AS TEXT), '$.contractNumber') LIKE ? ESCAPE '\\'
                          OR json_extract(CAST(content AS TEXT), '$.projectName') LIKE ? ESCAPE '\\'
                          OR enterprise IN (SELECT uscc FROM applicants WHERE name LIKE ? ESCAPE '\\'))
                    """
                parameters += [.text(canonical), .text(canonical), .text(Self.likePattern(text.uppercased())), .text(typed), .text(typed), .text(typed)]
            }
            sql += " ORDER BY id LIMIT ?"
            parameters.append(.integer(Int64(limit)))
            let ids = try transaction.query(sql, parameters).map { try $0.text("id") }
            // With `limit` matches found the page is full before the scan's end, which is then
            // not where the next call starts.
            return ApplicationIDs(ids: ids, scannedThrough: ids.count < limit ? scannedThrough : nil)
        }
    }

    /// The field changes a history entry recorded ('' or `[]` for none: every read of an
    /// application decodes its whole history, and most entries change no field).
    ///
    /// A long list recorded whole before 69d1d43 (both 5,000-enterprise lists of every amendment)
    /// is read as it is recorded now (``ApplicationContent/listChange(_:_:)``): the stored text
    /// stays as the audit chain hashed it, but a record holding dozens of such amendments would
    /// be more than one reply can carry, and the city's listing would stop at it for good.
    private static func changes(_ text: String) throws -> [FieldChange] {
        guard !text.isEmpty, text != "[]" else { return [] }
        return try StoredJSON.decode([FieldChange].self, Array(text.utf8), what: "field changes").map { change in
            guard ApplicationContent.listFields.contains(change.field) else { return change }
            // A short list comes back as it was recorded (listChange keeps it whole).
            func entries(_ text: String) -> [String] { text.split(separator: ", ", omittingEmptySubsequences: true).map(String.init) }
            let (before, after) = ApplicationContent.listChange(entries(change.before), entries(change.after))
            return FieldChange(field: change.field, before: before, after: after)
        }
    }

    /// `%text%` for LIKE, with LIKE's own wildcards in `text` matched literally.
    static func likePattern(_ text: String) -> String {
        // By code point: `%` followed by a combining mark is one Character, but LIKE sees the `%`.
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "%" || scalar == "_" || scalar == "\\" { escaped.append("\\") }
            escaped.append(scalar)
        }
        return "%" + String(escaped) + "%"
    }

    /// Ids and states of applications in a state that holds a commitment in the city ledger, for
    /// recovery. The district's own programme's awards are not among them: their commitments
    /// live in this file, written in the same transaction as the state. Read through the state
    /// index: start-up must not walk the applications still waiting for a decision (reading all
    /// of them took 3 s of a 4.5 s start at 1,000,000 applications).
    public func decidedStates() async throws -> [String: ApplicationState] {
        let holding = ApplicationState.allCases.filter(\.holdsCommitment).map { "'\($0.rawValue)'" }.joined(separator: ", ")
        return try await database.read { transaction in
            // A state no release wrote is damage, reported as DATA_LOSS as reading the row would.
            // Each distinct state present, one index seek each (a scan of the state index was
            // 70 ms per district at 200,000 applications).
            var last = ""
            while let row = try transaction.query("SELECT state FROM applications WHERE state > ? ORDER BY state LIMIT 1", [.text(last)]).first {
                last = try row.decode(ApplicationState.self, "state").rawValue
            }
            var states: [String: ApplicationState] = [:]
            for row in try transaction.query(
                "SELECT id, state FROM applications WHERE state IN (\(holding)) AND id NOT IN (SELECT application_id FROM programme_commitments)"
            ) {
                states[try row.text("id")] = try row.decode(ApplicationState.self, "state")
            }
            return states
        }
    }
}

import SubsidyCore

/// The city ledger: the authority for every city-wide cap. An approval records a commitment here
/// first (keyed by application, so a retry finds it) and only then marks the application approved
/// in its district; a release goes the same way. Recovery reconciles the districts with it.
public final class CityLedger: Sendable {
    /// The file. Only the stores' own operations open transactions on it; package-wide for the
    /// consistency tools and the tests below the process.
    package let database: SQLiteDatabase

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
        // Canonical identity (issue 8): content fingerprints without the measure (one project is
        // not funded by two measures), in CanonicalText form; every key a commitment's content is
        // known by (content_keys: the fingerprint, and the applicant's project for all but
        // vouchers); the typed content and the pilot's canonical id beside them; the pilot's
        // selection date, which its follow-on's window runs from. The backfill rewrites version-3
        // fingerprints, whose normalisation (white space dropped, full-width folded, ASCII
        // upper-cased) the canonical form subsumes; a version-3 row keeps one key, its fingerprint
        // (its project name is not in the ledger when it had a contract number).
        SQLiteDatabase.Migration(
            version: 4,
            sql: """
                ALTER TABLE commitments ADD COLUMN content_typed TEXT NOT NULL DEFAULT '';
                ALTER TABLE commitments ADD COLUMN pilot_key TEXT NOT NULL DEFAULT '';
                ALTER TABLE commitments ADD COLUMN selection_date TEXT NOT NULL DEFAULT '';
                CREATE INDEX commitments_pilot ON commitments (pilot_key, measure);
                CREATE TABLE content_keys (
                    key TEXT NOT NULL,
                    application_id TEXT NOT NULL REFERENCES commitments (application_id),
                    PRIMARY KEY (key, application_id)
                );
                """,
            backfill: CityLedger.canonicaliseVersion3Rows
        ),
        // A random identity, generated once, that every district records with the ledger
        // position it last saw: a different ledger file put in place is then recognised even if
        // its audit chain happens to be as long.
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
        // Explanations were stored in the protocol's encoding, which the store cannot read; they
        // are now the store's own JSON (StoredExplanation). The ones written before wait here to
        // be rewritten at the next open (SubsidyStores.convertLegacyContent), which needs the
        // server's decoder.
        SQLiteDatabase.Migration(
            version: 6,
            sql: """
                CREATE TABLE legacy_explanations (application_id TEXT PRIMARY KEY);
                INSERT INTO legacy_explanations SELECT application_id FROM commitments WHERE length(explanation) > 0;
                """
        ),
        // Each cap key's committed total (amount and count of its counted charges), kept by
        // triggers in the same transaction as every change to a charge or to a commitment's
        // state, so a cap check reads one row however many awards exist. Counted means live,
        // disbursed or clawback (CityLedger.counted). The triggers, not the code, keep it: a repair or any
        // other statement that touches charges or states cannot forget it. The independent
        // checker (Tests/SubsidyTestSupport/LedgerChecker.swift) recomputes it from the charges, and
        // so does `subsidyd --check` (MaintainedTotals).
        SQLiteDatabase.Migration(
            version: 7,
            sql: """
                CREATE TABLE cap_totals (
                    cap_id TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    amount_fen INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    PRIMARY KEY (cap_id, scope)
                ) WITHOUT ROWID;
                INSERT INTO cap_totals (cap_id, scope, amount_fen, count)
                    SELECT c.cap_id, c.scope, SUM(c.amount_fen), SUM(c.count) FROM charges c
                    JOIN commitments m ON m.application_id = c.application_id
                    WHERE m.state IN ('live', 'disbursed') GROUP BY c.cap_id, c.scope;
                CREATE TRIGGER cap_totals_charge_added AFTER INSERT ON charges
                WHEN (SELECT state FROM commitments WHERE application_id = NEW.application_id) IN ('live', 'disbursed')
                BEGIN
                    INSERT INTO cap_totals (cap_id, scope, amount_fen, count) VALUES (NEW.cap_id, NEW.scope, NEW.amount_fen, NEW.count)
                    ON CONFLICT (cap_id, scope) DO UPDATE SET amount_fen = amount_fen + excluded.amount_fen, count = count + excluded.count;
                END;
                CREATE TRIGGER cap_totals_charge_removed AFTER DELETE ON charges
                WHEN (SELECT state FROM commitments WHERE application_id = OLD.application_id) IN ('live', 'disbursed')
                BEGIN
                    UPDATE cap_totals SET amount_fen = amount_fen - OLD.amount_fen, count = count - OLD.count
                    WHERE cap_id = OLD.cap_id AND scope = OLD.scope;
                END;
                CREATE TRIGGER cap_totals_charge_changed AFTER UPDATE ON charges
                WHEN (SELECT state FROM commitments WHERE application_id = OLD.application_id) IN ('live', 'disbursed')
                BEGIN
                    UPDATE cap_totals SET amount_fen = amount_fen - OLD.amount_fen, count = count - OLD.count
                    WHERE cap_id = OLD.cap_id AND scope = OLD.scope;
                    INSERT INTO cap_totals (cap_id, scope, amount_fen, count) VALUES (NEW.cap_id, NEW.scope, NEW.amount_fen, NEW.count)
                    ON CONFLICT (cap_id, scope) DO UPDATE SET amount_fen = amount_fen + excluded.amount_fen, count = count + excluded.count;
                END;
                CREATE TRIGGER cap_totals_uncounted AFTER UPDATE OF state ON commitments
                WHEN OLD.state IN ('live', 'disbursed') AND NEW.state NOT IN ('live', 'disbursed')
                BEGIN
                    UPDATE cap_totals SET
                        amount_fen = amount_fen - (SELECT c.amount_fen FROM charges c WHERE c.application_id = NEW.application_id
                                                   AND c.cap_id = cap_totals.cap_id AND c.scope = cap_totals.scope),
                        count = count - (SELECT c.count FROM charges c WHERE c.application_id = NEW.application_id
                                         AND c.cap_id = cap_totals.cap_id AND c.scope = cap_totals.scope)
                    WHERE (cap_id, scope) IN (SELECT cap_id, scope FROM charges WHERE application_id = NEW.application_id);
                END;
                CREATE TRIGGER cap_totals_counted AFTER UPDATE OF state ON commitments
                WHEN OLD.state NOT IN ('live', 'disbursed') AND NEW.state IN ('live', 'disbursed')
                BEGIN
                    INSERT INTO cap_totals (cap_id, scope, amount_fen, count)
                        SELECT cap_id, scope, amount_fen, count FROM charges WHERE application_id = NEW.application_id
                    ON CONFLICT (cap_id, scope) DO UPDATE SET amount_fen = amount_fen + excluded.amount_fen, count = count + excluded.count;
                END;
                CREATE TRIGGER cap_totals_commitment_removed AFTER DELETE ON commitments
                WHEN OLD.state IN ('live', 'disbursed')
                BEGIN
                    UPDATE cap_totals SET
                        amount_fen = amount_fen - (SELECT c.amount_fen FROM charges c WHERE c.application_id = OLD.application_id
                                                   AND c.cap_id = cap_totals.cap_id AND c.scope = cap_totals.scope),
                        count = count - (SELECT c.count FROM charges c WHERE c.application_id = OLD.application_id
                                         AND c.cap_id = cap_totals.cap_id AND c.scope = cap_totals.scope)
                    WHERE (cap_id, scope) IN (SELECT cap_id, scope FROM charges WHERE application_id = OLD.application_id);
                END;
                """
        ),
        // Explanations (a few KB each) move out of the commitment rows into their own table, so
        // the rows every check and view reads stay small and many fit a page; a commitment's
        // explanation is read only when a record is shown.
        SQLiteDatabase.Migration(
            version: 8,
            sql: """
                CREATE TABLE explanations (
                    application_id TEXT PRIMARY KEY REFERENCES commitments (application_id),
                    body BLOB NOT NULL
                );
                INSERT INTO explanations (application_id, body) SELECT application_id, explanation FROM commitments WHERE length(explanation) > 0;
                UPDATE commitments SET explanation = x'' WHERE length(explanation) > 0;
                """
        ),
        // Who has the money: the committed total and count of every enterprise, provider and
        // district per funding year, kept by triggers in the transaction that changes a
        // commitment, so GetQuota's top consumers read an index instead of summing every award.
        // The independent checker (Tests/SubsidyTestSupport/LedgerChecker.swift) recomputes them.
        SQLiteDatabase.Migration(
            version: 9,
            sql: """
                CREATE TABLE consumer_totals (
                    kind TEXT NOT NULL CHECK (kind IN ('enterprise', 'provider', 'district')),
                    id TEXT NOT NULL,
                    funding_year INTEGER NOT NULL,
                    amount_fen INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    PRIMARY KEY (kind, funding_year, id)
                ) WITHOUT ROWID;
                CREATE INDEX consumer_totals_ranked ON consumer_totals (kind, funding_year, amount_fen DESC, id);
                INSERT INTO consumer_totals (kind, id, funding_year, amount_fen, count)
                    SELECT 'enterprise', enterprise, funding_year, SUM(amount_fen), COUNT(*) FROM commitments
                    WHERE state IN ('live', 'disbursed') AND enterprise != '' GROUP BY enterprise, funding_year;
                INSERT INTO consumer_totals (kind, id, funding_year, amount_fen, count)
                    SELECT 'provider', provider, funding_year, SUM(amount_fen), COUNT(*) FROM commitments
                    WHERE state IN ('live', 'disbursed') AND provider != '' GROUP BY provider, funding_year;
                INSERT INTO consumer_totals (kind, id, funding_year, amount_fen, count)
                    SELECT 'district', district, funding_year, SUM(amount_fen), COUNT(*) FROM commitments
                    WHERE state IN ('live', 'disbursed') AND district != '' GROUP BY district, funding_year;
                CREATE TRIGGER consumer_totals_added AFTER INSERT ON commitments
                WHEN NEW.state IN ('live', 'disbursed')
                BEGIN
                    INSERT INTO consumer_totals (kind, id, funding_year, amount_fen, count)
                        SELECT kind, id, NEW.funding_year, NEW.amount_fen, 1 FROM (
                            SELECT 'enterprise' AS kind, NEW.enterprise AS id UNION ALL SELECT 'provider', NEW.provider
                            UNION ALL SELECT 'district', NEW.district) WHERE id != ''
                    ON CONFLICT (kind, funding_year, id) DO UPDATE SET amount_fen = amount_fen + excluded.amount_fen, count = count + 1;
                END;
                CREATE TRIGGER consumer_totals_counted AFTER UPDATE OF state ON commitments
                WHEN OLD.state NOT IN ('live', 'disbursed') AND NEW.state IN ('live', 'disbursed')
                BEGIN
                    INSERT INTO consumer_totals (kind, id, funding_year, amount_fen, count)
                        SELECT kind, id, NEW.funding_year, NEW.amount_fen, 1 FROM (
                            SELECT 'enterprise' AS kind, NEW.enterprise AS id UNION ALL SELECT 'provider', NEW.provider
                            UNION ALL SELECT 'district', NEW.district) WHERE id != ''
                    ON CONFLICT (kind, funding_year, id) DO UPDATE SET amount_fen = amount_fen + excluded.amount_fen, count = count + 1;
                END;
                CREATE TRIGGER consumer_totals_uncounted AFTER UPDATE OF state ON commitments
                WHEN OLD.state IN ('live', 'disbursed') AND NEW.state NOT IN ('live', 'disbursed')
                BEGIN
                    UPDATE consumer_totals SET amount_fen = amount_fen - OLD.amount_fen, count = count - 1
                    WHERE funding_year = OLD.funding_year AND ((kind = 'enterprise' AND id = OLD.enterprise)
                        OR (kind = 'provider' AND id = OLD.provider) OR (kind = 'district' AND id = OLD.district));
                END;
                CREATE TRIGGER consumer_totals_removed AFTER DELETE ON commitments
                WHEN OLD.state IN ('live', 'disbursed')
                BEGIN
                    UPDATE consumer_totals SET amount_fen = amount_fen - OLD.amount_fen, count = count - 1
                    WHERE funding_year = OLD.funding_year AND ((kind = 'enterprise' AND id = OLD.enterprise)
                        OR (kind = 'provider' AND id = OLD.provider) OR (kind = 'district' AND id = OLD.district));
                END;
                CREATE TRIGGER consumer_totals_amount_changed AFTER UPDATE OF amount_fen ON commitments
                WHEN NEW.state IN ('live', 'disbursed') AND OLD.state IN ('live', 'disbursed')
                BEGIN
                    UPDATE consumer_totals SET amount_fen = amount_fen - OLD.amount_fen + NEW.amount_fen
                    WHERE funding_year = NEW.funding_year AND ((kind = 'enterprise' AND id = NEW.enterprise)
                        OR (kind = 'provider' AND id = NEW.provider) OR (kind = 'district' AND id = NEW.district));
                END;
                """
        ),
        // Calls for applications (申报批次) of every programme: the city opens its programmes'
        // calls, a district its own programme's; submissions are checked against them.
        SQLiteDatabase.Migration(
            version: 10,
            sql: """
                CREATE TABLE calls (
                    id TEXT PRIMARY KEY,
                    programme TEXT NOT NULL,
                    measure TEXT NOT NULL,
                    funding_year INTEGER NOT NULL,
                    opens_on TEXT NOT NULL,
                    closes_on TEXT NOT NULL,
                    closed_on TEXT NOT NULL DEFAULT '',
                    title TEXT NOT NULL DEFAULT '',
                    tenant TEXT NOT NULL,
                    actor_uid INTEGER NOT NULL,
                    request_id TEXT NOT NULL,
                    created_at TEXT NOT NULL
                );
                CREATE INDEX calls_measure ON calls (programme, measure, funding_year);
                """
        ),
        // Start-up reconciles each district's decisions with the ledger: with the district alone
        // indexed it walked every imported award too (1.9 s of a 2.3 s start at 1,000,000
        // imported awards). The new index finds a district's decisions directly, in id order,
        // and serves every query the old one did (its first column).
        SQLiteDatabase.Migration(
            version: 11,
            sql: """
                CREATE INDEX commitments_district_source ON commitments (district, source, application_id);
                DROP INDEX commitments_district;
                """
        ),
        // A tenant's request ids are one namespace, bound in its home file (RequestLog). Before,
        // a district's calls kept their ids here only: they are listed to be bound in the
        // district's own file (SubsidyStores.bindEarlierRequestIDs), once, at start-up.
        SQLiteDatabase.Migration(
            version: 12,
            sql: """
                CREATE TABLE requests_to_bind (request_id TEXT PRIMARY KEY) WITHOUT ROWID;
                INSERT INTO requests_to_bind (request_id)
                    SELECT request_id FROM requests WHERE substr(request_id, 1, 5) != 'city:' AND length(response) > 0;
                """
        ),
        // One organisation, one USCC: positions 9–17 (主体标识码, GB 32100) are the
        // organisation's nationally unique code, and position 18 can be recomputed for any
        // positions 1–8, so `92440605MAXHXL35XN` is a valid second code for the enterprise
        // registered as `91440605MAXHXL35XR`, with caps of its own. The index finds a registered
        // code's twins (CityLedger.organisationTwin); not UNIQUE, so that a file holding twins
        // from before still opens (`subsidyd --check` lists them).
        SQLiteDatabase.Migration(
            version: 13,
            sql: """
                CREATE INDEX IF NOT EXISTS applicants_organisation ON applicants (substr(uscc, 9, 9));
                """
        ),
        // The same among awarded enterprises: an import names enterprises no district
        // registered, and their twins count as much.
        SQLiteDatabase.Migration(
            version: 14,
            sql: """
                CREATE INDEX IF NOT EXISTS commitments_organisation ON commitments (substr(enterprise, 9, 9));
                """
        ),
        // The base each award's rate applied to, for stacking on the same content later
        // (``AwardDecision/stackingBase``): 0 for awards recorded before (filled in at start-up),
        // -1 for none (a fixed amount, an import) or one that could not be found.
        .addColumn(version: 15, table: "commitments", column: "stacking_base_fen", definition: "INTEGER NOT NULL DEFAULT 0"),
        // Each district file's audit head as the ledger last saw it (at start-up and at a clean
        // stop): a district file put back alone from an older copy lacks that row, and start-up
        // says so instead of serving without the decisions it lost.
        SQLiteDatabase.Migration(
            version: 16,
            sql: """
                CREATE TABLE IF NOT EXISTS district_heads (
                    district TEXT PRIMARY KEY,
                    seq INTEGER NOT NULL,
                    hash TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                """
        ),
        // The canonical form drops blank symbols, loose combining marks and private-use code
        // points too: each funded content is also known by its key in that form.
        .recanonicaliseFingerprints(version: 17),
        // Tildes (`~`, a GBK spreadsheet's wave dash as FULLWIDTH TILDE) separate like dashes.
        .recanonicaliseFingerprints(version: 18),
        // A pool member a POOL_ENTRY award put in the pool stands on its awards in force (see
        // `reconsiderAwardedPoolMember`): members whose entry awards were all revoked before
        // this release leave the pool, the others are in from their earliest award in force.
        SQLiteDatabase.Migration(
            version: 19,
            sql: """
                DELETE FROM pool_members WHERE source = 'award' AND NOT EXISTS (
                    SELECT 1 FROM commitments WHERE measure = 'POOL_ENTRY' AND enterprise = pool_members.uscc AND state IN \(inForce));
                UPDATE pool_members SET entry_date = (
                    SELECT MIN(decision_date) FROM commitments WHERE measure = 'POOL_ENTRY' AND enterprise = pool_members.uscc AND state IN \(inForce))
                WHERE source = 'award';
                """),
        // Pilot keys under the form with tildes as separators, the once-per-pilot charges (and
        // their totals) moved with them.
        .rederivePilotKeys(version: 20),
        // The upper-level funds each award's application declared, for stacking on the same
        // content later (``AwardDecision/upperLevel``): 0 (none, as imports declare) until
        // start-up reads, district by district as `upper_level_pending` lists them, the few
        // decided applications that declared some (``SubsidyStores/fillStackingBases()``).
        .addColumn(
            version: 21, table: "commitments", column: "upper_level_fen", definition: "INTEGER NOT NULL DEFAULT 0",
            fill: """
                CREATE TABLE IF NOT EXISTS upper_level_pending AS
                SELECT 'chancheng' AS district UNION ALL SELECT 'nanhai' UNION ALL SELECT 'shunde' UNION ALL SELECT 'gaoming' UNION ALL SELECT 'sanshui'
                """),
        // A clawback (revoked after payment) counts against its caps until its recovery is
        // recorded (``CityLedger/counted``); it used to free them at once.
        .countClawbacks(version: 22, triggers: ["cap_totals_": 6, "consumer_totals_": 5], totals: MaintainedTotals.ledger),
        // The recorded recovery of each clawback (``recordRecovery``), which moved it to
        // released: what its district's record must show, should the district step be lost.
        SQLiteDatabase.Migration(
            version: 23,
            sql: """
                CREATE TABLE IF NOT EXISTS recoveries (
                    application_id TEXT PRIMARY KEY REFERENCES commitments (application_id),
                    recovered_on TEXT NOT NULL,
                    document TEXT NOT NULL,
                    request_id TEXT NOT NULL,
                    actor_tenant TEXT NOT NULL,
                    actor_uid INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    created_at TEXT NOT NULL
                ) WITHOUT ROWID;
                """),
    ]

    /// `record` with the explanation of its award, which only the ledger keeps; nil before an
    /// approval.
    func explained(_ record: StoredApplication) throws -> StoredApplication {
        var record = record
        // A district programme's award keeps its explanation in the district row (the ledger has none).
        record.explanation = try database.readNow { try Self.explanation(for: record.id, in: $0) } ?? record.explanation
        return record
    }

    static func explanation(for applicationID: String, in transaction: Transaction) throws -> StoredExplanation? {
        try StoredExplanation.decode(
            try transaction.query("SELECT body FROM explanations WHERE application_id = ?", [.text(applicationID)]).first?.blob("body") ?? [])
    }

    /// Rewrites, in batches, the explanations that migration 6 listed as stored in the protocol's
    /// encoding; returns the application ids `decoder` could not read (left as they were, so
    /// reading them is DATA_LOSS, as any damaged row).
    package func convertLegacyExplanations(using decoder: any LegacyContentDecoder) async throws -> (converted: Int, failed: [String]) {
        try await database.rewriteListedRows(pending: "legacy_explanations", key: "application_id") { transaction, id in
            guard let stored = try transaction.query("SELECT body FROM explanations WHERE application_id = ?", [.text(id)]).first else { return true }
            guard let explanation = try? decoder.explanation(fromLegacy: try stored.blob("body")) else { return false }
            try transaction.query("UPDATE explanations SET body = ? WHERE application_id = ?", [.blob(StoredExplanation.encode(explanation)), .text(id)])
            return true
        }
    }

    /// Migration 4's backfill: every fingerprint, pilot key and pilot charge in canonical form.
    @Sendable
    static func canonicaliseVersion3Rows(_ transaction: Transaction) throws(SQLiteError) {
        let rows = try transaction.query("SELECT application_id, content_fingerprint, pilot_id FROM commitments")
        for row in rows {
            let id = try row.text("application_id"), old = try row.text("content_fingerprint"), pilot = try row.text("pilot_id")
            var fingerprint = old
            var typed = ""
            if old.hasPrefix("contract:") {
                typed = String(old.dropFirst("contract:".count))
                fingerprint = "contract:" + CanonicalText.canonical(typed)
            } else if old.hasPrefix("project:") {
                // project:<measure>:<uscc>:<name>; the name may itself hold colons.
                let parts = old.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
                if parts.count == 4 {
                    typed = String(parts[3])
                    fingerprint = "project:\(parts[2]):" + CanonicalText.canonical(typed)
                }
            }
            let pilotKey = CanonicalText.canonical(pilot)
            try transaction.query(
                "UPDATE commitments SET content_fingerprint = ?, content_typed = ?, pilot_key = ? WHERE application_id = ?",
                [.text(fingerprint), .text(typed), .text(pilotKey), .text(id)]
            )
            try transaction.query("INSERT OR IGNORE INTO content_keys (key, application_id) VALUES (?, ?)", [.text(fingerprint), .text(id)])
            // Once-per-pilot caps were keyed on the typed id: `<policy>/<pilot id>`.
            if !pilot.isEmpty && pilotKey != pilot { try movePilotCharges(of: id, from: pilot, to: pilotKey, in: transaction) }
        }
    }

    /// Moves `id`'s pilot charges (scoped `<period>/<pilot key>`) from the key `old` to `new`; the
    /// maintained totals follow through the `cap_totals_charge_changed` trigger. Rewritten here,
    /// not in SQL, whose length() counts characters where Swift counts bytes.
    static func movePilotCharges(of id: String, from old: String, to new: String, in transaction: Transaction) throws(SQLiteError) {
        for charge in try transaction.query("SELECT cap_id, scope FROM charges WHERE application_id = ?", [.text(id)]) {
            let scope = try charge.text("scope")
            guard scope.hasSuffix("/" + old) else { continue }
            try transaction.query(
                "UPDATE charges SET scope = ? WHERE application_id = ? AND cap_id = ? AND scope = ?",
                [.text(String(scope.dropLast(old.count)) + new), .text(id), .text(try charge.text("cap_id")), .text(scope)]
            )
        }
    }

    /// - Parameter migrating: see ``SQLiteDatabase/init(path:migrations:readers:lookups:cacheKiB:migrating:)``.
    public init(path: String, migrating: Bool = true) throws {
        // Every decision reads the ledger's hot pages (cap totals, content keys, the commitments
        // it checks): 32 MiB a connection keeps them, three connections at most 96 MiB.
        database = try SQLiteDatabase(path: path, migrations: Self.migrations, cacheKiB: 32 * 1024, migrating: migrating)
    }

    /// Commitment states in force: approved (reserved) and disbursed. An award in force keeps a
    /// POOL_ENTRY's provider in the pool, counts as a voucher received, as an earlier award for
    /// one-time rules and difference awards (which subtract awards "not revoked"), and makes its
    /// enterprise's organisation code known; a revoked one does none of these.
    static let inForce = "('\(CommitmentState.live.rawValue)', '\(CommitmentState.disbursed.rawValue)')"

    /// Commitment states that count against caps: in force, and clawbacks. RULES.md: committed =
    /// approved + disbursed, and a revocation after disbursement *records a clawback* — it does
    /// not release the reservation. The money left the programme when it was paid and is not back
    /// until its recovery is recorded (`RecordRecovery`, a clawback → released); counting a
    /// clawback as free would let a revoked-after-payment award and a new one both be paid out of
    /// one cap (ledger migration 22, district migration 21). For the same reason a clawback still
    /// funds its content: a second award for it is double funding, and stacking counts its
    /// amount against the content's base, until the money is back.
    static let counted = "('\(CommitmentState.live.rawValue)', '\(CommitmentState.disbursed.rawValue)', '\(CommitmentState.clawback.rawValue)')"

    /// Where a commitment stands in the ledger.
    public enum CommitmentState: String, Sendable, CaseIterable {
        /// Approved: reserved against every cap.
        case live
        /// Paid: still counted against every cap.
        case disbursed
        /// Released before payment (revoked, or rejected after approval), or a clawback whose
        /// recovery was recorded: no longer counted.
        case released
        /// Revoked after payment: no longer in force, but still counted against its caps until
        /// the money's recovery is recorded (see ``CityLedger/counted``).
        case clawback

        /// Whether the award is in force (see ``CityLedger/inForce``).
        public var isInForce: Bool { self == .live || self == .disbursed }
        /// Whether the commitment counts against its caps (see ``CityLedger/counted``).
        public var countsAgainstCaps: Bool { isInForce || self == .clawback }
    }

    /// How a commitment came into the ledger.
    public enum Source: String, Sendable {
        /// Approved through this system.
        case decision
        /// Imported from decisions made before it (`ImportHistory`).
        case `import`
    }

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
        /// Nil for an imported award (no engine ran).
        public var explanation: StoredExplanation?
        public var state: CommitmentState
        public var requestID: String
        /// For released/clawback: the application state the release moves it to.
        public var releaseState: ApplicationState?
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

        /// One row of `cap_totals` (ledger migration 7): constant time, however many awards exist.
        func committed(_ key: CapKey) throws(SubsidyError) -> CapUsage {
            try wrap { try CommitmentQueries.total(table: "cap_totals", key: key, in: connection) }
        }

        func fundedContent(_ keys: [String]) throws(SubsidyError) -> [FundedContent] {
            // Ordered by the key table's id, which its primary key (key, application_id) already
            // holds in order: by the commitment's copy of it SQLite sorted in a temporary B-tree,
            // every filing's check and every approval.
            try wrap {
                try keys.flatMap { key in
                    try connection.query(
                        """
                        SELECT c.application_id AS application_id, c.state = 'clawback' AS clawback, c.measure AS measure, c.content_typed AS content_typed,
                               c.amount_fen AS amount_fen, c.policy_version AS policy_version, c.stacking_base_fen AS base_fen,
                               MAX(c.upper_level_fen, 0) AS upper_fen, c.content_fingerprint LIKE 'contract:%' AS has_contract FROM content_keys k
                        JOIN commitments c ON c.application_id = k.application_id
                        WHERE k.key = ? AND c.state IN \(CityLedger.counted) ORDER BY k.application_id
                        """,
                        [.text(key)]
                    ).map { row -> FundedContent in
                        FundedContent(
                            applicationID: try row.text("application_id"), measure: try row.decode(Measure.self, "measure"),
                            typed: try row.text("content_typed"), key: key, amount: Money(fen: try row.int("amount_fen")),
                            programme: programmeName(ofVersion: try row.text("policy_version")), base: Money(fen: try row.int("base_fen")),
                            upperLevel: Money(fen: try row.int("upper_fen")), hasContract: try row.int("has_contract") != 0,
                            awaitingRecovery: try row.int("clawback") != 0)
                    }
                }
            }
        }

        func pilotAward(_ pilotKey: String) throws(SubsidyError) -> PilotAward? {
            guard !pilotKey.isEmpty else { return nil }
            let row = try wrap {
                try connection.query(
                    """
                    SELECT application_id, enterprise, selection_date FROM commitments
                    WHERE pilot_key = ? AND measure = 'CLUSTER_PILOT' AND state IN \(CityLedger.inForce)
                    ORDER BY application_id LIMIT 1
                    """,
                    [.text(pilotKey)]
                ).first
            }
            guard let row else { return nil }
            let (id, uscc, selected) = try wrap { (try row.text("application_id"), try row.text("enterprise"), try row.text("selection_date")) }
            guard let enterprise = try? USCC(validating: uscc) else {
                throw SubsidyError(.dataLoss, "commitment \(id) holds an invalid enterprise")
            }
            return PilotAward(applicationID: id, enterprise: enterprise, selectionDate: try? CalendarDate(parsing: selected))
        }

        func isPoolMember(_ provider: USCC, on date: CalendarDate) throws(SubsidyError) -> Bool {
            try wrap {
                try !connection.query(
                    "SELECT 1 FROM pool_members WHERE uscc = ? AND entry_date <= ?", [.text(provider.rawValue), .text(date.description)]
                ).isEmpty
            }
        }

        /// Through the `commitments_voucher` index (measure, enterprise, decision_date).
        func earlierAwards(to enterprise: USCC, under measures: Set<Measure>) throws(SubsidyError) -> [EarlierAward] {
            try wrap { try CommitmentQueries.earlierAwards(table: "commitments", enterprise: enterprise, measures: measures, in: connection) }
        }

        /// The city ledger keeps the city's pool, not a district's catalogue: a city programme
        /// that names a catalogue finds no member (a district programme's catalogue lives in its
        /// own store).
        func isCatalogueMember(_ provider: USCC, catalogue: String, on date: CalendarDate) throws(SubsidyError) -> Bool {
            false
        }

        func voucherRecipients(among enterprises: [USCC], decidedFrom from: CalendarDate, through: CalendarDate) throws(SubsidyError) -> Set<USCC> {
            guard !enterprises.isEmpty else { return [] }
            let wanted = Set(enterprises.map(\.rawValue))
            let rows = try wrap {
                try connection.query(
                    """
                    SELECT DISTINCT enterprise FROM commitments
                    WHERE measure = 'CLOUD_VOUCHER' AND state IN \(CityLedger.inForce) AND decision_date BETWEEN ? AND ?
                    """,
                    [.text(from.description), .text(through.description)]
                )
            }
            // A set, not a scan of the rows per enterprise: a quote may name thousands of served
            // enterprises, and the ledger may hold thousands of recipients.
            let recipients = try wrap { Set(try rows.map { try $0.text("enterprise") }) }
            return Set(enterprises.filter { wanted.contains($0.rawValue) && recipients.contains($0.rawValue) })
        }

        private func wrap<T>(_ body: () throws -> T) throws(SubsidyError) -> T {
            try CommitmentQueries.reading("the ledger", body)
        }
    }

    /// Runs the policy engine against the ledger inside `transaction`.
    func usage(in transaction: Transaction) -> some UsageSnapshot {
        Usage(connection: transaction.connection)
    }

    // MARK: Commitments

    /// Pilot awards decided before the ledger recorded selection dates (migration 4): their ids
    /// and districts, so start-up can fill the date in from the district's stored application.
    package func pilotAwardsWithoutSelectionDate() async throws -> [(applicationID: String, district: String)] {
        try await database.read { transaction in
            try transaction.query(
                "SELECT application_id, district FROM commitments WHERE measure = 'CLUSTER_PILOT' AND selection_date = '' AND source = 'decision'"
            ).map { (applicationID: try $0.text("application_id"), district: try $0.text("district")) }
        }
    }

    /// Awards decided before their base was kept (migration 15) under a measure whose rate has
    /// one, after `after` in id order, at most `limit`: their district applications say what it
    /// was. Paged by id, so a ledger of a million awards is read once, not once per page.
    package func awardsWithoutStackingBase(after: String, limit: Int) async throws -> [(applicationID: String, district: String)] {
        let measures = Measure.allCases.filter { if case .rate = $0.formulaShape { true } else { false } }.map { "'\($0.rawValue)'" }
        return try await database.read { transaction in
            try transaction.query(
                """
                SELECT application_id, district FROM commitments
                WHERE application_id > ? AND stacking_base_fen = 0 AND source = 'decision' AND measure IN (\(measures.joined(separator: ", ")))
                ORDER BY application_id LIMIT ?
                """,
                [.text(after), .integer(Int64(limit))]
            ).map { (applicationID: try $0.text("application_id"), district: try $0.text("district")) }
        }
    }

    /// Records the bases ``awardsWithoutStackingBase(after:limit:)`` found; -1 for one whose
    /// application could not say (unknown, as 0 is, but not looked for again).
    package func recordStackingBases(_ bases: [(applicationID: String, fen: Int64)]) async throws {
        try await database.write { transaction in
            for base in bases {
                try transaction.query(
                    "UPDATE commitments SET stacking_base_fen = ? WHERE application_id = ? AND stacking_base_fen = 0", [.integer(base.fen), .text(base.applicationID)])
            }
        }
    }

    /// The districts whose decided applications' declared upper-level funds the ledger has not
    /// read yet (migration 21).
    package func upperLevelPendingDistricts() async throws -> [DistrictID] {
        try await database.read { transaction in
            try transaction.query("SELECT district FROM upper_level_pending").compactMap { DistrictID(rawValue: try $0.text("district")) }
        }
    }

    /// Records `declared` (``DistrictStore/declaredUpperLevels()``) on `district`'s commitments,
    /// and that the district is read, in one transaction.
    package func recordUpperLevels(_ declared: [(applicationID: String, fen: Int64)], of district: DistrictID) async throws {
        try await database.write { transaction in
            for (id, fen) in declared {
                try transaction.query(
                    "UPDATE commitments SET upper_level_fen = ? WHERE application_id = ? AND district = ? AND upper_level_fen = 0",
                    [.integer(fen), .text(id), .text(district.rawValue)])
            }
            try transaction.query("DELETE FROM upper_level_pending WHERE district = ?", [.text(district.rawValue)])
        }
    }

    /// Records the selection date of a pilot award decided before migration 4.
    package func recordSelectionDate(_ date: CalendarDate, for applicationID: String) async throws {
        try await database.write { transaction in
            _ = try transaction.query(
                "UPDATE commitments SET selection_date = ? WHERE application_id = ? AND selection_date = ''", [.text(date.description), .text(applicationID)])
        }
    }

    func commitment(for applicationID: String, in transaction: Transaction) throws -> Commitment? {
        try transaction.query(
            """
            SELECT application_id, district, measure, funding_year, enterprise, amount_fen, decision_date, decision_document,
                   policy_version, (SELECT body FROM explanations e WHERE e.application_id = commitments.application_id) AS explanation,
                   state, request_id, release_state, release_request_id,
                   actor_tenant, actor_uid, reason, release_actor_tenant, release_actor_uid, release_reason
            FROM commitments WHERE application_id = ?
            """,
            [.text(applicationID)]
        ).first.map { try Self.commitment(row: $0) }
    }

    public func commitments(district: String) async throws -> [Commitment] {
        try await database.read { transaction in
            try transaction.query(
                """
                SELECT application_id, district, measure, funding_year, enterprise, amount_fen, decision_date, decision_document,
                       policy_version, (SELECT body FROM explanations e WHERE e.application_id = commitments.application_id) AS explanation,
                   state, request_id, release_state, release_request_id,
                       actor_tenant, actor_uid, reason, release_actor_tenant, release_actor_uid, release_reason
                FROM commitments WHERE district = ? AND source = 'decision' ORDER BY application_id
                """,
                [.text(district)]
            ).map { try Self.commitment(row: $0) }
        }
    }

    private static func commitment(row: SQLiteRow) throws -> Commitment {
        let releaseState = try row.text("release_state")
        return Commitment(
            applicationID: try row.text("application_id"), district: try row.text("district"), measure: try row.text("measure"),
            fundingYear: Int(try row.int("funding_year")), enterprise: try row.text("enterprise"), amountFen: try row.int("amount_fen"),
            decisionDate: try row.text("decision_date"), decisionDocument: try row.text("decision_document"),
            policyVersion: try row.text("policy_version"), explanation: try StoredExplanation.decode(try row.optionalBlob("explanation") ?? []),
            state: try row.decode(CommitmentState.self, "state"), requestID: try row.text("request_id"),
            releaseState: releaseState.isEmpty ? nil : try row.decode(ApplicationState.self, "release_state"),
            releaseRequestID: try row.text("release_request_id"),
            actor: Actor(tenant: try row.text("actor_tenant"), uid: UInt32(truncatingIfNeeded: try row.int("actor_uid"))), reason: try row.text("reason"),
            releaseActor: Actor(tenant: try row.text("release_actor_tenant"), uid: UInt32(truncatingIfNeeded: try row.int("release_actor_uid"))),
            releaseReason: try row.text("release_reason")
        )
    }

    /// Records a decision's commitment and every cap charge, re-checking each cap inside the same
    /// transaction (the policy engine already did; this is the ledger's own guarantee). Returns
    /// the explanation it stored, for the reply: rendering one is 4% of an approval's CPU.
    func commit(
        applicationID: String, district: String, application: Application, decision: AwardDecision,
        requestID: String, actor: Actor, reason: String, twinsElsewhere: [OrganisationAward], at time: String, in transaction: Transaction
    ) throws -> StoredExplanation {
        // `twinsElsewhere`: the districts' programme awards of the organisation, read under its lock.
        let enterprise = decision.enterprise.rawValue
        if let refusal = Self.twinRefusal(enterprise, awards: try organisationAwards(of: enterprise, in: transaction) + twinsElsewhere) {
            throw SubsidyError.precondition("applicant", refusal)
        }
        let explanation = StoredExplanation(decision)
        try insertCommitment(
            CommitmentFields(
                applicationID: applicationID, district: district, measure: decision.measure, fundingYear: decision.fundingYear.year,
                enterprise: decision.enterprise.rawValue, provider: application.provider?.rawValue ?? "", pilotID: application.pilotID,
                contentFingerprint: decision.contentFingerprint, contentKeys: decision.contentKeys, contentTyped: decision.contentTyped,
                pilotKey: decision.pilotKey,
                selectionDate: decision.selectionDate, amount: decision.award, decisionDate: decision.decisionDate,
                decisionDocument: decision.decisionDocument ?? "", policyVersion: decision.policyVersion, explanation: explanation,
                source: .decision, requestID: requestID, inProvincialPool: application.inProvincialPool,
                actor: actor, reason: reason, stackingBase: decision.stackingBase, upperLevel: decision.upperLevel
            ),
            charges: decision.charges, at: time, in: transaction
        )
        return explanation
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
        /// Every key the content is known by (``Application/contentKeys``); empty means just the
        /// fingerprint.
        public var contentKeys: [String]
        /// The contract number or project name as typed, beside the canonical fingerprint.
        public var contentTyped: String
        /// The canonical pilot id (``Application/pilotKey``), for pilot measures.
        public var pilotKey: String
        /// A pilot's selection date, recorded with its award for the follow-on's window.
        public var selectionDate: CalendarDate?
        public var amount: Money
        public var decisionDate: CalendarDate
        public var decisionDocument: String
        public var policyVersion: String
        public var explanation: StoredExplanation?
        public var source: Source
        public var requestID: String
        public var inProvincialPool: Bool
        public var actor: Actor
        public var reason: String
        /// False for an imported row with neither contract nor project: its content is made up
        /// of its decision, so a respelling of the decision is the same award (see
        /// ``CityLedger/importID(of:alongside:in:)``).
        public var namesItsContent = true
        /// ``AwardDecision/stackingBase``; zero (unknown) for an import.
        public var stackingBase: Money = .zero
        /// ``AwardDecision/upperLevel``; zero for an import.
        public var upperLevel: Money = .zero
        /// An import's content keys under earlier canonical forms (``Application/lookupKeys``):
        /// looked for, not stored.
        public var earlierKeys: [String] = []
        /// An import's id as a release before the canonical form last changed derived it from the
        /// same row (nil when its texts' keys did not change): a re-import of an old file finds
        /// its awards already present there, not as new awards of content already funded.
        public var earlierApplicationID: String?
        /// For an imported row with a contract number: the id the same row had without it. An
        /// award there is this one imported before without its contract, not another award.
        public var idWithoutContract: String?

        public init(
            applicationID: String, district: String, measure: Measure, fundingYear: Int, enterprise: String, provider: String,
            pilotID: String, contentFingerprint: String, contentKeys: [String] = [], contentTyped: String = "", pilotKey: String = "",
            selectionDate: CalendarDate? = nil, amount: Money, decisionDate: CalendarDate, decisionDocument: String,
            policyVersion: String, explanation: StoredExplanation?, source: Source, requestID: String, inProvincialPool: Bool,
            actor: Actor, reason: String, stackingBase: Money = .zero, upperLevel: Money = .zero
        ) {
            self.stackingBase = stackingBase
            self.upperLevel = upperLevel
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
            self.contentKeys = contentKeys
            self.contentTyped = contentTyped
            self.pilotKey = pilotKey
            self.selectionDate = selectionDate
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
    func insertCommitment(
        _ fields: CommitmentFields, charges: [CapCharge], at time: String, in transaction: Transaction
    ) throws {
        try transaction.query(
            """
            INSERT INTO commitments (application_id, district, measure, funding_year, enterprise, provider, pilot_id,
                content_fingerprint, amount_fen, decision_date, decision_document, policy_version, explanation, state, source,
                request_id, created_at, updated_at, actor_tenant, actor_uid, reason, content_typed, pilot_key, selection_date, stacking_base_fen,
                upper_level_fen)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'live', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.text(fields.applicationID), .text(fields.district), .text(fields.measure.rawValue), .integer(Int64(fields.fundingYear)),
             .text(fields.enterprise), .text(fields.provider), .text(fields.pilotID), .text(fields.contentFingerprint),
             .integer(fields.amount.fen), .text(fields.decisionDate.description), .text(fields.decisionDocument),
             .text(fields.policyVersion), .blob([]), .text(fields.source.rawValue), .text(fields.requestID), .text(time), .text(time),
             .text(fields.actor.tenant), .integer(Int64(fields.actor.uid)), .text(fields.reason),
             .text(fields.contentTyped), .text(fields.pilotKey), .text(fields.selectionDate?.description ?? ""), .integer(fields.stackingBase > .zero ? fields.stackingBase.fen : -1),
             .integer(fields.upperLevel.fen)]
        )
        for key in fields.contentKeys.isEmpty ? [fields.contentFingerprint] : fields.contentKeys {
            try transaction.query("INSERT INTO content_keys (key, application_id) VALUES (?, ?)", [.text(key), .text(fields.applicationID)])
        }
        if let explanation = fields.explanation {
            try transaction.query(
                "INSERT INTO explanations (application_id, body) VALUES (?, ?)", [.text(fields.applicationID), .blob(StoredExplanation.encode(explanation))])
        }
        let usage = Usage(connection: transaction.connection)
        for charge in charges {
            try transaction.query(
                "INSERT INTO charges (application_id, cap_id, scope, amount_fen, count) VALUES (?, ?, ?, ?, ?)",
                [.text(fields.applicationID), .text(charge.key.capID), .text(charge.key.scope), .integer(charge.amount.fen), .integer(Int64(charge.count))]
            )
            try CommitmentQueries.requireWithinLimit(charge, after: try usage.committed(charge.key), applicationID: fields.applicationID)
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
            AuditEvent("commit", [
                .text("application", fields.applicationID), .text("source", fields.source.rawValue), .text("district", fields.district),
                .text("measure", fields.measure.rawValue), .integer("amount_fen", fields.amount.fen), .text("content", fields.contentFingerprint),
                .text("policy", fields.policyVersion), .text("request", fields.requestID),
            ]
              // The base binds later awards for the content (stacking): in the chain, not only
              // in a column that could be changed unseen.
              + (fields.stackingBase > .zero ? [.integer("base_fen", fields.stackingBase.fen)] : [])
              + (fields.upperLevel > .zero ? [.integer("upper_level_fen", fields.upperLevel.fen)] : [])
              + AuditEvent.Field.actor(fields.actor) + [.text("reason", fields.reason)]
              + charges.map { .text("charge", "\($0.key)+\($0.amount.fen)/\($0.count)") }),
            at: time, in: transaction
        )
    }

    /// Releases a commitment (reject after approval, revocation); after disbursement it becomes a
    /// clawback. `targetState` is the application state the district must reach; `note`, fields
    /// the audit event carries besides (an imported award's revocation: its date and document).
    func release(
        applicationID: String, targetState: ApplicationState, requestID: String, actor: Actor, reason: String,
        note: [AuditEvent.Field] = [], at time: String, in transaction: Transaction
    ) throws {
        let commitment = try existingCommitment(for: applicationID, in: transaction)
        let newState: CommitmentState
        switch commitment.state {
        case .live: newState = .released
        case .disbursed: newState = .clawback
        case .released, .clawback:
            throw SubsidyError.precondition("commitment", "the commitment of \(applicationID) is already \(commitment.state)")
        }
        try transaction.query(
            """
            UPDATE commitments SET state = ?, release_state = ?, release_request_id = ?, release_actor_tenant = ?,
                release_actor_uid = ?, release_reason = ?, updated_at = ?
            WHERE application_id = ?
            """,
            [.text(newState.rawValue), .text(targetState.rawValue), .text(requestID), .text(actor.tenant), .integer(Int64(actor.uid)),
             .text(reason), .text(time), .text(applicationID)]
        )
        try appendEvent(applicationID: applicationID, district: commitment.district, state: targetState.rawValue, amountFen: commitment.amountFen, at: time, in: transaction)
        if commitment.measure == Measure.poolEntry.rawValue {
            try reconsiderAwardedPoolMember(commitment.enterprise, in: transaction)
        }
        try AuditChain.append(
            AuditEvent(newState.rawValue, [
                .text("application", applicationID), .integer("amount_fen", commitment.amountFen), .text("to", targetState.rawValue),
                .text("request", requestID),
            ] + note + AuditEvent.Field.actor(actor) + [.text("reason", reason)]),
            at: time, in: transaction
        )
    }

    /// A clawback's recovery as the ledger recorded it (``recordRecovery``).
    struct Recovery: Sendable, Equatable {
        var recoveredOn: String
        var document: String
        var requestID: String
        var actor: Actor
        var reason: String
    }

    /// Records that the money of a clawback came back on `date`: the commitment is released and
    /// no longer counts against its caps (the triggers take its charges out). Only a clawback;
    /// its recovery is kept for the district's record (``recovery(for:in:)``).
    func recordRecovery(
        applicationID: String, on date: CalendarDate, document: String, requestID: String, actor: Actor, reason: String, at time: String,
        in transaction: Transaction
    ) throws {
        let commitment = try existingCommitment(for: applicationID, in: transaction)
        guard commitment.state == .clawback else {
            throw SubsidyError.precondition("commitment", "the commitment of \(applicationID) is \(commitment.state), not a clawback")
        }
        try transaction.query(
            "UPDATE commitments SET state = ?, updated_at = ? WHERE application_id = ?",
            [.text(CommitmentState.released.rawValue), .text(time), .text(applicationID)])
        try transaction.query(
            """
            INSERT INTO recoveries (application_id, recovered_on, document, request_id, actor_tenant, actor_uid, reason, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.text(applicationID), .text(date.description), .text(document), .text(requestID), .text(actor.tenant), .integer(Int64(actor.uid)),
             .text(reason), .text(time)])
        try AuditChain.append(
            AuditEvent("recover", [
                .text("application", applicationID), .integer("amount_fen", commitment.amountFen), .text("recovered_on", date.description),
                .text("document", document), .text("request", requestID),
            ] + AuditEvent.Field.actor(actor) + [.text("reason", reason)]),
            at: time, in: transaction
        )
    }

    /// The recorded recovery of `applicationID`'s clawback, if there is one.
    func recovery(for applicationID: String, in transaction: Transaction) throws -> Recovery? {
        try transaction.query(
            "SELECT recovered_on, document, request_id, actor_tenant, actor_uid, reason FROM recoveries WHERE application_id = ?", [.text(applicationID)]
        ).first.map {
            Recovery(
                recoveredOn: try $0.text("recovered_on"), document: try $0.text("document"), requestID: try $0.text("request_id"),
                actor: Actor(tenant: try $0.text("actor_tenant"), uid: UInt32(truncatingIfNeeded: try $0.int("actor_uid"))), reason: try $0.text("reason"))
        }
    }

    /// A pool member that a POOL_ENTRY award put in the pool (source `award`) stands on its
    /// awards in force: once none is left it leaves the pool, else it is in from the earliest left.
    /// Without this a revoked entry award (an import made in error, say) kept its provider in the
    /// pool, and vouchers for its products were still approved. A member the city registered
    /// itself (RegisterPoolMember) stands on that decision and is not touched. The release's own
    /// audit event records the change: the pool follows from the ledger's awards.
    private func reconsiderAwardedPoolMember(_ enterprise: String, in transaction: Transaction) throws {
        let first = try transaction.query(
            "SELECT MIN(decision_date) AS first FROM commitments WHERE measure = 'POOL_ENTRY' AND enterprise = ? AND state IN \(Self.inForce)",
            [.text(enterprise)]
        ).first.flatMap { try? $0.text("first") }
        if let first {
            try transaction.query("UPDATE pool_members SET entry_date = ? WHERE uscc = ? AND source = 'award'", [.text(first), .text(enterprise)])
        } else {
            try transaction.query("DELETE FROM pool_members WHERE uscc = ? AND source = 'award'", [.text(enterprise)])
        }
    }

    /// The commitment of `applicationID`, which a ledger step after approval changes: none is an
    /// internal error (the district's state said there was one).
    private func existingCommitment(for applicationID: String, in transaction: Transaction) throws -> Commitment {
        guard let commitment = try commitment(for: applicationID, in: transaction) else {
            throw SubsidyError(.internal, "no commitment for \(applicationID) in the ledger")
        }
        return commitment
    }

    /// Marks a commitment disbursed (still counted against its caps).
    func markDisbursed(
        applicationID: String, requestID: String, actor: Actor, reason: String, at time: String, in transaction: Transaction
    ) throws {
        let commitment = try existingCommitment(for: applicationID, in: transaction)
        guard commitment.state == .live else {
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
        try AuditChain.append(
            AuditEvent("disburse", [
                .text("application", applicationID), .integer("amount_fen", commitment.amountFen), .text("request", requestID),
            ] + AuditEvent.Field.actor(actor) + [.text("reason", reason)]),
            at: time, in: transaction
        )
    }

    private func appendEvent(applicationID: String, district: String, state: String, amountFen: Int64, at time: String, in transaction: Transaction) throws {
        try transaction.query(
            "INSERT INTO events (application_id, district, state, amount_fen, at) VALUES (?, ?, ?, ?, ?)",
            [.text(applicationID), .text(district), .text(state), .integer(amountFen), .text(time)]
        )
    }

    // MARK: Idempotency

    /// Like ``DistrictStore/mutate(_:_:)`` for city-only requests (pool registration, imports).
    func mutate(_ request: RequestKey, _ body: @escaping @Sendable (Transaction, String) throws -> [UInt8]) async throws -> [UInt8] {
        try await RequestLog.mutate(database, request, body)
    }
}

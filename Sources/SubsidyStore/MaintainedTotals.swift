import CSQLite
import SubsidyCore

/// A table the store keeps so that a check reads one row instead of every award — a cap's
/// committed total, an enterprise's or provider's year, a call's counts — by triggers on every
/// change the daemon makes to the records it sums, in that change's transaction. Caps are checked
/// against these rows, so a row that drifted from its records (a damaged page, a hand-edited
/// file, a statement no trigger covers) would let a cap be over-committed or refuse a lawful
/// award without a trace. `subsidyd --check` recomputes every one from its records
/// (``differences(in:)``), and `subsidyd --repair` rebuilds those that differ (``rebuild(in:by:at:)``),
/// recorded in the file's audit chain. Each pass reads every counted award (or every application
/// filed under a call): for a stopped daemon, never on a call's path.
public struct MaintainedTotals: Sendable {
    /// The table kept.
    public let table: String
    /// Its columns, keys first, then the two values.
    let columns: [String]
    /// The key as one readable text (an SQL expression over `columns`), for reports.
    let key: String
    /// The two value columns (amount and count, or count and late).
    let values: (String, String)
    /// A SELECT of `columns`, in order and named so, computed afresh from the records.
    let recompute: String

    /// The ledger's: cap totals (ledger migration 7) and consumer totals (migration 9).
    public static let ledger = [capTotals, consumerTotals]
    /// A district file's: its own programme's cap totals (district migration 8) and the counts
    /// per call for applications (migration 12).
    public static let district = [programmeTotals, callCounts]

    static let capTotals = capTotals(table: "cap_totals", charges: "charges", commitments: "commitments")
    static let programmeTotals = capTotals(table: "programme_totals", charges: "programme_charges", commitments: "programme_commitments")

    private static func capTotals(table: String, charges: String, commitments: String) -> Self {
        Self(
            table: table, columns: ["cap_id", "scope", "amount_fen", "count"], key: "cap_id || '[' || scope || ']'", values: ("amount_fen", "count"),
            recompute: """
                SELECT c.cap_id AS cap_id, c.scope AS scope, SUM(c.amount_fen) AS amount_fen, SUM(c.count) AS count FROM \(charges) c
                JOIN \(commitments) m ON m.application_id = c.application_id
                WHERE m.state IN \(CityLedger.counted) GROUP BY c.cap_id, c.scope
                """
        )
    }

    static let consumerTotals = Self(
        table: "consumer_totals", columns: ["kind", "id", "funding_year", "amount_fen", "count"], key: "kind || ' ' || id || ' ' || funding_year",
        values: ("amount_fen", "count"),
        recompute: ["enterprise", "provider", "district"].map { kind in
            """
            SELECT '\(kind)' AS kind, \(kind) AS id, funding_year, SUM(amount_fen) AS amount_fen, COUNT(*) AS count FROM commitments
            WHERE state IN \(CityLedger.counted) AND \(kind) != '' GROUP BY \(kind), funding_year
            """
        }.joined(separator: "\nUNION ALL\n")
    )

    static let callCounts = Self(
        table: "call_counts", columns: ["call_id", "state", "n", "late"], key: "call_id || ' ' || state", values: ("n", "late"),
        recompute: "SELECT call_id, state, COUNT(*) AS n, SUM(late_reason != '') AS late FROM applications WHERE call_id != '' GROUP BY call_id, state"
    )

    /// Fills the (empty) table from ``recompute``. (The migrations that created the tables keep
    /// their own literal SQL, which computes the same: a released migration is never edited.)
    var fill: String {
        "INSERT INTO \(table) (\(columns.joined(separator: ", ")))\n\(recompute)"
    }

    /// One key whose kept row and recomputed row differ. A missing row and a row of zeros are the
    /// same thing (a key whose awards were all released keeps a zero row). Values are shown as
    /// SQLite holds them: a hand edit may have left a real or a text where an integer belongs, and
    /// the check must report that row, not fail on it.
    public struct Difference: Sendable, Equatable, CustomStringConvertible {
        public var table: String
        public var key: String
        public var kept: [String]
        public var recomputed: [String]

        public var description: String {
            "\(table) \(key): kept \(kept.joined(separator: ", ")); its records give \(recomputed.joined(separator: ", "))"
        }
    }

    /// Every key where the table and its records differ, in key order. The values are compared as
    /// text, so a value of the wrong type differs instead of stopping the check.
    func differences(in transaction: Transaction) throws -> [Difference] {
        let (first, second) = values
        let shown = "\(key) AS key, CAST(\(first) AS TEXT) AS a, CAST(\(second) AS TEXT) AS b"
        let kept = "SELECT \(shown) FROM \(table) WHERE \(first) != 0 OR \(second) != 0"
        let fresh = "SELECT \(shown) FROM (\(recompute)) WHERE \(first) != 0 OR \(second) != 0"
        var differences: [String: Difference] = [:]
        for (side, sql) in [("kept", "\(kept) EXCEPT \(fresh)"), ("fresh", "\(fresh) EXCEPT \(kept)")] {
            for row in try transaction.query(sql) {
                let key = try row.optionalText("key") ?? "(no key)"
                let pair = [try row.optionalText("a") ?? "NULL", try row.optionalText("b") ?? "NULL"]
                var difference = differences[key] ?? Difference(table: table, key: key, kept: ["0", "0"], recomputed: ["0", "0"])
                if side == "kept" { difference.kept = pair } else { difference.recomputed = pair }
                differences[key] = difference
            }
        }
        return differences.values.sorted { $0.key < $1.key }
    }

    /// Rebuilds the table from its records when they differ, recording in the file's audit chain
    /// how many keys differed and the first of them (kept and recomputed); returns the
    /// differences (none: nothing written, nothing recorded).
    func rebuild(in transaction: Transaction, by actor: Actor, at time: String) throws -> [Difference] {
        let differences = try differences(in: transaction)
        guard !differences.isEmpty else { return [] }
        for statement in ["DELETE FROM \(table)", fill] {
            _ = try transaction.query(statement)
        }
        try AuditChain.append(
            AuditEvent("rebuild-totals", [
                .text("table", table), .integer("keys", Int64(differences.count)),
                .text(
                    "first",
                    InputLimits.shown(differences.prefix(Self.auditedDifferences).map(\.description).joined(separator: "; "), maximumBytes: Self.auditedBytes)
                ),
            ] + AuditEvent.Field.actor(actor)),
            at: time, in: transaction
        )
        return differences
    }

    /// How many differences a rebuild's audit event names (the count says how many there were),
    /// in at most how many bytes (a hand-edited key may be long).
    static let auditedDifferences = 50
    static let auditedBytes = 16_384
}

extension SQLiteDatabase.Migration {
    /// Clawbacks count against caps (``CityLedger/counted``): every trigger named `prefix`… that
    /// kept `totals` over the commitments in force is recreated with the clawback state among the
    /// counted ones, and each table whose rows then differ from its records is rebuilt, recorded
    /// in the file's audit chain (`rebuild-totals`, by `migration`) — its committed totals rise by
    /// the clawbacks made before this release. `triggers` gives how many triggers of each prefix
    /// this release's schema has: a file with another number, or one whose text no longer names
    /// the states as the release wrote it, is refused as damaged (its totals would go on freeing
    /// clawbacks, or drift) rather than migrated. Written to be re-run: a trigger already
    /// rewritten no longer holds the old list, and equal totals are left alone.
    static func countClawbacks(version: Int, triggers: KeyValuePairs<String, Int>, totals: [MaintainedTotals]) -> Self {
        Self(version: version, sql: "") { transaction throws(SQLiteError) in
            for (prefix, expected) in triggers {
                let rewritten = try transaction.query(
                    """
                    SELECT name, replace(sql, ?2, ?3) AS sql FROM sqlite_master
                    WHERE type = 'trigger' AND substr(name, 1, length(?1)) = ?1 AND instr(sql, ?2) > 0 ORDER BY name
                    """,
                    [.text(prefix), .text(CityLedger.inForce), .text(CityLedger.counted)])
                for trigger in rewritten {
                    _ = try transaction.query("DROP TRIGGER \(try trigger.text("name"))")
                    _ = try transaction.query(try trigger.text("sql"))
                }
                let counting = try transaction.query(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, length(?1)) = ?1 AND instr(sql, ?2) > 0",
                    [.text(prefix), .text(CityLedger.counted)]
                ).count
                let all = try transaction.query(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, length(?1)) = ?1", [.text(prefix)]
                ).count
                guard counting == expected, all == expected else {
                    throw SQLiteError.damaged(
                        "its \(prefix)… triggers are not the ones subsidyd wrote (\(all), \(counting) of them counting clawbacks; this release's schema has "
                            + "\(expected)): they were edited or dropped by hand, and cannot be migrated to count clawbacks")
                }
            }
            do {
                for table in totals { _ = try table.rebuild(in: transaction, by: Actor(tenant: "migration", uid: 0), at: Timestamp.now()) }
            } catch let error as SQLiteError {
                throw error
            } catch {
                throw SQLiteError(code: SQLITE_ERROR, message: "rebuilding the totals: \(error)")
            }
        }
    }
}

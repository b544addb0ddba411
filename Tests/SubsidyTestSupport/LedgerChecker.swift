import CSQLite
import CSQLiteProcess
import Foundation
import SubsidyCore

/// An independent check of the invariants of DESIGN.md §4, reading the SQLite files directly
/// with plain SQL — none of the store code is used, so a bug there cannot hide itself.
public enum LedgerChecker {
    /// The caps of every programme file in `Deploy/policy` (read once).
    static let shippedProgrammeCaps: [CapRule] = {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Deploy/policy")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasSuffix(".toml") }.sorted().flatMap { file -> [CapRule] in
            guard let text = try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8),
                  let programme = try? Policy.load(text: text, name: String(file.dropLast(5)))
            else { return [] }
            return programme.caps
        }
    }()

    /// Every violation found; empty when the data directory is consistent.
    public static func violations(dataDirectory: String, policy: Policy) throws -> [String] {
        var problems: [String] = []
        let ledger = try ReadOnlyDatabase(path: dataDirectory + "/city-ledger.sqlite")

        // 1. For every cap and scope: committed ≤ limit (amount and count). Committed: approved,
        //    disbursed, and clawed back (revoked after payment) until the recovery is recorded.
        // The caps of `policy` and of every other programme shipped beside it (their awards share
        // the ledger; cap ids are unique across programmes).
        let limits = Dictionary((policy.caps + shippedProgrammeCaps).map { ($0.id, $0.limit) }, uniquingKeysWith: { first, _ in first })
        for row in try ledger.rows("""
            SELECT c.cap_id, c.scope, SUM(c.amount_fen), SUM(c.count) FROM charges c
            JOIN commitments m ON m.application_id = c.application_id
            WHERE m.state IN ('live', 'disbursed', 'clawback') GROUP BY c.cap_id, c.scope
            """)
        {
            guard let limit = limits[row[0]] else {
                problems.append("charge against unknown cap \(row[0])")
                continue
            }
            switch limit {
            case .amount(let money) where Int64(row[2])! > money.fen:
                problems.append("cap \(row[0])[\(row[1])] over its limit: \(row[2]) > \(money.fen)")
            case .count(let count) where Int(row[3])! > count:
                problems.append("cap \(row[0])[\(row[1])] over its count: \(row[3]) > \(count)")
            default: break
            }
        }
        // The maintained totals the store checks caps against (cap_totals, kept by triggers) are
        // exactly the sums recomputed here from the charges of counted commitments; a key whose
        // awards were all released keeps a zero row.
        var recomputed: [String: (amount: String, count: String)] = [:]
        for row in try ledger.rows("""
            SELECT c.cap_id, c.scope, SUM(c.amount_fen), SUM(c.count) FROM charges c
            JOIN commitments m ON m.application_id = c.application_id
            WHERE m.state IN ('live', 'disbursed', 'clawback') GROUP BY c.cap_id, c.scope
            """)
        {
            recomputed[row[0] + "[" + row[1] + "]"] = (row[2], row[3])
        }
        var maintained: [String: (amount: String, count: String)] = [:]
        for row in try ledger.rows("SELECT cap_id, scope, amount_fen, count FROM cap_totals WHERE amount_fen != 0 OR count != 0") {
            maintained[row[0] + "[" + row[1] + "]"] = (row[2], row[3])
        }
        for key in Set(recomputed.keys).union(maintained.keys) where recomputed[key]?.amount != maintained[key]?.amount || recomputed[key]?.count != maintained[key]?.count {
            problems.append("cap total \(key) is kept as \(maintained[key].map { "\($0.amount) fen, \($0.count)" } ?? "none") but its charges add up to \(recomputed[key].map { "\($0.amount) fen, \($0.count)" } ?? "none")")
        }
        // The maintained consumer totals (consumer_totals, ledger migration 9) are the sums of
        // the counted commitments per enterprise, provider and district and year.
        var consumersRecomputed: [String: String] = [:]
        for kind in ["enterprise", "provider", "district"] {
            for row in try ledger.rows(
                "SELECT \(kind), funding_year, SUM(amount_fen), COUNT(*) FROM commitments WHERE state IN ('live', 'disbursed', 'clawback') AND \(kind) != '' GROUP BY \(kind), funding_year"
            ) {
                consumersRecomputed["\(kind) \(row[0]) \(row[1])"] = "\(row[2]) fen, \(row[3])"
            }
        }
        var consumersKept: [String: String] = [:]
        for row in try ledger.rows("SELECT kind, id, funding_year, amount_fen, count FROM consumer_totals WHERE amount_fen != 0 OR count != 0") {
            consumersKept["\(row[0]) \(row[1]) \(row[2])"] = "\(row[3]) fen, \(row[4])"
        }
        for key in Set(consumersRecomputed.keys).union(consumersKept.keys) where consumersRecomputed[key] != consumersKept[key] {
            problems.append("consumer total \(key) is kept as \(consumersKept[key] ?? "none") but its commitments add up to \(consumersRecomputed[key] ?? "none")")
        }
        // Charges add up to the commitment's amount per cap (no charge lost or doubled).
        for row in try ledger.rows("""
            SELECT DISTINCT m.application_id FROM charges c JOIN commitments m ON m.application_id = c.application_id
            WHERE c.amount_fen != 0 AND c.amount_fen != m.amount_fen
            """)
        {
            problems.append("commitment \(row[0]) has charges that do not match its amount")
        }

        // 2. Every approved application has exactly one live commitment of the same amount, and vice versa.
        var commitments: [String: (state: String, amount: Int64)] = [:]
        for row in try ledger.rows("SELECT application_id, state, amount_fen FROM commitments WHERE source = 'decision'") {
            commitments[row[0]] = (row[1], Int64(row[2])!)
        }
        var seen = Set<String>()
        for district in DistrictID.allCases {
            let store = try ReadOnlyDatabase(path: "\(dataDirectory)/districts/\(district.rawValue).sqlite")
            // A district programme's awards are the district file's own (DistrictProgrammeChecker).
            for row in try store.rows("SELECT id, state, awarded_fen FROM applications WHERE id NOT IN (SELECT application_id FROM programme_commitments)") {
                let (id, state, awarded) = (row[0], row[1], Int64(row[2])!)
                let commitment = commitments[id]
                seen.insert(id)
                switch state {
                case "APPROVED", "PUBLICIZED", "DISBURSED":
                    guard let commitment, ["live", "disbursed"].contains(commitment.state) else {
                        problems.append("\(id) is \(state) without a live commitment")
                        continue
                    }
                    if commitment.amount != awarded { problems.append("\(id) awarded \(awarded) but committed \(commitment.amount)") }
                    if (state == "DISBURSED") != (commitment.state == "disbursed") {
                        problems.append("\(id) is \(state) but its commitment is \(commitment.state)")
                    }
                default:
                    if let commitment, ["live", "disbursed"].contains(commitment.state) {
                        problems.append("\(id) is \(state) but holds a live commitment of \(commitment.amount)")
                    }
                }
            }
            try verifyChain(store, file: district.rawValue, into: &problems)
        }
        for id in commitments.keys where !seen.contains(id) {
            problems.append("commitment \(id) has no application in any district")
        }
        // A recorded recovery released its clawback: no recovery of a commitment in another state.
        for row in try ledger.rows("""
            SELECT r.application_id, m.state FROM recoveries r JOIN commitments m ON m.application_id = r.application_id WHERE m.state != 'released'
            """)
        {
            problems.append("commitment \(row[0]) is \(row[1]) but its recovery is recorded")
        }

        // 3. No content funded twice: a key two live commitments share is double funding unless
        //    the rule allows that pair (a pilot and its follow-on; two vouchers sharing only a
        //    project name) — and every commitment is known at least by its fingerprint.
        var holders: [String: [(id: String, measure: String)]] = [:]
        for row in try ledger.rows("""
            SELECT k.key, m.application_id, m.measure FROM content_keys k JOIN commitments m ON m.application_id = k.application_id
            WHERE m.state IN ('live', 'disbursed') ORDER BY m.application_id
            """)
        {
            holders[row[0], default: []].append((row[1], row[2]))
        }
        for (key, funded) in holders.sorted(by: { $0.key < $1.key }) where funded.count > 1 {
            for i in funded.indices {
                for j in funded.indices where j > i {
                    guard let first = Measure(rawValue: funded[i].measure), let second = Measure(rawValue: funded[j].measure) else {
                        problems.append("content \(key): unknown measure in \(funded[i].id) or \(funded[j].id)")
                        continue
                    }
                    if Application.isDoubleFunding(first, second, sharing: key) {
                        problems.append("content \(key) funded twice: \(funded[i].id) (\(first)) and \(funded[j].id) (\(second))")
                    }
                }
            }
        }
        for row in try ledger.rows("""
            SELECT application_id FROM commitments m WHERE NOT EXISTS
                (SELECT 1 FROM content_keys k WHERE k.application_id = m.application_id AND k.key = m.content_fingerprint)
            """)
        {
            problems.append("commitment \(row[0]) is not known by its own content fingerprint")
        }

        // 4. Every audit chain verifies.
        try verifyChain(ledger, file: "ledger", into: &problems)
        return problems
    }

    static func verifyChain(_ database: ReadOnlyDatabase, file: String, into problems: inout [String]) throws {
        var previous = String(repeating: "0", count: 64)
        var expected: Int64 = 1
        for row in try database.rows("SELECT seq, event, prev_hash, hash FROM audit ORDER BY seq") {
            let hash = HexDigest.sha256(Array(previous.utf8) + Array(row[1].utf8))
            if Int64(row[0]) != expected || row[2] != previous || row[3] != hash {
                problems.append("\(file): audit chain breaks at row \(row[0])")
                return
            }
            previous = hash
            expected += 1
        }
        let head = try database.rows("SELECT seq, hash FROM audit_head")
        if head.first != [String(expected - 1), previous] { problems.append("\(file): audit head does not match the chain") }
    }
}

/// A read-only SQLite handle returning every value as text.
public final class ReadOnlyDatabase {
    private var handle: OpaquePointer?

    public init(path: String) throws {
        // The process's SQLite settings, as the stores apply them, whichever opens first.
        _ = subsidy_sqlite_configure_process()
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else {
            throw CheckerError.open(path)
        }
        sqlite3_busy_timeout(handle, 5_000)
    }

    deinit { sqlite3_close_v2(handle) }

    public func rows(_ sql: String) throws -> [[String]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else {
            throw CheckerError.sql(String(cString: sqlite3_errmsg(handle)), sql)
        }
        defer { sqlite3_finalize(statement) }
        var rows: [[String]] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw CheckerError.sql(String(cString: sqlite3_errmsg(handle)), sql) }
            rows.append((0..<sqlite3_column_count(statement)).map { column in
                sqlite3_column_text(statement, column).map { String(cString: $0) } ?? ""
            })
        }
        return rows
    }

    /// Runs a statement that changes the file (tests that tamper with audit rows).
    public static func execute(path: String, _ sql: String) throws {
        var handle: OpaquePointer?
        _ = subsidy_sqlite_configure_process()
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK else { throw CheckerError.open(path) }
        defer { sqlite3_close_v2(handle) }
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &message) == SQLITE_OK else {
            defer { sqlite3_free(message) }
            throw CheckerError.sql(message.map { String(cString: $0) } ?? "", sql)
        }
    }
}

public enum CheckerError: Error {
    case open(String)
    case sql(String, String)
}

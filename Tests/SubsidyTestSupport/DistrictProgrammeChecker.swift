import Foundation

/// An independent check of the districts' own programme ledgers (district migration 8), reading
/// each district file with plain SQL — none of the store code is used, so a bug there cannot hide
/// itself:
/// - every cap total the store keeps equals the sum of the charges of counted commitments;
/// - no counted total is over the limit any of its charges was made under (amount or count);
/// - an application is approved, publicized or disbursed exactly when its commitment is counted,
///   with the same amount; a revoked one's commitment is released or clawed back;
/// - the counts kept per call for applications (district migration 12) equal the applications
///   filed under each call, by state, and those filed late.
public enum DistrictProgrammeChecker {
    public struct Report: Sendable {
        public var problems: [String] = []
        /// Commitments in force now (approved or disbursed), over every district.
        public var commitments = 0
    }

    public static func check(dataDirectory: String) throws -> Report {
        var report = Report()
        for district in ["chancheng", "nanhai", "shunde", "gaoming", "sanshui"] {
            let path = "\(dataDirectory)/districts/\(district).sqlite"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let db = try ReadOnlyDatabase(path: path)
            // Counted against caps: approved, disbursed, and clawed back until recovered.
            let counted = "('live', 'disbursed', 'clawback')"
            var recomputed: [String: String] = [:]
            for row in try db.rows("""
                SELECT c.cap_id, c.scope, SUM(c.amount_fen), SUM(c.count) FROM programme_charges c
                JOIN programme_commitments m ON m.application_id = c.application_id
                WHERE m.state IN \(counted) GROUP BY c.cap_id, c.scope
                """)
            {
                recomputed["\(row[0])[\(row[1])]"] = "\(row[2]) fen, \(row[3])"
            }
            var kept: [String: String] = [:]
            for row in try db.rows("SELECT cap_id, scope, amount_fen, count FROM programme_totals WHERE amount_fen != 0 OR count != 0") {
                kept["\(row[0])[\(row[1])]"] = "\(row[2]) fen, \(row[3])"
            }
            for key in Set(recomputed.keys).union(kept.keys) where recomputed[key] != kept[key] {
                report.problems.append("\(district): cap total \(key) is kept as \(kept[key] ?? "none") but its charges add up to \(recomputed[key] ?? "none")")
            }
            for row in try db.rows("""
                SELECT c.application_id, c.cap_id, c.scope, c.limit_kind, c.limit_value,
                       (SELECT SUM(x.amount_fen) FROM programme_charges x JOIN programme_commitments m ON m.application_id = x.application_id
                        WHERE x.cap_id = c.cap_id AND x.scope = c.scope AND m.state IN \(counted)),
                       (SELECT SUM(x.count) FROM programme_charges x JOIN programme_commitments m ON m.application_id = x.application_id
                        WHERE x.cap_id = c.cap_id AND x.scope = c.scope AND m.state IN \(counted))
                FROM programme_charges c JOIN programme_commitments k ON k.application_id = c.application_id WHERE k.state IN \(counted)
                """)
            {
                let total = Int64(row[row[3] == "count" ? 6 : 5]) ?? 0
                if total > Int64(row[4])! {
                    report.problems.append("\(district): \(row[1])[\(row[2])] holds \(total), over the limit \(row[4]) \(row[0]) was charged under")
                }
            }
            for row in try db.rows("""
                SELECT a.id, a.state, a.awarded_fen, m.state, m.amount_fen FROM applications a
                JOIN programme_commitments m ON m.application_id = a.id
                """)
            {
                let countedState = ["APPROVED", "PUBLICIZED", "DISBURSED"].contains(row[1])
                let countedCommitment = ["live", "disbursed"].contains(row[3])
                if countedState != countedCommitment || (row[1] == "REVOKED" && countedCommitment) {
                    report.problems.append("\(district): application \(row[0]) is \(row[1]) but its commitment is \(row[3])")
                }
                if countedState && row[2] != row[4] {
                    report.problems.append("\(district): application \(row[0]) records \(row[2]) fen, its commitment \(row[4])")
                }
                if countedCommitment { report.commitments += 1 }
            }
            report.problems += try callCountProblems(db, district: district)
        }
        return report
    }

    /// Where the call counts `db` keeps differ from its applications counted afresh.
    static func callCountProblems(_ db: ReadOnlyDatabase, district: String) throws -> [String] {
        guard try !db.rows("SELECT name FROM sqlite_master WHERE name = 'call_counts'").isEmpty else { return [] }
        var recounted: [String: String] = [:]
        for row in try db.rows("SELECT call_id, state, COUNT(*), SUM(late_reason != '') FROM applications WHERE call_id != '' GROUP BY call_id, state") {
            recounted["\(row[0]) \(row[1])"] = "\(row[2]) (\(row[3]) late)"
        }
        var kept: [String: String] = [:]
        for row in try db.rows("SELECT call_id, state, n, late FROM call_counts WHERE n != 0 OR late != 0") {
            kept["\(row[0]) \(row[1])"] = "\(row[2]) (\(row[3]) late)"
        }
        return Set(recounted.keys).union(kept.keys).sorted().compactMap { key in
            recounted[key] == kept[key] ? nil : "\(district): call \(key) is kept as \(kept[key] ?? "none") but its applications count \(recounted[key] ?? "none")"
        }
    }

    /// Every application of `district` with a programme commitment (any state): an approval once
    /// acknowledged must be among them after any crash.
    public static func committedApplications(dataDirectory: String, district: String) throws -> Set<String> {
        let db = try ReadOnlyDatabase(path: "\(dataDirectory)/districts/\(district).sqlite")
        return Set(try db.rows("SELECT application_id FROM programme_commitments").map { $0[0] })
    }

    /// The events recorded in `district`'s audit chain, in order, as stored.
    public static func auditEvents(dataDirectory: String, district: String) throws -> [String] {
        let db = try ReadOnlyDatabase(path: "\(dataDirectory)/districts/\(district).sqlite")
        return try db.rows("SELECT event FROM audit ORDER BY seq").map { $0[0] }
    }
}

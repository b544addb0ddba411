import SubsidyCore
import Testing
@testable import SubsidyStore

/// Ledger migration 4 on a real file written by version 3: fingerprints, pilot keys and pilot
/// charges are rewritten into the canonical form, so content funded before the upgrade is still
/// recognised in every respelling after it.
@Suite("CityLedger migration 4")
struct CityLedgerMigrationTests {
    static let enterprise = "91440606MA4W3BY65F"

    func insertVersion3(_ database: SQLiteDatabase, id: String, measure: String, fingerprint: String, pilot: String = "") throws {
        try database.writeNow { transaction in
            try transaction.query(
                """
                INSERT INTO commitments (application_id, district, measure, funding_year, enterprise, pilot_id, content_fingerprint,
                    amount_fen, decision_date, policy_version, state, source, request_id, created_at, updated_at)
                VALUES (?, 'shunde', ?, 2022, ?, ?, ?, 100, '2022-06-01', 'v', 'live', 'decision', 'r', 't', 't')
                """,
                [.text(id), .text(measure), .text(Self.enterprise), .text(pilot), .text(fingerprint)]
            )
            if !pilot.isEmpty {
                try transaction.query(
                    "INSERT INTO charges (application_id, cap_id, scope, amount_fen, count) VALUES (?, 'CLUSTER_PILOT.once_per_pilot', ?, 0, 1)",
                    [.text(id), .text("foshan-2020/" + pilot)]
                )
            }
        }
    }

    @Test("version-3 rows are canonicalised and found by respelled content")
    func upgrade() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/city-ledger.sqlite"
        let old = try SQLiteDatabase(path: path, migrations: Array(CityLedger.migrations.prefix(3)))
        try insertVersion3(old, id: "shunde-000001", measure: "CLOUD_VOUCHER", fingerprint: "contract:HT-20220001")
        try insertVersion3(old, id: "shunde-000002", measure: "BENCHMARK_PROJECT", fingerprint: "project:BENCHMARK_PROJECT:\(Self.enterprise):5G智能工厂:PHASE1")
        try insertVersion3(old, id: "shunde-000003", measure: "CLUSTER_PILOT", fingerprint: "project:CLUSTER_PILOT:\(Self.enterprise):试点", pilot: "P-07 ")
        // A pilot id in Chinese: SQLite counts its characters, Swift its bytes; the scope must
        // come out whole.
        try insertVersion3(old, id: "shunde-000004", measure: "CLUSTER_PILOT", fingerprint: "project:CLUSTER_PILOT:\(Self.enterprise):试点二", pilot: "粤工信2021-集群试点-07")

        let ledger = try CityLedger(path: path)
        try ledger.database.readNow { transaction in
            let usage = ledger.usage(in: transaction)
            #expect(try usage.fundedContent(["contract:" + CanonicalText("ＨＴ－２０２２０００１\u{200B}").key]).map(\.applicationID) == ["shunde-000001"])
            let project = Application.contentFingerprint(contractNumber: "", projectName: "5g智能工厂:phase 1。", enterprise: Self.enterprise)
            #expect(try usage.fundedContent([project]).map(\.applicationID) == ["shunde-000002"])
            #expect(try usage.fundedContent([project]).first?.typed == "5G智能工厂:PHASE1")
            let scopes = try transaction.query("SELECT scope FROM charges WHERE application_id = 'shunde-000003'").map { try $0.text("scope") }
            #expect(scopes == ["foshan-2020/p-7"])
            #expect(try transaction.query("SELECT pilot_key FROM commitments WHERE application_id = 'shunde-000003'").first?.text("pilot_key") == "p-7")
            let chinese = try transaction.query("SELECT scope FROM charges WHERE application_id = 'shunde-000004'").map { try $0.text("scope") }
            #expect(chinese == ["foshan-2020/粤工信-2021-集群试点-7"])
            #expect(try usage.pilotAward(CanonicalText("粤工信2021-集群试点-7").key)?.applicationID == "shunde-000004")
        }
    }
}

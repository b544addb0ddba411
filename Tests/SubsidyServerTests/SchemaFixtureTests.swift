import Foundation
import Logging
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing
@testable import SubsidyServer
@testable import SubsidyStore

/// Files written by the first release (commit 0cfade0, `subsidyd --dev --demo`: every lifecycle
/// state, live and imported awards; ledger schema 3, district schema 1), committed under
/// Tests/SubsidyStoreTests/Fixtures/first-release, opened by this binary as the daemon opens them:
/// every migration since runs on them, the content they kept in the protocol's encoding is
/// rewritten in the store's own form, and every row still reads back as what it was. Migrations
/// are literal SQL that never changes after release; this test is what notices if one did.
@Suite("first-release files")
struct SchemaFixtureTests {
    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SubsidyStoreTests/Fixtures/first-release")

    /// A copy of the fixture files laid out as a data directory (opening migrates them, and turns
    /// on WAL).
    static func copy() throws -> String {
        let directory = TestDirectories.make("subsidyd-fixture")
        try FileManager.default.createDirectory(atPath: directory + "/districts", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for name in ["city-ledger.sqlite"] + DistrictID.allCases.map({ "districts/\($0.rawValue).sqlite" }) {
            try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent(name).path, toPath: directory + "/" + name)
        }
        return directory
    }

    /// Every application of the fixture as the first release's records showed it: the stored
    /// protocol bytes, decoded (from another copy, opened by the store only, so nothing rewrote them).
    static func originalApplications() async throws -> [String: Foshan_Subsidy_V1_Application] {
        let directory = try copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var originals: [String: Foshan_Subsidy_V1_Application] = [:]
        for district in DistrictID.allCases {
            let store = try DistrictStore(path: "\(directory)/districts/\(district.rawValue).sqlite", district: district)
            let rows = try store.database.readNow { try $0.query("SELECT id, content FROM applications").map { (try $0.text("id"), try $0.blob("content")) } }
            for (id, content) in rows { originals[id] = try Foshan_Subsidy_V1_Application(serializedBytes: content, path: "stored") }
            await store.database.close()
        }
        return originals
    }

    @Test("--check and the offline backup leave an earlier release's files as they are: refused, naming each file and both versions")
    func toolsDoNotMigrate() async throws {
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func versions() -> [Int64?] {
            (["city-ledger.sqlite"] + DistrictID.allCases.map { "districts/\($0.rawValue).sqlite" }).map { SubsidyStores.schemaVersion(of: directory + "/" + $0) }
        }
        let before = versions()
        #expect(before.allSatisfy { $0 != nil && $0! < 14 }, "\(before)")
        for attempt in ["check", "open"] {
            do {
                if attempt == "check" {
                    _ = try await StoreConsistency.check(dataDirectory: directory)
                } else {
                    _ = try SubsidyStores.open(dataDirectory: directory, migrating: false)
                }
                Issue.record("\(attempt) opened files it would have migrated")
            } catch let ServerError.wouldMigrate(files) {
                #expect(files.count == 6, "\(files)")
                #expect(files.first?.contains("city-ledger.sqlite is at schema \(before[0]!); this release's is 23") == true, "\(files)")
            }
        }
        // The backstop, for a file the listing could not read: each store refuses on its own.
        let refused = #expect(throws: SQLiteError.self) {
            _ = try SubsidyStores(ledgerPath: directory + "/city-ledger.sqlite", districtDirectory: directory + "/districts", migrating: false)
        }
        #expect(refused?.message.contains("city-ledger.sqlite is at schema \(before[0]!); this release's is 23: not migrated") == true, "\(String(describing: refused))")
        #expect(versions() == before)
        // The daemon's own start migrates them; then --check reads them.
        let services = try await SubsidyServices.bootstrap(configuration: .development(dataDirectory: directory), logger: Logger(label: "test"))
        await services.stores.close()
        #expect(versions() == [23, 21, 21, 21, 21, 21])
        let checked = try await StoreConsistency.check(dataDirectory: directory)
        #expect(checked.consistent)
        // The first release's clawbacks, counted again, are listed for the bureaus to recover.
        #expect(checked.lines.contains { $0.hasPrefix("clawbacks whose money's recovery is not recorded") && $0.contains(" yuan in ") }, "\(checked.lines)")
    }

    @Test("the first release's files migrate, are rewritten in the store's own form, read back whole, and agree with each other")
    func migrate() async throws {
        let originals = try await Self.originalApplications()
        let directory = try Self.copy()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let services = try await SubsidyServices.bootstrap(configuration: .development(dataDirectory: directory), logger: Logger(label: "test"))
        let stores = services.stores
        let ledger = stores.ledger
        #expect(try ledger.database.readNow { try $0.query("PRAGMA user_version").first?.int("user_version") } == 23)
        #expect(try stores.store(.shunde).database.readNow { try $0.query("PRAGMA user_version").first?.int("user_version") } == 21)
        // Each application takes as its filing day the day in Foshan (UTC+8) of its last
        // submission or amendment in its history.
        var filingDays = 0
        for district in DistrictID.allCases {
            let rows = try stores.store(district).database.readNow { transaction in
                try transaction.query(
                    """
                    SELECT filed_on, (SELECT MAX(at) FROM transitions WHERE application_id = applications.id AND action IN ('submit', 'amend')) AS last
                    FROM applications
                    """
                ).map { (try $0.text("filed_on"), try $0.text("last")) }
            }
            for (filedOn, last) in rows {
                let day = try CalendarDate(parsing: String(last.prefix(10)))
                let hour = try #require(Int(last.dropFirst(11).prefix(2)))
                #expect(filedOn == (hour + 8 >= 24 ? day.adding(days: 1) : day)?.description, "\(filedOn) for \(last)")
                filingDays += 1
            }
        }
        #expect(filingDays == originals.count)

        // The city's request ids, kept in district files only by the first release, are bound in
        // the ledger to the same content, and nothing is left listed to bind.
        var cityIDs: [String: String] = [:]
        for district in DistrictID.allCases {
            let rows = try stores.store(district).database.readNow { transaction in
                #expect(try transaction.query("SELECT count(*) AS n FROM requests_to_bind").first?.int("n") == 0)
                return try transaction.query("SELECT request_id, fingerprint FROM requests WHERE request_id LIKE 'city:%'").map {
                    (try $0.text("request_id"), try $0.text("fingerprint"))
                }
            }
            for (id, fingerprint) in rows { cityIDs[id] = fingerprint }
        }
        #expect(cityIDs.count == 16)
        let boundInLedger = try ledger.database.readNow { transaction in
            try transaction.query("SELECT request_id, fingerprint FROM requests WHERE request_id LIKE 'city:%' AND length(response) = 0").map {
                (try $0.text("request_id"), try $0.text("fingerprint"))
            }
        }
        #expect(Dictionary(uniqueKeysWithValues: boundInLedger) == cityIDs)

        // Every commitment of the demo reads back typed: live, disbursed and clawed back;
        // decided and imported; each known by its content key after migration 4; every decided
        // one with its explanation, now the store's own.
        var states: [CityLedger.CommitmentState: Int] = [:]
        var explained = 0
        for district in DistrictID.allCases {
            for commitment in try await ledger.commitments(district: district.rawValue) {
                states[commitment.state, default: 0] += 1
                let explanation = try #require(commitment.explanation)
                #expect(explanation.awardFen == commitment.amountFen)
                #expect(!explanation.rendered.isEmpty && !explanation.limits.isEmpty)
                explained += 1
            }
        }
        #expect(explained > 0)
        #expect(states[.live, default: 0] > 0 && states[.disbursed, default: 0] > 0 && states[.clawback, default: 0] > 0)
        // Migration 22: the first release freed a clawback's caps; its totals now count them, as
        // their records give, and the audit chain says they were rebuilt and by whom.
        try ledger.database.readNow { transaction in
            for table in MaintainedTotals.ledger { #expect(try table.differences(in: transaction).isEmpty, "\(table.table)") }
            let (districtTotals, counted, clawedBack) = (
                try transaction.query("SELECT SUM(amount_fen) AS n FROM consumer_totals WHERE kind = 'district'").first!.int("n"),
                try transaction.query("SELECT SUM(amount_fen) AS n FROM commitments WHERE state IN ('live', 'disbursed', 'clawback') AND district != ''").first!.int("n"),
                try transaction.query("SELECT SUM(amount_fen) AS n FROM commitments WHERE state = 'clawback'").first!.int("n"))
            #expect(clawedBack > 0 && districtTotals == counted)
            let rebuilt = try transaction.query("SELECT event FROM audit WHERE event LIKE '%rebuild-totals%' ORDER BY seq").map { try $0.text("event") }
            #expect(rebuilt.count == 2 && rebuilt.allSatisfy { $0.contains("migration") }, "\(rebuilt)")
        }
        // Its clawbacks, paid before records kept the payment's day, can be recovered: the
        // rewritten triggers take them out again.
        let clawbacks = try ledger.database.readNow { try $0.query("SELECT application_id FROM commitments WHERE state = 'clawback'").map { try $0.text("application_id") } }
        #expect(!clawbacks.isEmpty)
        for id in clawbacks {
            _ = try await stores.recordRecovery(
                id, on: try CalendarDate(parsing: "2025-01-06"), document: "缴款书 \(id)", programmes: services.programmes,
                request: RequestKey(id: "city:recover-\(id)", fingerprint: "f"), actor: Actor(tenant: "city", uid: 0), reason: "企业已退回") { _ in [] }
            #expect(try await stores.record(id, in: stores.owning(id, as: nil))?.recovery?.decisionDate == "2025-01-06")
        }
        let (differences, left) = try ledger.database.readNow { transaction in
            (try MaintainedTotals.ledger.flatMap { try $0.differences(in: transaction) },
             try transaction.query("SELECT COUNT(*) AS n FROM commitments WHERE state = 'clawback'").first!.int("n"))
        }
        #expect(differences.isEmpty && left == 0, "\(differences)")
        let (commitments, keyed, imported, pending) = try ledger.database.readNow { transaction in
            (try transaction.query("SELECT COUNT(*) AS n FROM commitments").first!.int("n"),
             try transaction.query("SELECT COUNT(DISTINCT application_id) AS n FROM content_keys").first!.int("n"),
             try transaction.query("SELECT COUNT(*) AS n FROM commitments WHERE source = 'import'").first!.int("n"),
             try transaction.query("SELECT COUNT(*) AS n FROM legacy_explanations").first!.int("n"))
        }
        #expect(commitments == keyed)
        #expect(imported > 0)
        #expect(pending == 0)
        #expect(try await ledger.poolMembers().isEmpty == false)

        // Every application in every district reads back as the core's, in every lifecycle state
        // the demo made, and its record on the wire is what the first release showed.
        var seen = Set<ApplicationState>()
        var compared = 0
        for district in DistrictID.allCases {
            let store = stores.store(district)
            #expect(try store.database.readNow { try $0.query("SELECT COUNT(*) AS n FROM legacy_content").first!.int("n") } == 0)
            for id in try await store.applicationIDs(ApplicationFilter(), afterID: "", limit: 10_000).ids {
                let application = try #require(try await stores.record(id, in: store))
                seen.insert(application.state)
                #expect(!application.history.isEmpty)
                #expect(try Foshan_Subsidy_V1_ApplicationRecord(application).application == originals[id], "\(id)")
                if application.state == .approved || application.state == .publicized || application.state == .disbursed {
                    #expect(application.explanation?.awardFen == application.awardedFen, "\(id)")
                    // Migration 6 gave the approval's history entry the date and 文号 the row kept.
                    let approval = try #require(application.history.last { $0.action == .transition(.approve) }, "\(id)")
                    #expect(approval.decisionDate == application.decisionDate && approval.decisionDocument == application.decisionDocument, "\(id)")
                }
                if !application.publicizedOn.isEmpty {
                    // The 公示's last day, filled in at start-up from the policy's publicity days.
                    let first = try CalendarDate(parsing: application.publicizedOn)
                    #expect(application.publicityLastDay == first.adding(days: services.policy.publicityDays - 1)?.description, "\(id)")
                    #expect(application.history.last { $0.action == .transition(.publicize) }?.decisionDate == application.publicizedOn, "\(id)")
                }
                compared += 1
            }
            #expect(try await store.applicants(after: "", limit: 1000).isEmpty == false)
        }
        #expect(compared == originals.count)
        #expect(seen.isSuperset(of: [.submitted, .returned, .recommended, .approved, .publicized, .disbursed, .revoked, .rejected, .withdrawn]))

        // The audit chains still verify, and the ledger and the districts agree.
        let (chains, recovery) = try await stores.inspect(naming: { _, tenant in tenant })
        #expect(chains.count == 6)
        #expect(chains.filter { !$0.ok }.map(\.problem) == [])
        #expect(recovery.inconsistencies.isEmpty)
        #expect(recovery.rolledForward.isEmpty)
        // The totals the migrations filled (ledger 7 and 9, district 12) are what `--check`
        // recomputes from the same records: their literal SQL and MaintainedTotals agree.
        #expect(try await stores.maintainedTotalDifferences(naming: { _, tenant in tenant }).map { "\($0.file): \($0.differences)" } == [])
        #expect(try await stores.ledger.database.read { try $0.query("SELECT COUNT(*) AS n FROM cap_totals WHERE amount_fen > 0").first?.int("n") } ?? 0 > 0)
        await stores.close()
    }
}

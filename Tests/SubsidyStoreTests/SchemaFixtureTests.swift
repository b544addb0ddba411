import Foundation
import SubsidyCore
import Testing
@testable import SubsidyStore

/// Files written by the first release (commit 0cfade0, `subsidyd --dev --demo`: every lifecycle
/// state, live and imported awards; ledger schema 3, district schema 1), committed under
/// Fixtures/first-release, opened by this binary: every migration since runs on them and every
/// row still reads back as what it was. Migrations are literal SQL that never changes after
/// release; this test is what notices if one did.
@Suite("first-release files")
struct SchemaFixtureTests {
    static let fixtures = StoreHarness.repositoryRoot.appendingPathComponent("Tests/SubsidyStoreTests/Fixtures/first-release")

    /// A copy of the fixture files (opening migrates them, and turns on WAL).
    static func copy() throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path + "/districts", withIntermediateDirectories: true)
        for name in ["city-ledger.sqlite"] + DistrictID.allCases.map({ "districts/\($0.rawValue).sqlite" }) {
            try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent(name).path, toPath: directory.path + "/" + name)
        }
        return directory
    }

    @Test("the first release's files migrate, read back whole, and agree with each other")
    func migrate() async throws {
        let directory = try Self.copy()
        let stores = try SubsidyStores(
            ledgerPath: directory.path + "/city-ledger.sqlite", districtDirectory: directory.path + "/districts", codec: KeyedContentCodec())
        let ledger = stores.ledger
        #expect(try ledger.database.readNow { try $0.query("PRAGMA user_version").first?.int("user_version") } == 5)
        #expect(try stores.store(.shunde).database.readNow { try $0.query("PRAGMA user_version").first?.int("user_version") } == 3)

        // Every commitment of the demo reads back typed: live, disbursed and clawed back;
        // decided and imported; each known by its content key after migration 4.
        var states: [CityLedger.CommitmentState: Int] = [:]
        for district in DistrictID.allCases {
            for commitment in try await ledger.commitments(district: district.rawValue) { states[commitment.state, default: 0] += 1 }
        }
        #expect(states[.live, default: 0] > 0 && states[.disbursed, default: 0] > 0 && states[.clawback, default: 0] > 0)
        let (commitments, keyed, imported) = try ledger.database.readNow { transaction in
            (try transaction.query("SELECT COUNT(*) AS n FROM commitments").first!.int("n"),
             try transaction.query("SELECT COUNT(DISTINCT application_id) AS n FROM content_keys").first!.int("n"),
             try transaction.query("SELECT COUNT(*) AS n FROM commitments WHERE source = 'import'").first!.int("n"))
        }
        #expect(commitments == keyed)
        #expect(imported > 0)
        #expect(try await ledger.poolMembers().isEmpty == false)

        // Every application in every district decodes, in every lifecycle state the demo made.
        var seen = Set<ApplicationState>()
        for district in DistrictID.allCases {
            let store = stores.store(district)
            for id in try await store.applicationIDs(ApplicationFilter(), afterID: "", limit: 10_000) {
                let application = try #require(try await store.application(id))
                seen.insert(application.state)
                #expect(!application.history.isEmpty)
            }
            #expect(try await store.applicants(after: "", limit: 1000).isEmpty == false)
        }
        #expect(seen.isSuperset(of: [.submitted, .returned, .recommended, .approved, .publicized, .disbursed, .revoked, .rejected, .withdrawn]))

        // The audit chains still verify, and the ledger and the districts agree.
        let (chains, recovery) = try await stores.inspect(naming: { _, tenant in tenant })
        #expect(chains.count == 6)
        #expect(chains.filter { !$0.ok }.map(\.problem) == [])
        #expect(recovery.inconsistencies.isEmpty)
        #expect(recovery.rolledForward.isEmpty)
        await stores.close()
    }
}

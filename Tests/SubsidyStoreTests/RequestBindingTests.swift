import Foundation
import SubsidyCore
import SubsidyTestSupport
import Testing
@testable import SubsidyStore

/// A tenant's request ids are bound in its home log (the ledger's for the city, its own file's
/// for a district): the claims that do it, and the start-up pass that binds the ids kept in
/// other files before there were claims. Real stores on real SQLite files.
@Suite("request ids bound at home")
struct RequestBindingTests {
    static let nanhai = Actor(tenant: "nanhai", uid: 2000)

    /// A refusal, as the stores' bodies throw them.
    struct Refused: Error {}

    @Test("a claim is freed only by a refusal of the call that made it, not by a retry's refusal after the change was made")
    func onlyOwnClaimFreed() async throws {
        let harness = try StoreHarness()
        let stores = harness.stores
        let ledger = stores.ledger.database
        let made = RequestKey(id: "nanhai:call", fingerprint: "first")
        // The change is made (its response kept in the ledger), then a retry is refused on its
        // way to that response: the claim must stand.
        #expect(try await stores.claimingAtHome(made, of: Self.nanhai, respondingIn: ledger) { 1 } == 1)
        let retry = await #expect(throws: SubsidyError.self) {
            try await stores.claimingAtHome(made, of: Self.nanhai, respondingIn: ledger) { () async throws -> Int in
                throw SubsidyError(.failedPrecondition, "refused on the way to the stored response")
            }
        }
        #expect(retry?.code == .failedPrecondition)
        let other = await #expect(throws: SubsidyError.self) {
            try await stores.claimingAtHome(RequestKey(id: "nanhai:call", fingerprint: "other"), of: Self.nanhai, respondingIn: ledger) { 2 }
        }
        #expect(other?.code == .alreadyExists)

        // A call refused before it wrote anything frees its own claim: corrected content follows.
        let refused = RequestKey(id: "nanhai:fix", fingerprint: "first")
        let first = await #expect(throws: SubsidyError.self) {
            try await stores.claimingAtHome(refused, of: Self.nanhai, respondingIn: ledger) { () async throws -> Int in
                throw SubsidyError(.invalidArgument, "refused")
            }
        }
        #expect(first?.code == .invalidArgument)
        #expect(try await stores.claimingAtHome(RequestKey(id: "nanhai:fix", fingerprint: "corrected"), of: Self.nanhai, respondingIn: ledger) { 3 } == 3)
        // Any other failure keeps the claim, since the change may have been made.
        let failed = RequestKey(id: "nanhai:io", fingerprint: "first")
        await #expect(throws: Refused.self) {
            try await stores.claimingAtHome(failed, of: Self.nanhai, respondingIn: ledger) { () async throws -> Int in throw Refused() }
        }
        let afterFailure = await #expect(throws: SubsidyError.self) {
            try await stores.claimingAtHome(RequestKey(id: "nanhai:io", fingerprint: "other"), of: Self.nanhai, respondingIn: ledger) { 4 }
        }
        #expect(afterFailure?.code == .alreadyExists)
    }

    @Test("a retry of a city decision kept in a district file is answered from its stored response, whatever its binding in the ledger")
    func retryAnsweredFirst() async throws {
        let harness = try StoreHarness()
        let stores = harness.stores
        let id = try await harness.recommended(harness.benchmark(StoreHarness.uscc(4_001)), in: .shunde)
        let key = RequestKey(id: "city:reject", fingerprint: "reject")
        func reject() async throws -> [UInt8] {
            try await stores.reject(
                id, on: nil, document: "", programmes: harness.programmes, request: key, actor: StoreHarness.city, reason: "不予支持"
            ) { record in Array(record.state.rawValue.utf8) }
        }
        let first = try await reject()
        // As for an id the start-up pass found applied to other content in the ledger before ids
        // were bound there: the ledger's binding is not this request's.
        _ = try await stores.ledger.database.write {
            try $0.query("UPDATE requests SET fingerprint = 'other' WHERE request_id = ?", [.text(key.id)])
        }
        #expect(try await reject() == first)
    }

    /// The binding of `id` in `database`'s request log: its fingerprint and whether it is a
    /// claim (no response), nil if unbound.
    static func binding(_ id: String, in database: SQLiteDatabase) throws -> (fingerprint: String, isClaim: Bool)? {
        try database.readNow { transaction in
            try transaction.query("SELECT fingerprint, length(response) AS n FROM requests WHERE request_id = ?", [.text(id)]).first.map {
                (try $0.text("fingerprint"), try $0.int("n") == 0)
            }
        }
    }

    @Test("ids kept in another file before they were bound at home are bound at start-up, once; an id already applied twice is reported")
    func earlierIDsBound() async throws {
        let directory = try TemporaryDirectory()
        let ledgerPath = directory.path + "/city-ledger.sqlite", shundePath = directory.path + "/districts/shunde.sqlite"
        let nanhaiPath = directory.path + "/districts/nanhai.sqlite"
        // Files as the release before the bindings left them: the new migrations not yet run,
        // and ids kept outside their tenant's home log.
        try await StoreHarness(directory: directory).stores.close()
        func rows(_ path: String, version: Int, _ rows: [(id: String, fingerprint: String, response: String)]) throws {
            let connection = try SQLiteConnection(path: path)
            defer { connection.close() }
            try connection.execute("DROP TABLE requests_to_bind; PRAGMA user_version = \(version)")
            for row in rows {
                _ = try connection.query(
                    "INSERT INTO requests (request_id, fingerprint, response, at) VALUES (?, ?, ?, '2024-05-01T08:00:00.000Z')",
                    [.text(row.id), .text(row.fingerprint), .blob(Array(row.response.utf8))])
            }
        }
        try rows(ledgerPath, version: 11, [
            ("shunde:open-call", "call", "opened"), ("nanhai:twice", "call", "opened"), ("city:pool", "pool", "registered"),
        ])
        try rows(shundePath, version: 10, [("city:approve", "approval", "approved"), ("shunde:submit", "filing", "submitted")])
        try rows(nanhaiPath, version: 10, [("nanhai:twice", "filing", "submitted"), ("city:claimed", "claim", "")])

        let harness = try StoreHarness(directory: directory)
        let stores = harness.stores
        // A pass that crashed after binding one id at home, before striking it from its list:
        // the next pass finds it bound to the same content, and changes nothing for it.
        try await stores.store(.shunde).database.write {
            try RequestLog.record("shunde:open-call", fingerprint: "call", response: [], at: "2024-05-01T08:00:00.000Z", in: $0)
        }
        let done = try await stores.bindEarlierRequestIDs()
        #expect(done.bound == 1)
        #expect(done.conflicting.map(\.id) == ["nanhai:twice"])
        #expect(done.conflicting.first?.file == ledgerPath)
        // Each bound to its content at home: the same content replays, other content is refused.
        let shunde = stores.store(.shunde).database
        #expect(try Self.binding("shunde:open-call", in: shunde)! == ("call", true))
        #expect(try Self.binding("city:approve", in: stores.ledger.database)! == ("approval", true))
        #expect(try Self.binding("nanhai:twice", in: stores.store(.nanhai).database)! == ("filing", false))
        // Not listed: the city's own ids in the ledger, a district's in its file, a bare claim.
        #expect(try Self.binding("shunde:submit", in: stores.ledger.database) == nil)
        #expect(try Self.binding("city:claimed", in: stores.ledger.database) == nil)
        let reused = await #expect(throws: SubsidyError.self) {
            try await stores.claimingAtHome(RequestKey(id: "city:approve", fingerprint: "other"), of: StoreHarness.city, respondingIn: shunde) { 1 }
        }
        #expect(reused?.code == .alreadyExists)

        // Done once: the lists are empty, and a second pass (after a restart) binds nothing.
        for database in [stores.ledger.database, shunde] {
            #expect(try database.readNow { try $0.query("SELECT count(*) AS n FROM requests_to_bind").first?.int("n") } == 0)
        }
        let again = try await harness.reopened().stores.bindEarlierRequestIDs()
        #expect(again.bound == 0 && again.conflicting.isEmpty)
    }
}

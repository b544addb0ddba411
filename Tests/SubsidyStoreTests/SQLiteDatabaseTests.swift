import Dispatch
import SubsidyCore
import Testing
@testable import SubsidyStore

/// The per-file executor and the typed rows.
@Suite("SQLite database")
struct SQLiteDatabaseTests {
    static let table = SQLiteDatabase.Migration(version: 1, sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, state TEXT NOT NULL);")

    @Test("a read runs beside a write in progress (WAL readers do not queue behind the writer)")
    func readerBesideWriter() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table])
        try await database.write { _ = try $0.query("INSERT INTO t (id, state) VALUES (1, 'live')") }
        let readDone = DispatchSemaphore(value: 0)
        // The write holds the writer until the read has finished; were reads queued behind the
        // writer, it would give up after its guard time and report that it was never released.
        async let writerReleased = database.write { transaction -> Bool in
            try transaction.query("UPDATE t SET state = 'disbursed' WHERE id = 1")
            return readDone.wait(timeout: .now() + 10) == .success
        }
        let seen = try await database.read { try $0.query("SELECT state FROM t WHERE id = 1").first?.text("state") }
        readDone.signal()
        #expect(try await writerReleased)
        // The reader saw the last committed state, not the write in progress.
        #expect(seen == "live")
        #expect(try await database.read { try $0.query("SELECT state FROM t").first?.text("state") } == "disbursed")
        await database.close()
    }

    @Test("rows are read by column name; a missing column or an unknown value is damaged data")
    func typedRows() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table])
        try await database.write { _ = try $0.query("INSERT INTO t (id, state) VALUES (1, 'bogus')") }
        let row = try #require(try await database.read { try $0.query("SELECT id, state FROM t") }.first)
        #expect(try row.int("id") == 1)
        #expect(throws: SQLiteError.self) { try row.text("missing") }
        #expect(throws: SQLiteError.self) { try row.text("id") }
        do {
            _ = try row.decode(CityLedger.CommitmentState.self, "state")
            Issue.record("an unknown state decoded")
        } catch {
            #expect(error.isDataLoss)
        }
        await database.close()
    }

    @Test("a damaged application row is DATA_LOSS, never a valid-looking record")
    func damagedApplication() async throws {
        let harness = try StoreHarness()
        let id = try await harness.recommended(harness.benchmark(StoreHarness.uscc(7)), in: .sanshui)
        let store = harness.stores.store(.sanshui)
        try store.database.writeNow { _ = try $0.query("UPDATE applications SET state = 'APPROVED?' WHERE id = ?", [.text(id)]) }
        do {
            _ = try await store.application(id)
            Issue.record("a damaged state was read as valid")
        } catch let error as SQLiteError {
            #expect(error.isDataLoss)
        }
        await harness.stores.close()
    }

    @Test("a closed database refuses work instead of crashing")
    func closed() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table])
        await database.close()
        await #expect(throws: SQLiteError.self) { try await database.read { try $0.query("SELECT 1 AS one") } }
        #expect(throws: SQLiteError.self) { try database.writeNow { try $0.query("SELECT 1 AS one") } }
    }
}

import CSQLite
import CSQLiteProcess
import Dispatch
import SubsidyCore
import Synchronization
import Testing
@testable import SubsidyStore

/// The per-file executor and the typed rows.
@Suite("SQLite database")
struct SQLiteDatabaseTests {
    static let table = SQLiteDatabase.Migration(version: 1, sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, state TEXT NOT NULL);")
    /// How long a write holding the writer waits for reads that must not need it, before it gives
    /// up and the test fails. Generous: under ThreadSanitizer, beside the whole suite on two cores,
    /// 64 lookups have taken over 10 s without ever waiting on the writer.
    static let guardTime: DispatchTimeInterval = .seconds(60)

    @Test("SQLite keeps no memory statistics, so its allocations take no process-wide mutex")
    func noMemoryStatistics() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table])
        try await database.write { transaction in
            for id in 1...200 { _ = try transaction.query("INSERT INTO t (id, state) VALUES (?, ?)", [.integer(Int64(id)), .text("live \(id)")]) }
        }
        let rows = try await database.read { try $0.query("SELECT id, state FROM t ORDER BY state").count }
        #expect(rows == 200)
        // Every open in this process (stores and the test checker) applies the settings first.
        #expect(subsidy_sqlite_configure_process() == SQLITE_OK)
        // Process-wide and only ever raised while statistics are kept: any SQLite allocation
        // made with them on, in any test running beside this one, would show here.
        #expect(sqlite3_memory_highwater(0) == 0)
    }

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
            return readDone.wait(timeout: .now() + Self.guardTime) == .success
        }
        let seen = try await database.read { try $0.query("SELECT state FROM t WHERE id = 1").first?.text("state") }
        readDone.signal()
        #expect(try await writerReleased)
        // The reader saw the last committed state, not the write in progress.
        #expect(seen == "live")
        #expect(try await database.read { try $0.query("SELECT state FROM t").first?.text("state") } == "disbursed")
        await database.close()
    }

    @Test("writes waiting for the writer commit together; one that throws is undone alone; none returns before its commit")
    func groupCommit() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table])
        let release = DispatchSemaphore(value: 0)
        // The first write holds the writer thread until every other write is queued behind it.
        async let first: Void = database.write { transaction in
            try transaction.query("INSERT INTO t (id, state) VALUES (0, 'live')")
            _ = release.wait(timeout: .now() + 10)
        }
        let commitsBefore = database.groupCommits.load(ordering: .relaxed)
        let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for id in 1...40 {
                group.addTask {
                    do {
                        try await database.write { transaction in
                            try transaction.query("INSERT INTO t (id, state) VALUES (?, 'live')", [.integer(Int64(id))])
                            // Every seventh is refused after it wrote: its row must not survive.
                            if id % 7 == 0 { throw SubsidyError(.failedPrecondition, "refused \(id)") }
                        }
                        // Returned: its row is committed, visible to a reader at once.
                        let row = try await database.read { try $0.query("SELECT id FROM t WHERE id = ?", [.integer(Int64(id))]).first }
                        return (id, row != nil)
                    } catch let error as SubsidyError {
                        #expect(error.message == "refused \(id)")
                        return (id, false)
                    }
                }
            }
            // The 40 are queued behind the first write before it lets go.
            try await Task.sleep(for: .milliseconds(200))
            release.signal()
            return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        try await first
        #expect(outcomes.count == 40)
        for (id, committed) in outcomes { #expect(committed == (id % 7 != 0), "write \(id)") }
        let ids = try await database.read { try $0.query("SELECT id FROM t ORDER BY id").map { try $0.int("id") } }
        #expect(ids == [0] + (1...40).filter { $0 % 7 != 0 }.map(Int64.init))
        // Far fewer transactions than writes: they shared commits (and fsyncs).
        let commits = database.groupCommits.load(ordering: .relaxed) - commitsBefore
        #expect(commits < 20, "\(commits) commits for 41 writes")
        await database.close()
    }

    @Test("an attempt that throws is undone alone; the write around it goes on and commits the rest", arguments: [false, true])
    func attempts(failsAfterWriting: Bool) async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table])
        let runs = Atomic<Int>(0)
        let outcomes = try await database.write { transaction in
            runs.add(1, ordering: .relaxed)
            return try (Int64(1)...4).map { id in
                try transaction.attempt { () throws -> Int64 in
                    if id == 2 && !failsAfterWriting { throw SubsidyError(.failedPrecondition, "refused \(id) before writing") }
                    try transaction.query("INSERT INTO t (id, state) VALUES (?, 'live')", [.integer(id)])
                    if id == 2 { throw SubsidyError(.failedPrecondition, "refused \(id) after writing") }
                    // What an earlier attempt wrote is seen by the ones after it.
                    return try transaction.query("SELECT count(*) AS n FROM t").first!.int("n")
                }
            }
        }
        #expect(outcomes.map { try? $0.get() } == [1, nil, 2, 3])
        let ids = try await database.read { try $0.query("SELECT id FROM t ORDER BY id").map { try $0.int("id") } }
        #expect(ids == [1, 3, 4])
        // Attempts run without savepoints first; one that changed rows before failing makes the
        // write run again, each attempt in a savepoint.
        #expect(runs.load(ordering: .relaxed) == (failsAfterWriting ? 2 : 1))
        await database.close()
    }

    @Test("a write alone in its group that throws leaves nothing behind, and the next write commits")
    func loneWriteFails() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table])
        await #expect(throws: SubsidyError.self) {
            try await database.write { transaction in
                try transaction.query("INSERT INTO t (id, state) VALUES (1, 'live')")
                throw SubsidyError(.failedPrecondition, "refused")
            }
        }
        try await database.write { _ = try $0.query("INSERT INTO t (id, state) VALUES (2, 'live')") }
        let ids = try await database.read { try $0.query("SELECT id FROM t ORDER BY id").map { try $0.int("id") } }
        #expect(ids == [2])
        await database.close()
    }

    @Test("once SQLite has rolled a transaction back on its own, nothing more is written in it and the write fails whole")
    func lostTransaction() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table])
        await #expect(throws: (any Error).self) {
            try await database.write { transaction in
                _ = try transaction.attempt { try transaction.query("INSERT INTO t (id, state) VALUES (1, 'live')") }
                // What SQLite does by itself after an I/O error, a full disk or out of memory.
                _ = try transaction.attempt { () throws -> Void in
                    try transaction.query("ROLLBACK")
                    throw SQLiteError(code: 10, message: "disk I/O error")
                }
                // Were this run, it would commit on its own.
                try transaction.query("INSERT INTO t (id, state) VALUES (3, 'live')")
            }
        }
        let ids = try await database.read { try $0.query("SELECT id FROM t ORDER BY id").map { try $0.int("id") } }
        #expect(ids == [])
        // The file takes writes again.
        try await database.write { _ = try $0.query("INSERT INTO t (id, state) VALUES (4, 'live')") }
        #expect(try await database.read { try $0.query("SELECT id FROM t").map { try $0.int("id") } } == [4])
        await database.close()
    }

    @Test("text is kept as given: a NUL inside it neither ends it nor makes two texts one")
    func textWithNUL() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table])
        let texts = ["a\u{0}b", "a\u{0}c", "a", "\u{0}", "\u{0}\u{0}", "佛山\u{0}禅城", ""]
        try await database.write { transaction in
            for (id, text) in texts.enumerated() { _ = try transaction.query("INSERT INTO t (id, state) VALUES (?, ?)", [.integer(Int64(id)), .text(text)]) }
        }
        for (id, text) in texts.enumerated() {
            let rows = try await database.read { try $0.query("SELECT id, state, length(CAST(state AS BLOB)) AS bytes FROM t WHERE state = ?", [.text(text)]) }
            #expect(try rows.map { try $0.int("id") } == [Int64(id)], "\(Array(text.utf8))")
            #expect(try rows.first.map { Array(try $0.text("state").utf8) } == Array(text.utf8))
            #expect(try rows.first?.int("bytes") == Int64(text.utf8.count))
        }
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
        // Recovery reads only the decided applications, and still finds the damage.
        do {
            _ = try await store.decidedStates()
            Issue.record("recovery passed over a damaged state")
        } catch let error as SQLiteError {
            #expect(error.isDataLoss)
        }
        await harness.stores.close()
    }

    @Test("an upgrade across several versions that fails part-way leaves the file at its old version, whole")
    func migrationsAreAllOrNothing() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/t.sqlite"
        let first = try SQLiteDatabase(path: path, migrations: [Self.table])
        try await first.write { _ = try $0.query("INSERT INTO t (id, state) VALUES (1, 'kept')") }
        await first.close()

        let second = SQLiteDatabase.Migration(version: 2, sql: "CREATE TABLE u (id INTEGER PRIMARY KEY); INSERT INTO t (id, state) VALUES (2, 'v2');")
        let broken = SQLiteDatabase.Migration(version: 3, sql: "ALTER TABLE nowhere ADD COLUMN x TEXT;")
        #expect(throws: SQLiteError.self) { try SQLiteDatabase(path: path, migrations: [Self.table, second, broken]) }

        let reopened = try SQLiteDatabase(path: path, migrations: [Self.table])
        let (version, ids, tables) = try await reopened.read { transaction in
            (
                try transaction.query("PRAGMA user_version").first?.int("user_version"),
                try transaction.query("SELECT id FROM t ORDER BY id").map { try $0.int("id") },
                try transaction.query("SELECT count(*) AS n FROM sqlite_master WHERE name = 'u'").first?.int("n")
            )
        }
        #expect(version == 1, "version 2 applied alone would leave the file between the two binaries")
        #expect(ids == [1] && tables == 0)
        await reopened.close()
    }

    @Test("a closed database refuses work instead of crashing")
    func closed() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table])
        await database.close()
        await #expect(throws: SQLiteError.self) { try await database.read { try $0.query("SELECT 1 AS one") } }
        await #expect(throws: SQLiteError.self) { try await database.lookup { try $0.query("SELECT 1 AS one") } }
        #expect(throws: SQLiteError.self) { try database.writeNow { try $0.query("SELECT 1 AS one") } }
    }

    @Test("a lookup sees every committed write, beside a write in progress, and never waits for another lookup", arguments: [0, 2])
    func lookups(connections: Int) async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/t.sqlite", migrations: [Self.table], lookups: connections)
        try await database.write { transaction in
            for id in 1...64 { try transaction.query("INSERT INTO t (id, state) VALUES (?, 'live')", [.integer(Int64(id))]) }
        }
        // The writer holds an uncommitted change while every lookup runs: none may see it, and
        // none may queue behind it.
        let readsDone = DispatchSemaphore(value: 0)
        async let writerReleased = database.write { transaction -> Bool in
            try transaction.query("UPDATE t SET state = 'disbursed'")
            return readsDone.wait(timeout: .now() + Self.guardTime) == .success
        }
        // Lookup connections that are all busy hand the rest to reader threads (with none at
        // all, every lookup does): 64 at once, each answered from its own snapshot.
        let seen = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for id in 1...64 {
                group.addTask {
                    (id, try await database.lookup { try $0.query("SELECT state FROM t WHERE id = ?", [.integer(Int64(id))]).first?.text("state") })
                }
            }
            return try await group.reduce(into: [Int: String?]()) { $0[$1.0] = $1.1 }
        }
        readsDone.signal()
        #expect(try await writerReleased)
        #expect(seen.count == 64 && seen.values.allSatisfy { $0 == "live" })
        #expect(try await database.lookup { try $0.query("SELECT COUNT(*) AS n FROM t WHERE state = 'disbursed'").first?.int("n") } == 64)
        await database.close()
        await #expect(throws: SQLiteError.self) { try await database.lookup { try $0.query("SELECT 1 AS one") } }
    }
}

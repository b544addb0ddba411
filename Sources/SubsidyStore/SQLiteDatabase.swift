import NIOPosix
import Synchronization

/// A SQLite file with a serial executor of its own, in the shape of GRDB's `DatabasePool`: one
/// writer connection on one dedicated thread, so there is exactly one writer per file and writes
/// queue without holding any other thread; and a few reader connections on threads of their own,
/// so in WAL mode a read never waits behind the writer.
///
/// Writes are committed in groups: the writer thread takes every write waiting for it and runs
/// them in one transaction, each inside its own savepoint, in the order they were submitted. A
/// write that throws is rolled back to its savepoint and fails alone; the others commit. No write
/// returns before the transaction holding it has committed (and, with `synchronous=FULL`, been
/// fsynced), so each caller keeps its own durability and its own error, and concurrent callers
/// share one fsync. A write alone in its group needs no savepoint (its failure rolls back the
/// transaction): SQLite copies every page a savepoint changes to a temporary sub-journal first,
/// which was a fifth of an approval list's cost.
///
/// ``write(_:)`` and ``read(_:)`` suspend the calling task, never block it. The synchronous
/// ``writeNow(_:)`` and ``readNow(_:)`` are for start-up and the operator's tools, which run
/// before (or without) any concurrent caller. ``close()`` stops the threads and closes every
/// connection; the stores call it when the daemon shuts down.
public final class SQLiteDatabase: Sendable {
    private let writer: Mutex<SQLiteConnectionBox?>
    private let readers: Mutex<[SQLiteConnectionBox]>
    /// Connections for ``lookup(_:)``, read on the caller's thread; `closed` once ``close()``
    /// has begun (it closes those not in use; a lookup running then closes its own as it ends).
    private let lookups: Mutex<(free: [SQLiteConnectionBox], closed: Bool)>
    private let writeThread: NIOThreadPool
    private let readThreads: NIOThreadPool
    private let isClosed = Mutex(false)
    /// Writes waiting for the writer thread, and whether a drain of them is already queued there.
    private let pending = Mutex<(writes: [PendingWrite], drainQueued: Bool)>(([], false))
    /// Transactions committed by ``write(_:)`` (not by ``writeNow(_:)``), for tests of grouping.
    package let groupCommits = Atomic<Int>(0)
    /// Write transactions committed by any database of this process: a caller that remembers it
    /// can tell whether anything was written since (a replay answered from a request log writes
    /// nothing, so it need not wake those who watch for changes).
    public static var commitsInProcess: Int { processCommits.load(ordering: .acquiring) }
    private static let processCommits = Atomic<Int>(0)
    public let path: String

    /// A migration: its version (1, 2, …), the SQL that takes the schema there, and, where rows
    /// must be rewritten by code SQL lacks (Unicode normalisation), a backfill run after the SQL in
    /// the same transaction. Released migrations are literal SQL and never edited: a change is a
    /// new version (`SchemaFixtureTests` migrates a file made by the first release).
    public struct Migration: Sendable {
        public var version: Int
        public var sql: String
        public var backfill: (@Sendable (Transaction) throws(SQLiteError) -> Void)?
        public init(version: Int, sql: String, backfill: (@Sendable (Transaction) throws(SQLiteError) -> Void)? = nil) {
            self.version = version
            self.sql = sql
            self.backfill = backfill
        }

        /// Adds `column` (with its `definition`: type, constraint, default) to `table` unless the
        /// table has it already. SQLite has no `ADD COLUMN IF NOT EXISTS`, and a migration may run
        /// again on a file whose version was set back (an operator's repair, a test of an upgrade):
        /// every other migration is written to be re-run, so this one is too.
        /// `fill`, if given, runs after, every time (so rows an older binary added to a file whose
        /// version was set back are filled too): write it to touch only the rows it fills.
        public static func addColumn(version: Int, table: String, column: String, definition: String, fill: String? = nil) -> Migration {
            Migration(version: version, sql: "") { transaction throws(SQLiteError) in
                var present = false
                for row in try transaction.query("SELECT name FROM pragma_table_info(?)", [.text(table)]) where try row.text("name") == column { present = true }
                if !present { try transaction.query("ALTER TABLE \(table) ADD COLUMN \(column) \(definition)") }
                if let fill { try transaction.query(fill) }
            }
        }

        /// The version the last of `migrations` takes a file to: this release's schema.
        static func latest(of migrations: [Migration]) -> Int { migrations.map(\.version).max() ?? 0 }
    }

    /// Opens the file and applies the migrations it has not seen, all in one transaction.
    /// A file from a newer binary (schema version above the last migration) is refused.
    /// - Parameter cacheKiB: each connection's page cache (`PRAGMA cache_size`), sized per file
    ///   by its owner; SQLite's default is 2 MiB.
    /// - Parameter lookups: connections for ``lookup(_:)`` (lookups beyond them take a reader thread).
    /// - Parameter migrating: false for tools that must not migrate a file an earlier release
    ///   wrote (`--check`, the offline backup): such a file is refused (a new, empty one is still
    ///   created at this release's schema).
    public init(
        path: String, migrations: [Migration], readers: Int = 2, lookups: Int = 2, cacheKiB: Int = 2_048, migrating: Bool = true
    ) throws(SQLiteError) {
        var existing = stat()
        let hadContent = stat(path, &existing) == 0 && existing.st_size > 0
        let connection = try SQLiteConnection(path: path, cacheKiB: cacheKiB)
        let current = try connection.query("PRAGMA user_version").first?.int("user_version") ?? 0
        let latest = Migration.latest(of: migrations)
        if current > latest {
            throw SQLiteError(
                code: 0,
                message: "\(path) has schema version \(current), but this subsidyd understands only up to \(latest); use a newer subsidyd"
            )
        }
        if !migrating && hadContent && current < latest {
            connection.close()
            throw SQLiteError(code: 0, message: "\(PendingMigration(path: path, version: current, latest: latest)): not migrated")
        }
        // Every pending migration in one transaction: a file is at its old version or the new
        // one, never between (an upgrade across several versions that fails part-way leaves the
        // file as the old binary knew it), and a new file is created with one commit, not one
        // per version.
        let pending = migrations.sorted(by: { $0.version < $1.version }).filter { $0.version > current }
        if let last = pending.last {
            try connection.execute("BEGIN IMMEDIATE")
            do {
                for migration in pending {
                    try connection.execute(migration.sql)
                    try migration.backfill?(Transaction(connection: connection))
                }
                try connection.execute("PRAGMA user_version = \(last.version)")
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
        // Readers are opened after the migrations, so they never see a half-built schema.
        var opened: [SQLiteConnectionBox] = []
        for _ in 0..<max(1, readers) { opened.append(SQLiteConnectionBox(try SQLiteConnection(path: path, readOnly: true, cacheKiB: cacheKiB))) }
        var forLookups: [SQLiteConnectionBox] = []
        for _ in 0..<max(0, lookups) { forLookups.append(SQLiteConnectionBox(try SQLiteConnection(path: path, readOnly: true, cacheKiB: cacheKiB))) }
        self.writer = Mutex(SQLiteConnectionBox(connection))
        self.readers = Mutex(opened)
        self.lookups = Mutex((forLookups, false))
        self.path = path
        writeThread = NIOThreadPool(numberOfThreads: 1)
        readThreads = NIOThreadPool(numberOfThreads: opened.count)
        writeThread.start()
        readThreads.start()
    }

    /// Runs `body` on the file's writer thread inside a transaction it may share with other writes
    /// submitted meanwhile (group commit, see the type's documentation); returns once that
    /// transaction has committed. An error thrown by `body` undoes only `body`'s changes.
    ///
    /// `body`'s ``Transaction/attempt(_:)``s first run without savepoints; if one fails after
    /// changing rows, the whole of `body` is undone and run once more with a savepoint for each.
    public func write<T: Sendable>(_ body: @escaping @Sendable (Transaction) throws -> T) async throws -> T {
        do {
            return try await submit(body, isolatingAttempts: false)
        } catch is Transaction.AttemptChangedRowsBeforeFailing {
            return try await submit(body, isolatingAttempts: true)
        }
    }

    private func submit<T: Sendable>(_ body: @escaping @Sendable (Transaction) throws -> T, isolatingAttempts: Bool) async throws -> T {
        guard !isClosed.withLock({ $0 }) else { throw SQLiteError.closed(path) }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let write = PendingWrite(isolatingAttempts: isolatingAttempts) { transaction in
                do {
                    let value = try body(transaction)
                    return .succeeded { committed in
                        if let committed { continuation.resume(throwing: committed) } else { continuation.resume(returning: value) }
                    }
                } catch {
                    return .failed { continuation.resume(throwing: error) }
                }
            } abandon: { error in
                continuation.resume(throwing: error)
            }
            let queueDrain = pending.withLock { state -> Bool in
                state.writes.append(write)
                defer { state.drainQueued = true }
                return !state.drainQueued
            }
            guard queueDrain else { return }
            writeThread.submit { [self] threadState in
                guard threadState == .active else {
                    // The file is closing: nothing waiting will run.
                    for write in takePending() { write.abandon(SQLiteError.closed(path)) }
                    return
                }
                drain()
            }
        }
    }

    private func takePending() -> [PendingWrite] {
        pending.withLock { state in
            defer { state = ([], false) }
            return state.writes
        }
    }

    /// Runs every write waiting, in one transaction, each in its own savepoint; then tells each
    /// caller its outcome. Writes submitted while this runs queue the next drain.
    private func drain() {
        let batch = takePending()
        guard !batch.isEmpty else { return }
        writer.withLock { box in
            guard let connection = box?.connection else {
                for write in batch { write.abandon(SQLiteError.closed(path)) }
                return
            }
            do {
                try connection.control("BEGIN IMMEDIATE")
            } catch {
                for write in batch { write.abandon(error) }
                return
            }
            var outcomes: [PendingWrite.Outcome] = []
            outcomes.reserveCapacity(batch.count)
            do {
                if batch.count == 1 {
                    let outcome = batch[0].run(Transaction(connection: connection, isolatesAttempts: batch[0].isolatingAttempts))
                    if case .failed(let finish) = outcome {
                        // Alone in the transaction: undoing it is undoing the transaction.
                        try? connection.control("ROLLBACK")
                        finish()
                        return
                    }
                    outcomes.append(outcome)
                } else {
                    for write in batch {
                        try connection.control("SAVEPOINT write")
                        let outcome = write.run(Transaction(connection: connection, isolatesAttempts: write.isolatingAttempts))
                        if case .failed = outcome { try connection.control("ROLLBACK TO write") }
                        try connection.control("RELEASE write")
                        outcomes.append(outcome)
                    }
                }
                try connection.control("COMMIT")
            } catch {
                // The transaction itself failed (SQLite aborted it, or it could not commit):
                // nothing in it was written, and every caller is told so.
                try? connection.control("ROLLBACK")
                for (index, write) in batch.enumerated() {
                    if index < outcomes.count, case .failed(let finish) = outcomes[index] { finish() } else { write.abandon(error) }
                }
                return
            }
            groupCommits.add(1, ordering: .relaxed)
            Self.processCommits.add(1, ordering: .releasing)
            for outcome in outcomes {
                switch outcome {
                case .succeeded(let finish): finish(nil)
                case .failed(let finish): finish()
                }
            }
        }
    }

    /// Works through the rows a migration listed in the table `pending` (their keys in its column
    /// `key`), up to 200 in each write transaction, deleting each from the list as `rewrite`
    /// handles it; `rewrite` returns false for a row it cannot read (left as it was). Returns how
    /// many were rewritten and the keys that were not.
    package func rewriteListedRows(
        pending: String, key: String, _ rewrite: @escaping @Sendable (Transaction, String) throws -> Bool
    ) async throws -> (converted: Int, failed: [String]) {
        var converted = 0
        var failed: [String] = []
        while true {
            let (done, bad) = try await write { transaction -> (Int, [String]) in
                var (done, bad) = (0, [String]())
                for row in try transaction.query("SELECT \(key) FROM \(pending) ORDER BY \(key) LIMIT 200") {
                    let id = try row.text(key)
                    try transaction.query("DELETE FROM \(pending) WHERE \(key) = ?", [.text(id)])
                    if try rewrite(transaction, id) { done += 1 } else { bad.append(id) }
                }
                return (done, bad)
            }
            converted += done
            failed += bad
            if done + bad.count == 0 { return (converted, failed) }
        }
    }

    /// Runs `body` inside a read transaction (a consistent snapshot) on a reader thread, beside
    /// whatever the writer is doing.
    public func read<T: Sendable>(_ body: @escaping @Sendable (Transaction) throws -> T) async throws -> T {
        try await run(on: readThreads) { try self.readNow(body) }
    }

    /// ``read(_:)`` on the calling thread, for a lookup by key: a handful of indexed rows, no
    /// scan. A read's hop to a reader thread and back (two thread wake-ups) costs more than such a
    /// lookup, and a filing asks a dozen of them. Lookups never wait for each other: when every
    /// lookup connection is busy, this one takes a reader thread. Not for lists, exports or
    /// anything whose cost grows with the data — those block the caller's thread.
    public func lookup<T: Sendable>(_ body: @escaping @Sendable (Transaction) throws -> T) async throws -> T {
        let taken = lookups.withLock { state -> SQLiteConnectionBox? in state.closed ? nil : state.free.popLast() }
        guard let box = taken else { return try await read(body) }
        defer {
            let closed = lookups.withLock { state -> Bool in
                if !state.closed { state.free.append(box) }
                return state.closed
            }
            if closed { box.connection.close() }
        }
        return try Self.snapshot(box.connection, body)
    }

    /// How many keys a read may look up on the caller's thread (``read(small:_:)``): a few
    /// applications' content keys; a committee's list of hundreds takes a reader thread.
    public static let lookupKeys = 24

    /// ``lookup(_:)`` when `small` (the caller knows the read is a few rows), else ``read(_:)``.
    public func read<T: Sendable>(small: Bool, _ body: @escaping @Sendable (Transaction) throws -> T) async throws -> T {
        small ? try await lookup(body) : try await read(body)
    }

    private func run<T: Sendable>(on pool: NIOThreadPool, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        guard !isClosed.withLock({ $0 }) else { throw SQLiteError.closed(path) }
        do {
            return try await pool.runIfActive(body)
        } catch {
            // Work refused by a pool that was shut down meanwhile is the file closing, not the
            // caller's cancellation.
            if isClosed.withLock({ $0 }) || error is NIOThreadPoolError.ThreadPoolInactive { throw SQLiteError.closed(path) }
            throw error
        }
    }

    /// ``write(_:)`` on the calling thread, for start-up and offline tools.
    public func writeNow<T>(_ body: (Transaction) throws -> T) throws -> T {
        try writer.withLock { box in
            guard let connection = box?.connection else { throw SQLiteError.closed(path) }
            try connection.control("BEGIN IMMEDIATE")
            do {
                let result = try body(Transaction(connection: connection))
                try connection.control("COMMIT")
                Self.processCommits.add(1, ordering: .releasing)
                return result
            } catch {
                try? connection.control("ROLLBACK")
                throw error
            }
        }
    }

    /// ``read(_:)`` on the calling thread, for start-up and offline tools.
    public func readNow<T>(_ body: (Transaction) throws -> T) throws -> T {
        // Each reader thread takes a connection for the length of one read; a synchronous caller
        // beyond them (start-up, tests) reads through the writer's connection instead of waiting.
        guard let box = readers.withLock({ $0.popLast() }) else {
            return try writer.withLock { box in
                guard let connection = box?.connection else { throw SQLiteError.closed(path) }
                return try Self.snapshot(connection, body)
            }
        }
        defer { readers.withLock { $0.append(box) } }
        return try Self.snapshot(box.connection, body)
    }

    private static func snapshot<T>(_ connection: SQLiteConnection, _ body: (Transaction) throws -> T) throws -> T {
        try connection.control("BEGIN")
        defer { try? connection.control("COMMIT") }
        return try body(Transaction(connection: connection))
    }

    /// Stops the file's threads (work already queued finishes first) and closes its connections.
    /// Later calls fail with ``SQLiteError/closed(_:)``.
    public func close() async {
        isClosed.withLock { $0 = true }
        // A lookup running now closes its connection when it ends.
        let idle = lookups.withLock { state -> [SQLiteConnectionBox] in
            state.closed = true
            defer { state.free.removeAll() }
            return state.free
        }
        for box in idle { box.connection.close() }
        try? await writeThread.shutdownGracefully()
        try? await readThreads.shutdownGracefully()
        writer.withLock { box in
            box?.connection.close()
            box = nil
        }
        readers.withLock { boxes in
            for box in boxes { box.connection.close() }
            boxes.removeAll()
        }
    }
}

/// Access to the file inside ``SQLiteDatabase/write(_:)`` or ``SQLiteDatabase/read(_:)``. Use it
/// only inside that closure: it is valid only while the transaction is open.
/// (It was `~Copyable` to make escaping impossible, but Swift 6.3's optimizer crashes on
/// borrowed non-copyable values in these generic closures in release builds.)
public struct Transaction {
    let connection: SQLiteConnection
    /// Whether ``attempt(_:)`` takes a savepoint (see there).
    var isolatesAttempts = true

    init(connection: SQLiteConnection, isolatesAttempts: Bool = true) {
        self.connection = connection
        self.isolatesAttempts = isolatesAttempts
    }

    /// An attempt failed after changing rows in a write run without savepoints: the write is
    /// undone and run again with them (``SQLiteDatabase/write(_:)``).
    struct AttemptChangedRowsBeforeFailing: Error {}

    /// Runs one statement; rows are read by column name (``SQLiteRow``).
    ///
    /// Refused once SQLite has rolled the transaction back on its own (after an I/O error, a full
    /// disk, out of memory): a statement run then would commit by itself, outside the
    /// all-or-nothing the caller relies on, even if the caller handled the first error and went on.
    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(SQLiteError) -> [SQLiteRow] {
        guard !connection.isAutocommit else { throw SQLiteError.transactionLost(connection.path) }
        return try connection.query(sql, parameters)
    }

    /// Rows changed by the last statement.
    public var changes: Int { connection.changes }

    /// Runs `body` so that if it throws, its changes are undone and its error returned, and the
    /// transaction goes on (one item of a list refused without failing the rest).
    ///
    /// Most refusals come before any row changes (the policy engine refuses; the insert follows),
    /// and a savepoint costs a copy of every page it touches, so inside
    /// ``SQLiteDatabase/write(_:)`` the first run takes none: a `body` that throws having changed
    /// nothing needs nothing undone; one that changed rows makes the whole write run again with a
    /// savepoint per attempt. Throws only to fail the whole write.
    public func attempt<T>(_ body: () throws -> T) throws -> Result<T, any Error> {
        guard isolatesAttempts else {
            let before = connection.totalChanges
            do {
                return .success(try body())
            } catch {
                // SQLite rolled back the whole transaction (the attempts before this one too):
                // that is the write's failure, not this attempt's.
                if connection.isAutocommit { throw error }
                guard connection.totalChanges == before else { throw AttemptChangedRowsBeforeFailing() }
                return .failure(error)
            }
        }
        try query("SAVEPOINT attempt")
        do {
            let value = try body()
            try query("RELEASE attempt")
            return .success(value)
        } catch {
            try query("ROLLBACK TO attempt")
            try query("RELEASE attempt")
            return .failure(error)
        }
    }
}

/// A write waiting for the writer thread: its body, run inside the group's transaction, and how
/// to tell its caller the outcome once the group's fate is known.
struct PendingWrite: Sendable {
    enum Outcome {
        /// The body returned; call with nil once committed, or with the error that undid it.
        case succeeded(@Sendable (_ commitFailure: (any Error)?) -> Void)
        /// The body threw; its savepoint was rolled back. Tells the caller its error.
        case failed(@Sendable () -> Void)
    }

    /// Whether the write's ``Transaction/attempt(_:)``s take savepoints (its second run).
    let isolatingAttempts: Bool
    let run: @Sendable (Transaction) -> Outcome
    /// Fails the caller without running the body (the file closed, or the group never began).
    let abandon: @Sendable (any Error) -> Void
}

/// Lets the non-Sendable connection live inside a `Mutex` (which provides the exclusion).
struct SQLiteConnectionBox: @unchecked Sendable {
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}

import Synchronization

/// A SQLite file with its single connection behind a lock: every read and write of the file goes
/// through ``read(_:)`` or ``write(_:)``, one at a time, so there is exactly one writer per file.
///
/// Calls block their thread; the server runs them off the NIO event loops (see `BlockingIO`).
public final class SQLiteDatabase: Sendable {
    /// The connection; `Mutex` serializes use, SQLite itself is opened without its own mutex.
    private let connection: Mutex<SQLiteConnectionBox>
    public let path: String

    /// A migration: its version (1, 2, …), the SQL that takes the schema there, and, where rows
    /// must be rewritten by code SQL lacks (Unicode normalisation), a backfill run after the SQL in
    /// the same transaction. Released migrations are never edited: a change is a new version.
    public struct Migration: Sendable {
        public var version: Int
        public var sql: String
        public var backfill: (@Sendable (Transaction) throws(SQLiteError) -> Void)?
        public init(version: Int, sql: String, backfill: (@Sendable (Transaction) throws(SQLiteError) -> Void)? = nil) {
            self.version = version
            self.sql = sql
            self.backfill = backfill
        }
    }

    /// Opens the file and applies the migrations it has not seen, each in its own transaction.
    /// A file from a newer binary (schema version above the last migration) is refused.
    public init(path: String, migrations: [Migration]) throws(SQLiteError) {
        let connection = try SQLiteConnection(path: path)
        let current = try connection.query("PRAGMA user_version").first?.int(0) ?? 0
        let latest = migrations.map(\.version).max() ?? 0
        if current > latest {
            throw SQLiteError(
                code: 0,
                message: "\(path) has schema version \(current), but this subsidyd understands only up to \(latest); use a newer subsidyd"
            )
        }
        for migration in migrations.sorted(by: { $0.version < $1.version }) where migration.version > current {
            try connection.execute("BEGIN IMMEDIATE")
            do {
                try connection.execute(migration.sql)
                try migration.backfill?(Transaction(connection: connection))
                try connection.execute("PRAGMA user_version = \(migration.version)")
                try connection.execute("COMMIT")
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
        self.connection = Mutex(SQLiteConnectionBox(connection))
        self.path = path
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`; any error rolls everything back.
    public func write<T>(_ body: (Transaction) throws -> T) throws -> T {
        try connection.withLock { box in
            let connection = box.connection
            try connection.execute("BEGIN IMMEDIATE")
            do {
                let result = try body(Transaction(connection: connection))
                try connection.execute("COMMIT")
                return result
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// Runs `body` inside a read transaction (a consistent snapshot).
    public func read<T>(_ body: (Transaction) throws -> T) throws -> T {
        try connection.withLock { box in
            let connection = box.connection
            try connection.execute("BEGIN")
            defer { try? connection.execute("COMMIT") }
            return try body(Transaction(connection: connection))
        }
    }
}

/// Access to the file inside ``SQLiteDatabase/write(_:)`` or ``SQLiteDatabase/read(_:)``. Use it
/// only inside that closure: it is valid only while the transaction (and the lock) is held.
/// (It was `~Copyable` to make escaping impossible, but Swift 6.3's optimizer crashes on
/// borrowed non-copyable values in these generic closures in release builds.)
public struct Transaction {
    let connection: SQLiteConnection

    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(SQLiteError) -> [[SQLiteValue]] {
        try connection.query(sql, parameters)
    }

    /// Rows changed by the last statement.
    public var changes: Int { connection.changes }
}

/// Lets the non-Sendable connection live inside a `Mutex` (which provides the exclusion).
struct SQLiteConnectionBox: @unchecked Sendable {
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}

import CSQLite
import CSQLiteProcess

#if canImport(Glibc)
import Glibc
#endif

/// A failure reported by SQLite, with the statement that caused it.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var message: String
    public var sql: String?

    public var description: String { "SQLite error \(code): \(message)" + (sql.map { " in `\($0)`" } ?? "") }

    /// SQLITE_BUSY / SQLITE_LOCKED: another process holds the file (e.g. a second daemon).
    public var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }

    /// A stored value this binary cannot read back as what its column holds (an unknown state, a
    /// missing column, a wrong type): damaged data, reported as DATA_LOSS, never guessed at.
    public var isDataLoss: Bool { code & 0xff == SQLITE_CORRUPT }

    /// SQLITE_FULL: the disk (or the file's page limit) is full; the transaction was rolled back.
    public var isFull: Bool { code & 0xff == SQLITE_FULL }

    static func damaged(_ message: String) -> SQLiteError { SQLiteError(code: SQLITE_CORRUPT, message: message) }

    /// A damaged row or file (``damaged(_:)``, or SQLite's own SQLITE_CORRUPT).
    public var isDamaged: Bool { code & 0xff == SQLITE_CORRUPT }

    /// SQLITE_NOTADB: the file is not a database (overwritten, or its header damaged).
    public var isNotADatabase: Bool { code & 0xff == SQLITE_NOTADB }

    /// The database was closed (the daemon is shutting down).
    static func closed(_ path: String) -> SQLiteError { SQLiteError(code: SQLITE_MISUSE, message: "\(path) is closed") }

    /// A statement in a transaction SQLite had already rolled back (``Transaction/query(_:_:)``).
    static func transactionLost(_ path: String) -> SQLiteError {
        SQLiteError(code: SQLITE_ABORT, message: "the transaction on \(path) was rolled back by SQLite after an error; nothing more is written in it")
    }
}

/// A value bound to or read from a statement.
public enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])
}

/// One SQLite connection: the only writer of its file (DESIGN.md §4). Not thread-safe on its
/// own; ``SQLiteDatabase`` owns it behind a lock.
final class SQLiteConnection {
    private var handle: OpaquePointer?
    /// Prepared statements by their SQL, each with its column names (shared by its rows).
    private var cache: [String: (statement: OpaquePointer, columns: SQLiteRow.Columns)] = [:]
    let path: String

    /// Opens (creating if needed) with WAL and `synchronous=FULL`, so a commit that returned
    /// survives a crash or power loss. A `readOnly` connection refuses every write
    /// (`query_only`): the readers of ``SQLiteDatabase`` cannot become a second writer.
    init(path: String, readOnly: Bool = false, cacheKiB: Int = 2_048) throws(SQLiteError) {
        Self.configureProcess()
        // SQLite would create the file 0644 less the umask, and gives its -wal and -shm files the
        // database file's mode; creating it 0600 first keeps all three private to the daemon.
        let created = Glibc.open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard created >= 0 else {
            throw SQLiteError(code: SQLITE_CANTOPEN, message: "\(path): cannot open (\(String(cString: strerror(errno))))")
        }
        Glibc.close(created)
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: "\(path): \(message)")
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 5_000)
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=FULL")
        try execute("PRAGMA foreign_keys=ON")
        try execute("PRAGMA cache_size=-\(max(64, cacheKiB))")
        if readOnly {
            try execute("PRAGMA query_only=ON")
        } else {
            try execute("PRAGMA wal_autocheckpoint=\(Self.checkpointPages)")
            // The journals of savepoints and of statements inside a transaction are temporary
            // files by default: `strace` of ImportHistory found a 4-byte and a 4 KB `pwrite` to
            // one for every page each upsert touched — 118 MB in three seconds, a third of its
            // CPU. In memory they are a copy: imports 45% faster, approvals 15–20% (A/B). They
            // hold the original pages a statement or a savepoint touched, only while it is open:
            // a decision's few pages; a grouped 5,000-row import's, a few MB. Readers keep the
            // default (their temporary storage is sorting, which can grow with the data).
            try execute("PRAGMA temp_store=MEMORY")
        }
    }

    /// SQLite's process-wide settings, applied before the process's first open (each
    /// connection, and ``BackupFiles``, calls this first; the C side runs them once).
    ///
    /// Memory statistics are off: with them SQLite takes one process-wide mutex around every
    /// allocation and free, which every file's writer and reader threads contend for. `perf` of
    /// the review phase put 11% of the daemon's CPU under `sqlite3Malloc`, most of it that
    /// mutex's lock and futex wake; without it a submission or a review costs 18–25% less CPU
    /// (BENCHMARKS.md). Nothing reads the statistics.
    static func configureProcess() {
        _ = subsidy_sqlite_configure_process()
    }

    /// WAL pages after which a commit copies them back into the file (SQLite's default is 1,000).
    /// The pages every decision rewrites (cap totals, the ends of indexes) were copied back at
    /// nearly every checkpoint; ten times fewer checkpoints copy each of them once per 10,000
    /// pages instead: ImportHistory 8% faster (20,000 rows, A/B in the same minutes). The cost
    /// is a WAL of up to ~40 MB per file, replayed after a crash (start-up after SIGKILL is
    /// measured by the benchmark).
    static let checkpointPages = 10_000

    /// Copies the file as this connection reads it (within its open read transaction: that
    /// snapshot, whatever commits follow) into `target`, an existing empty file, page by page
    /// with SQLite's online backup, `pagesPerStep` at a time. Before each step it asks
    /// `continuing`; a false answer abandons the copy (`target` is left part-written) and
    /// returns false. A copy from a connection holding its read transaction never restarts,
    /// however many commits the file takes meanwhile, so the steps add up to one copy.
    func backup(into target: String, pagesPerStep: Int32 = 1024, continuing: () -> Bool) throws(SQLiteError) -> Bool {
        let source = try live()
        var opened: OpaquePointer?
        let rc = sqlite3_open_v2(target, &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, nil)
        defer { sqlite3_close_v2(opened) }
        guard rc == SQLITE_OK, let destination = opened else { throw SQLiteError(code: rc, message: "\(target): cannot open") }
        guard let backup = sqlite3_backup_init(destination, "main", source, "main") else {
            throw SQLiteError(code: sqlite3_errcode(destination), message: "\(target): \(String(cString: sqlite3_errmsg(destination)))")
        }
        var step = SQLITE_OK
        while step == SQLITE_OK {
            guard continuing() else {
                sqlite3_backup_finish(backup)
                return false
            }
            step = sqlite3_backup_step(backup, pagesPerStep)
        }
        let finished = sqlite3_backup_finish(backup)
        guard step == SQLITE_DONE, finished == SQLITE_OK else {
            let code = Self.normalised(step == SQLITE_DONE ? finished : step, destination)
            throw SQLiteError(code: code, message: "\(target): \(String(cString: sqlite3_errmsg(destination)))")
        }
        // The pages carry the live file's WAL mode: a copy opened later would grow a -wal and
        // -shm beside it. A rollback-journal file, as VACUUM INTO made them, is self-contained.
        let journal = sqlite3_exec(destination, "PRAGMA journal_mode=DELETE", nil, nil, nil)
        guard journal == SQLITE_OK else {
            throw SQLiteError(code: Self.normalised(journal, destination), message: "\(target): \(String(cString: sqlite3_errmsg(destination)))")
        }
        return true
    }

    /// Finalizes every cached statement and closes the file; later calls fail as closed.
    func close() {
        for entry in cache.values { sqlite3_finalize(entry.statement) }
        cache.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    deinit { close() }

    /// SQLite's error for `rc`, naming the file: of six files, the one that is damaged or full is
    /// what an operator needs to know first.
    private func error(_ rc: Int32, _ sql: String?) -> SQLiteError {
        SQLiteError(code: Self.normalised(rc, handle), message: "\(path): " + (handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed"), sql: sql)
    }

    /// `rc`, with an I/O error of a write that the kernel reported as ENOSPC (SQLite says
    /// SQLITE_IOERR_WRITE, _SHMSIZE, … for some writes that find the disk full) made SQLITE_FULL:
    /// every full disk is one error, RESOURCE_EXHAUSTED to the client, not INTERNAL. Only the
    /// writes': the errno SQLite keeps is the thread's last, which a failed read (a short read
    /// sets none) could have inherited from an earlier ENOSPC.
    static func normalised(_ rc: Int32, _ handle: OpaquePointer?) -> Int32 {
        // SQLITE_IOERR_WRITE, _FSYNC, _DIR_FSYNC, _TRUNCATE, _SHMSIZE (macros Swift does not import).
        let writes: [Int32] = [3, 4, 5, 6, 19].map { SQLITE_IOERR | $0 << 8 }
        guard writes.contains(rc), let handle, sqlite3_system_errno(handle) == ENOSPC else { return rc }
        return SQLITE_FULL
    }

    private func live() throws(SQLiteError) -> OpaquePointer {
        guard let handle else { throw SQLiteError.closed(path) }
        return handle
    }

    /// Runs SQL that returns no rows (may hold several statements).
    func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(try live(), sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? ""
            sqlite3_free(message)
            throw SQLiteError(code: Self.normalised(rc, handle), message: "\(path): \(text)", sql: sql)
        }
    }

    /// Runs one statement of transaction control (`BEGIN`, `COMMIT`, `SAVEPOINT`, …) from the
    /// prepared-statement cache. Every read snapshot and every write opens and closes a
    /// transaction; `sqlite3_exec` parsed those statements again each time, 4% of a submission's
    /// CPU (`perf`).
    func control(_ sql: String) throws(SQLiteError) {
        try query(sql)
    }

    /// Runs one statement with bound parameters and returns every row.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(SQLiteError) -> [SQLiteRow] {
        let (statement, columns) = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (i, value) in parameters.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32 = switch value {
            case .null: sqlite3_bind_null(statement, index)
            case .integer(let v): sqlite3_bind_int64(statement, index, v)
            // With its length: -1 would have SQLite stop at the first NUL, and keep "a\0b" as "a".
            case .text(let v): sqlite3_bind_text(statement, index, v, Int32(v.utf8.count), subsidy_sqlite_transient())
            case .blob(let v): v.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), subsidy_sqlite_transient()) }
            }
            guard rc == SQLITE_OK else { throw error(rc, sql) }
        }
        var rows: [SQLiteRow] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc, sql) }
            rows.append(SQLiteRow(columns: columns, values: (0..<sqlite3_column_count(statement)).map { column in
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: .integer(sqlite3_column_int64(statement, column))
                case SQLITE_TEXT:
                    .text(String(decoding: UnsafeBufferPointer(start: sqlite3_column_text(statement, column), count: Int(sqlite3_column_bytes(statement, column))), as: UTF8.self))
                case SQLITE_BLOB:
                    .blob(Array(UnsafeRawBufferPointer(start: sqlite3_column_blob(statement, column), count: Int(sqlite3_column_bytes(statement, column)))))
                default: .null
                }
            }))
        }
        return rows
    }

    private func prepared(_ sql: String) throws(SQLiteError) -> (statement: OpaquePointer, columns: SQLiteRow.Columns) {
        if let entry = cache[sql] { return entry }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(try live(), sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc, sql) }
        let entry = (statement: statement, columns: SQLiteRow.Columns(statement))
        cache[sql] = entry
        return entry
    }

    var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }

    /// Rows inserted, changed or deleted on this connection since it opened (triggers' too;
    /// a statement that failed and was undone counts nothing).
    var totalChanges: Int64 { handle.map { Int64(sqlite3_total_changes($0)) } ?? 0 }

    /// Whether no transaction is open. Inside a ``Transaction`` this means SQLite rolled the
    /// transaction back itself (an I/O error, a full disk, out of memory).
    var isAutocommit: Bool { handle.map { sqlite3_get_autocommit($0) != 0 } ?? true }
}

/// One result row, read by column name. A column the statement lacks, or a value of another
/// type than the column's, is damaged data (``SQLiteError/isDataLoss``), never a default.
public struct SQLiteRow: Sendable {
    /// The statement's column names, shared by all its rows.
    final class Columns: Sendable {
        let index: [String: Int]
        init(_ statement: OpaquePointer) {
            var index: [String: Int] = [:]
            for column in 0..<sqlite3_column_count(statement) {
                index[String(cString: sqlite3_column_name(statement, column))] = Int(column)
            }
            self.index = index
        }
    }

    let columns: Columns
    let values: [SQLiteValue]

    private func value(_ name: String) throws(SQLiteError) -> SQLiteValue {
        guard let i = columns.index[name] else { throw .damaged("the row has no column \(name)") }
        return values[i]
    }

    public func text(_ name: String) throws(SQLiteError) -> String {
        guard case .text(let v) = try value(name) else { throw .damaged("column \(name) does not hold text") }
        return v
    }

    /// Text, or nil where the column is NULL.
    public func optionalText(_ name: String) throws(SQLiteError) -> String? {
        switch try value(name) {
        case .null: return nil
        case .text(let v): return v
        default: throw .damaged("column \(name) does not hold text")
        }
    }

    public func int(_ name: String) throws(SQLiteError) -> Int64 {
        guard case .integer(let v) = try value(name) else { throw .damaged("column \(name) does not hold an integer") }
        return v
    }

    public func optionalInt(_ name: String) throws(SQLiteError) -> Int64? {
        if case .null = try value(name) { return nil }
        return try int(name)
    }

    public func blob(_ name: String) throws(SQLiteError) -> [UInt8] {
        switch try value(name) {
        case .blob(let v): return v
        // A BLOB column may hold text (SQLite keeps what was bound): its bytes are the UTF-8, as
        // the positional reader returned before.
        case .text(let v): return [UInt8](v.utf8)
        default: throw .damaged("column \(name) does not hold bytes")
        }
    }

    /// Bytes, or nil where the column is NULL (e.g. a scalar subquery that found no row).
    public func optionalBlob(_ name: String) throws(SQLiteError) -> [UInt8]? {
        if case .null = try value(name) { return nil }
        return try blob(name)
    }

    /// A stored enumeration: a value outside `T` is a damaged or newer file, an error, never a guess.
    public func decode<T: RawRepresentable>(_: T.Type, _ name: String) throws(SQLiteError) -> T where T.RawValue == String {
        let raw = try text(name)
        guard let value = T(rawValue: raw) else { throw .damaged("column \(name) holds unknown value \"\(raw)\"") }
        return value
    }
}

import CSQLite
import SubsidyCore

#if canImport(Glibc)
import Glibc
#endif

/// One store file whose schema is older than this release's: what opening it would migrate.
public struct PendingMigration: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var version: Int64
    public var latest: Int

    public var description: String { "\(path) is at schema \(version); this release's is \(latest)" }
}

extension SubsidyStores {
    /// The files of a data directory that opening it with this release would migrate, read
    /// without writing anything (a missing file is not listed: opening creates it). Tools that
    /// must not migrate them (`--check`, the offline backup) refuse to open them when any is
    /// listed: once migrated, the release that wrote them cannot open them again.
    public static func pendingMigrations(ledgerPath: String, districtDirectory: String) -> [PendingMigration] {
        let files = [(ledgerPath, CityLedger.migrations)]
            + DistrictID.allCases.map { ("\(districtDirectory)/\($0.rawValue).sqlite", DistrictStore.migrations) }
        return files.compactMap { path, migrations in
            let latest = SQLiteDatabase.Migration.latest(of: migrations)
            guard let version = schemaVersion(of: path), version < latest else { return nil }
            return PendingMigration(path: path, version: version, latest: latest)
        }
    }

    /// `PRAGMA user_version` of `path`, opened read-only (it reads the WAL too). Nil: no such
    /// file, an empty one (a start cut off before its first commit), or one not readable now (a
    /// rollback journal to replay, a lock held): the open that follows refuses to migrate it.
    static func schemaVersion(of path: String) -> Int64? {
        var status = stat()
        guard stat(path, &status) == 0, status.st_size > 0 else { return nil }
        SQLiteConnection.configureProcess()
        var handle: OpaquePointer?
        defer { sqlite3_close_v2(handle) }
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, nil) == SQLITE_OK, let handle else {
            return nil
        }
        var statement: OpaquePointer?
        defer { sqlite3_finalize(statement) }
        guard sqlite3_prepare_v2(handle, "PRAGMA user_version", -1, &statement, nil) == SQLITE_OK, sqlite3_step(statement) == SQLITE_ROW else {
            return nil
        }
        return sqlite3_column_int64(statement, 0)
    }
}

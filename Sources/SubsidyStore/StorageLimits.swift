import SubsidyCore

#if canImport(Glibc)
import Glibc
#endif

/// How far the files may grow before a district's new records are refused. Every file shares
/// one disk: without a bound, one district filing at its full request rate could fill it, and
/// then no tenant's write — not even the city's decisions — could commit.
public struct StorageLimits: Sendable, Equatable {
    /// Largest a district's own database may grow (its pages, committed in the file or still in
    /// the WAL). 0: no limit.
    public var maximumDistrictFileBytes: Int64
    /// Free space the data directory's file system must keep: below it no district may add a
    /// record, so what is left stays for decisions and the ledger. 0: no reserve.
    public var minimumFreeDiskBytes: Int64

    public init(maximumDistrictFileBytes: Int64, minimumFreeDiskBytes: Int64) {
        self.maximumDistrictFileBytes = maximumDistrictFileBytes
        self.minimumFreeDiskBytes = minimumFreeDiskBytes
    }

    /// No limit and no reserve.
    public static let unlimited = StorageLimits(maximumDistrictFileBytes: 0, minimumFreeDiskBytes: 0)
}

/// Why a district's growth was refused by ``SubsidyStores/requireRoomToGrow(_:)``: the cause of
/// its `RESOURCE_EXHAUSTED`, so the server can tell the operator (it is theirs to act on) where
/// the caller only learns to retry later.
public struct StorageRefusal: Error, CustomStringConvertible {
    /// The limit reached (`min_free_disk_bytes`, `max_district_file_bytes:<district>`).
    public var limit: String
    public var description: String
}

extension SubsidyStores {
    /// Refuses (RESOURCE_EXHAUSTED) a district request that adds a record — an applicant or a
    /// change to one, an application or its amended content, a catalogue entry — once the
    /// district's file has reached its limit or the disk its reserve. Only growth is refused: the
    /// district still reads, reviews and withdraws what it has, and the city still decides on it
    /// (a decision writes a few rows, and its ledger step must always be completed in the
    /// district), so the bound is a little soft — by what the requests already past this check
    /// write.
    public func requireRoomToGrow(_ district: DistrictID) async throws {
        let limits = storageLimits
        if limits.maximumDistrictFileBytes > 0 {
            let bytes = try await Self.bytes(of: store(district).database)
            if bytes >= limits.maximumDistrictFileBytes {
                throw SubsidyError(
                    .resourceExhausted,
                    "\(district.rawValue)'s file holds \(Self.mebibytes(bytes)), at its limit of \(Self.mebibytes(limits.maximumDistrictFileBytes)) (limits.max_district_file_bytes): new applicants, applicant changes, applications, amendments and catalogue entries are refused until the city's operators raise it; reading, reviewing and withdrawing go on, and the city still decides",
                    cause: StorageRefusal(
                        limit: "max_district_file_bytes:\(district.rawValue)",
                        description: "\(district.rawValue)'s file is at limits.max_district_file_bytes (\(Self.mebibytes(bytes)) of \(Self.mebibytes(limits.maximumDistrictFileBytes)))")
                )
            }
        }
        if limits.minimumFreeDiskBytes > 0, let free = freeDiskBytes(), free < limits.minimumFreeDiskBytes {
            throw SubsidyError(
                .resourceExhausted,
                "the data directory's disk has \(Self.mebibytes(free)) free, below its reserve of \(Self.mebibytes(limits.minimumFreeDiskBytes)) (limits.min_free_disk_bytes), kept for decisions: new applicants, applicant changes, applications, amendments and catalogue entries are refused until space is freed; retry later with the same request id",
                cause: StorageRefusal(
                    limit: "min_free_disk_bytes",
                    description: "the data directory's disk is below limits.min_free_disk_bytes (\(Self.mebibytes(free)) free of a \(Self.mebibytes(limits.minimumFreeDiskBytes)) reserve)")
            )
        }
    }

    /// Bytes of every file (`city-ledger` and each district by name), for the metrics.
    public func storedBytes() async throws -> [(file: String, bytes: Int64)] {
        var sizes = [(file: "city-ledger", bytes: try await Self.bytes(of: ledger.database))]
        for district in DistrictID.allCases { sizes.append((district.rawValue, try await Self.bytes(of: store(district).database))) }
        return sizes
    }

    /// The length of every file's write-ahead log (`city-ledger` and each district by name): it
    /// grows while a long read keeps checkpoints from resetting it, and is disk the pages above
    /// do not count.
    public func walBytes() -> [(file: String, bytes: Int64)] {
        func length(_ database: SQLiteDatabase) -> Int64 {
            var status = stat()
            return stat(database.path + "-wal", &status) == 0 ? Int64(status.st_size) : 0
        }
        return [("city-ledger", length(ledger.database))] + DistrictID.allCases.map { ($0.rawValue, length(store($0).database)) }
    }

    /// Bytes free to the daemon on the data directory's file system; nil if it cannot be read.
    public func freeDiskBytes() -> Int64? {
        Self.freeBytes(at: ledger.database.path)
    }

    /// Bytes free to the daemon on the file system holding `path`; nil if it cannot be read.
    public static func freeBytes(at path: String) -> Int64? {
        var volume = statvfs()
        guard statvfs(path, &volume) == 0 else { return nil }
        let (bytes, overflow) = UInt64(volume.f_bavail).multipliedReportingOverflow(by: UInt64(volume.f_frsize))
        return overflow ? .max : Int64(clamping: bytes)
    }

    /// The pages of `database`, committed in its file or still in its WAL: the file's length grows
    /// only at checkpoints.
    static func bytes(of database: SQLiteDatabase) async throws -> Int64 {
        try await database.lookup { transaction in
            try transaction.query("SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()").first?.int("bytes") ?? 0
        }
    }

    /// `bytes` in MiB with one decimal, for messages (integers only: 1.5 MiB is 1536 KiB).
    static func mebibytes(_ bytes: Int64) -> String {
        // Whole MiB first: bytes × 10 would overflow for the largest limits a file may set.
        let mib: Int64 = 1024 * 1024
        let tenths = bytes / mib * 10 + bytes % mib * 10 / mib
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}

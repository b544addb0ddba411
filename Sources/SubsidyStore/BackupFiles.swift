import CSQLite
import SubsidyCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Asked to stop a backup: its caller was cancelled, or the daemon is shutting down
/// (``SubsidyStores/cancelBackup()``). The copies and checks look at it between steps on the
/// threads they run on, where task cancellation does not reach.
final class BackupStop: Sendable {
    private let stopped = Atomic<Bool>(false)

    func stop() { stopped.store(true, ordering: .releasing) }

    var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Throws ``BackupError/cancelled`` once stopped.
    func check() throws {
        if isStopped { throw BackupError.cancelled }
    }
}

/// The file chores of backups and restores: directories, durable renames, copies, hashes, and the
/// read-only checks of a copied SQLite file.
enum BackupFiles {
    /// A file being written is `.<name>.partial` beside its final name (`districts/.nanhai.sqlite.partial`).
    static func partialName(_ name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return ".\(name).partial" }
        return "\(name[...slash]).\(name[name.index(after: slash)...]).partial"
    }

    /// The directory `path` is in: "." for a bare name, "/" for a name at the root.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Refuses `path` when it is `dataDirectory` or inside it, after resolving symbolic links and
    /// `.` in both (`path` itself need not exist: its parent is resolved). A parent that cannot
    /// be resolved is left to the directory's creation to refuse.
    static func requireOutside(dataDirectory: String, _ path: String) throws {
        guard let data = resolved(dataDirectory.isEmpty ? "." : dataDirectory) else { return }
        let trimmed = withoutTrailingSlashes(path)
        let parent = directory(of: trimmed)
        let name = trimmed.lastIndex(of: "/").map { String(trimmed[trimmed.index(after: $0)...]) } ?? trimmed
        guard let resolvedParent = resolved(parent) else { return }
        // The target itself may be a link to the data directory or into it.
        let target = resolved(path) ?? (resolvedParent == "/" ? "/" + name : resolvedParent + "/" + name)
        guard target == data || target.hasPrefix(data == "/" ? "/" : data + "/") else { return }
        throw BackupError.directory(
            path: path, problem: "is inside the data directory \(data); a backup goes to a directory of its own outside it (another disk, ideally)")
    }

    /// `path` without its trailing slashes (`dir/` names `dir`; `/` stays `/`).
    static func withoutTrailingSlashes(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }

    /// `path` with every symbolic link, `.` and `..` resolved, if it exists.
    private static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// Creates `path` 0700, or accepts an existing empty directory (a mount point, say). Anything
    /// in it already is refused: a backup or restore never mixes with other files. Either way it
    /// must be this account's alone (``requireOwn(_:)``). Returns whether it created the directory.
    @discardableResult
    static func createEmptyDirectory(_ path: String) throws -> Bool {
        if mkdir(path, 0o700) == 0 {
            syncParent(of: path)
            do {
                try requireOwn(path)
            } catch {
                rmdir(path)
                throw error
            }
            return true
        }
        let error = errno
        if error == EEXIST { try requireOwn(path) }
        guard error == EEXIST else {
            throw BackupError.directory(path: path, problem: "cannot create (\(String(cString: strerror(error))))")
        }
        guard let directory = opendir(path) else { throw BackupError.directory(path: path, problem: "exists and is not a directory") }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { throw BackupError.directory(path: path, problem: "is not empty; choose a new directory") }
        }
        return false
    }

    /// The files are written into `path` by name: whoever else could write there, or replace the
    /// directory itself (or one above it), could swap a file between its creation and SQLite's
    /// writing it, and be handed a copy of every district's store. So `path` must be a directory
    /// (not a link to one) owned by this process's user and writable by no one else, and every
    /// directory above it owned by root or this user and writable by no one else (or sticky, like
    /// /tmp). Give it resolved (``resolvedTarget(_:)``).
    static func requireOwn(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw BackupError.directory(path: path, problem: "cannot be examined (\(String(cString: strerror(errno))))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw BackupError.directory(path: path, problem: "is not a directory (a symbolic link? give the directory itself)")
        }
        let user = geteuid()
        guard info.st_uid == user else {
            throw BackupError.directory(
                path: path, problem: "is owned by uid \(info.st_uid), not this account (uid \(user)): its owner could swap the copies written into it; chown it, or choose a new directory")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw BackupError.directory(path: path, problem: "is writable by its group or others (mode \(String(info.st_mode & 0o7777, radix: 8))): chmod go-w it")
        }
        // Every directory above it: one another account can write (or owns) could have it
        // replaced, renamed away or pointed elsewhere between this check and the writes.
        let trimmed = withoutTrailingSlashes(path)
        var ancestor = directory(of: trimmed)
        while true {
            var above = stat()
            guard lstat(ancestor, &above) == 0 else {
                throw BackupError.directory(path: ancestor, problem: "cannot be examined (\(String(cString: strerror(errno))))")
            }
            let owned = above.st_uid == 0 || above.st_uid == user
            let shared = above.st_mode & 0o022 != 0
            // Sticky (like /tmp), and root's or this account's (`owned`): others cannot move what
            // this account made there; a sticky directory's owner could.
            let sticky = above.st_mode & S_ISVTX != 0
            guard above.st_mode & S_IFMT == S_IFDIR, owned, !shared || sticky else {
                throw BackupError.directory(
                    path: ancestor,
                    problem: "holds \(path) but another account can replace entries in it (owner uid \(above.st_uid), mode \(String(above.st_mode & 0o7777, radix: 8)))"
                        + "; back up under directories only root or this account can write")
            }
            guard ancestor != "/" && ancestor != "." else { break }
            ancestor = directory(of: ancestor)
        }
    }

    /// `path` with its parent's links, `.` and `..` resolved, so the name the files are written
    /// under has no link in it that someone could repoint after ``requireOwn(_:)`` checked the
    /// directories it names; `path` as it is when its parent does not exist (the creation then
    /// says so).
    static func resolvedTarget(_ path: String) -> String {
        let trimmed = withoutTrailingSlashes(path)
        let name = trimmed.split(separator: "/").last.map(String.init) ?? ""
        if name.isEmpty || name == "." || name == ".." { return resolved(path) ?? path }
        guard let parent = resolved(directory(of: trimmed)) else { return path }
        return parent == "/" ? "/" + name : parent + "/" + name
    }

    /// A read transaction on a live file, opened while its writer is parked (so on its last
    /// commit) and held until ``copy(into:)`` has read it: the copy is of that moment however
    /// many commits follow. Used by one thread at a time: opened on the file's writer thread,
    /// copied and closed on a backup thread.
    final class Snapshot: @unchecked Sendable {
        private let connection: SQLiteConnection

        init(of path: String) throws {
            connection = try SQLiteConnection(path: path, readOnly: true)
            try connection.execute("BEGIN")
            _ = try connection.query("SELECT count(*) AS n FROM sqlite_master")
        }

        /// Writes the snapshot into `target` (created 0600; it must not exist) and syncs it, a
        /// few MiB at a time until `stop` is asked (``BackupError/cancelled``).
        func copy(into target: String, stop: BackupStop) throws {
            // SQLite would create the copy 0644 less the umask: an empty file 0600 first keeps it
            // private to the daemon whatever the umask.
            Glibc.close(try createPrivate(target))
            guard try connection.backup(into: target, continuing: { !stop.isStopped }) else { throw BackupError.cancelled }
            try syncFile(target)
        }

        /// Ends the read transaction (the file's WAL may be checkpointed past it again).
        func close() { connection.close() }

        deinit { connection.close() }
    }

    /// What ``check(_:name:)`` found in a file.
    struct Checked {
        var file: BackupManifest.File
        var ledgerIdentity: String?
    }

    /// Whether a problem ``check(_:name:stop:)`` found in a copy is the content's — SQLite's
    /// integrity check's findings, a malformed or foreign page, an audit chain — which a
    /// page-for-page copy has from its live file, rather than the copy's own file failing to be
    /// read (a disk I/O error while the check ran is the backup disk's).
    static func showsDamage(_ problem: String) -> Bool {
        problem.hasPrefix("integrity_check:") || problem.hasPrefix("audit chain") || problem.hasPrefix("audit head")
            || problem.hasPrefix("database disk image is malformed") || problem.hasPrefix("file is not a database")
    }

    /// Opens a copy read-only and immutable (nothing, not even a `-wal`, is written beside it),
    /// runs `integrity_check`, verifies its audit chain to its head, and hashes it. A file may be
    /// gigabytes: asked to `stop`, the check ends within some thousands of SQLite instructions
    /// or a MiB hashed (``BackupError/cancelled``).
    static func check(_ path: String, name: String, stop: BackupStop = BackupStop()) throws -> Checked {
        do {
            return try check(opening: path, name: name, stop: stop)
        } catch {
            // An interrupted statement fails as the file's problem; it was the stop.
            try stop.check()
            throw error
        }
    }

    private static func check(opening path: String, name: String, stop: BackupStop) throws -> Checked {
        SQLiteConnection.configureProcess()
        var handle: OpaquePointer?
        let uri = "file:\(percentEncoded(path))?immutable=1"
        guard sqlite3_open_v2(uri, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let handle else {
            sqlite3_close_v2(handle)
            throw BackupError.file(name: path, problem: "cannot be opened as a SQLite file")
        }
        defer { sqlite3_close_v2(handle) }
        // Every 10,000 virtual-machine instructions: a non-zero answer interrupts the statement.
        // `stop` outlives the handle (closed by the defer above, before this returns).
        sqlite3_progress_handler(
            handle, 10_000,
            { context in
                guard let context else { return 0 }
                return Unmanaged<BackupStop>.fromOpaque(context).takeUnretainedValue().isStopped ? 1 : 0
            }, Unmanaged.passUnretained(stop).toOpaque())
        func rows(_ sql: String) throws -> [[String]] {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
                throw BackupError.file(name: path, problem: "\(String(cString: sqlite3_errmsg(handle))) (\(sql))")
            }
            defer { sqlite3_finalize(statement) }
            var result: [[String]] = []
            while true {
                let rc = sqlite3_step(statement)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else { throw BackupError.file(name: path, problem: "\(String(cString: sqlite3_errmsg(handle))) (\(sql))") }
                result.append((0..<sqlite3_column_count(statement)).map { column in
                    sqlite3_column_text(statement, column).map { String(cString: $0) } ?? ""
                })
            }
            return result
        }
        let integrity = try rows("PRAGMA integrity_check").map { $0.first ?? "" }
        guard integrity == ["ok"] else {
            throw BackupError.file(name: path, problem: "integrity_check: \(integrity.prefix(5).joined(separator: "; "))")
        }
        // The same chain rule as AuditChain.verify, over this read-only handle, a row at a time
        // (a ledger at a million awards has millions of rows; the daemon must not hold them all).
        var previous = AuditChain.genesis
        var expected: Int64 = 1
        var statement: OpaquePointer?
        let walk = "SELECT seq, event, prev_hash, hash FROM audit ORDER BY seq"
        guard sqlite3_prepare_v2(handle, walk, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw BackupError.file(name: path, problem: "\(String(cString: sqlite3_errmsg(handle))) (\(walk))")
        }
        defer { sqlite3_finalize(statement) }
        func text(_ column: Int32) -> String { sqlite3_column_text(statement, column).map { String(cString: $0) } ?? "" }
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw BackupError.file(name: path, problem: "\(String(cString: sqlite3_errmsg(handle))) (\(walk))") }
            let hash = text(3)
            guard sqlite3_column_int64(statement, 0) == expected, text(2) == previous, AuditChain.hash(previous: previous, event: text(1)) == hash else {
                throw BackupError.file(name: path, problem: "audit chain does not verify at row \(expected)")
            }
            previous = hash
            expected += 1
        }
        guard let head = try rows("SELECT seq, hash FROM audit_head WHERE id = 1").first, Int64(head[0]) == expected - 1, head[1] == previous else {
            throw BackupError.file(name: path, problem: "audit head does not match the chain's last row \(expected - 1)")
        }
        let identity = name == BackupManifest.expectedNames[0] ? try rows("SELECT identity FROM ledger_identity WHERE id = 1").first?.first : nil
        let file = BackupManifest.File(name: name, bytes: size(of: path), sha256: try sha256(of: path, stop: stop), auditSequence: expected - 1, auditHash: previous)
        return Checked(file: file, ledgerIdentity: identity)
    }

    /// SQLite URIs take the path percent-encoded where it has `%`, `?` or `#`.
    private static func percentEncoded(_ path: String) -> String {
        var out = ""
        for character in path {
            switch character {
            case "%": out += "%25"
            case "?": out += "%3f"
            case "#": out += "%23"
            default: out.append(character)
            }
        }
        return out
    }

    /// Size in bytes, or -1 if the path is missing. Of the path itself: a symbolic link is not
    /// the file it names (and is refused when read, ``openRegular(_:)``).
    static func size(of path: String) -> Int64 {
        var status = stat()
        return lstat(path, &status) == 0 ? Int64(status.st_size) : -1
    }

    /// Opens `path` for reading if it is a regular file, not through a symbolic link. A backup
    /// directory is the operator's, not the daemon's: a FIFO there would block a restore for good,
    /// `/dev/zero` would hash for ever, and a link could be swapped between the check and the copy.
    private static func openRegular(_ path: String) throws -> Int32 {
        // Non-blocking, so a FIFO is refused below instead of waiting for a writer in open(2).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ELOOP { throw BackupError.file(name: path, problem: "is a symbolic link, not a regular file") }
            throw BackupError.file(name: path, problem: "cannot open (\(String(cString: strerror(errno))))")
        }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw BackupError.file(name: path, problem: "is not a regular file")
        }
        return fd
    }

    static func sha256(of path: String, stop: BackupStop? = nil) throws -> String {
        var digest = HexDigest.Stream()
        try forEachChunk(of: path) {
            try stop?.check()
            digest.update($0)
        }
        return digest.finalize()
    }

    /// `path`'s bytes in chunks of 1 MiB, in order: store files may be gigabytes.
    private static func forEachChunk(of path: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = try openRegular(path)
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw BackupError.file(name: path, problem: "read failed (\(String(cString: strerror(errno))))") }
            if n == 0 { return }
            try chunk.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    /// The whole of a small file: refused past `limit` bytes.
    static func readBytes(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = try openRegular(path)
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 { throw BackupError.file(name: path, problem: "read failed (\(String(cString: strerror(errno))))") }
            if n == 0 { break }
            bytes += chunk[0..<n]
            guard bytes.count <= limit else { throw BackupError.file(name: path, problem: "is larger than \(limit) bytes") }
        }
        return bytes
    }

    /// Creates `path` for writing, 0600 whatever the umask; one that exists already (or a link
    /// in its place) is refused. Returns the descriptor, for the caller to close.
    static func createPrivate(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw BackupError.file(name: path, problem: "cannot create (\(String(cString: strerror(errno))))") }
        return fd
    }

    /// Copies `source` to `target` (created 0600, must not exist) a chunk at a time, and syncs it.
    static func copy(_ source: String, to target: String) throws {
        let fd = try createPrivate(target)
        defer { close(fd) }
        try forEachChunk(of: source) { try writeAll($0, to: fd, path: target) }
        guard fsync(fd) == 0 else { throw BackupError.file(name: target, problem: "fsync failed (\(String(cString: strerror(errno))))") }
    }

    private static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            guard n > 0 else { throw BackupError.file(name: path, problem: "write failed (\(String(cString: strerror(errno))))") }
            offset += n
        }
    }

    /// Creates `path` 0700; it must not exist. (A backup's `districts`: if anything is there
    /// already — a concurrent backup's, or a link another account put there — this backup has
    /// nothing of its own to clean up and stops.)
    static func createDirectory(_ path: String) throws {
        guard mkdir(path, 0o700) == 0 else {
            throw BackupError.directory(path: path, problem: "cannot create (\(String(cString: strerror(errno))))")
        }
        syncParent(of: path)
    }

    /// Removes what a backup or a restore that failed wrote into `directory`, whose `districts`
    /// it created itself: the manifest first (so nothing left reads as complete), then its files,
    /// finished or partial, then `districts`, and `directory` if it created that too — so a
    /// failed nightly backup does not leave gigabytes on the disk the next one needs, nor a
    /// failed restore half a data directory.
    static func removeBackup(in directory: String, removingDirectory: Bool) {
        unlink(directory + "/" + BackupManifest.fileName)
        unlink(directory + "/" + BackupManifest.fileName + ".partial")
        unlink(directory + "/" + BackupManifest.restoringMarker + ".partial")
        for name in BackupManifest.expectedNames {
            for file in [name, partialName(name)] {
                unlink(directory + "/" + file)
                // What SQLite keeps beside a copy it was writing when it failed: its rollback
                // journal, or (a copy still in the live file's WAL mode) its -wal and -shm.
                for suffix in ["-journal", "-wal", "-shm"] { unlink(directory + "/" + file + suffix) }
            }
        }
        rmdir(directory + "/districts")
        // Last: while anything of the restore is left, it says so.
        unlink(directory + "/" + BackupManifest.restoringMarker)
        if removingDirectory { rmdir(directory) }
    }

    /// unlink(2), then fsync of the directory, so the name stays gone after a crash.
    static func removeDurably(_ path: String) throws {
        guard unlink(path) == 0 else { throw BackupError.file(name: path, problem: "cannot remove (\(String(cString: strerror(errno))))") }
        syncParent(of: path)
    }

    /// Writes `text` under a temporary name, syncs, and renames it into place.
    static func writeDurably(_ text: String, to path: String) throws {
        let partial = path + ".partial"
        try write(Array(text.utf8), to: partial)
        try renameDurably(partial, to: path)
    }

    private static func write(_ bytes: [UInt8], to path: String) throws {
        let fd = try createPrivate(path)
        defer { close(fd) }
        try bytes.withUnsafeBytes { try writeAll($0, to: fd, path: path) }
        guard fsync(fd) == 0 else { throw BackupError.file(name: path, problem: "fsync failed (\(String(cString: strerror(errno))))") }
    }

    /// rename(2), then fsync of the directory, so the new name survives a crash.
    static func renameDurably(_ source: String, to target: String) throws {
        guard rename(source, target) == 0 else {
            throw BackupError.file(name: target, problem: "cannot rename into place (\(String(cString: strerror(errno))))")
        }
        syncParent(of: target)
    }

    /// fsync of the directory holding `path`, so a name just made there (a file renamed into
    /// place, a directory created) survives a crash: a reply saying a backup was taken must not
    /// name a directory that power loss takes back.
    private static func syncParent(of path: String) {
        let fd = open(directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BackupError.file(name: path, problem: "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw BackupError.file(name: path, problem: "fsync failed (\(String(cString: strerror(errno))))") }
    }
}

import CSQLite
import NIOPosix
import SubsidyCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A backup of every store: the city ledger and the five district files at one point in time,
/// and the manifest that lets a restore check it before writing anything.
///
/// Layout (the data directory's own): `city-ledger.sqlite`, `districts/<id>.sqlite`, `MANIFEST`.
/// The manifest is written last; a directory without one is an interrupted backup.
public struct BackupManifest: Sendable, Equatable {
    /// One file of the backup.
    public struct File: Sendable, Equatable {
        /// Relative to the backup (and data) directory.
        public var name: String
        public var bytes: Int64
        /// Lower-case hex SHA-256 of the whole file.
        public var sha256: String
        /// The file's audit chain head (sequence 0: no event yet).
        public var auditSequence: Int64
        public var auditHash: String
    }

    /// The manifest format; a restore refuses a format it does not know.
    public static let format = 1
    public static let fileName = "MANIFEST"
    /// Written into a data directory before a restore copies anything, removed after the last
    /// file: a restore cut off (Ctrl-C, a crash, power) leaves it, and every path that opens the
    /// stores of a data directory (`SubsidyStores.open(dataDirectory:faults:)` in SubsidyServer:
    /// the daemon, `--check`, `--repair`, the offline backup) refuses a directory holding it.
    public static let restoringMarker = "RESTORE-IN-PROGRESS"

    /// When every writer was paused for the snapshot (RFC 3339 UTC).
    public var takenAt: String
    /// The subsidyd release that wrote the backup.
    public var writtenBy: String
    /// The ledger's identity and its audit head in the backup: every decision acknowledged before
    /// the backup began is at or below `ledger.sequence`.
    public var ledger: LedgerPosition
    public var files: [File]

    /// The files every backup holds, in the order they are written and listed.
    public static var expectedNames: [String] {
        ["city-ledger.sqlite"] + DistrictID.allCases.map { "districts/\($0.rawValue).sqlite" }
    }

    /// One `key value` line per fact, so an operator can read it and `grep` it.
    public var text: String {
        var lines = [
            "subsidyd-backup \(Self.format)", "taken-at \(takenAt)", "written-by \(writtenBy)",
            "ledger-identity \(ledger.identity)", "ledger-sequence \(ledger.sequence)", "ledger-hash \(ledger.hash)",
        ]
        for file in files {
            lines.append("file \(file.name) bytes=\(file.bytes) sha256=\(file.sha256) audit-sequence=\(file.auditSequence) audit-hash=\(file.auditHash)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses ``text``; a problem names the line.
    public init(parsing text: String) throws(BackupError) {
        var fields: [String: String] = [:]
        var files: [File] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count >= 2 else { throw .manifest("line \(index + 1): expected `key value`") }
            if parts[0] == "file" {
                var values: [String: String] = [:]
                for part in parts.dropFirst(2) {
                    guard let equals = part.firstIndex(of: "=") else { throw .manifest("line \(index + 1): expected key=value, got \(part)") }
                    values[String(part[..<equals])] = String(part[part.index(after: equals)...])
                }
                guard let bytes = values["bytes"].flatMap({ Int64($0) }), let sha256 = values["sha256"],
                    let sequence = values["audit-sequence"].flatMap({ Int64($0) }), let hash = values["audit-hash"]
                else { throw .manifest("line \(index + 1): file \(parts[1]) lacks bytes, sha256, audit-sequence or audit-hash") }
                files.append(File(name: parts[1], bytes: bytes, sha256: sha256, auditSequence: sequence, auditHash: hash))
            } else {
                fields[parts[0]] = parts.dropFirst().joined(separator: " ")
            }
        }
        guard fields["subsidyd-backup"] == String(Self.format) else {
            throw .manifest("not a subsidyd backup manifest of format \(Self.format) (first line: subsidyd-backup \(fields["subsidyd-backup"] ?? "missing"))")
        }
        guard let takenAt = fields["taken-at"], let writtenBy = fields["written-by"], let identity = fields["ledger-identity"],
            let sequence = fields["ledger-sequence"].flatMap({ Int64($0) }), let hash = fields["ledger-hash"]
        else { throw .manifest("taken-at, written-by, ledger-identity, ledger-sequence or ledger-hash is missing") }
        guard files.map(\.name) == Self.expectedNames else {
            throw .manifest("lists \(files.map(\.name).joined(separator: ", ")); a backup holds exactly \(Self.expectedNames.joined(separator: ", "))")
        }
        self.init(takenAt: takenAt, writtenBy: writtenBy, ledger: LedgerPosition(identity: identity, sequence: sequence, hash: hash), files: files)
    }

    public init(takenAt: String, writtenBy: String, ledger: LedgerPosition, files: [File]) {
        self.takenAt = takenAt
        self.writtenBy = writtenBy
        self.ledger = ledger
        self.files = files
    }
}

/// Why a backup or a restore did not happen. Nothing is left half-written in its place: a backup
/// without a manifest is incomplete, a restore writes nothing until every check has passed.
public enum BackupError: Error, Sendable, Equatable, CustomStringConvertible {
    case directory(path: String, problem: String)
    case manifest(String)
    case file(name: String, problem: String)
    case writersDidNotPause(seconds: Int)
    case alreadyRunning
    /// Stopped by ``SubsidyStores/cancelBackup()`` (a shutdown, a signal); what it had written
    /// was removed.
    case cancelled

    public var description: String {
        switch self {
        case let .directory(path, problem): "\(path): \(problem)"
        case let .manifest(problem): "\(BackupManifest.fileName): \(problem)"
        case let .file(name, problem): "\(name): \(problem)"
        case let .writersDidNotPause(seconds): "the stores' writers did not all pause within \(seconds) s; no backup taken"
        case .alreadyRunning: "another backup is being taken; one at a time: retry when it ends"
        case .cancelled: "the backup was stopped before it was complete (subsidyd is shutting down, or a signal); nothing of it was kept"
        }
    }
}

extension SubsidyStores {
    /// Takes a backup into `directory` (created; it must not exist, or be empty) while the stores
    /// keep serving.
    ///
    /// One point in time across all six files: under the decision lock (no decision is between
    /// its ledger and its district step), each file's single writer thread is parked in a write
    /// transaction, and only when all six are parked does each open a read transaction on its
    /// file (a connection of its own, on the last commit) and release its writer. So no commit
    /// of any file falls between the six snapshots. Then the lock is released, and the copies
    /// are made from the snapshots with SQLite's online backup while decisions go on: they wait
    /// for the rendezvous, not for the copies. Each copy goes to a temporary name, passes
    /// `integrity_check` and its audit chain, and is renamed; the manifest is written last.
    ///
    /// `directory` must be outside the data directory: SQLite takes a directory named like a
    /// store's `-journal` for a hot journal and then opens that store no more (every later
    /// backup, `--check` and the next start fail), and copies of every district there would sit
    /// beside the files they copy.
    public func backup(into directory: String, writtenBy: String) async throws -> BackupManifest {
        let directory = BackupFiles.resolvedTarget(directory)
        // One at a time: a caller sending many would pause every tenant's decisions for each one's
        // snapshots and copy every store again, side by side, on the disk the daemon decides on.
        let stop = BackupStop()
        let started = runningBackup.withLock { running in
            guard running == nil else { return false }
            running = stop
            return true
        }
        guard started else { throw BackupError.alreadyRunning }
        defer { runningBackup.withLock { $0 = nil } }
        // Asked to stop before it was registered (a shutdown that began while it waited for its turn).
        if backupsStopped.load(ordering: .acquiring) { stop.stop() }
        try stop.check()
        // The ledger's directory is the data directory; `districts` may be a link to another disk.
        for store in Set(([ledger.database.path] + DistrictID.allCases.map { self.store($0).database.path }).map(BackupFiles.directory(of:))) {
            try BackupFiles.requireOutside(dataDirectory: store, directory)
        }
        let created = try BackupFiles.createEmptyDirectory(directory)
        do {
            try BackupFiles.createDirectory(directory + "/districts")
        } catch {
            if created { rmdir(directory) }
            throw error
        }
        // Not stopped by its task's cancellation: a caller's deadline passing (subsidyctl's 30 s)
        // must not throw away a backup of gigabytes, which goes on to the end on disk. A task of
        // its own, which the caller's cancellation does not reach (the copier's pool gives up on
        // a cancelled task); only ``cancelBackup()`` stops it, and the stores' close awaits it.
        let work = Task {
            do {
                return try await self.backup(intoEmpty: directory, writtenBy: writtenBy, stop: stop)
            } catch {
                // Whatever it got to: a failure (a full disk, most likely) must not leave its
                // copies taking the room the next backup, or the next decision, needs.
                BackupFiles.removeBackup(in: directory, removingDirectory: created)
                throw error
            }
        }
        backupWork.withLock { $0 = work }
        defer { backupWork.withLock { $0 = nil } }
        return try await work.value
    }

    /// Stops the backup being taken, if one is, and every later one: its copies and checks end
    /// at their next step (a few MiB), it removes what it wrote and fails with
    /// ``BackupError/cancelled``, as does any backup started after. The daemon's shutdown asks
    /// this (a backup of gigabytes must not hold it up), and the offline backup's signals.
    /// Returns whether a backup was running.
    @discardableResult
    public func cancelBackup() -> Bool {
        backupsStopped.store(true, ordering: .releasing)
        guard let stop = runningBackup.withLock({ $0 }) else { return false }
        stop.stop()
        return true
    }

    private func backup(intoEmpty directory: String, writtenBy: String, stop: BackupStop) async throws -> BackupManifest {
        let databases = [ledger.database] + DistrictID.allCases.map { store($0).database }
        let livePaths = databases.map(\.path)
        let names = BackupManifest.expectedNames
        let rendezvous = WriterRendezvous(parties: databases.count)
        // A stop asked while it waited for the lock pauses no writer.
        try stop.check()
        let (takenAt, snapshots) = try await underDecisionLock(.everything) {
            // Stopped while it waited for the lock: no writer is paused for it.
            try stop.check()
            // Under the lock, which backups take one at a time: checked before it, backups sent
            // together would each find the room the others were about to take.
            try await self.requireRoomForBackup(in: directory)
            return try await withThrowingTaskGroup(of: (Int, String?, BackupFiles.Snapshot).self) { group in
                for (index, database) in databases.enumerated() {
                    group.addTask {
                        try await database.write { _ in
                            let at = try rendezvous.arriveAndWait()
                            return (index, index == 0 ? at : nil, try BackupFiles.Snapshot(of: database.path))
                        }
                    }
                }
                var takenAt = ""
                var snapshots: [Int: BackupFiles.Snapshot] = [:]
                for try await (index, at, snapshot) in group {
                    if let at { takenAt = at }
                    snapshots[index] = snapshot
                }
                return (takenAt, snapshots)
            }
        }
        // The decisions and the writers go on: the copies read the snapshots, and are checked
        // and hashed, off the stores' threads and the cooperative pool (a district file may be
        // gigabytes; the pool has a thread per core and serves every call).
        await backupCopying.withLock { $0 }?()
        await faults.holdIfArmed("backup.copying") { stop.isStopped }
        let copier = NIOThreadPool(numberOfThreads: 2)
        copier.start()
        let checked: [Int: BackupFiles.Checked]
        do {
            try stop.check()
            checked = try await withThrowingTaskGroup(of: (Int, BackupFiles.Checked).self) { group in
                for (index, snapshot) in snapshots {
                    let target = directory + "/" + BackupFiles.partialName(names[index])
                    group.addTask {
                        try await copier.runIfActive {
                            // Closed once copied: its read transaction holds the file's WAL unchecked.
                            do {
                                defer { snapshot.close() }
                                try snapshot.copy(into: target, stop: stop)
                            } catch let error as SQLiteError where error.isFull || error.code & 0xff == SQLITE_IOERR {
                                // Writing the copy failed (its disk full, most likely): the
                                // backup's problem, not the data directory's nor an internal one.
                                throw BackupError.file(name: target, problem: "could not be written (\(error.message))")
                            }
                            do {
                                return (index, try BackupFiles.check(target, name: names[index], stop: stop))
                            } catch BackupError.file(_, let problem) where BackupFiles.showsDamage(problem) {
                                // A page-for-page copy fails its check where the live file is
                                // damaged: the live file is the operator's problem, not the copy.
                                // (A copy that cannot be read back at all — the backup disk — stays
                                // named as the copy.)
                                throw BackupError.file(
                                    name: livePaths[index],
                                    problem: "its copy fails SQLite's check (\(problem)): the live file is damaged; stop subsidyd and run subsidyd --check, which names what it finds (Deploy/README.md, \"Refusing to serve\")")
                            }
                        }
                    }
                }
                var checked: [Int: BackupFiles.Checked] = [:]
                do {
                    for try await (index, file) in group { checked[index] = file }
                } catch {
                    // One copy failed (a full disk): the others stop at their next step instead
                    // of copying on for nothing (the pool's threads do not see task cancellation).
                    stop.stop()
                    throw error
                }
                return checked
            }
        } catch {
            // The snapshots not yet copied: stopped, they must not hold their WALs any longer.
            for snapshot in snapshots.values { snapshot.close() }
            try? await copier.shutdownGracefully()
            throw error
        }
        try await copier.shutdownGracefully()
        var files: [BackupManifest.File] = []
        for (index, name) in names.enumerated() {
            try BackupFiles.renameDurably(directory + "/" + BackupFiles.partialName(name), to: directory + "/" + name)
            files.append(checked[index]!.file)
        }
        guard let identity = checked[0]?.ledgerIdentity else { throw BackupError.file(name: names[0], problem: "ledger_identity is missing") }
        let ledgerPosition = LedgerPosition(identity: identity, sequence: checked[0]!.file.auditSequence, hash: checked[0]!.file.auditHash)
        let manifest = BackupManifest(takenAt: takenAt, writtenBy: writtenBy, ledger: ledgerPosition, files: files)
        // Where a full disk most often stops a backup: every copy written, the manifest not yet.
        try faults.failIfArmed("backup.before-manifest")
        try BackupFiles.writeDurably(manifest.text, to: directory + "/" + BackupManifest.fileName)
        return manifest
    }

    /// Refuses a backup that would not fit, before anything is copied or any writer paused: the
    /// copies take at most the live files' pages, and on the data directory's own file system the
    /// reserve kept for decisions (`limits.min_free_disk_bytes`) must still be free after them.
    /// Otherwise a nightly backup could fill the disk the daemon decides on, if only until its
    /// clean-up.
    private func requireRoomForBackup(in directory: String) async throws {
        let needed = try await storedBytes().reduce(Int64(0)) { $0 + $1.bytes }
        var target = stat()
        var data = stat()
        guard let free = Self.freeBytes(at: directory), stat(directory, &target) == 0, stat(ledger.database.path, &data) == 0 else { return }
        let reserve = target.st_dev == data.st_dev ? storageLimits.minimumFreeDiskBytes : 0
        guard free < needed.addingReportingOverflow(reserve).partialValue else { return }
        throw BackupError.directory(
            path: directory,
            problem: "has \(Self.mebibytes(free)) free; the copies need up to \(Self.mebibytes(needed))"
                + (reserve > 0 ? " and \(Self.mebibytes(reserve)) must stay free on the data directory's disk for decisions (limits.min_free_disk_bytes)" : "")
                + "; no backup taken")
    }

    /// `path` as ``restore(backup:into:)`` writes into it: its parent's links resolved. Lock
    /// this one, so the directory locked is the directory filled.
    public static func restoreTarget(_ path: String) -> String { BackupFiles.resolvedTarget(path) }

    /// Checks the backup in `backup` against its manifest — every file present, of the size and
    /// SHA-256 recorded, passing `integrity_check`, its audit chain verifying up to the head
    /// recorded, the ledger's identity and sequence as recorded — and only then copies it into
    /// `dataDirectory` (created 0700; it must not exist, or be empty), each file under a temporary
    /// name first. Opens nothing in the backup for writing.
    @discardableResult
    public static func restore(backup: String, into dataDirectory: String) throws -> BackupManifest {
        let dataDirectory = BackupFiles.resolvedTarget(dataDirectory)
        let manifest = try verifyBackup(at: backup)
        let created = try BackupFiles.createEmptyDirectory(dataDirectory)
        let marker = dataDirectory + "/" + BackupManifest.restoringMarker
        do {
            // First, so that however the restore ends before its last file, no daemon starts on
            // what it copied (the clean-up below runs only for errors it sees).
            try BackupFiles.writeDurably("restore of \(backup) into \(dataDirectory) began \(Timestamp.now())\n", to: marker)
            try BackupFiles.createDirectory(dataDirectory + "/districts")
            try copy(manifest, from: backup, into: dataDirectory)
            try BackupFiles.removeDurably(marker)
        } catch {
            // Half a data directory must not be left for a daemon to start on.
            BackupFiles.removeBackup(in: dataDirectory, removingDirectory: created)
            throw error
        }
        return manifest
    }

    private static func copy(_ manifest: BackupManifest, from backup: String, into dataDirectory: String) throws {
        for file in manifest.files {
            let target = dataDirectory + "/" + file.name
            let partial = dataDirectory + "/" + BackupFiles.partialName(file.name)
            try BackupFiles.copy(backup + "/" + file.name, to: partial)
            // The copy is checked again: a disk that corrupts what it writes is found here.
            guard try BackupFiles.sha256(of: partial) == file.sha256 else {
                throw BackupError.file(name: target, problem: "the copy's SHA-256 differs from the backup's; restore stopped")
            }
            try BackupFiles.renameDurably(partial, to: target)
        }
    }

    /// ``restore(backup:into:)``'s checks alone: the manifest, if the backup passes them.
    public static func verifyBackup(at backup: String) throws -> BackupManifest {
        let manifestPath = backup + "/" + BackupManifest.fileName
        guard BackupFiles.size(of: manifestPath) >= 0 else {
            throw BackupError.directory(path: backup, problem: "no \(BackupManifest.fileName): not a backup, or an interrupted one")
        }
        // A manifest is a few hundred bytes: one of megabytes is not one.
        let manifest = try BackupManifest(parsing: String(decoding: try BackupFiles.readBytes(manifestPath, limit: 1 << 16), as: UTF8.self))
        for file in manifest.files {
            let path = backup + "/" + file.name
            let bytes = BackupFiles.size(of: path)
            guard bytes == file.bytes else {
                throw BackupError.file(name: path, problem: bytes < 0 ? "missing" : "has \(bytes) bytes, the manifest says \(file.bytes)")
            }
            guard try BackupFiles.sha256(of: path) == file.sha256 else {
                throw BackupError.file(name: path, problem: "SHA-256 differs from the manifest's (altered or damaged)")
            }
            let checked = try BackupFiles.check(path, name: file.name)
            guard checked.file.auditSequence == file.auditSequence, checked.file.auditHash == file.auditHash else {
                throw BackupError.file(
                    name: path, problem: "audit head is row \(checked.file.auditSequence), the manifest says \(file.auditSequence)")
            }
            if file.name == BackupManifest.expectedNames[0] {
                guard checked.ledgerIdentity == manifest.ledger.identity, file.auditSequence == manifest.ledger.sequence,
                    file.auditHash == manifest.ledger.hash
                else { throw BackupError.file(name: path, problem: "not the ledger the manifest names (\(manifest.ledger))") }
            }
        }
        return manifest
    }
}

/// Parks every file's writer at once: each arrives from its own writer thread and waits, without
/// a task, until all have arrived (their threads are dedicated, so blocking them holds no one
/// else up). A party missing for `timeout` makes every party give up.
final class WriterRendezvous: Sendable {
    private let arrived = Mutex(0)
    private let parties: Int
    static let timeoutSeconds = 30

    init(parties: Int) {
        self.parties = parties
    }

    /// Returns the time the last party arrived at (the backup's point in time) as the first one saw it.
    func arriveAndWait() throws -> String {
        arrived.withLock { $0 += 1 }
        var waited = 0
        while arrived.withLock({ $0 }) < parties {
            guard waited < Self.timeoutSeconds * 10_000 else { throw BackupError.writersDidNotPause(seconds: Self.timeoutSeconds) }
            usleep(100)
            waited += 1
        }
        return Timestamp.now()
    }
}

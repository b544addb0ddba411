import Foundation
import SubsidyCore
import SubsidyTestSupport
import Synchronization
import Testing

@testable import SubsidyStore

@Suite("BackupManifest")
struct BackupManifestTests {
    static let manifest = BackupManifest(
        takenAt: "2026-12-04T02:30:00.000Z", writtenBy: "subsidyd 1.0.0",
        ledger: LedgerPosition(identity: "f08d83c9a03e786ac540644b34318e53", sequence: 58, hash: String(repeating: "a", count: 64)),
        files: BackupManifest.expectedNames.enumerated().map { index, name in
            BackupManifest.File(name: name, bytes: Int64(4096 * (index + 1)), sha256: String(repeating: "b", count: 64), auditSequence: Int64(index), auditHash: String(repeating: "c", count: 64))
        })

    @Test("the text form round-trips")
    func roundTrip() throws {
        #expect(try BackupManifest(parsing: Self.manifest.text) == Self.manifest)
    }

    /// One row per way a manifest can be wrong, and what the error must say.
    static let broken: [(String, String, String)] = [
        ("another format", Self.manifest.text.replacingFirst("subsidyd-backup 1", with: "subsidyd-backup 2"), "format 1"),
        ("a file missing", Self.manifest.text.split(separator: "\n").filter { !$0.contains("districts/gaoming") }.joined(separator: "\n"), "a backup holds exactly"),
        ("a file without its hash", Self.manifest.text.replacingFirst(" sha256=", with: " sha=") , "lacks bytes, sha256"),
        ("no ledger sequence", Self.manifest.text.split(separator: "\n").filter { !$0.hasPrefix("ledger-sequence") }.joined(separator: "\n"), "ledger-sequence"),
        ("a line with no value", Self.manifest.text + "dangling\n", "expected `key value`"),
    ]

    @Test("a damaged manifest is refused with the reason", arguments: broken)
    func refused(name: String, text: String, expected: String) {
        #expect {
            _ = try BackupManifest(parsing: text)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test("a partial file sits beside its final name, hidden")
    func partialNames() {
        #expect(BackupFiles.partialName("city-ledger.sqlite") == ".city-ledger.sqlite.partial")
        #expect(BackupFiles.partialName("districts/nanhai.sqlite") == "districts/.nanhai.sqlite.partial")
    }

    @Test("a backup that fails before its manifest removes every file it wrote, and the directory it made; copies are 0600")
    func failedBackupCleansUp() async throws {
        let first = try StoreHarness()
        try await first.approve(try await first.recommended(first.benchmark(StoreHarness.uscc(340)), in: .nanhai))
        let harness = try await first.reopened(faults: ["fail:backup.before-manifest"])
        let target = harness.directory.path + "-backup-failed"
        await #expect(throws: SubsidyError.self) { _ = try await harness.stores.backup(into: target, writtenBy: "test") }
        #expect(!FileManager.default.fileExists(atPath: target), "left: \((try? FileManager.default.subpathsOfDirectory(atPath: target)) ?? [])")
        // Into a directory the operator made (a mount point, say): emptied, kept.
        let mounted = harness.directory.path + "-backup-mounted"
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: mounted) }
        await #expect(throws: SubsidyError.self) { _ = try await harness.stores.backup(into: mounted, writtenBy: "test") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: mounted) == [])

        let done = try await harness.reopened()
        let good = done.directory.path + "-backup-good"
        defer { try? FileManager.default.removeItem(atPath: good) }
        _ = try await done.stores.backup(into: good, writtenBy: "test")
        for name in BackupManifest.expectedNames {
            let mode = try FileManager.default.attributesOfItem(atPath: good + "/" + name)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(name): \(String(mode ?? 0, radix: 8))")
        }
        await done.stores.close()
    }

    /// Holds the next backup of `stores` between its snapshots and its copies: `reached()`
    /// returns once it is there, `release()` lets it copy.
    static func holdWhileCopying(_ stores: SubsidyStores) -> (reached: @Sendable () async -> Void, release: @Sendable () -> Void) {
        let (copying, reached) = AsyncStream<Void>.makeStream()
        let (released, release) = AsyncStream<Void>.makeStream()
        stores.backupCopying.withLock {
            $0 = {
                reached.yield()
                for await _ in released { break }
            }
        }
        return ({ for await _ in copying { break } }, { release.yield() })
    }

    @Test("a backup holds decisions only for its snapshots: an approval made while it copies goes through, and is not in the backup")
    func decisionsGoOnWhileCopying() async throws {
        let harness = try StoreHarness()
        let before = try await harness.recommended(harness.benchmark(StoreHarness.uscc(350)), in: .nanhai)
        let during = try await harness.recommended(harness.benchmark(StoreHarness.uscc(351)), in: .shunde)
        #expect(try await harness.approve(before) == .approved)
        let target = harness.directory.path + "-backup-copying"
        defer { try? FileManager.default.removeItem(atPath: target) }
        let hold = Self.holdWhileCopying(harness.stores)
        let backup = Task { try await harness.stores.backup(into: target, writtenBy: "test") }
        await hold.reached()
        // Its snapshots taken, the backup holds no lock and no writer while it copies.
        #expect(try await harness.approve(during) == .approved)
        hold.release()
        let manifest = try await backup.value
        #expect(try SubsidyStores.verifyBackup(at: target) == manifest)
        // Self-contained files (no WAL mode carried over from the live files), and nothing else.
        #expect(try FileManager.default.subpathsOfDirectory(atPath: target).sorted() == (BackupManifest.expectedNames + ["MANIFEST", "districts"]).sorted())
        for name in BackupManifest.expectedNames {
            let header = try #require(FileHandle(forReadingAtPath: target + "/" + name)).readData(ofLength: 20)
            #expect(header[18] == 1 && header[19] == 1, "\(name): write/read versions \(header[18])/\(header[19])")
        }
        // Of the moment of its snapshots: the first approval is in it, the one made while it copied is not.
        let copy = try SQLiteConnection(path: target + "/" + BackupManifest.expectedNames[0], readOnly: true)
        defer { copy.close() }
        let committed = try copy.query("SELECT application_id FROM commitments ORDER BY application_id").map { try $0.text("application_id") }
        #expect(committed == [before], "\(committed)")
        await harness.stores.close()
    }

    @Test("a backup stops when the stores are told to (a shutdown), keeps nothing, and none is taken after; its caller's deadline does not stop it")
    func backupsStop() async throws {
        let harness = try StoreHarness()
        let application = try await harness.recommended(harness.benchmark(StoreHarness.uscc(352)), in: .nanhai)
        #expect(try await harness.approve(application) == .approved)
        let target = harness.directory.path + "-backup-stopped"
        defer { try? FileManager.default.removeItem(atPath: target) }
        // Its task cancelled (a caller's deadline; a task of its own: cancelling the test's would
        // end the test), it goes on to the end on disk.
        let hold = Self.holdWhileCopying(harness.stores)
        let cancelled = Task { [stores = harness.stores] in try await stores.backup(into: target + "-deadline", writtenBy: "test") }
        await hold.reached()
        cancelled.cancel()
        hold.release()
        let completed = try await cancelled.value
        defer { try? FileManager.default.removeItem(atPath: target + "-deadline") }
        #expect(try SubsidyStores.verifyBackup(at: target + "-deadline") == completed)
        // Asked to stop (as the daemon's shutdown asks) between its snapshots and its copies.
        harness.stores.backupCopying.withLock { $0 = { [stores = harness.stores] in #expect(stores.cancelBackup()) } }
        await #expect(throws: BackupError.cancelled) { try await harness.stores.backup(into: target, writtenBy: "test") }
        #expect(!FileManager.default.fileExists(atPath: target), "the directory it created is removed")
        // Shutting down, the stores take no backup after: not one that was waiting for its turn.
        harness.stores.backupCopying.withLock { $0 = nil }
        await #expect(throws: BackupError.cancelled) { try await harness.stores.backup(into: target, writtenBy: "test") }
        #expect(!FileManager.default.fileExists(atPath: target), "nothing is created")
        await harness.stores.close()
    }

    @Test("a copy of many steps asks before each, and a check or hash of a stopped backup ends")
    func copyStepsAndStops() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("subsidy-steps-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = try SQLiteConnection(path: directory + "/source.sqlite")
        defer { source.close() }
        try source.execute("CREATE TABLE t (b BLOB)")
        try source.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600) INSERT INTO t SELECT randomblob(3000) FROM n")
        let pages = try source.query("PRAGMA page_count").first!.int("page_count")
        #expect(pages > 500, "\(pages) pages")
        func emptyTarget(_ name: String) -> String {
            let path = directory + "/" + name
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            return path
        }
        var asked = 0
        #expect(try source.backup(into: emptyTarget("whole.sqlite"), pagesPerStep: 100) { asked += 1; return true })
        #expect(Int64(asked) == (pages + 99) / 100, "asked \(asked) times for \(pages) pages")
        let copy = try SQLiteConnection(path: directory + "/whole.sqlite", readOnly: true)
        #expect(try copy.query("SELECT count(*) AS n FROM t").first!.int("n") == 600)
        copy.close()
        asked = 0
        #expect(try source.backup(into: emptyTarget("stopped.sqlite"), pagesPerStep: 100) { asked += 1; return asked < 3 } == false)
        #expect(asked == 3, "no step after the stop")
        let stop = BackupStop()
        #expect(throws: Never.self) { try BackupFiles.sha256(of: directory + "/whole.sqlite", stop: stop) }
        stop.stop()
        #expect(throws: BackupError.cancelled) { try BackupFiles.sha256(of: directory + "/whole.sqlite", stop: stop) }
        #expect(throws: BackupError.cancelled) { try BackupFiles.check(directory + "/whole.sqlite", name: "whole.sqlite", stop: stop) }
    }

    @Test("a backup into the data directory is refused however it is spelled, and the stores still open")
    func backupOutsideTheData() async throws {
        let harness = try StoreHarness()
        try await harness.approve(try await harness.recommended(harness.benchmark(StoreHarness.uscc(345)), in: .nanhai))
        let data = harness.directory.path
        let link = data + "-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: data)
        defer { try? FileManager.default.removeItem(atPath: link) }
        // A directory named like a store's journal made SQLite refuse to open that store.
        let targets = [
            data, data + "/", data + "/city-ledger.sqlite-journal", data + "/districts/nanhai.sqlite-journal", data + "/./districts/../backup",
            link + "/backup", link,
        ]
        for target in targets {
            let refused = await #expect(throws: BackupError.self) { _ = try await harness.stores.backup(into: target, writtenBy: "test") }
            #expect("\(refused.map { "\($0)" } ?? "")".contains("is inside the data directory"), "\(target): \(String(describing: refused))")
        }
        #expect(!FileManager.default.fileExists(atPath: data + "/city-ledger.sqlite-journal"))
        #expect(!FileManager.default.fileExists(atPath: data + "/districts/nanhai.sqlite-journal"))
        // A store at the root is in "/", not in "".
        #expect(BackupFiles.directory(of: "/city-ledger.sqlite") == "/" && BackupFiles.directory(of: "x") == ".")
        // A name beside it is not inside it.
        let beside = data + "-journal"
        defer { try? FileManager.default.removeItem(atPath: beside) }
        _ = try await harness.stores.backup(into: beside, writtenBy: "test")
        let reopened = try await harness.reopened()
        #expect(try await reopened.stores.ledger.lastEventSequence() > 0)
        await reopened.stores.close()
    }

    @Test("a backup goes only into a directory this account alone can write, in a parent no one else can replace it in")
    func backupIntoOwnDirectory() async throws {
        let harness = try StoreHarness()
        try await harness.approve(try await harness.recommended(harness.benchmark(StoreHarness.uscc(347)), in: .nanhai))
        let base = harness.directory.path + "-targets"
        #expect(mkdir(base, 0o700) == 0)
        defer { try? FileManager.default.removeItem(atPath: base) }
        func refusal(_ target: String) async -> String {
            let refused = await #expect(throws: BackupError.self) { _ = try await harness.stores.backup(into: target, writtenBy: "test") }
            return refused.map { "\($0)" } ?? ""
        }
        // An empty directory others may write to: they could swap a copy while SQLite writes it.
        let shared = base + "/shared"
        #expect(mkdir(shared, 0o700) == 0 && chmod(shared, 0o777) == 0)
        #expect(await refusal(shared).contains("is writable by its group or others (mode 777)"))
        // A link to a directory: the directory itself is named, not a path someone can repoint.
        let link = base + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: base)
        #expect(await refusal(link).contains("is not a directory"))
        // A new directory in a parent others may write to (not sticky): they could replace it.
        let open = base + "/open"
        #expect(mkdir(open, 0o700) == 0 && chmod(open, 0o777) == 0)
        #expect(await refusal(open + "/backup").contains("another account can replace entries in it"))
        #expect(!FileManager.default.fileExists(atPath: open + "/backup"), "the refused directory is removed")
        // Further up: a link another account could repoint, and an open grandparent.
        let deep = open + "/deeper"
        #expect(mkdir(deep, 0o700) == 0)
        #expect(await refusal(deep + "/backup").contains("\(open): holds"))
        if geteuid() == 0 {
            // Another account's empty directory (a mount point it owns), and a sticky one of theirs.
            let theirs = base + "/theirs"
            #expect(mkdir(theirs, 0o700) == 0 && chown(theirs, 4242, 4242) == 0)
            #expect(await refusal(theirs).contains("is owned by uid 4242"))
            let theirSticky = base + "/their-sticky"
            #expect(mkdir(theirSticky, 0o700) == 0 && chmod(theirSticky, 0o1777) == 0 && chown(theirSticky, 4242, 4242) == 0)
            #expect(await refusal(theirSticky + "/backup").contains("another account can replace entries in it (owner uid 4242"))
        }
        // Sticky, like /tmp: others cannot replace what this account made there.
        let sticky = base + "/sticky"
        #expect(mkdir(sticky, 0o700) == 0 && chmod(sticky, 0o1777) == 0)
        _ = try await harness.stores.backup(into: sticky + "/backup", writtenBy: "test")
        #expect(try SubsidyStores.verifyBackup(at: sticky + "/backup").files.count == BackupManifest.expectedNames.count)
        await harness.stores.close()
    }

    @Test("one backup at a time: a second one sent while the first waits for the decision lock is refused at once, not queued")
    func oneBackupAtATime() async throws {
        let harness = try StoreHarness()
        try await harness.approve(try await harness.recommended(harness.benchmark(StoreHarness.uscc(348)), in: .nanhai))
        let (first, second) = (harness.directory.path + "-first", harness.directory.path + "-second")
        defer { for path in [first, second] { try? FileManager.default.removeItem(atPath: path) } }
        let stores = harness.stores
        let (held, release) = AsyncStream<Void>.makeStream()
        let (holding, entered) = AsyncStream<Void>.makeStream()
        // A decision holds the lock; the first backup waits for it.
        let decision = Task {
            try await stores.underDecisionLock(.everything) {
                entered.yield()
                for await _ in held { break }
            }
        }
        for await _ in holding { break }
        let waiting = Task { try await stores.backup(into: first, writtenBy: "test") }
        #expect(await eventually { stores.decisionLockWaiters == 1 })
        let refused = await #expect(throws: BackupError.self) { _ = try await stores.backup(into: second, writtenBy: "test") }
        #expect(refused == .alreadyRunning)
        #expect(!FileManager.default.fileExists(atPath: second))
        release.yield()
        try await decision.value
        #expect(try await waiting.value.files.count == BackupManifest.expectedNames.count)
        // Once it has ended, the next is taken.
        #expect(try await stores.backup(into: second, writtenBy: "test").files.count == BackupManifest.expectedNames.count)
        await stores.close()
    }

    @Test("a backup directory's files are read only as regular files: a FIFO, a link to /dev/zero or a huge manifest is refused, never waited on")
    func restoreReadsRegularFiles() async throws {
        let harness = try StoreHarness()
        try await harness.approve(try await harness.recommended(harness.benchmark(StoreHarness.uscc(355)), in: .nanhai))
        let backup = harness.directory.path + "-backup-odd"
        defer { try? FileManager.default.removeItem(atPath: backup) }
        _ = try await harness.stores.backup(into: backup, writtenBy: "test")
        await harness.stores.close()
        #expect(try SubsidyStores.verifyBackup(at: backup).files.count == BackupManifest.expectedNames.count)
        let manifest = backup + "/" + BackupManifest.fileName
        let original = try Data(contentsOf: URL(fileURLWithPath: manifest))
        func refusal(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "accepted"
            } catch { return "\(error)" }
        }
        // A district file swapped for a FIFO: refused at once, not waited on.
        let nanhai = backup + "/districts/nanhai.sqlite"
        try FileManager.default.moveItem(atPath: nanhai, toPath: nanhai + ".kept")
        #expect(mkfifo(nanhai, 0o600) == 0)
        #expect(refusal { _ = try SubsidyStores.verifyBackup(at: backup) }.contains("nanhai.sqlite"))
        try FileManager.default.removeItem(atPath: nanhai)
        try FileManager.default.moveItem(atPath: nanhai + ".kept", toPath: nanhai)
        // The manifest as a link to /dev/zero, or a megabyte long.
        try FileManager.default.removeItem(atPath: manifest)
        try FileManager.default.createSymbolicLink(atPath: manifest, withDestinationPath: "/dev/zero")
        #expect(refusal { _ = try SubsidyStores.verifyBackup(at: backup) }.contains("is a symbolic link, not a regular file"))
        try FileManager.default.removeItem(atPath: manifest)
        try (original + Data(repeating: 0x0A, count: 1 << 20)).write(to: URL(fileURLWithPath: manifest))
        #expect(refusal { _ = try SubsidyStores.verifyBackup(at: backup) }.contains("is larger than 65536 bytes"))
        try original.write(to: URL(fileURLWithPath: manifest))
        #expect(try SubsidyStores.verifyBackup(at: backup).files.count == BackupManifest.expectedNames.count)
    }

    @Test("a backup that would eat into the reserve kept for decisions is refused before anything is copied")
    func backupKeepsTheReserve() async throws {
        let harness = try StoreHarness()
        try await harness.approve(try await harness.recommended(harness.benchmark(StoreHarness.uscc(350)), in: .nanhai))
        // A reserve no disk has: on the data directory's own disk, nothing may be copied.
        harness.stores.applyStorageLimits(StorageLimits(maximumDistrictFileBytes: 0, minimumFreeDiskBytes: Int64.max / 4))
        let target = harness.directory.path + "-backup-reserve"
        let refused = await #expect(throws: BackupError.self) { _ = try await harness.stores.backup(into: target, writtenBy: "test") }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("must stay free on the data directory's disk for decisions"), "\(String(describing: refused))")
        #expect(!FileManager.default.fileExists(atPath: target))
        // Without the reserve it fits.
        harness.stores.applyStorageLimits(.unlimited)
        defer { try? FileManager.default.removeItem(atPath: target) }
        _ = try await harness.stores.backup(into: target, writtenBy: "test")
        #expect(FileManager.default.fileExists(atPath: target + "/MANIFEST"))
        await harness.stores.close()
    }
}

extension String {
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

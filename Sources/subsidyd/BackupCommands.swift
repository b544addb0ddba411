import ArgumentParser
import SubsidyCore
import SubsidyServer
import SubsidyStore
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `subsidyd backup`: the offline backup, for an operator with the daemon stopped (the data
/// directory's lock proves it). While the daemon runs, use `subsidyctl admin backup` instead.
struct OfflineBackup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up every store into DIR with the daemon stopped (online: subsidyctl admin backup).",
        discussion: "Exit 0: written and checked; 1: the backup failed or was stopped (Ctrl-C, SIGTERM; nothing usable left in DIR); 2: the data directory is in use or unsafe, "
            + "or its files were written by an earlier release (back them up with that release: this one does not migrate them here)."
    )

    @Option(help: "Configuration file naming data_dir (default \(SubsidyDaemon.defaultConfigPath)).")
    var config: String?

    @Option(help: "The data directory itself, instead of a configuration file (e.g. a --dev layout).")
    var dataDir: String?

    @Argument(help: "Directory to create and write the backup into (must not exist, or be empty).")
    var directory: String

    func run() async throws {
        let dataDirectory: String
        if let dataDir {
            dataDirectory = dataDir
        } else {
            do {
                dataDirectory = try ServerConfiguration.load(path: config ?? SubsidyDaemon.defaultConfigPath).dataDirectory
            } catch {
                fail("configuration error: \(error)", exitCode: 1)
            }
        }
        // The lock would create a missing directory, and the stores empty files: a typo in the
        // path must not produce a "backup" of nothing.
        var status = stat()
        guard stat(dataDirectory + "/city-ledger.sqlite", &status) == 0 else {
            fail("\(dataDirectory): no city-ledger.sqlite; not a subsidyd data directory", exitCode: 2)
        }
        let lock: DataDirectoryLock
        let stores: SubsidyStores
        do {
            lock = try DataDirectoryLock(dataDirectory: dataDirectory)
            // Not migrated: a backup taken before an upgrade must be of the files as they are.
            stores = try SubsidyStores.open(dataDirectory: dataDirectory, migrating: false)
        } catch {
            fail("\(error)", exitCode: 2)
        }
        do {
            let manifest = try await withThrowingTaskGroup(of: BackupManifest?.self) { group in
                // Interrupted (Ctrl-C, a stop), it removes what it wrote instead of leaving a
                // partial backup to fill the disk.
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm, .sighup) { stores.cancelBackup() }
                    return nil
                }
                group.addTask { try await stores.backup(into: directory, writtenBy: "subsidyd \(SubsidyVersion.current)") }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let manifest = next { return manifest }
                }
                preconditionFailure("the backup's task ended without a result")
            }
            await stores.close()
            print("backup \(directory): taken at \(manifest.takenAt); \(manifest.ledger)")
            for file in manifest.files { print("  \(file.name)  \(file.bytes) bytes  audit row \(file.auditSequence)") }
        } catch {
            await stores.close()
            fail("backup failed: \(error)", exitCode: 1)
        }
        withExtendedLifetime(lock) {}
    }
}

/// `subsidyd restore`: checks a backup against its manifest, then copies it into a new data
/// directory. Nothing is written until every check has passed.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Verify BACKUP against its manifest, then copy it into a new data directory.",
        discussion: """
            Every file must be present with the size and SHA-256 its MANIFEST records, pass
            integrity_check, and have an audit chain that verifies up to the head recorded; only then
            is NEW created (0700; it must not exist, or be empty), locked as a daemon locks its data
            directory, and filled. Point data_dir at NEW,
            run `subsidyd --check`, and start the daemon. Exit 0: restored; 1: the backup does not
            verify or NEW cannot be written (the reason on stderr).
            """
    )

    @Argument(help: "The backup directory (holding MANIFEST).")
    var backup: String

    @Option(help: "The new data directory to create.")
    var dataDir: String

    @Flag(help: "Only verify the backup; write nothing.")
    var verifyOnly = false

    func run() throws {
        do {
            if verifyOnly {
                let manifest = try SubsidyStores.verifyBackup(at: backup)
                print("verified: backup taken at \(manifest.takenAt) by \(manifest.writtenBy); \(manifest.ledger)")
                return
            }
            // The new directory is locked as a daemon locks it, for the whole restore: a daemon
            // started on it meanwhile, or a second restore into it, is refused instead of opening
            // files this one is still renaming into place. Locked by the name the restore writes
            // under (links above it resolved), so a link repointed meanwhile cannot send the files
            // into a directory nobody locked.
            let target = SubsidyStores.restoreTarget(dataDir)
            let existed = access(target, F_OK) == 0
            let lock = try DataDirectoryLock(dataDirectory: target)
            do {
                let manifest = try SubsidyStores.restore(backup: backup, into: target)
                print("restored into \(dataDir): backup taken at \(manifest.takenAt) by \(manifest.writtenBy); \(manifest.ledger)")
            } catch {
                // A directory this restore made and could not fill is not left looking like one.
                if !existed { rmdir(target + "/districts"); rmdir(target) }
                throw error
            }
            withExtendedLifetime(lock) {}
        } catch {
            fail("restore refused: \(error)", exitCode: 1)
        }
    }
}

/// The reason on stderr, then the exit code.
func fail(_ message: String, exitCode: Int32) -> Never {
    var text = Array("subsidyd: \(message)\n".utf8)
    _ = write(2, &text, text.count)
    exit(exitCode)
}

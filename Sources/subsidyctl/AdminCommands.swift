import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "City operators: online backup and metrics.", subcommands: [AdminBackup.self, AdminMetrics.self])
}

struct AdminBackup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Take a consistent online backup of every store into DIR (written by the daemon).",
        discussion: """
            The daemon writes DIR (it must not exist, or be empty; its parent must exist and be
            writable by the daemon — with the systemd unit, under /var/lib/subsidyd-backups). One point
            in time across the ledger and every district; each file passes integrity_check; MANIFEST
            lists each file's SHA-256 and audit-chain head. Restore with `subsidyd restore DIR --data-dir NEW`.
            """
    )
    @OptionGroup var global: GlobalOptions
    @Flag(help: "DIR is a parent: the backup goes into a new DIR/<UTC time, e.g. 20261204T023000Z> (for timers; a second one within the same second, into <time>-2).")
    var dated = false
    @Argument(help: "Backup directory (made absolute against the current directory).")
    var directory: String

    func run() async throws {
        let parent = directory.hasPrefix("/") ? directory : currentDirectory() + "/" + directory
        let stamp = parent + "/" + utcStamp()
        var request = Foshan_Subsidy_V1_BackupRequest()
        let r = try await global.withClient { client throws(SubsidyError) in
            // A second backup within the same second (a script, a retry) finds the time's
            // directory taken: it goes beside it as <time>-2, -3, …, never into it.
            for attempt in 1...9 {
                let path = !dated ? parent : attempt == 1 ? stamp : stamp + "-\(attempt)"
                request.directory = path
                do throws(SubsidyError) {
                    return try await Foshan_Subsidy_V1_Admin.Client(wrapping: client).backup(request, timeout: global.timeout)
                } catch where dated && error.message.contains("\(path): cannot create (No such file or directory)") {
                    // The daemon names the directory it could not make, DIR/<time>, which the operator
                    // never typed: what is missing is DIR. The daemon decides (it may see other
                    // directories than this user), so its refusal is what is reworded.
                    throw SubsidyError(
                        error.code, "\(parent) does not exist: --dated makes each backup a new directory inside it; create it (writable by the daemon) — \(error.message)",
                        details: error.details)
                } catch where dated && attempt < 9 && error.message.contains("\(path): is not empty") {
                    continue
                }
            }
            throw SubsidyError(.internal, "unreachable: the last attempt returns or throws")
        }
        let lines =
            ["backup \(r.directory)", "taken at \(global.time(r.takenAt))\(global.utc ? "" : " (\(r.takenAt))"); ledger \(r.ledgerIdentity) at audit row \(r.ledgerSequence)"]
            + r.files.map { "  \($0.name)  \($0.bytes) bytes  sha256 \($0.sha256.prefix(16))…  audit row \($0.auditSequence)" }
        global.emit(r, human: lines.joined(separator: "\n"))
    }

    private func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        return getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "."
    }

    private func utcStamp() -> String {
        var seconds = time(nil)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))\(pad(parts.tm_mon + 1, 2))\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2))\(pad(parts.tm_min, 2))\(pad(parts.tm_sec, 2))Z"
    }
}

struct AdminMetrics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics", abstract: "Print the daemon's metrics (Prometheus text format), cap usage included.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let r = try await global.withClient { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_Admin.Client(wrapping: client).getMetrics(Foshan_Subsidy_V1_GetMetricsRequest(), timeout: global.timeout)
        }
        if global.json {
            global.emit(r)
        } else {
            print(r.text, terminator: "")
        }
    }
}

import ArgumentParser
import Logging
import ServiceLifecycle
import SubsidyCore
import SubsidyServer
import SubsidyStore
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `subsidyd`: serves the district and city sockets until SIGTERM or SIGINT, then drains and exits 0.
///
/// Exit codes (Deploy/README.md): 0 stopped cleanly, or `--check`/`--repair` found the stores
/// consistent; 1 configuration error or a failure while serving; 2 cannot start (data directory
/// locked by another daemon, a directory failing StrictModes, stores that cannot be opened);
/// 3 the ledger and the district stores disagree (start-up refused, or `--check`/`--repair`
/// found them inconsistent); 4 `--check` found nothing that stops start-up, but a maintained
/// total (what caps are checked against) differs from its records (`--repair` rebuilds it).
@main
struct SubsidyDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subsidyd",
        abstract: "Foshan industrial-internet subsidy daemon: district and city RPCs over Unix sockets.",
        version: SubsidyVersion.current,
        subcommands: [OfflineBackup.self, Restore.self]
    )

    /// Start-up refused (or `--check`/`--repair` found) the ledger and the districts disagreeing.
    static let inconsistentExitCode: Int32 = 3

    /// `--check` found a maintained total differing from its records, and nothing worse.
    static let totalsDifferExitCode: Int32 = 4

    /// Where `subsidyd` and `subsidyd --check-config` look without `--config`.
    static let defaultConfigPath = "/etc/subsidyd/subsidyd.toml"

    @Flag(help: "Embedded default: every tenant socket under --data-dir, only the current user allowed.")
    var dev = false

    @Option(help: "Directory for the SQLite stores (locked while in use) and the sockets (with --dev only).")
    var dataDir: String?

    @Option(help: "Configuration file (default \(SubsidyDaemon.defaultConfigPath)); see Deploy/subsidyd.toml.")
    var config: String?

    @Flag(help: "Validate the configuration file and exit: 0 if it is usable, 1 with the problem on stderr.")
    var checkConfig = false

    @Flag(help: "Check the stores without serving (the daemon must be stopped): recovery's consistency check, every audit chain, every maintained total recomputed; migrates nothing (files an earlier release wrote are refused, exit 2); exit 0 if consistent, 3 if start-up would refuse, 4 if only totals differ.")
    var check = false

    @Flag(help: "Operator repair with the daemon stopped: roll districts forward to the ledger as start-up does, forget unfinished registrations in the city's index, rebuild totals that differ from their records (audited); exit 0 if the stores are then consistent, 3 if not.")
    var repair = false

    @Flag(help: "With --repair: record the current ledger's position in every district (audited) — only after restoring the ledger on purpose.")
    var acceptLedger = false

    @Flag(help: "With --dev: seed a realistic sample (all five districts, every lifecycle state) into an empty data directory.")
    var demo = false

    @Flag(help: .hidden)
    var testHooks = false

    @Option(help: "With --dev: pin the bureaus' calendar to this day (YYYY-MM-DD), for rehearsing on programmes that have ended; a call may name its own day (subsidyctl --today).")
    var today: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(help: "logfmt or json: one line per event on stderr (default: log_format in the configuration, else logfmt).")
    var logFormat: String?

    /// `backup` and `restore` are dispatched before the daemon's own flags are parsed: they share
    /// option names (`--data-dir`, `--config`) that mean something else to the daemon itself.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "backup": await OfflineBackup.main(Array(arguments.dropFirst()))
        case "restore": Restore.main(Array(arguments.dropFirst()))
        default: await Self.main(nil)
        }
    }

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level: unknown level \"\(logLevel)\"")
        }
        if let logFormat, StructuredLogHandler.Format(rawValue: logFormat) == nil {
            throw ValidationError("--log-format: must be logfmt or json (got \"\(logFormat)\")")
        }
        if dev && (config != nil || checkConfig) {
            throw ValidationError("--dev uses the embedded configuration; it cannot be combined with --config or --check-config")
        }
        if demo && !dev {
            throw ValidationError("--demo seeds the --dev layout; use it with --dev")
        }
        if check && (repair || checkConfig || demo) {
            throw ValidationError("--check cannot be combined with --repair, --check-config or --demo")
        }
        if repair && (checkConfig || demo) {
            throw ValidationError("--repair cannot be combined with --check-config or --demo")
        }
        if acceptLedger && !repair {
            throw ValidationError("--accept-ledger is part of the explicit repair; use it with --repair")
        }
        if let today {
            // Test hooks, hidden and for the test suite only, already let a caller crash or
            // stall the daemon: a calendar of the tests' choosing adds nothing to that.
            guard dev || testHooks else {
                throw ValidationError("--today is for rehearsals on the --dev layout; a production daemon keeps Foshan's real calendar")
            }
            guard (try? CalendarDate(parsing: today)) != nil else {
                throw ValidationError("--today: must be a date YYYY-MM-DD (got \"\(today)\")")
            }
        }
        if !dev && dataDir != nil {
            throw ValidationError("--data-dir is for --dev; with a configuration file set data_dir in it")
        }
    }

    /// Loads the configuration file, or prints why it cannot be used and exits 1.
    private func loadConfiguration() throws -> ServerConfiguration {
        let path = config ?? Self.defaultConfigPath
        do {
            return try ServerConfiguration.load(path: path)
        } catch {
            var text = Array("subsidyd: configuration error: \(error)\n".utf8)
            _ = write(2, &text, text.count)
            throw ExitCode(1)
        }
    }

    /// `--check-config` also loads the programmes it names (a file or a directory of them), so a
    /// typo there is found before a restart rather than by it.
    private func checkPolicy(at path: String) throws {
        do {
            _ = try SubsidyServices.loadProgrammes(path: path)
        } catch {
            var text = Array("subsidyd: configuration error: policy: \(error)\n".utf8)
            _ = write(2, &text, text.count)
            throw ExitCode(1)
        }
    }

    func run() async throws {
        if checkConfig {
            let configuration = try loadConfiguration()
            if let policyPath = configuration.policyPath { try checkPolicy(at: policyPath) }
            for warning in configuration.warnings {
                var text = Array("subsidyd: configuration warning: \(warning)\n".utf8)
                _ = write(2, &text, text.count)
            }
            let tenants = configuration.tenants.map { "\($0.id) \($0.socketPath)" }.joined(separator: ", ")
            print("\(config ?? Self.defaultConfigPath): OK (data_dir \(configuration.dataDirectory); \(tenants))")
            return
        }
        // SIGHUP's default action is to end the process: trapped before anything else (a
        // logrotate postrotate or `systemctl reload` during start-up must not kill the daemon).
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        var configuration: ServerConfiguration
        if dev {
            let dataDir = self.dataDir ?? "./subsidyd-data"
            configuration = ServerConfiguration.development(dataDirectory: dataDir.hasPrefix("/") ? dataDir : currentDirectory() + "/" + dataDir)
        } else {
            configuration = try loadConfiguration()
        }
        configuration.testHooks = testHooks
        configuration.pinnedToday = today.flatMap { try? CalendarDate(parsing: $0) }
        // The test suite's daemons file on one day and decide on later ones, as bureaus do, on
        // configuration-file layouts too; the hooks already let a caller crash the daemon.
        if testHooks { configuration.takesCallDates = true }
        let reloadSource: @Sendable () throws -> ServerConfiguration
        if dev {
            let development = configuration
            reloadSource = { development }
        } else {
            let path = config ?? Self.defaultConfigPath
            reloadSource = { try ServerConfiguration.load(path: path) }
        }

        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = logFormat.flatMap(StructuredLogHandler.Format.init(rawValue:)) ?? configuration.logFormat
        LoggingSystem.bootstrap { _ in StructuredLogHandler(format: format, level: level) }
        let logger = Logger(label: "subsidyd")
        for warning in configuration.warnings { logger.warning("configuration: \(warning)") }
        ResourceLimits.raiseFileDescriptorLimit(logger: logger)
        // A check or repair of a directory with no ledger would create empty stores and call them
        // consistent: a mistyped --data-dir must say so instead.
        // District files without it are a lost ledger, not a mistyped directory: the stores' own
        // check reports that (exit 3), as start-up does.
        let hasDistrictFiles = DistrictID.allCases.contains { access(configuration.dataDirectory + "/districts/\($0.rawValue).sqlite", F_OK) == 0 }
        // The ledger's errno, taken before the marker's access below can overwrite it.
        let ledgerError = access(configuration.dataDirectory + "/city-ledger.sqlite", F_OK) == 0 ? 0 : errno
        if (check || repair) && ledgerError != 0 && !(ledgerError == ENOENT && hasDistrictFiles) {
            let problem =
                if access(configuration.dataDirectory + "/" + BackupManifest.restoringMarker, F_OK) == 0 {
                    "\(ServerError.unfinishedRestore(path: configuration.dataDirectory))"
                } else if ledgerError == ENOENT {
                    "\(configuration.dataDirectory) holds no city-ledger.sqlite: nothing to \(check ? "check" : "repair") (is the data directory right?)"
                } else {
                    "\(configuration.dataDirectory) cannot be read (\(String(cString: strerror(ledgerError)))): run this as the daemon's account"
                }
            var text = Array("subsidyd: \(problem)\n".utf8)
            _ = write(2, &text, text.count)
            throw ExitCode(2)
        }
        let lock: DataDirectoryLock
        do {
            if let runtimeDirectory = configuration.runtimeDirectory { try StrictModes.check(directory: runtimeDirectory) }
            lock = try DataDirectoryLock(dataDirectory: configuration.dataDirectory)
        } catch {
            logger.critical("\(error)")
            throw ExitCode(2)
        }
        if check || repair {
            try await maintain(configuration.dataDirectory)
            withExtendedLifetime(lock) {}
            return
        }
        let services: SubsidyServices
        do {
            services = try await SubsidyServices.bootstrap(configuration: configuration, logger: logger)
        } catch let error as ServerError {
            logger.critical("\(error)")
            if case .storesInconsistent = error { throw ExitCode(Self.inconsistentExitCode) }
            throw ExitCode(2)
        } catch {
            logger.critical("\(error)\(Self.advice(for: error, dataDirectory: configuration.dataDirectory))")
            throw ExitCode(2)
        }
        if demo {
            do {
                try await DemoData.seed(services: services, configuration: configuration, logger: logger)
            } catch {
                logger.critical("demo: seeding failed: \(error)")
                await services.stores.close()
                throw ExitCode(2)
            }
        }
        let server = UnixSocketServer(
            configuration: configuration, router: services.router, health: services.health, logger: logger, metrics: services.metrics)
        logger.notice(
            "subsidyd \(SubsidyVersion.current) starting",
            metadata: [
                "version": "\(SubsidyVersion.current)", "policy.version": "\(services.policy.version)",
                "policy.file": "\(configuration.policyPath ?? "embedded")", "data.dir": "\(configuration.dataDirectory)",
                "limits": "\(server.limitsInForce.summary)",
            ])
        if let day = configuration.pinnedToday {
            logger.warning("calendar pinned to \(day) (--today): filing windows, decision dates and calls are judged as on that day")
        }
        let operations = OperationsService(
            hangups: hangups, notifier: ServiceManagerNotifier(), server: server, services: services,
            started: configuration, loadConfiguration: reloadSource, logger: logger)
        var members: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: services.stores), .init(service: server)]
        if let path = configuration.metricsTextfile {
            members.append(
                .init(
                    service: MetricsTextfileWriter(
                        metrics: services.metrics, path: path, interval: .milliseconds(configuration.metricsIntervalMilliseconds), logger: logger)))
        }
        members.append(.init(service: operations))
        let group = ServiceGroup(
            configuration: .init(
                // Shut down in reverse: STOPPING is reported and reloads stop, the metrics file
                // is left as last written, the server drains its calls, then the stores close.
                services: members,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
        withExtendedLifetime(lock) {}
    }
}

extension SubsidyDaemon {
    /// What the operator does about a store failure that stopped a start or a check, as a
    /// sentence to append ("" when the error says it already): SQLite's own text names neither
    /// a full disk (it reads as an I/O error) nor what to do with a damaged file.
    static func advice(for error: any Error, dataDirectory: String) -> String {
        guard let error = error as? SQLiteError else { return "" }
        if error.isFull {
            let free = SubsidyStores.freeBytes(at: dataDirectory).map { "\($0) bytes free" } ?? "free space unknown"
            return "; the file system holding \(dataDirectory) is full (\(free)): free space there and start again (nothing acknowledged is lost)"
        }
        if error.isDamaged || error.isNotADatabase {
            return "; a store file is damaged: keep a copy of the data directory as it is, then follow Deploy/README.md "
                + "(\"Back up and restore\": restore the newest backup); subsidyd --check names each file it can read"
        }
        return ""
    }

    /// Who ran a repair, for its audit events: the login uid (kept through `sudo -u subsidyd` and
    /// `runuser`), else sudo's `SUDO_UID`, else the process's own — StrictModes makes these
    /// commands run as the daemon's account, whose uid alone would name no one.
    static func operatorUID() -> UInt32 {
        // An unset login uid reads 4294967295 (no login session: a service, a container).
        if let text = firstLine(of: "/proc/self/loginuid"), let uid = UInt32(text), uid != UInt32.max { return uid }
        if let sudo = getenv("SUDO_UID").map({ String(cString: $0) }), let uid = UInt32(sudo) { return uid }
        return getuid()
    }

    /// `--check` or `--repair` on a data directory whose lock this process holds: the report on
    /// stdout, exit 0 if the stores are (now) consistent, 3 if not, 4 if a check found only
    /// maintained totals differing.
    private func maintain(_ dataDirectory: String) async throws {
        let report: StoreConsistency.Report
        do {
            report = check
                ? try await StoreConsistency.check(dataDirectory: dataDirectory)
                : try await StoreConsistency.repair(dataDirectory: dataDirectory, acceptLedger: acceptLedger, operatorUID: Self.operatorUID())
        } catch ServerError.storesInconsistent(let problems) {
            print((problems.map { "INCONSISTENT \($0)" } + ["NOT consistent: subsidyd will refuse to start on \(dataDirectory)"]).joined(separator: "\n"))
            throw ExitCode(Self.inconsistentExitCode)
        } catch {
            var text = Array("subsidyd: \(check ? "check" : "repair") failed: \(error)\(Self.advice(for: error, dataDirectory: dataDirectory))\n".utf8)
            _ = write(2, &text, text.count)
            throw ExitCode(2)
        }
        print(report.lines.joined(separator: "\n"))
        if !report.consistent { throw ExitCode(Self.inconsistentExitCode) }
        if check && report.totalsDiffered { throw ExitCode(Self.totalsDifferExitCode) }
    }
}

/// The first line of a small file (a /proc entry), or nil if it cannot be read.
private func firstLine(of path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let n = read(fd, &buffer, buffer.count)
    guard n > 0 else { return nil }
    return String(decoding: buffer[0..<n].prefix { $0 != 10 }, as: UTF8.self)
}

private func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    return getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "."
}

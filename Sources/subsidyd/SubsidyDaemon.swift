import ArgumentParser
import Logging
import ServiceLifecycle
import UnixSignals
import SubsidyServer

#if canImport(Glibc)
import Glibc
#endif

/// `subsidyd`: serves the district and city sockets until SIGTERM or SIGINT, then drains and exits 0.
@main
struct SubsidyDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subsidyd",
        abstract: "Foshan industrial-internet subsidy daemon: district and city RPCs over Unix sockets."
    )

    @Flag(help: "Embedded default: every tenant socket under --data-dir, only the current user allowed.")
    var dev = false

    @Option(help: "Directory for the SQLite stores, the lock file and (with --dev) the sockets.")
    var dataDir: String = "./subsidyd-data"

    @Flag(help: .hidden)
    var testHooks = false

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level: unknown level \"\(logLevel)\"")
        }
        guard dev else {
            throw ValidationError("only --dev is available in this build: run `subsidyd --dev --data-dir DIR`")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "subsidyd")
        let dataDirectory = dataDir.hasPrefix("/") ? dataDir : currentDirectory() + "/" + dataDir
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(dataDirectory: dataDirectory)
        } catch {
            logger.critical("\(error)")
            throw ExitCode(2)
        }
        var configuration = ServerConfiguration.development(dataDirectory: dataDirectory)
        configuration.testHooks = testHooks

        let services: SubsidyServices
        do {
            services = try SubsidyServices.bootstrap(configuration: configuration, logger: logger)
        } catch {
            logger.critical("\(error)")
            throw ExitCode(2)
        }
        let server = SubsidyServer(configuration: configuration, router: services.router, health: services.health, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)],
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

private func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    return getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "."
}

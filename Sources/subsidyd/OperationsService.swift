import Logging
import ServiceLifecycle
import SubsidyCore
import SubsidyServer
import UnixSignals

/// The daemon's side of the service manager: READY once every socket listens, RELOADING/READY
/// around a SIGHUP reload, STOPPING when graceful shutdown begins.
///
/// A reload re-reads the configuration file and the policy it names. Either both load and
/// validate in full and take effect together, or neither does: the error is logged and the daemon
/// keeps serving with what it had. Sockets, tenants and stores are never re-created by a reload.
struct OperationsService: Service, CustomStringConvertible {
    let hangups: UnixSignalsSequence
    let notifier: ServiceManagerNotifier
    let server: UnixSocketServer
    let services: SubsidyServices
    /// The configuration the daemon started with (tenants and sockets stay as they are).
    let started: ServerConfiguration
    /// Reads the configuration afresh (the same file, or the embedded `--dev` layout).
    let loadConfiguration: @Sendable () throws -> ServerConfiguration
    let logger: Logger

    /// How ServiceLifecycle names the service in its logs. Without it the group describes the
    /// struct by reflection, field by field through the whole policy, at every start.
    var description: String { "OperationsService" }

    func run() async throws {
        // The stream yields once every socket listens and then finishes; it also ends if the
        // server fails to start, when the group cancels this service.
        for await _ in server.ready {}
        guard !Task.isCancelled else { return }
        notifier.ready(status: "serving programmes \(services.programmes.versionsText)")
        await withGracefulShutdownHandler {
            for await _ in hangups.cancelOnGracefulShutdown() {
                await reload()
            }
        } onGracefulShutdown: {
            notifier.stopping()
        }
    }

    /// One SIGHUP. Never throws: a bad file must not take the service down.
    func reload() async {
        notifier.reloading()
        let previous = services.programmes
        defer { notifier.ready(status: "serving programmes \(services.programmes.versionsText)") }
        logger.notice("reload requested (SIGHUP)", metadata: ["policy.version": "\(previous.versionsText)"])
        var next: ServerConfiguration
        do {
            next = try loadConfiguration()
        } catch {
            logger.error("reload refused, configuration kept: \(error)", metadata: ["policy.version": "\(previous.versionsText)"])
            services.metrics.recordReload(accepted: false)
            return
        }
        for warning in next.warnings { logger.warning("reload: configuration: \(warning)") }
        next.testHooks = started.testHooks
        next.pinnedToday = started.pinnedToday
        next.takesCallDates = started.takesCallDates
        // Tables only moved within the file are no change.
        if Set(next.tenants) != Set(started.tenants) || next.dataDirectory != started.dataDirectory || next.runtimeDirectory != started.runtimeDirectory {
            // Named, so the operator knows which edit waits (an allowed_uids change is the usual one).
            let tables = Set(started.tenants.map(\.id) + next.tenants.map(\.id)).sorted().filter { id in
                started.tenants.first { $0.id == id } != next.tenants.first { $0.id == id }
            }.map(Tenant.tableName(of:))
            let keys = [("data_dir", next.dataDirectory != started.dataDirectory), ("runtime_dir", next.runtimeDirectory != started.runtimeDirectory)]
                .filter(\.1).map(\.0)
            logger.warning(
                "reload: \((keys + tables).joined(separator: ", ")) changed in the file; tenants, their sockets and access lists and the directories take effect only at a restart (a reload never re-creates them), kept as started"
            )
            next.tenants = started.tenants
            next.dataDirectory = started.dataDirectory
            next.runtimeDirectory = started.runtimeDirectory
        }
        // Set up once at start-up (the log handler, the metrics writer, the runtime directory):
        // an operator who changed one and sent SIGHUP must not believe it applied.
        let atRestart = [
            ("runtime_dir_mode", next.runtimeDirectoryMode != started.runtimeDirectoryMode), ("metrics_textfile", next.metricsTextfile != started.metricsTextfile),
            ("metrics_interval_ms", next.metricsIntervalMilliseconds != started.metricsIntervalMilliseconds), ("log_format", next.logFormat != started.logFormat),
        ].filter(\.1).map(\.0)
        if !atRestart.isEmpty {
            logger.warning("reload: \(atRestart.joined(separator: ", ")) changed in the file; set up at start-up, kept as started until the next restart")
        }
        let programmes: Programmes
        do {
            programmes = try await services.reload(configuration: next, logger: logger)
        } catch {
            logger.error("reload refused, policy and limits kept: policy: \(error)", metadata: ["policy.version": "\(previous.versionsText)"])
            services.metrics.recordReload(accepted: false)
            return
        }
        let kept = server.applyReloadedLimits(next.limits)
        services.metrics.recordReload(accepted: true)
        if !kept.isEmpty {
            logger.warning("reload: \(kept.joined(separator: ", ")) changed; sized per tenant at start-up, so the change takes effect at the next restart")
        }
        logger.notice(
            "reloaded",
            metadata: [
                "policy.version": "\(programmes.versionsText)", "policy.previous": "\(previous.versionsText)",
                "limits": "\(server.limitsInForce.summary)",
            ])
    }
}

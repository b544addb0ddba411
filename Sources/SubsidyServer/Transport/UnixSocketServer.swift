import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SubsidyCore
import SubsidyWire
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's listeners: one Unix socket per tenant, run as a `Service`.
///
/// On graceful shutdown it stops accepting, reports NOT_SERVING, lets every in-flight call finish
/// (streams are ended), then returns, so the process can close its files and exit 0.
public final class UnixSocketServer: Service, Sendable {
    public let configuration: ServerConfiguration
    public let health: HealthMonitor
    private let router: RouteTable
    private let logger: Logger
    private let metrics: DaemonMetrics?
    private let group: any EventLoopGroup
    private let connections = Mutex<[ObjectIdentifier: Connection]>([:])
    private let connectionLimiter: ConnectionLimiter
    private let rateLimiter: RequestRateLimiter
    /// Lines a tenant's refusals may add to the log (``LogBudget``), shared by every connection.
    private let logBudget = LogBudget()
    private let storePermits: TenantPermits
    /// Each tenant's turns to compute (``ComputeTurn``), counted like its store permits.
    private let computeTurns: TenantPermits
    /// Each tenant's bytes held over all its connections (`max_queued_bytes_per_tenant`).
    private let tenantQueues: [String: TenantQueue]
    /// The configured limits, lowered where the descriptor limit requires it; a reload replaces
    /// them (``applyReloadedLimits(_:)``) for connections accepted from then on.
    private let currentLimits: Mutex<ServerConfiguration.Limits>
    private var limits: ServerConfiguration.Limits { currentLimits.withLock { $0 } }
    private let listeners = Mutex<[any Channel]>([])
    /// Resumed once every socket is listening (for tests and readiness logging).
    private let readiness: AsyncStream<Void>.Continuation
    public let ready: AsyncStream<Void>

    public init(
        configuration: ServerConfiguration, router: RouteTable, health: HealthMonitor, logger: Logger, metrics: DaemonMetrics? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.metrics = metrics
        self.configuration = configuration
        self.router = router
        self.health = health
        self.logger = logger
        self.group = group
        let limits = ResourceLimits.fitting(configuration.limits, descriptors: ResourceLimits.currentDescriptorLimit(), logger: logger)
        currentLimits = Mutex(limits)
        connectionLimiter = ConnectionLimiter(
            maximumTotal: limits.maximumConnections, maximumPerUID: limits.maximumConnectionsPerUID,
            maximumPerTenant: limits.maximumConnectionsPerTenant
        )
        rateLimiter = RequestRateLimiter(rate: limits.requestsPerSecond, burst: limits.requestBurst)
        storePermits = TenantPermits(tenants: configuration.tenants, permitsPerTenant: limits.maximumConcurrentStoreCallsPerTenant)
        computeTurns = TenantPermits(tenants: configuration.tenants, permitsPerTenant: limits.computeTurnsPerTenant)
        tenantQueues = Dictionary(
            configuration.tenants.map { ($0.id, TenantQueue(limit: limits.maximumQueuedBytesPerTenant)) }, uniquingKeysWith: { first, _ in first })
        (ready, readiness) = AsyncStream<Void>.makeStream()
    }

    public func run() async throws {
        var bound: [(Tenant, Listener)] = []
        if let runtimeDirectory = configuration.runtimeDirectory {
            try SocketFiles.makeDirectories(runtimeDirectory, mode: configuration.runtimeDirectoryMode)
        }
        // Everything that can refuse a socket is checked for every socket before any is bound, so
        // a refusal leaves nothing half-started: path lengths, the directory's safety (a socket
        // is renamed into it: another account able to write it could swap it), and a path held
        // by something that is not a stale socket.
        for tenant in configuration.tenants {
            let path = tenant.socketPath
            // Found here, before any socket is bound, rather than as a bare EPERM from chown(2)
            // halfway through: the usual cause is a unit file without SupplementaryGroups=.
            if let group = tenant.socketGroup, !SocketFiles.mayAssignGroup(group) {
                throw ServerError.configuration(
                    key: SocketFiles.socketGroupKey(of: tenant),
                    problem: "\(path): the daemon (uid \(geteuid())) cannot give its socket to group \(group): run it with that group as a supplementary group (systemd: SupplementaryGroups=, see Deploy/systemd/subsidyd.service)"
                )
            }
            guard path.utf8.count < 108 else { throw ServerError.socketPathTooLong(path: path) }
            guard SocketFiles.stagingPathLength(for: path) < 108 else { throw ServerError.socketPathTooLong(path: path) }
            try StrictModes.check(directory: SocketFiles.directory(of: path), allowingSharedTemporary: true)
            try SocketFiles.makeDirectories(SocketFiles.directory(of: path), mode: configuration.runtimeDirectoryMode)
            try await SocketFiles.removeIfStale(path, group: group)
        }
        do {
            for tenant in configuration.tenants {
                bound.append((tenant, try await bind(tenant)))
            }
        } catch {
            // The sockets bound before the failure are closed and removed, and any peer already
            // accepted on them is closed: an async channel dropped without being run would trap,
            // and a socket file left behind would look like a live daemon to the next start.
            for (tenant, listener) in bound {
                try? await listener.executeThenClose { inbound in
                    listener.channel.close(promise: nil)
                    for try await accepted in inbound {
                        try? await accepted?.channel.executeThenClose { _, _ in }
                    }
                }
                unlink(tenant.socketPath)
            }
            throw error
        }
        listeners.withLock { $0 = bound.map { $0.1.channel } }
        logger.info("serving \(bound.count) sockets", metadata: ["data.dir": "\(configuration.dataDirectory)"])
        readiness.yield()
        readiness.finish()

        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for (tenant, listener) in bound {
                    group.addTask { await self.accept(on: listener, tenant: tenant) }
                }
                group.addTask { await self.reportLeftOutLines() }
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        for (tenant, _) in bound { unlink(tenant.socketPath) }
        logger.info("all connections drained")
    }

    /// Every log-budget window, the refusals left out of the log in windows that ended with no
    /// later line of their kind to say so; until the graceful shutdown, and then those of every
    /// window, ended or not.
    private func reportLeftOutLines() async {
        let seconds = logBudget.window.components.seconds
        @Sendable func report(all: Bool = false) {
            for (tenant, kind, count) in logBudget.endedWindows(all: all) {
                logger.notice(
                    "\(count) \(kind.label) refusals of tenant \(tenant) were not logged in a \(seconds) s window (log budget: \(logBudget.linesPerWindow) lines each)",
                    metadata: ["tenant.id": "\(tenant)"])
            }
        }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.logBudget.window)
                report()
            }
        }
        report(all: true)
    }

    /// SIGHUP: the connection limits and the request rate apply from the next connection or call;
    /// the per-connection limits (frames, deadlines, calls, queued bytes) apply to connections
    /// accepted from now on. The store permits and the per-tenant queue are sized once per tenant
    /// at start-up; a change to those is reported as needing a restart. Returns the limits that
    /// stayed as they were for that reason (empty if every change took effect).
    public func applyReloadedLimits(_ configured: ServerConfiguration.Limits) -> [String] {
        let limits = ResourceLimits.fitting(configured, descriptors: ResourceLimits.currentDescriptorLimit(), logger: logger)
        var kept: [String] = []
        let applied = currentLimits.withLock { current -> ServerConfiguration.Limits in
            var next = limits
            if next.maximumConcurrentStoreCallsPerTenant != current.maximumConcurrentStoreCallsPerTenant {
                kept.append("max_concurrent_store_calls_per_tenant")
                next.maximumConcurrentStoreCallsPerTenant = current.maximumConcurrentStoreCallsPerTenant
            }
            if next.computeTurnsPerTenant != current.computeTurnsPerTenant {
                kept.append("max_concurrent_compute_per_tenant")
                next.maximumConcurrentComputePerTenant = current.maximumConcurrentComputePerTenant
            }
            if next.maximumQueuedBytesPerTenant != current.maximumQueuedBytesPerTenant {
                kept.append("max_queued_bytes_per_tenant")
                next.maximumQueuedBytesPerTenant = current.maximumQueuedBytesPerTenant
            }
            current = next
            return next
        }
        connectionLimiter.setMaxima(
            total: applied.maximumConnections, perUID: applied.maximumConnectionsPerUID, perTenant: applied.maximumConnectionsPerTenant)
        rateLimiter.setRate(applied.requestsPerSecond, burst: applied.requestBurst)
        return kept
    }

    /// The limits in force now (after any reload).
    public var limitsInForce: ServerConfiguration.Limits { limits }

    private func beginShutdown() {
        logger.info("graceful shutdown: no longer accepting; draining in-flight calls")
        health.set(.notServing)
        for listener in listeners.withLock({ $0 }) { listener.close(promise: nil) }
        for connection in connections.withLock({ Array($0.values) }) { connection.beginDraining() }
        // A client that never reads its replies would hold the drain forever (its calls wait to
        // write). After the grace period the connections still open are closed: their calls'
        // store work completes regardless; only replies nobody was reading are lost. A watchdog,
        // not work that must finish, so an unstructured task is right here.
        let grace = limits.drainGraceMilliseconds
        Task { [self] in
            try? await Task.sleep(for: .milliseconds(grace))
            let stuck = connections.withLock { Array($0.values) }
            guard !stuck.isEmpty else { return }
            logger.warning("closing \(stuck.count) connections still draining after \(grace) ms (clients not reading their replies; drain_grace_ms)")
            for connection in stuck { connection.channel.channel.close(promise: nil) }
        }
    }

    /// A connection that passed the kernel-credential check and the connection limits.
    struct AcceptedConnection: Sendable {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        let peer: PeerCredentials
        let activity: ConnectionActivity
        let inline: InlineCallHandler
        /// Its frames from their header until it takes them in.
        let arriving: ArrivingFrames
    }

    /// A tenant's listening socket; it yields nil for peers refused in the channel initializer.
    typealias Listener = NIOAsyncChannel<AcceptedConnection?, Never>

    private func accept(on listener: Listener, tenant: Tenant) async {
        var tenantLogger = self.logger
        tenantLogger[metadataKey: "tenant.id"] = "\(tenant.id)"
        let logger = tenantLogger
        do {
            try await listener.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await accepted in inbound {
                            // nil: the peer was refused during the channel initializer.
                            guard let accepted else { continue }
                            group.addTask { await self.serve(accepted, tenant: tenant, logger: logger) }
                        }
                    } catch {
                        logger.error("accept loop failed: \(error)")
                    }
                }
            }
        } catch {
            logger.error("listener failed: \(error)")
        }
    }

    private func serve(_ accepted: AcceptedConnection, tenant: Tenant, logger: Logger) async {
        let connection = Connection(
            channel: accepted.channel, tenant: tenant, peer: accepted.peer, router: router, limits: limits,
            activity: accepted.activity, rateLimiter: rateLimiter, logBudget: logBudget, storePermits: storePermits.permits(for: tenant), computeTurns: computeTurns.permits(for: tenant),
            tenantQueue: tenantQueues[tenant.id],
            testHooks: configuration.testHooks, pinnedToday: configuration.pinnedToday,
            takesCallDates: configuration.takesCallDates, logger: logger, metrics: metrics, backlog: accepted.inline.backlog, arriving: accepted.arriving
        )
        let id = ObjectIdentifier(connection)
        let draining = connections.withLock { connections -> Bool in
            connections[id] = connection
            return health.status == .notServing
        }
        if draining { connection.beginDraining() }
        accepted.inline.attach(connection)
        await connection.run()
        _ = connections.withLock { $0.removeValue(forKey: id) }
    }

    /// Binds a tenant's socket with its final mode and group from the first instant a peer can
    /// reach it, after making sure no live daemon owns the path.
    private func bind(_ tenant: Tenant) async throws -> Listener {
        let path = tenant.socketPath
        // Checked once more just before binding: the pre-pass in run() may be a moment old.
        try await SocketFiles.removeIfStale(path, group: group)

        var listenerLogger = logger
        listenerLogger[metadataKey: "tenant.id"] = "\(tenant.id)"
        let acceptLogger = listenerLogger
        // NIO puts an AcceptBackoffHandler after this one (accepts pause 1 s after an accept
        // error such as EMFILE); this one makes each pause a log line.
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptFailureLogger(logger: acceptLogger))
                }
            }
        return try await SocketFiles.bindStaged(
            at: path, mode: tenant.socketMode, group: tenant.socketGroup,
            bind: { stagedPath in
                try await bootstrap.bind(unixDomainSocketPath: stagedPath) { channel in
                    PeerCredentials.of(channel).flatMap { peer in
                        channel.eventLoop.makeCompletedFuture { try self.initialize(channel, peer: peer, tenant: tenant) }
                    }
                }
            },
            close: { listener in try? await listener.channel.close() }
        )
    }

    /// Runs on the new connection's event loop: decides, from the kernel's credentials and the
    /// connection counts alone, whether the peer is served, before a single byte of it is read.
    private func initialize(_ channel: any Channel, peer: PeerCredentials, tenant: Tenant) throws -> AcceptedConnection? {
        let limits = self.limits
        var logger = self.logger
        logger[metadataKey: "tenant.id"] = "\(tenant.id)"
        logger[metadataKey: "peer.uid"] = "\(peer.uid)"
        logger[metadataKey: "peer.gid"] = "\(peer.gid)"
        logger[metadataKey: "peer.pid"] = "\(peer.pid)"
        guard tenant.admits(peer) else {
            // Refused before a single byte is read: no frame of theirs is ever parsed.
            if let note = logBudget.admit(.peerNotAllowed, tenant: tenant.id) { logger.warning("refused peer not allowed on this socket\(note)") }
            metrics?.connectionRefused(tenant: tenant.id, reason: "peer_not_allowed")
            channel.close(promise: nil)
            return nil
        }
        if let refusal = connectionLimiter.acquire(uid: peer.uid, tenant: tenant.id) {
            if let note = logBudget.admit(.connectionLimit, tenant: tenant.id) { logger.warning("refused connection: \(refusal)\(note)") }
            metrics?.connectionRefused(tenant: tenant.id, reason: "limit")
            try channel.pipeline.syncOperations.addHandler(
                ConnectionRefusalHandler(status: Foshan_Subsidy_V1_Status(SubsidyError(.resourceExhausted, "connection refused: \(refusal)")))
            )
            return nil
        }
        let (limiter, metrics) = (connectionLimiter, self.metrics)
        metrics?.connectionOpened(tenant: tenant.id)
        let arriving = ArrivingFrames(tenant: tenantQueues[tenant.id])
        channel.closeFuture.whenComplete { _ in
            limiter.release(uid: peer.uid, tenant: tenant.id)
            metrics?.connectionClosed(tenant: tenant.id)
            arriving.close()
        }
        let activity = ConnectionActivity()
        let gate = ArrivalGate(frames: arriving)
        try channel.pipeline.syncOperations.addHandler(
            ConnectionTimeoutHandler(
                frameDeadline: .milliseconds(limits.frameDeadlineMilliseconds),
                idleTimeout: .milliseconds(limits.idleTimeoutMilliseconds),
                writeStall: .milliseconds(limits.writeStallTimeoutMilliseconds),
                activity: activity, gate: gate, logger: logger, logBudget: logBudget, tenant: tenant.id
            )
        )
        try channel.pipeline.syncOperations.addHandler(gate)
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(FrameDecoder(maximumFrameLength: limits.maximumFrameLength, arrivals: gate))
        )
        let inline = InlineCallHandler(arriving: arriving)
        try channel.pipeline.syncOperations.addHandler(inline)
        return AcceptedConnection(
            // Few decoded frames wait unread: when the connection is paused for backpressure
            // (max_queued_bytes_per_connection) at most two more frames are held for it.
            channel: try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                wrappingChannelSynchronously: channel,
                configuration: .init(backPressureStrategy: .init(lowWatermark: 1, highWatermark: 2))
            ),
            peer: peer, activity: activity, inline: inline, arriving: arriving
        )
    }
}

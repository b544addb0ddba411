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
public final class SubsidyServer: Service, Sendable {
    public let configuration: ServerConfiguration
    public let health: HealthMonitor
    private let router: MethodRouter
    private let logger: Logger
    private let group: any EventLoopGroup
    private let connections = Mutex<[ObjectIdentifier: Connection]>([:])
    private let listeners = Mutex<[any Channel]>([])
    /// Resumed once every socket is listening (for tests and readiness logging).
    private let readiness: AsyncStream<Void>.Continuation
    public let ready: AsyncStream<Void>

    public init(
        configuration: ServerConfiguration, router: MethodRouter, health: HealthMonitor, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.router = router
        self.health = health
        self.logger = logger
        self.group = group
        (ready, readiness) = AsyncStream<Void>.makeStream()
    }

    public func run() async throws {
        var bound: [(Tenant, NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>?, Never>)] = []
        for tenant in configuration.tenants {
            bound.append((tenant, try await bind(tenant)))
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
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        for (tenant, _) in bound { unlink(tenant.socketPath) }
        logger.info("all connections drained")
    }

    private func beginShutdown() {
        logger.info("graceful shutdown: no longer accepting; draining in-flight calls")
        health.set(.notServing)
        for listener in listeners.withLock({ $0 }) { listener.close(promise: nil) }
        for connection in connections.withLock({ Array($0.values) }) { connection.beginDraining() }
    }

    private func accept(
        on listener: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>?, Never>, tenant: Tenant
    ) async {
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

    private func serve(_ channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, tenant: Tenant, logger: Logger) async {
        let peer: PeerCredentials
        do {
            peer = try await PeerCredentials.of(channel.channel).get()
        } catch {
            try? await channel.channel.close()
            return
        }
        let connection = Connection(
            channel: channel, tenant: tenant, peer: peer, router: router, limits: configuration.limits,
            testHooks: configuration.testHooks, logger: logger
        )
        let id = ObjectIdentifier(connection)
        let draining = connections.withLock { connections -> Bool in
            connections[id] = connection
            return health.status == .notServing
        }
        if draining { connection.beginDraining() }
        await connection.run()
        _ = connections.withLock { $0.removeValue(forKey: id) }
    }

    /// Binds a tenant's socket with its final permissions from the first instant, after making
    /// sure no live daemon owns the path.
    private func bind(_ tenant: Tenant) async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>?, Never> {
        let path = tenant.socketPath
        guard path.utf8.count < 108 else { throw ServerError.socketPathTooLong(path: path) }
        try SocketFiles.prepareDirectory(for: path)
        try await SocketFiles.removeIfStale(path, group: group)

        let limits = configuration.limits
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
        // umask is process-wide; listeners are bound one at a time at start-up, before anything
        // else creates files, so the socket is never wider than its final mode.
        let previous = umask(mode_t(0o777 & ~tenant.socketMode))
        defer { umask(previous) }
        let listener = try await bootstrap.bind(unixDomainSocketPath: path) { channel in
            PeerCredentials.of(channel).flatMap { peer -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>?> in
                guard tenant.admits(peer) else {
                    // Refused before a single byte is read: no frame of theirs is ever parsed.
                    logger.warning(
                        "refused peer not allowed on this socket",
                        metadata: ["tenant.id": "\(tenant.id)", "peer.uid": "\(peer.uid)", "peer.gid": "\(peer.gid)", "peer.pid": "\(peer.pid)"]
                    )
                    return channel.close().map { nil }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrameDecoder(maximumFrameLength: limits.maximumFrameLength))
                    )
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        }
        if let group = tenant.socketGroup, chown(path, uid_t.max, gid_t(group)) != 0 {
            throw ServerError.cannotCreate(path: path, errno: errno)
        }
        return listener
    }
}

import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// The process's descriptor budget, and the connection limits that must stay inside it.
public enum ResourceLimits {
    /// Descriptors kept free of connections: the SQLite files (a database, its WAL and shared
    /// memory for the ledger and five districts), the listeners, the event loops' epoll and
    /// event descriptors, the data-directory lock, logs, and slack for short-lived files.
    public static let descriptorHeadroom = 64

    /// Raises the soft `RLIMIT_NOFILE` to the hard limit, so the configured connection limits
    /// are not cut short by a shell's small default (often 1024). Returns the soft limit now in
    /// force. Call once at start-up, before any socket is opened.
    @discardableResult
    public static func raiseFileDescriptorLimit(logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            logger.warning("cannot read RLIMIT_NOFILE (errno \(errno)); keeping the inherited descriptor limit")
            return Int.max
        }
        if limit.rlim_cur < limit.rlim_max {
            let before = limit.rlim_cur
            limit.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
                logger.info("raised the descriptor limit (RLIMIT_NOFILE) from \(before) to \(limit.rlim_cur)")
            } else {
                logger.warning("cannot raise RLIMIT_NOFILE from \(before) to \(limit.rlim_max) (errno \(errno))")
                limit.rlim_cur = before
            }
        }
        return limit.rlim_cur == rlim_t.max ? Int.max : Int(clamping: limit.rlim_cur)
    }

    /// The soft descriptor limit now in force.
    static func currentDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return Int.max }
        return Int(clamping: limit.rlim_cur)
    }

    /// `limits` with the connection limits lowered to fit `descriptors` with
    /// ``descriptorHeadroom`` to spare: the limiter then refuses a connection with a status
    /// before `accept` could fail with EMFILE. Logs what it lowered.
    static func fitting(_ limits: ServerConfiguration.Limits, descriptors: Int, logger: Logger) -> ServerConfiguration.Limits {
        let ceiling = max(1, descriptors - descriptorHeadroom)
        guard limits.maximumConnections > ceiling else { return limits }
        var fitted = limits
        fitted.maximumConnections = ceiling
        fitted.maximumConnectionsPerUID = min(limits.maximumConnectionsPerUID, ceiling)
        fitted.maximumConnectionsPerTenant = min(limits.maximumConnectionsPerTenant, ServerConfiguration.Limits.tenantShare(of: ceiling))
        logger.warning(
            "max_connections \(limits.maximumConnections) does not fit the descriptor limit \(descriptors) with \(descriptorHeadroom) to spare; serving at most \(fitted.maximumConnections) connections (per uid \(fitted.maximumConnectionsPerUID), per tenant \(fitted.maximumConnectionsPerTenant)); raise the hard RLIMIT_NOFILE (systemd LimitNOFILE=) to allow more"
        )
        return fitted
    }
}

/// First handler of each listening socket: logs why `accept` failed (EMFILE, ENFILE, ENOMEM)
/// before NIO's `AcceptBackoffHandler` behind it pauses accepting for a second — so a full
/// descriptor table is a log line a second, not a silent stall or a busy loop.
final class AcceptFailureLogger: ChannelInboundHandler, Sendable {
    typealias InboundIn = any Channel

    let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? IOError {
            logger.error("accept failed: \(error); not accepting on this socket for 1 s (pending peers wait in the backlog)")
        }
        context.fireErrorCaught(error)
    }
}

import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Rewrites the metrics file for node_exporter's textfile collector every `interval`, without
/// TCP: written beside its final name and renamed over it, so the collector never reads half a
/// file. Mode 0644 whatever the daemon's umask: node_exporter runs as another user.
public struct MetricsTextfileWriter: Service, CustomStringConvertible {
    let metrics: DaemonMetrics
    let path: String
    let interval: Duration
    let logger: Logger

    public init(metrics: DaemonMetrics, path: String, interval: Duration, logger: Logger) {
        self.metrics = metrics
        self.path = path
        self.interval = interval
        self.logger = logger
    }

    /// How ServiceLifecycle names the service in its logs (instead of reflecting every field).
    public var description: String { "MetricsTextfileWriter(\(path))" }

    public func run() async throws {
        var failing = false
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try Self.write(try await metrics.exposition(), to: path)
                if failing { logger.notice("metrics textfile written again", metadata: ["metrics.textfile": "\(path)"]) }
                failing = false
            } catch {
                // Logged once per failing episode: a missing directory must not flood the log.
                if !failing { logger.warning("metrics textfile not written: \(error)", metadata: ["metrics.textfile": "\(path)"]) }
                failing = true
            }
            let interval = self.interval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Writes `text` to `path` atomically (a temporary name in the same directory, then rename).
    /// The directory is node_exporter's: the temporary name is unpredictable and created new
    /// (`O_EXCL`, never a FIFO or a link someone placed there to block or redirect the write).
    static func write(_ text: String, to path: String) throws {
        let temporary = path + ".\(getpid()).\(String(UInt64.random(in: 1...UInt64.max), radix: 36)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW, 0o644)
        // Named by the file the operator configured: the temporary name is ours, and changes.
        guard fd >= 0 else { throw ServerError.cannotCreate(path: path, errno: errno) }
        var bytes = Array(text.utf8)
        var offset = 0
        var failure: Int32 = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 {
                // A write that wrote nothing without an error would rename a short file into place.
                failure = n < 0 && errno != 0 ? errno : EIO
                break
            }
            offset += n
        }
        fchmod(fd, 0o644)
        close(fd)
        guard failure == 0, rename(temporary, path) == 0 else {
            let error = failure != 0 ? failure : errno
            unlink(temporary)
            throw ServerError.cannotCreate(path: path, errno: error)
        }
    }
}

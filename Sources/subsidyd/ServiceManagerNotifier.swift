#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3) without libsystemd: one datagram per state change to the socket systemd names in
/// `NOTIFY_SOCKET` (Type=notify). Outside systemd the variable is unset and every call does nothing.
///
/// Written by hand because the protocol is a few lines and linking libsystemd would add a
/// dependency to every build, including the development one that never runs under systemd.
struct ServiceManagerNotifier: Sendable {
    private let socketPath: String?

    init(environment: String? = getenv("NOTIFY_SOCKET").map { String(cString: $0) }) {
        socketPath = environment.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Serving: every socket is bound and recovery is done.
    func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    /// A SIGHUP reload began; systemd waits for the next ``ready(status:)``.
    func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        // MONOTONIC_USEC lets systemd ≥ 253 match this notification to the reload it asked for.
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
        send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// Graceful shutdown began: draining in-flight calls.
    func stopping() { send("STOPPING=1\nSTATUS=draining") }

    /// Best effort, as sd_notify is: a notification that cannot be sent is not a reason to stop
    /// serving (systemd's start timeout reports a READY that never arrived).
    private func send(_ message: String) {
        guard let socketPath else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        // "@name" is a Linux abstract socket: its address starts with a NUL byte instead.
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count <= capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        var bytes = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                sendto(fd, &bytes, bytes.count, Int32(MSG_NOSIGNAL), sockaddrPointer, length)
            }
        }
    }
}

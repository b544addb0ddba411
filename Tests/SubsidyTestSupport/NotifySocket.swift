import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A bound datagram socket standing in for systemd's notify socket: give the daemon
/// ``address`` as `NOTIFY_SOCKET` and read its READY=1, RELOADING=1 and STOPPING=1 with ``next(timeout:)``.
public final class NotifySocket: @unchecked Sendable {
    let fd: Int32
    /// The value for `NOTIFY_SOCKET`: a path, or `@name` for Linux's abstract namespace (where the
    /// address starts with a NUL byte instead).
    public let address: String
    private let path: String?

    /// A socket at `path` in the file system (as systemd's own is), removed when this goes.
    public convenience init(path: String) throws {
        try self.init(address: path, bytes: Array(path.utf8), path: path)
    }

    /// A socket in the abstract namespace under a fresh name: no file to clean up, none in any
    /// data directory.
    public convenience init() throws {
        let name = "subsidyd-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        try self.init(address: "@" + name, bytes: [0] + Array(name.utf8), path: nil)
    }

    private init(address: String, bytes: [UInt8], path: String?) throws {
        self.address = address
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let error = errno
            close(fd)
            throw POSIXError(.init(rawValue: error) ?? .EIO)
        }
    }

    /// The next datagram's text, or nil if none arrives within `timeout`.
    /// A notification already queued, without waiting; nil if none is.
    public func pending() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    public func next(timeout: Duration) async -> String? {
        guard await descriptorReady(fd, timeout: timeout) else { return nil }
        return pending()
    }

    deinit {
        close(fd)
        if let path { unlink(path) }
    }
}

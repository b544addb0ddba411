import Foundation
import SubsidyTestSupport
import Testing

/// The notify protocol as systemd's Type=notify sees it: a datagram socket named by
/// NOTIFY_SOCKET, bound here, receiving the daemon's READY=1, RELOADING=1 and STOPPING=1.
@Suite("sd_notify", .serialized)
struct ServiceManagerNotifyTests {
    /// A bound datagram socket standing in for systemd's notify socket.
    final class NotifySocket: @unchecked Sendable {
        let path: String
        let fd: Int32

        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        }

        /// The next datagram's text, or nil after 30 s (so a daemon that never notifies fails the
        /// test).
        func next() async -> String? {
            guard await descriptorReady(fd, timeout: .seconds(30)) else { return nil }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
        }

        deinit {
            close(fd)
            unlink(path)
        }
    }

    @Test("READY=1 once serving, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM")
    func notifications() async throws {
        try await withTemporaryDirectory { directory in
            let notify = try NotifySocket(path: directory + "/notify")
            #expect(mkdir(directory + "/data", 0o700) == 0)
            let daemon = try await DaemonProcess.start(dataDirectory: directory + "/data", environment: ["NOTIFY_SOCKET": notify.path])
            let ready = await notify.next()
            #expect(ready?.hasPrefix("READY=1\n") == true, "\(ready ?? "nothing")")
            #expect(ready?.contains("STATUS=serving programmes foshan-2020@") == true)

            kill(daemon.process.processIdentifier, SIGHUP)
            let reloading = await notify.next()
            #expect(reloading?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true, "\(reloading ?? "nothing")")
            await #expect(notify.next()?.hasPrefix("READY=1\n") == true)

            kill(daemon.process.processIdentifier, SIGTERM)
            await #expect(notify.next()?.hasPrefix("STOPPING=1") == true)
            #expect(await daemon.waitForExit() == 0)
        }
    }
}

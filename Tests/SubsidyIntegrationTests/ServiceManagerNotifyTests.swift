import Foundation
import SubsidyTestSupport
import Testing

/// The notify protocol as systemd's Type=notify sees it: a datagram socket named by
/// NOTIFY_SOCKET, bound here, receiving the daemon's READY=1, RELOADING=1 and STOPPING=1.
@Suite("sd_notify", .serialized)
struct ServiceManagerNotifyTests {
    @Test("READY=1 once serving, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on SIGTERM")
    func notifications() async throws {
        try await withTemporaryDirectory { directory in
            let notify = try NotifySocket(path: directory + "/notify")
            #expect(mkdir(directory + "/data", 0o700) == 0)
            let daemon = try await DaemonProcess.start(dataDirectory: directory + "/data", environment: ["NOTIFY_SOCKET": notify.address])
            let ready = await notify.next(timeout: .seconds(30))
            #expect(ready?.hasPrefix("READY=1\n") == true, "\(ready ?? "nothing")")
            #expect(ready?.contains("STATUS=serving programmes foshan-2020@") == true)

            kill(daemon.process.processIdentifier, SIGHUP)
            let reloading = await notify.next(timeout: .seconds(30))
            #expect(reloading?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true, "\(reloading ?? "nothing")")
            await #expect(notify.next(timeout: .seconds(30))?.hasPrefix("READY=1\n") == true)

            kill(daemon.process.processIdentifier, SIGTERM)
            await #expect(notify.next(timeout: .seconds(30))?.hasPrefix("STOPPING=1") == true)
            #expect(await daemon.waitForExit() == 0)
        }
    }
}

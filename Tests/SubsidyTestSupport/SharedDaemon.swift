import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One `subsidyd --dev` per test process for tests that only talk to it: transport behaviour,
/// statuses, identity — tests that need no data of their own and change nothing another test
/// reads. A debug daemon's start and stop cost ~40 ms of CPU; a suite of such tests shares one
/// instead of paying that per test.
///
/// Started by the first test that asks; killed and its directory removed when the test process
/// exits. A test that stops, restarts, reconfigures or fills the daemon uses
/// ``withDaemon(isolation:dataDirectory:demo:extraArguments:environment:_:)``.
public enum SharedDaemon {
    private static let started = Task<DaemonProcess, any Error> {
        let daemon = try await DaemonProcess.start()
        running.withLock { $0 = (daemon.process.processIdentifier, daemon.dataDirectory) }
        atexit {
            // SIGKILL, not SIGTERM: this process's own connections to the daemon close only when
            // it exits, after this handler, so a graceful drain would wait its whole grace
            // (10 s) for any stream a test left open. The data is thrown away; how a daemon
            // drains and stops is tested where it is the point.
            guard let (pid, directory) = SharedDaemon.running.withLock({ $0 }) else { return }
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            TestDirectories.remove(directory)
        }
        return daemon
    }

    private static let running = Mutex<(pid: Int32, directory: String)?>(nil)

    /// The shared daemon, started on first use.
    public static func daemon() async throws -> DaemonProcess {
        try await started.value
    }
}

/// Runs `body` against the ``SharedDaemon``; if `body` throws, the end of the daemon's log is
/// printed (it is the shared one: other tests' lines are in it too).
public func withSharedDaemon<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (DaemonProcess) async throws -> T
) async throws -> T {
    let daemon = try await SharedDaemon.daemon()
    do {
        return try await body(daemon)
    } catch {
        print("shared subsidyd log (\(daemon.logPath)) after \(error):\n\(daemon.log().suffix(8_000))")
        throw error
    }
}

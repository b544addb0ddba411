import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A program the tests start: the daemon, subsidyctl, a launcher such as `setpriv`.
///
/// Started with `posix_spawn`, not Foundation's `Process`: `Process.run()` on Linux (before
/// swift-corelibs-foundation PR #5472) copies a whole 256-byte `d_name` while it lists
/// `/proc/self/fd`, over-reading glibc's buffer, and crashed the test process with SIGSEGV about
/// once in ten full runs — the suites hold thousands of descriptors open. Like `Process`, the child
/// gets no descriptor of ours above 2.
public final class ChildProcess: Sendable {
    public let processIdentifier: Int32
    /// The wait status once the child has been reaped.
    private let reaped = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments` (not including argv[0]), `environment` (the test
    /// process's own when nil), and its standard output and error on the given descriptors
    /// (inherited when nil).
    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil,
        standardOutput: Int32? = nil, standardError: Int32? = nil
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let standardOutput { posix_spawn_file_actions_adddup2(&actions, standardOutput, 1) }
        if let standardError { posix_spawn_file_actions_adddup2(&actions, standardError, 2) }
        _ = spawnCloseFrom(&actions, 3)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let environmentStrings = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let envp = environmentStrings.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "posix_spawn \(executable): errno \(result)"]) }
        processIdentifier = pid
    }

    /// Whether the child has not exited yet (reaps it if it has).
    public var isRunning: Bool {
        reaped.withLock { status in
            guard status == nil else { return false }
            var raw: Int32 = 0
            let result = waitpid(processIdentifier, &raw, WNOHANG)
            if result == processIdentifier || (result < 0 && errno == ECHILD) {
                status = result == processIdentifier ? raw : 0
                return false
            }
            return true
        }
    }

    /// Blocks until the child exits.
    public func waitUntilExit() {
        reaped.withLock { status in
            guard status == nil else { return }
            var raw: Int32 = 0
            while waitpid(processIdentifier, &raw, 0) < 0 && errno == EINTR {}
            status = raw
        }
    }

    /// ``waitUntilExit()`` for a test's task: the wait is ``offThread(_:)``.
    public func exited() async {
        await offThread { self.waitUntilExit() }
    }

    /// As Foundation's `Process.terminationStatus`: the exit code, or the signal that ended it.
    /// Meaningful once ``isRunning`` is false.
    public var terminationStatus: Int32 {
        let raw = reaped.withLock { $0 } ?? 0
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : signal
    }
}

// glibc 2.34+ has it; Swift's Glibc module does not declare it (it sits behind _GNU_SOURCE).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

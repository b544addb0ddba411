import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Checks `condition` every `interval` until it holds or `timeout` has passed; returns whether it
/// held. For waiting on something the test can observe (a log line, a freed slot) instead of
/// sleeping a fixed time that is too long on a fast machine and too short on a loaded one.
@discardableResult
public func eventually(
    isolation: isolated (any Actor)? = #isolation,
    timeout: Duration = .seconds(10), interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: interval)
    }
}

/// Runs `body` — a blocking wait: `poll`, `recv`, `waitpid`, reading a pipe to its end — on a
/// thread of its own and resumes the caller when it returns.
///
/// A test never blocks its own thread: Swift concurrency has one cooperative thread per core, and
/// a test blocked there stalls every other test in the process (on a 2-core machine two such
/// waits at once stopped the whole run, daemons it was starting included).
public func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// ``offThread(_:)`` for a wait that cannot fail.
public func offThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}

/// Waits until `fd` is ready for `events` (`POLLIN`, `POLLOUT`; an error or hang-up counts as
/// ready) or `timeout` has passed; returns whether it became ready. A descriptor that is ready
/// already (or a zero timeout) is answered at once; a wait is ``offThread(_:)``.
public func descriptorReady(_ fd: Int32, for events: Int32 = POLLIN, timeout: Duration) async -> Bool {
    let milliseconds = Int32(timeout.components.seconds * 1_000 + timeout.components.attoseconds / 1_000_000_000_000_000)
    let wait: @Sendable (Int32) -> Bool = { milliseconds in
        var descriptor = pollfd(fd: fd, events: Int16(events), revents: 0)
        while true {
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            return ready > 0
        }
    }
    let now = wait(0)
    if now || milliseconds <= 0 { return now }
    return await offThread { wait(milliseconds) }
}

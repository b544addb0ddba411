import NIOCore
import Synchronization

/// What the idle timer needs to know about a connection: how many calls are open (touched by the
/// connection's tasks) and when it was last active (touched by the event loop on every read).
/// Atomics, so neither side waits for the other.
final class ConnectionActivity: Sendable {
    private let openCalls = Atomic<Int>(0)
    private let lastActiveNanoseconds: Atomic<UInt64>

    init(now: NIODeadline = .now()) {
        lastActiveNanoseconds = Atomic(now.uptimeNanoseconds)
    }

    func touch(now: NIODeadline = .now()) {
        lastActiveNanoseconds.store(now.uptimeNanoseconds, ordering: .relaxed)
    }

    func callStarted(now: NIODeadline = .now()) {
        openCalls.add(1, ordering: .relaxed)
        touch(now: now)
    }

    /// The idle period starts again when the last call ends, not when it started.
    func callEnded(now: NIODeadline = .now()) {
        openCalls.subtract(1, ordering: .relaxed)
        touch(now: now)
    }

    /// A connection with an open call — a watch stream that is quiet for an hour included — is busy.
    var isBusy: Bool { openCalls.load(ordering: .relaxed) > 0 }

    func idleTime(now: NIODeadline = .now()) -> TimeAmount {
        let last = lastActiveNanoseconds.load(ordering: .relaxed)
        let current = now.uptimeNanoseconds
        return .nanoseconds(current > last ? Int64(current - last) : 0)
    }
}

import SubsidyStore
import Synchronization

/// Wakes watchers (WatchQuota, WatchEvents) after every ledger change.
final class LedgerEvents: Sendable {
    private let watchers = Mutex<[Int: AsyncStream<Void>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)
    /// ``SQLiteDatabase/commitsInProcess`` at the last signal.
    private let signalledAt = Mutex<Int?>(nil)
    /// How many write transactions have committed (``SQLiteDatabase/commitsInProcess``; a test
    /// counts its own database's).
    private let commits: @Sendable () -> Int

    init(commits: @escaping @Sendable () -> Int = { SQLiteDatabase.commitsInProcess }) {
        self.commits = commits
    }

    /// Called after each decision. Wakes the watchers only if something was committed since the
    /// last signal: a replay, answered from a request log, wrote nothing, and each city watcher
    /// would otherwise recompute its whole snapshot on the city's store permits for it — one
    /// district resending one request could keep them all busy.
    func changed() {
        let commits = self.commits()
        let fresh = signalledAt.withLock { last in
            defer { last = commits }
            return last != commits
        }
        guard fresh else { return }
        for watcher in watchers.withLock({ Array($0.values) }) { watcher.yield() }
    }

    /// A signal per change (coalesced while the watcher is busy).
    func subscribe() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        watchers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.watchers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }
}

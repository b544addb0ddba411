import Synchronization

/// Wakes watchers (WatchQuota, WatchEvents) after every ledger change.
final class LedgerEvents: Sendable {
    private let watchers = Mutex<[Int: AsyncStream<Void>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    func changed() {
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

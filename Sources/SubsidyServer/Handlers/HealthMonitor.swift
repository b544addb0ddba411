import SubsidyWire
import Synchronization

/// The daemon's serving status, with watchers told of every change.
public final class HealthMonitor: Sendable {
    private struct State {
        var status: Foshan_Subsidy_V1_ServingStatus = .serving
        var watchers: [Int: AsyncStream<Foshan_Subsidy_V1_ServingStatus>.Continuation] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    public init() {}

    public var status: Foshan_Subsidy_V1_ServingStatus { state.withLock { $0.status } }

    public func set(_ status: Foshan_Subsidy_V1_ServingStatus) {
        let watchers = state.withLock { state -> [AsyncStream<Foshan_Subsidy_V1_ServingStatus>.Continuation] in
            guard state.status != status else { return [] }
            state.status = status
            return Array(state.watchers.values)
        }
        for watcher in watchers { watcher.yield(status) }
    }

    /// The current status, then each change, until the caller stops iterating.
    public func updates() -> AsyncStream<Foshan_Subsidy_V1_ServingStatus> {
        let (stream, continuation) = AsyncStream<Foshan_Subsidy_V1_ServingStatus>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state -> Int in
            let id = state.nextID
            state.nextID += 1
            state.watchers[id] = continuation
            continuation.yield(state.status)
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        return stream
    }
}

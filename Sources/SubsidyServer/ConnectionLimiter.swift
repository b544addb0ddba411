import Synchronization

/// Counts open connections in total and per uid, so one bureau's runaway script cannot take every
/// descriptor the daemon has. Checked in the channel initializer, before the connection is served;
/// a lock held for a dictionary update, never across I/O, so it does not block an event loop.
final class ConnectionLimiter: Sendable {
    /// Why a connection was refused.
    enum Refusal: Sendable, Equatable, CustomStringConvertible {
        case total(limit: Int)
        case perUID(uid: UInt32, limit: Int)

        var description: String {
            switch self {
            case .total(let limit): "the daemon already has \(limit) connections open (max_connections)"
            case let .perUID(uid, limit): "uid \(uid) already has \(limit) connections open (max_connections_per_uid)"
            }
        }
    }

    private struct State {
        var total = 0
        var perUID: [UInt32: Int] = [:]
    }

    let maximumTotal: Int
    let maximumPerUID: Int
    private let state = Mutex(State())

    init(maximumTotal: Int, maximumPerUID: Int) {
        self.maximumTotal = maximumTotal
        self.maximumPerUID = maximumPerUID
    }

    /// Counts a new connection of `uid`, or says why it may not be opened. Every successful
    /// acquire must be paired with one ``release(uid:)``.
    func acquire(uid: UInt32) -> Refusal? {
        state.withLock { state in
            if state.total >= maximumTotal { return .total(limit: maximumTotal) }
            let mine = state.perUID[uid, default: 0]
            if mine >= maximumPerUID { return .perUID(uid: uid, limit: maximumPerUID) }
            state.total += 1
            state.perUID[uid] = mine + 1
            return nil
        }
    }

    func release(uid: UInt32) {
        state.withLock { state in
            state.total -= 1
            let remaining = state.perUID[uid, default: 1] - 1
            state.perUID[uid] = remaining > 0 ? remaining : nil
        }
    }

    /// Open connections in total (for logs and tests).
    var openConnections: Int { state.withLock { $0.total } }
}

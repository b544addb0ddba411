import Synchronization

/// Counts open connections in total, per uid and per tenant, so one bureau's runaway script — or
/// its many Unix accounts together — cannot take every descriptor the daemon has. Checked in the channel initializer, before the connection is served;
/// a lock held for a dictionary update, never across I/O, so it does not block an event loop.
final class ConnectionLimiter: Sendable {
    /// Why a connection was refused.
    enum Refusal: Sendable, Equatable, CustomStringConvertible {
        case total(limit: Int)
        case perUID(uid: UInt32, limit: Int)
        case perTenant(tenant: String, limit: Int)

        var description: String {
            switch self {
            case .total(let limit): "the daemon already has \(limit) connections open (max_connections)"
            case let .perUID(uid, limit): "uid \(uid) already has \(limit) connections open (max_connections_per_uid)"
            case let .perTenant(tenant, limit): "tenant \(tenant) already has \(limit) connections open (max_connections_per_tenant)"
            }
        }
    }

    private struct State {
        var total = 0
        var perUID: [UInt32: Int] = [:]
        var perTenant: [String: Int] = [:]
    }

    let maximumTotal: Int
    let maximumPerUID: Int
    let maximumPerTenant: Int
    private let state = Mutex(State())

    init(maximumTotal: Int, maximumPerUID: Int, maximumPerTenant: Int) {
        self.maximumTotal = maximumTotal
        self.maximumPerUID = maximumPerUID
        self.maximumPerTenant = maximumPerTenant
    }

    /// Counts a new connection of `uid` on `tenant`'s socket, or says why it may not be opened.
    /// Every successful acquire must be paired with one ``release(uid:tenant:)``.
    func acquire(uid: UInt32, tenant: String) -> Refusal? {
        state.withLock { state in
            if state.total >= maximumTotal { return .total(limit: maximumTotal) }
            let mine = state.perUID[uid, default: 0]
            if mine >= maximumPerUID { return .perUID(uid: uid, limit: maximumPerUID) }
            let tenants = state.perTenant[tenant, default: 0]
            if tenants >= maximumPerTenant { return .perTenant(tenant: tenant, limit: maximumPerTenant) }
            state.total += 1
            state.perUID[uid] = mine + 1
            state.perTenant[tenant] = tenants + 1
            return nil
        }
    }

    func release(uid: UInt32, tenant: String) {
        state.withLock { state in
            state.total -= 1
            let remaining = state.perUID[uid, default: 1] - 1
            state.perUID[uid] = remaining > 0 ? remaining : nil
            let left = state.perTenant[tenant, default: 1] - 1
            state.perTenant[tenant] = left > 0 ? left : nil
        }
    }

    /// Open connections in total (for logs and tests).
    var openConnections: Int { state.withLock { $0.total } }
}

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
        // The maxima live beside the counts so a SIGHUP reload changes them atomically with respect
        // to every acquire; connections already open above a lowered maximum stay open.
        var maximumTotal: Int
        var maximumPerUID: Int
        var maximumPerTenant: Int
    }

    private let state: Mutex<State>

    init(maximumTotal: Int, maximumPerUID: Int, maximumPerTenant: Int) {
        state = Mutex(State(maximumTotal: maximumTotal, maximumPerUID: maximumPerUID, maximumPerTenant: maximumPerTenant))
    }

    /// Applies reloaded maxima to the next acquire.
    func setMaxima(total: Int, perUID: Int, perTenant: Int) {
        state.withLock { state in
            state.maximumTotal = total
            state.maximumPerUID = perUID
            state.maximumPerTenant = perTenant
        }
    }

    /// Counts a new connection of `uid` on `tenant`'s socket, or says why it may not be opened.
    /// Every successful acquire must be paired with one ``release(uid:tenant:)``.
    func acquire(uid: UInt32, tenant: String) -> Refusal? {
        state.withLock { state in
            if state.total >= state.maximumTotal { return .total(limit: state.maximumTotal) }
            let mine = state.perUID[uid, default: 0]
            if mine >= state.maximumPerUID { return .perUID(uid: uid, limit: state.maximumPerUID) }
            let tenants = state.perTenant[tenant, default: 0]
            if tenants >= state.maximumPerTenant { return .perTenant(tenant: tenant, limit: state.maximumPerTenant) }
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

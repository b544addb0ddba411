import Synchronization

/// The method router the daemon serves from, replaceable as a whole by a SIGHUP reload.
///
/// A reload builds a complete new router (every service bound to the new policy) and swaps it in
/// under one lock: a call looks its handler up once, so it runs entirely against the old policy or
/// entirely against the new one, never a mixture.
public final class RouteTable: Sendable {
    private let current: Mutex<MethodRouter>

    /// A table serving `router` until ``replace(with:)``.
    public init(_ router: MethodRouter) {
        current = Mutex(router)
    }

    /// The handler registered for `method` in the router in force now.
    func route(_ method: String) -> MethodRouter.Route? {
        current.withLock { $0.route(method) }
    }

    /// Serves `router` from the next call on; calls already running finish with the old one.
    public func replace(with router: MethodRouter) {
        current.withLock { $0 = router }
    }
}

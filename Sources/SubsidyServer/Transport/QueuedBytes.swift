import Synchronization

/// What one connection holds in the daemon's memory: the request payloads of its open calls and
/// its replies that the socket has not taken yet (the client is slow to read, or never reads).
///
/// Two gates follow from it. The read loop stops reading the connection (so the kernel and the
/// client feel the backpressure) while the total is at or above the limit; and a call waits
/// before starting store work while the replies alone are — so a client that never reads cannot
/// make the daemon build more replies for it.
final class QueuedBytes: Sendable {
    private struct RoomWaiter {
        let id: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var requests = 0
        var replies = 0
        var reader: CheckedContinuation<Void, Never>?
        var roomWaiters: [RoomWaiter] = []
        var nextID: UInt64 = 0
        /// The peer has gone: no reply will be read, so no more store work is started for it.
        var abandoned = false
    }

    /// `max_queued_bytes_per_connection`.
    let limit: Int
    /// The bytes of all the tenant's connections, against `max_queued_bytes_per_tenant`.
    let tenant: TenantQueue?
    private let state = Mutex(State())

    init(limit: Int, tenant: TenantQueue? = nil) {
        self.limit = limit
        self.tenant = tenant
    }

    /// Bytes held now (for logs and the read loop's decision).
    var total: Int { state.withLock { $0.requests + $0.replies } }

    /// Whether the peer has gone (``abandon()``).
    var isAbandoned: Bool { state.withLock { $0.abandoned } }

    /// Whether the unwritten replies are under the limit.
    var hasReplyRoom: Bool { state.withLock { $0.replies < limit } }

    func addRequest(_ bytes: Int) {
        state.withLock { $0.requests += bytes }
        tenant?.add(bytes)
    }
    func removeRequest(_ bytes: Int) {
        tenant?.remove(bytes)
        release { $0.requests -= bytes }
    }
    func addReply(_ bytes: Int) {
        state.withLock { $0.replies += bytes }
        tenant?.addReply(bytes)
    }
    func removeReply(_ bytes: Int) {
        tenant?.removeReply(bytes)
        release { $0.replies -= bytes }
    }

    /// Returns at once while under the limit; otherwise when enough has been written or ended.
    /// Only the connection's read loop waits here, so there is at most one such waiter.
    func waitUntilBelowLimit() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.requests + state.replies < limit { return true }
                state.reader = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Returns once the connection's unwritten replies are under the limit; throws if the call
    /// is cancelled while it waits. (Draining does not end the wait: an admitted call finishes.)
    func waitForReplyRoom() async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready = state.withLock { state -> Bool? in
                    if Task.isCancelled || state.abandoned { return false }
                    if state.replies < limit { return true }
                    state.roomWaiters.append(RoomWaiter(id: id, continuation: continuation))
                    return nil
                }
                switch ready {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> RoomWaiter? in
                guard let index = state.roomWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.roomWaiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// The connection's peer has gone (or the connection is being closed): calls still waiting
    /// for reply room end now, and later ones do not wait. Work that never started is not torn;
    /// the client, if it comes back, retries with its request ids.
    func abandon() {
        let waiters = state.withLock { state -> [RoomWaiter] in
            state.abandoned = true
            defer { state.roomWaiters = [] }
            return state.roomWaiters
        }
        for waiter in waiters { waiter.continuation.resume(throwing: CancellationError()) }
        tenant?.abandon(connection: ObjectIdentifier(self))
    }

    private func release(_ change: (inout State) -> Void) {
        let (reader, waiters) = state.withLock { state -> (CheckedContinuation<Void, Never>?, [RoomWaiter]) in
            change(&state)
            var reader: CheckedContinuation<Void, Never>?
            if state.requests + state.replies < limit {
                reader = state.reader
                state.reader = nil
            }
            var waiters: [RoomWaiter] = []
            if state.replies < limit {
                waiters = state.roomWaiters
                state.roomWaiters = []
            }
            return (reader, waiters)
        }
        reader?.resume()
        for waiter in waiters { waiter.continuation.resume() }
    }
}

/// What all of one tenant's connections hold in the daemon (requests of open calls, replies not
/// yet written), so many connections of one bureau cannot together take the memory a per-connection
/// limit allows each: past `max_queued_bytes_per_tenant` every connection of the tenant stops
/// reading until the total falls. Only that tenant waits; the others are not affected.
///
/// Frames still arriving (``ArrivingFrames``) count against the same limit, separately: they
/// stop new frames from being read (``hasRoomForArrivals``), but not the calls already read,
/// whose progress is what frees the room.
///
/// Stopping reads alone does not bound the replies: calls read before the limit was reached
/// would each still build one. Store work therefore also waits while the tenant's unwritten
/// replies are at the limit (``hasReplyRoom``, ``BlockingWorkAdmission``): 128 connections of one
/// district, each with eight list calls read before any reply, built a gigabyte of replies
/// that way against a 64 MiB limit.
final class TenantQueue: Sendable {
    /// A call waiting for the tenant's reply room, and the connection it belongs to.
    private struct RoomWaiter {
        let id: UInt64
        let connection: ObjectIdentifier
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct Bytes {
        var held = 0
        var replies = 0
        var arriving = 0
        var roomWaiters: [RoomWaiter] = []
        var nextID: UInt64 = 0
    }

    /// `max_queued_bytes_per_tenant`.
    let limit: Int
    private let bytes = Mutex(Bytes())

    init(limit: Int) {
        self.limit = limit
    }

    /// Returns once the tenant's unwritten replies are under the limit (woken as they fall, not
    /// polled: thousands of calls may wait); throws if the call is cancelled, or its connection
    /// (`connection`) is abandoned, meanwhile. `isAbandoned` is read under the tenant's lock, so
    /// an abandonment cannot fall between it and the wait (``abandon(connection:)`` runs after
    /// the connection is marked).
    func waitForReplyRoom(connection: ObjectIdentifier, isAbandoned: @escaping @Sendable () -> Bool) async throws {
        let id = bytes.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready = bytes.withLock { state -> Bool? in
                    if Task.isCancelled || isAbandoned() { return false }
                    if state.replies < limit { return true }
                    state.roomWaiters.append(RoomWaiter(id: id, connection: connection, continuation: continuation))
                    return nil
                }
                switch ready {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let waiter = bytes.withLock { state -> RoomWaiter? in
                guard let index = state.roomWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.roomWaiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Ends the waits of `connection`'s calls: its peer has gone.
    func abandon(connection: ObjectIdentifier) {
        let waiters = bytes.withLock { state -> [RoomWaiter] in
            let leaving = state.roomWaiters.filter { $0.connection == connection }
            state.roomWaiters.removeAll { $0.connection == connection }
            return leaving
        }
        for waiter in waiters { waiter.continuation.resume(throwing: CancellationError()) }
    }

    /// Bytes of open calls and unwritten replies.
    var total: Int { bytes.withLock { $0.held } }
    var isOverLimit: Bool { total >= limit }
    /// Whether the tenant's unwritten replies are under the limit (store work may start).
    var hasReplyRoom: Bool { bytes.withLock { $0.replies < limit } }
    /// Bytes of frames being received or received and not yet taken in by their connection.
    var arriving: Int { bytes.withLock { $0.arriving } }
    /// Whether another frame may start to be read.
    var hasRoomForArrivals: Bool { bytes.withLock { $0.held + $0.arriving < limit } }

    func add(_ count: Int) { bytes.withLock { $0.held += count } }
    func remove(_ count: Int) { bytes.withLock { $0.held -= count } }
    func addReply(_ count: Int) {
        bytes.withLock {
            $0.held += count
            $0.replies += count
        }
    }
    func removeReply(_ count: Int) {
        let waiters = bytes.withLock { state -> [RoomWaiter] in
            state.held -= count
            state.replies -= count
            guard state.replies < limit else { return [] }
            defer { state.roomWaiters = [] }
            return state.roomWaiters
        }
        for waiter in waiters { waiter.continuation.resume() }
    }
    func addArriving(_ count: Int) { bytes.withLock { $0.arriving += count } }
    func removeArriving(_ count: Int) { bytes.withLock { $0.arriving -= count } }
}

import NIOCore
import SubsidyWire
import Synchronization

/// The bytes of one connection's frames from the moment their length is known until the
/// connection takes each one in (its reading task, or the event loop for an inline call), counted
/// against the tenant's `max_queued_bytes_per_tenant` beside its open calls and replies.
///
/// Why: a frame is held in the decoder's buffer while it arrives, and decoded frames wait in the
/// channel's buffer for the reading task; neither was counted. One district holding its 192
/// connections each inside a 4 MiB frame raised the daemon's RSS by 800 MB.
final class ArrivingFrames: Sendable {
    private let tenant: TenantQueue?
    /// Bytes counted for this connection, and whether it has closed (nothing more is counted).
    private let state = Mutex((counted: 0, closed: false))

    init(tenant: TenantQueue?) {
        self.tenant = tenant
    }

    /// Whether the tenant has room for another frame to start arriving.
    var hasRoom: Bool { tenant?.hasRoomForArrivals ?? true }

    /// Bytes counted for this connection now.
    var counted: Int { state.withLock { $0.counted } }

    /// Counts a frame of `bytes` (its body) that has begun to arrive.
    func arrived(_ bytes: Int) {
        let add = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.counted += bytes
            return true
        }
        if add { tenant?.addArriving(bytes) }
    }

    /// The connection has taken in a frame of `bytes`: from now on its call counts it.
    func taken(_ bytes: Int) {
        let removed = state.withLock { state -> Int in
            let removed = min(bytes, state.counted)
            state.counted -= removed
            return removed
        }
        if removed > 0 { tenant?.removeArriving(removed) }
    }

    /// The connection has closed: whatever it still counts is freed, and nothing more is counted.
    func close() {
        let removed = state.withLock { state -> Int in
            state.closed = true
            defer { state.counted = 0 }
            return state.counted
        }
        if removed > 0 { tenant?.removeArriving(removed) }
    }
}

/// On the connection's event loop, between the socket and the frame decoder's owner: counts each
/// frame in ``ArrivingFrames`` once its length is known, and stops reading the connection while
/// the next frame does not fit the tenant's room. A frame already counted is read to its end (so
/// the frames a tenant's calls are waiting for always complete and free the room); only the
/// start of a new one waits, checked every ``retryInterval``. A peer that stalls inside a frame
/// meets the frame deadline, which closes the connection and frees what it counted; the time a
/// frame waits here does not count against it (``ConnectionTimeoutHandler``).
final class ArrivalGate: ChannelOutboundHandler, FrameArrivals {
    typealias OutboundIn = ByteBuffer

    static let retryInterval = TimeAmount.milliseconds(20)
    /// Frames up to this size are let in without room: no larger than one read, and decoded
    /// frames wait in the channel's buffer only up to its watermark — so a CANCEL, which may be
    /// what frees the room, never waits for it.
    static let smallFrame = 64 * 1_024

    let frames: ArrivingFrames
    /// Whether the frame at the head of the stream has been counted.
    private var counted = false
    /// The frame at the head of the stream, waiting for room (its body's length).
    private var waiting: Int?
    /// A read the pipeline asked for while waiting.
    private var readHeld = false
    private var retry: Scheduled<Void>?
    /// When a frame that waited for room was last let in: the frame deadline runs from then.
    private(set) var lastLetIn: NIODeadline?

    /// Whether a frame is held back for want of room: time the peer is not to blame for.
    var isHolding: Bool { waiting != nil }

    init(frames: ArrivingFrames) {
        self.frames = frames
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        retry?.cancel()
        retry = nil
    }

    func admit(frameOf length: Int, complete: Bool) -> Bool {
        if counted { return true }
        // A whole frame is in memory already: counted, and the room it takes stops the next one.
        guard complete || length <= Self.smallFrame || frames.hasRoom else {
            waiting = length
            return false
        }
        letIn(length)
        return true
    }

    /// Counts the frame at the head of the stream: from now on it is read to its end.
    private func letIn(_ length: Int) {
        frames.arrived(length)
        counted = true
        waiting = nil
    }

    func decoded() {
        counted = false
    }

    func read(context: ChannelHandlerContext) {
        guard isHolding else { return context.read() }
        readHeld = true
        scheduleRetry(context: context)
    }

    private func scheduleRetry(context: ChannelHandlerContext) {
        guard retry == nil else { return }
        retry = context.eventLoop.assumeIsolated().scheduleTask(in: Self.retryInterval) { [self] in
            retry = nil
            guard let waiting, context.channel.isActive else { return }
            guard frames.hasRoom else { return scheduleRetry(context: context) }
            letIn(waiting)
            lastLetIn = context.eventLoop.now
            if readHeld {
                readHeld = false
                context.read()
            }
        }
    }
}

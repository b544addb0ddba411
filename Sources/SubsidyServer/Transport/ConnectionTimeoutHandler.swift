import Logging
import NIOCore
import SubsidyCore
import SubsidyWire

/// First handler of every admitted connection: enforces the frame deadline (slow-loris), the
/// idle timeout and the write stall with timers on the connection's own event loop, so nothing
/// waits or blocks.
///
/// It follows frame boundaries by reading only the 4-byte length headers as bytes pass through
/// (it copies and buffers nothing; the frame decoder behind it does the real work). When a frame's
/// first byte arrives its start is noted; a frame still incomplete when a read has been tracked
/// gets a deadline timer from that start, cancelled when its last byte arrives (a frame that
/// arrives within one read — nearly every one — never costs a timer). If it fires, or the
/// connection has been idle too long, the peer is sent END on call 0 saying why and the
/// connection is closed.
///
/// A connection whose client stops reading its replies stops being writable once they fill the
/// socket and the channel's buffer. Backpressure then holds its calls — and their bytes, out of
/// its tenant's budget — for as long as the client stays stuck, which stalls every other
/// connection of the tenant once the budget is spent. Unwritable for the whole write stall with
/// not one byte of the channel's buffer taken by the socket meanwhile, it is closed (what is
/// still buffered, the END saying why included, is dropped; the reason is logged), and what it
/// held is freed. A client that reads slowly takes some bytes each period and is kept.
final class ConnectionTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let frameDeadline: TimeAmount
    private let idleTimeout: TimeAmount
    private let writeStall: TimeAmount
    private let activity: ConnectionActivity
    private let logger: Logger

    /// Header bytes of the current frame seen so far (0 at a frame boundary or inside a body).
    private var headerBytes = 0
    private var header: UInt32 = 0
    private var bodyRemaining = 0
    /// When the frame in progress began to arrive (nil between frames).
    private var frameStart: NIODeadline?
    private var frameTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    /// Set while the channel is unwritable: fires when it has been so for the whole write stall.
    private var stallTimer: Scheduled<Void>?
    /// The bytes the channel held for the socket when the current stall period began.
    private var stallBaseline: Int?
    private var closing = false

    /// The connection's arrival gate, if any: while it holds a frame back, the daemon is not
    /// reading it, and the frame's deadline waits too.
    private let gate: ArrivalGate?
    /// Lines the tenant's connections closed for time may add to the log (``LogBudget``).
    private let logBudget: LogBudget
    private let tenant: String

    init(
        frameDeadline: TimeAmount, idleTimeout: TimeAmount, writeStall: TimeAmount = .seconds(60), activity: ConnectionActivity,
        gate: ArrivalGate? = nil, logger: Logger, logBudget: LogBudget = LogBudget(), tenant: String = ""
    ) {
        self.gate = gate
        self.logBudget = logBudget
        self.tenant = tenant
        self.frameDeadline = frameDeadline
        self.idleTimeout = idleTimeout
        self.writeStall = writeStall
        self.activity = activity
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { scheduleIdleCheck(context: context, after: idleTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if idleTimer == nil { scheduleIdleCheck(context: context, after: idleTimeout) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stallTimer?.cancel()
            stallTimer = nil
        } else if stallTimer == nil && !closing {
            scheduleStallCheck(context: context, buffered: nil)
            // NIO reports unwritable inside write(), before the flush that follows moves what it
            // can to the socket: measured now, that move would count as the client reading, and
            // a client that takes nothing more would be closed a whole period late. The baseline
            // is read once this turn of the loop (and its flush) is done.
            context.eventLoop.assumeIsolated().execute { [self] in
                if stallTimer != nil { stallBaseline = Self.buffered(context) }
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Bytes the channel holds for the socket; nil if the channel cannot say. While the channel is
    /// unwritable nothing is added to them, so any fall is the client reading.
    private static func buffered(_ context: ChannelHandlerContext) -> Int? {
        try? context.channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)
    }

    /// `before`: the buffered bytes at the period's start (nil: read by the turn that scheduled
    /// it, into ``stallBaseline``).
    private func scheduleStallCheck(context: ChannelHandlerContext, buffered before: Int?) {
        let stall = writeStall
        stallBaseline = before
        stallTimer = context.eventLoop.assumeIsolated().scheduleTask(in: stall) { [self] in
            stallTimer = nil
            guard !context.channel.isWritable else { return }
            let now = Self.buffered(context)
            if let before = stallBaseline, let now, now < before {
                // Slow, not stuck: the next period must show progress too.
                return scheduleStallCheck(context: context, buffered: now)
            }
            close(
                context: context, code: .unavailable,
                because: "its client has taken none of its replies for \(stall.nanoseconds / 1_000_000) ms (write_stall_timeout_ms)")
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        // The loop's clock, the one the timers run on (an EmbeddedEventLoop's in tests).
        activity.touch(now: context.eventLoop.now)
        track(buffer.readableBytesView, context: context)
        context.fireChannelRead(data)
    }

    private func track(_ bytes: ByteBufferView, context: ChannelHandlerContext) {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bodyRemaining > 0 {
                let taken = min(bodyRemaining, bytes.endIndex - index)
                bodyRemaining -= taken
                index += taken
                if bodyRemaining == 0 { frameCompleted() }
                continue
            }
            if headerBytes == 0 && frameStart == nil { frameStart = context.eventLoop.now }
            header = header << 8 | UInt32(bytes[index])
            headerBytes += 1
            index += 1
            if headerBytes == 4 {
                bodyRemaining = Int(header)
                headerBytes = 0
                header = 0
                if bodyRemaining == 0 { frameCompleted() }
            }
        }
        if let frameStart, frameTimer == nil { scheduleFrameDeadline(from: frameStart, context: context) }
    }

    private func scheduleFrameDeadline(from start: NIODeadline, context: ChannelHandlerContext) {
        let deadline = frameDeadline
        frameTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: start + deadline) { [self] in
            frameTimer = nil
            // Held back for the tenant's room, the frame is the daemon's wait, not the peer's:
            // its deadline runs from when it is let in.
            if let gate {
                let now = context.eventLoop.now
                if gate.isHolding { return scheduleFrameDeadline(from: now, context: context) }
                if let letIn = gate.lastLetIn, letIn > start, letIn + deadline > now {
                    return scheduleFrameDeadline(from: letIn, context: context)
                }
            }
            close(
                context: context, code: .deadlineExceeded,
                because: "a frame started \(deadline.nanoseconds / 1_000_000) ms ago has not arrived in full (frame_deadline_ms)"
            )
        }
    }

    private func frameCompleted() {
        frameTimer?.cancel()
        frameTimer = nil
        frameStart = nil
    }

    private func scheduleIdleCheck(context: ChannelHandlerContext, after delay: TimeAmount) {
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            idleTimer = nil
            // A connection in the middle of a frame is the frame deadline's business.
            if activity.isBusy || frameTimer != nil || headerBytes > 0 || bodyRemaining > 0 {
                return scheduleIdleCheck(context: context, after: idleTimeout)
            }
            let idle = activity.idleTime(now: context.eventLoop.now)
            if idle >= idleTimeout {
                close(
                    context: context, code: .unavailable,
                    because: "idle for \(idle.nanoseconds / 1_000_000) ms with no call open (idle_timeout_ms)"
                )
            } else {
                scheduleIdleCheck(context: context, after: idleTimeout - idle)
            }
        }
    }

    private func cancelTimers() {
        frameTimer?.cancel()
        frameTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
        stallTimer?.cancel()
        stallTimer = nil
    }

    private func close(context: ChannelHandlerContext, code: SubsidyError.Code, because reason: String) {
        guard !closing else { return }
        closing = true
        cancelTimers()
        if let note = logBudget.admit(.timeout, tenant: tenant) { logger.notice("closing connection: \(reason)\(note)") }
        var frame = Foshan_Subsidy_V1_Frame()
        frame.callId = 0
        frame.kind = .end
        frame.status = Foshan_Subsidy_V1_Status(SubsidyError(code, "closing connection: \(reason)"))
        var buffer = context.channel.allocator.buffer(capacity: 128)
        frame.write(to: &buffer)
        // Written from here, in front of the decoder, it goes straight to the socket; a peer that
        // reads nothing only loses the explanation, not the close.
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        context.close(promise: nil)
    }
}

extension ConnectionTimeoutHandler {
    typealias OutboundOut = ByteBuffer
}

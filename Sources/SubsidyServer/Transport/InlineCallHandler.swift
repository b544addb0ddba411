import NIOCore
import Synchronization

/// Answers, on the connection's event loop, the calls whose routes have inline handlers
/// (Health.Check, WhoAmI): read, admitted, answered and written without leaving the thread that
/// read them — no task, and no hop to another thread and back.
///
/// Everything else passes through to the connection's reading task, and so does an inline call
/// while the connection is not yet attached (its task is starting), while the channel takes no
/// more writes (the task's writer is where a client that does not read is held back), or while
/// frames passed on earlier are still waiting for the task: a call is checked against the
/// connection's open calls (a reused call id) only after every frame sent before it.
final class InlineCallHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Frames passed on to the reading task that it has not finished taking in yet.
    final class Backlog: Sendable {
        private let count = Atomic<Int>(0)

        var isEmpty: Bool { count.load(ordering: .acquiring) == 0 }
        func passedOn() { count.add(1, ordering: .releasing) }
        /// The reading task has admitted (or refused) a frame it was passed.
        func takenIn() { count.subtract(1, ordering: .releasing) }
    }

    let backlog = Backlog()
    private let connection = Mutex<Connection?>(nil)
    /// The connection's frames until taken in: a frame answered here is taken in here.
    private let arriving: ArrivingFrames

    init(arriving: ArrivingFrames = ArrivingFrames(tenant: nil)) {
        self.arriving = arriving
    }

    /// From now on, inline calls are answered here for `connection`.
    func attach(_ connection: Connection) {
        self.connection.withLock { $0 = connection }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard backlog.isEmpty, context.channel.isWritable, let connection = connection.withLock({ $0 }),
            let answer = connection.answerInline(unwrapInboundIn(data), allocator: context.channel.allocator)
        else {
            backlog.passedOn()
            context.fireChannelRead(data)
            return
        }
        arriving.taken(unwrapInboundIn(data).readableBytes)
        context.writeAndFlush(wrapOutboundOut(answer.reply), promise: nil)
        if answer.close { context.close(promise: nil) }
    }
}

import NIOCore
import SubsidyCore
import SubsidyWire

/// Installed alone on a connection refused at accept for a limit: tells the peer why with END on
/// call 0, reads nothing, and closes.
final class ConnectionRefusalHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let status: Foshan_Subsidy_V1_Status
    private var sent = false

    init(status: Foshan_Subsidy_V1_Status) {
        self.status = status
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Discarded: nothing a refused peer sends is parsed.
    }

    private func refuse(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        var frame = Foshan_Subsidy_V1_Frame()
        frame.callId = 0
        frame.kind = .end
        frame.status = status
        var buffer = context.channel.allocator.buffer(capacity: 128)
        frame.write(to: &buffer)
        // The flush writes to the socket at once (a few bytes fit any socket buffer); then close.
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        context.close(promise: nil)
    }
}

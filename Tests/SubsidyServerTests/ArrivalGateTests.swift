import Logging
import NIOCore
import NIOEmbedded
import SubsidyWire
import Testing

@testable import SubsidyServer

/// Frames counted against their tenant from their header until their connection takes them in,
/// and reading held while the next frame has no room — on embedded channels, with the daemon's
/// own handlers (the frame deadline, `ArrivalGate` and the frame decoder behind them).
@Suite("ArrivalGate")
struct ArrivalGateTests {
    /// Counts the reads that get past the gate to the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    static let kib = 1_024
    static let deadline = TimeAmount.seconds(10)

    /// One connection of `tenant`: the socket end, the frame deadline, the gate, the decoder.
    struct Arrival {
        let connection: EmbeddedConnection
        let frames: ArrivingFrames
        let socket = ReadCounter()

        init(_ tenant: TenantQueue, loop: EmbeddedEventLoop) throws {
            frames = ArrivingFrames(tenant: tenant)
            let gate = ArrivalGate(frames: frames)
            connection = try EmbeddedConnection(socket, loop: loop)
            let handlers: [any ChannelHandler] = [
                ConnectionTimeoutHandler(
                    frameDeadline: ArrivalGateTests.deadline, idleTimeout: .hours(1), activity: ConnectionActivity(now: loop.now), gate: gate,
                    logger: Logger(label: "test")),
                gate, ByteToMessageHandler(FrameDecoder(maximumFrameLength: 4 * 1_024 * 1_024, arrivals: gate)),
            ]
            for handler in handlers { try connection.channel.pipeline.syncOperations.addHandler(handler) }
        }

        /// Asks for a read; whether it reached the socket.
        func read() -> Bool {
            let before = socket.reads
            connection.channel.read()
            return socket.reads > before
        }

        /// The frame bodies decoded so far (their lengths), taken in as the connection's reading
        /// task would.
        func take() throws -> [Int] {
            var lengths: [Int] = []
            while let body = try connection.channel.readInbound(as: ByteBuffer.self) {
                frames.taken(body.readableBytes)
                lengths.append(body.readableBytes)
            }
            return lengths
        }

        func send(header length: Int, body: Int) throws {
            try connection.send([UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + Self.bytes(body))
        }

        func send(body: Int) throws { try connection.send(Self.bytes(body)) }

        static func bytes(_ count: Int) -> [UInt8] { [UInt8](repeating: 1, count: count) }
    }

    @Test("a frame counts from its header until taken in; the next one waits for room, then is let in")
    func countedUntilTaken() throws {
        let (kib, loop) = (Self.kib, EmbeddedConnection.syncedLoop())
        let tenant = TenantQueue(limit: 1_000 * kib)
        let (a, b, c) = (try Arrival(tenant, loop: loop), try Arrival(tenant, loop: loop), try Arrival(tenant, loop: loop))
        try a.send(header: 800 * kib, body: 10)
        #expect(tenant.arriving == 800 * kib && a.read())
        try b.send(header: 500 * kib, body: 1)
        #expect(tenant.arriving == 1_300 * kib, "room was left: counted, and over the bound now")
        #expect(b.read(), "a frame already counted is read to its end")
        try c.send(header: 100 * kib, body: 1)
        #expect(tenant.arriving == 1_300 * kib && !c.read(), "no room: the frame waits and its connection is not read")
        loop.advanceTime(by: ArrivalGate.retryInterval)
        #expect(tenant.arriving == 1_300 * kib && c.socket.reads == 0)

        // A's frame arrives whole; still counted until its connection takes it in.
        try a.send(body: 800 * kib - 10)
        #expect(tenant.arriving == 1_300 * kib)
        #expect(try a.take() == [800 * kib])
        #expect(tenant.arriving == 500 * kib && a.frames.counted == 0)
        // Room again: the waiting frame is counted and its held read goes to the socket.
        loop.advanceTime(by: ArrivalGate.retryInterval)
        #expect(tenant.arriving == 600 * kib && c.socket.reads == 1)
        try c.send(body: 100 * kib - 1)
        #expect(try c.take() == [100 * kib] && tenant.arriving == 500 * kib)

        // A connection that closes frees what it counted; nothing it decodes later is counted.
        try b.connection.channel.close().wait()
        b.frames.close()
        #expect(tenant.arriving == 0)
        b.frames.arrived(40)
        b.frames.taken(40)
        #expect(tenant.arriving == 0)
    }

    @Test("a frame that arrives whole, or a small one, is let in without room, and counts")
    func wholeOrSmallLetIn() throws {
        let (kib, loop) = (Self.kib, EmbeddedConnection.syncedLoop())
        let tenant = TenantQueue(limit: 100 * kib)
        tenant.add(100 * kib)
        let a = try Arrival(tenant, loop: loop)
        try a.send(header: 200 * kib, body: 200 * kib)
        try a.send(header: ArrivalGate.smallFrame, body: 1)
        #expect(tenant.arriving == 200 * kib + ArrivalGate.smallFrame && a.read(), "a small frame is never held (a CANCEL may free the room)")
        try a.send(body: ArrivalGate.smallFrame - 1)
        try a.send(header: ArrivalGate.smallFrame + 1, body: 1)
        #expect(!a.read(), "a larger one waits")
        #expect(try a.take() == [200 * kib, ArrivalGate.smallFrame])
        tenant.remove(100 * kib)
        loop.advanceTime(by: ArrivalGate.retryInterval)
        #expect(tenant.arriving == ArrivalGate.smallFrame + 1 && a.socket.reads == 2)
    }

    @Test("the frame deadline does not run while the daemon holds a frame back, and runs again once it is let in")
    func deadlineWaitsWhileHeld() throws {
        let (kib, loop) = (Self.kib, EmbeddedConnection.syncedLoop())
        let tenant = TenantQueue(limit: 100 * kib)
        tenant.add(100 * kib)
        let a = try Arrival(tenant, loop: loop)
        try a.send(header: 200 * kib, body: 1)
        #expect(!a.read())
        loop.advanceTime(by: Self.deadline * 3)
        #expect(a.connection.channel.isActive, "closed for the daemon's own wait")
        tenant.remove(100 * kib)
        loop.advanceTime(by: ArrivalGate.retryInterval)
        #expect(a.socket.reads == 1)
        loop.advanceTime(by: Self.deadline - .seconds(1))
        #expect(a.connection.channel.isActive)
        // The peer now stalls: its deadline, counted from when the frame was let in, closes it.
        loop.advanceTime(by: .seconds(2))
        #expect(!a.connection.channel.isActive)
    }
}

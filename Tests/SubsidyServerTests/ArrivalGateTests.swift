import NIOCore
import NIOEmbedded
import SubsidyWire
import Testing

@testable import SubsidyServer

/// Frames counted against their tenant from their header until their connection takes them in,
/// and reading held while the next frame has no room — on embedded channels, with the daemon's
/// own handlers (`ArrivalGate` and the frame decoder behind it).
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

    /// One connection of `tenant`: the socket end, the gate, the decoder.
    struct Arrival {
        let connection: EmbeddedConnection
        let frames: ArrivingFrames
        let socket = ReadCounter()

        init(_ tenant: TenantQueue, loop: EmbeddedEventLoop) throws {
            frames = ArrivingFrames(tenant: tenant)
            let gate = ArrivalGate(frames: frames)
            connection = try EmbeddedConnection(socket, loop: loop)
            try connection.channel.pipeline.syncOperations.addHandler(gate)
            try connection.channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maximumFrameLength: 1_000, arrivals: gate)))
        }

        /// Asks for a read; whether it reached the socket.
        func read() -> Bool {
            let before = socket.reads
            connection.channel.read()
            return socket.reads > before
        }

        /// The frame bodies decoded so far, taken in (as the connection's reading task would).
        func take() throws -> [Int] {
            var lengths: [Int] = []
            while let body = try connection.channel.readInbound(as: ByteBuffer.self) {
                frames.taken(body.readableBytes)
                lengths.append(body.readableBytes)
            }
            return lengths
        }
    }

    static func header(_ length: Int) -> [UInt8] { [0, 0, UInt8(length >> 8), UInt8(length & 0xff)] }

    @Test("a frame counts from its header until taken in; the next one waits for room, then is let in")
    func countedUntilTaken() throws {
        let loop = EmbeddedConnection.syncedLoop()
        let tenant = TenantQueue(limit: 100)
        let (a, b, c) = (try Arrival(tenant, loop: loop), try Arrival(tenant, loop: loop), try Arrival(tenant, loop: loop))
        try a.connection.send(Self.header(80) + [UInt8](repeating: 1, count: 10))
        #expect(tenant.arriving == 80 && a.read())
        try b.connection.send(Self.header(50) + [1])
        #expect(tenant.arriving == 130, "room was left (80 < 100): counted, and over the bound now")
        #expect(b.read(), "a frame already counted is read to its end")
        try c.connection.send(Self.header(10) + [1])
        #expect(tenant.arriving == 130 && !c.read(), "no room: the frame waits and its connection is not read")
        c.connection.advance(by: ArrivalGate.retryInterval)
        #expect(tenant.arriving == 130 && c.socket.reads == 0)

        // A's frame arrives whole; still counted until its connection takes it in.
        try a.connection.send([UInt8](repeating: 1, count: 70))
        #expect(tenant.arriving == 130)
        #expect(try a.take() == [80])
        #expect(tenant.arriving == 50 && a.frames.counted == 0)
        // Room again: the waiting frame is counted and its held read goes to the socket.
        c.connection.advance(by: ArrivalGate.retryInterval)
        #expect(tenant.arriving == 60 && c.socket.reads == 1)
        try c.connection.send([UInt8](repeating: 1, count: 9))
        #expect(try c.take() == [10] && tenant.arriving == 50)

        // A connection that closes frees what it counted; nothing it decodes later is counted.
        try b.connection.channel.close().wait()
        b.frames.close()
        #expect(tenant.arriving == 0)
        b.frames.arrived(40)
        b.frames.taken(40)
        #expect(tenant.arriving == 0)
    }

    @Test("a frame that arrives whole is let in without room (its bytes are held already), and counts")
    func wholeFrameLetIn() throws {
        let loop = EmbeddedConnection.syncedLoop()
        let tenant = TenantQueue(limit: 10)
        tenant.add(10)
        let a = try Arrival(tenant, loop: loop)
        try a.connection.send(Self.header(20) + [UInt8](repeating: 2, count: 20) + Self.header(5) + [2, 2])
        #expect(tenant.arriving == 20, "the whole frame counted, the partial one waits")
        #expect(!a.read())
        #expect(try a.take() == [20])
        tenant.remove(10)
        a.connection.advance(by: ArrivalGate.retryInterval)
        #expect(tenant.arriving == 5 && a.socket.reads == 1)
    }
}

import Logging
import NIOCore
import NIOEmbedded
import SubsidyWire
import Testing

/// A connection as the daemon's channel initializer leaves it, on an `EmbeddedChannel` whose
/// clock only moves when a test calls `advance(by:)`.
struct EmbeddedConnection {
    let loop: EmbeddedEventLoop
    let channel: EmbeddedChannel

    /// A fresh loop's clock starts at the real uptime (``syncedLoop()``); pass `loop` when the
    /// test made something from its clock before the handler.
    init(_ handler: any ChannelHandler, loop: EmbeddedEventLoop = EmbeddedConnection.syncedLoop(), active: Bool = true) throws {
        self.loop = loop
        channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(handler)
        if active { try activate() }
    }

    /// An embedded loop whose clock starts at the real uptime, so that what reads `NIODeadline.now()`
    /// directly (as `ConnectionActivity`'s defaults do) agrees with the loop to within the test's
    /// own run time.
    static func syncedLoop() -> EmbeddedEventLoop {
        let loop = EmbeddedEventLoop()
        loop.advanceTime(to: .now())
        return loop
    }

    func activate() throws {
        try channel.connect(to: SocketAddress(unixDomainSocketPath: "/tmp/subsidyd-embedded.sock")).wait()
    }

    var now: NIODeadline { loop.now }

    func advance(by amount: TimeAmount) {
        loop.advanceTime(by: amount)
    }

    func send(_ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    }

    /// Everything the handler passed on to the next handler, as one byte array.
    func passedOn() throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        return bytes
    }

    /// The frames written to the peer, decoded (each written buffer holds whole frames).
    func framesSent() throws -> [Foshan_Subsidy_V1_Frame] {
        var frames: [Foshan_Subsidy_V1_Frame] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            while let length = buffer.readInteger(endianness: .big, as: UInt32.self) {
                let slice = buffer.readSlice(length: Int(length))
                frames.append(try Foshan_Subsidy_V1_Frame(body: try #require(slice, "a frame written in part")))
            }
        }
        return frames
    }

    var isOpen: Bool { channel.isActive }
}

/// A length-prefixed frame as a client writes it.
func frameBytes(callID: UInt64 = 1, method: String = "/foshan.subsidy.v1.Identity/WhoAmI") -> [UInt8] {
    var frame = Foshan_Subsidy_V1_Frame()
    frame.callId = callID
    frame.kind = .request
    frame.method = method
    var buffer = ByteBuffer()
    frame.write(to: &buffer)
    return Array(buffer.readableBytesView)
}

/// Handlers log through this; the tests assert on what reaches the peer, not on log lines.
let quietLogger = Logger(label: "subsidyd.tests", factory: { _ in SwiftLogNoOpLogHandler() })

import NIOCore
import NIOEmbedded
import SubsidyCore
import SubsidyTestRandom
import SubsidyWire
import Testing

@Suite("FrameDecoder")
struct FrameDecoderTests {
    private func frameBytes(_ frame: Foshan_Subsidy_V1_Frame) -> [UInt8] {
        var buffer = ByteBuffer()
        frame.write(to: &buffer)
        return Array(buffer.readableBytesView)
    }

    private func sampleFrame(callID: UInt64 = 7) -> Foshan_Subsidy_V1_Frame {
        RawFrames.request(callID: callID, method: "/foshan.subsidy.v1.Health/Check", payload: [0x0a, 0x02, 0x68, 0x69])
    }

    private func makeChannel(maximum: Int = FrameDecoder.defaultMaximumFrameLength) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maximumFrameLength: maximum)))
        return channel
    }

    @Test("whole frames, several in one read")
    func wholeFrames() throws {
        let channel = try makeChannel()
        let bytes = frameBytes(sampleFrame(callID: 1)) + frameBytes(sampleFrame(callID: 2))
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        let first = try #require(try channel.readInbound(as: ByteBuffer.self))
        let second = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(try Foshan_Subsidy_V1_Frame(body: first).callId == 1)
        #expect(try Foshan_Subsidy_V1_Frame(body: second).callId == 2)
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test("a frame split at every byte boundary decodes the same")
    func splitAtEveryByte() throws {
        let bytes = frameBytes(sampleFrame())
        for split in 1..<bytes.count {
            let channel = try makeChannel()
            try channel.writeInbound(ByteBuffer(bytes: bytes[..<split]))
            #expect(try channel.readInbound(as: ByteBuffer.self) == nil, "split \(split): frame emitted early")
            try channel.writeInbound(ByteBuffer(bytes: bytes[split...]))
            let body = try #require(try channel.readInbound(as: ByteBuffer.self), "split \(split)")
            #expect(try Foshan_Subsidy_V1_Frame(body: body) == sampleFrame(), "split \(split)")
            _ = try channel.finish()
        }
    }

    @Test("one byte at a time")
    func byteAtATime() throws {
        let channel = try makeChannel()
        let bytes = frameBytes(sampleFrame()) + frameBytes(sampleFrame(callID: 9))
        var frames: [Foshan_Subsidy_V1_Frame] = []
        for byte in bytes {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            while let body = try channel.readInbound(as: ByteBuffer.self) { frames.append(try Foshan_Subsidy_V1_Frame(body: body)) }
        }
        #expect(frames.map(\.callId) == [7, 9])
    }

    @Test("a connection closed inside a frame is an error, not a frame")
    func truncated() throws {
        let channel = try makeChannel()
        let bytes = frameBytes(sampleFrame())
        try channel.writeInbound(ByteBuffer(bytes: bytes.dropLast(3)))
        #expect(throws: FrameError.truncated(bufferedBytes: bytes.count - 3)) { try channel.finish() }
    }

    @Test("a 2 GiB length header is refused from its four bytes alone", arguments: [UInt32(0x8000_0000), UInt32.max, UInt32(4 * 1024 * 1024 + 1)])
    func oversizeHeader(length: UInt32) throws {
        let channel = try makeChannel()
        // Only the header is sent: the decoder must refuse without waiting for (or buffering) a body.
        let header = [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        #expect(throws: FrameError.frameTooLarge(length: Int(length), maximum: FrameDecoder.defaultMaximumFrameLength)) {
            try channel.writeInbound(ByteBuffer(bytes: header))
        }
        _ = try? channel.finish()
    }

    @Test("exactly the maximum is accepted")
    func exactlyMaximum() throws {
        let channel = try makeChannel(maximum: 16)
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 16] + [UInt8](repeating: 0x2a, count: 16)))
        let body = try #require(try channel.readInbound(as: ByteBuffer.self))
        #expect(body.readableBytes == 16)
        #expect(throws: FrameError.frameTooLarge(length: 17, maximum: 16)) {
            try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 17]))
        }
    }

    @Test("garbage inside a well-sized frame is INVALID_ARGUMENT, not a crash")
    func garbageBody() throws {
        var generator = TestSeed.generator("FrameDecoder.garbageBody")
        for _ in 0..<200 {
            let body = (0..<Int.random(in: 1...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            do {
                _ = try Foshan_Subsidy_V1_Frame(body: ByteBuffer(bytes: body))
            } catch {
                #expect(error.code == .invalidArgument, "\(body) (\(TestSeed.replay))")
            }
        }
    }
}

/// Frames for tests, without the test-support target (which needs the client).
enum RawFrames {
    static func request(callID: UInt64, method: String, payload: [UInt8]) -> Foshan_Subsidy_V1_Frame {
        var frame = Foshan_Subsidy_V1_Frame()
        frame.callId = callID
        frame.kind = .request
        frame.method = method
        frame.payload = payload
        return frame
    }
}

import FuzzSupport
import NIOCore
import NIOEmbedded
import SubsidyWire

/// Target (a): a byte stream through `ByteToMessageHandler(FrameDecoder)`, as the daemon's and
/// the client's pipelines hold it, then every frame body through `Foshan_Subsidy_V1_Frame(body:)`.
///
/// Input: byte 0 picks the maximum frame length, byte 1 how the stream is cut into reads, and the
/// rest is the stream. A plain reference parser says what must come out: the same bodies in the
/// same order, then `frameTooLarge` as soon as an oversized header's four bytes are in, or
/// `truncated` at end of input inside a frame — and never a body larger than the maximum.
let maximumLengths = [FrameDecoder.defaultMaximumFrameLength, 0, 1, 4, 16, 64, 256, 4096]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrameDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    guard input.count >= 2 else { return 0 }
    let maximum = maximumLengths[Int(input[0]) % maximumLengths.count]
    let chunk = Int(input[1] % 32)  // 0: the whole stream in one read
    let stream = Array(input[2...])

    let expected = referenceParse(stream, maximum: maximum)
    var bodies: [[UInt8]] = []
    var failure: FrameError?

    let channel = EmbeddedChannel()
    do {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maximumFrameLength: maximum)))
    } catch {
        propertyViolated("cannot set up the pipeline: \(error)")
    }
    func drain() {
        while let body = try? channel.readInbound(as: ByteBuffer.self) {
            guard body.readableBytes <= maximum else { propertyViolated("a \(body.readableBytes)-byte body passed a \(maximum)-byte limit") }
            bodies.append(Array(body.readableBytesView))
            _ = checkDecode(Foshan_Subsidy_V1_Frame.self, body.readableBytesView, path: "frame")
        }
    }
    func record(_ error: any Error) {
        guard let error = error as? FrameError else { propertyViolated("the decoder threw \(type(of: error)): \(error)") }
        failure = error
    }

    var offset = 0
    let step = chunk == 0 ? max(stream.count, 1) : chunk
    while failure == nil, offset < stream.count {
        let end = min(offset + step, stream.count)
        do {
            try channel.writeInbound(ByteBuffer(bytes: stream[offset..<end]))
        } catch {
            record(error)
        }
        drain()
        offset = end
    }
    if failure == nil {
        do {
            _ = try channel.finish()
        } catch {
            record(error)
        }
        drain()
    } else {
        _ = try? channel.finish()
    }

    guard bodies == expected.bodies else {
        propertyViolated("bodies \(bodies.map(\.count)) differ from the reference \(expected.bodies.map(\.count))")
    }
    guard failure == expected.failure else {
        propertyViolated("ended with \(String(describing: failure)), the reference says \(String(describing: expected.failure))")
    }
    return 0
}

/// What a correct decoder must produce for `stream`, read to its end.
func referenceParse(_ stream: [UInt8], maximum: Int) -> (bodies: [[UInt8]], failure: FrameError?) {
    var bodies: [[UInt8]] = []
    var offset = 0
    while offset < stream.count {
        let remaining = stream.count - offset
        guard remaining >= 4 else { return (bodies, .truncated(bufferedBytes: remaining)) }
        let length = stream[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        if length > maximum { return (bodies, .frameTooLarge(length: length, maximum: maximum)) }
        guard remaining - 4 >= length else { return (bodies, .truncated(bufferedBytes: remaining)) }
        bodies.append(Array(stream[(offset + 4)..<(offset + 4 + length)]))
        offset += 4 + length
    }
    return (bodies, nil)
}

@main
enum Main {
    static func main() { fuzzMain(target: "frame-decoder", fuzzFrameDecoder) }
}

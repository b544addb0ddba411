import NIOCore
import SubsidyCore

/// Splits a byte stream into frame bodies: a 4-byte big-endian length, then that many bytes.
///
/// The length is compared with `maximumFrameLength` as soon as its four bytes arrive — before any
/// buffer for the body is reserved — so a header that claims 2 GiB costs nothing but an error.
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// Frames larger than this are refused (default 4 MiB).
    public let maximumFrameLength: Int
    /// Told of each frame once its length is known; nil decodes every frame as it arrives.
    private let arrivals: (any FrameArrivals)?

    public init(maximumFrameLength: Int = FrameDecoder.defaultMaximumFrameLength, arrivals: (any FrameArrivals)? = nil) {
        self.maximumFrameLength = maximumFrameLength
        self.arrivals = arrivals
    }

    public static let defaultMaximumFrameLength = 4 * 1024 * 1024

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else { return nil }
        guard Int(length) <= maximumFrameLength else {
            throw FrameError.frameTooLarge(length: Int(length), maximum: maximumFrameLength)
        }
        let complete = buffer.readableBytes >= 4 + Int(length)
        guard arrivals?.admit(frameOf: Int(length), complete: complete) ?? true, complete else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        arrivals?.decoded()
        return buffer.readSlice(length: Int(length))
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if buffer.readableBytes > 0 { throw FrameError.truncated(bufferedBytes: buffer.readableBytes) }
        return nil
    }
}

/// What a ``FrameDecoder`` tells about the frames it is assembling, so their bytes can be counted
/// before the frame is whole (a peer can hold many connections each inside a large frame) and
/// reading can stop while there is no room for them. Called on the decoder's event loop.
public protocol FrameArrivals: AnyObject {
    /// The frame at the head of the stream has `length` bytes of body, all of them arrived if
    /// `complete`: whether to go on assembling it. Asked again each time bytes arrive until it
    /// says yes; a complete frame should be let through (its bytes are already held).
    func admit(frameOf length: Int, complete: Bool) -> Bool
    /// The frame last admitted has been decoded and passed on.
    func decoded()
}

/// Why a byte stream stopped being a stream of frames. The connection cannot continue after one.
public enum FrameError: Error, Equatable, CustomStringConvertible {
    case frameTooLarge(length: Int, maximum: Int)
    case truncated(bufferedBytes: Int)

    public var description: String {
        switch self {
        case let .frameTooLarge(length, maximum): "frame length \(length) exceeds the maximum \(maximum)"
        case let .truncated(buffered): "connection closed inside a frame (\(buffered) bytes buffered)"
        }
    }
}

extension Foshan_Subsidy_V1_Frame {
    /// Appends this frame, length prefix included, to `buffer`.
    public func write(to buffer: inout ByteBuffer) {
        let body = serializedBytes()
        buffer.writeInteger(UInt32(body.count), endianness: .big)
        buffer.writeBytes(body)
    }

    /// Decodes a frame body produced by ``FrameDecoder``: its metadata and status hold at most
    /// ``InputLimits/listEntriesPerMessage`` entries in all (a call may carry 64 metadata entries).
    public init(body: ByteBuffer) throws(SubsidyError) {
        try self.init(serializedBytes: body.readableBytesView, path: "frame", maximumEntries: InputLimits.listEntriesPerMessage)
    }
}

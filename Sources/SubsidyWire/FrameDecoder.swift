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

    public init(maximumFrameLength: Int = FrameDecoder.defaultMaximumFrameLength) {
        self.maximumFrameLength = maximumFrameLength
    }

    public static let defaultMaximumFrameLength = 4 * 1024 * 1024

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else { return nil }
        guard Int(length) <= maximumFrameLength else {
            throw FrameError.frameTooLarge(length: Int(length), maximum: maximumFrameLength)
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(length))
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if buffer.readableBytes > 0 { throw FrameError.truncated(bufferedBytes: buffer.readableBytes) }
        return nil
    }
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

import Foundation
import SubsidyWire

/// A Unix-socket connection that speaks frames byte by byte, for tests that must send what a
/// well-behaved client never would.
///
/// Reads wait ``offThread(_:)``, never on the test's own thread: a test blocked there while the
/// daemon's timeout runs out would stall every other test in the process.
public final class RawConnection {
    public let fd: Int32
    /// How long a read waits for bytes before it gives up (returns nil).
    public let receiveTimeout: Duration

    public init(path: String, receiveTimeoutSeconds: Int = 10) throws {
        receiveTimeout = .seconds(receiveTimeoutSeconds)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawConnectionError.system("socket", errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let e = errno
            close(fd)
            throw RawConnectionError.system("connect", e)
        }
    }

    deinit { close(fd) }

    /// Writes raw bytes; false if the peer has closed.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    public func send(_ frame: Foshan_Subsidy_V1_Frame) {
        let body = frame.serializedBytes()
        send(Self.lengthPrefix(body.count) + body)
    }

    public static func lengthPrefix(_ length: Int) -> [UInt8] {
        let n = UInt32(length)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
    }

    /// Reads exactly `count` bytes; nil on EOF, timeout or error.
    public func receive(count: Int) async -> [UInt8]? {
        var received: [UInt8] = []
        while received.count < count {
            guard let bytes = await read(atMost: count - received.count), !bytes.isEmpty else { return nil }
            received += bytes
        }
        return received
    }

    /// Reads one frame; nil on EOF or timeout.
    public func receiveFrame() async throws -> Foshan_Subsidy_V1_Frame? {
        guard let header = await receive(count: 4) else { return nil }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard let body = await receive(count: length) else { return nil }
        return try Foshan_Subsidy_V1_Frame(serializedBytes: body, path: "frame")
    }

    /// True once the peer has closed the connection (reads return EOF); false if bytes arrive
    /// instead, or nothing within the receive timeout.
    public func isClosedByPeer() async -> Bool {
        await read(atMost: 1)?.isEmpty == true
    }

    /// One read of up to `count` bytes, waiting for them up to the receive timeout: the bytes,
    /// empty at EOF, nil on timeout or error.
    private func read(atMost count: Int) async -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n >= 0 { return Array(buffer[0..<n]) }
            if errno == EINTR { continue }
            guard errno == EAGAIN, await descriptorReady(fd, timeout: receiveTimeout) else { return nil }
        }
    }

    /// A REQUEST frame for `method` with `payload`.
    public static func request(callID: UInt64, method: String, payload: [UInt8], timeoutMs: UInt64 = 0, metadata: [String: String] = [:]) -> Foshan_Subsidy_V1_Frame {
        var frame = Foshan_Subsidy_V1_Frame()
        frame.callId = callID
        frame.kind = .request
        frame.method = method
        frame.payload = payload
        frame.timeoutMs = timeoutMs
        frame.metadata = metadata.map { key, value in
            var entry = Foshan_Subsidy_V1_MetadataEntry()
            entry.key = key
            entry.value = value
            return entry
        }
        return frame
    }
}

public enum RawConnectionError: Error {
    case system(String, Int32)
}

import CProtobufC
import SubsidyCore

#if canImport(Glibc)
import Glibc
#endif

/// Walks an encoded message before protobuf-c sees it and refuses text it would alter.
///
/// protobuf-c 1.4.1 stores strings as NUL-terminated `char *`, so `"abc\0def"` arrives as `"abc"`,
/// and it accepts invalid UTF-8, which `String(cString:)` would then repair to U+FFFD. Both would
/// silently change what a bureau submitted; here they become `INVALID_ARGUMENT` naming the field.
/// The walk follows the protobuf-c descriptors, so nested and repeated messages are covered.
enum PayloadValidator {
    /// Deeper nesting than any message of ours has; refusing it bounds the recursion.
    static let maximumDepth = 32

    static func validate(
        _ bytes: UnsafeRawBufferPointer,
        descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
        path: String,
        depth: Int = 0
    ) throws(SubsidyError) {
        guard depth < maximumDepth else { throw .invalidField(path, "nested more than \(maximumDepth) levels deep") }
        var reader = WireReader(bytes: bytes)
        var repeatedIndex: [UInt32: Int] = [:]
        while !reader.isAtEnd {
            guard let key = reader.varint(), key >> 3 != 0, key >> 3 <= 536_870_911 else {
                throw .invalidField(path, "is not a valid protobuf message (bad field key at byte \(reader.offset))")
            }
            let number = UInt32(key >> 3)
            let field = protobuf_c_message_descriptor_get_field(descriptor, number)
            switch key & 7 {
            case 0:
                guard reader.varint() != nil else { throw truncated(path) }
            case 1:
                guard reader.skip(8) else { throw truncated(path) }
            case 5:
                guard reader.skip(4) else { throw truncated(path) }
            case 2:
                guard let length = reader.varint(), let payload = reader.take(length) else { throw truncated(path) }
                guard let field else { continue }  // unknown field: protobuf-c skips it too
                var fieldPath = path + "." + String(cString: field.pointee.name)
                if field.pointee.label == PROTOBUF_C_LABEL_REPEATED {
                    let index = repeatedIndex[number, default: 0]
                    repeatedIndex[number] = index + 1
                    fieldPath += "[\(index)]"
                }
                if field.pointee.type == PROTOBUF_C_TYPE_STRING {
                    try validateText(payload, path: fieldPath)
                } else if field.pointee.type == PROTOBUF_C_TYPE_MESSAGE, let nested = field.pointee.descriptor {
                    try validate(
                        payload,
                        descriptor: nested.assumingMemoryBound(to: ProtobufCMessageDescriptor.self),
                        path: fieldPath,
                        depth: depth + 1
                    )
                }
            default:
                throw .invalidField(path, "uses protobuf wire type \(key & 7), which this protocol does not accept")
            }
        }
    }

    private static func validateText(_ text: UnsafeRawBufferPointer, path: String) throws(SubsidyError) {
        // memchr, not Collection.firstIndex: every text field of every stored record passes here.
        if let base = text.baseAddress, let nul = memchr(base, 0, text.count) {
            throw .invalidField(path, "contains a NUL character at byte \(base.distance(to: UnsafeRawPointer(nul))); text may not contain U+0000")
        }
        if String(validating: text, as: UTF8.self) == nil {
            throw .invalidField(path, "is not valid UTF-8")
        }
    }

    private static func truncated(_ path: String) -> SubsidyError {
        .invalidField(path, "is not a valid protobuf message (truncated field)")
    }
}

/// A bounds-checked cursor over protobuf wire bytes.
struct WireReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard offset < bytes.count, shift < 64 else { return nil }
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7f) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        return nil
    }

    mutating func skip(_ count: Int) -> Bool {
        guard bytes.count - offset >= count else { return false }
        offset += count
        return true
    }

    mutating func take(_ count: UInt64) -> UnsafeRawBufferPointer? {
        guard count <= UInt64(bytes.count - offset) else { return nil }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(count))])
        offset += Int(count)
        return slice
    }
}

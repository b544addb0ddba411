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

    /// - Parameter entries: what is left of the message's budget of list entries, counted over
    ///   every repeated field at every depth. protobuf-c allocates a pointer and a struct for
    ///   each entry, and the Swift copy a value: an empty entry is two bytes on the wire and some
    ///   sixty in memory, so a frame of nothing but entries is a 30-fold amplifier unless counted.
    static func validate(
        _ bytes: UnsafeRawBufferPointer,
        descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
        path: String,
        entries: inout Int,
        depth: Int = 0
    ) throws(SubsidyError) {
        guard depth < maximumDepth else { throw .invalidField(path, "nested more than \(maximumDepth) levels deep") }
        var reader = WireReader(bytes: bytes)
        // How many of each repeated field came before, for the `[n]` of a path. A path is only
        // spelled out for an error or a nested message: building one per string was most of
        // the walk (every id of a 500-id list).
        var repeatedSeen: [(number: UInt32, count: Int)] = []
        while !reader.isAtEnd {
            guard let key = reader.varint(), key >> 3 != 0, key >> 3 <= 536_870_911 else {
                throw .invalidField(path, "is not a valid protobuf message (bad field key at byte \(reader.offset))")
            }
            let number = UInt32(key >> 3)
            let field = protobuf_c_message_descriptor_get_field(descriptor, number)
            // Entries of lists and unknown fields (which protobuf-c keeps a record of while it
            // unpacks) spend the budget; a message's own fields are bounded by its descriptor.
            if field == nil || field?.pointee.label == PROTOBUF_C_LABEL_REPEATED {
                entries -= 1
                if entries < 0 {
                    let name = field.map { String(cString: $0.pointee.name) } ?? "field \(number)"
                    throw .invalidField(path + "." + name, "is past the \(InputLimits.listEntriesPerMessage) list entries one message may carry in all")
                }
            }
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
                var index: Int?
                if field.pointee.label == PROTOBUF_C_LABEL_REPEATED {
                    if let slot = repeatedSeen.firstIndex(where: { $0.number == number }) {
                        index = repeatedSeen[slot].count
                        repeatedSeen[slot].count += 1
                    } else {
                        index = 0
                        repeatedSeen.append((number, 1))
                    }
                }
                func fieldPath() -> String {
                    let name = String(cString: field.pointee.name)
                    // A request's own singular message is named as the handlers name its fields:
                    // `application.served_enterprises[2]`, not `request.application.…` (one field,
                    // one path, whichever check refuses it).
                    if depth == 0 && path == "request" && index == nil && field.pointee.type == PROTOBUF_C_TYPE_MESSAGE { return name }
                    return path + "." + name + (index.map { "[\($0)]" } ?? "")
                }
                if field.pointee.type == PROTOBUF_C_TYPE_STRING {
                    if let problem = textProblem(payload) { throw .invalidField(fieldPath(), problem) }
                } else if field.pointee.type == PROTOBUF_C_TYPE_MESSAGE, let nested = field.pointee.descriptor {
                    try validate(
                        payload,
                        descriptor: nested.assumingMemoryBound(to: ProtobufCMessageDescriptor.self),
                        path: fieldPath(),
                        entries: &entries,
                        depth: depth + 1
                    )
                }
            default:
                throw .invalidField(path, "uses protobuf wire type \(key & 7), which this protocol does not accept")
            }
        }
    }

    /// What is wrong with a text field's bytes, or nil if protobuf-c and Swift will keep them as sent.
    private static func textProblem(_ text: UnsafeRawBufferPointer) -> String? {
        // memchr, not Collection.firstIndex: every text field of every stored record passes here.
        if let base = text.baseAddress, let nul = memchr(base, 0, text.count) {
            return "contains a NUL character at byte \(base.distance(to: UnsafeRawPointer(nul))); text may not contain U+0000"
        }
        return isUTF8(text) ? nil : "is not valid UTF-8"
    }

    /// Whether `bytes` are well-formed UTF-8 (the Unicode Standard's table 3-7: no overlong forms,
    /// no surrogates, nothing above U+10FFFF), checked without building a `String`, which
    /// `String(validating:)` would allocate and throw away for every field.
    static func isUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var at = 0
        while at < count {
            // Eight ASCII bytes at a time: most text here is ids, codes and digits.
            if count - at >= 8, (base + at).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                at += 8
                continue
            }
            let lead = bytes[at]
            if lead < 0x80 {
                at += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: (length, low) = (3, 0xA0)
            case 0xE1...0xEC, 0xEE, 0xEF: length = 3
            case 0xED: (length, high) = (3, 0x9F)
            case 0xF0: (length, low) = (4, 0x90)
            case 0xF1...0xF3: length = 4
            case 0xF4: (length, high) = (4, 0x8F)
            default: return false
            }
            guard count - at >= length, (low...high).contains(bytes[at + 1]) else { return false }
            var next = at + 2
            while next < at + length {
                guard bytes[next] & 0xC0 == 0x80 else { return false }
                next += 1
            }
            at += length
        }
        return true
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

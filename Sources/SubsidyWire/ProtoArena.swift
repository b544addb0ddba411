import CProtobufC
import Glibc

/// Owns every C allocation made while building one protobuf-c message for packing.
///
/// A message built in an arena points into it, so the arena must outlive every use of the message;
/// ``ProtoMessage/serializedBytes()`` keeps both inside one function and frees all at once.
public final class ProtoArena {
    private var blocks: [UnsafeMutableRawPointer] = []
    /// Set when a string with U+0000 was copied: protobuf-c would encode only its prefix.
    private(set) var sawEmbeddedNul = false

    init() {}

    deinit {
        for block in blocks { free(block) }
    }

    private func raw(_ size: Int, alignment: Int) -> UnsafeMutableRawPointer {
        // malloc's alignment covers every C scalar and struct protobuf-c uses. Running out of
        // memory here is unrecoverable in any case; protobuf-c itself would abort too.
        guard let block = calloc(1, max(size, 1)) else { fatalError("out of memory allocating \(size) bytes") }
        blocks.append(block)
        return block
    }

    /// A zeroed C struct of type `T`.
    public func allocate<T>(_: T.Type) -> UnsafeMutablePointer<T> {
        raw(MemoryLayout<T>.stride, alignment: MemoryLayout<T>.alignment).bindMemory(to: T.self, capacity: 1)
    }

    /// A NUL-terminated copy of `value`.
    public func string(_ value: String) -> UnsafeMutablePointer<CChar> {
        // Straight from the string's own UTF-8 into the arena: no intermediate array per string
        // (a list reply fills tens of thousands of them).
        var value = value
        return value.withUTF8 { utf8 in
            let p = raw(utf8.count + 1, alignment: 1).bindMemory(to: CChar.self, capacity: utf8.count + 1)
            if let base = utf8.baseAddress, !utf8.isEmpty {
                UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: utf8.count)
                if memchr(base, 0, utf8.count) != nil { sawEmbeddedNul = true }
            }
            p[utf8.count] = 0
            return p
        }
    }

    public func bytes(_ value: [UInt8]) -> ProtobufCBinaryData {
        guard !value.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let p = raw(value.count, alignment: 1).bindMemory(to: UInt8.self, capacity: value.count)
        p.initialize(from: value, count: value.count)
        return ProtobufCBinaryData(len: value.count, data: p)
    }

    public func message<M: ProtoMessage, C>(_ value: M?, _: C.Type) -> UnsafeMutablePointer<C>? {
        value.map { $0._fill(self).assumingMemoryBound(to: C.self) }
    }

    public func messages<M: ProtoMessage, C>(_ values: [M], _: C.Type) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<C>?>?) {
        guard !values.isEmpty else { return (0, nil) }
        let array = allocateArray(UnsafeMutablePointer<C>?.self, count: values.count)
        for (i, value) in values.enumerated() { array[i] = value._fill(self).assumingMemoryBound(to: C.self) }
        return (values.count, array)
    }

    public func strings(_ values: [String]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        guard !values.isEmpty else { return (0, nil) }
        let array = allocateArray(UnsafeMutablePointer<CChar>?.self, count: values.count)
        for (i, value) in values.enumerated() { array[i] = string(value) }
        return (values.count, array)
    }

    public func scalars<T>(_ values: [T]) -> (Int, UnsafeMutablePointer<T>?) {
        guard !values.isEmpty else { return (0, nil) }
        let array = allocateArray(T.self, count: values.count)
        array.initialize(from: values, count: values.count)
        return (values.count, array)
    }

    private func allocateArray<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        raw(MemoryLayout<T>.stride * count, alignment: MemoryLayout<T>.alignment).bindMemory(to: T.self, capacity: count)
    }
}

/// Copies values out of an unpacked protobuf-c message (which protobuf-c frees afterwards).
public enum ProtoC {
    public static func string(_ p: UnsafeMutablePointer<CChar>?) -> String {
        // PayloadValidator already refused invalid UTF-8, so this cannot repair anything.
        p.map { String(cString: $0) } ?? ""
    }

    public static func bytes(_ data: ProtobufCBinaryData) -> [UInt8] {
        guard data.len > 0, let base = data.data else { return [] }
        return Array(UnsafeBufferPointer(start: base, count: data.len))
    }

    public static func message<M: ProtoMessage, C>(_ p: UnsafeMutablePointer<C>?) -> M? {
        p.map { M._copyOut(UnsafeRawPointer($0)) }
    }

    public static func messages<M: ProtoMessage, C>(_ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<C>?>?) -> [M] {
        guard n > 0, let p else { return [] }
        return (0..<n).compactMap { i in p[i].map { M._copyOut(UnsafeRawPointer($0)) } }
    }

    public static func strings(_ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String] {
        guard n > 0, let p else { return [] }
        return (0..<n).map { string(p[$0]) }
    }

    public static func scalars<T>(_ n: Int, _ p: UnsafeMutablePointer<T>?) -> [T] {
        guard n > 0, let p else { return [] }
        return Array(UnsafeBufferPointer(start: p, count: n))
    }
}

import SubsidyCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A JSON document as the proto3 JSON mapping needs it.
///
/// Numbers keep their literal text so that 64-bit amounts in fen are read exactly: no value ever
/// passes through floating point. Objects keep member order so output is stable.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's literal text, e.g. `120000000` or `-5`.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.number(a), .number(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.object(a), .object(b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    public var isNull: Bool { if case .null = self { true } else { false } }

    // MARK: Building values (used by generated code)

    public static func integer(_ value: some BinaryInteger) -> JSONValue { .number(String(value)) }
    /// Proto3 JSON writes 64-bit integers as strings (JavaScript cannot hold them exactly).
    public static func int64String(_ value: some BinaryInteger) -> JSONValue { .string(String(value)) }
    /// An enum by its name; a number the schema does not name (proto3 enums are open) is written
    /// as a JSON number, as the proto3 JSON mapping says — a string "7" would not parse back.
    public static func enumValue<E: ProtoEnum>(_ value: E) -> JSONValue {
        E.protoNames[value.rawValue].map { .string($0) } ?? .integer(value.rawValue)
    }
    /// Standard base64 with padding (RFC 4648 §4), as the proto3 JSON mapping writes `bytes`.
    public static func bytes(_ value: [UInt8]) -> JSONValue { .string(Data(value).base64EncodedString()) }

    // MARK: Reading values (used by generated code); `path` names the field in errors.

    public func objectMembers(at path: String) throws(SubsidyError) -> [(String, JSONValue)] {
        switch self {
        case .object(let members): return members
        case .null: return []
        default: throw .invalidField(path, "must be a JSON object")
        }
    }

    public func array<T>(at path: String, _ element: (JSONValue, String) throws(SubsidyError) -> T) throws(SubsidyError) -> [T] {
        switch self {
        case .null: return []
        case .array(let values):
            var result: [T] = []
            result.reserveCapacity(values.count)
            for (i, value) in values.enumerated() { result.append(try element(value, "\(path)[\(i)]")) }
            return result
        default: throw .invalidField(path, "must be a JSON array")
        }
    }

    public func string(at path: String) throws(SubsidyError) -> String {
        switch self {
        case .string(let s):
            if s.utf8.contains(0) { throw .invalidField(path, "contains a NUL character; text may not contain U+0000") }
            return s
        case .null: return ""
        default: throw .invalidField(path, "must be a JSON string")
        }
    }

    public func bool(at path: String) throws(SubsidyError) -> Bool {
        switch self {
        case .bool(let b): return b
        case .null: return false
        default: throw .invalidField(path, "must be true or false")
        }
    }

    /// Base64 in the standard or the URL-safe alphabet, padded or not: the proto3 JSON mapping
    /// accepts all four spellings. Anything else (whitespace included) is `INVALID_ARGUMENT`.
    public func bytes(at path: String) throws(SubsidyError) -> [UInt8] {
        var text = Array(try string(at: path).utf8)
        for i in text.indices {
            if text[i] == UInt8(ascii: "-") { text[i] = UInt8(ascii: "+") } else if text[i] == UInt8(ascii: "_") { text[i] = UInt8(ascii: "/") }
        }
        if !text.contains(UInt8(ascii: "=")) && text.count % 4 != 1 {
            text += repeatElement(UInt8(ascii: "="), count: (4 - text.count % 4) % 4)
        }
        guard let decoded = Data(base64Encoded: Data(text)) else { throw .invalidField(path, "must be base64") }
        return Array(decoded)
    }

    public func enumValue<E: ProtoEnum>(_: E.Type, at path: String) throws(SubsidyError) -> E {
        switch self {
        case .null: return E(rawValue: 0)
        case .string(let name):
            if let value = E(protoName: name) { return value }
            throw .invalidField(path, "unknown value \"\(name)\"; expected one of \(E.protoNames.sorted { $0.key < $1.key }.map(\.value).joined(separator: ", "))")
        case .number: return E(rawValue: try int32(at: path))
        default: throw .invalidField(path, "must be an enum name")
        }
    }

    public func int32(at path: String) throws(SubsidyError) -> Int32 { try integer(Int32.self, at: path) }
    public func int64(at path: String) throws(SubsidyError) -> Int64 { try integer(Int64.self, at: path) }
    public func uint32(at path: String) throws(SubsidyError) -> UInt32 { try integer(UInt32.self, at: path) }
    public func uint64(at path: String) throws(SubsidyError) -> UInt64 { try integer(UInt64.self, at: path) }

    private func integer<T: FixedWidthInteger>(_: T.Type, at path: String) throws(SubsidyError) -> T {
        let text: String
        switch self {
        case .null: return 0
        case .number(let n): text = n
        case .string(let s): text = s
        default: throw .invalidField(path, "must be an integer")
        }
        guard let value = T(text) else {
            throw .invalidField(path, "must be an integer between \(T.min) and \(T.max) (got \(text))")
        }
        return value
    }

    // MARK: Text

    /// Parses JSON text (RFC 8259). Errors name the byte offset.
    public static func parse(_ text: String) throws(SubsidyError) -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8))
        return try parser.parseDocument()
    }

    /// Serializes; `pretty` indents by two spaces.
    public func serialized(pretty: Bool = false) -> String {
        var out = ""
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        let newline = pretty ? "\n" + String(repeating: "  ", count: indent + 1) : ""
        let closing = pretty ? "\n" + String(repeating: "  ", count: indent) : ""
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let values):
            if values.isEmpty { out += "[]"; return }
            out += "["
            for (i, value) in values.enumerated() {
                out += (i > 0 ? "," : "") + newline
                value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            out += closing + "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                out += (i > 0 ? "," : "") + newline
                JSONValue.writeString(key, to: &out)
                out += pretty ? ": " : ":"
                value.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            out += closing + "}"
        }
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += JSONString.quoted(s)
    }

    /// Looks up an object member by key.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }
}

/// A strict RFC 8259 parser over UTF-8 bytes with a nesting limit.
struct JSONParser {
    static let maximumDepth = 64
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws(SubsidyError) -> JSONValue {
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw error("unexpected text after the JSON value") }
        return value
    }

    private func error(_ problem: String) -> SubsidyError {
        .invalidField("json", "\(problem) at byte \(index)")
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x0a, 0x0d, 0x09].contains(bytes[index]) { index += 1 }
    }

    private mutating func parseValue(depth: Int) throws(SubsidyError) -> JSONValue {
        guard depth < Self.maximumDepth else { throw error("nested more than \(Self.maximumDepth) levels") }
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [(String, JSONValue)] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let key = try parseString()
                if members.contains(where: { $0.0 == key }) { throw error("duplicate member \"\(key)\"") }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                members.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw error("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            index += 1
            var values: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(values) }
            while true {
                values.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(values) }
                throw error("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default: return try parseNumber()
        }
    }

    private mutating func literal(_ word: String, _ value: JSONValue) throws(SubsidyError) -> JSONValue {
        let w = Array(word.utf8)
        guard bytes.count - index >= w.count, Array(bytes[index..<(index + w.count)]) == w else { throw error("invalid literal") }
        index += w.count
        return value
    }

    private mutating func parseNumber() throws(SubsidyError) -> JSONValue {
        let start = index
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let digitsStart = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        guard index > digitsStart else { throw error("invalid value") }
        if bytes[digitsStart] == UInt8(ascii: "0"), index - digitsStart > 1 { throw error("leading zero in number") }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
            // Every number in this protocol is an integer (money is in fen); fractions are refused
            // here rather than rounded somewhere later.
            throw error("only integers are accepted (amounts are in fen)")
        }
        return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    private mutating func parseString() throws(SubsidyError) -> String {
        do {
            return try JSONString.literal(in: bytes, at: &index)
        } catch {
            switch error {
            case .unterminated: throw self.error("unterminated string")
            case .controlCharacter: throw self.error("control character in string")
            case .unknownEscape: throw self.error("invalid escape")
            case .badUnicodeEscape: throw self.error("invalid \\u escape")
            case .unpairedSurrogate: throw self.error("unpaired surrogate")
            case .notUTF8: throw self.error("string is not valid UTF-8")
            }
        }
    }
}

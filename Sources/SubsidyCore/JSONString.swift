/// A JSON string literal for `value`: quotes, backslashes, every control character and the line
/// separators U+0085, U+2028 and U+2029 escaped, so the literal never spans lines — what the audit
/// chain's one-line events and the JSON mapping both need.
public enum JSONString {
    public static func quoted(_ value: String) -> String {
        // Most text needs no escape: then it is copied whole, not appended scalar by scalar
        // (the audit events of every decision quote a dozen strings).
        guard value.unicodeScalars.contains(where: needsEscape) else { return "\"" + value + "\"" }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(scalar):
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The code unit written by the four hex digits at `index` of `bytes` (a `\u` escape's), or
    /// nil if fewer than four follow or one is not a hex digit. Exactly four digits, for both JSON
    /// readers (the wire's and the store's): `UInt32(_:radix:)` would also take a sign (`\u+041`,
    /// `\u-000`).
    public static func escapedCodeUnit(_ bytes: [UInt8], at index: Int) -> UInt32? {
        guard index >= 0, bytes.count - index >= 4 else { return nil }
        var value: UInt32 = 0
        for byte in bytes[index..<(index + 4)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Why the bytes at a string literal are not one.
    public enum LiteralDamage: Error, Hashable, Sendable {
        /// The input ends before the closing quote.
        case unterminated
        /// A raw byte below 0x20, which JSON allows only escaped.
        case controlCharacter
        /// A backslash followed by anything but one of `"\/bfnrtu`.
        case unknownEscape
        /// `\u` without four hex digits after it.
        case badUnicodeEscape
        /// Half of a surrogate pair, or a low half first.
        case unpairedSurrogate
        /// The text, with its escapes decoded, is not UTF-8.
        case notUTF8
    }

    /// Reads the string literal whose opening quote is at `index` of `bytes`, leaving `index` just
    /// past its closing quote, or where the damage was found. Strict RFC 8259: raw control
    /// characters, unknown escapes, unpaired surrogates and bytes that are not UTF-8 are refused,
    /// never replaced. The one decoder under both JSON readers (the wire's JSON mapping and the
    /// store's content), which map a damage to their own error: INVALID_ARGUMENT on the wire,
    /// DATA_LOSS in the store.
    public static func literal(in bytes: [UInt8], at index: inout Int) throws(LiteralDamage) -> String {
        index += 1  // past the opening quote
        var start = index
        // Only a string with escapes is copied: most are read straight from the input's bytes.
        var decoded: [UInt8] = []
        var hasEscapes = false
        while true {
            guard index < bytes.count else { throw .unterminated }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            guard byte >= 0x20 else { throw .controlCharacter }
            guard byte == UInt8(ascii: "\\") else {
                index += 1
                continue
            }
            hasEscapes = true
            decoded += bytes[start..<index]
            index += 1
            guard index < bytes.count else { throw .unterminated }
            let code = bytes[index]
            index += 1
            switch code {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(code)
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = escapedCodeUnit(bytes, at: index) else { throw .badUnicodeEscape }
                index += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    // A pair of escapes for one character beyond the BMP.
                    guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw .unpairedSurrogate
                    }
                    guard let low = escapedCodeUnit(bytes, at: index + 2) else { throw .badUnicodeEscape }
                    guard (0xDC00..<0xE000).contains(low) else { throw .unpairedSurrogate }
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw .unpairedSurrogate }
                UTF8.encode(unicode) { decoded.append($0) }
            default: throw .unknownEscape
            }
            start = index
        }
        let text: String?
        if hasEscapes {
            decoded += bytes[start..<index]
            text = String(validating: decoded, as: UTF8.self)
        } else {
            text = String(validating: bytes[start..<index], as: UTF8.self)
        }
        guard let text else { throw .notUTF8 }
        index += 1
        return text
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case ..<0x20, 0x22, 0x5C, 0x7F, 0x85, 0x2028, 0x2029: true
        default: false
        }
    }
}

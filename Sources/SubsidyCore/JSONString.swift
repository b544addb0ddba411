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

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case ..<0x20, 0x22, 0x5C, 0x7F, 0x85, 0x2028, 0x2029: true
        default: false
        }
    }
}

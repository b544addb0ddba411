/// The subset of TOML the policy file uses, parsed without any dependency.
///
/// Why not a TOML library (evaluated for issue 9, item 7: LebJe/TOMLKit 0.6.0, which wraps
/// toml++ 3.4.0 behind a C API). It resolves offline and builds with Swift 6.3 (about 24 s cold on
/// the 2-core build machine, no warnings), and its syntax errors carry line and column. It was
/// still not adopted, because what the daemon promises about a bad file is lost after parsing:
/// - Parsed values and tables carry no source position (TOMLKit exposes one only on
///   `TOMLParseError`; toml++'s `node::source()` is not bridged). Every problem found while
///   *validating* — `foshan-2020:16: measure.CLOUD_VOUCHER.rate_bp: must be 1–10000 basis points
///   (got 0)`, an unknown key, a wrong type, a bad socket mode in `subsidyd.toml` — would lose its
///   line (`FILE:LINE: key: problem` is what `subsidyd --check-config` promises; PolicyLoadingTests
///   checks the line of every mistake, ConfigurationFileTests of several).
/// - Tables are `std::map`s, so keys come back sorted, not in file order: "the first unknown key"
///   and the order of `[relocations]` could not be reported as written.
/// - Full TOML accepts what this subset refuses on purpose (floats, `0o660`-style integers, dotted
///   keys, inline tables, arrays of tables, multi-line values); each would have to be refused again
///   after parsing, with no line to name.
/// Recovering lines by scanning the text a second time would be a parser of our own again.
///
/// Supported: `#` comments, `[dotted.table]` headers, `key = value` with bare keys, and values that
/// are integers (`20_000_000` allowed), basic strings (`"…"` with `\" \\ \n \t` and `\u` + four hex digits), booleans,
/// local dates (`2020-07-17`) and one-line arrays of those. Everything else — floats, inline tables,
/// arrays of tables, dotted or quoted keys, multi-line values — is a syntax error naming the line,
/// so a policy can never be half-read. `package` so the daemon's configuration file uses the same
/// parser (and the same error shape) instead of a second one.
package struct PolicyDocument {
    package enum Value: Equatable {
        case integer(Int64)
        case string(String)
        case boolean(Bool)
        case date(CalendarDate)
        case array([Value])

        package var typeName: String {
            switch self {
            case .integer: "an integer"
            case .string: "a string"
            case .boolean: "a boolean"
            case .date: "a date"
            case .array: "an array"
            }
        }
    }

    package struct Entry {
        package let value: Value
        package let line: Int
    }

    package struct Table {
        /// Dotted name, e.g. `measure.CLOUD_VOUCHER.cap.per_provider`; `""` for the root.
        package let name: String
        package let line: Int
        package var entries: [String: Entry] = [:]
        package var order: [String] = []
    }

    /// Tables in file order; the root table (keys before any header) first.
    package private(set) var tables: [Table] = []

    /// Parses `text`; `policyName` only labels errors.
    package init(text: String, policyName: String) throws(PolicyError) {
        tables = [Table(name: "", line: 0)]
        var seenTables: Set<String> = [""]
        var lineNumber = 0
        // Split on scalars, not Characters: "\r\n" is a single Character.
        for rawLine in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Array(rawLine)
            if line.last == "\r" { line.removeLast() }
            // A byte-order mark, as Notepad saves UTF-8: not part of the first key.
            if lineNumber == 1 && line.first == "\u{FEFF}" { line.removeFirst() }
            var cursor = Cursor(scalars: line, line: lineNumber, policyName: policyName)
            cursor.skipSpace()
            if cursor.atEndOrComment { continue }
            if cursor.peek == "[" {
                let name = try cursor.tableHeader()
                guard seenTables.insert(name).inserted else {
                    throw cursor.error(key: name, "table [\(name)] is defined twice")
                }
                tables.append(Table(name: name, line: lineNumber))
            } else {
                let key = try cursor.bareKey()
                cursor.skipSpace()
                guard cursor.consume("=") else {
                    throw cursor.error(key: nil, cursor.peek == "." ? "dotted keys are not supported; use a [table] header" : "expected '=' after key '\(key)'")
                }
                cursor.skipSpace()
                let fullKey = tables[tables.count - 1].name.isEmpty ? key : tables[tables.count - 1].name + "." + key
                let value = try cursor.value(key: fullKey)
                try cursor.expectEnd(key: fullKey)
                if let previous = tables[tables.count - 1].entries[key] {
                    throw cursor.error(key: fullKey, "duplicate key (first set on line \(previous.line))")
                }
                tables[tables.count - 1].entries[key] = Entry(value: value, line: lineNumber)
                tables[tables.count - 1].order.append(key)
            }
        }
    }

    /// Reads one line of scalars.
    private struct Cursor {
        let scalars: [Unicode.Scalar]
        let line: Int
        let policyName: String
        var index = 0

        init(scalars: [Unicode.Scalar], line: Int, policyName: String) {
            self.scalars = scalars
            self.line = line
            self.policyName = policyName
        }

        var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }
        var atEndOrComment: Bool { peek == nil || peek == "#" }

        func error(key: String?, _ problem: String) -> PolicyError {
            PolicyError(policyName: policyName, line: line, key: key, problem: problem)
        }

        mutating func skipSpace() {
            while let scalar = peek, scalar == " " || scalar == "\t" { index += 1 }
        }

        mutating func consume(_ scalar: Unicode.Scalar) -> Bool {
            guard peek == scalar else { return false }
            index += 1
            return true
        }

        mutating func expectEnd(key: String?) throws(PolicyError) {
            skipSpace()
            guard atEndOrComment else {
                throw error(key: key, "unexpected '\(String(scalars[index...].prefix(20).map(Character.init)))' after the value")
            }
        }

        static func isBare(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar {
            case "A"..."Z", "a"..."z", "0"..."9", "_", "-": true
            default: false
            }
        }

        mutating func bareKey() throws(PolicyError) -> String {
            let start = index
            while let scalar = peek, Self.isBare(scalar) { index += 1 }
            guard index > start else {
                if peek == "\"" || peek == "'" { throw error(key: nil, "quoted keys are not supported") }
                throw error(key: nil, "expected a key (letters, digits, '_' or '-'), found '\(peek.map(String.init) ?? "end of line")'")
            }
            return String(String.UnicodeScalarView(scalars[start..<index]))
        }

        mutating func tableHeader() throws(PolicyError) -> String {
            index += 1  // [
            if peek == "[" { throw error(key: nil, "arrays of tables ([[…]]) are not supported") }
            var parts: [String] = []
            repeat {
                skipSpace()
                parts.append(try bareKey())
                skipSpace()
            } while consume(".")
            guard consume("]") else { throw error(key: parts.joined(separator: "."), "expected ']' to close the table header") }
            try expectEnd(key: parts.joined(separator: "."))
            return parts.joined(separator: ".")
        }

        mutating func value(key: String) throws(PolicyError) -> Value {
            guard let first = peek, first != "#" else { throw error(key: key, "missing value after '='") }
            switch first {
            case "\"":
                return .string(try string(key: key))
            case "[":
                return .array(try array(key: key))
            case "t", "f":
                let word = String(String.UnicodeScalarView(scalars[index...].prefix { Self.isBare($0) }))
                guard word == "true" || word == "false" else {
                    throw error(key: key, "expected a value (integer, \"string\", true/false, YYYY-MM-DD or [array]), found '\(word)'")
                }
                index += word.unicodeScalars.count
                return .boolean(word == "true")
            case "0"..."9", "+", "-":
                return try number(key: key)
            default:
                throw error(key: key, "expected a value (integer, \"string\", true/false, YYYY-MM-DD or [array]), found '\(first)'")
            }
        }

        mutating func string(key: String) throws(PolicyError) -> String {
            index += 1  // opening quote
            if peek == "\"" && index + 1 < scalars.count && scalars[index + 1] == "\"" {
                throw error(key: key, "multi-line strings are not supported")
            }
            var out = String.UnicodeScalarView()
            while let scalar = peek {
                index += 1
                switch scalar {
                case "\"":
                    return String(out)
                case "\\":
                    guard let escaped = peek else { break }
                    index += 1
                    switch escaped {
                    case "\"": out.append("\"")
                    case "\\": out.append("\\")
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "u":
                        let hex = scalars[index...].prefix(4)
                        guard hex.count == 4, let code = UInt32(String(String.UnicodeScalarView(hex)), radix: 16),
                              let decoded = Unicode.Scalar(code) else {
                            throw error(key: key, "bad \\u escape (four hex digits naming a Unicode scalar)")
                        }
                        index += 4
                        out.append(decoded)
                    default:
                        throw error(key: key, "unsupported escape '\\\(escaped)'")
                    }
                default:
                    if scalar.value < 0x20 || scalar.value == 0x7F {
                        throw error(key: key, "control character U+\(String(scalar.value, radix: 16, uppercase: true)) in string")
                    }
                    out.append(scalar)
                }
            }
            throw error(key: key, "unterminated string (strings end on the same line)")
        }

        mutating func array(key: String) throws(PolicyError) -> [Value] {
            index += 1  // [
            var items: [Value] = []
            while true {
                skipSpace()
                if consume("]") { return items }
                if peek == nil || peek == "#" {
                    throw error(key: key, "unterminated array (arrays must close on the same line)")
                }
                items.append(try value(key: key))
                skipSpace()
                if consume(",") { continue }
                guard consume("]") else { throw error(key: key, "expected ',' or ']' in array") }
                return items
            }
        }

        mutating func number(key: String) throws(PolicyError) -> Value {
            let start = index
            while let scalar = peek, Self.isBare(scalar) || scalar == "+" || scalar == "." || scalar == ":" { index += 1 }
            let token = String(String.UnicodeScalarView(scalars[start..<index]))
            let bytes = Array(token.utf8)
            if bytes.count == 10 && bytes[4] == UInt8(ascii: "-") {
                do {
                    return .date(try CalendarDate(parsing: token))
                } catch {
                    throw self.error(key: key, "bad date: \(error.problem)")
                }
            }
            if token.contains(".") || token.contains("e") || token.contains("E") {
                throw error(key: key, "'\(token)' is not an integer (no fractions: amounts are whole yuan, rates basis points, durations milliseconds)")
            }
            var digits = Substring(token)
            var negative = false
            if let sign = digits.first, sign == "+" || sign == "-" {
                negative = sign == "-"
                digits = digits.dropFirst()
            }
            let valid = !digits.isEmpty && digits.first != "_" && digits.last != "_" && !digits.contains("__")
                && digits.allSatisfy { $0 == "_" || ("0"..."9").contains($0) }
            guard valid else { throw error(key: key, "'\(token)' is not an integer, a date or a keyword") }
            let plain = digits.filter { $0 != "_" }
            if plain.count > 1 && plain.first == "0" {
                // A file mode is the usual reason (socket_mode = 0660): it is written as a string.
                let hint = key.hasSuffix("_mode") ? " (a mode is a quoted string: \"\(token)\")" : ""
                throw error(key: key, "'\(token)': leading zeros are not allowed\(hint)")
            }
            guard let magnitude = Int64(negative ? "-" + plain : plain) else {
                throw error(key: key, "'\(token)' is out of range for a 64-bit integer")
            }
            return .integer(magnitude)
        }
    }
}

import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// Columns a terminal gives `text`: two for East Asian wide and fullwidth characters (汉字,
/// fullwidth punctuation) and emoji, none for combining marks and zero-width characters, one
/// otherwise. Counting characters instead puts every column after a Chinese name out of line.
/// By grapheme cluster: a family emoji is three emoji joined by U+200D, and one wide glyph.
func displayWidth(_ text: String) -> Int {
    text.reduce(0) { $0 + displayWidth($1) }
}

/// A cluster is as wide as its first scalar — what follows it (combining marks, joiners,
/// variation selectors, Hangul vowels and finals) takes no column of its own — except that an
/// emoji is two wide: one shown as emoji by default, or made one by U+FE0F (`©️`, keycaps).
private func displayWidth(_ character: Character) -> Int {
    let scalars = character.unicodeScalars
    guard let first = scalars.first else { return 0 }
    if scalars.contains(where: \.properties.isEmojiPresentation) || (first.properties.isEmoji && scalars.contains("\u{FE0F}")) { return 2 }
    return displayWidth(first)
}

private func displayWidth(_ scalar: Unicode.Scalar) -> Int {
    switch scalar.properties.generalCategory {
    case .nonspacingMark, .enclosingMark, .format: return 0
    default: break
    }
    switch scalar.value {
    case 0x1160...0x11FF: return 0
    case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
        0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF,
        0x20000...0x3FFFD:
        return 2
    default: return 1
    }
}

/// A table for the terminal: a header row, columns aligned by display width, amounts
/// right-aligned.
struct TextTable {
    enum Alignment { case left, right }

    struct Column {
        var title: String
        var alignment: Alignment = .left
    }

    var columns: [Column]
    var rows: [[String]] = []

    init(_ columns: [Column]) { self.columns = columns }

    mutating func append(_ row: [String]) { rows.append(row) }

    /// The table as lines, two spaces between columns, no trailing blanks. On a terminal, each
    /// cell is measured as it will show (``Terminal/visible(_:)``: a bidi control is `\u202E`,
    /// six columns), not as its characters would.
    func rendered(forTerminal: Bool = Terminal.standardOutput) -> String {
        let rows = forTerminal ? self.rows.map { $0.map(Terminal.visible) } : self.rows
        var widths = columns.map { displayWidth($0.title) }
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], displayWidth(cell)) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, column) in columns.enumerated() {
                let cell = index < cells.count ? cells[index] : ""
                let pad = String(repeating: " ", count: widths[index] - displayWidth(cell))
                if index > 0 { text += "  " }
                text += column.alignment == .right ? pad + cell : cell + (index == columns.count - 1 ? "" : pad)
            }
            return text
        }
        return ([line(columns.map(\.title))] + rows.map(line)).map { String($0.reversed().drop { $0 == " " }.reversed()) }.joined(separator: "\n")
    }
}

/// A CSV file the way Excel opens it: UTF-8 with a byte-order mark (without one, Excel reads
/// Chinese as mojibake), CRLF line ends, RFC 4180 quoting.
struct CSVDocument {
    var header: [String]
    var rows: [[CSVCell]] = []

    /// One field: text is guarded against formula injection (a name an enterprise chose, beginning
    /// with `=`, `+`, `-`, `@`, a tab or a carriage return — or their full-width forms, which
    /// Chinese input methods type — would run as a formula in Excel or WPS); numbers are written
    /// as they are.
    enum CSVCell {
        case text(String)
        case number(String)
        /// A code that must stay text: a USCC, a contract number. Excel reads a field of digits
        /// as a number (15 significant digits: `914406050000001312` becomes 9.14406E+17, and
        /// is destroyed when the file is saved), `00123` without its zeros, and `2022-10` or
        /// `3-5` as dates; such a code is written as the formula `="…"`, which Excel and WPS
        /// show as the text itself.
        case identifier(String)
    }

    var bytes: [UInt8] {
        var text = "\u{FEFF}" + header.map(Self.quoted).joined(separator: ",") + "\r\n"
        for row in rows {
            text += row.map { cell in
                switch cell {
                case .number(let value): value
                case .text(let value): Self.quoted(Self.guarded(value))
                case .identifier(let value) where Self.readAsNumberOrDate(value):
                    // A formula's string literal doubles its quotes (SheetCell.unguarded reads it back).
                    Self.quoted("=\"" + value.reduce(into: "") { $0 += $1 == "\"" ? "\"\"" : String($1) } + "\"")
                case .identifier(let value): Self.quoted(Self.guarded(value))
                }
            }.joined(separator: ",") + "\r\n"
        }
        return Array(text.utf8)
    }

    /// What a spreadsheet reads as the start of a formula (OWASP's list, and the full-width forms).
    static let startsFormula: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠"]

    /// `value` with a `'` before a formula's first character. By code point: `=` followed by a
    /// combining mark is one Character, but a spreadsheet sees the `=`.
    static func guarded(_ value: String) -> String {
        value.unicodeScalars.first.map(startsFormula.contains) == true ? "'" + value : value
    }

    /// Whether Excel could read `value` as a number, a date, a time or a truth value rather than
    /// text. Decided by class, not by listing shapes: `value` has a digit, and apart from digits,
    /// number and date punctuation (`.`, `,`, `-`, `/`, `:`, `+`, `%`, parentheses — `(123)` is
    /// −123 — currency signs, spaces) it holds only words a date or number is written with: `E`
    /// (1E5), month names (`Mar-22`), AM/PM, and 年月日时分秒 or 上午/下午 (`2022年10月`). Or it is
    /// TRUE or FALSE. Wider than what Excel converts, on purpose: a code written as `="…"` loses
    /// nothing, one converted is destroyed.
    static func readAsNumberOrDate(_ value: String) -> Bool {
        // Full-width digits and signs (typed with a Chinese input method) are read as their
        // ASCII forms by Excel in a Chinese locale.
        let value = String(String.UnicodeScalarView(value.unicodeScalars.map { (0xFF01...0xFF5E).contains($0.value) ? Unicode.Scalar($0.value - 0xFEE0)! : $0 }))
        let bare = value.lowercased().filter { !$0.isWhitespace }
        if bare == "true" || bare == "false" { return true }
        guard value.unicodeScalars.contains(where: { ("0"..."9").contains($0) }) else { return false }
        var word = ""
        for scalar in Array(value.lowercased().unicodeScalars) + [" "] {
            if ("a"..."z").contains(scalar) {
                word.unicodeScalars.append(scalar)
                continue
            }
            if !word.isEmpty {
                guard dateWords.contains(word) else { return false }
                word = ""
            }
            guard ("0"..."9").contains(scalar) || numberPunctuation.contains(scalar) else { return false }
        }
        return true
    }

    /// Letters and words (lower case) that may stand in a number or a date as Excel reads one.
    private static let dateWords: Set<String> = [
        "e", "a", "p", "am", "pm", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "january", "february",
        "march", "april", "june", "july", "august", "september", "october", "november", "december",
    ]

    /// What else may stand in a number or a date: punctuation, currency signs, spaces, and the
    /// Chinese date and time characters.
    private static let numberPunctuation = Set(".,-/:+% ()$¥￥€£年月日时分秒上午下\u{00A0}\u{3000}".unicodeScalars)

    private static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingQuotes() + "\""
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var out = ""
        for character in self {
            if character == "\"" { out += "\"\"" } else { out.append(character) }
        }
        return out
    }
}

/// Writes `bytes` to `path` (created or truncated, mode 0644), or to standard output for "-"
/// (shown as ``Terminal/visible(_:)`` when that is a terminal).
func writeFile(_ bytes: [UInt8], to path: String) throws {
    var bytes = bytes
    if path == "-" && Terminal.standardOutput { bytes = Array(Terminal.visible(String(decoding: bytes, as: UTF8.self)).utf8) }
    let fd = path == "-" ? 1 : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw LocalError("\(path): cannot create (\(String(cString: strerror(errno))))") }
    defer { if fd != 1 { close(fd) } }
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw LocalError("\(path): write failed (\(String(cString: strerror(errno))))")
        }
        offset += n
    }
}


/// Whether the user's locale is Chinese (LC_ALL, LC_MESSAGES or LANG beginning with `zh`).
func prefersChinese() -> Bool {
    for name in ["LC_ALL", "LC_MESSAGES", "LANG"] {
        if let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty { return value.hasPrefix("zh") }
    }
    return false
}

/// Writes a line of commentary to standard error (where it stays out of a piped table or file).
func note(_ text: String) { standardErrorShown(text + "\n") }

/// ``standardError(_:)``, shown as ``Terminal/visible(_:)`` when standard error is a terminal
/// (what the daemon or a file says must not drive it).
func standardErrorShown(_ text: String) { standardError(Terminal.standardError ? Terminal.visible(text) : text) }

/// Writes `text` to standard error as it is, unbuffered.
func standardError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = write(2, &bytes, bytes.count)
}


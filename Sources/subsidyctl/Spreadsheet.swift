import ArgumentParser
import SubsidyCore

#if canImport(Glibc)
import Glibc
#endif

/// A CSV file as clerks save it from Excel: "CSV UTF-8" (with a byte-order mark), plain UTF-8, or
/// the GB18030/GBK of an older Excel's "CSV" — detected, or chosen with `--encoding`. Rows keep
/// their spreadsheet row number (the header is row 1), so an error names the row a clerk sees.
struct Spreadsheet {
    /// The header's column names, trimmed.
    var header: [String]
    /// Data rows: the spreadsheet row number and the fields, trimmed, by column name.
    var rows: [(row: Int, fields: [String: SheetCell])]
    /// The encoding the file was read in.
    var encoding: TextEncoding

    enum TextEncoding: String, ExpressibleByArgument, CaseIterable {
        case utf8 = "utf-8"
        case gb18030
        /// GBK is a subset of GB18030: read as GB18030.
        case gbk
    }

    /// Reads `path` (or standard input for "-") and splits it into rows under its header.
    static func read(path: String, encoding: TextEncoding?) throws -> Spreadsheet {
        var (records, used) = try records(path: path, encoding: encoding)
        guard !records.isEmpty else { throw LocalError("\(path): the file is empty") }
        let header = records.removeFirst().map(\.text.trimmingSpaces)
        var rows: [(row: Int, fields: [String: SheetCell])] = []
        for (index, record) in records.enumerated() where !record.allSatisfy(\.isBlank) {
            let row = index + 2
            // Empty cells past the last column (a formatted cell of the template) are no field.
            var record = record
            while record.count > header.count, record.last?.isBlank == true { record.removeLast() }
            guard record.count <= header.count else {
                throw LocalError("\(path) row \(row): \(record.count) fields, but the header names \(header.count) columns")
            }
            var fields: [String: SheetCell] = [:]
            for (column, cell) in zip(header, record) where !column.isEmpty { fields[column] = cell.trimmed }
            rows.append((row, fields))
        }
        return Spreadsheet(header: header, rows: rows, encoding: used)
    }

    /// Whether `path` names an Office Open XML workbook: `.xlsx`, or `.xlsm` (a template with
    /// macros, as bureaus use for drop-down lists; the macros are not read).
    static func isWorkbook(_ path: String) -> Bool {
        path.lowercased().hasSuffix(".xlsx") || path.lowercased().hasSuffix(".xlsm")
    }

    /// The rows of a CSV file (in the encoding found or given; every cell text) or of an .xlsx
    /// workbook's first sheet.
    static func records(path: String, encoding: TextEncoding?) throws -> ([[SheetCell]], TextEncoding) {
        if isWorkbook(path) { return (try XLSX.rows(path: path), .utf8) }
        if path.lowercased().hasSuffix(".xls") {
            throw LocalError("\(path): an Excel 97–2003 workbook (.xls); save it as .xlsx or \"CSV UTF-8\"")
        }
        let (text, used) = try decode(try readBytes(path: path), as: encoding, path: path)
        do throws(SubsidyError) {
            return (try HistoryCSV.records(text).map { $0.map { SheetCell(text: $0) } }, used)
        } catch {
            throw LocalError("\(path): \(error.message)")
        }
    }

    /// The text of `bytes`: UTF-8 without its byte-order mark, or GB18030 when asked for or when
    /// the bytes are not UTF-8 (a GBK file from Excel is never valid UTF-8 once it holds Chinese).
    ///
    /// GB18030 decodes almost any bytes, so the fallback is taken only for a file that looks like
    /// no UTF-8 at all: one with a byte-order mark, or with UTF-8 characters before its first
    /// invalid byte, is UTF-8 with a damaged spot (a character typed in another encoding) and is
    /// refused naming its line — read as GB18030, its Chinese would be filed as mojibake.
    static func decode(_ bytes: [UInt8], as encoding: TextEncoding?, path: String) throws -> (String, TextEncoding) {
        var body = bytes[...]
        let marked = body.starts(with: [0xEF, 0xBB, 0xBF])
        if marked { body = body.dropFirst(3) }
        if encoding == nil || encoding == .utf8 {
            if let text = String(validating: Array(body), as: UTF8.self) { return (text, .utf8) }
            if encoding == .utf8 { throw LocalError("\(path): not UTF-8 (save it as \"CSV UTF-8\", or pass --encoding gb18030)") }
            // Two CJK characters in UTF-8 before the damage: a GBK file rarely holds even one
            // (a GBK pair and the next byte form one about once in a hundred characters, and
            // its first invalid byte comes within a few).
            let (offset, chineseBefore) = firstInvalidUTF8(body)
            if offset < body.endIndex, marked || chineseBefore >= 2 {
                let line = body[..<offset].count { $0 == 0x0A } + 1
                throw LocalError(
                    "\(path): UTF-8 \(marked ? "(it starts with the UTF-8 byte-order mark)" : "up to line \(line)"), but line \(line) has a byte "
                        + "that is not (0x\(String(body[offset], radix: 16, uppercase: true)) at byte \(offset - body.startIndex + 1)): a character typed in another "
                        + "encoding? Retype it, or pass --encoding gb18030 if the whole file is GBK")
            }
        }
        guard let text = gb18030(Array(bytes)) else {
            throw LocalError("\(path): neither UTF-8 nor GB18030/GBK text; save it from Excel as \"CSV UTF-8\"")
        }
        return (text, encoding ?? .gb18030)
    }

    /// The index of the first byte of `bytes` that is not part of valid UTF-8 (`endIndex` if
    /// none), and how many UTF-8 characters of the CJK blocks (U+3000–U+9FFF) came before it.
    static func firstInvalidUTF8(_ bytes: ArraySlice<UInt8>) -> (offset: Int, chinese: Int) {
        var index = bytes.startIndex
        var chinese = 0
        while index < bytes.endIndex {
            let lead = bytes[index]
            let length = lead < 0x80 ? 1 : lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0
            guard length > 0, index + length <= bytes.endIndex,
                String(validating: Array(bytes[index..<index + length]), as: UTF8.self) != nil
            else { return (index, chinese) }
            if length == 3 && (0xE3...0xE9).contains(lead) { chinese += 1 }
            index += length
        }
        return (index, chinese)
    }

    /// GB18030 (a superset of GBK and GB2312) to a String, through the C library's iconv.
    private static func gb18030(_ bytes: [UInt8]) -> String? {
        let converter = iconv_open("UTF-8", "GB18030")
        guard let converter, Int(bitPattern: converter) != -1 else { return nil }
        defer { iconv_close(converter) }
        var input = bytes.map { CChar(bitPattern: $0) }
        var output = [CChar](repeating: 0, count: bytes.count * 2 + 4)
        let converted: Int? = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                var inPointer: UnsafeMutablePointer<CChar>? = inBuffer.baseAddress
                var outPointer: UnsafeMutablePointer<CChar>? = outBuffer.baseAddress
                var inLeft = inBuffer.count
                var outLeft = outBuffer.count
                guard iconv(converter, &inPointer, &inLeft, &outPointer, &outLeft) != -1, inLeft == 0 else { return nil }
                return outBuffer.count - outLeft
            }
        }
        guard let converted else { return nil }
        return String(validating: output[..<converted].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One cell of a spreadsheet: its text, and how the file stored it. A CSV holds text; an .xlsx
/// keeps what Excel made of what was typed — `2022-03-04` in a General cell becomes the date
/// 44624, and `914406050000001234` the number 9.14406050000001E+17 — which a column of codes must
/// not file as if it had been typed (``identifier(at:isCode:)``).
struct SheetCell: Hashable {
    enum Stored: Hashable {
        /// Text: every cell of a CSV; a string, boolean or formula-text cell of an .xlsx.
        case text
        /// An .xlsx number cell shown as a number: `text` is its digits, to Excel's 15.
        case number
        /// An .xlsx number cell whose format shows a date or time: `text` is its serial day
        /// number (days since 1899-12-30; a time of day is the fraction).
        case date
    }

    var text: String
    var stored: Stored = .text

    var isBlank: Bool { text.trimmingSpaces.isEmpty }

    /// The cell with its text trimmed (``Swift/String/trimmingSpaces``).
    var trimmed: SheetCell { SheetCell(text: text.trimmingSpaces, stored: stored) }

    /// What a clerk does about a cell Excel converted: the same words in every refusal.
    static let retype = "format the column as text (设置单元格格式 → 文本) and type the value again"

    /// The cell's value for a column of codes or names — a contract number, a USCC, a pilot id, a
    /// 文号, a project name — where what Excel made of a typed value must not be filed as it:
    /// - a cell with a date or time format is refused, showing the date (the contract number
    ///   `2022-03-04` Excel read as a date would be filed as 44624);
    /// - a number cell is its digits when it is a whole number Excel holds exactly (15 digits at
    ///   most: `20220304`), except in a column of USCCs (`isCode`), whose 18 characters no number
    ///   keeps: there, and for any other number, it is refused;
    /// - text in the scientific notation Excel shows such a number in (`9.14406E+17`, which a
    ///   CSV saved from the sheet holds) is refused: its digits are gone.
    ///
    /// `place` names the row and the column.
    func identifier(at place: String, isCode: Bool) throws(SubsidyError) -> String {
        switch stored {
        case .date:
            throw .invalidField(place, "Excel stored this cell as a date (\(Self.shownDate(serial: text))), not as the text typed; \(Self.retype)")
        case .number where isCode:
            throw .invalidField(place, "Excel turned the code into a number (\(text)), which keeps only 15 digits; \(Self.retype)")
        case .number:
            let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
            guard !digits.isEmpty, digits.count <= 15, digits.allSatisfy(\.isASCIIDigit) else {
                throw .invalidField(place, "Excel stored this cell as the number \(text), not as the text typed (a number keeps 15 digits and no leading zero); \(Self.retype)")
            }
            return text
        case .text:
            let code = Self.unguarded(text)
            // A code the export kept as text (`="9.1E+17"`) was never a number Excel made.
            if code == text { try Self.refuseScientific(text, at: place) }
            return code
        }
    }

    /// A code as subsidyctl's own exports protect it (``CSVDocument/CSVCell``), read from the file
    /// itself rather than through Excel (which shows the code): `="2022-10"`, the formula that
    /// keeps a code Excel would convert as text, is `2022-10`; `'=HT-1`, the apostrophe before a
    /// formula's first character, is `=HT-1`. Kept, a contract number would be another contract
    /// to the duplicate check (`="2022-10"` is not `2022-10`), and funded again.
    static func unguarded(_ text: String) -> String {
        if text.hasPrefix("=\""), text.hasSuffix("\""), text.count >= 3 {
            // A formula's string literal doubles its quotes; a lone quote means it is not one.
            var (unescaped, quote, literal) = ("", false, true)
            for character in text.dropFirst(2).dropLast() {
                if character == "\"" {
                    if quote { unescaped.append(character) }
                    quote.toggle()
                } else if quote {
                    literal = false
                    break
                } else {
                    unescaped.append(character)
                }
            }
            if literal && !quote { return unescaped }
        }
        if text.hasPrefix("'"), let next = text.unicodeScalars.dropFirst().first, CSVDocument.startsFormula.contains(next) {
            return String(text.dropFirst())
        }
        return text
    }

    /// Refuses `text` if it is a number in the notation Excel shows a long one in, `9.14406E+17`:
    /// the form a code typed into a General cell takes in a CSV saved from it, its last digits lost.
    /// A code that merely has an E in it (`2023E0015`) is not that form.
    /// Only the form a long number takes: a General cell shows 12 digits or more that way
    /// (`E+11` and up); `5E-12` or `3E+05` is a code someone typed.
    static func refuseScientific(_ text: String, at place: String) throws(SubsidyError) {
        guard let match = text.wholeMatch(of: /-?[0-9](\.[0-9]+)?[Ee]\+([0-9]{2,3})/), let exponent = Int(match.output.2), exponent >= 11 else { return }
        throw .invalidField(place, "\(text) is how Excel shows a code it turned into a number, its last digits lost; \(retype)")
    }

    /// A serial day number as the date (and time) Excel shows for it: `44624` is `2022-03-04`,
    /// `44624.5` `2022-03-04 12:00`, `0.75` `18:00`.
    static func shownDate(serial: String) -> String {
        guard let value = Double(serial), value >= 0, value < 3_000_000 else { return serial }
        let day = Int(value.rounded(.down))
        let minutes = Int(((value - Double(day)) * 1_440).rounded())
        var shown: [String] = []
        if day > 0, let date = CalendarDate(excelSerial: day) { shown.append(date.description) }
        if minutes > 0 || shown.isEmpty {
            func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
            shown.append("\(twoDigits(minutes / 60)):\(twoDigits(minutes % 60))")
        }
        return shown.joined(separator: " ")
    }
}

extension CalendarDate {
    /// The day of Excel's serial day number `serial` in its 1900 date system (days since
    /// 1899-12-30; 25,569 is 1970-01-01).
    init?(excelSerial serial: Int) { self.init(daysSinceEpoch: serial - 25_569) }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isWholeNumber }
}

/// A date cell as a clerk's spreadsheet holds it, as `YYYY-MM-DD`: `2021-10-01` itself;
/// `2021/10/1`, `2021-10-1`, `2021.10.1` and `2021年10月1日` (what zh-CN Excel writes in a CSV,
/// and what clerks type); and Excel's serial day number (`44470`, days since 1899-12-30, how an
/// .xlsx keeps a date cell), five digits. Nil for anything else, which the caller refuses or
/// passes on for the daemon to name: `210315` is not guessed at.
func normalisedDate(_ value: String) -> String? {
    let text = value.trimmingSpaces
    if text.count == 5, text.allSatisfy(\.isASCII), let serial = Int(text) {
        return CalendarDate(excelSerial: serial)?.description
    }
    let parts = text.filter { $0 != "日" }.split(whereSeparator: { "-/.年月".contains($0) })
    guard parts.count == 3, parts.allSatisfy({ $0.allSatisfy(\.isASCII) }), parts[0].count == 4, (1...2).contains(parts[1].count),
        (1...2).contains(parts[2].count), let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
        let date = CalendarDate(year: year, month: month, day: day)
    else { return nil }
    return date.description
}

/// A date flag as typed: `2022/10/2`, `2022年10月2日` or an Excel serial read as YYYY-MM-DD, as
/// a sheet's date cell is; anything else as typed, for the command or the daemon to refuse
/// naming the flag's field.
func dateFlag(_ value: String) -> String {
    normalisedDate(value) ?? value
}

/// Reads a whole file, or standard input for "-".
func readBytes(path: String) throws -> [UInt8] {
    let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw LocalError("\(path): cannot open (\(String(cString: strerror(errno))))") }
    defer { if fd != 0 { close(fd) } }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n < 0 {
            if errno == EINTR { continue }
            throw LocalError("\(path): read failed (\(String(cString: strerror(errno))))")
        }
        if n == 0 { break }
        bytes += chunk[0..<n]
    }
    return bytes
}

/// A progress line on standard error, redrawn in place — only when standard error is a terminal,
/// so a log or a pipe gets no control characters.
struct Progress {
    let total: Int
    let label: String
    private let shown = isatty(2) == 1

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    func update(_ done: Int) {
        guard shown, total > 0 else { return }
        let width = 30
        let filled = done * width / total
        var text = "\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done)/\(total)"
        if done == total { text += "\n" }
        standardError(text)
    }
}


/// A problem on this side of the socket (a file that cannot be read, written or understood):
/// printed as one line, exit status 1, no usage text.
struct LocalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

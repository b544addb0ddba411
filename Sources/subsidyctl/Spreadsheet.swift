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
    var rows: [(row: Int, fields: [String: String])]
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
        let header = records.removeFirst().map(\.trimmingSpaces)
        var rows: [(row: Int, fields: [String: String])] = []
        for (index, record) in records.enumerated() where !record.allSatisfy({ $0.trimmingSpaces.isEmpty }) {
            let row = index + 2
            // Empty cells past the last column (a formatted cell of the template) are no field.
            var record = record
            while record.count > header.count, record.last?.trimmingSpaces.isEmpty == true { record.removeLast() }
            guard record.count <= header.count else {
                throw LocalError("\(path) row \(row): \(record.count) fields, but the header names \(header.count) columns")
            }
            var fields: [String: String] = [:]
            for (column, value) in zip(header, record) where !column.isEmpty { fields[column] = value.trimmingSpaces }
            rows.append((row, fields))
        }
        return Spreadsheet(header: header, rows: rows, encoding: used)
    }

    /// Whether `path` names an Office Open XML workbook: `.xlsx`, or `.xlsm` (a template with
    /// macros, as bureaus use for drop-down lists; the macros are not read).
    static func isWorkbook(_ path: String) -> Bool {
        path.lowercased().hasSuffix(".xlsx") || path.lowercased().hasSuffix(".xlsm")
    }

    /// The rows of a CSV file (in the encoding found or given) or of an .xlsx workbook's first sheet.
    static func records(path: String, encoding: TextEncoding?) throws -> ([[String]], TextEncoding) {
        if isWorkbook(path) { return (try XLSX.rows(path: path), .utf8) }
        if path.lowercased().hasSuffix(".xls") {
            throw LocalError("\(path): an Excel 97–2003 workbook (.xls); save it as .xlsx or \"CSV UTF-8\"")
        }
        let (text, used) = try decode(try readBytes(path: path), as: encoding, path: path)
        do throws(SubsidyError) {
            return (try HistoryCSV.records(text), used)
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

/// A date cell as a clerk's spreadsheet holds it, as `YYYY-MM-DD`: `2021-10-01` itself;
/// `2021/10/1`, `2021-10-1`, `2021.10.1` and `2021年10月1日` (what zh-CN Excel writes in a CSV,
/// and what clerks type); and Excel's serial day number (`44470`, days since 1899-12-30, how an
/// .xlsx keeps a date cell), five digits. Nil for anything else, which the caller refuses or
/// passes on for the daemon to name: `210315` is not guessed at.
func normalisedDate(_ value: String) -> String? {
    let text = value.trimmingSpaces
    if text.count == 5, text.allSatisfy(\.isASCII), let serial = Int(text) {
        return CalendarDate(daysSinceEpoch: serial - 25_569)?.description
    }
    let parts = text.filter { $0 != "日" }.split(whereSeparator: { "-/.年月".contains($0) })
    guard parts.count == 3, parts.allSatisfy({ $0.allSatisfy(\.isASCII) }), parts[0].count == 4, (1...2).contains(parts[1].count),
        (1...2).contains(parts[2].count), let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
        let date = CalendarDate(year: year, month: month, day: day)
    else { return nil }
    return date.description
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

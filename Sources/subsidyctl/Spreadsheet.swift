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
            guard record.count <= header.count else {
                throw LocalError("\(path) row \(row): \(record.count) fields, but the header names \(header.count) columns")
            }
            var fields: [String: String] = [:]
            for (column, value) in zip(header, record) where !column.isEmpty { fields[column] = value.trimmingSpaces }
            rows.append((row, fields))
        }
        return Spreadsheet(header: header, rows: rows, encoding: used)
    }

    /// The rows of a CSV file (in the encoding found or given) or of an .xlsx workbook's first sheet.
    static func records(path: String, encoding: TextEncoding?) throws -> ([[String]], TextEncoding) {
        if path.lowercased().hasSuffix(".xlsx") { return (try XLSX.rows(path: path), .utf8) }
        let (text, used) = try decode(try readBytes(path: path), as: encoding, path: path)
        do throws(SubsidyError) {
            return (try HistoryCSV.records(text), used)
        } catch {
            throw LocalError("\(path): \(error.message)")
        }
    }

    /// The text of `bytes`: UTF-8 without its byte-order mark, or GB18030 when asked for or when
    /// the bytes are not UTF-8 (a GBK file from Excel is never valid UTF-8 once it holds Chinese).
    static func decode(_ bytes: [UInt8], as encoding: TextEncoding?, path: String) throws -> (String, TextEncoding) {
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        if encoding == nil || encoding == .utf8 {
            if let text = String(validating: Array(body), as: UTF8.self) { return (text, .utf8) }
            if encoding == .utf8 { throw LocalError("\(path): not UTF-8 (save it as \"CSV UTF-8\", or pass --encoding gb18030)") }
        }
        guard let text = gb18030(Array(bytes)) else {
            throw LocalError("\(path): neither UTF-8 nor GB18030/GBK text; save it from Excel as \"CSV UTF-8\"")
        }
        return (text, encoding ?? .gb18030)
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

import ArgumentParser
import Foundation
import ZIPFoundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The bureaus' spreadsheets as Excel keeps them: an Office Open XML workbook (a ZIP of XML
/// parts, written and read with ZIPFoundation). One sheet; text as inline strings (no shared
/// table to keep in step), numbers as numbers, the header row bold and frozen.
enum XLSX {
    /// The workbook of `document`: its header, then its rows (numbers stay numbers).
    static func workbook(_ document: CSVDocument, sheetName: String) throws -> Data {
        let archive = try Archive(accessMode: .create)
        func add(_ path: String, _ text: String) throws {
            let data = Data(text.utf8)
            try archive.addEntry(
                with: path, type: .file, uncompressedSize: Int64(data.count), modificationDate: Date(timeIntervalSince1970: 1_577_836_800),
                compressionMethod: .deflate
            ) { position, size in data.subdata(in: Int(position)..<Int(position) + size) }
        }
        try add("[Content_Types].xml", """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
            <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
            <Default Extension="xml" ContentType="application/xml"/>\
            <Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
            <Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
            <Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
            </Types>
            """)
        try add("_rels/.rels", """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
            <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>\
            </Relationships>
            """)
        try add("xl/workbook.xml", """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" \
            xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">\
            <sheets><sheet name="\(escaped(String(sheetName.prefix(31))))" sheetId="1" r:id="rId1"/></sheets></workbook>
            """)
        try add("xl/_rels/workbook.xml.rels", """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\
            <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>\
            <Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>\
            </Relationships>
            """)
        // Style 1: the header (bold); style 2: amounts with two decimals and thousands separators.
        try add("xl/styles.xml", """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
            <fonts count="2"><font><sz val="11"/><name val="等线"/></font><font><b/><sz val="11"/><name val="等线"/></font></fonts>\
            <fills count="1"><fill><patternFill patternType="none"/></fill></fills>\
            <borders count="1"><border/></borders>\
            <cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
            <cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
            <xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>\
            <xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>\
            <cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>\
            </styleSheet>
            """)
        var sheet = """
            <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
            <worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">\
            <sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>\
            <sheetData>
            """
        sheet += row(1, document.header.map { .text($0) }, header: true)
        for (index, cells) in document.rows.enumerated() { sheet += row(index + 2, cells, header: false) }
        sheet += "</sheetData></worksheet>"
        try add("xl/worksheets/sheet1.xml", sheet)
        guard let data = archive.data else { throw LocalError("the workbook could not be assembled") }
        return data
    }

    private static func row(_ number: Int, _ cells: [CSVDocument.CSVCell], header: Bool) -> String {
        var xml = "<row r=\"\(number)\">"
        for (column, cell) in cells.enumerated() {
            let reference = columnName(column) + String(number)
            switch cell {
            case .number(let value) where !value.isEmpty && value.allSatisfy({ "0123456789.-".contains($0) }):
                // Amounts have a fractional part: shown as money; counts and years as they are.
                xml += "<c r=\"\(reference)\"\(value.contains(".") ? " s=\"2\"" : "")><v>\(value)</v></c>"
            case .number(let value), .text(let value), .identifier(let value):
                xml += "<c r=\"\(reference)\" t=\"inlineStr\"\(header ? " s=\"1\"" : "")><is><t xml:space=\"preserve\">\(escaped(value))</t></is></c>"
            }
        }
        return xml + "</row>"
    }

    /// A, B, …, Z, AA, AB, … for the zero-based `index`.
    static func columnName(_ index: Int) -> String {
        var name = ""
        var n = index + 1
        while n > 0 {
            let remainder = (n - 1) % 26
            name = String(UnicodeScalar(UInt8(65 + remainder))) + name
            n = (n - 1) / 26
        }
        return name
    }

    /// Text for XML character data and attributes; characters XML 1.0 cannot hold are dropped.
    private static func escaped(_ text: String) -> String {
        var out = ""
        // `_x0042_` in a cell's text is Excel's escape for B: a literal one is written `_x005F_x0042_`.
        for scalar in (text.contains("_x") ? text.replacingOccurrences(of: "_x", with: "_x005F_x") : text).unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value >= 0x20 && scalar.value != 0xFFFE && scalar.value != 0xFFFF { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    // MARK: Reading

    /// The largest part (XML file) read out of a workbook: a batch comes from outside the bureau,
    /// and a ZIP entry of a few hundred KB can inflate to gigabytes.
    static let maximumPartBytes = 128 * 1024 * 1024
    /// Excel's own grid (XFD1048576): a cell reference outside it is not Excel's.
    static let maximumColumns = 16_384
    static let maximumRows = 1_048_576
    /// Cells read into rows, blanks to the left of a row's last cell included: a few cells far to
    /// the right in many rows must not make billions of empty ones.
    static let maximumCells = 20_000_000
    /// Days from 1899-12-30, where Excel's 1900 date system counts from, to 1904-01-01, where the
    /// 1904 system does: a date cell of a 1904 workbook is this many days more in the 1900 system.
    static let date1904Offset = 1_462

    /// The first sheet of the workbook at `path` as rows of cells (empty cells as ""), for a
    /// batch: shared strings, inline strings, numbers and booleans are read; formulas by their
    /// cached values. A number cell says whether its format shows it as a date or time (the
    /// workbook's styles), so a column of codes can refuse a contract number Excel made a date.
    /// A part that is not well-formed XML, a cell reference outside Excel's grid or a shared
    /// string that does not exist refuses the whole file, naming where: a sheet read only up to
    /// its first error would file half of it and say nothing of the rest.
    static func rows(path: String) throws -> [[SheetCell]] {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw LocalError("\(path): not an .xlsx workbook (\(error))")
        }
        func part(_ name: String) throws -> Data? {
            guard let entry = archive[name] else { return nil }
            let limit = maximumPartBytes
            guard entry.uncompressedSize <= Int64(limit) else {
                throw LocalError("\(path): \(name) would be \(entry.uncompressedSize) bytes unpacked, more than a sheet subsidyctl reads (\(limit))")
            }
            var data = Data()
            // The size a ZIP entry declares is the sender's word: the bytes are counted too.
            _ = try archive.extract(entry) { chunk in
                guard data.count + chunk.count <= limit else {
                    throw LocalError("\(path): \(name) unpacks to more than \(limit) bytes, more than a sheet subsidyctl reads")
                }
                data.append(chunk)
            }
            return data
        }
        let shared = try part("xl/sharedStrings.xml").map { try SheetParser.sharedStrings($0, part: "\(path): xl/sharedStrings.xml") } ?? []
        // The styles are the workbook's, whatever its relationships call them: Excel, WPS and
        // openpyxl all write xl/styles.xml. Without them no cell has a date format.
        let dateStyles = try part("xl/styles.xml").map { try SheetParser.dateStyles($0, part: "\(path): xl/styles.xml") } ?? []
        let workbook = try part("xl/workbook.xml")
        let sheetPath = try firstSheetPath(workbook: workbook, relationships: part("xl/_rels/workbook.xml.rels"), path: path)
        guard let sheet = try part(sheetPath) else { throw LocalError("\(path): the workbook has no worksheet \(sheetPath)") }
        // A workbook begun in Mac Excel before 2011 may count its days from 1904 (工作簿选项 →
        // 使用 1904 日期系统): the same day is 1,462 fewer, four years off if read as 1900's.
        let date1904 = try workbook.flatMap { try SheetParser.firstAttribute(in: $0, element: "workbookPr", attribute: "date1904", part: "\(path): xl/workbook.xml") }
        return try SheetParser.cells(
            sheet, shared: shared, dateStyles: dateStyles, serialOffset: date1904 == "1" || date1904 == "true" ? XLSX.date1904Offset : 0,
            part: "\(path): \(sheetPath)")
    }

    /// The number formats Excel has built in that show a date or a time: 14–22 and 45–47, and
    /// the ones East Asian Excel shows as 年月日 and 时分秒 (27–36, 50–58; ECMA-376 §18.8.30).
    static let builtInDateFormats: Set<Int> = Set(14...22).union(27...36).union(45...47).union(50...58)

    /// Whether the number format `code` shows a number as a date or a time: it has a y, m, d, h
    /// or s outside quoted text, escapes (`\-`), padding (`_)`), fills (`*-`) and brackets —
    /// except the elapsed-time brackets `[h]`, `[mm]`, `[ss]`. `#,##0.00"元"`, `0.00E+00`,
    /// `[Red]0.00` and General are numbers; `yyyy"年"m"月"d"日"`, `yyyy-mm-dd` and `h:mm` dates.
    static func isDateFormat(_ code: String) -> Bool {
        var characters = code.makeIterator()
        while let character = characters.next() {
            switch character {
            case "\"":
                while let quoted = characters.next(), quoted != "\"" {}
            case "\\", "_", "*": _ = characters.next()
            case "[":
                var inside = ""
                while let bracketed = characters.next(), bracketed != "]" { inside.append(bracketed) }
                if !inside.isEmpty, inside.lowercased().allSatisfy({ "hms".contains($0) }) { return true }
            default:
                if "yYmMdDhHsS".contains(character) { return true }
            }
        }
        return false
    }

    /// The part of the workbook's first sheet (`xl/worksheets/sheet1.xml` unless the workbook says otherwise).
    private static func firstSheetPath(workbook: Data?, relationships: Data?, path: String) throws -> String {
        guard let workbook, let relationships,
            let id = try SheetParser.firstAttribute(in: workbook, element: "sheet", attribute: "r:id", part: "\(path): xl/workbook.xml"),
            let target = try SheetParser.relationshipTarget(in: relationships, id: id, part: "\(path): xl/_rels/workbook.xml.rels")
        else { return "xl/worksheets/sheet1.xml" }
        return target.hasPrefix("/") ? String(target.dropFirst()) : "xl/" + target
    }
}

/// SpreadsheetML parsing with Foundation's XMLParser.
private final class SheetParser: NSObject, XMLParserDelegate {
    private enum Mode {
        case shared, sheet, styles
        case firstAttribute(element: String, attribute: String)
        case relationship(id: String)
    }
    private let mode: Mode
    private var shared: [String] = []
    private var strings: [String] = []
    private var text = ""
    private var inText = false
    private var rows: [[SheetCell]] = []
    private var row: [Int: SheetCell] = [:]
    /// The row's number in the sheet (`<row r="…">`): Excel leaves blank rows out of the file.
    private var rowNumber = 0
    private var cellColumn = 0
    private var cellReference = ""
    private var cellType = ""
    /// The cell's style (`s`, an index into the styles' cellXfs), and the styles whose number
    /// format is a date or time.
    private var cellStyle = 0
    private var dateStyles: Set<Int> = []
    private var serialOffset = 0
    /// Styles: each custom number format's code by id, the number format of each cellXfs entry,
    /// and whether the parser is inside cellXfs (cellStyleXfs holds `xf` elements too).
    private var formatCodes: [Int: String] = [:]
    private var styleFormats: [Int] = []
    private var inCellXfs = false
    private var cells = 0
    private var found: String?
    /// Why the part is refused (the delegate cannot throw: it stops the parser and says why).
    private var problem: String?

    private init(_ mode: Mode, shared: [String] = []) {
        self.mode = mode
        self.shared = shared
    }

    /// Parses `data`, throwing what stopped it: the delegate's refusal, or the XML error with
    /// its line and column (XMLParser stops at the first; what it read before is not the sheet).
    private func run(_ data: Data, part: String) throws {
        let parser = XMLParser(data: data)
        parser.delegate = self
        let parsed = parser.parse()
        if let problem { throw LocalError("\(part): \(problem)") }
        if !parsed || parser.parserError != nil {
            let reason = parser.parserError.map { "\($0.localizedDescription)" } ?? "a parse error"
            throw LocalError(
                "\(part) is not well-formed XML at line \(parser.lineNumber), column \(parser.columnNumber) (\(reason)); nothing was read from the file")
        }
    }

    private func refuse(_ parser: XMLParser, _ why: String) {
        if problem == nil { problem = why }
        parser.abortParsing()
    }

    static func sharedStrings(_ data: Data, part: String) throws -> [String] {
        let parser = SheetParser(.shared)
        try parser.run(data, part: part)
        return parser.strings
    }

    /// `serialOffset`: days added to a date cell's serial to count it from 1899-12-30, as
    /// ``SheetCell/Stored/date`` does (``XLSX/date1904Offset`` in a 1904 workbook, else 0).
    static func cells(_ data: Data, shared: [String], dateStyles: Set<Int>, serialOffset: Int = 0, part: String) throws -> [[SheetCell]] {
        let parser = SheetParser(.sheet, shared: shared)
        parser.dateStyles = dateStyles
        parser.serialOffset = serialOffset
        try parser.run(data, part: part)
        return parser.rows
    }

    /// The cell styles (indices of cellXfs, as a cell's `s` names them) whose number format shows
    /// a date or a time: a built-in one, or a custom one whose code does (``XLSX/isDateFormat(_:)``).
    /// A workbook may give a built-in id a code of its own: the code decides.
    static func dateStyles(_ data: Data, part: String) throws -> Set<Int> {
        let parser = SheetParser(.styles)
        try parser.run(data, part: part)
        var styles: Set<Int> = []
        for (index, format) in parser.styleFormats.enumerated() {
            let isDate = parser.formatCodes[format].map(XLSX.isDateFormat) ?? XLSX.builtInDateFormats.contains(format)
            if isDate { styles.insert(index) }
        }
        return styles
    }

    static func firstAttribute(in data: Data, element: String, attribute: String, part: String) throws -> String? {
        let parser = SheetParser(.firstAttribute(element: element, attribute: attribute))
        try parser.run(data, part: part)
        return parser.found
    }

    static func relationshipTarget(in data: Data, id: String, part: String) throws -> String? {
        let parser = SheetParser(.relationship(id: id))
        try parser.run(data, part: part)
        return parser.found
    }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]
    ) {
        switch mode {
        case .firstAttribute(let element, let attribute):
            if found == nil, name == element || name.hasSuffix(":" + element) { found = attributes[attribute] }
        case .relationship(let id):
            if name.hasSuffix("Relationship"), attributes["Id"] == id { found = attributes["Target"] }
        case .shared:
            if name == "si" { text = "" }
            if name == "t" { inText = true }
        case .styles:
            switch name {
            case "numFmt":
                if let id = attributes["numFmtId"].flatMap({ Int($0) }), let code = attributes["formatCode"] { formatCodes[id] = code }
            case "cellXfs": inCellXfs = true
            // An xf without a number format has General (0).
            case "xf" where inCellXfs: styleFormats.append(attributes["numFmtId"].flatMap { Int($0) } ?? 0)
            default: break
            }
        case .sheet:
            switch name {
            case "row":
                row = [:]
                if let given = attributes["r"] {
                    // Rows come in order, each within Excel's grid.
                    guard let number = Int(given), number > rows.count, number <= XLSX.maximumRows else {
                        return refuse(parser, "row number \"\(given)\" is out of order or outside 1…\(XLSX.maximumRows)")
                    }
                    rowNumber = number
                } else {
                    rowNumber = rows.count + 1
                }
            case "c":
                cellType = attributes["t"] ?? ""
                cellStyle = attributes["s"].flatMap { Int($0) } ?? 0
                cellReference = attributes["r"] ?? ""
                if cellReference.isEmpty {
                    cellColumn = row.keys.max().map { $0 + 1 } ?? 0
                } else if let column = Self.column(of: cellReference) {
                    cellColumn = column
                } else {
                    return refuse(parser, "row \(rowNumber): cell reference \"\(cellReference)\" is outside Excel's columns A…XFD")
                }
                guard cellColumn < XLSX.maximumColumns else {
                    return refuse(parser, "row \(rowNumber): a cell after column XFD, the last Excel has")
                }
                text = ""
            case "v", "t": inText = true
            default: break
            }
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if inText { text += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        switch mode {
        case .shared:
            if name == "t" { inText = false }
            if name == "si" { strings.append(Self.unescaped(text)) }
        case .styles:
            if name == "cellXfs" { inCellXfs = false }
        case .sheet:
            switch name {
            case "v", "t": inText = false
            case "c":
                switch cellType {
                case "s":
                    guard let index = Int(text), shared.indices.contains(index) else {
                        let cell = cellReference.isEmpty ? "row \(rowNumber)" : "cell \(cellReference)"
                        return refuse(parser, "\(cell) names shared string \"\(text)\", which the workbook does not have (it has \(shared.count))")
                    }
                    row[cellColumn] = SheetCell(text: shared[index])
                case "b": row[cellColumn] = SheetCell(text: text == "1" ? "true" : "false")
                case "e":
                    // A formula that failed (#N/A of a VLOOKUP): its text is not the cell's value.
                    let cell = cellReference.isEmpty ? "row \(rowNumber)" : "cell \(cellReference)"
                    return refuse(parser, "\(cell) shows an Excel error (\(text)), not a value; fix the formula or type the value")
                case "inlineStr", "str": row[cellColumn] = SheetCell(text: Self.unescaped(text))
                // An ISO 8601 date cell (strict Open XML): a date whatever its style.
                case "d": row[cellColumn] = SheetCell(text: text, stored: .date)
                default:
                    let number = Self.plainNumber(text, type: cellType)
                    if dateStyles.contains(cellStyle) {
                        let serial = serialOffset == 0 ? nil : Decimal(string: number).map { "\($0 + Decimal(serialOffset))" }
                        row[cellColumn] = SheetCell(text: serial ?? number, stored: .date)
                    } else {
                        row[cellColumn] = SheetCell(text: number, stored: .number)
                    }
                }
            case "row":
                // The rows Excel left out stand where they were, so row numbers stay the sheet's.
                while rows.count < rowNumber - 1 { rows.append([]) }
                let width = (row.keys.max() ?? -1) + 1
                cells += width
                guard cells <= XLSX.maximumCells else {
                    return refuse(parser, "row \(rowNumber): more than \(XLSX.maximumCells) cells, more than a batch subsidyctl reads")
                }
                rows.append((0..<width).map { row[$0] ?? SheetCell(text: "") })
            default: break
            }
        default: break
        }
    }

    /// A number Excel stored as 1.2E6 or 1200000.0000000002 as the digits a clerk typed: rounded
    /// to the 15 significant digits Excel itself keeps, which removes the binary noise and
    /// nothing a clerk typed — so 1234.567 stays 1234.567, and an amount in yuan with three
    /// decimals is refused as it is from a CSV, not rounded to fen unseen.
    private static func plainNumber(_ text: String, type: String) -> String {
        guard type.isEmpty || type == "n", let value = Decimal(string: text) else { return text }
        let whole = "\(value.magnitude)".prefix { $0 != "." }
        var rounded = Decimal()
        var source = value
        NSDecimalRound(&rounded, &source, 15 - (whole == "0" ? 0 : whole.count), .plain)
        return "\(rounded)"
    }

    /// Text as Excel escapes it (ECMA-376 ST_Xstring): `_x000D_` is a carriage return, `_x005F_`
    /// a literal `_`.
    static func unescaped(_ text: String) -> String {
        guard text.contains("_x") else { return text }
        var out = ""
        var rest = Substring(text)
        while let start = rest.range(of: "_x") {
            out += rest[..<start.lowerBound]
            let hex = rest[start.upperBound...].prefix(5)
            if hex.count == 5, hex.last == "_", let value = UInt32(hex.dropLast(), radix: 16), hex.dropLast().allSatisfy(\.isHexDigit),
                let scalar = Unicode.Scalar(value)
            {
                out.unicodeScalars.append(scalar)
                rest = rest[rest.index(start.upperBound, offsetBy: 5)...]
            } else {
                out += "_x"
                rest = rest[start.upperBound...]
            }
        }
        return out + rest
    }

    /// The zero-based column of a cell reference such as `C7`: one to three letters, then the
    /// row's digits; nil for anything else (no reference Excel writes is longer).
    private static func column(of reference: String) -> Int? {
        let letters = reference.unicodeScalars.prefix { ("A"..."Z").contains($0) || ("a"..."z").contains($0) }
        guard (1...3).contains(letters.count), reference.unicodeScalars.dropFirst(letters.count).allSatisfy({ ("0"..."9").contains($0) }) else { return nil }
        return String(String.UnicodeScalarView(letters)).uppercased().unicodeScalars.reduce(0) { $0 * 26 + Int($1.value) - 64 } - 1
    }
}

import SubsidyCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The store's own encodings of what it keeps beside its columns: an application's content and an
// award's explanation, as JSON of plain fields. The store reads them itself — no codec from
// another layer, no protobuf — and a row that does not decode is damaged data (DATA_LOSS).
// Field names are the storage format: renaming one is a migration.

extension ApplicationContent {
    /// The protocol's JSON names of the fields whose stored names differ; the two the protocol's
    /// Application does not carry are left out of a change list.
    private static let wireNames = ["enterprise": "enterpriseUscc", "provider": "providerUscc", "pilotID": "pilotId"]
    private static let internalFields: Set<String> = ["caseAmountFen", "decisionDocument"]

    /// Lists up to this long are recorded whole on both sides of a change; a longer one as its
    /// size and what was removed and added, naming ``listEntriesNamed`` of each. Every amendment's
    /// change is in the record's history, which every reply carrying the record holds: two lists
    /// of 5,000 enterprises recorded whole before and after would take ~400 KB an amendment, and a
    /// few dozen amendments would make a record no reply frame can carry (nor the city's listing
    /// get past it).
    static let listRecordedWhole = 20
    static let listEntriesNamed = 10
    /// The list fields as a change names them.
    static let listFields: Set<String> = ["servedEnterprises", "provincialVoucherEnterprises"]

    /// Every field that differs between `old` and `new`, in declaration order, as text.
    static func changes(from old: Application, to new: Application) -> [FieldChange] {
        func text(_ value: Any) -> String {
            switch value {
            case let list as [String]: list.joined(separator: ", ")
            case let optional as String?: optional ?? ""
            case let optional as Int64?: optional.map(String.init) ?? ""
            default: "\(value)"
            }
        }
        let before = Mirror(reflecting: ApplicationContent(old)).children
        let after = Mirror(reflecting: ApplicationContent(new)).children
        return zip(before, after).compactMap { old, new in
            guard let name = old.label, !internalFields.contains(name) else { return nil }
            let (was, now) =
                if let wasList = old.value as? [String], let nowList = new.value as? [String] {
                    listChange(wasList, nowList)
                } else {
                    (text(old.value), text(new.value))
                }
            return was == now ? nil : FieldChange(field: wireNames[name] ?? name, before: was, after: now)
        }
    }

    /// A list's change as text: whole while both sides are short, else each side's size with the
    /// entries it alone holds (removed before, added after). A list only reordered is unchanged.
    static func listChange(_ old: [String], _ new: [String]) -> (before: String, after: String) {
        guard old.count > listRecordedWhole || new.count > listRecordedWhole else {
            return (old.joined(separator: ", "), new.joined(separator: ", "))
        }
        let (oldSet, newSet) = (Set(old), Set(new))
        func side(_ list: [String], _ only: [String], _ verb: String) -> String {
            let named = only.prefix(listEntriesNamed).joined(separator: ", ")
            let more = only.count > listEntriesNamed ? " and \(only.count - listEntriesNamed) more" : ""
            return "\(list.count) entries" + (only.isEmpty ? "" : "; \(verb) \(only.count): \(named)\(more)")
        }
        let (removed, added) = (old.filter { !newSet.contains($0) }, new.filter { !oldSet.contains($0) })
        return (side(old, removed, "removed"), side(new, added, "added"))
    }
}

/// An application's content as the district store keeps it (JSON in `applications.content`).
struct ApplicationContent: Codable, Equatable {
    var measure: String
    var fundingYear: Int
    var enterprise: String
    var enterpriseLocality: String
    var projectName: String
    var contractNumber: String
    var contractAmountFen: Int64
    var paidAmountFen: Int64
    var provider: String?
    var investedAmountFen: Int64
    var constructionAmountFen: Int64
    var totalInvestmentFen: Int64
    var upperLevelSubsidyFen: Int64
    var upperLevelAwardTotalFen: Int64
    var previousYearServiceSpendFen: Int64
    var selectionDate: String?
    var selectionLevel: String
    var inProvincialPool: Bool
    var recognisedSecondaryNode: Bool
    var pilotID: String
    var servedEnterprises: [String]
    var provincialVoucherEnterprises: [String]
    var otherFundDeclared: Bool
    var otherFundReason: String
    var caseAmountFen: Int64
    var decisionDocument: String
    // Added with programmes (PROGRAMMES.md); absent in rows stored before, which read as the 2020
    // policy, no grade and no declared revenue.
    var programme: String?
    var grade: String?
    var declaredRevenueFen: Int64?

    init(_ a: Application) {
        measure = a.measure.rawValue
        fundingYear = a.fundingYear.year
        enterprise = a.enterprise.rawValue
        enterpriseLocality = a.enterpriseLocality.rawValue
        projectName = a.projectName
        contractNumber = a.contractNumber
        contractAmountFen = a.contractAmount.fen
        paidAmountFen = a.paidAmount.fen
        provider = a.provider?.rawValue
        investedAmountFen = a.investedAmount.fen
        constructionAmountFen = a.constructionAmount.fen
        totalInvestmentFen = a.totalInvestment.fen
        upperLevelSubsidyFen = a.upperLevelSubsidy.fen
        upperLevelAwardTotalFen = a.upperLevelAwardTotal.fen
        previousYearServiceSpendFen = a.previousYearServiceSpend.fen
        selectionDate = a.selectionDate?.description
        selectionLevel = a.selectionLevel.rawValue
        inProvincialPool = a.inProvincialPool
        recognisedSecondaryNode = a.recognisedSecondaryNode
        pilotID = a.pilotID
        servedEnterprises = a.servedEnterprises.map(\.rawValue)
        provincialVoucherEnterprises = a.provincialVoucherEnterprises.map(\.rawValue)
        otherFundDeclared = a.otherFundDeclared
        otherFundReason = a.otherFundReason
        caseAmountFen = a.caseAmount.fen
        decisionDocument = a.decisionDocument
        programme = a.programme.isEmpty ? nil : a.programme
        grade = a.grade == .none ? nil : a.grade.rawValue
        declaredRevenueFen = a.declaredRevenue == .zero ? nil : a.declaredRevenue.fen
    }

    /// The core application; a value the core would not accept is damaged data.
    func application() throws(SQLiteError) -> Application {
        func damaged(_ what: String) -> SQLiteError { .damaged("stored application content: \(what)") }
        func uscc(_ text: String, _ field: String) throws(SQLiteError) -> USCC {
            do { return try USCC(validating: text) } catch { throw damaged("\(field) \"\(text)\" is not a valid USCC") }
        }
        guard let measure = Measure(rawValue: measure) else { throw damaged("unknown measure \"\(measure)\"") }
        guard let year = FundingYear(fundingYear) else { throw damaged("funding year \(fundingYear) is out of range") }
        guard let locality = Locality(rawValue: enterpriseLocality) else { throw damaged("unknown locality \"\(enterpriseLocality)\"") }
        guard let level = SelectionLevel(rawValue: selectionLevel) else { throw damaged("unknown selection level \"\(selectionLevel)\"") }
        var storedGrade = Grade.none
        if let grade {
            guard let parsed = Grade(rawValue: grade) else { throw damaged("unknown grade \"\(grade)\"") }
            storedGrade = parsed
        }
        var selected: CalendarDate?
        if let selectionDate {
            do { selected = try CalendarDate(parsing: selectionDate) } catch { throw damaged("selection date \"\(selectionDate)\"") }
        }
        var served: [USCC] = []
        served.reserveCapacity(servedEnterprises.count)
        for text in servedEnterprises { served.append(try uscc(text, "served enterprise")) }
        var provincial: [USCC] = []
        for text in provincialVoucherEnterprises { provincial.append(try uscc(text, "provincial voucher enterprise")) }
        return Application(
            measure: measure, fundingYear: year, enterprise: try uscc(enterprise, "enterprise"), enterpriseLocality: locality,
            projectName: projectName, contractNumber: contractNumber, contractAmount: Money(fen: contractAmountFen),
            paidAmount: Money(fen: paidAmountFen), provider: try provider.map { text throws(SQLiteError) in try uscc(text, "provider") },
            investedAmount: Money(fen: investedAmountFen), constructionAmount: Money(fen: constructionAmountFen),
            totalInvestment: Money(fen: totalInvestmentFen), upperLevelSubsidy: Money(fen: upperLevelSubsidyFen),
            upperLevelAwardTotal: Money(fen: upperLevelAwardTotalFen), previousYearServiceSpend: Money(fen: previousYearServiceSpendFen),
            selectionDate: selected, selectionLevel: level, inProvincialPool: inProvincialPool, recognisedSecondaryNode: recognisedSecondaryNode,
            pilotID: pilotID, servedEnterprises: served, provincialVoucherEnterprises: provincial, otherFundDeclared: otherFundDeclared,
            otherFundReason: otherFundReason, caseAmount: Money(fen: caseAmountFen), decisionDocument: decisionDocument,
            programme: programme ?? "", grade: storedGrade, declaredRevenue: Money(fen: declaredRevenueFen ?? 0)
        )
    }

    static func encode(_ application: Application) -> [UInt8] {
        ApplicationContent(application).json()
    }

    /// The bytes `StoredJSON.encode` (JSONEncoder) gives, written directly: the keys in sorted
    /// order, absent optionals left out. A test compares the two on generated values, so a field
    /// added to the type and not here fails it.
    func json() -> [UInt8] {
        var json = JSONBytes()
        json.beginObject()
        json.field("caseAmountFen", caseAmountFen)
        json.field("constructionAmountFen", constructionAmountFen)
        json.field("contractAmountFen", contractAmountFen)
        json.field("contractNumber", contractNumber)
        json.field("decisionDocument", decisionDocument)
        if let declaredRevenueFen { json.field("declaredRevenueFen", declaredRevenueFen) }
        json.field("enterprise", enterprise)
        json.field("enterpriseLocality", enterpriseLocality)
        json.field("fundingYear", Int64(fundingYear))
        if let grade { json.field("grade", grade) }
        json.field("inProvincialPool", inProvincialPool)
        json.field("investedAmountFen", investedAmountFen)
        json.field("measure", measure)
        json.field("otherFundDeclared", otherFundDeclared)
        json.field("otherFundReason", otherFundReason)
        json.field("paidAmountFen", paidAmountFen)
        json.field("pilotID", pilotID)
        json.field("previousYearServiceSpendFen", previousYearServiceSpendFen)
        if let programme { json.field("programme", programme) }
        json.field("projectName", projectName)
        if let provider { json.field("provider", provider) }
        json.field("provincialVoucherEnterprises", provincialVoucherEnterprises)
        json.field("recognisedSecondaryNode", recognisedSecondaryNode)
        if let selectionDate { json.field("selectionDate", selectionDate) }
        json.field("selectionLevel", selectionLevel)
        json.field("servedEnterprises", servedEnterprises)
        json.field("totalInvestmentFen", totalInvestmentFen)
        json.field("upperLevelAwardTotalFen", upperLevelAwardTotalFen)
        json.field("upperLevelSubsidyFen", upperLevelSubsidyFen)
        json.endObject()
        return json.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(SQLiteError) -> Application {
        try read(bytes).application()
    }

    /// The content in `bytes`, as `StoredJSON.decode` (JSONDecoder) reads it — keys in any order,
    /// unknown keys ignored, `null` for an absent optional — read directly: JSONDecoder was 9% of
    /// the daemon's CPU in the review phase (`perf`), where every decision reads its application
    /// twice. A test compares the two readers on generated and on damaged bytes.
    static func read(_ bytes: [UInt8]) throws(SQLiteError) -> ApplicationContent {
        var json = JSONReader(bytes, what: "application content")
        var content = ApplicationContent()
        // One bit per key, set when it is read: a required one missing is damaged data, as it is to
        // JSONDecoder; one given twice is too (JSONDecoder would take one of the two silently).
        var seen: UInt32 = 0
        try json.object { json, key throws(SQLiteError) in
            func once<T>(_ bit: UInt32, _ value: T) throws(SQLiteError) -> T {
                guard seen & 1 << bit == 0 else { throw json.damaged("the key \"\(key)\" appears twice") }
                seen |= 1 << bit
                return value
            }
            switch key {
            case "caseAmountFen": content.caseAmountFen = try once(0, json.integer())
            case "constructionAmountFen": content.constructionAmountFen = try once(1, json.integer())
            case "contractAmountFen": content.contractAmountFen = try once(2, json.integer())
            case "contractNumber": content.contractNumber = try once(3, json.string())
            case "decisionDocument": content.decisionDocument = try once(4, json.string())
            case "declaredRevenueFen": content.declaredRevenueFen = try once(24, json.optional { json throws(SQLiteError) in try json.integer() })
            case "enterprise": content.enterprise = try once(5, json.string())
            case "enterpriseLocality": content.enterpriseLocality = try once(6, json.string())
            case "fundingYear":
                guard let year = Int(exactly: try json.integer()) else { throw json.damaged("fundingYear is out of range") }
                content.fundingYear = try once(7, year)
            case "grade": content.grade = try once(25, json.optional { json throws(SQLiteError) in try json.string() })
            case "inProvincialPool": content.inProvincialPool = try once(8, json.boolean())
            case "investedAmountFen": content.investedAmountFen = try once(9, json.integer())
            case "measure": content.measure = try once(10, json.string())
            case "otherFundDeclared": content.otherFundDeclared = try once(11, json.boolean())
            case "otherFundReason": content.otherFundReason = try once(12, json.string())
            case "paidAmountFen": content.paidAmountFen = try once(13, json.integer())
            case "pilotID": content.pilotID = try once(14, json.string())
            case "previousYearServiceSpendFen": content.previousYearServiceSpendFen = try once(15, json.integer())
            case "programme": content.programme = try once(26, json.optional { json throws(SQLiteError) in try json.string() })
            case "projectName": content.projectName = try once(16, json.string())
            case "provider": content.provider = try once(27, json.optional { json throws(SQLiteError) in try json.string() })
            case "provincialVoucherEnterprises": content.provincialVoucherEnterprises = try once(17, json.strings())
            case "recognisedSecondaryNode": content.recognisedSecondaryNode = try once(18, json.boolean())
            case "selectionDate": content.selectionDate = try once(28, json.optional { json throws(SQLiteError) in try json.string() })
            case "selectionLevel": content.selectionLevel = try once(19, json.string())
            case "servedEnterprises": content.servedEnterprises = try once(20, json.strings())
            case "totalInvestmentFen": content.totalInvestmentFen = try once(21, json.integer())
            case "upperLevelAwardTotalFen": content.upperLevelAwardTotalFen = try once(22, json.integer())
            case "upperLevelSubsidyFen": content.upperLevelSubsidyFen = try once(23, json.integer())
            default: try json.skip()
            }
        }
        try json.end()
        let required: UInt32 = 1 << 24 - 1
        guard seen & required == required else { throw json.damaged("a required field is missing") }
        return content
    }

    /// Every field empty: what ``read(_:)`` fills in.
    private init() {
        (measure, fundingYear, enterprise, enterpriseLocality, projectName, contractNumber) = ("", 0, "", "", "", "")
        (contractAmountFen, paidAmountFen, investedAmountFen, constructionAmountFen, totalInvestmentFen) = (0, 0, 0, 0, 0)
        (upperLevelSubsidyFen, upperLevelAwardTotalFen, previousYearServiceSpendFen, caseAmountFen) = (0, 0, 0, 0)
        (selectionLevel, inProvincialPool, recognisedSecondaryNode, pilotID) = ("", false, false, "")
        (servedEnterprises, provincialVoucherEnterprises, otherFundDeclared, otherFundReason, decisionDocument) = ([], [], false, "", "")
    }
}

/// Why an award is what it is, as the ledger and the district keep it (JSON in their
/// `explanation` columns): the amounts, the policy version, the text a clerk reads, and one entry
/// per limit the policy engine checked.
public struct StoredExplanation: Codable, Sendable, Equatable {
    public var awardFen: Int64
    public var formulaFen: Int64
    public var policyVersion: String
    /// ``AwardDecision/render()`` at the time of the decision.
    public var rendered: String
    public var limits: [Limit]

    /// One limit the engine checked (``LimitTrace``), in the protocol's terms: a money limit in
    /// fen, or a count.
    public struct Limit: Codable, Sendable, Equatable {
        public var kind: String
        public var capID: String
        public var scope: String
        public var limit: Int64
        public var committed: Int64
        public var headroom: Int64
        public var detail: String
        public var binding: Bool

        public init(kind: String, capID: String, scope: String, limit: Int64, committed: Int64, headroom: Int64, detail: String, binding: Bool) {
            self.kind = kind
            self.capID = capID
            self.scope = scope
            self.limit = limit
            self.committed = committed
            self.headroom = headroom
            self.detail = detail
            self.binding = binding
        }
    }

    public init(awardFen: Int64, formulaFen: Int64, policyVersion: String, rendered: String, limits: [Limit]) {
        self.awardFen = awardFen
        self.formulaFen = formulaFen
        self.policyVersion = policyVersion
        self.rendered = rendered
        self.limits = limits
    }

    /// The explanation of `decision`.
    public init(_ decision: AwardDecision) {
        self.init(
            awardFen: decision.award.fen, formulaFen: decision.formulaAmount.fen, policyVersion: decision.policyVersion,
            rendered: decision.render(),
            limits: decision.limits.map { trace in
                Limit(
                    kind: trace.kind.rawValue, capID: trace.capID ?? "", scope: trace.scope ?? "",
                    limit: trace.limit?.fen ?? Int64(trace.limitCount ?? 0), committed: trace.committed?.fen ?? Int64(trace.committedCount ?? 0),
                    // A count limit's headroom is the awards it still has room for, not none.
                    headroom: trace.headroom?.fen ?? trace.limitCount.map { Int64(max(0, $0 - (trace.committedCount ?? 0))) } ?? 0,
                    detail: trace.detail, binding: trace.binding
                )
            }
        )
    }

    /// The column's bytes: empty for none.
    static func encode(_ explanation: StoredExplanation?) -> [UInt8] {
        explanation.map { $0.json() } ?? []
    }

    /// The bytes `StoredJSON.encode` (JSONEncoder) gives, written directly (JSONEncoder was 6% of
    /// an approval's CPU): the keys in sorted order. A test compares the two on generated values.
    func json() -> [UInt8] {
        var json = JSONBytes()
        json.beginObject()
        json.field("awardFen", awardFen)
        json.field("formulaFen", formulaFen)
        json.key("limits")
        json.beginArray()
        for limit in limits {
            json.beginObject()
            json.field("binding", limit.binding)
            json.field("capID", limit.capID)
            json.field("committed", limit.committed)
            json.field("detail", limit.detail)
            json.field("headroom", limit.headroom)
            json.field("kind", limit.kind)
            json.field("limit", limit.limit)
            json.field("scope", limit.scope)
            json.endObject()
        }
        json.endArray()
        json.field("policyVersion", policyVersion)
        json.field("rendered", rendered)
        json.endObject()
        return json.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(SQLiteError) -> StoredExplanation? {
        bytes.isEmpty ? nil : try StoredJSON.decode(StoredExplanation.self, bytes, what: "award explanation")
    }
}

/// JSON with sorted keys (the same value is always the same bytes, so a stored response and a
/// digest of it are stable).
enum StoredJSON {
    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Plain structs of strings, integers and booleans: encoding cannot fail.
        return Array((try? encoder.encode(value)) ?? Data())
    }

    static func decode<T: Decodable>(_: T.Type, _ bytes: [UInt8], what: String) throws(SQLiteError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw .damaged("stored \(what) does not decode: \(error)")
        }
    }
}

/// JSON written as `StoredJSON.encode` writes it (JSONEncoder with sorted keys and unescaped
/// slashes), for the values encoded on every write, whose types list their fields in key order
/// themselves. Strings escape `"`, `\\` and control characters as JSONEncoder does; everything
/// else, non-ASCII included, is copied as UTF-8.
struct JSONBytes {
    private(set) var bytes: [UInt8] = []
    /// Whether the next key or value follows another in its container.
    private var follows = false

    init() { bytes.reserveCapacity(1_024) }

    private mutating func separate() {
        if follows { bytes.append(UInt8(ascii: ",")) }
    }

    mutating func beginObject() { open(UInt8(ascii: "{")) }
    mutating func endObject() { close(UInt8(ascii: "}")) }
    mutating func beginArray() { open(UInt8(ascii: "[")) }
    mutating func endArray() { close(UInt8(ascii: "]")) }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        follows = false
    }

    /// A container ends as a value of the one around it.
    private mutating func close(_ bracket: UInt8) {
        bytes.append(bracket)
        follows = true
    }

    mutating func key(_ key: String) {
        string(key)
        bytes.append(UInt8(ascii: ":"))
        follows = false
    }

    mutating func string(_ text: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        // The runs between escapes are copied whole (an explanation is ~3 KB of text).
        var text = text
        text.withUTF8 { utf8 in
            var run = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                bytes.append(contentsOf: utf8[run..<index])
                escape(byte)
                run = index + 1
            }
            bytes.append(contentsOf: utf8[run...])
        }
        bytes.append(UInt8(ascii: "\""))
        follows = true
    }

    /// `byte` (a quote, a backslash or a control character) as JSONEncoder escapes it.
    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
        case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
        case 0x08: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
        case 0x0C: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
        case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
        case UInt8(ascii: "\r"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
        case UInt8(ascii: "\t"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
        case ..<0x20:
            let hex = Array("0123456789abcdef".utf8)
            bytes += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
        default: bytes.append(byte)
        }
    }

    mutating func integer(_ value: Int64) {
        separate()
        bytes += String(value).utf8
        follows = true
    }

    mutating func boolean(_ value: Bool) {
        separate()
        bytes += (value ? "true" : "false").utf8
        follows = true
    }

    mutating func field(_ name: String, _ value: String) {
        key(name)
        string(value)
    }

    mutating func field(_ name: String, _ value: Int64) {
        key(name)
        integer(value)
    }

    mutating func field(_ name: String, _ value: Bool) {
        key(name)
        boolean(value)
    }

    mutating func field(_ name: String, _ values: [String]) {
        key(name)
        beginArray()
        for value in values { string(value) }
        endArray()
    }
}

/// Reads the JSON that ``JSONBytes`` and JSONEncoder write, strictly (RFC 8259: no trailing
/// commas, no comments, no raw control characters in strings, well-formed UTF-8), for the stored
/// values read on every decision. Anything else is damaged data naming `what` and the offset.
///
/// SubsidyWire's `JSONParser` reads the same grammar for the protocol's JSON mapping; it builds
/// a tree (member order kept, for output) and reports INVALID_ARGUMENT, and the store does not
/// depend on the wire layer. This one reads as it goes, into the fields the caller names. Both
/// read string literals with ``JSONString/literal(in:at:)`` in SubsidyCore, so an escape means
/// the same to both; what is left to each is its own structure and its own errors.
struct JSONReader {
    private let bytes: [UInt8]
    private var at = 0
    private let what: String

    init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    func damaged(_ problem: String) -> SQLiteError {
        .damaged("stored \(what) does not decode: \(problem) (at byte \(at) of \(bytes.count))")
    }

    private mutating func skipSpace() {
        while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 }
    }

    /// The next byte that is not white space, not consumed.
    private mutating func peek() throws(SQLiteError) -> UInt8 {
        skipSpace()
        guard at < bytes.count else { throw damaged("it ends early") }
        return bytes[at]
    }

    private mutating func expect(_ byte: UInt8) throws(SQLiteError) {
        guard try peek() == byte else { throw damaged("expected \"\(Character(UnicodeScalar(byte)))\"") }
        at += 1
    }

    /// Whether the next byte is `byte`; consumes it if so.
    private mutating func take(_ byte: UInt8) throws(SQLiteError) -> Bool {
        guard try peek() == byte else { return false }
        at += 1
        return true
    }

    /// Only white space is left.
    mutating func end() throws(SQLiteError) {
        skipSpace()
        guard at == bytes.count else { throw damaged("more follows the value") }
    }

    /// An object: `field` is called with each key and must read its value.
    mutating func object(_ field: (inout JSONReader, String) throws(SQLiteError) -> Void) throws(SQLiteError) {
        try expect(UInt8(ascii: "{"))
        if try take(UInt8(ascii: "}")) { return }
        repeat {
            guard try peek() == UInt8(ascii: "\"") else { throw damaged("expected a key") }
            let key = try string()
            try expect(UInt8(ascii: ":"))
            try field(&self, key)
        } while try take(UInt8(ascii: ","))
        try expect(UInt8(ascii: "}"))
    }

    /// An array: `element` is called for each element and must read it.
    mutating func array(_ element: (inout JSONReader) throws(SQLiteError) -> Void) throws(SQLiteError) {
        try expect(UInt8(ascii: "["))
        if try take(UInt8(ascii: "]")) { return }
        repeat { try element(&self) } while try take(UInt8(ascii: ","))
        try expect(UInt8(ascii: "]"))
    }

    mutating func strings() throws(SQLiteError) -> [String] {
        var values: [String] = []
        try array { json throws(SQLiteError) in values.append(try json.string()) }
        return values
    }

    /// `value`, or nil for `null`.
    mutating func optional<T>(_ value: (inout JSONReader) throws(SQLiteError) -> T) throws(SQLiteError) -> T? {
        if try peek() == UInt8(ascii: "n") {
            try literal("null")
            return nil
        }
        return try value(&self)
    }

    private mutating func literal(_ word: StaticString) throws(SQLiteError) {
        let count = word.utf8CodeUnitCount
        guard at + count <= bytes.count,
            word.withUTF8Buffer({ word in bytes[at..<at + count].elementsEqual(word) })
        else { throw damaged("expected \(word)") }
        at += count
    }

    mutating func boolean() throws(SQLiteError) -> Bool {
        if try peek() == UInt8(ascii: "t") {
            try literal("true")
            return true
        }
        try literal("false")
        return false
    }

    /// An integer written without fraction or exponent, in Int64's range.
    mutating func integer() throws(SQLiteError) -> Int64 {
        let negative = try take(UInt8(ascii: "-"))
        let first = at
        var value: Int64 = 0
        while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") {
            // Accumulated negatively: Int64.min has no positive counterpart.
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = shifted.subtractingReportingOverflow(Int64(bytes[at] - UInt8(ascii: "0")))
            guard !overflow, !overflow2 else { throw damaged("an integer is out of range") }
            value = next
            at += 1
        }
        guard at > first else { throw damaged("expected an integer") }
        guard at - first == 1 || bytes[first] != UInt8(ascii: "0") else { throw damaged("an integer has a leading zero") }
        if at < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[at]) {
            throw damaged("expected an integer, found a fraction")
        }
        if negative { return value }
        guard value != .min else { throw damaged("an integer is out of range") }
        return -value
    }

    mutating func string() throws(SQLiteError) -> String {
        guard try peek() == UInt8(ascii: "\"") else { throw damaged("expected a string") }
        do {
            return try JSONString.literal(in: bytes, at: &at)
        } catch {
            switch error {
            case .unterminated: throw damaged("a string ends early")
            case .controlCharacter: throw damaged("a string holds a raw control character")
            case .unknownEscape: throw damaged("a string holds an unknown escape")
            case .badUnicodeEscape: throw damaged("a string holds a bad \\u escape")
            case .unpairedSurrogate: throw damaged("a string holds half a surrogate pair")
            case .notUTF8: throw damaged("a string is not UTF-8")
            }
        }
    }

    /// How deep ``skip(depth:)`` follows nested containers. JSONDecoder refuses more than 512
    /// levels; the store never writes more than two, and each level is a stack frame here.
    static let maximumDepth = 32

    /// Any one value, read and dropped (a key this version does not know).
    mutating func skip(depth: Int = 0) throws(SQLiteError) {
        guard depth < Self.maximumDepth else { throw damaged("values are nested more than \(Self.maximumDepth) deep") }
        switch try peek() {
        case UInt8(ascii: "{"): try object { json, _ throws(SQLiteError) in try json.skip(depth: depth + 1) }
        case UInt8(ascii: "["): try array { json throws(SQLiteError) in try json.skip(depth: depth + 1) }
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try boolean()
        case UInt8(ascii: "n"): try literal("null")
        default: try number()
        }
    }

    /// A number of any form (skipped, so only its syntax matters).
    private mutating func number() throws(SQLiteError) {
        _ = try take(UInt8(ascii: "-"))
        let digits = { (json: inout JSONReader) -> Int in
            let first = json.at
            while json.at < json.bytes.count, json.bytes[json.at] >= UInt8(ascii: "0"), json.bytes[json.at] <= UInt8(ascii: "9") { json.at += 1 }
            return json.at - first
        }
        guard digits(&self) > 0 else { throw damaged("expected a value") }
        if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
            at += 1
            guard digits(&self) > 0 else { throw damaged("a number has no digits after its point") }
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
            at += 1
            if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
            guard digits(&self) > 0 else { throw damaged("a number has no exponent digits") }
        }
    }
}

/// Reads the first release's stored content — the protocol's encoding, which only the server
/// knows — so that opening an older file can rewrite it in the store's own form. Used once per
/// row, by ``SubsidyStores/convertLegacyContent(using:)``.
public protocol LegacyContentDecoder: Sendable {
    /// The application in `bytes` (as filed, not checked against any policy).
    func application(fromLegacy bytes: [UInt8]) throws -> Application
    /// The explanation in `bytes`.
    func explanation(fromLegacy bytes: [UInt8]) throws -> StoredExplanation
}

/// The maximum size of every text and list a client may send, checked before anything is stored,
/// so one tenant cannot grow rows, replies or a call's work without bound. `Protos/README.md` §9
/// lists them; a value over its limit is `INVALID_ARGUMENT` naming the field and the limit.
///
/// Lengths are counted in Unicode scalars (code points), not grapheme clusters: one “character”
/// carrying thousands of combining marks is thousands, not one.
public enum InputLimits {
    /// Enterprise and applicant names.
    public static let name = 200
    /// Project names (项目名称).
    public static let projectName = 200
    /// Contract numbers (合同编号).
    public static let contractNumber = 64
    /// Pilot ids (the selection document or programme number).
    public static let pilotID = 64
    /// Decision document numbers (文号).
    public static let decisionDocument = 200
    /// A programme's name (`foshan-dx-2021`), in characters.
    public static let programme = 64
    /// A call's id (`foshan-dx-2021/DIGITAL_WORKSHOP/2025/3`): a programme's name, a measure, a
    /// year and a number.
    public static let callID = 128
    /// Reasons for a decision, a return, a withdrawal or an other-fund declaration.
    public static let reason = 2_000
    /// Served enterprises (and provincial-voucher enterprises) of one follow-on application.
    public static let servedEnterprises = 5_000
    /// Rows of one `ImportHistory` request (a bigger history is imported in several requests).
    public static let importRows = 10_000
    /// Applications of one `ApproveApplications` list (a committee's sitting; a longer list is
    /// sent in several requests).
    public static let approvalsPerBatch = 500
    /// Entries of every list in one message (request, reply or frame), at every depth, plus its
    /// unknown fields, checked before the message is unpacked: above the largest request
    /// (10,000 import rows, or 5,000 + 5,000 enterprises) and far below the two million empty
    /// entries a 4 MiB frame could carry, each of which protobuf-c and Swift would allocate.
    public static let listEntriesPerMessage = 20_000
    /// Metadata entries of one call, and the length of each key and value.
    public static let metadataEntries = 64
    public static let metadataText = 1_024
    /// Recorded changes one application may reach through returns and amendments: its history is
    /// in every reply that carries the record, so an endless return–amend loop must end. Later
    /// city decisions (at most four more) are never refused by it.
    public static let transitionsPerApplication = 100
    /// Calls for applications (申报批次) of one programme's measure and funding year: every
    /// submission under the measure reads them, and ListCalls returns them all.
    public static let callsPerMeasureYear = 50
    /// Recorded changes (更名, role) one applicant may reach: its whole history is in every
    /// `UpdateApplicant` reply, which the request log keeps, so renaming back and forth would
    /// otherwise grow a district's file with the square of the renames.
    public static let changesPerApplicant = 100
    /// The earliest date any date field may hold.
    public static let earliestDate = CalendarDate(year: 2000, month: 1, day: 1)!

    /// `text` as a reply or a log line may show it: whole if it has at most `maximumBytes` bytes
    /// of UTF-8, else its first bytes (cut between scalars, leaving room for the note) and how
    /// many were left out. A client's text can be megabytes long; what the daemon writes about it
    /// must not be.
    public static func shown(_ text: String, maximumBytes: Int) -> String {
        let utf8 = text.utf8
        guard utf8.count > maximumBytes else { return text }
        // Room for the note; then back to the first byte of a scalar.
        var end = utf8.index(utf8.startIndex, offsetBy: max(0, maximumBytes - 48))
        while end > utf8.startIndex, utf8[end] & 0xC0 == 0x80 { end = utf8.index(before: end) }
        let kept = utf8.distance(from: utf8.startIndex, to: end)
        return String(decoding: utf8[..<end], as: UTF8.self) + "… (\(utf8.count - kept) more bytes not shown)"
    }

    /// `INVALID_ARGUMENT` naming `field` if `text` has more than `limit` code points.
    public static func check(_ text: String, _ limit: Int, field: String) throws(SubsidyError) {
        // utf8.count bounds the scalar count from above, so most texts need no second pass.
        guard text.utf8.count > limit else { return }
        let length = text.unicodeScalars.count
        if length > limit {
            throw SubsidyError.invalidField(field, "must be at most \(limit) characters (got \(length))")
        }
    }

    /// `text` as one line: each tab, line break (CR, LF) and line or paragraph separator becomes
    /// a space — a spreadsheet cell typed with Alt+Enter, or pasted with a line break, is a name
    /// on two lines to Excel and one to everyone else — and any other control character (C0,
    /// DEL, C1: ESC, BEL, …) is `INVALID_ARGUMENT` naming `field`. For the one-line texts a clerk
    /// reads in tables, lists and histories — names, project names, contract and document
    /// numbers, titles — where such a character would misalign a listing, forge a line of it, or
    /// drive the clerk's terminal (ESC). Applied where a request enters, not to stored records:
    /// what an earlier version accepted still reads. With `limit`, its length is checked first
    /// (``check(_:_:field:)``).
    public static func oneLine(_ text: String, _ limit: Int? = nil, field: String) throws(SubsidyError) -> String {
        if let limit { try check(text, limit, field: field) }
        // Most texts are short and printable: one pass over the scalars finds nothing to do.
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029 })
        else { return text }
        var line = String.UnicodeScalarView()
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            switch scalar.value {
            case 0x09, 0x0A, 0x0D, 0x2028, 0x2029: line.append(" ")
            case 0x00..<0x20, 0x7F...0x9F:
                throw SubsidyError.invalidField(
                    field, "holds the control character \(scalar.codePointText) at character \(offset + 1); "
                        + "a one-line text may not hold control characters")
            default: line.append(scalar)
            }
        }
        return String(line)
    }

    /// `INVALID_ARGUMENT` naming `field` if a list has more than `limit` entries.
    public static func check(count: Int, _ limit: Int, field: String) throws(SubsidyError) {
        if count > limit {
            throw SubsidyError.invalidField(field, "must have at most \(limit) entries (got \(count))")
        }
    }

    /// `INVALID_ARGUMENT` naming `field` for a date before ``earliestDate`` or after `latest`.
    public static func check(_ date: CalendarDate, field: String, notAfter latest: CalendarDate? = nil, latestName: String = "") throws(SubsidyError) {
        if date < earliestDate {
            throw SubsidyError.invalidField(field, "\(date) is before \(earliestDate), the earliest date subsidyd accepts")
        }
        if let latest, date > latest {
            throw SubsidyError.invalidField(field, "\(date) is after \(latestName.isEmpty ? "\(latest)" : "\(latestName) \(latest)")")
        }
    }
}

extension Unicode.Scalar {
    /// The code point as messages name it: `U+0041`, `U+1D159` (four hex digits at least).
    var codePointText: String { "U+" + String(value, radix: 16, uppercase: true).leftPadded(to: 4) }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

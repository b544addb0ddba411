import CICU
import Synchronization

/// The one form in which identifiers are compared for “the same” — contract numbers (合同编号), pilot
/// ids, project names and every other text a duplicate or once-only rule is keyed on — so that no
/// respelling funds the same content twice (RULES.md general rule 2; `Deploy/policy/IDENTITY.md`).
///
/// The canonical form of a text is, in this order:
/// 1. Unicode **NFKC_Casefold** (NFKC, full case folding, and every Default_Ignorable_Code_Point
///    removed: zero-width spaces and joiners, BOM, soft hyphen, bidi marks, variation selectors, …),
///    so full-width `ＨＴ` and half-width `ht` agree, as do `①` and `1`, `ﬁ` and `fi`;
/// 2. every remaining character that shows nothing of its own removed, as if it were not there:
///    format (Cf) and control (Cc) characters; combining marks (Mn, Me) that NFKC did not compose
///    into a letter; private-use, unassigned and surrogate code points (no font a clerk has
///    draws them as anything but blank or a box); and the blank symbols U+2800 (Braille blank)
///    and U+1D159 (null notehead);
/// 3. the text read as runs of digits (of any script, mapped to ASCII) and runs of everything
///    else. White space and dashes (general category Pd — hyphen, en and em dash, 〜, ‐, ‑, ⸺ … —
///    and the minus signs U+2212, U+2796, U+02D7 and the hyphen bullet U+2043) only separate
///    runs: two text runs around a separator are one (`smart factory` = `smartfactory`), two digit
///    runs stay two (`HT 2022 1` ≠ `HT 20221`);
/// 4. the leading zeros of each digit run dropped (`007` = `7`; `000` = `0`), except in a run right
///    after `.` or `,`, a decimal fraction (`V1.05` ≠ `V1.5`);
/// 5. trailing punctuation (Po: `。` `.` `,` `、` `;` …) dropped;
/// 6. the runs written joined by `-`: `HT-2022-0001`, `ＨＴ２０２２－１`, `ht 2022 01。` all give
///    `ht-2022-1`.
///
/// The typed text is kept beside it (``typed``): stores record both, and messages show both.
public struct CanonicalText: Hashable, Sendable, CustomStringConvertible {
    /// What the user typed, unchanged.
    public let typed: String
    /// The canonical form compared for duplicates; empty when the text holds nothing visible.
    public let key: String

    /// Canonicalises `typed` (see the type's documentation for the steps).
    public init(_ typed: String) {
        self.typed = typed
        self.key = Self.canonical(typed)
    }

    /// Whether the text has nothing to compare: empty, or only invisible characters, white space
    /// and punctuation.
    public var isEmpty: Bool { key.isEmpty }

    /// `typed` when it is already canonical, else `"typed" (canonical "key")`.
    public var description: String {
        typed == key ? "\"\(typed)\"" : "\"\(typed)\" (canonical \"\(key)\")"
    }

    /// The canonical form of `text`.
    public static func canonical(_ text: String) -> String {
        guard text.utf8.count <= Recent.maximumText else { return computed(text) }
        let spelling = Spelling(text)
        if let known = recent.withLock({ $0.keys[spelling] }) { return known }
        let key = computed(text)
        guard key.utf8.count <= Recent.maximumText else { return key }
        recent.withLock { recent in
            if recent.keys.count >= Recent.capacity { recent.keys.removeAll(keepingCapacity: true) }
            recent.keys[spelling] = key
        }
        return key
    }

    /// Canonical forms computed lately. One request canonicalises the same few texts again and
    /// again — its content keys at every duplicate check, the insert, the award — and each is an
    /// NFKC pass and a walk over Unicode properties (~5% of a submission's CPU before this memo).
    /// A pure function's results, so sharing them across requests and tenants shows nothing.
    /// Keyed by the exact UTF-8 bytes, not by `String` equality: the standard library's canonical
    /// equivalence follows a newer Unicode than the ICU that computes the key, so two texts it
    /// calls equal could have different keys, and a hit would make the answer depend on which
    /// spelling came first. Bounded: texts and keys up to ``maximumText`` bytes each (NFKC can
    /// lengthen a text ~11×; a longer key is not kept), at most ``capacity`` pairs (cleared when
    /// full), about 3 MiB at worst.
    private struct Recent: ~Copyable {
        static let maximumText = 256
        static let capacity = 4096
        var keys: [Spelling: String] = [:]
    }

    /// A text compared and hashed by its UTF-8 bytes, without copying them out of the string.
    private struct Spelling: Hashable {
        let text: String

        init(_ text: String) { self.text = text }

        static func == (a: Self, b: Self) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }

        func hash(into hasher: inout Hasher) {
            var text = text
            text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    private static let recent = Mutex(Recent())

    /// The memo's entry for exactly these bytes, for tests.
    static func remembered(_ text: String) -> String? { recent.withLock { $0.keys[Spelling(text)] } }

    /// The keys `text` had under earlier canonical forms, where they differ from today's: what
    /// an award stored then may still be known by where no migration could derive its key again
    /// (a project's key beside a contract number: the ledger keeps no project name there).
    /// Lookups of funded content look for these too (``Application/lookupKeys``). One earlier form
    /// so far: before stop 39 the tildes (``tildes``) were letters.
    public static func earlierForms(_ text: String) -> [String] {
        guard text.unicodeScalars.contains(where: { tildes.contains($0.value) || $0.value == 0xFF5E }) else { return [] }
        let earlier = computed(text, tildesAsLetters: true)
        return earlier.isEmpty || earlier == canonical(text) ? [] : [earlier]
    }

    /// The tildes that separate like dashes (after NFKC: FULLWIDTH TILDE is `~`).
    static let tildes: Set<UInt32> = [0x007E, 0x2053, 0x223C]

    private static func computed(_ text: String, tildesAsLetters: Bool = false) -> String {
        var tokens: [Token] = []
        // A separator (white space or a dash) was seen since the last kept character.
        var separated = false
        for scalar in nfkcCasefold(text).unicodeScalars {
            switch tildesAsLetters && tildes.contains(scalar.value) ? .other : kind(of: scalar) {
            case .invisible:
                continue  // as if it were not there, even inside a digit run
            case .separator:
                separated = true
                continue
            case .digit(let digit):
                if let last = tokens.last, last.isDigits, !separated {
                    tokens[tokens.count - 1].scalars.append(digit)
                } else {
                    // A run right after '.' or ',' is a decimal fraction: its zeros count.
                    let fraction = !separated && (tokens.last?.scalars.last == "." || tokens.last?.scalars.last == ",")
                    tokens.append(Token(isDigits: true, isFraction: fraction, scalars: [digit]))
                }
            case .other:
                if let last = tokens.last, !last.isDigits {
                    // Text on both sides of a separator is one run: "smart factory" = "smartfactory".
                    tokens[tokens.count - 1].scalars.append(scalar)
                } else {
                    tokens.append(Token(isDigits: false, isFraction: false, scalars: [scalar]))
                }
            }
            separated = false
        }
        // Trailing punctuation ("。", ".", "、" …) is not part of an identifier.
        while let last = tokens.last, !last.isDigits {
            var scalars = last.scalars
            while let end = scalars.last, end.properties.generalCategory == .otherPunctuation { scalars.removeLast() }
            if scalars.isEmpty {
                tokens.removeLast()
                continue
            }
            tokens[tokens.count - 1].scalars = scalars
            break
        }
        // One scalar at a time into one string: `UnicodeScalarView.append(contentsOf:)` copied
        // the whole result for every token, so a 4 MB name of alternating letters and digits
        // (two million tokens) held a core for over ten minutes.
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for (index, token) in tokens.enumerated() {
            if index > 0 { result.unicodeScalars.append("-") }
            var scalars = token.scalars[...]
            if token.isDigits && !token.isFraction {
                while scalars.count > 1, scalars.first == "0" { scalars = scalars.dropFirst() }
            }
            for scalar in scalars { result.unicodeScalars.append(scalar) }
        }
        return result
    }

    /// A maximal run of digits, or of anything else, between separators.
    private struct Token {
        var isDigits: Bool
        var isFraction: Bool
        var scalars: [Unicode.Scalar]
    }

    /// What canonicalisation does with one scalar (after NFKC_Casefold), from its Unicode
    /// properties.
    enum ScalarKind: Equatable {
        /// Formats, controls, default-ignorable code points, loose combining marks, private-use
        /// and unassigned code points, blank symbols: dropped, even inside a digit run.
        case invisible
        /// White space and dashes: end a run of digits.
        case separator
        /// A decimal digit of any script, as its ASCII digit.
        case digit(Unicode.Scalar)
        /// Anything else: kept as it is.
        case other

        init(_ scalar: Unicode.Scalar) {
            let properties = scalar.properties
            switch properties.generalCategory {
            // Each shows nothing a clerk could tell apart, so each would let one contract be
            // funded twice: "HT-1" and "HT-1" + U+2800 look alike on every screen.
            case .format, .control, .nonspacingMark, .enclosingMark, .privateUse, .unassigned, .surrogate:
                self = .invisible
                return
            case .spaceSeparator, .lineSeparator, .paragraphSeparator:
                self = .separator
                return
            default:
                break
            }
            if properties.isDefaultIgnorableCodePoint || CanonicalText.blankSymbols.contains(scalar.value) {
                self = .invisible
            } else if properties.isWhitespace || CanonicalText.isDash(scalar) {
                self = .separator
            } else if properties.numericType == .decimal, let value = properties.numericValue,
                let digit = Unicode.Scalar(UInt32(48 + Int(value)))
            {
                self = .digit(digit)
            } else {
                self = .other
            }
        }
    }

    /// The kinds of the 128 ASCII scalars, computed once by the same rule: identifiers are mostly
    /// ASCII, and looking up a scalar's properties is most of what canonicalising costs.
    static let asciiKinds: [ScalarKind] = (0..<128).map { ScalarKind(Unicode.Scalar(UInt8($0))) }

    /// Refuses, with `INVALID_ARGUMENT` naming `field`, a text compared for duplicates that holds
    /// what would let the same content pass under a second key (Deploy/policy/IDENTITY.md):
    /// - a spreadsheet's mark that a cell is text at its start (`="HT-1"`, `'HT-1`);
    /// - a code point Unicode has not assigned (the canonical form drops it today; a later
    ///   Unicode, in a later toolchain, might keep it, and the key would change under the stored
    ///   one);
    /// - a symbol or a punctuation mark outside ASCII and the CJK marks a clerk types (、。《》
    ///   〔〕 …): box-drawing `─`, the CJK stroke `㇐`, `⎯`, `≈`, `¬` pass for a dash; `⊤` for `T`;
    ///   `○` for `0`. The canonical form folds the dashes Unicode calls dashes, not every line a
    ///   font draws;
    /// - a letter of another alphabet that passes for an ASCII one: Cyrillic `Н`, accented `Ó`,
    ///   the small capital `ɢ` (no normalisation maps one script to another); and the
    ///   ideographic zero `〇` beside a digit (`2〇22`; `二〇二二年` is Chinese).
    ///
    /// With `lookalikeLetters` (contract numbers and pilot ids, city-wide identities) every
    /// letter that is neither ASCII (after NFKC: full-width forms are) nor a Chinese character,
    /// and a Chinese character drawn as a stroke or a letter's shape (``strokes``: `一`, `丨`, `丅`
    /// …) or `〇` beside an ASCII letter, a digit, a dash or a space (`HT一2022`, `佛工信一2022`),
    /// where it passes for the ASCII one; among Chinese characters and brackets (`第一期`,
    /// `合同(一)`) it is a character. Without (project names) Greek letters, the strokes and the
    /// symbols of a technical name (``technicalSymbols``) are kept (α-烯烃, 5 µm, 5G一体化):
    /// Greek's lookalikes remain possible there.
    ///
    /// A clerk types the number as the contract prints it.
    public static func requireComparable(_ text: String, field: String, lookalikeLetters: Bool = true) throws(SubsidyError) {
        // A spreadsheet's marks for "this cell is text" (`="HT-1"`, `'HT-1`), which subsidyctl
        // strips and a client reading an export may not: kept, they would make a second key.
        if let first = text.unicodeScalars.first(where: { !$0.properties.isWhitespace }), ["=", "'", "\u{FF1D}", "\u{FF07}"].contains(first) {
            throw SubsidyError.invalidField(
                field, "begins with \(first), a spreadsheet's mark that the cell is text, not part of the identifier: send the identifier itself")
        }
        guard !text.utf8.allSatisfy({ $0 < 0x80 }) else { return }
        for (offset, scalar) in text.unicodeScalars.enumerated() where scalar.properties.generalCategory == .unassigned {
            throw SubsidyError.invalidField(
                field, "holds \(scalar.codePointText) at character \(offset + 1), a code point Unicode has not assigned")
        }
        // What is compared, without what the comparison drops, so a stroke's neighbours are the
        // characters a reader sees beside it.
        let compared = Array(nfkcCasefold(text).unicodeScalars.filter { kind(of: $0) != .invisible })
        // Whether a neighbour of `offset` is an ASCII letter or a digit (`digitsOnly`: a digit),
        // or a dash or a space: what a stroke or 〇 beside it passes for the ASCII one.
        func amongASCII(_ offset: Int, digitsOnly: Bool = false) -> Bool {
            [offset - 1, offset + 1].contains { index in
                guard compared.indices.contains(index) else { return false }
                let neighbour = compared[index]
                switch kind(of: neighbour) {
                case .digit: return true
                case .separator: return !digitsOnly
                case .other: return !digitsOnly && neighbour.isASCII && neighbour.properties.isAlphabetic
                case .invisible: return false
                }
            }
        }
        for (offset, scalar) in compared.enumerated() where !scalar.isASCII {
            let problem: String
            switch ScalarKind(scalar) {
            case .invisible, .separator, .digit: continue
            case .other: break
            }
            let category = scalar.properties.generalCategory
            if scalar.value == 0x3007 {
                // 〇 is a Chinese numeral among Chinese (二〇二二年); beside a digit it is a zero.
                guard amongASCII(offset, digitsOnly: !lookalikeLetters) else { continue }
                problem = "the ideographic zero beside letters, digits or dashes, where it passes for the digit 0; write 0"
            } else if isChinese(scalar) {
                guard lookalikeLetters, strokes.contains(scalar.value), amongASCII(offset) else { continue }
                problem = "a Chinese character drawn as a stroke or a letter's shape, beside letters, digits or dashes, where it passes for a dash "
                    + "or a letter; write a dash as '-' and letters as ASCII letters"
            } else if [.uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .letterNumber].contains(category) {
                guard lookalikeLetters || !greek.contains(scalar.value) else { continue }
                problem = lookalikeLetters
                    ? "a letter that is neither a Chinese character nor an ASCII letter: it could pass for a letter it looks like, and fund "
                        + "the same content twice; write identifiers with Chinese characters, ASCII letters and digits"
                    : "a letter of another alphabet that could pass for an ASCII letter it looks like, and fund the same project twice; "
                        + "write the name with Chinese characters, ASCII letters and digits (Greek letters are kept)"
            } else {
                guard !clerkPunctuation.contains(scalar.value), lookalikeLetters || !technicalSymbols.contains(scalar.value) else { continue }
                problem = "a symbol that could pass for a dash, a letter or a digit it looks like, and fund the same content twice; "
                    + "write dashes as '-' and use ASCII or Chinese punctuation"
            }
            throw SubsidyError.invalidField(field, "holds \(scalar) (\(scalar.codePointText), at character \(offset + 1) as compared), \(problem)")
        }
    }

    /// The punctuation outside ASCII a clerk types in an identifier, which passes for nothing
    /// else (after NFKC: full-width `（` `，` are ASCII already): 、。《》〈〉「」『』【】〔〕〖〗, the
    /// middle dot `·` (not also the katakana `・`, which CJK fonts draw the same), curly quotes and
    /// the ellipsis.
    static let clerkPunctuation: Set<UInt32> = [
        0x3001, 0x3002, 0x300A, 0x300B, 0x3008, 0x3009, 0x300C, 0x300D, 0x300E, 0x300F, 0x3010, 0x3011, 0x3014, 0x3015, 0x3016, 0x3017,
        0x00B7, 0x2018, 0x2019, 0x201C, 0x201D, 0x2026,
    ]

    /// Symbols a project's name holds (a temperature, a tolerance, a mark), kept in project names
    /// only: ° ± ® © ‰ (NFKC makes ℃ `°c`, ™ `tm`, № `no`, ² a digit and µ Greek). Not `×`, which
    /// passes for `x` (`1000×600` and `1000x600` would be two projects).
    static let technicalSymbols: Set<UInt32> = [0x00B0, 0x00B1, 0x00AE, 0x00A9, 0x2030]

    /// Greek (and the micro sign, which NFKC makes Greek mu): kept in project names, whose
    /// chemicals and units are written with them.
    static let greek: ClosedRange<UInt32> = 0x0370...0x03FF

    /// Chinese characters drawn as one stroke or a letter's shape: beside ASCII letters, digits or
    /// dashes they pass for a dash (一), `l` or `1` (丨), `T` (丅 丁), `+` (十), `X` (乂), `Y` (丫),
    /// `C` (匚), `U` (凵), `O` (囗 口) … and are refused there in identifiers. (乙, 甲乙丙's, numbers
    /// sub-contracts: `HT-2022-乙`.)
    static let strokes: Set<UInt32> = [
        0x4E00, 0x4E28, 0x4E36, 0x4E3F, 0x4E40, 0x4E41, 0x4E5A, 0x4E85, 0x4E05, 0x4E04, 0x5341, 0x535C, 0x53E3, 0x5DE5,
        0x4E01, 0x4E42, 0x4E2B, 0x531A, 0x51F5, 0x56D7,
    ]

    /// ``ScalarKind`` of `scalar`, from the table for ASCII.
    static func kind(of scalar: Unicode.Scalar) -> ScalarKind {
        scalar.isASCII ? asciiKinds[Int(scalar.value)] : ScalarKind(scalar)
    }

    /// CJK ideographs (the unified blocks and their extensions, and the compatibility block) and
    /// the iteration mark 々.
    static func isChinese(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x3005, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF, 0x20000...0x323AF: true
        default: false
        }
    }

    /// Symbols drawn as nothing, which no Unicode property marks as invisible.
    static let blankSymbols: Set<UInt32> = [
        0x2800,  // BRAILLE PATTERN BLANK
        0x1D159,  // MUSICAL SYMBOL NULL NOTEHEAD
    ]

    static func isDash(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.properties.generalCategory == .dashPunctuation { return true }
        switch scalar.value {
        case 0x2212,  // MINUS SIGN
             0x2043,  // HYPHEN BULLET
             0x02D7,  // MODIFIER LETTER MINUS SIGN
             0x2796,  // HEAVY MINUS SIGN
             0xFE63, 0xFF0D,  // SMALL / FULLWIDTH HYPHEN-MINUS (NFKC maps them; kept for clarity)
             // Tildes: GBK has no wave dash 〜 (U+301C, a dash already), so a GBK spreadsheet's
             // wave dash arrives as FULLWIDTH TILDE, which NFKC makes `~`; and `HT~2022~9` is
             // typed for `HT-2022-9` as often.
             0x007E,  // TILDE
             0xFF5E,  // FULLWIDTH TILDE (NFKC maps it to TILDE; kept for clarity)
             0x2053,  // SWUNG DASH
             0x223C:  // TILDE OPERATOR
            return true
        default:
            return false
        }
    }

    /// NFKC_Casefold through ICU (the Swift standard library has no compatibility normalisation).
    /// ICU cannot fail on valid UTF-16 with a large enough buffer; if it ever did, falling back to the
    /// text itself would only make the comparison stricter, never looser for the steps that follow.
    static func nfkcCasefold(_ text: String) -> String {
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            // ASCII: NFKC is the identity and case folding is lower-casing A–Z.
            return String(decoding: text.utf8.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self)
        }
        let source = Array(text.utf16)
        var capacity = Int32(source.count * 3 + 16)
        while true {
            var status = SUBSIDY_ICU_OK
            var destination = [UInt16](repeating: 0, count: Int(capacity))
            let length = subsidy_nfkc_casefold(source, Int32(source.count), &destination, capacity, &status)
            if status == SUBSIDY_ICU_BUFFER_TOO_SMALL {
                capacity = length + 1
                continue
            }
            guard status == SUBSIDY_ICU_OK else { return text }
            return String(decoding: destination[0..<Int(length)], as: UTF16.self)
        }
    }
}

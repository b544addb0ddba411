import CICU

/// The one form in which identifiers are compared for “the same” — contract numbers (合同编号), pilot
/// ids, project names and every other text a duplicate or once-only rule is keyed on — so that no
/// respelling funds the same content twice (RULES.md general rule 2; `Deploy/policy/IDENTITY.md`).
///
/// The canonical form of a text is, in this order:
/// 1. Unicode **NFKC_Casefold** (NFKC, full case folding, and every Default_Ignorable_Code_Point
///    removed: zero-width spaces and joiners, BOM, soft hyphen, bidi marks, variation selectors, …),
///    so full-width `ＨＴ` and half-width `ht` agree, as do `①` and `1`, `ﬁ` and `fi`;
/// 2. every remaining format (Cf) or control (Cc) character removed, and every white-space character
///    and separator (Z*) removed — `HT 2022 001`, `HT2022001` and `HT\u{3000}2022001` agree;
/// 3. every dash or hyphen (general category Pd — hyphen, en and em dash, 〜, ‐, ‑, ⸺ … — and the
///    minus signs U+2212, U+2796, U+02D7 and the hyphen bullet U+2043) mapped to `-`, and a run of
///    them to one;
/// 4. decimal digits of any script mapped to ASCII, and the leading zeros of every digit run
///    dropped (`HT-2022-007` ≡ `HT-2022-7`; a run of zeros keeps one `0`);
/// 5. trailing punctuation (Po and Pd: `。` `.` `,` `、` `-` …) dropped.
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
        let folded = nfkcCasefold(text)
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(folded.unicodeScalars.count)
        var inDigitRun = false
        for scalar in folded.unicodeScalars {
            let properties = scalar.properties
            switch properties.generalCategory {
            case .format, .control, .spaceSeparator, .lineSeparator, .paragraphSeparator:
                continue
            default:
                break
            }
            if properties.isWhitespace || properties.isDefaultIgnorableCodePoint { continue }
            if isDash(scalar) {
                inDigitRun = false
                if scalars.last != "-" { scalars.append("-") }
                continue
            }
            if properties.numericType == .decimal, let value = properties.numericValue, let digit = Unicode.Scalar(UInt32(48 + Int(value))) {
                // Drop a leading zero of a digit run; a later digit (or the run's end) decides.
                if inDigitRun, scalars.last == "0", !previousIsDigit(scalars, before: scalars.count - 1) {
                    scalars.removeLast()
                }
                scalars.append(digit)
                inDigitRun = true
                continue
            }
            inDigitRun = false
            scalars.append(scalar)
        }
        while let last = scalars.last, isTrailingPunctuation(last) { scalars.removeLast() }
        var result = String.UnicodeScalarView()
        result.append(contentsOf: scalars)
        return String(result)
    }

    /// Whether the scalar before `index` (if any) is an ASCII digit: a `0` is a leading zero only
    /// at the start of its run.
    private static func previousIsDigit(_ scalars: [Unicode.Scalar], before index: Int) -> Bool {
        guard index > 0 else { return false }
        return ("0"..."9").contains(scalars[index - 1])
    }

    static func isDash(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.properties.generalCategory == .dashPunctuation { return true }
        switch scalar.value {
        case 0x2212,  // MINUS SIGN
             0x2043,  // HYPHEN BULLET
             0x02D7,  // MODIFIER LETTER MINUS SIGN
             0x2796,  // HEAVY MINUS SIGN
             0xFE63, 0xFF0D:  // SMALL / FULLWIDTH HYPHEN-MINUS (NFKC maps them; kept for clarity)
            return true
        default:
            return false
        }
    }

    private static func isTrailingPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .otherPunctuation, .dashPunctuation: true
        default: false
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

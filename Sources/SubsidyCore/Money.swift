/// An amount of money as an integer number of fen (分, 0.01 yuan).
///
/// RULES.md forbids floating point anywhere: every amount, cap and award is a whole number of fen,
/// and percentages are applied with ``scaled(by:)``, which floors. Arithmetic that could overflow
/// returns `nil` instead of trapping, because amounts arrive from users and other processes.
public struct Money: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The amount in fen. Negative amounts exist only transiently (differences, clawbacks).
    public let fen: Int64

    public static let zero = Money(fen: 0)

    /// An amount of `fen` fen.
    public init(fen: Int64) { self.fen = fen }

    /// Whole yuan, for constants known to be in range (about ±9.2 × 10¹⁶ yuan).
    /// Parse user input with ``init(parsing:)`` or convert with ``checked(yuan:)`` instead.
    public init(yuan: Int64) {
        self.fen = yuan * 100
    }

    /// Whole yuan, or `nil` if the amount in fen does not fit in 64 bits.
    public static func checked(yuan: Int64) -> Money? {
        let (fen, overflow) = yuan.multipliedReportingOverflow(by: 100)
        return overflow ? nil : Money(fen: fen)
    }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.fen < rhs.fen }

    /// `self + other`, or `nil` on overflow.
    public func adding(_ other: Money) -> Money? {
        let (sum, overflow) = fen.addingReportingOverflow(other.fen)
        return overflow ? nil : Money(fen: sum)
    }

    /// `self - other`, or `nil` on overflow.
    public func subtracting(_ other: Money) -> Money? {
        let (difference, overflow) = fen.subtractingReportingOverflow(other.fen)
        return overflow ? nil : Money(fen: difference)
    }

    /// `self × factor`, or `nil` on overflow.
    public func multiplied(by factor: Int64) -> Money? {
        let (product, overflow) = fen.multipliedReportingOverflow(by: factor)
        return overflow ? nil : Money(fen: product)
    }

    /// `self - other`, but never below zero: the headroom left under a limit.
    public func headroom(after committed: Money) -> Money {
        guard let left = subtracting(committed), left.fen > 0 else { return .zero }
        return left
    }

    /// `floor(self × rate)` in fen, computed in 128-bit so it is exact for every amount.
    ///
    /// Never overflows: a ``Rate`` is at most 100 %, so the result is no larger than `self`.
    public func scaled(by rate: Rate) -> Money {
        let product = fen.multipliedFullWidth(by: rate.numerator)
        let (quotient, remainder) = rate.denominator.dividingFullWidth(product)
        // dividingFullWidth truncates toward zero; RULES.md wants floor.
        if remainder != 0 && (remainder < 0) != (rate.denominator < 0) {
            return Money(fen: quotient - 1)
        }
        return Money(fen: quotient)
    }

    /// The amount in yuan with thousands separators and two decimals: `12,000,000.00`, `-5.00`.
    public var description: String { yuan(grouped: true) }

    /// `-10 fen, -0.10 yuan`: a `*_fen` field's value in a refusal, in the unit the field counts
    /// and the one people read (a bare -0.10 reads as neither).
    public var inBothUnits: String { "\(fen) fen, \(self) yuan" }

    /// The amount in yuan as a plain decimal, `12000000.00`: what a spreadsheet or CSV reads as a number.
    public var plainText: String { yuan(grouped: false) }

    private func yuan(grouped: Bool) -> String {
        // Digits from the last, as ASCII bytes: every approval renders a dozen amounts into its
        // explanation, and walking a `String` of digits by `Character` (recounting it for each
        // separator) was 2% of an approval's CPU.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        let magnitude = fen.magnitude
        let cents = UInt8(magnitude % 100)
        bytes.append(UInt8(ascii: "0") + cents % 10)
        bytes.append(UInt8(ascii: "0") + cents / 10)
        bytes.append(UInt8(ascii: "."))
        var whole = magnitude / 100
        var written = 0
        repeat {
            if grouped && written > 0 && written % 3 == 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "0") + UInt8(whole % 10))
            whole /= 10
            written += 1
        } while whole > 0
        if fen < 0 { bytes.append(UInt8(ascii: "-")) }
        return String(decoding: bytes.reversed(), as: UTF8.self)
    }

    /// ``description`` followed by ` yuan`, for messages.
    public var yuanText: String { description + " yuan" }
}

extension Money {
    /// Why a text could not be read as an amount of yuan.
    public enum ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        case empty
        /// A character that is not a digit, `,`, `.` or a leading `-`, at a 1-based position.
        case unexpectedCharacter(Character, position: Int)
        /// A thousands separator that does not sit between groups of three digits.
        case misplacedSeparator(position: Int)
        /// More than two digits after the decimal point (fen is the smallest unit).
        case tooManyDecimals(Int)
        /// No digits before or after the decimal point.
        case missingDigits
        /// Larger than 64 bits of fen can hold.
        case outOfRange
        /// A Chinese unit of ten thousand (万) or a hundred million (亿): the amount is in yuan.
        case chineseUnit(Character)

        public var description: String {
            switch self {
            case .empty: "empty amount"
            case let .unexpectedCharacter(character, position): "unexpected character '\(character)' at position \(position)"
            case let .misplacedSeparator(position): "misplaced thousands separator at position \(position) (groups of three digits)"
            case let .tooManyDecimals(count): "\(count) decimal places (at most 2: fen is the smallest unit)"
            case .missingDigits: "missing digits"
            case .outOfRange: "amount out of range"
            case let .chineseUnit(unit): "'\(unit)' is not taken: write the amount in yuan (80\(unit) is \(unit == "万" ? "800,000" : "8,000,000,000"))"
            }
        }
    }

    /// Reads yuan written as `1,200,000.00`, `1200000`, `0.05` or `-5.00`; full-width digits and
    /// marks (`８００，０００．００`, as a Chinese input method types them) and a trailing `元` too.
    ///
    /// Thousands separators are optional but, when present, must group the integer part in threes;
    /// at most two decimals are allowed, because anything finer would be silently rounded. `万`
    /// and `亿` are refused with what to write: read as yuan they would be off by 10,000.
    public init(parsing text: String) throws(ParseError) {
        var characters = text.map { character -> Character in
            guard let scalar = character.unicodeScalars.first, character.unicodeScalars.count == 1, (0xFF01...0xFF5E).contains(scalar.value) else { return character }
            // Full-width forms are ASCII shifted by 0xFEE0 (U+FF10 is '0', U+FF0C ',').
            return Character(Unicode.Scalar(scalar.value - 0xFEE0)!)
        }
        if characters.count > 1, characters.last == "元" { characters.removeLast() }
        if let unit = characters.first(where: { $0 == "万" || $0 == "亿" }) { throw .chineseUnit(unit) }
        guard !characters.isEmpty else { throw .empty }
        var index = 0
        let negative = characters[0] == "-"
        if negative { index = 1 }

        var integerDigits: [Int64] = []
        var fractionDigits: [Int64] = []
        var inFraction = false
        var separatorPositions: [Int] = []  // integer digits seen before each separator
        var lastSeparatorIndex = 0
        while index < characters.count {
            let character = characters[index]
            if character.isASCII, let digit = character.wholeNumberValue {
                if inFraction { fractionDigits.append(Int64(digit)) } else { integerDigits.append(Int64(digit)) }
            } else if character == "," && !inFraction {
                separatorPositions.append(integerDigits.count)
                // Each separator must follow 1–3 leading digits, or exactly 3 after the previous one.
                let valid = separatorPositions.count == 1
                    ? (1...3).contains(integerDigits.count)
                    : integerDigits.count - separatorPositions[separatorPositions.count - 2] == 3
                if !valid { throw .misplacedSeparator(position: index + 1) }
                lastSeparatorIndex = index
            } else if character == "." && !inFraction {
                inFraction = true
            } else {
                throw .unexpectedCharacter(character, position: index + 1)
            }
            index += 1
        }
        // The last group before the point (or the end) must have three digits too.
        if let last = separatorPositions.last, integerDigits.count - last != 3 {
            throw .misplacedSeparator(position: lastSeparatorIndex + 1)
        }
        if fractionDigits.count > 2 { throw .tooManyDecimals(fractionDigits.count) }
        if integerDigits.isEmpty && fractionDigits.isEmpty { throw .missingDigits }
        if inFraction && fractionDigits.isEmpty { throw .missingDigits }

        // Accumulate negatively so Int64.min's magnitude is representable, then flip.
        var fen: Int64 = 0
        for digit in integerDigits + fractionDigits + Array(repeating: 0, count: 2 - fractionDigits.count) {
            let (shifted, o1) = fen.multipliedReportingOverflow(by: 10)
            let (next, o2) = shifted.subtractingReportingOverflow(digit)
            if o1 || o2 { throw .outOfRange }
            fen = next
        }
        if !negative {
            let (positive, overflow) = Int64(0).subtractingReportingOverflow(fen)
            if overflow { throw .outOfRange }
            fen = positive
        }
        self.fen = fen
    }
}

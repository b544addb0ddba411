/// A 统一社会信用代码 (unified social credit code, GB 32100-2015): the 18-character identity of
/// every enterprise, provider and institution. Caps are keyed on it, never on names.
///
/// Layout (1-based positions): 1 registration authority, 2 organisation type, 3–8 administrative
/// division (digits), 9–17 the organisation code of GB 11714 (8 characters and its own check
/// character at 17), 18 the check character over positions 1–17.
/// A value of this type has passed both checks.
public struct USCC: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 18 characters, upper case.
    public let rawValue: String

    /// The 31 characters GB 32100 allows, in check-value order (no I, O, S, V, Z).
    static let alphabet: [Character] = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
    static let weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    /// GB 11714 weights for the 8 body characters of the organisation code.
    static let organisationWeights = [3, 7, 9, 10, 5, 8, 4, 2]

    /// Why a text is not a valid USCC: the 1-based position at fault (when there is one) and the rule.
    public struct ValidationError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The 1-based position that is wrong, or `nil` when the length is wrong.
        public let position: Int?
        /// What is wrong and, for a check character, what was expected.
        public let problem: String

        public init(position: Int?, problem: String) {
            self.position = position
            self.problem = problem
        }

        public var description: String {
            position.map { "position \($0): \(problem)" } ?? problem
        }
    }

    /// Validates `text` as a USCC: length, alphabet, digits in 3–8, the GB 11714 check character at
    /// 17 and the GB 32100 check character at 18. Nothing is normalised: lower case is an error,
    /// because silently altering an identity is worse than refusing it.
    public init(validating text: String) throws(ValidationError) {
        // A follow-on may list thousands of USCCs: the valid ones are checked on their bytes;
        // only a failure takes the slower path that names the position and the rule.
        // Only that path accepts: a code is 18 ASCII bytes. The slower path compares Characters,
        // which Swift compares by canonical equivalence — U+212A KELVIN SIGN equals "K" there —
        // so letting it accept would give one enterprise a second spelling, and a second set of
        // caps, content keys and registrations.
        guard let bytes = Self.codeBytes(text), Self.checksMatch(bytes) else { throw Self.explainInvalid(text) }
        self.rawValue = text
    }

    /// Each code character's value (its index in ``alphabet``), by ASCII byte; -1 outside it.
    private static let byteValues: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (index, character) in alphabet.enumerated() {
            if let ascii = character.asciiValue { table[Int(ascii)] = Int8(index) }
        }
        return table
    }()

    /// The 18 bytes of `text` if they are all code characters with digits at 3–8, else nil.
    private static func codeBytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(18)
        for byte in text.utf8 {
            guard bytes.count < 18, byte < 128, byteValues[Int(byte)] >= 0 else { return nil }
            if (2..<8).contains(bytes.count) && !(0x30...0x39).contains(byte) { return nil }
            bytes.append(byte)
        }
        return bytes.count == 18 ? bytes : nil
    }

    /// Both check characters of 18 code bytes: GB 32100 at 18, GB 11714 at 17.
    private static func checksMatch(_ bytes: [UInt8]) -> Bool {
        var sum = 0
        for index in 0..<17 { sum += Int(byteValues[Int(bytes[index])]) * weights[index] }
        guard byteValues[Int(bytes[17])] == Int8((31 - sum % 31) % 31) else { return false }
        var organisation = 0
        for index in 0..<8 {
            let byte = Int(bytes[8 + index])
            // Digits are worth themselves, letters A = 10 … Z = 35 (GB 11714).
            organisation += (byte <= 0x39 ? byte - 0x30 : byte - 55) * organisationWeights[index]
        }
        let check17: UInt8 = switch 11 - organisation % 11 {
        case 10: UInt8(ascii: "X")
        case 11: UInt8(ascii: "0")
        case let value: UInt8(0x30 + value)
        }
        return bytes[16] == check17
    }

    /// The most UTF-8 bytes 18 characters can take: a longer text cannot be a code, and is neither
    /// split into characters nor quoted back.
    private static let longestPossible = 18 * 4

    /// Why `text`, which the byte check refused, is not a code: the first position at fault and
    /// its rule. Always an error, whatever it finds.
    private static func explainInvalid(_ text: String) -> ValidationError {
        guard text.utf8.count <= longestPossible else {
            return ValidationError(position: nil, problem: "must be 18 characters (got \(text.count))")
        }
        let characters = Array(text)
        guard characters.count == 18 else {
            return ValidationError(position: nil, problem: "must be 18 characters (got \(characters.count))")
        }
        for (offset, character) in characters.enumerated() {
            let position = offset + 1
            // isASCII first: a look-alike (U+212A for K, a full-width letter) is not its letter.
            guard character.isASCII, alphabet.contains(character) else {
                let problem: String
                if character.isASCII && character.isLowercase {
                    problem = "'\(character)' is lower case (codes use upper case)"
                } else if character.isASCII && "IOSVZ".contains(character) {
                    problem = "'\(character)' is not used in codes (no I, O, S, V, Z)"
                } else if !character.isASCII {
                    let scalars = character.unicodeScalars.map { "U+" + String($0.value, radix: 16, uppercase: true) }.joined(separator: " ")
                    problem = "'\(character)' is not a code character (\(scalars): only ASCII 0-9 and A-Y without I, O, S, V, Z)"
                } else {
                    problem = "'\(character)' is not a code character (0-9 and A-Y without I, O, S, V, Z)"
                }
                return ValidationError(position: position, problem: problem)
            }
            if (3...8).contains(position) && character.wholeNumberValue == nil {
                return ValidationError(position: position, problem: "'\(character)' must be a digit (positions 3–8 are the administrative division code)")
            }
        }
        let expected18 = checkCharacter(characters[0..<17])
        guard characters[17] == expected18 else {
            return ValidationError(position: 18, problem: "check character is '\(characters[17])', positions 1–17 give '\(expected18)'")
        }
        guard let expected17 = organisationCheckCharacter(body: characters[8..<16]) else {
            // Unreachable: positions 9–16 passed the alphabet check, which is a subset of GB 11714's.
            return ValidationError(position: 9, problem: "organisation code body is not GB 11714 characters")
        }
        guard characters[16] == expected17 else {
            return ValidationError(position: 17, problem: "organisation code check character is '\(characters[16])', positions 9–16 give '\(expected17)' (GB 11714)")
        }
        // Unreachable while the two paths agree on ASCII text; refused rather than accepted.
        return ValidationError(position: nil, problem: "is not a code")
    }

    /// Validates `text` as a USCC for the request field `path`: `INVALID_ARGUMENT` naming the field,
    /// the position and the rule.
    public static func parse(_ text: String, field path: String) throws(SubsidyError) -> USCC {
        do {
            return try USCC(validating: text)
        } catch {
            let quoted = text.utf8.count <= longestPossible ? "'\(text)'" : "the text"
            throw SubsidyError.invalidField(path, "\(quoted) is not a valid 统一社会信用代码: \(error)")
        }
    }

    /// The GB 32100 check character (position 18) for 17 code characters, or `nil` if any is
    /// outside the alphabet.
    public static func checkCharacter(forPrefix prefix17: String) -> Character? {
        let characters = Array(prefix17)
        guard characters.count == 17, characters.allSatisfy(alphabet.contains) else { return nil }
        return checkCharacter(characters[...])
    }

    private static func checkCharacter(_ characters: ArraySlice<Character>) -> Character {
        var sum = 0
        for (character, weight) in zip(characters, weights) {
            sum += (alphabet.firstIndex(of: character) ?? 0) * weight
        }
        return alphabet[(31 - sum % 31) % 31]
    }

    /// The GB 11714 check character for an 8-character organisation-code body (digits and upper
    /// case letters, letters valued A = 10 … Z = 35): `0`–`9` or `X`; `nil` for other characters.
    public static func organisationCheckCharacter(body: some Collection<Character>) -> Character? {
        guard body.count == 8 else { return nil }
        var sum = 0
        for (character, weight) in zip(body, organisationWeights) {
            guard character.isASCII else { return nil }
            if let digit = character.wholeNumberValue {
                sum += digit * weight
            } else if let ascii = character.asciiValue, (65...90).contains(ascii) {
                sum += (Int(ascii) - 55) * weight
            } else {
                return nil
            }
        }
        switch 11 - sum % 11 {
        case 10: return "X"
        case 11: return "0"
        case let value: return Character(String(value))
        }
    }

    /// Completes 17 characters with their check character, e.g. to seed demo data.
    /// Throws if the prefix is malformed or its organisation code (positions 9–17) does not check.
    public static func makeValid(prefix17: String) throws(ValidationError) -> USCC {
        guard prefix17.count == 17 else {
            throw ValidationError(position: nil, problem: "prefix must be 17 characters (got \(prefix17.count))")
        }
        guard let check = checkCharacter(forPrefix: prefix17) else {
            // Let the full validator name the offending position.
            return try USCC(validating: prefix17 + "0")
        }
        return try USCC(validating: prefix17 + String(check))
    }

    /// Completes 16 characters with both check characters (GB 11714 at 17, GB 32100 at 18).
    public static func makeValid(prefix16: String) throws(ValidationError) -> USCC {
        let characters = Array(prefix16)
        guard characters.count == 16 else {
            throw ValidationError(position: nil, problem: "prefix must be 16 characters (got \(characters.count))")
        }
        guard let check17 = organisationCheckCharacter(body: characters[8...]) else {
            return try USCC(validating: prefix16 + "00")
        }
        return try makeValid(prefix17: prefix16 + String(check17))
    }

    public static func < (lhs: USCC, rhs: USCC) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Whether a Foshan authority registered it: positions 3–8 are 4406xx (a district's, or the
    /// city's own 440600/440601). The registry takes such a code, and only such, as LOCAL.
    public var isRegisteredInFoshan: Bool { rawValue.utf8.dropFirst(2).starts(with: "4406".utf8) }

    /// Positions 9–17: the organisation code, one organisation's for life. Two USCCs sharing it
    /// (twins, registered under two areas) are one organisation.
    public var organisationCode: Substring { rawValue.dropFirst(8).prefix(9) }

    public var description: String { rawValue }
}

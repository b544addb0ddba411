import SubsidyCore
import Testing

@Suite("USCC (GB 32100-2015 with the GB 11714 organisation code)")
struct USCCTests {
    // Check characters of the made-up 9144060x… codes were computed with an independent
    // implementation of both standards; 91110000600037341L, 914403001922038216, 9144030071526726XG
    // and 91110108551385082Q are real, published codes.
    static let valid = [
        "91110000600037341L", "91440604MA4UH8XX6U", "91440605MA51RCJ750", "91440606MA4W3BY65F",
        "91440607MA52A0K343", "91440608MA4X1P6N4B", "52440600MJL1234N1N", "12440600MB2C0D1E1Q",
        "914403001922038216", "9144030071526726XG", "91110108551385082Q",
    ]

    @Test("accepts valid codes", arguments: valid)
    func accepts(_ text: String) throws {
        #expect(try USCC(validating: text).rawValue == text)
    }

    @Test("makeValid computes both check characters", arguments: valid)
    func makeValid(_ text: String) throws {
        #expect(try USCC.makeValid(prefix17: String(text.prefix(17))).rawValue == text)
        #expect(try USCC.makeValid(prefix16: String(text.prefix(16))).rawValue == text)
        #expect(USCC.checkCharacter(forPrefix: String(text.prefix(17))) == text.last)
    }

    @Test("GB 11714 check: 10 → X, 11 → 0")
    func organisationCheck() {
        #expect(USCC.organisationCheckCharacter(body: Array("60003734")) == "1")
        #expect(USCC.organisationCheckCharacter(body: Array("71526726")) == "X")  // Tencent's, 9144030071526726XG
        #expect(USCC.organisationCheckCharacter(body: Array("00000000")) == "0")
        #expect(USCC.organisationCheckCharacter(body: Array("6000373")) == nil)
        #expect(USCC.organisationCheckCharacter(body: Array("6000373a")) == nil)
    }

    /// For each position, a character outside the alphabet there must be reported at that position.
    @Test("a bad character is reported at its position", arguments: 1...18)
    func badCharacter(_ position: Int) {
        var characters = Array("91440604MA4UH8XX6U")
        characters[position - 1] = "I"
        let text = String(characters)
        #expect(throws: USCC.ValidationError(position: position, problem: "'I' is not used in codes (no I, O, S, V, Z)")) {
            try USCC(validating: text)
        }
    }

    /// Codes with K where a K may stand, the check character at 18 included (U+212A KELVIN SIGN
    /// is canonically equivalent to K, so Swift's Character comparison calls them equal).
    static func codesWithK() throws -> [String] {
        var codes = [try USCC.makeValid(prefix16: "91440604MAK4KH8K").rawValue]
        for n in 0..<2_000 where codes.count < 4 {
            let code = try USCC.makeValid(prefix16: "9144060" + String(1_000_000_000 + n).dropFirst()).rawValue
            if code.last == "K" { codes.append(code) }
        }
        return codes
    }

    /// Every code character's look-alikes: its full-width form, and for K the Kelvin sign.
    static func lookAlikes(of character: Character) -> [Character] {
        let scalar = character.unicodeScalars.first!
        var forms = [Character(Unicode.Scalar(scalar.value + 0xFEE0)!)]
        if character == "K" { forms.append("\u{212A}") }
        return forms
    }

    @Test("a look-alike of a code character (full width, the Kelvin sign) is refused at its position, never accepted as a second spelling")
    func lookAlikesRefused() throws {
        let codes = try Self.codesWithK()
        #expect(codes.contains { $0.last == "K" }, "\(codes)")
        var tried = 0
        for code in codes + Self.valid {
            for (offset, character) in code.enumerated() {
                for lookAlike in Self.lookAlikes(of: character) {
                    var characters = Array(code)
                    characters[offset] = lookAlike
                    let text = String(characters)
                    let error = #expect(throws: USCC.ValidationError.self, "\(code) with U+\(String(lookAlike.unicodeScalars.first!.value, radix: 16)) at \(offset + 1)") {
                        try USCC(validating: text)
                    }
                    #expect(error?.position == offset + 1, "\(String(describing: error))")
                    tried += 1
                }
            }
        }
        #expect(tried > 18 * (Self.valid.count + 1))
        #expect(throws: USCC.ValidationError(position: 18, problem: "'\u{212A}' is not a code character (U+212A: only ASCII 0-9 and A-Y without I, O, S, V, Z)")) {
            try USCC(validating: String(codes.first { $0.last == "K" }!.dropLast()) + "\u{212A}")
        }
    }

    @Test("positions 3–8 must be digits", arguments: 3...8)
    func divisionDigits(_ position: Int) {
        var characters = Array("91440604MA4UH8XX6U")
        characters[position - 1] = "A"
        #expect(throws: USCC.ValidationError(position: position, problem: "'A' must be a digit (positions 3–8 are the administrative division code)")) {
            try USCC(validating: String(characters))
        }
    }

    @Test("invalid codes name the position and what was expected", arguments: [
        ("91440604MA4UH8XX3N", 18, "check character is 'N', positions 1–17 give 'J'"),   // a made-up code
        ("91440604MA4UH8XX6A", 18, "check character is 'A', positions 1–17 give 'U'"),
        ("91440604MA4UH8XY6U", 18, "positions 1–17 give"),                                 // typo at 16 breaks 18
        ("91440604MA4UH8XX09", 17, "organisation code check character is '0', positions 9–16 give '6' (GB 11714)"),
        ("91440604ma4uh8xx6u", 9, "'m' is lower case (codes use upper case)"),
        ("9144060４MA4UH8XX6U", 8, "'４' is not a code character"),
    ] as [(String, Int, String)])
    func invalid(_ text: String, _ position: Int, _ problem: String) {
        do {
            _ = try USCC(validating: text)
            Issue.record("\(text) accepted")
        } catch {
            #expect(error.position == position)
            #expect(error.problem.contains(problem), "\(error)")
        }
    }

    @Test("wrong lengths", arguments: ["", "91440604MA4UH8XX6", "91440604MA4UH8XX6UU"])
    func length(_ text: String) {
        #expect(throws: USCC.ValidationError(position: nil, problem: "must be 18 characters (got \(text.count))")) {
            try USCC(validating: text)
        }
    }

    @Test("request fields get INVALID_ARGUMENT naming the field and the position")
    func fieldError() {
        #expect(throws: SubsidyError.invalidField(
            "application.provider_uscc",
            "'91440604MA4UH8XX6A' is not a valid 统一社会信用代码: position 18: check character is 'A', positions 1–17 give 'U'")) {
            try USCC.parse("91440604MA4UH8XX6A", field: "application.provider_uscc")
        }
    }
}

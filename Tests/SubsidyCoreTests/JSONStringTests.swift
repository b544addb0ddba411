import Foundation
import SubsidyCore
import SubsidyTestRandom
import Testing

@Suite("JSONString")
struct JSONStringTests {
    @Test("a quoted string is one line of JSON that reads back as the string, escaped or copied whole")
    func quotedReadsBack() throws {
        var random = TestSeed.generator("json string")
        let pool: [String] = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) } + [
            "\u{7F}", "\u{85}", "\u{2028}", "\u{2029}", "\"", "\\", "/", "é", "e\u{301}", "佛山", "\u{1F600}", "\u{FEFF}", "a", "Z", "0", " ",
        ]
        let plain = ["a", "Z", "0", " ", "佛山", "/", "é", "\u{1F600}"]
        for round in 0..<500 {
            // Half the strings need no escape (the copied path), half mostly do.
            let text = (0..<Int(random.next() % 16)).map { _ in random.pick(round % 2 == 0 ? plain : pool) }.joined()
            let quoted = JSONString.quoted(text)
            // As bytes: `String ==` would take a canonically equivalent spelling as the same.
            #expect(try Array(JSONDecoder().decode(String.self, from: Data(quoted.utf8)).utf8) == Array(text.utf8), "\(quoted)")
            #expect(!quoted.unicodeScalars.contains { [0x0A, 0x0D, 0x85, 0x2028, 0x2029].contains($0.value) }, "\(quoted)")
            if round % 2 == 0 { #expect(Array(quoted.utf8) == Array(("\"" + text + "\"").utf8)) }
        }
        #expect(JSONString.quoted("a\"b\u{2028}") == #""a\"b\u2028""#)
    }

    /// `text` as a JSON string literal spelled another way each time: each scalar raw, as a
    /// short escape where it has one, or as `\u` digits in either case (a pair for one beyond the
    /// BMP).
    private func respelled(_ text: String, _ random: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        let short: [UInt32: String] = [0x22: "\\\"", 0x5C: "\\\\", 0x2F: "\\/", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"]
        func hex(_ unit: UInt32, upper: Bool) -> String {
            let digits = String(unit, radix: 16, uppercase: upper)
            return "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
        }
        for scalar in text.unicodeScalars {
            let mustEscape = scalar.value < 0x20 || scalar == "\"" || scalar == "\\"
            switch random.next() % 3 {
            case 0 where !mustEscape: out += Array(String(scalar).utf8)
            case 1 where short[scalar.value] != nil: out += Array(short[scalar.value]!.utf8)
            default:
                let upper = random.next() % 2 == 0
                if scalar.value > 0xFFFF {
                    let v = scalar.value - 0x10000
                    out += Array((hex(0xD800 + (v >> 10), upper: upper) + hex(0xDC00 + (v & 0x3FF), upper: upper)).utf8)
                } else {
                    out += Array(hex(scalar.value, upper: upper).utf8)
                }
            }
        }
        return out + [UInt8(ascii: "\"")]
    }

    @Test("a literal reads back as its text however it is spelled, and stops at its closing quote")
    func literalReadsBack() throws {
        var random = TestSeed.generator("json literal")
        let pool: [String] = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) } + [
            "\u{7F}", "\u{85}", "\u{2028}", "\"", "\\", "/", "é", "e\u{301}", "佛山", "\u{1F600}", "\u{10FFFF}", "\u{FEFF}", "a", "Z", "0", " ",
        ]
        for _ in 0..<2_000 {
            let text = (0..<Int(random.next() % 12)).map { _ in random.pick(pool) }.joined()
            let literal = respelled(text, &random)
            // Text before and after: the reader starts at the quote and must stop after its mate.
            let input = Array(" [".utf8) + literal + Array(",\"x\"]".utf8)
            var index = 2
            let read = try JSONString.literal(in: input, at: &index)
            #expect(Array(read.utf8) == Array(text.utf8), "\(String(decoding: literal, as: UTF8.self))")
            #expect(index == 2 + literal.count)
            #expect(try Array(JSONDecoder().decode(String.self, from: Data(literal)).utf8) == Array(text.utf8))
        }
    }

    @Test("a damaged literal is refused with what is wrong and where, or reads as JSONDecoder reads it")
    func literalRefusesDamage() throws {
        let cases: [(String, JSONString.LiteralDamage, Int)] = [
            (#""abc"#, .unterminated, 4),
            (#""ab\"#, .unterminated, 4),
            ("\"a\u{01}b\"", .controlCharacter, 2),
            ("\"a\nb\"", .controlCharacter, 2),
            (#""a\x""#, .unknownEscape, 4),
            (#""\u12G4""#, .badUnicodeEscape, 3),
            (#""\u+041""#, .badUnicodeEscape, 3),
            (#""\u004""#, .badUnicodeEscape, 3),
            (#""\uD83D""#, .unpairedSurrogate, 7),
            (#""\uD83Dx""#, .unpairedSurrogate, 7),
            (#""\uD83D\u0041""#, .unpairedSurrogate, 7),
            (#""\uD83D\uZZZZ""#, .badUnicodeEscape, 7),
            (#""\uDE00""#, .unpairedSurrogate, 7),
        ]
        for (text, damage, at) in cases {
            var index = 0
            #expect(throws: damage, "\(text)") { try JSONString.literal(in: Array(text.utf8), at: &index) }
            #expect(index == at, "\(text)")
        }
        for bytes: [UInt8] in [[0x22, 0xC3, 0x22], [0x22, 0xC3, 0x5C, 0x6E, 0xA9, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            var index = 0
            #expect(throws: JSONString.LiteralDamage.notUTF8) { try JSONString.literal(in: bytes, at: &index) }
        }

        // Every single-byte damage of well-formed literals: refused, or read exactly as
        // JSONDecoder reads the same bytes.
        var random = TestSeed.generator("json literal damage")
        let pool = ["a", "\"", "\\", "\n", "é", "佛", "\u{1F600}", "\u{2028}", "/"]
        let replacements: [UInt8] = [0x00, 0x0A, 0x22, 0x5C, 0x75, 0x44, 0x30, 0x41, 0x66, 0x80, 0xC3, 0xED, 0xFF]
        var accepted = 0
        for _ in 0..<3_000 {
            var literal = respelled((0..<Int(1 + random.next() % 6)).map { _ in random.pick(pool) }.joined(), &random)
            literal[1 + Int(random.next() % UInt64(literal.count - 1))] = random.pick(replacements)
            var index = 0
            guard let read = try? JSONString.literal(in: literal, at: &index) else { continue }
            accepted += 1
            // The damage may have closed the literal early; JSONDecoder reads what was read.
            let prefix = Array(literal[..<index])
            #expect(try Array(JSONDecoder().decode(String.self, from: Data(prefix)).utf8) == Array(read.utf8), "\(literal)")
        }
        #expect(accepted > 100)
    }
}

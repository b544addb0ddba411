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
}

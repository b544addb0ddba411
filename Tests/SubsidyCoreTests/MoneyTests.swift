import SubsidyCore
import Testing

@Suite("Money")
struct MoneyTests {
    @Test("parses yuan", arguments: [
        ("1,200,000.00", 120_000_000), ("1200000", 120_000_000), ("0.05", 5), ("0.5", 50), ("12", 1_200),
        ("-5.00", -500), ("999", 99_900), ("1,000", 100_000), ("12,345,678.9", 1_234_567_890), ("0", 0), (".5", 50),
        ("92,233,720,368,547,758.07", Int64.max), ("-92,233,720,368,547,758.08", Int64.min),
        // As a Chinese input method types them: full-width digits and marks, a trailing 元.
        ("１２", 1_200), ("８００，０００．００", 80_000_000), ("－５", -500), ("100元", 10_000), ("１，２００元", 120_000),
    ] as [(String, Int64)])
    func parses(_ text: String, _ fen: Int64) throws {
        #expect(try Money(parsing: text).fen == fen)
    }

    @Test("refuses malformed amounts, naming the problem", arguments: [
        ("", Money.ParseError.empty),
        ("1.234", .tooManyDecimals(3)),
        ("12a", .unexpectedCharacter("a", position: 3)),
        (" 12", .unexpectedCharacter(" ", position: 1)),
        ("+12", .unexpectedCharacter("+", position: 1)),
        ("1.2.3", .unexpectedCharacter(".", position: 4)),
        ("80万", .chineseUnit("万")), ("1.5亿", .chineseUnit("亿")), ("元", .unexpectedCharacter("元", position: 1)),
        ("1,2345", .misplacedSeparator(position: 2)),
        ("1,23", .misplacedSeparator(position: 2)),
        ("1234,567", .misplacedSeparator(position: 5)),
        (",123", .misplacedSeparator(position: 1)),
        ("1,,234", .misplacedSeparator(position: 3)),
        ("1,234.5,6", .unexpectedCharacter(",", position: 8)),
        ("-", .missingDigits),
        (".", .missingDigits),
        ("5.", .missingDigits),
        ("92,233,720,368,547,758.08", .outOfRange),
        ("100000000000000000000", .outOfRange),
    ])
    func refuses(_ text: String, _ expected: Money.ParseError) {
        #expect(throws: expected) { try Money(parsing: text) }
    }

    @Test("formats as yuan with thousands separators", arguments: [
        (1_200_000_000, "12,000,000.00"), (0, "0.00"), (5, "0.05"), (-500, "-5.00"), (99_999, "999.99"),
        (100_000, "1,000.00"), (12_345_678_901, "123,456,789.01"), (Int64.min, "-92,233,720,368,547,758.08"),
    ] as [(Int64, String)])
    func formats(_ fen: Int64, _ text: String) {
        #expect(Money(fen: fen).description == text)
        // The same figure without separators, as a spreadsheet or CSV reads a number.
        #expect(Money(fen: fen).plainText == String(text.filter { $0 != "," }))
    }

    @Test("round-trips formatting and parsing", arguments: [0, 1, 99, 100, 123_456_789, -42, Int64.max] as [Int64])
    func roundTrip(_ fen: Int64) throws {
        #expect(try Money(parsing: Money(fen: fen).description).fen == fen)
    }

    @Test("checked arithmetic reports overflow instead of trapping")
    func overflow() {
        let max = Money(fen: .max)
        #expect(max.adding(Money(fen: 1)) == nil)
        #expect(Money(fen: .min).subtracting(Money(fen: 1)) == nil)
        #expect(max.multiplied(by: 2) == nil)
        #expect(Money.checked(yuan: .max / 100 + 1) == nil)
        #expect(Money.checked(yuan: 500_000) == Money(fen: 50_000_000))
        #expect(Money(yuan: 3).adding(Money(fen: 5)) == Money(fen: 305))
        #expect(Money(yuan: 3).subtracting(Money(yuan: 5)) == Money(yuan: -2))
        #expect(Money(yuan: 3).headroom(after: Money(yuan: 5)) == .zero)
        #expect(Money(yuan: 5).headroom(after: Money(yuan: 3)) == Money(yuan: 2))
    }

    @Test("rates floor to the fen, exactly, for any amount", arguments: [
        (120_000_000, 5_000, 60_000_000),     // 50% of 1,200,000.00
        (77_777_777, 5_000, 38_888_888),      // 50% of 777,777.77 = 388,888.885 → 388,888.88
        (1_000_000_004, 3_000, 300_000_001),  // 30% of 10,000,000.04
        (1_000_000_003, 3_000, 300_000_000),  // 30% of 10,000,000.03 = …000.9 fen → floor
        (1, 5_000, 0),
        (-1, 5_000, -1),                      // floor, not truncation
        (Int64.max, 10_000, Int64.max),
        (Int64.max, 9_999, 9_222_449_699_651_090_329), // 128-bit intermediate: no overflow
        (Int64.min, 10_000, Int64.min),
    ] as [(Int64, Int64, Int64)])
    func scaled(_ fen: Int64, _ basisPoints: Int64, _ expected: Int64) throws {
        let rate = try #require(Rate(basisPoints: basisPoints))
        #expect(Money(fen: fen).scaled(by: rate).fen == expected)
    }

    @Test("rates are between 0 and 100%")
    func rates() throws {
        #expect(Rate(basisPoints: 10_001) == nil)
        #expect(Rate(basisPoints: -1) == nil)
        #expect(Rate(numerator: 1, denominator: 0) == nil)
        #expect(try #require(Rate(basisPoints: 5_000)).description == "50%")
        #expect(try #require(Rate(basisPoints: 1_250)).description == "12.5%")
        #expect(try #require(Rate(basisPoints: 1)).description == "0.01%")
        #expect(try #require(Rate(numerator: 1, denominator: 3)).description == "33.3333%")
        #expect(Money(fen: 100).scaled(by: try #require(Rate(numerator: 1, denominator: 3))) == Money(fen: 33))
    }
}

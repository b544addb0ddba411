import SubsidyCore
import SubsidyTestRandom
import SubsidyWire
import Testing
@testable import SubsidyServer

/// The store keeps the core's application; a record on the wire is built from it. The two
/// conversions must be inverse on everything a submit accepts, or a client would see its
/// application change between filing and reading.
@Suite("wire ⇄ core conversions")
struct ConversionTests {
    @Test("an application goes core → wire → core and wire → core → wire unchanged, every field set")
    func applicationRoundTrip() throws {
        var random = TestSeed.generator("wire conversions")
        for _ in 0..<200 {
            let base = Int(random.next() % 90_000)
            let core = Application(
                measure: Measure.allCases[Int(random.next() % UInt64(Measure.allCases.count))], fundingYear: FundingYear(2021 + Int(random.next() % 3))!,
                enterprise: try USCC(validating: HandlerTests.uscc(base)), enterpriseLocality: Locality.allCases[Int(random.next() % 3)],
                projectName: "项目 \(random.next() % 1000)", contractNumber: "HT-\(random.next() % 10_000)",
                contractAmount: Money(fen: Int64(random.next() % 1_000_000_000)), paidAmount: Money(fen: Int64(random.next() % 1_000_000)),
                provider: random.next() % 2 == 0 ? nil : try USCC(validating: HandlerTests.uscc(base + 1)),
                investedAmount: Money(fen: 11), constructionAmount: Money(fen: 12), totalInvestment: Money(fen: 13), upperLevelSubsidy: Money(fen: 14),
                upperLevelAwardTotal: Money(fen: 15), previousYearServiceSpend: Money(fen: 16),
                selectionDate: random.next() % 2 == 0 ? nil : CalendarDate(year: 2022, month: 1 + Int(random.next() % 12), day: 28),
                selectionLevel: SelectionLevel.allCases[Int(random.next() % 4)], inProvincialPool: random.next() % 2 == 0,
                recognisedSecondaryNode: random.next() % 2 == 0, pilotID: "P-\(random.next() % 100)",
                servedEnterprises: try (0..<Int(random.next() % 5)).map { try USCC(validating: HandlerTests.uscc(base + 10 + $0)) },
                provincialVoucherEnterprises: try (0..<Int(random.next() % 3)).map { try USCC(validating: HandlerTests.uscc(base + 20 + $0)) },
                otherFundDeclared: random.next() % 2 == 0, otherFundReason: "说明 \(random.next() % 7)"
            )
            let wire = Foshan_Subsidy_V1_Application(core)
            #expect(try Application(legacyWire: wire) == core)
            #expect(Foshan_Subsidy_V1_Application(try Application(legacyWire: wire)) == wire)
            // And through the bytes a first-release file holds.
            #expect(try Application(legacyWire: Foshan_Subsidy_V1_Application(serializedBytes: wire.serializedBytes(), path: "stored")) == core)
        }
    }
}

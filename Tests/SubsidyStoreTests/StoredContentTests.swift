import Foundation
import SubsidyCore
import SubsidyTestRandom
import Testing
@testable import SubsidyStore

/// What the district store keeps is the core's application and a typed explanation, in its own
/// encoding: every field comes back, and a value the core would not accept is damaged data.
@Suite("stored content")
struct StoredContentTests {
    /// An application with every field set, from `random`.
    static func everyField(_ random: inout SplitMix64) -> Application {
        let uscc = { (n: Int) in StoreHarness.uscc(n) }
        let base = Int(random.next() % 90_000)
        return Application(
            measure: .clusterPilotFollowOn, fundingYear: FundingYear(2021 + Int(random.next() % 3))!, enterprise: uscc(base),
            enterpriseLocality: [.local, .relocated, .nonLocal][Int(random.next() % 3)], projectName: "集群数字化 \(random.next() % 1000)",
            contractNumber: "HT-\(random.next() % 10_000)", contractAmount: Money(fen: Int64(random.next() % 1_000_000_000)),
            paidAmount: Money(fen: Int64(random.next() % 1_000_000)), provider: uscc(base + 1), investedAmount: Money(fen: 1),
            constructionAmount: Money(fen: 2), totalInvestment: Money(fen: 3), upperLevelSubsidy: Money(fen: 4), upperLevelAwardTotal: Money(fen: 5),
            previousYearServiceSpend: Money(fen: 6), selectionDate: CalendarDate(year: 2022, month: 1 + Int(random.next() % 12), day: 1),
            selectionLevel: [.none, .municipal, .provincial, .national][Int(random.next() % 4)], inProvincialPool: random.next() % 2 == 0,
            recognisedSecondaryNode: random.next() % 2 == 0, pilotID: "P-\(random.next() % 100)",
            servedEnterprises: (0..<Int(random.next() % 20)).map { uscc(base + 10 + $0) }, provincialVoucherEnterprises: [uscc(base + 5)],
            otherFundDeclared: true, otherFundReason: "说明 \u{1F600} \"quoted\" \\ back", caseAmount: Money(fen: 7), decisionDocument: "佛工信〔2022〕1号"
        )
    }

    @Test("every field of an application survives the store's encoding")
    func roundTrip() throws {
        var random = TestSeed.generator("stored content")
        for _ in 0..<200 {
            let application = Self.everyField(&random)
            #expect(try ApplicationContent.decode(ApplicationContent.encode(application)) == application)
            // The same value is always the same bytes.
            #expect(ApplicationContent.encode(application) == ApplicationContent.encode(application))
        }
        let explanation = StoredExplanation(
            awardFen: 1, formulaFen: 2, policyVersion: "foshan-2020@x", rendered: "三十万元",
            limits: [.init(kind: "annual_budget", capID: "cap", scope: "2022", limit: 3, committed: 4, headroom: 5, detail: "d", binding: true)])
        #expect(try StoredExplanation.decode(StoredExplanation.encode(explanation)) == explanation)
        #expect(try StoredExplanation.decode([]) == nil)
    }

    @Test("content the core would not accept is damaged data, never a valid-looking application")
    func damaged() throws {
        var random = TestSeed.generator("stored content")
        let good = String(decoding: ApplicationContent.encode(Self.everyField(&random)), as: UTF8.self)
        let enterprise = try #require(good.firstMatch(of: /"enterprise":"([0-9A-Z]{18})"/)?.1)
        // Any other check character is a wrong one; the seed decides which one the code has.
        let wrongCheck = enterprise.last == "X" ? "0" : "X"
        for bad in [
            "", "{}", "not json", String(good.dropLast()),
            good.replacingOccurrences(of: "\"measure\":\"CLUSTER_PILOT_FOLLOW_ON\"", with: "\"measure\":\"lottery\""),
            good.replacingOccurrences(of: "\"enterprise\":\"\(enterprise)\"", with: "\"enterprise\":\"\(enterprise.dropLast())\(wrongCheck)\""),
            good.replacingOccurrences(of: "\"selectionLevel\":", with: "\"selectionLevel\":\"galactic\",\"x\":"),
        ] {
            #expect(throws: SQLiteError.self, "\(bad.prefix(60))") { try ApplicationContent.decode(Array(bad.utf8)) }
            do {
                _ = try ApplicationContent.decode(Array(bad.utf8))
            } catch {
                #expect(error.isDataLoss)
            }
        }
    }

    @Test("a stored application is read back as the core's, with its explanation once approved")
    func storedAndApproved() async throws {
        let harness = try StoreHarness()
        let application = harness.benchmark(StoreHarness.uscc(11))
        let id = try await harness.recommended(application, in: .gaoming)
        #expect(try await harness.application(id).application == application)
        #expect(try await harness.application(id).explanation == nil)
        try await harness.approve(id)
        // The explanation is kept once, with the commitment; the district row holds none, and
        // a record shows the ledger's.
        #expect(try await harness.application(id).explanation == nil)
        let record = try #require(try await harness.stores.record(id, in: harness.stores.store(.gaoming)))
        let explanation = try #require(record.explanation)
        #expect(explanation.awardFen == record.awardedFen)
        #expect(try await harness.commitment(id)?.explanation == explanation)
        #expect(explanation.limits.contains { $0.binding })
        await harness.stores.close()
    }
}

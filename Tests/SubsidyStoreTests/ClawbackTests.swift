import Foundation
import SubsidyCore
import Testing
@testable import SubsidyStore

/// RULES.md: committed = approved + disbursed, and a revocation after disbursement records a
/// clawback — it does not release the reservation. A clawback keeps counting against every cap
/// until its money's recovery is recorded (`RecordRecovery`); then the commitment is released.
@Suite("clawbacks and their recovery")
struct ClawbackTests {
    static func date(_ text: String) -> CalendarDate { try! CalendarDate(parsing: text) }

    /// Publicizes and pays `id`, each under its own request.
    static func pay(_ harness: StoreHarness, _ id: String) async throws {
        let (stores, programmes) = (harness.stores, harness.programmes)
        _ = try await stores.publicize(
            id, on: date("2022-09-02"), document: "", programmes: programmes, request: RequestKey(id: "city:publicize-\(id)", fingerprint: "f"),
            actor: StoreHarness.city, reason: "") { _ in [] }
        _ = try await stores.disburse(
            id, on: date("2022-09-20"), document: "", programmes: programmes, request: RequestKey(id: "city:disburse-\(id)", fingerprint: "f"),
            actor: StoreHarness.city, reason: "") { _ in [] }
    }

    /// Publicizes, pays and revokes `id` (a clawback), each under its own request.
    static func clawBack(_ harness: StoreHarness, _ id: String) async throws {
        try await pay(harness, id)
        let (stores, programmes) = (harness.stores, harness.programmes)
        _ = try await stores.revoke(
            id, on: date("2022-10-08"), document: "佛工信〔2022〕99号", programmes: programmes, request: RequestKey(id: "city:revoke-\(id)", fingerprint: "f"),
            actor: StoreHarness.city, reason: "项目未实施") { _ in [] }
    }

    /// Records the recovery of `id` on `day` under request `request`; the response is the record's
    /// recovery date and document.
    static func recover(_ harness: StoreHarness, _ id: String, on day: String = "2022-11-15", request: String) async throws -> String {
        let bytes = try await harness.stores.recordRecovery(
            id, on: date(day), document: "缴款书 0001", programmes: harness.programmes, request: RequestKey(id: request, fingerprint: "f"),
            actor: StoreHarness.city, reason: "企业已退回"
        ) { Array("\($0.recovery?.decisionDate ?? "none") \($0.recovery?.decisionDocument ?? "")".utf8) }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("a clawback keeps its charges in every total until its recovery is recorded, which releases them once")
    func countedUntilRecovered() async throws {
        let harness = try StoreHarness()
        let (paid, unpaid) = (
            try await harness.recommended(harness.benchmark(StoreHarness.uscc(700), invested: 2_000_000), in: .nanhai),
            try await harness.recommended(harness.benchmark(StoreHarness.uscc(701), invested: 1_500_000), in: .shunde))
        try await harness.approve(paid)
        try await harness.approve(unpaid)
        let (before, _) = try CapTotalsTests.totals(harness.stores.ledger)
        let (consumersBefore, _) = try CapTotalsTests.consumers(harness.stores.ledger)

        try await Self.clawBack(harness, paid)
        #expect(try await harness.commitment(paid)?.state == .clawback)
        var (kept, summed) = try CapTotalsTests.totals(harness.stores.ledger)
        #expect(kept == before && kept == summed, "a clawback is still counted")
        #expect(try CapTotalsTests.consumers(harness.stores.ledger).kept == consumersBefore)

        // Only a clawback has money to recover.
        _ = try await harness.stores.revoke(
            unpaid, on: nil, document: "", programmes: harness.programmes, request: RequestKey(id: "city:revoke-\(unpaid)", fingerprint: "f"),
            actor: StoreHarness.city, reason: "撤销") { _ in [] }
        let beforePayment = await #expect(throws: SubsidyError.self) { try await Self.recover(harness, unpaid, request: "city:recover-unpaid") }
        #expect(beforePayment?.code == .failedPrecondition && beforePayment?.message.contains("revoked before payment") == true, "\(String(describing: beforePayment))")
        let live = try await harness.recommended(harness.benchmark(StoreHarness.uscc(702)), in: .nanhai)
        try await harness.approve(live)
        let approved = await #expect(throws: SubsidyError.self) { try await Self.recover(harness, live, request: "city:recover-live") }
        #expect(approved?.code == .failedPrecondition && approved?.message.contains("which is APPROVED") == true, "\(String(describing: approved))")
        // Not dated before the revocation it follows.
        let early = await #expect(throws: SubsidyError.self) { try await Self.recover(harness, paid, on: "2022-10-07", request: "city:recover-early") }
        #expect(early?.code == .invalidArgument && early?.message.contains("before the revocation of \(paid) on 2022-10-08") == true, "\(String(describing: early))")
        #expect(try await harness.commitment(paid)?.state == .clawback, "a refused recovery changes nothing")

        // Its content is still funded: the money is out, so a second award for it is double funding.
        let paidApplication = try await harness.application(paid).application
        let again = await #expect(throws: SubsidyError.self) { _ = try await harness.recommended(paidApplication, in: .nanhai, copy: 1) }
        #expect(again?.details.contains { if case .precondition("duplicate_content", _) = $0 { true } else { false } } == true, "\(String(describing: again))")
        #expect(again?.message.contains("\(paid) was revoked after payment and the money is not back: once it is, its recovery recorded") == true, "\(String(describing: again))")

        #expect(try await Self.recover(harness, paid, request: "city:recover-paid") == "2022-11-15 缴款书 0001")
        #expect(try await harness.commitment(paid)?.state == .released)
        (kept, summed) = try CapTotalsTests.totals(harness.stores.ledger)
        #expect(kept == summed)
        #expect(kept != before && kept.values.reduce(0) { $0 + $1[0] } < before.values.reduce(0) { $0 + $1[0] }, "its charges left the totals")
        let record = try await harness.application(paid)
        #expect(record.state == .revoked && record.recovery?.requestID == "city:recover-paid" && record.recovery?.from == .revoked)
        // The same request answers again; another is refused, naming the first.
        #expect(try await Self.recover(harness, paid, request: "city:recover-paid") == "2022-11-15 缴款书 0001")
        let second = await #expect(throws: SubsidyError.self) { try await Self.recover(harness, paid, request: "city:recover-again") }
        #expect(second?.code == .failedPrecondition && second?.message.contains("recorded already, on 2022-11-15;") == true)
        #expect(try CapTotalsTests.totals(harness.stores.ledger).kept == kept, "released once")
        let audit = try harness.stores.ledger.database.readNow { try $0.query("SELECT event FROM audit WHERE event LIKE '%recover%'").map { try $0.text("event") } }
        #expect(audit.count == 1 && audit[0].contains(paid) && audit[0].contains("缴款书 0001"), "\(audit)")
        // Once the money is back, the content may be funded again.
        #expect(try await harness.approve(try await harness.recommended(paidApplication, in: .nanhai, copy: 1)) == .approved)
        await harness.stores.close()
    }

    @Test("a file whose cap-total triggers were edited by hand is refused as damaged, not migrated to go on freeing clawbacks")
    func editedTriggersRefused() async throws {
        let harness = try StoreHarness()
        await harness.stores.close()
        // As a ledger of the release before, one trigger recreated by hand with other spacing.
        let ledger = try SQLiteConnection(path: harness.directory.path + "/city-ledger.sqlite")
        try ledger.execute("BEGIN")
        let sql = try #require(try ledger.query("SELECT sql FROM sqlite_master WHERE name = 'cap_totals_uncounted'").first?.text("sql"))
        _ = try ledger.query("DROP TRIGGER cap_totals_uncounted")
        _ = try ledger.query(sql.replacingOccurrences(of: CityLedger.counted, with: "('live','disbursed')"))
        try ledger.execute("PRAGMA user_version = 21")
        try ledger.execute("COMMIT")
        ledger.close()
        let refused = #expect(throws: SQLiteError.self) { _ = try StoreHarness(directory: harness.directory) }
        #expect(refused?.isDamaged == true && refused?.message.contains("cap_totals_… triggers are not the ones subsidyd wrote (6, 5 of them counting clawbacks") == true,
                "\(String(describing: refused))")
    }

    @Test("a recovery whose district step was lost is completed from the ledger, as its author's, and its retry is answered")
    func districtStepCompleted() async throws {
        let setup = try StoreHarness()
        let id = try await setup.recommended(setup.benchmark(StoreHarness.uscc(710)), in: .gaoming)
        try await setup.approve(id)
        try await Self.clawBack(setup, id)
        let failing = try await setup.reopened(faults: ["fail:recover.after-ledger"])
        await #expect(throws: (any Error).self) { try await Self.recover(failing, id, request: "city:recover-lost") }
        #expect(try await failing.commitment(id)?.state == .released, "the ledger step was made")
        #expect(try await failing.application(id).recovery == nil, "the district step was not")
        // --check's reading, then a start: the record gains the ledger's recovery.
        let report = try await Recovery.reconcile(ledger: failing.stores.ledger, districts: failing.stores.districts, apply: false)
        #expect(report.rolledForward == ["\(id) recover"], "\(report.rolledForward)")
        let harness = try await failing.reopened()
        _ = try await Recovery.reconcile(ledger: harness.stores.ledger, districts: harness.stores.districts)
        let recovery = try #require(try await harness.application(id).recovery)
        #expect(recovery.requestID == "city:recover-lost" && recovery.tenant == "city" && recovery.decisionDate == "2022-11-15")
        #expect(recovery.reason.hasPrefix("企业已退回") && recovery.decisionDocument == "缴款书 0001")
        #expect(try await Self.recover(harness, id, request: "city:recover-lost") == "2022-11-15 缴款书 0001")
        let (kept, summed) = try CapTotalsTests.totals(harness.stores.ledger)
        #expect(kept == summed)
        await harness.stores.close()
    }

    @Test("a revocation and the recovery after it, both missing from the district, are completed in one pass, in their order")
    func revocationAndRecoveryCompletedTogether() async throws {
        let setup = try StoreHarness()
        let id = try await setup.recommended(setup.benchmark(StoreHarness.uscc(720)), in: .gaoming)
        try await setup.approve(id)
        try await Self.pay(setup, id)
        let failing = try await setup.reopened(faults: ["fail:revoke.after-ledger"])
        await #expect(throws: (any Error).self) {
            try await failing.stores.revoke(
                id, on: Self.date("2022-10-08"), document: "", programmes: failing.programmes, request: RequestKey(id: "city:revoke-lost", fingerprint: "f"),
                actor: StoreHarness.city, reason: "项目未实施") { _ in [] }
        }
        // The ledger then records the recovery too: the district holds neither (as a district file
        // put back from before both would).
        let ledger = failing.stores.ledger
        try await ledger.database.write { transaction in
            try ledger.recordRecovery(
                applicationID: id, on: Self.date("2022-11-15"), document: "缴款书 0002", requestID: "city:recover-both", actor: StoreHarness.city,
                reason: "企业已退回", at: Timestamp.now(), in: transaction)
        }
        #expect(try await failing.application(id).state == .disbursed)
        let report = try await Recovery.reconcile(ledger: ledger, districts: failing.stores.districts, apply: false)
        #expect(report.rolledForward == ["\(id) revoke", "\(id) recover"], "\(report.rolledForward)")
        _ = try await Recovery.reconcile(ledger: ledger, districts: failing.stores.districts)
        let record = try await failing.application(id)
        #expect(record.state == .revoked && record.history.suffix(2).map(\.action) == [.transition(.revoke), .recover], "\(record.history)")
        #expect(record.recovery?.requestID == "city:recover-both" && record.recovery?.decisionDocument == "缴款书 0002")
        #expect(try await Recovery.reconcile(ledger: ledger, districts: failing.stores.districts, apply: false).rolledForward.isEmpty)
        await failing.stores.close()
    }
}

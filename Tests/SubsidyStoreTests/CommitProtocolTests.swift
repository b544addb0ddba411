import Dispatch
import Foundation
import SubsidyCore
import Synchronization
import Testing
@testable import SubsidyStore

/// The commit protocol step by step, in-process on real files: the ledger first, then the
/// district; a failure between them completed by recovery (or by the next decision on the same
/// application); idempotency by request id; cap races with one winner.
@Suite("commit protocol")
struct CommitProtocolTests {
    @Test("an approval commits in the ledger, then the district; a retry gets the first response")
    func approve() async throws {
        let harness = try StoreHarness()
        let id = try await harness.recommended(harness.benchmark(StoreHarness.uscc(1)), in: .shunde)
        #expect(try await harness.approve(id) == .approved)

        let commitment = try #require(try await harness.commitment(id))
        #expect(commitment.state == .live)
        #expect(commitment.amountFen == 300_000_00)  // 30% of 1,000,000 yuan
        let record = try await harness.application(id)
        #expect(record.state == .approved)
        #expect(record.awardedFen == commitment.amountFen)
        #expect(record.history.last?.tenant == "city")
        // The district saw the ledger where the approval left it.
        #expect(try await harness.stores.store(.shunde).seenLedgerPosition() == (try await harness.stores.ledger.position()))

        // The same request again: the stored response, nothing new in either file.
        let auditBefore = try await harness.stores.ledger.position()
        #expect(try await harness.approve(id) == .approved)
        #expect(try await harness.stores.ledger.position() == auditBefore)
        // The same request id for other content is refused.
        await #expect(throws: SubsidyError.self) {
            _ = try await harness.stores.approve(
                id, decision: DecisionInput(decisionDate: try CalendarDate(parsing: "2022-09-02")), programmes: harness.programmes,
                request: RequestKey(id: "city:approve-\(id)", fingerprint: "other"), actor: StoreHarness.city, reason: ""
            ) { _ in [] }
        }
        await harness.stores.close()
    }

    @Test("a district step that failed after the ledger's is completed by recovery, as its author's")
    func recoveryAfterLedger() async throws {
        let first = try StoreHarness(faults: ["fail:approve.after-ledger"])
        let id = try await first.recommended(first.benchmark(StoreHarness.uscc(2)), in: .nanhai)
        await #expect(throws: SubsidyError.self) { try await first.approve(id) }
        #expect(try await first.commitment(id)?.state == .live)
        #expect(try await first.application(id).state == .recommended)

        // A restart: recovery rolls the district forward to the ledger.
        let harness = try await first.reopened()
        let report = try await harness.stores.recover()
        #expect(report.rolledForward == ["\(id) approve"])
        #expect(report.inconsistencies.isEmpty)
        let record = try await harness.application(id)
        #expect(record.state == .approved)
        #expect(record.history.last?.tenant == "city")
        #expect(record.history.last?.requestID == "city:approve-\(id)")
        // The client's retry of the interrupted request is answered with the approval.
        #expect(try await harness.approve(id) == .approved)
        #expect(try await harness.stores.recover().rolledForward.isEmpty)
        await harness.stores.close()
    }

    @Test("an id handed out again after a district file was put back is not rolled forward to the ledger's commitment for the old application")
    func recoveryChecksTheApplication() async throws {
        let first = try StoreHarness()
        let backup = first.directory.path + "-before"
        defer { try? FileManager.default.removeItem(atPath: backup) }
        _ = try await first.stores.backup(into: backup, writtenBy: "test")
        let awarded = try await first.recommended(first.benchmark(StoreHarness.uscc(3)), in: .nanhai)
        #expect(try await first.approve(awarded) == .approved)
        await first.stores.close()
        // Only nanhai's file is put back, from before that application was filed.
        let live = first.directory.path + "/districts/nanhai.sqlite"
        for sidecar in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: live + sidecar) }
        try FileManager.default.copyItem(atPath: backup + "/districts/nanhai.sqlite", toPath: live)
        let harness = try StoreHarness(directory: first.directory)
        let other = try await harness.recommended(harness.benchmark(StoreHarness.uscc(4)), in: .nanhai)
        #expect(other == awarded, "the district hands the id out again")

        let report = try await harness.stores.recover(apply: false)
        #expect(report.rolledForward.isEmpty, "\(report.rolledForward)")
        #expect(
            report.inconsistencies.contains { $0.applicationID == other && $0.problem.contains("is not the application the ledger") && $0.problem.contains("enterprise") },
            "\(report.inconsistencies)")
        _ = try await harness.stores.recover()
        let record = try await harness.application(other)
        #expect(record.state == .recommended && record.awardedFen == 0, "\(record.state) \(record.awardedFen)")
        await harness.stores.close()
    }

    @Test("the next decision on an application first completes its interrupted approval")
    func completedBeforeNextDecision() async throws {
        let harness = try StoreHarness(faults: ["fail:approve.after-ledger"])
        let id = try await harness.recommended(harness.benchmark(StoreHarness.uscc(3)), in: .chancheng)
        await #expect(throws: SubsidyError.self) { try await harness.approve(id) }
        // Withdrawing would strand the commitment; the approval is completed first, and the
        // withdrawal is refused because the application is now APPROVED.
        await #expect(throws: SubsidyError.self) {
            _ = try await harness.stores.withdraw(
                id, as: .chancheng, request: RequestKey(id: "chancheng:withdraw", fingerprint: "f"), actor: StoreHarness.actor(.chancheng), reason: "撤回"
            ) { _ in [] }
        }
        #expect(try await harness.application(id).state == .approved)
        await harness.stores.close()
    }

    @Test("a revocation interrupted after the ledger is completed by recovery")
    func revokeRecovery() async throws {
        let first = try StoreHarness(faults: ["fail:revoke.after-ledger"])
        let id = try await first.recommended(first.benchmark(StoreHarness.uscc(4)), in: .gaoming)
        try await first.approve(id)
        await #expect(throws: SubsidyError.self) {
            _ = try await first.stores.revoke(id, on: nil, document: "", programmes: first.programmes, request: RequestKey(id: "city:revoke", fingerprint: "f"), actor: StoreHarness.city, reason: "违规") { _ in [] }
        }
        #expect(try await first.commitment(id)?.state == .released)
        #expect(try await first.application(id).state == .approved)

        let harness = try await first.reopened()
        #expect(try await harness.stores.recover().rolledForward == ["\(id) revoke"])
        #expect(try await harness.application(id).state == .revoked)
        // The retry is answered with the revocation recovery completed; the same id with other
        // content is refused, though the district's file has no response for it yet.
        func revoke(_ fingerprint: String) async throws -> [UInt8] {
            try await harness.stores.revoke(
                id, on: nil, document: "", programmes: harness.programmes, request: RequestKey(id: "city:revoke", fingerprint: fingerprint),
                actor: StoreHarness.city, reason: "违规") { Array($0.state.rawValue.utf8) }
        }
        let other = await Result { try await revoke("other") }
        #expect((other.failure as? SubsidyError)?.code == .alreadyExists)
        #expect(try await revoke("f") == Array("REVOKED".utf8))
        await harness.stores.close()
    }

    @Test("31 concurrent approvals against an annual count of 30: exactly 30 win")
    func race() async throws {
        let harness = try StoreHarness()
        var ids: [String] = []
        for n in 0..<31 {
            let district = DistrictID.allCases[n % DistrictID.allCases.count]
            ids.append(try await harness.recommended(harness.benchmark(StoreHarness.uscc(100 + n), invested: 100_000), in: district))
        }
        let outcomes = await withTaskGroup(of: Result<ApplicationState, any Error>.self) { group in
            for id in ids {
                group.addTask { await Result { try await harness.approve(id) } }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let approved = outcomes.filter { (try? $0.get()) == .approved }.count
        let refused = outcomes.compactMap { result -> SubsidyError? in
            if case .failure(let error as SubsidyError) = result { return error }
            return nil
        }
        #expect(approved == 30)
        #expect(refused.map(\.code) == [.resourceExhausted])
        let totals = try await harness.stores.ledger.capTotals(scopePrefix: "2022")
        #expect(totals.first { $0.capID == "BENCHMARK_PROJECT.annual_count" }?.count == 30)
        await harness.stores.close()
    }

    @Test("an amendment naming another enterprise answers with that enterprise's registered name")
    func amendNamesOtherEnterprise() async throws {
        let harness = try StoreHarness()
        let first = try await harness.register(StoreHarness.uscc(400), in: .nanhai)
        let other = try await harness.register(StoreHarness.uscc(401), in: .nanhai)
        let bytes = try await harness.stores.submit(
            harness.benchmark(StoreHarness.uscc(400)), applicant: first, policy: harness.policy,
            filedOn: StoreHarness.filed, request: RequestKey(id: "nanhai:submit-amend", fingerprint: "f"), actor: StoreHarness.actor(.nanhai)
        ) { record, _ in Array(record.id.utf8) }
        let id = String(decoding: bytes, as: UTF8.self)
        _ = try await harness.stores.review(
            id, as: .nanhai, .return, on: StoreHarness.filed, programmes: harness.programmes, request: RequestKey(id: "nanhai:return-\(id)", fingerprint: "f"),
            actor: StoreHarness.actor(.nanhai), reason: "补充材料"
        ) { _, _ in [] }
        let named = Mutex("")
        _ = try await harness.stores.amend(
            id, with: harness.benchmark(StoreHarness.uscc(401)), applicant: other, policy: harness.policy,
            filedOn: StoreHarness.filed, request: RequestKey(id: "nanhai:amend-\(id)", fingerprint: "f"), actor: StoreHarness.actor(.nanhai), reason: "更正申报主体"
        ) { record, _ in
            named.withLock { $0 = record.enterpriseName }
            return []
        }
        #expect(named.withLock { $0 } == other.name)
        #expect(try await harness.application(id).enterpriseName == other.name)
        await harness.stores.close()
    }

    @Test("a committee's list is one ledger transaction in the list's order; a refused application fails alone; a retry replays")
    func approvalList() async throws {
        let harness = try StoreHarness()
        let first = try await harness.recommended(harness.benchmark(StoreHarness.uscc(300)), in: .nanhai)
        // The same project filed twice: whichever comes first in the list is funded.
        let twin = try await harness.recommended(harness.benchmark(StoreHarness.uscc(300)), in: .nanhai, copy: 1)
        let other = try await harness.recommended(harness.benchmark(StoreHarness.uscc(301)), in: .sanshui)
        #expect(first != twin)
        let list = [first, twin, "nanhai-999999", other]
        let ledgerCommits = harness.stores.ledger.database.groupCommits.load(ordering: .relaxed)
        let results = try await harness.approve(list: list)
        #expect(harness.stores.ledger.database.groupCommits.load(ordering: .relaxed) - ledgerCommits == 1, "one ledger transaction for the list")
        #expect(try results[0].get() == .approved)
        #expect(try results[3].get() == .approved)
        // The twin saw its sibling's commitment, made earlier in the same transaction.
        let refused = try #require(results[1].failure as? SubsidyError)
        #expect(refused.code == .failedPrecondition)
        #expect(refused.message.contains(first), "\(refused.message)")
        #expect((results[2].failure as? SubsidyError)?.code == .notFound)
        #expect(try await harness.commitment(twin) == nil)
        #expect(try await harness.application(twin).state == .recommended)
        #expect(try await harness.application(other).state == .approved)
        #expect(try await harness.stores.store(.sanshui).seenLedgerPosition() != nil)
        // The response carries the explanation the ledger stored (not read back, but the same).
        let answered = Mutex<StoredExplanation?>(nil)
        let third = try await harness.recommended(harness.benchmark(StoreHarness.uscc(302)), in: .gaoming)
        _ = try await harness.stores.approve(
            third, decision: DecisionInput(decisionDate: try CalendarDate(parsing: "2022-09-01")), programmes: harness.programmes,
            request: RequestKey(id: "city:approve-\(third)", fingerprint: "f"), actor: StoreHarness.city, reason: ""
        ) { record in
            answered.withLock { $0 = record.explanation }
            return []
        }
        let stored = try await harness.stores.record(third, in: harness.stores.store(.gaoming))?.explanation
        #expect(stored != nil)
        #expect(answered.withLock { $0 } == stored)

        // The list again under the same request: the approvals made are replayed, nothing new.
        let position = try await harness.stores.ledger.position()
        let again = try await harness.approve(list: list)
        #expect(try again[0].get() == .approved && again[3].get() == .approved)
        #expect((again[1].failure as? SubsidyError)?.code == .failedPrecondition)
        #expect(try await harness.stores.ledger.position() == position)
        let totals = try await harness.stores.ledger.capTotals(scopePrefix: "2022")
        #expect(totals.first { $0.capID == "BENCHMARK_PROJECT.annual_count" }?.count == 3)
        await harness.stores.close()
    }

    @Test("a list naming an application twice is refused whole; a request id used twice in one group refuses its second use alone, before the ledger, in any district's file")
    func approvalListRepeats() async throws {
        let harness = try StoreHarness()
        let first = try await harness.recommended(harness.benchmark(StoreHarness.uscc(310)), in: .nanhai)
        let second = try await harness.recommended(harness.benchmark(StoreHarness.uscc(311)), in: .nanhai)
        let elsewhere = try await harness.recommended(harness.benchmark(StoreHarness.uscc(312)), in: .chancheng)
        let decision = DecisionInput(decisionDate: try CalendarDate(parsing: "2022-09-01"))
        func approval(_ id: String, request: String) -> SubsidyStores.Approval {
            SubsidyStores.Approval(id: id, request: RequestKey(id: request, fingerprint: "approve " + id), decision: decision, actor: StoreHarness.city, reason: "")
        }
        let twice = await Result { try await harness.stores.approve([approval(first, request: "city:a"), approval(first, request: "city:b")], programmes: harness.programmes) { _ in [] } }
        #expect((twice.failure as? SubsidyError)?.code == .invalidArgument)
        #expect(try await harness.commitment(first) == nil)
        let approvals = [approval(first, request: "city:one"), approval(second, request: "city:one"), approval(elsewhere, request: "city:one")]
        let results = try await harness.stores.approve(approvals, programmes: harness.programmes) {
            Array($0.state.rawValue.utf8)
        }
        #expect(try ApplicationState(rawValue: String(decoding: results[0].get(), as: UTF8.self)) == .approved)
        // Another district's file has a request log of its own, but the city's ids are one
        // namespace (bound in the ledger): the same id there is refused too.
        for (index, id) in [(1, second), (2, elsewhere)] {
            let refused = try #require(results[index].failure as? SubsidyError)
            #expect(refused.code == .alreadyExists)
            #expect(refused.message.contains("one"), "\(refused.message)")
            #expect(try await harness.commitment(id) == nil, "nothing committed behind the refusal")
            #expect(try await harness.application(id).state == .recommended)
        }
        // In a later call, where only the ledger's binding can catch it.
        let later = try await harness.stores.approve([approval(elsewhere, request: "city:one")], programmes: harness.programmes) { _ in [] }
        #expect((later[0].failure as? SubsidyError)?.code == .alreadyExists)
        #expect(try await harness.commitment(elsewhere) == nil)
        await harness.stores.close()
    }

    @Test("an approval whose application was amended between the read of its content and its locks is ABORTED, deciding nothing")
    func amendedWhileWaiting() async throws {
        let harness = try StoreHarness()
        let stores = harness.stores
        let actor = StoreHarness.actor(.nanhai)
        let filed = harness.benchmark(StoreHarness.uscc(330))
        let applicant = try await harness.register(filed.enterprise, in: .nanhai)
        let id = String(decoding: try await stores.submit(
            filed, applicant: applicant, policy: harness.policy, filedOn: StoreHarness.filed, request: RequestKey(id: "nanhai:submit-330", fingerprint: "f"), actor: actor
        ) { record, _ in Array(record.id.utf8) }, as: UTF8.self)
        // Another decision holds the content's lock, so the approval, once it has read the
        // content, waits.
        let (released, release) = AsyncStream<Void>.makeStream()
        let (holding, held) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await stores.underDecisionLock(.keys(SubsidyStores.contentLocks(filed.contentKeys))) {
                held.yield()
                for await _ in released { break }
            }
        }
        for await _ in holding { break }
        let approval = Task { try await harness.approve(id) }
        while stores.decisionLockWaiters == 0 { try await Task.sleep(for: .milliseconds(1)) }
        // Meanwhile the district amends it to other content and recommends it.
        var amended = filed
        amended.projectName = "另一个项目"
        _ = try await stores.amend(
            id, with: amended, applicant: applicant, policy: harness.policy, filedOn: StoreHarness.filed, request: RequestKey(id: "nanhai:amend-330", fingerprint: "f"), actor: actor, reason: "改名"
        ) { _, _ in [] }
        _ = try await stores.review(
            id, as: .nanhai, .recommend, on: StoreHarness.filed, programmes: harness.programmes, request: RequestKey(id: "nanhai:review-330", fingerprint: "f"), actor: actor, reason: ""
        ) { _, _ in [] }
        release.yield()
        try await holder.value
        let outcome = await approval.result
        #expect((try? outcome.get()) == nil)
        #expect((outcome.failure as? SubsidyError)?.code == .aborted, "\(outcome)")
        #expect(try await harness.commitment(id) == nil)
        #expect(try await harness.application(id).state == .recommended)
        // Sent again, it is decided on the content it now has.
        #expect(try await harness.approve(id, request: "city:approve-again") == .approved)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }

}

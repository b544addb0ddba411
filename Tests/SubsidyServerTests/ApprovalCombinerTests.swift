import Foundation
import Logging
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing
@testable import SubsidyServer
@testable import SubsidyStore

@Suite("single approvals combined")
struct ApprovalCombinerTests {
    typealias District = Foshan_Subsidy_V1_DistrictService.Method

    /// Files and recommends `count` applications in 顺德; returns their ids.
    static func recommended(_ daemon: InProcessDaemon, from first: Int, count: Int) async throws -> [String] {
        var ids: [String] = []
        for n in first..<(first + count) {
            let id = try await HandlerTests.file(daemon, n)
            var review = Foshan_Subsidy_V1_ReviewApplicationRequest()
            review.requestId = "review-\(n)"
            review.applicationId = id
            review.outcome = .recommend
            _ = try await daemon.call(District.reviewApplication, review, as: "shunde")
            ids.append(id)
        }
        return ids
    }

    /// A city call's context whose store permits come from `permits` (one connection, no reply limit).
    static func context(_ daemon: InProcessDaemon, permits: AsyncSemaphore, connection: QueuedBytes = QueuedBytes(limit: Int.max)) throws -> CallContext {
        let city = try #require(daemon.configuration.tenants.first { $0.id == "city" })
        return CallContext(
            tenant: city, peer: PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid()),
            method: Foshan_Subsidy_V1_CityService.Method.approveApplication.fullName, metadata: [:], logger: Logger(label: "test"),
            blockingWork: BlockingWorkAdmission(tenantPermits: permits, connection: connection),
            listPageBytes: daemon.configuration.limits.listPageBytes)
    }

    /// `count` recommended applications, a combiner over the daemon's stores and a one-permit
    /// share the test already holds (so every call queues until it signals).
    static func withHeldPermit(
        from first: Int, count: Int, _ body: (InProcessDaemon, [String], ApprovalCombiner, AsyncSemaphore) async throws -> Void
    ) async throws {
        try await withInProcessDaemon { daemon in
            let ids = try await recommended(daemon, from: first, count: count)
            let combiner = ApprovalCombiner(stores: daemon.services.stores, programmes: daemon.services.programmes)
            let permits = AsyncSemaphore(permits: 1)
            try await permits.wait()
            try await body(daemon, ids, combiner, permits)
        }
    }

    static func approval(_ id: String, request: String, date: String, reason: String = "复核通过") throws -> SubsidyStores.Approval {
        SubsidyStores.Approval(
            id: id, request: RequestKey(id: "city:" + request, fingerprint: request), decision: DecisionInput(decisionDate: try CalendarDate(parsing: date)),
            actor: Actor(tenant: "city", uid: 0), reason: reason)
    }

    static func outcome(_ combiner: ApprovalCombiner, _ approval: SubsidyStores.Approval, _ context: CallContext) async -> Result<[UInt8], SubsidyError> {
        do throws(SubsidyError) {
            return .success(try await combiner.approve(approval, context: context))
        } catch {
            return .failure(error)
        }
    }

    @Test("approvals queued behind a busy permit go in one group, each with its own decision; a second approval of one application waits for the next group")
    func grouped() async throws {
        try await Self.withHeldPermit(from: 300, count: 13) { daemon, recommended, combiner, permits in
            // The last is approved only under a request id another approval already uses.
            let (ids, spare) = (Array(recommended.dropLast()), recommended.last!)
            let context = try Self.context(daemon, permits: permits)
            var calls: [(String, String, Task<Result<[UInt8], SubsidyError>, Never>)] = []
            for (n, id) in ids.enumerated() {
                let approval = try Self.approval(id, request: "approve-\(n)", date: "2022-09-\(10 + n)")
                calls.append((id, "2022-09-\(10 + n)", Task { await Self.outcome(combiner, approval, context) }))
            }
            // The same request again (a retry) and another request for the second application.
            let retry = try Self.approval(ids[0], request: "approve-0", date: "2022-09-10")
            let again = try Self.approval(ids[1], request: "approve-other", date: "2022-09-30")
            while combiner.queued < ids.count { await Task.yield() }
            let retried = Task { await Self.outcome(combiner, retry, context) }
            let repeated = Task { await Self.outcome(combiner, again, context) }
            var reusing = try Self.approval(spare, request: "approve-2", date: "2022-09-12")
            reusing.request = RequestKey(id: "city:approve-2", fingerprint: "another application")
            let reused = Task { await Self.outcome(combiner, reusing, context) }
            while combiner.queued < ids.count + 3 { await Task.yield() }
            permits.signal()

            var first: [UInt8] = []
            for (index, (id, date, call)) in calls.enumerated() {
                let bytes = try await call.value.get()
                let record = try #require(try Foshan_Subsidy_V1_ApproveApplicationResponse(serializedBytes: bytes, path: "r").record)
                #expect(record.id == id)
                #expect(record.state == .approved)
                #expect(record.decisionDate == date, "each approval keeps its own decision date")
                #expect(record.awardedFen == 30_000_000)
                if index == 0 { first = bytes }
            }
            #expect(try await retried.value.get() == first, "the retry replays the stored response")
            switch await repeated.value {
            case .success: Issue.record("an application was approved twice")
            case .failure(let error): #expect(error.code == .failedPrecondition)
            }
            switch await reused.value {
            case .success: Issue.record("a request id reused for another application was approved")
            case .failure(let error): #expect(error.code == .alreadyExists)
            }
            let statistics = combiner.statistics
            #expect(statistics.largest == ids.count, "one permit carried every distinct approval queued")
            #expect(statistics.groups == 2 && statistics.approvals == ids.count + 3)
            #expect(combiner.queued == 0)
            // The ledger holds one commitment per application.
            let committed = try await daemon.services.stores.ledger.commitments(district: "shunde").map(\.applicationID)
            #expect(committed.sorted() == ids.sorted(), "nothing committed for the reused request id")
        }
    }

    @Test("a call cancelled before its turn approves nothing; the rest of its group is approved")
    func cancelledBeforeItsTurn() async throws {
        try await Self.withHeldPermit(from: 320, count: 3) { daemon, ids, combiner, permits in
            let context = try Self.context(daemon, permits: permits)
            var calls: [Task<Result<[UInt8], SubsidyError>, Never>] = []
            for (n, id) in ids.enumerated() {
                let approval = try Self.approval(id, request: "approve-c\(n)", date: "2022-09-01")
                calls.append(Task { await Self.outcome(combiner, approval, context) })
                while combiner.queued < n + 1 { await Task.yield() }
            }
            calls[1].cancel()
            switch await calls[1].value {
            case .success: Issue.record("a cancelled call was approved")
            case .failure(let error): #expect(error.code == .cancelled)
            }
            #expect(combiner.queued == 2)
            permits.signal()
            for index in [0, 2] { #expect(try await calls[index].value.get().isEmpty == false) }
            let stores = daemon.services.stores
            #expect(try await stores.store(.shunde).application(ids[1])?.state == .recommended)
            #expect(try await stores.ledger.commitments(district: "shunde").map(\.applicationID).sorted() == [ids[0], ids[2]].sorted())
            #expect(combiner.statistics.groups == 1 && combiner.statistics.largest == 2)
        }
    }

    @Test("an approval whose connection has no room for its reply is left out of another call's group, and approved in its own turn once there is room")
    func noReplyRoom() async throws {
        try await Self.withHeldPermit(from: 340, count: 2) { daemon, ids, combiner, permits in
            let full = QueuedBytes(limit: 10)
            full.addReply(10)
            let reading = try Self.context(daemon, permits: permits)
            let notReading = try Self.context(daemon, permits: permits, connection: full)
            let waiting = try Self.approval(ids[1], request: "approve-r1", date: "2022-09-01")
            let stalled = Task { await Self.outcome(combiner, waiting, notReading) }
            while combiner.queued < 1 { await Task.yield() }
            let ready = try Self.approval(ids[0], request: "approve-r0", date: "2022-09-01")
            let served = Task { await Self.outcome(combiner, ready, reading) }
            while combiner.queued < 2 { await Task.yield() }
            permits.signal()
            #expect(try await served.value.get().isEmpty == false)
            #expect(combiner.statistics.groups == 1 && combiner.statistics.largest == 1)
            #expect(combiner.queued == 1, "the approval without reply room is still waiting for its turn")
            #expect(try await daemon.services.stores.store(.shunde).application(ids[1])?.state == .recommended)
            full.removeReply(10)
            #expect(try await stalled.value.get().isEmpty == false)
            #expect(combiner.statistics.groups == 2)
            #expect(try await daemon.services.stores.store(.shunde).application(ids[1])?.state == .approved)
        }
    }

    @Test("a call whose approval another call's group took needs no permit of its own: it returns with the group")
    func takenNeedsNoPermit() async throws {
        try await Self.withHeldPermit(from: 360, count: 2) { daemon, ids, combiner, held in
            // This call's share is held by the test; the other call's is free.
            let (first, sharing) = (try Self.approval(ids[0], request: "approve-p0", date: "2022-09-01"), try Self.context(daemon, permits: held))
            let waiting = Task { await Self.outcome(combiner, first, sharing) }
            while combiner.queued < 1 { await Task.yield() }
            let leading = try Self.context(daemon, permits: AsyncSemaphore(permits: 1))
            #expect(try await Self.outcome(combiner, try Self.approval(ids[1], request: "approve-p1", date: "2022-09-01"), leading).get().isEmpty == false)
            #expect(combiner.statistics.groups == 1 && combiner.statistics.largest == 2)
            let returned = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await waiting.value.get()) != nil }
                // A regression would leave the call waiting for the held permit: end it then.
                group.addTask {
                    do { try await Task.sleep(for: .seconds(30)) } catch { return false }
                    held.signal()
                    return false
                }
                let returnedFirst = await group.next() ?? false
                group.cancelAll()
                return returnedFirst
            }
            #expect(returned, "the call returned its group's result while its share was still held")
        }
    }
}

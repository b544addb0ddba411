import Foundation
import Logging
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Synchronization
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
            // Over three years after the first 30, so no annual count cap binds.
            let id = try await HandlerTests.file(daemon, n, fundingYear: 2022 - (n - first) / 30)
            var review = Foshan_Subsidy_V1_ReviewApplicationRequest()
            review.requestId = "review-\(n)"
            review.applicationId = id
            review.outcome = .recommend
            _ = try await daemon.call(District.reviewApplication, review, as: "shunde", metadata: ["x-today": Bureau.filingDay])
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

    /// Waits until `condition` holds; a regression that never makes it true fails the test after
    /// 30 s instead of hanging it.
    static func eventually(_ what: Comment, _ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("still not true after 30 s: \(what)", sourceLocation: sourceLocation)
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// `call`'s outcome, failing the test if it takes more than 30 s: a regression that leaves it
    /// waiting for what the test holds would otherwise hang the test, so then `unblocking` lets it
    /// go (the call's own result is not awaited otherwise: waiting for a task cannot be cancelled).
    static func settled<T: Sendable>(
        _ call: Task<T, Never>, unblocking: @escaping @Sendable () -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> T {
        // A race between the call and a timer, neither awaited by the other: were the call still
        // stuck after `unblocking`, the test fails instead of waiting for it.
        let first = First<T?>()
        let outcome = await withCheckedContinuation { continuation in
            first.set(continuation)
            let timer = Task {
                do { try await Task.sleep(for: .seconds(30)) } catch { return }
                if first.resume(nil) { unblocking() }
            }
            Task {
                let value = await call.value
                timer.cancel()
                first.resume(value)
            }
        }
        guard let outcome else {
            Issue.record("the call did not return within 30 s", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return outcome
    }

    /// A continuation resumed by whichever of several racers comes first.
    final class First<T: Sendable>: Sendable {
        private let waiter = Mutex<CheckedContinuation<T, Never>?>(nil)

        func set(_ continuation: CheckedContinuation<T, Never>) { waiter.withLock { $0 = continuation } }

        /// Whether this racer came first.
        @discardableResult
        func resume(_ value: T) -> Bool {
            guard let continuation = waiter.withLock({ $0.take() }) else { return false }
            continuation.resume(returning: value)
            return true
        }
    }

    /// Runs `body` while another task holds every decision lock (as a backup or VerifyAudit does).
    /// (`body` is given what lets the lock go early.)
    static func behindEverythingLock<T>(_ stores: SubsidyStores, _ body: (_ unlock: @escaping @Sendable () -> Void) async throws -> T) async throws -> T {
        let (holding, release) = (AsyncSemaphore(permits: 0), AsyncSemaphore(permits: 0))
        let holder = Task {
            try await stores.underDecisionLock(.everything) {
                holding.signal()
                try await release.wait()
            }
        }
        try await holding.wait()
        let result: T
        do {
            result = try await body { release.signal() }
        } catch {
            release.signal()
            throw error
        }
        release.signal()
        try await holder.value
        return result
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
            try await Self.eventually("queued") { combiner.queued >= ids.count }
            let retried = Task { await Self.outcome(combiner, retry, context) }
            let repeated = Task { await Self.outcome(combiner, again, context) }
            var reusing = try Self.approval(spare, request: "approve-2", date: "2022-09-12")
            reusing.request = RequestKey(id: "city:approve-2", fingerprint: "another application")
            let reused = Task { await Self.outcome(combiner, reusing, context) }
            try await Self.eventually("queued") { combiner.queued >= ids.count + 3 }
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
                try await Self.eventually("queued") { combiner.queued >= n + 1 }
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
            try await Self.eventually("queued") { combiner.queued >= 1 }
            let ready = try Self.approval(ids[0], request: "approve-r0", date: "2022-09-01")
            let served = Task { await Self.outcome(combiner, ready, reading) }
            try await Self.eventually("queued") { combiner.queued >= 2 }
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
            try await Self.eventually("queued") { combiner.queued >= 1 }
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

    @Test("a group whose callers have all gone while it waits behind a backup's lock approves nothing and frees its permit; one with a caller left goes on")
    func callersGoneBehindLock() async throws {
        try await Self.withHeldPermit(from: 380, count: 3) { daemon, ids, combiner, permits in
            let stores = daemon.services.stores
            let context = try Self.context(daemon, permits: permits)
            let (led, member) = try await Self.behindEverythingLock(stores) { unlock in
                // Alone in its group, the leader's caller goes: the group stops waiting.
                let alone = Task { await Self.outcome(combiner, try! Self.approval(ids[0], request: "approve-g0", date: "2022-09-01"), context) }
                try await Self.eventually("queued") { combiner.queued == 1 }
                permits.signal()
                try await Self.eventually("the group is waiting for its locks") { combiner.queued == 0 }
                alone.cancel()
                switch try await Self.settled(alone, unblocking: unlock) {
                case .success: Issue.record("an approval whose every caller had gone was made")
                case .failure(let error): #expect(error.code == .cancelled)
                }
                // The permit is free again, while the backup still holds the lock.
                #expect(try await Self.settled(Task { (try? await permits.wait()) != nil }, unblocking: {}))

                // Two in a group: the leader's caller goes, the other's stays. The other's permits
                // never come, so the one permit given makes `led` the leader.
                let led = Task { await Self.outcome(combiner, try! Self.approval(ids[1], request: "approve-g1", date: "2022-09-01"), context) }
                let withoutPermits = try Self.context(daemon, permits: AsyncSemaphore(permits: 0))
                let member = Task { await Self.outcome(combiner, try! Self.approval(ids[2], request: "approve-g2", date: "2022-09-01"), withoutPermits) }
                try await Self.eventually("queued") { combiner.queued == 2 }
                permits.signal()
                try await Self.eventually("the group is waiting for its locks") { combiner.queued == 0 }
                led.cancel()
                try await Task.sleep(for: .milliseconds(50))
                #expect(combiner.statistics.groups == 1, "only the first group has ended")
                return (led, member)
            }
            // The lock is free: the second group commits both (its leader's approval was in it).
            #expect(try await member.value.get().isEmpty == false)
            #expect(try await led.value.get().isEmpty == false, "a call whose group had started gets the group's result")
            #expect(try await stores.store(.shunde).application(ids[0])?.state == .recommended)
            #expect(try await stores.ledger.commitments(district: "shunde").map(\.applicationID).sorted() == [ids[1], ids[2]].sorted())
        }
    }

    @Test("single approvals with the caller's own actor and reason; a queue longer than a group goes in several")
    func longQueueSplit() async throws {
        let count = ApprovalCombiner.maximumGroup + 6
        try await Self.withHeldPermit(from: 400, count: count) { daemon, ids, combiner, permits in
            let context = try Self.context(daemon, permits: permits)
            var calls: [Task<Result<[UInt8], SubsidyError>, Never>] = []
            for (n, id) in ids.enumerated() {
                var approval = try Self.approval(id, request: "approve-l\(n)", date: "2022-09-01", reason: "第\(n)号决定")
                approval.actor = Actor(tenant: "city", uid: UInt32(1000 + n))
                calls.append(Task { await Self.outcome(combiner, approval, context) })
            }
            try await Self.eventually("queued") { combiner.queued == count }
            permits.signal()
            for call in calls { #expect(try await call.value.get().isEmpty == false) }
            let statistics = combiner.statistics
            #expect(statistics.groups == 2 && statistics.largest == ApprovalCombiner.maximumGroup && statistics.approvals == count)
            // Nothing of a finished call stays in memory (a group and its tickets hold each other
            // until it has run).
            calls.removeAll()
            try await Self.eventually("every ticket freed") { combiner.liveTickets == 0 }
            // Each approval's audit event names its own caller and reason.
            let events = try ReadOnlyDatabase(path: daemon.services.stores.ledger.database.path).rows(#"SELECT event FROM audit WHERE event LIKE '{"action":"commit"%'"#).map { $0[0] }
            #expect(events.count == count)
            for n in [0, count - 1] {
                #expect(events.contains { $0.contains(#""uid":\#(1000 + n),"reason":"第\#(n)号决定""#) }, "approval \(n) audited with its own reason and actor")
            }
        }
    }
}

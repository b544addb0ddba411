import SubsidyCore
import SubsidyStore
import Synchronization
import Testing

@testable import SubsidyServer

/// The per-connection queued-bytes gates (the read loop's and a call's wait for reply room) and
/// the tenant-wide total, in-process.
@Suite("QueuedBytes")
struct QueuedBytesTests {
    @Test("requests and replies add up; a tenant queue sees every connection's bytes")
    func totals() {
        let tenant = TenantQueue(limit: 100)
        let a = QueuedBytes(limit: 50, tenant: tenant)
        let b = QueuedBytes(limit: 50, tenant: tenant)
        a.addRequest(30)
        a.addReply(15)
        b.addReply(40)
        #expect(a.total == 45 && b.total == 40)
        #expect(tenant.total == 85 && !tenant.isOverLimit)
        b.addRequest(15)
        #expect(tenant.total == 100 && tenant.isOverLimit)
        a.removeRequest(30)
        a.removeReply(15)
        #expect(a.total == 0)
        #expect(tenant.total == 55 && !tenant.isOverLimit)
    }

    @Test("reply room counts replies only: requests never block a call's reply")
    func replyRoomIsReplies() {
        let queued = QueuedBytes(limit: 10)
        queued.addRequest(1_000)
        #expect(queued.hasReplyRoom)
        queued.addReply(9)
        #expect(queued.hasReplyRoom)
        queued.addReply(1)
        #expect(!queued.hasReplyRoom)
    }

    @Test("under the limit neither gate waits")
    func noWaitUnderLimit() async throws {
        let queued = QueuedBytes(limit: 10)
        queued.addRequest(5)
        queued.addReply(4)
        await queued.waitUntilBelowLimit()
        try await queued.waitForReplyRoom()
    }

    @Test("the read loop waits at the limit and resumes once a removal takes the total below it")
    func readerWaits() async {
        let queued = QueuedBytes(limit: 10)
        queued.addRequest(6)
        queued.addReply(4)
        let resumed = Count()
        let reader = Task {
            await queued.waitUntilBelowLimit()
            resumed.add()
        }
        await settle()
        #expect(resumed.value == 0, "read past the limit")
        queued.addReply(1)
        queued.removeReply(1)  // back to 10, still at the limit
        await settle()
        #expect(resumed.value == 0, "read at the limit")
        queued.removeRequest(1)
        await reader.value
        #expect(resumed.value == 1)
    }

    @Test("calls wait for reply room while the unwritten replies are at the limit, and all resume when they fall")
    func callsWaitForReplyRoom() async throws {
        let queued = QueuedBytes(limit: 10)
        queued.addReply(10)
        let resumed = Count()
        let calls = (0..<3).map { _ in
            Task {
                try await queued.waitForReplyRoom()
                resumed.add()
            }
        }
        await settle()
        #expect(resumed.value == 0)
        queued.removeRequest(0)  // a request ending does not make reply room
        await settle()
        #expect(resumed.value == 0)
        queued.removeReply(1)
        for call in calls { try await call.value }
        #expect(resumed.value == 3)
    }

    @Test("a call cancelled while it waits for reply room throws CancellationError; the others keep waiting")
    func cancelledWait() async throws {
        let queued = QueuedBytes(limit: 10)
        queued.addReply(10)
        let cancelled = Task { try await queued.waitForReplyRoom() }
        let kept = Task { try await queued.waitForReplyRoom() }
        await settle()
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        queued.removeReply(10)
        try await kept.value
    }

    @Test("a call already cancelled does not wait")
    func alreadyCancelled() async {
        let queued = QueuedBytes(limit: 10)
        queued.addReply(10)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await queued.waitForReplyRoom()
        }
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test("abandon ends the calls waiting for reply room, and later calls do not wait even with room")
    func abandon() async {
        let queued = QueuedBytes(limit: 10)
        queued.addReply(10)
        let waiting = Task { try await queued.waitForReplyRoom() }
        await settle()
        #expect(!queued.isAbandoned)
        queued.abandon()
        #expect(queued.isAbandoned)
        await #expect(throws: CancellationError.self) { try await waiting.value }
        queued.removeReply(10)
        await #expect(throws: CancellationError.self) { try await queued.waitForReplyRoom() }
    }

    /// Gives waiting tasks every chance to run: a wait that should not have returned would return
    /// within these turns of the scheduler.
    @Test("store work waits while the tenant's unwritten replies are at its limit, though this connection has room, and starts when they fall")
    func tenantReplyRoom() async throws {
        let tenant = TenantQueue(limit: 1_024)
        let slow = QueuedBytes(limit: 1 << 20, tenant: tenant)
        let fresh = QueuedBytes(limit: 1 << 20, tenant: tenant)
        slow.addReply(2_048)
        #expect(!tenant.hasReplyRoom && fresh.hasReplyRoom)
        // Requests held do not count: only replies are what store work would add to.
        fresh.addRequest(10_000)
        let admission = BlockingWorkAdmission(tenantPermits: AsyncSemaphore(permits: 4), connection: fresh)
        let entered = Count()
        let call = Task {
            try await admission.enter()
            entered.add()
            admission.leave()
        }
        await settle()
        #expect(entered.value == 0, "store work started while the tenant's replies were over its limit")
        slow.removeReply(2_048)
        try await call.value
        #expect(entered.value == 1)
        // A connection whose peer has gone stops waiting for the tenant.
        slow.addReply(2_048)
        let abandoned = QueuedBytes(limit: 1 << 20, tenant: tenant)
        let waiting = Task { try await BlockingWorkAdmission(tenantPermits: AsyncSemaphore(permits: 4), connection: abandoned).enter() }
        await settle()
        abandoned.abandon()
        await #expect(throws: SubsidyError.self) { try await waiting.value }
    }

    private func settle() async {
        for _ in 0..<50 { await Task.yield() }
        try? await Task.sleep(for: .milliseconds(20))
    }
}

/// How many waiters have got past their wait.
private final class Count: Sendable {
    private let count = Atomic(0)
    func add() { count.add(1, ordering: .sequentiallyConsistent) }
    var value: Int { count.load(ordering: .sequentiallyConsistent) }
}

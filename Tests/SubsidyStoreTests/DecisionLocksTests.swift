import Synchronization
import Testing
@testable import SubsidyStore

/// The commit protocol's locks: one decision per application at a time, decisions on different
/// applications together, and `everything` alone — in arrival order among those that conflict.
@Suite("decision locks")
struct DecisionLocksTests {
    /// Holds a lock until opened; records who entered, in order.
    final class Gate: Sendable {
        private let stream: AsyncStream<Void>
        private let continuation: AsyncStream<Void>.Continuation
        init() { (stream, continuation) = AsyncStream.makeStream() }
        func wait() async { for await _ in stream { return } }
        func open() { continuation.finish() }
    }

    final class Log: Sendable {
        private let entries = Mutex<[String]>([])
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
        /// Waits (yielding) until `entry` is logged; false after 10 s.
        func waitFor(_ entry: String) async -> Bool {
            for _ in 0..<10_000 {
                if all.contains(entry) { return true }
                try? await Task.sleep(for: .milliseconds(1))
            }
            return false
        }
    }

    /// Starts a task that takes `scope`, logs `name`, and holds until `gate` opens.
    static func hold(_ locks: DecisionLocks, _ scope: DecisionLocks.Scope, _ name: String, _ log: Log, until gate: Gate) -> Task<Void, any Error> {
        Task {
            try await locks.holding(scope) {
                log.add(name)
                await gate.wait()
            }
        }
    }

    /// Gives a waiter that should stay out a fair chance to get in wrongly.
    static func settle() async throws { try await Task.sleep(for: .milliseconds(50)) }

    @Test("one application's key is held by one decision at a time; another application's is not held up")
    func keys() async throws {
        let (locks, log, gate) = (DecisionLocks(), Log(), Gate())
        let first = Self.hold(locks, .keys(["nanhai-000001"]), "first", log, until: gate)
        #expect(await log.waitFor("first"))
        let sameGate = Gate()
        let same = Self.hold(locks, .keys(["nanhai-000001", "nanhai-000002"]), "same", log, until: sameGate)
        let other = Task { try await locks.holding(.keys(["shunde-000001"])) { log.add("other") } }
        try await other.value
        try await Self.settle()
        #expect(log.all == ["first", "other"])
        gate.open()
        #expect(await log.waitFor("same"))
        try await first.value
        sameGate.open()
        try await same.value
    }

    @Test("everything waits for every holder, and decisions that arrive after it wait for it")
    func everything() async throws {
        let (locks, log) = (DecisionLocks(), Log())
        let (decisionGate, checkGate) = (Gate(), Gate())
        let decision = Self.hold(locks, .keys(["nanhai-000001"]), "decision", log, until: decisionGate)
        #expect(await log.waitFor("decision"))
        let check = Self.hold(locks, .everything, "check", log, until: checkGate)
        try await Self.settle()
        // A decision on another application, arriving after the check: it must not overtake it.
        let later = Task { try await locks.holding(.keys(["gaoming-000001"])) { log.add("later") } }
        try await Self.settle()
        #expect(log.all == ["decision"])
        decisionGate.open()
        #expect(await log.waitFor("check"))
        try await Self.settle()
        #expect(log.all == ["decision", "check"])
        checkGate.open()
        try await later.value
        #expect(log.all == ["decision", "check", "later"])
        try await decision.value
        try await check.value
    }

    @Test("a cancelled waiter leaves, and those it was ahead of go on")
    func cancelledWaiter() async throws {
        let (locks, log, gate) = (DecisionLocks(), Log(), Gate())
        let holder = Self.hold(locks, .keys(["a"]), "holder", log, until: gate)
        #expect(await log.waitFor("holder"))
        // Waits for the holder; a decision on "b" queued behind it conflicts with it only.
        let blocked = Task { try await locks.holding(.everything) { log.add("blocked") } }
        try await Self.settle()
        let behind = Task { try await locks.holding(.keys(["b"])) { log.add("behind") } }
        try await Self.settle()
        #expect(log.all == ["holder"])
        blocked.cancel()
        await #expect(throws: CancellationError.self) { try await blocked.value }
        try await behind.value
        #expect(log.all == ["holder", "behind"])
        gate.open()
        try await holder.value
    }

    @Test("a body runs to its end once it holds the lock, even if its caller is cancelled")
    func bodyOutlivesCaller() async throws {
        let (locks, log, gate) = (DecisionLocks(), Log(), Gate())
        let caller = Task {
            try await locks.holding(.keys(["a"])) {
                log.add("started")
                await gate.wait()
                log.add("finished")
            }
        }
        #expect(await log.waitFor("started"))
        caller.cancel()
        gate.open()
        try await caller.value
        #expect(log.all == ["started", "finished"])
        // And the key is free again.
        try await locks.holding(.keys(["a"])) { log.add("again") }
        #expect(log.all.last == "again")
    }
}

import Foundation
import SubsidyStore
import SubsidyTestSupport
import Synchronization
import Testing

@testable import SubsidyServer

/// Watchers are woken after a change, not after a call that changed nothing.
@Suite("LedgerEvents")
struct LedgerEventsTests {
    @Test("a watcher holds at most one signal, however many changes come while it does not take them")
    func coalesced() async throws {
        // Every change here follows a commit of its own.
        let commits = Signals()
        let events = LedgerEvents(commits: { commits.count.add(1, ordering: .relaxed).newValue })
        let stream = events.subscribeWithInitial()
        // A WatchQuota whose client has stopped reading takes nothing while the ledger changes.
        for _ in 0..<1_000 {
            events.changed()
            await Task.yield()
        }
        try await Task.sleep(for: .milliseconds(100))
        let watcher = Task {
            var signals = 0
            for await _ in stream { signals += 1 }
            return signals
        }
        try await Task.sleep(for: .milliseconds(200))
        // A change after it has taken the waiting signal is a signal of its own.
        events.changed()
        try await Task.sleep(for: .milliseconds(200))
        watcher.cancel()
        #expect(await watcher.value == 2, "one for the current state and the 1,000 changes, one for the change after")
    }

    @Test("a signal needs a commit since the last one: a replay (which writes nothing) wakes no watcher")
    func onlyAfterCommits() async throws {
        let directory = DaemonProcess.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try SQLiteDatabase(path: directory + "/events.sqlite", migrations: [])
        // This database's commits only: other tests of the process commit meanwhile.
        let events = LedgerEvents(commits: { database.groupCommits.load(ordering: .relaxed) })
        let received = Signals()
        let signals = events.subscribe()
        let watcher = Task { for await _ in signals { received.count.add(1, ordering: .relaxed) } }
        func settled() async -> Int {
            try? await Task.sleep(for: .milliseconds(100))
            return received.count.load(ordering: .relaxed)
        }
        try await database.write { _ in }
        events.changed()
        #expect(await settled() == 1, "a commit, then a change: signalled")
        // Replays, answered from a request log: nothing committed since.
        events.changed()
        events.changed()
        #expect(await settled() == 1, "no commit since the last signal: no signal")
        try await database.write { _ in }
        events.changed()
        #expect(await settled() == 2, "a commit since: signalled again")
        watcher.cancel()
        await database.close()
    }
}

private final class Signals: Sendable {
    let count = Atomic(0)
}

import Foundation
import SubsidyStore
import SubsidyTestSupport
import Synchronization
import Testing

@testable import SubsidyServer

/// Watchers are woken after a change, not after a call that changed nothing.
@Suite("LedgerEvents")
struct LedgerEventsTests {
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

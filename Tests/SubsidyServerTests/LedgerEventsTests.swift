import Testing

@testable import SubsidyServer

@Suite("LedgerEvents")
struct LedgerEventsTests {
    @Test("a watcher holds at most one signal, however many changes come while it does not take them")
    func coalesced() async throws {
        let events = LedgerEvents()
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
}

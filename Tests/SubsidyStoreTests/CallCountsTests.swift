import SubsidyCore
import SubsidyTestSupport
import Testing
@testable import SubsidyStore

/// The counts a district keeps per call for applications (district migration 12): what
/// `ListCalls` reads instead of every application filed under a call. Real stores on real files.
@Suite("call counts kept with every change")
struct CallCountsTests {
    typealias Counts = [String: (states: [ApplicationState: Int64], late: Int64)]

    /// The counts as comparable text: `call STATE n`, and `call late n`.
    static func lines(_ counts: Counts) -> [String] {
        counts.flatMap { call, entry in
            entry.states.filter { $0.value != 0 }.map { "\(call) \($0.key.rawValue) \($0.value)" } + (entry.late == 0 ? [] : ["\(call) late \(entry.late)"])
        }.sorted()
    }

    /// The counts recomputed from the applications themselves, as the first release did.
    static func recounted(_ store: DistrictStore) async throws -> [String] {
        let rows = try await store.database.read { transaction in
            try transaction.query(
                "SELECT call_id, state, COUNT(*) AS n, SUM(late_reason != '') AS late FROM applications WHERE call_id != '' GROUP BY call_id, state"
            ).map { (call: try $0.text("call_id"), state: try $0.text("state"), n: try $0.int("n"), late: try $0.int("late")) }
        }
        var counts = Counts()
        for row in rows {
            counts[row.call, default: ([:], 0)].states[ApplicationState(rawValue: row.state)!] = row.n
            counts[row.call, default: ([:], 0)].late += row.late
        }
        return lines(counts)
    }

    @Test("every filing, review, withdrawal and approval moves the counts as a recount would; a file from before is counted once at its upgrade")
    func keptAndBackfilled() async throws {
        let harness = try StoreHarness()
        let stores = harness.stores
        let store = stores.store(.shunde)
        let actor = StoreHarness.actor(.shunde)
        var ids: [String] = []
        for n in 1...8 {
            let application = harness.benchmark(StoreHarness.uscc(800 + n))
            let applicant = try await harness.register(application.enterprise, in: .shunde)
            let bytes = try await stores.submit(
                application, applicant: applicant, policy: harness.policy, call: n <= 6 ? "call-a" : "call-b", lateReason: n % 3 == 0 || n == 7 ? "补报" : "",
                filedOn: StoreHarness.filed, request: RequestKey(id: "shunde:submit-\(n)", fingerprint: "f"), actor: actor
            ) { record, _ in Array(record.id.utf8) }
            ids.append(String(decoding: bytes, as: UTF8.self))
        }
        // One not under a call, which no count holds.
        let free = harness.benchmark(StoreHarness.uscc(899))
        let freeApplicant = try await harness.register(free.enterprise, in: .shunde)
        _ = try await stores.submit(free, applicant: freeApplicant, policy: harness.policy, filedOn: StoreHarness.filed, request: RequestKey(id: "shunde:free", fingerprint: "f"), actor: actor) { _, _ in [] }
        #expect(Self.lines(try await store.callCounts()) == ["call-a SUBMITTED 6", "call-a late 2", "call-b SUBMITTED 2", "call-b late 1"])

        func review(_ index: Int, _ transition: Transition) async throws {
            _ = try await stores.review(
                ids[index], as: .shunde, transition, on: StoreHarness.filed, programmes: harness.programmes, request: RequestKey(id: "shunde:\(transition)-\(index)", fingerprint: "f"),
                actor: actor, reason: "核查"
            ) { _, _ in [] }
        }
        try await review(0, .recommend)
        try await review(1, .recommend)
        try await review(2, .return)
        try await review(3, .reject)
        try await review(6, .recommend)
        _ = try await stores.withdraw(ids[4], as: .shunde, request: RequestKey(id: "shunde:withdraw", fingerprint: "f"), actor: actor, reason: "撤回") { _ in [] }
        try await harness.approve(ids[0])
        let kept = Self.lines(try await store.callCounts())
        #expect(kept == [
            "call-a APPROVED 1", "call-a RECOMMENDED 1", "call-a REJECTED 1", "call-a RETURNED 1", "call-a SUBMITTED 1", "call-a WITHDRAWN 1",
            "call-a late 2", "call-b RECOMMENDED 1", "call-b SUBMITTED 1", "call-b late 1",
        ])
        #expect(kept == (try await Self.recounted(store)))

        // A file from before migration 12 (the table and triggers gone, its version 11) is
        // counted at its upgrade, and kept from then on.
        await stores.close()
        let path = harness.directory.path + "/districts/shunde.sqlite"
        let connection = try SQLiteConnection(path: path)
        try connection.execute(
            """
            DROP TRIGGER call_counts_added; DROP TRIGGER call_counts_changed; DROP TRIGGER call_counts_removed; DROP TABLE call_counts;
            UPDATE applications SET late_reason = '' WHERE id = '\(ids[6])';
            PRAGMA user_version = 11
            """)
        connection.close()
        let reopened = try StoreHarness(directory: harness.directory)
        let upgraded = reopened.stores.store(.shunde)
        #expect(Self.lines(try await upgraded.callCounts()) == (try await Self.recounted(upgraded)))
        #expect(Self.lines(try await upgraded.callCounts()).contains("call-b late 1") == false)
        try await reopened.approve(ids[1])
        #expect(Self.lines(try await upgraded.callCounts()).contains("call-a APPROVED 2"))
        #expect(Self.lines(try await upgraded.callCounts()) == (try await Self.recounted(upgraded)))
        await reopened.stores.close()
    }

    @Test("a row inserted under a call, moved to another call or deleted is counted as a recount would; the migration run again rebuilds wrong counts")
    func insertMoveDeleteAndRerun() async throws {
        let harness = try StoreHarness()
        let store = harness.stores.store(.shunde)
        let application = harness.benchmark(StoreHarness.uscc(950))
        let applicant = try await harness.register(application.enterprise, in: .shunde)
        let bytes = try await harness.stores.submit(
            application, applicant: applicant, policy: harness.policy, call: "call-a", filedOn: StoreHarness.filed, request: RequestKey(id: "shunde:submit", fingerprint: "f"),
            actor: StoreHarness.actor(.shunde)
        ) { record, _ in Array(record.id.utf8) }
        let filed = String(decoding: bytes, as: UTF8.self)
        // No release inserts a row with its call or deletes one; the triggers count them anyway,
        // as a loader or a repair by hand would need.
        _ = try await store.database.write { transaction in
            try transaction.query(
                """
                INSERT INTO applications (id, seq, measure, funding_year, enterprise, state, content, created_at, updated_at, call_id, late_reason)
                SELECT 'shunde-900001', 900001, measure, funding_year, enterprise, 'RECOMMENDED', content, created_at, updated_at, 'call-b', '补报'
                FROM applications WHERE id = ?
                """, [.text(filed)])
            try transaction.query("UPDATE applications SET call_id = 'call-b' WHERE id = ?", [.text(filed)])
        }
        #expect(Self.lines(try await store.callCounts()) == ["call-b RECOMMENDED 1", "call-b SUBMITTED 1", "call-b late 1"])
        _ = try await store.database.write { transaction in try transaction.query("DELETE FROM applications WHERE id = 'shunde-900001'") }
        #expect(Self.lines(try await store.callCounts()) == ["call-b SUBMITTED 1"])
        #expect(Self.lines(try await store.callCounts()) == (try await Self.recounted(store)))

        // Counts gone wrong (a file repaired by hand), and the migration run again: rebuilt.
        await harness.stores.close()
        let connection = try SQLiteConnection(path: harness.directory.path + "/districts/shunde.sqlite")
        try connection.execute("UPDATE call_counts SET n = 7, late = 3; INSERT INTO call_counts VALUES ('call-z', 'SUBMITTED', 2, 0); PRAGMA user_version = 11")
        connection.close()
        let reopened = try StoreHarness(directory: harness.directory)
        let rebuilt = reopened.stores.store(.shunde)
        #expect(Self.lines(try await rebuilt.callCounts()) == ["call-b SUBMITTED 1"])
        await reopened.stores.close()
    }
}

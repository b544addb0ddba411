import SubsidyCore
import Testing
@testable import SubsidyStore

/// What `subsidyd --check`, `--repair` and `VerifyAudit` do with the totals the stores keep by
/// triggers: recompute each from its records, name every key that differs with both figures, and
/// (repair) rebuild those, recorded in the file's audit chain. Real stores on real files; the
/// damage is done with plain SQL, as a hand edit or a bad page would.
@Suite("maintained totals recomputed and rebuilt")
struct MaintainedTotalsTests {
    @Test("a total changed outside its triggers is found with both figures, rebuilt once from its records, and the rebuild is audited")
    func foundAndRebuilt() async throws {
        let harness = try StoreHarness()
        let stores = harness.stores
        for n in 0..<3 {
            try await harness.approve(try await harness.recommended(harness.benchmark(StoreHarness.uscc(300 + n), invested: 1_000_000 + Int64(n) * 100_000), in: .nanhai))
        }
        let filed = harness.benchmark(StoreHarness.uscc(310))
        _ = try await stores.submit(
            filed, applicant: try await harness.register(filed.enterprise, in: .shunde), policy: harness.policy, call: "call-a", lateReason: "",
            filedOn: StoreHarness.filed, request: RequestKey(id: "shunde:submit-call", fingerprint: "f"), actor: StoreHarness.actor(.shunde)
        ) { _, _ in [] }
        #expect(try await stores.maintainedTotalDifferences(naming: { _, tenant in tenant }).isEmpty)

        // What the triggers keep, before the damage.
        let (kept, _) = try CapTotalsTests.totals(stores.ledger)
        let (capKey, capTotal) = try #require(kept.min { $0.key < $1.key })
        let capID = String(capKey.prefix { $0 != "[" })
        let scope = String(capKey.dropFirst(capID.count + 1).dropLast())
        let enterprise = StoreHarness.uscc(300).rawValue
        let enterpriseTotal = try await stores.ledger.database.read { transaction in
            try transaction.query("SELECT funding_year, amount_fen FROM consumer_totals WHERE kind = 'enterprise' AND id = ?", [.text(enterprise)])
                .map { (year: try $0.int("funding_year"), fen: try $0.int("amount_fen")) }
        }
        let year = try #require(enterpriseTotal.first)
        try await stores.ledger.database.write { transaction in
            _ = try transaction.query("UPDATE cap_totals SET amount_fen = amount_fen + 100 WHERE cap_id = ? AND scope = ?", [.text(capID), .text(scope)])
            _ = try transaction.query("INSERT INTO cap_totals (cap_id, scope, amount_fen, count) VALUES ('phantom', '2024', 5, 1)")
            _ = try transaction.query("DELETE FROM consumer_totals WHERE kind = 'enterprise' AND id = ?", [.text(enterprise)])
        }
        try await stores.store(.shunde).database.write { transaction in
            _ = try transaction.query("UPDATE call_counts SET n = n + 2, late = 1 WHERE call_id = 'call-a'")
            _ = try transaction.query("INSERT INTO programme_totals (cap_id, scope, amount_fen, count) VALUES ('CLOUD_USE.annual_budget', '2024', 7, 0)")
        }

        let expected = [
            "ledger": [
                "cap_totals \(capKey): kept \(capTotal[0] + 100), \(capTotal[1]); its records give \(capTotal[0]), \(capTotal[1])",
                "cap_totals phantom[2024]: kept 5, 1; its records give 0, 0",
                "consumer_totals enterprise \(enterprise) \(year.year): kept 0, 0; its records give \(year.fen), 1",
            ],
            "shunde": [
                "call_counts call-a SUBMITTED: kept 3, 1; its records give 1, 0",
                "programme_totals CLOUD_USE.annual_budget[2024]: kept 7, 0; its records give 0, 0",
            ],
        ]
        let found = try await stores.maintainedTotalDifferences(naming: { _, tenant in tenant })
        #expect(found.map(\.file) == ["ledger", "shunde"])
        #expect(Dictionary(uniqueKeysWithValues: found.map { ($0.file, $0.differences.map(\.description).sorted()) }) == expected)
        // Files are named as the caller asks: by path for the operator.
        #expect(try await stores.maintainedTotalDifferences(naming: { path, _ in path }).map(\.file) == [stores.ledger.database.path, stores.store(.shunde).database.path])

        let operatorActor = Actor(tenant: "operator", uid: 0)
        let ledgerRows = try await AuditChain.verify(stores.ledger.database, file: "ledger").rows
        let rebuilt = try await stores.rebuildMaintainedTotals(by: operatorActor)
        #expect(rebuilt.map(\.differences) == found.map(\.differences))
        #expect(try await stores.maintainedTotalDifferences(naming: { _, tenant in tenant }).isEmpty)
        let (keptNow, summed) = try CapTotalsTests.totals(stores.ledger)
        #expect(keptNow == summed && keptNow[capKey] == capTotal && keptNow["phantom[2024]"] == nil)

        // One event per table rebuilt, in the file's own chain, which still verifies.
        let ledgerChain = try await AuditChain.verify(stores.ledger.database, file: "ledger")
        #expect(ledgerChain.ok && ledgerChain.rows == ledgerRows + 2)
        let events = try await stores.ledger.database.read { transaction in
            try transaction.query("SELECT event FROM audit ORDER BY seq DESC LIMIT 2").map { try $0.text("event") }
        }
        #expect(events.last?.hasPrefix(#"{"action":"rebuild-totals","table":"cap_totals","keys":2,"first":"cap_totals "#) == true, "\(events)")
        #expect(events.first?.contains(#""table":"consumer_totals","keys":1,"#) == true && events.first?.hasSuffix(#""tenant":"operator","uid":0}"#) == true, "\(events)")
        #expect(try await AuditChain.verify(stores.store(.shunde).database, file: "shunde").ok)

        // Nothing differs now: a second rebuild writes nothing, not even an event.
        #expect(try await stores.rebuildMaintainedTotals(by: operatorActor).isEmpty)
        #expect(try await AuditChain.verify(stores.ledger.database, file: "ledger").rows == ledgerRows + 2)
    }

    @Test("a value of the wrong type (a real, a text) is a difference to report and rebuild, not a check that fails")
    func wrongTypes() async throws {
        let harness = try StoreHarness()
        let stores = harness.stores
        try await harness.approve(try await harness.recommended(harness.benchmark(StoreHarness.uscc(320)), in: .chancheng))
        let (kept, _) = try CapTotalsTests.totals(stores.ledger)
        let (key, figures) = try #require(kept.first)
        let capID = String(key.prefix { $0 != "[" })
        let scope = String(key.dropFirst(capID.count + 1).dropLast())
        // The tables are not STRICT: SQLite keeps what a hand edit wrote.
        try await stores.ledger.database.write { transaction in
            _ = try transaction.query("UPDATE cap_totals SET amount_fen = 12.5, count = 'many' WHERE cap_id = ? AND scope = ?", [.text(capID), .text(scope)])
        }
        let found = try await stores.maintainedTotalDifferences(naming: { _, tenant in tenant })
        #expect(found.flatMap(\.differences).map(\.description) == ["cap_totals \(key): kept 12.5, many; its records give \(figures[0]), \(figures[1])"])
        #expect(try await stores.rebuildMaintainedTotals(by: Actor(tenant: "operator", uid: 0)).flatMap(\.differences) == found.flatMap(\.differences))
        #expect(try await stores.maintainedTotalDifferences(naming: { _, tenant in tenant }).isEmpty)
        let (rebuilt, summed) = try CapTotalsTests.totals(stores.ledger)
        #expect(rebuilt == summed && rebuilt == kept)
    }
}

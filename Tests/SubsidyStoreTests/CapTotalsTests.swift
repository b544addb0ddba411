import SubsidyCore
import Testing
@testable import SubsidyStore

/// The committed total of every cap key is kept by the ledger's triggers in the same transaction
/// as each charge and each change of a commitment's state, and always equals the sum of the
/// counted charges — which a cap check no longer has to compute.
@Suite("maintained cap totals")
struct CapTotalsTests {
    /// `cap_totals` (non-zero rows) and the same figures summed from the charges.
    static func totals(_ ledger: CityLedger) throws -> (kept: [String: [Int64]], summed: [String: [Int64]]) {
        try ledger.database.readNow { transaction in
            var kept: [String: [Int64]] = [:]
            for row in try transaction.query("SELECT cap_id, scope, amount_fen, count FROM cap_totals WHERE amount_fen != 0 OR count != 0") {
                kept["\(try row.text("cap_id"))[\(try row.text("scope"))]"] = [try row.int("amount_fen"), try row.int("count")]
            }
            var summed: [String: [Int64]] = [:]
            for row in try transaction.query("""
                SELECT c.cap_id AS cap_id, c.scope AS scope, SUM(c.amount_fen) AS amount_fen, SUM(c.count) AS count FROM charges c
                JOIN commitments m ON m.application_id = c.application_id
                WHERE m.state IN \(CityLedger.counted) GROUP BY c.cap_id, c.scope
                """)
            {
                summed["\(try row.text("cap_id"))[\(try row.text("scope"))]"] = [try row.int("amount_fen"), try row.int("count")]
            }
            return (kept, summed)
        }
    }

    @Test("approvals add to the totals and a revocation takes its charges back out, in the same transaction")
    func keptWithEveryChange() async throws {
        let harness = try StoreHarness()
        var ids: [String] = []
        for n in 0..<4 {
            let id = try await harness.recommended(harness.benchmark(StoreHarness.uscc(300 + n), invested: 1_000_000 + Int64(n) * 100_000), in: .nanhai)
            try await harness.approve(id)
            ids.append(id)
        }
        var (kept, summed) = try Self.totals(harness.stores.ledger)
        #expect(!kept.isEmpty)
        #expect(kept == summed)
        let countKey = try #require(kept.first { $0.value[1] == 4 }?.key, "the annual count of benchmark projects: \(kept)")

        _ = try await harness.stores.revoke(
            ids[1], on: nil, document: "", programmes: harness.programmes, request: RequestKey(id: "city:revoke-\(ids[1])", fingerprint: "f"), actor: StoreHarness.city, reason: "撤销"
        ) { _ in [] }
        (kept, summed) = try Self.totals(harness.stores.ledger)
        #expect(kept == summed)
        #expect(kept[countKey]?[1] == 3)

        // A statement outside the store's code is kept too: the triggers, not the code, hold it.
        try harness.stores.ledger.database.writeNow { _ = try $0.query("UPDATE commitments SET state = 'released' WHERE application_id = ?", [.text(ids[2])]) }
        (kept, summed) = try Self.totals(harness.stores.ledger)
        #expect(kept == summed)
        #expect(kept[countKey]?[1] == 2)
        try harness.stores.ledger.database.writeNow { _ = try $0.query("UPDATE commitments SET state = 'live' WHERE application_id = ?", [.text(ids[2])]) }
        try harness.stores.ledger.database.writeNow { _ = try $0.query("DELETE FROM charges WHERE application_id = ?", [.text(ids[3])]) }
        (kept, summed) = try Self.totals(harness.stores.ledger)
        #expect(kept == summed)
        #expect(kept[countKey]?[1] == 2)
        await harness.stores.close()
    }

    /// `consumer_totals` (non-zero rows) and the same figures summed from the counted commitments.
    static func consumers(_ ledger: CityLedger) throws -> (kept: [String: [Int64]], summed: [String: [Int64]]) {
        try ledger.database.readNow { transaction in
            var kept: [String: [Int64]] = [:]
            for row in try transaction.query("SELECT kind, id, funding_year, amount_fen, count FROM consumer_totals WHERE amount_fen != 0 OR count != 0") {
                kept["\(try row.text("kind")) \(try row.text("id")) \(try row.int("funding_year"))"] = [try row.int("amount_fen"), try row.int("count")]
            }
            var summed: [String: [Int64]] = [:]
            for kind in ["enterprise", "provider", "district"] {
                for row in try transaction.query(
                    "SELECT \(kind) AS id, funding_year, SUM(amount_fen) AS amount_fen, COUNT(*) AS n FROM commitments WHERE state IN \(CityLedger.counted) AND \(kind) != '' GROUP BY \(kind), funding_year"
                ) {
                    summed["\(kind) \(try row.text("id")) \(try row.int("funding_year"))"] = [try row.int("amount_fen"), try row.int("n")]
                }
            }
            return (kept, summed)
        }
    }

    @Test("who holds the money (enterprise, provider, district per year) is kept with every commitment, and the top consumers read it")
    func consumerTotals() async throws {
        let harness = try StoreHarness()
        var ids: [String] = []
        for n in 0..<3 {
            let id = try await harness.recommended(harness.benchmark(StoreHarness.uscc(400 + n), invested: 1_000_000 + Int64(n) * 100_000), in: .nanhai)
            try await harness.approve(id)
            ids.append(id)
        }
        var (kept, summed) = try Self.consumers(harness.stores.ledger)
        #expect(!kept.isEmpty && kept == summed)
        let nanhai = try #require(kept.first { $0.key.hasPrefix("district nanhai ") })
        #expect(nanhai.value[1] == 3)
        let top = try await harness.stores.ledger.consumers(by: .enterprise, fundingYear: nil, limit: 2)
        #expect(top.count == 2 && top[0].amountFen >= top[1].amountFen)

        _ = try await harness.stores.revoke(
            ids[0], on: nil, document: "", programmes: harness.programmes, request: RequestKey(id: "city:revoke-\(ids[0])", fingerprint: "f"), actor: StoreHarness.city, reason: "撤销"
        ) { _ in [] }
        (kept, summed) = try Self.consumers(harness.stores.ledger)
        #expect(kept == summed)
        #expect(kept[nanhai.key]?[1] == 2)
        // Outside the store's code too: the triggers hold it.
        try harness.stores.ledger.database.writeNow { _ = try $0.query("UPDATE commitments SET state = 'released' WHERE application_id = ?", [.text(ids[1])]) }
        try harness.stores.ledger.database.writeNow { transaction in
            for table in ["explanations", "charges", "content_keys", "commitments"] {
                _ = try transaction.query("DELETE FROM \(table) WHERE application_id = ?", [.text(ids[2])])
            }
        }
        (kept, summed) = try Self.consumers(harness.stores.ledger)
        #expect(kept == summed)
        #expect(kept[nanhai.key] == nil)
        await harness.stores.close()
    }

    @Test("a district programme's charges of one cap scope are read by index (district migration 13), not by walking them all")
    func programmeChargesByScope() async throws {
        let harness = try StoreHarness()
        let plan = try await harness.stores.store(.shunde).database.read { transaction in
            try transaction.query(
                "EXPLAIN QUERY PLAN SELECT MAX(limit_value) FROM programme_charges WHERE cap_id = 'CLOUD_USE.per_enterprise' AND scope = '2024/x'"
            ).map { try $0.text("detail") }
        }
        #expect(plan.contains { $0.contains("USING INDEX programme_charges_scope") || $0.contains("USING COVERING INDEX programme_charges_scope") }, "\(plan)")
    }
}

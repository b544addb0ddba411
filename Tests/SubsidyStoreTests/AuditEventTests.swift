import Foundation
import Testing
@testable import SubsidyStore

@Suite("AuditEvent")
struct AuditEventTests {
    static let hostile = [
        "contract cancelled\nrevoke nanhai-000001 by=city/0", "\" by=city", "a\\\"b", "\r\n\t", "\u{2028}\u{2029}\u{85}",
        "\u{0}\u{1}\u{1F}\u{7F}", "{\"action\":\"approve\"}", "正常的理由", "",
    ]

    @Test("a value cannot add a line or a field: every hostile value round-trips as one JSON string", arguments: hostile)
    func oneLine(_ reason: String) throws {
        let event = AuditEvent("revoke", [.text("application", "nanhai-000001"), .text("reason", reason), .integer("uid", 1000)])
        let encoded = event.encoded
        #expect(!encoded.unicodeScalars.contains { $0.value < 0x20 || $0 == "\u{2028}" || $0 == "\u{2029}" || $0 == "\u{85}" })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(encoded.utf8)) as? [String: Any])
        #expect(object.count == 4)
        #expect(object["action"] as? String == "revoke")
        #expect(object["reason"] as? String == reason)
        #expect(object["uid"] as? Int == 1000)
    }

    @Test("the same event always encodes to the same bytes, fields in the order given")
    func deterministic() {
        let event = AuditEvent("commit", [.text("b", "1"), .integer("a", -5)])
        #expect(event.encoded == #"{"action":"commit","b":"1","a":-5}"#)
        #expect(event.encoded == AuditEvent("commit", [.text("b", "1"), .integer("a", -5)]).encoded)
    }

    /// Hashes already stored in district and city files must keep verifying whatever computes
    /// SHA-256: these links were computed independently (`printf '%s' … | sha256sum`).
    @Test("chain links are SHA-256 of the previous hash's text and the event, in lower-case hex")
    func linkFormat() {
        let first = AuditChain.hash(previous: AuditChain.genesis, event: #"{"action":"commit","b":"1","a":-5}"#)
        #expect(first == "eb2256fd6b29769ecf79ebe5d6f12e31c459d000ae6ee1ef86d43f665355e3ea")
        #expect(AuditChain.hash(previous: first, event: #"{"action":"note","reason":"正常的理由"}"#)
                == "b416ca9357bfbb4752053584fe1c4daae84906d0bbb7acc5c9dd96e1288921e4")
    }

    @Test("a chain of hostile events verifies, and editing one is found")
    func chain() async throws {
        let directory = try TemporaryDirectory()
        // A district file's first migration creates the audit tables.
        let database = try SQLiteDatabase(path: directory.path + "/audit.sqlite", migrations: Array(DistrictStore.migrations.prefix(1)))
        for (i, reason) in Self.hostile.enumerated() {
            try await database.write { transaction in
                try AuditChain.append(AuditEvent("note", [.integer("i", Int64(i)), .text("reason", reason)]), at: "2026-01-01T00:00:00Z", in: transaction)
            }
        }
        #expect(try await AuditChain.verify(database, file: "audit").ok)
        try await database.write { _ = try $0.query("UPDATE audit SET event = replace(event, 'cancelled', 'approved') WHERE seq = 1") }
        let report = try await AuditChain.verify(database, file: "audit")
        #expect(report.firstBadRow == 1)
        await database.close()
    }

    @Test("verification reads the chain in pages and finds a break in any page, at a page's edge too, as a whole read did")
    func pagedVerification() async throws {
        let directory = try TemporaryDirectory()
        let database = try SQLiteDatabase(path: directory.path + "/audit.sqlite", migrations: Array(DistrictStore.migrations.prefix(1)))
        for i in 0..<30 {
            try await database.write { try AuditChain.append(AuditEvent("note", [.integer("i", Int64(i))]), at: "2026-01-01T00:00:00Z", in: $0) }
        }
        func report(_ pageSize: Int) async throws -> AuditChain.Report {
            try await database.read { try AuditChain.verify(in: $0, file: "audit", pageSize: pageSize) }
        }
        for pageSize in [1, 7, 10, 30, 10_000] {
            let whole = try await report(pageSize)
            #expect(whole.ok && whole.rows == 30, "page \(pageSize): \(whole)")
        }
        // Row 15 altered (the first of the third page of 7); then, restored, row 22 deleted (the first of the fourth).
        try await database.write { _ = try $0.query("UPDATE audit SET event = replace(event, '14', '41') WHERE seq = 15") }
        for pageSize in [1, 7, 10_000] {
            let altered = try await report(pageSize)
            #expect(altered.firstBadRow == 15 && altered.problem.contains("altered") && altered.rows == 30, "page \(pageSize): \(altered)")
        }
        try await database.write { _ = try $0.query("UPDATE audit SET event = replace(event, '41', '14') WHERE seq = 15; ") }
        try await database.write { _ = try $0.query("DELETE FROM audit WHERE seq = 22") }
        for pageSize in [7, 10_000] {
            let gap = try await report(pageSize)
            #expect(gap.firstBadRow == 22 && gap.problem == "row 22 is missing (next is 23)" && gap.rows == 29, "page \(pageSize): \(gap)")
        }
        await database.close()
    }
}

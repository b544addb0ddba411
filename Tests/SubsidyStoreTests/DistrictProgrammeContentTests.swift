import Foundation
import SubsidyCore
import Testing
@testable import SubsidyStore

/// District programmes decide in their own files; what one district's programme funded must
/// still count when another district's programme is asked to fund the same content. Real stores
/// on real SQLite files.
@Suite("district programmes see each other's awards")
struct DistrictProgrammeContentTests {
    /// `foshan-dx-2021` as a district's own programme (level `district:<id>`), under another name:
    /// the shipped set has one district programme, and two district programmes cannot offer one
    /// measure in one set, so each district decides with a set of its own.
    static func programmes(_ district: DistrictID) throws -> (Programmes, Policy) {
        let text = try String(contentsOf: StoreHarness.repositoryRoot.appendingPathComponent("Deploy/policy/foshan-dx-2021.toml"), encoding: .utf8)
            .replacingOccurrences(of: "name = \"foshan-dx-2021\"", with: "name = \"\(district.rawValue)-dx\"")
            .replacingOccurrences(of: "level = \"city\"", with: "level = \"district:\(district.rawValue)\"")
        let own = try Policy.load(text: text, name: "\(district.rawValue)-dx")
        return (try Programmes([try StoreHarness.loadPolicy(), own]), own)
    }

    static let name = "佛山数字车间有限公司"

    @Test("a relocated enterprise's workshop funded by nanhai's programme is refused by gaoming's as double funding")
    func acrossDistricts() async throws {
        let harness = try StoreHarness()
        let stores = harness.stores
        let enterprise = StoreHarness.uscc(970)
        let workshop = Application(
            measure: .digitalWorkshop, fundingYear: FundingYear(2023)!, enterprise: enterprise, projectName: "数字化车间 一号", programme: "nanhai-dx")
        let decision = DecisionInput(decisionDate: try CalendarDate(parsing: "2023-10-01"))

        func fileAndRecommend(_ application: Application, in district: DistrictID, policy: Policy, programmes: Programmes) async throws -> String {
            let applicant = ApplicantRecord(uscc: enterprise.rawValue, name: Self.name, district: district, locality: .local, role: .industrialEnterprise)
            let id = String(decoding: try await stores.submit(
                application, applicant: applicant, policy: policy, filedOn: StoreHarness.filed, request: RequestKey(id: "\(district):submit", fingerprint: "f"),
                actor: StoreHarness.actor(district)
            ) { record, _ in Array(record.id.utf8) }, as: UTF8.self)
            _ = try await stores.review(
                id, as: district, .recommend, on: StoreHarness.filed, programmes: programmes, request: RequestKey(id: "\(district):recommend", fingerprint: "f"),
                actor: StoreHarness.actor(district), reason: "") { _, _ in [] }
            return id
        }
        func approve(_ id: String, in district: DistrictID, programmes: Programmes) async throws {
            _ = try await stores.approveOwn(
                id, as: district, decision: decision, programmes: programmes, request: RequestKey(id: "\(district):approve", fingerprint: "f"),
                actor: StoreHarness.actor(district), reason: "") { _ in [] }
        }

        let (nanhaiSet, nanhaiProgramme) = try Self.programmes(.nanhai)
        _ = try await stores.registerApplicant(
            ApplicantRecord(uscc: enterprise.rawValue, name: Self.name, district: .nanhai, locality: .local, role: .industrialEnterprise),
            request: RequestKey(id: "nanhai:register", fingerprint: "f"), actor: StoreHarness.actor(.nanhai)) { _, _ in [] }
        let first = try await fileAndRecommend(workshop, in: .nanhai, policy: nanhaiProgramme, programmes: nanhaiSet)
        try await approve(first, in: .nanhai, programmes: nanhaiSet)

        // The enterprise moves to gaoming, whose programme is asked to fund the same workshop.
        let moved = ApplicantRecord(uscc: enterprise.rawValue, name: Self.name, district: .gaoming, locality: .local, role: .industrialEnterprise)
        _ = try await stores.registerApplicant(
            moved, request: RequestKey(id: "gaoming:register", fingerprint: "f"), actor: StoreHarness.actor(.gaoming), relocated: true) { _, _ in [] }
        let (gaomingSet, gaomingProgramme) = try Self.programmes(.gaoming)
        let again = {
            var again = workshop
            again.programme = "gaoming-dx"
            return again
        }()
        // Filing already refuses it, naming the award…
        let filed = await #expect(throws: SubsidyError.self) {
            _ = try await fileAndRecommend(again, in: .gaoming, policy: gaomingProgramme, programmes: gaomingSet)
        }
        #expect(filed?.message.contains(first) == true, "\(filed?.message ?? "")")
        // …and so does the approval, for one filed and recommended before the award (written
        // into the file directly: filing and review now refuse it through the store).
        let second = try await stores.store(.gaoming).database.write { transaction in
            try stores.store(.gaoming).insertApplication(
                again, filedOn: StoreHarness.filed, actor: StoreHarness.actor(.gaoming), request: RequestKey(id: "gaoming:direct", fingerprint: "f"), at: Timestamp.now(), in: transaction
            ).id
        }
        _ = try await stores.store(.gaoming).database.write { transaction in
            try transaction.query("UPDATE applications SET state = 'RECOMMENDED' WHERE id = ?", [.text(second)])
        }
        let approval = await #expect(throws: SubsidyError.self) { try await approve(second, in: .gaoming, programmes: gaomingSet) }
        #expect(approval?.message.contains("duplicate_content") == true && approval?.message.contains(first) == true, "\(approval?.message ?? "")")
        #expect(try await stores.store(.gaoming).application(second)?.state == .recommended)
        await stores.close()
    }
}

@Suite("stacking bases kept with awards")
struct StackingBaseTests {
    @Test("an award made before bases and declared upper-level funds were kept gets them from its application at upgrade; one without an application is marked unknown")
    func filledAtUpgrade() async throws {
        let harness = try StoreHarness()
        let stores = harness.stores
        var benchmark = harness.benchmark(StoreHarness.uscc(975), invested: 2_000_000)
        benchmark.upperLevelSubsidy = Money(fen: 30_000_000)
        let id = try await harness.recommended(benchmark, in: .nanhai)
        #expect(try await harness.approve(id) == .approved)
        func column(_ name: String, _ id: String) async throws -> Int64? {
            try await stores.ledger.database.read {
                try $0.query("SELECT \(name) AS b FROM commitments WHERE application_id = ?", [.text(id)]).first?.int("b")
            }
        }
        func base(_ id: String) async throws -> Int64? { try await column("stacking_base_fen", id) }
        #expect(try await base(id) == 200_000_000, "a benchmark project's rate applies to the amount invested")
        #expect(try await column("upper_level_fen", id) == 30_000_000)
        // As a file from before migrations 15 and 21 holds it, beside an award whose application is gone.
        _ = try await stores.ledger.database.write { transaction in
            try transaction.query("UPDATE commitments SET stacking_base_fen = 0, upper_level_fen = 0 WHERE application_id = ?", [.text(id)])
            try transaction.query("DELETE FROM upper_level_pending WHERE district <> 'nanhai'")
            try transaction.query(
                """
                INSERT INTO commitments (application_id, district, measure, funding_year, enterprise, provider, pilot_id, content_fingerprint,
                    amount_fen, decision_date, decision_document, policy_version, explanation, state, source, request_id, created_at, updated_at)
                SELECT 'nanhai-999999', district, measure, funding_year, enterprise, provider, pilot_id, 'gone', amount_fen, decision_date,
                    decision_document, policy_version, explanation, state, source, 'gone', created_at, updated_at
                FROM commitments WHERE application_id = ?
                """,
                [.text(id)])
        }
        #expect(try await stores.fillStackingBases() == 3, "two bases looked up, one application that declared upper-level funds")
        #expect(try await base(id) == 200_000_000)
        #expect(try await base("nanhai-999999") == -1)
        #expect(try await column("upper_level_fen", id) == 30_000_000)
        #expect(try await column("upper_level_fen", "nanhai-999999") == 0, "its application cannot say: none declared")
        #expect(try await stores.fillStackingBases() == 0, "each is looked up once")
        await stores.close()
    }
}

import Foundation
import SubsidyCore
import Testing

@testable import SubsidyStore

@Suite("content keys of an older canonical form")
struct ContentKeyMigrationTests {
    /// `id`'s award as an earlier release stored it — `olderKey` its fingerprint and only content
    /// key, the ledger at `schema` — then the stores opened again (which migrates the ledger), with
    /// the award's content keys after.
    static func storedAsBefore(_ harness: StoreHarness, _ id: String, key olderKey: String, schema: Int) async throws -> (StoreHarness, [String]) {
        await harness.stores.close()
        let ledger = try SQLiteConnection(path: harness.directory.path + "/city-ledger.sqlite")
        try ledger.execute("BEGIN")
        _ = try ledger.query("UPDATE commitments SET content_fingerprint = ? WHERE application_id = ?", [.text(olderKey), .text(id)])
        _ = try ledger.query("DELETE FROM content_keys WHERE application_id = ?", [.text(id)])
        _ = try ledger.query("INSERT INTO content_keys (key, application_id) VALUES (?, ?)", [.text(olderKey), .text(id)])
        try ledger.execute("PRAGMA user_version = \(schema)")
        try ledger.execute("COMMIT")
        ledger.close()
        let reopened = try StoreHarness(directory: harness.directory)
        let keys = try await reopened.stores.ledger.database.read { transaction in
            try transaction.query("SELECT key FROM content_keys WHERE application_id = ? ORDER BY key", [.text(id)]).map { try $0.text("key") }
        }
        return (reopened, keys)
    }

    @Test("an award stored when U+2800 still counted keeps blocking its plain spelling after the ledger migrates")
    func olderKeysBlockTheirPlainSpelling() async throws {
        var harness = try StoreHarness()
        let enterprise = StoreHarness.uscc(360)
        var funded = harness.benchmark(enterprise)
        funded.projectName = "智能工厂 二期\u{2800}"
        let first = try await harness.recommended(funded, in: .shunde)
        #expect(try await harness.approve(first) == .approved)
        // As an earlier release stored it: the blank kept in its key, the ledger at schema 16.
        let olderKey = "project:\(enterprise.rawValue):智能工厂二期\u{2800}"
        let keys: [String]
        (harness, keys) = try await Self.storedAsBefore(harness, first, key: olderKey, schema: 16)
        #expect(keys == ["project:\(enterprise.rawValue):智能工厂二期", olderKey], "\(keys)")
        // The same project, typed plainly, is the content already funded.
        var plain = harness.benchmark(enterprise)
        plain.projectName = "智能工厂 二期"
        let refused = await #expect(throws: SubsidyError.self) { try await harness.recommended(plain, in: .shunde, copy: 1) }
        #expect(refused?.message.contains(first) == true, "\(String(describing: refused))")
        await harness.stores.close()
    }

    @Test("an award whose contract was typed with tildes, keyed when a tilde was a letter, blocks the dashed spelling after the ledger migrates")
    func tildesBecameDashes() async throws {
        var harness = try StoreHarness()
        var funded = harness.benchmark(StoreHarness.uscc(363))
        funded.contractNumber = "HT\u{FF5E}DUP\u{FF5E}77"  // a GBK spreadsheet's 〜, as decoded
        let first = try await harness.recommended(funded, in: .shunde)
        #expect(try await harness.approve(first) == .approved)
        // As the release before stored it: the tildes kept in its key, the ledger at schema 17.
        let olderKey = "contract:ht~dup~-77"
        let keys: [String]
        (harness, keys) = try await Self.storedAsBefore(harness, first, key: olderKey, schema: 17)
        #expect(keys == ["contract:htdup-77", olderKey], "\(keys)")
        // Another enterprise's application for contract HT-DUP-77 is the content already funded.
        var dashed = harness.benchmark(StoreHarness.uscc(364))
        dashed.contractNumber = "HT-DUP-77"
        let refused = await #expect(throws: SubsidyError.self) { try await harness.recommended(dashed, in: .shunde, copy: 1) }
        #expect(refused?.message.contains(first) == true, "\(String(describing: refused))")
        await harness.stores.close()
    }

    @Test("a pilot awarded under a pilot id typed with tildes, keyed when a tilde was a letter, is not awarded again after the ledger migrates")
    func pilotKeysRederived() async throws {
        var harness = try StoreHarness()
        let lead = StoreHarness.uscc(365)
        func pilot(_ id: String, project: String) -> Application {
            Application(
                measure: .clusterPilot, fundingYear: FundingYear(2021)!, enterprise: lead, projectName: project,
                selectionDate: CalendarDate(year: 2021, month: 3, day: 10), selectionLevel: .provincial, pilotID: id)
        }
        let first = try await harness.recommended(pilot("粤工信\u{FF5E}2021\u{FF5E}7", project: "陶瓷产业集群试点"), in: .shunde)
        #expect(try await harness.approve(first) == .approved)
        // As the release before stored it: the pilot key with its tildes, the charge and the
        // maintained total under it, the ledger at schema 19.
        let (olderKey, newKey) = ("粤工信~2021~-7", "粤工信-2021-7")
        await harness.stores.close()
        let ledger = try SQLiteConnection(path: harness.directory.path + "/city-ledger.sqlite")
        try ledger.execute("BEGIN")
        #expect(try ledger.query("SELECT pilot_key FROM commitments WHERE application_id = ?", [.text(first)]).first?.text("pilot_key") == newKey)
        _ = try ledger.query("UPDATE commitments SET pilot_key = ? WHERE application_id = ?", [.text(olderKey), .text(first)])
        _ = try ledger.query("UPDATE charges SET scope = ? WHERE application_id = ? AND scope = ?", [.text("foshan-2020/" + olderKey), .text(first), .text("foshan-2020/" + newKey)])
        try ledger.execute("PRAGMA user_version = 19")
        try ledger.execute("COMMIT")
        ledger.close()

        harness = try StoreHarness(directory: harness.directory)
        let (key, totals) = try await harness.stores.ledger.database.read { transaction in
            (
                try transaction.query("SELECT pilot_key FROM commitments WHERE application_id = ?", [.text(first)]).first?.text("pilot_key"),
                try transaction.query("SELECT scope, count FROM cap_totals WHERE cap_id = 'CLUSTER_PILOT.once_per_pilot' AND count != 0").map {
                    "\(try $0.text("scope"))=\(try $0.int("count"))"
                }
            )
        }
        #expect(key == newKey)
        #expect(totals == ["foshan-2020/\(newKey)=1"], "the total moved with the charge: \(totals)")
        // The same pilot typed with dashes, another project: its one award is used (refused as
        // it is filed, as what can never be funded is).
        let refused = await #expect(throws: SubsidyError.self) {
            try await harness.recommended(pilot("粤工信-2021-7", project: "陶瓷产业集群试点二期"), in: .shunde)
        }
        #expect(refused?.message.contains("one_time: pilot 粤工信-2021-7 already has 1 CLUSTER_PILOT award") == true, "\(String(describing: refused))")
        await harness.stores.close()
    }

    @Test("a project beside a contract, keyed when a tilde was a letter (no migration can re-derive that key), is still the content funded")
    func earlierFormsAreLookedUp() async throws {
        var harness = try StoreHarness()
        let enterprise = StoreHarness.uscc(366)
        var funded = harness.benchmark(enterprise)
        funded.contractNumber = "HT-P-1"
        funded.projectName = "数字化~改造"
        let first = try await harness.recommended(funded, in: .shunde)
        #expect(try await harness.approve(first) == .approved)
        // As the release before stored it: the project key beside the contract kept its tilde.
        let (olderKey, newKey) = ("project:\(enterprise.rawValue):数字化~改造", "project:\(enterprise.rawValue):数字化改造")
        await harness.stores.close()
        let ledger = try SQLiteConnection(path: harness.directory.path + "/city-ledger.sqlite")
        #expect(try ledger.query("UPDATE content_keys SET key = ? WHERE application_id = ? AND key = ? RETURNING key", [.text(olderKey), .text(first), .text(newKey)]).count == 1)
        ledger.close()

        harness = try StoreHarness(directory: harness.directory)
        // The same project, typed the same way, without the contract: the content already funded.
        var again = harness.benchmark(enterprise)
        again.projectName = "数字化~改造"
        let refused = await #expect(throws: SubsidyError.self) { try await harness.recommended(again, in: .shunde, copy: 1) }
        #expect(refused?.message.contains("already funded as \(first)") == true, "\(String(describing: refused))")
        await harness.stores.close()
    }

    @Test("a row imported before tildes separated is found again under the id it was given then: already present, not refused as funded")
    func earlierImportIDs() async throws {
        let harness = try StoreHarness()
        let enterprise = StoreHarness.uscc(367)
        func row(id: String, key: String) -> SubsidyStores.ImportRow {
            var fields = CityLedger.CommitmentFields(
                applicationID: id, district: "shunde", measure: .benchmarkProject, fundingYear: 2022, enterprise: enterprise.rawValue, provider: "",
                pilotID: "", contentFingerprint: key, contentKeys: [key], contentTyped: "HT～OLD～1", amount: Money(fen: 100), decisionDate: CalendarDate(year: 2022, month: 3, day: 15)!,
                decisionDocument: "佛工信〔2022〕1号", policyVersion: harness.policy.version, explanation: nil, source: .import, requestID: "r", inProvincialPool: false,
                actor: StoreHarness.city, reason: "imported")
            fields.namesItsContent = true
            return SubsidyStores.ImportRow(fields: fields, charges: [], policy: harness.policy)
        }
        // As the release before imported it: under the id and the key its texts had then.
        let old = try await harness.stores.importHistory([row(id: "import-00000000000000000001", key: "contract:ht~old~-1")],
                                                         request: RequestKey(id: "city:old", fingerprint: "f")) { imported, present, _ in [UInt8(imported), UInt8(present)] }
        #expect(old == [1, 0])
        // The same row now: another id and key, with the old id as its earlier one.
        var now = row(id: "import-00000000000000000002", key: "contract:htold-1")
        now.fields.earlierApplicationID = "import-00000000000000000001"
        now.fields.earlierKeys = ["contract:ht~old~-1"]
        let again = try await harness.stores.importHistory([now], request: RequestKey(id: "city:again", fingerprint: "f")) { imported, present, ids in
            [UInt8(imported), UInt8(present)] + Array(ids.joined().utf8)
        }
        #expect(again == [0, 1] + Array("import-00000000000000000001".utf8))
        // Without the earlier id it would be new content already funded (the earlier key finds it).
        now.fields.earlierApplicationID = nil
        let refused = await #expect(throws: SubsidyError.self) {
            try await harness.stores.importHistory([now], request: RequestKey(id: "city:third", fingerprint: "f")) { _, _, _ in [] }
        }
        #expect(refused?.message.contains("already funded as import-00000000000000000001") == true, "\(String(describing: refused))")
        await harness.stores.close()
    }

    @Test("a contract funded twice under two spellings the earlier form kept apart is reported as a pair once the ledger migrates")
    func mergedPairsReported() async throws {
        var harness = try StoreHarness()
        var tilde = harness.benchmark(StoreHarness.uscc(368))
        tilde.contractNumber = "HT\u{FF5E}PAIR\u{FF5E}9"
        let first = try await harness.recommended(tilde, in: .shunde)
        #expect(try await harness.approve(first) == .approved)
        // As the release before kept it: the key with its tildes.
        await harness.stores.close()
        func ledger(_ body: (SQLiteConnection) throws -> Void) throws {
            let connection = try SQLiteConnection(path: harness.directory.path + "/city-ledger.sqlite")
            try body(connection)
            connection.close()
        }
        try ledger {
            _ = try $0.query("UPDATE content_keys SET key = 'contract:ht~pair~-9' WHERE application_id = ? AND key = 'contract:htpair-9'", [.text(first)])
            _ = try $0.query("UPDATE commitments SET content_fingerprint = 'contract:ht~pair~-9' WHERE application_id = ?", [.text(first)])
        }
        // That release funded the dashed spelling as other content.
        harness = try StoreHarness(directory: harness.directory)
        #expect(try await harness.stores.sharedContentKeys().isEmpty)
        var dashed = harness.benchmark(StoreHarness.uscc(369))
        dashed.contractNumber = "HT-PAIR-9"
        let second = try await harness.recommended(dashed, in: .shunde)
        #expect(try await harness.approve(second) == .approved)
        await harness.stores.close()
        try ledger { try $0.execute("PRAGMA user_version = 17") }
        // Migrated, the two hold one key: --check lists them.
        harness = try StoreHarness(directory: harness.directory)
        let pairs = try await harness.stores.sharedContentKeys()
        #expect(pairs.map(\.key) == ["contract:htpair-9"] && pairs.first?.awards == ["\(first) BENCHMARK_PROJECT", "\(second) BENCHMARK_PROJECT"].sorted(), "\(pairs)")
        await harness.stores.close()
    }

    @Test("an amendment that recorded two long lists whole (before 69d1d43) is read as its size and what was added and removed")
    func longListsRecordedWhole() async throws {
        var harness = try StoreHarness()
        let id = try await harness.recommended(harness.benchmark(StoreHarness.uscc(370)), in: .shunde)
        await harness.stores.close()
        // As the release before recorded an amendment of the served list: both sides whole.
        let (old, new) = ((0..<100).map { "old-\($0)" }, (0..<100).map { "new-\($0)" })
        let recorded = #"[{"field":"servedEnterprises","before":"\#(old.joined(separator: ", "))","after":"\#(new.joined(separator: ", "))"},"#
            + #"{"field":"projectName","before":"a","after":"b"}]"#
        let file = try SQLiteConnection(path: harness.directory.path + "/districts/shunde.sqlite")
        _ = try file.query("UPDATE transitions SET changes = ? WHERE application_id = ? AND action = 'submit'", [.text(recorded), .text(id)])
        file.close()
        harness = try StoreHarness(directory: harness.directory)
        let changes = try await harness.application(id).history.first?.changes ?? []
        #expect(changes.first?.before == "100 entries; removed 100: \(old.prefix(10).joined(separator: ", ")) and 90 more", "\(changes)")
        #expect(changes.first?.after.hasPrefix("100 entries; added 100: new-0, ") == true && changes.last == FieldChange(field: "projectName", before: "a", after: "b"))
        await harness.stores.close()
    }

    @Test("content stored before lookalike letters were refused is not approved until it is corrected")
    func storedLookalikesAreNotApproved() async throws {
        var harness = try StoreHarness()
        var application = harness.benchmark(StoreHarness.uscc(362))
        application.contractNumber = "HT-2022-7"
        let id = try await harness.recommended(application, in: .shunde)
        // As an earlier release took it: the contract number spelled with Cyrillic Н and Т.
        await harness.stores.close()
        let file = try SQLiteConnection(path: harness.directory.path + "/districts/shunde.sqlite")
        _ = try file.query(
            "UPDATE applications SET content = CAST(replace(CAST(content AS TEXT), 'HT-2022-7', ?) AS BLOB) WHERE id = ?",
            [.text("\u{041D}\u{0422}-2022-7"), .text(id)])
        file.close()
        harness = try StoreHarness(directory: harness.directory)
        #expect(try await harness.application(id).application.contractNumber == "\u{041D}\u{0422}-2022-7")
        let refused = await #expect(throws: SubsidyError.self) { try await harness.approve(id) }
        #expect(refused?.code == .invalidArgument && refused?.message.contains("application.contract_number") == true, "\(String(describing: refused))")
        #expect(try await harness.application(id).state == .recommended)
        #expect(try await harness.commitment(id) == nil, "nothing committed")
        await harness.stores.close()
    }

    @Test("a district programme's award stored with a blank in its contract number is known by the plain key after the district file migrates")
    func districtProgrammeKeys() async throws {
        var harness = try StoreHarness()
        let id = try await harness.recommended(harness.benchmark(StoreHarness.uscc(361)), in: .shunde)
        await harness.stores.close()
        // As an earlier release stored a district programme's award: its key kept the blank.
        let file = try SQLiteConnection(path: harness.directory.path + "/districts/shunde.sqlite")
        try file.execute("BEGIN")
        _ = try file.query(
            """
            INSERT INTO programme_commitments (application_id, programme, measure, funding_year, enterprise, amount_fen, decision_date,
                policy_version, content_typed, state, request_id, created_at, updated_at)
            VALUES (?, 'shunde-dx-2021', 'CLOUD_USE', 2022, ?, 100, '2022-09-01', 'v', ?, 'live', 'r', 't', 't')
            """, [.text(id), .text(StoreHarness.uscc(361).rawValue), .text("SD-2022-9\u{2800}")])
        _ = try file.query("INSERT INTO programme_content_keys (key, application_id) VALUES (?, ?)", [.text("contract:sd-2022-9-\u{2800}"), .text(id)])
        try file.execute("PRAGMA user_version = 15")
        try file.execute("COMMIT")
        file.close()

        harness = try StoreHarness(directory: harness.directory)
        let keys = try await harness.stores.store(.shunde).database.read { transaction in
            try transaction.query("SELECT key FROM programme_content_keys WHERE application_id = ? ORDER BY key", [.text(id)]).map { try $0.text("key") }
        }
        #expect(keys == ["contract:sd-2022-9", "contract:sd-2022-9-\u{2800}"], "\(keys)")
        await harness.stores.close()
    }
}

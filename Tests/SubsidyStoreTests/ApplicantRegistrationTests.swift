import SubsidyCore
import SubsidyTestSupport
import Synchronization
import Testing
@testable import SubsidyStore

/// A registration writes the city's index, then the district's registry. Real stores on real
/// SQLite files.
@Suite("applicant registration across the index and the registry")
struct ApplicantRegistrationTests {
    static let nanhai = StoreHarness.actor(.nanhai)

    static func record(_ uscc: USCC, _ name: String, in district: DistrictID = .nanhai) -> ApplicantRecord {
        ApplicantRecord(uscc: uscc.rawValue, name: name, district: district, locality: .nonLocal, role: .serviceProvider)
    }

    static func register(_ stores: SubsidyStores, _ record: ApplicantRecord, request: String) async throws {
        _ = try await stores.registerApplicant(record, request: RequestKey(id: "\(record.district):\(request)", fingerprint: record.name), actor: nanhai) { _, _ in [] }
    }

    /// The city index's name for `uscc`, or nil.
    static func indexed(_ stores: SubsidyStores, _ uscc: USCC) async throws -> String? {
        try await stores.ledger.database.read { try $0.query("SELECT name FROM applicants WHERE uscc = ?", [.text(uscc.rawValue)]).first?.text("name") }
    }

    @Test("a registration that reached only the index is taken over by the next one in its district, with its values; other districts are still refused")
    func unfinishedTakenOver() async throws {
        let uscc = StoreHarness.uscc(960)
        // A first attempt whose district write fails (a full disk, say) after the index took it.
        let failing = try StoreHarness(faults: ["fail:register.after-ledger"])
        let first = await #expect(throws: SubsidyError.self) { try await Self.register(failing.stores, Self.record(uscc, "佛山云服务有限公"), request: "first") }
        #expect(first?.code == .internal)
        #expect(try await Self.indexed(failing.stores, uscc) == "佛山云服务有限公")
        #expect(try await failing.stores.store(.nanhai).applicant(uscc.rawValue) == nil)
        let harness = try await failing.reopened()
        let stores = harness.stores

        // The clerk corrects the name and registers again under a new request id.
        try await Self.register(stores, Self.record(uscc, "佛山云服务有限公司"), request: "corrected")
        #expect(try await stores.store(.nanhai).applicant(uscc.rawValue)?.name == "佛山云服务有限公司")
        #expect(try await Self.indexed(stores, uscc) == "佛山云服务有限公司")
        let events = try await stores.ledger.database.read { try $0.query("SELECT event FROM audit ORDER BY seq DESC LIMIT 1").first?.text("event") }
        #expect(events?.contains("reindex-applicant") == true && events?.contains("unfinished") == true, "\(events ?? "")")
        #expect(events?.contains("佛山云服务有限公\"") == true, "the values replaced are kept in the chain: \(events ?? "")")
        // The takeover's retry replays; the first attempt's retry meets what stands now.
        try await Self.register(stores, Self.record(uscc, "佛山云服务有限公司"), request: "corrected")
        let stale = await #expect(throws: SubsidyError.self) { try await Self.register(stores, Self.record(uscc, "佛山云服务有限公"), request: "first") }
        #expect(stale?.code == .alreadyExists && stale?.message.contains("as 佛山云服务有限公司") == true, "\(stale?.message ?? "")")

        // Now registered: other values are refused, in this district and any other.
        let again = await #expect(throws: SubsidyError.self) { try await Self.register(stores, Self.record(uscc, "别的名字"), request: "other") }
        #expect(again?.code == .alreadyExists)
        let elsewhere = await #expect(throws: SubsidyError.self) {
            try await Self.register(stores, Self.record(uscc, "佛山云服务有限公司", in: .shunde), request: "shunde")
        }
        #expect(elsewhere?.code == .alreadyExists && elsewhere?.message.contains("registered by nanhai") == true)
        #expect(try await Self.indexed(stores, uscc) == "佛山云服务有限公司")
        await stores.close()
    }

    @Test("twins: a registration retried after a cut-off still warns of its twin; a relocation beside a twin of the new district is refused")
    func twinsAcrossCutOffsAndRelocations() async throws {
        let squatted = try USCC.makeValid(prefix16: "91440605MAXHXL50")
        let real = try USCC.makeValid(prefix16: "91440606MAXHXL50")
        let first = try StoreHarness()
        try await Self.register(first.stores, Self.record(squatted, "南海登记"), request: "squatted")
        let failing = try await first.reopened(faults: ["fail:register.after-ledger"])
        let key = RequestKey(id: "shunde:real", fingerprint: "顺德企业")
        _ = await #expect(throws: SubsidyError.self) {
            try await failing.stores.registerApplicant(Self.record(real, "顺德企业", in: .shunde), request: key, actor: StoreHarness.actor(.shunde)) { _, _ in [] }
        }
        let harness = try await failing.reopened()
        let warned = Mutex<[String]>([])
        _ = try await harness.stores.registerApplicant(Self.record(real, "顺德企业", in: .shunde), request: key, actor: StoreHarness.actor(.shunde)) { _, warnings in
            warned.withLock { $0 = warnings }
            return []
        }
        let warnings = warned.withLock { $0 }
        #expect(warnings.count == 1 && warnings[0].contains("\(squatted.rawValue) has the same organisation code") && warnings[0].contains("registered by nanhai"), "\(warnings)")
        // [relocations] moving the squatted code to Shunde would register one organisation twice there.
        let moved = await #expect(throws: SubsidyError.self) {
            try await harness.stores.registerApplicant(
                Self.record(squatted, "南海登记", in: .shunde), request: RequestKey(id: "shunde:moved", fingerprint: "f"), actor: StoreHarness.actor(.shunde), relocated: true
            ) { _, _ in [] }
        }
        #expect(moved?.code == .alreadyExists && moved?.message.contains("of \(real.rawValue), registered by shunde") == true, "\(moved?.message ?? "")")
        #expect(try await harness.stores.ledger.registeringDistrict(of: squatted.rawValue) == .nanhai)
        await harness.stores.close()
    }

    @Test("a mistyped code cut off after the index blocks the real code as its twin until a repair forgets it, audited")
    func unfinishedTwinForgotten() async throws {
        let mistyped = try USCC.makeValid(prefix16: "92440605MAXHXL38")
        let real = try USCC.makeValid(prefix16: "91440605MAXHXL38")
        let failing = try StoreHarness(faults: ["fail:register.after-ledger"])
        _ = await #expect(throws: SubsidyError.self) { try await Self.register(failing.stores, Self.record(mistyped, "佛山云服务有限公司"), request: "typo") }
        let harness = try await failing.reopened()
        let stores = harness.stores
        let blocked = await #expect(throws: SubsidyError.self) { try await Self.register(stores, Self.record(real, "佛山云服务有限公司"), request: "real") }
        #expect(blocked?.code == .alreadyExists && blocked?.message.contains("organisation code") == true, "\(blocked?.message ?? "")")

        let forgotten = try await stores.forgetUnfinishedRegistrations(by: Actor(tenant: "operator", uid: 0))
        #expect(forgotten.forgotten == [.nanhai: [mistyped.rawValue]] && forgotten.returned.isEmpty, "\(forgotten)")
        #expect(try await Self.indexed(stores, mistyped) == nil)
        let event = try await stores.ledger.database.read { try $0.query("SELECT event FROM audit ORDER BY seq DESC LIMIT 1").first?.text("event") }
        #expect(event?.contains("forget-applicant") == true && event?.contains(mistyped.rawValue) == true, "\(event ?? "")")
        try await Self.register(stores, Self.record(real, "佛山云服务有限公司"), request: "real-again")
        #expect(try await Self.indexed(stores, real) == "佛山云服务有限公司")
        // A registered entry is never forgotten: nothing is unfinished now.
        #expect(try await stores.forgetUnfinishedRegistrations(by: Actor(tenant: "operator", uid: 0)) == .init())
        #expect(try await Self.indexed(stores, real) == "佛山云服务有限公司")
        await stores.close()
    }

    @Test("a relocation's takeover cut off before the new district's registry goes back to the district that has it registered, not away")
    func unfinishedTakeoverReturned() async throws {
        let uscc = StoreHarness.uscc(965)
        let setup = try StoreHarness()
        try await Self.register(setup.stores, Self.record(uscc, "佛山搬迁企业", in: .chancheng), request: "before")
        let first = try await setup.reopened(faults: ["fail:register.after-ledger"])
        _ = await #expect(throws: SubsidyError.self) {
            _ = try await first.stores.registerApplicant(
                Self.record(uscc, "佛山搬迁企业", in: .nanhai), request: RequestKey(id: "nanhai:moved", fingerprint: "f"), actor: Self.nanhai, relocated: true
            ) { _, _ in [] }
        }
        let harness = try await first.reopened()
        let stores = harness.stores
        let district = { try await stores.ledger.database.read { try $0.query("SELECT district FROM applicants WHERE uscc = ?", [.text(uscc.rawValue)]).first?.text("district") } }
        #expect(try await district() == "nanhai", "the index took the entry over; nanhai's registry never got it")
        let repaired = try await stores.forgetUnfinishedRegistrations(by: Actor(tenant: "operator", uid: 0))
        #expect(repaired.forgotten.isEmpty && repaired.returned == [uscc.rawValue: .chancheng], "\(repaired)")
        #expect(try await district() == "chancheng")
        #expect(try await stores.applicantIndexGaps().isEmpty)
        await stores.close()
    }

    @Test("a registry entry the index lacks decides a new registration: other details are refused without touching the index, the same ones index it")
    func registryDecides() async throws {
        let harness = try StoreHarness()
        let stores = harness.stores
        let uscc = StoreHarness.uscc(962)
        try await Self.register(stores, Self.record(uscc, "佛山数据服务有限公司"), request: "first")
        // A ledger older than the index entry (restored, or from before the index existed).
        _ = try await stores.ledger.database.write { try $0.query("DELETE FROM applicants WHERE uscc = ?", [.text(uscc.rawValue)]) }
        let other = await #expect(throws: SubsidyError.self) { try await Self.register(stores, Self.record(uscc, "别的名字"), request: "other") }
        #expect(other?.code == .alreadyExists && other?.message.contains("as 佛山数据服务有限公司") == true, "\(other?.message ?? "")")
        #expect(try await Self.indexed(stores, uscc) == nil, "the refused values are not indexed")
        try await Self.register(stores, Self.record(uscc, "佛山数据服务有限公司"), request: "again")
        #expect(try await Self.indexed(stores, uscc) == "佛山数据服务有限公司")
        await stores.close()
    }

    @Test("registrations of one enterprise at once under different names: one stands, and the index and the registry agree on it")
    func concurrentRegistrations() async throws {
        let harness = try StoreHarness()
        let stores = harness.stores
        let uscc = StoreHarness.uscc(961)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<8 {
                group.addTask { (try? await Self.register(stores, Self.record(uscc, "企业名称 \(n)"), request: "race-\(n)")) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1, "\(outcomes)")
        let registered = try await stores.store(.nanhai).applicant(uscc.rawValue)?.name
        let indexed = try await Self.indexed(stores, uscc)
        #expect(registered != nil && registered == indexed)
        await stores.close()
    }
}

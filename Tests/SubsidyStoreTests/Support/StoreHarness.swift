import Foundation
import SubsidyCore
import SubsidyTestSupport
import Testing
@testable import SubsidyStore

/// The real stores on real SQLite files in a temporary directory, with the real Foshan 2020
/// policy and helpers that file applications the way the district service does.
final class StoreHarness: Sendable {
    let directory: TemporaryDirectory
    let stores: SubsidyStores
    let policy: Policy
    /// The 2020 policy alone, as the stores' decisions take it.
    var programmes: Programmes { Programmes(single: policy) }
    static let city = Actor(tenant: "city", uid: 1000)

    /// The repository root, from this file's path (Tests/SubsidyStoreTests/Support/…).
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func loadPolicy() throws -> Policy {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("Deploy/policy/foshan-2020.toml"), encoding: .utf8)
        return try Policy.load(text: text, name: "foshan-2020")
    }

    init(faults: Set<String> = [], directory: TemporaryDirectory? = nil) throws {
        self.directory = try directory ?? TemporaryDirectory()
        policy = try Self.loadPolicy()
        let districts = self.directory.path + "/districts"
        try FileManager.default.createDirectory(atPath: districts, withIntermediateDirectories: true)
        stores = try SubsidyStores(
            ledgerPath: self.directory.path + "/city-ledger.sqlite", districtDirectory: districts, faults: FaultPoints(armed: faults))
    }

    /// The same files opened again (as after a restart), with other fault points armed.
    func reopened(faults: Set<String> = []) async throws -> StoreHarness {
        await stores.close()
        return try StoreHarness(faults: faults, directory: directory)
    }

    static func actor(_ district: DistrictID) -> Actor { Actor(tenant: district.rawValue, uid: 2000) }

    /// A valid USCC registered in Foshan (area 440606), numbered `n`.
    static func uscc(_ n: Int) -> USCC {
        let digits = String(n)
        do { return try USCC.makeValid(prefix16: "91440606MA" + String(repeating: "0", count: 6 - digits.count) + digits) } catch {
            preconditionFailure("\(error)")
        }
    }

    func register(_ enterprise: USCC, in district: DistrictID, role: ApplicantRole = .industrialEnterprise) async throws -> ApplicantRecord {
        let record = ApplicantRecord(uscc: enterprise.rawValue, name: "企业 \(enterprise.rawValue.suffix(6))", district: district, locality: .local, role: role)
        _ = try await stores.registerApplicant(
            record, request: RequestKey(id: "\(district):register-\(enterprise.rawValue)", fingerprint: "f"), actor: Self.actor(district)
        ) { _, _ in [] }
        return record
    }

    /// A 标杆项目 (benchmark project) of `enterprise`: 30% of the investment, up to 3 million yuan;
    /// at most 30 a year city-wide.
    func benchmark(_ enterprise: USCC, invested yuan: Int64 = 1_000_000) -> Application {
        Application(
            measure: .benchmarkProject, fundingYear: FundingYear(2022)!, enterprise: enterprise, projectName: "智能工厂 \(enterprise.rawValue)",
            investedAmount: Money(fen: yuan * 100), selectionLevel: .municipal)
    }

    /// The day the harness's applications are filed on: the 2020 measures' first, before any
    /// decision a test dates.
    static let filed = CalendarDate(year: 2020, month: 7, day: 17)!

    /// Registers the applicant, submits `application` and recommends it; returns its id.
    /// `copy` files the same content again under another request.
    func recommended(_ application: Application, in district: DistrictID, copy: Int = 0) async throws -> String {
        let applicant = try await register(application.enterprise, in: district)
        let key = "\(district):submit-\(application.enterprise.rawValue)-\(application.projectName)" + (copy == 0 ? "" : "-\(copy)")
        let bytes = try await stores.submit(
            application, applicant: applicant, policy: policy,
            filedOn: StoreHarness.filed, request: RequestKey(id: key, fingerprint: "f"), actor: Self.actor(district)
        ) { record, _ in Array(record.id.utf8) }
        let id = String(decoding: bytes, as: UTF8.self)
        _ = try await stores.review(
            id, as: district, .recommend, on: StoreHarness.filed, programmes: programmes, request: RequestKey(id: "\(district):review-\(id)", fingerprint: "f"),
            actor: Self.actor(district), reason: ""
        ) { _, _ in [] }
        return id
    }

    /// Approves `id` on 2022-09-01 under request id `request`; returns the state the response recorded.
    @discardableResult
    func approve(_ id: String, request: String? = nil) async throws -> ApplicationState {
        let bytes = try await stores.approve(
            id, decision: DecisionInput(decisionDate: try CalendarDate(parsing: "2022-09-01")), programmes: programmes,
            request: RequestKey(id: request ?? "city:approve-\(id)", fingerprint: "f"), actor: Self.city, reason: "复核通过"
        ) { Array("\($0.state.rawValue) \($0.awardedFen)".utf8) }
        let state = String(decoding: bytes, as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
        return try #require(ApplicationState(rawValue: state))
    }

    /// Approves `ids` as one committee's list on 2022-09-01, each under `request`/id; returns
    /// each one's recorded state or its error, in the list's order.
    func approve(list ids: [String], request: String = "city:list") async throws -> [Result<ApplicationState, any Error>] {
        let decision = DecisionInput(decisionDate: try CalendarDate(parsing: "2022-09-01"))
        let approvals = ids.map {
            SubsidyStores.Approval(id: $0, request: RequestKey(id: request + "/" + $0, fingerprint: "f"), decision: decision, actor: Self.city, reason: "会议纪要〔2022〕7号")
        }
        let results = try await stores.approve(approvals, programmes: programmes) { Array($0.state.rawValue.utf8) }
        return results.map { result in result.map { ApplicationState(rawValue: String(decoding: $0, as: UTF8.self))! } }
    }

    func application(_ id: String) async throws -> StoredApplication {
        try #require(try await stores.owning(id, as: nil).application(id))
    }

    func commitment(_ id: String) async throws -> CityLedger.Commitment? {
        let ledger = stores.ledger
        return try await ledger.database.read { try ledger.commitment(for: id, in: $0) }
    }
}

/// A directory under ``TestDirectories/root``, removed with everything in it when released.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = TestDirectories.make("subsidyd-store")
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

import SubsidyClient
import SubsidyCore
import SubsidyWire

/// Valid identities and requests for tests: real-format USCCs with correct check characters.
public enum TestData {
    /// The `n`-th test USCC registered in Foshan (administrative prefix 4406xx; by default 440600,
    /// the city level, which any district may register: 440604…440608 belong to one district each).
    public static func uscc(_ n: Int, area: Int = 0) -> String {
        let digits = String(n)
        let body = String(repeating: "0", count: max(0, 8 - digits.count)) + digits
        // 9 (business) 1 (enterprise) 44060x (Foshan district code) + 8-digit body.
        return (try? USCC.makeValid(prefix16: "9144060\(area)" + body).rawValue) ?? ""
    }

    /// A provincial cluster pilot's follow-on (project 集群试点, funding year 2023).
    public static func followOn(lead: String, pilot: String, served: [String]) -> Foshan_Subsidy_V1_Application {
        var application = Foshan_Subsidy_V1_Application()
        application.measure = .clusterPilotFollowOn
        application.fundingYear = 2023
        application.enterpriseUscc = lead
        application.projectName = "集群试点"
        application.pilotId = pilot
        application.selectionLevel = .provincial
        application.servedEnterprises = served
        return application
    }

    public static func voucher(enterprise: String, provider: String, contractFen: Int64, year: Int32 = 2022, contract: String) -> Foshan_Subsidy_V1_Application {
        var a = Foshan_Subsidy_V1_Application()
        a.measure = .cloudVoucher
        a.fundingYear = year
        a.enterpriseUscc = enterprise
        a.providerUscc = provider
        a.contractNumber = contract
        a.contractAmountFen = contractFen
        a.paidAmountFen = contractFen
        a.projectName = "上云 \(contract)"
        return a
    }

    public static func benchmark(enterprise: String, investedFen: Int64, year: Int32 = 2022, name: String) -> Foshan_Subsidy_V1_Application {
        var a = Foshan_Subsidy_V1_Application()
        a.measure = .benchmarkProject
        a.fundingYear = year
        a.enterpriseUscc = enterprise
        a.investedAmountFen = investedFen
        a.selectionLevel = .municipal
        a.projectName = name
        return a
    }
}

/// How a test reaches one tenant's methods: over the tenant's socket (`ClientConnection`), or
/// in-process through the daemon's router (SubsidyServerTests' `InProcessDaemon`).
public protocol TenantCalls: Sendable {
    /// Calls a unary method as the tenant, as `ClientConnection.call` does.
    func call<I, O>(_ method: UnaryMethod<I, O>, _ request: I, timeout: Duration?, metadata: [String: String]) async throws(SubsidyError) -> O
    /// Closes the connection, if there is one.
    func close() async
}

extension TenantCalls {
    public func call<I, O>(_ method: UnaryMethod<I, O>, _ request: I, timeout: Duration? = nil) async throws(SubsidyError) -> O {
        try await call(method, request, timeout: timeout, metadata: [:])
    }
}

extension ClientConnection: TenantCalls {}

/// A tenant's calls made on `day` (metadata `x-today`), to a daemon that takes a call's own day
/// (`--dev`, or ``InProcessDaemon``): a test lives through a programme's years.
public struct DatedCalls: TenantCalls {
    let base: any TenantCalls
    let day: String

    public func call<I, O>(_ method: UnaryMethod<I, O>, _ request: I, timeout: Duration?, metadata: [String: String]) async throws(SubsidyError) -> O {
        try await base.call(method, request, timeout: timeout, metadata: metadata.merging(["x-today": day]) { own, _ in own })
    }

    public func close() async { await base.close() }
}

/// Steps of the lifecycle as one call each, with fresh request ids.
public struct Bureau: Sendable {
    public let client: any TenantCalls
    /// The day its filings are made on.
    private enum Filing: Sendable {
        /// The 2020 measures' on ``filingDay``, other programmes' on the daemon's day.
        case byProgramme
        /// Every filing on this day, its other calls on the daemon's.
        case on(String)
        /// As its other calls: the bureau acts on a day of its own (``on(_:)``).
        case asCalls
    }
    private let filing: Filing
    private static func id() -> String { String(UInt64.random(in: 1...UInt64.max), radix: 36) }

    /// A bureau calling through `client`; its filings are made on `filingDay` if given (a test
    /// that files under a later programme and decides on days before its daemon's), else as
    /// ``filingDay`` says.
    public init(_ client: any TenantCalls, filingOn filingDay: String? = nil) {
        self.init(client, filing: filingDay.map(Filing.on) ?? .byProgramme)
    }

    private init(_ client: any TenantCalls, filing: Filing) {
        self.client = client
        self.filing = filing
    }

    /// The same bureau acting on `day` (YYYY-MM-DD) instead of its daemon's today.
    public func on(_ day: String) -> Bureau { Bureau(DatedCalls(base: client, day: day), filing: .asCalls) }

    /// The day a bureau not acting on a day of its own files applications of the 2020 measures
    /// (the default programme) on: their first, so every decision a test dates inside their
    /// window comes after the filing, as it must. Other programmes' are filed on the daemon's
    /// day, the bureau's (``on(_:)``) or the one it was made with (``init(_:filingOn:)``).
    public static let filingDay = "2020-07-17"

    /// The calls a filing of `application` goes through.
    private func filing(_ application: Foshan_Subsidy_V1_Application) -> any TenantCalls {
        switch filing {
        case .on(let day): DatedCalls(base: client, day: day)
        case .byProgramme where application.programme.isEmpty || application.programme == "foshan-2020": DatedCalls(base: client, day: Self.filingDay)
        case .byProgramme, .asCalls: client
        }
    }

    @discardableResult
    public func register(
        _ uscc: String, role: Foshan_Subsidy_V1_ApplicantRole = .industrialEnterprise, locality: Foshan_Subsidy_V1_Locality = .local, name: String? = nil
    ) async throws -> Foshan_Subsidy_V1_Applicant? {
        var request = Foshan_Subsidy_V1_RegisterApplicantRequest()
        request.requestId = Self.id()
        var applicant = Foshan_Subsidy_V1_Applicant()
        applicant.uscc = uscc
        applicant.name = name ?? "测试企业 \(uscc.suffix(4))"
        applicant.role = role
        applicant.locality = locality
        request.applicant = applicant
        return try await client.call(Foshan_Subsidy_V1_DistrictService.Method.registerApplicant, request).applicant
    }

    public func submit(_ application: Foshan_Subsidy_V1_Application, requestID: String? = nil) async throws -> Foshan_Subsidy_V1_ApplicationRecord {
        var request = Foshan_Subsidy_V1_SubmitApplicationRequest()
        request.requestId = requestID ?? Self.id()
        request.application = application
        return try await filing(application).call(Foshan_Subsidy_V1_DistrictService.Method.submitApplication, request).record
            ?? Foshan_Subsidy_V1_ApplicationRecord()
    }

    /// Recommends `id` on the day its application was filed by this bureau (``filing(_:)``): a
    /// decision a test dates after the filing comes after the recommendation too.
    @discardableResult
    public func recommend(_ id: String) async throws -> Foshan_Subsidy_V1_ApplicationRecord {
        var get = Foshan_Subsidy_V1_GetApplicationRequest()
        get.applicationId = id
        let application = try await client.call(Foshan_Subsidy_V1_DistrictService.Method.getApplication, get).record?.application
        return try await recommend(id, through: application.map(filing) ?? client)
    }

    /// Recommends `id` through `calls` (on their day: the 复核 is not dated before it).
    @discardableResult
    private func recommend(_ id: String, through calls: any TenantCalls) async throws -> Foshan_Subsidy_V1_ApplicationRecord {
        var request = Foshan_Subsidy_V1_ReviewApplicationRequest()
        request.requestId = Self.id()
        request.applicationId = id
        request.outcome = .recommend
        return try await calls.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, request).record ?? Foshan_Subsidy_V1_ApplicationRecord()
    }

    /// Submits and recommends, both on the filing's day (so a decision a test dates after the
    /// filing comes after the recommendation too); the id of the application, ready for the city.
    public func file(_ application: Foshan_Subsidy_V1_Application) async throws -> String {
        let id = try await submit(application).id
        try await recommend(id, through: filing(application))
        return id
    }

    public func approve(_ id: String, date: String = "2022-06-01", requestID: String? = nil) async throws -> Foshan_Subsidy_V1_ApplicationRecord {
        var request = Foshan_Subsidy_V1_ApproveApplicationRequest()
        request.requestId = requestID ?? Self.id()
        request.applicationId = id
        request.decisionDate = date
        return try await client.call(Foshan_Subsidy_V1_CityService.Method.approveApplication, request).record ?? Foshan_Subsidy_V1_ApplicationRecord()
    }

    public func decide(_ method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse>, _ id: String, date: String = "", reason: String = "test") async throws -> Foshan_Subsidy_V1_ApplicationRecord {
        var request = Foshan_Subsidy_V1_DecideApplicationRequest()
        request.requestId = Self.id()
        request.applicationId = id
        request.decisionDate = date
        request.reason = reason
        return try await client.call(method, request).record ?? Foshan_Subsidy_V1_ApplicationRecord()
    }

    public func pool(_ uscc: String, since: String = "2020-07-17") async throws {
        var request = Foshan_Subsidy_V1_RegisterPoolMemberRequest()
        request.requestId = Self.id()
        var member = Foshan_Subsidy_V1_PoolMember()
        member.uscc = uscc
        member.entryDate = since
        request.member = member
        _ = try await client.call(Foshan_Subsidy_V1_CityService.Method.registerPoolMember, request)
    }

    public func importAwards(_ awards: [Foshan_Subsidy_V1_HistoricalAward], requestID: String? = nil) async throws -> Foshan_Subsidy_V1_ImportHistoryResponse {
        var request = Foshan_Subsidy_V1_ImportHistoryRequest()
        request.requestId = requestID ?? Self.id()
        request.awards = awards
        return try await client.call(Foshan_Subsidy_V1_CityService.Method.importHistory, request)
    }

    public func quota(year: Int32 = 0) async throws -> Foshan_Subsidy_V1_GetQuotaResponse {
        var request = Foshan_Subsidy_V1_GetQuotaRequest()
        request.fundingYear = year
        request.top = 100
        return try await client.call(Foshan_Subsidy_V1_CityService.Method.getQuota, request)
    }
}

extension Foshan_Subsidy_V1_GetQuotaResponse {
    /// The committed amount (fen) or count of one cap scope.
    public func committed(_ capID: String, _ scope: String) -> Int64 {
        caps.first { $0.capId == capID && $0.scope == scope }?.committed ?? 0
    }
}

public func historical(_ measure: Foshan_Subsidy_V1_Measure, district: String, enterprise: String, provider: String = "", amountFen: Int64, document: String, year: Int32 = 2022) -> Foshan_Subsidy_V1_HistoricalAward {
    var award = Foshan_Subsidy_V1_HistoricalAward()
    award.measure = measure
    award.fundingYear = year
    award.district = district
    award.enterpriseUscc = enterprise
    award.providerUscc = provider
    award.amountFen = amountFen
    award.decisionDate = "\(year == 2020 ? 2020 : year)-0\(year == 2020 ? 9 : 3)-15"
    award.decisionDocument = document
    return award
}

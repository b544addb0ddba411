import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyWire

/// Requests of the programmes after 2023 (PROGRAMMES.md) — the city's foshan-dx-2021 and
/// Shunde's shunde-dx-2021 — for the suites that drive them through the daemon or in-process.
public enum ProgrammeData {
    public static let seller = TestData.uscc(7_001, area: 6)

    public static func cloudUse(_ enterprise: String, spendFen: Int64, revenueFen: Int64, contract: String, year: Int32 = 2024) -> Foshan_Subsidy_V1_Application {
        var a = Foshan_Subsidy_V1_Application()
        a.programme = "shunde-dx-2021"
        a.measure = .cloudUse
        a.fundingYear = year
        a.enterpriseUscc = enterprise
        a.projectName = "上云用云 \(contract)"
        a.contractNumber = contract
        a.contractAmountFen = spendFen
        a.paidAmountFen = spendFen
        a.providerUscc = seller
        a.declaredRevenueFen = revenueFen
        return a
    }

    public static func workshop(_ enterprise: String, _ number: Int, year: Int32) -> Foshan_Subsidy_V1_Application {
        var a = Foshan_Subsidy_V1_Application()
        a.programme = "foshan-dx-2021"
        a.measure = .digitalWorkshop
        a.fundingYear = year
        a.enterpriseUscc = enterprise
        a.projectName = "数字化车间 \(number)"
        return a
    }

    public static func factory(_ enterprise: String, grade: Foshan_Subsidy_V1_Grade, year: Int32) -> Foshan_Subsidy_V1_Application {
        var a = Foshan_Subsidy_V1_Application()
        a.programme = "foshan-dx-2021"
        a.measure = .digitalFactory
        a.fundingYear = year
        a.enterpriseUscc = enterprise
        a.projectName = grade == .excellent ? "数字化示范工厂（优秀）" : "数字化示范工厂"
        a.grade = grade
        return a
    }

    /// Shunde's 省市标杆配套 (case by case) for `enterprise`'s project `projectName`.
    public static func benchmarkMatch(_ enterprise: String, projectName: String, year: Int32 = 2024) -> Foshan_Subsidy_V1_Application {
        var a = Foshan_Subsidy_V1_Application()
        a.programme = "shunde-dx-2021"
        a.measure = .benchmarkMatch
        a.fundingYear = year
        a.enterpriseUscc = enterprise
        a.projectName = projectName
        return a
    }

    /// Shunde's 国家级项目配套 (20% of the national funding received, `nationalFen`) for
    /// `enterprise`'s project `projectName`: a measure without a stacking limit.
    public static func nationalMatch(_ enterprise: String, projectName: String, nationalFen: Int64, year: Int32 = 2024) -> Foshan_Subsidy_V1_Application {
        var a = Foshan_Subsidy_V1_Application()
        a.programme = "shunde-dx-2021"
        a.measure = .nationalMatch
        a.fundingYear = year
        a.enterpriseUscc = enterprise
        a.projectName = projectName
        a.upperLevelAwardTotalFen = nationalFen
        return a
    }

    /// Shunde's own decision on `id` (approve with `caseFen` for case-by-case measures).
    public static func approveOwn(
        _ shunde: Bureau, _ id: String, date: String = "2024-06-01", caseFen: Int64 = 0, requestID: String = UUID().uuidString
    ) async throws -> Foshan_Subsidy_V1_ApplicationRecord {
        var request = Foshan_Subsidy_V1_ApproveApplicationRequest()
        request.requestId = requestID
        request.applicationId = id
        request.decisionDate = date
        request.caseAmountFen = caseFen
        request.decisionDocument = "顺经促〔2024〕9号"
        return try await shunde.client.call(Foshan_Subsidy_V1_DistrictProgrammes.Method.approveApplication, request).record ?? .init()
    }

    /// Registers ``seller`` in Shunde as a service provider and puts it in Shunde's catalogue, so
    /// a CLOUD_USE naming it can be funded.
    public static func sellerInCatalogue(_ shunde: Bureau) async throws {
        try await shunde.register(seller, role: .serviceProvider)
        try await catalogue(shunde, seller)
    }

    public static func catalogue(_ shunde: Bureau, _ uscc: String) async throws {
        var request = Foshan_Subsidy_V1_RegisterCatalogueMemberRequest()
        request.requestId = "catalogue-\(uscc)"
        request.catalogue = "shunde-cloud-products"
        request.uscc = uscc
        request.name = "顺德云服务商"
        request.entryDate = "2022-01-01"
        _ = try await shunde.client.call(Foshan_Subsidy_V1_DistrictProgrammes.Method.registerCatalogueMember, request)
    }

    public static func cityApprove(_ city: Bureau, _ id: String, date: String, caseFen: Int64 = 0, document: String = "") async throws -> Foshan_Subsidy_V1_ApplicationRecord {
        var request = Foshan_Subsidy_V1_ApproveApplicationRequest()
        request.requestId = UUID().uuidString
        request.applicationId = id
        request.decisionDate = date
        request.caseAmountFen = caseFen
        request.decisionDocument = document
        return try await city.client.call(Foshan_Subsidy_V1_CityService.Method.approveApplication, request).record ?? .init()
    }
}

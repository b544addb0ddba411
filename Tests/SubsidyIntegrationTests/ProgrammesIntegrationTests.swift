import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// The programmes after 2023 through the real daemon (PROGRAMMES.md): the city's successor
/// programme decided by the city with difference awards, Shunde's own programme decided by
/// Shunde against caps in its own store, and the isolation around it.
@Suite("programmes: the 2020 measures, the city's successor and a district's own, side by side")
struct ProgrammesIntegrationTests {
    static let seller = TestData.uscc(7_001, area: 6)

    static func cloudUse(_ enterprise: String, spendFen: Int64, revenueFen: Int64, contract: String, year: Int32 = 2024) -> Foshan_Subsidy_V1_Application {
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

    static func workshop(_ enterprise: String, _ number: Int, year: Int32) -> Foshan_Subsidy_V1_Application {
        var a = Foshan_Subsidy_V1_Application()
        a.programme = "foshan-dx-2021"
        a.measure = .digitalWorkshop
        a.fundingYear = year
        a.enterpriseUscc = enterprise
        a.projectName = "数字化车间 \(number)"
        return a
    }

    static func factory(_ enterprise: String, grade: Foshan_Subsidy_V1_Grade, year: Int32) -> Foshan_Subsidy_V1_Application {
        var a = Foshan_Subsidy_V1_Application()
        a.programme = "foshan-dx-2021"
        a.measure = .digitalFactory
        a.fundingYear = year
        a.enterpriseUscc = enterprise
        a.projectName = grade == .excellent ? "数字化示范工厂（优秀）" : "数字化示范工厂"
        a.grade = grade
        return a
    }

    /// Shunde's own decision on `id` (approve with `caseFen` for case-by-case measures).
    static func approveOwn(_ shunde: Bureau, _ id: String, date: String = "2024-06-01", requestID: String = UUID().uuidString) async throws -> Foshan_Subsidy_V1_ApplicationRecord {
        var request = Foshan_Subsidy_V1_ApproveApplicationRequest()
        request.requestId = requestID
        request.applicationId = id
        request.decisionDate = date
        request.decisionDocument = "顺经促〔2024〕9号"
        return try await shunde.client.call(Foshan_Subsidy_V1_DistrictProgrammes.Method.approveApplication, request).record ?? .init()
    }

    static func catalogue(_ shunde: Bureau, _ uscc: String) async throws {
        var request = Foshan_Subsidy_V1_RegisterCatalogueMemberRequest()
        request.requestId = "catalogue-\(uscc)"
        request.catalogue = "shunde-cloud-products"
        request.uscc = uscc
        request.name = "顺德云服务商"
        request.entryDate = "2022-01-01"
        _ = try await shunde.client.call(Foshan_Subsidy_V1_DistrictProgrammes.Method.registerCatalogueMember, request)
    }

    static func cityApprove(_ city: Bureau, _ id: String, date: String, caseFen: Int64 = 0, document: String = "") async throws -> Foshan_Subsidy_V1_ApplicationRecord {
        var request = Foshan_Subsidy_V1_ApproveApplicationRequest()
        request.requestId = UUID().uuidString
        request.applicationId = id
        request.decisionDate = date
        request.caseAmountFen = caseFen
        request.decisionDocument = document
        return try await city.client.call(Foshan_Subsidy_V1_CityService.Method.approveApplication, request).record ?? .init()
    }

    @Test("ListProgrammes: a district sees the city's programmes and its own, the city every one, each with level, window and state")
    func listing() async throws {
        try await withDaemon { daemon in
            func names(_ tenant: String) async throws -> [Foshan_Subsidy_V1_Programme] {
                try await daemon.client(tenant).call(Foshan_Subsidy_V1_Programmes.Method.listProgrammes, Foshan_Subsidy_V1_ListProgrammesRequest()).programmes
            }
            #expect(try await names("nanhai").map(\.name) == ["foshan-2020", "foshan-dx-2021"])
            let shunde = try await names("shunde")
            #expect(shunde.map(\.name) == ["foshan-2020", "foshan-dx-2021", "shunde-dx-2021"])
            let city = try await names("city")
            #expect(city.map(\.name) == ["foshan-2020", "foshan-dx-2021", "shunde-dx-2021"])
            let old = try #require(city.first)
            #expect(old.isDefault && old.level == "city" && old.state == "closed" && old.validThrough == "2023-12-31")
            #expect(old.measures.count == 11)
            let own = try #require(city.last)
            #expect(own.level == "district:shunde")
            #expect(own.measures == [.cloudUse, .nationalMatch, .benchmarkMatch])
            #expect(own.version.hasPrefix("shunde-dx-2021@"))
        }
    }

    @Test("a workshop → factory → 优秀 sequence under foshan-dx-2021 pays the differences; the old client's 2020 voucher still works beside it")
    func cityDifferenceAwards() async throws {
        try await withDaemon { daemon in
            let city = Bureau(try await daemon.client("city"))
            let nanhai = Bureau(try await daemon.client("nanhai"))
            let owner = TestData.uscc(7_100, area: 5)
            try await nanhai.register(owner)
            var ids: [String] = []
            for (number, year) in [(1, Int32(2022)), (2, 2023)] {
                let id = try await nanhai.file(Self.workshop(owner, number, year: year))
                let approved = try await Self.cityApprove(city, id, date: "\(year)-10-01")
                #expect(approved.awardedFen == 200_000_000)
                #expect(approved.explanation?.policyVersion.hasPrefix("foshan-dx-2021@") == true)
                ids.append(id)
            }
            let factory = try await nanhai.file(Self.factory(owner, grade: .standard, year: 2024))
            let missing = await #expect(throws: SubsidyError.self) { try await Self.cityApprove(city, factory, date: "2024-11-01") }
            #expect(missing?.code == .invalidArgument)
            let paid = try await Self.cityApprove(city, factory, date: "2024-11-01", caseFen: 1_000_000_000, document: "佛工信〔2024〕88号")
            #expect(paid.awardedFen == 600_000_000)
            let difference = try #require(paid.explanation?.limits.first { $0.binding })
            #expect(difference.kind == "difference")
            #expect(difference.detail.contains("\(ids[0]) DIGITAL_WORKSHOP 2,000,000.00 + \(ids[1]) DIGITAL_WORKSHOP 2,000,000.00"))
            let excellent = try await nanhai.file(Self.factory(owner, grade: .excellent, year: 2025))
            let second = try await Self.cityApprove(city, excellent, date: "2025-11-01", caseFen: 2_000_000_000, document: "佛工信〔2025〕12号")
            #expect(second.awardedFen == 1_000_000_000)

            // Beside it, a client that knows nothing of programmes files a 2020 voucher as before.
            let provider = TestData.uscc(7_101, area: 5)
            try await city.pool(provider)
            try await nanhai.register(provider, role: .serviceProvider)
            let buyer = TestData.uscc(7_102, area: 5)
            try await nanhai.register(buyer)
            let voucher = try await nanhai.file(TestData.voucher(enterprise: buyer, provider: provider, contractFen: 60_000_000, contract: "OLD-1"))
            let approved = try await city.approve(voucher)
            #expect(approved.awardedFen == 30_000_000)
            #expect(approved.application?.programme == "")
            #expect(approved.explanation?.policyVersion.hasPrefix("foshan-2020@") == true)

            let quota = try await city.quota(year: 2024)
            #expect(quota.committed("DIGITAL_FACTORY.annual_count", "2024") == 1)
            // 2020 awards can still be disbursed and revoked after the policy ended.
            #expect(try await city.decide(Foshan_Subsidy_V1_CityService.Method.revokeApplication, voucher, reason: "合同解除").state == .revoked)
        }
    }

    @Test("a Shunde clerk files, reviews and approves a CLOUD_USE award against Shunde's caps; the city sees it and cannot decide it; Nanhai sees nothing of it")
    func districtDecides() async throws {
        try await withDaemon { daemon in
            let city = Bureau(try await daemon.client("city"))
            let shunde = Bureau(try await daemon.client("shunde"))
            let nanhai = Bureau(try await daemon.client("nanhai"))
            try await shunde.register(Self.seller, role: .serviceProvider)
            try await Self.catalogue(shunde, Self.seller)
            let buyer = TestData.uscc(7_200, area: 6)
            try await shunde.register(buyer)

            let id = try await shunde.file(Self.cloudUse(buyer, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "SD-2024-1"))
            // The city may read it, not decide it.
            let denied = await #expect(throws: SubsidyError.self) { try await Self.cityApprove(city, id, date: "2024-06-01") }
            #expect(denied?.code == .permissionDenied)
            #expect(denied?.message.contains("shunde-dx-2021") == true)
            let approved = try await Self.approveOwn(shunde, id, requestID: "approve-\(id)")
            #expect(approved.state == .approved)
            #expect(approved.awardedFen == 100_000_000)
            #expect(approved.history.last?.tenant == "shunde")
            #expect(approved.explanation?.limits.first { $0.binding }?.detail.contains("tier 1,000,000.00") == true)
            // A city programme (no stacking limit) sees the content Shunde funded, and refuses it.
            var sameContract = Self.workshop(buyer, 9, year: 2024)
            sameContract.contractNumber = "sd 2024 1"
            let funded = await #expect(throws: SubsidyError.self) { try await shunde.submit(sameContract) }
            #expect(funded?.code == .failedPrecondition)
            #expect(funded?.message.contains("already funded as \(id) under CLOUD_USE") == true, "\(funded?.message ?? "")")
            // A retry returns the first answer; the cap is charged once.
            #expect(try await Self.approveOwn(shunde, id, requestID: "approve-\(id)").awardedFen == 100_000_000)

            var request = Foshan_Subsidy_V1_GetQuotaRequest()
            request.programme = "shunde-dx-2021"
            request.fundingYear = 2024
            let seen = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.getQuota, request)
            #expect(seen.committed("CLOUD_USE.annual_budget", "2024") == 100_000_000)
            #expect(seen.committed("CLOUD_USE.per_enterprise", "2024/\(buyer)") == 100_000_000)
            let ownQuota = try await shunde.client.call(Foshan_Subsidy_V1_DistrictProgrammes.Method.getQuota, request)
            #expect(ownQuota.committed("CLOUD_USE.annual_budget", "2024") == 100_000_000)
            let listed = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.listApplications, Foshan_Subsidy_V1_ListApplicationsRequest())
            #expect(listed.records.contains { $0.id == id && $0.awardedFen == 100_000_000 })
            // The city's report carries Shunde's award; the programme filter narrows the export to it.
            let report = try await BureauListTests.ctl(daemon, as: "city", ["export", "report", "--year", "2024"])
            #expect(report.contains("上云用云,顺德区,0,0,0,0,0,1,0,0,0,1000000.00"), "\(report)")
            let own = try await BureauListTests.ctl(daemon, as: "city", ["export", "applications", "--programme", "shunde-dx-2021"])
            #expect(own.contains(id) && own.contains("shunde-dx-2021") && !own.contains("foshan-dx-2021"), "\(own)")

            // Nanhai: the programme does not exist for it, nor does the application.
            let nanhaiBuyer = TestData.uscc(7_201, area: 5)
            try await nanhai.register(nanhaiBuyer)
            let unknown = await #expect(throws: SubsidyError.self) {
                try await nanhai.submit(Self.cloudUse(nanhaiBuyer, spendFen: 100_000_000, revenueFen: 100, contract: "NH-1"))
            }
            #expect(unknown?.code == .invalidArgument)
            #expect(unknown?.message.contains("unknown programme 'shunde-dx-2021'") == true)
            let foreign = await #expect(throws: SubsidyError.self) { try await Self.approveOwn(nanhai, id) }
            #expect(foreign?.code == .notFound || foreign?.code == .permissionDenied)
            // And Shunde cannot decide a city programme's application.
            let workshop = try await shunde.file(Self.workshop(buyer, 1, year: 2024))
            let notOwn = await #expect(throws: SubsidyError.self) { try await Self.approveOwn(shunde, workshop) }
            #expect(notOwn?.code == .permissionDenied)

            // 公示, payment after it, and revocation (a clawback) take the charges back out.
            func decide(_ method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse>, _ date: String) async throws -> Foshan_Subsidy_V1_ApplicationRecord {
                try await shunde.decide(method, id, date: date, reason: "区局决定")
            }
            #expect(try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.publicizeApplication, "2024-06-02").state == .publicized)
            let early = await #expect(throws: SubsidyError.self) { try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.disburseApplication, "2024-06-04") }
            #expect(early?.code == .failedPrecondition)
            #expect(try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.disburseApplication, "2024-06-09").state == .disbursed)
            #expect(try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.revokeApplication, "2024-07-01").state == .revoked)
            let after = try await shunde.client.call(Foshan_Subsidy_V1_DistrictProgrammes.Method.getQuota, request)
            #expect(after.committed("CLOUD_USE.annual_budget", "2024") == 0)
            let check = try DistrictProgrammeChecker.check(dataDirectory: daemon.dataDirectory)
            #expect(check.problems.isEmpty, "\(check.problems)")
            #expect(check.commitments == 0, "the revoked award is no longer counted")
            // Every decision is in Shunde's audit chain, which verifies.
            let audit = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.verifyAudit, Foshan_Subsidy_V1_VerifyAuditRequest())
            #expect(audit.chains.count == 6 && audit.chains.allSatisfy(\.ok), "\(audit.chains)")
            let chain = try DistrictProgrammeChecker.auditEvents(dataDirectory: daemon.dataDirectory, district: "shunde")
            for action in ["programme_commit", "programme_disbursed", "programme_clawback", "catalogue_member"] {
                #expect(chain.contains { $0.contains(action) }, "\(action) is not in Shunde's audit chain")
            }
        }
    }

    @Test("stacking across levels: a contract the city's 2020 voucher paid 500,000 gets at most 500,000 more from CLOUD_USE")
    func stacking() async throws {
        try await withDaemon { daemon in
            let city = Bureau(try await daemon.client("city"))
            let shunde = Bureau(try await daemon.client("shunde"))
            try await shunde.register(Self.seller, role: .serviceProvider)
            try await city.pool(Self.seller)
            try await Self.catalogue(shunde, Self.seller)
            let buyer = TestData.uscc(7_300, area: 6)
            try await shunde.register(buyer)
            let voucher = try await shunde.file(TestData.voucher(enterprise: buyer, provider: Self.seller, contractFen: 100_000_000, year: 2023, contract: "SD-STACK-1"))
            #expect(try await city.approve(voucher, date: "2023-08-01").awardedFen == 50_000_000)
            var application = Self.cloudUse(buyer, spendFen: 100_000_000, revenueFen: 8_000_000_000, contract: "sd stack 1")
            application.upperLevelSubsidyFen = 20_000_000
            let id = try await shunde.file(application)
            let approved = try await Self.approveOwn(shunde, id, date: "2024-03-01")
            #expect(approved.awardedFen == 30_000_000)
            let stacking = try #require(approved.explanation?.limits.first { $0.kind == "stacking" })
            #expect(stacking.binding)
            #expect(stacking.detail.contains("\(voucher) (foshan-2020 CLOUD_VOUCHER) 500,000.00"))
        }
    }

    @Test("31 concurrent Shunde approvals against its 30,000,000 budget (1,000,000 each) while the city approves workshops for the same enterprises: exactly 30 win")
    func raceAtTheDistrictCap() async throws {
        try await withDaemon { daemon in
            let city = Bureau(try await daemon.client("city"))
            let shunde = Bureau(try await daemon.client("shunde"))
            try await shunde.register(Self.seller, role: .serviceProvider)
            try await Self.catalogue(shunde, Self.seller)
            var cloud: [String] = []
            var workshops: [String] = []
            for i in 0..<31 {
                let buyer = TestData.uscc(7_400 + i, area: 6)
                try await shunde.register(buyer)
                cloud.append(try await shunde.file(Self.cloudUse(buyer, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "RACE-\(i)")))
                if i < 10 { workshops.append(try await shunde.file(Self.workshop(buyer, i, year: 2024))) }
            }
            let outcomes = await withTaskGroup(of: (String, Result<Int64, SubsidyError>).self) { group in
                for id in cloud {
                    group.addTask {
                        do { return ("cloud", .success(try await Self.approveOwn(shunde, id).awardedFen)) } catch let error as SubsidyError {
                            return ("cloud", .failure(error))
                        } catch { return ("cloud", .failure(SubsidyError(.internal, "\(error)"))) }
                    }
                }
                for id in workshops {
                    group.addTask {
                        do { return ("city", .success(try await Self.cityApprove(city, id, date: "2024-06-01").awardedFen)) } catch let error as SubsidyError {
                            return ("city", .failure(error))
                        } catch { return ("city", .failure(SubsidyError(.internal, "\(error)"))) }
                    }
                }
                var all: [(String, Result<Int64, SubsidyError>)] = []
                for await outcome in group { all.append(outcome) }
                return all
            }
            let won = outcomes.filter { $0.0 == "cloud" }.compactMap { try? $0.1.get() }
            let refused = outcomes.filter { $0.0 == "cloud" }.compactMap { if case .failure(let e) = $0.1 { e } else { nil } }
            #expect(won.count == 30)
            #expect(won.allSatisfy { $0 == 100_000_000 })
            #expect(refused.count == 1)
            #expect(refused.first?.code == .resourceExhausted, "\(refused)")
            #expect(outcomes.filter { $0.0 == "city" }.allSatisfy { (try? $0.1.get()) == 200_000_000 })
            let check = try DistrictProgrammeChecker.check(dataDirectory: daemon.dataDirectory)
            #expect(check.problems.isEmpty, "\(check.problems)")
            #expect(check.commitments == 30)
        }
    }

    /// Today in China Standard Time, shifted by `days`, as the daemon dates filing.
    static func chinaDay(_ days: Int = 0) -> String {
        let seconds = Int(Date().timeIntervalSince1970) + 8 * 3_600 + days * 86_400
        return CalendarDate(daysSinceEpoch: seconds / 86_400)!.description
    }

    @Test("calls for applications: once a measure runs calls, filing is inside an open one or late with a reason; the city opens its programmes', a district its own; counts per call")
    func callsForApplications() async throws {
        try await withDaemon { daemon in
            let city = Bureau(try await daemon.client("city"))
            let nanhai = Bureau(try await daemon.client("nanhai"))
            let shunde = Bureau(try await daemon.client("shunde"))
            let owner = TestData.uscc(7_600, area: 5)
            try await nanhai.register(owner)
            // No call yet: the measure does not run calls, and filing is as before.
            let before = try await nanhai.submit(Self.workshop(owner, 1, year: 2025))
            #expect(before.callId == "")

            func open(_ bureau: Bureau, _ programme: String, _ measure: Foshan_Subsidy_V1_Measure, year: Int32) async throws -> Foshan_Subsidy_V1_Call {
                var request = Foshan_Subsidy_V1_OpenCallRequest()
                request.requestId = UUID().uuidString
                request.programme = programme
                request.measure = measure
                request.fundingYear = year
                request.opensOn = Self.chinaDay(-1)
                request.closesOn = Self.chinaDay(30)
                request.title = "\(year)年度申报"
                return try await bureau.client.call(Foshan_Subsidy_V1_Calls.Method.openCall, request).call ?? .init()
            }
            // A district cannot open the city's calls; the city cannot open Shunde's.
            let notShunde = await #expect(throws: SubsidyError.self) { try await open(shunde, "foshan-dx-2021", .digitalWorkshop, year: 2025) }
            #expect(notShunde?.code == .permissionDenied)
            let notCity = await #expect(throws: SubsidyError.self) { try await open(city, "shunde-dx-2021", .cloudUse, year: 2025) }
            #expect(notCity?.code == .permissionDenied)
            let call = try await open(city, "foshan-dx-2021", .digitalWorkshop, year: 2025)
            #expect(call.id == "foshan-dx-2021/DIGITAL_WORKSHOP/2025/1" && call.state == "open")
            let overlapping = await #expect(throws: SubsidyError.self) { try await open(city, "foshan-dx-2021", .digitalWorkshop, year: 2025) }
            #expect(overlapping?.code == .failedPrecondition)
            let own = try await open(shunde, "shunde-dx-2021", .cloudUse, year: 2025)
            #expect(own.tenant == "shunde")

            let inside = try await nanhai.submit(Self.workshop(owner, 2, year: 2025))
            #expect(inside.callId == call.id)
            try await nanhai.recommend(inside.id)
            // Another year of a measure that runs calls: refused, naming the rule; late on purpose: filed, with the reason.
            let outside = await #expect(throws: SubsidyError.self) { try await nanhai.submit(Self.workshop(owner, 3, year: 2024)) }
            #expect(outside?.code == .failedPrecondition)
            #expect(outside?.message.contains("none for funding year 2024 is open") == true, "\(outside?.message ?? "")")

            // Closed today: the next filing is refused; filed late with a reason, it counts under the call.
            var close = Foshan_Subsidy_V1_CloseCallRequest()
            close.requestId = UUID().uuidString
            close.callId = call.id
            close.closedOn = Self.chinaDay(-1)
            #expect(try await city.client.call(Foshan_Subsidy_V1_Calls.Method.closeCall, close).call?.state == "closed")
            let closed = await #expect(throws: SubsidyError.self) { try await nanhai.submit(Self.workshop(owner, 4, year: 2025)) }
            #expect(closed?.code == .failedPrecondition)
            var late = Foshan_Subsidy_V1_SubmitApplicationRequest()
            late.requestId = UUID().uuidString
            late.application = Self.workshop(owner, 4, year: 2025)
            late.lateReason = "系统故障，经市局同意补报"
            let filedLate = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.submitApplication, late).record ?? .init()
            #expect(filedLate.callId == call.id && filedLate.lateReason == "系统故障，经市局同意补报")

            let listed = try await city.client.call(Foshan_Subsidy_V1_Calls.Method.listCalls, Foshan_Subsidy_V1_ListCallsRequest()).calls
            #expect(listed.map(\.id) == [call.id, own.id])
            let counts = try #require(listed.first?.counts)
            #expect(counts.received == 2 && counts.recommended == 1 && counts.late == 1 && counts.returned == 0)
            // Nanhai sees the city's calls, not Shunde's.
            #expect(try await nanhai.client.call(Foshan_Subsidy_V1_Calls.Method.listCalls, Foshan_Subsidy_V1_ListCallsRequest()).calls.map(\.id) == [call.id])
            let table = try await BureauListTests.ctl(daemon, as: "city", ["call", "list"], environment: ["LANG": "C.UTF-8", "LC_ALL": ""])
            #expect(table.contains(call.id) && table.contains("RECEIVED"), "\(table)")
            // Per-call counts in the quota and the year's report.
            let quota = try await BureauListTests.ctl(daemon, as: "city", ["quota", "--year", "2025"], environment: ["LANG": "C.UTF-8", "LC_ALL": ""])
            #expect(quota.contains("申报批次") && quota.contains(call.id), "\(quota)")
            let report = try await BureauListTests.ctl(daemon, as: "city", ["export", "report", "--year", "2025"])
            #expect(report.contains("\(call.id),2025,\(call.opensOn)..\(Self.chinaDay(-1)),closed,2,0,0,1,1,0"), "\(report)")
        }
    }
}

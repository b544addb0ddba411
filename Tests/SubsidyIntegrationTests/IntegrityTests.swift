import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// Issue 8 §1–§2 where the daemon itself is the point: a relocation read from the
/// configuration file, and other tenants served while the largest quote runs. The rest of the
/// integrity rules are tested through the handlers in-process (SubsidyServerTests'
/// `IntegrityTests`).
@Suite("integrity at the edges, through the daemon")
struct IntegrityDaemonTests {
    @Test("a relocated enterprise is registered by the district [relocations] names, not by its area's")
    func relocation() async throws {
        let moved = TestData.uscc(9330, area: 4)  // registered in 禅城, moved to 南海
        var configuration = DaemonConfiguration()
        configuration.relocations = [moved: "nanhai"]
        try await withDaemon(configuration: configuration) { daemon in
            let refused = await #expect(throws: SubsidyError.self) { try await Bureau(try await daemon.client("chancheng")).register(moved) }
            #expect(refused?.message.contains("has relocated to 南海区 (nanhai, [relocations])") == true, "\(refused?.message ?? "")")
            let registered = try await Bureau(try await daemon.client("nanhai")).register(moved)
            #expect(registered?.uscc == moved)
        }
    }

    @Test("an enterprise registered before it moved: the district [relocations] names takes it over; the one it left files for it no more; caps count once")
    func relocationOfRegistered() async throws {
        let moved = TestData.uscc(9331, area: 4)  // registered in 禅城, moves to 南海
        var configuration = DaemonConfiguration()
        let before = try await DaemonProcess.start(configuration: configuration)
        let filed: String
        do {
            let chancheng = Bureau(try await before.client("chancheng"))
            try await chancheng.register(moved)
            filed = try await chancheng.file(TestData.benchmark(enterprise: moved, investedFen: 100_000_000, name: "搬迁前项目"))
        } catch {
            _ = await before.terminate()
            throw error
        }
        #expect(await before.terminate() == 0)
        configuration.relocations = [moved: "nanhai"]
        try await withDaemon(configuration: configuration) { daemon in
            let (chancheng, nanhai) = (Bureau(try await daemon.client("chancheng")), Bureau(try await daemon.client("nanhai")))
            #expect(try await nanhai.register(moved)?.uscc == moved, "the index entry of chancheng is taken over")
            let again = await #expect(throws: SubsidyError.self) {
                try await chancheng.submit(TestData.benchmark(enterprise: moved, investedFen: 100_000_000, name: "搬迁后项目"))
            }
            #expect(again?.code == .failedPrecondition && again?.message.contains("has relocated to 南海区 (nanhai, [relocations])") == true, "\(again?.message ?? "")")
            var rename = Foshan_Subsidy_V1_UpdateApplicantRequest()
            (rename.requestId, rename.uscc, rename.name) = ("rename-moved", moved, "新名")
            let renamed = await #expect(throws: SubsidyError.self) { try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, rename) }
            #expect(renamed?.code == .failedPrecondition, "\(renamed?.message ?? "")")
            // Nor may it amend another enterprise's filing onto the one that moved.
            let stays = TestData.uscc(9332, area: 4)
            try await chancheng.register(stays)
            let other = try await chancheng.submit(TestData.benchmark(enterprise: stays, investedFen: 100_000_000, name: "留下的项目"))
            let moveOnto = { (requestID: String) in
                var amend = Foshan_Subsidy_V1_AmendApplicationRequest()
                (amend.requestId, amend.applicationId, amend.reason) = (requestID, other.id, "改企业")
                amend.application = TestData.benchmark(enterprise: moved, investedFen: 100_000_000, name: "留下的项目")
                return amend
            }
            let amended = await #expect(throws: SubsidyError.self) {
                try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, moveOnto("amend-onto-moved"))
            }
            #expect(amended?.code == .failedPrecondition && amended?.message.contains("has relocated to 南海区") == true, "\(amended?.message ?? "")")
            // What chancheng filed before stays with it; nanhai files from now on.
            var get = Foshan_Subsidy_V1_GetApplicationRequest()
            get.applicationId = filed
            #expect(try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.getApplication, get).record?.id == filed)
            let after = try await nanhai.file(TestData.benchmark(enterprise: moved, investedFen: 100_000_000, name: "搬迁后项目"))
            #expect(after.hasPrefix("nanhai-"))
            // The city reads the entry of the district that has it now.
            var applicant = Foshan_Subsidy_V1_GetApplicantRequest()
            applicant.uscc = moved
            let city = Bureau(try await daemon.client("city"))
            #expect(try await city.client.call(Foshan_Subsidy_V1_CityService.Method.getApplicant, applicant).applicant?.district == "nanhai")
            // The city counts both awards under the one enterprise, wherever they were filed.
            _ = try await city.approve(filed, date: "2022-09-01")
            _ = try await city.approve(after, date: "2022-09-02")
            let quota = try await city.quota(year: 2022)
            #expect(quota.topEnterprises.first { $0.id == moved }?.count == 2, "\(quota.topEnterprises)")
            #expect(await daemon.terminate() == 0)
            let check = try await StartupIntegrityTests.subsidyd(["--config", configuration.path, "--check"])
            #expect(check.status == 0, "\(check.output) \(check.error)")
            #expect(check.output.contains("applicants in chancheng's registry registered since by another district ([relocations]"), "\(check.output)")
            // The line removed from the configuration: the index keeps the takeover.
            var unlisted = configuration
            unlisted.relocations = [:]
            let restarted = try await DaemonProcess.start(configuration: unlisted)
            do {
                let chancheng = Bureau(try await restarted.client("chancheng"))
                let again = await #expect(throws: SubsidyError.self) {
                    try await chancheng.submit(TestData.benchmark(enterprise: moved, investedFen: 100_000_000, name: "搬迁后第二个项目"))
                }
                #expect(
                    again?.code == .failedPrecondition && again?.message.contains("is registered by 南海区 (nanhai) in the city") == true,
                    "\(again?.message ?? "")")
                var rename = Foshan_Subsidy_V1_UpdateApplicantRequest()
                (rename.requestId, rename.uscc, rename.name) = ("rename-moved-2", moved, "新名")
                let renamed = await #expect(throws: SubsidyError.self) {
                    try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, rename)
                }
                #expect(renamed?.message.contains("is registered by 南海区 (nanhai) in the city") == true, "\(renamed?.message ?? "")")
                let other = try await chancheng.submit(TestData.benchmark(enterprise: TestData.uscc(9332, area: 4), investedFen: 100_000_000, name: "留下的第二个项目"))
                var amend = Foshan_Subsidy_V1_AmendApplicationRequest()
                (amend.requestId, amend.applicationId, amend.reason) = ("amend-onto-moved-2", other.id, "改企业")
                amend.application = TestData.benchmark(enterprise: moved, investedFen: 100_000_000, name: "留下的第二个项目")
                let amended = await #expect(throws: SubsidyError.self) {
                    try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, amend)
                }
                #expect(amended?.message.contains("is registered by 南海区 (nanhai) in the city") == true, "\(amended?.message ?? "")")
            } catch {
                _ = await restarted.terminate()
                throw error
            }
            #expect(await restarted.terminate() == 0)
        }
    }

    @Test("a quote with the most served enterprises a follow-on may list is answered, and others are served meanwhile")
    func largestQuote() async throws {
        try await withDaemon { daemon in
            let city = Bureau(try await daemon.client("city"))
            let gaoming = Bureau(try await daemon.client("gaoming"))
            let lead = TestData.uscc(9340)
            try await gaoming.register(lead, role: .platform)
            let followOn = TestData.followOn(lead: lead, pilot: "P-99", served: (0..<InputLimits.servedEnterprises).map { TestData.uscc(600_000 + $0) })
            var pilot = followOn
            pilot.measure = .clusterPilot
            pilot.fundingYear = 2021
            pilot.selectionDate = "2021-09-01"
            pilot.servedEnterprises = []
            _ = try await city.approve(try await gaoming.file(pilot), date: "2021-10-01")
            var request = Foshan_Subsidy_V1_QuoteRequest()
            request.application = followOn
            request.decisionDate = "2023-06-01"
            let quote = Task { [request] in try await gaoming.client.call(Foshan_Subsidy_V1_DistrictService.Method.quote, request, timeout: .seconds(120)) }
            // Another tenant is served while the quote runs.
            #expect(try await city.client.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest()).tenant == "city")
            // None of them holds a voucher: the follow-on condition fails, having counted all 5,000.
            let outcome = await #expect(throws: SubsidyError.self) { _ = try await quote.value }
            #expect(outcome?.code == .failedPrecondition)
            #expect(outcome?.message.contains("0 of 5000 served enterprises hold a voucher") == true, "\(outcome?.message ?? "")")
        }
    }
}

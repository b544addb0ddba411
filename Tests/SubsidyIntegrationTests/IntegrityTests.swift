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

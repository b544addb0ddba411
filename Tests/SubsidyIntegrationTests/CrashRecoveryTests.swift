import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestRandom
import SubsidyTestSupport
import SubsidyWire
import Synchronization
import Testing

/// The real daemon killed with SIGKILL — at every step of the commit protocol and at random
/// moments under concurrent load from all districts — restarted, and checked by the independent
/// checker. `SUBSIDYD_CRASH_CYCLES=5000 swift test --filter CrashRecoveryTests` runs thousands;
/// `SUBSIDYD_SEED` replays a run's kill moments and load (the daemon's timing is its own).
@Suite("crash recovery", .serialized)
struct CrashRecoveryTests {
    static let provider = TestData.uscc(901)
    static let buyersPerDistrict = 6

    /// Registers the provider and buyers in `directory`, then stops cleanly.
    private func seed(_ directory: String) async throws {
        try await withDaemon(dataDirectory: directory) { daemon in
            let city = Bureau(try await daemon.client("city"))
            try await city.pool(Self.provider)
            for (d, district) in DaemonProcess.districts.enumerated() {
                let bureau = Bureau(try await daemon.client(district))
                for i in 0..<Self.buyersPerDistrict { try await bureau.register(Self.buyer(d, i)) }
            }
            // Shunde's own programme: its catalogue holds the provider.
            try await ProgrammeData.catalogue(Bureau(try await daemon.client("shunde")), ProgrammeData.seller)
            #expect(await daemon.terminate() == 0)
        }
    }

    static func buyer(_ district: Int, _ i: Int) -> String { TestData.uscc(3000 + district * 100 + i) }

    @Test(
        "a crash at each step of the commit protocol is recovered, and the retry returns the result",
        arguments: ["approve.after-ledger", "approve.after-district", "revoke.after-ledger", "disburse.after-ledger"]
    )
    func faultPoint(point: String) async throws {
        try await withTemporaryDirectory { directory in
            try await seed(directory)
            var daemon = try await DaemonProcess.start(dataDirectory: directory)
            let nanhai = Bureau(try await daemon.client("nanhai"))
            var city = Bureau(try await daemon.client("city"))
            let id = try await nanhai.file(TestData.voucher(enterprise: Self.buyer(1, 0), provider: Self.provider, contractFen: 20_000_000, contract: "C-\(point)"))
            if point != "approve.after-ledger" && point != "approve.after-district" {
                _ = try await city.approve(id)
                if point == "disburse.after-ledger" { _ = try await city.decide(Foshan_Subsidy_V1_CityService.Method.publicizeApplication, id, date: "2022-06-02") }
            }
            #expect(await daemon.terminate() == 0)

            daemon = try await DaemonProcess.start(dataDirectory: directory, environment: ["SUBSIDYD_CRASH_AT": point])
            city = Bureau(try await daemon.client("city"))
            var request = Foshan_Subsidy_V1_DecideApplicationRequest()
            request.requestId = "crash-\(point)"
            request.applicationId = id
            request.reason = "crash test"
            request.decisionDate = "2022-06-20"
            let expected: Foshan_Subsidy_V1_ApplicationState
            let crashed = await #expect(throws: SubsidyError.self) {
                switch point {
                case "revoke.after-ledger": _ = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.revokeApplication, request)
                case "disburse.after-ledger": _ = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.disburseApplication, request)
                default: _ = try await city.approve(id, requestID: request.requestId)
                }
            }
            #expect(crashed?.code == .unavailable)
            #expect(await daemon.waitForExit() == SIGKILL)
            switch point {
            case "revoke.after-ledger": expected = .revoked
            case "disburse.after-ledger": expected = .disbursed
            default: expected = .approved
            }
            try await withDaemon(dataDirectory: directory) { restarted in
                #expect(try LedgerChecker.violations(dataDirectory: directory, policy: LedgerWorkflowTests.policy) == [])
                city = Bureau(try await restarted.client("city"))
                let retried: Foshan_Subsidy_V1_ApplicationRecord
                switch point {
                case "revoke.after-ledger": retried = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.revokeApplication, request).record ?? Foshan_Subsidy_V1_ApplicationRecord()
                case "disburse.after-ledger": retried = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.disburseApplication, request).record ?? Foshan_Subsidy_V1_ApplicationRecord()
                default: retried = try await city.approve(id, requestID: request.requestId)
                }
                #expect(retried.state == expected)
                if point.hasPrefix("approve") { #expect(retried.awardedFen == 10_000_000) }
                #expect(try LedgerChecker.violations(dataDirectory: directory, policy: LedgerWorkflowTests.policy) == [])
            }
        }
    }

    @Test("a registration cut off by a crash after the city's index is taken over by the district's next one, with corrected details")
    func registrationCutOff() async throws {
        try await withTemporaryDirectory { directory in
            try await seed(directory)
            let uscc = TestData.uscc(9_400)
            var daemon = try await DaemonProcess.start(dataDirectory: directory, environment: ["SUBSIDYD_CRASH_AT": "register.after-ledger"])
            var nanhai = Bureau(try await daemon.client("nanhai"))
            var register = Foshan_Subsidy_V1_RegisterApplicantRequest()
            register.requestId = "register-typo"
            var applicant = Foshan_Subsidy_V1_Applicant()
            applicant.uscc = uscc
            applicant.name = "佛山市南海区云数据有限公"
            applicant.role = .industrialEnterprise
            applicant.locality = .local
            register.applicant = applicant
            let crashed = await #expect(throws: SubsidyError.self) {
                try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.registerApplicant, register)
            }
            #expect(crashed?.code == .unavailable)
            #expect(await daemon.waitForExit() == SIGKILL)
            let cutOff = try await StartupIntegrityTests.subsidyd(["--dev", "--data-dir", directory, "--check"])
            #expect(cutOff.status == 0 && cutOff.output.contains("applicants of nanhai in the city's index only") && cutOff.output.contains("1: \(uscc)"), "\(cutOff.output)")

            daemon = try await DaemonProcess.start(dataDirectory: directory)
            nanhai = Bureau(try await daemon.client("nanhai"))
            var corrected = register
            corrected.requestId = "register-corrected"
            applicant.name = "佛山市南海区云数据有限公司"
            corrected.applicant = applicant
            let registered = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.registerApplicant, corrected)
            #expect(registered.applicant?.name == "佛山市南海区云数据有限公司")
            let city = Bureau(try await daemon.client("city"))
            var show = Foshan_Subsidy_V1_GetApplicantRequest()
            show.uscc = uscc
            #expect(try await city.client.call(Foshan_Subsidy_V1_CityService.Method.getApplicant, show).applicant?.name == "佛山市南海区云数据有限公司")
            let stale = await #expect(throws: SubsidyError.self) {
                try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.registerApplicant, register)
            }
            #expect(stale?.code == .alreadyExists)
            let verified = try await runCtl(["--data-dir", directory, "audit", "verify"])
            #expect(verified.status == 0, "\(verified.output)")
            #expect(await daemon.terminate() == 0)
            let completed = try await StartupIntegrityTests.subsidyd(["--dev", "--data-dir", directory, "--check"])
            #expect(completed.status == 0 && !completed.output.contains("index only"), "\(completed.output)")
        }
    }

    @Test("a district step that fails without a crash is completed before the application is touched again")
    func failedDistrictStep() async throws {
        try await withTemporaryDirectory { directory in
            try await seed(directory)
            try await withDaemon(dataDirectory: directory, environment: ["SUBSIDYD_CRASH_AT": "fail:approve.after-ledger"]) { daemon in
                let nanhai = Bureau(try await daemon.client("nanhai"))
                let city = Bureau(try await daemon.client("city"))
                let id = try await nanhai.file(TestData.voucher(enterprise: Self.buyer(1, 1), provider: Self.provider, contractFen: 20_000_000, contract: "F-1"))
                let failed = await #expect(throws: SubsidyError.self) { try await city.approve(id) }
                #expect(failed?.code == .internal)
                // The ledger holds the commitment; the district still says RECOMMENDED. A withdrawal now
                // must not strand the commitment: the approval is completed first, so it is refused.
                var withdraw = Foshan_Subsidy_V1_WithdrawApplicationRequest()
                withdraw.requestId = "withdraw-after-failure"
                withdraw.applicationId = id
                let refused = await #expect(throws: SubsidyError.self) { try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.withdrawApplication, withdraw) }
                #expect(refused?.code == .failedPrecondition)
                var get = Foshan_Subsidy_V1_GetApplicationRequest()
                get.applicationId = id
                let record = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.getApplication, get).record
                #expect(record?.state == .approved)
                #expect(record?.awardedFen == 10_000_000)
                // Completed from the ledger, but recorded as the city's decision, by the peer who made it.
                #expect(record?.history.last?.tenant == "city")
                #expect(record?.history.last?.actorUid == getuid())
                #expect(try LedgerChecker.violations(dataDirectory: directory, policy: LedgerWorkflowTests.policy) == [])
            }
        }
    }

    @Test("SIGKILL at random moments under load from every district never breaks an invariant")
    func randomKills() async throws {
        try await withTemporaryDirectory { directory in
            let cycles = Int(ProcessInfo.processInfo.environment["SUBSIDYD_CRASH_CYCLES"] ?? "") ?? 100
            var random = TestSeed.generator("CrashRecovery.randomKills")
            try await seed(directory)
            let points = ["approve.after-ledger", "approve.after-district", "revoke.after-ledger", "disburse.after-ledger"]
            var approvedSeen = 0
            let acknowledged = Acknowledged()
            for cycle in 0..<cycles {
                // One cycle in four arms a protocol step; the others are killed from outside.
                let armed = cycle % 4 == 3 ? points[(cycle / 4) % points.count] : nil
                let daemon = try await DaemonProcess.start(dataDirectory: directory, environment: armed.map { ["SUBSIDYD_CRASH_AT": $0] } ?? [:])
                let violations = try LedgerChecker.violations(dataDirectory: directory, policy: LedgerWorkflowTests.policy)
                #expect(violations == [], "after restart \(cycle): \(violations) (\(TestSeed.replay))")
                // Shunde's own programme: its totals, caps and states agree, and every approval it
                // acknowledged before a kill is still there.
                let district = try DistrictProgrammeChecker.check(dataDirectory: directory)
                #expect(district.problems == [], "after restart \(cycle): \(district.problems) (\(TestSeed.replay))")
                let kept = try DistrictProgrammeChecker.committedApplications(dataDirectory: directory, district: "shunde")
                let lost = acknowledged.ids.subtracting(kept)
                #expect(lost.isEmpty, "after restart \(cycle): acknowledged Shunde approvals lost: \(lost.sorted()) (\(TestSeed.replay))")
                if !violations.isEmpty || !district.problems.isEmpty || !lost.isEmpty { break }
                let loadRandom = random.derived("load \(cycle)")
                let load = Task { await Self.load(daemon: daemon, cycle: cycle, random: loadRandom, acknowledged: acknowledged) }
                try await Task.sleep(for: .milliseconds(Int.random(in: 20...200, using: &random)))
                await daemon.crash()
                approvedSeen += await load.value
            }
            try await withDaemon(dataDirectory: directory) { final in
                #expect(try LedgerChecker.violations(dataDirectory: directory, policy: LedgerWorkflowTests.policy) == [], "\(TestSeed.replay)")
                let quota = try await Bureau(try await final.client("city")).quota(year: 2022)
                #expect(quota.caps.allSatisfy { $0.committed <= $0.limit })
                #expect(approvedSeen > 0, "the load never got an approval through")
                #expect(!acknowledged.ids.isEmpty, "Shunde never got an approval of its own programme through")
                #expect(try DistrictProgrammeChecker.check(dataDirectory: directory).problems == [], "\(TestSeed.replay)")
                #expect(await final.terminate() == 0)
            }
            // The daemon's own check agrees after every kill: no disagreement, and every
            // maintained total (the city's caps and consumers, Shunde's programme, the calls)
            // equal to its records.
            let check = try await StartupIntegrityTests.subsidyd(["--dev", "--data-dir", directory, "--check"])
            #expect(check.status == 0, "\(check.output)\(check.error) (\(TestSeed.replay))")
        }
    }

    /// Every district files and reviews while the city approves, publicizes, disburses and
    /// revokes, until the daemon dies. Returns how many approvals were acknowledged. Each task
    /// draws from its own generator derived from `random`.
    private static func load(daemon: DaemonProcess, cycle: Int, random: SplitMix64, acknowledged: Acknowledged) async -> Int {
        await withTaskGroup(of: Int.self) { group in
            // Shunde files under its own programme and decides it, beside everything else.
            let shundeSeed = random.derived("shunde programme")
            group.addTask {
                var random = shundeSeed
                guard let shunde = try? Bureau(await daemon.client("shunde"), filingOn: "2022-01-04") else { return 0 }
                for n in 0..<30 {
                    let buyer = buyer(2, Int.random(in: 0..<buyersPerDistrict, using: &random))
                    let year = Int32.random(in: 2022...2025, using: &random)
                    let application = ProgrammeData.cloudUse(
                        buyer, spendFen: Int64.random(in: 1...40, using: &random) * 5_000_000, revenueFen: 8_000_000_000,
                        contract: "S-\(cycle)-\(n)", year: year)
                    do {
                        let id = try await shunde.file(application)
                        let approved = try await ProgrammeData.approveOwn(shunde, id, date: "\(year)-06-01")
                        acknowledged.insert(approved.id)
                        if Int.random(in: 0..<3, using: &random) == 0 {
                            _ = try await shunde.decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.revokeApplication, id, reason: "random revoke")
                        }
                    } catch let error as SubsidyError where error.code == .unavailable {
                        return 0
                    } catch {
                        continue
                    }
                }
                return 0
            }
            for (d, district) in DaemonProcess.districts.enumerated() {
                let seed = random.derived(district)
                group.addTask {
                    var random = seed
                    guard let bureau = try? Bureau(await daemon.client(district)) else { return 0 }
                    for n in 0..<50 {
                        let buyer = buyer(d, Int.random(in: 0..<buyersPerDistrict, using: &random))
                        let application = TestData.voucher(
                            enterprise: buyer, provider: provider, contractFen: Int64.random(in: 1...40, using: &random) * 2_500_000,
                            contract: "K-\(cycle)-\(district)-\(n)"
                        )
                        do { _ = try await bureau.file(application) } catch { return 0 }
                    }
                    return 0
                }
            }
            for c in 0..<2 {
                let seed = random.derived("city \(c)")
                group.addTask {
                    var random = seed
                    guard let city = try? Bureau(await daemon.client("city")) else { return 0 }
                    var approved = 0
                    for _ in 0..<50 {
                        var request = Foshan_Subsidy_V1_ListApplicationsRequest()
                        request.state = .recommended
                        request.pageSize = 10
                        guard let page = try? await city.client.call(Foshan_Subsidy_V1_CityService.Method.listApplications, request) else { return approved }
                        for record in page.records {
                            do {
                                let result = try await city.approve(record.id)
                                approved += 1
                                switch Int.random(in: 0..<4, using: &random) {
                                case 0: _ = try await city.decide(Foshan_Subsidy_V1_CityService.Method.revokeApplication, result.id, reason: "random revoke")
                                case 1:
                                    _ = try await city.decide(Foshan_Subsidy_V1_CityService.Method.publicizeApplication, result.id, date: "2022-06-02")
                                    _ = try await city.decide(Foshan_Subsidy_V1_CityService.Method.disburseApplication, result.id, date: "2022-06-20")
                                default: break
                                }
                            } catch let error as SubsidyError where error.code == .unavailable {
                                return approved
                            } catch {
                                continue
                            }
                        }
                        try? await Task.sleep(for: .milliseconds(5))
                    }
                    return approved
                }
            }
            var total = 0
            for await n in group { total += n }
            return total
        }
    }
}

/// Approvals acknowledged to a client, across kills (the load's tasks add to it concurrently).
final class Acknowledged: Sendable {
    private let members = Mutex<Set<String>>([])

    func insert(_ id: String) { members.withLock { _ = $0.insert(id) } }

    var ids: Set<String> { members.withLock { $0 } }
}

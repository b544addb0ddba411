import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// The system of record through the real daemon: the lifecycle, the commit protocol's
/// guarantees, idempotency, imports and the audit chain.
@Suite("ledger and lifecycle")
struct LedgerWorkflowTests {
    static let provider = TestData.uscc(900)

    /// A daemon with one registered provider in the pool and `count` buyers in each district.
    func prepared<T>(
        isolation: isolated (any Actor)? = #isolation,
        buyersPerDistrict count: Int = 2,
        _ test: (DaemonProcess, _ city: Bureau, _ districts: [String: Bureau], _ buyers: [String: [String]]) async throws -> T
    ) async throws -> T {
        try await withDaemon { daemon in
            let city = Bureau(try await daemon.client("city"))
            try await city.pool(Self.provider)
            var districts: [String: Bureau] = [:]
            var buyers: [String: [String]] = [:]
            for (d, name) in DaemonProcess.districts.enumerated() {
                let bureau = Bureau(try await daemon.client(name))
                if name == "chancheng" { try await bureau.register(Self.provider, role: .serviceProvider) }
                buyers[name] = []
                for i in 0..<count {
                    let uscc = TestData.uscc(1000 + d * 100 + i)
                    try await bureau.register(uscc)
                    buyers[name]!.append(uscc)
                }
                districts[name] = bureau
            }
            return try await test(daemon, city, districts, buyers)
        }
    }

    @Test("submit → review → approve → publicize → disburse, and a revoke; quota shows the effect")
    func fullWorkflow() async throws {
        try await prepared { daemon, city, districts, buyers in
            let nanhai = districts["nanhai"]!
            let first = try await nanhai.file(TestData.voucher(enterprise: buyers["nanhai"]![0], provider: Self.provider, contractFen: 60_000_000, contract: "W-1"))
            let second = try await nanhai.file(TestData.voucher(enterprise: buyers["nanhai"]![1], provider: Self.provider, contractFen: 40_000_000, contract: "W-2"))

            let approved = try await city.approve(first)
            #expect(approved.state == .approved)
            #expect(approved.awardedFen == 30_000_000)
            #expect(approved.explanation?.limits.contains { $0.kind == "formula" && $0.binding } == true)
            let backdated = await #expect(throws: SubsidyError.self) {
                try await city.decide(Foshan_Subsidy_V1_CityService.Method.publicizeApplication, first, date: "2022-05-01")
            }
            #expect(backdated?.code == .invalidArgument)
            #expect(try await city.decide(Foshan_Subsidy_V1_CityService.Method.publicizeApplication, first, date: "2022-06-02").state == .publicized)
            let early = await #expect(throws: SubsidyError.self) {
                try await city.decide(Foshan_Subsidy_V1_CityService.Method.disburseApplication, first, date: "2022-06-05")
            }
            #expect(early?.code == .failedPrecondition)
            let disbursed = try await city.decide(Foshan_Subsidy_V1_CityService.Method.disburseApplication, first, date: "2022-06-09")
            #expect(disbursed.state == .disbursed)
            #expect(disbursed.history.map(\.toState) == [.submitted, .recommended, .approved, .publicized, .disbursed])
            #expect(disbursed.history.last?.tenant == "city")
            #expect(disbursed.history.last?.actorUid == getuid())

            _ = try await city.approve(second)
            var quota = try await city.quota(year: 2022)
            #expect(quota.committed("CLOUD_VOUCHER.annual_budget", "2022") == 50_000_000)
            let revoked = try await city.decide(Foshan_Subsidy_V1_CityService.Method.revokeApplication, second, reason: "contract cancelled")
            #expect(revoked.state == .revoked)
            quota = try await city.quota(year: 2022)
            #expect(quota.committed("CLOUD_VOUCHER.annual_budget", "2022") == 30_000_000)
            #expect(quota.committed("CLOUD_VOUCHER.per_provider", "2022/\(Self.provider)") == 30_000_000)
            #expect(quota.districts.first { $0.id == "nanhai" }?.committedFen == 30_000_000)

            // An illegal transition names the current state.
            let illegal = await #expect(throws: SubsidyError.self) { try await city.approve(first) }
            #expect(illegal?.code == .failedPrecondition)
            #expect(illegal?.message.contains("DISBURSED") == true)
            let audit = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.verifyAudit, Foshan_Subsidy_V1_VerifyAuditRequest())
            #expect(audit.chains.count == 6 && audit.chains.allSatisfy(\.ok))
            #expect(try LedgerChecker.violations(dataDirectory: daemon.dataDirectory, policy: Self.policy).isEmpty)
        }
    }

    @Test("subsidyctl quote: a 1,200,000-yuan voucher for an enterprise with 300,000 this year gets 200,000.00, bound by the per-enterprise cap")
    func quoteDoneWhen() async throws {
        try await prepared(buyersPerDistrict: 1) { daemon, city, districts, buyers in
            let buyer = buyers["shunde"]![0]
            let earlier = try await districts["shunde"]!.file(TestData.voucher(enterprise: buyer, provider: Self.provider, contractFen: 60_000_000, contract: "Q-1"))
            #expect(try await city.approve(earlier).awardedFen == 30_000_000)

            let file = daemon.dataDirectory + "/quote.json"
            let application = TestData.voucher(enterprise: buyer, provider: Self.provider, contractFen: 120_000_000, contract: "Q-2")
            try application.jsonValue.serialized(pretty: true).write(toFile: file, atomically: true, encoding: .utf8)
            let human = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "shunde", "quote", "--file", file, "--decision-date", "2022-07-01"])
            #expect(human.status == 0, "\(human.error)")
            #expect(human.output.contains("Award: 200,000.00 yuan (20000000 fen), bound by the per-enterprise cap"))
            let json = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "shunde", "--json", "quote", "--file", file, "--decision-date", "2022-07-01"])
            let explanation = try JSONValue.parse(json.output)["explanation"]
            #expect(explanation?["awardFen"] == .string("20000000"))
            // A quote consumes nothing.
            #expect(try await city.quota(year: 2022).committed("CLOUD_VOUCHER.per_enterprise", "2022/\(buyer)") == 30_000_000)
        }
    }

    @Test("five districts race for the last 500,000 of the 20,000,000-yuan voucher budget")
    func raceForBudget() async throws {
        try await prepared(buyersPerDistrict: 2) { daemon, city, districts, buyers in
            // 39 earlier awards of 500,000 to other enterprises leave 500,000 of the 2022 budget.
            let earlier = (0..<39).map { i in
                historical(.cloudVoucher, district: DaemonProcess.districts[i % 5], enterprise: TestData.uscc(5000 + i), provider: TestData.uscc(6000 + i), amountFen: 50_000_000, document: "佛工信〔2022〕\(i)号")
            }
            #expect(try await city.importAwards(earlier).imported == 39)
            let results = try await race(daemon: daemon, districts: districts) { district, i in
                TestData.voucher(enterprise: buyers[district]![i], provider: Self.provider, contractFen: 60_000_000, contract: "R-\(district)-\(i)")
            }
            let quota = try await city.quota(year: 2022)
            #expect(quota.committed("CLOUD_VOUCHER.annual_budget", "2022") == 2_000_000_000)
            #expect(results.awarded.reduce(0, +) == 50_000_000)
            #expect(results.exhausted == 10 - results.awarded.count)
            #expect(try LedgerChecker.violations(dataDirectory: daemon.dataDirectory, policy: Self.policy).isEmpty)
        }
    }

    @Test("five districts race for the last 200,000 of one provider's 3,000,000-yuan cap")
    func raceForProviderCap() async throws {
        try await prepared(buyersPerDistrict: 2) { daemon, city, districts, buyers in
            let earlier = (0..<7).map { i in
                historical(.cloudVoucher, district: "chancheng", enterprise: TestData.uscc(7000 + i), provider: Self.provider, amountFen: 40_000_000, document: "佛工信〔2022〕P\(i)号")
            }
            #expect(try await city.importAwards(earlier).imported == 7)
            let results = try await race(daemon: daemon, districts: districts) { district, i in
                TestData.voucher(enterprise: buyers[district]![i], provider: Self.provider, contractFen: 30_000_000, contract: "P-\(district)-\(i)")
            }
            let quota = try await city.quota(year: 2022)
            #expect(quota.committed("CLOUD_VOUCHER.per_provider", "2022/\(Self.provider)") == 300_000_000)
            #expect(results.awarded.reduce(0, +) == 20_000_000)
            #expect(results.exhausted == 10 - results.awarded.count)
            #expect(try LedgerChecker.violations(dataDirectory: daemon.dataDirectory, policy: Self.policy).isEmpty)
        }
    }

    @Test("five districts race for the last 2 of the 30 benchmark projects")
    func raceForProjectCount() async throws {
        try await prepared(buyersPerDistrict: 2) { daemon, city, districts, buyers in
            var earlier = (0..<28).map { i in
                historical(.benchmarkProject, district: DaemonProcess.districts[i % 5], enterprise: TestData.uscc(8000 + i), amountFen: 100_000_000, document: "佛工信〔2022〕B\(i)号")
            }
            earlier[0].contractNumber = ""
            #expect(try await city.importAwards(earlier).imported == 28)
            let results = try await race(daemon: daemon, districts: districts) { district, i in
                TestData.benchmark(enterprise: buyers[district]![i], investedFen: 500_000_000, name: "标杆 \(district) \(i)")
            }
            #expect(results.awarded.count == 2)
            #expect(results.exhausted == 8)
            #expect(try await city.quota(year: 2022).committed("BENCHMARK_PROJECT.annual_count", "2022") == 30)
            #expect(try LedgerChecker.violations(dataDirectory: daemon.dataDirectory, policy: Self.policy).isEmpty)
        }
    }

    /// Every district files two applications; then one city connection per district approves
    /// its district's applications, all at once.
    private func race(
        daemon: DaemonProcess, districts: [String: Bureau], _ make: @Sendable (String, Int) -> Foshan_Subsidy_V1_Application
    ) async throws -> (awarded: [Int64], exhausted: Int) {
        var filed: [(String, String)] = []
        for district in DaemonProcess.districts {
            for i in 0..<2 { filed.append((district, try await districts[district]!.file(make(district, i)))) }
        }
        var approvers: [String: Bureau] = [:]
        for district in DaemonProcess.districts { approvers[district] = Bureau(try await daemon.client("city")) }
        let outcomes = try await withThrowingTaskGroup(of: Result<Int64, SubsidyError>.self) { group in
            for (district, id) in filed {
                let approver = approvers[district]!
                group.addTask {
                    do {
                        return .success(try await approver.approve(id).awardedFen)
                    } catch let error as SubsidyError {
                        return .failure(error)
                    }
                }
            }
            var outcomes: [Result<Int64, SubsidyError>] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        var awarded: [Int64] = []
        var exhausted = 0
        for outcome in outcomes {
            switch outcome {
            case .success(let fen): awarded.append(fen)
            case .failure(let error):
                #expect(error.code == .resourceExhausted, "\(error)")
                #expect(!error.details.isEmpty)
                exhausted += 1
            }
        }
        return (awarded, exhausted)
    }

    @Test("a retried request id returns the first result; the same id with other content is refused, in another district's file too")
    func idempotency() async throws {
        try await prepared(buyersPerDistrict: 1) { daemon, city, districts, buyers in
            let gaoming = districts["gaoming"]!
            let application = TestData.voucher(enterprise: buyers["gaoming"]![0], provider: Self.provider, contractFen: 10_000_000, contract: "I-1")
            let first = try await gaoming.submit(application, requestID: "same-id")
            let again = try await gaoming.submit(application, requestID: "same-id")
            #expect(first == again)
            var other = application
            other.contractNumber = "I-2"
            let reused = await #expect(throws: SubsidyError.self) { try await gaoming.submit(other, requestID: "same-id") }
            #expect(reused?.code == .alreadyExists)
            try await gaoming.recommend(first.id)
            let approved = try await city.approve(first.id, requestID: "approve-1")

            // After a crash and restart, the retry still returns the first result.
            await daemon.crash()
            try await withDaemon(dataDirectory: daemon.dataDirectory) { restarted in
                let city2 = Bureau(try await restarted.client("city"))
                #expect(try await city2.approve(first.id, requestID: "approve-1") == approved)
                let list = try await Bureau(try await restarted.client("gaoming")).client.call(Foshan_Subsidy_V1_DistrictService.Method.listApplications, Foshan_Subsidy_V1_ListApplicationsRequest())
                #expect(list.records.count == 1)
                // The city's id names one request in every district's file, also after the crash.
                let nanhai = Bureau(try await restarted.client("nanhai"))
                let elsewhere = try await nanhai.file(
                    TestData.voucher(enterprise: buyers["nanhai"]![0], provider: Self.provider, contractFen: 10_000_000, contract: "I-3"))
                let reusedElsewhere = await #expect(throws: SubsidyError.self) { try await city2.approve(elsewhere, requestID: "approve-1") }
                #expect(reusedElsewhere?.code == .alreadyExists)
                #expect(try await city2.approve(elsewhere).state == .approved)
            }
        }
    }

    @Test("a contract funded in one district is not funded again in another through a blank or a lookalike letter in its number")
    func invisibleRespellings() async throws {
        try await prepared(buyersPerDistrict: 1) { _, city, districts, buyers in
            let nanhai = districts["nanhai"]!, chancheng = districts["chancheng"]!
            let funded = try await nanhai.file(
                TestData.voucher(enterprise: buyers["nanhai"]![0], provider: Self.provider, contractFen: 10_000_000, contract: "HT-2022-483021"))
            #expect(try await city.approve(funded).state == .approved)
            // Blank to every screen (Braille blank, null notehead, private use, a loose mark):
            // the same contract, refused as funded.
            for blank in ["\u{2800}", "\u{1D159}", "\u{E000}", "\u{20DD}"] {
                for contract in ["HT-2022-483021" + blank, blank + "HT-2022-483021", "HT-2022-483" + blank + "021"] {
                    let application = TestData.voucher(enterprise: buyers["chancheng"]![0], provider: Self.provider, contractFen: 10_000_000, contract: contract)
                    let refused = await #expect(throws: SubsidyError.self, "\(contract.debugDescription)") { _ = try await chancheng.submit(application) }
                    #expect(refused?.code == .failedPrecondition && refused?.message.contains(funded) == true, "\(String(describing: refused))")
                }
            }
            // Letters of other scripts that pass for H and T are refused as input, naming the field.
            var cyrillic = TestData.voucher(enterprise: buyers["chancheng"]![0], provider: Self.provider, contractFen: 10_000_000, contract: "\u{041D}\u{0422}-2022-483021")
            cyrillic.projectName = "设备上云"
            let refused = await #expect(throws: SubsidyError.self) { _ = try await chancheng.submit(cyrillic) }
            #expect(refused?.code == .invalidArgument && refused?.message.contains("application.contract_number") == true, "\(String(describing: refused))")
        }
    }

    @Test("imports are validated, idempotent, and count against caps and one-time rules")
    func historicalImport() async throws {
        try await prepared(buyersPerDistrict: 0) { daemon, city, _, _ in
            let awards = [
                historical(.poolEntry, district: "sanshui", enterprise: TestData.uscc(950), amountFen: 10_000_000, document: "佛工信〔2021〕1号", year: 2021),
                historical(.cloudVoucher, district: "sanshui", enterprise: TestData.uscc(951), provider: Self.provider, amountFen: 25_000_000, document: "佛工信〔2021〕2号", year: 2021),
            ]
            #expect(try await city.importAwards(awards).imported == 2)
            let again = try await city.importAwards(awards)
            #expect(again.imported == 0 && again.alreadyPresent == 2)
            var bad = awards[1]
            bad.enterpriseUscc = "91440604000000019X"
            let refused = await #expect(throws: SubsidyError.self) { try await city.importAwards([bad]) }
            #expect(refused?.code == .invalidArgument)
            #expect(refused?.message.hasPrefix("request.awards[0].enterprise_uscc") == true)
            // Every bad row of a file is named in one refusal, each with its field; nothing is imported.
            var late = awards[0]
            late.decisionDocument = ""
            let both = await #expect(throws: SubsidyError.self) { try await city.importAwards([bad, awards[1], late]) }
            #expect(both?.code == .invalidArgument && both?.message.components(separatedBy: "\n").count == 2, "\(both?.message ?? "")")
            #expect(both?.message.contains("request.awards[0].enterprise_uscc") == true && both?.message.contains("request.awards[2].decision_document") == true,
                    "\(both?.message ?? "")")
            #expect(both?.details.compactMap { if case .field(let path, _) = $0 { path } else { nil } }
                    == ["request.awards[0].enterprise_uscc", "request.awards[2].decision_document"])
            let quota = try await city.quota(year: 2021)
            #expect(quota.committed("CLOUD_VOUCHER.annual_budget", "2021") == 25_000_000)
            #expect(quota.committed("POOL_ENTRY.annual_count", "2021") == 1)
            // The imported pool entry is a pool member now, and its one-time rule is used.
            func member() async throws -> Foshan_Subsidy_V1_PoolMember? {
                let members = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.listPoolMembers, Foshan_Subsidy_V1_ListPoolMembersRequest())
                return members.members.first { $0.uscc == TestData.uscc(950) }
            }
            #expect(try await member()?.entryDate == "2021-03-15")

            // Revoked (imported in error), the entry takes its provider out of the pool: a voucher
            // for its products is no longer approved.
            let entry = again.applicationIds[0]
            let revoke = Foshan_Subsidy_V1_CityService.Method.revokeApplication
            #expect(try await city.decide(revoke, entry, date: "2022-01-10", reason: "USCC 录错").state == .revoked)
            #expect(try await member() == nil)
            let sanshui = Bureau(try await daemon.client("sanshui"))
            let (provider, buyer) = (TestData.uscc(950), TestData.uscc(952))
            try await sanshui.register(provider, role: .serviceProvider)
            try await sanshui.register(buyer)
            let voucher = try await sanshui.file(TestData.voucher(enterprise: buyer, provider: provider, contractFen: 10_000_000, contract: "POOL-950"))
            let outside = await #expect(throws: SubsidyError.self) { try await city.approve(voucher) }
            #expect(outside?.code == .failedPrecondition && outside?.message.contains("eligibility") == true, "\(outside?.message ?? "")")
            // The corrected entry, decided later, puts it back from its own date.
            var corrected = awards[0]
            corrected.decisionDate = "2021-06-15"
            #expect(try await city.importAwards([corrected]).imported == 1)
            #expect(try await member()?.entryDate == "2021-06-15")
            #expect(try await city.approve(voucher).state == .approved)
        }
    }

    @Test("an imported row is named by its id, taken back by revoke and imported corrected; two projects of one decision are two awards")
    func importCorrection() async throws {
        try await prepared(buyersPerDistrict: 0) { daemon, city, districts, _ in
            let revokeMethod = Foshan_Subsidy_V1_CityService.Method.revokeApplication
            var wrong = historical(.publicService, district: "shunde", enterprise: TestData.uscc(962), amountFen: 12_000_000, document: "佛工信〔2021〕11号", year: 2021)
            wrong.projectName = "IIoT 公共服务平台"
            // The same decision, enterprise and amount, another project: the first releases'
            // identity (no project name) made it "already present", so it was never counted.
            var other = wrong
            other.projectName = "IIoT 安全服务平台"
            let first = try await city.importAwards([wrong, other])
            #expect(first.imported == 2 && first.alreadyPresent == 0)
            #expect(first.applicationIds.count == 2 && Set(first.applicationIds).count == 2)
            #expect(first.applicationIds.allSatisfy { $0.hasPrefix("import-") })
            // Each finds its own id again, in either order, and a respelled project is the same one.
            let reordered = try await city.importAwards([other, wrong])
            #expect(reordered.imported == 0 && reordered.applicationIds == Array(first.applicationIds.reversed()))
            var respelled = wrong
            respelled.projectName = " ＩＩｏＴ　公共服务平台 "
            #expect(try await city.importAwards([respelled]).applicationIds == [first.applicationIds[0]])
            // Alone, a row of that identity with another project is most likely a correction:
            // not counted beside the award it would correct.
            var renamed = wrong
            renamed.projectName = "IIoT 公共服务平台（二期）"
            let lone = await #expect(throws: SubsidyError.self) { try await city.importAwards([renamed]) }
            #expect(lone?.code == .failedPrecondition && lone?.message.contains("has the identity of \(first.applicationIds[0])") == true, "\(lone?.message ?? "")")
            #expect(try await city.quota(year: 2021).committed("PUBLIC_SERVICE.annual_budget", "2021") == 24_000_000)
            // Shown by its id, as the ledger holds it (no district holds an imported award).
            func shown(_ id: String) async throws -> Foshan_Subsidy_V1_ApplicationRecord? {
                var get = Foshan_Subsidy_V1_GetApplicationRequest()
                get.applicationId = id
                return try await city.client.call(Foshan_Subsidy_V1_CityService.Method.getApplication, get).record
            }
            let imported = try #require(try await shown(first.applicationIds[0]))
            #expect(imported.state == .approved && imported.awardedFen == 12_000_000 && imported.decisionDocument == "佛工信〔2021〕11号"
                    && imported.application?.projectName == wrong.projectName && imported.district == "shunde", "\(imported)")
            let missing = await #expect(throws: SubsidyError.self) { try await shown("import-00000000000000000000") }
            #expect(missing?.code == .notFound)
            let byCtl = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "city", "show", first.applicationIds[0]])
            #expect(byCtl.status == 0 && byCtl.output.contains("IIoT 公共服务平台") && byCtl.output.contains("120,000.00"), "\(byCtl.output)\(byCtl.error)")

            // The first row's amount was mistyped: take it back.
            let revoked = try await city.decide(revokeMethod, first.applicationIds[0], date: "2023-12-01", reason: "amount mistyped")
            #expect(revoked.id == first.applicationIds[0] && revoked.state == .revoked && revoked.district == "shunde")
            #expect(revoked.awardedFen == 12_000_000 && revoked.application?.projectName == wrong.projectName)
            #expect(revoked.application?.measure == .publicService && revoked.application?.enterpriseUscc == wrong.enterpriseUscc)
            #expect(revoked.history.count == 1 && revoked.history[0].reason == "amount mistyped" && revoked.history[0].decisionDate == "2023-12-01")
            let shownRevoked = try await shown(first.applicationIds[0])
            #expect(shownRevoked?.state == .revoked && shownRevoked?.history.first?.reason == "amount mistyped"
                    && shownRevoked?.history.first?.tenant == "city" && shownRevoked?.application?.programme == "foshan-2020", "\(String(describing: shownRevoked))")
            #expect(try await city.quota(year: 2021).committed("PUBLIC_SERVICE.annual_budget", "2021") == 12_000_000)
            let twice = await #expect(throws: SubsidyError.self) { try await city.decide(revokeMethod, first.applicationIds[0]) }
            #expect(twice?.code == .failedPrecondition)
            let early = await #expect(throws: SubsidyError.self) { try await city.decide(revokeMethod, first.applicationIds[1], date: "2021-01-01") }
            #expect(early?.code == .invalidArgument && early?.message.hasPrefix("request.decision_date") == true)
            let unknown = await #expect(throws: SubsidyError.self) { try await city.decide(revokeMethod, "import-00000000000000000000") }
            #expect(unknown?.code == .notFound)
            // A district's own programme cannot take back the city's import.
            let byDistrict = await #expect(throws: SubsidyError.self) {
                try await districts["shunde"]!.decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.revokeApplication, first.applicationIds[1])
            }
            #expect(byDistrict?.code == .notFound)

            // The unchanged row again is refused, naming it; nothing of that request is imported.
            let again = await #expect(throws: SubsidyError.self) { try await city.importAwards([other, wrong]) }
            #expect(again?.code == .failedPrecondition)
            #expect(again?.message.hasPrefix("request.awards[1]: was imported as \(first.applicationIds[0]) and revoked") == true, "\(again?.message ?? "")")
            // The corrected row is a new award; the other row is still present.
            var corrected = wrong
            corrected.amountFen = 1_200_000
            let fixed = try await city.importAwards([corrected, other])
            #expect(fixed.imported == 1 && fixed.alreadyPresent == 1)
            #expect(fixed.applicationIds[1] == first.applicationIds[1] && !first.applicationIds.contains(fixed.applicationIds[0]))
            #expect(try await city.quota(year: 2021).committed("PUBLIC_SERVICE.annual_budget", "2021") == 13_200_000)
            // Once the award it would correct is revoked, a row of that identity with another
            // project is imported (a correction of the project name).
            #expect(try await city.importAwards([renamed]).imported == 1)
            #expect(try await city.quota(year: 2021).committed("PUBLIC_SERVICE.annual_budget", "2021") == 25_200_000)

            // The revocation is in the event log.
            var watch = Foshan_Subsidy_V1_WatchEventsRequest()
            watch.fromStart = true
            var states: [String: [Foshan_Subsidy_V1_ApplicationState]] = [:]
            for try await event in try await daemon.client("city").stream(Foshan_Subsidy_V1_CityService.Method.watchEvents, watch) {
                states[event.applicationId, default: []].append(event.state)
                if event.applicationId == fixed.applicationIds[0] { break }
            }
            #expect(states[first.applicationIds[0]] == [.approved, .revoked])
            #expect(try LedgerChecker.violations(dataDirectory: daemon.dataDirectory, policy: Self.policy).isEmpty)
        }
    }

    @Test("an edited, deleted or reordered audit row is detected", arguments: ["edit", "delete", "reorder", "truncate"])
    func auditTampering(kind: String) async throws {
        try await prepared(buyersPerDistrict: 1) { daemon, city, districts, buyers in
            let id = try await districts["chancheng"]!.file(TestData.voucher(enterprise: buyers["chancheng"]![0], provider: Self.provider, contractFen: 10_000_000, contract: "A-1"))
            _ = try await city.approve(id)
            #expect(await daemon.terminate() == 0)
            let file = daemon.dataDirectory + "/districts/chancheng.sqlite"
            switch kind {
            case "edit": try ReadOnlyDatabase.execute(path: file, #"UPDATE audit SET event = replace(event, '"tenant":"', '"tenant":"someone-') WHERE seq = 3"#)
            case "delete": try ReadOnlyDatabase.execute(path: file, "DELETE FROM audit WHERE seq = 2")
            case "reorder":
                try ReadOnlyDatabase.execute(path: file, """
                    UPDATE audit SET seq = -1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = -1;
                    """)
            default: try ReadOnlyDatabase.execute(path: file, "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)")
            }
            try await withDaemon(dataDirectory: daemon.dataDirectory) { restarted in
                let result = try await runCtl(["--data-dir", restarted.dataDirectory, "audit", "verify"])
                #expect(result.status == 3)
                #expect(result.output.contains("chancheng  BROKEN  at row"))
                #expect(result.output.contains("ledger     ok"))
            }
        }
    }

    @Test("subsidyctl submit from flags, amounts in yuan")
    func submitFromFlags() async throws {
        try await prepared(buyersPerDistrict: 1) { daemon, _, _, buyers in
            let submit = [
                "--data-dir", daemon.dataDirectory, "--as", "sanshui", "--json", "submit", "--measure", "CLOUD_VOUCHER", "--year", "2022",
                "--enterprise", buyers["sanshui"]![0], "--provider", Self.provider, "--contract-number", "F-1", "--project-name", "设备上云",
                "--contract-amount", "1,200,000", "--paid-amount", "1199999.99",
            ]
            let result = try await runCtl(submit)
            #expect(result.status == 0, "\(result.error)")
            let record = try JSONValue.parse(result.output)["record"]
            #expect(record?["state"] == .string("SUBMITTED"))
            #expect(record?["application"]?["paidAmountFen"] == .string("119999999"))
            // The same command again (a clerk retrying after a timeout) is a retry: the same
            // application, not a second one of which only one could be funded.
            let again = try await runCtl(submit)
            #expect(again.status == 0, "\(again.error)")
            let replayed = try JSONValue.parse(again.output)["record"]
            #expect(replayed?["id"] == record?["id"], "\(again.output)")
            let bad = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "sanshui", "submit", "--measure", "CLOUD_VOUCHER", "--year", "2022",
                                  "--enterprise", buyers["sanshui"]![0], "--contract-amount", "1.5e6"])
            #expect(bad.status != 0)
            #expect(bad.error.contains("--contract-amount"))
        }
    }

    @Test("a store written by a newer subsidyd is refused at start-up with a clear error")
    func newerSchemaRefused() async throws {
        try await withDaemon { daemon in
            #expect(await daemon.terminate() == 0)
            try ReadOnlyDatabase.execute(path: daemon.dataDirectory + "/districts/shunde.sqlite", "PRAGMA user_version = 99")
            let result = try await run(DaemonProcess.productsDirectory + "/subsidyd", ["--dev", "--data-dir", daemon.dataDirectory])
            #expect(result.status == 2)
            #expect(result.error.contains(/shunde\.sqlite has schema version 99, but this subsidyd understands only up to [0-9]+; use a newer subsidyd/))
        }
    }

    @Test("subsidyctl import reads CSV too, amounts in yuan, and names the line of a bad row")
    func csvImport() async throws {
        try await prepared(buyersPerDistrict: 0) { daemon, city, _, _ in
            let file = daemon.dataDirectory + "/history.csv"
            let csv = """
                measure,year,district,enterprise,provider,amount,decision_date,document,contract,base
                CLOUD_VOUCHER,2021,nanhai,\(TestData.uscc(960)),\(Self.provider),"250,000.00",2021-04-01,佛工信〔2021〕9号,HT-CSV-1,"600,000"
                PUBLIC_SERVICE,2021,shunde,\(TestData.uscc(961)),,120000,2021-05-01,佛工信〔2021〕10号,,

                """
            try csv.write(toFile: file, atomically: true, encoding: .utf8)
            let first = try await runCtl(["--data-dir", daemon.dataDirectory, "import", "--file", file])
            #expect(first.status == 0, "\(first.error)")
            // Each award's sheet row beside its ledger id, for `subsidyctl revoke`.
            #expect(first.output.contains(/^ROW  LEDGER ID\n2    import-[0-9a-f]{20}\n3    import-[0-9a-f]{20}\nimported 2, already present 0\n$/))
            // The same file again is a new run, not a replay of the first's reply: its rows are
            // counted as already present, under the ids the first run gave them.
            let again = try await runCtl(["--data-dir", daemon.dataDirectory, "import", "--file", file])
            #expect(again.status == 0 && again.output == first.output.replacingOccurrences(of: "imported 2, already present 0", with: "imported 0, already present 2"),
                    "\(again.output) \(again.error)")
            #expect(try await city.quota(year: 2021).committed("PUBLIC_SERVICE.annual_budget", "2021") == 12_000_000)
            // The base column, in yuan, is kept with the award (what stacking measures later filings on).
            let bases = try ReadOnlyDatabase(path: daemon.dataDirectory + "/city-ledger.sqlite").rows("SELECT measure, stacking_base_fen FROM commitments ORDER BY measure")
            #expect(bases == [["CLOUD_VOUCHER", "60000000"], ["PUBLIC_SERVICE", "-1"]], "\(bases)")
            // And in the audit chain, which the column alone is not.
            let audited = try ReadOnlyDatabase(path: daemon.dataDirectory + "/city-ledger.sqlite").rows(#"SELECT COUNT(*) FROM audit WHERE event LIKE '{"action":"commit"%"base_fen":60000000%'"#)
            #expect(audited == [["1"]], "\(audited)")
            try (csv + "CLOUD_VOUCHER,2021,nanhai,x,y,abc,2021-04-01,d\nCLOUD_VOUCHER,20x1,nanhai,x,y,1,2021-04-01,d\n").write(toFile: file, atomically: true, encoding: .utf8)
            let bad = try await runCtl(["--data-dir", daemon.dataDirectory, "import", "--file", file])
            #expect(bad.status == 13, "INVALID_ARGUMENT is exit 10 + 3")
            #expect(bad.error.contains("row 4.amount") && bad.error.contains("row 5.year"), "every bad row at once: \(bad.error)")
            // What the daemon refuses is named by the sheet's row too (past a blank row), not by
            // the award's index among those sent; the field's name is kept.
            try (csv + "\nPUBLIC_SERVICE,2021,莲花区,\(TestData.uscc(962)),,120000,2021-05-01,佛工信〔2021〕12号\n").write(toFile: file, atomically: true, encoding: .utf8)
            let unknown = try await runCtl(["--data-dir", daemon.dataDirectory, "import", "--file", file])
            #expect(unknown.status == 13 && unknown.error.contains("row 5.district") && !unknown.error.contains("awards["), "\(unknown.error)")

            // A column the import does not know refuses the file: read as nothing, a contract under
            // "contract_no" would import the award without its contract, and the contract could be funded again.
            let typo = daemon.dataDirectory + "/typo.csv"
            try "measure,year,district,enterprise,provider,amount,decision_date,document,contract_no\nCLOUD_VOUCHER,2021,nanhai,\(TestData.uscc(963)),\(Self.provider),1000,2021-04-01,佛工信〔2021〕13号,HT-LOST-1\n"
                .write(toFile: typo, atomically: true, encoding: .utf8)
            let refused = try await runCtl(["--data-dir", daemon.dataDirectory, "import", "--file", typo])
            #expect(refused.status == 13 && refused.error.contains(#"unknown column "contract_no""#) && !refused.error.contains("--decision-date"), "\(refused.error)")
            // The HistoricalAward field names, and a bureau's Chinese headers and measure names, are read (序号 and 企业名称 skipped).
            let chinese = daemon.dataDirectory + "/chinese.csv"
            try """
                序号,支持方向,资金年度,区,统一社会信用代码,企业名称,服务商统一社会信用代码,资助金额（元）,审定日期,文号,合同编号
                1,上云上平台服务券,2021,南海区,\(TestData.uscc(964)),某某陶瓷有限公司,\(Self.provider),"８０，０００",2021/4/2,佛工信〔2021〕14号,HT-CN-1

                """.write(toFile: chinese, atomically: true, encoding: .utf8)
            let read = try await runCtl(["--data-dir", daemon.dataDirectory, "import", "--file", chinese])
            #expect(read.status == 0 && read.output.contains("imported 1, already present 0"), "\(read.output) \(read.error)")
            let english = daemon.dataDirectory + "/fields.csv"
            try "measure,funding_year,district,enterprise_uscc,provider_uscc,amount,decision_date,decision_document,contract_number\nCLOUD_VOUCHER,2021,nanhai,\(TestData.uscc(965)),\(Self.provider),1000,2021-04-03,佛工信〔2021〕15号,HT-EN-1\n"
                .write(toFile: english, atomically: true, encoding: .utf8)
            #expect(try await runCtl(["--data-dir", daemon.dataDirectory, "import", "--file", english]).output.contains("imported 1"))
            let kept = try ReadOnlyDatabase(path: daemon.dataDirectory + "/city-ledger.sqlite").rows(
                "SELECT content_typed, amount_fen FROM commitments WHERE content_typed IN ('HT-CN-1', 'HT-EN-1') ORDER BY content_typed")
            #expect(kept == [["HT-CN-1", "8000000"], ["HT-EN-1", "100000"]], "the contracts are kept with their awards: \(kept)")
            // A cap refusal names the sheet's row, not only the id the row would have had.
            let capped = daemon.dataDirectory + "/capped.csv"
            try """
                measure,year,district,enterprise,provider,amount,decision_date,document,contract
                CLOUD_VOUCHER,2022,nanhai,\(TestData.uscc(966)),\(Self.provider),400000,2022-04-01,佛工信〔2022〕16号,HT-CAP-1
                CLOUD_VOUCHER,2022,nanhai,\(TestData.uscc(966)),\(Self.provider),400000,2022-04-02,佛工信〔2022〕17号,HT-CAP-2

                """.write(toFile: capped, atomically: true, encoding: .utf8)
            let over = try await runCtl(["--data-dir", daemon.dataDirectory, "import", "--file", capped])
            #expect(over.status == 18 && over.error.contains("row 3: CLOUD_VOUCHER.per_enterprise"), "RESOURCE_EXHAUSTED is exit 10 + 8: \(over.error)")
        }
    }

    @Test("WatchEvents streams each ledger change; a case-by-case award takes the city's amount and document")
    func eventsAndCaseByCase() async throws {
        try await prepared(buyersPerDistrict: 0) { daemon, city, districts, _ in
            let platform = TestData.uscc(970)
            try await districts["chancheng"]!.register(platform, role: .platform)
            var application = Foshan_Subsidy_V1_Application()
            application.measure = .majorPlatform
            application.fundingYear = 2022
            application.enterpriseUscc = platform
            application.projectName = "工业互联网重大平台"
            let id = try await districts["chancheng"]!.file(application)
            // The pre-check takes the amount as approve does, in yuan (a pre-check in fen quoted a
            // hundredth of what approve then committed); the fen option of older scripts agrees.
            let quoteArguments = ["--data-dir", daemon.dataDirectory, "--as", "city", "quote", "--application-id", id, "--decision-date", "2022-06-01", "--document", "佛工信函〔2022〕15号"]
            let inYuan = try await runCtl(quoteArguments + ["--case-amount", "8,000,000"])
            #expect(inYuan.status == 0 && inYuan.output.contains("8,000,000.00"), "\(inYuan.output) \(inYuan.error)")
            // Without it, the refusal names the flag that gives it.
            let withoutAmount = try await runCtl(quoteArguments)
            #expect(withoutAmount.status != 0 && withoutAmount.error.contains("--case-amount (in yuan)"), "\(withoutAmount.error)")
            let inFen = try await runCtl(quoteArguments + ["--case-amount-fen", "800000000"])
            #expect(inFen.status == 0 && inFen.output.contains("8,000,000.00"), "\(inFen.output) \(inFen.error)")

            let watcher = try await daemon.client("city")
            var request = Foshan_Subsidy_V1_WatchEventsRequest()
            request.afterSequence = 0
            let events = watcher.stream(Foshan_Subsidy_V1_CityService.Method.watchEvents, request)
            let first = Task {
                var iterator = events.makeAsyncIterator()
                return try await iterator.next()
            }
            try await Task.sleep(for: .milliseconds(200))

            var approve = Foshan_Subsidy_V1_ApproveApplicationRequest()
            approve.requestId = "case-1"
            approve.applicationId = id
            approve.decisionDate = "2022-06-01"
            let missing = await #expect(throws: SubsidyError.self) { try await city.client.call(Foshan_Subsidy_V1_CityService.Method.approveApplication, approve) }
            #expect(missing?.code == .invalidArgument || missing?.code == .failedPrecondition)
            approve.requestId = "case-2"
            approve.caseAmountFen = 800_000_000
            approve.decisionDocument = "佛工信函〔2022〕15号"
            let record = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.approveApplication, approve).record
            #expect(record?.awardedFen == 800_000_000)
            #expect(record?.decisionDocument == "佛工信函〔2022〕15号")
            // Quoted once decided, it is not its own duplicate: it is decided, and says for how much.
            let decided = try await runCtl(quoteArguments + ["--case-amount", "8,000,000"])
            #expect(decided.status != 0 && decided.error.contains("\(id) is APPROVED, awarded 8,000,000.00 yuan on 2022-06-01"), "\(decided.error)")
            let event = try await first.value
            #expect(event?.applicationId == id)
            #expect(event?.state == .approved)
            #expect(event?.amountFen == 800_000_000)
        }
    }

    /// The seeding itself runs once per test process, when ``TemplateDirectory/demo`` is made
    /// (`subsidyd --dev --demo` on an empty directory, a failure of which fails this test and every
    /// other that uses the demo); here its result is checked, and that starting with `--demo` on
    /// a seeded directory, twice, adds nothing.
    @Test("--demo seeds every lifecycle state in every district, consistently, and only once")
    func demo() async throws {
        try await withDaemon(demo: true, extraArguments: ["--demo"]) { daemon in
            let city = Bureau(try await daemon.client("city"))
            let all = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.listApplications, Foshan_Subsidy_V1_ListApplicationsRequest())
            #expect(Set(all.records.map(\.district)) == Set(DaemonProcess.districts))
            let states = Set(all.records.map(\.state))
            #expect(states.isSuperset(of: [.submitted, .returned, .recommended, .rejected, .withdrawn, .approved, .publicized, .disbursed, .revoked]))
            #expect(try await city.quota(year: 2022).committed("CLOUD_VOUCHER.annual_budget", "2022") > 0)
            #expect(try LedgerChecker.violations(dataDirectory: daemon.dataDirectory, policy: Self.policy) == [])
            #expect(await daemon.terminate() == 0)
            try await withDaemon(dataDirectory: daemon.dataDirectory, extraArguments: ["--demo"]) { again in
                let after = try await Bureau(try await again.client("city")).client.call(Foshan_Subsidy_V1_CityService.Method.listApplications, Foshan_Subsidy_V1_ListApplicationsRequest())
                #expect(after.records.count == all.records.count)
            }
        }
    }

    static let policy: Policy = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Deploy/policy/foshan-2020.toml").path
        // The shipped policy is the one the daemon embeds (CI checks they are the same).
        return try! Policy.load(text: String(contentsOfFile: path, encoding: .utf8), name: "foshan-2020")
    }()
}

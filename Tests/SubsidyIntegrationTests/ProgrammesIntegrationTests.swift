import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// The programmes after 2023 through the real daemon (PROGRAMMES.md): Shunde's own programme
/// decided by Shunde against caps in its own store and the isolation around it, a race at its
/// budget, and calls for applications, with subsidyctl's views of them. What each tenant is
/// offered, the city's difference awards and stacking are tested through the handlers
/// in-process (SubsidyServerTests' `ProgrammesTests`).
@Suite("programmes: the 2020 measures, the city's successor and a district's own, side by side")
struct ProgrammesIntegrationTests {
    @Test("a Shunde clerk files, reviews and approves a CLOUD_USE award against Shunde's caps; the city sees it and cannot decide it; Nanhai sees nothing of it")
    func districtDecides() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let city = Bureau(try await daemon.client("city"))
            let shunde = Bureau(try await daemon.client("shunde"), filingOn: Self.filed)
            let nanhai = Bureau(try await daemon.client("nanhai"), filingOn: Self.filed)
            try await ProgrammeData.sellerInCatalogue(shunde)
            let buyer = TestData.uscc(7_200, area: 6)
            try await shunde.register(buyer)

            let id = try await shunde.file(ProgrammeData.cloudUse(buyer, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "SD-2024-1"))
            // The city may read it, not decide it.
            let denied = await #expect(throws: SubsidyError.self) { try await ProgrammeData.cityApprove(city, id, date: "2024-06-01") }
            #expect(denied?.code == .permissionDenied)
            #expect(denied?.message.contains("shunde-dx-2021") == true)
            let approved = try await ProgrammeData.approveOwn(shunde, id, requestID: "approve-\(id)")
            #expect(approved.state == .approved)
            #expect(approved.awardedFen == 100_000_000)
            #expect(approved.history.last?.tenant == "shunde")
            #expect(approved.explanation?.limits.first { $0.binding }?.detail.contains("tier 1,000,000.00") == true)
            // A city programme (no stacking limit of its own) may fund the content Shunde funded,
            // within Shunde's limit: all public money for the contract ≤ its 3,000,000 spend.
            var sameContract = ProgrammeData.workshop(buyer, 9, year: 2024)
            sameContract.contractNumber = "sd 2024 1"
            let stacked = try await ProgrammeData.cityApprove(city, try await shunde.file(sameContract), date: "2024-06-01")
            #expect(stacked.awardedFen == 200_000_000)
            let across = try #require(stacked.explanation?.limits.first { $0.kind == "stacking" })
            #expect(across.detail.contains("stacking across levels (shunde-dx-2021's CLOUD_USE award \(id)"), "\(across.detail)")
            #expect(across.detail.contains("the base \(id) was awarded on, 3,000,000.00"), "\(across.detail)")
            // Within one programme general rule 2 still holds: a second workshop on the contract is refused.
            var again = ProgrammeData.workshop(buyer, 10, year: 2024)
            again.contractNumber = "SD-2024-1"
            let twice = await #expect(throws: SubsidyError.self) { try await shunde.submit(again) }
            #expect(twice?.code == .failedPrecondition)
            #expect(twice?.message.contains("already funded as \(stacked.id) under DIGITAL_WORKSHOP") == true, "\(twice?.message ?? "")")
            // A retry returns the first answer; the cap is charged once.
            #expect(try await ProgrammeData.approveOwn(shunde, id, requestID: "approve-\(id)").awardedFen == 100_000_000)

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
                try await nanhai.submit(ProgrammeData.cloudUse(nanhaiBuyer, spendFen: 100_000_000, revenueFen: 100, contract: "NH-1"))
            }
            #expect(unknown?.code == .invalidArgument)
            #expect(unknown?.message.contains("unknown programme 'shunde-dx-2021'") == true)
            let foreign = await #expect(throws: SubsidyError.self) { try await ProgrammeData.approveOwn(nanhai, id) }
            #expect(foreign?.code == .notFound || foreign?.code == .permissionDenied)
            // And Shunde cannot decide a city programme's application.
            let workshop = try await shunde.file(ProgrammeData.workshop(buyer, 1, year: 2024))
            let notOwn = await #expect(throws: SubsidyError.self) { try await ProgrammeData.approveOwn(shunde, workshop) }
            #expect(notOwn?.code == .permissionDenied)

            // 公示, payment after it, and revocation: a clawback, whose charges stay counted until the
            // money's recovery is recorded.
            func decide(_ method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse>, _ date: String) async throws -> Foshan_Subsidy_V1_ApplicationRecord {
                try await shunde.decide(method, id, date: date, reason: "区局决定")
            }
            #expect(try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.publicizeApplication, "2024-06-02").state == .publicized)
            let early = await #expect(throws: SubsidyError.self) { try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.disburseApplication, "2024-06-04") }
            #expect(early?.code == .failedPrecondition)
            #expect(try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.disburseApplication, "2024-06-09").state == .disbursed)
            #expect(try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.revokeApplication, "2024-07-01").state == .revoked)
            let after = try await shunde.client.call(Foshan_Subsidy_V1_DistrictProgrammes.Method.getQuota, request)
            #expect(after.committed("CLOUD_USE.annual_budget", "2024") == 100_000_000)
            let check = try DistrictProgrammeChecker.check(dataDirectory: daemon.dataDirectory)
            #expect(check.problems.isEmpty, "\(check.problems)")
            #expect(check.commitments == 0, "the revoked award is no longer in force")
            // Its money back: recorded, and the caps are free again.
            let undated = await #expect(throws: SubsidyError.self) { try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.recordRecovery, "") }
            #expect(undated?.code == .invalidArgument && undated?.message.hasPrefix("request.decision_date: is required") == true, "\(String(describing: undated))")
            let beforeRevocation = await #expect(throws: SubsidyError.self) {
                try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.recordRecovery, "2024-06-30")
            }
            #expect(beforeRevocation?.code == .invalidArgument && beforeRevocation?.message.contains("before the revocation") == true, "\(String(describing: beforeRevocation))")
            let recovered = try await decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.recordRecovery, "2024-08-01")
            #expect(recovered.state == .revoked && recovered.recoveredOn == "2024-08-01" && recovered.history.last?.action == "recover")
            let freed = try await shunde.client.call(Foshan_Subsidy_V1_DistrictProgrammes.Method.getQuota, request)
            #expect(freed.committed("CLOUD_USE.annual_budget", "2024") == 0)
            #expect(try DistrictProgrammeChecker.check(dataDirectory: daemon.dataDirectory).problems.isEmpty)
            // Every decision is in Shunde's audit chain, which verifies.
            let audit = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.verifyAudit, Foshan_Subsidy_V1_VerifyAuditRequest())
            #expect(audit.chains.count == 6 && audit.chains.allSatisfy(\.ok), "\(audit.chains)")
            let chain = try DistrictProgrammeChecker.auditEvents(dataDirectory: daemon.dataDirectory, district: "shunde")
            for action in ["programme_commit", "programme_disbursed", "programme_clawback", "catalogue_member"] {
                #expect(chain.contains { $0.contains(action) }, "\(action) is not in Shunde's audit chain")
            }
        }
    }

    @Test("the city and Shunde approving the same project at the same moment: one pays, the other is refused as duplicate content, every time")
    func sameContentRace() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let city = Bureau(try await daemon.client("city"))
            let shunde = Bureau(try await daemon.client("shunde"), filingOn: Self.filed)
            // Each pair: the city's 数字化车间 and Shunde's 国家级项目配套 of one enterprise's one
            // project (the same content key); neither measure stacks on the other.
            var pairs: [(workshop: String, match: String)] = []
            for i in 0..<16 {
                let buyer = TestData.uscc(7_600 + i, area: 6)
                try await shunde.register(buyer)
                let workshop = try await shunde.file(ProgrammeData.workshop(buyer, i, year: 2024))
                let match = try await shunde.file(ProgrammeData.nationalMatch(buyer, projectName: "数字化车间 \(i)", nationalFen: 250_000_000))
                pairs.append((workshop, match))
            }
            let outcomes = await Self.approveTogether(pairs.map { ($0.workshop, $0.match) }, city: city, shunde: shunde)
            for i in pairs.indices {
                let pair = outcomes.filter { $0.0 == i }
                let paid = pair.filter { (try? $0.2.get()) != nil }.map(\.1)
                let refused = pair.compactMap { if case .failure(let error) = $0.2 { error } else { nil } }
                #expect(paid.count == 1, "pair \(i) paid by \(paid): \(pair)")
                #expect(refused.count == 1 && refused.allSatisfy { $0.code == .failedPrecondition && $0.message.contains("duplicate_content") }, "pair \(i): \(refused)")
            }
            // And in the files: no content key both the ledger and Shunde's programme hold funded.
            let ledger = try ReadOnlyDatabase(path: daemon.dataDirectory + "/city-ledger.sqlite")
            let cityKeys = Set(try ledger.rows(
                "SELECT k.key FROM content_keys k JOIN commitments m ON m.application_id = k.application_id WHERE m.state IN ('live', 'disbursed')"
            ).map { $0[0] })
            let district = try ReadOnlyDatabase(path: daemon.dataDirectory + "/districts/shunde.sqlite")
            let shundeKeys = Set(try district.rows(
                "SELECT k.key FROM programme_content_keys k JOIN programme_commitments m ON m.application_id = k.application_id WHERE m.state IN ('live', 'disbursed')"
            ).map { $0[0] })
            #expect(cityKeys.intersection(shundeKeys).isEmpty, "funded twice: \(cityKeys.intersection(shundeKeys).sorted())")
            #expect(cityKeys.count + shundeKeys.count >= pairs.count)
        }
    }

    /// Each pair's city application and Shunde's own application approved at the same moment:
    /// every outcome, with its pair's index and who decided ("city" or "shunde").
    static func approveTogether(
        _ pairs: [(city: String, shunde: String)], city: Bureau, shunde: Bureau, shundeCaseFen: Int64 = 0
    ) async -> [(Int, String, Result<Int64, SubsidyError>)] {
        await withTaskGroup(of: (Int, String, Result<Int64, SubsidyError>).self) { group in
            for (i, pair) in pairs.enumerated() {
                group.addTask {
                    do { return (i, "city", .success(try await ProgrammeData.cityApprove(city, pair.city, date: "2024-06-01").awardedFen)) } catch let error as SubsidyError {
                        return (i, "city", .failure(error))
                    } catch { return (i, "city", .failure(SubsidyError(.internal, "\(error)"))) }
                }
                group.addTask {
                    do { return (i, "shunde", .success(try await ProgrammeData.approveOwn(shunde, pair.shunde, caseFen: shundeCaseFen).awardedFen)) } catch let error as SubsidyError {
                        return (i, "shunde", .failure(error))
                    } catch { return (i, "shunde", .failure(SubsidyError(.internal, "\(error)"))) }
                }
            }
            var all: [(Int, String, Result<Int64, SubsidyError>)] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
    }

    @Test("stacking across levels under a race: Shunde's CLOUD_USE and the city's workshop on one contract at the same moment keep all public money within its base, whichever is first")
    func stackingRace() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let city = Bureau(try await daemon.client("city"))
            let shunde = Bureau(try await daemon.client("shunde"), filingOn: Self.filed)
            try await ProgrammeData.sellerInCatalogue(shunde)
            // Each pair: a 2,000,000 spend (Shunde pays half, 1,000,000) and a 2,000,000 workshop on
            // the same contract. Shunde first: the city gets the 1,000,000 left. The city first:
            // nothing is left for Shunde, which is refused for stacking.
            var pairs: [(workshop: String, use: String)] = []
            for i in 0..<12 {
                let buyer = TestData.uscc(7_650 + i, area: 6)
                try await shunde.register(buyer)
                let contract = "STACK-\(i)"
                let use = try await shunde.file(ProgrammeData.cloudUse(buyer, spendFen: 200_000_000, revenueFen: 8_000_000_000, contract: contract))
                var workshop = ProgrammeData.workshop(buyer, i, year: 2024)
                workshop.contractNumber = contract
                let filed = try await shunde.submit(workshop)
                // The clerk hears that both can be funded, not that only one can.
                #expect(filed.warnings.contains { $0.contains("already pending as \(use)") && $0.contains("both can be funded, together within the stacking limit") },
                        "\(filed.warnings)")
                try await shunde.recommend(filed.id)
                pairs.append((filed.id, use))
            }
            let outcomes = await Self.approveTogether(pairs.map { ($0.workshop, $0.use) }, city: city, shunde: shunde)
            for i in pairs.indices {
                let pair = outcomes.filter { $0.0 == i }
                let paid = pair.compactMap { try? $0.2.get() }
                let refused = pair.compactMap { if case .failure(let error) = $0.2 { error } else { nil } }
                // Either both are paid 1,000,000 (Shunde first) or the city 2,000,000 and Shunde refused.
                #expect(paid.reduce(0, +) == 200_000_000, "pair \(i): \(pair)")
                #expect(paid.sorted() == [100_000_000, 100_000_000] || paid == [200_000_000], "pair \(i): \(pair)")
                #expect(refused.allSatisfy { $0.code == .failedPrecondition && $0.message.contains("stacking") }, "pair \(i): \(refused)")
            }
            // And in the files: each contract's awards, the ledger's and Shunde's, sum to its base.
            var total: [String: Int64] = [:]
            let ledger = try ReadOnlyDatabase(path: daemon.dataDirectory + "/city-ledger.sqlite")
            for row in try ledger.rows(
                "SELECT k.key, m.amount_fen FROM content_keys k JOIN commitments m ON m.application_id = k.application_id WHERE m.state IN ('live', 'disbursed') AND k.key LIKE 'contract:%'"
            ) { total[row[0], default: 0] += Int64(row[1]) ?? 0 }
            let district = try ReadOnlyDatabase(path: daemon.dataDirectory + "/districts/shunde.sqlite")
            for row in try district.rows(
                "SELECT k.key, m.amount_fen FROM programme_content_keys k JOIN programme_commitments m ON m.application_id = k.application_id WHERE m.state IN ('live', 'disbursed') AND k.key LIKE 'contract:%'"
            ) { total[row[0], default: 0] += Int64(row[1]) ?? 0 }
            #expect(total.count == pairs.count && total.values.allSatisfy { $0 == 200_000_000 }, "\(total)")
            #expect(try DistrictProgrammeChecker.check(dataDirectory: daemon.dataDirectory).problems == [])
        }
    }

    @Test("upper-level funds declared with one award count for the content's next award too, whichever comes first, and count once")
    func upperLevelFundsRemembered() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let city = Bureau(try await daemon.client("city"))
            let shunde = Bureau(try await daemon.client("shunde"), filingOn: Self.filed)
            try await ProgrammeData.sellerInCatalogue(shunde)
            // Shunde first, declaring 500,000 of provincial funds on a 2,000,000 spend: it pays its
            // 1,000,000; the city's workshop on the contract gets 2,000,000 − 1,000,000 − 500,000.
            let first = TestData.uscc(7_720, area: 6)
            try await shunde.register(first)
            var use = ProgrammeData.cloudUse(first, spendFen: 200_000_000, revenueFen: 8_000_000_000, contract: "UPPER-1")
            use.upperLevelSubsidyFen = 50_000_000
            let useID = try await shunde.file(use)
            #expect(try await ProgrammeData.approveOwn(shunde, useID).awardedFen == 100_000_000)
            var workshop = ProgrammeData.workshop(first, 1, year: 2024)
            workshop.contractNumber = "UPPER-1"
            let workshopID = try await shunde.file(workshop)
            let bound = try await ProgrammeData.cityApprove(city, workshopID, date: "2024-06-01")
            #expect(bound.awardedFen == 50_000_000, "\(bound.explanation?.rendered ?? "")")
            #expect(bound.explanation?.rendered.contains("declared upper-level funds 500,000.00 (declared with \(useID))") == true, "\(bound.explanation?.rendered ?? "")")

            // The city first, its workshop declaring the funds: Shunde's CLOUD_USE on a 3,000,000
            // spend gets 3,000,000 − 2,000,000 − 500,000, though its own application declares none.
            let second = TestData.uscc(7_721, area: 6)
            try await shunde.register(second)
            var declared = ProgrammeData.workshop(second, 2, year: 2024)
            declared.contractNumber = "UPPER-2"
            declared.upperLevelSubsidyFen = 50_000_000
            let declaredID = try await shunde.file(declared)
            #expect(try await ProgrammeData.cityApprove(city, declaredID, date: "2024-06-01").awardedFen == 200_000_000)
            let laterUse = try await shunde.file(ProgrammeData.cloudUse(second, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "UPPER-2"))
            let stacked = try await ProgrammeData.approveOwn(shunde, laterUse)
            #expect(stacked.awardedFen == 50_000_000, "\(stacked.explanation?.rendered ?? "")")
            #expect(stacked.explanation?.rendered.contains("declared upper-level funds 500,000.00 (declared with \(declaredID))") == true, "\(stacked.explanation?.rendered ?? "")")
            // Declared again, the same funds are counted once: 3,000,000 − 2,000,000 − 500,000.
            let third = TestData.uscc(7_722, area: 6)
            try await shunde.register(third)
            var twice = ProgrammeData.workshop(third, 3, year: 2024)
            twice.contractNumber = "UPPER-3"
            twice.upperLevelSubsidyFen = 50_000_000
            _ = try await ProgrammeData.cityApprove(city, try await shunde.file(twice), date: "2024-06-01")
            var again = ProgrammeData.cloudUse(third, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "UPPER-3")
            again.upperLevelSubsidyFen = 50_000_000
            #expect(try await ProgrammeData.approveOwn(shunde, try await shunde.file(again)).awardedFen == 50_000_000)
            #expect(try DistrictProgrammeChecker.check(dataDirectory: daemon.dataDirectory).problems == [])
        }
    }

    @Test("an organisation is awarded under one USCC across the ledger and a district's programme: of twins registered by two districts, the first award wins")
    func organisationAcrossLevels() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let city = Bureau(try await daemon.client("city"))
            let shunde = Bureau(try await daemon.client("shunde"), filingOn: Self.filed)
            let nanhai = Bureau(try await daemon.client("nanhai"), filingOn: Self.filed)
            try await ProgrammeData.sellerInCatalogue(shunde)
            // Shunde's programme first: the city then refuses Nanhai's twin.
            let (real, squatted) = (try USCC.makeValid(prefix16: "91440606MAXHXL60").rawValue, try USCC.makeValid(prefix16: "91440605MAXHXL60").rawValue)
            try await shunde.register(real)
            try await nanhai.register(squatted)
            let use = try await shunde.file(ProgrammeData.cloudUse(real, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "ORG-1"))
            #expect(try await ProgrammeData.approveOwn(shunde, use).awardedFen == 100_000_000)
            let workshop = try await nanhai.file(ProgrammeData.workshop(squatted, 1, year: 2024))
            let refused = await #expect(throws: SubsidyError.self) { try await ProgrammeData.cityApprove(city, workshop, date: "2024-06-01") }
            #expect(refused?.code == .failedPrecondition && refused?.message.contains("of \(real), already awarded in shunde (\(use))") == true, "\(refused?.message ?? "")")
            // A third code is not registered now that a twin holds an award, Shunde's programme's included.
            let gaoming = Bureau(try await daemon.client("gaoming"), filingOn: Self.filed)
            let third = await #expect(throws: SubsidyError.self) { try await gaoming.register(try USCC.makeValid(prefix16: "91440608MAXHXL60").rawValue) }
            #expect(third?.code == .alreadyExists && third?.message.contains("of \(real), awarded in shunde") == true, "\(third?.message ?? "")")
            // The city first: Shunde's programme then refuses its twin.
            let (realB, squattedB) = (try USCC.makeValid(prefix16: "91440606MAXHXL61").rawValue, try USCC.makeValid(prefix16: "91440605MAXHXL61").rawValue)
            try await shunde.register(realB)
            try await nanhai.register(squattedB)
            let cityFirst = try await nanhai.file(ProgrammeData.workshop(squattedB, 2, year: 2024))
            #expect(try await ProgrammeData.cityApprove(city, cityFirst, date: "2024-06-01").state == .approved)
            let useB = try await shunde.file(ProgrammeData.cloudUse(realB, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "ORG-2"))
            let own = await #expect(throws: SubsidyError.self) { try await ProgrammeData.approveOwn(shunde, useB) }
            #expect(own?.code == .failedPrecondition && own?.message.contains("of \(squattedB), already awarded in nanhai (\(cityFirst))") == true, "\(own?.message ?? "")")
        }
    }

    @Test("one declared revenue per enterprise and year: a second CLOUD_USE declaring the upper tier after an award in the lower is refused")
    func oneRevenueTier() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let shunde = Bureau(try await daemon.client("shunde"), filingOn: Self.filed)
            try await ProgrammeData.sellerInCatalogue(shunde)
            let buyer = TestData.uscc(7_710, area: 6)
            try await shunde.register(buyer)
            // 40,000,000 yuan declared: the 500,000 tier, used up by the first award.
            let first = try await shunde.file(ProgrammeData.cloudUse(buyer, spendFen: 300_000_000, revenueFen: 4_000_000_000, contract: "TIER-1"))
            #expect(try await ProgrammeData.approveOwn(shunde, first).awardedFen == 50_000_000)
            // 80,000,000 declared for the same year: the 1,000,000 tier would leave room for another 500,000.
            // Told at filing, while it can still be amended.
            let filed = try await shunde.submit(ProgrammeData.cloudUse(buyer, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "TIER-2"))
            #expect(filed.warnings.contains { $0.contains("declared_revenue") && $0.contains(first) }, "\(filed.warnings)")
            let second = filed.id
            try await shunde.recommend(second)
            // Its quote says what its approval will: a quote approval would refuse is no quote.
            var quote = Foshan_Subsidy_V1_QuoteRequest()
            quote.applicationId = second
            let quoted = await #expect(throws: SubsidyError.self) { try await shunde.client.call(Foshan_Subsidy_V1_DistrictService.Method.quote, quote) }
            #expect(quoted?.code == .failedPrecondition && quoted?.message.contains("declared_revenue") == true && quoted?.message.contains(first) == true,
                    "\(quoted?.message ?? "")")
            let refused = await #expect(throws: SubsidyError.self) { try await ProgrammeData.approveOwn(shunde, second) }
            #expect(refused?.code == .failedPrecondition)
            #expect(refused?.message.contains("declared_revenue") == true && refused?.message.contains(first) == true, "\(refused?.message ?? "")")
            // Declared as the first one was, it is checked against the tier it shares (and is used up).
            let third = try await shunde.file(ProgrammeData.cloudUse(buyer, spendFen: 300_000_000, revenueFen: 4_000_000_000, contract: "TIER-3"))
            let full = await #expect(throws: SubsidyError.self) { try await ProgrammeData.approveOwn(shunde, third) }
            #expect(full?.code == .resourceExhausted, "\(full?.message ?? "")")
            #expect(try DistrictProgrammeChecker.check(dataDirectory: daemon.dataDirectory).problems == [])
        }
    }

    @Test("an imported award of content Shunde's own programme funded is judged as a live decision: refused under a measure without a stacking limit, imported within CLOUD_USE's, refused beyond it")
    func importAfterDistrictAward() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let city = Bureau(try await daemon.client("city"))
            let shunde = Bureau(try await daemon.client("shunde"), filingOn: Self.filed)
            let buyer = TestData.uscc(7_700, area: 6)
            try await shunde.register(buyer)
            let match = try await shunde.file(ProgrammeData.nationalMatch(buyer, projectName: "智能产线改造", nationalFen: 250_000_000, year: 2023))
            #expect(try await ProgrammeData.approveOwn(shunde, match, date: "2023-06-01").awardedFen == 50_000_000)
            var earlier = historical(.benchmarkProject, district: "shunde", enterprise: buyer, amountFen: 10_000_000, document: "佛工信〔2022〕7号")
            earlier.projectName = "智能产线改造 "
            let other = historical(.benchmarkProject, district: "shunde", enterprise: TestData.uscc(7_701, area: 6), amountFen: 10_000_000, document: "佛工信〔2022〕8号")
            let refused = await #expect(throws: SubsidyError.self) { try await city.importAwards([other, earlier]) }
            #expect(refused?.code == .failedPrecondition)
            #expect(refused?.message.contains("request.awards[1]") == true && refused?.message.contains(match) == true, "\(refused?.message ?? "")")
            // Nothing of the request was imported.
            #expect(try await city.importAwards([other]).imported == 1)

            // Shunde's CLOUD_USE stacks: a live city award of its contract would be bound by its
            // limit (all public money ≤ the 1,000,000 spend), so an imported one is imported
            // within it, and refused beyond it (an imported amount cannot be reduced).
            try await ProgrammeData.sellerInCatalogue(shunde)
            let use = try await shunde.file(ProgrammeData.cloudUse(buyer, spendFen: 100_000_000, revenueFen: 8_000_000_000, contract: "SD-2023-7", year: 2023))
            #expect(try await ProgrammeData.approveOwn(shunde, use, date: "2023-06-01").awardedFen == 50_000_000)
            func voucher(_ amountFen: Int64, baseFen: Int64 = 0, _ document: String) -> Foshan_Subsidy_V1_HistoricalAward {
                var award = historical(.cloudVoucher, district: "shunde", enterprise: buyer, provider: ProgrammeData.seller, amountFen: amountFen, document: document, year: 2023)
                award.contractNumber = "sd 2023 7"
                award.baseFen = baseFen
                return award
            }
            let beyond = await #expect(throws: SubsidyError.self) { try await city.importAwards([voucher(50_000_001, "佛工信〔2023〕1号")]) }
            #expect(beyond?.code == .failedPrecondition)
            #expect(beyond?.message.contains("request.awards[0].amount_fen") == true && beyond?.message.contains("stacking across levels (shunde-dx-2021's CLOUD_USE award \(use)") == true,
                    "\(beyond?.message ?? "")")
            // A smaller base declared on the row binds: 800,000 − 500,000 leaves 300,000.
            let smaller = await #expect(throws: SubsidyError.self) { try await city.importAwards([voucher(30_000_001, baseFen: 80_000_000, "佛工信〔2023〕2号")]) }
            #expect(smaller?.message.contains("the row's base_fen, 800,000.00") == true, "\(smaller?.message ?? "")")
            #expect(try await city.importAwards([voucher(30_000_000, baseFen: 80_000_000, "佛工信〔2023〕2号")]).imported == 1)
            // Within the 2020 measures general rule 2 holds, as for a live decision: another award of the contract is refused.
            let again = await #expect(throws: SubsidyError.self) { try await city.importAwards([voucher(100, "佛工信〔2023〕3号")]) }
            #expect(again?.message.contains("cannot be funded twice") == true, "\(again?.message ?? "")")
            let quota = try await city.quota(year: 2023)
            #expect(quota.committed("CLOUD_VOUCHER.per_enterprise", "2023/\(buyer)") == 30_000_000)
        }
    }

    @Test("31 concurrent Shunde approvals against its 30,000,000 budget (1,000,000 each) while the city approves workshops for the same enterprises: exactly 30 win")
    func raceAtTheDistrictCap() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let city = Bureau(try await daemon.client("city"))
            let shunde = Bureau(try await daemon.client("shunde"), filingOn: Self.filed)
            try await ProgrammeData.sellerInCatalogue(shunde)
            var cloud: [String] = []
            var workshops: [String] = []
            for i in 0..<31 {
                let buyer = TestData.uscc(7_400 + i, area: 6)
                try await shunde.register(buyer)
                cloud.append(try await shunde.file(ProgrammeData.cloudUse(buyer, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "RACE-\(i)")))
                if i < 10 { workshops.append(try await shunde.file(ProgrammeData.workshop(buyer, i, year: 2024))) }
            }
            let outcomes = await withTaskGroup(of: (String, Result<Int64, SubsidyError>).self) { group in
                for id in cloud {
                    group.addTask {
                        do { return ("cloud", .success(try await ProgrammeData.approveOwn(shunde, id).awardedFen)) } catch let error as SubsidyError {
                            return ("cloud", .failure(error))
                        } catch { return ("cloud", .failure(SubsidyError(.internal, "\(error)"))) }
                    }
                }
                for id in workshops {
                    group.addTask {
                        do { return ("city", .success(try await ProgrammeData.cityApprove(city, id, date: "2024-06-01").awardedFen)) } catch let error as SubsidyError {
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
            // The daemon's own check agrees: Shunde's programme totals equal their charges after
            // the race (a false difference would be exit 4).
            #expect(await daemon.terminate() == 0)
            let own = try await StartupIntegrityTests.subsidyd(["--dev", "--data-dir", daemon.dataDirectory, "--check"])
            #expect(own.status == 0, "\(own.output)\(own.error)")
        }
    }

    /// The day these daemons' calendars are pinned to: the successor programmes' last year,
    /// after the 2020 measures ended.
    static let today = "2025-06-30"

    /// The day the district decisions' tests file on: inside both successor programmes, and
    /// before the days they date their decisions (none may be dated before its filing).
    static let filed = "2023-03-01"

    /// That day shifted by `days`, as the daemon dates filing.
    static func chinaDay(_ days: Int = 0) -> String {
        (try! CalendarDate(parsing: today)).adding(days: days)!.description
    }

    @Test("calls for applications: once a measure runs calls, filing is inside an open one or late with a reason; the city opens its programmes', a district its own; counts per call")
    func callsForApplications() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let city = Bureau(try await daemon.client("city"))
            let nanhai = Bureau(try await daemon.client("nanhai"))
            let shunde = Bureau(try await daemon.client("shunde"))
            let owner = TestData.uscc(7_600, area: 5)
            try await nanhai.register(owner)
            // No call yet: the measure does not run calls, and filing is as before.
            let before = try await nanhai.submit(ProgrammeData.workshop(owner, 1, year: 2025))
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
            // Nanhai closing Shunde's call finds nothing: no answer says which of Shunde's ids exist.
            var foreign = Foshan_Subsidy_V1_CloseCallRequest()
            foreign.requestId = UUID().uuidString
            foreign.callId = own.id
            let hidden = await #expect(throws: SubsidyError.self) { try await nanhai.client.call(Foshan_Subsidy_V1_Calls.Method.closeCall, foreign) }
            foreign.callId = "shunde-dx-2021/CLOUD_USE/2025/9"
            foreign.requestId = UUID().uuidString
            let absent = await #expect(throws: SubsidyError.self) { try await nanhai.client.call(Foshan_Subsidy_V1_Calls.Method.closeCall, foreign) }
            #expect(hidden?.code == .notFound && absent?.code == .notFound, "\(String(describing: hidden)) \(String(describing: absent))")
            #expect(hidden?.message == absent?.message.replacingOccurrences(of: "/9", with: "/1"))

            // A reason given inside an open call is not kept: the filing is not late.
            var insideRequest = Foshan_Subsidy_V1_SubmitApplicationRequest()
            insideRequest.requestId = UUID().uuidString
            insideRequest.application = ProgrammeData.workshop(owner, 2, year: 2025)
            insideRequest.lateReason = "以防万一"
            let inside = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.submitApplication, insideRequest).record ?? .init()
            #expect(inside.callId == call.id && inside.lateReason == "")
            // One whose reply the clerk will not see (a timeout), retried after the call closes
            // (without a late reason, which the closed call would ask of a new filing).
            var unseen = Foshan_Subsidy_V1_SubmitApplicationRequest()
            unseen.requestId = "filed-before-the-close"
            unseen.application = ProgrammeData.workshop(owner, 5, year: 2025)
            let unseenReply = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.submitApplication, unseen)
            #expect(unseenReply.record?.callId == call.id)
            try await nanhai.recommend(inside.id)
            // Another year of a measure that runs calls: refused, naming the rule; late on purpose: filed, with the reason.
            let outside = await #expect(throws: SubsidyError.self) { try await nanhai.submit(ProgrammeData.workshop(owner, 3, year: 2024)) }
            #expect(outside?.code == .failedPrecondition)
            #expect(outside?.message.contains("none for funding year 2024 is open") == true, "\(outside?.message ?? "")")

            // Closed today: the next filing is refused; filed late with a reason, it counts under the call.
            var close = Foshan_Subsidy_V1_CloseCallRequest()
            close.requestId = UUID().uuidString
            close.callId = call.id
            // A date past its last day changes nothing and would keep it from closing early.
            close.closedOn = Self.chinaDay(31)
            let tooLate = await #expect(throws: SubsidyError.self) { try await city.client.call(Foshan_Subsidy_V1_Calls.Method.closeCall, close) }
            #expect(tooLate?.code == .invalidArgument && tooLate?.message.contains("request.closed_on") == true, "\(tooLate?.message ?? "")")
            close.requestId = UUID().uuidString
            close.closedOn = Self.chinaDay(-1)
            #expect(try await city.client.call(Foshan_Subsidy_V1_Calls.Method.closeCall, close).call?.state == "closed")
            let closed = await #expect(throws: SubsidyError.self) { try await nanhai.submit(ProgrammeData.workshop(owner, 4, year: 2025)) }
            #expect(closed?.code == .failedPrecondition)
            // An amendment may not move a filing into a measure and year whose calls would refuse
            // it (here one filed before calls ran, moved to a year with none open).
            var amend = Foshan_Subsidy_V1_AmendApplicationRequest()
            amend.requestId = UUID().uuidString
            amend.applicationId = before.id
            amend.application = ProgrammeData.workshop(owner, 1, year: 2024)
            amend.reason = "年度填错"
            let slipped = await #expect(throws: SubsidyError.self) { try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, amend) }
            #expect(slipped?.code == .failedPrecondition && slipped?.message.contains("cannot be amended to DIGITAL_WORKSHOP of funding year 2024") == true, "\(slipped?.message ?? "")")
            // The retry of a filing made while it was open gets its first reply, byte for byte.
            let retried = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.submitApplication, unseen)
            #expect(retried.serializedBytes() == unseenReply.serializedBytes() && retried.record?.callId == call.id)
            // Amended in what it says, not in its measure or year, it stays under its call, closed or not.
            var corrected = Foshan_Subsidy_V1_AmendApplicationRequest()
            corrected.requestId = UUID().uuidString
            corrected.applicationId = unseenReply.record?.id ?? ""
            corrected.application = ProgrammeData.workshop(owner, 6, year: 2025)
            corrected.reason = "项目名称更正"
            let kept = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, corrected).record
            #expect(kept?.callId == call.id && kept?.application?.projectName == "数字化车间 6")
            // Amended onto another enterprise it is a new filing for that one: the closed call
            // refuses it (a placeholder filed in time must not carry another's application in).
            let other = TestData.uscc(7_601, area: 5)
            try await nanhai.register(other)
            var onto = Foshan_Subsidy_V1_AmendApplicationRequest()
            onto.requestId = UUID().uuidString
            onto.applicationId = unseenReply.record?.id ?? ""
            onto.application = ProgrammeData.workshop(other, 6, year: 2025)
            onto.reason = "企业填错"
            let placeholder = await #expect(throws: SubsidyError.self) { try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, onto) }
            #expect(
                placeholder?.code == .failedPrecondition && placeholder?.message.contains("cannot be amended to enterprise \(other) (a new filing for it)") == true,
                "\(placeholder?.message ?? "")")
            var late = Foshan_Subsidy_V1_SubmitApplicationRequest()
            late.requestId = UUID().uuidString
            late.application = ProgrammeData.workshop(owner, 4, year: 2025)
            late.lateReason = "系统故障，经市局同意补报"
            let filedLate = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.submitApplication, late).record ?? .init()
            #expect(filedLate.callId == call.id && filedLate.lateReason == "系统故障，经市局同意补报")

            let listed = try await city.client.call(Foshan_Subsidy_V1_Calls.Method.listCalls, Foshan_Subsidy_V1_ListCallsRequest()).calls
            #expect(listed.map(\.id) == [call.id, own.id])
            let counts = try #require(listed.first?.counts)
            #expect(counts.received == 3 && counts.recommended == 1 && counts.late == 1 && counts.returned == 0)
            // The counts are kept with each change (district migration 12): a withdrawal moves one.
            var withdraw = Foshan_Subsidy_V1_WithdrawApplicationRequest()
            withdraw.requestId = UUID().uuidString
            withdraw.applicationId = filedLate.id
            _ = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.withdrawApplication, withdraw)
            let moved = try await city.client.call(Foshan_Subsidy_V1_Calls.Method.listCalls, Foshan_Subsidy_V1_ListCallsRequest()).calls.first?.counts
            #expect(moved?.received == 3 && moved?.withdrawn == 1 && moved?.late == 1, "\(String(describing: moved))")
            #expect(try DistrictProgrammeChecker.check(dataDirectory: daemon.dataDirectory).problems == [])
            // Nanhai sees the city's calls, not Shunde's.
            #expect(try await nanhai.client.call(Foshan_Subsidy_V1_Calls.Method.listCalls, Foshan_Subsidy_V1_ListCallsRequest()).calls.map(\.id) == [call.id])
            let table = try await BureauListTests.ctl(daemon, as: "city", ["call", "list"], environment: ["LANG": "C.UTF-8", "LC_ALL": ""])
            #expect(table.contains(call.id) && table.contains("RECEIVED"), "\(table)")
            // Per-call counts in the quota and the year's report.
            let quota = try await BureauListTests.ctl(daemon, as: "city", ["quota", "--year", "2025"], environment: ["LANG": "C.UTF-8", "LC_ALL": ""])
            #expect(quota.contains("申报批次") && quota.contains(call.id), "\(quota)")
            let report = try await BureauListTests.ctl(daemon, as: "city", ["export", "report", "--year", "2025"])
            #expect(report.contains("\(call.id),2025,\(call.opensOn)..\(Self.chinaDay(-1)),已截止,3,0,0,1,1,1"), "\(report)")
        }
    }

    @Test("the calendar: a production daemon keeps Foshan's real day and refuses a call's own; a --dev rehearsal takes --today, and subsidyctl --today acts on a day of its own")
    func calendar() async throws {
        let refused = try await StartupIntegrityTests.subsidyd(["--config", "/nonexistent/subsidyd.toml", "--today", "2023-06-01"])
        #expect(refused.status != 0 && refused.error.contains("--today is for rehearsals"), "\(refused.error)")
        try await withDaemon(configuration: DaemonConfiguration(), testHooks: false) { daemon in
            let nanhai = try await daemon.client("nanhai")
            let own = await #expect(throws: SubsidyError.self) {
                try await nanhai.call(Foshan_Subsidy_V1_Programmes.Method.listProgrammes, .init(), metadata: ["x-today": "2022-06-01"])
            }
            #expect(own?.code == .invalidArgument && own?.message.contains("keeps Foshan's real calendar") == true, "\(own?.message ?? "")")
            let spelled = await #expect(throws: SubsidyError.self) {
                try await nanhai.call(Foshan_Subsidy_V1_Programmes.Method.listProgrammes, .init(), metadata: ["X-Today": "2022-06-01"])
            }
            #expect(spelled?.code == .invalidArgument, "\(String(describing: spelled))")
            await nanhai.close()
        }
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            // Every entry is read, whatever its case: one that is no date is refused.
            let twice = await #expect(throws: SubsidyError.self) {
                try await (try await daemon.client("nanhai")).call(
                    Foshan_Subsidy_V1_Programmes.Method.listProgrammes, .init(), metadata: ["x-today": "2023-06-01", "X-TODAY": "soon"])
            }
            #expect(twice?.code == .invalidArgument && twice?.message.contains("must be a date") == true, "\(String(describing: twice))")
            let rehearsal = ["--today", "2023-06-01"]
            #expect(try await BureauListTests.ctl(daemon, as: "nanhai", rehearsal + ["programmes", "--json"]).contains("\"open\""))
            let programmes = try await BureauListTests.ctl(daemon, as: "nanhai", ["programmes", "--json"])
            #expect(programmes.contains("\"closed\"") && programmes.contains("\"open\""), "\(programmes)")
            // On the daemon's day the 2020 measures have ended; on the rehearsal's they are in force.
            let city = Bureau(try await daemon.client("city"))
            let nanhai = Bureau(try await daemon.client("nanhai"))
            let provider = TestData.uscc(7_900, area: 5)
            try await city.pool(provider)
            try await nanhai.register(provider, role: .serviceProvider)
            let buyer = TestData.uscc(7_901, area: 5)
            try await nanhai.register(buyer)
            let voucher = TestData.voucher(enterprise: buyer, provider: provider, contractFen: 60_000_000, year: 2023, contract: "REH-1")
            let ended = await #expect(throws: SubsidyError.self) { try await nanhai.on(Self.today).submit(voucher) }
            #expect(ended?.code == .failedPrecondition && ended?.message.contains("ended on 2023-12-31") == true, "\(ended?.message ?? "")")
            let id = try await nanhai.on("2023-06-01").file(voucher)
            // Filed on the rehearsal's day: an approval dated the day before would answer content
            // the bureau had not yet received.
            let early = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "city"] + rehearsal + ["approve", id, "--decision-date", "2023-05-31"])
            #expect(early.status != 0 && early.error.contains("request.decision_date") && early.error.contains("before it was filed on 2023-06-01"), "\(early.error)")
            var get = Foshan_Subsidy_V1_GetApplicationRequest()
            get.applicationId = id
            let filed = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.getApplication, get).record
            #expect(filed?.filedOn == "2023-06-01" && filed?.state == .recommended, "\(String(describing: filed))")
            _ = try await BureauListTests.ctl(daemon, as: "city", rehearsal + ["approve", id, "--decision-date", "2023-06-01"])
            // A decision date left out is the rehearsal's day, not the machine's.
            _ = try await BureauListTests.ctl(daemon, as: "city", rehearsal + ["publicize", id])
            var show = Foshan_Subsidy_V1_GetApplicationRequest()
            show.applicationId = id
            let record = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.getApplication, show).record
            #expect(record?.state == .publicized && record?.publicizedOn == "2023-06-01", "\(String(describing: record))")
        }
    }

    @Test("subsidyctl show names the programme, the call an application was filed under and the reason it was filed late, in Chinese too")
    func showProgrammeAndLateReason() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let owner = TestData.uscc(7_700, area: 5)
            _ = try await BureauListTests.ctl(daemon, as: "nanhai", ["applicant", "register", "--uscc", owner, "--name", "佛山市南海区车间有限公司", "--role", "industrial_enterprise"])
            let opened = try await BureauListTests.ctl(
                daemon, as: "city", ["call", "open", "--programme", "foshan-dx-2021", "--measure", "DIGITAL_WORKSHOP", "--year", "2025", "--from", Self.chinaDay(-1), "--to", Self.chinaDay(30)])
            let call = "foshan-dx-2021/DIGITAL_WORKSHOP/2025/1"
            #expect(opened.contains(call), "\(opened)")
            let submit = ["submit", "--programme", "foshan-dx-2021", "--measure", "DIGITAL_WORKSHOP", "--year", "2025", "--enterprise", owner]
            let inside = try #require(try await BureauListTests.ctl(daemon, as: "nanhai", submit + ["--project-name", "数字化车间 1"]).split(separator: " ").first)
            // Closed from today; a filing now is late on purpose, with its reason.
            _ = try await BureauListTests.ctl(daemon, as: "city", ["call", "close", call, "--on", Self.chinaDay(-1)])
            let late = try #require(
                try await BureauListTests.ctl(daemon, as: "nanhai", submit + ["--project-name", "数字化车间 2", "--late-reason", "系统故障，经市局同意补报"]).split(separator: " ").first)

            let english = ["LANG": "C.UTF-8", "LC_ALL": ""]
            let shownInside = try await BureauListTests.ctl(daemon, as: "nanhai", ["show", String(inside)], environment: english)
            #expect(shownInside.contains("\nprogramme: foshan-dx-2021\n") && shownInside.contains("\ncall:      \(call)\n"), "\(shownInside)")
            #expect(!shownInside.contains("late:"), "filed inside the call: \(shownInside)")
            let shownLate = try await BureauListTests.ctl(daemon, as: "nanhai", ["show", String(late)], environment: english)
            #expect(shownLate.contains("\nlate:      filed outside an open call: 系统故障，经市局同意补报\n"), "\(shownLate)")
            let chinese = try await BureauListTests.ctl(daemon, as: "city", ["show", String(late)], environment: ["LANG": "zh_CN.UTF-8", "LC_ALL": ""])
            #expect(chinese.contains("\n政策:        foshan-dx-2021\n") && chinese.contains("\n申报批次:    \(call)\n"), "\(chinese)")
            #expect(chinese.contains("\n逾期原因:    系统故障，经市局同意补报\n"), "\(chinese)")
        }
    }

    @Test("call close says what it does: open through its last open day (today by default), closed from the next")
    func callCloseSaysWhen() async throws {
        try await withDaemon(extraArguments: ["--today", Self.today]) { daemon in
            let english = ["LANG": "C.UTF-8", "LC_ALL": ""]
            for measure in ["DIGITAL_WORKSHOP", "DIGITAL_FACTORY"] {
                _ = try await BureauListTests.ctl(
                    daemon, as: "city", ["call", "open", "--programme", "foshan-dx-2021", "--measure", measure, "--year", "2025", "--from", Self.chinaDay(-1), "--to", Self.chinaDay(30)])
            }
            let (workshop, factory) = ("foshan-dx-2021/DIGITAL_WORKSHOP/2025/1", "foshan-dx-2021/DIGITAL_FACTORY/2025/1")
            let byDefault = try await BureauListTests.ctl(daemon, as: "city", ["call", "close", workshop], environment: english)
            #expect(byDefault == "call \(workshop) open through \(Self.chinaDay()); closed from \(Self.chinaDay(1))\n", "\(byDefault)")
            let now = try await BureauListTests.ctl(daemon, as: "city", ["call", "close", factory, "--on", Self.chinaDay(-1)], environment: english)
            #expect(now == "call \(factory) open through \(Self.chinaDay(-1)); closed from \(Self.chinaDay())\n", "\(now)")
            // What the lines said is what the list shows today.
            let listed = try await BureauListTests.ctl(daemon, as: "city", ["call", "list"], environment: english)
            let states = listed.split(separator: "\n").reduce(into: [String: String]()) { states, line in
                let words = line.split(separator: " ")
                if words.count > 1 { states[String(words[0])] = String(words[1]) }
            }
            #expect(states[workshop] == "open" && states[factory] == "closed", "\(listed)")

            // Filing into the closed call is refused naming the protocol's field; subsidyctl
            // names the flag a clerk types for it.
            let owner = TestData.uscc(7_650, area: 5)
            _ = try await BureauListTests.ctl(daemon, as: "nanhai", ["applicant", "register", "--uscc", owner, "--name", "佛山数字工厂有限公司", "--role", "industrial_enterprise"])
            let filing = [
                "--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--programme", "foshan-dx-2021", "--measure", "DIGITAL_FACTORY",
                "--year", "2025", "--enterprise", owner, "--project-name", "数字化示范工厂", "--grade", "STANDARD",
            ]
            let late = try await runCtl(filing, environment: english)
            #expect(late.status == 19 && late.error.contains("request.late_reason") && late.error.contains("(with subsidyctl: --late-reason)"), "\(late.error)")
            let chinese = try await runCtl(filing, environment: ["LANG": "zh_CN.UTF-8", "LC_ALL": ""])
            #expect(chinese.error.contains("（命令行参数：--late-reason）"), "\(chinese.error)")
            #expect(try await runCtl(filing + ["--late-reason", "系统故障，经市局同意补报"], environment: english).status == 0)
        }
    }
}

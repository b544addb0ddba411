import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyServer
import SubsidyStore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// The programmes after 2023 through the handlers, in-process (PROGRAMMES.md): what each tenant
/// is offered, the city's difference awards beside a 2020 voucher, and stacking across levels.
/// Shunde deciding its own programme, the race at its cap and calls for applications (with
/// subsidyctl's views of them) run on the real daemon: SubsidyIntegrationTests'
/// `ProgrammesIntegrationTests`.
@Suite("programmes through the handlers")
struct ProgrammesTests {
    @Test("ListProgrammes: a district sees the city's programmes and its own, the city every one, each with level, window and state")
    func listing() async throws {
        try await withInProcessDaemon(today: "2024-06-30") { daemon in
            func names(_ tenant: String) async throws -> [Foshan_Subsidy_V1_Programme] {
                try await daemon.tenant(tenant).call(Foshan_Subsidy_V1_Programmes.Method.listProgrammes, Foshan_Subsidy_V1_ListProgrammesRequest()).programmes
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
            #expect(own.state == "open")
        }
    }

    @Test("a workshop → factory → 优秀 sequence under foshan-dx-2021 pays the differences; the old client's 2020 voucher still works beside it")
    func cityDifferenceAwards() async throws {
        try await withInProcessDaemon { daemon in
            let city = Bureau(daemon.tenant("city"))
            // Filing early in 2022, under both programmes: the decisions below are dated from then on.
            let nanhai = Bureau(daemon.tenant("nanhai"), filingOn: "2022-01-04")
            // A client that knows nothing of programmes files a voucher under the 2020 measures.
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

            daemon.today = "2025-12-31"
            let owner = TestData.uscc(7_100, area: 5)
            try await nanhai.register(owner)
            var ids: [String] = []
            for (number, year) in [(1, Int32(2022)), (2, 2023)] {
                let id = try await nanhai.file(ProgrammeData.workshop(owner, number, year: year))
                let approved = try await ProgrammeData.cityApprove(city, id, date: "\(year)-10-01")
                #expect(approved.awardedFen == 200_000_000)
                #expect(approved.explanation?.policyVersion.hasPrefix("foshan-dx-2021@") == true)
                ids.append(id)
            }
            let factory = try await nanhai.file(ProgrammeData.factory(owner, grade: .standard, year: 2024))
            let missing = await #expect(throws: SubsidyError.self) { try await ProgrammeData.cityApprove(city, factory, date: "2024-11-01") }
            #expect(missing?.code == .invalidArgument)
            let paid = try await ProgrammeData.cityApprove(city, factory, date: "2024-11-01", caseFen: 1_000_000_000, document: "佛工信〔2024〕88号")
            #expect(paid.awardedFen == 600_000_000)
            let difference = try #require(paid.explanation?.limits.first { $0.binding })
            #expect(difference.kind == "difference")
            #expect(difference.detail.contains("\(ids[0]) DIGITAL_WORKSHOP 2,000,000.00 + \(ids[1]) DIGITAL_WORKSHOP 2,000,000.00"))
            let excellent = try await nanhai.file(ProgrammeData.factory(owner, grade: .excellent, year: 2025))
            let second = try await ProgrammeData.cityApprove(city, excellent, date: "2025-11-01", caseFen: 2_000_000_000, document: "佛工信〔2025〕12号")
            #expect(second.awardedFen == 1_000_000_000)

            let quota = try await city.quota(year: 2024)
            #expect(quota.committed("DIGITAL_FACTORY.annual_count", "2024") == 1)
            // 2020 awards can still be disbursed and revoked after the policy ended.
            #expect(try await city.decide(Foshan_Subsidy_V1_CityService.Method.revokeApplication, voucher, reason: "合同解除").state == .revoked)
        }
    }

    @Test("stacking across levels: a contract the city's 2020 voucher paid 500,000 gets at most 500,000 more from CLOUD_USE")
    func stacking() async throws {
        try await withInProcessDaemon { daemon in
            let city = Bureau(daemon.tenant("city"))
            let shunde = Bureau(daemon.tenant("shunde"), filingOn: "2023-01-04")
            try await ProgrammeData.sellerInCatalogue(shunde)
            try await city.pool(ProgrammeData.seller)
            let buyer = TestData.uscc(7_300, area: 6)
            try await shunde.register(buyer)
            let voucher = try await shunde.file(TestData.voucher(enterprise: buyer, provider: ProgrammeData.seller, contractFen: 100_000_000, year: 2023, contract: "SD-STACK-1"))
            #expect(try await city.approve(voucher, date: "2023-08-01").awardedFen == 50_000_000)
            daemon.today = "2024-06-30"
            // Declaring three times the contract's spend makes no room: the base the voucher was
            // awarded on, kept with it in the ledger, stands.
            var application = ProgrammeData.cloudUse(buyer, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "sd stack 1")
            application.upperLevelSubsidyFen = 20_000_000
            let id = try await shunde.file(application)
            let approved = try await ProgrammeData.approveOwn(shunde, id, date: "2024-03-01")
            #expect(approved.awardedFen == 30_000_000)
            let stacking = try #require(approved.explanation?.limits.first { $0.kind == "stacking" })
            #expect(stacking.binding)
            #expect(stacking.detail.contains("\(voucher) (foshan-2020 CLOUD_VOUCHER) 500,000.00"))
            #expect(stacking.detail.contains("the base \(voucher) was awarded on, 1,000,000.00"), "\(stacking.detail)")
        }
    }

    @Test("stacking on an imported award: its base (base_fen) binds a later CLOUD_USE on the same contract; a base is a rate measure's, no less than the award, nor below the awards already made on its content")
    func stackingOnImport() async throws {
        try await withInProcessDaemon(today: "2025-06-30") { daemon in
            let city = Bureau(daemon.tenant("city"))
            let shunde = Bureau(daemon.tenant("shunde"), filingOn: "2024-03-01")
            try await ProgrammeData.sellerInCatalogue(shunde)
            let buyer = TestData.uscc(7_310, area: 6)
            try await shunde.register(buyer)
            func voucher(_ contract: String, baseFen: Int64, year: Int32 = 2023) -> Foshan_Subsidy_V1_HistoricalAward {
                var award = historical(.cloudVoucher, district: "shunde", enterprise: buyer, provider: ProgrammeData.seller, amountFen: 50_000_000, document: "佛工信〔\(year)〕\(contract)号", year: year)
                award.contractNumber = contract
                award.baseFen = baseFen
                return award
            }
            for (award, field) in [(voucher("IMP-X", baseFen: 40_000_000), "less than the award"), (voucher("IMP-Y", baseFen: -1), "must be ≥ 0")] {
                let refused = await #expect(throws: SubsidyError.self) { try await city.importAwards([award]) }
                #expect(refused?.code == .invalidArgument && refused?.message.contains("request.awards[0].base_fen") == true && refused?.message.contains(field) == true, "\(refused?.message ?? "")")
            }
            var pool = historical(.poolEntry, district: "shunde", enterprise: TestData.uscc(7_311, area: 6), amountFen: 10_000_000, document: "佛工信〔2023〕POOL号", year: 2023)
            pool.baseFen = 10_000_000
            let fixed = await #expect(throws: SubsidyError.self) { try await city.importAwards([pool]) }
            #expect(fixed?.message.contains("has no base") == true, "\(fixed?.message ?? "")")

            // 500,000 imported on a contract of 1,000,000; Shunde's CLOUD_USE declares 3,000,000 for it.
            let imported = try #require(try await city.importAwards([voucher("SD-IMP-1", baseFen: 100_000_000), voucher("SD-IMP-2", baseFen: 0, year: 2022)]).applicationIds.first)
            var application = ProgrammeData.cloudUse(buyer, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "sd imp 1")
            application.upperLevelSubsidyFen = 20_000_000
            let filed = try await shunde.file(application)
            // A district's own decision, too, is not dated before the filing it answers.
            let early = await #expect(throws: SubsidyError.self) { try await ProgrammeData.approveOwn(shunde, filed, date: "2024-02-29") }
            #expect(early?.code == .invalidArgument && early?.message.contains("approval of \(filed) on 2024-02-29 is before it was filed on 2024-03-01") == true, "\(early?.message ?? "")")
            let earlyRefusal = await #expect(throws: SubsidyError.self) {
                try await shunde.decide(Foshan_Subsidy_V1_DistrictProgrammes.Method.rejectApplication, filed, date: "2024-02-29")
            }
            #expect(earlyRefusal?.code == .invalidArgument && earlyRefusal?.message.contains("refusal of \(filed) on 2024-02-29 is before it was filed on 2024-03-01") == true,
                    "\(earlyRefusal?.message ?? "")")
            let bound = try await ProgrammeData.approveOwn(shunde, filed, date: "2024-06-01")
            #expect(bound.awardedFen == 30_000_000)
            let stacking = try #require(bound.explanation?.limits.first { $0.kind == "stacking" })
            #expect(stacking.detail.contains("the base \(imported) was awarded on, 1,000,000.00"), "\(stacking.detail)")
            // Without a base, the later filing is measured on its own: the revenue tier binds, not stacking.
            var unknown = ProgrammeData.cloudUse(buyer, spendFen: 300_000_000, revenueFen: 8_000_000_000, contract: "sd imp 2", year: 2025)
            unknown.upperLevelSubsidyFen = 20_000_000
            let unbound = try await ProgrammeData.approveOwn(shunde, try await shunde.file(unknown), date: "2025-06-02")
            #expect(unbound.explanation?.limits.first { $0.kind == "stacking" }?.binding == false, "\(String(describing: unbound.explanation?.limits))")
            // The row imported again with its base adds it, once (an import-base event), but not a base
            // below what the contract already holds: the CLOUD_USE paid beside it, the funds it declared
            // and the voucher itself come to 1,700,000.00, over 100% of 1,000,000.00.
            let unboundPaid = Money(fen: unbound.awardedFen)
            #expect(unboundPaid == Money(fen: 100_000_000), "\(unboundPaid)")
            let below = await #expect(throws: SubsidyError.self) { try await city.importAwards([voucher("SD-IMP-2", baseFen: 169_999_999, year: 2022)]) }
            #expect(below?.code == .failedPrecondition && below?.message.hasPrefix("request.awards[0].base_fen: ") == true
                    && below?.message.contains("would exceed the stacking limit on content \"SD-IMP-2\" with the base 1,699,999.99") == true
                    && below?.message.contains("revoke the award paid beyond it") == true, "\(below?.message ?? "")")
            let again = try await city.importAwards([voucher("SD-IMP-2", baseFen: 170_000_000, year: 2022)])
            #expect(again.imported == 0 && again.alreadyPresent == 1)
            let id = try #require(again.applicationIds.first)
            let recorded = try await daemon.services.stores.ledger.database.read { transaction in
                (
                    try transaction.query("SELECT stacking_base_fen FROM commitments WHERE application_id = ?", [.text(id)]).first?.int("stacking_base_fen"),
                    try transaction.query("SELECT COUNT(*) AS n FROM audit WHERE event LIKE '%\"import-base\"%'").first?.int("n")
                )
            }
            #expect(recorded.0 == 170_000_000 && recorded.1 == 1, "\(recorded)")
            #expect(try await city.importAwards([voucher("SD-IMP-2", baseFen: 170_000_000, year: 2022)]).alreadyPresent == 1)
            let changed = await #expect(throws: SubsidyError.self) { try await city.importAwards([voucher("SD-IMP-2", baseFen: 200_000_000, year: 2022)]) }
            #expect(changed?.code == .failedPrecondition && changed?.message.contains("request.awards[0].base_fen") == true, "\(changed?.message ?? "")")
            // A voucher's base belongs to its contract: without one it would bind nothing.
            var bare = voucher("", baseFen: 100_000_000, year: 2021)
            bare.contractNumber = ""
            let keyless = await #expect(throws: SubsidyError.self) { try await city.importAwards([bare]) }
            #expect(keyless?.code == .invalidArgument && keyless?.message.contains("request.awards[0].contract_number: is required with base_fen") == true, "\(keyless?.message ?? "")")
            // Imported without its contract, then sent again with one (to give it a base): the same
            // decision, not a second award charged against the caps again.
            bare.baseFen = 0
            let contractless = try #require(try await city.importAwards([bare]).applicationIds.first)
            var withContract = bare
            (withContract.contractNumber, withContract.baseFen) = ("SD-IMP-3", 100_000_000)
            let twice = await #expect(throws: SubsidyError.self) { try await city.importAwards([withContract]) }
            #expect(twice?.code == .failedPrecondition && twice?.message.contains("is \(contractless) (the same decision, enterprise and amount) imported without a contract number") == true,
                    "\(twice?.message ?? "")")
        }
    }

    @Test("a call closes from now on: a last day before yesterday is refused, as are decisions dated after today")
    func closedNotInThePast() async throws {
        try await withInProcessDaemon(today: "2025-06-30") { daemon in
            let city = Bureau(daemon.tenant("city"))
            func day(_ days: Int) -> String {
                (try! CalendarDate(parsing: daemon.today)).adding(days: days)!.description
            }
            var open = Foshan_Subsidy_V1_OpenCallRequest()
            (open.requestId, open.programme, open.measure, open.fundingYear) = ("past-call", "foshan-dx-2021", .digitalWorkshop, 2025)
            (open.opensOn, open.closesOn) = (day(-20), day(20))
            let call = try #require(try await city.client.call(Foshan_Subsidy_V1_Calls.Method.openCall, open).call)
            // A call inside its programme's window only: foshan-dx-2021 runs 2021-09-01..2025-12-31.
            for (field, opens, closes) in [("request.closes_on", "2025-12-01", "2026-01-31"), ("request.opens_on", "2021-08-01", "2021-09-30")] {
                var outside = open
                (outside.requestId, outside.fundingYear, outside.opensOn, outside.closesOn) = ("outside-\(field)", 2021, opens, closes)
                let refused = await #expect(throws: SubsidyError.self) { try await city.client.call(Foshan_Subsidy_V1_Calls.Method.openCall, outside) }
                #expect(refused?.code == .invalidArgument && refused?.message.contains("\(field): ") == true && refused?.message.contains("2021-09-01..2025-12-31") == true, "\(refused?.message ?? "")")
            }
            var close = Foshan_Subsidy_V1_CloseCallRequest()
            (close.requestId, close.callId, close.closedOn) = ("close-past", call.id, day(-5))
            let past = await #expect(throws: SubsidyError.self) { try await city.client.call(Foshan_Subsidy_V1_Calls.Method.closeCall, close) }
            #expect(past?.code == .invalidArgument && past?.message.contains("request.closed_on: \(day(-5)) has passed") == true, "\(past?.message ?? "")")
            var long = close
            (long.requestId, long.callId) = ("close-long", String(repeating: "x", count: InputLimits.callID + 1))
            let tooLong = await #expect(throws: SubsidyError.self) { try await city.client.call(Foshan_Subsidy_V1_Calls.Method.closeCall, long) }
            #expect(tooLong?.code == .invalidArgument && tooLong?.message.contains("request.call_id: must be at most 128") == true, "\(tooLong?.message ?? "")")
            (close.requestId, close.closedOn) = ("close-now", day(-1))
            #expect(try await city.client.call(Foshan_Subsidy_V1_Calls.Method.closeCall, close).call?.state == "closed")

            // A decision is entered once taken: a date to come is refused, naming the field.
            var approve = Foshan_Subsidy_V1_ApproveApplicationRequest()
            (approve.requestId, approve.applicationId, approve.decisionDate) = ("future", "nanhai-000001", day(1))
            let future = await #expect(throws: SubsidyError.self) { try await city.client.call(Foshan_Subsidy_V1_CityService.Method.approveApplication, approve) }
            #expect(future?.code == .invalidArgument && future?.message.contains("request.decision_date: \(day(1)) is after today in Foshan") == true, "\(future?.message ?? "")")
            // A plan commits nothing: next week's sitting may be planned.
            var plan = Foshan_Subsidy_V1_ApproveApplicationsRequest()
            (plan.requestId, plan.applicationIds, plan.decisionDate, plan.planOnly) = ("plan-next-week", ["nanhai-000001"], day(7), true)
            let planned = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.approveApplications, plan)
            #expect(planned.outcomes.count == 1 && planned.outcomes.first?.status?.message.contains("is after today") != true, "\(planned.outcomes)")
            // A close retried after its date has passed gets its first reply.
            close.requestId = "close-now"
            #expect(try await city.client.call(Foshan_Subsidy_V1_Calls.Method.closeCall, close).call?.state == "closed")
        }
    }

    @Test("a measure and year have at most 50 calls; a late filing goes under the one that opened last, not the last id as text")
    func callsBounded() async throws {
        try await withInProcessDaemon(today: "2025-06-30") { daemon in
            let city = Bureau(daemon.tenant("city"))
            let nanhai = Bureau(daemon.tenant("nanhai"))
            let first = try CalendarDate(parsing: "2025-01-01")
            func open(_ index: Int) async throws -> Foshan_Subsidy_V1_Call? {
                // One-day windows two days apart, in the order of their numbers.
                let day = CalendarDate(daysSinceEpoch: first.daysSinceEpoch + 2 * index)!.description
                var request = Foshan_Subsidy_V1_OpenCallRequest()
                request.requestId = "call-\(index)"
                request.programme = "foshan-dx-2021"
                request.measure = .digitalWorkshop
                request.fundingYear = 2025
                request.opensOn = day
                request.closesOn = day
                return try await city.client.call(Foshan_Subsidy_V1_Calls.Method.openCall, request).call
            }
            for index in 0..<InputLimits.callsPerMeasureYear {
                #expect(try await open(index)?.id == "foshan-dx-2021/DIGITAL_WORKSHOP/2025/\(index + 1)")
            }
            let refusal = await #expect(throws: SubsidyError.self) { try await open(InputLimits.callsPerMeasureYear) }
            #expect(refusal?.code == .failedPrecondition)
            #expect(refusal?.message.contains("already has 50 calls for funding year 2025") == true, "\(refusal?.message ?? "")")
            var list = Foshan_Subsidy_V1_ListCallsRequest()
            list.programme = "foshan-dx-2021"
            let whole = try await city.client.call(Foshan_Subsidy_V1_Calls.Method.listCalls, list)
            #expect(whole.calls.count == 50 && whole.nextPageToken.isEmpty)
            // In pages: the same calls in the same order, and a token that is no call is refused.
            list.pageSize = 20
            var paged: [String] = []
            repeat {
                let page = try await city.client.call(Foshan_Subsidy_V1_Calls.Method.listCalls, list)
                #expect(page.calls.count == min(20, 50 - paged.count))
                paged += page.calls.map(\.id)
                list.pageToken = page.nextPageToken
            } while !list.pageToken.isEmpty
            #expect(paged == whole.calls.map(\.id))
            list.pageToken = "foshan-dx-2021/DIGITAL_WORKSHOP/2025/99"
            let stale = await #expect(throws: SubsidyError.self) { try await city.client.call(Foshan_Subsidy_V1_Calls.Method.listCalls, list) }
            #expect(stale?.code == .invalidArgument && stale?.message.contains("request.page_token") == true, "\(stale?.message ?? "")")

            // Every window is past: filed late on purpose, the application is counted under the
            // call that opened last (…/50), where ids as text would give …/9.
            let owner = TestData.uscc(7_650, area: 5)
            try await nanhai.register(owner)
            var submit = Foshan_Subsidy_V1_SubmitApplicationRequest()
            submit.requestId = "late-workshop"
            submit.application = ProgrammeData.workshop(owner, 1, year: 2025)
            submit.lateReason = "补报"
            let record = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.submitApplication, submit).record
            #expect(record?.callId == "foshan-dx-2021/DIGITAL_WORKSHOP/2025/50")
        }
    }

    @Test("the city's decision is not dated before the district's recommendation (初审, then 复核); once the programme has ended nothing is recommended under it, nor amended onto another enterprise")
    func recommendationBeforeDecision() async throws {
        try await withInProcessDaemon(today: "2023-12-20") { daemon in
            let city = Bureau(daemon.tenant("city"))
            let shunde = Bureau(daemon.tenant("shunde"))
            try await ProgrammeData.sellerInCatalogue(shunde)
            try await city.pool(ProgrammeData.seller)
            let (buyer, other) = (TestData.uscc(7_810, area: 6), TestData.uscc(7_811, area: 6))
            try await shunde.register(buyer)
            try await shunde.register(other)
            func voucher(_ contract: String, enterprise: String? = nil) -> Foshan_Subsidy_V1_Application {
                TestData.voucher(enterprise: enterprise ?? buyer, provider: ProgrammeData.seller, contractFen: 100_000_000, year: 2023, contract: contract)
            }
            let id = try await shunde.on("2023-06-01").submit(voucher("REV-1")).id
            let recommended = try await shunde.on("2023-12-20").recommend(id)
            #expect(recommended.recommendedOn == "2023-12-20" && recommended.filedOn == "2023-06-01", "\(recommended)")
            let early = await #expect(throws: SubsidyError.self) { try await city.approve(id, date: "2023-12-01") }
            #expect(
                early?.code == .invalidArgument
                    && early?.message.contains("request.decision_date: approval of \(id) on 2023-12-01 is before the district recommended it (初审) on 2023-12-20") == true,
                "\(early?.message ?? "")")
            #expect(try await city.approve(id, date: "2023-12-20").state == .approved)

            // Filed in the window, reviewed after it: a recommendation could only be followed by a
            // 2023 decision dated before it. It is refused; the application is rejected instead.
            let late = try await shunde.on("2023-12-28").submit(voucher("REV-2")).id
            let ended = await #expect(throws: SubsidyError.self) { try await shunde.on("2024-01-02").recommend(late) }
            #expect(ended?.code == .failedPrecondition, "\(String(describing: ended))")
            #expect(
                ended?.message.contains("programme foshan-2020 ended on 2023-12-31") == true && ended?.message.contains("\(late) recommended on 2024-01-02 could never be approved") == true,
                "\(ended?.message ?? "")")
            // Amended onto another enterprise it would be that enterprise's new filing, after the end.
            var amend = Foshan_Subsidy_V1_AmendApplicationRequest()
            (amend.requestId, amend.applicationId, amend.application, amend.reason) = ("onto-other", late, voucher("REV-2", enterprise: other), "换企业")
            let moved = await #expect(throws: SubsidyError.self) {
                try await shunde.on("2024-01-02").client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, amend)
            }
            #expect(
                moved?.code == .failedPrecondition
                    && moved?.message.contains("\(late) cannot be amended to enterprise \(other) (a new filing for it): programme foshan-2020 ended on 2023-12-31") == true,
                "\(moved?.message ?? "")")
            // Recommended on paper on 2023-12-29 and entered after the end: the day it names is
            // its recommendation's, not before its filing nor after today.
            let paper = try await shunde.on("2023-12-28").submit(voucher("REV-3", enterprise: other)).id
            var entered = Foshan_Subsidy_V1_ReviewApplicationRequest()
            (entered.requestId, entered.applicationId, entered.outcome, entered.reviewDate) = ("paper-early", paper, .recommend, "2023-12-27")
            let beforeFiling = await #expect(throws: SubsidyError.self) {
                try await shunde.on("2024-01-03").client.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, entered)
            }
            #expect(
                beforeFiling?.code == .invalidArgument
                    && beforeFiling?.message.hasPrefix("request.review_date: 2023-12-27 is before \(paper) was filed on 2023-12-28") == true,
                "\(String(describing: beforeFiling))")
            (entered.requestId, entered.reviewDate) = ("paper", "2023-12-29")
            let onPaper = try #require(try await shunde.on("2024-01-03").client.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, entered).record)
            #expect(onPaper.recommendedOn == "2023-12-29", "\(onPaper)")
            #expect(try await city.on("2024-01-03").approve(paper, date: "2023-12-30").state == .approved)
            var reject = Foshan_Subsidy_V1_ReviewApplicationRequest()
            (reject.requestId, reject.applicationId, reject.outcome, reject.reason) = ("reject-\(late)", late, .reject, "政策已到期")
            #expect(try await shunde.on("2024-01-02").client.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, reject).record?.state == .rejected)
        }
    }

    @Test("several contracts of one project are several contents for the measures that pay a share of a contract: two 上云用云 awards and a voucher, each on its own contract's base")
    func contractsOfOneProject() async throws {
        try await withInProcessDaemon(today: "2023-06-01") { daemon in
            let city = Bureau(daemon.tenant("city"))
            let shunde = Bureau(daemon.tenant("shunde")).on("2023-06-01")
            try await ProgrammeData.sellerInCatalogue(shunde)
            try await city.pool(ProgrammeData.seller)
            let buyer = TestData.uscc(7_820, area: 6)
            try await shunde.register(buyer)
            func onProject(_ application: Foshan_Subsidy_V1_Application) -> Foshan_Subsidy_V1_Application {
                var application = application
                application.projectName = "设备上云"
                return application
            }
            func use(_ contract: String, spendFen: Int64) -> Foshan_Subsidy_V1_Application {
                onProject(ProgrammeData.cloudUse(buyer, spendFen: spendFen, revenueFen: 8_000_000_000, contract: contract, year: 2023))
            }
            let first = try await shunde.file(use("HT-B1", spendFen: 10_000_000))
            #expect(try await ProgrammeData.approveOwn(shunde, first, date: "2023-06-01").awardedFen == 5_000_000)
            // Another product for the same project: its own contract, its own half.
            let second = try await shunde.file(use("HT-B3", spendFen: 20_000_000))
            #expect(try await ProgrammeData.approveOwn(shunde, second, date: "2023-06-01").awardedFen == 10_000_000)
            // The city's voucher on a third contract of it is measured on that contract alone.
            let voucher = try await shunde.file(onProject(TestData.voucher(enterprise: buyer, provider: ProgrammeData.seller, contractFen: 60_000_000, year: 2023, contract: "HT-B2")))
            let approved = try await city.approve(voucher, date: "2023-06-01")
            #expect(approved.awardedFen == 30_000_000, "\(approved.explanation?.rendered ?? "")")
            #expect(approved.explanation?.limits.contains { $0.kind == "stacking" } != true, "\(approved.explanation?.rendered ?? "")")
            // An imported voucher that names no contract is its project's: a 上云用云 on a contract
            // of that project counts it (100,000 − 80,000 left).
            let other = TestData.uscc(7_821, area: 6)
            try await shunde.register(other)
            var imported = historical(.cloudVoucher, district: "shunde", enterprise: other, provider: ProgrammeData.seller, amountFen: 8_000_000, document: "佛工信〔2023〕50号", year: 2023)
            imported.projectName = "设备上云"
            #expect(try await city.importAwards([imported]).imported == 1)
            var theirs = ProgrammeData.cloudUse(other, spendFen: 10_000_000, revenueFen: 8_000_000_000, contract: "HT-B9", year: 2023)
            theirs.projectName = "设备上云"
            let stacked = try await ProgrammeData.approveOwn(shunde, try await shunde.file(theirs), date: "2023-06-01")
            #expect(stacked.awardedFen == 2_000_000, "\(stacked.explanation?.rendered ?? "")")
            // One contract is still one content: a second 上云用云 on HT-B1 is double funding.
            let again = await #expect(throws: SubsidyError.self) { try await shunde.submit(use("HT-B1", spendFen: 10_000_000)) }
            #expect(again?.code == .failedPrecondition && again?.message.contains("duplicate_content") == true && again?.message.contains(first) == true, "\(again?.message ?? "")")
        }
    }

    @Test("Shunde's 省市标杆配套 matches the city's benchmark award for the same project it exists to match, all public money for it within the base the city's award was computed from")
    func benchmarkMatchStacks() async throws {
        try await withInProcessDaemon(today: "2023-06-01") { daemon in
            let city = Bureau(daemon.tenant("city"))
            let shunde = Bureau(daemon.tenant("shunde")).on("2023-06-01")
            let enterprise = TestData.uscc(7_830, area: 6)
            try await shunde.register(enterprise)
            // The city's 30% of 4,000,000 invested: 1,200,000.
            let benchmark = try await shunde.file(TestData.benchmark(enterprise: enterprise, investedFen: 400_000_000, year: 2023, name: "智能产线改造"))
            #expect(try await city.approve(benchmark, date: "2023-06-01").awardedFen == 120_000_000)
            // Shunde decides 4,000,000 to match it: all public money ≤ the 4,000,000 base leaves 2,800,000.
            let match = try await shunde.file(ProgrammeData.benchmarkMatch(enterprise, projectName: "智能产线改造", year: 2023))
            let matched = try await ProgrammeData.approveOwn(shunde, match, date: "2023-06-01", caseFen: 400_000_000)
            #expect(matched.awardedFen == 280_000_000, "\(matched.explanation?.rendered ?? "")")
            #expect(matched.explanation?.rendered.contains("the base \(benchmark) was awarded on, 4,000,000.00") == true, "\(matched.explanation?.rendered ?? "")")
            // Declared with the match, 1,000,000 of provincial funds bind the city's combined limit
            // (upper-level + city ≤ 50% of the investment) though the city's application declares none.
            let second = TestData.uscc(7_831, area: 6)
            try await shunde.register(second)
            var declared = ProgrammeData.benchmarkMatch(second, projectName: "智能仓储", year: 2023)
            declared.upperLevelSubsidyFen = 100_000_000
            #expect(try await ProgrammeData.approveOwn(shunde, try await shunde.file(declared), date: "2023-06-01", caseFen: 50_000_000).awardedFen == 50_000_000)
            let cityAward = try await city.approve(
                try await shunde.file(TestData.benchmark(enterprise: second, investedFen: 400_000_000, year: 2023, name: "智能仓储")), date: "2023-06-01")
            #expect(cityAward.awardedFen == 100_000_000, "2,000,000 − 1,000,000: \(cityAward.explanation?.rendered ?? "")")
            // A second match of it under Shunde's own programme is still double funding.
            let again = await #expect(throws: SubsidyError.self) {
                try await shunde.submit(ProgrammeData.benchmarkMatch(enterprise, projectName: "智能产线改造 ", year: 2023))
            }
            #expect(again?.code == .failedPrecondition && again?.message.contains("duplicate_content") == true, "\(again?.message ?? "")")
        }
    }

    @Test("history decided under the city's successor programme is imported under it: its difference award subtracts the imported workshops, its caps count them; a district programme's is refused")
    func importUnderSuccessor() async throws {
        try await withInProcessDaemon(today: "2024-11-01") { daemon in
            let city = Bureau(daemon.tenant("city"))
            let chancheng = Bureau(daemon.tenant("chancheng")).on("2024-09-02")
            let enterprise = TestData.uscc(7_840, area: 4)
            try await chancheng.register(enterprise)
            func imported(_ measure: Foshan_Subsidy_V1_Measure, year: Int32, amountFen: Int64, project: String, document: String) -> Foshan_Subsidy_V1_HistoricalAward {
                var award = historical(measure, district: "chancheng", enterprise: enterprise, amountFen: amountFen, document: document, year: year)
                award.programme = "foshan-dx-2021"
                award.projectName = project
                return award
            }
            // PROGRAMMES.md worked example 2, its workshops decided before the system.
            let workshops = [
                imported(.digitalWorkshop, year: 2022, amountFen: 200_000_000, project: "数字化车间（1号）", document: "佛工信〔2022〕31号"),
                imported(.digitalWorkshop, year: 2023, amountFen: 200_000_000, project: "数字化车间（2号）", document: "佛工信〔2023〕31号"),
            ]
            #expect(try await city.importAwards(workshops).imported == 2)
            #expect(try await city.importAwards(workshops).alreadyPresent == 2, "the same file again")
            let factory = try await chancheng.file(ProgrammeData.factory(enterprise, grade: .standard, year: 2024))
            let paid = try await ProgrammeData.cityApprove(city, factory, date: "2024-11-01", caseFen: 1_000_000_000, document: "佛工信〔2024〕88号")
            #expect(paid.awardedFen == 600_000_000, "10,000,000 less the imported 4,000,000: \(paid.explanation?.rendered ?? "")")
            // Its caps count them: the enterprise's workshops over the programme's life.
            let quota = try await city.quota(year: 2022)
            #expect(quota.caps.contains { $0.capId == "DIGITAL_WORKSHOP.annual_count" && $0.scope == "2022" && $0.count == 1 }, "\(quota.caps.filter { $0.capId.hasPrefix("DIGITAL") })")
            let life = try await city.quota()
            #expect(life.caps.contains { $0.capId == "DIGITAL_WORKSHOP.per_enterprise_life" && $0.scope == "foshan-dx-2021/\(enterprise)" && $0.count == 2 },
                    "\(life.caps.filter { $0.capId.hasPrefix("DIGITAL_WORKSHOP") })")
            // A difference award imported is the difference paid: another enterprise's workshop
            // and a factory of 10,000,000 at the STANDARD ceiling would come to 12,000,000.
            let other = TestData.uscc(7_841, area: 4)
            func otherAward(_ measure: Foshan_Subsidy_V1_Measure, amountFen: Int64, project: String, document: String) -> Foshan_Subsidy_V1_HistoricalAward {
                var award = historical(measure, district: "chancheng", enterprise: other, amountFen: amountFen, document: document, year: 2023)
                (award.programme, award.projectName) = ("foshan-dx-2021", project)
                return award
            }
            var factoryRow = otherAward(.digitalFactory, amountFen: 1_000_000_000, project: "工厂", document: "佛工信〔2023〕41号")
            factoryRow.grade = .standard
            let beyond = await #expect(throws: SubsidyError.self) {
                try await city.importAwards([otherAward(.digitalWorkshop, amountFen: 200_000_000, project: "车间", document: "佛工信〔2023〕42号"), factoryRow])
            }
            #expect(beyond?.code == .failedPrecondition && beyond?.message.contains("request.awards[1].amount_fen") == true && beyond?.message.contains("difference award") == true,
                    "\(String(describing: beyond))")
            factoryRow.amountFen = 800_000_000
            #expect(try await city.importAwards([otherAward(.digitalWorkshop, amountFen: 200_000_000, project: "车间", document: "佛工信〔2023〕42号"), factoryRow]).imported == 2)
            // A grade on a measure that has none is refused, not made part of the row's identity.
            var gradedWorkshop = otherAward(.digitalWorkshop, amountFen: 200_000_000, project: "车间二", document: "佛工信〔2023〕43号")
            gradedWorkshop.grade = .excellent
            let notGraded = await #expect(throws: SubsidyError.self) { try await city.importAwards([gradedWorkshop]) }
            #expect(notGraded?.message.hasPrefix("request.awards[0].grade: DIGITAL_WORKSHOP of foshan-dx-2021 is not graded") == true, "\(String(describing: notGraded))")

            // A graded recognition names its grade; a district programme's history is not the city's to import.
            var ungraded = imported(.digitalFactory, year: 2023, amountFen: 500_000_000, project: "工厂", document: "佛工信〔2023〕40号")
            let noGrade = await #expect(throws: SubsidyError.self) { try await city.importAwards([ungraded]) }
            #expect(noGrade?.code == .invalidArgument && noGrade?.message.hasPrefix("request.awards[0].grade: is required for DIGITAL_FACTORY") == true, "\(String(describing: noGrade))")
            ungraded.grade = .standard
            ungraded.amountFen = 1_500_000_000
            let tooMuch = await #expect(throws: SubsidyError.self) { try await city.importAwards([ungraded]) }
            #expect(tooMuch?.message.hasPrefix("request.awards[0].amount_fen") == true, "\(String(describing: tooMuch))")
            var district = imported(.cloudUse, year: 2023, amountFen: 10_000_000, project: "上云", document: "顺经促〔2023〕3号")
            district.programme = "shunde-dx-2021"
            let own = await #expect(throws: SubsidyError.self) { try await city.importAwards([district]) }
            #expect(own?.code == .failedPrecondition && own?.message.contains("shunde-dx-2021 is a district's own programme") == true, "\(String(describing: own))")
            // In a file of many rows, a refusal says which row: an unknown programme, a year outside the one named.
            var unknown = district
            unknown.programme = "foshan-dx-2031"
            let notOne = await #expect(throws: SubsidyError.self) { try await city.importAwards([workshops[0], unknown]) }
            #expect(notOne?.code == .invalidArgument && notOne?.message.hasPrefix("request.awards[1].programme: unknown programme 'foshan-dx-2031' (programmes: foshan-2020, foshan-dx-2021,") == true,
                    "\(String(describing: notOne))")
            var early = workshops[0]
            early.fundingYear = 2020
            let outside = await #expect(throws: SubsidyError.self) { try await city.importAwards([workshops[1], early]) }
            #expect(outside?.code == .failedPrecondition && outside?.message.hasPrefix("validity_window: request.awards[1].funding_year: funding year 2020 is outside policy foshan-dx-2021") == true,
                    "\(String(describing: outside))")
        }
    }

    @Test("a programme takes applications only while in force: after its window, filing, amending onto it and quoting are refused; its awards are still paid and revoked")
    func filingWindow() async throws {
        try await withInProcessDaemon(today: "2023-12-31") { daemon in
            let city = Bureau(daemon.tenant("city"))
            let shunde = Bureau(daemon.tenant("shunde"))
            try await ProgrammeData.sellerInCatalogue(shunde)
            try await city.pool(ProgrammeData.seller)
            let buyer = TestData.uscc(7_800, area: 6)
            try await shunde.register(buyer)
            let voucher = try await shunde.file(TestData.voucher(enterprise: buyer, provider: ProgrammeData.seller, contractFen: 100_000_000, year: 2023, contract: "WIN-1"))
            #expect(try await city.approve(voucher, date: "2023-12-01").awardedFen == 50_000_000)
            // Filed on the last day, returned for correction (退回补正).
            let returned = try await shunde.on("2023-12-31").submit(TestData.voucher(enterprise: buyer, provider: ProgrammeData.seller, contractFen: 80_000_000, year: 2023, contract: "WIN-R")).id
            var review = Foshan_Subsidy_V1_ReviewApplicationRequest()
            (review.requestId, review.applicationId, review.outcome, review.reason) = ("return-\(returned)", returned, .return, "发票缺失")
            _ = try await shunde.client.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, review)

            // The day after the 2020 measures ended: a filing under them could only be refused, or
            // approved under a date made up inside the old window.
            daemon.today = "2024-01-01"
            let late = TestData.voucher(enterprise: buyer, provider: ProgrammeData.seller, contractFen: 100_000_000, year: 2023, contract: "WIN-2")
            let ended = await #expect(throws: SubsidyError.self) { try await shunde.on(daemon.today).submit(late) }
            #expect(ended?.code == .failedPrecondition)
            #expect(ended?.message.contains("programme foshan-2020 ended on 2023-12-31") == true && ended?.message.contains("2024-01-01") == true, "\(ended?.message ?? "")")
            // Filing late on purpose is for a call's window, not the programme's.
            var lateFiling = Foshan_Subsidy_V1_SubmitApplicationRequest()
            (lateFiling.requestId, lateFiling.application, lateFiling.lateReason) = ("late-after-end", late, "系统故障补报")
            let stillEnded = await #expect(throws: SubsidyError.self) { try await shunde.client.call(Foshan_Subsidy_V1_DistrictService.Method.submitApplication, lateFiling) }
            #expect(stillEnded?.code == .failedPrecondition && stillEnded?.message.contains("ended on 2023-12-31") == true, "\(stillEnded?.message ?? "")")
            // The application returned before the end is corrected under the programme it was filed under.
            var correction = Foshan_Subsidy_V1_AmendApplicationRequest()
            var corrected = TestData.voucher(enterprise: buyer, provider: ProgrammeData.seller, contractFen: 80_000_000, year: 2023, contract: "WIN-R")
            corrected.projectName = "设备上云（补正）"
            (correction.requestId, correction.applicationId, correction.application, correction.reason) = ("correct-\(returned)", returned, corrected, "补正发票")
            let correctedRecord = try #require(try await shunde.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, correction).record)
            #expect(correctedRecord.state == .submitted && correctedRecord.filedOn == "2024-01-01", "\(correctedRecord)")
            // Received after the end, it can no longer be approved: a decision inside the window
            // would be dated before the content it approves. The clerk is told so.
            #expect(correctedRecord.warnings.contains { $0.contains("ended on 2023-12-31") && $0.contains("only be refused or withdrawn") }, "\(correctedRecord.warnings)")
            // Nor can it be recommended for one: from the day it was filed the programme has ended,
            // and a recommendation dated before would be before its filing.
            let recommendedLate = await #expect(throws: SubsidyError.self) { try await shunde.on("2024-01-01").recommend(returned) }
            #expect(recommendedLate?.code == .failedPrecondition && recommendedLate?.message.contains("ended on 2023-12-31") == true, "\(String(describing: recommendedLate))")
            var backDated = Foshan_Subsidy_V1_ReviewApplicationRequest()
            (backDated.requestId, backDated.applicationId, backDated.outcome, backDated.reviewDate) = ("back-dated", returned, .recommend, "2023-12-31")
            let beforeFiling = await #expect(throws: SubsidyError.self) {
                try await shunde.on("2024-01-01").client.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, backDated)
            }
            #expect(
                beforeFiling?.code == .invalidArgument && beforeFiling?.message.contains("2023-12-31 is before \(returned) was filed on 2024-01-01") == true,
                "\(beforeFiling?.message ?? "")")
            // Nor is it quoted as if it could be (undated: as of the programme's last day).
            var quoteStored = Foshan_Subsidy_V1_QuoteRequest()
            quoteStored.applicationId = returned
            let unquoted = await #expect(throws: SubsidyError.self) { try await city.client.call(Foshan_Subsidy_V1_CityService.Method.quote, quoteStored) }
            #expect(unquoted?.code == .invalidArgument && unquoted?.message.contains("on 2023-12-31 is before it was filed on 2024-01-01") == true, "\(unquoted?.message ?? "")")
            var rejected = Foshan_Subsidy_V1_ReviewApplicationRequest()
            (rejected.requestId, rejected.applicationId, rejected.outcome, rejected.reason) = ("reject-\(returned)", returned, .reject, "逾期补正")
            #expect(try await shunde.on("2024-01-01").client.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, rejected).record?.state == .rejected)
            var quote = Foshan_Subsidy_V1_QuoteRequest()
            quote.application = late
            let quoted = await #expect(throws: SubsidyError.self) { try await shunde.client.call(Foshan_Subsidy_V1_DistrictService.Method.quote, quote) }
            #expect(quoted?.code == .failedPrecondition && quoted?.message.contains("ended on 2023-12-31") == true, "\(quoted?.message ?? "")")
            // An application filed under a programme in force cannot be amended onto the ended one.
            let use = try await shunde.file(ProgrammeData.cloudUse(buyer, spendFen: 100_000_000, revenueFen: 8_000_000_000, contract: "WIN-3"))
            var amend = Foshan_Subsidy_V1_AmendApplicationRequest()
            (amend.requestId, amend.applicationId, amend.application, amend.reason) = ("onto-ended", use, late, "改报旧政策")
            let moved = await #expect(throws: SubsidyError.self) { try await shunde.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, amend) }
            #expect(moved?.code == .failedPrecondition && moved?.message.contains("ended on 2023-12-31") == true, "\(moved?.message ?? "")")
            // Its award is still paid and clawed back.
            #expect(try await city.decide(Foshan_Subsidy_V1_CityService.Method.publicizeApplication, voucher, date: "2024-01-01").state == .publicized)

            // Years later every shipped programme has ended: Shunde cannot file under its own and
            // approve it back-dated into the window.
            daemon.today = "2026-12-06"
            let after = await #expect(throws: SubsidyError.self) {
                try await shunde.submit(ProgrammeData.cloudUse(buyer, spendFen: 100_000_000, revenueFen: 8_000_000_000, contract: "WIN-4", year: 2025))
            }
            #expect(after?.code == .failedPrecondition && after?.message.contains("programme shunde-dx-2021 ended on 2025-12-31") == true, "\(after?.message ?? "")")
            #expect(try await city.decide(Foshan_Subsidy_V1_CityService.Method.revokeApplication, voucher, reason: "合同解除").state == .revoked)
            // Decisions taken before the system are still imported, whatever programme they were under.
            let imported = try await city.importAwards([historical(.cloudVoucher, district: "shunde", enterprise: TestData.uscc(7_801, area: 6), provider: ProgrammeData.seller, amountFen: 10_000_000, document: "佛工信〔2022〕99号")])
            #expect(imported.imported == 1)

            // Nor before it begins.
            daemon.today = "2021-08-31"
            let early = await #expect(throws: SubsidyError.self) { try await shunde.submit(ProgrammeData.workshop(buyer, 1, year: 2021)) }
            #expect(early?.code == .failedPrecondition && early?.message.contains("foshan-dx-2021 is in force from 2021-09-01") == true, "\(early?.message ?? "")")
        }
    }
}

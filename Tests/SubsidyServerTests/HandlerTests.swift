import Foundation
import Logging
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing
@testable import SubsidyServer
@testable import SubsidyStore

@Suite("handlers in-process")
struct HandlerTests {
    typealias District = Foshan_Subsidy_V1_DistrictService.Method
    typealias City = Foshan_Subsidy_V1_CityService.Method

    /// A 顺德 (area 440606) enterprise numbered `n`.
    static func uscc(_ n: Int) throws -> String {
        let digits = String(n)
        return try USCC.makeValid(prefix16: "91440606MA" + String(repeating: "0", count: 6 - digits.count) + digits).rawValue
    }

    /// Registers an enterprise in 顺德 and files a benchmark project for it; returns its id.
    static func file(_ daemon: InProcessDaemon, _ n: Int, fundingYear: Int = 2022) async throws -> String {
        var register = Foshan_Subsidy_V1_RegisterApplicantRequest()
        register.requestId = "register-\(n)"
        var applicant = Foshan_Subsidy_V1_Applicant()
        applicant.uscc = try uscc(n)
        applicant.name = "佛山市顺德区测试制造有限公司 \(n)"
        applicant.locality = .local
        applicant.role = .industrialEnterprise
        register.applicant = applicant
        _ = try await daemon.call(District.registerApplicant, register, as: "shunde")

        var submit = Foshan_Subsidy_V1_SubmitApplicationRequest()
        submit.requestId = "submit-\(n)"
        var application = Foshan_Subsidy_V1_Application()
        application.measure = .benchmarkProject
        application.fundingYear = .init(fundingYear)
        application.enterpriseUscc = try uscc(n)
        application.investedAmountFen = 100_000_000
        application.selectionLevel = .municipal
        application.projectName = "智能工厂 \(n)"
        submit.application = application
        return try #require(try await daemon.call(District.submitApplication, submit, as: "shunde", metadata: ["x-today": Bureau.filingDay]).record?.id)
    }

    @Test("an enum number the contract does not define is refused naming the field, not read as unset or LOCAL; a count limit's headroom is the awards it has room for")
    func unknownEnumsAndCountHeadroom() async throws {
        let daemon = try await InProcessDaemon()
        var application = Foshan_Subsidy_V1_Application()
        application.measure = .benchmarkProject
        application.fundingYear = 2022
        application.enterpriseUscc = try Self.uscc(901)
        application.investedAmountFen = 100_000_000
        application.selectionLevel = .municipal
        application.projectName = "智能工厂 901"
        var quote = Foshan_Subsidy_V1_QuoteRequest()
        quote.decisionDate = "2022-09-01"
        for (field, change) in [
            ("application.enterprise_locality", { (a: inout Foshan_Subsidy_V1_Application) in a.enterpriseLocality = .init(rawValue: 99) }),
            ("application.selection_level", { (a: inout Foshan_Subsidy_V1_Application) in a.selectionLevel = .init(rawValue: 99) }),
            ("application.measure", { (a: inout Foshan_Subsidy_V1_Application) in a.measure = .init(rawValue: 99) }),
        ] {
            var odd = application
            change(&odd)
            quote.application = odd
            let refused = await #expect(throws: SubsidyError.self) { try await daemon.call(City.quote, quote, as: "city") }
            #expect(refused?.code == .invalidArgument && refused?.message.hasPrefix("\(field): 99 is not a value of this contract") == true, "\(String(describing: refused))")
        }
        // Unset, the city's pre-check of an unregistered enterprise takes it as LOCAL, as documented.
        quote.application = application
        let explanation = try #require(try await daemon.call(City.quote, quote, as: "city").explanation)
        let count = try #require(explanation.limits.first { $0.kind == "annual_count" })
        #expect(count.limit == 30 && count.committed == 0 && count.headroom == 30, "\(count)")
    }

    @Test("a reason of blanks and invisible characters is no reason; an amendment that changes nothing is refused while SUBMITTED, taken as the resubmission of a returned one")
    func blankReasonsAndEmptyAmendments() async throws {
        let daemon = try await InProcessDaemon()
        let id = try await Self.file(daemon, 910)
        var reject = Foshan_Subsidy_V1_ReviewApplicationRequest()
        (reject.requestId, reject.applicationId, reject.outcome, reject.reason) = ("reject-blank", id, .reject, "\u{3000} \u{200B}")
        let blank = await #expect(throws: SubsidyError.self) { try await daemon.call(District.reviewApplication, reject, as: "shunde") }
        #expect(blank?.code == .invalidArgument && blank?.message.hasPrefix("request.reason: is required") == true, "\(String(describing: blank))")
        var get = Foshan_Subsidy_V1_GetApplicationRequest()
        get.applicationId = id
        let filed = try #require(try await daemon.call(District.getApplication, get, as: "shunde").record?.application)
        var amend = Foshan_Subsidy_V1_AmendApplicationRequest()
        (amend.requestId, amend.applicationId, amend.application, amend.reason) = ("amend-same", id, filed, "再次提交")
        let same = await #expect(throws: SubsidyError.self) { try await daemon.call(District.amendApplication, amend, as: "shunde") }
        #expect(same?.code == .failedPrecondition && same?.message.contains("the amendment changes nothing") == true, "\(String(describing: same))")
        var giveBack = reject
        (giveBack.requestId, giveBack.outcome, giveBack.reason) = ("return-910", .return, "补充纸质材料")
        _ = try await daemon.call(District.reviewApplication, giveBack, as: "shunde")
        amend.requestId = "resubmit-same"
        #expect(try await daemon.call(District.amendApplication, amend, as: "shunde").record?.state == .submitted)
        // The city's refusal too.
        var recommend = reject
        (recommend.requestId, recommend.outcome, recommend.reason) = ("recommend-910", .recommend, "")
        _ = try await daemon.call(District.reviewApplication, recommend, as: "shunde")
        var cityReject = Foshan_Subsidy_V1_DecideApplicationRequest()
        (cityReject.requestId, cityReject.applicationId, cityReject.reason) = ("city-reject-blank", id, " \u{200B}\u{3000}")
        let cityBlank = await #expect(throws: SubsidyError.self) { try await daemon.call(City.rejectApplication, cityReject, as: "city") }
        #expect(cityBlank?.code == .invalidArgument && cityBlank?.message.hasPrefix("request.reason: is required to reject") == true, "\(String(describing: cityBlank))")
    }

    @Test("the lifecycle through the router: submit, review, approve, publicize, disburse, and a revocation not dated before the payment")
    func lifecycle() async throws {
        let daemon = try await InProcessDaemon()
        let id = try await Self.file(daemon, 1)
        var review = Foshan_Subsidy_V1_ReviewApplicationRequest()
        review.requestId = "review-1"
        review.applicationId = id
        review.outcome = .recommend
        #expect(try await daemon.call(District.reviewApplication, review, as: "shunde", metadata: ["x-today": Bureau.filingDay]).record?.state == .recommended)

        var approve = Foshan_Subsidy_V1_ApproveApplicationRequest()
        approve.requestId = "approve-1"
        approve.applicationId = id
        approve.decisionDate = "2022-09-01"
        let approved = try #require(try await daemon.call(City.approveApplication, approve, as: "city").record)
        #expect(approved.state == .approved)
        #expect(approved.awardedFen == 30_000_000)  // 30% of 1,000,000 yuan
        // The retry gets the same response.
        #expect(try await daemon.call(City.approveApplication, approve, as: "city").record == approved)
        // Recommending it again is refused for its state, not as a duplicate of its own award.
        review.requestId = "review-again"
        let again = await #expect(throws: SubsidyError.self) { try await daemon.call(District.reviewApplication, review, as: "shunde") }
        #expect(again?.code == .failedPrecondition && again?.message.hasPrefix("state: cannot recommend an application that is APPROVED") == true, "\(String(describing: again))")

        var publicize = Foshan_Subsidy_V1_DecideApplicationRequest()
        publicize.requestId = "publicize-1"
        publicize.applicationId = id
        publicize.decisionDate = "2022-09-02"
        #expect(try await daemon.call(City.publicizeApplication, publicize, as: "city").record?.state == .publicized)
        var disburse = publicize
        disburse.requestId = "disburse-1"
        disburse.decisionDate = "2022-09-20"
        #expect(try await daemon.call(City.disburseApplication, disburse, as: "city").record?.state == .disbursed)
        // A clawback dated before the payment it claws back is refused, naming the payment.
        var revoke = publicize
        revoke.requestId = "revoke-1"
        revoke.decisionDate = "2022-09-10"
        revoke.reason = "违规"
        let early = await #expect(throws: SubsidyError.self) { try await daemon.call(City.revokeApplication, revoke, as: "city") }
        #expect(early?.code == .invalidArgument && early?.message.contains("before the disbursement of \(id) on 2022-09-20") == true, "\(String(describing: early))")
        revoke.requestId = "revoke-2"
        revoke.decisionDate = "2022-09-20"
        #expect(try await daemon.call(City.revokeApplication, revoke, as: "city").record?.state == .revoked)
        await daemon.shutdown()
    }

    @Test("no decision is dated before its application was filed: approval, a committee's plan and list, refusal")
    func decisionsAfterFiling() async throws {
        let daemon = try await InProcessDaemon()
        let shunde = Bureau(daemon.tenant("shunde"), filingOn: "2022-03-01")
        let city = Bureau(daemon.tenant("city"))
        try await shunde.register(try Self.uscc(90))
        let ids = [
            try await shunde.file(TestData.benchmark(enterprise: try Self.uscc(90), investedFen: 100_000_000, name: "早于受理 1")),
            try await shunde.file(TestData.benchmark(enterprise: try Self.uscc(90), investedFen: 100_000_000, name: "早于受理 2")),
        ]
        var get = Foshan_Subsidy_V1_GetApplicationRequest()
        get.applicationId = ids[0]
        let record = try await city.client.call(City.getApplication, get).record
        #expect(record?.filedOn == "2022-03-01", "\(String(describing: record))")
        func isBeforeFiling(_ error: SubsidyError?, _ id: String, _ what: String = "approval") -> Bool {
            error?.code == .invalidArgument && error?.message == "request.decision_date: \(what) of \(id) on 2022-02-28 is before it was filed on 2022-03-01"
        }
        let early = await #expect(throws: SubsidyError.self) { try await city.approve(ids[0], date: "2022-02-28") }
        #expect(isBeforeFiling(early, ids[0]), "\(String(describing: early))")
        // A committee's list: each refused on its own, in a plan and in the approval.
        for planOnly in [true, false] {
            var list = Foshan_Subsidy_V1_ApproveApplicationsRequest()
            (list.requestId, list.applicationIds, list.decisionDate, list.planOnly) = ("list-\(planOnly)", ids, "2022-02-28", planOnly)
            let outcomes = try await city.client.call(City.approveApplications, list).outcomes
            #expect(outcomes.count == 2 && outcomes.allSatisfy { $0.status?.code == .invalidArgument && $0.status?.message.contains("is before it was filed on 2022-03-01") == true }, "\(outcomes)")
        }
        let refusal = await #expect(throws: SubsidyError.self) {
            try await city.decide(City.rejectApplication, ids[1], date: "2022-02-28")
        }
        #expect(isBeforeFiling(refusal, ids[1], "refusal"), "\(String(describing: refusal))")
        // Nothing was committed. One list with an application filed before its date and one filed
        // after: the first is approved, the second refused on its own.
        #expect(try await city.quota(year: 2022).committed("BENCHMARK_PROJECT.annual_count", "2022") == 0)
        let later = try await Bureau(daemon.tenant("shunde"), filingOn: "2022-03-10").file(
            TestData.benchmark(enterprise: try Self.uscc(90), investedFen: 100_000_000, name: "早于受理 3"))
        var mixed = Foshan_Subsidy_V1_ApproveApplicationsRequest()
        (mixed.requestId, mixed.applicationIds, mixed.decisionDate) = ("list-mixed", [ids[0], later], "2022-03-05")
        let outcomes = try await city.client.call(City.approveApplications, mixed).outcomes
        #expect(outcomes.map { $0.status?.code ?? .ok } == [.ok, .invalidArgument], "\(outcomes)")
        #expect(try await city.quota(year: 2022).committed("BENCHMARK_PROJECT.annual_count", "2022") == 1)
        // On the filing day itself a decision stands.
        #expect(try await city.approve(later, date: "2022-03-10").state == .approved)
        #expect(try await city.decide(City.rejectApplication, ids[1], date: "2022-03-01").state == .rejected)
        await daemon.shutdown()
    }

    @Test("bad input names its field; roles and ownership are enforced before any store work")
    func refusals() async throws {
        let daemon = try await InProcessDaemon()
        let id = try await Self.file(daemon, 2)
        var approve = Foshan_Subsidy_V1_ApproveApplicationRequest()
        approve.applicationId = id
        approve.decisionDate = "2022-09-01"
        await #expect(throws: SubsidyError.invalidField("request.request_id", "is required for every mutating call (any unique text, e.g. a UUID)")) {
            _ = try await daemon.call(City.approveApplication, approve, as: "city")
        }
        approve.requestId = "approve-2"
        approve.decisionDate = "2022-02-30"
        do {
            _ = try await daemon.call(City.approveApplication, approve, as: "city")
            Issue.record("an impossible date was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.details.contains { if case .field("request.decision_date", _) = $0 { true } else { false } })
        }
        // A district may not approve, nor read another district's application.
        await #expect(throws: SubsidyError.self) { _ = try await daemon.call(City.approveApplication, approve, as: "shunde") }
        var get = Foshan_Subsidy_V1_GetApplicationRequest()
        get.applicationId = id
        do {
            _ = try await daemon.call(District.getApplication, get, as: "nanhai")
            Issue.record("nanhai read shunde's application")
        } catch {
            #expect(error.code == .permissionDenied)
        }
        // Approving before the district recommended: a precondition, and nothing in the ledger.
        approve.decisionDate = "2022-09-01"
        do {
            _ = try await daemon.call(City.approveApplication, approve, as: "city")
            Issue.record("an unreviewed application was approved")
        } catch {
            #expect(error.code == .failedPrecondition)
        }
        #expect(try await daemon.services.stores.ledger.capTotals(scopePrefix: nil).isEmpty)
        await daemon.shutdown()
    }

    @Test("a damaged stored row reaches the caller as DATA_LOSS with an error id, never as data")
    func damagedRow() async throws {
        let daemon = try await InProcessDaemon()
        let id = try await Self.file(daemon, 3)
        try daemon.services.stores.store(.shunde).database.writeNow {
            _ = try $0.query("UPDATE applications SET measure = 'NOT_A_MEASURE' WHERE id = ?", [.text(id)])
        }
        var get = Foshan_Subsidy_V1_GetApplicationRequest()
        get.applicationId = id
        do {
            _ = try await daemon.call(District.getApplication, get, as: "shunde")
            Issue.record("a damaged row was returned")
        } catch {
            #expect(error.code == .dataLoss)
            #expect(error.message.contains("error id"))
            #expect(!error.message.contains("NOT_A_MEASURE"))
        }
        // Content that no longer decodes is not a record without its application.
        let other = try await Self.file(daemon, 4)
        try daemon.services.stores.store(.shunde).database.writeNow {
            _ = try $0.query("UPDATE applications SET content = x'ffffffff' WHERE id = ?", [.text(other)])
        }
        get.applicationId = other
        do {
            _ = try await daemon.call(District.getApplication, get, as: "shunde")
            Issue.record("an application with undecodable content was returned")
        } catch {
            #expect(error.code == .dataLoss)
        }
        await daemon.shutdown()
    }

    @Test("every method of every service has a route")
    func everyMethodRouted() async throws {
        let daemon = try await InProcessDaemon()
        let all = Foshan_Subsidy_V1_DistrictService.Method.all + Foshan_Subsidy_V1_CityService.Method.all
        #expect(all.filter { daemon.services.router.route($0.fullName) == nil }.map(\.fullName) == [])
        await daemon.shutdown()
    }
}

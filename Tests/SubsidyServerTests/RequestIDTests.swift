import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// DESIGN §4: a retry returns the first result and a request id reused for different content is
/// refused — for a tenant's whole namespace of ids, although its changes are kept in several
/// files (the city's decisions in each application's district file, its pool and calls in the
/// ledger; a district's calls in the ledger, the rest in its own file). In-process, through the
/// handlers, on real stores.
@Suite("one request id, one request")
struct RequestIDTests {
    typealias City = Foshan_Subsidy_V1_CityService.Method
    typealias Calls = Foshan_Subsidy_V1_Calls.Method

    /// A daemon with two recommended benchmark applications in each district, by district.
    func filed<T>(
        isolation: isolated (any _Concurrency.Actor)? = #isolation,
        _ test: (_ daemon: InProcessDaemon, _ city: Bureau, _ filed: [String: [String]]) async throws -> T
    ) async throws -> T {
        try await withInProcessDaemon { daemon in
            var filed: [String: [String]] = [:]
            for (index, district) in DaemonProcess.districts.enumerated() {
                let bureau = Bureau(daemon.tenant(district))
                for copy in 0..<2 {
                    let uscc = TestData.uscc(9_600 + 2 * index + copy)
                    try await bureau.register(uscc)
                    filed[district, default: []].append(
                        try await bureau.file(TestData.benchmark(enterprise: uscc, investedFen: 100_000_000, name: "标杆项目 \(index)-\(copy)")))
                }
            }
            return try await test(daemon, Bureau(daemon.tenant("city")), filed)
        }
    }

    func decide(
        _ method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse>, _ id: String,
        requestID: String, date: String = "2022-07-01", by city: Bureau
    ) async throws -> Foshan_Subsidy_V1_ApplicationRecord {
        var request = Foshan_Subsidy_V1_DecideApplicationRequest()
        request.requestId = requestID
        request.applicationId = id
        request.decisionDate = date
        request.reason = "复核意见"
        return try await city.client.call(method, request).record ?? .init()
    }

    func state(_ id: String, _ city: Bureau) async throws -> Foshan_Subsidy_V1_ApplicationState {
        var request = Foshan_Subsidy_V1_GetApplicationRequest()
        request.applicationId = id
        return try await city.client.call(City.getApplication, request).record?.state ?? .unspecified
    }

    /// The refusal of a reused id: ALREADY_EXISTS naming `request.request_id`.
    func expectReused(_ error: SubsidyError?, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(error?.code == .alreadyExists, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(error?.details.contains(.field(path: "request.request_id", problem: "already used for different content")) == true, sourceLocation: sourceLocation)
    }

    @Test("the city's id used in one district's file is refused in every other, for approvals, ledger decisions and district-only ones")
    func cityAcrossDistricts() async throws {
        try await filed { _, city, filed in
            let (chancheng, nanhai, shunde, gaoming) = (filed["chancheng"]!, filed["nanhai"]!, filed["shunde"]!, filed["gaoming"]!)
            let approved = try await city.approve(chancheng[0], requestID: "same")
            #expect(approved.state == .approved)
            expectReused(await #expect(throws: SubsidyError.self) { try await city.approve(nanhai[0], requestID: "same") })
            #expect(try await state(nanhai[0], city) == .recommended)
            // The retry still gets its first answer.
            let retried = try await city.approve(chancheng[0], requestID: "same")
            #expect(retried.awardedFen == approved.awardedFen && retried.history.count == approved.history.count)
            let committed = try await city.quota(year: 2022).committed("BENCHMARK_PROJECT.annual_count", "2022")
            #expect(committed == 1)

            // Decisions that touch only the district's file.
            #expect(try await decide(City.rejectApplication, shunde[0], requestID: "no", by: city).state == .rejected)
            expectReused(await #expect(throws: SubsidyError.self) { try await decide(City.rejectApplication, gaoming[0], requestID: "no", by: city) })
            #expect(try await state(gaoming[0], city) == .recommended)
            #expect(try await decide(City.rejectApplication, shunde[0], requestID: "no", by: city).state == .rejected)
            // Revocation (through the ledger) under the rejection's id, and a district-only one
            // under the approval's.
            expectReused(await #expect(throws: SubsidyError.self) { try await decide(City.revokeApplication, chancheng[0], requestID: "no", by: city) })
            expectReused(await #expect(throws: SubsidyError.self) { try await decide(City.publicizeApplication, chancheng[0], requestID: "same", by: city) })
            #expect(try await state(chancheng[0], city) == .approved)

            // A refused decision binds nothing: its id may carry corrected content, elsewhere too.
            let refused = await #expect(throws: SubsidyError.self) { try await decide(City.rejectApplication, chancheng[0], requestID: "fix", by: city) }
            #expect(refused?.code == .failedPrecondition)
            #expect(try await decide(City.rejectApplication, gaoming[0], requestID: "fix", by: city).state == .rejected)
            let refusedInLedger = await #expect(throws: SubsidyError.self) { try await decide(City.revokeApplication, nanhai[0], requestID: "fix-2", by: city) }
            #expect(refusedInLedger?.code == .failedPrecondition)
            #expect(try await city.approve(nanhai[0], requestID: "fix-2").state == .approved)
        }
    }

    @Test("the city's ledger-only requests and its decisions share one namespace of ids")
    func ledgerAndDistricts() async throws {
        try await filed { _, city, filed in
            func pool(_ uscc: String, requestID: String) async throws {
                var request = Foshan_Subsidy_V1_RegisterPoolMemberRequest()
                request.requestId = requestID
                var member = Foshan_Subsidy_V1_PoolMember()
                member.uscc = uscc
                member.entryDate = "2021-01-01"
                request.member = member
                _ = try await city.client.call(City.registerPoolMember, request)
            }
            try await pool(TestData.uscc(9_690), requestID: "pool")
            expectReused(await #expect(throws: SubsidyError.self) { try await city.approve(filed["sanshui"]![0], requestID: "pool") })
            #expect(try await state(filed["sanshui"]![0], city) == .recommended)

            #expect(try await decide(City.rejectApplication, filed["sanshui"]![1], requestID: "reject", by: city).state == .rejected)
            expectReused(await #expect(throws: SubsidyError.self) { try await pool(TestData.uscc(9_691), requestID: "reject") })
        }
    }

    @Test("a committee's list is one request: its id with another list is refused whole, even a list of approvals that would replay")
    func listIsOneRequest() async throws {
        try await filed { _, city, filed in
            let (nanhai, sanshui) = (filed["nanhai"]!, filed["sanshui"]!)
            func approve(_ ids: [String], requestID: String = "committee") async throws -> Foshan_Subsidy_V1_ApproveApplicationsResponse {
                var request = Foshan_Subsidy_V1_ApproveApplicationsRequest()
                request.requestId = requestID
                request.applicationIds = ids
                request.decisionDate = "2022-07-01"
                request.decisionDocument = "佛工信〔2022〕12号"
                return try await city.client.call(City.approveApplications, request)
            }
            let first = try await approve(nanhai)
            #expect(first.approved == 2)
            let longer = await #expect(throws: SubsidyError.self) { try await approve(nanhai + [sanshui[0]]) }
            expectReused(longer)
            #expect(try await state(sanshui[0], city) == .recommended)
            expectReused(await #expect(throws: SubsidyError.self) { try await approve([nanhai[0]]) })
            // The list's own id for a single approval, and an item's derived id for another one.
            expectReused(await #expect(throws: SubsidyError.self) { try await city.approve(sanshui[0], requestID: "committee") })
            expectReused(await #expect(throws: SubsidyError.self) { try await city.approve(sanshui[0], requestID: "committee/\(nanhai[0])") })
            #expect(try await state(sanshui[0], city) == .recommended)
            // The same list again replays, committing nothing more.
            let again = try await approve(nanhai)
            #expect(again.approved == 2 && again.totalAwardFen == first.totalAwardFen)
            #expect(try await city.quota(year: 2022).committed("BENCHMARK_PROJECT.annual_count", "2022") == 2)

            // A list all of whose approvals were refused binds nothing.
            let refused = try await approve([nanhai[0]], requestID: "all-refused")
            #expect(refused.approved == 0 && refused.refused == 1)
            #expect(try await approve(sanshui, requestID: "all-refused").approved == 2)
        }
    }

    @Test("two approvals under one id in two districts at once: exactly one is made")
    func concurrentReuse() async throws {
        try await filed { _, city, filed in
            for round in 0..<2 {
                let (left, right) = (filed["shunde"]![round], filed["gaoming"]![round])
                @Sendable func approve(_ id: String) async -> Result<Foshan_Subsidy_V1_ApplicationRecord, any Error> {
                    do { return .success(try await city.approve(id, requestID: "race-\(round)")) } catch { return .failure(error) }
                }
                async let one = approve(left)
                async let other = approve(right)
                let results = [await one, await other]
                #expect(results.count(where: { (try? $0.get()) != nil }) == 1)
                for case .failure(let error) in results { expectReused(error as? SubsidyError) }
                let states = [try await state(left, city), try await state(right, city)]
                #expect(states.sorted { $0.rawValue < $1.rawValue } == [.recommended, .approved])
            }
        }
    }

    @Test("a district's calls are kept in the ledger, its filings in its own file: one id is one request in both")
    func districtCallsAndFilings() async throws {
        try await withInProcessDaemon { daemon in
            let shunde = Bureau(daemon.tenant("shunde"))
            let uscc = TestData.uscc(9_680)
            try await shunde.register(uscc)
            func open(_ requestID: String, from opens: String, to closes: String) async throws -> Foshan_Subsidy_V1_Call? {
                var request = Foshan_Subsidy_V1_OpenCallRequest()
                request.requestId = requestID
                request.programme = "shunde-dx-2021"
                request.measure = .cloudUse
                request.fundingYear = 2024
                request.opensOn = opens
                request.closesOn = closes
                return try await shunde.client.call(Calls.openCall, request).call
            }
            #expect(try await open("call", from: "2024-03-01", to: "2024-03-31")?.id == "shunde-dx-2021/CLOUD_USE/2024/1")
            let application = TestData.benchmark(enterprise: uscc, investedFen: 100_000_000, name: "标杆项目 顺德")
            expectReused(await #expect(throws: SubsidyError.self) { try await shunde.submit(application, requestID: "call") })
            // The other way round: an id a filing used, then for a call.
            _ = try await shunde.submit(application, requestID: "filing")
            expectReused(await #expect(throws: SubsidyError.self) { try await open("filing", from: "2024-05-01", to: "2024-05-31") })
            // The same call again replays it.
            #expect(try await open("call", from: "2024-03-01", to: "2024-03-31")?.id == "shunde-dx-2021/CLOUD_USE/2024/1")
            // A call the ledger refuses (its window overlaps the first) binds nothing.
            let overlap = await #expect(throws: SubsidyError.self) { try await open("overlap", from: "2024-03-15", to: "2024-04-15") }
            #expect(overlap?.code == .failedPrecondition)
            var other = application
            other.projectName = "标杆项目 顺德 二期"
            #expect(try await shunde.submit(other, requestID: "overlap").state == .submitted)
        }
    }
}

import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

/// Filing and approval: the five districts in parallel each register applicants, submit cloud
/// vouchers and recommend them; then the city approves them all with `concurrency` calls in flight
/// — one ApproveApplication each, then (with `list-size`) as many again as committees' lists,
/// ApproveApplications of `list-size` ids with `lists-in-flight` lists at once. Every applicant,
/// provider and contract is new, so no cap binds: the figure is the cost of the path, not of a
/// refusal.
struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "File and recommend N vouchers across the districts, then approve them; prints both rates and latencies."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Applications filed and approved (a multiple of 5 is spread evenly).")
    var applications: Int = 500

    @Option(help: "Approval calls in flight at once (over one city connection).")
    var concurrency: Int = 8

    @Option(help: "Filing calls in flight in each district (each on its own connection).")
    var filingLanes: Int = 4

    @Option(help: "Also file as many again and approve them as ApproveApplications lists of this many ids (0: no lists).")
    var listSize: Int = 50

    @Option(help: "ApproveApplications lists in flight at once.")
    var listsInFlight: Int = 2

    @Option(help: "Service providers the vouchers are spread over (each registered in the pool first).")
    var providers: Int = 10

    @Option(help: "Distinguishes this run's request ids and identifiers from earlier runs on the same data (default: the process id).")
    var runTag: Int?

    func run() async throws {
        let run = (runTag ?? Int(getpid())) % 10_000
        let cityConnection = try await ClientConnection.connect(unixSocketPath: target.socket("city"))
        let city = Foshan_Subsidy_V1_CityService.Client(wrapping: cityConnection)
        var providerIDs: [String] = []
        for p in 0..<max(1, providers) {
            let provider = try USCC.makeValid(prefix16: "914406049" + String(digits: run * 100 + p, count: 7)).rawValue
            var pool = Foshan_Subsidy_V1_RegisterPoolMemberRequest()
            pool.requestId = "bench-pool-\(run)-\(p)"
            var member = Foshan_Subsidy_V1_PoolMember()
            member.uscc = provider
            member.entryDate = "2020-07-17"
            pool.member = member
            _ = try await city.registerPoolMember(pool)
            providerIDs.append(provider)
        }
        let perDistrict = min(4_999, max(1, applications / 5)) * (listSize > 0 ? 2 : 1)

        let fileStart = monotonicNanoseconds()
        let filed = try await withThrowingTaskGroup(of: ([String], LatencyHistogram).self) { group in
            for (d, district) in DistrictID.allCases.enumerated() {
                let providers = providerIDs
                let socket = target.socket(district.rawValue)
                for lane in 0..<max(1, filingLanes) {
                group.addTask {
                    let connection = try await ClientConnection.connect(unixSocketPath: socket)
                    let client = Foshan_Subsidy_V1_DistrictService.Client(wrapping: connection)
                    var ids: [String] = []
                    var histogram = LatencyHistogram()
                    for n in stride(from: lane, to: perDistrict, by: max(1, filingLanes)) {
                        let t0 = monotonicNanoseconds()
                        let id = try await Self.file(
                            client, district: district, tag: "\(run)-\(d)-\(n)",
                            enterprise: try USCC.makeValid(prefix16: "91" + district.divisionCode + String(digits: run * 10_000 + n, count: 8)).rawValue,
                            provider: providers[n % providers.count]
                        )
                        histogram.record(nanoseconds: monotonicNanoseconds() - t0)
                        ids.append(id)
                    }
                    await connection.close()
                    return (ids, histogram)
                }
                }
            }
            var ids: [String] = []
            var histogram = LatencyHistogram()
            for try await (some, latencies) in group {
                ids += some
                histogram.add(latencies)
            }
            return (ids, histogram)
        }
        let fileSeconds = elapsedSeconds(from: fileStart, to: monotonicNanoseconds())
        let filedRate = Int((Double(filed.0.count) / fileSeconds).rounded())
        print("filing applications=\(filed.0.count) lanes=\(5 * max(1, filingLanes)) seconds=\(fileSeconds) rate=\(filedRate) \(filed.1.summary)")

        // Singles and lists get alternate applications of each district, so both see every district.
        let ids = filed.0.enumerated().filter { listSize == 0 || $0.offset % 2 == 0 }.map(\.element)
        let listed = listSize > 0 ? filed.0.enumerated().filter { $0.offset % 2 == 1 }.map(\.element) : []
        let approveStart = monotonicNanoseconds()
        let approvals = try await withThrowingTaskGroup(of: LatencyHistogram.self) { group in
            for lane in 0..<max(1, concurrency) {
                let mine = stride(from: lane, to: ids.count, by: max(1, concurrency)).map { ids[$0] }
                group.addTask {
                    var histogram = LatencyHistogram()
                    for id in mine {
                        var approve = Foshan_Subsidy_V1_ApproveApplicationRequest()
                        approve.requestId = "bench-approve-\(run)-\(id)"
                        approve.applicationId = id
                        approve.decisionDate = "2023-06-01"
                        let t0 = monotonicNanoseconds()
                        _ = try await city.approveApplication(approve)
                        histogram.record(nanoseconds: monotonicNanoseconds() - t0)
                    }
                    return histogram
                }
            }
            var all = LatencyHistogram()
            for try await histogram in group { all.add(histogram) }
            return all
        }
        let approveSeconds = elapsedSeconds(from: approveStart, to: monotonicNanoseconds())
        let approvedRate = Int((Double(approvals.count) / approveSeconds).rounded())
        print("approve applications=\(approvals.count) concurrency=\(concurrency) seconds=\(approveSeconds) rate=\(approvedRate) \(approvals.summary)")
        if !listed.isEmpty { try await approveLists(listed, city: city, run: run) }
        await cityConnection.close()
    }

    /// `ids` approved as committees' lists of `listSize`, `listsInFlight` at once; prints the
    /// approvals per second and each list's latency. Every approval in every list must succeed.
    private func approveLists(_ ids: [String], city: Foshan_Subsidy_V1_CityService.Client, run: Int) async throws {
        let lists = stride(from: 0, to: ids.count, by: listSize).map { Array(ids[$0..<min($0 + listSize, ids.count)]) }
        let start = monotonicNanoseconds()
        let latencies = try await withThrowingTaskGroup(of: LatencyHistogram.self) { group in
            for lane in 0..<max(1, listsInFlight) {
                let mine = stride(from: lane, to: lists.count, by: max(1, listsInFlight)).map { lists[$0] }
                group.addTask {
                    var histogram = LatencyHistogram()
                    for (n, list) in mine.enumerated() {
                        var request = Foshan_Subsidy_V1_ApproveApplicationsRequest()
                        request.requestId = "bench-list-\(run)-\(lane)-\(n)"
                        request.applicationIds = list
                        request.decisionDate = "2023-06-01"
                        request.decisionDocument = "bench minutes \(n)"
                        let t0 = monotonicNanoseconds()
                        let response = try await city.approveApplications(request)
                        histogram.record(nanoseconds: monotonicNanoseconds() - t0)
                        guard response.approved == list.count else {
                            let refusal = response.outcomes.first { $0.awardFen == 0 }.flatMap { $0.status?.message } ?? ""
                            throw ValidationError("a list of \(list.count) approved only \(response.approved): \(refusal)")
                        }
                    }
                    return histogram
                }
            }
            var all = LatencyHistogram()
            for try await histogram in group { all.add(histogram) }
            return all
        }
        let seconds = elapsedSeconds(from: start, to: monotonicNanoseconds())
        let rate = Int((Double(ids.count) / seconds).rounded())
        print("approve-lists applications=\(ids.count) list_size=\(listSize) lists_in_flight=\(listsInFlight) seconds=\(seconds) rate=\(rate) per-list \(latencies.summary)")
    }

    /// Registers the applicant in its own district's area, submits a 2,000-yuan voucher contract
    /// (1,000 yuan at the 50% rate) and recommends it; returns the application id.
    private static func file(
        _ client: Foshan_Subsidy_V1_DistrictService.Client, district: DistrictID, tag: String, enterprise: String, provider: String
    ) async throws -> String {
        var register = Foshan_Subsidy_V1_RegisterApplicantRequest()
        register.requestId = "bench-reg-\(tag)"
        var applicant = Foshan_Subsidy_V1_Applicant()
        applicant.uscc = enterprise
        applicant.name = "bench \(tag)"
        applicant.locality = .local
        applicant.role = .industrialEnterprise
        register.applicant = applicant
        _ = try await client.registerApplicant(register)
        var submit = Foshan_Subsidy_V1_SubmitApplicationRequest()
        submit.requestId = "bench-submit-\(tag)"
        var application = Foshan_Subsidy_V1_Application()
        application.measure = .cloudVoucher
        application.fundingYear = 2023
        application.enterpriseUscc = enterprise
        application.providerUscc = provider
        application.contractNumber = "BENCH-\(tag)"
        application.contractAmountFen = 200_000
        application.paidAmountFen = 200_000
        application.projectName = "bench \(tag)"
        submit.application = application
        let id = try await client.submitApplication(submit).record?.id ?? ""
        var review = Foshan_Subsidy_V1_ReviewApplicationRequest()
        review.requestId = "bench-review-\(tag)"
        review.applicationId = id
        review.outcome = .recommend
        _ = try await client.reviewApplication(review)
        return id
    }
}

extension String {
    /// `value` in decimal, zero-padded to `count` digits (the last `count` if longer).
    init(digits value: Int, count: Int) {
        let text = Swift.String(value)
        self.init((Swift.String(repeating: "0", count: Swift.max(0, count - text.count)) + text).suffix(count))
    }
}

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
/// ApproveApplications of `list-size` ids with `lists-in-flight` lists at once, then (with
/// `wide-concurrency`) as many again one call each with that many in flight. Every applicant,
/// provider and contract is new, so no cap binds: the figure is the cost of the path, not of a
/// refusal.
struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "File and recommend N vouchers across the districts, then approve them; prints both rates and latencies."
    )

    /// The day approvals are dated: the day Tests/Benchmarks/run.sh pins the daemon to, so the day
    /// the vouchers are filed on (no decision may be dated before its filing), and the 2020
    /// measures' last.
    static let decisionDay = "2023-12-31"

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

    @Option(help: "Also file as many again and approve them one call each with this many in flight (0: not).")
    var wideConcurrency: Int = 0

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
        // Singles, lists, singles with more in flight: each kind of approval its own applications.
        let parts = 1 + (listSize > 0 ? 1 : 0) + (wideConcurrency > 0 ? 1 : 0)
        let perDistrict = min(4_999, max(1, applications / 5)) * parts

        // Filing in three passes (register every applicant, then submit every application, then
        // recommend each), so each call's rate is measured alone: a submission is what the
        // durable-write target compares with raw commits. `filing` is the three together.
        let tags = try DistrictID.allCases.enumerated().map { d, district in
            try (0..<perDistrict).map { n in
                Filing(
                    tag: "\(run)-\(d)-\(n)",
                    // The district leads the organisation code (positions 9–16), then the run and
                    // the filing in the code's own 31 characters: one organisation has one USCC,
                    // so no two districts' or runs' enterprises may share it (nor a provider's, 9…).
                    enterprise: try USCC.makeValid(
                        prefix16: "91" + district.divisionCode + "ABCDE".map(String.init)[d] + String(base31: run * 16_384 + n, count: 7)).rawValue,
                    provider: providerIDs[n % providerIDs.count])
            }
        }
        let fileStart = monotonicNanoseconds()
        let registered = try await inLanes(tags) { client, filing in try await Self.register(client, filing) }
        print("register applications=\(registered.count) lanes=\(5 * max(1, filingLanes)) \(registered.rateAndLatency)")
        let submitted = try await inLanes(tags) { client, filing in try await Self.submit(client, filing) }
        print("submit applications=\(submitted.count) lanes=\(5 * max(1, filingLanes)) \(submitted.rateAndLatency)")
        let byDistrict = submitted.values.map { $0.map(\.1) }
        let recommended = try await inLanes(byDistrict) { client, id in try await Self.recommend(client, id) }
        print("recommend applications=\(recommended.count) lanes=\(5 * max(1, filingLanes)) \(recommended.rateAndLatency)")
        let fileSeconds = elapsedSeconds(from: fileStart, to: monotonicNanoseconds())
        let filedIDs = byDistrict.flatMap { $0 }
        let filedRate = Int((Double(filedIDs.count) / fileSeconds).rounded())
        print("filing applications=\(filedIDs.count) lanes=\(5 * max(1, filingLanes)) seconds=\(fileSeconds) rate=\(filedRate)")
        // Each kind of approval gets every `parts`-th application of each district, so each sees
        // every district.
        let kinds = filedIDs.enumerated().reduce(into: [[String]](repeating: [], count: parts)) { $0[$1.offset % parts].append($1.element) }
        let ids = kinds[0]
        let (approvals, approveSeconds) = try await approveSingly(ids, concurrency: concurrency, city: city, run: run)
        let approvedRate = Int((Double(approvals.count) / approveSeconds).rounded())
        print("approve applications=\(approvals.count) concurrency=\(concurrency) seconds=\(approveSeconds) rate=\(approvedRate) \(approvals.summary)")
        if listSize > 0 { try await approveLists(kinds[1], city: city, run: run) }
        if wideConcurrency > 0 {
            let (wide, seconds) = try await approveSingly(kinds[parts - 1], concurrency: wideConcurrency, city: city, run: run)
            let rate = Int((Double(wide.count) / seconds).rounded())
            print("approve-wide applications=\(wide.count) concurrency=\(wideConcurrency) seconds=\(seconds) rate=\(rate) \(wide.summary)")
        }
        await cityConnection.close()
    }

    /// `ids` approved one ApproveApplication each, `concurrency` calls in flight over the one city
    /// connection; each call's latency and the seconds it took.
    private func approveSingly(
        _ ids: [String], concurrency: Int, city: Foshan_Subsidy_V1_CityService.Client, run: Int
    ) async throws -> (LatencyHistogram, Double) {
        let start = monotonicNanoseconds()
        let approvals = try await withThrowingTaskGroup(of: LatencyHistogram.self) { group in
            for lane in 0..<max(1, concurrency) {
                let mine = stride(from: lane, to: ids.count, by: max(1, concurrency)).map { ids[$0] }
                group.addTask {
                    var histogram = LatencyHistogram()
                    for id in mine {
                        var approve = Foshan_Subsidy_V1_ApproveApplicationRequest()
                        approve.requestId = "bench-approve-\(run)-\(id)"
                        approve.applicationId = id
                        approve.decisionDate = Self.decisionDay
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
        return (approvals, elapsedSeconds(from: start, to: monotonicNanoseconds()))
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
                        request.decisionDate = Self.decisionDay
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

    /// One application to file (its district is the list it is in): the tag its request ids
    /// carry, its applicant and the provider its voucher names.
    private struct Filing: Sendable {
        var tag: String
        var enterprise: String
        var provider: String
    }

    /// What a pass of ``inLanes(_:_:)`` returned, per district in input order, with its timing.
    private struct Pass<T: Sendable>: Sendable {
        var values: [[(Int, T)]]
        var seconds: Double
        var latencies: LatencyHistogram
        var count: Int { values.reduce(0) { $0 + $1.count } }
        var rateAndLatency: String {
            "seconds=\(seconds) rate=\(Int((Double(count) / seconds).rounded())) \(latencies.summary)"
        }
    }

    /// `call` for every item of every district (`items[d]` belongs to `DistrictID.allCases[d]`),
    /// `filingLanes` calls in flight per district, each lane on its own connection.
    private func inLanes<Item: Sendable, T: Sendable>(
        _ items: [[Item]], _ call: @escaping @Sendable (Foshan_Subsidy_V1_DistrictService.Client, Item) async throws -> T
    ) async throws -> Pass<T> {
        let lanes = max(1, filingLanes)
        let start = monotonicNanoseconds()
        let (values, latencies) = try await withThrowingTaskGroup(of: (Int, [(Int, T)], LatencyHistogram).self) { group in
            for (d, district) in DistrictID.allCases.enumerated() where d < items.count {
                let socket = target.socket(district.rawValue)
                let mine = items[d]
                for lane in 0..<lanes {
                    group.addTask {
                        let connection = try await ClientConnection.connect(unixSocketPath: socket)
                        let client = Foshan_Subsidy_V1_DistrictService.Client(wrapping: connection)
                        var done: [(Int, T)] = []
                        var histogram = LatencyHistogram()
                        for n in stride(from: lane, to: mine.count, by: lanes) {
                            let t0 = monotonicNanoseconds()
                            done.append((n, try await call(client, mine[n])))
                            histogram.record(nanoseconds: monotonicNanoseconds() - t0)
                        }
                        await connection.close()
                        return (d, done, histogram)
                    }
                }
            }
            var values = [[(Int, T)]](repeating: [], count: items.count)
            var histogram = LatencyHistogram()
            for try await (d, done, latencies) in group {
                values[d] += done
                histogram.add(latencies)
            }
            return (values.map { $0.sorted { $0.0 < $1.0 } }, histogram)
        }
        return Pass(values: values, seconds: elapsedSeconds(from: start, to: monotonicNanoseconds()), latencies: latencies)
    }

    /// Registers the applicant in its own district's area.
    private static func register(_ client: Foshan_Subsidy_V1_DistrictService.Client, _ filing: Filing) async throws {
        var register = Foshan_Subsidy_V1_RegisterApplicantRequest()
        register.requestId = "bench-reg-\(filing.tag)"
        var applicant = Foshan_Subsidy_V1_Applicant()
        applicant.uscc = filing.enterprise
        applicant.name = "bench \(filing.tag)"
        applicant.locality = .local
        applicant.role = .industrialEnterprise
        register.applicant = applicant
        _ = try await client.registerApplicant(register)
    }

    /// Submits a 2,000-yuan voucher contract (1,000 yuan at the 50% rate); returns its id.
    private static func submit(_ client: Foshan_Subsidy_V1_DistrictService.Client, _ filing: Filing) async throws -> String {
        var submit = Foshan_Subsidy_V1_SubmitApplicationRequest()
        submit.requestId = "bench-submit-\(filing.tag)"
        var application = Foshan_Subsidy_V1_Application()
        application.measure = .cloudVoucher
        application.fundingYear = 2023
        application.enterpriseUscc = filing.enterprise
        application.providerUscc = filing.provider
        application.contractNumber = "BENCH-\(filing.tag)"
        application.contractAmountFen = 200_000
        application.paidAmountFen = 200_000
        application.projectName = "bench \(filing.tag)"
        submit.application = application
        let id = try await client.submitApplication(submit).record?.id ?? ""
        guard !id.isEmpty else { throw ValidationError("SubmitApplication \(filing.tag) answered without an id") }
        return id
    }

    /// Recommends application `id` (初审).
    private static func recommend(_ client: Foshan_Subsidy_V1_DistrictService.Client, _ id: String) async throws {
        var review = Foshan_Subsidy_V1_ReviewApplicationRequest()
        review.requestId = "bench-review-\(id)"
        review.applicationId = id
        review.outcome = .recommend
        _ = try await client.reviewApplication(review)
    }
}

extension String {
    /// `value` in decimal, zero-padded to `count` digits (the last `count` if longer).
    /// `value` in the USCC's 31 code characters, `count` of them (the highest dropped).
    init(base31 value: Int, count: Int) {
        let alphabet = Array("0123456789ABCDEFGHJKLMNPQRTUWXY")
        var (rest, characters) = (value, [Character]())
        for _ in 0..<count {
            characters.append(alphabet[rest % 31])
            rest /= 31
        }
        self.init(characters.reversed())
    }

    init(digits value: Int, count: Int) {
        let text = Swift.String(value)
        self.init((Swift.String(repeating: "0", count: Swift.max(0, count - text.count)) + text).suffix(count))
    }
}

import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

/// `subsidyd-bench`: load against a running `subsidyd --dev`, printing figures beside the
/// baselines measured on this kind of machine (BENCHMARKS.md). Not a test: nothing asserts a time.
@main
struct SubsidyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subsidyd-bench",
        abstract: "Measure subsidyd: round trips per second and the filing → approval path."
    )

    @Option(help: "Data directory of a running `subsidyd --dev` (use a fresh one: the bench registers applicants).")
    var dataDir: String

    @Option(help: "Seconds per round-trip measurement.")
    var seconds: Int = 5

    @Option(help: "Applications filed and approved in the ledger measurement.")
    var applications: Int = 1000

    func run() async throws {
        print("subsidyd-bench: \(seconds) s per measurement, figures side by side with the baseline\n")
        print("measurement                                   subsidyd        baseline (same machine kind)")
        for connections in [1, 8] {
            let rate = try await roundTrips(connections: connections)
            let baseline = connections == 1 ? "gRPC C++ 1.51 over UDS: 3.8k–7.1k/s" : "gRPC C++ 1.51 over UDS: 6.7k–8.7k/s"
            print("Health.Check, \(connections) connection\(connections == 1 ? " " : "s"), 16 in flight each   \(format(rate))/s    \(baseline)")
        }
        let (filed, approved) = try await ledgerPath()
        print("Submit+Review (5 districts in parallel)        \(format(filed))/s    SQLite WAL+FULL: ≈10k single-row commits/s")
        print("Approve (city, ledger then district)          \(format(approved))/s    (two commits per approval)")
    }

    private func format(_ rate: Double) -> String {
        let text = String(Int(rate.rounded()))
        return String(repeating: " ", count: max(0, 7 - text.count)) + text
    }

    private func socket(_ tenant: String) -> String { DevelopmentLayout.socketPath(dataDirectory: dataDir, tenant: tenant) }

    private func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Health.Check round trips per second over `connections` connections, 16 calls in flight on each.
    private func roundTrips(connections: Int) async throws -> Double {
        let clients = try await (0..<connections).asyncMap { i in
            try await ClientConnection.connect(unixSocketPath: socket(DistrictID.allCases[i % 5].rawValue))
        }
        let deadline = now() + Double(seconds)
        let start = now()
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for client in clients {
                let health = Foshan_Subsidy_V1_Health.Client(wrapping: client)
                for _ in 0..<16 {
                    group.addTask {
                        var n = 0
                        while now() < deadline {
                            _ = try await health.check(Foshan_Subsidy_V1_HealthCheckRequest())
                            n += 1
                        }
                        return n
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = now() - start
        for client in clients { await client.close() }
        return Double(total) / elapsed
    }

    /// Files `applications` vouchers across the five districts, then approves them all.
    private func ledgerPath() async throws -> (filed: Double, approved: Double) {
        let provider = try USCC.makeValid(prefix16: "9144060499999999").rawValue
        let cityConnection = try await ClientConnection.connect(unixSocketPath: socket("city"))
        let city = Foshan_Subsidy_V1_CityService.Client(wrapping: cityConnection)
        var pool = Foshan_Subsidy_V1_RegisterPoolMemberRequest()
        pool.requestId = "bench-pool-\(getpid())"
        var member = Foshan_Subsidy_V1_PoolMember()
        member.uscc = provider
        member.entryDate = "2020-07-17"
        pool.member = member
        _ = try? await city.registerPoolMember(pool)
        let perDistrict = min(9_999, max(1, applications / 5))
        let run = getpid()

        let fileStart = now()
        let ids = try await withThrowingTaskGroup(of: [String].self) { group in
            for (d, district) in DistrictID.allCases.enumerated() {
                group.addTask {
                    let connection = try await ClientConnection.connect(unixSocketPath: socket(district.rawValue))
                    let client = Foshan_Subsidy_V1_DistrictService.Client(wrapping: connection)
                    var ids: [String] = []
                    for n in 0..<perDistrict {
                        // Registered in the district's own area: only that district may register it.
                        let enterprise = try USCC.makeValid(
                            prefix16: "91" + district.divisionCode + String(format8: Int(run % 10_000) * 10_000 + n)).rawValue
                        var register = Foshan_Subsidy_V1_RegisterApplicantRequest()
                        register.requestId = "bench-reg-\(run)-\(d)-\(n)"
                        var applicant = Foshan_Subsidy_V1_Applicant()
                        applicant.uscc = enterprise
                        applicant.name = "bench \(n)"
                        applicant.locality = .local
                        applicant.role = .industrialEnterprise
                        register.applicant = applicant
                        _ = try await client.registerApplicant(register)
                        var submit = Foshan_Subsidy_V1_SubmitApplicationRequest()
                        submit.requestId = "bench-submit-\(run)-\(d)-\(n)"
                        var application = Foshan_Subsidy_V1_Application()
                        application.measure = .cloudVoucher
                        application.fundingYear = 2023
                        application.enterpriseUscc = enterprise
                        application.providerUscc = provider
                        application.contractNumber = "BENCH-\(run)-\(d)-\(n)"
                        application.contractAmountFen = 200_000
                        application.paidAmountFen = 200_000
                        application.projectName = "bench"
                        submit.application = application
                        let id = try await client.submitApplication(submit).record?.id ?? ""
                        var review = Foshan_Subsidy_V1_ReviewApplicationRequest()
                        review.requestId = "bench-review-\(run)-\(d)-\(n)"
                        review.applicationId = id
                        review.outcome = .recommend
                        _ = try await client.reviewApplication(review)
                        ids.append(id)
                    }
                    await connection.close()
                    return ids
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let filed = Double(ids.count) / (now() - fileStart)

        let approveStart = now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: ids.count, by: max(1, ids.count / 5)) {
                let slice = Array(ids[chunk..<min(ids.count, chunk + max(1, ids.count / 5))])
                group.addTask {
                    for id in slice {
                        var approve = Foshan_Subsidy_V1_ApproveApplicationRequest()
                        approve.requestId = "bench-approve-\(id)-\(run)"
                        approve.applicationId = id
                        approve.decisionDate = "2023-06-01"
                        _ = try await city.approveApplication(approve)
                    }
                }
            }
            try await group.waitForAll()
        }
        let approved = Double(ids.count) / (now() - approveStart)
        await cityConnection.close()
        return (filed, approved)
    }
}

extension String {
    /// `value` as eight digits (zero-padded, last eight if longer).
    init(format8 value: Int) {
        let digits = Swift.String(value)
        let padded = Swift.String(repeating: "0", count: Swift.max(0, 8 - digits.count)) + digits
        self.init(padded.suffix(8))
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

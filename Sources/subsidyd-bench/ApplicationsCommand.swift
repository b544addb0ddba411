import ArgumentParser
import SubsidyCore
import SubsidyStore

#if canImport(Glibc)
import Glibc
#endif

/// Loads a seeded, realistic population of applications straight into a stopped daemon's stores
/// (issue 10, deliverable 6; documented in Tests/Benchmarks/README.md): every measure of the 2020
/// policy, all five districts, every funding year, and every state a district decides —
/// SUBMITTED, RECOMMENDED (waiting for the city), RETURNED, REJECTED, WITHDRAWN — with a
/// Zipf-like enterprise population (a few file often, most once), each enterprise registered in
/// its district and in the ledger's applicant index.
///
/// Rows go through the stores' own insert and transition code (the same rows, history and audit
/// events a Submit and a Review write), `batch` to a transaction, instead of one RPC each: a
/// million Submit+Review calls take hours, and what is measured here is what the daemon does with
/// the data, not filing it (the approve phase measures that). Decided states (APPROVED and after)
/// need the city's commit protocol; the prior-award phase loads those into the ledger.
struct ApplicationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "applications",
        abstract: "Load N realistic applications (every measure, district, year and district-decided state) into a stopped daemon's stores."
    )

    @Option(help: "Data directory of a stopped `subsidyd --dev` (started once before, so its files exist).")
    var dataDir: String

    @Option(help: "Applications to load, spread evenly over the districts.")
    var count: Int = 10_000

    @Option(help: "Seed: the same seed and options load the same rows.")
    var seed: UInt64 = 20_200_717

    @Option(help: "Rows per transaction.")
    var batch: Int = 5_000

    /// District-decided states and how often each occurs, in percent.
    static let states: [(ApplicationState, Transition?, Int)] = [
        (.submitted, nil, 25), (.recommended, .recommend, 35), (.returned, .return, 10), (.rejected, .reject, 20), (.withdrawn, .withdraw, 10),
    ]
    /// Most applications are vouchers; the others are rarer, as in the programme's published lists.
    static let measures: [(Measure, Int)] = [
        (.cloudVoucher, 70), (.publicService, 6), (.identifierNode, 6), (.benchmarkProject, 6), (.crossIndustryPlatform, 3),
        (.majorPlatform, 1), (.clusterPilot, 4), (.clusterPilotFollowOn, 4),
    ]

    func run() async throws {
        guard count > 0, batch > 0 else { throw ValidationError("--count and --batch must be positive") }
        let started = monotonicNanoseconds()
        var random = SplitMix(seed: seed)
        let providers = try (0..<400).map { try USCC.makeValid(prefix16: "91440604" + String(digits: 30_000_000 + $0 * 7, count: 8)) }
        var tally: [ApplicationState: Int] = [:]
        let ledger = try CityLedger(path: dataDir + "/city-ledger.sqlite")
        for (d, district) in DistrictID.allCases.enumerated() {
            let store = try DistrictStore(path: "\(dataDir)/districts/\(district.rawValue).sqlite", district: district)
            let actor = Actor(tenant: district.rawValue, uid: getuid())
            let perDistrict = count / 5 + (d < count % 5 ? 1 : 0)
            let enterprises = try (0..<max(50, perDistrict / 4)).map {
                try USCC.makeValid(prefix16: "91" + district.divisionCode + String(digits: 20_000_000 + $0, count: 8))
            }
            // The registry first: the ledger's index, then the district's, as RegisterApplicant does.
            for first in stride(from: 0, to: enterprises.count, by: batch) {
                let records = enterprises[first..<min(first + batch, enterprises.count)].map {
                    ApplicantRecord(uscc: $0.rawValue, name: "佛山市\($0.rawValue.suffix(6))智造有限公司", district: district, locality: .local, role: .industrialEnterprise)
                }
                try ledger.database.writeNow { transaction in
                    for record in records { try ledger.indexApplicant(record, at: "2020-07-20T00:00:00Z", in: transaction) }
                }
                try store.database.writeNow { transaction in
                    for record in records { try store.insertApplicant(record, by: actor, at: "2020-07-20T00:00:00Z", in: transaction) }
                }
            }
            var filed = 0
            while filed < perDistrict {
                let rows = min(batch, perDistrict - filed)
                try store.database.writeNow { transaction in
                    for i in filed..<(filed + rows) {
                        let application = try Self.application(i, district: district, enterprises: enterprises, providers: providers, &random)
                        let time = "\(application.fundingYear.year)-0\(1 + i % 9)-1\(i % 9)T09:00:00Z"
                        let request = RequestKey(id: "load-\(district.rawValue)-\(i)", fingerprint: "load")
                        let stored = try store.insertApplication(application, actor: actor, request: request, at: time, in: transaction)
                        let (state, transition) = Self.state(&random)
                        if let transition {
                            _ = try store.apply(
                                transition, to: stored.id, actor: actor, role: .district, reason: transition == .recommend ? "" : "材料不全",
                                request: RequestKey(id: request.id + "-review", fingerprint: "load"), at: time, in: transaction)
                        }
                        tally[state, default: 0] += 1
                    }
                }
                filed += rows
            }
            await store.database.close()
        }
        await ledger.database.close()
        let seconds = elapsedSeconds(from: started, to: monotonicNanoseconds())
        let states = Self.states.map { "\($0.0.rawValue)=\(tally[$0.0] ?? 0)" }.joined(separator: ",")
        print("applications loaded=\(count) ms=\(Int(seconds * 1000)) states=\(states)")
    }

    static func state(_ random: inout SplitMix) -> (ApplicationState, Transition?) {
        var roll = Int(random.next() % 100)
        for (state, transition, percent) in states {
            if roll < percent { return (state, transition) }
            roll -= percent
        }
        return (.submitted, nil)
    }

    /// Application `i` of `district`: its measure's fields filled as a clerk would.
    static func application(
        _ i: Int, district: DistrictID, enterprises: [USCC], providers: [USCC], _ random: inout SplitMix
    ) throws -> Application {
        var roll = Int(random.next() % 100)
        var measure = Measure.cloudVoucher
        for (candidate, weight) in measures {
            if roll < weight {
                measure = candidate
                break
            }
            roll -= weight
        }
        let year = 2020 + Int(random.next() % 4)
        // Zipf-like: enterprise k is chosen with falling probability.
        let k = Int(Double(enterprises.count) * pow(Double(random.next() % 1_000_000) / 1e6, 2.5))
        let enterprise = enterprises[min(k, enterprises.count - 1)]
        let contract = Money(fen: Int64(2_000_000 + random.next() % 50_000_000))
        let pilot = measure == .clusterPilot || measure == .clusterPilotFollowOn
        return Application(
            measure: measure, fundingYear: FundingYear(year)!, enterprise: enterprise, projectName: "\(district.rawValue) 数字化项目 \(i)",
            contractNumber: "HT-\(year)-\(district.rawValue)-\(i)", contractAmount: contract, paidAmount: contract,
            provider: measure == .cloudVoucher ? providers[Int(random.next() % UInt64(providers.count))] : nil,
            investedAmount: measure == .benchmarkProject ? Money(fen: contract.fen * 4) : .zero,
            selectionDate: pilot ? CalendarDate(year: year, month: 3, day: 1) : nil, selectionLevel: pilot ? .provincial : .none,
            pilotID: pilot ? "PILOT-\(district.rawValue)-\(i)" : "",
            servedEnterprises: measure == .clusterPilotFollowOn ? Array(enterprises.prefix(10)) : []
        )
    }
}

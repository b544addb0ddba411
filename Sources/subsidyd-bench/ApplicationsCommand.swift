import ArgumentParser
import SubsidyCore
import SubsidyStore

#if canImport(Glibc)
import Glibc
#endif

/// Loads a seeded, realistic population of applications straight into a stopped daemon's stores
/// (issue 10, deliverable 6; documented in Tests/Benchmarks/README.md): every measure of the
/// policy file, all five districts, every funding year, and every state a district decides —
/// SUBMITTED, RECOMMENDED (waiting for the city), RETURNED, REJECTED, WITHDRAWN — filed by a
/// Zipf-like population (a few file often, most once) registered in its district and in the
/// ledger's applicant index, each application by an applicant of a role its measure accepts.
///
/// Rows go through the stores' own insert and transition code (the rows, history and audit
/// events a Submit and a Review write; each application passes the core's validation), `batch`
/// to a transaction, instead of one RPC each: a million Submit+Review calls take hours, and what
/// is measured here is what the daemon does with the data, not filing it (the approve phase
/// measures that). What the RPCs add is left out: the request log (nothing will retry these),
/// calls for applications, the duplicate-content and cap warnings. Decided states (APPROVED and
/// after) need the city's commit protocol; the prior-award phase loads those into the ledger.
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

    @Option(help: "Policy file whose measures, years and applicant roles the rows follow.")
    var policy: String = "Deploy/policy/foshan-2020.toml"

    /// District-decided states and how often each occurs, in percent.
    static let states: [(ApplicationState, Transition?, Int)] = [
        (.submitted, nil, 25), (.recommended, .recommend, 35), (.returned, .return, 10), (.rejected, .reject, 20), (.withdrawn, .withdraw, 10),
    ]

    func run() async throws {
        guard count > 0, batch > 0 else { throw ValidationError("--count and --batch must be positive") }
        let policy = try Policy.load(text: try String(contentsOfPolicy: self.policy), name: "applications")
        // Most applications are vouchers; the others are rarer, as in the programme's published lists.
        let measures = Measure.allCases.filter { policy.rules[$0] != nil }
            .map { (measure: $0, weight: $0 == .cloudVoucher ? 60 : $0 == .publicService || $0 == .identifierNode ? 8 : 4) }
        // The daemon holds this lock while it runs: loading under a live daemon would race it.
        let directory = open(dataDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0, flock(directory, LOCK_EX | LOCK_NB) == 0 else {
            throw ValidationError("\(dataDir) is not a data directory or a daemon is running on it: stop the daemon first")
        }
        defer { close(directory) }
        let started = monotonicNanoseconds()
        var random = SplitMix(seed: seed)
        let providers = try (0..<400).map { try USCC.makeValid(prefix16: "91440604" + String(digits: 30_000_000 + $0 * 7, count: 8)) }
        var tally: [ApplicationState: Int] = [:]
        let ledger = try CityLedger(path: dataDir + "/city-ledger.sqlite")
        for (d, district) in DistrictID.allCases.enumerated() {
            let store = try DistrictStore(path: "\(dataDir)/districts/\(district.rawValue).sqlite", district: district)
            let actor = Actor(tenant: district.rawValue, uid: getuid())
            let perDistrict = count / 5 + (d < count % 5 ? 1 : 0)
            // One industrial enterprise per 20 of the district's applications, a quarter as many
            // of each other role: each role a population of its own.
            let population = try ApplicantRole.allCases.enumerated().map { r, role in
                (role, try (0..<max(20, perDistrict / 20 / (role == .industrialEnterprise ? 1 : 4))).map {
                    // The district leads the organisation code (positions 9–16): one organisation
                    // has one USCC, so two districts' enterprises must not share it (nor the
                    // providers', 30,000,000 on).
                    try USCC.makeValid(prefix16: "91" + district.divisionCode + String(digits: (4 + d) * 10_000_000 + r * 1_000_000 + $0, count: 8))
                })
            }
            let enterprises = Dictionary(uniqueKeysWithValues: population)
            // The registry first: the ledger's index, then the district's, as RegisterApplicant does.
            let records = population.flatMap { role, codes in
                codes.map {
                    ApplicantRecord(uscc: $0.rawValue, name: "佛山市\($0.rawValue.suffix(6))科技有限公司", district: district, locality: .local, role: role)
                }
            }
            for first in stride(from: 0, to: records.count, by: batch) {
                let chunk = records[first..<min(first + batch, records.count)]
                try ledger.database.writeNow { transaction in
                    for record in chunk { try ledger.indexApplicant(record, at: "2020-07-20T00:00:00Z", in: transaction) }
                }
                try store.database.writeNow { transaction in
                    for record in chunk { try store.insertApplicant(record, by: actor, at: "2020-07-20T00:00:00Z", in: transaction) }
                }
            }
            var filed = 0
            while filed < perDistrict {
                let rows = min(batch, perDistrict - filed)
                try store.database.writeNow { transaction in
                    for i in filed..<(filed + rows) {
                        let application = try Self.application(
                            i, district: district, policy: policy, measures: measures, enterprises: enterprises, providers: providers, &random)
                        try application.validate()
                        let time = "\(application.fundingYear.year)-0\(1 + i % 9)-1\(i % 9)T09:00:00Z"
                        let day = try CalendarDate(parsing: String(time.prefix(10)))
                        let request = RequestKey(id: "load-\(district.rawValue)-\(i)", fingerprint: "load")
                        let stored = try store.insertApplication(application, filedOn: day, actor: actor, request: request, at: time, in: transaction)
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

    /// Application `i` of `district`: a measure of the policy, an applicant of a role it accepts,
    /// the measure's fields filled as a clerk would.
    static func application(
        _ i: Int, district: DistrictID, policy: Policy, measures: [(measure: Measure, weight: Int)], enterprises: [ApplicantRole: [USCC]],
        providers: [USCC], _ random: inout SplitMix
    ) throws -> Application {
        var roll = Int(random.next() % UInt64(measures.reduce(0) { $0 + $1.weight }))
        var measure = measures[0].measure
        for (candidate, weight) in measures {
            if roll < weight {
                measure = candidate
                break
            }
            roll -= weight
        }
        let roles = ApplicantRole.allCases.filter { policy.rules[measure]?.applicantRoles.contains($0) == true }
        let candidates = enterprises[roles[Int(random.next() % UInt64(roles.count))]]!
        let year = policy.fundingYears.lowerBound + Int(random.next() % UInt64(policy.fundingYears.count))
        guard let fundingYear = FundingYear(year) else { throw ValidationError("the policy's funding year \(year) is not one the core accepts") }
        // Zipf-like: applicant k is chosen with falling probability.
        let k = Int(Double(candidates.count) * pow(Double(random.next() % 1_000_000) / 1e6, 2.5))
        let enterprise = candidates[min(k, candidates.count - 1)]
        let contract = Money(fen: Int64(2_000_000 + random.next() % 50_000_000))
        let pilot = measure == .clusterPilot || measure == .clusterPilotFollowOn
        return Application(
            measure: measure, fundingYear: fundingYear, enterprise: enterprise, projectName: "\(district.rawValue) 数字化项目 \(i)",
            contractNumber: "HT-\(year)-\(district.rawValue)-\(i)", contractAmount: contract, paidAmount: contract,
            provider: measure == .cloudVoucher ? providers[Int(random.next() % UInt64(providers.count))] : nil,
            investedAmount: measure == .benchmarkProject ? Money(fen: contract.fen * 4) : .zero,
            constructionAmount: measure == .identifierNode ? contract : .zero,
            totalInvestment: measure == .identifierNode ? Money(fen: contract.fen * 2) : .zero,
            upperLevelAwardTotal: measure == .demoBase ? contract : .zero,
            previousYearServiceSpend: measure == .publicService ? contract : .zero,
            selectionDate: pilot ? CalendarDate(year: year, month: 3, day: 1) : nil, selectionLevel: pilot || measure == .benchmarkProject ? .provincial : .none,
            pilotID: pilot ? "PILOT-\(district.rawValue)-\(i)" : "",
            servedEnterprises: measure == .clusterPilotFollowOn ? Array(enterprises[.industrialEnterprise]!.prefix(10)) : []
        )
    }
}

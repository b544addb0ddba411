import ArgumentParser
import SubsidyCore

#if canImport(Glibc)
import Glibc
#endif

/// Writes a seeded, realistic history of decided awards as the CSV `subsidyctl import` reads
/// (issue 10, deliverable 6; documented in Tests/Benchmarks/README.md): every measure of the policy,
/// all five districts, every funding year, enterprises that apply under several measures and years,
/// hundreds of providers. It loads the policy file and keeps a running total of every cap scope, so
/// the output never over-commits: an award that would pass a cap is cut to what is left (the policy
/// allows partial awards) or, with nothing left, drawn again as a cloud voucher of another scope.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write N realistic historical awards (CSV for `subsidyctl import`) that respect every cap of the policy."
    )

    @Option(help: "Awards to write.")
    var awards: Int = 10_000

    @Option(help: "Seed: the same seed and options give the same file.")
    var seed: UInt64 = 20_200_717

    @Option(help: "Policy file whose measures, years and caps the data follows.")
    var policy: String = "Deploy/policy/foshan-2020.toml"

    @Option(help: "Divide every amount by this: the real budgets hold about 2,000 awards a year, so a ledger of 1,000,000 needs small amounts to keep its shape without binding.")
    var amountDivisor: Int64 = 1

    func run() throws {
        let text = try String(contentsOfPolicy: policy)
        let policy = try Policy.load(text: text, name: "generate")
        var random = SplitMix(seed: seed)
        var used: [CapKey: (fen: Int64, count: Int)] = [:]
        let measures = Measure.allCases.filter { policy.rules[$0] != nil }
        // Most awards are vouchers; the others are rarer, as in the programme's published lists.
        let weights = measures.map { $0 == .cloudVoucher ? 70 : $0 == .publicService || $0 == .identifierNode ? 6 : 2 }
        let providers = try (0..<400).map { try USCC.makeValid(prefix16: "91440604" + String(digits: 30_000_000 + $0 * 7, count: 8)) }
        print("measure,year,district,enterprise,provider,amount,decision_date,document,contract,pilot,project,selection_date")
        var written = 0
        while written < awards {
            let measure = pick(measures, weights: weights, &random)
            guard let rule = policy.rules[measure] else { continue }
            let year = policy.fundingYears.lowerBound + Int(random.next() % UInt64(policy.fundingYears.count))
            let district = DistrictID.allCases[Int(random.next() % 5)]
            // A Zipf-like enterprise population: a few apply often, most once.
            let population = max(100, awards / 3)
            let enterpriseNumber = Int(Double(population) * pow(Double(random.next() % 1_000_000) / 1e6, 2.5))
            let enterprise = try USCC.makeValid(prefix16: "91" + district.divisionCode + String(digits: 10_000_000 + enterpriseNumber, count: 8))
            let provider = measure == .cloudVoucher ? providers[Int(random.next() % UInt64(providers.count))] : nil
            let pilot = measure == .clusterPilot || measure == .clusterPilotFollowOn ? "PILOT-\(year)-\(written)" : ""
            let month = 1 + Int(random.next() % 12)
            guard let decided = CalendarDate(year: year, month: month, day: 1 + Int(random.next() % 28)),
                let fundingYear = FundingYear(year), decided >= policy.validFrom, decided <= policy.validThrough
            else { continue }
            let selected = pilot.isEmpty ? nil : max(policy.validFrom, CalendarDate(year: year, month: 1, day: 1) ?? decided)
            let application = Application(
                measure: measure, fundingYear: fundingYear, enterprise: enterprise, projectName: "\(measure) project \(written)",
                contractNumber: "GEN-\(year)-\(written)", provider: provider, selectionDate: selected, pilotID: pilot
            )
            var fen = max(1, draw(rule, &random) / amountDivisor)
            var keys: [CapKey] = []
            // An imported award counts against every cap of its measure (CityViews.importedCommitment).
            var named = true
            for cap in rule.caps {
                guard let key = cap.key(for: application, policyName: policy.name) else {
                    named = false
                    break
                }
                let now = used[key] ?? (0, 0)
                switch cap.limit {
                case let .count(limit) where now.count >= limit: fen = 0
                case let .amount(limit): fen = min(fen, limit.fen - now.fen)
                default: break
                }
                keys.append(key)
            }
            guard named, fen > 0 else { continue }
            for key in keys { used[key, default: (0, 0)].fen += fen; used[key, default: (0, 0)].count += 1 }
            let amount = Money(fen: fen).plainText
            let date = "\(decided)"
            print(
                "\(measure.rawValue),\(year),\(district.rawValue),\(enterprise),\(provider?.rawValue ?? ""),\(amount),\(date),"
                    + "佛工信〔\(year)〕\(100 + written % 900)号,GEN-\(year)-\(written),\(pilot),\(measure) project \(written),\(selected.map { "\($0)" } ?? "")"
            )
            written += 1
        }
    }

    /// A typical award of the measure, in fen: its fixed amount, or a contract-sized share.
    private func draw(_ rule: MeasureRule, _ random: inout SplitMix) -> Int64 {
        if let amount = rule.amount { return amount.fen }
        let yuan = Int64(20_000 + random.next() % 580_000)
        let cap = rule.perProjectCap?.fen ?? Int64.max
        return min(cap, yuan * 100 / 2)
    }

    private func pick(_ measures: [Measure], weights: [Int], _ random: inout SplitMix) -> Measure {
        var roll = Int(random.next() % UInt64(weights.reduce(0, +)))
        for (measure, weight) in zip(measures, weights) {
            if roll < weight { return measure }
            roll -= weight
        }
        return measures[0]
    }
}

/// SplitMix64: a small seeded generator, so the same seed writes the same file on every machine.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension String {
    /// The whole file at `path`, read with the C library (this target does not link Foundation).
    init(contentsOfPolicy path: String) throws {
        guard let file = fopen(path, "r") else { throw ValidationError("cannot open the policy file \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        self.init(decoding: bytes, as: UTF8.self)
    }
}

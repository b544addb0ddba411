import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

/// Fills the ledger through `ImportHistory` with `awards` decided cloud vouchers spread over every
/// district, the four funding years, thousands of enterprises and hundreds of providers, each of a
/// few yuan, so that no cap binds when `approve` runs afterwards: the approvals then measure how
/// their cost grows with the ledger, not a refusal.
struct PrefillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefill",
        abstract: "Import N historical awards (many providers, enterprises, years) through ImportHistory."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Historical awards to import.")
    var awards: Int = 10_000

    @Option(help: "Rows per ImportHistory request (at most 10,000; subsidyctl import sends a whole file of up to 10,000 in one).")
    var batch: Int = 5_000

    @Option(help: "ImportHistory requests kept in flight: the daemon checks the next batch while the last one commits.")
    var inFlight: Int = 2

    func run() async throws {
        let connection = try await ClientConnection.connect(unixSocketPath: target.socket("city"))
        let city = Foshan_Subsidy_V1_CityService.Client(wrapping: connection)
        let (awards, batch) = (self.awards, max(1, self.batch))
        let start = monotonicNanoseconds()
        var imported = 0
        var histogram = LatencyHistogram()
        try await withThrowingTaskGroup(of: (Int, UInt64).self) { group in
            var firsts = stride(from: 0, to: awards, by: batch).makeIterator()
            func send(_ first: Int) throws {
                var request = Foshan_Subsidy_V1_ImportHistoryRequest()
                request.requestId = "bench-prefill-\(first)-\(awards)"
                for i in first..<min(awards, first + batch) { request.awards.append(try Self.award(i)) }
                group.addTask {
                    let t0 = monotonicNanoseconds()
                    let reply = try await city.importHistory(request, timeout: .seconds(600))
                    return (Int(reply.imported) + Int(reply.alreadyPresent), monotonicNanoseconds() - t0)
                }
            }
            for _ in 0..<max(1, inFlight) {
                guard let first = firsts.next() else { break }
                try send(first)
            }
            while let (rows, nanoseconds) = try await group.next() {
                imported += rows
                histogram.record(nanoseconds: nanoseconds)
                if let first = firsts.next() { try send(first) }
            }
        }
        let elapsed = elapsedSeconds(from: start, to: monotonicNanoseconds())
        await connection.close()
        print("prefill awards=\(imported) seconds=\(elapsed) rate=\(Int((Double(imported) / elapsed).rounded())) per-batch \(histogram.summary) in-flight=\(inFlight)")
    }

    /// Award `i`: district, year, enterprise and provider cycle at different periods, so that
    /// scopes overlap as they would in the real ledger; 1–9.99 yuan, integer fen.
    static func award(_ i: Int) throws -> Foshan_Subsidy_V1_HistoricalAward {
        let district = DistrictID.allCases[i % 5]
        let year = 2020 + (i / 5) % 4
        var award = Foshan_Subsidy_V1_HistoricalAward()
        award.measure = .cloudVoucher
        award.fundingYear = Int32(year)
        award.district = district.rawValue
        award.enterpriseUscc = try USCC.makeValid(prefix16: "91" + district.divisionCode + "7" + String(digits: (i / 20) % 5_000_000, count: 7)).rawValue
        award.providerUscc = try USCC.makeValid(prefix16: "914406048" + String(digits: i % 997, count: 7)).rawValue
        award.amountFen = Int64(100 + i % 900)
        award.decisionDate = "\(year)-11-\(String(digits: 10 + i % 18, count: 2))"
        award.decisionDocument = "佛工信〔\(year)〕\(100 + i % 900)号"
        award.contractNumber = "HIST-\(i)"
        award.projectName = "historical voucher \(i)"
        return award
    }
}

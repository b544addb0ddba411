import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

/// Health.Check round trips: `connections` connections, one call in flight on each, as the gRPC
/// C++ anchor client drives its server.
struct RoundTripCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rpc",
        abstract: "Health.Check on N connections, one call in flight each; prints rate and p50/p99/p999."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Connections, spread over the five district sockets.")
    var connections: Int = 1

    @Option(help: "Seconds to measure (after one warm-up call per connection).")
    var seconds: Double = 3

    func run() async throws {
        var clients: [ClientConnection] = []
        for i in 0..<connections {
            let client = try await ClientConnection.connect(unixSocketPath: target.socket(DistrictID.allCases[i % 5].rawValue))
            _ = try await Foshan_Subsidy_V1_Health.Client(wrapping: client).check(Foshan_Subsidy_V1_HealthCheckRequest())
            clients.append(client)
        }
        let start = monotonicNanoseconds()
        let deadline = start + UInt64(seconds * 1e9)
        let latencies = try await withThrowingTaskGroup(of: LatencyHistogram.self) { group in
            for client in clients {
                let health = Foshan_Subsidy_V1_Health.Client(wrapping: client)
                // Each lane runs on its connection's thread, as the gRPC anchor's client runs each
                // connection's calls on a thread of its own: no hand-off between threads per call.
                group.addTask {
                    try await withTaskExecutorPreference(client.executor) {
                        var histogram = LatencyHistogram()
                        let request = Foshan_Subsidy_V1_HealthCheckRequest()
                        var t0 = monotonicNanoseconds()
                        while t0 < deadline {
                            _ = try await health.check(request)
                            let t1 = monotonicNanoseconds()
                            histogram.record(nanoseconds: t1 - t0)
                            t0 = t1
                        }
                        return histogram
                    }
                }
            }
            var all = LatencyHistogram()
            for try await histogram in group { all.add(histogram) }
            return all
        }
        let elapsed = elapsedSeconds(from: start, to: monotonicNanoseconds())
        for client in clients { await client.close() }
        let rate = Int((Double(latencies.count) / elapsed).rounded())
        print("subsidyd connections=\(connections) calls=\(latencies.count) seconds=\(elapsed) rate=\(rate) \(latencies.summary)")
    }
}

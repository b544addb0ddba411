import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

/// `subsidyd-bench`: load against a running `subsidyd --dev`, one measurement per invocation, each
/// printed as one `key=value` line. `Tests/Benchmarks/run.sh` interleaves these with the anchors
/// (raw Unix-socket ping-pong, raw SQLite commits, gRPC C++) over several rounds and prints medians
/// and ratios. Not a test: nothing asserts a time.
@main
struct SubsidyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subsidyd-bench",
        abstract: "Measure a running subsidyd: Health.Check round trips, filing and approvals, quota and lists; load its ledger and stores.",
        subcommands: [
            RoundTripCommand.self, LedgerCommand.self, PrefillCommand.self, GenerateCommand.self, ApplicationsCommand.self, BrowseCommand.self,
        ]
    )
}

/// Where the daemon under test is.
struct TargetOptions: ParsableArguments {
    @Option(help: "Data directory of a running `subsidyd --dev`.")
    var dataDir: String

    /// The socket of a district or `city`, as `subsidyd --dev` lays them out.
    func socket(_ tenant: String) -> String { DevelopmentLayout.socketPath(dataDirectory: dataDir, tenant: tenant) }
}

/// Monotonic time in nanoseconds.
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Seconds between two `monotonicNanoseconds()` readings.
func elapsedSeconds(from start: UInt64, to end: UInt64) -> Double { Double(end - start) / 1e9 }

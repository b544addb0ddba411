import Histogram

/// Call latencies in microseconds, as an HDR histogram (3 significant digits, 1 µs to 100 s).
struct LatencyHistogram: Sendable {
    private var histogram = Histogram<UInt64>(highestTrackableValue: 100_000_000, numberOfSignificantValueDigits: .three)

    /// Records one call that took `nanoseconds`.
    mutating func record(nanoseconds: UInt64) {
        _ = histogram.record(max(1, min(nanoseconds / 1_000, 100_000_000)))
    }

    mutating func add(_ other: LatencyHistogram) { histogram.add(other.histogram) }

    var count: UInt64 { histogram.totalCount }

    /// `p50_us=… p99_us=… p999_us=… max_us=…`, the form run.sh reads.
    var summary: String {
        "p50_us=\(histogram.valueAtPercentile(50)) p99_us=\(histogram.valueAtPercentile(99)) "
            + "p999_us=\(histogram.valueAtPercentile(99.9)) max_us=\(histogram.max)"
    }
}

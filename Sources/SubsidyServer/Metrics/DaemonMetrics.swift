import CoreMetrics
import Prometheus
import SubsidyCore
import SubsidyStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's metrics: recorded through the swift-metrics API into a Prometheus registry of
/// the daemon's own (not the process-wide `MetricsSystem`, so tests and tools running several
/// daemons' code in one process never mix figures), and rendered in Prometheus's text format for
/// `subsidyctl admin metrics` and the node_exporter textfile (Deploy/README.md, "Metrics").
///
/// Labels are bounded: methods are the ones the router knows (anything else is "unknown"),
/// tenants the six configured, codes the seventeen statuses, caps those of the policy.
public final class DaemonMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let stores: SubsidyStores
    private let programmes: @Sendable () -> Programmes
    private let openConnections = Mutex<[String: Int]>([:])
    private let lastPolicyVersions = Mutex<Set<String>>([])
    /// The cap series the last exposition wrote: one a reload took away (a programme removed, a
    /// cap or funding year dropped) is removed from the registry, not left at its last value for
    /// an alert to go on firing on.
    private let lastCapSeries = Mutex<Set<CapSeries>>([])
    /// One exposition at a time (the textfile writer's and `admin metrics`'): two overlapping a
    /// reload could each take the other's programmes' cap series for removed ones.
    private let expositions = AsyncSemaphore(permits: 1)

    private struct CapSeries: Hashable {
        var label: String
        var dimensions: [String]

        var pairs: [(String, String)] { stride(from: 0, to: dimensions.count, by: 2).map { (dimensions[$0], dimensions[$0 + 1]) } }
    }
    /// Each (method, tenant, code)'s call counter and duration timer, made once: making them
    /// looks the labels up in the registry, which was a twentieth of a Health.Check's server time.
    /// Bounded as the labels are.
    private let callMetrics = Mutex<[CallLabels: (calls: CoreMetrics.Counter, duration: CoreMetrics.Timer)]>([:])

    private struct CallLabels: Hashable {
        var method: String
        var tenant: String
        var code: String
    }

    /// Call and store latencies: a few milliseconds normally; seconds mean a queue or a lock.
    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    /// - Parameter programmes: the programmes in force now (they change on a reload).
    public init(stores: SubsidyStores, programmes: @escaping @Sendable () -> Programmes) {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        self.factory = factory
        self.stores = stores
        self.programmes = programmes
        Gauge(label: "subsidyd_start_time_seconds", factory: factory).record(Self.wallClockSeconds())
        Gauge(label: "subsidyd_build_info", dimensions: [("version", SubsidyVersion.current)], factory: factory).record(1)
    }

    // MARK: Recording

    /// One call ended with `code` (its canonical name) after `duration`.
    func recordCall(method: String, tenant: String, code: String, duration: Duration) {
        let labels = CallLabels(method: method, tenant: tenant, code: code)
        let metrics = callMetrics.withLock { made in
            if let metrics = made[labels] { return metrics }
            let metrics = (
                calls: Counter(label: "subsidyd_calls_total", dimensions: [("method", method), ("tenant", tenant), ("code", code)], factory: factory),
                duration: Timer(label: "subsidyd_call_duration_seconds", dimensions: [("method", method), ("tenant", tenant)], factory: factory)
            )
            made[labels] = metrics
            return metrics
        }
        metrics.calls.increment()
        metrics.duration.recordNanoseconds(Self.nanoseconds(duration))
    }

    /// A call refused before it started (rate, open calls, shutdown): counted with its code.
    func recordRefusedCall(method: String, tenant: String, code: String) {
        Counter(label: "subsidyd_calls_total", dimensions: [("method", method), ("tenant", tenant), ("code", code)], factory: factory).increment()
    }

    /// One store operation of `method` (from its permit to its result): the time SQLite's commits,
    /// reads and the decision lock took for it.
    func recordStoreCall(method: String, duration: Duration) {
        Timer(label: "subsidyd_store_call_duration_seconds", dimensions: [("method", method)], factory: factory)
            .recordNanoseconds(Self.nanoseconds(duration))
    }

    func connectionOpened(tenant: String) {
        let open = openConnections.withLock { counts -> Int in
            counts[tenant, default: 0] += 1
            return counts[tenant]!
        }
        Counter(label: "subsidyd_connections_accepted_total", dimensions: [("tenant", tenant)], factory: factory).increment()
        Gauge(label: "subsidyd_connections_open", dimensions: [("tenant", tenant)], factory: factory).record(open)
    }

    func connectionClosed(tenant: String) {
        let open = openConnections.withLock { counts -> Int in
            counts[tenant, default: 1] -= 1
            return counts[tenant]!
        }
        Gauge(label: "subsidyd_connections_open", dimensions: [("tenant", tenant)], factory: factory).record(open)
    }

    /// A connection refused (peer not allowed, or a connection limit).
    func connectionRefused(tenant: String, reason: String) {
        Counter(label: "subsidyd_connections_refused_total", dimensions: [("tenant", tenant), ("reason", reason)], factory: factory).increment()
    }

    /// A reload: `accepted` false when the file was refused and the old one kept.
    public func recordReload(accepted: Bool) {
        Counter(label: "subsidyd_reloads_total", dimensions: [("result", accepted ? "accepted" : "refused")], factory: factory).increment()
    }

    func recordBackup(seconds: Double) {
        Gauge(label: "subsidyd_last_backup_time_seconds", factory: factory).record(Self.wallClockSeconds())
        Gauge(label: "subsidyd_last_backup_duration_seconds", factory: factory).record(seconds)
    }

    // MARK: Exposition

    /// Reads every cap's usage from the ledger, then renders every metric in the Prometheus text
    /// format. "Are we close to any cap?" is `subsidyd_cap_used_ratio` (city-wide budgets and
    /// counts per funding year) and `subsidyd_cap_max_subject_used_ratio` (the most-used
    /// enterprise, provider or pilot under each per-subject cap).
    public func exposition() async throws -> String {
        try await expositions.wait()
        defer { expositions.signal() }
        let programmes = self.programmes()
        let totals = try await stores.ledger.capTotals(scopePrefix: nil)
        recordPolicies(programmes.all)
        var written = Set<CapSeries>()
        func record(_ label: String, _ dimensions: [(String, String)], _ value: Double) {
            Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
            written.insert(CapSeries(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] }))
        }
        // The city's programmes: a district's own keeps its caps in its own store.
        for policy in programmes.all where policy.level == .city {
            for cap in policy.caps {
                let (limit, unit): (Double, String) = switch cap.limit {
                case .amount(let money): (Double(money.fen), "fen")
                case .count(let count): (Double(count), "count")
                }
                func used(_ total: CityLedger.CapTotal?) -> Double {
                    guard let total else { return 0 }
                    return unit == "count" ? Double(total.count) : Double(total.amountFen)
                }
                guard limit > 0 else { continue }
                if cap.subject == .city {
                    let scopes = cap.period == .fundingYear ? policy.fundingYears.map(String.init) : [policy.name]
                    for scope in scopes {
                        let dimensions = [("cap", cap.id), ("scope", scope), ("unit", unit)]
                        let committed = used(totals.first { $0.capID == cap.id && $0.scope == scope })
                        record("subsidyd_cap_limit", dimensions, limit)
                        record("subsidyd_cap_committed", dimensions, committed)
                        record("subsidyd_cap_used_ratio", [("cap", cap.id), ("scope", scope)], committed / limit)
                    }
                } else {
                    // Per-subject caps have one scope per subject ("2022/9144…"): one series per cap and
                    // funding year for the most-used subject keeps the label set bounded.
                    var highest: [String: Double] = [:]
                    for total in totals where total.capID == cap.id {
                        let year = String(total.scope.prefix { $0 != "/" })
                        highest[year] = max(highest[year] ?? 0, used(total) / limit)
                    }
                    let years = cap.period == .fundingYear ? policy.fundingYears.map(String.init) : [policy.name]
                    for year in Set(years).union(highest.keys) {
                        record("subsidyd_cap_max_subject_used_ratio", [("cap", cap.id), ("scope", year)], highest[year] ?? 0)
                    }
                }
            }
        }
        let gone = lastCapSeries.withLock { last -> Set<CapSeries> in
            defer { last = written }
            return last.subtracting(written)
        }
        for series in gone { Gauge(label: series.label, dimensions: series.pairs, factory: factory).destroy() }
        // How close each file is to max_district_file_bytes, and the disk to min_free_disk_bytes.
        let limits = stores.storageLimits
        for (file, bytes) in try await stores.storedBytes() {
            Gauge(label: "subsidyd_store_bytes", dimensions: [("file", file)], factory: factory).record(Double(bytes))
            if file != "city-ledger" {
                Gauge(label: "subsidyd_store_limit_bytes", dimensions: [("file", file)], factory: factory).record(Double(limits.maximumDistrictFileBytes))
            }
        }
        for (file, bytes) in stores.walBytes() {
            Gauge(label: "subsidyd_store_wal_bytes", dimensions: [("file", file)], factory: factory).record(Double(bytes))
        }
        if let free = stores.freeDiskBytes() { Gauge(label: "subsidyd_disk_free_bytes", factory: factory).record(Double(free)) }
        Gauge(label: "subsidyd_disk_reserve_bytes", factory: factory).record(Double(limits.minimumFreeDiskBytes))
        return registry.emitToString()
    }

    /// `subsidyd_policy_info{version}` is 1 for every programme in force (the 2020 measures, the
    /// successor and district programmes: one series each) and 0 for a version a reload replaced.
    private func recordPolicies(_ programmes: [Policy]) {
        let current = Set(programmes.map(\.version))
        let replaced = lastPolicyVersions.withLock { last -> Set<String> in
            defer { last = current }
            return last.subtracting(current)
        }
        for version in replaced.sorted() { Gauge(label: "subsidyd_policy_info", dimensions: [("version", version)], factory: factory).record(0) }
        for version in current.sorted() { Gauge(label: "subsidyd_policy_info", dimensions: [("version", version)], factory: factory).record(1) }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    static func wallClockSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

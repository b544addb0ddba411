import SubsidyCore
import SubsidyStore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

/// Everything the daemon needs to start, flat like Hummingbird's configuration.
///
/// Built either by ``development(dataDirectory:)`` (`subsidyd --dev`) or from a configuration file
/// by ``load(path:)`` (`subsidyd --config FILE`), which validates every key.
public struct ServerConfiguration: Sendable {
    public var dataDirectory: String
    /// Directory holding the sockets (created at start with ``runtimeDirectoryMode``), or nil to
    /// create each socket's parent directories with mode 0755 (`--dev`).
    public var runtimeDirectory: String?
    /// Permission bits of the runtime directory when the daemon creates it.
    public var runtimeDirectoryMode: UInt32 = 0o755
    public var tenants: [Tenant]
    public var limits: Limits
    /// The policy file to load, or nil for the embedded default policy.
    public var policyPath: String?
    /// Enterprises registered in one district's area (USCC positions 3–8) that now belong to
    /// another district (`[relocations]`): that district, not the area's, registers them.
    public var relocations: [String: DistrictID] = [:]
    /// Test-only fault hooks (e.g. metadata `x-test-delay-ms` delays a handler). Off in
    /// production; `subsidyd --test-hooks` turns them on for the integration tests.
    public var testHooks = false
    /// `subsidyd --today`: the day the bureaus' calendar is pinned to (filing windows, decision
    /// dates, calls), for rehearsals on the ended programmes and for tests. Only with `--dev` or
    /// test hooks; nil (Foshan's real day) in production.
    public var pinnedToday: CalendarDate?
    /// Whether a call may name its own day (metadata `x-today`, `subsidyctl --today`): on for
    /// `--dev`, where clerks rehearse and tests step through the years; off for a configuration
    /// file's daemon (production), which refuses such a call.
    public var takesCallDates = false
    /// `metrics_textfile`: the file the metrics are written to, in Prometheus's text format, for
    /// node_exporter's textfile collector (replaced atomically, mode 0644); nil writes none.
    public var metricsTextfile: String?
    /// `metrics_interval_ms`: how often that file is rewritten.
    public var metricsIntervalMilliseconds: Int64 = 15_000
    /// `log_format`: one line per event, as logfmt or JSON.
    public var logFormat: StructuredLogHandler.Format = .logfmt
    /// What the file names that does not exist but does not stop the daemon (`FILE:LINE: key:
    /// problem`), logged at start-up and at a reload and printed by `--check-config`: a clerk's
    /// account deleted while `allowed_uids` still names it must not take all six tenants down.
    public var warnings: [String] = []

    /// Per-connection and per-process limits; exceeding one gets RESOURCE_EXHAUSTED or a closed
    /// connection, and a log line, while everyone else keeps being served.
    public struct Limits: Sendable, Equatable {
        /// Largest frame accepted, checked against the length header before any allocation.
        public var maximumFrameLength = FrameDecoderDefaults.maximumFrameLength
        /// Once a frame's first byte has arrived, the whole frame must arrive within this long
        /// or the connection is closed (a slow-loris client cannot hold buffers open forever).
        public var frameDeadlineMilliseconds: Int64 = 10_000
        /// A connection with no call open and no inbound traffic for this long is closed. A
        /// connection with an open call (e.g. a watch stream) is never idle.
        public var idleTimeoutMilliseconds: Int64 = 300_000
        /// A connection that cannot be written to for this long — its client has stopped taking
        /// its replies — is closed, freeing what its calls held of its tenant's budget.
        public var writeStallTimeoutMilliseconds: Int64 = 60_000
        /// On SIGTERM, how long the daemon waits for connections to take their last replies
        /// before closing the ones still open (clients not reading). Their calls' store work
        /// completes either way; only replies nobody was reading are lost. A service manager's
        /// stop timeout must be longer than this.
        public var drainGraceMilliseconds: Int64 = 10_000
        /// Calls one connection may have open at once.
        public var maximumConcurrentCallsPerConnection = 64
        /// Connections open at once over all sockets; beyond it a new one is refused at accept.
        public var maximumConnections = 1_024
        /// Connections one uid may have open at once over all sockets.
        public var maximumConnectionsPerUID = 128
        /// Connections one tenant may have open at once, whatever uids its peers use, so one
        /// bureau's many accounts cannot lock the others out. Five districts at this default
        /// (5 × 192 = 960) still leave room for the city under the default `maximumConnections`.
        public var maximumConnectionsPerTenant = 192
        /// Bytes one connection may have queued in the daemon: the requests of its open calls
        /// and its replies not yet taken by the socket. Above it the daemon stops reading that
        /// connection and its calls wait before their store work, until the client reads.
        public var maximumQueuedBytesPerConnection = 8 * 1024 * 1024
        /// Bytes all of one tenant's connections may hold together (requests of open calls and
        /// unwritten replies); past it every connection of that tenant stops reading until the
        /// total falls, so a bureau's many connections cannot add up to more. At least
        /// ``maximumQueuedBytesPerConnection``.
        public var maximumQueuedBytesPerTenant = 64 * 1024 * 1024
        /// Store operations (blocking SQLite work) one tenant may have running at once; its
        /// further calls wait their turn, so one tenant's flood cannot take every store thread.
        public var maximumConcurrentStoreCallsPerTenant = 4
        /// Calls of one tenant that may compute at once (decode, check, convert, reply; not their
        /// store work, which the store calls bound); its further calls wait their turn, so one
        /// tenant's flood of heavy requests cannot fill the processors ahead of the others'.
        /// 0: one fewer than the processors (one at least), so one tenant always leaves one.
        public var maximumConcurrentComputePerTenant = 0
        /// ``maximumConcurrentComputePerTenant`` as it applies.
        public var computeTurnsPerTenant: Int { maximumConcurrentComputePerTenant > 0 ? maximumConcurrentComputePerTenant : ComputeTurn.processors }
        /// Sustained requests per second each tenant may start (a token bucket per tenant, shared
        /// by all of that tenant's connections); beyond it a call ends RESOURCE_EXHAUSTED.
        public var requestsPerSecond = 500
        /// Requests a tenant may start in a burst above the sustained rate (the bucket's size).
        public var requestBurst = 1_000
        /// Largest a district's own file may grow; past it the district's new applicants, applicant
        /// changes, applications, amendments and catalogue entries are refused (RESOURCE_EXHAUSTED), while
        /// reads, reviews and the city's decisions go on. An application takes about 5 KB as filed
        /// (more with each review and decision), so 8 GiB holds over a million.
        public var maximumDistrictFileBytes: Int64 = 8 << 30
        /// Free space the data directory's disk must keep: below it no district may add a record,
        /// so the rest stays for decisions and the ledger. 0: no reserve.
        public var minimumFreeDiskBytes: Int64 = 512 << 20
        /// Applications one district looks at in one call of a text search (`ListApplications`
        /// with `text`), which reads each one's content: about 30 ms of a core at the default
        /// with the file cached. A search that finds fewer matches than its page size in that
        /// many returns them with a page token to go on from, so one call's cost is bounded
        /// however many applications a district holds.
        public var searchScanRows = ApplicationFilter.defaultTextScanRows

        public init() {}

        /// What the stores check before a district adds a record.
        public var storage: StorageLimits {
            StorageLimits(maximumDistrictFileBytes: maximumDistrictFileBytes, minimumFreeDiskBytes: minimumFreeDiskBytes)
        }

        /// The tenants besides any one (five districts and the city make six).
        public static let otherTenants = 5

        /// The most connections one tenant may hold so that, with every other tenant at that cap,
        /// one more tenant still finds room under `total`.
        public static func tenantShare(of total: Int) -> Int {
            max(1, (total - 1) / otherTenants)
        }

        /// Byte budget of one list page: a page stops before the record that would pass it and
        /// returns a page token. Well under the largest frame any client accepts, so a page and
        /// its envelope always fit, and under a quarter of `maximumFrameLength`.
        public var listPageBytes: Int { min(1024 * 1024, max(4 * 1024, maximumFrameLength / 4)) }
    }

    public init(dataDirectory: String, tenants: [Tenant], limits: Limits = Limits()) {
        self.dataDirectory = dataDirectory
        self.tenants = tenants
        self.limits = limits
    }

    /// The embedded default: every socket under `dataDirectory/sockets`, only the current user
    /// allowed, mode 0600, and a request rate high enough that benchmarks measure the daemon
    /// rather than the limiter; the other limits are the defaults.
    public static func development(dataDirectory: String) -> ServerConfiguration {
        let uid = getuid()
        var tenants = DistrictID.allCases.map { district in
            Tenant(
                id: district.rawValue, displayName: district.displayName, role: .district,
                socketPath: DevelopmentLayout.socketPath(dataDirectory: dataDirectory, tenant: district.rawValue),
                allowedUIDs: [uid]
            )
        }
        tenants.append(
            Tenant(
                id: DevelopmentLayout.cityTenant, displayName: "佛山市", role: .city,
                socketPath: DevelopmentLayout.socketPath(dataDirectory: dataDirectory, tenant: DevelopmentLayout.cityTenant),
                allowedUIDs: [uid]
            )
        )
        var limits = Limits()
        // Every tenant is the same uid in --dev, so a per-uid cap would be a total cap.
        limits.maximumConnectionsPerUID = limits.maximumConnections
        limits.requestsPerSecond = 1_000_000
        limits.requestBurst = 1_000_000
        // A developer's disk is often nearly full and theirs to watch: no reserve.
        limits.minimumFreeDiskBytes = 0
        var configuration = ServerConfiguration(dataDirectory: dataDirectory, tenants: tenants, limits: limits)
        configuration.takesCallDates = true
        return configuration
    }
}

/// Kept here so configuration does not need to import the wire layer for one number.
public enum FrameDecoderDefaults {
    public static let maximumFrameLength = 4 * 1024 * 1024
    /// The largest frame the daemon sends: what its own client (and the Python client) accept by
    /// default, whatever `max_frame_bytes` says about inbound frames.
    public static let maximumReplyFrameLength = 4 * 1024 * 1024
}

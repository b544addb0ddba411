import SubsidyCore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

/// Everything the daemon needs to start, flat like Hummingbird's configuration.
public struct ServerConfiguration: Sendable {
    public var dataDirectory: String
    public var tenants: [Tenant]
    public var limits: Limits
    /// Test-only fault hooks (e.g. metadata `x-test-delay-ms` delays a handler). Off in
    /// production; `subsidyd --test-hooks` turns them on for the integration tests.
    public var testHooks = false

    /// Per-connection and per-process limits; exceeding one gets RESOURCE_EXHAUSTED or a closed
    /// connection, and a log line, while everyone else keeps being served.
    public struct Limits: Sendable {
        /// Largest frame accepted, checked against the length header before any allocation.
        public var maximumFrameLength = FrameDecoderDefaults.maximumFrameLength
        /// Calls one connection may have open at once.
        public var maximumConcurrentCallsPerConnection = 64
        /// A connection with no traffic for this long is closed.
        public var idleTimeoutSeconds: Int64 = 300
        public init() {}
    }

    public init(dataDirectory: String, tenants: [Tenant], limits: Limits = Limits()) {
        self.dataDirectory = dataDirectory
        self.tenants = tenants
        self.limits = limits
    }

    /// The embedded default: every socket under `dataDirectory/sockets`, only the current user
    /// allowed, mode 0600.
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
        return ServerConfiguration(dataDirectory: dataDirectory, tenants: tenants)
    }
}

/// Kept here so configuration does not need to import the wire layer for one number.
public enum FrameDecoderDefaults {
    public static let maximumFrameLength = 4 * 1024 * 1024
}

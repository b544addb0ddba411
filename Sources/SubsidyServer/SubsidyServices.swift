import Logging
import SubsidyCore
import SubsidyStore
import SubsidyWire
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Builds everything the daemon serves from a configuration: the router with every service,
/// and the health monitor. The executable only parses flags, loads configuration and runs this.
public struct SubsidyServices: Sendable {
    /// The router in force; a SIGHUP reload (``reload(configuration:logger:)``) replaces it whole.
    public let router: RouteTable
    public let health: HealthMonitor

    public let stores: SubsidyStores
    /// Calls, connections, store latency and cap usage (`subsidyctl admin metrics`, the textfile).
    public let metrics: DaemonMetrics
    private let events: LedgerEvents
    private let servingPolicy: ServingPolicy

    /// The policy the daemon serves now (the latest one a reload accepted).
    public var policy: Policy { servingPolicy.value.withLock { $0 } }

    /// Loads the policy, opens every store, reconciles them with the ledger (before anything is
    /// served), and registers every service.
    public static func bootstrap(configuration: ServerConfiguration, logger: Logger) async throws -> SubsidyServices {
        let policy = try loadPolicy(path: configuration.policyPath)
        logger.info("policy \(policy.version)")
        let stores = try SubsidyStores.open(dataDirectory: configuration.dataDirectory, faults: FaultPoints(enabled: configuration.testHooks))
        do {
            try await stores.upgradeStoredRows(policy: policy, logger: logger)
            let report = try await stores.recover()
            for line in report.rolledForward { logger.notice("recovery: rolled forward \(line)") }
            // Serving on stores that disagree would award against caps the ledger does not hold.
            guard report.inconsistencies.isEmpty else {
                throw ServerError.storesInconsistent(problems: report.inconsistencies.map(\.description))
            }
        } catch {
            await stores.close()
            throw error
        }

        let health = HealthMonitor()
        let events = LedgerEvents()
        let servingPolicy = ServingPolicy(value: Mutex(policy))
        let metrics = DaemonMetrics(stores: stores, policy: { servingPolicy.value.withLock { $0 } })
        let router = makeRouter(policy: policy, configuration: configuration, stores: stores, health: health, events: events, metrics: metrics)
        return SubsidyServices(router: RouteTable(router), health: health, stores: stores, metrics: metrics, events: events, servingPolicy: servingPolicy)
    }

    /// Every service, bound to one policy. The stores, the health monitor and the ledger's event
    /// stream are shared across reloads: a reload must not re-create tenants, lose a WatchCaps
    /// subscriber or reopen a file.
    static func makeRouter(
        policy: Policy, configuration: ServerConfiguration, stores: SubsidyStores, health: HealthMonitor, events: LedgerEvents,
        metrics: DaemonMetrics
    ) -> MethodRouter {
        var router = MethodRouter()
        FoundationServices.register(into: &router, health: health, policyVersion: policy.version)
        DistrictService(policy: policy, stores: stores, relocations: configuration.relocations)
            .registerMethods(with: &router, roles: [.district])
        CityService(policy: policy, stores: stores, events: events)
            .registerMethods(with: &router, roles: [.city])
        AdminService(stores: stores, metrics: metrics).registerMethods(with: &router, roles: [.city])
        FoundationServices.registerReflection(into: &router)
        return router
    }

    /// SIGHUP: loads the policy `configuration` names and, only if it loads and validates in full,
    /// serves every following call with it. A policy that fails throws and changes nothing: the
    /// old one keeps being served. Returns the policy now in force.
    @discardableResult
    public func reload(configuration: ServerConfiguration, logger: Logger) throws -> Policy {
        let policy = try Self.loadPolicy(path: configuration.policyPath)
        logger.debug("policy \(policy.version) loaded from \(configuration.policyPath ?? "the binary")")
        let router = Self.makeRouter(policy: policy, configuration: configuration, stores: stores, health: health, events: events, metrics: metrics)
        servingPolicy.value.withLock { $0 = policy }
        self.router.replace(with: router)
        return policy
    }

    /// The policy file at `path`, or the embedded Foshan 2020 policy.
    static func loadPolicy(path: String?) throws -> Policy {
        guard let path else { return try Policy.load(text: EmbeddedPolicy.text, name: EmbeddedPolicy.name) }
        let text = try readTextFile(path)
        let name = String(path.split(separator: "/").last ?? "policy").replacingOccurrences(ofSuffix: ".toml")
        return try Policy.load(text: text, name: name)
    }
}

/// The policy in force, shared by every copy of ``SubsidyServices``.
private final class ServingPolicy: Sendable {
    let value: Mutex<Policy>

    init(value: consuming Mutex<Policy>) {
        self.value = value
    }
}

extension SubsidyStores {
    /// Fills in what migrations could not compute in SQL, once per row, at start-up, before
    /// anything is served: the first releases' content rewritten in the store's own form, the
    /// content keys of applications stored before district migration 3 (so the duplicate warnings
    /// see them) and the selection dates of pilot awards decided before ledger migration 4.
    func upgradeStoredRows(policy: Policy, logger: Logger) async throws {
        for result in try await convertLegacyContent(using: WireLegacyDecoder()) {
            if result.converted > 0 { logger.notice("rewrote \(result.converted) rows of \(result.file) stored in the protocol's encoding in the store's own form") }
            if !result.failed.isEmpty {
                logger.error("\(result.file): \(result.failed.count) stored rows do not decode and are damaged (DATA_LOSS when read): \(result.failed.prefix(20))")
            }
        }
        for (district, store) in districts.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let filled = try await store.fillContentKeys()
            if filled > 0 { logger.notice("content keys filled in for \(filled) applications of \(district)") }
            let publicized = try await store.fillPublicityLastDays(days: policy.publicityDays)
            if publicized > 0 { logger.notice("last day of the 公示 filled in for \(publicized) applications of \(district)") }
        }
        // A pilot awarded before the ledger kept selection dates: its follow-on's window runs from
        // the date its own application declared.
        for pilot in try await ledger.pilotAwardsWithoutSelectionDate() {
            guard let district = DistrictID(rawValue: pilot.district),
                  let selected = try? await store(district).application(pilot.applicationID)?.application.selectionDate
            else {
                logger.warning("pilot award \(pilot.applicationID) has no selection date to fill in; its follow-on will be refused")
                continue
            }
            try await ledger.recordSelectionDate(selected, for: pilot.applicationID)
            logger.notice("selection date \(selected) recorded for pilot award \(pilot.applicationID)")
        }
    }
}

extension String {
    fileprivate func replacingOccurrences(ofSuffix suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

/// Reads a whole UTF-8 text file (configuration, policy).
func readTextFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ServerError.configuration(key: "file", problem: "\(path): cannot open (errno \(errno))") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n < 0 { throw ServerError.configuration(key: "file", problem: "\(path): read failed (errno \(errno))") }
        if n == 0 { break }
        bytes += chunk[0..<n]
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw ServerError.configuration(key: "file", problem: "\(path) is not UTF-8")
    }
    return text
}

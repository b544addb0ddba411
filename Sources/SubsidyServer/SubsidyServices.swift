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

    /// The programmes the daemon serves now (the latest set a reload accepted).
    public var programmes: Programmes { servingPolicy.value.withLock { $0 } }
    /// The default programme (the 2020 policy): what an application naming none is filed under.
    public var policy: Policy { programmes.defaultProgramme }

    /// Loads the policy, opens every store, reconciles them with the ledger (before anything is
    /// served), and registers every service.
    public static func bootstrap(configuration: ServerConfiguration, logger: Logger) async throws -> SubsidyServices {
        let programmes = try loadProgrammes(path: configuration.policyPath)
        logger.info("programmes \(programmes.versionsText)")
        let policy = programmes.defaultProgramme
        let stores = try SubsidyStores.open(dataDirectory: configuration.dataDirectory, faults: FaultPoints(enabled: configuration.testHooks))
        stores.applyStorageLimits(configuration.limits.storage)
        do {
            try await Self.requireEveryAwardedProgramme(programmes, stores: stores)
            try await stores.upgradeStoredRows(policy: policy, logger: logger)
            let report = try await stores.recover()
            for line in report.rolledForward { logger.notice("recovery: rolled forward \(line)") }
            // Serving on stores that disagree would award against caps the ledger does not hold.
            guard report.inconsistencies.isEmpty else {
                throw ServerError.storesInconsistent(problems: report.inconsistencies.map(\.description))
            }
            try await Recovery.recordDistrictHeads(ledger: stores.ledger, districts: stores.districts)
            // Only once the files agree: a district file put back from an older copy may hold
            // another application under an award's id, whose base would be kept for good.
            let based = try await stores.fillStackingBases()
            if based > 0 { logger.notice("the base each award's rate applied to is now kept for \(based) awards made before it was") }
            await warnOfCapsOverLimit(programmes, stores: stores, logger: logger)
        } catch {
            await stores.close()
            throw error
        }

        let health = HealthMonitor()
        let events = LedgerEvents()
        let servingPolicy = ServingPolicy(value: Mutex(programmes))
        let metrics = DaemonMetrics(stores: stores, programmes: { servingPolicy.value.withLock { $0 } })
        let router = makeRouter(programmes: programmes, configuration: configuration, stores: stores, health: health, events: events, metrics: metrics)
        return SubsidyServices(router: RouteTable(router), health: health, stores: stores, metrics: metrics, events: events, servingPolicy: servingPolicy)
    }

    /// Every service, bound to one policy. The stores, the health monitor and the ledger's event
    /// stream are shared across reloads: a reload must not re-create tenants, lose a WatchCaps
    /// subscriber or reopen a file.
    static func makeRouter(
        programmes: Programmes, configuration: ServerConfiguration, stores: SubsidyStores, health: HealthMonitor, events: LedgerEvents,
        metrics: DaemonMetrics
    ) -> MethodRouter {
        var router = MethodRouter()
        FoundationServices.register(into: &router, health: health, policyVersion: programmes.defaultProgramme.version)
        ProgrammesService(programmes: programmes).registerMethods(with: &router, roles: [.district, .city])
        CallsService(programmes: programmes, stores: stores).registerMethods(with: &router, roles: [.district, .city])
        DistrictService(programmes: programmes, stores: stores, relocations: configuration.relocations)
            .registerMethods(with: &router, roles: [.district])
        CityService(programmes: programmes, stores: stores, events: events)
            .registerMethods(with: &router, roles: [.city])
        DistrictProgrammesService(programmes: programmes, stores: stores, events: events)
            .registerMethods(with: &router, roles: [.district])
        AdminService(stores: stores, metrics: metrics).registerMethods(with: &router, roles: [.city])
        FoundationServices.registerReflection(into: &router)
        return router
    }

    /// SIGHUP: loads the programmes `configuration` names and, only if every file loads and the
    /// set validates in full (and keeps every programme that has awards), serves every following
    /// call with them. A set that fails throws and changes nothing: the old one keeps being
    /// served. Returns the programmes now in force.
    @discardableResult
    public func reload(configuration: ServerConfiguration, logger: Logger) async throws -> Programmes {
        let programmes = try Self.loadProgrammes(path: configuration.policyPath)
        try await Self.requireEveryAwardedProgramme(programmes, stores: stores)
        logger.debug("programmes \(programmes.versionsText) loaded from \(configuration.policyPath ?? "the binary")")
        let router = Self.makeRouter(
            programmes: programmes, configuration: configuration, stores: stores, health: health, events: events, metrics: metrics)
        servingPolicy.value.withLock { $0 = programmes }
        self.router.replace(with: router)
        stores.applyStorageLimits(configuration.limits.storage)
        await Self.warnOfCapsOverLimit(programmes, stores: stores, logger: logger)
        return programmes
    }

    /// Logs each cap whose limit, as `programmes` set it, is below what is already committed
    /// under it (a limit lowered by a missing zero is otherwise noticed only in the quota view).
    static func warnOfCapsOverLimit(_ programmes: Programmes, stores: SubsidyStores, logger: Logger) async {
        do {
            for cap in try await QuotaQuery.capsOverLimit(programmes.all, stores: stores) {
                let (limit, committed) = cap.unit == "count"
                    ? ("\(cap.limit) awards", "\(cap.committed)") : ("\(Money(fen: cap.limit)) yuan", "\(Money(fen: cap.committed))")
                logger.warning(
                    "cap \(cap.capId) [\(cap.scope)]: its limit \(limit) is below the \(committed) already committed; nothing more is awarded under it (a clawback counts until its recovery is recorded — `subsidyctl recover` those whose money came back; if the limit was lowered by mistake, correct the programme file and reload)"
                )
            }
        } catch {
            logger.warning("could not compare the caps' limits with what is committed: \(error)")
        }
    }

    /// The programmes at `path` — every `*.toml` of a directory, or one file (one programme, as
    /// before programmes) — or the embedded set (`Deploy/policy/*.toml`). A file that does not
    /// load names itself, its line and key.
    public static func loadProgrammes(path: String?) throws -> Programmes {
        guard let path else {
            return try Programmes(
                EmbeddedPolicy.files.map { file throws(PolicyError) in try Policy.load(text: file.text, name: file.name) },
                defaultName: EmbeddedPolicy.defaultName)
        }
        let files = try programmeFiles(at: path)
        var loaded: [Policy] = []
        // The file each programme name came from: two files declaring one name are named both.
        var declaredIn: [String: String] = [:]
        for file in files {
            let name = String(file.split(separator: "/").last ?? "policy").replacingOccurrences(ofSuffix: ".toml")
            guard access(file, R_OK) == 0 else { throw ProgrammeFileError(description: "\(file): cannot open (\(String(cString: strerror(errno))))") }
            do {
                let programme = try Policy.load(text: try readTextFile(file), name: name)
                if let earlier = declaredIn[programme.name] {
                    throw PolicyError(
                        policyName: file, line: nil, key: "policy.name",
                        problem: "declares the name \(programme.name), as \(earlier) does: each programme file needs a name of its own")
                }
                declaredIn[programme.name] = file
                loaded.append(programme)
            } catch let error as PolicyError {
                // Among several files, the message names the file.
                throw PolicyError(policyName: file, line: error.line, key: error.key, problem: error.problem)
            }
        }
        guard !loaded.isEmpty else { throw PolicyError(policyName: path, line: nil, key: nil, problem: "no programme file (*.toml) in \(path)") }
        return try Programmes(loaded, defaultName: EmbeddedPolicy.defaultName)
    }

    /// `path` itself, or the `*.toml` files in it when it is a directory, in name order.
    private static func programmeFiles(at path: String) throws -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".toml") && !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted().map { path.hasSuffix("/") ? path + $0 : path + "/" + $0 }
    }

    /// A programme with awards can be retired but never removed: its awards keep counting, and
    /// their disbursement, revocation and history need its rules.
    static func requireEveryAwardedProgramme(_ programmes: Programmes, stores: SubsidyStores) async throws {
        // Where each programme's awards live says who decides it: the city (the ledger) or one
        // district (its own file). A programme file whose level moved its awards' decider would
        // decide against caps and counts that hold none of them (a second district's award
        // counted nowhere) and leave the awards made no one's to revoke.
        var deciders: [String: Set<ProgrammeLevel>] = [:]
        for name in try await stores.ledger.programmesWithAwards() { deciders[name, default: []].insert(.city) }
        for district in DistrictID.allCases {
            for name in try await stores.store(district).programmesWithAwards() { deciders[name, default: []].insert(.district(district)) }
        }
        let missing = deciders.keys.filter { programmes.programme(named: $0) == nil }.sorted()
        guard missing.isEmpty else {
            throw PolicyError(
                policyName: missing.joined(separator: ", "), line: nil, key: nil,
                problem: "programme\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) \(missing.count == 1 ? "has" : "have") awards in the ledger and cannot be removed; retire it instead (retired_on = YYYY-MM-DD in its [policy] table)")
        }
        // A cap that holds awards keeps its id (PROGRAMMES.md: a name once used keeps its awards
        // counting): renamed or dropped with its measure, its awards would count under no cap,
        // and the enterprise, provider or year it bounds could be paid past it.
        let known = Set(programmes.all.flatMap { $0.caps.map(\.id) })
        var dropped = try await stores.ledger.database.read { try CityLedger.capsHeld(in: "cap_totals", except: known, $0) }
        for district in DistrictID.allCases {
            dropped += try await stores.store(district).database.read { try CityLedger.capsHeld(in: "programme_totals", except: known, $0) }
        }
        if !dropped.isEmpty {
            let listed = dropped.map { "\($0.capID) (\(Money(fen: $0.amountFen)) yuan, \($0.count) awarded)" }.joined(separator: ", ")
            throw PolicyError(
                policyName: "programmes", line: nil, key: nil,
                problem: "no programme file defines cap\(dropped.count == 1 ? "" : "s") \(listed) any more, which hold\(dropped.count == 1 ? "s" : "") "
                    + "awards: a cap that holds awards keeps its id (and its measure) so that they go on counting; restore it, and give a new "
                    + "limit under the same id")
        }
        for (name, levels) in deciders.sorted(by: { $0.key < $1.key }) {
            guard let programme = programmes.programme(named: name), !levels.allSatisfy({ $0 == programme.level }) else { continue }
            let held = levels.map(\.description).sorted().joined(separator: " and ")
            throw PolicyError(
                policyName: name, line: nil, key: "level",
                problem: "programme \(name) has awards decided by \(held); its level cannot become \(programme.level) (a programme's decider is fixed "
                    + "once it has awards: open a new programme instead)")
        }
    }
}

/// A programme file that cannot be read, named by its path.
struct ProgrammeFileError: Error, CustomStringConvertible {
    let description: String
}

extension Programmes {
    /// `foshan-2020@72d10169266f, foshan-dx-2021@…`, for logs.
    public var versionsText: String { all.map(\.version).joined(separator: ", ") }
}

/// The programmes in force, shared by every copy of ``SubsidyServices``.
private final class ServingPolicy: Sendable {
    let value: Mutex<Programmes>

    init(value: consuming Mutex<Programmes>) {
        self.value = value
    }
}

extension SubsidyStores {
    /// Fills in what migrations could not compute in SQL, once per row, at start-up, before
    /// anything is served: the first releases' content rewritten in the store's own form, the
    /// content keys of applications stored before district migration 3 (so the duplicate warnings
    /// see them), the selection dates of pilot awards decided before ledger migration 4, and the
    /// request ids used before each tenant's ids were bound in its home file.
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
        let earlier = try await bindEarlierRequestIDs()
        if earlier.bound > 0 { logger.notice("\(earlier.bound) request ids used before they were bound in their tenant's home file are now bound there") }
        // Every one of them, 50 a line: the lists they came from are gone after this pass.
        for start in stride(from: 0, to: earlier.conflicting.count, by: 50) {
            let some = earlier.conflicting[start..<min(start + 50, earlier.conflicting.count)]
            logger.warning(
                "request ids applied to different content in two files before ids were bound in their tenant's home file (\(start + some.count) of \(earlier.conflicting.count)): \(some.map { "\($0.id) (\($0.file))" }.joined(separator: ", "))")
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

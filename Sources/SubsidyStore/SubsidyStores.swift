import Logging
import ServiceLifecycle
import SubsidyCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Every SQLite file under the data directory — the city ledger and one store per district — and
/// the operations that change them, each of which runs the whole commit protocol
/// (DESIGN.md §4): idempotency by request id, the decision lock, the ledger first and the district
/// second, the fault points between them, and the roll-forward of an interrupted step before
/// anything else touches the application. Handlers translate the wire to these calls and back.
///
/// A `Service`: in the daemon's `ServiceGroup` before the server, so on shutdown the server
/// drains first and the files close after it.
public final class SubsidyStores: Service, Sendable {
    public let ledger: CityLedger
    public let districts: [DistrictID: DistrictStore]
    /// Held across both steps of a decision (ledger, then district) on the application's id, and
    /// by district withdrawals, so no change to that application slips between an approval's
    /// ledger commit and its district commit. Decisions on different applications hold different
    /// keys and run together: their ledger steps commit in one group (one fsync), each in its own
    /// savepoint, so every cap is still checked against every award committed before it.
    private let decisionLocks = DecisionLocks()
    let faults: FaultPoints
    private let limitsInForce = Mutex(StorageLimits.unlimited)
    /// The backup being taken, if one is (``backup(into:writtenBy:)`` takes one at a time), to
    /// stop it with (``cancelBackup()``).
    let runningBackup = Mutex<BackupStop?>(nil)
    /// Set by ``cancelBackup()``: the stores are shutting down, and take no backup any more.
    let backupsStopped = Atomic<Bool>(false)
    /// The running backup's work (copies, checks, clean-up), which ``run()`` awaits before it
    /// closes the files.
    let backupWork = Mutex<Task<BackupManifest, any Error>?>(nil)
    /// Awaited by a backup between its snapshots and its copies: a test holds a backup there to
    /// show decisions go on while it copies.
    package let backupCopying = Mutex<(@Sendable () async -> Void)?>(nil)

    /// The storage limits in force (``requireRoomToGrow(_:)``); unlimited until set.
    public var storageLimits: StorageLimits { limitsInForce.withLock { $0 } }

    /// Puts `limits` in force for every request checked after this returns (start-up, SIGHUP).
    public func applyStorageLimits(_ limits: StorageLimits) {
        limitsInForce.withLock { $0 = limits }
    }

    /// Opens (and migrates) the ledger at `ledgerPath` and one file per district in
    /// `districtDirectory`.
    ///
    /// A district file that is missing is created empty — a new data directory, or a district
    /// with nothing yet — unless the ledger holds that district's applicants or awards, or has
    /// recorded a change in its file (``CityLedger/districtHeads()``): then the file was lost or
    /// left out of a restore, and creating it empty would lose its registrations, pending
    /// applications and district-only decisions without a word. That is ``MissingDistrictFiles``.
    /// - Parameter migrating: false for tools that must not migrate the files
    ///   (``pendingMigrations(ledgerPath:districtDirectory:)`` lists them first; this is the
    ///   backstop, file by file, for one it could not read).
    public init(ledgerPath: String, districtDirectory: String, faults: FaultPoints = FaultPoints(enabled: false), migrating: Bool = true) throws {
        // A store file of 0 bytes was emptied (a truncation, a copy cut short): opened, it would be
        // set up as a new store. A district's is judged as a missing one (a first start cut off
        // while creating it leaves one too); an empty ledger beside districts that hold data is
        // refused before anything is opened — set up anew, it would be a different ledger.
        func size(_ path: String) -> Int64? {
            var status = stat()
            return stat(path, &status) == 0 ? Int64(status.st_size) : nil
        }
        let sizes = Dictionary(uniqueKeysWithValues: DistrictID.allCases.map { ($0, size("\(districtDirectory)/\($0.rawValue).sqlite")) })
        let emptied = Set(DistrictID.allCases.filter { sizes[$0] == 0 })
        let missing = DistrictID.allCases.filter { (sizes[$0] ?? nil) ?? 0 == 0 }
        // A ledger missing or emptied beside district files that hold data was lost (district files
        // are only ever created after the ledger): set up anew it would be another ledger, and an
        // operator's --repair --accept-ledger would stamp every district with it.
        let ledgerSize = size(ledgerPath)
        if ledgerSize ?? 0 == 0, sizes.values.contains(where: { $0 ?? 0 > 0 }) {
            throw MissingDistrictFiles(paths: [], emptyLedger: ledgerPath, ledgerMissing: ledgerSize == nil)
        }
        ledger = try CityLedger(path: ledgerPath, migrating: migrating)
        if !missing.isEmpty {
            let ledger = self.ledger
            let lost = try missing.filter { district in
                try ledger.database.readNow { transaction in
                    try !transaction.query(
                        """
                        SELECT 1 FROM applicants WHERE district = ?1 UNION ALL SELECT 1 FROM commitments WHERE district = ?1
                        UNION ALL SELECT 1 FROM district_heads WHERE district = ?1 AND seq > 0 LIMIT 1
                        """, [.text(district.rawValue)]
                    ).isEmpty
                }
            }
            // The ledger's threads end with the process, which refuses to start.
            if !lost.isEmpty {
                throw MissingDistrictFiles(paths: lost.map { "\(districtDirectory)/\($0.rawValue).sqlite" }, emptied: Set(lost.filter(emptied.contains).map { "\(districtDirectory)/\($0.rawValue).sqlite" }))
            }
        }
        var districts: [DistrictID: DistrictStore] = [:]
        for district in DistrictID.allCases {
            districts[district] = try DistrictStore(path: "\(districtDirectory)/\(district.rawValue).sqlite", district: district, migrating: migrating)
        }
        self.districts = districts
        self.faults = faults
    }

    /// District files that are missing while the ledger holds their district's applicants or
    /// awards, or recorded changes in them: start-up refuses rather than create them empty.
    public struct MissingDistrictFiles: Error, CustomStringConvertible {
        public var paths: [String]
        /// Those of ``paths`` that are there but hold 0 bytes.
        public var emptied: Set<String> = []
        /// The ledger, when it is the file missing or of 0 bytes (beside district files that hold data).
        public var emptyLedger: String?
        /// Whether ``emptyLedger`` is missing rather than of 0 bytes.
        public var ledgerMissing = false
        /// One line per missing file, with what to do.
        public var problems: [String] {
            let restore = "restore the whole data directory from its newest backup, never one file alone"
            let lostLedger = ledgerMissing ? "missing, beside district files that hold data: deleted or left out of a copy" : "empty (0 bytes), beside district files that hold data: emptied or cut short by a copy"
            return emptyLedger.map { ["\($0): \(lostLedger) (\(restore); no file was opened)"] } ?? []
                + paths.map {
                    "\($0): \(emptied.contains($0) ? "empty (0 bytes)" : "missing"), but the city ledger holds this district's applicants, awards or recorded changes (\(restore))"
                }
        }
        public var description: String { problems.joined(separator: "; ") }
    }

    /// The district's store. Every ``DistrictID`` has one: the initializer opens one per case.
    public func store(_ district: DistrictID) -> DistrictStore {
        districts[district]!
    }

    /// The store that holds `applicationID`, if the caller may touch it. Ids start with their
    /// district; another district's id is PERMISSION_DENIED, whatever the rest says.
    public func owning(_ applicationID: String, as caller: DistrictID?) throws(SubsidyError) -> DistrictStore {
        guard !applicationID.isEmpty else { throw .invalidField("request.application_id", "is required") }
        let prefix = String(applicationID.prefix { $0 != "-" })
        guard let owner = DistrictID(rawValue: prefix) else {
            throw SubsidyError(.notFound, "application \(applicationID) does not exist")
        }
        if let caller, caller != owner {
            throw SubsidyError(.permissionDenied, "application \(applicationID) belongs to \(owner.rawValue); \(caller.rawValue) may not access it")
        }
        return store(owner)
    }

    // MARK: Opening older files

    /// Rewrites what the first releases stored in the protocol's encoding — application content
    /// and explanations, listed by district migration 4 and ledger migration 6 — in the store's
    /// own form, once. `decoder` is the server's (only it knows the protocol). Returns each file's
    /// count of rows rewritten and the rows it could not read, by file name.
    public func convertLegacyContent(using decoder: any LegacyContentDecoder) async throws -> [(file: String, converted: Int, failed: [String])] {
        var results: [(file: String, converted: Int, failed: [String])] = []
        let ledgerResult = try await ledger.convertLegacyExplanations(using: decoder)
        results.append((file: "city-ledger", converted: ledgerResult.converted, failed: ledgerResult.failed))
        for district in DistrictID.allCases {
            let result = try await store(district).convertLegacyContent(using: decoder)
            results.append((file: district.rawValue, converted: result.converted, failed: result.failed))
        }
        return results
    }

    // MARK: Lifecycle

    /// How often, while serving, the ledger takes note of district files whose audit head moved.
    /// A district file put back alone from a copy older than the last note stops the next start
    /// (``Recovery/lacks(_:_:)``); after a crash, what was decided since the note is not checked.
    public static let districtHeadInterval: Duration = .seconds(2)

    /// Records the district files' audit heads every ``districtHeadInterval`` while serving and
    /// once more at the service group's graceful shutdown, then closes every file.
    public func run() async throws {
        let logger = Logger(label: "subsidyd.stores")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.recordDistrictHeadsWhileServing(logger: logger) }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        // A backup still running (the server's drain stops the Backup call's; not when the
        // service group is cancelled) is stopped, and its clean-up awaited, before its files close.
        cancelBackup()
        if let work = backupWork.withLock({ $0 }) { _ = await work.result }
        // What every district file holds at a clean stop, for the next start to check.
        do {
            // In a task of its own: a start that failed (a socket in use) cancels the service
            // group, and the reads would end with CancellationError, leaving the stop unrecorded
            // and an error in the log that is not the reason the start failed.
            let (ledger, districts) = (ledger, districts)
            try await Task { try await Recovery.recordDistrictHeads(ledger: ledger, districts: districts) }.value
        } catch {
            logger.error("could not record the district files' audit heads at the stop (the next start checks them against the last record): \(error)")
        }
        await close()
    }

    /// Notes the heads of district files that moved since the last note, until cancelled. Each
    /// file is read on its own, so one that cannot be read leaves the others noted. A failure is
    /// logged when it begins (per file, and for the ledger) and when it ends, and retried at the
    /// next tick: the note is a safeguard, not a decision.
    private func recordDistrictHeadsWhileServing(logger: Logger) async {
        var noted: [DistrictID: Int64] = [:]
        var failing: [String: String] = [:]
        func report(_ subject: String, _ error: (any Error)?) {
            if let error {
                let problem = "\(error)"
                if failing.updateValue(problem, forKey: subject) != problem {
                    logger.warning("could not \(subject) (retried every \(Self.districtHeadInterval)): \(problem)")
                }
            } else if failing.removeValue(forKey: subject) != nil {
                logger.notice("could \(subject) again")
            }
        }
        while true {
            do { try await Task.sleep(for: Self.districtHeadInterval) } catch { return }
            var moved: [(district: DistrictID, sequence: Int64, hash: String)] = []
            for (district, store) in districts.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                do {
                    let head = try await store.auditHead()
                    report("read the audit head of \(store.database.path)", nil)
                    if noted[district] != head.sequence { moved.append((district, head.sequence, head.hash)) }
                } catch {
                    report("read the audit head of \(store.database.path)", error)
                }
            }
            guard !moved.isEmpty else { continue }
            do {
                try await ledger.recordDistrictHeads(moved, accepting: false, at: Timestamp.now())
                for head in moved { noted[head.district] = head.sequence }
                report("note the district files' audit heads in \(ledger.database.path)", nil)
            } catch {
                report("note the district files' audit heads in \(ledger.database.path)", error)
            }
        }
    }

    /// Closes every file (work already queued on a file finishes first).
    public func close() async {
        await ledger.database.close()
        for store in districts.values { await store.database.close() }
    }

    /// Start-up recovery (or, with `apply: false`, what it would do): every district against the
    /// ledger, under the decision lock.
    public func recover(apply: Bool = true) async throws -> Recovery.Report {
        try await underDecisionLock(.everything) { [ledger, districts] in
            try await Recovery.reconcile(ledger: ledger, districts: districts, apply: apply)
        }
    }

    /// Every audit chain (the ledger's first, labelled by `naming` from the file's path and its
    /// tenant) and what recovery would do, changing nothing, seen under the decision lock so no
    /// decision is caught half-way: what `--check` and `VerifyAudit` report.
    public func inspect(
        naming: @escaping @Sendable (_ path: String, _ tenant: String) -> String
    ) async throws -> (chains: [AuditChain.Report], recovery: Recovery.Report) {
        try await underDecisionLock(.everything) { [ledger, districts] in
            var chains = [try await AuditChain.verify(ledger.database, file: naming(ledger.database.path, "ledger"))]
            for district in DistrictID.allCases {
                let database = districts[district]!.database
                chains.append(try await AuditChain.verify(database, file: naming(database.path, district.rawValue)))
            }
            return (chains, try await Recovery.reconcile(ledger: ledger, districts: districts, apply: false))
        }
    }

    /// Runs `body` holding the decision lock of `scope`: an application's id for a decision on it,
    /// `.everything` for what must see no decision half-way. Once it holds the lock the body runs
    /// to its end even if the caller goes away (see ``DecisionLocks/holding(_:_:)``).
    func underDecisionLock<T: Sendable>(_ scope: DecisionLocks.Scope, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await decisionLocks.holding(scope, body)
    }

    /// How many callers wait for a decision lock now (tests order a race with it).
    package var decisionLockWaiters: Int { decisionLocks.waiting }

    // MARK: One request id, one request, whichever file keeps its response

    /// The file whose request log binds `tenant`'s request ids (see ``RequestLog``): the ledger's
    /// for the city, a district's own file for the district.
    func home(of tenant: String) -> SQLiteDatabase {
        DistrictID(rawValue: tenant).map { store($0).database } ?? ledger.database
    }

    /// Runs `body`, which keeps `key`'s response in `log`, holding the decision locks of `keys`
    /// and of the request id itself, with `key` first claimed in its tenant's home log when that
    /// is another file: the id then cannot be applied to other content in another file, not even
    /// by a concurrent call. A refusal (the change wrote nothing) frees the claim, so corrected
    /// content may follow under the same id as it may within one file; any other failure keeps
    /// it, since the change may have been made. A claim this call found already made is never
    /// freed: it is an earlier call's, whose change may stand (a retry refused on the way to its
    /// stored response must not unbind it). Costs one write of the home file.
    func claimingAtHome<T: Sendable>(
        _ key: RequestKey, of actor: Actor, respondingIn log: SQLiteDatabase, holding keys: Set<String> = [],
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let home = self.home(of: actor.tenant)
        guard home !== log else {
            // Nothing to claim; and no lock to take for a change that names no keys (a city call),
            // which would otherwise wait behind a backup for nothing.
            return keys.isEmpty ? try await body() : try await underDecisionLock(.keys(keys)) { try await body() }
        }
        // Under the id's own lock, a concurrent call with the same id cannot commit between this
        // call's refusal and the release of the claim it relied on.
        return try await underDecisionLock(.keys(keys.union(["request id " + key.id]))) {
            let claimed = try await home.write { try RequestLog.claim(key, in: $0) }
            do {
                return try await body()
            } catch let error as SubsidyError where error.code.isRefusal && claimed {
                // Best effort: a claim left behind refuses only other content under this id.
                try? await home.write { try RequestLog.releaseClaim(key, in: $0) }
                throw error
            }
        }
    }

    // MARK: City decisions (ledger first, then the district)

    /// 复核: computes the award against the ledger and commits it there, then marks the
    /// application approved in its district. A commitment already in the ledger for this
    /// application is this approval interrupted by a crash: it is completed, not computed again.
    /// Returns the stored response (`respond` of the approved record), the same for a retry.
    public func approve(
        _ id: String, decision: DecisionInput, programmes: Programmes, request key: RequestKey, actor: Actor, reason: String,
        respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await approve([Approval(id: id, request: key, decision: decision, actor: actor, reason: reason)], programmes: programmes, respond: respond)[0]
            .get()
    }

    /// One application of a list approved together, with the request key it is approved under
    /// (a retried list replays the approvals it already made) and its own decision, actor and
    /// reason: a committee's list gives every item the same, approvals of single calls committed
    /// together each keep their own.
    public struct Approval: Sendable {
        public var id: String
        public var request: RequestKey
        public var decision: DecisionInput
        public var actor: Actor
        public var reason: String
        public init(id: String, request: RequestKey, decision: DecisionInput, actor: Actor, reason: String) {
            self.id = id
            self.request = request
            self.decision = decision
            self.actor = actor
            self.reason = reason
        }
    }

    /// 复核 of a committee's list, in its order, as one group: each application's award is
    /// computed against the ledger with every approval before it in the list, all of them
    /// committed in one ledger transaction (each in its own savepoint, so one refused
    /// application fails alone and takes nothing from the others), then each district's
    /// approvals in one transaction of that district's file. Two fsyncs per file touched, not two
    /// per application; no result before its district step has committed. Returns each
    /// approval's stored response or its error, in the list's order.
    ///
    /// Each id at most once: a list naming an application twice is refused as a whole. An
    /// approval under a request id an earlier one in the list already uses is refused alone
    /// (ALREADY_EXISTS), before its ledger step. Each approval's request id is bound to its
    /// content in the ledger's request log (the city's home log, see ``RequestLog``) in the same
    /// transaction as its commitment, so it is refused in any other district's file.
    ///
    /// `list`, the key of the whole request that named the approvals (`ApproveApplications`), is
    /// bound the same way with the first approval it commits: that id with a different list is
    /// refused as a whole (ALREADY_EXISTS), even when each approval it names would replay.
    public func approve(
        _ approvals: [Approval], list: RequestKey? = nil, programmes: Programmes, respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [Result<[UInt8], any Error>] {
        let ids = Set(approvals.map(\.id))
        // A second approval of an application in the same group would start from the state read
        // before the first one committed.
        guard ids.count == approvals.count else { throw SubsidyError.invalidField("request.application_ids", "names an application twice") }
        // The content they fund is locked too: a district approving its own programme's
        // application of the same content reads the ledger and writes its own file, as this reads
        // the districts' files and writes the ledger; unlocked, each could miss the other's award
        // and both pay. Read before the lock, checked again under it (approveHoldingLocks).
        let content = try await contentLocks(of: approvals.map(\.id))
        return try await underDecisionLock(.keys(ids.union(content))) {
            try await self.approveHoldingLocks(approvals, list: list, lockedContent: content, programmes: programmes, respond: respond)
        }
    }

    /// The decision lock of a content key (``Application/contentKeys``): held by every decision
    /// that may fund that content, city or district, across its read of the other side's awards
    /// and its own write.
    static func contentLock(_ key: String) -> String { "content " + key }

    /// The decision lock of an organisation (USCC positions 9–17): held by every decision that
    /// may award it, city or district, across its read of the other side's awards and its own
    /// write, since it is awarded under one USCC only (``CityLedger/twinRefusal(_:awards:)``).
    static func organisationLock(_ uscc: String) -> String { "organisation " + CityLedger.organisationCode(of: uscc) }

    /// The districts' own programmes' awards in force to every USCC with one of `usccs`'
    /// organisation codes, read from each district's file (`except` one the caller reads itself).
    func programmeAwards(organisationsOf usccs: [String], except: DistrictID? = nil) async throws -> [CityLedger.OrganisationAward] {
        try await districtProgrammeHoldings([], organisationsOf: usccs, except: except).awards
    }

    /// ``contentLock(_:)`` of each of `keys`, as one scope's keys.
    static func contentLocks(_ keys: some Sequence<String>) -> Set<String> { Set(keys.map(contentLock)) }

    /// The content locks of the applications `ids` as their districts hold them now, and their
    /// applicants' organisation locks, read without any lock; an id that does not resolve has none (its approval fails on its own later).
    private func contentLocks(of ids: [String]) async throws -> Set<String> {
        var byDistrict: [DistrictID: [String]] = [:]
        for id in ids {
            if let store = try? owning(id, as: nil) { byDistrict[store.district, default: []].append(id) }
        }
        var locks = Set<String>()
        for (district, ids) in byDistrict {
            let store = self.store(district)
            let applications = try await store.database.read(small: ids.count * 3 <= SQLiteDatabase.lookupKeys) { transaction in
                try ids.compactMap { id in try DistrictStore.application(id, in: transaction, district: district)?.application }
            }
            locks.formUnion(Self.contentLocks(applications.flatMap(\.contentKeys)))
            locks.formUnion(applications.map { Self.organisationLock($0.enterprise.rawValue) })
        }
        return locks
    }

    /// An application ready for the ledger step of its approval, read under its decision lock.
    private struct ApprovalCandidate: Sendable {
        var index: Int
        var approval: Approval
        var store: DistrictStore
        var current: StoredApplication
        var policy: Policy
    }

    /// Where an approval starts: the stored response of the same request, or the application as
    /// its district holds it (nil if there is none).
    private enum ApprovalStart: Sendable {
        case replayed([UInt8])
        case current(StoredApplication?)
    }

    /// What the ledger step of an approval decided, for its district step: the award just
    /// computed (so it is not read back and decoded again), or the commitment an interrupted
    /// approval left.
    private struct LedgerApproval: Sendable {
        var amountFen: Int64
        var decisionDate: String
        var decisionDocument: String
        /// Nil only for a commitment without one (the record then keeps its own).
        var explanation: StoredExplanation?
        var position: LedgerPosition
    }

    private func approveHoldingLocks(
        _ approvals: [Approval], list: RequestKey?, lockedContent: Set<String>, programmes: Programmes,
        respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [Result<[UInt8], any Error>] {
        let (ledger, faults) = (self.ledger, self.faults)
        let explaining = Self.explaining(respond, from: ledger)
        var results = [Result<[UInt8], any Error>?](repeating: nil, count: approvals.count)
        // What every ledger-first decision does first (see `decidingThroughLedger`): a retry answered
        // from its stored response, an interrupted step of the application completed, the
        // application read as it now stands — read for the whole list at once, one read of each
        // district file it touches and one of the ledger.
        var stores: [Int: DistrictStore] = [:]
        var requests = Set<String>()
        for (index, approval) in approvals.enumerated() {
            let store: DistrictStore
            do { store = try owning(approval.id, as: nil) } catch {
                results[index] = .failure(error)
                continue
            }
            // A request id a second time in one group (so for another application) would pass
            // the district file's request log beside the first: it is refused before its ledger
            // step, as it would be after the first had committed.
            guard requests.insert(approval.request.id).inserted else {
                results[index] = .failure(RequestLog.reused(approval.request.id))
                continue
            }
            stores[index] = store
        }
        let owned = stores
        let small = approvals.count * 3 <= SQLiteDatabase.lookupKeys
        async let committedBefore = ledger.database.read(small: small) { transaction in
            // The list's id used for another list: refused before anything, replays included.
            if let list { _ = try RequestLog.lookup(list.id, fingerprint: list.fingerprint, in: transaction) }
            return try owned.keys.filter { try ledger.commitment(for: approvals[$0].id, in: transaction) != nil }
        }
        let starts = try await withThrowingTaskGroup(of: [(Int, Result<ApprovalStart, any Error>)].self) { group in
            for (district, indices) in Dictionary(grouping: owned.keys, by: { owned[$0]!.district }) {
                let store = self.store(district)
                group.addTask {
                    try await store.database.read(small: small) { transaction in
                        indices.map { index in
                            let approval = approvals[index]
                            return (index, Result(catching: { () throws -> ApprovalStart in
                                if let earlier = try RequestLog.lookup(approval.request.id, fingerprint: approval.request.fingerprint, in: transaction) {
                                    return .replayed(earlier)
                                }
                                return .current(try DistrictStore.application(approval.id, in: transaction, district: store.district))
                            }))
                        }
                    }
                }
            }
            return try await group.reduce(into: [Int: Result<ApprovalStart, any Error>]()) { starts, some in
                for (index, start) in some { starts[index] = start }
            }
        }
        let interrupted = Set(try await committedBefore)
        var candidates: [ApprovalCandidate] = []
        for (index, approval) in approvals.enumerated() {
            guard let store = owned[index], let start = starts[index] else { continue }
            do {
                var current: StoredApplication?
                switch try start.get() {
                case .replayed(let earlier):
                    results[index] = .success(earlier)
                    continue
                case .current(let read): current = read
                }
                if interrupted.contains(index) {
                    // A commitment already in the ledger: complete whatever its district step missed.
                    _ = try await Recovery.reconcile(applicationID: approval.id, ledger: ledger, store: store)
                    current = try await store.application(approval.id)
                }
                guard let current else { throw SubsidyError(.notFound, "application \(approval.id) does not exist") }
                let policy = try Self.cityDecides(current, programmes: programmes)
                // Amended between the read of its content and its lock (it was then returned,
                // amended and recommended again): its content's lock is not held.
                guard current.application.contentKeys.allSatisfy({ lockedContent.contains(Self.contentLock($0)) }),
                    lockedContent.contains(Self.organisationLock(current.application.enterprise.rawValue))
                else {
                    throw SubsidyError(.aborted, "application \(approval.id) changed while its approval waited; send the approval again")
                }
                candidates.append(ApprovalCandidate(index: index, approval: approval, store: store, current: current, policy: policy))
            } catch {
                results[index] = .failure(error)
            }
        }
        let held = try await districtProgrammeHoldings(
            candidates.flatMap(\.current.application.lookupKeys), organisationsOf: candidates.map(\.current.application.enterprise.rawValue))
        let (elsewhere, organisationAwards) = (held.content, held.awards)
        // Step 1: the ledger, every candidate in the list's order, and the ledger's position after
        // each (read in the same transaction, so it is that decision's).
        let listed = candidates
        let steps = try await ledger.database.write { transaction in
            // Checked again in the one writer: a concurrent call may have bound it since the read.
            if let list { _ = try RequestLog.lookup(list.id, fingerprint: list.fingerprint, in: transaction) }
            let steps = try listed.map { candidate in
                try transaction.attempt { () throws -> LedgerApproval in
                    let (id, key, current) = (candidate.approval.id, candidate.approval.request, candidate.current)
                    // The id bound to other content in the city's home log: refused before
                    // anything changes (a refusal that changed rows reruns the whole write).
                    let unbound = try RequestLog.lookup(key.id, fingerprint: key.fingerprint, in: transaction) == nil
                    if let existing = try ledger.commitment(for: id, in: transaction), existing.state.isInForce {
                        guard existing.requestID == key.id || current.state == .recommended else {
                            // As the state machine words it: the current state and the legal one.
                            throw SubsidyError.precondition(
                                "state", "cannot approve an application that is \(current.state) (only from RECOMMENDED): \(id) was approved by another request")
                        }
                        // Completed only onto the application it was made for (as recovery does).
                        if let differences = Recovery.differences(existing, current) {
                            throw SubsidyError.precondition(
                                "state", "application \(id) is not the application the ledger's commitment is for (\(differences)); run subsidyd --check")
                        }
                        if unbound { try RequestLog.bind(key, in: transaction) }
                        return LedgerApproval(
                            amountFen: existing.amountFen, decisionDate: existing.decisionDate, decisionDocument: existing.decisionDocument,
                            explanation: existing.explanation, position: try ledger.position(in: transaction))
                    }
                    _ = try current.state.applying(.approve, as: .city)
                    let approval = candidate.approval
                    try current.requireDecidable(on: approval.decision.decisionDate, "approval")
                    let application = try Self.checked(current.application, policy: candidate.policy)
                    let usage = WithFundedContent(ledger.usage(in: transaction), elsewhere: elsewhere)
                    let award = try AwardCalculator.compute(application: application, policy: candidate.policy, usage: usage, decision: approval.decision)
                    // Bound in the city's home log with the commitment.
                    if unbound { try RequestLog.bind(key, in: transaction) }
                    let explanation = try ledger.commit(
                        applicationID: id, district: current.district.rawValue, application: application, decision: award,
                        requestID: key.id, actor: approval.actor, reason: approval.reason, twinsElsewhere: organisationAwards, at: Timestamp.now(), in: transaction
                    )
                    return LedgerApproval(
                        amountFen: award.award.fen, decisionDate: award.decisionDate.description, decisionDocument: award.decisionDocument ?? "",
                        explanation: explanation, position: try ledger.position(in: transaction))
                }
            }
            // Bound only once it has made a change: a list all of whose approvals were refused
            // may be corrected under the same id.
            if let list, steps.contains(where: { (try? $0.get()) != nil }) { try RequestLog.claim(list, in: transaction) }
            return steps
        }
        faults.reach("approve.after-ledger")
        let armed = Result<Void, any Error>(catching: { try faults.failIfArmed("approve.after-ledger") })
        // Step 2: each district's approvals in one write of its file (the five files at once), each
        // approval in its own attempt, idempotent by its own request id.
        var committed: [DistrictID: [(ApprovalCandidate, LedgerApproval)]] = [:]
        for (candidate, step) in zip(candidates, steps) {
            switch (step, armed) {
            case (.success(let approved), .success): committed[candidate.store.district, default: []].append((candidate, approved))
            case (.failure(let error), _), (_, .failure(let error)): results[candidate.index] = .failure(error)
            }
        }
        let districtSteps = await withTaskGroup(of: [(Int, Result<[UInt8], any Error>)].self) { group in
            for (_, items) in committed {
                let store = items[0].0.store
                group.addTask {
                    do {
                        return try await store.database.write { transaction in
                            try items.map { candidate, approved in
                                let outcome = try transaction.attempt {
                                    try RequestLog.mutate(candidate.approval.request, in: transaction) { transaction, now in
                                        try Self.approveInDistrict(candidate, approved, store: store, at: now, in: transaction,
                                            respond: respond, explaining: explaining)
                                    }
                                }
                                return (candidate.index, outcome)
                            }
                        }
                    } catch {
                        return items.map { ($0.0.index, .failure(error)) }
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
        for (index, outcome) in districtSteps { results[index] = outcome }
        faults.reach("approve.after-district")
        return results.map { $0! }
    }

    /// An approval's district step: the application approved with what the ledger step decided,
    /// and the ledger's position after it recorded as seen.
    private static func approveInDistrict(
        _ candidate: ApprovalCandidate, _ approved: LedgerApproval, store: DistrictStore, at now: String,
        in transaction: Transaction, respond: (StoredApplication) throws -> [UInt8], explaining: (StoredApplication) throws -> [UInt8]
    ) throws -> [UInt8] {
        let (id, key, current) = (candidate.approval.id, candidate.approval.request, candidate.current)
        guard current.state == .recommended else { return try explaining(current) }  // recovery completed it
        let note = DecisionNote(date: approved.decisionDate, document: approved.decisionDocument)
        let (actor, reason) = (candidate.approval.actor, candidate.approval.reason)
        var record = try store.apply(.approve, to: id, actor: actor, role: .city, reason: reason, request: key, decision: note, at: now, in: transaction) {
            $0.awardedFen = approved.amountFen
            $0.decisionDate = approved.decisionDate
            $0.decisionDocument = approved.decisionDocument
        }
        try store.recordLedgerPosition(approved.position, at: now, in: transaction)
        // The explanation the ledger step just stored (what `explaining` would read back).
        record.explanation = approved.explanation ?? record.explanation
        return try respond(record)
    }

    /// 复核 planned for a committee's list, in its order: the award each application would get if
    /// the ones before it were approved, against the ledger as it stands (one read transaction,
    /// so the plan is of one moment); nothing is committed. An application that could not be
    /// approved (not RECOMMENDED, refused by a cap, the same content as one before it, …) gets its
    /// error and takes nothing from the ones after it.
    public func planApprovals(_ ids: [String], decision: DecisionInput, programmes: Programmes) async throws -> [Result<AwardDecision, SubsidyError>] {
        var candidates: [Result<(id: String, application: Application, policy: Policy), SubsidyError>] = []
        for id in ids {
            do {
                let store = try owning(id, as: nil)
                guard let stored = try await store.application(id) else { throw SubsidyError(.notFound, "application \(id) does not exist") }
                let policy = try Self.cityDecides(stored, programmes: programmes)
                _ = try stored.state.applying(.approve, as: .city)
                try stored.requireDecidable(on: decision.decisionDate, "approval")
                candidates.append(.success((id, try Self.checked(stored.application, policy: policy), policy)))
            } catch let error as SubsidyError {
                candidates.append(.failure(error))
            }
        }
        var keys: [String] = []
        for case .success(let candidate) in candidates { keys += candidate.application.lookupKeys }
        var enterprises: [String] = []
        for case .success(let candidate) in candidates { enterprises.append(candidate.application.enterprise.rawValue) }
        let held = try await districtProgrammeHoldings(keys, organisationsOf: enterprises)
        let (ledger, listed, elsewhere, organisationAwards) = (self.ledger, candidates, held.content, held.awards)
        return try await ledger.database.read { transaction in
            var usage = PlannedUsage(WithFundedContent(ledger.usage(in: transaction), elsewhere: elsewhere))
            // The awards planned so far count as awards of their organisations.
            var planned: [CityLedger.OrganisationAward] = []
            return try listed.map { candidate -> Result<AwardDecision, SubsidyError> in
                switch candidate {
                case .failure(let error):
                    return .failure(error)
                case .success(let (id, application, policy)):
                    do {
                        let enterprise = application.enterprise.rawValue
                        let awards = try ledger.organisationAwards(of: enterprise, in: transaction) + organisationAwards + planned
                        if let refusal = CityLedger.twinRefusal(enterprise, awards: awards) { throw SubsidyError.precondition("applicant", refusal) }
                        let award = try AwardCalculator.compute(application: application, policy: policy, usage: usage, decision: decision)
                        usage.add(award, applicationID: id)
                        planned.append(CityLedger.OrganisationAward(enterprise: enterprise, district: "this list", applicationID: id))
                        return .success(award)
                    } catch let error as SubsidyError {
                        // Another error (the file's) fails the whole plan, as a read would.
                        return .failure(error)
                    }
                }
            }
        }
    }

    /// Revocation: releases the commitment in the ledger (a clawback after disbursement), then
    /// marks the application revoked in its district. A revocation dated (`on`) must not precede
    /// the approval, its 公示 or its payment.
    public func revoke(
        _ id: String, on date: CalendarDate?, document: String, programmes: Programmes, request key: RequestKey, actor: Actor, reason: String,
        respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let note = DecisionNote(date: date?.description ?? "", document: document)
        return try await decideThroughLedger(.revoke, id, request: key, actor: actor, reason: reason, decision: note, respond: respond, check: { current in
            _ = try Self.cityDecides(current, programmes: programmes)
            if let date { try current.requireRevocable(on: date) }
        }) { ledger, transaction, now in
            try ledger.release(applicationID: id, targetState: .revoked, requestID: key.id, actor: actor, reason: reason, at: now, in: transaction)
        }
    }

    /// Records payment on `date`: in the ledger (the commitment stays counted), then in the
    /// district. The date must not precede the approval, nor the end of the 公示 — checked on a
    /// fresh read under the decision lock, so a concurrent publicize cannot slip a same-day
    /// payment past it. The validity window bounds approval, not payment.
    public func disburse(
        _ id: String, on date: CalendarDate, document: String, programmes: Programmes, request key: RequestKey, actor: Actor, reason: String,
        respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let note = DecisionNote(date: date.description, document: document)
        return try await decideThroughLedger(
            .disburse, id, request: key, actor: actor, reason: reason, decision: note, respond: respond,
            update: { $0.disbursedOn = date.description },
            check: { current in
            let policy = try Self.cityDecides(current, programmes: programmes)
            if let approved = try? CalendarDate(parsing: current.decisionDate), date < approved {
                throw SubsidyError.invalidField("request.decision_date", "disbursement on \(date) is before the approval of \(current.id) on \(approved)")
            }
            guard let publicized = try? CalendarDate(parsing: current.publicizedOn), let ends = policy.publicityEnds(publicisedOn: publicized) else { return }
            if date < ends {
                throw SubsidyError.precondition(
                    "publicity", "the \(policy.publicityDays)-day publicity of \(current.id) began \(publicized) and ends before \(ends); disburse on or after \(ends)"
                )
            }
        }) { ledger, transaction, now in
            try ledger.markDisbursed(applicationID: id, requestID: key.id, actor: actor, reason: reason, at: now, in: transaction)
        }
    }

    /// Records that a clawback's money came back on `date`: the ledger releases the commitment
    /// (its caps are free again) and records the recovery, then the district's record gains a
    /// `recover` entry — ledger first, under the decision lock, like a revocation. A district
    /// step lost to a crash is completed from the ledger (``Recovery``).
    public func recordRecovery(
        _ id: String, on date: CalendarDate, document: String, programmes: Programmes, request key: RequestKey, actor: Actor, reason: String,
        respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let note = DecisionNote(date: date.description, document: document)
        return try await throughLedger(
            "recover", id, request: key, respond: respond,
            completed: { $0.recovery?.requestID == key.id },
            check: { current in
                _ = try Self.cityDecides(current, programmes: programmes)
                try current.requireRecoverable(on: date)
            },
            ledgerStep: { ledger, transaction, now in
                try ledger.recordRecovery(
                    applicationID: id, on: date, document: document, requestID: key.id, actor: actor, reason: reason, at: now, in: transaction)
            },
            districtStep: { store, transaction, now in
                try store.recordRecovery(id, actor: actor, reason: reason, request: key, decision: note, at: now, in: transaction)
            })
    }

    /// A decision that changes the ledger: ledger first, then the district, under the decision lock.
    private func decideThroughLedger(
        _ transition: Transition, _ id: String, request key: RequestKey, actor: Actor, reason: String, decision: DecisionNote,
        respond: @escaping @Sendable (StoredApplication) throws -> [UInt8],
        update: @escaping @Sendable (inout StoredApplication) throws -> Void = { _ in },
        check: @escaping @Sendable (StoredApplication) throws -> Void = { _ in },
        ledgerStep: @escaping @Sendable (CityLedger, Transaction, String) throws -> Void
    ) async throws -> [UInt8] {
        try await throughLedger(
            transition.rawValue, id, request: key, respond: respond,
            completed: { $0.state == transition.to && $0.history.last?.requestID == key.id },
            check: { current in
                _ = try current.state.applying(transition, as: .city)
                try check(current)
            },
            ledgerStep: ledgerStep,
            districtStep: { store, transaction, now in
                try store.apply(
                    transition, to: id, actor: actor, role: .city, reason: reason, request: key, decision: decision, at: now, in: transaction, update: update)
            })
    }

    /// The steps of every ledger-first decision (a transition, a recovery) under the decision lock:
    /// `check` the application, then `ledgerStep` with the city's request id bound in its home log
    /// (``RequestLog``), then `districtStep`, each in its file's transaction. The fault point
    /// `<step>.after-ledger` lies between the two. An application that is already `completed` by
    /// this very request — recovery finished it after a crash — answers the retry with the record,
    /// if it is the same request, which the ledger step bound in the home log.
    private func throughLedger(
        _ step: String, _ id: String, request key: RequestKey, respond: @escaping @Sendable (StoredApplication) throws -> [UInt8],
        completed: @escaping @Sendable (StoredApplication) -> Bool,
        check: @escaping @Sendable (StoredApplication) throws -> Void,
        ledgerStep: @escaping @Sendable (CityLedger, Transaction, String) throws -> Void,
        districtStep: @escaping @Sendable (DistrictStore, Transaction, String) throws -> StoredApplication
    ) async throws -> [UInt8] {
        let (ledger, faults) = (self.ledger, self.faults)
        return try await decidingThroughLedger(id, request: key, respond: respond) { store, current, respond in
            if completed(current) {
                _ = try await ledger.database.read { try RequestLog.lookup(key.id, fingerprint: key.fingerprint, in: $0) }
                return try await store.mutate(key) { _, _ in try respond(current) }
            }
            try check(current)
            let position = try await ledger.database.write { transaction in
                try RequestLog.claim(key, in: transaction)
                try ledgerStep(ledger, transaction, Timestamp.now())
                return try ledger.position(in: transaction)
            }
            faults.reach("\(step).after-ledger")
            try faults.failIfArmed("\(step).after-ledger")
            return try await store.mutate(key) { transaction, now in
                let record = try districtStep(store, transaction, now)
                try store.recordLedgerPosition(position, at: now, in: transaction)
                return try respond(record)
            }
        }
    }

    /// Starts the 公示 on `date` (not before the approval; it may run past the validity window,
    /// like payment) for the policy's publicity days. Only the district file changes.
    public func publicize(
        _ id: String, on date: CalendarDate, document: String, programmes: Programmes, request key: RequestKey, actor: Actor, reason: String,
        respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let publicized = date.description
        let note = DecisionNote(date: publicized, document: document)
        return try await decideInDistrict(.publicize, id, request: key, actor: actor, reason: reason, decision: note, respond: respond) { record in
            let policy = try Self.cityDecides(record, programmes: programmes)
            let lastDay = date.adding(days: policy.publicityDays - 1)?.description ?? ""
            // Publicity follows the decision; a backdated date would shorten the 公示.
            guard publicized >= record.decisionDate else {
                throw SubsidyError.invalidField(
                    "request.decision_date", "publicity of \(id) cannot start on \(publicized), before its approval on \(record.decisionDate)"
                )
            }
            record.publicizedOn = publicized
            record.publicityLastDay = lastDay
        }
    }

    /// The city's refusal at second review (before approval). Only the district file changes.
    public func reject(
        _ id: String, on date: CalendarDate?, document: String, programmes: Programmes, request key: RequestKey, actor: Actor, reason: String,
        respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let note = DecisionNote(date: date?.description ?? "", document: document)
        return try await decideInDistrict(.cityReject, id, request: key, actor: actor, reason: reason, decision: note, respond: respond) { record in
            _ = try Self.cityDecides(record, programmes: programmes)
            if let date { try record.requireDecidable(on: date, "refusal") }
        }
    }

    /// The programme of `stored`, which must be one the city decides: a district's own
    /// programme is decided by that district (PERMISSION_DENIED, naming it); the city reads it.
    static func cityDecides(_ stored: StoredApplication, programmes: Programmes) throws(SubsidyError) -> Policy {
        let policy = try programmes.programme(for: stored.application)
        guard case let .district(district) = policy.level else { return policy }
        throw SubsidyError(
            .permissionDenied,
            "application \(stored.id) is under programme \(policy.name), which \(district.displayName) (\(district.rawValue)) decides; the city reads it but cannot decide it")
    }

    /// A city decision that touches only the district file, under the decision lock (after an
    /// interrupted ledger step of the same application is completed).
    private func decideInDistrict(
        _ transition: Transition, _ id: String, request key: RequestKey, actor: Actor, reason: String, decision: DecisionNote,
        respond: @escaping @Sendable (StoredApplication) throws -> [UInt8],
        update: @escaping @Sendable (inout StoredApplication) throws -> Void = { _ in }
    ) async throws -> [UInt8] {
        let store = try owning(id, as: nil)
        let ledger = self.ledger
        let respond = Self.explaining(respond, from: ledger)
        // A retry is answered from its stored response, which is final, before anything else
        // (the claim, recovery) could refuse it or cost a write.
        if let earlier = try await store.replay(key) { return earlier }
        // The city's request ids are bound in the ledger (``claimingAtHome``): this decision
        // writes none, so the claim costs one ledger write of its own.
        return try await claimingAtHome(key, of: actor, respondingIn: store.database, holding: [id]) {
            _ = try await Recovery.reconcile(applicationID: id, ledger: ledger, store: store)
            return try await store.mutate(key) { transaction, now in
                try respond(
                    try store.apply(
                        transition, to: id, actor: actor, role: .city, reason: reason, request: key, decision: decision, at: now, in: transaction,
                        update: update))
            }
        }
    }

    /// What every ledger-first decision does first, holding the decision lock: answers a retried
    /// request from its stored response, completes this application's own crash window (a
    /// ledger step whose district step was lost), and reads the application as it now stands for
    /// `body`, which runs the two steps. `respond` is given each record with its explanation.
    private func decidingThroughLedger(
        _ id: String, request key: RequestKey, respond: @escaping @Sendable (StoredApplication) throws -> [UInt8],
        _ body: @escaping @Sendable (DistrictStore, StoredApplication, _ respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]) async throws -> [UInt8]
    ) async throws -> [UInt8] {
        let store = try owning(id, as: nil)
        let ledger = self.ledger
        let respond = Self.explaining(respond, from: ledger)
        return try await underDecisionLock(.keys([id])) {
            if let earlier = try await store.replay(key) { return earlier }
            _ = try await Recovery.reconcile(applicationID: id, ledger: ledger, store: store)
            guard let current = try await store.application(id) else { throw SubsidyError(.notFound, "application \(id) does not exist") }
            return try await body(store, current, respond)
        }
    }

    /// `respond` given each record with its award's explanation, which only the ledger keeps.
    private static func explaining(
        _ respond: @escaping @Sendable (StoredApplication) throws -> [UInt8], from ledger: CityLedger
    ) -> @Sendable (StoredApplication) throws -> [UInt8] {
        { record in try respond(try ledger.explained(record)) }
    }

    /// The application `id` from `store`, with its award's explanation from the ledger: what a
    /// record shows.
    public func record(_ id: String, in store: DistrictStore) async throws -> StoredApplication? {
        try await records([id], in: store).first
    }

    /// ``record(_:in:)`` for several applications of one store, in the order given (those that
    /// exist): one read of the district file and one of the ledger, however many there are. With
    /// `byteBudget` the read stops once the stored contents pass it (see
    /// ``DistrictStore/applications(_:byteBudget:)``).
    public func records(_ ids: [String], in store: DistrictStore, byteBudget: Int = .max) async throws -> [StoredApplication] {
        var records = try await store.applications(ids, byteBudget: byteBudget)
        guard !records.isEmpty else { return [] }
        let found = records.map(\.id)
        let explanations = try await ledger.database.read { transaction in try found.map { try CityLedger.explanation(for: $0, in: transaction) } }
        for index in records.indices { records[index].explanation = explanations[index] ?? records[index].explanation }
        return records
    }

    // MARK: District operations

    /// Registers an applicant: in the city-wide index first (one district per enterprise), then
    /// in the district's own file. A failure or crash between the two is completed by retrying the
    /// request — or by any later registration of the enterprise in that district, with the values
    /// it gives: an index entry whose district's registry has no such applicant is an unfinished
    /// registration, which nothing else refers to, and the clerk who typed a corrected name under
    /// a new request id must not meet "already registered" from an entry no one can see or change.
    /// Under the enterprise's decision lock (the one `updateApplicant` takes), so two registrations
    /// of one enterprise cannot leave the index with one's values and the registry with the other's.
    ///
    /// `relocated`: the configuration's `[relocations]` names `record.district` for this
    /// enterprise, so an index entry of another district is taken over (the enterprise moved;
    /// its awards stay where they were, and count once, by USCC).
    public func registerApplicant(
        _ record: ApplicantRecord, request key: RequestKey, actor: Actor, relocated: Bool = false,
        respond: @escaping @Sendable (ApplicantRecord, _ warnings: [String]) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let (store, ledger) = (self.store(record.district), self.ledger)
        if let earlier = try await store.replay(key) { return earlier }
        try await requireRoomToGrow(record.district)
        // The request id is a lock too: two registrations under one id (of different USCCs) would
        // otherwise both write the index before the district's log refuses the second.
        // The organisation's lock: a twin's district-programme award is read before the index
        // is written, and none is made between the two.
        return try await underDecisionLock(.keys(["applicant " + record.uscc, "request " + key.id, Self.organisationLock(record.uscc)])) {
            if let earlier = try await store.replay(key) { return earlier }
            let registered = try await store.applicant(record.uscc)
            // The registry decides for its district, before the index is written: an index without
            // the entry (a file older than the index) must not take values the registry refuses.
            if let registered { try DistrictStore.requireSame(record, as: registered) }
            let programmeAwards = try await self.programmeAwards(organisationsOf: [record.uscc])
            let warnings = try await ledger.indexApplicant(
                record, at: Timestamp.now(), replacingUnfinished: registered == nil, relocated: relocated, by: actor, programmeAwards: programmeAwards)
            self.faults.reach("register.after-ledger")
            try self.faults.failIfArmed("register.after-ledger")
            return try await store.mutate(key) { transaction, now in
                try store.insertApplicant(record, by: actor, at: now, in: transaction)
                return try respond(record, warnings)
            }
        }
    }

    /// 更名 or a new role: the ledger's index first (it refuses a second registration under
    /// another name), then the district's registry with the change recorded. A retry of the
    /// same request completes it.
    ///
    /// A new role must fit every application of the enterprise still waiting for a decision,
    /// under its programme in `programmes` (``DistrictStore/requireRoleFitsPending(_:role:programmes:in:)``);
    /// an enterprise another district has registered since (a relocation) is not changed here.
    public func updateApplicant(
        _ uscc: String, in district: DistrictID, name: String?, role: ApplicantRole?, programmes: Programmes, request key: RequestKey, actor: Actor,
        reason: String, respond: @escaping @Sendable (ApplicantRecord, [ApplicantChange]) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let (store, ledger) = (self.store(district), self.ledger)
        // Under the decision lock, so two renames of one entry cannot leave the ledger's index
        // with one name and the registry with the other.
        return try await underDecisionLock(.keys(["applicant " + uscc, "request " + key.id])) {
            if let earlier = try await store.replay(key) { return earlier }
            try await self.requireRoomToGrow(district)
            // Its own registry first: an enterprise it never registered is NOT_FOUND whether or
            // not another district has (the index's answer would tell it which one has).
            guard var updated = try await store.applicant(uscc) else {
                throw SubsidyError(.notFound, "applicant \(uscc) is not registered in \(district.rawValue)")
            }
            try await self.requireIndexed(uscc, in: district)
            let current = updated
            if let name { updated.name = name }
            if let role { updated.role = role }
            // Before the ledger's index, which would otherwise hold a name the registry refused.
            let changing = (updated.name != current.name ? 1 : 0) + (updated.role != current.role ? 1 : 0)
            let recorded = try await store.applicantChangeCount(uscc)
            if changing > 0, recorded + changing > InputLimits.changesPerApplicant {
                throw SubsidyError.precondition(
                    "history",
                    "applicant \(uscc) has \(recorded) recorded changes; \(changing) more would pass the most one applicant may have "
                        + "(\(InputLimits.changesPerApplicant))")
            }
            let newRole = updated.role != current.role ? updated.role : nil
            // Read first, so that a refusal writes nothing, not even the index.
            if let newRole { try await store.database.read { try store.requireRoleFitsPending(uscc, role: newRole, programmes: programmes, in: $0) } }
            // Always: a no-op when the index already agrees (it writes nothing then), and the
            // repair when an earlier change reached the index but not the registry.
            try await ledger.reindexApplicant(updated, at: Timestamp.now())
            // A change to what it already is would store the whole history again as its reply
            // (60 bytes in, up to 0.7 MB written) past the bound on changes: refused.
            guard changing > 0 else {
                throw SubsidyError.precondition(
                    "applicant", "applicant \(uscc) already has that name and role (\(current.name), \(current.role.rawValue)): nothing to change")
            }
            do {
                return try await store.mutate(key) { transaction, now in
                    // Again inside the write: a filing under the old role may have committed
                    // since the read above (filings take no applicant lock; the district's
                    // writes are one after another).
                    if let newRole { try store.requireRoleFitsPending(uscc, role: newRole, programmes: programmes, in: transaction) }
                    let record = try store.updateApplicant(uscc, name: name, role: role, by: actor, reason: reason, request: key, at: now, in: transaction)
                    return try respond(record, try DistrictStore.applicantChanges(uscc, in: transaction))
                }
            } catch {
                // Refused, cancelled, or failed: the index goes back to what the registry holds
                // now (under the lock no other change of this entry runs), read again, as a write
                // may have committed before the error. A failure here is repaired by the next change.
                if let registered = try? await store.applicant(uscc) { try? await ledger.reindexApplicant(registered, at: Timestamp.now()) }
                throw error
            }
        }
    }

    /// FAILED_PRECONDITION (subject `applicant`) when the city's index names another district
    /// for `uscc`: that district has registered it since (it relocated, `[relocations]`), and this
    /// district's registry entry is what it filed under before. The configuration's line may have
    /// been removed since; the index keeps the takeover. No entry (a file older than the index,
    /// or an unfinished registration) is not a refusal.
    func requireIndexed(_ uscc: String, in district: DistrictID) async throws {
        guard let indexed = try await ledger.registeringDistrict(of: uscc), indexed != district else { return }
        throw SubsidyError.precondition(
            "applicant",
            "\(uscc) is registered by \(indexed.displayName) (\(indexed.rawValue)) in the city's index (it relocated there, or was registered "
                + "there first): \(indexed.rawValue) files for it, and \(district.rawValue) amends, reviews and sees what it filed for it before")
    }

    /// Files `application` (with the locality of `applicant`, the registry's entry it was checked
    /// against) in state SUBMITTED.
    /// `respond` gets the record and the clerk's warnings (``contentNotices(for:excluding:policy:)``).
    /// `call` is the call for applications it is filed under (and `lateReason` why it is filed
    /// outside an open one, on purpose), both recorded with it; `day` the day in Foshan it is
    /// filed on, before which no decision on it may be dated.
    public func submit(
        _ application: Application, applicant: ApplicantRecord, policy: Policy, call: String = "", lateReason: String = "", filedOn day: CalendarDate,
        request key: RequestKey, actor: Actor, respond: @escaping @Sendable (StoredApplication, [String]) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let store = self.store(applicant.district)
        if let earlier = try await store.replay(key) { return earlier }
        try await requireRoomToGrow(applicant.district)
        try await requireIndexed(applicant.uscc, in: applicant.district)
        // Checked before the district's write transaction: the check reads every district's file.
        let warnings = try await contentNotices(for: application, excluding: "", policy: policy)
        return try await store.mutate(key) { transaction, now in
            try Self.requireRegistered(applicant, in: store, transaction)
            var record = try store.insertApplication(application, filedOn: day, actor: actor, request: key, at: now, in: transaction)
            if !call.isEmpty || !lateReason.isEmpty {
                try store.recordCall(call, lateReason: lateReason, for: record.id, in: transaction)
                (record.callID, record.lateReason) = (call, lateReason)
            }
            return try respond(record, warnings)
        }
    }

    /// Replaces the content of a RETURNED application and files it again (SUBMITTED) on `day`,
    /// before which no decision on it may then be dated.
    public func amend(
        _ id: String, with application: Application, applicant: ApplicantRecord, policy: Policy, filedOn day: CalendarDate,
        request key: RequestKey, actor: Actor, reason: String, respond: @escaping @Sendable (StoredApplication, [String]) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let store = try owning(id, as: applicant.district)
        if let earlier = try await store.replay(key) { return earlier }
        try await requireRoomToGrow(applicant.district)
        // The state first: an application that may not be amended is refused for that, not for
        // what its new content would collide with (the write below checks it again).
        guard let current = try await store.application(id) else { throw SubsidyError(.notFound, "application \(id) does not exist") }
        _ = try current.state.applying(.amend, as: .district)
        // What a district filed before an enterprise moved stays its own to amend; moved onto
        // another enterprise, it is a new filing for that one, which a takeover forbids here.
        if application.enterprise.rawValue != current.enterprise { try await requireIndexed(application.enterprise.rawValue, in: applicant.district) }
        let warnings = try await contentNotices(for: application, excluding: id, policy: policy)
        return try await store.mutate(key) { transaction, now in
            try Self.requireRegistered(applicant, in: store, transaction)
            let record = try store.applyReportingChanges(.amend, to: id, actor: actor, role: .district, reason: reason, request: key, at: now, in: transaction) {
                record in
                let changes = ApplicationContent.changes(from: record.application, to: application)
                // A resubmission after 退回补正 may change nothing (the papers came by hand); a
                // SUBMITTED one amended to itself would only move its filing day, past which no
                // decision may be dated.
                if changes.isEmpty, try DistrictStore.application(id, in: transaction, district: applicant.district)?.state == .submitted {
                    throw SubsidyError.precondition("application", "\(id) already holds this content: the amendment changes nothing")
                }
                record.application = application
                record.measure = application.measure
                record.fundingYear = application.fundingYear.year
                record.enterprise = application.enterprise.rawValue
                record.contentKey = application.contentFingerprint
                record.projectKey = application.contentKeys.dropFirst().first ?? ""
                record.filedOn = day.description
                return changes
            }
            return try respond(record, warnings)
        }
    }

    /// Withdraws an application before approval. Under the decision lock: a RECOMMENDED
    /// application's withdrawal must not slip between an approval's two steps, and an approval
    /// whose district step failed is completed first (its commitment stands).
    public func withdraw(
        _ id: String, as district: DistrictID, request key: RequestKey, actor: Actor, reason: String,
        respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let store = try owning(id, as: district)
        let ledger = self.ledger
        return try await underDecisionLock(.keys([id])) {
            _ = try await Recovery.reconcile(applicationID: id, ledger: ledger, store: store)
            return try await store.mutate(key) { transaction, now in
                try respond(try store.apply(.withdraw, to: id, actor: actor, role: .district, reason: reason, request: key, at: now, in: transaction))
            }
        }
    }

    /// 初审 on `day` (Foshan's): recommend, return or reject. A recommendation asks again what
    /// submit asked (content already funded is refused; the rest are warnings for the clerk), is
    /// refused once the programme has ended (the approval it asks for would have to be dated
    /// inside the programme's window, and not before the recommendation), and records its day
    /// (``StoredApplication/recommendedOn``).
    public func review(
        _ id: String, as district: DistrictID, _ transition: Transition, on day: CalendarDate, programmes: Programmes, request key: RequestKey,
        actor: Actor, reason: String, respond: @escaping @Sendable (StoredApplication, [String]) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let store = try owning(id, as: district)
        if let earlier = try await store.replay(key) { return earlier }
        var warnings: [String] = []
        if transition == .recommend, let current = try await store.application(id) {
            // A transition the state does not allow is refused for that, before the notices: an
            // approved application's content is funded, by itself.
            _ = try current.state.applying(transition, as: .district)
            let policy = try programmes.programme(for: current.application)
            if let filed = try? CalendarDate(parsing: current.filedOn), day < filed {
                throw SubsidyError.invalidField("request.review_date", "\(day) is before \(id) was filed on \(filed)")
            }
            guard day <= policy.validThrough else {
                throw SubsidyError.precondition(
                    "programme",
                    "programme \(policy.name) ended on \(policy.validThrough): its decisions are dated inside \(policy.validityText) and not before "
                        + "the recommendation, so \(id) recommended on \(day) could never be approved; reject it or let the applicant withdraw it")
            }
            let application = try Self.checked(current.application, policy: policy)
            warnings = try await contentNotices(for: application, excluding: current.id, policy: policy)
        }
        let notices = warnings
        return try await store.mutate(key) { transaction, now in
            let record = try store.apply(transition, to: id, actor: actor, role: .district, reason: reason, request: key, at: now, in: transaction) {
                if transition == .recommend { $0.recommendedOn = day.description }
            }
            return try respond(record, notices)
        }
    }

    /// The applicant an application was checked against must still be the registry's entry.
    private static func requireRegistered(_ applicant: ApplicantRecord, in store: DistrictStore, _ transaction: Transaction) throws {
        guard try store.applicantRecord(applicant.uscc, in: transaction) == applicant else {
            throw SubsidyError.precondition("applicant", "\(applicant.uscc) is not registered in \(store.district.rawValue); register it first")
        }
    }

    /// What submit, amend and review tell the clerk before the city ever sees an application.
    /// The policy engine is run as `Quote` would run it (decided on the policy's last day) against
    /// the ledger: what can never be funded is refused — content already funded
    /// (`duplicate_content`) and a one-time award already used (`one_time`) — and whatever else
    /// would stop an approval today (a cap exhausted, a follow-on's pilot not yet awarded, …) is a
    /// warning, as is the same content pending in another application of any district: another
    /// decision may still change those. The city's approval decides, inside the ledger's
    /// transaction.
    public func contentNotices(for application: Application, excluding id: String, policy: Policy) async throws -> [String] {
        var warnings: [String] = []
        // Computed once: each key is the canonical form of what the clerk typed (or an earlier
        // form's, which an award or a pending application stored then may hold).
        let keys = application.lookupKeys
        // Each district's file once for both questions asked of it: its programmes' awards of this
        // content (the usage below) and its applications pending with it (the warnings).
        let held = try await fromEveryDistrict { [try await $0.content(keys, excluding: id)] }
        let (computed, award) = try await withUsage(for: policy, contentKeys: keys, districtContent: held.flatMap(\.funded)) {
            snapshot -> (SubsidyError?, AwardDecision?) in
            if let duplicate = try AwardCalculator.duplicate(
                of: application, usage: snapshot, rule: policy.rules[application.measure], policy: policy) { return (duplicate, nil) }
            // A case-by-case amount is the city's to set; there is nothing to pre-compute.
            guard application.measure.formulaShape != .caseByCase else { return (nil, nil) }
            do throws(SubsidyError) {
                return (nil, try AwardCalculator.compute(
                    application: application, policy: policy, usage: snapshot, decision: DecisionInput(decisionDate: policy.validThrough)))
            } catch {
                return (error, nil)
            }
        }
        var outcome = computed
        // A district programme's approval (and quote) also hold the enterprise to one declared
        // revenue per year: told now, while the filing can still be amended.
        if outcome == nil, let award, case .district(let district) = policy.level {
            let store = store(district)
            do {
                try await store.database.lookup { transaction in
                    try store.requireOneRevenueTier(id, award, of: application, rule: try policy.rule(for: application.measure), programme: policy.name, in: transaction)
                }
            } catch let error as SubsidyError {
                outcome = error
            }
        }
        if let outcome {
            let certain = outcome.details.contains { detail in
                if case .precondition(let subject, _) = detail { return subject == "duplicate_content" || subject == "one_time" }
                return false
            }
            if certain { throw outcome }
            let decider = if case .district(let district) = policy.level { "\(district.rawValue) (its own programme)" } else { "the city" }
            warnings.append("\(decider) could not approve it as things stand: \(outcome.message)")
        }
        // A twin of the applicant (its organisation code under another USCC) holding an award
        // (the ledger's or a district programme's): this one cannot be awarded while it stands.
        // Else a twin another district registered: only one of the two will be.
        let enterprise = application.enterprise.rawValue
        let (awards, registered) = try await ledger.database.lookup { [ledger] in
            (try ledger.organisationAwards(of: enterprise, in: $0), try ledger.registeredTwins(of: enterprise, in: $0))
        }
        if let refusal = CityLedger.twinRefusal(enterprise, awards: awards + (try await programmeAwards(organisationsOf: [enterprise]))) {
            warnings.append("it cannot be awarded as things stand: \(refusal)")
        } else {
            warnings += registered.map(CityLedger.twinWarning)
        }
        let pending = held.flatMap(\.pending).filter { Application.isDoubleFunding(application.measure, $0.measure, sharing: $0.key) }
            .sorted { $0.applicationID < $1.applicationID }
        // Measure codes are unique across programmes: one this programme does not offer is another's.
        let stacks = { (other: Measure) in
            policy.rules[other] == nil && (policy.rules[application.measure]?.stackingRate != nil || policy.stackingElsewhere[other] != nil)
        }
        for other in pending.prefix(Self.pendingNamed) {
            let outcome = stacks(other.measure) ? "both can be funded, together within the stacking limit" : "only one can be funded"
            warnings.append(
                "the same content \(application.contentText) is already pending as \(other.applicationID) (\(other.measure), \(other.state)); \(outcome)")
        }
        if pending.count > Self.pendingNamed {
            warnings.append("more applications with the same content \(application.contentText) are pending; \(Self.pendingNamed) of them are named above")
        }
        return warnings
    }

    /// How many applications pending with the same content a filing's warnings name: each
    /// district names a few more, so a reply (and the request log's copy of it) stays small however
    /// many a district has filed with that content.
    public static let pendingNamed = 10

    /// `Quote`: the policy engine as a dry run against live city-wide usage. Nothing is written.
    /// A district programme's quote also holds the enterprise to the revenue tier of its earlier
    /// awards, as that programme's approval does: a quote approval would refuse is no quote.
    public func quote(_ application: Application, policy: Policy, decision: DecisionInput) async throws -> AwardDecision {
        // A twin holding an award refuses the approval before any cap: so does the quote. The
        // districts' files are read once, for the twins and the content, as an approval does.
        let enterprise = application.enterprise.rawValue
        let held = try await districtProgrammeHoldings(application.lookupKeys, organisationsOf: [enterprise])
        let twinAwards = try await ledger.database.lookup { [ledger] in try ledger.organisationAwards(of: enterprise, in: $0) }
        if let refusal = CityLedger.twinRefusal(enterprise, awards: twinAwards + held.awards) {
            throw SubsidyError.precondition("applicant", refusal)
        }
        guard case .district(let district) = policy.level else {
            return try await withUsage(for: policy, contentKeys: application.lookupKeys, districtContent: held.content) { usage in
                try AwardCalculator.compute(application: application, policy: policy, usage: usage, decision: decision)
            }
        }
        let elsewhere = try await fundedOutside(district, application.lookupKeys, districtContent: held.content)
        let store = store(district)
        return try await store.database.lookup { transaction in
            let usage = DistrictStore.ProgrammeUsage(connection: transaction.connection, elsewhere: elsewhere)
            let award = try AwardCalculator.compute(application: application, policy: policy, usage: usage, decision: decision)
            // No id: the quote's own application holds no award in force to be set apart from.
            try store.requireOneRevenueTier("", award, of: application, rule: try policy.rule(for: application.measure), programme: policy.name, in: transaction)
            return award
        }
    }

    /// The live awards of every district's own programmes known by one of `keys`, read from each
    /// district's file. A city decision reads them just before its ledger transaction (another
    /// file), holding the content locks of `keys`, which a district's approval of its own
    /// programme holds across its read of the ledger and its write: neither can award that
    /// content between the other's read and its commit.
    /// What is funded with one of `keys` outside `district`'s own file: the city ledger's awards
    /// and the other districts' programmes' (`districtContent`: every district's, when the caller
    /// has just read them). A decision under `district`'s own programme reads its file itself.
    func fundedOutside(_ district: DistrictID, _ keys: [String], districtContent: [FundedContent]? = nil) async throws -> [FundedContent] {
        let others =
            if let districtContent { districtContent.filter { !$0.applicationID.hasPrefix(district.rawValue + "-") } } else {
                try await districtProgrammeContent(keys, except: district)
            }
        return try await ledger.database.lookup { [ledger] in try ledger.usage(in: $0).fundedContent(keys) } + others
    }

    /// `except`: a district whose own file the caller reads itself.
    func districtProgrammeContent(_ keys: [String], except: DistrictID? = nil) async throws -> [FundedContent] {
        try await districtProgrammeHoldings(keys, organisationsOf: [], except: except).content
    }

    /// ``districtProgrammeContent(_:except:)`` and ``programmeAwards(organisationsOf:except:)``
    /// together, in one read of each district's file (a city decision asks both).
    func districtProgrammeHoldings(
        _ keys: [String], organisationsOf usccs: [String], except: DistrictID? = nil
    ) async throws -> DistrictStore.ProgrammeHoldings {
        guard !keys.isEmpty || !usccs.isEmpty else { return DistrictStore.ProgrammeHoldings() }
        let each = try await fromEveryDistrict { $0.district == except ? [] : [try await $0.programmeHoldings(keys, organisationsOf: usccs)] }
        return DistrictStore.ProgrammeHoldings(content: each.flatMap(\.content), awards: each.flatMap(\.awards))
    }

    /// Fills in the base of every award made before bases were kept (ledger migration 15,
    /// district migration 14), from the applications the awards were made on, so that stacking
    /// measures a later award against them too: without it every award made before the upgrade —
    /// all of the 2020 programme's — would leave room a larger declared base asked for. Returns
    /// how many awards were looked at. Idempotent; run at start-up.
    public func fillStackingBases() async throws -> Int {
        var looked = 0
        var after = ""
        while true {
            let batch = try await ledger.awardsWithoutStackingBase(after: after, limit: 500)
            guard let last = batch.last else { break }
            after = last.applicationID
            var bases: [(applicationID: String, fen: Int64)] = []
            for award in batch {
                // Unknown (-1) only when the application is not there or does not decode; a read
                // that fails otherwise stops start-up instead of losing the base for good.
                var fen: Int64 = -1
                if let district = DistrictID(rawValue: award.district) {
                    do {
                        if let stored = try await store(district).application(award.applicationID) {
                            let base = AwardCalculator.stackingBase(of: stored.application).fen
                            fen = base > 0 ? base : -1
                        }
                    } catch let error as SQLiteError where error.isDamaged {
                        // Damaged content: it will not say.
                        fen = -1
                    }
                }
                bases.append((award.applicationID, fen))
            }
            try await ledger.recordStackingBases(bases)
            looked += batch.count
        }
        for district in DistrictID.allCases { looked += try await store(district).fillProgrammeStackingBases() }
        // The upper-level funds declared with awards made before they were kept (ledger
        // migration 21): one query of each district's file finds the few that declared any.
        for district in try await ledger.upperLevelPendingDistricts() {
            let declared = try await store(district).declaredUpperLevels()
            try await ledger.recordUpperLevels(declared, of: district)
            looked += declared.count
        }
        return looked
    }

    /// `read` of every district's file at once (five files, five executors — an approval waits
    /// for this under its decision lock), the results listed in district order.
    private func fromEveryDistrict<T: Sendable>(_ read: @escaping @Sendable (DistrictStore) async throws -> [T]) async throws -> [T] {
        let stores = DistrictID.allCases.map { (district: $0, store: store($0)) }
        let byDistrict = try await withThrowingTaskGroup(of: (DistrictID, [T]).self) { group in
            for (district, store) in stores {
                group.addTask { (district, try await read(store)) }
            }
            return try await group.reduce(into: [DistrictID: [T]]()) { $0[$1.0] = $1.1 }
        }
        return DistrictID.allCases.flatMap { byDistrict[$0] ?? [] }
    }

    /// Runs `body` in one read transaction against the usage `policy`'s awards are decided
    /// against: the city ledger for a city programme; for a district's own programme, that
    /// district's file, with the city's and the other districts' programmes' awards for
    /// `contentKeys` (read just before) for stacking and double funding.
    /// `districtContent`: the districts' programme awards of `contentKeys` when the caller has just
    /// read them (else they are read here). A ``SQLiteDatabase/lookup(_:)``: the maintained cap
    /// totals make `body`'s policy run a handful of indexed reads, whatever the ledger holds.
    func withUsage<T: Sendable>(
        for policy: Policy, contentKeys: [String], districtContent: [FundedContent]? = nil, _ body: @escaping @Sendable (any UsageSnapshot) throws -> T
    ) async throws -> T {
        let ledger = self.ledger
        switch policy.level {
        case .city:
            let elsewhere: [FundedContent]
            if let districtContent { elsewhere = districtContent } else { elsewhere = try await districtProgrammeContent(contentKeys) }
            return try await ledger.database.lookup { try body(WithFundedContent(ledger.usage(in: $0), elsewhere: elsewhere)) }
        case .district(let district):
            let elsewhere = try await fundedOutside(district, contentKeys, districtContent: districtContent)
            return try await store(district).database.lookup { try body(DistrictStore.ProgrammeUsage(connection: $0.connection, elsewhere: elsewhere)) }
        }
    }

    /// The stored application `id` decoded to the core's form (for `Quote` by id).
    /// `decidedOn`: the day an approval of it would be dated (nil: its programme's last day, as
    /// an undated quote is), refused before its filing.
    public func storedApplication(_ id: String, as caller: DistrictID?, programmes: Programmes, decidedOn date: CalendarDate? = nil) async throws -> (Application, Policy) {
        let store = try owning(id, as: caller)
        guard let stored = try await store.application(id) else { throw SubsidyError(.notFound, "application \(id) does not exist") }
        // Quoted again, an award would meet its own commitment as the same content funded.
        guard !stored.state.holdsCommitment else {
            throw SubsidyError.precondition(
                "state",
                "\(id) is \(stored.state), awarded \(Money(fen: stored.awardedFen)) yuan on \(stored.decisionDate): a quote is for an application still to be "
                    + "decided; its award and why are in its record (subsidyctl show \(id))")
        }
        let policy = try programmes.programme(for: stored.application)
        try stored.requireDecidable(on: date ?? policy.validThrough, "approval")
        return (try Self.checked(stored.application, policy: policy), policy)
    }

    /// A stored application as the policy in force reads it: its funding year must be one of the
    /// policy's, and the core's own checks must still hold (what submit checked on the wire form).
    static func checked(_ application: Application, policy: Policy) throws(SubsidyError) -> Application {
        _ = try policy.fundingYear(application.fundingYear.year)
        try application.validate()
        return application
    }

    // MARK: City-only records

    /// Registers a resource-pool member (idempotent by request id).
    public func registerPoolMember(
        _ member: CityLedger.PoolMember, request key: RequestKey, respond: @escaping @Sendable (CityLedger.PoolMember) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let ledger = self.ledger
        return try await ledger.mutate(key) { transaction, now in
            try ledger.registerPoolMember(member, at: now, in: transaction)
            return try respond(member)
        }
    }

    /// One row of an import: its commitment, its charges, and the city programme it was decided
    /// under (whose rules judge its content as a live decision's).
    public struct ImportRow: Sendable {
        public var fields: CityLedger.CommitmentFields
        public var charges: [CapCharge]
        public var policy: Policy
        /// For a difference award (差额奖励): what it and the earlier awards of the measures it
        /// subtracts, to the same enterprise, may come to together (its grade's ceiling).
        public var differenceCeiling: Money?

        public init(fields: CityLedger.CommitmentFields, charges: [CapCharge], policy: Policy) {
            self.fields = fields
            self.charges = charges
            self.policy = policy
        }
    }

    /// Imports decisions made before the system existed, in one transaction: each row is charged
    /// against the same caps as a live decision, a row already in the ledger (same content-derived
    /// id, ``CityLedger/importID(of:in:)``) is counted as already present, and content already
    /// funded — in the ledger, earlier in the import, or by a district's own programme — refuses
    /// the whole import, naming its row (`request.awards[i]`), as it would refuse a live decision
    /// under its row's programme (``ImportRow/policy``): content a stacking measure of another
    /// programme holds is imported within that limit (``AwardCalculator/importedContent(_:contract:base:policy:held:)``),
    /// and a row beyond it is refused (`request.awards[i].amount_fen`); so does a row whose award was
    /// revoked (``revokeImport(_:on:document:request:actor:reason:respond:)``): it was taken back
    /// on purpose, and importing it again would undo that unseen. `respond` gets each row's id.
    public func importHistory(
        _ rows: [ImportRow], request key: RequestKey,
        respond: @escaping @Sendable (_ imported: Int, _ alreadyPresent: Int, _ ids: [String]) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let ledger = self.ledger
        let keys = Set(rows.flatMap { $0.fields.contentKeys + $0.fields.earlierKeys })
        // The districts' programme awards are in their files: read under the content's locks, as
        // a city approval reads them (see `approve`), so none is made between the read and the
        // import's commit.
        let enterprises = Set(rows.map(\.fields.enterprise)).sorted()
        return try await underDecisionLock(.keys(Self.contentLocks(keys).union(enterprises.map(Self.organisationLock)))) {
            let held = try await self.districtProgrammeHoldings(keys.sorted(), organisationsOf: enterprises)
            let (districts, organisationAwards) = (Dictionary(grouping: held.content, by: \.key), held.awards)
            // The contents each content-derived id stands for in this request (see importID).
            let contents = Dictionary(grouping: rows.map(\.fields), by: \.applicationID).mapValues { Set($0.map(\.contentFingerprint)) }
            return try await ledger.mutate(key) { transaction, now in
                // What funds row `i`'s content already (the ledger's awards, this request's earlier rows
                // among them, and the districts' programme awards, but not the award `except`), and
                // the limits those awards set on it.
                func contentLimits(_ fields: CityLedger.CommitmentFields, row i: Int, except: String?) throws -> (forbidden: FundedContent?, stacking: LimitTrace?) {
                    let lookup = fields.contentKeys + fields.earlierKeys
                    let held = (try ledger.usage(in: transaction).fundedContent(lookup) + lookup.flatMap { districts[$0] ?? [] }).filter { $0.applicationID != except }
                    do throws(SubsidyError) {
                        return try AwardCalculator.importedContent(
                            fields.measure, contract: fields.contentKeys.contains { $0.hasPrefix("contract:") }, base: fields.stackingBase, policy: rows[i].policy,
                            held: held)
                    } catch {
                        // No base is known to bound it (the row's, or the stacking award's): the row must declare one.
                        throw SubsidyError.precondition("request.awards[\(i)].base_fen", "\(error.message); declare the base this award was computed from")
                    }
                }
                var (imported, present, ids) = (0, 0, [String]())
                ids.reserveCapacity(rows.count)
                for (i, row) in rows.enumerated() {
                    var fields = row.fields
                    let (charges, policy) = (row.charges, row.policy)
                    if let ceiling = row.differenceCeiling, let linked = policy.rules[fields.measure]?.differenceOf,
                        let enterprise = try? USCC(validating: fields.enterprise)
                    {
                        // Earlier rows of this request are in the transaction already.
                        let earlier = try ledger.usage(in: transaction).earlierAwards(to: enterprise, under: linked)
                        let total = earlier.reduce(fields.amount.fen) { $0 + $1.amount.fen }
                        if total > ceiling.fen {
                            throw SubsidyError.precondition(
                                "request.awards[\(i)].amount_fen",
                                "\(fields.measure) is a difference award (差额奖励): with the earlier awards to \(fields.enterprise) it subtracts ("
                                    + earlier.map { "\($0.applicationID) \($0.amount)" }.joined(separator: ", ")
                                    + ") its \(fields.amount) would come to \(Money(fen: total)), above the ceiling of \(ceiling); import the difference that was paid")
                        }
                    }
                    let stored: CityLedger.ImportedAward?
                    switch try ledger.importID(of: fields, alongside: contents[fields.applicationID] ?? [], in: transaction) {
                    case .id(let id, let award): (fields.applicationID, stored) = (id, award)
                    case .conflicting(let award):
                        throw SubsidyError.precondition(
                            "request.awards[\(i)]",
                            "has the identity of \(award.applicationID) (the same decision, enterprise and amount), imported with \"\(award.contentTyped)\", "
                                + "but names \"\(fields.contentTyped)\": to correct that award, revoke \(award.applicationID) and import this row; "
                                + "if it is another award of the same decision, import it in one request with that award's row")
                    }
                    ids.append(fields.applicationID)
                    if let stored {
                        guard stored.state.isInForce else {
                            throw SubsidyError.precondition(
                                "request.awards[\(i)]",
                                "was imported as \(stored.applicationID) and revoked at \(stored.updatedAt) (\(stored.releaseReason)); "
                                    + "a revoked award is not imported again: correct the row (a corrected row is a new award) or leave it out"
                            )
                        }
                        // The row again with its base: the base is the one thing it may add, and
                        // only a base the row could have been imported with. One below the awards
                        // already made on the content would say they were over-paid (a base typed
                        // wrong, or an over-payment to take back first), and would bind every later
                        // award by a figure the earlier ones broke.
                        if fields.stackingBase > .zero {
                            try ledger.addImportBase(stored.applicationID, base: fields.stackingBase, row: i, actor: fields.actor, at: now, in: transaction) {
                                let limit = try contentLimits(fields, row: i, except: stored.applicationID).stacking
                                guard let limit, let headroom = limit.headroom, fields.amount > headroom else { return }
                                throw SubsidyError.precondition(
                                    "request.awards[\(i)].base_fen",
                                    "\(stored.applicationID) (\(fields.amount)) would exceed the stacking limit on content \"\(fields.contentTyped)\" with the base \(fields.stackingBase): "
                                        + "\(limit.detail). Check the base; if it is right, the content was over-funded: revoke the award paid beyond it, then add the base")
                            }
                        }
                        present += 1
                        continue
                    }
                    // The same decision imported before without its contract number: adding the
                    // contract (to give it a base, say) would import it a second time.
                    if let bare = fields.idWithoutContract, let earlier = try ledger.importedAward(bare, in: transaction), earlier.state.isInForce {
                        throw SubsidyError.precondition(
                            "request.awards[\(i)]",
                            "is \(earlier.applicationID) (the same decision, enterprise and amount) imported without a contract number: "
                                + "to add the contract, revoke \(earlier.applicationID) and import this row")
                    }
                    // One organisation, one USCC: an award under a second code of a registered or
                    // awarded enterprise would count against caps of its own. A code the ledger
                    // knows (registered: twins may be, by two districts) is refused only while its
                    // twin holds an award it does not, as a live decision is; a pair that both held
                    // awards before such codes were refused keeps them (`--check` lists it).
                    if let refusal = CityLedger.twinRefusal(fields.enterprise, awards: try ledger.organisationAwards(of: fields.enterprise, in: transaction) + organisationAwards) {
                        throw SubsidyError.precondition("request.awards[\(i)].enterprise_uscc", refusal)
                    }
                    if try !ledger.knowsEnterprise(fields.enterprise, in: transaction),
                        let twin = try ledger.organisationTwin(of: fields.enterprise, in: transaction)
                    {
                        throw SubsidyError.precondition(
                            "request.awards[\(i)].enterprise_uscc",
                            "\(fields.enterprise) has the organisation code (positions 9–17) of \(twin.uscc), \(twin.how.rawValue) \(twin.district); "
                                + "an organisation has one USCC for life: import the award under that code")
                    }
                    // No double funding, whether the twin is live, imported earlier or in this
                    // file, or a district programme's award; and where a live decision would be
                    // bound by another programme's stacking limit instead, the decided amount
                    // must lie within it.
                    let content = try contentLimits(fields, row: i, except: nil)
                    if let twin = content.forbidden {
                        throw SubsidyError.precondition(
                            "request.awards[\(i)]",
                            "content \"\(fields.contentTyped)\" (\(fields.contentFingerprint)) is already funded as \(twin.applicationID) under \(twin.measure); "
                                + "the same contract or project cannot be funded twice"
                                + (twin.awaitingRecovery ? " (\(twin.applicationID) was revoked after payment and the money is not back: its recovery recorded frees it)" : "")
                        )
                    }
                    if let limit = content.stacking, let headroom = limit.headroom, fields.amount > headroom {
                        throw SubsidyError.precondition(
                            "request.awards[\(i)].amount_fen",
                            "\(fields.amount) exceeds the stacking limit on content \"\(fields.contentTyped)\": \(limit.detail)")
                    }
                    do {
                        try ledger.insertCommitment(fields, charges: charges, at: now, in: transaction)
                    } catch let error as SubsidyError where error.code == .resourceExhausted {
                        // The cap names its award by the id the row would have had, which the
                        // caller has not seen yet: say which row it is.
                        throw SubsidyError(error.code, "request.awards[\(i)]: \(error.message)", details: error.details, cause: error.cause)
                    }
                    imported += 1
                }
                return try respond(imported, present, ids)
            }
        }
    }

    /// Takes back an award imported in error (``CityLedger/revokeImport(_:on:document:requestID:actor:reason:at:in:)``),
    /// idempotent by request id, under the award's decision lock. It no longer counts against its
    /// caps, and its content may be funded again, by a live decision or a corrected import.
    public func revokeImport(
        _ id: String, on date: CalendarDate?, document: String, request key: RequestKey, actor: Actor, reason: String,
        respond: @escaping @Sendable (CityLedger.ImportedAward) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let ledger = self.ledger
        return try await underDecisionLock(.keys([id])) {
            try await ledger.mutate(key) { transaction, now in
                try respond(
                    try ledger.revokeImport(id, on: date, document: document, requestID: key.id, actor: actor, reason: reason, at: now, in: transaction))
            }
        }
    }
}

/// Test-only crash points of the commit protocol: with test hooks on, the environment variable
/// `SUBSIDYD_CRASH_AT=approve.after-ledger` (etc.) makes the daemon SIGKILL itself right there,
/// so tests can prove recovery at every step; `fail:approve.after-ledger` fails the step without
/// a crash (a full disk, an I/O error); `hold:backup.copying` holds a backup there until it is
/// stopped (a backup of gigabytes, for the shutdown that must not wait for it).
public struct FaultPoints: Sendable {
    let armed: Set<String>

    /// Armed from `SUBSIDYD_CRASH_AT` when `enabled` (the configuration's test hooks).
    public init(enabled: Bool) {
        guard enabled, let value = getenv("SUBSIDYD_CRASH_AT") else {
            armed = []
            return
        }
        armed = Set(String(cString: value).split(separator: ",").map(String.init))
    }

    /// Armed with exactly `points` (for tests in-process, which use `fail:` points only).
    package init(armed points: Set<String>) {
        armed = points
    }

    func reach(_ point: String) {
        if armed.contains(point) { kill(getpid(), SIGKILL) }
    }

    func failIfArmed(_ point: String) throws {
        if armed.contains("fail:" + point) { throw SubsidyError(.internal, "test fault at \(point)") }
    }

    /// Armed with `hold:` + `point`, waits there until `released` says so.
    func holdIfArmed(_ point: String, until released: () -> Bool) async {
        guard armed.contains("hold:" + point) else { return }
        while !released() { try? await Task.sleep(for: .milliseconds(10)) }
    }
}

import Logging
import SubsidyCore
import SubsidyStore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

extension SubsidyStores {
    /// Opens every store under `dataDirectory` (the ledger, and the district files one level
    /// down), with the wire codec for stored content.
    /// - Parameter migrating: false for tools that must not migrate the files (`--check`, the
    ///   offline backup): files an open would migrate are refused (``ServerError/wouldMigrate(_:)``).
    public static func open(dataDirectory: String, faults: FaultPoints = FaultPoints(enabled: false), migrating: Bool = true) throws -> SubsidyStores {
        // Before anything is created or migrated: a restore cut off left part of a data directory.
        var marker = stat()
        if lstat(dataDirectory + "/" + BackupManifest.restoringMarker, &marker) == 0 {
            throw ServerError.unfinishedRestore(path: dataDirectory)
        }
        let districtDirectory = dataDirectory + "/districts"
        if mkdir(districtDirectory, 0o700) != 0 && errno != EEXIST {
            throw ServerError.cannotCreate(path: districtDirectory, errno: errno)
        }
        // The district files live one level down: a writable districts/ would let another account
        // swap them even under a safe data directory.
        try StrictModes.check(directory: districtDirectory)
        if !migrating {
            let pending = pendingMigrations(ledgerPath: dataDirectory + "/city-ledger.sqlite", districtDirectory: districtDirectory)
            guard pending.isEmpty else { throw ServerError.wouldMigrate(pending.map(\.description)) }
        }
        do {
            return try SubsidyStores(ledgerPath: dataDirectory + "/city-ledger.sqlite", districtDirectory: districtDirectory, faults: faults, migrating: migrating)
        } catch let missing as SubsidyStores.MissingDistrictFiles {
            throw ServerError.storesInconsistent(problems: missing.problems)
        }
    }
}

/// The first releases stored an application as the protocol's encoding of `Application` and an
/// explanation as `AwardExplanation`; opening such a file rewrites them in the store's own form
/// through this decoder (`SubsidyStores.convertLegacyContent(using:)`).
struct WireLegacyDecoder: LegacyContentDecoder {
    func application(fromLegacy bytes: [UInt8]) throws -> Application {
        try Application(legacyWire: Foshan_Subsidy_V1_Application(serializedBytes: bytes, path: "stored"))
    }

    func explanation(fromLegacy bytes: [UInt8]) throws -> StoredExplanation {
        let wire = try Foshan_Subsidy_V1_AwardExplanation(serializedBytes: bytes, path: "stored")
        return StoredExplanation(
            awardFen: wire.awardFen, formulaFen: wire.formulaFen, policyVersion: wire.policyVersion, rendered: wire.rendered,
            limits: wire.limits.map { limit in
                StoredExplanation.Limit(
                    kind: limit.kind, capID: limit.capId, scope: limit.scope, limit: limit.limit, committed: limit.committed, headroom: limit.headroom,
                    detail: limit.detail, binding: limit.binding)
            }
        )
    }
}

/// A handler's way to the stores: a permit from its tenant's share (and reply room on its
/// connection; ``BlockingWorkAdmission``), then the store call, whose failures become statuses.
/// An unknown failure becomes INTERNAL keeping its cause, damaged data DATA_LOSS; the router logs
/// the cause under an error id and sends the caller only the id
/// (`SubsidyError.redactingInternal(logger:)`), never SQL or schema text.
enum StoreCall {
    static func run<T: Sendable>(for context: CallContext, _ body: @Sendable () async throws -> T) async throws(SubsidyError) -> T {
        try await context.blockingWork.enter()
        let value: T
        do throws(SubsidyError) {
            value = try await measured(for: context, body)
        } catch {
            context.blockingWork.leave()
            throw error
        }
        context.blockingWork.leave()
        // The handler computes on (the next check, its reply): in its turn again. A call ended
        // meanwhile (a deadline) finishes without one; its reply is not waited for.
        try? await context.blockingWork.compute?.take()
        return value
    }

    /// The store call `body` once its permit is held (``run(for:_:)``, or a group of approvals
    /// led by `context`'s call): timed as the method's store work, its failure a status.
    static func measured<T: Sendable>(for context: CallContext, _ body: @Sendable () async throws -> T) async throws(SubsidyError) -> T {
        let started = ContinuousClock.now
        defer { context.metrics?.recordStoreCall(method: context.method, duration: ContinuousClock.now - started) }
        do {
            return try await body()
        } catch {
            throw status(of: error)
        }
    }

    /// The status a store failure is reported as.
    static func status(of error: any Error) -> SubsidyError {
        switch error {
        case let error as SubsidyError: error
        case let error as SQLiteError where error.isBusy:
            SubsidyError(.unavailable, "the store is busy; retry with the same request id", cause: error)
        case let error as SQLiteError where error.isFull:
            SubsidyError(.resourceExhausted, "the data directory's disk is full; retry with the same request id once space is freed", cause: error)
        case let error as SQLiteError where error.isDataLoss:
            SubsidyError(.dataLoss, "stored data is damaged", cause: error)
        case is CancellationError:
            SubsidyError(.cancelled, "the call was cancelled", cause: error)
        default:
            SubsidyError(.internal, "storage failure", cause: error)
        }
    }
}

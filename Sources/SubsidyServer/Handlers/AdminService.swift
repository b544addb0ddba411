import Logging
import ServiceLifecycle
import SubsidyCore
import SubsidyStore
import SubsidyWire

/// `foshan.subsidy.v1.Admin`, for the city's operators: the online backup and the metrics.
struct AdminService: Foshan_Subsidy_V1_Admin.ServiceProtocol {
    let stores: SubsidyStores
    let metrics: DaemonMetrics

    func backup(_ request: Foshan_Subsidy_V1_BackupRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_BackupResponse {
        let directory = request.directory
        guard !directory.isEmpty else { throw .invalidField("request.directory", "is required") }
        // The daemon's working directory is not the caller's: a relative path would land elsewhere.
        guard directory.hasPrefix("/") else { throw .invalidField("request.directory", "must be an absolute path (got \(directory))") }
        guard !directory.split(separator: "/").contains("..") else { throw .invalidField("request.directory", "must not contain `..`") }
        let started = ContinuousClock.now
        let manifest: BackupManifest
        do {
            manifest = try await takeBackup(into: directory, context: context)
        } catch {
            // The nightly unit's journal says it failed; the daemon's log must too, with why.
            // Another backup running, or the daemon stopping, is not a failure to act on.
            let level: Logger.Level = error.code == .aborted || error.code == .unavailable ? .notice : .error
            context.logger.log(level: level, "backup failed", metadata: ["backup.directory": "\(directory)", "error": "\(error.message)"])
            throw error
        }
        let elapsed = ContinuousClock.now - started
        metrics.recordBackup(seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        context.logger.notice(
            "backup taken",
            metadata: [
                "backup.directory": "\(directory)", "backup.taken_at": "\(manifest.takenAt)",
                "ledger.sequence": "\(manifest.ledger.sequence)",
            ])
        var response = Foshan_Subsidy_V1_BackupResponse()
        response.directory = directory
        response.takenAt = manifest.takenAt
        response.ledgerIdentity = manifest.ledger.identity
        response.ledgerSequence = manifest.ledger.sequence
        response.files = manifest.files.map { file in
            var entry = Foshan_Subsidy_V1_BackupFile()
            entry.name = file.name
            entry.bytes = file.bytes
            entry.sha256 = file.sha256
            entry.auditSequence = file.auditSequence
            entry.auditHash = file.auditHash
            return entry
        }
        return response
    }

    /// The backup into `directory`, its failures as the statuses the contract gives them.
    private func takeBackup(into directory: String, context: CallContext) async throws(SubsidyError) -> BackupManifest {
        let stores = self.stores
        return try await StoreCall.run(for: context) {
            do {
                // A backup of gigabytes must not hold up a stop (systemd would kill the daemon
                // mid-copy, leaving the copies behind): shutting down stops it.
                return try await withGracefulShutdownHandler {
                    try await stores.backup(into: directory, writtenBy: "subsidyd \(SubsidyVersion.current)")
                } onGracefulShutdown: {
                    stores.cancelBackup()
                }
            } catch BackupError.cancelled {
                throw SubsidyError(.unavailable, "backup: \(BackupError.cancelled); take it again once subsidyd is serving")
            } catch BackupError.alreadyRunning {
                // A conflict with another backup, which ends: worth a retry (the nightly unit
                // retries it), unlike the operator's problems below.
                throw SubsidyError(.aborted, "backup: \(BackupError.alreadyRunning)")
            } catch let error as BackupError {
                // The operator's to fix (a directory in use, a disk problem), not an internal failure.
                throw SubsidyError(.failedPrecondition, "backup: \(error)")
            }
        }
    }

    func getMetrics(_ request: Foshan_Subsidy_V1_GetMetricsRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_GetMetricsResponse {
        let metrics = self.metrics
        var response = Foshan_Subsidy_V1_GetMetricsResponse()
        response.text = try await StoreCall.run(for: context) { try await metrics.exposition() }
        return response
    }
}

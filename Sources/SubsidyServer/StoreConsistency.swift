import SubsidyCore
import SubsidyStore

/// What `subsidyd --check` and `subsidyd --repair` do to a data directory while no daemon serves
/// it (the caller holds the ``DataDirectoryLock``): the start-up consistency check, every audit
/// chain, and the operator's explicit repair.
public enum StoreConsistency {
    /// The outcome of a check or repair, as lines for the operator.
    public struct Report: Sendable {
        public var lines: [String] = []
        /// True when the daemon would start on these stores.
        public var consistent = true
    }

    /// Reports, without changing any data, what start-up recovery would roll forward, every
    /// inconsistency that would stop start-up, and every audit chain that does not verify.
    /// (Opening the stores applies schema migrations this subsidyd has and the files lack.)
    public static func check(dataDirectory: String) throws -> Report {
        let stores = try SubsidyStores(dataDirectory: dataDirectory)
        var report = Report()
        let (chains, recovery) = try inspect(stores, naming: { path, _ in path })
        report.lines += recovery.rolledForward.map { "recovery would roll forward: \($0) (the normal crash window; start-up completes it)" }
        report.lines += recovery.inconsistencies.map { "INCONSISTENT \($0)" }
        if recovery.inconsistencies.contains(where: \.isLedgerPosition) { report.lines += ledgerBehindAdvice }
        for chain in chains {
            report.lines.append(
                chain.ok ? "audit \(chain.file): ok, \(chain.rows) rows" : "audit \(chain.file): BROKEN at row \(chain.firstBadRow ?? 0): \(chain.problem)")
        }
        report.consistent = recovery.inconsistencies.isEmpty && chains.allSatisfy(\.ok)
        report.lines.append(report.consistent ? "consistent: subsidyd will start on \(dataDirectory)" : "NOT consistent: subsidyd will refuse to start on \(dataDirectory)")
        return report
    }

    /// Every audit chain (the ledger's first, then each district's, labelled by `naming` from the
    /// file's path and its tenant — `ledger` or the district id) and what start-up recovery would
    /// do, changing nothing: the one inspection `--check` and `VerifyAudit` both report.
    static func inspect(
        _ stores: SubsidyStores, naming: (_ path: String, _ tenant: String) -> String
    ) throws -> (chains: [AuditChain.Report], recovery: Recovery.Report) {
        var files = [(naming(stores.ledger.database.path, "ledger"), stores.ledger.database)]
        files += DistrictID.allCases.map { (naming(stores.store($0).database.path, $0.rawValue), stores.store($0).database) }
        let chains = try files.map { try AuditChain.verify($0.1, file: $0.0) }
        return (chains, try Recovery.reconcile(ledger: stores.ledger, districts: stores.districts, apply: false))
    }

    /// Does what is safely doable: with `acceptLedger`, first records the ledger's current
    /// position in every district (audited there); then rolls districts forward to the ledger as
    /// start-up recovery does. Never creates, edits or deletes a commitment or an application's
    /// decision: what remains inconsistent is reported, and the daemon still refuses to start.
    /// `operatorUID` is who ran it, recorded with the acceptance in each district's audit chain.
    public static func repair(dataDirectory: String, acceptLedger: Bool, operatorUID: UInt32) throws -> Report {
        let stores = try SubsidyStores(dataDirectory: dataDirectory)
        var report = Report()
        if acceptLedger {
            report.lines += try Recovery.acceptLedger(ledger: stores.ledger, districts: stores.districts, by: Actor(tenant: "operator", uid: operatorUID)).map { "accepted ledger: \($0)" }
        }
        let recovery = try Recovery.reconcile(ledger: stores.ledger, districts: stores.districts, apply: true)
        report.lines += recovery.rolledForward.map { "rolled forward: \($0)" }
        report.lines += recovery.inconsistencies.map { "INCONSISTENT \($0)" }
        if recovery.inconsistencies.contains(where: \.isLedgerPosition) { report.lines += ledgerBehindAdvice }
        report.consistent = recovery.inconsistencies.isEmpty
        report.lines.append(
            report.consistent ? "consistent: subsidyd will start on \(dataDirectory)" : "NOT repaired: subsidyd will still refuse to start on \(dataDirectory)"
        )
        return report
    }

    static let ledgerBehindAdvice = [
        "the city ledger is behind, or is not, the ledger the districts last saw: restore the newest backup of city-ledger.sqlite",
        "(one at or past what the districts saw) with the daemon stopped. Only if you restored this ledger on purpose and accept",
        "losing the ledger steps it lacks, run `subsidyd --repair --accept-ledger` (recorded in every district's audit chain).",
    ]
}

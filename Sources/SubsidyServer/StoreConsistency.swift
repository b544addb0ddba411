import SubsidyCore
import SubsidyStore

/// What `subsidyd --check` and `subsidyd --repair` do to a data directory while no daemon serves
/// it (the caller holds the ``DataDirectoryLock``): the start-up consistency check, every audit
/// chain, every maintained total recomputed from its records, and the operator's explicit repair.
public enum StoreConsistency {
    /// The outcome of a check or repair, as lines for the operator.
    public struct Report: Sendable {
        public var lines: [String] = []
        /// True when the daemon would start on these stores and nothing in them is broken: false
        /// too for a damaged file or an audit chain that does not verify, which the daemon would
        /// still start on (the report's last line says which).
        public var consistent = true
        /// True when a maintained total (a cap's, a consumer's, a call's counts) differs from the
        /// records it is kept from: the daemon would start, but would check caps against it.
        /// After a repair: the totals it rebuilt differed (they now agree).
        public var totalsDiffered = false
    }

    /// Reports, without changing any data, what start-up recovery would roll forward, every
    /// inconsistency that would stop start-up, every audit chain that does not verify, and every
    /// maintained total that differs from its records.
    /// Files an earlier release wrote are refused (``ServerError/wouldMigrate(_:)``), not migrated:
    /// that release could not open them again.
    public static func check(dataDirectory: String) async throws -> Report {
        try await withStores(dataDirectory, migrating: false) { stores in try await check(stores, dataDirectory: dataDirectory) }
    }

    private static func check(_ stores: SubsidyStores, dataDirectory: String) async throws -> Report {
        var report = Report()
        let damaged = try await stores.integrityProblems()
        report.lines += damaged.map { "DAMAGED \($0.file): SQLite's integrity_check: \($0.problems.joined(separator: "; "))" }
        let (chains, recovery) = try await stores.inspect(naming: { path, _ in path })
        report.lines += recovery.rolledForward.map { "recovery would roll forward: \($0) (the normal crash window; start-up completes it)" }
        report.lines += recovery.inconsistencies.map { "INCONSISTENT \($0)" }
        if recovery.inconsistencies.contains(where: \.isLedgerPosition) { report.lines += ledgerBehindAdvice }
        for chain in chains {
            report.lines.append(
                chain.ok ? "audit \(chain.file): ok, \(chain.rows) rows" : Self.broken(chain))
        }
        // Reported, not refused: the daemon serves with either kind, and the next registration of
        // an unfinished one completes it.
        for gap in try await stores.applicantIndexGaps() {
            if !gap.unfinished.isEmpty {
                report.lines.append(
                    "applicants of \(gap.district.rawValue) in the city's index only (registrations cut off before the district's registry; "
                        + "its next registration of each takes it over, `subsidyd --repair` forgets them): \(Self.listed(gap.unfinished))")
            }
            if !gap.unindexed.isEmpty {
                report.lines.append("applicants in \(gap.district.rawValue)'s registry not in the city's index: \(Self.listed(gap.unindexed))")
            }
            if !gap.relocated.isEmpty {
                report.lines.append(
                    "applicants in \(gap.district.rawValue)'s registry registered since by another district ([relocations]; the entry stays for what "
                        + "\(gap.district.rawValue) filed before): \(Self.listed(gap.relocated))")
            }
        }
        for (organisation, usccs) in try await stores.sharedOrganisationCodes() {
            report.lines.append(
                "organisation code \(organisation) (USCC positions 9–17) under more than one USCC: registered by two districts (the city awards only "
                    + "one of them), or registered or awarded before such codes were refused (each then has caps of its own): \(usccs.joined(separator: ", "))")
        }
        for (key, awards) in try await stores.sharedContentKeys() {
            report.lines.append(
                "content \(key) held by more than one award: funded twice under spellings an earlier canonical form kept apart, or awards "
                    + "a programme's rules let share it (a difference award): \(awards.joined(separator: ", "))")
        }
        // Reported, not refused: money paid out and not yet back, which the caps still count.
        let clawbacks = try await stores.outstandingClawbacks()
        if !clawbacks.isEmpty {
            report.lines.append(
                "clawbacks whose money's recovery is not recorded (each still counts against its caps; `subsidyctl recover ID` once it is back), "
                    + "\(Money(fen: clawbacks.reduce(0) { $0 + $1.amountFen })) yuan in \(Self.listed(clawbacks.map(\.applicationID)))")
        }
        // Reported, not refused: the bureau decides whether each is a second spelling of an
        // enterprise it already knows.
        for (file, usccs) in try await stores.nonASCIIUSCCs() {
            report.lines.append(
                "USCCs in \(file) with characters outside ASCII (accepted before this version, e.g. U+212A for K; "
                    + "records holding them read as damaged): \(Self.listed(usccs.map { "\($0) (\($0.unicodeScalars.filter { !$0.isASCII }.map { "U+" + String($0.value, radix: 16, uppercase: true) }.joined(separator: " ")))" }))")
        }
        let totals = try await stores.maintainedTotalDifferences(naming: { path, _ in path })
        report.lines += Self.lines(totals) { one in
            one
                ? "differs from its records (caps are checked against it; `subsidyd --repair` rebuilds it)"
                : "differ from their records (caps are checked against them; `subsidyd --repair` rebuilds them)"
        }
        report.totalsDiffered = !totals.isEmpty
        report.consistent = recovery.inconsistencies.isEmpty && chains.allSatisfy(\.ok) && damaged.isEmpty
        report.lines.append(
            !recovery.inconsistencies.isEmpty
                ? "NOT consistent: subsidyd will refuse to start on \(dataDirectory)"
                : !damaged.isEmpty
                    ? "NOT consistent: a file is damaged — subsidyd would start and serve from it until a read meets the damage, and every backup "
                        + "refuses it; stop the daemon and restore the newest backup (`subsidyd restore`)"
                : !report.consistent
                    ? "NOT consistent: an audit chain does not verify — subsidyd would start and serve, but the record of what was decided is broken "
                        + "and every backup refuses the file; restore the newest backup whose chains verify"
                : report.totalsDiffered
                    ? "NOT consistent: subsidyd would start on \(dataDirectory), but would check caps against totals that differ from their records; run `subsidyd --repair`"
                    : "consistent: subsidyd will start on \(dataDirectory)"
        )
        return report
    }

    /// Each file's differing totals: a heading (`what` says, for one key or for many, what
    /// happened), then the first 20 keys, one a line.
    private static func lines(_ totals: [(file: String, differences: [MaintainedTotals.Difference])], _ what: (_ one: Bool) -> String) -> [String] {
        totals.flatMap { file, differences in
            ["TOTALS in \(file): \(differences.count) \(differences.count == 1 ? "key" : "keys") \(what(differences.count == 1))"]
                + differences.prefix(20).map { "  \($0)" } + (differences.count > 20 ? ["  …"] : [])
        }
    }

    /// A chain that does not verify, as one line.
    private static func broken(_ chain: AuditChain.Report) -> String {
        "audit \(chain.file): BROKEN at row \(chain.firstBadRow ?? 0): \(chain.problem)"
    }

    /// `uscc`s as one line: the count, and the first 20.
    private static func listed(_ usccs: [String]) -> String {
        "\(usccs.count): " + usccs.prefix(20).joined(separator: ", ") + (usccs.count > 20 ? ", …" : "")
    }

    /// Does what is safely doable: with `acceptLedger`, first records the ledger's current
    /// position in every district (audited there); then rolls districts forward to the ledger as
    /// start-up recovery does; then removes unfinished registrations from the city's index (each
    /// audited; they would otherwise hold their USCC and organisation code); then rebuilds, from
    /// their records, every maintained total that differs (recorded in that file's audit chain).
    /// Never creates, edits or deletes a commitment or an application's decision: what remains
    /// inconsistent is reported, and the daemon still refuses to start.
    /// `operatorUID` is who ran it, recorded with the acceptance and with each rebuild.
    public static func repair(dataDirectory: String, acceptLedger: Bool, operatorUID: UInt32) async throws -> Report {
        try await withStores(dataDirectory) { stores in
            try await repair(stores, dataDirectory: dataDirectory, acceptLedger: acceptLedger, operatorUID: operatorUID)
        }
    }

    private static func repair(_ stores: SubsidyStores, dataDirectory: String, acceptLedger: Bool, operatorUID: UInt32) async throws -> Report {
        var report = Report()
        let actor = Actor(tenant: "operator", uid: operatorUID)
        // Nothing a repair may do mends an audit chain, and it must not write into a file the
        // operator is about to replace: a broken chain stops it before any change.
        let broken = try await stores.inspect(naming: { path, _ in path }).chains.filter { !$0.ok }
        guard broken.isEmpty else {
            report.lines = broken.map(Self.broken)
                + ["NOT repaired: an audit chain does not verify (a repair cannot mend one, and changed nothing); restore the newest backup whose chains verify"]
            report.consistent = false
            return report
        }
        if acceptLedger {
            report.lines += try await Recovery.acceptLedger(ledger: stores.ledger, districts: stores.districts, by: actor)
                .map { "accepted ledger: \($0)" }
        }
        let recovery = try await stores.recover(apply: true)
        report.lines += recovery.rolledForward.map { "rolled forward: \($0)" }
        report.lines += recovery.inconsistencies.map { "INCONSISTENT \($0)" }
        if recovery.inconsistencies.contains(where: \.isLedgerPosition) { report.lines += ledgerBehindAdvice }
        // Not while the files disagree: against a district file put back from an older copy,
        // registrations made since look unfinished, and the index would lose them.
        let unfinished = recovery.inconsistencies.isEmpty ? try await stores.forgetUnfinishedRegistrations(by: actor) : .init()
        for (district, usccs) in unfinished.forgotten.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            report.lines.append(
                "forgot unfinished registrations of \(district.rawValue) (in the city's index only; recorded in the ledger's audit chain): \(Self.listed(usccs))")
        }
        for (uscc, district) in unfinished.returned.sorted(by: { $0.key < $1.key }) {
            report.lines.append("index entry of \(uscc) back to \(district.rawValue), whose registry has it (a takeover cut off before the new district's registry; recorded)")
        }
        let rebuilt = try await stores.rebuildMaintainedTotals(by: actor)
        report.lines += Self.lines(rebuilt) { one in
            (one ? "differed from its records and was" : "differed from their records and were") + " rebuilt from them (recorded in the file's audit chain)"
        }
        report.totalsDiffered = !rebuilt.isEmpty
        report.consistent = recovery.inconsistencies.isEmpty
        report.lines.append(
            report.consistent ? "consistent: subsidyd will start on \(dataDirectory)" : "NOT repaired: subsidyd will still refuse to start on \(dataDirectory)"
        )
        return report
    }

    /// Runs `body` on the stores of `dataDirectory`, closing them after it, whatever it did.
    private static func withStores<T>(_ dataDirectory: String, migrating: Bool = true, _ body: (SubsidyStores) async throws -> T) async throws -> T {
        let stores = try SubsidyStores.open(dataDirectory: dataDirectory, migrating: migrating)
        do {
            let result = try await body(stores)
            await stores.close()
            return result
        } catch {
            await stores.close()
            throw error
        }
    }

    static let ledgerBehindAdvice = [
        "the city ledger is behind, or is not, the ledger the districts last saw: restore the newest backup of city-ledger.sqlite",
        "(one at or past what the districts saw) with the daemon stopped. Only if you restored this ledger on purpose and accept",
        "losing the ledger steps it lacks, run `subsidyd --repair --accept-ledger` (recorded in every district's audit chain).",
    ]
}

import SubsidyCore

extension SubsidyStores {
    /// Every maintained total (``MaintainedTotals``) that differs from its records, in the ledger
    /// and then each district file, as `(file, differences)` for the files with any, each file
    /// named by `naming` from its path and tenant (`ledger` or the district), as ``inspect(naming:)``
    /// does. Each file is read in one snapshot, in which its totals and records agree unless
    /// something outside the triggers changed them: no lock is needed. Reads every counted award
    /// and every application filed under a call, twice (`subsidyd --check`: 10–20 s at half a
    /// million awards): for a stopped daemon, never for a call, which would hold the ledger's
    /// readers that long.
    public func maintainedTotalDifferences(
        naming: (_ path: String, _ tenant: String) -> String
    ) async throws -> [(file: String, differences: [MaintainedTotals.Difference])] {
        var found: [(file: String, differences: [MaintainedTotals.Difference])] = []
        for (database, tenant, kept) in maintainedFiles {
            let differences = try await database.read { transaction in try kept.flatMap { try $0.differences(in: transaction) } }
            if !differences.isEmpty { found.append((naming(database.path, tenant), differences)) }
        }
        return found
    }

    /// Rebuilds, from their records, the maintained totals that differ, one transaction per file,
    /// each rebuild recorded in that file's audit chain by `actor` (`subsidyd --repair`). Returns
    /// what differed, as ``maintainedTotalDifferences()`` does; a file with none is not written.
    public func rebuildMaintainedTotals(by actor: Actor) async throws -> [(file: String, differences: [MaintainedTotals.Difference])] {
        var rebuilt: [(file: String, differences: [MaintainedTotals.Difference])] = []
        for (database, _, kept) in maintainedFiles {
            let time = Timestamp.now()
            let differences = try await database.write { transaction in try kept.flatMap { try $0.rebuild(in: transaction, by: actor, at: time) } }
            if !differences.isEmpty { rebuilt.append((database.path, differences)) }
        }
        return rebuilt
    }

    /// The ledger, then the districts in name order, each with its tenant and the totals it keeps.
    private var maintainedFiles: [(SQLiteDatabase, String, [MaintainedTotals])] {
        [(ledger.database, "ledger", MaintainedTotals.ledger)]
            + DistrictID.allCases.sorted { $0.rawValue < $1.rawValue }.map { (store($0).database, $0.rawValue, MaintainedTotals.district) }
    }
}

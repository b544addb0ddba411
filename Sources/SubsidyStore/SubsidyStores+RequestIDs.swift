import SubsidyCore

/// Request ids used before each tenant's ids were bound in its home log (``RequestLog``): the
/// city's ids kept in district files (district migration 11 lists them) and the districts' call
/// ids kept in the ledger (ledger migration 12). Until each is bound at home it could be applied
/// once more to other content in another file.
extension SubsidyStores {
    /// What ``bindEarlierRequestIDs()`` did.
    public struct EarlierRequestIDs: Sendable {
        /// Ids bound in their tenant's home log by this pass (not those it found bound already).
        public var bound = 0
        /// Ids that had already been applied to different content in two files, as stored
        /// (`city:…`), with the file that listed them: the home log keeps its own binding, so
        /// they are reported for the bureau to look into.
        public var conflicting: [(id: String, file: String)] = []
    }

    /// Binds, in its tenant's home log, every request id a migration listed as kept in another
    /// file only; run at start-up before anything is served. Each batch is bound at home first
    /// and struck from its list after, so a crash between the two binds it again, which changes
    /// nothing. An id the home log already binds to the same content is left as it is.
    public func bindEarlierRequestIDs() async throws -> EarlierRequestIDs {
        var result = EarlierRequestIDs()
        for source in [ledger.database] + DistrictID.allCases.map({ store($0).database }) {
            while true {
                let batch = try await source.read { transaction in
                    try transaction.query(
                        """
                        SELECT b.request_id, r.fingerprint, r.at FROM requests_to_bind b LEFT JOIN requests r USING (request_id)
                        ORDER BY b.request_id LIMIT 500
                        """
                    ).map { row in
                        (id: try row.text("request_id"), fingerprint: try row.optionalText("fingerprint"), at: try row.optionalText("at"))
                    }
                }
                guard !batch.isEmpty else { break }
                var byHome: [ObjectIdentifier: (home: SQLiteDatabase, rows: [(id: String, fingerprint: String, at: String)])] = [:]
                for row in batch {
                    guard let fingerprint = row.fingerprint, let at = row.at, let colon = row.id.firstIndex(of: ":") else { continue }
                    // An id of a tenant no longer known is at home in the ledger: nothing to bind.
                    let home = self.home(of: String(row.id[..<colon]))
                    guard home !== source else { continue }
                    byHome[ObjectIdentifier(home), default: (home, [])].rows.append((row.id, fingerprint, at))
                }
                for (home, rows) in byHome.values {
                    let (bound, conflicting) = try await home.write { transaction in
                        var (bound, conflicting) = (0, [String]())
                        for row in rows {
                            if let earlier = try transaction.query("SELECT fingerprint FROM requests WHERE request_id = ?", [.text(row.id)]).first {
                                if try earlier.text("fingerprint") != row.fingerprint { conflicting.append(row.id) }
                            } else {
                                try RequestLog.record(row.id, fingerprint: row.fingerprint, response: [], at: row.at, in: transaction)
                                bound += 1
                            }
                        }
                        return (bound, conflicting)
                    }
                    result.bound += bound
                    result.conflicting += conflicting.map { (id: $0, file: source.path) }
                }
                let listed = batch.map(\.id)
                try await source.write { transaction in
                    for id in listed { try transaction.query("DELETE FROM requests_to_bind WHERE request_id = ?", [.text(id)]) }
                }
            }
        }
        return result
    }

    /// The response `key` already has in `tenant`'s home file (nil if none there, or only a claim;
    /// ALREADY_EXISTS if the id was used for another request). For a handler whose checks read
    /// what may change between a call and its retry — a call for applications closing, a
    /// programme retired, the configuration reloaded — so a retry gets its first reply, byte for
    /// byte, before any of them can refuse it.
    package func storedResponse(_ key: RequestKey, tenant: String) async throws -> [UInt8]? {
        let response = try await home(of: tenant).lookup { try RequestLog.lookup(key.id, fingerprint: key.fingerprint, in: $0) }
        return response?.isEmpty == false ? response : nil
    }
}

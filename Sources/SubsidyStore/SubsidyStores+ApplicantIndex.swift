import SubsidyCore

extension SubsidyStores {
    /// Where the city's applicant index and a district's registry disagree, for `subsidyd --check`.
    public struct ApplicantIndexGaps: Sendable, Equatable {
        public var district: DistrictID
        /// Indexed for the district, not in its registry: registrations cut off after the index
        /// (the district's next registration of each takes it over).
        public var unfinished: [String]
        /// In the registry, not indexed for the district: a file older than the index, or one
        /// put back from another time.
        public var unindexed: [String]
        /// In the registry, indexed for another district since: relocated (`[relocations]`); the
        /// entry stays for what the district filed before.
        public var relocated: [String] = []
    }

    /// Every district whose registry and the index's entries for it differ, with the USCCs each
    /// way (sorted). Reads every applicant of both: a check for a stopped daemon, not a call.
    public func applicantIndexGaps() async throws -> [ApplicantIndexGaps] {
        var gaps: [ApplicantIndexGaps] = []
        for district in DistrictID.allCases {
            let indexed = Set(
                try await ledger.database.read { transaction in
                    try transaction.query("SELECT uscc FROM applicants WHERE district = ?", [.text(district.rawValue)]).map { try $0.text("uscc") }
                })
            let registered = Set(
                try await store(district).database.read { transaction in
                    try transaction.query("SELECT uscc FROM applicants").map { try $0.text("uscc") }
                })
            guard indexed != registered else { continue }
            let missing = registered.subtracting(indexed)
            let elsewhere = try await ledger.database.read { transaction in
                Set(try missing.sorted().filter { uscc in
                    try !transaction.query("SELECT 1 FROM applicants WHERE uscc = ? AND district != ?", [.text(uscc), .text(district.rawValue)]).isEmpty
                })
            }
            gaps.append(
                ApplicantIndexGaps(
                    district: district, unfinished: indexed.subtracting(registered).sorted(), unindexed: missing.subtracting(elsewhere).sorted(),
                    relocated: elsewhere.sorted()))
        }
        return gaps
    }

    /// What ``forgetUnfinishedRegistrations(by:)`` did: entries removed, by district, and entries
    /// given back to the district whose registry holds the enterprise.
    public struct UnfinishedRegistrations: Sendable, Equatable {
        public var forgotten: [DistrictID: [String]] = [:]
        /// A takeover cut off before the new district's registry: the index goes back to the
        /// district that has the enterprise registered.
        public var returned: [String: DistrictID] = [:]

        public init() {}
    }

    /// Removes from the city's index every unfinished registration (``ApplicantIndexGaps/unfinished``),
    /// each with a `forget-applicant` event naming `actor`. Only for `subsidyd --repair`, with
    /// the daemon stopped: no registration is between its two writes then. Nothing refers to
    /// such an entry (no reply named it, no application was filed under it), but it holds its
    /// USCC and organisation code: a mistyped code cut off after the index refused the
    /// enterprise's real one as its twin for good.
    ///
    /// One exception: a relocation's takeover cut off before the new district's registry left the
    /// index naming that district while the district the enterprise left still has it registered
    /// (and filed under it). Such an entry goes back to that district, with its registry's
    /// values (`reindex-applicant`): removed, the district left would be free of the index's
    /// relocation and the organisation code of its twin check.
    public func forgetUnfinishedRegistrations(by actor: Actor) async throws -> UnfinishedRegistrations {
        var result = UnfinishedRegistrations()
        for gap in try await applicantIndexGaps() where !gap.unfinished.isEmpty {
            var holders: [String: ApplicantRecord] = [:]
            for uscc in gap.unfinished {
                for district in DistrictID.allCases where district != gap.district {
                    if let registered = try await store(district).applicant(uscc) {
                        holders[uscc] = registered
                        break
                    }
                }
            }
            let time = Timestamp.now()
            let held = holders
            let (forgotten, returned) = try await ledger.database.write { transaction -> ([String], [String: DistrictID]) in
                var forgotten: [String] = []
                var returned: [String: DistrictID] = [:]
                for uscc in gap.unfinished {
                    if let holder = held[uscc] {
                        try transaction.query(
                            "UPDATE applicants SET district = ?, name = ?, locality = ?, role = ? WHERE uscc = ? AND district = ?",
                            [.text(holder.district.rawValue), .text(holder.name), .text(holder.locality.rawValue), .text(holder.role.rawValue),
                             .text(uscc), .text(gap.district.rawValue)])
                        guard transaction.changes > 0 else { continue }
                        returned[uscc] = holder.district
                        try AuditChain.append(
                            AuditEvent(
                                "reindex-applicant",
                                [.text("uscc", uscc), .text("district", holder.district.rawValue), .text("from", gap.district.rawValue),
                                 .text("reason", "a takeover cut off before the district's registry: back to the district that has it registered")]
                                    + AuditEvent.Field.actor(actor)),
                            at: time, in: transaction)
                        continue
                    }
                    try transaction.query("DELETE FROM applicants WHERE uscc = ? AND district = ?", [.text(uscc), .text(gap.district.rawValue)])
                    guard transaction.changes > 0 else { continue }
                    try AuditChain.append(
                        AuditEvent(
                            "forget-applicant",
                            [.text("uscc", uscc), .text("district", gap.district.rawValue), .text("reason", "an unfinished registration: not in the district's registry")]
                                + AuditEvent.Field.actor(actor)),
                        at: time, in: transaction)
                    forgotten.append(uscc)
                }
                return (forgotten, returned)
            }
            if !forgotten.isEmpty { result.forgotten[gap.district] = forgotten }
            result.returned.merge(returned) { _, new in new }
        }
        return result
    }

    /// Organisation codes (USCC positions 9–17) that the city's index or the ledger's counted
    /// awards hold under more than one USCC, each with its codes (sorted), for `subsidyd --check`: one
    /// organisation under a second code, registered or awarded before such codes were refused
    /// (ledger migration 13). Reads every award's enterprise: a check for a stopped daemon.
    public func sharedOrganisationCodes() async throws -> [(organisation: String, usccs: [String])] {
        try await ledger.database.read { transaction in
            try transaction.query(
                """
                SELECT substr(v, 9, 9) AS organisation, group_concat(v, ' ') AS usccs
                FROM (SELECT uscc AS v FROM applicants UNION SELECT enterprise FROM commitments WHERE state IN \(CityLedger.inForce))
                GROUP BY organisation HAVING COUNT(*) > 1 ORDER BY organisation
                """
            ).map { (try $0.text("organisation"), try $0.text("usccs").split(separator: " ").map(String.init).sorted()) }
        }
    }

    /// Awards revoked after payment whose money's recovery is not recorded — each still counts
    /// against its caps — the ledger's and every district programme's, by application id, for
    /// `subsidyd --check`: what the bureaus have to recover (or record as recovered). Reads every
    /// award: a check for a stopped daemon.
    public func outstandingClawbacks() async throws -> [(applicationID: String, amountFen: Int64)] {
        func clawbacks(in database: SQLiteDatabase, table: String) async throws -> [(applicationID: String, amountFen: Int64)] {
            try await database.read { transaction in
                try transaction.query("SELECT application_id, amount_fen FROM \(table) WHERE state = 'clawback'")
                    .map { (try $0.text("application_id"), try $0.int("amount_fen")) }
            }
        }
        var found = try await clawbacks(in: ledger.database, table: "commitments")
        for district in DistrictID.allCases { found += try await clawbacks(in: store(district).database, table: "programme_commitments") }
        return found.sorted { $0.applicationID < $1.applicationID }
    }

    /// Content keys held by more than one award in force of the ledger that general rule 2 would
    /// not let share them (``Application/isDoubleFunding(_:_:sharing:)``), for `subsidyd --check`:
    /// content funded twice under two spellings an earlier canonical form kept apart (the pairs a
    /// change of the form merges), or awards a programme's own rules let share content (a
    /// difference award). Reported, not refused: the city decides what each pair is.
    public func sharedContentKeys() async throws -> [(key: String, awards: [String])] {
        try await ledger.database.read { transaction in
            try transaction.query(
                """
                SELECT k.key AS key, group_concat(c.application_id || ' ' || c.measure, ',') AS awards
                FROM content_keys k JOIN commitments c ON c.application_id = k.application_id
                WHERE c.state IN \(CityLedger.inForce)
                GROUP BY k.key HAVING COUNT(DISTINCT k.application_id) > 1 ORDER BY k.key
                """
            ).compactMap { row -> (key: String, awards: [String])? in
                let key = try row.text("key")
                let awards = try row.text("awards").split(separator: ",").map { $0.split(separator: " ").map(String.init) }
                let measures = awards.compactMap { $0.count == 2 ? Measure(rawValue: $0[1]) : nil }
                let doubled = measures.indices.contains { i in measures.indices.contains { j in i < j && Application.isDoubleFunding(measures[i], measures[j], sharing: key) } }
                return doubled ? (key, awards.map { $0.joined(separator: " ") }.sorted()) : nil
            }
        }
    }

    /// The files that fail SQLite's `integrity_check`, each with its first findings (at most 5):
    /// a damaged page the daemon's own reads never reach still stops every backup of the file, and
    /// `--check` says so before a backup is needed.
    public func integrityProblems() async throws -> [(file: String, problems: [String])] {
        var found: [(file: String, problems: [String])] = []
        for database in [ledger.database] + DistrictID.allCases.sorted(by: { $0.rawValue < $1.rawValue }).map({ store($0).database }) {
            let lines: [String]
            do {
                lines = try await database.read { transaction in try transaction.query("PRAGMA integrity_check(5)").map { try $0.text("integrity_check") } }
            } catch let error as SQLiteError where error.isDamaged {
                lines = [error.message]
            }
            if lines != ["ok"] { found.append((database.path, lines)) }
        }
        return found
    }

    /// Every USCC the files hold that is not 18 ASCII code characters, by file (path), for
    /// `subsidyd --check`. Before 2707303 a code whose K was written as U+212A (KELVIN SIGN) was
    /// accepted as a second spelling of the same enterprise; such a record now reads as damaged.
    /// The bureau decides what each one is: nothing here changes it.
    public func nonASCIIUSCCs() async throws -> [(file: String, usccs: [String])] {
        // GLOB's class is bytes: a multi-byte character is outside it.
        let outside = "GLOB '*[^0-9A-Z]*'"
        var found: [(file: String, usccs: [String])] = []
        let inLedger = try await ledger.database.read { transaction in
            try transaction.query(
                """
                SELECT uscc AS v FROM applicants WHERE uscc \(outside)
                UNION SELECT enterprise FROM commitments WHERE enterprise \(outside)
                UNION SELECT provider FROM commitments WHERE provider != '' AND provider \(outside)
                """
            ).map { try $0.text("v") }
        }
        if !inLedger.isEmpty { found.append((ledger.database.path, inLedger.sorted())) }
        for district in DistrictID.allCases.sorted(by: { $0.rawValue < $1.rawValue }) {
            let database = store(district).database
            let usccs = try await database.read { transaction in
                try transaction.query(
                    "SELECT uscc AS v FROM applicants WHERE uscc \(outside) UNION SELECT enterprise FROM applications WHERE enterprise \(outside)"
                ).map { try $0.text("v") }
            }
            if !usccs.isEmpty { found.append((database.path, usccs.sorted())) }
        }
        return found
    }
}

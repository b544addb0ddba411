import SubsidyCore

/// A district's own programmes (level `district:<id>`): their awards, cap charges and totals and
/// the district's product catalogue, kept in the district's file (migration 8) beside the
/// applications they decide. A decision is one transaction of this file, so it is atomic and
/// survives a crash whole or not at all, with no second file to reconcile.
extension DistrictStore {
    /// The facts an award under the district's programme depends on, read inside its write
    /// transaction: cap totals, earlier awards and the catalogue from this file; `elsewhere` is
    /// what the other stores (the city ledger) hold for the same content, read just before — it
    /// counts toward stacking across levels.
    struct ProgrammeUsage: UsageSnapshot {
        let connection: SQLiteConnection
        let elsewhere: [FundedContent]

        func committed(_ key: CapKey) throws(SubsidyError) -> CapUsage {
            try wrap { try CommitmentQueries.total(table: "programme_totals", key: key, in: connection) }
        }

        func fundedContent(_ keys: [String]) throws(SubsidyError) -> [FundedContent] {
            // Ordered by the key table's id, which its primary key (key, application_id) already
            // holds in order: by the commitment's copy of it SQLite sorted in a temporary B-tree,
            // every filing's check and every approval.
            let own: [FundedContent] = try wrap {
                try keys.flatMap { key -> [FundedContent] in
                    try connection.query(
                        """
                        SELECT c.application_id AS application_id, c.state = 'clawback' AS clawback, c.measure AS measure, c.content_typed AS content_typed,
                               c.amount_fen AS amount_fen, c.programme AS programme, c.stacking_base_fen AS base_fen,
                               MAX(c.upper_level_fen, 0) AS upper_fen,
                               EXISTS (SELECT 1 FROM programme_content_keys o WHERE o.application_id = c.application_id AND o.key LIKE 'contract:%') AS has_contract
                               FROM programme_content_keys k
                        JOIN programme_commitments c ON c.application_id = k.application_id
                        WHERE k.key = ? AND c.state IN \(CityLedger.counted) ORDER BY k.application_id
                        """,
                        [.text(key)]
                    ).map { row -> FundedContent in
                        FundedContent(
                            applicationID: try row.text("application_id"), measure: try row.decode(Measure.self, "measure"),
                            typed: try row.text("content_typed"), key: key, amount: Money(fen: try row.int("amount_fen")),
                            programme: try row.text("programme"), base: Money(fen: try row.int("base_fen")),
                            upperLevel: Money(fen: try row.int("upper_fen")), hasContract: try row.int("has_contract") != 0,
                            awaitingRecovery: try row.int("clawback") != 0)
                    }
                }
            }
            return own + elsewhere.filter { keys.contains($0.key) }
        }

        /// Cluster pilots are the 2020 policy's, decided by the city.
        func pilotAward(_ pilotKey: String) throws(SubsidyError) -> PilotAward? { nil }

        /// The resource pool is the city's; a district programme checks its own catalogue.
        func isPoolMember(_ provider: USCC, on date: CalendarDate) throws(SubsidyError) -> Bool { false }

        /// The follow-on rule is the 2020 policy's.
        func voucherRecipients(among enterprises: [USCC], decidedFrom from: CalendarDate, through: CalendarDate) throws(SubsidyError) -> Set<USCC> { [] }

        func earlierAwards(to enterprise: USCC, under measures: Set<Measure>) throws(SubsidyError) -> [EarlierAward] {
            try wrap { try CommitmentQueries.earlierAwards(table: "programme_commitments", enterprise: enterprise, measures: measures, in: connection) }
        }

        func isCatalogueMember(_ provider: USCC, catalogue: String, on date: CalendarDate) throws(SubsidyError) -> Bool {
            try wrap {
                try !connection.query(
                    "SELECT 1 FROM catalogue_members WHERE catalogue = ? AND uscc = ? AND entry_date <= ?",
                    [.text(catalogue), .text(provider.rawValue), .text(date.description)]
                ).isEmpty
            }
        }

        private func wrap<T>(_ body: () throws -> T) throws(SubsidyError) -> T {
            try CommitmentQueries.reading("the district's programme ledger", body)
        }
    }

    /// Records `award` (the decision on `applicationID` under the district's programme) and its
    /// charges, then re-checks every charged cap inside the same transaction — the store's own
    /// guarantee, whatever the engine computed.
    func commitProgrammeAward(
        _ applicationID: String, _ award: AwardDecision, requestID: String, actor: Actor, reason: String, at time: String, in transaction: Transaction
    ) throws {
        let programme = programmeName(ofVersion: award.policyVersion)
        try transaction.query(
            """
            INSERT INTO programme_commitments (application_id, programme, measure, funding_year, enterprise, amount_fen, decision_date,
                decision_document, policy_version, content_typed, state, request_id, created_at, updated_at, stacking_base_fen, upper_level_fen)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'live', ?, ?, ?, ?, ?)
            """,
            [.text(applicationID), .text(programme), .text(award.measure.rawValue), .integer(Int64(award.fundingYear.year)),
             .text(award.enterprise.rawValue), .integer(award.award.fen), .text(award.decisionDate.description),
             .text(award.decisionDocument ?? ""), .text(award.policyVersion), .text(award.contentTyped), .text(requestID), .text(time), .text(time),
             .integer(award.stackingBase > .zero ? award.stackingBase.fen : -1), .integer(award.upperLevel.fen)]
        )
        for key in award.contentKeys.isEmpty ? [award.contentFingerprint] : award.contentKeys {
            try transaction.query("INSERT INTO programme_content_keys (key, application_id) VALUES (?, ?)", [.text(key), .text(applicationID)])
        }
        let usage = ProgrammeUsage(connection: transaction.connection, elsewhere: [])
        for charge in award.charges {
            let (kind, value): (String, Int64) = switch charge.limit {
            case .amount(let limit): ("amount", limit.fen)
            case .count(let limit): ("count", Int64(limit))
            }
            try transaction.query(
                "INSERT INTO programme_charges (application_id, cap_id, scope, amount_fen, count, limit_kind, limit_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [.text(applicationID), .text(charge.key.capID), .text(charge.key.scope), .integer(charge.amount.fen), .integer(Int64(charge.count)),
                 .text(kind), .integer(value)]
            )
            try CommitmentQueries.requireWithinLimit(charge, after: try usage.committed(charge.key), applicationID: applicationID)
        }
        try AuditChain.append(
            AuditEvent("programme_commit", [
                .text("application", applicationID), .text("programme", programme), .text("measure", award.measure.rawValue),
                .integer("amount_fen", award.award.fen), .text("content", award.contentFingerprint), .text("policy", award.policyVersion),
                .text("request", requestID),
            ]
              // The base binds later awards for the content, the city's and other districts' too.
              + (award.stackingBase > .zero ? [.integer("base_fen", award.stackingBase.fen)] : [])
              + (award.upperLevel > .zero ? [.integer("upper_level_fen", award.upperLevel.fen)] : [])
              + AuditEvent.Field.actor(actor) + [.text("reason", reason)]
              + award.charges.map { .text("charge", "\($0.key)+\($0.amount.fen)/\($0.count)") }),
            at: time, in: transaction
        )
    }

    /// One enterprise has one declared revenue per scope of a revenue-tiered cap (per funding
    /// year in the programmes shipped): an award whose declared revenue falls in another tier than
    /// that of an earlier award in force in the same scope, under the same programme, is refused.
    /// Otherwise a first application declaring less and a second declaring more would each be
    /// checked against its own tier, and the enterprise would reach the upper tier's limit on a
    /// revenue its first declaration denies. Both are placed in `rule`'s tiers as they stand now,
    /// so a reload that changes the tiers' limits does not set earlier awards apart.
    func requireOneRevenueTier(
        _ applicationID: String, _ award: AwardDecision, of application: Application, rule: MeasureRule, programme: String, in transaction: Transaction
    ) throws {
        for cap in rule.caps where !cap.revenueTiers.isEmpty {
            guard let charge = award.charges.first(where: { $0.key.capID == cap.id }) else { continue }
            let tier = cap.limit(for: application)
            let earlier = try transaction.query(
                """
                SELECT DISTINCT c.application_id AS application_id FROM programme_charges c
                JOIN programme_commitments m ON m.application_id = c.application_id
                WHERE c.cap_id = ? AND c.scope = ? AND m.state IN \(CityLedger.inForce) AND m.programme = ? AND c.application_id != ?
                """,
                [.text(charge.key.capID), .text(charge.key.scope), .text(programme), .text(applicationID)]
            ).map { try $0.text("application_id") }
            for id in earlier {
                guard let other = try Self.application(id, in: transaction, district: district)?.application else { continue }
                let theirs = cap.limit(for: other)
                if theirs.limit != tier.limit {
                    throw SubsidyError.precondition(
                        "declared_revenue",
                        "declared revenue \(application.declaredRevenue) puts \(award.enterprise.rawValue) in \(cap.id)'s tier of \(tier.limit), but its award \(id) "
                            + "in the same scope (\(charge.key.scope)) declared \(other.declaredRevenue), the tier of \(theirs.limit); "
                            + "an enterprise declares one revenue per funding year (correct application.declared_revenue_fen)")
                }
            }
        }
    }

    /// Moves the programme commitment of `applicationID` to `state`: disbursed; on revocation,
    /// released (its charges leave the totals by trigger) or, after payment, a clawback (still
    /// counted); a clawback to released once its money's recovery is recorded.
    func moveProgrammeCommitment(
        _ applicationID: String, to state: CityLedger.CommitmentState, requestID: String, actor: Actor, reason: String, at time: String,
        in transaction: Transaction
    ) throws {
        guard let row = try transaction.query(
            "SELECT state, amount_fen FROM programme_commitments WHERE application_id = ?", [.text(applicationID)]).first
        else {
            throw SubsidyError(.internal, "no programme commitment for \(applicationID) in \(district.rawValue)")
        }
        let current = try row.decode(CityLedger.CommitmentState.self, "state")
        let target: CityLedger.CommitmentState
        switch (current, state) {
        case (.live, .disbursed): target = .disbursed
        case (.live, .released): target = .released
        case (.disbursed, .released): target = .clawback
        case (.clawback, .released): target = .released
        default:
            throw SubsidyError.precondition("commitment", "the commitment of \(applicationID) is \(current) and cannot become \(state)")
        }
        try transaction.query(
            "UPDATE programme_commitments SET state = ?, updated_at = ? WHERE application_id = ?", [.text(target.rawValue), .text(time), .text(applicationID)])
        try AuditChain.append(
            AuditEvent(current == .clawback ? "programme_recovered" : "programme_\(target.rawValue)", [
                .text("application", applicationID), .integer("amount_fen", try row.int("amount_fen")), .text("request", requestID),
            ] + AuditEvent.Field.actor(actor) + [.text("reason", reason)]),
            at: time, in: transaction
        )
    }

    /// What another file's decision asks of this district's own programmes, in one read: their
    /// live awards known by one of `keys`, and one award in force to each USCC with one of the
    /// organisation codes of `usccs` (``programmeAwards(organisationsOf:district:in:)``).
    func programmeHoldings(_ keys: [String], organisationsOf usccs: [String]) async throws -> ProgrammeHoldings {
        guard !keys.isEmpty || !usccs.isEmpty else { return ProgrammeHoldings() }
        let district = self.district
        return try await database.read(small: keys.count + usccs.count <= SQLiteDatabase.lookupKeys) {
            ProgrammeHoldings(
                content: try ProgrammeUsage(connection: $0.connection, elsewhere: []).fundedContent(keys),
                awards: try Self.programmeAwards(organisationsOf: usccs, district: district, in: $0))
        }
    }

    /// ``programmeHoldings(_:organisationsOf:)``'s answer.
    struct ProgrammeHoldings: Sendable {
        var content: [FundedContent] = []
        var awards: [CityLedger.OrganisationAward] = []
    }

    /// One award in force of this district's own programmes to each USCC with one of the
    /// organisation codes (USCC positions 9–17) of `usccs`, through the
    /// `programme_commitments_organisation` index (migration 17).
    static func programmeAwards(organisationsOf usccs: some Sequence<String>, district: DistrictID, in transaction: Transaction) throws -> [CityLedger.OrganisationAward] {
        try Set(usccs.map { String(CityLedger.organisationCode(of: $0)) }).sorted().flatMap { organisation in
            try transaction.query(
                """
                SELECT enterprise, MIN(application_id) AS application_id FROM programme_commitments
                WHERE substr(enterprise, 9, 9) = ? AND state IN \(CityLedger.inForce) GROUP BY enterprise ORDER BY enterprise LIMIT 20
                """,
                [.text(organisation)]
            ).map { CityLedger.OrganisationAward(enterprise: try $0.text("enterprise"), district: district.rawValue, applicationID: try $0.text("application_id")) }
        }
    }

    /// The district programmes this file holds awards of (released ones included).
    public func programmesWithAwards() async throws -> Set<String> {
        try await database.read { transaction in
            Set(try transaction.query("SELECT DISTINCT programme FROM programme_commitments").map { try $0.text("programme") })
        }
    }

    /// The maintained totals of the district's programme caps (keys with usage).
    public func programmeTotals() async throws -> [CityLedger.CapTotal] {
        try await database.read { transaction in
            try transaction.query(
                """
                SELECT t.cap_id, t.scope, t.amount_fen, t.count,
                    (SELECT MAX(c.limit_value) FROM programme_charges c JOIN programme_commitments m ON m.application_id = c.application_id
                     WHERE c.cap_id = t.cap_id AND c.scope = t.scope AND m.state IN \(CityLedger.counted) AND c.limit_kind = 'amount') AS limit_fen
                FROM programme_totals t WHERE t.amount_fen != 0 OR t.count != 0 ORDER BY t.cap_id, t.amount_fen DESC, t.scope
                """
            ).map {
                CityLedger.CapTotal(
                    capID: try $0.text("cap_id"), scope: try $0.text("scope"), amountFen: try $0.int("amount_fen"), count: try $0.int("count"),
                    limitFen: try $0.optionalInt("limit_fen"))
            }
        }
    }

    /// A member of the district's catalogue `catalogue` from `entryDate` (idempotent by request id
    /// through ``mutate(_:_:)``; registering one again keeps its first entry).
    func insertCatalogueMember(
        catalogue: String, uscc: USCC, name: String, entryDate: CalendarDate, requestID: String, actor: Actor, at time: String, in transaction: Transaction
    ) throws {
        let inserted = try transaction.query(
            """
            INSERT INTO catalogue_members (catalogue, uscc, name, entry_date, request_id, created_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (catalogue, uscc) DO NOTHING RETURNING uscc
            """,
            [.text(catalogue), .text(uscc.rawValue), .text(name), .text(entryDate.description), .text(requestID), .text(time)]
        )
        guard !inserted.isEmpty else {
            throw SubsidyError(
                .alreadyExists, "\(uscc.rawValue) is already in catalogue \(catalogue)",
                details: [.field(path: "request.uscc", problem: "already in catalogue \(catalogue)")])
        }
        try AuditChain.append(
            AuditEvent("catalogue_member", [
                .text("catalogue", catalogue), .text("uscc", uscc.rawValue), .text("entry_date", entryDate.description), .text("request", requestID),
            ] + AuditEvent.Field.actor(actor)),
            at: time, in: transaction
        )
    }
}

import SubsidyCore

extension CityLedger {
    /// Committed totals per cap key (counted commitments only: in force, and clawbacks).
    public struct CapTotal: Sendable, Equatable {
        public var capID: String
        public var scope: String
        public var amountFen: Int64
        public var count: Int64
        /// The limit this subject's charges were made under, where it depends on the subject (a
        /// revenue-tiered cap of a district programme); nil: the cap's own limit.
        public var limitFen: Int64? = nil
    }

    /// The programmes the ledger holds awards of (released ones included: their history needs
    /// the programme's rules), from the policy version each commitment records.
    public func programmesWithAwards() async throws -> Set<String> {
        try await database.read { transaction in
            Set(try transaction.query("SELECT DISTINCT policy_version FROM commitments").map { programmeName(ofVersion: try $0.text("policy_version")) })
        }
    }

    /// The cap ids in `table` (`cap_totals`, a district file's `programme_totals`) that hold
    /// usage and are not among `known`, each with its committed amount and count — the caps a
    /// programme file may not drop. The distinct ids are found by skipping through the key's
    /// index (one probe per cap id, however many subjects each has); only an id not in `known`
    /// has its rows summed.
    package static func capsHeld(in table: String, except known: Set<String>, _ transaction: Transaction) throws -> [CapTotal] {
        let ids = try transaction.query(
            """
            WITH RECURSIVE ids(id) AS (
                SELECT MIN(cap_id) FROM \(table)
                UNION ALL SELECT (SELECT MIN(cap_id) FROM \(table) WHERE cap_id > ids.id) FROM ids WHERE ids.id IS NOT NULL)
            SELECT id FROM ids WHERE id IS NOT NULL
            """
        ).map { try $0.text("id") }
        return try ids.filter { !known.contains($0) }.compactMap { id in
            let row = try transaction.query(
                "SELECT COALESCE(SUM(amount_fen), 0) AS amount_fen, COALESCE(SUM(count), 0) AS count FROM \(table) WHERE cap_id = ?", [.text(id)]
            ).first
            let (amount, count) = (try row?.int("amount_fen") ?? 0, try row?.int("count") ?? 0)
            return amount == 0 && count == 0 ? nil : CapTotal(capID: id, scope: "", amountFen: amount, count: count)
        }
    }

    /// Every cap key with usage; `scopePrefix` (e.g. "2022") narrows to one funding year.
    public func capTotals(scopePrefix: String?) async throws -> [CapTotal] {
        try await database.read { transaction in
            // The maintained totals (ledger migration 7); a key whose awards were all released
            // keeps a zero row, which is not usage.
            var sql = "SELECT cap_id, scope, amount_fen, count FROM cap_totals WHERE (amount_fen != 0 OR count != 0)"
            var parameters: [SQLiteValue] = []
            if let scopePrefix {
                sql += " AND (scope = ? OR scope LIKE ?)"
                parameters += [.text(scopePrefix), .text(scopePrefix + "/%")]
            }
            sql += " ORDER BY cap_id, amount_fen DESC, scope"
            return try transaction.query(sql, parameters).map {
                CapTotal(capID: try $0.text("cap_id"), scope: try $0.text("scope"), amountFen: try $0.int("amount_fen"), count: try $0.int("count"))
            }
        }
    }

    /// Total committed per `column` (enterprise, provider or district), largest first.
    public func consumers(by column: ConsumerColumn, fundingYear: Int?, limit: Int) async throws -> [(id: String, amountFen: Int64, count: Int64)] {
        try await database.read { transaction in
            // consumer_totals (ledger migration 9): one index walk for a year; across years, a sum
            // over the consumers (not the awards).
            let rows =
                if let fundingYear {
                    try transaction.query(
                        """
                        SELECT id, amount_fen, count FROM consumer_totals WHERE kind = ? AND funding_year = ? AND count > 0
                        ORDER BY amount_fen DESC, id LIMIT ?
                        """,
                        [.text(column.rawValue), .integer(Int64(fundingYear)), .integer(Int64(limit))])
                } else {
                    try transaction.query(
                        """
                        SELECT id, SUM(amount_fen) AS amount_fen, SUM(count) AS count FROM consumer_totals WHERE kind = ? AND count > 0
                        GROUP BY id ORDER BY SUM(amount_fen) DESC, id LIMIT ?
                        """,
                        [.text(column.rawValue), .integer(Int64(limit))])
                }
            return try rows.map { (id: try $0.text("id"), amountFen: try $0.int("amount_fen"), count: try $0.int("count")) }
        }
    }

    public enum ConsumerColumn: String, Sendable {
        case enterprise, provider, district
    }

    /// Ledger events after `sequence`, oldest first.
    /// Events returned by one ``events(after:limit:)`` call unless told otherwise.
    public static let eventBatch = 500

    public func events(after sequence: Int64, limit: Int = CityLedger.eventBatch) async throws -> [(seq: Int64, applicationID: String, district: String, state: String, amountFen: Int64, at: String)] {
        try await database.read { transaction in
            try transaction.query(
                "SELECT seq, application_id, district, state, amount_fen, at FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                [.integer(sequence), .integer(Int64(limit))]
            ).map {
                (seq: try $0.int("seq"), applicationID: try $0.text("application_id"), district: try $0.text("district"), state: try $0.text("state"),
                 amountFen: try $0.int("amount_fen"), at: try $0.text("at"))
            }
        }
    }

    public func lastEventSequence() async throws -> Int64 {
        try await database.read { try $0.query("SELECT COALESCE(MAX(seq), 0) AS last FROM events").first?.int("last") ?? 0 }
    }

    // MARK: The city-wide applicant index

    /// The district that registered `uscc`, from the index every registration passes through.
    public func registeringDistrict(of uscc: String) async throws -> DistrictID? {
        try await database.lookup { transaction in
            try transaction.query("SELECT district FROM applicants WHERE uscc = ?", [.text(uscc)]).first.map {
                try $0.decode(DistrictID.self, "district")
            }
        }
    }

    /// Brings the index's entry for `applicant` (registered before) to its new name and role.
    func reindexApplicant(_ applicant: ApplicantRecord, at time: String) async throws {
        try await database.write { transaction in
            try transaction.query(
                "UPDATE applicants SET name = ?1, role = ?2 WHERE uscc = ?3 AND district = ?4 AND (name != ?1 OR role != ?2)",
                [.text(applicant.name), .text(applicant.role.rawValue), .text(applicant.uscc), .text(applicant.district.rawValue)])
            // Only a real change is an event: the same name and role again append nothing.
            guard transaction.changes > 0 else { return }
            try AuditChain.append(
                AuditEvent("reindex-applicant", [
                    .text("uscc", applicant.uscc), .text("district", applicant.district.rawValue), .text("role", applicant.role.rawValue),
                ]),
                at: time, in: transaction)
        }
    }

    /// Indexes `applicant` for its district: the same entry again is a no-op, another district's
    /// or other values are ALREADY_EXISTS — unless `replacingUnfinished`, which the caller passes
    /// when its district's registry has no entry for the enterprise: the index entry of that
    /// district is then what a registration that never reached the registry left (its district
    /// write failed, or the daemon stopped between the two), and the new values replace it.
    ///
    /// `relocated` (the configuration's `[relocations]` names the applicant's district): another
    /// district's entry is taken over, with a `relocate-applicant` event naming both districts and
    /// `actor`.
    ///
    /// `programmeAwards`: the districts' programme awards of the applicant's organisation, read
    /// under its lock (``SubsidyStores/organisationLock(_:)``); a twin holding one refuses a new
    /// code as a twin holding a ledger award does.
    ///
    /// Returns the registration's warnings: the twins other districts registered.
    @discardableResult
    func indexApplicant(
        _ applicant: ApplicantRecord, at time: String, replacingUnfinished: Bool = false, relocated: Bool = false, by actor: Actor? = nil,
        programmeAwards: [OrganisationAward] = []
    ) async throws -> [String] {
        try await database.write { transaction in
            try self.indexApplicant(
                applicant, at: time, replacingUnfinished: replacingUnfinished, relocated: relocated, by: actor, programmeAwards: programmeAwards, in: transaction)
        }
    }

    /// ``indexApplicant(_:at:replacingUnfinished:relocated:by:)`` inside the caller's transaction (a
    /// loader of many applicants writes them in batches).
    @discardableResult
    package func indexApplicant(
        _ applicant: ApplicantRecord, at time: String, replacingUnfinished: Bool = false, relocated: Bool = false, by actor: Actor? = nil,
        programmeAwards: [OrganisationAward] = [], in transaction: Transaction
    ) throws -> [String] {
        if let row = try transaction.query("SELECT district, name, locality, role FROM applicants WHERE uscc = ?", [.text(applicant.uscc)]).first {
            let (district, name, locality, role) = (try row.text("district"), try row.text("name"), try row.text("locality"), try row.text("role"))
            if district != applicant.district.rawValue, relocated {
                // Moved in beside a twin the new district registered, the organisation would be
                // registered twice in one district (and funded twice by its own programme).
                if let twin = try registeredTwins(of: applicant.uscc, in: transaction).first(where: { $0.district == applicant.district.rawValue }) {
                    throw Self.twinKnown(applicant.uscc, twin)
                }
                try transaction.query(
                    "UPDATE applicants SET district = ?, name = ?, locality = ?, role = ? WHERE uscc = ?",
                    [.text(applicant.district.rawValue), .text(applicant.name), .text(applicant.locality.rawValue), .text(applicant.role.rawValue),
                     .text(applicant.uscc)])
                try AuditChain.append(
                    AuditEvent("relocate-applicant", [
                        .text("uscc", applicant.uscc), .text("from", district), .text("district", applicant.district.rawValue),
                        .text("role", applicant.role.rawValue), .text("locality", applicant.locality.rawValue),
                    ] + (actor.map(AuditEvent.Field.actor) ?? [])),
                    at: time, in: transaction)
                return try twinWarnings(for: applicant, in: transaction)
            }
            guard district == applicant.district.rawValue else {
                throw SubsidyError(
                    .alreadyExists,
                    "\(applicant.uscc) is registered by \(district); an enterprise is registered once, by the district of its seat",
                    details: [.field(path: "applicant.uscc", problem: "already registered by \(district)")]
                )
            }
            // The same entry again (a retry after a crash between the index and the registry
            // comes here): the same warnings as the first time.
            if name == applicant.name && locality == applicant.locality.rawValue && role == applicant.role.rawValue {
                return try twinWarnings(for: applicant, in: transaction)
            }
            guard replacingUnfinished else {
                throw SubsidyError(.alreadyExists, "applicant \(applicant.uscc) is already registered in \(district) as \(name) (\(role), \(locality))")
            }
            try transaction.query(
                "UPDATE applicants SET name = ?, locality = ?, role = ? WHERE uscc = ?",
                [.text(applicant.name), .text(applicant.locality.rawValue), .text(applicant.role.rawValue), .text(applicant.uscc)])
            try AuditChain.append(
                AuditEvent("reindex-applicant", [
                    .text("uscc", applicant.uscc), .text("district", applicant.district.rawValue), .text("role", applicant.role.rawValue),
                    .text("locality", applicant.locality.rawValue), .text("replaces", "an unfinished registration"),
                    .text("name.before", name), .text("role.before", role), .text("locality.before", locality),
                ]),
                at: time, in: transaction)
            return try twinWarnings(for: applicant, in: transaction)
        }
        // An organisation has one USCC for life (GB 32100). A twin this district registered, or
        // one holding an award, refuses the new code. A twin only another district registered
        // does not: both codes check out, nothing tells which is real, and refused, a district
        // could lock another's enterprise out with a made-up code of its own area. Both are then
        // registered, and only one of them is awarded (``twinRefusal(_:awards:)``).
        let organisation = Self.organisationCode(of: applicant.uscc)
        let awardedElsewhere = programmeAwards.first { Self.organisationCode(of: $0.enterprise) == organisation && $0.enterprise != applicant.uscc }
            .map { OrganisationTwin(uscc: $0.enterprise, district: $0.district, how: .awarded) }
        let twins = try organisationTwins(of: applicant.uscc, in: transaction)
        if let twin = awardedElsewhere ?? twins.first(where: { $0.how != .registered || $0.district == applicant.district.rawValue }) {
            throw Self.twinKnown(applicant.uscc, twin)
        }
        try transaction.query(
            "INSERT INTO applicants (uscc, district, name, locality, role, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [.text(applicant.uscc), .text(applicant.district.rawValue), .text(applicant.name), .text(applicant.locality.rawValue),
             .text(applicant.role.rawValue), .text(time)]
        )
        try AuditChain.append(
            AuditEvent("index-applicant", [
                .text("uscc", applicant.uscc), .text("district", applicant.district.rawValue), .text("role", applicant.role.rawValue),
                .text("locality", applicant.locality.rawValue),
            ] + twins.map { .text("twin", "\($0.uscc) \($0.district)") }),
            at: time, in: transaction
        )
        // Past the refusal above, every twin is one another district registered.
        return twins.map(Self.twinWarning)
    }

    /// ALREADY_EXISTS for registering `uscc` beside `twin` (a twin of the same district, or one awarded).
    private static func twinKnown(_ uscc: String, _ twin: OrganisationTwin) -> SubsidyError {
        SubsidyError(
            .alreadyExists,
            "\(uscc) has the organisation code (主体标识码, positions 9–17) of \(twin.uscc), \(twin.how.rawValue) \(twin.district): "
                + "an organisation has one USCC for life (GB 32100), so one of the two is mistyped or not its code",
            details: [.field(path: "applicant.uscc", problem: "organisation code already known as \(twin.uscc)")]
        )
    }

    /// The warnings of `applicant`'s registration: its twins other districts registered.
    private func twinWarnings(for applicant: ApplicantRecord, in transaction: Transaction) throws -> [String] {
        try registeredTwins(of: applicant.uscc, in: transaction).filter { $0.district != applicant.district.rawValue }.map(Self.twinWarning)
    }

    /// What a clerk is told of a twin another district registered, at registration and filing.
    static func twinWarning(_ twin: OrganisationTwin) -> String {
        "\(twin.uscc) has the same organisation code (主体标识码, positions 9–17) and is registered by \(twin.district): an organisation has "
            + "one USCC for life (GB 32100), so one of the two is mistyped or not its code; only one of them is awarded"
    }

    /// Another USCC with the organisation code of one being registered, awarded or imported.
    struct OrganisationTwin: Sendable, Equatable {
        enum How: String, Sendable {
            case awarded = "awarded in"
            case registered = "registered by"
        }
        var uscc: String
        var district: String
        var how: How
    }

    /// The first other USCC with the organisation code (positions 9–17) of `uscc` — holding a
    /// award in force (``awardedTwin(of:in:)``), else registered in the index: the same
    /// organisation under a second code (see ledger migration 13).
    func organisationTwin(of uscc: String, in transaction: Transaction) throws -> OrganisationTwin? {
        try organisationTwins(of: uscc, in: transaction).first
    }

    /// Every other USCC with the organisation code of `uscc` (a handful at most): those holding a
    /// award in force (an import names enterprises no district registered) first, then those
    /// registered in the index. Found through the `commitments_organisation` and
    /// `applicants_organisation` indexes, whose expressions these must match.
    func organisationTwins(of uscc: String, in transaction: Transaction) throws -> [OrganisationTwin] {
        let awarded = try awardedTwin(of: uscc, in: transaction).map { [$0] } ?? []
        return awarded + (try registeredTwins(of: uscc, in: transaction).filter { twin in !awarded.contains { $0.uscc == twin.uscc } })
    }

    /// The other USCCs with the organisation code of `uscc` registered in the index (a handful at
    /// most), whether or not they hold an award.
    func registeredTwins(of uscc: String, in transaction: Transaction) throws -> [OrganisationTwin] {
        try transaction.query(
            "SELECT uscc, district FROM applicants WHERE substr(uscc, 9, 9) = substr(?1, 9, 9) AND uscc != ?1 ORDER BY uscc LIMIT 10", [.text(uscc)]
        ).map { OrganisationTwin(uscc: try $0.text("uscc"), district: try $0.text("district"), how: .registered) }
    }

    /// Another USCC with the organisation code of `uscc` holding an award in force in the ledger
    /// (the first, by USCC).
    func awardedTwin(of uscc: String, in transaction: Transaction) throws -> OrganisationTwin? {
        try organisationAwards(of: uscc, in: transaction).first { $0.enterprise != uscc }
            .map { OrganisationTwin(uscc: $0.enterprise, district: $0.district, how: .awarded) }
    }

    /// An award in force to a USCC of some organisation code: the ledger's, or a district programme's.
    package struct OrganisationAward: Sendable, Equatable {
        package var enterprise: String
        /// The district it was awarded in (a plan's own awards: "this list").
        package var district: String
        package var applicationID: String
    }

    /// The organisation code of a USCC: positions 9–17.
    static func organisationCode(of uscc: String) -> Substring { uscc.dropFirst(8).prefix(9) }

    /// One award in force of the ledger to each USCC with the organisation code of `uscc` (itself
    /// included), through the `commitments_organisation` index.
    func organisationAwards(of uscc: String, in transaction: Transaction) throws -> [OrganisationAward] {
        try transaction.query(
            // One row per USCC (a handful), however many awards each holds.
            """
            SELECT enterprise, MIN(district) AS district, MIN(application_id) AS application_id FROM commitments
            WHERE substr(enterprise, 9, 9) = substr(?1, 9, 9) AND state IN \(CityLedger.inForce) GROUP BY enterprise ORDER BY enterprise LIMIT 20
            """,
            [.text(uscc)]
        ).map { OrganisationAward(enterprise: try $0.text("enterprise"), district: try $0.text("district"), applicationID: try $0.text("application_id")) }
    }

    /// Why `enterprise` may not be awarded, given the awards in force of its organisation code
    /// everywhere (`awards`: the ledger's and the districts' programmes'), or nil. An organisation
    /// is awarded under one USCC: twins may both be registered (by two districts), but an award to
    /// one while the other holds one would count against caps of its own, and its project (keyed
    /// by USCC) would not be the same content. A pair that both held awards before such codes were
    /// refused keeps them (`subsidyd --check` lists it).
    static func twinRefusal(_ enterprise: String, awards: [OrganisationAward]) -> String? {
        let organisation = organisationCode(of: enterprise)
        let same = awards.filter { organisationCode(of: $0.enterprise) == organisation }
        guard !same.contains(where: { $0.enterprise == enterprise }), let twin = same.first(where: { $0.enterprise != enterprise }) else { return nil }
        return "\(enterprise) has the organisation code (主体标识码, positions 9–17) of \(twin.enterprise), already awarded in \(twin.district) "
            + "(\(twin.applicationID)): an organisation has one USCC for life (GB 32100), and only one of the two is awarded; if \(twin.enterprise) "
            + "is not this enterprise, its awards must be revoked first"
    }

    /// Whether `uscc` itself is known to the ledger: registered, or holding an award in force (a
    /// revoked one does not make a twin's code known).
    func knowsEnterprise(_ uscc: String, in transaction: Transaction) throws -> Bool {
        try !transaction.query(
            """
            SELECT 1 FROM applicants WHERE uscc = ?1
            UNION ALL SELECT 1 FROM commitments
            WHERE substr(enterprise, 9, 9) = substr(?1, 9, 9) AND enterprise = ?1 AND state IN \(CityLedger.inForce) LIMIT 1
            """,
            [.text(uscc)]
        ).isEmpty
    }

    // MARK: Resource pool

    public struct PoolMember: Sendable, Equatable {
        public var uscc: String
        public var name: String
        public var entryDate: String
        public var provincial: Bool
        public var source: String
        public init(uscc: String, name: String, entryDate: String, provincial: Bool, source: String) {
            self.uscc = uscc
            self.name = name
            self.entryDate = entryDate
            self.provincial = provincial
            self.source = source
        }
    }

    /// Registers a Foshan resource-pool member directly (a city decision with its entry date).
    func registerPoolMember(_ member: PoolMember, at time: String, in transaction: Transaction) throws {
        if let existing = try transaction.query("SELECT entry_date FROM pool_members WHERE uscc = ?", [.text(member.uscc)]).first {
            throw SubsidyError(.alreadyExists, "\(member.uscc) is already in the Foshan resource pool since \(try existing.text("entry_date"))")
        }
        try transaction.query(
            "INSERT INTO pool_members (uscc, name, entry_date, provincial, source) VALUES (?, ?, ?, ?, ?)",
            [.text(member.uscc), .text(member.name), .text(member.entryDate), .integer(member.provincial ? 1 : 0), .text(member.source)]
        )
        try AuditChain.append(
            AuditEvent("pool-member", [
                .text("uscc", member.uscc), .text("name", member.name), .text("entry", member.entryDate),
                .integer("provincial", member.provincial ? 1 : 0), .text("source", member.source),
            ]),
            at: time, in: transaction
        )
    }

    /// Pool members after `after` (a USCC, exclusive), in USCC order, at most `limit`.
    public func poolMembers(after: String = "", limit: Int = Int(Int32.max)) async throws -> [PoolMember] {
        try await database.read { transaction in
            try transaction.query(
                "SELECT uscc, name, entry_date, provincial, source FROM pool_members WHERE uscc > ? ORDER BY uscc LIMIT ?",
                [.text(after), .integer(Int64(limit))]
            ).map {
                PoolMember(
                    uscc: try $0.text("uscc"), name: try $0.text("name"), entryDate: try $0.text("entry_date"), provincial: try $0.int("provincial") != 0,
                    source: try $0.text("source"))
            }
        }
    }
}

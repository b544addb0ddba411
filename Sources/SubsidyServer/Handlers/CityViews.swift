import SubsidyCore
import SubsidyStore
import SubsidyWire

/// The city's views across districts — caps, consumers, events, the resource pool, audit — and
/// the import of decisions made before the system existed: the `CityService` methods that are not
/// decisions on one application. Each method has the shape of its `ServiceProtocol` requirement.
struct CityViews: Sendable {
    let programmes: Programmes
    let stores: SubsidyStores
    let events: LedgerEvents

    /// The 2020 policy: the resource pool and imported history belong to it.
    var policy: Policy { programmes.defaultProgramme }

    /// `WatchQuota`: a `GetQuota` reply now and after every ledger change — at most one per
    /// ``watchQuotaInterval``, the changes meanwhile coalesced into the next.
    func watchQuota(
        _ request: Foshan_Subsidy_V1_GetQuotaRequest, writer: ResponseStreamWriter<Foshan_Subsidy_V1_GetQuotaResponse>, context: CallContext
    ) async throws(SubsidyError) {
        for await _ in events.subscribeWithInitial() {
            let snapshot = try await getQuota(request, context: context)
            do { try await writer.write(snapshot) } catch { return }
            // Each snapshot reads every cap on the city's store permits: any tenant's commits
            // (a district's refused request claims and releases its id) must not keep every
            // watcher recomputing back to back.
            do { try await Task.sleep(for: Self.watchQuotaInterval) } catch { return }
        }
    }

    /// The least time between two `WatchQuota` snapshots of one watcher.
    static let watchQuotaInterval = Duration.milliseconds(250)

    func listPoolMembers(_ request: Foshan_Subsidy_V1_ListPoolMembersRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ListPoolMembersResponse {
        let ledger = stores.ledger
        let limit = try pageSize(request.pageSize)
        let after = request.pageToken
        let records = try await StoreCall.run(for: context) { try await ledger.poolMembers(after: after, limit: limit + 1) }
        var response = Foshan_Subsidy_V1_ListPoolMembersResponse()
        (response.members, response.nextPageToken) = try ReplyPage.page(
            of: records, limit: limit, budget: context.listPageBytes, key: \.uscc, Foshan_Subsidy_V1_PoolMember.init)
        return response
    }

    func verifyAudit(_ request: Foshan_Subsidy_V1_VerifyAuditRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_VerifyAuditResponse {
        let stores = self.stores
        var response = Foshan_Subsidy_V1_VerifyAuditResponse()
        let (chains, inconsistencies) = try await StoreCall.run(for: context) {
            // The start-up check, read-only and under the decision lock so no decision is
            // seen half-way; a step still to be completed from the ledger is not a problem.
            let (chains, recovery) = try await stores.inspect(naming: { _, tenant in tenant })
            // Bounded: one line per disagreement, at most 100 (the count is in the last).
            let problems = recovery.inconsistencies.map(\.description)
            return (chains, problems.count <= 100 ? problems : Array(problems.prefix(99)) + ["… and \(problems.count - 99) more; subsidyd --check lists them all"])
        }
        response.chains = chains.map { report in
            var chain = Foshan_Subsidy_V1_AuditChainReport()
            chain.file = report.file
            chain.rows = report.rows
            chain.ok = report.ok
            chain.firstBadRow = report.firstBadRow ?? 0
            chain.problem = report.problem
            return chain
        }
        // One report per disagreement between the ledger and a district (Protos/README.md §7).
        response.chains += inconsistencies.map { problem in
            var chain = Foshan_Subsidy_V1_AuditChainReport()
            chain.file = "consistency"
            chain.ok = false
            chain.problem = problem
            return chain
        }
        return response
    }

    /// `GetQuota`: every cap's use and the largest consumers — the city's programmes from the
    /// ledger, the districts' own from their stores (the city reads them; it does not decide them).
    func getQuota(_ request: Foshan_Subsidy_V1_GetQuotaRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_GetQuotaResponse {
        let query = try QuotaQuery(request, shown: programmes.visible(to: nil), fallback: policy)
        let (ledger, policy, stores, year, top) = (stores.ledger, self.policy, self.stores, query.year, query.top)
        let (totals, providers, enterprises, districts) = try await StoreCall.run(for: context) {
            (
                try await query.totals(stores),
                try await ledger.consumers(by: .provider, fundingYear: year, limit: top),
                try await ledger.consumers(by: .enterprise, fundingYear: year, limit: top),
                try await ledger.consumers(by: .district, fundingYear: year, limit: DistrictID.allCases.count)
            )
        }
        var response = Foshan_Subsidy_V1_GetQuotaResponse()
        response.policyVersion = request.programme.isEmpty ? policy.version : query.shown.map(\.version).joined(separator: ", ")
        query.render(into: &response, totals: totals)
        func consumer(_ kind: String) -> ((id: String, amountFen: Int64, count: Int64)) -> Foshan_Subsidy_V1_Consumer {
            { row in
                var c = Foshan_Subsidy_V1_Consumer()
                c.kind = kind
                c.id = row.id
                c.committedFen = row.amountFen
                c.count = row.count
                return c
            }
        }
        // The largest consumers are the city ledger's: shown unless only a district's programme is.
        guard query.shown.contains(where: { $0.level == .city }) else { return response }
        response.topProviders = providers.map(consumer("provider"))
        response.topEnterprises = enterprises.map(consumer("enterprise"))
        response.districts = districts.map(consumer("district"))
        return response
    }

    func watchEvents(
        _ request: Foshan_Subsidy_V1_WatchEventsRequest, writer: ResponseStreamWriter<Foshan_Subsidy_V1_LedgerEvent>, context: CallContext
    ) async throws(SubsidyError) {
        let ledger = stores.ledger
        if request.fromStart && request.afterSequence != 0 {
            throw .invalidField("request.from_start", "replays from the first event: leave after_sequence 0 with it")
        }
        var after = Int64(clamping: request.afterSequence)
        if after == 0 && !request.fromStart { after = try await StoreCall.run(for: context) { try await ledger.lastEventSequence() } }
        for await _ in events.subscribeWithInitial() {
            while true {
                let from = after
                let batch = try await StoreCall.run(for: context) { try await ledger.events(after: from) }
                for row in batch {
                    var event = Foshan_Subsidy_V1_LedgerEvent()
                    event.sequence = UInt64(row.seq)
                    event.applicationId = row.applicationID
                    event.district = row.district
                    event.state = ApplicationState(rawValue: row.state)?.wire ?? .init(rawValue: 0)
                    event.amountFen = row.amountFen
                    event.at = row.at
                    do { try await writer.write(event) } catch { return }
                    after = row.seq
                }
                // A short batch means the stream has caught up; a full one, that more are waiting.
                if batch.count < CityLedger.eventBatch { break }
            }
        }
    }

    func registerPoolMember(_ request: Foshan_Subsidy_V1_RegisterPoolMemberRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_RegisterPoolMemberResponse {
        let key = try requestKey(request.requestId, context: context, request)
        guard let member = request.member else { throw .invalidField("request.member", "is required") }
        let uscc = try USCC.parse(member.uscc, field: "member.uscc")
        let entry = try parseDate(member.entryDate, field: "member.entry_date")
        try InputLimits.check(entry, field: "member.entry_date")
        let name = try InputLimits.oneLine(member.name, InputLimits.name, field: "member.name")
        // Providers may have joined the pool before the policy began; not after it ended.
        guard entry <= policy.validThrough else {
            throw .invalidField("member.entry_date", "\(entry) is after the policy ended on \(policy.validThrough)")
        }
        let record = CityLedger.PoolMember(uscc: uscc.rawValue, name: name, entryDate: entry.description, provincial: member.provincial, source: "registration")
        let stores = self.stores
        let bytes = try await StoreCall.run(for: context) {
            try await stores.registerPoolMember(record, request: key) { record in
                var response = Foshan_Subsidy_V1_RegisterPoolMemberResponse()
                response.member = Foshan_Subsidy_V1_PoolMember(record)
                return response.serializedBytes()
            }
        }
        return try Foshan_Subsidy_V1_RegisterPoolMemberResponse(serializedBytes: bytes, path: "stored")
    }

    /// Imports decisions made before the system existed, validated like live ones and charged
    /// against the same caps. Each row's id is derived from its content, so re-importing the same
    /// file changes nothing (`already_present`); the reply names each row's id, which
    /// RevokeApplication takes to undo a row imported in error.
    func importHistory(_ request: Foshan_Subsidy_V1_ImportHistoryRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ImportHistoryResponse {
        let key = try requestKey(request.requestId, context: context, request)
        guard !request.awards.isEmpty else { throw .invalidField("request.awards", "is empty") }
        try InputLimits.check(count: request.awards.count, InputLimits.importRows, field: "request.awards")
        var validated: [SubsidyStores.ImportRow] = []
        // Every row is checked before the first refusal is sent: a file of thousands of rows
        // is corrected in one pass (up to rowsReported rows), not one row per run.
        var problems: [SubsidyError] = []
        for (i, award) in request.awards.enumerated() {
            do throws(SubsidyError) {
                validated.append(try importedCommitment(
                    award, path: "request.awards[\(i)]", requestID: key.id, actor: Actor(tenant: context.tenant.id, uid: context.peer.uid)
                ))
            } catch {
                problems.append(error)
                if problems.count == SubsidyError.rowsReported { break }
            }
        }
        guard problems.isEmpty else { throw SubsidyError.rows(problems, more: problems.count == SubsidyError.rowsReported) }
        let (rows, stores) = (validated, self.stores)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.importHistory(rows, request: key) { imported, alreadyPresent, ids in
                var response = Foshan_Subsidy_V1_ImportHistoryResponse()
                response.imported = Int32(imported)
                response.alreadyPresent = Int32(alreadyPresent)
                response.applicationIds = ids
                return response.serializedBytes()
            }
        }
        events.changed()
        return try Foshan_Subsidy_V1_ImportHistoryResponse(serializedBytes: bytes, path: "stored")
    }

    private func importedCommitment(_ award: Foshan_Subsidy_V1_HistoricalAward, path: String, requestID: String, actor: Actor) throws(SubsidyError) -> SubsidyStores.ImportRow {
        let measure = try Measure.required(award.measure, field: "\(path).measure")
        // The city programme it was decided under: its window, years, rules and caps.
        let programmeName = try InputLimits.oneLine(award.programme, field: "\(path).programme")
        let policy = try programmes.programme(programmeName, visibleTo: nil, field: "\(path).programme")
        guard policy.level == .city else {
            throw SubsidyError.precondition(
                "programme",
                "\(path): \(policy.name) is a district's own programme, whose awards live in that district's store: its history is not imported through the city's ledger")
        }
        let grade = try Grade(wire: award.grade, path: "\(path).grade")
        let year: FundingYear
        guard award.fundingYear != 0 else { throw .invalidField("\(path).funding_year", "is required") }
        // A file of thousands of rows: the refusal says which one.
        year = try policy.fundingYear(Int(award.fundingYear), row: "\(path).funding_year")
        guard let district = DistrictID(rawValue: award.district) else {
            throw .invalidField("\(path).district", "unknown district \"\(award.district)\"")
        }
        let enterprise = try USCC.parse(award.enterpriseUscc, field: "\(path).enterprise_uscc")
        let provider = award.providerUscc.isEmpty ? nil : try USCC.parse(award.providerUscc, field: "\(path).provider_uscc")
        guard award.amountFen > 0, award.amountFen <= maximumAwardFen else {
            throw .invalidField("\(path).amount_fen", "must be between 1 and \(maximumAwardFen) fen (got \(award.amountFen))")
        }
        let date = try decisionDate(award.decisionDate, field: "\(path).decision_date")
        // Only the programme's window: an imported row records a decision as it was made (an
        // award dated in the December before its funding year, an advance allocation, included),
        // and a file imported before must import again as already present.
        do { try policy.checkDecisionDate(date) } catch { throw .invalidField("\(path).decision_date", error.message) }
        guard !award.decisionDocument.isEmpty else { throw .invalidField("\(path).decision_document", "is required for an imported decision") }
        var award = award
        award.decisionDocument = try InputLimits.oneLine(award.decisionDocument, InputLimits.decisionDocument, field: "\(path).decision_document")
        award.contractNumber = try InputLimits.oneLine(award.contractNumber, InputLimits.contractNumber, field: "\(path).contract_number")
        award.pilotId = try InputLimits.oneLine(award.pilotId, InputLimits.pilotID, field: "\(path).pilot_id")
        award.projectName = try InputLimits.oneLine(award.projectName, InputLimits.projectName, field: "\(path).project_name")
        try CanonicalText.requireComparable(award.projectName, field: "\(path).project_name", lookalikeLetters: false)
        try CanonicalText.requireComparable(award.contractNumber, field: "\(path).contract_number")
        try CanonicalText.requireComparable(award.pilotId, field: "\(path).pilot_id")
        var selectionDate: CalendarDate?
        if !award.selectionDate.isEmpty {
            let selected = try parseDate(award.selectionDate, field: "\(path).selection_date")
            try InputLimits.check(selected, field: "\(path).selection_date", notAfter: date, latestName: "the decision date")
            selectionDate = selected
        } else if measure == .clusterPilot {
            throw .invalidField("\(path).selection_date", "is required for CLUSTER_PILOT (its follow-on's window runs from it)")
        }
        let application = Application(
            // Without a project name, an imported row's content is its decision: one measure, one pilot.
            measure: measure, fundingYear: year, enterprise: enterprise,
            projectName: CanonicalText(award.projectName).isEmpty
                ? "imported \(measure) \(award.decisionDocument) \(award.pilotId)" : award.projectName,
            contractNumber: award.contractNumber, provider: provider, selectionDate: selectionDate, pilotID: award.pilotId,
            programme: programmeName, grade: grade
        )
        let amount = Money(fen: award.amountFen)
        let rule = try policy.rule(for: measure)
        // A graded recognition counts once per grade: without its grade the row could be counted
        // as neither, or as both.
        if !rule.gradeCeilings.isEmpty {
            guard let ceiling = rule.gradeCeilings[grade] else {
                let graded = Grade.allCases.filter { rule.gradeCeilings[$0] != nil }.map(\.rawValue).joined(separator: " or ")
                throw .invalidField("\(path).grade", "is required for \(measure) of \(policy.name): \(graded)")
            }
            if amount > ceiling { throw .invalidField("\(path).amount_fen", "\(amount) exceeds the \(grade.rawValue) ceiling of \(measure) (\(ceiling))") }
        } else if grade != .none {
            // A grade the measure does not have would only change the row's identity.
            throw .invalidField("\(path).grade", "\(measure) of \(policy.name) is not graded; leave grade empty")
        }
        // An imported decision counts toward every cap of its measure: the import format carries
        // no selection level, and a decided award was within the city's quota when it was made.
        var charges: [CapCharge] = []
        for cap in rule.caps where cap.grades?.contains(grade) ?? true {
            guard let capKey = cap.key(for: application, policyName: policy.name) else {
                // A cap whose subject the row does not name would silently not count it.
                let field = cap.subject == .provider ? "provider_uscc" : cap.subject == .pilot ? "pilot_id" : "enterprise_uscc"
                throw .invalidField("\(path).\(field)", "is required: \(measure) counts against \(cap.id)")
            }
            let isCount = if case .count = cap.limit { true } else { false }
            charges.append(CapCharge(key: capKey, amount: isCount ? .zero : amount, count: 1, limit: cap.limit))
        }
        // The measure's own ceiling: a fixed amount (with the provincial-pool bonus) or a per-project cap.
        let ceiling = rule.amount.map { fixed in rule.provincialPoolBonus.map { Money(fen: fixed.fen + $0.fen) } ?? fixed } ?? rule.perProjectCap
        if let ceiling, amount > ceiling {
            throw .invalidField("\(path).amount_fen", "\(amount) exceeds what \(measure) can award (\(ceiling))")
        }
        // Canonical texts, so a respelled re-import is recognised as already present; a programme
        // after the 2020 one and a grade extend it (a 2020 row's identity is as it always was).
        let identity = [measure.rawValue, String(year.year), district.rawValue, enterprise.rawValue, provider?.rawValue ?? "",
                        String(award.amountFen), date.description, CanonicalText(award.decisionDocument).key,
                        CanonicalText(award.contractNumber).key, application.pilotKey]
            + (policy.name == self.policy.name && grade == .none ? [] : [policy.name, grade.rawValue])
        func importID(_ identity: [String]) -> String {
            CityLedger.importPrefix + String(HexDigest.sha256(Array(identity.joined(separator: "\u{1f}").utf8)).prefix(20))
        }
        let id = importID(identity)
        // The identity under the form before tildes separated (CanonicalText.earlierForms).
        var earlierIdentity = identity
        earlierIdentity[7] = CanonicalText.earlierForms(award.decisionDocument).first ?? identity[7]
        earlierIdentity[8] = CanonicalText.earlierForms(award.contractNumber).first ?? identity[8]
        earlierIdentity[9] = CanonicalText.earlierForms(award.pilotId).first ?? identity[9]
        var fields = CityLedger.CommitmentFields(
                applicationID: id, district: district.rawValue, measure: measure, fundingYear: year.year, enterprise: enterprise.rawValue,
                provider: provider?.rawValue ?? "", pilotID: award.pilotId, contentFingerprint: application.contentFingerprint,
                contentKeys: application.contentKeys, contentTyped: application.contentText.typed, pilotKey: application.pilotKey,
                selectionDate: selectionDate, amount: amount, decisionDate: date, decisionDocument: award.decisionDocument, policyVersion: policy.version,
                explanation: nil, source: .import, requestID: requestID, inProvincialPool: false,
                actor: actor, reason: "imported: \(award.decisionDocument)"
            )
        fields.namesItsContent = !CanonicalText(award.projectName).isEmpty || !CanonicalText(award.contractNumber).isEmpty
        fields.earlierKeys = application.earlierContentKeys
        fields.earlierApplicationID = earlierIdentity == identity ? nil : importID(earlierIdentity)
        fields.stackingBase = try Self.importedBase(award, measure: measure, path: path)
        if !CanonicalText(award.contractNumber).isEmpty {
            var bare = identity
            bare[8] = ""
            fields.idWithoutContract = importID(bare)
        }
        var row = SubsidyStores.ImportRow(fields: fields, charges: charges, policy: policy)
        // A difference award (差额奖励) was paid the difference: with the earlier awards it joins,
        // no more than its grade's ceiling.
        if !rule.differenceOf.isEmpty { row.differenceCeiling = rule.gradeCeilings[grade] }
        return row
    }

    /// What an imported award's rate applied to (`base_fen`), zero when unknown: a rate measure's
    /// only, and no less than the award (no rate exceeds the whole).
    private static func importedBase(_ award: Foshan_Subsidy_V1_HistoricalAward, measure: Measure, path: String) throws(SubsidyError) -> Money {
        guard award.baseFen != 0 else { return .zero }
        guard award.baseFen > 0 else { throw .invalidField("\(path).base_fen", "must be ≥ 0 (got \(award.baseFen))") }
        guard award.baseFen <= Application.maximumAmountFen else {
            throw .invalidField("\(path).base_fen", "must be at most \(Money(fen: Application.maximumAmountFen)) (got \(Money(fen: award.baseFen)))")
        }
        guard case .rate(let kind) = measure.formulaShape else {
            throw .invalidField("\(path).base_fen", "\(measure) awards no rate of an amount: it has no base (leave it 0)")
        }
        // A base binds later filings on the key it belongs to: without it, it would bind nothing.
        if kind == .lowerOfContractAndPaid, CanonicalText(award.contractNumber).isEmpty {
            throw .invalidField("\(path).contract_number", "is required with base_fen: a \(measure) base is its contract's amount")
        }
        if kind != .lowerOfContractAndPaid, CanonicalText(award.projectName).isEmpty {
            throw .invalidField("\(path).project_name", "is required with base_fen: a \(measure) base is its project's")
        }
        guard award.baseFen >= award.amountFen else {
            throw .invalidField("\(path).base_fen", "\(Money(fen: award.baseFen)) is less than the award itself, \(Money(fen: award.amountFen))")
        }
        return Money(fen: award.baseFen)
    }
}

/// The largest single award the ledger accepts (100 million yuan): far above any rule of the
/// policy, far below where sums of awards could overflow 64 bits.
let maximumAwardFen: Int64 = 10_000_000_000

extension Foshan_Subsidy_V1_PoolMember {
    init(_ record: CityLedger.PoolMember) {
        self.init()
        uscc = record.uscc
        name = record.name
        entryDate = record.entryDate
        provincial = record.provincial
        source = record.source
    }
}

extension LedgerEvents {
    /// One signal at once (to send the current state), then one per change — at most one
    /// waiting: a watcher that has not taken the last signal yet sends the state once for any
    /// number of changes since (and a client that stops reading holds nothing more).
    func subscribeWithInitial() -> AsyncStream<Void> {
        let changes = subscribe()
        return AsyncStream(Void.self, bufferingPolicy: .bufferingNewest(1)) { continuation in
            continuation.yield()
            let task = Task {
                for await _ in changes { continuation.yield() }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// What a `GetQuota` asks for, checked: the programmes shown (one, if it names one), the funding
/// year and how many subjects per cap.
struct QuotaQuery {
    let shown: [Policy]
    let year: Int?
    let top: Int

    /// `top`: the most used subjects of each per-subject cap to show (`.max`: all of them).
    init(shown: [Policy], year: Int?, top: Int) {
        self.shown = shown
        self.year = year
        self.top = top
    }

    init(_ request: Foshan_Subsidy_V1_GetQuotaRequest, shown visible: [Policy], fallback: Policy) throws(SubsidyError) {
        var shown = visible
        if !request.programme.isEmpty {
            shown = visible.filter { $0.name == request.programme }
            guard !shown.isEmpty else { throw Programmes.unknown(request.programme, field: "request.programme", among: visible.map(\.name)) }
        }
        let year: Int? = request.fundingYear == 0 ? nil : Int(request.fundingYear)
        if let year, !shown.contains(where: { $0.fundingYears.contains(year) }) {
            _ = try fallback.fundingYear(year)
            throw .invalidField("request.funding_year", "no programme shown has funding year \(year)")
        }
        guard request.top >= 0 else { throw .invalidField("request.top", "must be ≥ 0") }
        self.shown = shown
        self.year = year
        self.top = request.top == 0 ? 5 : min(Int(request.top), 100)
    }

    /// The cap totals of the stores that keep the shown programmes' caps: the ledger's ("city")
    /// and each district programme's own file's (by district id).
    func totals(_ stores: SubsidyStores) async throws -> [String: [CityLedger.CapTotal]] {
        var totals: [String: [CityLedger.CapTotal]] = [:]
        for programme in shown where totals[Self.store(of: programme)] == nil {
            totals[Self.store(of: programme)] =
                switch programme.level {
                case .city: try await stores.ledger.capTotals(scopePrefix: year.map(String.init))
                case .district(let district): try await stores.store(district).programmeTotals()
                }
        }
        return totals
    }

    /// The key of ``totals(_:)`` a programme's caps are under: "city" (the ledger) or its district.
    private static func store(of programme: Policy) -> String {
        switch programme.level {
        case .city: "city"
        case .district(let district): district.rawValue
        }
    }

    /// Every cap of `programmes` whose committed total is above its limit as they set it now: a
    /// limit lowered (by a reload, or an edit made while stopped) below what is already
    /// committed. Nothing more is awarded under such a cap; the operator is told, since the
    /// quota view alone would show it only to whoever looks.
    /// Every subject of a per-subject cap is compared, not the quota view's top few. A
    /// revenue-tiered cap is compared with the tier each subject's awards were charged under
    /// (as the quota view shows it), not with a tier a reload lowered: that needs each subject's
    /// declared revenue, which the totals do not keep.
    static func capsOverLimit(_ programmes: [Policy], stores: SubsidyStores) async throws -> [Foshan_Subsidy_V1_CapStatus] {
        let query = QuotaQuery(shown: programmes, year: nil, top: .max)
        var response = Foshan_Subsidy_V1_GetQuotaResponse()
        query.render(into: &response, totals: try await query.totals(stores))
        return response.caps.filter { $0.committed > $0.limit }
    }

    /// Appends every shown programme's caps, in cap id order, with `totals` (``totals(_:)``):
    /// city-wide caps once per year (or for the programme's life), per-subject caps their `top`
    /// most used subjects and a count of the rest.
    func render(into response: inout Foshan_Subsidy_V1_GetQuotaResponse, totals byStore: [String: [CityLedger.CapTotal]]) {
        let caps = shown.flatMap { programme in programme.caps.map { (programme: programme, cap: $0) } }
        for (programme, cap) in caps.sorted(by: { $0.cap.id < $1.cap.id }) {
            let totals = (byStore[Self.store(of: programme)] ?? []).filter { total in year.map { total.scope == String($0) || total.scope.hasPrefix("\($0)/") } ?? true }
            let years = year.map { programme.fundingYears.contains($0) ? [$0] : [] } ?? Array(programme.fundingYears)
            let unit = if case .count = cap.limit { "count" } else { "fen" }
            let limit: Int64 = switch cap.limit {
            case .amount(let money): money.fen
            case .count(let count): Int64(count)
            }
            func status(scope: String, total: CityLedger.CapTotal?) -> Foshan_Subsidy_V1_CapStatus {
                var s = Foshan_Subsidy_V1_CapStatus()
                s.capId = cap.id
                s.scope = scope
                s.fundingYear = Int32(scope.prefix { $0 != "/" }) ?? 0
                s.unit = unit
                // A revenue-tiered cap: the tier this subject's awards were charged under.
                s.limit = unit == "fen" && !cap.revenueTiers.isEmpty ? (total?.limitFen ?? limit) : limit
                s.count = total?.count ?? 0
                s.committed = unit == "count" ? s.count : (total?.amountFen ?? 0)
                s.remaining = max(0, s.limit - s.committed)
                return s
            }
            if cap.subject == .city {
                let scopes = cap.period == .fundingYear ? years.map(String.init) : [programme.name]
                for scope in scopes {
                    response.caps.append(status(scope: scope, total: totals.first { $0.capID == cap.id && $0.scope == scope }))
                }
            } else {
                // Per-enterprise, per-provider and one-time caps: the subjects closest to theirs.
                let used = totals.filter { $0.capID == cap.id }
                    .sorted { unit == "count" ? $0.count > $1.count : $0.amountFen > $1.amountFen }
                response.caps += used.prefix(top).map { status(scope: $0.scope, total: $0) }
                if used.count > top {
                    var omitted = Foshan_Subsidy_V1_OmittedSubjects()
                    omitted.capId = cap.id
                    omitted.count = Int32(clamping: used.count - top)
                    response.omitted.append(omitted)
                }
            }
        }
    }
}

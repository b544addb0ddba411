import SubsidyCore

/// Decisions a district bureau makes on its own programme's applications (level
/// `district:<id>`): approval against caps in its own file, 公示, payment, revocation and refusal.
/// Each is one transaction of the district's file — the application's state, the commitment, its
/// charges and totals, the history and audit entries and the stored response — so under races the
/// file's single writer makes each cap exact, a retry returns the first response, and a crash
/// leaves the decision whole or absent.
extension SubsidyStores {
    /// 复核 of the district's own programme: the award computed against the district's caps (and
    /// the city's and the other districts' programmes' awards for the same content, for stacking
    /// and double funding) and committed with the approval.
    public func approveOwn(
        _ id: String, as district: DistrictID, decision: DecisionInput, programmes: Programmes, request key: RequestKey, actor: Actor,
        reason: String, respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let store = try owning(id, as: district)
        if let earlier = try await store.replay(key) { return earlier }
        guard let current = try await store.application(id) else { throw SubsidyError(.notFound, "application \(id) does not exist") }
        _ = try Self.districtDecides(current, district: district, programmes: programmes)
        // The city's and the other districts' awards live in other files, read before the
        // district's transaction. The content's locks, which a city approval or another
        // district's approval of the same content also holds across its reads and its write,
        // keep either from committing between the other's read and its write: otherwise both
        // would see nothing and both pay.
        let keys = current.application.contentKeys
        // The organisation's lock too: it is awarded under one USCC, in the ledger or any district's programme.
        let enterprise = current.application.enterprise.rawValue
        return try await underDecisionLock(.keys(Self.contentLocks(keys).union([Self.organisationLock(enterprise)]))) {
            // The other districts' files once, for both questions (under earlier forms' keys too).
            let lookup = current.application.lookupKeys
            let others = try await self.districtProgrammeHoldings(lookup, organisationsOf: [enterprise], except: district)
            let elsewhere = try await self.fundedOutside(district, lookup, districtContent: others.content)
            let ledger = self.ledger
            let organisationAwards = try await ledger.database.lookup { try ledger.organisationAwards(of: enterprise, in: $0) } + others.awards
            return try await store.mutate(key) { transaction, now in
                guard let fresh = try DistrictStore.application(id, in: transaction, district: district) else {
                    throw SubsidyError(.notFound, "application \(id) does not exist")
                }
                _ = try fresh.state.applying(.approve, as: .city)
                // Amended (and recommended again) since it was first read: the city's awards and
                // the locks are those of its old content.
                guard fresh.application.contentKeys == keys, fresh.application.enterprise.rawValue == enterprise else {
                    throw SubsidyError(.aborted, "application \(id) changed while its approval waited; send the approval again")
                }
                let policy = try Self.districtDecides(fresh, district: district, programmes: programmes)
                try fresh.requireDecidable(on: decision.decisionDate, "approval")
                let application = try Self.checked(fresh.application, policy: policy)
                let awards = try DistrictStore.programmeAwards(organisationsOf: [enterprise], district: district, in: transaction) + organisationAwards
                if let refusal = CityLedger.twinRefusal(enterprise, awards: awards) { throw SubsidyError.precondition("applicant", refusal) }
                let usage = DistrictStore.ProgrammeUsage(connection: transaction.connection, elsewhere: elsewhere)
                let award = try AwardCalculator.compute(application: application, policy: policy, usage: usage, decision: decision)
                try store.requireOneRevenueTier(id, award, of: application, rule: try policy.rule(for: application.measure), programme: policy.name, in: transaction)
                try store.commitProgrammeAward(id, award, requestID: key.id, actor: actor, reason: reason, at: now, in: transaction)
                let note = DecisionNote(date: award.decisionDate.description, document: award.decisionDocument ?? "")
                // The state machine's deciding role; the history names the district's bureau as the actor.
                let record = try store.apply(.approve, to: id, actor: actor, role: .city, reason: reason, request: key, decision: note, at: now, in: transaction) {
                    $0.awardedFen = award.award.fen
                    $0.decisionDate = award.decisionDate.description
                    $0.decisionDocument = award.decisionDocument ?? ""
                    $0.explanation = StoredExplanation(award)
                }
                return try respond(record)
            }
        }
    }

    /// 公示 of an award of the district's own programme, for that programme's publicity days.
    public func publicizeOwn(
        _ id: String, as district: DistrictID, on date: CalendarDate, document: String, programmes: Programmes, request key: RequestKey,
        actor: Actor, reason: String, respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await decideOwn(.publicize, id, as: district, programmes: programmes, request: key, actor: actor, reason: reason,
                            decision: DecisionNote(date: date.description, document: document), respond: respond) { record, policy, _ in
            guard date.description >= record.decisionDate else {
                throw SubsidyError.invalidField("request.decision_date", "publicity of \(id) cannot start on \(date), before its approval on \(record.decisionDate)")
            }
            record.publicizedOn = date.description
            record.publicityLastDay = date.adding(days: policy.publicityDays - 1)?.description ?? ""
        }
    }

    /// Payment of an award of the district's own programme: not before its approval nor before
    /// the end of its 公示; the commitment stays counted.
    public func disburseOwn(
        _ id: String, as district: DistrictID, on date: CalendarDate, document: String, programmes: Programmes, request key: RequestKey,
        actor: Actor, reason: String, respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await decideOwn(.disburse, id, as: district, programmes: programmes, request: key, actor: actor, reason: reason,
                            decision: DecisionNote(date: date.description, document: document), respond: respond) { record, policy, transaction in
            if let approved = try? CalendarDate(parsing: record.decisionDate), date < approved {
                throw SubsidyError.invalidField("request.decision_date", "disbursement on \(date) is before the approval of \(id) on \(approved)")
            }
            if let publicized = try? CalendarDate(parsing: record.publicizedOn), let ends = policy.publicityEnds(publicisedOn: publicized), date < ends {
                throw SubsidyError.precondition(
                    "publicity", "the \(policy.publicityDays)-day publicity of \(id) began \(publicized) and ends before \(ends); disburse on or after \(ends)")
            }
            record.disbursedOn = date.description
            try transaction.move(id, to: .disbursed)
        }
    }

    /// Revocation of an award of the district's own programme: its charges leave the district's
    /// totals — after payment, a clawback, only once its recovery is recorded.
    public func revokeOwn(
        _ id: String, as district: DistrictID, on date: CalendarDate?, document: String, programmes: Programmes, request key: RequestKey,
        actor: Actor, reason: String, respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await decideOwn(.revoke, id, as: district, programmes: programmes, request: key, actor: actor, reason: reason,
                            decision: DecisionNote(date: date?.description ?? "", document: document), respond: respond) { record, _, transaction in
            if let date { try record.requireRevocable(on: date) }
            try transaction.move(id, to: .released)
        }
    }

    /// Records that the money of a clawback of the district's own programme came back on `date`:
    /// its commitment is released (its charges leave the totals) and the record gains a
    /// `recover` entry, in one transaction of the district's file.
    public func recordRecoveryOwn(
        _ id: String, as district: DistrictID, on date: CalendarDate, document: String, programmes: Programmes, request key: RequestKey,
        actor: Actor, reason: String, respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await decidingOwn(id, as: district, programmes: programmes, request: key) { store, current, _, transaction, now in
            try current.requireRecoverable(on: date)
            try store.moveProgrammeCommitment(id, to: .released, requestID: key.id, actor: actor, reason: reason, at: now, in: transaction)
            return try respond(
                try store.recordRecovery(
                    id, actor: actor, reason: reason, request: key, decision: DecisionNote(date: date.description, document: document), at: now,
                    in: transaction))
        }
    }

    /// Refusal at the second review of the district's own programme (before approval).
    public func rejectOwn(
        _ id: String, as district: DistrictID, on date: CalendarDate?, document: String, programmes: Programmes, request key: RequestKey,
        actor: Actor, reason: String, respond: @escaping @Sendable (StoredApplication) throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await decideOwn(.cityReject, id, as: district, programmes: programmes, request: key, actor: actor, reason: reason,
                            decision: DecisionNote(date: date?.description ?? "", document: document), respond: respond) { record, _, _ in
            if let date { try record.requireDecidable(on: date, "refusal") }
        }
    }

    /// Registers a member of a district catalogue (idempotent by request id).
    public func registerCatalogueMember(
        catalogue: String, uscc: USCC, name: String, entryDate: CalendarDate, in district: DistrictID, request key: RequestKey, actor: Actor,
        respond: @escaping @Sendable () throws -> [UInt8]
    ) async throws -> [UInt8] {
        let store = self.store(district)
        if let earlier = try await store.replay(key) { return earlier }
        try await requireRoomToGrow(district)
        return try await store.mutate(key) { transaction, now in
            try store.insertCatalogueMember(
                catalogue: catalogue, uscc: uscc, name: name, entryDate: entryDate, requestID: key.id, actor: actor, at: now, in: transaction)
            return try respond()
        }
    }

    /// The programme of `stored`, which must be `district`'s own: the city's programmes are the
    /// city's to decide (PERMISSION_DENIED, naming the programme).
    static func districtDecides(_ stored: StoredApplication, district: DistrictID, programmes: Programmes) throws(SubsidyError) -> Policy {
        let policy = try programmes.programme(for: stored.application)
        guard policy.level == .district(district) else {
            throw SubsidyError(
                .permissionDenied,
                "application \(stored.id) is under programme \(policy.name) (level \(policy.level)); \(district.rawValue) decides only its own programmes")
        }
        return policy
    }

    /// A decision on the district's own programme: one transaction of its file.
    private func decideOwn(
        _ transition: Transition, _ id: String, as district: DistrictID, programmes: Programmes, request key: RequestKey, actor: Actor,
        reason: String, decision: DecisionNote, respond: @escaping @Sendable (StoredApplication) throws -> [UInt8],
        update: @escaping @Sendable (inout StoredApplication, Policy, ProgrammeTransaction) throws -> Void
    ) async throws -> [UInt8] {
        try await decidingOwn(id, as: district, programmes: programmes, request: key) { store, _, policy, transaction, now in
            let programme = ProgrammeTransaction(store: store, transaction: transaction, requestID: key.id, actor: actor, reason: reason, time: now)
            let record = try store.apply(transition, to: id, actor: actor, role: .city, reason: reason, request: key, decision: decision, at: now, in: transaction) {
                try update(&$0, policy, programme)
            }
            return try respond(record)
        }
    }

    /// One decision on an application of the district's own programme: a replay of `key`, or
    /// `body` in one transaction of the district's file with the application read and its
    /// programme checked (``districtDecides(_:district:programmes:)``).
    private func decidingOwn(
        _ id: String, as district: DistrictID, programmes: Programmes, request key: RequestKey,
        _ body: @escaping @Sendable (DistrictStore, StoredApplication, Policy, Transaction, String) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let store = try owning(id, as: district)
        if let earlier = try await store.replay(key) { return earlier }
        return try await store.mutate(key) { transaction, now in
            guard let current = try DistrictStore.application(id, in: transaction, district: district) else {
                throw SubsidyError(.notFound, "application \(id) does not exist")
            }
            return try body(store, current, try Self.districtDecides(current, district: district, programmes: programmes), transaction, now)
        }
    }
}

/// The district file's transaction as a decision's update sees it: it may move the commitment.
struct ProgrammeTransaction {
    let store: DistrictStore
    let transaction: Transaction
    let requestID: String
    let actor: Actor
    let reason: String
    let time: String

    func move(_ id: String, to state: CityLedger.CommitmentState) throws {
        try store.moveProgrammeCommitment(id, to: state, requestID: requestID, actor: actor, reason: reason, at: time, in: transaction)
    }
}

import SubsidyCore
import SubsidyStore
import SubsidyWire
import Synchronization

/// The city bureau's service: the second review (复核) against the ledger, publicity,
/// disbursement, revocation, and every cap across all districts.
struct CityService: Sendable {
    let policy: Policy
    let stores: SubsidyStores
    let events: LedgerEvents
    let faults: FaultPoints

    func register(into router: inout MethodRouter) {
        let city: Set<TenantRole> = [.city]
        router.register(CityServiceMethods.getApplication, roles: city, getApplication)
        router.register(CityServiceMethods.listApplications, roles: city, listApplications)
        router.register(CityServiceMethods.approveApplication, roles: city, approve)
        router.register(CityServiceMethods.rejectApplication, roles: city) { request, context throws(SubsidyError) in
            try await decideInDistrict(.cityReject, request, context)
        }
        router.register(CityServiceMethods.publicizeApplication, roles: city) { request, context throws(SubsidyError) in
            try await decideInDistrict(.publicize, request, context)
        }
        router.register(CityServiceMethods.disburseApplication, roles: city, disburse)
        router.register(CityServiceMethods.revokeApplication, roles: city, revoke)
    }

    @Sendable
    func getApplication(_ request: GetApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> GetApplicationResponse {
        try await ApplicationListing.get(request.applicationId, from: stores.owning(request.applicationId, as: nil), context: context)
    }

    @Sendable
    func listApplications(_ request: ListApplicationsRequest, _ context: CallContext) async throws(SubsidyError) -> ListApplicationsResponse {
        var districts = DistrictID.allCases.map(stores.store)
        if !request.district.isEmpty {
            guard let one = DistrictID(rawValue: request.district) else {
                throw .invalidField("request.district", "unknown district \"\(request.district)\"")
            }
            districts = [stores.store(one)]
        }
        return try await ApplicationListing.list(request, districts: districts, context: context)
    }

    /// 复核: computes the award against the ledger and commits it there, then in the district.
    @Sendable
    func approve(_ request: ApproveApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> ApproveApplicationResponse {
        let key = try requestKey(request.requestId, context: context, request)
        let store = try stores.owning(request.applicationId, as: nil)
        let decisionDate = try parseDate(request.decisionDate, field: "request.decision_date")
        try policy.checkDecisionDate(decisionDate)
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        try InputLimits.check(request.decisionDocument, InputLimits.decisionDocument, field: "request.decision_document")
        guard request.caseAmountFen >= 0, request.caseAmountFen <= maximumAwardFen else {
            throw .invalidField("request.case_amount_fen", "must be between 0 and \(maximumAwardFen) fen (got \(request.caseAmountFen))")
        }
        let decision = DecisionInput(
            decisionDate: decisionDate,
            caseAmount: request.caseAmountFen > 0 ? Money(fen: request.caseAmountFen) : nil,
            decisionDocument: request.decisionDocument.isEmpty ? nil : request.decisionDocument
        )
        let actor = Actor(tenant: context.tenant.id, uid: context.peer.uid)
        let (policy, stores, faults, id) = (self.policy, self.stores, self.faults, request.applicationId)
        let bytes = try await BlockingIO.run(for: context) {
            try stores.decisionLock.withLock { _ -> [UInt8] in
                if let earlier = try store.replay(key) { return earlier }
                _ = try Recovery.reconcile(applicationID: id, ledger: stores.ledger, store: store)
                guard let current = try store.application(id) else { throw SubsidyError(.notFound, "application \(id) does not exist") }
                // Step 1: the ledger. A commitment already there is this approval interrupted
                // by a crash (recovery or a retry completes it); otherwise compute and commit.
                let commitment = try stores.ledger.database.write { transaction -> CityLedger.Commitment in
                    if let existing = try stores.ledger.commitment(for: id, in: transaction), existing.state == "live" || existing.state == "disbursed" {
                        guard existing.requestID == key.id || current.state == .recommended else {
                            throw SubsidyError.precondition("state", "application \(id) is already \(current.state)")
                        }
                        return existing
                    }
                    _ = try current.state.applying(.approve, as: .city)
                    let wire = try WireApplication(serializedBytes: current.content, path: "stored")
                    let application = try CoreApplication(wire: wire, policy: policy, locality: Locality(wire: wire.enterpriseLocality))
                    let award = try AwardCalculator.compute(
                        application: application, policy: policy, usage: stores.ledger.usage(in: transaction), decision: decision
                    )
                    let explanation = AwardExplanation(award).serializedBytes()
                    try stores.ledger.commit(
                        applicationID: id, district: current.district.rawValue, application: application, decision: award,
                        explanation: explanation, requestID: key.id, actor: actor, reason: request.reason, at: Timestamp.now(), in: transaction
                    )
                    return try stores.ledger.commitment(for: id, in: transaction)!
                }
                let position = try stores.ledger.position()
                faults.reach("approve.after-ledger")
                try faults.failIfArmed("approve.after-ledger")
                // Step 2: the district.
                let response = try store.mutate(key) { transaction, now in
                    let record: StoredApplication
                    if current.state == .recommended {
                        record = try store.apply(.approve, to: id, actor: actor, role: .city, reason: request.reason, request: key, at: now, in: transaction) {
                            $0.awardedFen = commitment.amountFen
                            $0.explanation = commitment.explanation
                            $0.decisionDate = commitment.decisionDate
                            $0.decisionDocument = commitment.decisionDocument
                        }
                        try store.recordLedgerPosition(position, at: now, in: transaction)
                    } else {
                        record = current  // recovery already completed this approval
                    }
                    return ApproveApplicationResponse.encoding(record)
                }
                faults.reach("approve.after-district")
                return response
            }
        }
        events.changed()
        return try ApproveApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    /// Revocation releases the commitment in the ledger first (a clawback after disbursement).
    @Sendable
    func revoke(_ request: DecideApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> DecideApplicationResponse {
        guard !request.reason.isEmpty else { throw .invalidField("request.reason", "is required to revoke an award") }
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        return try await decideThroughLedger(.revoke, request, context) { ledger, transaction, id, key, actor, now in
            try ledger.release(applicationID: id, targetState: .revoked, requestID: key.id, actor: actor, reason: request.reason, at: now, in: transaction)
        }
    }

    @Sendable
    func disburse(_ request: DecideApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> DecideApplicationResponse {
        // The validity window bounds approval, not payment: an award approved inside it may be
        // paid (or revoked) after it ends. The date must still be real and follow the approval.
        let date = try parseDate(request.decisionDate, field: "request.decision_date")
        try InputLimits.check(date, field: "request.decision_date")
        let policy = self.policy
        return try await decideThroughLedger(.disburse, request, context, check: { current in
            if let approved = try? CalendarDate(parsing: current.decisionDate), date < approved {
                throw SubsidyError.invalidField("request.decision_date", "disbursement on \(date) is before the approval of \(current.id) on \(approved)")
            }
            // Checked under the decision lock on a fresh read, so a concurrent publicize cannot
            // slip a same-day disbursement past the 公示.
            guard let publicized = try? CalendarDate(parsing: current.publicizedOn), let ends = policy.publicityEnds(publicisedOn: publicized) else { return }
            if date < ends {
                throw SubsidyError.precondition(
                    "publicity", "the \(policy.publicityDays)-day publicity of \(current.id) began \(publicized) and ends before \(ends); disburse on or after \(ends)"
                )
            }
        }) { ledger, transaction, id, key, actor, now in
            try ledger.markDisbursed(applicationID: id, requestID: key.id, actor: actor, reason: request.reason, at: now, in: transaction)
        }
    }

    /// A decision that changes the ledger: ledger first, then the district, under the decision lock.
    private func decideThroughLedger(
        _ transition: Transition, _ request: DecideApplicationRequest, _ context: CallContext,
        check: @escaping @Sendable (StoredApplication) throws -> Void = { _ in },
        ledgerStep: @escaping @Sendable (CityLedger, Transaction, String, RequestKey, Actor, String) throws -> Void
    ) async throws(SubsidyError) -> DecideApplicationResponse {
        let key = try requestKey(request.requestId, context: context, request)
        let store = try stores.owning(request.applicationId, as: nil)
        let actor = Actor(tenant: context.tenant.id, uid: context.peer.uid)
        let (stores, faults, id) = (self.stores, self.faults, request.applicationId)
        let bytes = try await BlockingIO.run(for: context) {
            try stores.decisionLock.withLock { _ -> [UInt8] in
                if let earlier = try store.replay(key) { return earlier }
                _ = try Recovery.reconcile(applicationID: id, ledger: stores.ledger, store: store)
                guard let current = try store.application(id) else { throw SubsidyError(.notFound, "application \(id) does not exist") }
                if current.state == transition.to, current.history.last?.requestID == key.id {
                    // Recovery finished this very request after a crash: answer the retry with it.
                    return try store.mutate(key) { _, _ in
                        return DecideApplicationResponse.encoding(current)
                    }
                }
                _ = try current.state.applying(transition, as: .city)
                try check(current)
                try stores.ledger.database.write { transaction in
                    try ledgerStep(stores.ledger, transaction, id, key, actor, Timestamp.now())
                }
                let position = try stores.ledger.position()
                faults.reach("\(transition).after-ledger")
                return try store.mutate(key) { transaction, now in
                    let record = try store.apply(transition, to: id, actor: actor, role: .city, reason: request.reason, request: key, at: now, in: transaction)
                    try store.recordLedgerPosition(position, at: now, in: transaction)
                    return DecideApplicationResponse.encoding(record)
                }
            }
        }
        events.changed()
        return try DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    /// A decision that touches only the district file (reject before approval, publicity).
    func decideInDistrict(
        _ transition: Transition, _ request: DecideApplicationRequest, _ context: CallContext
    ) async throws(SubsidyError) -> DecideApplicationResponse {
        let key = try requestKey(request.requestId, context: context, request)
        let store = try stores.owning(request.applicationId, as: nil)
        var publicizedOn = ""
        if transition == .publicize {
            // Like payment, the 公示 of an award approved inside the window may run past its end.
            let date = try parseDate(request.decisionDate, field: "request.decision_date")
            try InputLimits.check(date, field: "request.decision_date")
            publicizedOn = date.description
        }
        if transition == .cityReject && request.reason.isEmpty {
            throw .invalidField("request.reason", "is required to reject an application")
        }
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let actor = Actor(tenant: context.tenant.id, uid: context.peer.uid)
        let (stores, id, publicized) = (self.stores, request.applicationId, publicizedOn)
        let bytes = try await BlockingIO.run(for: context) {
            try stores.decisionLock.withLock { _ -> [UInt8] in
                _ = try Recovery.reconcile(applicationID: id, ledger: stores.ledger, store: store)
                return try store.mutate(key) { transaction, now in
                    let record = try store.apply(transition, to: id, actor: actor, role: .city, reason: request.reason, request: key, at: now, in: transaction) {
                        if transition == .publicize {
                            // Publicity follows the decision; a backdated date would shorten the 公示.
                            guard publicized >= $0.decisionDate else {
                                throw SubsidyError.invalidField(
                                    "request.decision_date", "publicity of \(id) cannot start on \(publicized), before its approval on \($0.decisionDate)"
                                )
                            }
                            $0.publicizedOn = publicized
                        }
                    }
                    return DecideApplicationResponse.encoding(record)
                }
            }
        }
        return try DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }
}

import SubsidyCore
import SubsidyStore
import SubsidyWire

/// The city bureau's service: the second review (复核) against the ledger, publicity,
/// disbursement, revocation, and every cap across all districts. Each handler checks and
/// translates its request, then makes one call to the stores, which run the commit protocol.
struct CityService: Sendable {
    let policy: Policy
    let stores: SubsidyStores
    let events: LedgerEvents

    func register(into router: inout MethodRouter) {
        let city: Set<TenantRole> = [.city]
        router.register(CityServiceMethods.getApplication, roles: city, getApplication)
        router.register(CityServiceMethods.listApplications, roles: city, listApplications)
        router.register(CityServiceMethods.approveApplication, roles: city, approve)
        router.register(CityServiceMethods.rejectApplication, roles: city, reject)
        router.register(CityServiceMethods.publicizeApplication, roles: city, publicize)
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

    /// 复核: the award computed against the ledger and committed there, then in the district.
    @Sendable
    func approve(_ request: ApproveApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> ApproveApplicationResponse {
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: nil)
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
        let (stores, policy) = (self.stores, self.policy)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.approve(
                request.applicationId, decision: decision, policy: policy, request: key, actor: context.actor, reason: request.reason,
                respond: { ApproveApplicationResponse.encoding($0) })
        }
        events.changed()
        return try ApproveApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    /// Revocation releases the commitment in the ledger first (a clawback after disbursement).
    @Sendable
    func revoke(_ request: DecideApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> DecideApplicationResponse {
        guard !request.reason.isEmpty else { throw .invalidField("request.reason", "is required to revoke an award") }
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: nil)
        let stores = self.stores
        let bytes = try await StoreCall.run(for: context) {
            try await stores.revoke(request.applicationId, request: key, actor: context.actor, reason: request.reason, respond: { DecideApplicationResponse.encoding($0) })
        }
        events.changed()
        return try DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    @Sendable
    func disburse(_ request: DecideApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> DecideApplicationResponse {
        // The validity window bounds approval, not payment: an award approved inside it may be
        // paid (or revoked) after it ends. The date must still be real and follow the approval.
        let date = try parseDate(request.decisionDate, field: "request.decision_date")
        try InputLimits.check(date, field: "request.decision_date")
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: nil)
        let (stores, policy) = (self.stores, self.policy)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.disburse(
                request.applicationId, on: date, policy: policy, request: key, actor: context.actor, reason: request.reason,
                respond: { DecideApplicationResponse.encoding($0) })
        }
        events.changed()
        return try DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    /// 公示: only the district file changes; like payment, it may run past the validity window.
    @Sendable
    func publicize(_ request: DecideApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> DecideApplicationResponse {
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: nil)
        let date = try parseDate(request.decisionDate, field: "request.decision_date")
        try InputLimits.check(date, field: "request.decision_date")
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let stores = self.stores
        let bytes = try await StoreCall.run(for: context) {
            try await stores.publicize(
                request.applicationId, on: date, request: key, actor: context.actor, reason: request.reason, respond: { DecideApplicationResponse.encoding($0) })
        }
        return try DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    /// The city's refusal at second review, before approval.
    @Sendable
    func reject(_ request: DecideApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> DecideApplicationResponse {
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: nil)
        guard !request.reason.isEmpty else { throw .invalidField("request.reason", "is required to reject an application") }
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let stores = self.stores
        let bytes = try await StoreCall.run(for: context) {
            try await stores.reject(request.applicationId, request: key, actor: context.actor, reason: request.reason, respond: { DecideApplicationResponse.encoding($0) })
        }
        return try DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }
}

extension CallContext {
    /// Who makes a change: the tenant and the peer's uid from SO_PEERCRED.
    var actor: Actor { Actor(tenant: tenant.id, uid: peer.uid) }
}

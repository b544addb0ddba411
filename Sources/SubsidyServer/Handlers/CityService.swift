import SubsidyCore
import SubsidyStore
import SubsidyWire

/// The city bureau's service: the second review (复核) against the ledger, publicity,
/// disbursement, revocation, and every cap across all districts. Each handler checks and
/// translates its request, then makes one call to the stores, which run the commit protocol.
struct CityService: Foshan_Subsidy_V1_CityService.ServiceProtocol {
    let programmes: Programmes
    let stores: SubsidyStores
    let events: LedgerEvents
    /// Single approvals committed together (see ``ApprovalCombiner``).
    let approvals: ApprovalCombiner

    init(programmes: Programmes, stores: SubsidyStores, events: LedgerEvents) {
        self.programmes = programmes
        self.stores = stores
        self.events = events
        approvals = ApprovalCombiner(stores: stores, programmes: programmes)
    }

    /// Also an `import-…` id: the imported award, built from the ledger (ImportHistory's rows
    /// are not any district's applications).
    func getApplication(_ request: Foshan_Subsidy_V1_GetApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_GetApplicationResponse {
        if request.applicationId.hasPrefix(CityLedger.importPrefix) {
            let (ledger, id) = (stores.ledger, request.applicationId)
            guard let award = try await StoreCall.run(for: context, { try await ledger.importedAward(id) }) else {
                throw SubsidyError(.notFound, "imported award \(id) does not exist")
            }
            var response = Foshan_Subsidy_V1_GetApplicationResponse()
            response.record = Foshan_Subsidy_V1_ApplicationRecord(imported: award)
            return response
        }
        return try await ApplicationListing.get(request.applicationId, from: stores.owning(request.applicationId, as: nil), stores: stores, context: context)
    }

    /// The registry, read-only: the applicant from the district that registered it.
    func getApplicant(_ request: Foshan_Subsidy_V1_GetApplicantRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_GetApplicantResponse {
        let uscc = try USCC.parse(request.uscc, field: "request.uscc")
        let stores = self.stores
        let found = try await StoreCall.run(for: context) { () async throws -> (ApplicantRecord, [ApplicantChange])? in
            guard let district = try await stores.ledger.registeringDistrict(of: uscc.rawValue),
                let record = try await stores.store(district).applicant(uscc.rawValue)
            else { return nil }
            return (record, try await stores.store(district).applicantChanges(uscc.rawValue))
        }
        guard let (record, history) = found else { throw SubsidyError(.notFound, "applicant \(uscc.rawValue) is not registered in any district") }
        var response = Foshan_Subsidy_V1_GetApplicantResponse()
        response.applicant = Foshan_Subsidy_V1_Applicant(record)
        response.history = history.map(Foshan_Subsidy_V1_ApplicantChange.init)
        return response
    }

    func listApplications(_ request: Foshan_Subsidy_V1_ListApplicationsRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ListApplicationsResponse {
        var districts = DistrictID.allCases.map(stores.store)
        if !request.district.isEmpty {
            guard let one = DistrictID(rawValue: request.district) else {
                throw .invalidField("request.district", "unknown district \"\(request.district)\"")
            }
            districts = [stores.store(one)]
        }
        return try await ApplicationListing.list(request, districts: districts, stores: stores, context: context)
    }

    /// 复核: the award computed against the ledger and committed there, then in the district.
    func approveApplication(_ request: Foshan_Subsidy_V1_ApproveApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ApproveApplicationResponse {
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: nil)
        let decision = try approvalDecision(
            date: request.decisionDate, document: request.decisionDocument, reason: request.reason, caseAmountFen: request.caseAmountFen)
        let bytes = try await approvals.approve(
            SubsidyStores.Approval(id: request.applicationId, request: key, decision: decision, actor: context.actor, reason: request.reason),
            context: context)
        events.changed()
        return try Foshan_Subsidy_V1_ApproveApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    /// 复核 of a committee's list, or its plan (`plan_only`): each application in the list's order,
    /// each approval idempotent on (request id, application id) and refused on its own.
    func approveApplications(
        _ request: Foshan_Subsidy_V1_ApproveApplicationsRequest, context: CallContext
    ) async throws(SubsidyError) -> Foshan_Subsidy_V1_ApproveApplicationsResponse {
        let ids = request.applicationIds
        guard !ids.isEmpty else { throw .invalidField("request.application_ids", "must name at least one application") }
        try InputLimits.check(count: ids.count, InputLimits.approvalsPerBatch, field: "request.application_ids")
        var listed = Set<String>()
        for (index, id) in ids.enumerated() {
            try InputLimits.check(id, InputLimits.contractNumber, field: "request.application_ids[\(index)]")
            guard listed.insert(id).inserted else { throw .invalidField("request.application_ids[\(index)]", "\(id) is listed twice") }
        }
        // Checked even for a plan, so a plan and its approval are the same request but for the flag.
        try checkRequestID(request.requestId)
        // A plan commits nothing: it may be drawn up for the committee's sitting next week.
        let decision = try approvalDecision(date: request.decisionDate, document: request.decisionDocument, reason: request.reason, planning: request.planOnly)

        var response = Foshan_Subsidy_V1_ApproveApplicationsResponse()
        let (stores, programmes) = (self.stores, self.programmes)
        if request.planOnly {
            let planned = try await StoreCall.run(for: context) { try await stores.planApprovals(ids, decision: decision, programmes: programmes) }
            for (id, result) in zip(ids, planned) {
                response.add(id, result.map { Foshan_Subsidy_V1_AwardExplanation($0) }, enterprise: (try? result.get())?.enterprise.rawValue ?? "")
            }
            return response
        }
        defer { events.changed() }
        // The whole list under its request id: the same id with another list is refused.
        let list = requestKey(checked: request.requestId, context: context, request)
        // Each approval as ApproveApplication would make it, with a request id of its own, so a
        // retried list replays the approvals it already made and makes the rest; the list is
        // committed as one group (`SubsidyStores.approve(_:list:programmes:respond:)`).
        var outcomes = [String: Result<[UInt8], SubsidyError>]()
        var approvals: [SubsidyStores.Approval] = []
        for id in ids {
            var item = Foshan_Subsidy_V1_ApproveApplicationRequest()
            item.applicationId = id
            item.decisionDate = request.decisionDate
            item.decisionDocument = request.decisionDocument
            item.reason = request.reason
            do throws(SubsidyError) {
                _ = try stores.owning(id, as: nil)
                approvals.append(
                    SubsidyStores.Approval(
                        id: id, request: requestKey(checked: request.requestId + "/" + id, context: context, item), decision: decision,
                        actor: context.actor, reason: request.reason))
            } catch {
                outcomes[id] = .failure(error)
            }
        }
        let queued = approvals
        let results = try await StoreCall.run(for: context) {
            try await stores.approve(queued, list: list, programmes: programmes) { try Foshan_Subsidy_V1_ApproveApplicationResponse.encoding($0) }
        }
        for (approval, result) in zip(queued, results) { outcomes[approval.id] = result.mapError(StoreCall.status(of:)) }
        for id in ids {
            do throws(SubsidyError) {
                let bytes = try outcomes[id]!.get()
                let record = try Foshan_Subsidy_V1_ApproveApplicationResponse(serializedBytes: bytes, path: "stored").record
                var explanation = record?.explanation ?? Foshan_Subsidy_V1_AwardExplanation()
                explanation.awardFen = record?.awardedFen ?? explanation.awardFen
                response.add(id, .success(explanation), enterprise: record?.application?.enterpriseUscc ?? "")
            } catch {
                response.add(id, .failure(error), enterprise: "")
            }
        }
        return response
    }

    /// Revocation releases the commitment in the ledger first (a clawback after disbursement). An
    /// imported award (`import-…`) has only its commitment: that is released.
    func revokeApplication(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        guard !CanonicalText(request.reason).isEmpty else { throw .invalidField("request.reason", "is required to revoke an award (blanks and invisible characters alone are not a reason)") }
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let key = try requestKey(request.requestId, context: context, request)
        let date = try optionalDecisionDate(request.decisionDate, field: "request.decision_date")
        let document = try decisionDocument(request)
        let (stores, programmes) = (self.stores, self.programmes)
        if request.applicationId.hasPrefix(CityLedger.importPrefix) {
            let actor = context.actor
            let bytes = try await StoreCall.run(for: context) {
                try await stores.revokeImport(request.applicationId, on: date, document: document, request: key, actor: actor, reason: request.reason) {
                    var response = Foshan_Subsidy_V1_DecideApplicationResponse()
                    response.record = Foshan_Subsidy_V1_ApplicationRecord(revoked: $0, on: date, document: document, request: key.id, actor: actor, reason: request.reason)
                    return response.serializedBytes()
                }
            }
            events.changed()
            return try Foshan_Subsidy_V1_DecideApplicationResponse(serializedBytes: bytes, path: "stored")
        }
        _ = try stores.owning(request.applicationId, as: nil)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.revoke(
                request.applicationId, on: date, document: document, programmes: programmes, request: key, actor: context.actor, reason: request.reason,
                respond: { try Foshan_Subsidy_V1_DecideApplicationResponse.encoding($0) })
        }
        events.changed()
        return try Foshan_Subsidy_V1_DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    /// A clawback's money is back: the award stops counting against its caps (ledger first).
    func recordRecovery(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        let (key, date, document) = try recoveryRequest(request, context: context)
        if request.applicationId.hasPrefix(CityLedger.importPrefix) {
            throw .precondition(
                "state", "\(request.applicationId) is an imported award: it was paid before the system, and revoking it releases it, so it has no clawback to recover")
        }
        _ = try stores.owning(request.applicationId, as: nil)
        let (stores, programmes) = (self.stores, self.programmes)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.recordRecovery(
                request.applicationId, on: date, document: document, programmes: programmes, request: key, actor: context.actor, reason: request.reason,
                respond: { try Foshan_Subsidy_V1_DecideApplicationResponse.encoding($0) })
        }
        events.changed()
        return try Foshan_Subsidy_V1_DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    func disburseApplication(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        // The validity window bounds approval, not payment: an award approved inside it may be
        // paid (or revoked) after it ends. The date must still be real and follow the approval.
        let date = try decisionDate(request.decisionDate, field: "request.decision_date")
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: nil)
        let document = try decisionDocument(request)
        let (stores, programmes) = (self.stores, self.programmes)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.disburse(
                request.applicationId, on: date, document: document, programmes: programmes, request: key, actor: context.actor, reason: request.reason,
                respond: { try Foshan_Subsidy_V1_DecideApplicationResponse.encoding($0) })
        }
        events.changed()
        return try Foshan_Subsidy_V1_DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    /// 公示: only the district file changes; like payment, it may run past the validity window.
    func publicizeApplication(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: nil)
        let date = try decisionDate(request.decisionDate, field: "request.decision_date")
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let document = try decisionDocument(request)
        let (stores, programmes) = (self.stores, self.programmes)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.publicize(
                request.applicationId, on: date, document: document, programmes: programmes, request: key, actor: context.actor, reason: request.reason, respond: { try Foshan_Subsidy_V1_DecideApplicationResponse.encoding($0) })
        }
        return try Foshan_Subsidy_V1_DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    /// The city's refusal at second review, before approval.
    func rejectApplication(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: nil)
        guard !CanonicalText(request.reason).isEmpty else { throw .invalidField("request.reason", "is required to reject an application (blanks and invisible characters alone are not a reason)") }
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let date = try optionalDecisionDate(request.decisionDate, field: "request.decision_date")
        let document = try decisionDocument(request)
        let (stores, programmes) = (self.stores, self.programmes)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.reject(
                request.applicationId, on: date, document: document, programmes: programmes, request: key, actor: context.actor, reason: request.reason,
                respond: { try Foshan_Subsidy_V1_DecideApplicationResponse.encoding($0) })
        }
        return try Foshan_Subsidy_V1_DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }
}

/// What an approval (one, or each of a list) decides: a date inside the validity window, a
/// reason and 文号 within their bounds, and — for case-by-case measures — the amount.
/// `planning`: for a plan, which commits nothing, the date may be still to come.
func approvalDecision(date: String, document: String, reason: String, caseAmountFen: Int64 = 0, planning: Bool = false) throws(SubsidyError) -> DecisionInput {
    // The programme of each application bounds its date (the policy engine checks it there);
    // here only that the date is a plausible one, and (unless planned) not to come.
    let decided = try decisionDate(date, field: "request.decision_date", planned: planning)
    try InputLimits.check(reason, InputLimits.reason, field: "request.reason")
    let document = try InputLimits.oneLine(document, InputLimits.decisionDocument, field: "request.decision_document")
    guard caseAmountFen >= 0, caseAmountFen <= maximumAwardFen else {
        throw .invalidField("request.case_amount_fen", "must be between 0 and \(maximumAwardFen) fen (got \(caseAmountFen))")
    }
    return DecisionInput(
        decisionDate: decided, caseAmount: caseAmountFen > 0 ? Money(fen: caseAmountFen) : nil, decisionDocument: document.isEmpty ? nil : document)
}

/// The decision's document number (文号), checked against its bound and made one line.
func decisionDocument(_ request: Foshan_Subsidy_V1_DecideApplicationRequest) throws(SubsidyError) -> String {
    try InputLimits.oneLine(request.decisionDocument, InputLimits.decisionDocument, field: "request.decision_document")
}

// The city's views and `Quote` answer the rest of the service's methods.
extension CityService {
    private var views: CityViews { CityViews(programmes: programmes, stores: stores, events: events) }

    func quote(_ request: Foshan_Subsidy_V1_QuoteRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_QuoteResponse {
        try await QuoteService(programmes: programmes, stores: stores).quote(request, context: context)
    }

    func getQuota(_ request: Foshan_Subsidy_V1_GetQuotaRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_GetQuotaResponse {
        try await views.getQuota(request, context: context)
    }

    func watchQuota(
        _ request: Foshan_Subsidy_V1_GetQuotaRequest, writer: ResponseStreamWriter<Foshan_Subsidy_V1_GetQuotaResponse>, context: CallContext
    ) async throws(SubsidyError) {
        try await views.watchQuota(request, writer: writer, context: context)
    }

    func watchEvents(
        _ request: Foshan_Subsidy_V1_WatchEventsRequest, writer: ResponseStreamWriter<Foshan_Subsidy_V1_LedgerEvent>, context: CallContext
    ) async throws(SubsidyError) {
        try await views.watchEvents(request, writer: writer, context: context)
    }

    func registerPoolMember(
        _ request: Foshan_Subsidy_V1_RegisterPoolMemberRequest, context: CallContext
    ) async throws(SubsidyError) -> Foshan_Subsidy_V1_RegisterPoolMemberResponse {
        try await views.registerPoolMember(request, context: context)
    }

    func listPoolMembers(
        _ request: Foshan_Subsidy_V1_ListPoolMembersRequest, context: CallContext
    ) async throws(SubsidyError) -> Foshan_Subsidy_V1_ListPoolMembersResponse {
        try await views.listPoolMembers(request, context: context)
    }

    func importHistory(
        _ request: Foshan_Subsidy_V1_ImportHistoryRequest, context: CallContext
    ) async throws(SubsidyError) -> Foshan_Subsidy_V1_ImportHistoryResponse {
        try await views.importHistory(request, context: context)
    }

    func verifyAudit(_ request: Foshan_Subsidy_V1_VerifyAuditRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_VerifyAuditResponse {
        try await views.verifyAudit(request, context: context)
    }
}

extension CallContext {
    /// Who makes a change: the tenant and the peer's uid from SO_PEERCRED.
    var actor: Actor { Actor(tenant: tenant.id, uid: peer.uid) }
}

extension Foshan_Subsidy_V1_ApproveApplicationsResponse {
    /// Records the outcome for `id`: its award and binding limit, or why it was (would be) refused.
    fileprivate mutating func add(_ id: String, _ result: Result<Foshan_Subsidy_V1_AwardExplanation, SubsidyError>, enterprise: String) {
        var outcome = Foshan_Subsidy_V1_ApprovalOutcome()
        outcome.applicationId = id
        outcome.district = String(id.prefix { $0 != "-" })
        outcome.enterpriseUscc = enterprise
        switch result {
        case .success(let explanation):
            outcome.status = Foshan_Subsidy_V1_Status()
            outcome.awardFen = explanation.awardFen
            outcome.formulaFen = explanation.formulaFen
            if let binding = explanation.limits.first(where: \.binding) {
                outcome.bindingCap = binding.capId.isEmpty ? binding.kind : binding.capId
                outcome.bindingScope = binding.scope
            }
            approved += 1
            totalAwardFen += explanation.awardFen
        case .failure(let error):
            outcome.status = Foshan_Subsidy_V1_Status(error)
            if let cap = outcome.status?.capViolations.first {
                outcome.bindingCap = cap.capId
                outcome.bindingScope = cap.scope
            }
            refused += 1
        }
        outcomes.append(outcome)
    }
}

import SubsidyCore
import SubsidyStore
import SubsidyWire

/// `foshan.subsidy.v1.DistrictProgrammes`: a district bureau deciding its own programme's
/// applications against caps in its own store, with the city's messages and rules. Each handler
/// checks and translates its request, then makes one call to the stores.
struct DistrictProgrammesService: Foshan_Subsidy_V1_DistrictProgrammes.ServiceProtocol {
    let programmes: Programmes
    let stores: SubsidyStores
    let events: LedgerEvents

    func approveApplication(_ request: Foshan_Subsidy_V1_ApproveApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ApproveApplicationResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: district)
        let decision = try approvalDecision(
            date: request.decisionDate, document: request.decisionDocument, reason: request.reason, caseAmountFen: request.caseAmountFen)
        let (stores, programmes) = (self.stores, self.programmes)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.approveOwn(
                request.applicationId, as: district, decision: decision, programmes: programmes, request: key, actor: context.actor,
                reason: request.reason, respond: { try Foshan_Subsidy_V1_ApproveApplicationResponse.encoding($0) })
        }
        events.changed()
        return try Foshan_Subsidy_V1_ApproveApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    func rejectApplication(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        guard !CanonicalText(request.reason).isEmpty else { throw .invalidField("request.reason", "is required to reject an application (blanks and invisible characters alone are not a reason)") }
        let (district, key, date, document) = try checked(request, context: context, dateRequired: false)
        let (stores, programmes) = (self.stores, self.programmes)
        return try await decided(context) {
            try await stores.rejectOwn(
                request.applicationId, as: district, on: date, document: document, programmes: programmes, request: key, actor: context.actor,
                reason: request.reason, respond: { try Foshan_Subsidy_V1_DecideApplicationResponse.encoding($0) })
        }
    }

    func publicizeApplication(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        let (district, key, date, document) = try checked(request, context: context, dateRequired: true)
        let (stores, programmes) = (self.stores, self.programmes)
        return try await decided(context) {
            try await stores.publicizeOwn(
                request.applicationId, as: district, on: date!, document: document, programmes: programmes, request: key, actor: context.actor,
                reason: request.reason, respond: { try Foshan_Subsidy_V1_DecideApplicationResponse.encoding($0) })
        }
    }

    func disburseApplication(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        let (district, key, date, document) = try checked(request, context: context, dateRequired: true)
        let (stores, programmes) = (self.stores, self.programmes)
        return try await decided(context) {
            try await stores.disburseOwn(
                request.applicationId, as: district, on: date!, document: document, programmes: programmes, request: key, actor: context.actor,
                reason: request.reason, respond: { try Foshan_Subsidy_V1_DecideApplicationResponse.encoding($0) })
        }
    }

    func revokeApplication(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        guard !CanonicalText(request.reason).isEmpty else { throw .invalidField("request.reason", "is required to revoke an award (blanks and invisible characters alone are not a reason)") }
        let (district, key, date, document) = try checked(request, context: context, dateRequired: false)
        let (stores, programmes) = (self.stores, self.programmes)
        return try await decided(context) {
            try await stores.revokeOwn(
                request.applicationId, as: district, on: date, document: document, programmes: programmes, request: key, actor: context.actor,
                reason: request.reason, respond: { try Foshan_Subsidy_V1_DecideApplicationResponse.encoding($0) })
        }
    }

    /// A clawback's money is back: the award of the district's own programme stops counting
    /// against its caps.
    func recordRecovery(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        let district = try context.requireDistrict()
        let (key, date, document) = try recoveryRequest(request, context: context)
        _ = try stores.owning(request.applicationId, as: district)
        let (stores, programmes) = (self.stores, self.programmes)
        return try await decided(context) {
            try await stores.recordRecoveryOwn(
                request.applicationId, as: district, on: date, document: document, programmes: programmes, request: key, actor: context.actor,
                reason: request.reason, respond: { try Foshan_Subsidy_V1_DecideApplicationResponse.encoding($0) })
        }
    }

    func registerCatalogueMember(
        _ request: Foshan_Subsidy_V1_RegisterCatalogueMemberRequest, context: CallContext
    ) async throws(SubsidyError) -> Foshan_Subsidy_V1_RegisterCatalogueMemberResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        // Only a catalogue one of the district's own programmes names: a typo must not open a new one.
        let catalogues = Set(programmes.visible(to: district).filter { $0.level == .district(district) }.flatMap { $0.rules.values.compactMap(\.catalogue) })
        guard catalogues.contains(request.catalogue) else {
            throw .invalidField(
                "request.catalogue",
                "unknown catalogue '\(request.catalogue)' (\(district.rawValue)'s programmes name: \(catalogues.sorted().joined(separator: ", ")))")
        }
        let uscc = try USCC.parse(request.uscc, field: "request.uscc")
        let name = try InputLimits.oneLine(request.name, InputLimits.name, field: "request.name")
        let entry = try parseDate(request.entryDate, field: "request.entry_date")
        try InputLimits.check(entry, field: "request.entry_date")
        let stores = self.stores
        let bytes = try await StoreCall.run(for: context) {
            try await stores.registerCatalogueMember(
                catalogue: request.catalogue, uscc: uscc, name: name, entryDate: entry, in: district, request: key, actor: context.actor
            ) {
                var response = Foshan_Subsidy_V1_RegisterCatalogueMemberResponse()
                response.catalogue = request.catalogue
                response.uscc = uscc.rawValue
                response.entryDate = entry.description
                return response.serializedBytes()
            }
        }
        return try Foshan_Subsidy_V1_RegisterCatalogueMemberResponse(serializedBytes: bytes, path: "stored")
    }

    /// The caps of the district's own programmes, from its store.
    func getQuota(_ request: Foshan_Subsidy_V1_GetQuotaRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_GetQuotaResponse {
        let district = try context.requireDistrict()
        let own = programmes.visible(to: district).filter { $0.level == .district(district) }
        guard !own.isEmpty else {
            throw SubsidyError.precondition("programme", "\(district.rawValue) runs no programme of its own")
        }
        let query = try QuotaQuery(request, shown: own, fallback: own[0])
        let stores = self.stores
        let totals = try await StoreCall.run(for: context) { try await query.totals(stores) }
        var response = Foshan_Subsidy_V1_GetQuotaResponse()
        response.policyVersion = own.map(\.version).joined(separator: ", ")
        query.render(into: &response, totals: totals)
        return response
    }

    /// The district, request key, date and 文号 of a decision request.
    private func checked(
        _ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext, dateRequired: Bool
    ) throws(SubsidyError) -> (DistrictID, RequestKey, CalendarDate?, String) {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: district)
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let date = dateRequired ? try decisionDate(request.decisionDate, field: "request.decision_date") : try optionalDecisionDate(request.decisionDate, field: "request.decision_date")
        return (district, key, date, try decisionDocument(request))
    }

    private func decided(
        _ context: CallContext, _ body: @escaping @Sendable () async throws -> [UInt8]
    ) async throws(SubsidyError) -> Foshan_Subsidy_V1_DecideApplicationResponse {
        let bytes = try await StoreCall.run(for: context, body)
        events.changed()
        return try Foshan_Subsidy_V1_DecideApplicationResponse(serializedBytes: bytes, path: "stored")
    }
}

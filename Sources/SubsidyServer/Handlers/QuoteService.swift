import SubsidyCore
import SubsidyStore
import SubsidyWire

/// `Quote`: the policy engine run as a dry run against live city-wide usage. Nothing is written.
struct QuoteService: Sendable {
    let programmes: Programmes
    let stores: SubsidyStores

    /// `Quote` of both `DistrictService` and `CityService`: a district quotes for its own
    /// applicants, the city for any.
    func quote(_ request: Foshan_Subsidy_V1_QuoteRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_QuoteResponse {
        let caller = context.tenant.district
        let requestedDate = request.decisionDate.isEmpty ? nil : try parseDate(request.decisionDate, field: "request.decision_date")
        _ = try InputLimits.oneLine(request.decisionDocument, InputLimits.decisionDocument, field: "request.decision_document")
        // The bound approval applies: a quote approval would refuse is no quote.
        guard request.caseAmountFen >= 0, request.caseAmountFen <= maximumAwardFen else {
            throw .invalidField("request.case_amount_fen", "must be between 0 and \(maximumAwardFen) fen (got \(request.caseAmountFen))")
        }
        let (programmes, stores) = (self.programmes, self.stores)
        let application: Application
        let policy: Policy
        switch (request.application, request.applicationId.isEmpty) {
        case (.some, false):
            throw .invalidField("request.application_id", "give either application or application_id, not both")
        case (nil, true):
            throw .invalidField("request.application", "give an application to pre-check, or the application_id of a stored one")
        case (.some(var wire), true):
            if let caller {
                // A district quotes only for its own registered applicants.
                (application, _, policy) = try await checkedApplication(&wire, district: caller, stores: stores, programmes: programmes, context: context)
            } else {
                policy = try programmes.programmeForFiling(wire.programme, by: nil, on: Clock.today())
                application = try Application(wire: wire, policy: policy, locality: nil)
            }
        case (nil, false):
            let id = request.applicationId
            (application, policy) = try await StoreCall.run(for: context) {
                try await stores.storedApplication(id, as: caller, programmes: programmes, decidedOn: requestedDate)
            }
        }
        // Undated, the quote is as of the programme's last day.
        let decision = DecisionInput(
            decisionDate: requestedDate ?? policy.validThrough,
            caseAmount: request.caseAmountFen > 0 ? Money(fen: request.caseAmountFen) : nil,
            decisionDocument: request.decisionDocument.isEmpty ? nil : request.decisionDocument
        )
        let award = try await StoreCall.run(for: context) { try await stores.quote(application, policy: policy, decision: decision) }
        var response = Foshan_Subsidy_V1_QuoteResponse()
        response.explanation = Foshan_Subsidy_V1_AwardExplanation(award)
        return response
    }
}

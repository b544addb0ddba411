import SubsidyCore
import SubsidyWire

/// `foshan.subsidy.v1.Programmes`: the programmes in force, as the caller may see them — a
/// district the city's and its own, the city every one.
struct ProgrammesService: Foshan_Subsidy_V1_Programmes.ServiceProtocol {
    let programmes: Programmes

    func listProgrammes(_ request: Foshan_Subsidy_V1_ListProgrammesRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ListProgrammesResponse {
        let today = Clock.today()
        var response = Foshan_Subsidy_V1_ListProgrammesResponse()
        response.programmes = programmes.visible(to: context.tenant.district).map { policy in
            var programme = Foshan_Subsidy_V1_Programme()
            programme.name = policy.name
            programme.title = policy.title
            programme.issuer = policy.issuer
            programme.level = policy.level.description
            programme.state = policy.state(on: today)
            programme.validFrom = policy.validFrom.description
            programme.validThrough = policy.validThrough.description
            programme.firstFundingYear = Int32(policy.fundingYears.lowerBound)
            programme.lastFundingYear = Int32(policy.fundingYears.upperBound)
            programme.measures = Measure.allCases.filter { policy.rules[$0] != nil }.map(\.wire)
            programme.version = policy.version
            programme.isDefault = policy.name == programmes.defaultProgramme.name
            programme.retiredOn = policy.retiredOn?.description ?? ""
            return programme
        }
        return response
    }
}

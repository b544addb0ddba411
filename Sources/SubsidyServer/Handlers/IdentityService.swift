import SubsidyCore
import SubsidyWire

/// `foshan.subsidy.v1.Identity`: who the daemon resolved the caller to (tenant, role, credentials).
struct IdentityService: Foshan_Subsidy_V1_Identity.ServiceProtocol {
    let policyVersion: String

    func whoAmI(_ request: Foshan_Subsidy_V1_WhoAmIRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_WhoAmIResponse {
        identity(of: context)
    }

    /// WhoAmI's answer, synchronously (it is served inline).
    func identity(of context: CallContext) -> Foshan_Subsidy_V1_WhoAmIResponse {
        var response = Foshan_Subsidy_V1_WhoAmIResponse()
        response.tenant = context.tenant.id
        response.displayName = context.tenant.displayName
        response.role = context.tenant.role == .city ? .city : .district
        response.uid = context.peer.uid
        response.gid = context.peer.gid
        response.pid = context.peer.pid
        response.serverVersion = FoundationServices.serverVersion
        response.policyVersion = policyVersion
        return response
    }
}

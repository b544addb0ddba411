import Logging
import SubsidyCore
import SubsidyStore

/// What a handler knows about the call it serves. The tenant comes from the socket and the
/// kernel's peer credentials, never from the request.
public struct CallContext: Sendable {
    public var tenant: Tenant
    public var peer: PeerCredentials
    public var method: String
    public var metadata: [String: String]
    public var logger: Logger
    /// The tenant's share of blocking store work and the connection's reply room; see
    /// `StoreCall.run(for:_:)`.
    var blockingWork: BlockingWorkAdmission
    /// Byte budget of one list page (`ServerConfiguration.Limits.listPageBytes`).
    var listPageBytes: Int
    /// Applications a text search looks at per district in one call
    /// (`ServerConfiguration.Limits.searchScanRows`).
    var searchScanRows = ApplicationFilter.defaultTextScanRows
    /// Where `StoreCall` records store latency; nil where no metrics are kept (handler tests).
    var metrics: DaemonMetrics? = nil
    /// The day the bureaus' calendar is pinned to for this call (`subsidyd --today`, or metadata
    /// `x-today` to a `--dev` daemon), nil for Foshan's real day. Only rehearsals and tests pin it.
    public var pinnedToday: CalendarDate? = nil

    /// The caller's district, or PERMISSION_DENIED for the city (which has none).
    public func requireDistrict() throws(SubsidyError) -> DistrictID {
        guard let district = tenant.district else {
            throw SubsidyError(.permissionDenied, "\(method) is a district operation; tenant \(tenant.id) is not a district")
        }
        return district
    }
}

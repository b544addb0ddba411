/// Where `subsidyd --dev --data-dir DIR` puts each tenant's socket; shared by the daemon and
/// `subsidyctl --data-dir DIR --as TENANT` so the two cannot disagree.
public enum DevelopmentLayout {
    public static let cityTenant = "city"

    public static func socketPath(dataDirectory: String, tenant: String) -> String {
        tenant == cityTenant
            ? "\(dataDirectory)/sockets/city.sock"
            : "\(dataDirectory)/sockets/district/\(tenant).sock"
    }
}

import Foundation

/// A `subsidyd --config` file for tests: every path under a fresh temporary directory, the
/// current user allowed everywhere unless a test says otherwise, limits as the test needs them.
public struct DaemonConfiguration: Sendable {
    /// Holds `data/`, `run/` (the sockets) and the file itself; mode 0755 so that tests running
    /// clients as other users can reach the sockets (their modes decide the rest).
    public let baseDirectory: String
    /// `[limits]` keys and values, e.g. `["idle_timeout_ms": 1_000]`.
    public var limits: [String: Int] = [:]
    public var socketMode = "0600"
    public var socketGroup: UInt32?
    /// `socket_group` per tenant, overriding ``socketGroup``.
    public var socketGroups: [String: UInt32] = [:]
    /// Allowed uids per tenant; a tenant missing here allows the current user.
    public var allowedUIDs: [String: [UInt32]] = [:]
    /// Allowed gids per tenant.
    public var allowedGIDs: [String: [UInt32]] = [:]
    /// `[relocations]`: USCC → district.
    public var relocations: [String: String] = [:]
    /// `policy = …`: a policy file instead of the embedded policy.
    public var policyPath: String?
    /// Further top-level lines, e.g. `metrics_textfile = "…"` or `log_format = "json"`.
    public var extraRootLines: [String] = []

    public init() {
        baseDirectory = DaemonProcess.makeTemporaryDirectory()
        chmod(baseDirectory, 0o755)
    }

    public var dataDirectory: String { baseDirectory + "/data" }
    public var runtimeDirectory: String { baseDirectory + "/run" }
    public var path: String { baseDirectory + "/subsidyd.toml" }

    public func socketPath(_ tenant: String) -> String {
        tenant == "city" ? runtimeDirectory + "/city.sock" : runtimeDirectory + "/district/\(tenant).sock"
    }

    public func rendered() -> String {
        var text = """
            data_dir = "\(dataDirectory)"
            runtime_dir = "\(runtimeDirectory)"
            runtime_dir_mode = "0755"

            """
        if let policyPath { text += "policy = \"\(policyPath)\"\n" }
        for line in extraRootLines { text += line + "\n" }
        text += "\n[limits]\n"
        // No free-disk reserve unless a test sets one: a test machine's disk may be nearly full,
        // and the tests that are not about it must not depend on how full.
        for (key, value) in limits.merging(["min_free_disk_bytes": 0], uniquingKeysWith: { set, _ in set }).sorted(by: { $0.key < $1.key }) {
            text += "\(key) = \(value)\n"
        }
        let names = ["chancheng": "禅城区", "nanhai": "南海区", "shunde": "顺德区", "gaoming": "高明区", "sanshui": "三水区", "city": "佛山市"]
        for tenant in DaemonProcess.tenants {
            let uids = allowedUIDs[tenant] ?? (allowedGIDs[tenant] == nil ? [getuid()] : [])
            let gids = allowedGIDs[tenant] ?? []
            text += """

                [\(tenant == "city" ? "city" : "district." + tenant)]
                display_name = "\(names[tenant]!)"
                socket = "\(tenant == "city" ? "city.sock" : "district/\(tenant).sock")"
                socket_mode = "\(socketMode)"
                allowed_uids = [\(uids.map(String.init).joined(separator: ", "))]
                allowed_gids = [\(gids.map(String.init).joined(separator: ", "))]

                """
            if let group = socketGroups[tenant] ?? socketGroup { text += "socket_group = \(group)\n" }
        }
        if !relocations.isEmpty {
            text += "\n[relocations]\n"
            for (uscc, district) in relocations.sorted(by: { $0.key < $1.key }) { text += "\(uscc) = \"\(district)\"\n" }
        }
        return text
    }

    /// Writes the file and returns its path.
    public func write() throws -> String {
        try rendered().write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

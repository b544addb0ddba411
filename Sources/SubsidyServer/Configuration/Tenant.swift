import SubsidyCore

/// What a caller may do: a district bureau works on its own applications; the city decides.
public enum TenantRole: String, Sendable, Hashable {
    case district
    case city
}

/// One listening socket and who may connect to it.
///
/// The tenant of a connection is the socket it arrived on, and the kernel's SO_PEERCRED for the
/// peer must be allowed here too; nothing in a request can change it.
public struct Tenant: Sendable, Hashable {
    /// `nanhai`, …, or `city`.
    public var id: String

    /// Its table in the configuration file, `[district.nanhai]` or `[city]`, as warnings name it.
    public static func tableName(of id: String) -> String { id == "city" ? "[city]" : "[district.\(id)]" }
    /// `南海区`, …, or `佛山市`.
    public var displayName: String
    public var role: TenantRole
    public var socketPath: String
    /// The socket file's permission bits, applied at creation (e.g. `0o660`).
    public var socketMode: UInt32
    /// Group that owns the socket file, or nil to keep the daemon's.
    public var socketGroup: UInt32?
    public var allowedUIDs: Set<UInt32>
    public var allowedGIDs: Set<UInt32>

    public init(
        id: String, displayName: String, role: TenantRole, socketPath: String, socketMode: UInt32 = 0o600,
        socketGroup: UInt32? = nil, allowedUIDs: Set<UInt32>, allowedGIDs: Set<UInt32> = []
    ) {
        self.id = id
        self.displayName = displayName
        self.role = role
        self.socketPath = socketPath
        self.socketMode = socketMode
        self.socketGroup = socketGroup
        self.allowedUIDs = allowedUIDs
        self.allowedGIDs = allowedGIDs
    }

    /// The district this tenant is, if it is one.
    public var district: DistrictID? { role == .district ? DistrictID(rawValue: id) : nil }

    /// Whether a peer with these credentials may use this tenant's socket.
    public func admits(_ peer: PeerCredentials) -> Bool {
        allowedUIDs.contains(peer.uid) || allowedGIDs.contains(peer.gid)
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension SocketFiles {
    /// Whether this process may hand a socket file it owns to `group`: chown(2) allows it for
    /// root (CAP_CHOWN) and, for anyone else, only for the effective group or a supplementary one.
    /// The systemd unit runs the daemon as `subsidyd` with every bureau group as a supplementary
    /// group (`SupplementaryGroups=`), so no root and no capability is needed.
    static func mayAssignGroup(_ group: UInt32) -> Bool {
        if geteuid() == 0 || getegid() == group { return true }
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return filled > 0 && groups.prefix(Int(filled)).contains(group)
    }

    /// The configuration key of a tenant's `socket_group`, for error messages.
    static func socketGroupKey(of tenant: Tenant) -> String {
        tenant.id == "city" ? "city.socket_group" : "district.\(tenant.id).socket_group"
    }
}

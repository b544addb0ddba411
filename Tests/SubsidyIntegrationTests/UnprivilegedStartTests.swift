import Foundation
import SubsidyTestSupport
import Testing

/// The daemon started as the systemd unit starts it — a non-root uid whose only privilege is the
/// bureau groups as supplementary groups (`SupplementaryGroups=`) — hands every socket to its
/// bureau's group and serves bureau peers running as their own uids. Needs root to switch users
/// (CI runs as root).
@Suite("non-root start with the bureau groups", .serialized, .enabled(if: getuid() == 0, "switching users needs root"))
struct UnprivilegedStartTests {
    /// Ids no account on a CI machine uses.
    static let daemonUID: UInt32 = 64_000
    static let groups: [String: UInt32] = [
        "city": 64_100, "chancheng": 64_101, "nanhai": 64_102, "shunde": 64_103, "gaoming": 64_104, "sanshui": 64_105,
    ]
    static let setpriv = "/usr/bin/setpriv"

    /// A bureau clerk: its own uid, its bureau's group as primary group and no other.
    static func asClerk(of tenant: String, _ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
        let gid = groups[tenant]!
        return try await run(
            setpriv, ["--reuid=\(gid + 100)", "--regid=\(gid)", "--clear-groups", DaemonProcess.productsDirectory + "/subsidyctl"] + arguments)
    }

    @Test("as uid 64000 with the six bureau groups: sockets owned by each bureau's group, each bureau served as its own uid")
    func unprivilegedDaemonServesBureaus() async throws {
        var configuration = DaemonConfiguration()
        defer { try? FileManager.default.removeItem(atPath: configuration.baseDirectory) }
        configuration.socketMode = "0660"
        configuration.socketGroups = Self.groups
        configuration.allowedGIDs = Self.groups.mapValues { [$0] }
        // The test itself (root) polls Health until the daemon serves.
        configuration.allowedUIDs = Self.groups.mapValues { _ in [0] }
        // The daemon's own directory, as StateDirectory= would give it.
        #expect(chown(configuration.baseDirectory, Self.daemonUID, Self.daemonUID) == 0)

        let supplementary = DaemonProcess.tenants.map { String(Self.groups[$0]!) }.joined(separator: ",")
        let daemon = try await DaemonProcess.start(
            configuration: configuration,
            launcher: [Self.setpriv, "--reuid=\(Self.daemonUID)", "--regid=\(Self.daemonUID)", "--groups=\(supplementary)", "--no-new-privs"])

        let status = try String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/status", encoding: .utf8)
        #expect(status.contains("Uid:\t\(Self.daemonUID)\t\(Self.daemonUID)"), "the daemon runs unprivileged")
        #expect(status.contains("CapEff:\t0000000000000000"), "with no capability")

        for tenant in DaemonProcess.tenants {
            let path = configuration.socketPath(tenant)
            var file = stat()
            #expect(stat(path, &file) == 0)
            #expect(file.st_uid == Self.daemonUID && file.st_gid == Self.groups[tenant]!, "\(path) owned by the daemon and group \(Self.groups[tenant]!)")
            #expect(file.st_mode & 0o777 == 0o660)

            let me = try await Self.asClerk(of: tenant, ["--socket", path, "whoami"])
            #expect(me.status == 0, "\(tenant): \(me.error)")
            #expect(me.output.contains("tenant:  \(tenant) "), "\(me.output)")
            #expect(me.output.contains("uid \(Self.groups[tenant]! + 100) gid \(Self.groups[tenant]!)"), "\(me.output)")
        }
        // The kernel keeps another bureau's clerk off the socket (mode 0660, not their group).
        let crossing = try await Self.asClerk(of: "shunde", ["--socket", configuration.socketPath("nanhai"), "whoami"])
        #expect(crossing.status != 0)

        #expect(await daemon.terminate() == 0, "\(daemon.log())")
    }

    @Test("without the bureau groups the daemon refuses to start, naming the socket_group and SupplementaryGroups=")
    func missingGroupsAreNamed() async throws {
        var configuration = DaemonConfiguration()
        defer { try? FileManager.default.removeItem(atPath: configuration.baseDirectory) }
        configuration.socketMode = "0660"
        configuration.socketGroups = Self.groups
        configuration.allowedGIDs = Self.groups.mapValues { [$0] }
        #expect(chown(configuration.baseDirectory, Self.daemonUID, Self.daemonUID) == 0)
        let path = try configuration.write()
        let started = try await run(
            Self.setpriv,
            ["--reuid=\(Self.daemonUID)", "--regid=\(Self.daemonUID)", "--clear-groups", DaemonProcess.productsDirectory + "/subsidyd", "--config", path])
        #expect(started.status != 0)
        #expect(started.error.contains("socket_group"), "\(started.error)")
        #expect(started.error.contains("SupplementaryGroups="), "\(started.error)")
        for tenant in DaemonProcess.tenants { #expect(!FileManager.default.fileExists(atPath: configuration.socketPath(tenant))) }
    }
}

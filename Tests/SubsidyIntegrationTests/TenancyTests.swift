import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// Identity from the kernel: real peers with other uids, run with `setpriv`, against a daemon
/// started from a configuration file. CI runs as root; elsewhere these skip with the reason.
@Suite("tenancy from the kernel")
struct TenancyTests {
    static let canSwitchUsers = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
    static let nobody: UInt32 = 65_534
    static let stranger: UInt32 = 12_345

    /// Sockets 0660 owned by group 65534 (nogroup), so the kernel lets uid 65534 and members of
    /// gid 65534 reach them; the daemon then decides by SO_PEERCRED.
    static func configuration() -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.socketMode = "0660"
        configuration.socketGroup = nobody
        configuration.allowedUIDs = ["nanhai": [0, nobody], "shunde": [0], "gaoming": [0], "chancheng": [0], "sanshui": [0], "city": [0]]
        configuration.allowedGIDs = ["gaoming": [nobody]]
        return configuration
    }

    /// Runs subsidyctl as `uid`/`gid` with no supplementary groups. The binary is copied beside
    /// the sockets so the other user can execute it wherever the build directory lives.
    static func runCtl(as uid: UInt32, gid: UInt32, _ arguments: [String], in directory: String) async throws -> (status: Int32, output: String, error: String) {
        let copy = directory + "/subsidyctl"
        if !FileManager.default.fileExists(atPath: copy) {
            try FileManager.default.copyItem(atPath: DaemonProcess.productsDirectory + "/subsidyctl", toPath: copy)
            chmod(copy, 0o755)
        }
        return try await run("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", copy] + arguments)
    }

    @Test("a listed uid is served as itself; an unlisted uid is refused before any frame and logged", .enabled(if: canSwitchUsers, "needs root and setpriv to run clients as other users"))
    func listedAndUnlistedUIDs() async throws {
        let configuration = Self.configuration()
        try await withDaemon(configuration: configuration) { daemon in

            let served = try await Self.runCtl(as: Self.nobody, gid: Self.nobody, ["--socket", daemon.socketPath("nanhai"), "--json", "whoami"], in: configuration.baseDirectory)
            #expect(served.status == 0, "\(served.error)")
            let me = try JSONValue.parse(served.output)
            #expect(me["tenant"] == .string("nanhai"))
            #expect(me["uid"] == .number("\(Self.nobody)"))
            #expect(me["gid"] == .number("\(Self.nobody)"))

            // Same user, a socket whose tenant does not list it: the kernel lets it connect (group
            // bits), the daemon reads SO_PEERCRED and closes without reading a byte.
            let refused = try await Self.runCtl(as: Self.nobody, gid: Self.nobody, ["--socket", daemon.socketPath("shunde"), "whoami"], in: configuration.baseDirectory)
            #expect(refused.status == 24, "UNAVAILABLE is exit 10 + 14")
            #expect(refused.error.contains("UNAVAILABLE"), "\(refused.error)")
            #expect(refused.error.contains("uid \(Self.nobody)") && refused.error.contains("allowed_uids"), "says who was refused and why: \(refused.error)")
            await eventually { daemon.log().contains("refused peer not allowed on this socket") }
            let refusal = daemon.log().split(separator: "\n").first { $0.contains("refused peer not allowed on this socket") }
            let line = try #require(refusal, "no refusal logged:\n\(daemon.log())")
            #expect(line.contains("peer.uid=\(Self.nobody)"))
            #expect(line.contains("peer.pid="))
            #expect(line.contains("tenant.id=shunde"))

            // Root (the test itself) is listed on shunde and still served there.
            let client = try await daemon.client("shunde")
            #expect(try await client.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest()).uid == 0)
        }
    }

    @Test("a peer is admitted by its primary gid when its uid is not listed", .enabled(if: canSwitchUsers, "needs root and setpriv to run clients as other users"))
    func admittedByGID() async throws {
        let configuration = Self.configuration()
        try await withDaemon(configuration: configuration) { daemon in
            let served = try await Self.runCtl(as: Self.stranger, gid: Self.nobody, ["--socket", daemon.socketPath("gaoming"), "--json", "whoami"], in: configuration.baseDirectory)
            #expect(served.status == 0, "\(served.error)")
            let me = try JSONValue.parse(served.output)
            #expect(me["tenant"] == .string("gaoming"))
            #expect(me["uid"] == .number("\(Self.stranger)"))
            // The same uid and gid on nanhai (which lists uids only) is refused.
            let refused = try await Self.runCtl(as: Self.stranger, gid: Self.nobody, ["--socket", daemon.socketPath("nanhai"), "whoami"], in: configuration.baseDirectory)
            #expect(refused.status == 24, "UNAVAILABLE is exit 10 + 14")
        }
    }

    @Test("a user outside the socket's group cannot even connect: the file mode is enforced by the kernel", .enabled(if: canSwitchUsers, "needs root and setpriv to run clients as other users"))
    func socketModeKeepsOthersOut() async throws {
        let configuration = Self.configuration()
        try await withDaemon(configuration: configuration) { daemon in
            let before = daemon.log().components(separatedBy: "refused peer").count
            let result = try await Self.runCtl(as: Self.stranger, gid: Self.stranger, ["--socket", daemon.socketPath("nanhai"), "whoami"], in: configuration.baseDirectory)
            #expect(result.status == 24, "UNAVAILABLE is exit 10 + 14")
            #expect(result.error.contains("not in the socket's group"), "says what to change: \(result.error)")
            // Refused by connect(2) itself (EACCES): the daemon never saw it. Nothing to poll for
            // in a negative, so a fixed wait gives a log line that was coming time to appear.
            try await Task.sleep(for: .milliseconds(100))
            #expect(daemon.log().components(separatedBy: "refused peer").count == before)
        }
    }

    @Test("sockets appear with the configured mode and group, and no staging directory is left behind", .enabled(if: getuid() == 0, "chown to another group needs root"))
    func socketModeAndGroup() async throws {
        let configuration = Self.configuration()
        try await withDaemon(configuration: configuration) { daemon in
            for tenant in DaemonProcess.tenants {
                var info = stat()
                #expect(lstat(daemon.socketPath(tenant), &info) == 0)
                #expect(info.st_mode & S_IFMT == S_IFSOCK)
                #expect(info.st_mode & 0o7777 == 0o660, "\(tenant): mode \(String(info.st_mode & 0o7777, radix: 8))")
                #expect(info.st_gid == Self.nobody)
            }
            for directory in [configuration.runtimeDirectory, configuration.runtimeDirectory + "/district"] {
                let entries = try FileManager.default.contentsOfDirectory(atPath: directory)
                #expect(!entries.contains { $0.hasPrefix(".s") }, "staging left in \(directory): \(entries)")
            }
            var runtime = stat()
            #expect(stat(configuration.runtimeDirectory, &runtime) == 0)
            #expect(runtime.st_mode & 0o777 == 0o755)
        }
    }

    @Test("a second daemon on the same configuration refuses to start; the first keeps serving")
    func secondDaemonRefuses() async throws {
        let configuration = DaemonConfiguration()
        try await withDaemon(configuration: configuration) { daemon in
            let second = try await run(DaemonProcess.productsDirectory + "/subsidyd", ["--config", configuration.path])
            #expect(second.status != 0)
            #expect(second.error.contains("lock"))
            // Another data directory on the same sockets: refused by the live socket, after its
            // stores were opened; the log says why, and not that the stop could not be recorded.
            let other = configuration.baseDirectory + "/other.toml"
            try configuration.rendered().replacingOccurrences(of: "data_dir = \"\(configuration.dataDirectory)\"", with: "data_dir = \"\(configuration.baseDirectory)/other-data\"")
                .write(toFile: other, atomically: false, encoding: .utf8)
            let third = try await run(DaemonProcess.productsDirectory + "/subsidyd", ["--config", other])
            #expect(third.status != 0 && third.error.contains("another process is serving on this socket"), "\(third.error)")
            #expect(!third.error.contains("CancellationError") && !third.error.contains("could not record"), "\(third.error)")
            let client = try await daemon.client("city")
            #expect(try await client.call(Foshan_Subsidy_V1_Health.Method.check, Foshan_Subsidy_V1_HealthCheckRequest()).status == .serving)
        }
    }
}

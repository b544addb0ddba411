import Foundation
import SubsidyServer
import SubsidyTestSupport
import Testing

/// Every kind of configuration mistake, through the loader `subsidyd --check-config` runs (and the
/// programme files the configuration names), in-process: each is refused naming its key (and line).
/// The real-daemon suite checks the binary's exit status and stderr on a few of them.
@Suite("configuration check in-process")
struct ConfigurationCheckTests {
    /// What `--check-config` would print after "subsidyd: configuration error: ", or nil if `text` passes.
    static func problem(_ text: String) throws -> String? {
        let directory = DaemonProcess.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/subsidyd.toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let configuration: ServerConfiguration
        do { configuration = try ServerConfiguration.load(path: path) } catch { return "\(error)" }
        guard let policy = configuration.policyPath else { return nil }
        do { _ = try SubsidyServices.loadProgrammes(path: policy) } catch { return "policy: \(error)" }
        return nil
    }

    @Test("two programme files declaring one name are refused naming both files")
    func duplicateProgrammeName() throws {
        let directory = DaemonProcess.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Deploy/policy/foshan-2020.toml").path
        for name in ["a.toml", "b.toml"] { try FileManager.default.copyItem(atPath: shipped, toPath: directory + "/" + name) }
        let refused = #expect(throws: (any Error).self) { try SubsidyServices.loadProgrammes(path: directory) }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("\(directory)/b.toml") && "\(refused.map { "\($0)" } ?? "")".contains("as \(directory)/a.toml does"),
                "\(String(describing: refused))")
    }

    @Test("the base configuration passes, also as Notepad saves it (a byte-order mark, CRLF)")
    func base() throws {
        #expect(try Self.problem(ConfigurationSamples.valid) == nil)
        #expect(try Self.problem("\u{FEFF}" + ConfigurationSamples.valid.replacingOccurrences(of: "\n", with: "\r\n")) == nil)
    }

    @Test("an account named in allowed_uids or allowed_gids that no longer exists is left out with a warning, not refused: one clerk's userdel must not stop six tenants")
    func deletedAccounts() throws {
        let directory = DaemonProcess.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/subsidyd.toml"
        let text = ConfigurationSamples.valid.replacingOccurrences(of: "allowed_uids = [\"root\", 1001]", with: "allowed_uids = [\"root\", \"nh-clerk-left\", 1001]")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let configuration = try ServerConfiguration.load(path: path)
        let nanhai = try #require(configuration.tenants.first { $0.id == "nanhai" })
        #expect(nanhai.allowedUIDs == [0, 1001])
        #expect(configuration.warnings.filter { !$0.contains("(root) is allowed") } == ["\(path):18: district.nanhai.allowed_uids: unknown user 'nh-clerk-left' left out (no such account)"],
                "\(configuration.warnings)")
        // The sample allows root on several tenants, as a test machine does: said, not refused.
        #expect(configuration.warnings.contains("uid 0 (root) is allowed on [district.nanhai], [district.shunde], [district.gaoming], [district.sanshui], [city]: do not allow it in production (Deploy/README.md)"),
                "\(configuration.warnings)")
        #expect(configuration.warnings.contains { $0.hasPrefix("gid 0 (root) is allowed on [district.chancheng]") }, "\(configuration.warnings)")
        // Every account it named gone: that tenant serves nobody, the others go on.
        try ConfigurationSamples.valid.replacingOccurrences(of: "allowed_uids = [\"root\", 1001]", with: "allowed_uids = [\"nh-clerk-left\"]")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let alone = try ServerConfiguration.load(path: path)
        #expect(alone.tenants.first { $0.id == "nanhai" }?.allowedUIDs.isEmpty == true && alone.tenants.count == 6)
        #expect(alone.warnings.contains { $0.hasSuffix("district.nanhai.allowed_uids: no account it names exists, so nobody can use [district.nanhai] until one does") },
                "\(alone.warnings)")
        // A list that names nobody at all is still a mistake (ConfigurationSamples.mistakes: "nobody allowed").
    }

    @Test("each kind of mistake is refused naming the key", arguments: ConfigurationSamples.mistakes)
    func mistake(name: String, text: String, expected: String) throws {
        let problem = try Self.problem(text)
        #expect(problem?.contains(expected) == true, "\(name): \(problem ?? "accepted")")
    }
}

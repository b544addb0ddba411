import Foundation
import SubsidyTestSupport
import Testing

/// `subsidyd --check-config`: every kind of mistake exits non-zero naming the key (and line); the
/// shipped Deploy/subsidyd.toml passes.
@Suite("configuration file")
struct ConfigurationFileTests {
    /// Writes `text` to a fresh file and runs `subsidyd --check-config --config` on it.
    static func check(_ text: String) async throws -> (status: Int32, output: String, error: String) {
        let directory = DaemonProcess.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/subsidyd.toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try await run(DaemonProcess.productsDirectory + "/subsidyd", ["--check-config", "--config", path])
    }

    @Test("the test's base configuration and the shipped Deploy/subsidyd.toml pass")
    func validFiles() async throws {
        let base = try await Self.check(ConfigurationSamples.valid)
        #expect(base.status == 0, "\(base.error)")
        #expect(base.output.contains("OK"))

        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Deploy/subsidyd.toml").path
        let result = try await run(DaemonProcess.productsDirectory + "/subsidyd", ["--check-config", "--config", shipped])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("nanhai /run/subsidyd/district/nanhai.sock"))
    }

    /// Every kind of mistake is checked in-process (SubsidyServerTests.ConfigurationCheckTests);
    /// here, that the binary turns one into exit status 1 and a message on stderr naming the key
    /// and line, with nothing on stdout.
    @Test("a mistake exits non-zero naming the key and line on stderr", arguments: ConfigurationSamples.mistakes.filter { $0.0 == "duplicate socket" || $0.0 == "policy file that does not exist" })
    func mistake(name: String, text: String, expected: String) async throws {
        let result = try await Self.check(text)
        #expect(result.status == 1, "\(name): exit \(result.status)")
        #expect(result.error.hasPrefix("subsidyd: configuration error: ") && result.error.contains(expected), "\(name): \(result.error)")
        #expect(result.output.isEmpty)
    }

    @Test("a missing configuration file, and --dev with --config, are refused")
    func missingFileAndConflicts() async throws {
        let missing = try await run(DaemonProcess.productsDirectory + "/subsidyd", ["--check-config", "--config", "/nonexistent/subsidyd.toml"])
        #expect(missing.status == 1)
        #expect(missing.error.contains("/nonexistent/subsidyd.toml: cannot open"))
        let conflict = try await run(DaemonProcess.productsDirectory + "/subsidyd", ["--dev", "--config", "/nonexistent/subsidyd.toml"])
        #expect(conflict.status != 0)
        #expect(conflict.error.contains("--dev"))
    }

    @Test("a policy file named by the configuration is parsed by --check-config")
    func policyChecked() async throws {
        let directory = DaemonProcess.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let policy = directory + "/foshan-2020.toml"
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Deploy/policy/foshan-2020.toml").path
        try FileManager.default.copyItem(atPath: shipped, toPath: policy)
        let good = try await Self.check(ConfigurationSamples.replacing("runtime_dir = \"/run/subsidyd-test\"", with: "runtime_dir = \"/run/subsidyd-test\"\npolicy = \"\(policy)\""))
        #expect(good.status == 0, "\(good.error)")
        try "[policy]\ntitle = 1\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let bad = try await Self.check(ConfigurationSamples.replacing("runtime_dir = \"/run/subsidyd-test\"", with: "runtime_dir = \"/run/subsidyd-test\"\npolicy = \"\(policy)\""))
        #expect(bad.status == 1)
        #expect(bad.error.contains("/foshan-2020.toml:2: policy.title"), "the file, line and key: \(bad.error)")
    }
}

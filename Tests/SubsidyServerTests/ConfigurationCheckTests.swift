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

    @Test("the base configuration passes")
    func base() throws {
        #expect(try Self.problem(ConfigurationSamples.valid) == nil)
    }

    @Test("each kind of mistake is refused naming the key", arguments: ConfigurationSamples.mistakes)
    func mistake(name: String, text: String, expected: String) throws {
        let problem = try Self.problem(text)
        #expect(problem?.contains(expected) == true, "\(name): \(problem ?? "accepted")")
    }
}

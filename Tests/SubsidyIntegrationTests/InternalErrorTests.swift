import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// Storage failures reach clients as INTERNAL with an error id and nothing else; the daemon
/// logs the cause under the same id (issue 8 §5).
@Suite("internal errors")
struct InternalErrorTests {
    /// Words of SQL, schema and SQLite's own messages that must never reach a client.
    static let leaks = ["SELECT", "INSERT", "UPDATE", "FROM", "SQLite", "sqlite", "no such table", "applicants", "ledger", "fault", "storage"]

    /// The error id in an INTERNAL message, or nil if the message is not exactly the redacted form.
    static func errorID(_ message: String) -> String? {
        let prefix = "internal error; error id "
        guard message.hasPrefix(prefix) else { return nil }
        let id = String(message.dropFirst(prefix.count))
        return id.count == 16 && id.allSatisfy(\.isHexDigit) ? id : nil
    }

    @Test("a real SQL failure (a district table dropped under the daemon) reaches the client as an error id only")
    func sqlFailure() async throws {
        let daemon = try await DaemonProcess.start()
        defer { try? FileManager.default.removeItem(atPath: daemon.dataDirectory) }
        let nanhai = Bureau(try await daemon.client("nanhai"))
        try await nanhai.register(TestData.uscc(4201))
        try ReadOnlyDatabase.execute(path: daemon.dataDirectory + "/districts/nanhai.sqlite", "DROP TABLE applicants")
        // Both a read and a write: every path through the stores is redacted.
        var list = Foshan_Subsidy_V1_ListApplicantsRequest()
        list.pageSize = 10
        let listed = await #expect(throws: SubsidyError.self) { try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.listApplicants, list) }
        let registered = await #expect(throws: SubsidyError.self) { try await nanhai.register(TestData.uscc(4202)) }
        var ids: [String] = []
        for error in [listed, registered] {
            let error = try #require(error)
            #expect(error.code == .internal)
            let id = try #require(Self.errorID(error.message), "not redacted: \(error.message)")
            for word in Self.leaks { #expect(!error.message.contains(word), "\(word) leaked: \(error.message)") }
            ids.append(id)
        }
        #expect(Set(ids).count == 2, "each failure gets its own id")
        #expect(await daemon.terminate() == 0)
        let log = daemon.log()
        for id in ids {
            let line = try #require(log.split(separator: "\n").first { $0.contains("error id \(id)") }, "\(id) not in the log:\n\(log)")
            #expect(line.contains("error") && line.contains("no such table: applicants"), "\(line)")
        }
    }

    @Test("a storage failure in the commit protocol (test fault hook) is redacted and logged with its id")
    func faultHook() async throws {
        let daemon = try await DaemonProcess.start(environment: ["SUBSIDYD_CRASH_AT": "fail:approve.after-ledger"])
        defer { try? FileManager.default.removeItem(atPath: daemon.dataDirectory) }
        let city = Bureau(try await daemon.client("city"))
        let provider = TestData.uscc(4300)
        try await city.pool(provider)
        let nanhai = Bureau(try await daemon.client("nanhai"))
        try await nanhai.register(TestData.uscc(4301))
        let id = try await nanhai.file(TestData.voucher(enterprise: TestData.uscc(4301), provider: provider, contractFen: 20_000_000, contract: "E-1"))
        let failed = try #require(await #expect(throws: SubsidyError.self) { try await city.approve(id) })
        #expect(failed.code == .internal)
        let errorID = try #require(Self.errorID(failed.message), "not redacted: \(failed.message)")
        #expect(failed.details.isEmpty)
        #expect(await daemon.terminate() == 0)
        #expect(daemon.log().contains("internal error; error id \(errorID): test fault at approve.after-ledger"), "\(daemon.log())")
    }
}

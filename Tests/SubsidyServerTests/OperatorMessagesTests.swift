import Logging
import SubsidyCore
import Synchronization
import Testing

@testable import SubsidyServer
@testable import SubsidyStore

/// The lines a logger was given, for the tests that are about log lines.
private final class Captured: Sendable {
    let lines = Mutex<[String]>([])

    struct Handler: LogHandler {
        let captured: Captured
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            captured.lines.withLock { $0.append("\(event.level) \(event.message)") }
        }
    }
}

@Suite("storage refusals reach the operator's log")
struct StorageRefusalLogTests {
    @Test("a write that finds the disk full is logged once for a burst of them, with the SQLite error; the caller's status is unchanged")
    func diskFull() {
        let captured = Captured()
        let logger = Logger(label: "test") { _ in Captured.Handler(captured: captured) }
        let full = SQLiteError(code: 13, message: "database or disk is full (/srv/subsidyd/districts/nanhai.sqlite)", sql: nil)
        let refusal = StoreCall.status(of: full)
        #expect(refusal.code == .resourceExhausted)
        for _ in 0..<3 {
            #expect(refusal.redactingInternal(logger: logger).message == refusal.message, "the caller's message is not redacted")
        }
        let lines = captured.lines.withLock { $0 }
        #expect(lines == ["warning storage refusal: a write found the disk full: SQLite error 13: database or disk is full (/srv/subsidyd/districts/nanhai.sqlite)"], "\(lines)")
    }

    @Test("after its interval, the next refusal of a kind is logged with how many were not; another kind is logged at once")
    func throttled() async throws {
        let captured = Captured()
        let logger = Logger(label: "test") { _ in Captured.Handler(captured: captured) }
        let log = StorageRefusalLog(interval: .milliseconds(200))
        for _ in 0..<4 { log.note("min_free_disk_bytes", "below the reserve", logger: logger) }
        log.note("max_district_file_bytes:nanhai", "nanhai at its limit", logger: logger)
        try await Task.sleep(for: .milliseconds(250))
        log.note("min_free_disk_bytes", "below the reserve", logger: logger)
        let lines = captured.lines.withLock { $0 }
        #expect(
            lines == [
                "warning storage refusal: below the reserve", "warning storage refusal: nanhai at its limit",
                "warning storage refusal: below the reserve (3 more since the last such line)",
            ], "\(lines)")
    }
}

@Suite("the metrics textfile's failures name the file configured")
struct MetricsTextfileFailureTests {
    @Test("a textfile directory that is missing is named by the file configured and the reason in words, not a temporary name and an errno")
    func missingDirectory() throws {
        let path = "/tmp/subsidyd-no-such-directory-\(UInt64.random(in: 1...UInt64.max))/subsidyd.prom"
        let error = #expect(throws: ServerError.self) { try MetricsTextfileWriter.write("subsidyd_up 1\n", to: path) }
        #expect(error?.description == "\(path): cannot create (No such file or directory)", "\(String(describing: error))")
    }
}

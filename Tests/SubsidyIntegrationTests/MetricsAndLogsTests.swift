import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// Metrics from the real daemon — `subsidyctl admin metrics` and the node_exporter textfile —
/// and its structured log lines.
@Suite("metrics and logs", .serialized)
struct MetricsAndLogsTests {
    static let provider = TestData.uscc(5000)
    static let buyer = TestData.uscc(5001)

    /// The value of the first sample line starting with `series` (name and labels as written).
    static func sample(_ text: String, _ series: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test("calls, latencies, connections and cap usage per cap and year, over subsidyctl and in the textfile; JSON log lines carry the call")
    func metricsAndJSONLogs() async throws {
        var configuration = DaemonConfiguration()
        defer { try? FileManager.default.removeItem(atPath: configuration.baseDirectory) }
        let textfileDirectory = configuration.baseDirectory + "/node-exporter"
        try FileManager.default.createDirectory(atPath: textfileDirectory, withIntermediateDirectories: false)
        let textfile = textfileDirectory + "/subsidyd.prom"
        configuration.extraRootLines = ["metrics_textfile = \"\(textfile)\"", "metrics_interval_ms = 1000", "log_format = \"json\""]
        let daemon = try await DaemonProcess.start(configuration: configuration)

        let city = Bureau(try await daemon.client("city"))
        try await city.pool(Self.provider)
        let nanhai = Bureau(try await daemon.client("nanhai"))
        try await nanhai.register(Self.buyer)
        let id = try await nanhai.file(TestData.voucher(enterprise: Self.buyer, provider: Self.provider, contractFen: 120_000_000, contract: "M-1"))
        let approved = try await city.approve(id)
        #expect(approved.state == .approved)
        _ = try await nanhai.client.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest())

        let shown = try await runCtl(["--socket", configuration.socketPath("city"), "admin", "metrics"])
        #expect(shown.status == 0, "\(shown.error)")
        let text = shown.output
        #expect(Self.sample(text, #"subsidyd_calls_total{method="/foshan.subsidy.v1.Identity/WhoAmI",tenant="nanhai",code="OK"}"#) == 1, "\(text)")
        #expect((Self.sample(text, #"subsidyd_calls_total{method="/foshan.subsidy.v1.CityService/ApproveApplication",tenant="city",code="OK"}"#) ?? 0) >= 1)
        #expect(text.contains(#"subsidyd_call_duration_seconds_bucket{method="/foshan.subsidy.v1.CityService/ApproveApplication",tenant="city",le="#))
        #expect(text.contains(#"subsidyd_store_call_duration_seconds_count{method="/foshan.subsidy.v1.CityService/ApproveApplication"}"#))
        #expect((Self.sample(text, #"subsidyd_connections_open{tenant="nanhai"}"#) ?? 0) >= 1)
        // The award committed against the 2022 voucher budget: the ratio is committed ÷ limit.
        let committed = try #require(Self.sample(text, #"subsidyd_cap_committed{cap="CLOUD_VOUCHER.annual_budget",scope="2022",unit="fen"}"#))
        let limit = try #require(Self.sample(text, #"subsidyd_cap_limit{cap="CLOUD_VOUCHER.annual_budget",scope="2022",unit="fen"}"#))
        #expect(committed == Double(approved.awardedFen))
        #expect(Self.sample(text, #"subsidyd_cap_used_ratio{cap="CLOUD_VOUCHER.annual_budget",scope="2022"}"#) == committed / limit)
        #expect((Self.sample(text, #"subsidyd_cap_max_subject_used_ratio{cap="CLOUD_VOUCHER.per_enterprise",scope="2022"}"#) ?? 0) > 0)
        // Every programme in force, not only the default one.
        for programme in ["foshan-2020", "foshan-dx-2021", "shunde-dx-2021"] {
            #expect(text.contains("subsidyd_policy_info{version=\"\(programme)@"), "\(programme)")
        }
        // Each file's pages against its limit, and the disk's free space against its reserve.
        let nanhaiBytes = try #require(Self.sample(text, #"subsidyd_store_bytes{file="nanhai"}"#))
        #expect(nanhaiBytes > 0 && nanhaiBytes.truncatingRemainder(dividingBy: 4096) == 0)
        #expect((Self.sample(text, #"subsidyd_store_bytes{file="city-ledger"}"#) ?? 0) > 0)
        // The ledger has just committed an approval: its WAL is on disk, as long as stat says.
        var wal = stat()
        #expect(stat(configuration.dataDirectory + "/city-ledger.sqlite-wal", &wal) == 0)
        #expect((Self.sample(text, #"subsidyd_store_wal_bytes{file="city-ledger"}"#) ?? 0) > 0, "\(text)")
        #expect(Self.sample(text, #"subsidyd_store_wal_bytes{file="gaoming"}"#) != nil)
        #expect(Self.sample(text, #"subsidyd_store_limit_bytes{file="nanhai"}"#) == 8_589_934_592)
        #expect(Self.sample(text, #"subsidyd_disk_reserve_bytes"#) == 0, "the test configuration sets no reserve")
        #expect((Self.sample(text, #"subsidyd_disk_free_bytes"#) ?? 0) > 0)

        // A district may not read them.
        let denied = try await runCtl(["--socket", configuration.socketPath("nanhai"), "admin", "metrics"])
        #expect(denied.status == 17, "PERMISSION_DENIED is exit 10 + 7")
        #expect(denied.error.contains("PERMISSION_DENIED"))

        // The textfile, for node_exporter: complete, world-readable, with the cap usage.
        let written = await eventually(timeout: .seconds(30)) {
            ((try? String(contentsOfFile: textfile, encoding: .utf8)) ?? "").contains(#"subsidyd_cap_used_ratio{cap="CLOUD_VOUCHER.annual_budget",scope="2022"} "#)
        }
        #expect(written)
        var status = stat()
        #expect(stat(textfile, &status) == 0 && status.st_mode & 0o777 == 0o644)

        #expect(await daemon.terminate() == 0)
        // Every line is one JSON object; the start-up line names version, policy, data dir and
        // limits; every line of a call names the call, its method and its tenant.
        var lines: [[String: String]] = []
        for line in daemon.log().split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            #expect(object != nil, "not a JSON object of strings: \(line)")
            if let object { lines.append(object) }
        }
        let start = try #require(lines.first { $0["msg"] == "subsidyd \(SubsidyVersion.current) starting" })
        #expect(start["version"] == SubsidyVersion.current)
        #expect(start["policy.version"]?.hasPrefix("foshan-2020@") == true)
        #expect(start["data.dir"] == configuration.dataDirectory)
        #expect(start["limits"]?.contains("max_connections=") == true)
        let backupLike = lines.filter { $0["call.method"] != nil }
        #expect(!backupLike.isEmpty)
        for line in backupLike {
            #expect(line["call.id"] != nil && line["tenant.id"] != nil && line["ts"] != nil && line["level"] != nil, "\(line)")
        }
    }
}

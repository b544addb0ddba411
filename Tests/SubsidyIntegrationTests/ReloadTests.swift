import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// SIGHUP against the real daemon: a good policy and limits take effect together, a bad file is
/// refused and logged with the old policy kept, and the sockets are never re-created.
@Suite("subsidyd reload (SIGHUP)", .serialized)
struct ReloadTests {
    static var shippedPolicy: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Deploy/policy/foshan-2020.toml").path
    }

    static func policyVersion(_ daemon: DaemonProcess, tenant: String = "nanhai") async throws -> String {
        let client = try await daemon.client(tenant)
        do {
            let me = try await client.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest())
            await client.close()
            return me.policyVersion
        } catch {
            await client.close()
            throw error
        }
    }

    static func inode(_ path: String) -> UInt64 {
        var status = stat()
        return stat(path, &status) == 0 ? UInt64(status.st_ino) : 0
    }

    static func occurrences(of text: String, in log: String) -> Int {
        log.components(separatedBy: text).count - 1
    }

    @Test("a good policy and new limits are served after SIGHUP; a bad policy or configuration is refused and the old kept")
    func reloadGoodAndBad() async throws {
        var configuration = DaemonConfiguration()
        defer { try? FileManager.default.removeItem(atPath: configuration.baseDirectory) }
        let policyPath = configuration.baseDirectory + "/foshan-2020.toml"
        try FileManager.default.copyItem(atPath: Self.shippedPolicy, toPath: policyPath)
        configuration.policyPath = policyPath
        configuration.limits = ["requests_per_second": 400]
        let daemon = try await DaemonProcess.start(configuration: configuration)
        let socket = configuration.socketPath("nanhai")
        let socketInode = Self.inode(socket)
        let original = try await Self.policyVersion(daemon)
        #expect(original.hasPrefix("foshan-2020@"))
        #expect(daemon.log().contains("subsidyd \(SubsidyVersion.current) starting"))

        // A revised policy (the text differs, so its version does) and a new limit.
        let revised = try String(contentsOfFile: policyPath, encoding: .utf8) + "\n# revised for the reload test\n"
        try revised.write(toFile: policyPath, atomically: true, encoding: .utf8)
        configuration.limits = ["requests_per_second": 300]
        // Keys set up once at start-up: the reload says it keeps them.
        configuration.extraRootLines.append("metrics_interval_ms = 60000")
        _ = try configuration.write()
        kill(daemon.process.processIdentifier, SIGHUP)
        let changed = await eventually { (try? await Self.policyVersion(daemon)).map { $0 != original } ?? false }
        #expect(changed, "\(daemon.log())")
        let current = try await Self.policyVersion(daemon)
        #expect(current.hasPrefix("foshan-2020@"))
        #expect(await eventually { daemon.log().contains("requests_per_second=300") })
        #expect(daemon.log().contains("reload: metrics_interval_ms changed in the file; set up at start-up, kept as started until the next restart"), "\(daemon.log())")
        configuration.extraRootLines.removeLast()
        #expect(Self.inode(socket) == socketInode, "a reload must not re-create the sockets")

        // A policy with a mistake: refused, logged, the revised policy still served.
        try "[policy]\ntitle = 1\n".write(toFile: policyPath, atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { Self.occurrences(of: "reload refused", in: daemon.log()) == 1 })
        #expect(daemon.log().contains("policy.title"), "the refusal names the key")
        #expect(try await Self.policyVersion(daemon) == current)
        #expect(try await Self.policyVersion(daemon, tenant: "city") == current)

        // A configuration with a mistake: refused too, even with the policy file repaired.
        try revised.write(toFile: policyPath, atomically: true, encoding: .utf8)
        try (configuration.rendered().replacingOccurrences(of: "[limits]\n", with: "[limits]\nrequest_brust = 5\n"))
            .write(toFile: configuration.path, atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { Self.occurrences(of: "reload refused", in: daemon.log()) == 2 })
        #expect(daemon.log().contains("request_brust"))
        #expect(try await Self.policyVersion(daemon) == current)
        #expect(daemon.process.isRunning)
        #expect(Self.inode(socket) == socketInode)

        // A limit lowered below what is already committed (a zero dropped): served, and the
        // operator told which cap and by how much.
        let city = Bureau(try await daemon.client("city"))
        let entries = [950, 951].map { n in
            var award = Foshan_Subsidy_V1_HistoricalAward()
            award.measure = .poolEntry
            award.fundingYear = 2021
            award.district = "sanshui"
            award.enterpriseUscc = TestData.uscc(n, area: 7)
            award.amountFen = 10_000_000
            award.decisionDate = "2021-03-15"
            award.decisionDocument = "佛工信〔2021〕\(n)号"
            return award
        }
        #expect(try await city.importAwards(entries).imported == 2)
        // And a tenant's access list edited: kept as started, the reload naming the table.
        configuration.allowedGIDs["nanhai"] = [getgid()]
        _ = try configuration.write()
        try revised.replacingOccurrences(of: "limit_count = 40", with: "limit_count = 1").write(toFile: policyPath, atomically: false, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { daemon.log().contains("cap POOL_ENTRY.annual_count [2021]: its limit 1 awards is below the 2 already committed") },
                "\(daemon.log())")
        #expect(daemon.log().contains("reload: [district.nanhai] changed in the file; tenants, their sockets and access lists"), "\(daemon.log())")

        let status = await daemon.terminate()
        #expect(status == 0, "\(daemon.log())")
    }

    @Test("a reloaded per-connection limit applies to connections accepted after the reload")
    func reloadedLimitApplies() async throws {
        var configuration = DaemonConfiguration()
        defer { try? FileManager.default.removeItem(atPath: configuration.baseDirectory) }
        let daemon = try await DaemonProcess.start(configuration: configuration)
        configuration.limits = ["max_calls_per_connection": 1]
        _ = try configuration.write()
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { daemon.log().contains("max_calls_per_connection=1 ") })

        // One call held open by the test hook; a second on the same connection is one too many.
        let client = try await daemon.client("shunde")
        let held = Task {
            try await client.call(
                Foshan_Subsidy_V1_Health.Method.check, Foshan_Subsidy_V1_HealthCheckRequest(), metadata: ["x-test-delay-ms": "2000"])
        }
        #expect(await eventually { daemon.log().contains("test hook: delaying the handler 2000 ms") })
        let refused = await #expect(throws: SubsidyError.self) {
            try await client.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest())
        }
        #expect(refused?.code == .resourceExhausted)
        #expect(refused?.message.contains("at most 1 concurrent calls per connection") == true, "\(String(describing: refused))")
        #expect(try await held.value.status == .serving)
        await client.close()
        #expect(await daemon.terminate() == 0)
    }

    @Test("--version prints the release for both programs")
    func versions() async throws {
        let daemon = try await run(DaemonProcess.productsDirectory + "/subsidyd", ["--version"])
        #expect(daemon.status == 0)
        #expect(daemon.output.trimmingCharacters(in: .whitespacesAndNewlines) == SubsidyVersion.current)
        let ctl = try await runCtl(["--version"])
        #expect(ctl.status == 0)
        #expect(ctl.output.trimmingCharacters(in: .whitespacesAndNewlines) == SubsidyVersion.current)
    }

    static func programmes(_ daemon: DaemonProcess, tenant: String = "city") async throws -> [String] {
        let client = try await daemon.client(tenant)
        defer { Task { await client.close() } }
        return try await client.call(Foshan_Subsidy_V1_Programmes.Method.listProgrammes, Foshan_Subsidy_V1_ListProgrammesRequest()).programmes.map(\.name)
    }

    @Test("a programme dropped into the policy directory is served after SIGHUP; a broken one is refused with its line and the set kept; one with awards cannot be removed, only retired")
    func programmeDirectory() async throws {
        var configuration = DaemonConfiguration()
        defer { try? FileManager.default.removeItem(atPath: configuration.baseDirectory) }
        let directory = configuration.baseDirectory + "/policy.d"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let shipped = URL(fileURLWithPath: Self.shippedPolicy).deletingLastPathComponent()
        for name in ["foshan-2020.toml", "foshan-dx-2021.toml"] {
            try FileManager.default.copyItem(atPath: shipped.appendingPathComponent(name).path, toPath: directory + "/" + name)
        }
        configuration.policyPath = directory
        let daemon = try await DaemonProcess.start(configuration: configuration)
        #expect(try await Self.programmes(daemon) == ["foshan-2020", "foshan-dx-2021"])

        // A programme without awards removed: served no more, and its caps leave the metrics
        // rather than stay at their last values (an alert would go on firing on them).
        func metrics() async throws -> String {
            let shown = try await runCtl(["--socket", configuration.socketPath("city"), "admin", "metrics"])
            #expect(shown.status == 0, "\(shown.error)")
            return shown.output
        }
        #expect(try await metrics().contains(#"subsidyd_cap_limit{cap="DIGITAL_WORKSHOP."#))
        let successor = try String(contentsOfFile: directory + "/foshan-dx-2021.toml", encoding: .utf8)
        try FileManager.default.removeItem(atPath: directory + "/foshan-dx-2021.toml")
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { (try? await Self.programmes(daemon)) == ["foshan-2020"] }, "\(daemon.log())")
        let after = try await metrics()
        #expect(!after.contains(#"cap="DIGITAL_"#) && after.contains(#"subsidyd_cap_limit{cap="CLOUD_VOUCHER.annual_budget",scope="2022",unit="fen"}"#), "\(after)")
        let info = after.split(separator: "\n").filter { $0.hasPrefix(#"subsidyd_policy_info{version="foshan-dx-2021@"#) }
        #expect(info.count == 1 && info.allSatisfy { Double($0.split(separator: " ").last ?? "") == 0 }, "its version says 0: \(info)")
        try successor.write(toFile: directory + "/foshan-dx-2021.toml", atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { (try? await Self.programmes(daemon)) == ["foshan-2020", "foshan-dx-2021"] }, "\(daemon.log())")
        #expect(try await metrics().contains(#"subsidyd_cap_limit{cap="DIGITAL_WORKSHOP."#), "back with the programme")

        // Without a rebuild: Shunde's programme dropped in, then SIGHUP.
        try FileManager.default.copyItem(atPath: shipped.appendingPathComponent("shunde-dx-2021.toml").path, toPath: directory + "/shunde-dx-2021.toml")
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { (try? await Self.programmes(daemon)) == ["foshan-2020", "foshan-dx-2021", "shunde-dx-2021"] }, "\(daemon.log())")
        #expect(try await Self.programmes(daemon, tenant: "nanhai") == ["foshan-2020", "foshan-dx-2021"])

        // A file that does not validate: refused with its file, line and key; the set is kept.
        let broken = try String(contentsOfFile: directory + "/shunde-dx-2021.toml", encoding: .utf8)
            .replacingOccurrences(of: "name = \"shunde-dx-2021\"", with: "name = \"nanhai-2030\"")
            .replacingOccurrences(of: "level = \"district:shunde\"", with: "level = \"district:foshan\"")
        let line = try #require(broken.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("level = ") }) + 1
        try broken.write(toFile: directory + "/nanhai-2030.toml", atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { Self.occurrences(of: "reload refused", in: daemon.log()) == 1 })
        #expect(daemon.log().contains("nanhai-2030.toml:\(line): policy.level"), "the refusal names the file, line and key: \(daemon.log())")
        #expect(try await Self.programmes(daemon) == ["foshan-2020", "foshan-dx-2021", "shunde-dx-2021"])
        try FileManager.default.removeItem(atPath: directory + "/nanhai-2030.toml")

        // An award under foshan-dx-2021; then its file removed: refused, the set kept.
        let nanhai = Bureau(try await daemon.client("nanhai"), filingOn: "2023-06-01")
        let city = Bureau(try await daemon.client("city"))
        let owner = TestData.uscc(7_500, area: 5)
        try await nanhai.register(owner)
        let id = try await nanhai.file(ProgrammeData.workshop(owner, 1, year: 2023))
        #expect(try await city.approve(id, date: "2023-10-01").awardedFen == 200_000_000)
        try FileManager.default.removeItem(atPath: directory + "/foshan-dx-2021.toml")
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { Self.occurrences(of: "reload refused", in: daemon.log()) == 2 })
        #expect(daemon.log().contains("foshan-dx-2021 has awards in the ledger and cannot be removed; retire it instead"), "\(daemon.log())")
        #expect(try await Self.programmes(daemon) == ["foshan-2020", "foshan-dx-2021", "shunde-dx-2021"])

        // Nor may its awards change decider: the city's awards are not a district's to count or revoke.
        let moved = try String(contentsOfFile: shipped.appendingPathComponent("foshan-dx-2021.toml").path, encoding: .utf8)
            .replacingOccurrences(of: "level = \"city\"", with: "level = \"district:nanhai\"")
        try moved.write(toFile: directory + "/foshan-dx-2021.toml", atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { Self.occurrences(of: "reload refused", in: daemon.log()) == 3 })
        #expect(daemon.log().contains("programme foshan-dx-2021 has awards decided by city; its level cannot become district:nanhai"), "\(daemon.log())")
        #expect(try await Self.programmes(daemon, tenant: "nanhai") == ["foshan-2020", "foshan-dx-2021"])

        // Nor may a cap that holds its award be renamed (or dropped): the award would count under none.
        let renamed = try String(contentsOfFile: shipped.appendingPathComponent("foshan-dx-2021.toml").path, encoding: .utf8)
            .replacingOccurrences(of: "[measure.DIGITAL_WORKSHOP.cap.annual_count]", with: "[measure.DIGITAL_WORKSHOP.cap.annual_count_2024]")
        try renamed.write(toFile: directory + "/foshan-dx-2021.toml", atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        #expect(await eventually { Self.occurrences(of: "reload refused", in: daemon.log()) == 4 })
        #expect(daemon.log().contains("no programme file defines cap DIGITAL_WORKSHOP.annual_count (") && daemon.log().contains(", 1 awarded) any more"), "\(daemon.log())")

        // Retired instead: still listed (its awards count), closed to new applications.
        let retired = try String(contentsOfFile: shipped.appendingPathComponent("foshan-dx-2021.toml").path, encoding: .utf8)
            .replacingOccurrences(of: "publicity_days = 7\n", with: "publicity_days = 7\nretired_on = 2023-12-01\n")
        try retired.write(toFile: directory + "/foshan-dx-2021.toml", atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        let listed = await eventually {
            let client = try? await daemon.client("city")
            let programmes = try? await client?.call(Foshan_Subsidy_V1_Programmes.Method.listProgrammes, Foshan_Subsidy_V1_ListProgrammesRequest()).programmes
            await client?.close()
            return programmes?.first { $0.name == "foshan-dx-2021" }?.state == "retired"
        }
        #expect(listed, "\(daemon.log())")
        let refused = await #expect(throws: SubsidyError.self) { try await nanhai.on(DaemonProcess.today).submit(ProgrammeData.workshop(owner, 2, year: 2024)) }
        #expect(refused?.code == .failedPrecondition)
        #expect(refused?.message.contains("retired on 2023-12-01") == true)
        // Its award can still be revoked.
        #expect(try await city.decide(Foshan_Subsidy_V1_CityService.Method.revokeApplication, id, reason: "复核撤销").state == .revoked)
        #expect(await daemon.terminate() == 0)
    }
}

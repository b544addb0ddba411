import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Synchronization
import Testing

/// What the load tasks and the backup task share.
private final class LoadState: Sendable {
    /// Approvals the daemon acknowledged, in order.
    let acknowledged = Mutex<[String]>([])
    /// ``acknowledged`` as it was just before the backup call was sent.
    let beforeBackup = Mutex<[String]>([])
    let stop = Mutex(false)
}

/// Online backup under load, restore into a new data directory, and a daemon started on it —
/// all with the real binaries. Plus what a restore refuses, and the offline backup.
@Suite("backup and restore", .serialized)
struct BackupRestoreTests {
    static let provider = TestData.uscc(4000)
    static func buyer(_ district: Int, _ i: Int) -> String { TestData.uscc(4100 + district * 100 + i) }
    static let buyersPerDistrict = 4

    static func subsidyd(_ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
        try await run(DaemonProcess.productsDirectory + "/subsidyd", arguments)
    }

    @Test("a backup taken while every district files and the city approves restores into a daemon with every decision acknowledged before it")
    func backupUnderLoadThenRestore() async throws {
        try await withTemporaryDirectory { base in
            let backup = base + "/backup"
            let restored = base + "/restored"
            let load = LoadState()
            try await withDaemon { daemon in
                let city = Bureau(try await daemon.client("city"))
                try await city.pool(Self.provider)
                for (d, district) in DaemonProcess.districts.enumerated() {
                    let bureau = Bureau(try await daemon.client(district))
                    for i in 0..<Self.buyersPerDistrict { try await bureau.register(Self.buyer(d, i)) }
                    await bureau.client.close()
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Load: each district files vouchers and the city approves them, until the backup is done.
                    for (d, district) in DaemonProcess.districts.enumerated() {
                        group.addTask {
                            let bureau = Bureau(try await daemon.client(district))
                            let approver = Bureau(try await daemon.client("city"))
                            var i = 0
                            while !load.stop.withLock({ $0 }) && i < 200 {
                                let application = TestData.voucher(
                                    enterprise: Self.buyer(d, i % Self.buyersPerDistrict), provider: Self.provider, contractFen: 1_000_000,
                                    contract: "BK-\(d)-\(i)")
                                let id = try await bureau.file(application)
                                // A cap may run out under load: only approvals that returned count.
                                if let record = try? await approver.approve(id), record.state == .approved {
                                    load.acknowledged.withLock { $0.append(id) }
                                }
                                i += 1
                            }
                            await bureau.client.close()
                            await approver.client.close()
                        }
                    }
                    group.addTask {
                        defer { load.stop.withLock { $0 = true } }
                        let busy = await eventually(timeout: .seconds(120)) { load.acknowledged.withLock { $0.count } >= 15 }
                        #expect(busy, "the load produced approvals")
                        let admin = try await daemon.client("city")
                        load.beforeBackup.withLock { $0 = load.acknowledged.withLock { $0 } }
                        var request = Foshan_Subsidy_V1_BackupRequest()
                        request.directory = backup
                        let response = try await admin.call(Foshan_Subsidy_V1_Admin.Method.backup, request, timeout: .seconds(120))
                        await admin.close()
                        #expect(response.files.map(\.name) == ["city-ledger.sqlite"] + DaemonProcess.districts.map { "districts/\($0).sqlite" })
                        #expect(response.ledgerSequence > 0)
                    }
                    try await group.waitForAll()
                }
                // A district may not take a backup.
                let nanhai = try await daemon.client("nanhai")
                var request = Foshan_Subsidy_V1_BackupRequest()
                request.directory = base + "/by-nanhai"
                await #expect(throws: SubsidyError.self) { try await nanhai.call(Foshan_Subsidy_V1_Admin.Method.backup, request) }
                await nanhai.close()
                // The offline backup refuses while the daemon holds the data directory.
                let locked = try await Self.subsidyd(["backup", "--data-dir", daemon.dataDirectory, base + "/offline"])
                #expect(locked.status == 2, "\(locked.error)")
                #expect(locked.error.contains("lock"), "\(locked.error)")
            }

            let manifest = try String(contentsOfFile: backup + "/MANIFEST", encoding: .utf8)
            #expect(manifest.hasPrefix("subsidyd-backup 1\n"))
            let restoredRun = try await Self.subsidyd(["restore", backup, "--data-dir", restored])
            #expect(restoredRun.status == 0, "\(restoredRun.error)")
            let check = try await Self.subsidyd(["--check", "--dev", "--data-dir", restored])
            #expect(check.status == 0, "\(check.output)\(check.error)")
            #expect(!FileManager.default.fileExists(atPath: restored + "/RESTORE-IN-PROGRESS"))
            // A restore cut off (Ctrl-C, power) leaves its marker: nothing opens the directory.
            let cut = base + "/cut"
            try FileManager.default.copyItem(atPath: restored, toPath: cut)
            try Data("restore began\n".utf8).write(to: URL(fileURLWithPath: cut + "/RESTORE-IN-PROGRESS"))
            let refused = try await Self.subsidyd(["--check", "--dev", "--data-dir", cut])
            #expect(refused.status == 2 && refused.error.contains("a restore into this directory did not finish"), "\(refused.status) \(refused.error)")
            #expect(try LedgerChecker.violations(dataDirectory: restored, policy: LedgerWorkflowTests.policy) == [])

            let expected = load.beforeBackup.withLock { $0 }
            #expect(expected.count >= 15)
            try await withDaemon(dataDirectory: restored) { daemon in
                let city = try await daemon.client("city")
                for id in expected {
                    var get = Foshan_Subsidy_V1_GetApplicationRequest()
                    get.applicationId = id
                    let record = try await city.call(Foshan_Subsidy_V1_CityService.Method.getApplication, get).record
                    #expect(record?.state == .approved, "\(id) was approved and acknowledged before the backup began")
                }
                let audit = try await city.call(Foshan_Subsidy_V1_CityService.Method.verifyAudit, Foshan_Subsidy_V1_VerifyAuditRequest())
                #expect(audit.chains.count == 6 && audit.chains.allSatisfy(\.ok), "\(audit.chains)")
                await city.close()
            }
        }
    }

    @Test("restore refuses a backup whose file differs from its manifest, or without a manifest, and writes nothing; the offline backup of a stopped daemon restores")
    func restoreRefusesAndOfflineBackup() async throws {
        try await withTemporaryDirectory { base in
            let data = base + "/data"
            #expect(mkdir(data, 0o700) == 0)
            try await withDaemon(dataDirectory: data) { daemon in
                let city = Bureau(try await daemon.client("city"))
                try await city.pool(Self.provider)
                let nanhai = Bureau(try await daemon.client("nanhai"))
                try await nanhai.register(Self.buyer(1, 0))
                let id = try await nanhai.file(TestData.voucher(enterprise: Self.buyer(1, 0), provider: Self.provider, contractFen: 1_000_000, contract: "OFF-1"))
                #expect(try await city.approve(id).state == .approved)
                #expect(await daemon.terminate() == 0)
            }
            let offline = try await Self.subsidyd(["backup", "--data-dir", data, base + "/offline"])
            #expect(offline.status == 0, "\(offline.error)")
            let verified = try await Self.subsidyd(["restore", base + "/offline", "--data-dir", base + "/unused", "--verify-only"])
            #expect(verified.status == 0, "\(verified.error)")
            #expect(!FileManager.default.fileExists(atPath: base + "/unused"))

            // One byte changed in a district file: refused before anything is written.
            try FileManager.default.copyItem(atPath: base + "/offline", toPath: base + "/tampered")
            let victim = base + "/tampered/districts/nanhai.sqlite"
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: victim)))
            bytes[bytes.count - 1] ^= 0xFF
            try Data(bytes).write(to: URL(fileURLWithPath: victim))
            let tampered = try await Self.subsidyd(["restore", base + "/tampered", "--data-dir", base + "/new1"])
            #expect(tampered.status == 1)
            #expect(tampered.error.contains("districts/nanhai.sqlite") && tampered.error.contains("SHA-256"), "\(tampered.error)")
            #expect(!FileManager.default.fileExists(atPath: base + "/new1"))

            try FileManager.default.removeItem(atPath: base + "/tampered/MANIFEST")
            let unlisted = try await Self.subsidyd(["restore", base + "/tampered", "--data-dir", base + "/new2"])
            #expect(unlisted.status == 1)
            #expect(unlisted.error.contains("no MANIFEST"), "\(unlisted.error)")
            #expect(!FileManager.default.fileExists(atPath: base + "/new2"))

            // An empty target another process holds locked (a daemon starting on it, a second
            // restore): refused, left as it was.
            let held = base + "/held"
            #expect(mkdir(held, 0o700) == 0)
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            // Waiting for the lock, not -n: the probe below holds it for a moment too. -o: the lock
            // is flock's own, so terminating it releases the lock.
            holder.arguments = ["-o", held, "sleep", "60"]
            try holder.run()
            defer { holder.terminate() }
            var tries = 0
            while try await run("/usr/bin/flock", ["-n", held, "true"]).status == 0 && tries < 500 {
                try await Task.sleep(for: .milliseconds(10))
                tries += 1
            }
            let locked = try await Self.subsidyd(["restore", base + "/offline", "--data-dir", held])
            #expect(locked.status == 1)
            #expect(locked.error.contains("another subsidyd holds this data directory's lock"), "\(locked.error)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: held) == [])

            // A non-empty target is refused too.
            let occupied = try await Self.subsidyd(["restore", base + "/offline", "--data-dir", data])
            #expect(occupied.status == 1)
            #expect(occupied.error.contains("is not empty"), "\(occupied.error)")

            let restored = try await Self.subsidyd(["restore", base + "/offline", "--data-dir", base + "/restored"])
            #expect(restored.status == 0, "\(restored.error)")
            let check = try await Self.subsidyd(["--check", "--dev", "--data-dir", base + "/restored"])
            #expect(check.status == 0, "\(check.output)\(check.error)")
        }
    }

    @Test("a daemon told to stop while it copies a backup stops it, removes what it wrote, and exits at once; the caller is told to take it again")
    func shutdownStopsBackup() async throws {
        try await withTemporaryDirectory { base in
            // Held where it copies, as a copy of gigabytes would be for minutes.
            try await withDaemon(environment: ["SUBSIDYD_CRASH_AT": "hold:backup.copying"]) { daemon in
                let city = try await daemon.client("city")
                var request = Foshan_Subsidy_V1_BackupRequest()
                request.directory = base + "/nightly"
                let backup = Task { try await city.call(Foshan_Subsidy_V1_Admin.Method.backup, request) }
                #expect(await eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: base + "/nightly/districts") })
                // A second one meanwhile is refused as a conflict that ends (ABORTED: the nightly
                // unit retries it), not as the operator's problem (FAILED_PRECONDITION).
                var second = request
                second.directory = base + "/second"
                let overlap = await #expect(throws: SubsidyError.self) { try await city.call(Foshan_Subsidy_V1_Admin.Method.backup, second) }
                #expect(overlap?.code == .aborted && overlap?.message.contains("another backup is being taken") == true, "\(String(describing: overlap))")
                // A stop that waited for the held backup would be killed after the patience (not 0).
                #expect(await daemon.terminate(patience: .seconds(30)) == 0, "\(daemon.log().suffix(2_000))")
                let error = await #expect(throws: SubsidyError.self) { try await backup.value }
                #expect(error?.code == .unavailable, "\(String(describing: error))")
                #expect(error?.message.contains("stopped before it was complete") == true, "\(String(describing: error))")
                #expect(!FileManager.default.fileExists(atPath: base + "/nightly"), "what it wrote is removed")
                await city.close()
            }
        }
    }

    @Test("subsidyctl admin backup --dated writes into a new directory named by the time; a relative or missing directory is refused naming the field")
    func subsidyctlBackup() async throws {
        try await withTemporaryDirectory { base in
            try await withDaemon { daemon in
                let taken = try await runCtl(["--data-dir", daemon.dataDirectory, "admin", "backup", "--dated", base])
                #expect(taken.status == 0, "\(taken.error)")
                let made = try FileManager.default.contentsOfDirectory(atPath: base).filter { $0.hasSuffix("Z") }
                #expect(made.count == 1)
                #expect(FileManager.default.fileExists(atPath: base + "/" + (made.first ?? "") + "/MANIFEST"))
                // The time's directory already taken (two backups in one second): beside it, as <time>-2.
                let formatter = DateFormatter()
                (formatter.dateFormat, formatter.timeZone, formatter.locale) = ("yyyyMMdd'T'HHmmss'Z'", TimeZone(identifier: "UTC"), Locale(identifier: "en_US_POSIX"))
                let now = Date()
                let taken2 = (0...30).map { base + "/later/" + formatter.string(from: now.addingTimeInterval(Double($0))) }
                for path in taken2 {
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
                    try "someone else's".write(toFile: path + "/note", atomically: false, encoding: .utf8)
                }
                let beside = try await runCtl(["--data-dir", daemon.dataDirectory, "admin", "backup", "--dated", base + "/later"])
                #expect(beside.status == 0, "\(beside.error)")
                let besides = try FileManager.default.contentsOfDirectory(atPath: base + "/later").filter { $0.hasSuffix("Z-2") }
                #expect(besides.count == 1 && FileManager.default.fileExists(atPath: base + "/later/" + (besides.first ?? "") + "/MANIFEST"), "\(besides)")
                #expect(taken2.allSatisfy { (try? FileManager.default.contentsOfDirectory(atPath: $0)) == ["note"] }, "nothing was written into another's directory")
                // A --dated DIR that is not there is named, not the time-named directory inside it.
                let absent = try await runCtl(["--data-dir", daemon.dataDirectory, "admin", "backup", "--dated", base + "/nightly"])
                #expect(absent.status == 19 && absent.error.hasPrefix("error: FAILED_PRECONDITION: \(base)/nightly does not exist: --dated makes"), "\(absent.error)")
                #expect(!FileManager.default.fileExists(atPath: base + "/nightly"), "nothing was created")

                let city = try await daemon.client("city")
                var request = Foshan_Subsidy_V1_BackupRequest()
                request.directory = "relative/dir"
                let error = await #expect(throws: SubsidyError.self) { try await city.call(Foshan_Subsidy_V1_Admin.Method.backup, request) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message.contains("request.directory") == true)
                request.directory = base + "/no/such/parent"
                let missing = await #expect(throws: SubsidyError.self) { try await city.call(Foshan_Subsidy_V1_Admin.Method.backup, request) }
                #expect(missing?.code == .failedPrecondition)
                await city.close()
            }
        }
    }
}

import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// The daemon never serves on stores that disagree (issue 8 §4): a rolled-back, replaced or
/// rewritten ledger, a missing commitment, a second daemon on the same directory and unsafe
/// directories all stop start-up with the documented exit code and a message naming the problem.
@Suite("start-up integrity")
struct StartupIntegrityTests {
    static let provider = TestData.uscc(950)
    static let buyer = TestData.uscc(4101)
    /// `subsidyd` exit codes, as Deploy/README.md documents them.
    static let cannotStart: Int32 = 2
    static let inconsistent: Int32 = 3
    static let totalsDiffer: Int32 = 4

    /// A data directory with one Nanhai voucher approved and publicized; the daemon stopped.
    /// - Parameter ownInstallation: a data directory created by the daemon itself, with a ledger
    ///   identity of its own (not a copy of the tests' template, which every other shares).
    private func approvedAndPublicized(ownInstallation: Bool = false) async throws -> (directory: String, id: String) {
        let daemon = try await ownInstallation ? DaemonProcess.start(dataDirectory: DaemonProcess.makeTemporaryDirectory()) : DaemonProcess.start()
        let city = Bureau(try await daemon.client("city"))
        try await city.pool(Self.provider)
        let nanhai = Bureau(try await daemon.client("nanhai"))
        try await nanhai.register(Self.buyer)
        let id = try await nanhai.file(TestData.voucher(enterprise: Self.buyer, provider: Self.provider, contractFen: 20_000_000, contract: "S-1"))
        _ = try await city.approve(id)
        _ = try await city.decide(Foshan_Subsidy_V1_CityService.Method.publicizeApplication, id, date: "2022-06-02")
        #expect(await daemon.terminate() == 0)
        return (daemon.dataDirectory, id)
    }

    /// Starts the daemon expecting it to refuse; its exit status and everything it wrote.
    private func refusedStart(_ directory: String) async throws -> (status: Int32, log: String) {
        do {
            let daemon = try await DaemonProcess.start(dataDirectory: directory)
            await daemon.terminate()
            Issue.record("subsidyd started on \(directory)")
            return (0, "")
        } catch DaemonError.exited(let status, let log) {
            return (status, log)
        }
    }

    static func subsidyd(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String, error: String) {
        try await run(DaemonProcess.productsDirectory + "/subsidyd", arguments, environment: environment)
    }

    static let ledgerFiles = ["city-ledger.sqlite", "city-ledger.sqlite-wal"]

    /// Copies the ledger (with its WAL, if any) out of or back into `directory`.
    private func copyLedger(from source: String, to destination: String) throws {
        let files = FileManager.default
        try? files.removeItem(atPath: destination + "/city-ledger.sqlite-shm")
        for name in Self.ledgerFiles {
            try? files.removeItem(atPath: destination + "/" + name)
            if files.fileExists(atPath: source + "/" + name) { try files.copyItem(atPath: source + "/" + name, toPath: destination + "/" + name) }
        }
    }

    @Test("a ledger restored from an older copy stops start-up; --check reports it; --repair --accept-ledger lets it start")
    func rolledBackLedger() async throws {
        let (directory, id) = try await approvedAndPublicized()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let backup = DaemonProcess.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: backup) }
        try copyLedger(from: directory, to: backup)

        // One more ledger-first step, which Nanhai sees; then the old ledger comes back.
        let daemon = try await DaemonProcess.start(dataDirectory: directory)
        let city = Bureau(try await daemon.client("city"))
        #expect(try await city.decide(Foshan_Subsidy_V1_CityService.Method.disburseApplication, id, date: "2022-06-20").state == .disbursed)
        #expect(await daemon.terminate() == 0)
        try copyLedger(from: backup, to: directory)

        let refused = try await refusedStart(directory)
        #expect(refused.status == Self.inconsistent)
        #expect(refused.log.contains("refusing to serve"))
        #expect(refused.log.contains(directory + "/districts/nanhai.sqlite"))
        #expect(refused.log.contains("rolled back"))

        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == Self.inconsistent)
        #expect(check.output.contains("nanhai.sqlite") && check.output.contains("rolled back"))
        #expect(check.output.contains("--accept-ledger"))

        let repair = try await Self.subsidyd(["--dev", "--data-dir", directory, "--repair"])
        #expect(repair.status == Self.inconsistent, "a plain repair does not accept an older ledger: \(repair.output)")
        #expect(try await refusedStart(directory).status == Self.inconsistent)

        let accept = try await Self.subsidyd(["--dev", "--data-dir", directory, "--repair", "--accept-ledger"])
        #expect(accept.status == 0, "\(accept.output)\(accept.error)")
        #expect(try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"]).status == 0)
        let nanhai = try ReadOnlyDatabase(path: directory + "/districts/nanhai.sqlite")
        #expect(try nanhai.rows("SELECT event FROM audit ORDER BY seq DESC LIMIT 1").first?.first?.hasPrefix(#"{"action":"accept-ledger""#) == true)

        let accepted = try await DaemonProcess.start(dataDirectory: directory)
        let audit = try await Bureau(try await accepted.client("city")).client.call(Foshan_Subsidy_V1_CityService.Method.verifyAudit, Foshan_Subsidy_V1_VerifyAuditRequest())
        #expect(audit.chains.count == 6 && audit.chains.allSatisfy(\.ok))
        #expect(await accepted.terminate() == 0)
    }

    @Test(
        "a district file put back alone from an older copy stops start-up instead of serving without what it lost, after a clean stop or a crash; --accept-ledger accepts the loss",
        arguments: ["clean stop", "crash"])
    func olderDistrictFile(stop: String) async throws {
        let (directory, id) = try await approvedAndPublicized()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let old = DaemonProcess.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: old) }
        let nanhaiFile = directory + "/districts/nanhai.sqlite"
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: nanhaiFile + suffix) {
            try FileManager.default.copyItem(atPath: nanhaiFile + suffix, toPath: old + "/nanhai.sqlite" + suffix)
        }

        // A district-only decision after the copy (a withdrawal touches no ledger row), then a clean stop.
        let daemon = try await DaemonProcess.start(dataDirectory: directory)
        let nanhai = Bureau(try await daemon.client("nanhai"))
        let second = try await nanhai.submit(TestData.voucher(enterprise: Self.buyer, provider: Self.provider, contractFen: 10_000_000, contract: "S-2"))
        var withdraw = Foshan_Subsidy_V1_WithdrawApplicationRequest()
        (withdraw.requestId, withdraw.applicationId, withdraw.reason) = ("withdraw-s2", second.id, "企业撤回")
        _ = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.withdrawApplication, withdraw)
        if stop == "crash" {
            // Killed once the ledger has taken note of the withdrawal while serving (no clean stop's record).
            let withdrawn = try ReadOnlyDatabase(path: nanhaiFile).rows("SELECT seq FROM audit_head").first?.first ?? ""
            let noted = await eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                (try? ReadOnlyDatabase(path: directory + "/city-ledger.sqlite").rows("SELECT seq FROM district_heads WHERE district = 'nanhai'").first?.first) == withdrawn
            }
            #expect(noted, "the ledger's record of nanhai never reached \(withdrawn)")
            await daemon.crash()
        } else {
            #expect(await daemon.terminate() == 0)
        }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: nanhaiFile + suffix) }
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: old + "/nanhai.sqlite" + suffix) {
            try FileManager.default.copyItem(atPath: old + "/nanhai.sqlite" + suffix, toPath: nanhaiFile + suffix)
        }

        let refused = try await refusedStart(directory)
        #expect(refused.status == Self.inconsistent && refused.log.contains("lacks its audit row"), "\(refused.log)")
        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == Self.inconsistent && check.output.contains("nanhai.sqlite") && check.output.contains("older than the rest"), "\(check.output)")
        let accept = try await Self.subsidyd(["--dev", "--data-dir", directory, "--repair", "--accept-ledger"], environment: ["SUDO_UID": "4242"])
        #expect(accept.status == 0, "\(accept.output)\(accept.error)")
        #expect(accept.output.contains("\(nanhaiFile): accepted as it is"), "\(accept.output)")
        // The loss is in the ledger's audit chain: which file, what it lacked, and who accepted it.
        let events = try ReadOnlyDatabase(path: directory + "/city-ledger.sqlite").rows("SELECT event FROM audit WHERE event LIKE '%accept-district-head%'").map { $0[0] }
        #expect(events.count == 1 && events.first?.hasPrefix(#"{"action":"accept-district-head","district":"nanhai","recorded_seq":"#) == true, "\(events)")
        #expect(events.first?.contains(#""tenant":"operator""#) == true, "\(events)")
        let accepted = try await DaemonProcess.start(dataDirectory: directory)
        var get = Foshan_Subsidy_V1_GetApplicationRequest()
        get.applicationId = id
        #expect(try await Bureau(try await accepted.client("nanhai")).client.call(Foshan_Subsidy_V1_DistrictService.Method.getApplication, get).record?.state == .publicized)
        #expect(await accepted.terminate() == 0)
    }

    @Test("a district file from another installation is named as such, not blamed on the ledger the other four agree on, and accepting the ledger is not advised")
    func foreignDistrictFile() async throws {
        let (directory, _) = try await approvedAndPublicized()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Shunde decided here too, so it saw this installation's ledger, as every district in service has.
        let daemon = try await DaemonProcess.start(dataDirectory: directory)
        let (city, shunde) = (Bureau(try await daemon.client("city")), Bureau(try await daemon.client("shunde")))
        let buyer = TestData.uscc(7_901, area: 6)
        try await shunde.register(buyer)
        _ = try await city.approve(try await shunde.file(TestData.voucher(enterprise: buyer, provider: Self.provider, contractFen: 20_000_000, contract: "S-SD")))
        #expect(await daemon.terminate() == 0)
        let (other, _) = try await approvedAndPublicized(ownInstallation: true)
        defer { try? FileManager.default.removeItem(atPath: other) }
        let nanhaiFile = directory + "/districts/nanhai.sqlite"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: nanhaiFile + suffix) }
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: other + "/districts/nanhai.sqlite" + suffix) {
            try FileManager.default.copyItem(atPath: other + "/districts/nanhai.sqlite" + suffix, toPath: nanhaiFile + suffix)
        }
        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == Self.inconsistent)
        #expect(check.output.contains("\(nanhaiFile): has seen ledger") && check.output.contains("this district file is another installation's"), "\(check.output)")
        #expect(!check.output.contains("the city ledger is behind") && !check.output.contains("older than the rest"), "\(check.output)")
        let refused = try await refusedStart(directory)
        #expect(refused.status == Self.inconsistent && refused.log.contains("another installation's"), "\(refused.log)")
    }

    @Test("a ledger replaced by another file, or rewritten, stops start-up", arguments: ["replaced", "rewritten"])
    func replacedLedger(variant: String) async throws {
        let (directory, _) = try await approvedAndPublicized()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let expected: String
        if variant == "replaced" {
            // Another installation's ledger: its own identity (a directory of its own, not a
            // copy of the template the first one may have started from).
            // It has decided too, so it recorded its own districts' audit heads, which no file here has.
            let (other, _) = try await approvedAndPublicized(ownInstallation: true)
            defer { try? FileManager.default.removeItem(atPath: other) }
            try copyLedger(from: other, to: directory)
            expected = "a different ledger file"
        } else {
            // The same ledger with the audit row Nanhai saw last rewritten (and the head with it).
            let ledger = directory + "/city-ledger.sqlite"
            try ReadOnlyDatabase.execute(
                path: ledger,
                """
                UPDATE audit SET hash = '\(String(repeating: "f", count: 64))' WHERE seq = (SELECT seq FROM audit_head);
                UPDATE audit_head SET hash = '\(String(repeating: "f", count: 64))';
                """
            )
            expected = "rewritten or replaced"
        }
        let refused = try await refusedStart(directory)
        #expect(refused.status == Self.inconsistent)
        #expect(refused.log.contains(expected), "\(refused.log)")
        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == Self.inconsistent)
        #expect(check.output.contains(expected))
        // The ledger is blamed, not the district files it does not know.
        #expect(check.output.contains("the city ledger is behind") && !check.output.contains("is not the file the ledger recorded"), "\(check.output)")
    }

    @Test("a district approval whose commitment vanished is reported by audit verify, and then stops start-up")
    func missingCommitment() async throws {
        let (directory, id) = try await approvedAndPublicized()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try await DaemonProcess.start(dataDirectory: directory)
        let clean = try await runCtl(["--data-dir", directory, "--as", "city", "audit", "verify"])
        #expect(clean.status == 0, "\(clean.output)\(clean.error)")
        try ReadOnlyDatabase.execute(
            path: directory + "/city-ledger.sqlite",
            "DELETE FROM charges WHERE application_id = '\(id)'; DELETE FROM commitments WHERE application_id = '\(id)';"
        )
        let verify = try await runCtl(["--data-dir", directory, "--as", "city", "audit", "verify"])
        #expect(verify.status == 3)
        #expect(verify.output.contains("consistency") && verify.output.contains("\(id): is PUBLICIZED but the ledger"), "\(verify.output)")
        #expect(await daemon.terminate() == 0)

        let refused = try await refusedStart(directory)
        #expect(refused.status == Self.inconsistent)
        #expect(refused.log.contains("\(directory)/districts/nanhai.sqlite: \(id): is PUBLICIZED but the ledger"), "\(refused.log)")
        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == Self.inconsistent)
        #expect(check.output.contains(id))
        // Nothing a repair may do safely recreates an award: it stays refused.
        #expect(try await Self.subsidyd(["--dev", "--data-dir", directory, "--repair"]).status == Self.inconsistent)
    }

    @Test("a cap total that drifted from its charges: --check names it (exit 4, start-up not refused), --repair rebuilds it, audited")
    func driftedCapTotal() async throws {
        let (directory, _) = try await approvedAndPublicized()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledgerPath = directory + "/city-ledger.sqlite"
        let kept = try ReadOnlyDatabase(path: ledgerPath).rows("SELECT cap_id, scope, amount_fen, count FROM cap_totals WHERE amount_fen > 0 ORDER BY cap_id, scope LIMIT 1")
        let row = try #require(kept.first)
        // As a hand edit or a damaged page would: the charges say one thing, the total another.
        try ReadOnlyDatabase.execute(path: ledgerPath, "UPDATE cap_totals SET amount_fen = amount_fen - 1000 WHERE cap_id = '\(row[0])' AND scope = '\(row[1])'")
        let difference = "cap_totals \(row[0])[\(row[1])]: kept \(Int64(row[2])! - 1000), \(row[3]); its records give \(row[2]), \(row[3])"

        // Start-up does not recompute (it would read every award), so it still serves.
        let daemon = try await DaemonProcess.start(dataDirectory: directory)
        #expect(await daemon.terminate() == 0)

        // A registration a release before this one accepted: the Kelvin sign for a K. Listed for
        // the bureau, not refused.
        let kelvin = "91440605MA4X1P6N4\u{212A}"
        try ReadOnlyDatabase.execute(
            path: directory + "/districts/nanhai.sqlite",
            "INSERT INTO applicants (uscc, name, locality, role, created_at) VALUES ('\(kelvin)', '旧写法', 'local', 'industrial_enterprise', '2022-01-01T00:00:00Z')")

        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == Self.totalsDiffer, "\(check.output)\(check.error)")
        #expect(check.output.contains("USCCs in \(directory)/districts/nanhai.sqlite with characters outside ASCII") && check.output.contains("\(kelvin) (U+212A)"), "\(check.output)")
        #expect(check.output.contains("TOTALS in \(ledgerPath): 1 key differs from its records"))
        #expect(check.output.contains("  \(difference)"))
        #expect(check.output.contains("NOT consistent: subsidyd would start on \(directory)"))

        // Run through sudo as the daemon's account: the event names who ran it, not the account.
        let repair = try await Self.subsidyd(["--dev", "--data-dir", directory, "--repair"], environment: ["SUDO_UID": "4242"])
        #expect(repair.status == 0, "\(repair.output)\(repair.error)")
        #expect(repair.output.contains("TOTALS in \(ledgerPath): 1 key differed from its records and was rebuilt"))
        let event = try ReadOnlyDatabase(path: ledgerPath).rows("SELECT event FROM audit ORDER BY seq DESC LIMIT 1").first?.first ?? ""
        // A login session's uid comes first (a developer's shell has one; CI's has none).
        let login = (try? String(contentsOfFile: "/proc/self/loginuid", encoding: .utf8)).flatMap { UInt32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let recorded = login.flatMap { $0 == UInt32.max ? nil : $0 } ?? 4242
        #expect(event.hasPrefix(#"{"action":"rebuild-totals","table":"cap_totals","keys":1,"#) && event.hasSuffix("\"tenant\":\"operator\",\"uid\":\(recorded)}"), "\(event)")

        let clean = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(clean.status == 0 && !clean.output.contains("TOTALS"), "\(clean.output)")
        #expect(try LedgerChecker.violations(dataDirectory: directory, policy: LedgerWorkflowTests.policy) == [])
    }

    @Test("an emptied or deleted ledger beside districts that hold data is refused by start-up, --check and --repair before any file is opened: it is not set up as a new ledger")
    func emptiedLedger() async throws {
        let (directory, _) = try await approvedAndPublicized()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = directory + "/city-ledger.sqlite"
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: ledger + suffix) }
        truncate(ledger, 0)
        for arguments in [["--check"], ["--repair", "--accept-ledger"]] {
            let refused = try await Self.subsidyd(["--dev", "--data-dir", directory] + arguments)
            #expect(refused.status == Self.inconsistent && refused.output.contains("\(ledger): empty (0 bytes), beside district files that hold data"),
                    "\(arguments): \(refused.output)\(refused.error)")
            #expect((try FileManager.default.attributesOfItem(atPath: ledger)[.size] as? Int) == 0, "\(arguments) wrote nothing into it")
        }
        let start = try await refusedStart(directory)
        #expect(start.status == Self.inconsistent && start.log.contains("empty (0 bytes)"), "\(start.log)")
        // Deleted rather than emptied: the same, and no new ledger is left behind.
        try FileManager.default.removeItem(atPath: ledger)
        let deleted = try await refusedStart(directory)
        #expect(deleted.status == Self.inconsistent && deleted.log.contains("\(ledger): missing, beside district files that hold data"), "\(deleted.log)")
        #expect(!FileManager.default.fileExists(atPath: ledger), "not set up anew")
        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == Self.inconsistent && check.output.contains("\(ledger): missing, beside district files that hold data"), "\(check.output)\(check.error)")
        #expect(!FileManager.default.fileExists(atPath: ledger), "the check set up nothing")
    }

    @Test(
        "a district file lost while the ledger holds its applicants, or recorded a change in it, stops start-up instead of being created empty; a mistyped --data-dir is not 'consistent'"
    )
    func missingDistrictFile() async throws {
        let (directory, _) = try await approvedAndPublicized()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Shunde's only change is its own catalogue: no applicant or award of it in the ledger.
        let daemon = try await DaemonProcess.start(dataDirectory: directory)
        try await ProgrammeData.catalogue(Bureau(try await daemon.client("shunde")), ProgrammeData.seller)
        #expect(await daemon.terminate() == 0)
        for district in ["nanhai", "shunde"] {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: directory + "/districts/\(district).sqlite" + suffix) }
        }
        let refused = try await refusedStart(directory)
        #expect(refused.status == Self.inconsistent)
        for district in ["nanhai", "shunde"] {
            #expect(
                refused.log.contains("\(directory)/districts/\(district).sqlite: missing, but the city ledger holds this district's applicants, awards or recorded changes"),
                "\(refused.log)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/districts/nanhai.sqlite"), "not created empty")
        #expect(!FileManager.default.fileExists(atPath: directory + "/districts/shunde.sqlite"), "not created empty")
        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == Self.inconsistent && check.output.contains("INCONSISTENT \(directory)/districts/nanhai.sqlite: missing"), "\(check.output)\(check.error)")

        // Emptied (0 bytes) rather than gone: named as such, and left as it is by the check.
        _ = FileManager.default.createFile(atPath: directory + "/districts/nanhai.sqlite", contents: nil)
        let emptied = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(emptied.status == Self.inconsistent && emptied.output.contains("INCONSISTENT \(directory)/districts/nanhai.sqlite: empty (0 bytes), but the city ledger holds"),
                "\(emptied.output)\(emptied.error)")
        #expect((try FileManager.default.attributesOfItem(atPath: directory + "/districts/nanhai.sqlite")[.size] as? Int) == 0, "the check wrote nothing into it")

        let nowhere = directory + "-mistyped"
        let mistyped = try await Self.subsidyd(["--dev", "--data-dir", nowhere, "--check"])
        #expect(mistyped.status == Self.cannotStart && mistyped.error.contains("holds no city-ledger.sqlite"), "\(mistyped.output)\(mistyped.error)")
        #expect(!FileManager.default.fileExists(atPath: nowhere))
    }

    @Test("a damaged page the daemon's reads have not met: --check names the file (DAMAGED, exit 3); a file too damaged to open stops the check naming it (exit 2)")
    func damagedFile() async throws {
        let (directory, _) = try await approvedAndPublicized()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let nanhai = directory + "/districts/nanhai.sqlite"
        try ReadOnlyDatabase.execute(path: nanhai, "PRAGMA wal_checkpoint(TRUNCATE)")
        let database = try ReadOnlyDatabase(path: nanhai)
        let pageSize = try #require(Int(try database.rows("PRAGMA page_size")[0][0]))
        let root = try #require(Int(try database.rows("SELECT rootpage FROM sqlite_master WHERE name = 'applications_measure_page'")[0][0]))
        // The index's one leaf: its cells sit at the end of the page.
        let handle = try #require(FileHandle(forWritingAtPath: nanhai))
        try handle.seek(toOffset: UInt64(root * pageSize - 16))
        try handle.write(contentsOf: Data(repeating: 0xFF, count: 16))
        try handle.close()
        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == Self.inconsistent, "\(check.output)\(check.error)")
        #expect(check.output.contains("DAMAGED \(nanhai): SQLite's integrity_check: ") && check.output.contains("NOT consistent: a file is damaged"), "\(check.output)")
        // A backup refuses it naming the live file, not the copy it was writing.
        let backup = try await Self.subsidyd(["backup", "--data-dir", directory, directory + "-backup"])
        defer { try? FileManager.default.removeItem(atPath: directory + "-backup") }
        #expect(backup.status != 0 && backup.error.contains("\(nanhai): its copy fails SQLite's check") && !backup.error.contains(".partial"),
                "\(backup.output)\(backup.error)")

        truncate(nanhai, 3 * off_t(pageSize))
        let unreadable = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(unreadable.status == Self.cannotStart && unreadable.error.contains(nanhai), "the file is named: \(unreadable.output)\(unreadable.error)")
        // SQLite's "malformed" names no remedy: the check, and a start, say what to do.
        #expect(unreadable.error.contains("a store file is damaged: keep a copy of the data directory as it is"), "\(unreadable.error)")
        // Bounded: a daemon that started after all would otherwise serve until the suite's end.
        let start = try await run("/usr/bin/timeout", ["60", DaemonProcess.productsDirectory + "/subsidyd", "--dev", "--data-dir", directory])
        #expect(start.status == Self.cannotStart && start.error.contains("restore the newest backup"), "\(start.error)")
    }

    @Test("a broken audit chain: --check says start-up would still serve and what to do (exit 3), --repair cannot mend it (exit 3)")
    func brokenChain() async throws {
        let (directory, _) = try await approvedAndPublicized()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ReadOnlyDatabase.execute(path: directory + "/districts/nanhai.sqlite", "UPDATE audit SET event = event || ' ' WHERE seq = 1")
        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == Self.inconsistent)
        #expect(check.output.contains("NOT consistent: an audit chain does not verify — subsidyd would start and serve"), "\(check.output)")
        let before = try DistrictProgrammeChecker.auditEvents(dataDirectory: directory, district: "shunde")
        let repair = try await Self.subsidyd(["--dev", "--data-dir", directory, "--repair", "--accept-ledger"])
        #expect(repair.status == Self.inconsistent, "\(repair.output)")
        #expect(repair.output.contains("audit \(directory)/districts/nanhai.sqlite: BROKEN at row 1") && repair.output.contains("NOT repaired: an audit chain does not verify"), "\(repair.output)")
        // It changed nothing: not even the acceptance it was asked for.
        #expect(try DistrictProgrammeChecker.auditEvents(dataDirectory: directory, district: "shunde") == before)
        // As --check said: it starts.
        let daemon = try await DaemonProcess.start(dataDirectory: directory)
        #expect(await daemon.terminate() == 0)
    }

    @Test("the normal crash window is not an inconsistency: --check lists it, start-up completes it")
    func ledgerAheadIsRolledForward() async throws {
        let daemon = try await DaemonProcess.start()
        let directory = daemon.dataDirectory
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let city = Bureau(try await daemon.client("city"))
        try await city.pool(Self.provider)
        let nanhai = Bureau(try await daemon.client("nanhai"))
        try await nanhai.register(Self.buyer)
        let id = try await nanhai.file(TestData.voucher(enterprise: Self.buyer, provider: Self.provider, contractFen: 20_000_000, contract: "S-2"))
        #expect(await daemon.terminate() == 0)
        let crashing = try await DaemonProcess.start(dataDirectory: directory, environment: ["SUBSIDYD_CRASH_AT": "approve.after-ledger"])
        _ = try? await Bureau(try await crashing.client("city")).approve(id)
        #expect(await crashing.waitForExit() == SIGKILL)

        let check = try await Self.subsidyd(["--dev", "--data-dir", directory, "--check"])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("recovery would roll forward: \(id) approve"))
        let restarted = try await DaemonProcess.start(dataDirectory: directory)
        var get = Foshan_Subsidy_V1_GetApplicationRequest()
        get.applicationId = id
        #expect(try await restarted.client("nanhai").call(Foshan_Subsidy_V1_DistrictService.Method.getApplication, get).record?.state == .approved)
        let nanhaiFile = try ReadOnlyDatabase(path: directory + "/districts/nanhai.sqlite")
        #expect(try nanhaiFile.rows("SELECT COUNT(*) FROM ledger_seen") == [["1"]], "recovery's roll-forward records the ledger position")
        #expect(await restarted.terminate() == 0)
    }

    @Test("a second daemon on the same data directory refuses to start, even with any lock file deleted")
    func secondDaemon() async throws {
        let first = try await DaemonProcess.start()
        defer { try? FileManager.default.removeItem(atPath: first.dataDirectory) }
        unlink(first.dataDirectory + "/subsidyd.lock")
        // Run to completion rather than through DaemonProcess.start: what matters is how it
        // exits. Were the lock missed, the second daemon would still exit (its sockets are
        // live) — with the wrong code and message.
        let second = try await Self.subsidyd(["--dev", "--data-dir", first.dataDirectory])
        #expect(second.status == Self.cannotStart)
        #expect(second.error.contains("another subsidyd holds this data directory's lock"), "\(second.error)")
        // --check must not look at stores a daemon is serving either.
        #expect(try await Self.subsidyd(["--dev", "--data-dir", first.dataDirectory, "--check"]).status == Self.cannotStart)
        let health = try await first.client("city").call(Foshan_Subsidy_V1_Health.Method.check, Foshan_Subsidy_V1_HealthCheckRequest())
        #expect(health.status == .serving)
        #expect(await first.terminate() == 0)
    }

    @Test("a data directory writable by others, or owned by another user, is refused", arguments: [0o775, 0o757, 0o777, -1])
    func unsafeDataDirectory(mode: Int) async throws {
        let base = DaemonProcess.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let directory = base + "/data"
        #expect(mkdir(directory, 0o700) == 0)
        if mode >= 0 {
            #expect(chmod(directory, mode_t(mode)) == 0)
        } else {
            // Owned by someone else: only root can arrange that.
            guard geteuid() == 0 else { return }
            #expect(chown(directory, 65_534, 65_534) == 0)
        }
        let refused = try await refusedStart(directory)
        #expect(refused.status == Self.cannotStart)
        #expect(refused.log.contains(directory + ": "), "\(refused.log)")
        #expect(refused.log.contains(mode >= 0 ? "is writable by" : "is owned by uid 65534"))
        #expect(refused.log.contains("refusing to use it"))
    }

    @Test("a districts/ directory or a socket's directory writable by others is refused", arguments: ["districts", "sockets"])
    func unsafeInnerDirectory(which: String) async throws {
        let base = DaemonProcess.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let directory = base + "/data"
        #expect(mkdir(directory, 0o700) == 0)
        // --dev puts the district files under data/districts and the sockets under data/sockets.
        let inner = which == "districts" ? directory + "/districts" : directory + "/sockets"
        #expect(mkdir(inner, 0o700) == 0)
        #expect(chmod(inner, 0o777) == 0)
        let refused = try await refusedStart(directory)
        #expect(refused.status != 0)
        #expect(refused.log.contains(inner), "\(refused.log)")
        #expect(refused.log.contains("is writable by group and others"), "\(refused.log)")
    }

    @Test("a socket path taken by something that is not a socket stops start-up before any socket is bound: no crash, none left behind")
    func laterSocketFails() async throws {
        let configuration = DaemonConfiguration()
        defer { try? FileManager.default.removeItem(atPath: configuration.baseDirectory) }
        // The city's socket path is taken by a plain file (checked for every socket before any is bound).
        #expect(mkdir(configuration.runtimeDirectory, 0o755) == 0)
        #expect(FileManager.default.createFile(atPath: configuration.socketPath("city"), contents: Data("not a socket".utf8)))
        do {
            let daemon = try await DaemonProcess.start(configuration: configuration)
            await daemon.terminate()
            Issue.record("subsidyd started with its city socket path taken")
        } catch DaemonError.exited(let status, let log) {
            #expect(status != 0)
            #expect(log.contains("exists and is not a socket"), "\(log)")
            #expect(!log.contains("Fatal error"), "\(log)")
        }
        for district in DaemonProcess.districts {
            #expect(!FileManager.default.fileExists(atPath: configuration.socketPath(district)), "\(district)'s socket was left behind")
        }
    }

    @Test("a runtime directory writable by others is refused")
    func unsafeRuntimeDirectory() async throws {
        let configuration = DaemonConfiguration()
        defer { try? FileManager.default.removeItem(atPath: configuration.baseDirectory) }
        #expect(mkdir(configuration.runtimeDirectory, 0o700) == 0)
        #expect(chmod(configuration.runtimeDirectory, 0o777) == 0)
        do {
            let daemon = try await DaemonProcess.start(configuration: configuration)
            await daemon.terminate()
            Issue.record("subsidyd started with a world-writable runtime directory")
        } catch DaemonError.exited(let status, let log) {
            #expect(status == Self.cannotStart)
            #expect(log.contains(configuration.runtimeDirectory + ": is writable by group and others"), "\(log)")
        }
    }

    @Test("the stores and their -wal and -shm files are private to the daemon (0600)")
    func storeFileModes() async throws {
        // A directory of its own: the modes checked are the ones this daemon gives the files it
        // creates, not a template's.
        let daemon = try await DaemonProcess.start(dataDirectory: DaemonProcess.makeTemporaryDirectory())
        defer { try? FileManager.default.removeItem(atPath: daemon.dataDirectory) }
        let city = Bureau(try await daemon.client("city"))
        try await city.pool(Self.provider)
        var files = ["city-ledger.sqlite", "city-ledger.sqlite-wal", "city-ledger.sqlite-shm"]
        for district in DaemonProcess.districts { files += ["", "-wal", "-shm"].map { "districts/\(district).sqlite" + $0 } }
        for file in files {
            var info = stat()
            guard stat(daemon.dataDirectory + "/" + file, &info) == 0 else { continue }  // -wal/-shm may be gone
            #expect(info.st_mode & 0o777 == 0o600, "\(file) has mode \(String(info.st_mode & 0o777, radix: 8))")
        }
        #expect(FileManager.default.fileExists(atPath: daemon.dataDirectory + "/city-ledger.sqlite"))
        #expect(await daemon.terminate() == 0)
    }
}

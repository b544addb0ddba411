import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// The lists the bureaus publish and read, through the real subsidyctl against the real daemon
/// (`--demo` data): decision dates and 文号 kept, the 公示 and disbursement exports as Excel opens
/// them, and tables that line up with Chinese names.
@Suite("bureau lists and exports")
struct BureauListTests {
    static let voucher = """
        {"measure": "CLOUD_VOUCHER", "fundingYear": 2022, "enterpriseUscc": "91440605000000115C",
         "providerUscc": "914406050000000193", "contractNumber": "HT-2022-NH-9",
         "contractAmountFen": "120000000", "paidAmountFen": "120000000", "projectName": "设备上云"}
        """

    /// The day these tests file on: before the decisions they date in October 2022 (none may be
    /// dated before its filing), inside the 2020 measures' window.
    static let filingDay = "2022-09-01"

    /// Runs subsidyctl against `daemon` as `tenant`, expecting success.
    static func ctl(_ daemon: DaemonProcess, as tenant: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        let result = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", tenant] + arguments, environment: environment)
        #expect(result.status == 0, "subsidyctl \(arguments): \(result.error)")
        return result.output
    }

    /// Reads a CSV export back the way a script would (Python's csv, the BOM stripped by utf-8-sig).
    static func readCSV(_ path: String) async throws -> [[String]] {
        let script = "import csv, json, sys; print(json.dumps(list(csv.reader(open(sys.argv[1], encoding='utf-8-sig', newline='')))))"
        let result = try await run("/usr/bin/python3", ["-c", script, path])
        #expect(result.status == 0, "\(result.error)")
        return try JSONDecoder().decode([[String]].self, from: Data(result.output.utf8))
    }

    /// The test venv's Python (`.ci/run` creates it with Protos/python/requirements.txt, openpyxl included).
    static let venvPython = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".venv/bin/python").path

    /// Runs `script` (with `arguments`) in the test venv, expecting success; its standard output.
    static func python(_ script: String, _ arguments: [String]) async throws -> String {
        #expect(FileManager.default.isExecutableFile(atPath: venvPython), "no \(venvPython): run .ci/run once, or python3 -m venv .venv && .venv/bin/pip install -r Protos/python/requirements.txt")
        let result = try await run(venvPython, ["-W", "ignore", "-c", script] + arguments)
        #expect(result.status == 0, "\(result.error)")
        return result.output
    }

    /// Files the voucher in nanhai and takes it through approval, publicity and payment with dates
    /// and 文号; returns its id.
    static func decideVoucher(_ daemon: DaemonProcess) async throws -> String {
        let file = daemon.dataDirectory + "/voucher.json"
        try voucher.write(toFile: file, atomically: false, encoding: .utf8)
        let submitted = try await ctl(daemon, as: "nanhai", ["--json", "--today", Self.filingDay, "submit", "--file", file])
        let object = try JSONSerialization.jsonObject(with: Data(submitted.utf8)) as? [String: Any]
        let id = try #require((object?["record"] as? [String: Any])?["id"] as? String, "\(submitted)")
        _ = try await ctl(daemon, as: "nanhai", ["--today", Self.filingDay, "review", id, "--outcome", "recommend"])
        _ = try await ctl(daemon, as: "city", ["approve", id, "--decision-date", "2022-10-01", "--document", "佛工信〔2022〕88号"])
        // A clerk's 2022/10/2 is the date, as in a sheet.
        _ = try await ctl(daemon, as: "city", ["publicize", id, "--decision-date", "2022/10/2", "--document", "佛工信公示〔2022〕5号"])
        let early = try await runCtl(["--data-dir", daemon.dataDirectory, "disburse", id, "--decision-date", "2022-10-08"])
        #expect(early.status != 0 && early.error.contains("2022-10-09"), "payment inside the 公示 is refused: \(early.error)")
        #expect(early.error.split(separator: "\n").filter { $0.contains("2022-10-09") }.count == 1, "the refusal is said once: \(early.error)")
        _ = try await ctl(daemon, as: "city", ["disburse", id, "--decision-date", "2022-10-09", "--document", "佛财拨〔2022〕3号"])
        return id
    }

    @Test("every city decision keeps its date and 文号; the record names the enterprise, the 公示 window and the day of payment")
    func decisionsKeepDatesAndDocuments() async throws {
        try await withDaemon(demo: true) { daemon in
            let id = try await Self.decideVoucher(daemon)
            _ = try await Self.ctl(daemon, as: "city", ["revoke", id, "--decision-date", "2022-11-01", "--document", "佛工信〔2022〕99号", "--reason", "合同解除"])
            let early = try await runCtl(["--data-dir", daemon.dataDirectory, "reject", "shunde-000004", "--decision-date", "1999-12-31", "--reason", "x"])
            #expect(early.status != 0 && early.error.contains("request.decision_date"), "a date before the window is refused: \(early.error)")

            let shown = try await Self.ctl(daemon, as: "city", ["--json", "show", id])
            let record = try #require(try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any])["record"] as? [String: Any]
            #expect(record?["enterpriseName"] as? String == "佛山市南海区铝型材制造有限公司")
            #expect(record?["publicizedOn"] as? String == "2022-10-02")
            #expect(record?["publicityLastDay"] as? String == "2022-10-08")
            #expect(record?["disbursedOn"] as? String == "2022-10-09")
            #expect(record?["decisionDocument"] as? String == "佛工信〔2022〕88号")
            let history = try #require(record?["history"] as? [[String: Any]])
            let decided = history.compactMap { entry -> String? in
                guard let date = entry["decisionDate"] as? String else { return nil }
                return "\(entry["action"] ?? "") \(date) \(entry["decisionDocument"] ?? "")"
            }
            #expect(decided == [
                "approve 2022-10-01 佛工信〔2022〕88号", "publicize 2022-10-02 佛工信公示〔2022〕5号", "disburse 2022-10-09 佛财拨〔2022〕3号",
                "revoke 2022-11-01 佛工信〔2022〕99号",
            ])
            let human = try await Self.ctl(daemon, as: "city", ["show", id])
            #expect(human.contains("公示:      2022-10-02 – 2022-10-08"), "\(human)")
            #expect(human.contains("dated 2022-11-01 佛工信〔2022〕99号"), "\(human)")

            // A revocation dated before its approval is refused, and the award stays.
            let other = try #require(try await Self.ctl(daemon, as: "city", ["--json", "list", "--state", "APPROVED", "--district", "shunde"])
                .firstRecordID())
            let backdated = try await runCtl(["--data-dir", daemon.dataDirectory, "revoke", other, "--decision-date", "2020-08-01", "--reason", "x"])
            #expect(backdated.status != 0 && backdated.error.contains("before the approval"), "\(backdated.error)")
        }
    }

    @Test("a name or project an enterprise typed to begin like a formula (=, +, -, @, full-width too) is exported as text, never run by Excel")
    func formulaInjection() async throws {
        try await withDaemon { daemon in
            let nanhai = Bureau(try await daemon.client("nanhai"))
            // The last: `=` and a combining mark are one Character, but a spreadsheet sees the `=`.
            let names = ["=HYPERLINK(\"http://example.invalid\",\"点此\")", "＝SUM(A1:A9)", "@cmd", "-1+2", "=\u{301}1+1"]
            for (i, name) in names.enumerated() {
                let uscc = TestData.uscc(8_800 + i, area: 5)
                var request = Foshan_Subsidy_V1_RegisterApplicantRequest()
                request.requestId = UUID().uuidString
                var applicant = Foshan_Subsidy_V1_Applicant()
                applicant.uscc = uscc
                applicant.name = name
                applicant.role = .industrialEnterprise
                applicant.locality = .local
                request.applicant = applicant
                _ = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.registerApplicant, request)
                _ = try await nanhai.submit(TestData.benchmark(enterprise: uscc, investedFen: 100_000_000, name: "＋项目\(i)"))
            }
            let out = daemon.dataDirectory + "/nanhai.csv"
            _ = try await Self.ctl(daemon, as: "nanhai", ["export", "applications", "--out", out])
            let table = try await Self.readCSV(out)
            let rows = table.dropFirst()
            let cells = Set(rows.flatMap { $0 })
            // Times as a clerk reads them (China Standard Time, no T or Z), and the filing day.
            let (madeAt, filedOn) = (try #require(table[0].firstIndex(of: "申报时间")), try #require(table[0].firstIndex(of: "受理日期")))
            for row in rows {
                #expect(!row[madeAt].contains("T") && !row[madeAt].hasSuffix("Z") && row[madeAt].count == 19, "\(row[madeAt])")
                #expect((try? CalendarDate(parsing: row[filedOn])) != nil, "\(row[filedOn])")
            }
            for name in names { #expect(cells.contains("'" + name) && !cells.contains(name), "\(name): \(rows)") }
            #expect(cells.contains("'＋项目0") && !cells.contains("＋项目0"), "\(rows)")

            // Codes Excel would read as numbers (9.14406E+17, its last digits lost when the file is
            // saved) or dates stay text: written as ="…"; a code with other letters stays bare.
            // The class, not the shapes seen: a negative in parentheses, a month name, a Chinese
            // date, a truth value.
            let shapes = ["(123)", "Mar-22", "2022年10月", "TRUE", "10:30 PM", "１２３４５６７８９０１２３４５６"]
            let codes = [("914406050000013377", "20221031000123456789"), ("914406050000003E42", "2022-10"), (TestData.uscc(8_810, area: 5), "HT-2022-1")]
                + shapes.enumerated().map { (TestData.uscc(8_811 + $0.offset, area: 5), $0.element) }
            for (uscc, contract) in codes {
                try await nanhai.register(uscc)
                var application = TestData.benchmark(enterprise: uscc, investedFen: 100_000_000, name: "编号项目 \(contract)")
                application.contractNumber = contract
                _ = try await nanhai.submit(application)
            }
            let again = daemon.dataDirectory + "/codes.csv"
            _ = try await Self.ctl(daemon, as: "nanhai", ["export", "applications", "--out", again])
            let text = String(decoding: try #require(FileManager.default.contents(atPath: again)), as: UTF8.self)
            for code in ["914406050000013377", "20221031000123456789", "914406050000003E42", "2022-10"] + shapes {
                #expect(text.contains(",\"=\"\"\(code)\"\"\","), "\(code) is not kept as text: \(text)")
            }
            #expect(text.contains(",\(TestData.uscc(8_810, area: 5)),") && text.contains(",HT-2022-1,"), "\(text)")
        }
    }

    @Test("the 公示 and disbursement lists export as CSV Excel opens: a BOM, Chinese headers, enterprise names, yuan")
    func publicityAndDisbursementExports() async throws {
        try await withDaemon(demo: true) { daemon in
            let id = try await Self.decideVoucher(daemon)
            let publicity = daemon.dataDirectory + "/公示.csv"
            _ = try await Self.ctl(daemon, as: "city", ["export", "publicity", "--year", "2022", "--from", "2022-10-01", "--out", publicity])
            let bytes = try #require(FileManager.default.contents(atPath: publicity))
            #expect(Array(bytes.prefix(3)) == [0xEF, 0xBB, 0xBF], "UTF-8 with a byte-order mark")
            #expect(String(decoding: bytes, as: UTF8.self).contains("\r\n"))
            let rows = try await Self.readCSV(publicity)
            #expect(rows.first == ["序号", "申请编号", "区", "企业名称", "统一社会信用代码", "项目名称", "支持方向", "资助金额（元）", "文号", "公示开始日期", "公示结束日期", "政策", "决定及拨付单位"])
            #expect(rows.dropFirst().map { Array($0.dropFirst()) } == [[
                id, "南海区", "佛山市南海区铝型材制造有限公司", "91440605000000115C", "设备上云", "上云上平台服务券", "500000.00", "佛工信〔2022〕88号",
                "2022-10-02", "2022-10-08", "foshan-2020", "佛山市工业和信息化局",
            ]], "only the 公示 begun in the range: \(rows)")

            // A range typed backwards, or an extension that is not what is written, is refused rather than written.
            for (arguments, problem) in [
                (["--from", "2022-10-09", "--to", "2022-10-01", "--out", publicity], "--to 2022-10-01 is before --from 2022-10-09"),
                (["--out", daemon.dataDirectory + "/公示.xls"], "the file's extension does not match"),
            ] {
                let refused = try await runCtl(["--data-dir", daemon.dataDirectory, "export", "publicity"] + arguments)
                #expect(refused.status == 64 && refused.error.contains(problem), "\(refused.error)")
            }
            #expect(!FileManager.default.fileExists(atPath: daemon.dataDirectory + "/公示.xls"))

            let disbursement = daemon.dataDirectory + "/拨付.csv"
            _ = try await Self.ctl(daemon, as: "city", ["export", "disbursement", "--out", disbursement])
            let paid = try await Self.readCSV(disbursement)
            let header = try #require(paid.first)
            #expect(header.suffix(8) == ["审定日期", "文号", "公示结束日期", "拨付金额（元）", "状态", "拨付日期", "政策", "决定及拨付单位"])
            let ours = try #require(paid.first { $0.count > 1 && $0[1] == id })
            #expect(ours.suffix(8) == ["2022-10-01", "佛工信〔2022〕88号", "2022-10-08", "500000.00", "已拨付", "2022-10-09", "foshan-2020", "佛山市工业和信息化局"])
            // A district's own programme's awards say who pays them: Shunde, not the city.
            let shundes = paid.filter { $0.count > 1 && $0[1].hasPrefix("shunde-") && $0.last == "佛山市顺德区经济促进局" }
            #expect(shundes.allSatisfy { $0[$0.count - 2] == "shunde-dx-2021" } && !shundes.isEmpty, "\(paid)")
            #expect(Set(paid.dropFirst().map { $0[2] }).count > 1, "the city's list spans districts: \(paid)")

            // A district exports only its own.
            let own = daemon.dataDirectory + "/nanhai.csv"
            _ = try await Self.ctl(daemon, as: "nanhai", ["export", "applications", "--out", own])
            let applications = try await Self.readCSV(own).dropFirst()
            #expect(!applications.isEmpty && applications.allSatisfy { $0[1] == "南海区" }, "\(applications)")
            // A voucher's contract, payment and provider, after the columns that were there before.
            let ownHeader = try #require(try await Self.readCSV(own).first)
            #expect(ownHeader.count == 24 && ownHeader[18] == "受理日期", "\(ownHeader)")
            #expect(ownHeader.suffix(5) == ["合同金额（元）", "实付金额（元）", "服务商统一社会信用代码", "追回日期", "追回凭证"], "\(ownHeader)")
            let voucherRow = try #require(applications.first { $0[0] == id })
            #expect(voucherRow.suffix(5) == ["1200000.00", "1200000.00", "=\"914406050000000193\"", "", ""], "\(voucherRow)")
            // The demo's clawback: paid, revoked, its money not yet recovered — then recovered.
            let sanshui = daemon.dataDirectory + "/sanshui.csv"
            func clawback() async throws -> [String] {
                _ = try await Self.ctl(daemon, as: "sanshui", ["export", "applications", "--out", sanshui])
                return try #require(try await Self.readCSV(sanshui).first { $0[0] == "sanshui-000003" })
            }
            var row = try await clawback()
            #expect(row[2] == "已撤销" && row[13] == "2022-08-20" && row.suffix(2) == ["", ""], "\(row)")
            _ = try await Self.ctl(daemon, as: "city", ["recover", "sanshui-000003", "--decision-date", "2022-09-05", "--document", "缴款书 0001", "--reason", "企业已退回"])
            row = try await clawback()
            #expect(row.suffix(2) == ["2022-09-05", "缴款书 0001"], "\(row)")

            // The same list as an Excel workbook, read back by openpyxl: Chinese text, amounts as numbers.
            let workbook = daemon.dataDirectory + "/公示.xlsx"
            _ = try await Self.ctl(daemon, as: "city", ["export", "publicity", "--year", "2022", "--from", "2022-10-01", "--out", workbook])
            let read = try await Self.python(
                "import json, sys, openpyxl; ws = openpyxl.load_workbook(sys.argv[1]).active; "
                    + "print(json.dumps({'title': ws.title, 'rows': [[repr(c) if isinstance(c, float) else c for c in r] for r in ws.iter_rows(values_only=True)]}, ensure_ascii=False))",
                [workbook])
            let sheet = try JSONValue.parse(read)
            #expect(sheet["title"] == .string("公示名单"))
            guard case .array(let sheetRows)? = sheet["rows"], sheetRows.count == 2, case .array(let cells) = sheetRows[1] else {
                Issue.record("\(read)")
                return
            }
            #expect(cells[3] == .string("佛山市南海区铝型材制造有限公司") && cells[8] == .string("佛工信〔2022〕88号"), "\(cells)")
            #expect(cells[7] == .string("500000.0"), "the amount is a number (a float to openpyxl) Excel can sum: \(cells)")

            let report = try await Self.ctl(daemon, as: "city", ["export", "report", "--year", "2022"])
            #expect(report.hasPrefix("\u{FEFF}支持方向,区,待初审（件）"), "\(report.prefix(80))")
            #expect(report.contains("CLOUD_VOUCHER.annual_budget,2022,2022,元,"), "the city's report carries cap usage")
        }
    }

    @Test("list and quota as CSV write amounts as plain numbers; quota's consumers and calls follow its caps in the file; every programme's version is named")
    func listingsAsCSV() async throws {
        try await withDaemon(demo: true) { daemon in
            let english = ["LANG": "C.UTF-8", "LC_ALL": ""]
            let listed = daemon.dataDirectory + "/list.csv"
            try (try await Self.ctl(daemon, as: "nanhai", ["list", "--output", "csv"], environment: english)).write(toFile: listed, atomically: false, encoding: .utf8)
            let rows = try await Self.readCSV(listed)
            #expect(rows.first?.last == "AWARDED (YUAN)" && rows.contains { $0.first == "nanhai-000003" && $0.last == "375000.00" }, "\(rows)")

            let quota = try await runCtl(["--data-dir", daemon.dataDirectory, "quota", "--year", "2022", "--output", "csv"], environment: english)
            #expect(quota.status == 0, "\(quota.error)")
            let sheet = daemon.dataDirectory + "/quota.csv"
            try quota.output.write(toFile: sheet, atomically: false, encoding: .utf8)
            let table = try await Self.readCSV(sheet)
            #expect(table.first == ["CAP", "SCOPE", "LIMIT", "COMMITTED", "REMAINING", "USED"], "\(table)")
            // The scope is a code (2022, 2022/9144…), kept as text; the amounts are numbers.
            #expect(table.contains { $0.prefix(3) == ["CLOUD_VOUCHER.annual_budget", "=\"2022\"", "20000000.00"] }, "\(table)")
            // Each list after a blank row, with its own header, as `export report` writes them.
            for header in [["TOP PROVIDERS", "COMMITTED (YUAN)", "AWARDS"], ["TOP ENTERPRISES", "COMMITTED (YUAN)", "AWARDS"], ["DISTRICTS", "COMMITTED (YUAN)", "AWARDS"]] {
                let at = try #require(table.firstIndex(of: header), "\(header): \(table)")
                #expect(table[at - 1].isEmpty && table[at + 1].count == 3 && table[at + 1][1].wholeMatch(of: /[0-9]+\.[0-9]{2}/) != nil, "\(table[at + 1])")
            }
            #expect(table.contains(["gaoming", "3500000.00", "2"]), "\(table)")
            #expect(!quota.error.contains("TOP PROVIDERS") && !quota.error.contains("DISTRICTS"), "the lists are in the file, not on stderr: \(quota.error)")
            // The caps of three programmes: each one's version, on stderr with CSV, under the table without.
            #expect(quota.error.contains(/policy foshan-2020@[0-9a-f]+, foshan-dx-2021@[0-9a-f]+, shunde-dx-2021@[0-9a-f]+/), "\(quota.error)")
            let text = try await Self.ctl(daemon, as: "city", ["quota", "--year", "2022"], environment: english)
            #expect(text.contains(/\npolicy foshan-2020@[0-9a-f]+, foshan-dx-2021@[0-9a-f]+, shunde-dx-2021@[0-9a-f]+\n/), "\(text)")
            let one = try await Self.ctl(daemon, as: "city", ["quota", "--year", "2022", "--programme", "foshan-dx-2021"], environment: english)
            #expect(one.contains(/\npolicy foshan-dx-2021@[0-9a-f]+\n/), "\(one)")
        }
    }

    @Test("an unknown --role, --measure or --state lists the choices, without the protocol's *_UNSPECIFIED")
    func enumChoices() async throws {
        try await withDaemon { daemon in
            let cases: [(arguments: [String], choices: String)] = [
                (["applicant", "register", "--uscc", TestData.uscc(9_100, area: 5), "--name", "x", "--role", "maker"],
                 "--role: unknown value \"maker\"; expected one of INDUSTRIAL_ENTERPRISE, INSTITUTION, PLATFORM, SERVICE_PROVIDER"),
                (["list", "--state", "done"], "--state: unknown value \"done\"; expected one of APPROVED, DISBURSED, PUBLICIZED, RECOMMENDED, REJECTED, RETURNED, REVOKED, SUBMITTED, WITHDRAWN"),
                (["list", "--measure", "VOUCHER"], "expected one of BENCHMARK_MATCH, BENCHMARK_PROJECT, CLOUD_USE, "),
            ]
            for (arguments, choices) in cases {
                let result = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai"] + arguments)
                #expect(result.status == 64 && result.error.contains(choices), "\(arguments): \(result.error)")
                #expect(!result.error.contains("UNSPECIFIED"), "\(arguments): \(result.error)")
            }
            // What the Chinese tables print is taken back as a filter.
            for arguments in [["list", "--state", "待初审"], ["list", "--measure", "上云上平台服务券"], ["applicant", "register", "--uscc", TestData.uscc(9_101, area: 5), "--name", "某企业", "--role", "工业企业"]] {
                let result = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai"] + arguments)
                #expect(result.status == 0, "\(arguments): \(result.error)")
            }
        }
    }

    @Test("names with emoji, joined emoji and combining marks line up too")
    func tablesLineUpWithEmoji() async throws {
        try await withDaemon { daemon in
            let nanhai = Bureau(try await daemon.client("nanhai"))
            let names = ["家👨\u{200D}👩\u{200D}👧厂", "Cafe\u{301} 工厂", "云☁\u{FE0F}科技", "🇨🇳制造", "普通制造有限公司"]
            for (i, name) in names.enumerated() {
                let uscc = TestData.uscc(8_900 + i, area: 5)
                try await nanhai.register(uscc, name: name)
                _ = try await nanhai.submit(TestData.benchmark(enterprise: uscc, investedFen: 100_000_000, name: "项目\(i)"))
            }
            let table = try await Self.ctl(daemon, as: "nanhai", ["list"], environment: ["LANG": "C.UTF-8", "LC_ALL": ""])
            let lines = table.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("(more") }
            #expect(lines.count == names.count + 1, "\(table)")
            // The amounts are right-aligned in the last column: every line ends in one column.
            let width = displayWidth(try #require(lines.first))
            for line in lines { #expect(displayWidth(line) == width, "\(line)") }
        }
    }

    @Test("tables have headers and line up by display width with Chinese names, amounts right-aligned")
    func tablesLineUp() async throws {
        try await withDaemon(demo: true) { daemon in
            let chinese = try await Self.ctl(daemon, as: "nanhai", ["list"], environment: ["LANG": "zh_CN.UTF-8", "LC_ALL": ""])
            let golden = """
                申请编号       区      状态    支持方向          企业                            资助金额（元）
                nanhai-000001  南海区  待初审  上云上平台服务券  佛山市南海区家电制造有限公司              0.00
                nanhai-000002  南海区  已退回  上云上平台服务券  佛山市南海区铝型材制造有限公司            0.00
                nanhai-000003  南海区  公示中  上云上平台服务券  佛山市南海区家具制造有限公司        375,000.00
                nanhai-000004  南海区  已撤回  上云上平台服务券  佛山市南海区纺织制造有限公司              0.00
                """
            #expect(chinese.trimmingCharacters(in: .newlines) == golden)

            // Every district's rows, in English: each column starts at the same display column.
            let english = try await Self.ctl(daemon, as: "city", ["list", "--page-size", "100"], environment: ["LANG": "C.UTF-8", "LC_ALL": ""])
            let lines = english.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("(more") }
            #expect(lines.first?.hasPrefix("ID") == true && lines.count > 10)
            let width = displayWidth(try #require(lines.first))
            // Where each left-aligned column starts (cells hold no double space).
            func starts(_ line: String) -> [Int] {
                line.ranges(of: /\S+( \S+)*/).prefix(5).map { displayWidth(String(line[..<$0.lowerBound])) }
            }
            let columns = starts(lines[0])
            #expect(columns.count == 5)
            for line in lines {
                #expect(displayWidth(line) == width, "right-aligned amounts end in one column: \(line)")
                #expect(starts(line) == columns, "\(line)")
            }
        }
    }
}

@Suite("batches: a spreadsheet filed, a list reviewed, a committee's list planned and approved")
struct BatchTests {
    static let enterprises = ["91440605000000107H", "91440605000000115C", "914406050000001237", "914406050000001312"]

    /// A spreadsheet as Excel's "CSV UTF-8" saves it: a BOM, CRLF, a quoted amount with commas.
    static func sheet(rows: Int, bad: Bool) -> String {
        var text = "\u{FEFF}measure,fundingYear,enterpriseUscc,providerUscc,contractNumber,contractAmount,paidAmount,projectName\r\n"
        for n in 0..<rows {
            text += "CLOUD_VOUCHER,2022,\(enterprises[n % enterprises.count]),914406050000000193,HT-BATCH-\(n),\"1,000,000\",1000000,批量项目\(n)\r\n"
        }
        if bad {
            text += "CLOUD_VOUCHER,2022,91440605000000107H,914406050000000193,HT-BAD-1,一百万,1000000,金额不是数字\r\n"
            text += "CLOUD_VOUCHER,2022,91440605000000107H,914406050000000193,HT-BAD-2,1000000,1000000,\r\n"
        }
        return text
    }

    @Test("submit --batch files every good row, names each bad row by its spreadsheet row, and a re-run files nothing twice; GBK is read too")
    func submitBatch() async throws {
        try await withDaemon(demo: true) { daemon in
            let file = daemon.dataDirectory + "/申报.csv"
            try Self.sheet(rows: 40, bad: true).write(toFile: file, atomically: false, encoding: .utf8)
            let first = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", file])
            #expect(first.status == 2, "refused rows make exit status 2: \(first.error)")
            #expect(first.output.contains("40 filed, 0 already filed, 2 refused of 42 rows"), "\(first.output)")
            let results = try await BureauListTests.readCSV(daemon.dataDirectory + "/申报.results.csv")
            #expect(results.count == 43)
            #expect(results[1][1].hasPrefix("filed") && results[1][2].hasPrefix("nanhai-"), "\(results[1])")
            #expect(results[41][0] == "42" && results[41][3].contains("row 42 column contractAmount"), "\(results[41])")
            #expect(results[42][0] == "43" && results[42][3].contains("project_name"), "\(results[42])")
            let listed = try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "list", "--state", "SUBMITTED", "--page-size", "100"])
            let filedIDs = Set(results.dropFirst().map { $0[2] }.filter { !$0.isEmpty })
            #expect(filedIDs.count == 40)

            let again = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", file])
            #expect(again.output.contains("0 filed, 40 already filed, 2 refused"), "\(again.output)")
            #expect(try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "list", "--state", "SUBMITTED", "--page-size", "100"]) == listed,
                    "a re-run files nothing")
            // The clerk deletes a row and edits another, then runs the file again: rows that moved
            // up are still "already filed"; the edited one is refused, not filed a second time.
            var lines = Self.sheet(rows: 40, bad: true).components(separatedBy: "\r\n")
            lines.remove(at: 3)  // the third data row
            lines[5] = lines[5].replacingOccurrences(of: "批量项目5", with: "批量项目5（改）").replacingOccurrences(of: "\"1,000,000\"", with: "900000")
            try lines.joined(separator: "\r\n").write(toFile: file, atomically: false, encoding: .utf8)
            let edited = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", file])
            #expect(edited.output.contains("0 filed, 38 already filed, 3 refused"), "\(edited.output)")
            let editedRows = try await BureauListTests.readCSV(daemon.dataDirectory + "/申报.results.csv")
            #expect(editedRows.contains { $0[1].hasPrefix("filed before with other values") }, "\(editedRows)")
            // Filed by an earlier run, told apart from filed by this one in Chinese too.
            #expect(editedRows.dropFirst().filter { $0[1] == "already filed 已提交过" }.count == 38, "\(editedRows)")
            #expect(try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "list", "--state", "SUBMITTED", "--page-size", "100"]) == listed,
                    "nothing was filed twice")

            // A pasted copy of a row, and the same contract typed again with another amount: one
            // application is filed, each repeat is refused naming the row it repeats.
            let repeats = daemon.dataDirectory + "/repeats.csv"
            let header = "measure,fundingYear,enterpriseUscc,providerUscc,contractNumber,contractAmount,paidAmount,projectName\n"
            let row = "CLOUD_VOUCHER,2022,\(Self.enterprises[0]),914406050000000193,HT-REPEAT-1,100000,100000,重复项目\n"
            try (header + row + row + row.replacingOccurrences(of: "100000,100000", with: "90000,90000"))
                .write(toFile: repeats, atomically: false, encoding: .utf8)
            let repeated = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", repeats])
            #expect(repeated.status == 2 && repeated.output.contains("1 filed, 0 already filed, 2 refused of 3 rows"), "\(repeated.output) \(repeated.error)")
            let repeatRows = try await BureauListTests.readCSV(daemon.dataDirectory + "/repeats.results.csv")
            #expect(repeatRows[1][1].hasPrefix("filed"), "\(repeatRows)")
            #expect(repeatRows[2][1] == "repeats row 2 与第2行重复" && repeatRows[3][1] == "repeats row 2 与第2行重复" && repeatRows[3][2].isEmpty,
                    "\(repeatRows)")
            let withRepeat = try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "list", "--text", "HT-REPEAT-1"])
            #expect(withRepeat.components(separatedBy: "HT-REPEAT-1").count == 2, "one application for the repeated contract: \(withRepeat)")
            // A refused row is no row to repeat: its corrected copy below it is filed.
            let corrected = "CLOUD_VOUCHER,2022,\(Self.enterprises[1]),914406050000000193,HT-REPEAT-2,100000,-5,改正前\n"
            try (header + corrected + corrected.replacingOccurrences(of: ",-5,改正前", with: ",100000,改正后")).write(toFile: repeats, atomically: false, encoding: .utf8)
            let fixed = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", repeats])
            #expect(fixed.output.contains("1 filed, 0 already filed, 1 refused of 2 rows"), "\(fixed.output) \(fixed.error)")
            // Run again: the bad row is told to go, not to have the filed application amended to it.
            let rerun = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", repeats])
            let rerunRows = try await BureauListTests.readCSV(daemon.dataDirectory + "/repeats.results.csv")
            #expect(rerun.output.contains("0 filed, 1 already filed, 1 refused"), "\(rerun.output)")
            #expect(rerunRows[1][3].contains("row 3 of this sheet describes the same application") && rerunRows[1][3].contains("delete this one"), "\(rerunRows)")

            // The same rows saved as GBK by an older Excel, with new contracts: read as GB18030.
            let utf8 = daemon.dataDirectory + "/for-gbk.csv"
            let gbk = daemon.dataDirectory + "/gbk.csv"
            try String(Self.sheet(rows: 40, bad: true).dropFirst()).replacingOccurrences(of: "HT-BATCH-", with: "HT-GBK-")
                .write(toFile: utf8, atomically: false, encoding: .utf8)
            let converted = try await run("/usr/bin/iconv", ["-f", "UTF-8", "-t", "GB18030", "-o", gbk, utf8])
            #expect(converted.status == 0, "\(converted.error)")
            let fromGBK = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", gbk, "--results", daemon.dataDirectory + "/gbk-out.csv"])
            #expect(fromGBK.error.contains("read as GB18030") && fromGBK.output.contains("40 filed"), "\(fromGBK.output) \(fromGBK.error)")
            let gbkRows = try await BureauListTests.readCSV(daemon.dataDirectory + "/gbk-out.csv")
            let one = try #require(gbkRows.dropFirst().first?[2])
            let shown = try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "show", one])
            #expect(shown.contains("批量项目0"), "the Chinese project name survives the GBK round trip")

            // A workbook from Excel itself (here written by openpyxl): the same columns, numbers as numbers.
            let xlsx = daemon.dataDirectory + "/申报.xlsx"
            _ = try await BureauListTests.python(
                "import sys, openpyxl; wb = openpyxl.Workbook(); ws = wb.active; "
                    + "ws.append(['measure', 'fundingYear', 'enterpriseUscc', 'providerUscc', 'contractNumber', 'contractAmount', 'paidAmount', 'projectName']); "
                    + "ws.append(['CLOUD_VOUCHER', 2022, '91440605000000107H', '914406050000000193', 'HT-XLSX-1', 1000000, 1000000.5, '表格项目']); "
                    + "ws.append([]); "
                    + "ws.append(['CLOUD_VOUCHER', 2022, '91440605000000115C', '914406050000000193', 'HT-XLSX-2', 'abc', 1000000, '坏金额']); "
                    + "wb.save(sys.argv[1])",
                [xlsx])
            let csvResultsBefore = try Data(contentsOf: URL(fileURLWithPath: daemon.dataDirectory + "/申报.results.csv"))
            let fromXLSX = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", xlsx])
            #expect(fromXLSX.output.contains("1 filed, 0 already filed, 1 refused of 2 rows"), "\(fromXLSX.output) \(fromXLSX.error)")
            // Its results beside it, not over the CSV's of the same name (the committee's list).
            let xlsxRows = try await BureauListTests.readCSV(daemon.dataDirectory + "/申报.xlsx.results.csv")
            #expect(try Data(contentsOf: URL(fileURLWithPath: daemon.dataDirectory + "/申报.results.csv")) == csvResultsBefore)
            #expect(xlsxRows.count == 3 && xlsxRows[2][3].contains("row 4 column contractAmount"), "the sheet's own row number, past a blank row: \(xlsxRows)")
            let filedFromXLSX = try #require(xlsxRows[1][2].isEmpty ? nil : xlsxRows[1][2])
            let xlsxRecord = try JSONValue.parse(try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "show", filedFromXLSX]))
            #expect(xlsxRecord["record"]?["application"]?["paidAmountFen"] == .string("100000050"), "1000000.5 yuan: \(xlsxRecord)")

            // The results file is the next step's list: every filed application recommended.
            let reviewed = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "review", "--batch", daemon.dataDirectory + "/gbk-out.csv",
                                       "--outcome", "recommend"])
            #expect(reviewed.status == 0 && reviewed.output.contains("40 reviewed, 0 already reviewed, 0 refused"), "\(reviewed.output) \(reviewed.error)")
            let reviewedAgain = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "review", "--batch", daemon.dataDirectory + "/gbk-out.csv",
                                            "--outcome", "recommend"])
            #expect(reviewedAgain.output.contains("0 reviewed, 40 already reviewed, 0 refused"), "\(reviewedAgain.output)")
            // With --json: the counts and each id's outcome (it printed `{}` before).
            let asJSON = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "--json", "review", "--batch", daemon.dataDirectory + "/gbk-out.csv",
                                     "--outcome", "recommend"])
            let outcome = try JSONValue.parse(asJSON.output)
            #expect(outcome["alreadyReviewed"] == .number("40") && outcome["reviewed"] == .number("0"), "\(asJSON.output)")
            guard case .array(let rows) = outcome["results"] else { Issue.record("no results: \(asJSON.output)"); return }
            #expect(rows.count == 40 && rows.allSatisfy { $0["state"] == .string("RECOMMENDED") && $0["detail"] == .string("already reviewed") }, "\(asJSON.output)")

            // A second round after a return and an amendment is reviewed afresh, not answered from the first.
            let returnedList = daemon.dataDirectory + "/return.txt"
            let firstFiled = try #require(xlsxRows[1][2].isEmpty ? nil : xlsxRows[1][2])
            try (firstFiled + "\n").write(toFile: returnedList, atomically: false, encoding: .utf8)
            _ = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "review", "--batch", returnedList, "--outcome", "return", "--reason", "补充材料"])
            _ = try await BureauListTests.ctl(daemon, as: "nanhai", ["amend", firstFiled, "--set", "projectName=表格项目（补正）"])
            let secondRound = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "review", "--batch", returnedList, "--outcome", "return", "--reason", "补充材料"])
            #expect(secondRound.output.contains("1 reviewed"), "\(secondRound.output)")
            #expect(try await BureauListTests.ctl(daemon, as: "nanhai", ["show", firstFiled]).contains("nanhai  RETURNED"))
        }
    }

    @Test("approve --plan shows which of a committee's list fit under the caps, in order, consuming nothing; approve --batch then commits exactly that, once")
    func planThenApprove() async throws {
        try await withDaemon(demo: true) { daemon in
            let file = daemon.dataDirectory + "/list.csv"
            try Self.sheet(rows: 6, bad: false).write(toFile: file, atomically: false, encoding: .utf8)
            _ = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "--today", BureauListTests.filingDay, "submit", "--batch", file])
            let results = daemon.dataDirectory + "/list.results.csv"
            _ = try await BureauListTests.ctl(daemon, as: "nanhai", ["--today", BureauListTests.filingDay, "review", "--batch", results, "--outcome", "recommend"])
            let quotaBefore = try await BureauListTests.ctl(daemon, as: "city", ["--json", "quota", "--year", "2022"])

            let plan = try await BureauListTests.ctl(
                daemon, as: "city", ["--json", "approve", "--plan", "--batch", results, "--decision-date", "2022-10-01", "--document", "会议纪要〔2022〕7号"])
            let planned = try JSONValue.parse(plan)
            #expect(try await BureauListTests.ctl(daemon, as: "city", ["--json", "quota", "--year", "2022"]) == quotaBefore, "a plan consumes nothing")
            guard case .array(let outcomes)? = planned["outcomes"] else { Issue.record("no outcomes: \(plan)"); return }
            #expect(outcomes.count == 6)
            // Four enterprises, a 500,000-yuan cap each: each one's first 1,000,000-yuan voucher takes
            // its 500,000 (the formula's half), the second finds the cap used by the first.
            let codes = outcomes.map { $0["status"]?["code"] }
            #expect(codes.prefix(4).allSatisfy { $0 == nil || $0 == .string("OK") }, "\(plan)")
            #expect(codes.suffix(2).allSatisfy { $0 == .string("RESOURCE_EXHAUSTED") }, "\(plan)")
            #expect(outcomes.suffix(2).allSatisfy { $0["bindingCap"] == .string("CLOUD_VOUCHER.per_enterprise") }, "\(plan)")

            // In Chinese, the rows that cannot be approved are not called rejected (不予支持, a decision).
            let planInChinese = try await BureauListTests.ctl(
                daemon, as: "city", ["approve", "--plan", "--batch", results, "--decision-date", "2022-10-01", "--document", "会议纪要〔2022〕7号"],
                environment: ["LANG": "zh_CN.UTF-8", "LC_ALL": ""])
            #expect(planInChinese.components(separatedBy: "无法审定").count == 4 && !planInChinese.contains("不予支持"), "\(planInChinese)")
            #expect(planInChinese.contains("；无法审定 2 项（未占用任何额度）"), "\(planInChinese)")
            let approved = try await runCtl(["--data-dir", daemon.dataDirectory, "--json", "approve", "--batch", results, "--decision-date", "2022-10-01",
                                       "--document", "会议纪要〔2022〕7号"])
            #expect(approved.status == 2, "two refusals: \(approved.error)")
            let committed = try JSONValue.parse(approved.output)
            #expect(committed["outcomes"] == planned["outcomes"], "the approval is what the plan said")
            let quotaAfter = try await BureauListTests.ctl(daemon, as: "city", ["--json", "quota", "--year", "2022"])
            #expect(quotaAfter != quotaBefore)

            // The same list again approves nothing twice: the approvals replay, the refusals stay refused.
            let again = try await runCtl(["--data-dir", daemon.dataDirectory, "--json", "approve", "--batch", results, "--decision-date", "2022-10-01",
                                    "--document", "会议纪要〔2022〕7号"])
            #expect(try JSONValue.parse(again.output)["outcomes"] == planned["outcomes"], "\(again.output)")
            #expect(try await BureauListTests.ctl(daemon, as: "city", ["--json", "quota", "--year", "2022"]) == quotaAfter)

            // Each approval names the committee's minutes.
            let filed = try await BureauListTests.readCSV(results).dropFirst().map { $0[2] }
            let first = try #require(filed.first)
            #expect(try await BureauListTests.ctl(daemon, as: "city", ["show", first]).contains("dated 2022-10-01 会议纪要〔2022〕7号"))
            // The third enterprise already had 375,000 yuan of vouchers in the demo: its award was
            // cut to what its cap had left, and the record says by which cap.
            let cut = try await BureauListTests.ctl(daemon, as: "city", ["show", filed[2]])
            #expect(cut.contains("awarded:   125,000.00 yuan") && cut.contains("cut:       from 500,000.00 by CLOUD_VOUCHER.per_enterprise [2022/914406050000001237]"), "\(cut)")
        }
    }
}

@Suite("finding and correcting: search, amendments with their fields, 更名")
struct FindAndCorrectTests {
    static func ids(_ json: String) throws -> [String] {
        guard case .array(let records)? = try JSONValue.parse(json)["records"] else { return [] }
        return records.compactMap { if case .string(let id)? = $0["id"] { id } else { nil } }
    }

    @Test("search finds an application by enterprise name, USCC, contract number or project name, however the contract is spelled")
    func search() async throws {
        try await withDaemon(demo: true) { daemon in
            // The demo's nanhai-000003 has contract HT-2022-nanhai-2: every spelling finds it.
            for spelling in ["HT-2022-nanhai-2", "ht 2022 nanhai 2", "ＨＴ－２０２２－ＮＡＮＨＡＩ－２", "HT\u{200B}-2022-NANHAI-2", "ht—2022—nanhai—2"] {
                let found = try Self.ids(try await BureauListTests.ctl(daemon, as: "city", ["--json", "search", spelling]))
                #expect(found == ["nanhai-000003"], "\(spelling): \(found)")
            }
            let byName = try Self.ids(try await BureauListTests.ctl(daemon, as: "city", ["--json", "search", "铝型材"]))
            #expect(byName.count == 3 && Set(byName.map { $0.prefix { $0 != "-" } }).count == 3, "the city finds every district's: \(byName)")
            let ownOnly = try Self.ids(try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "search", "铝型材"]))
            #expect(ownOnly == ["nanhai-000002"], "a district finds only its own: \(ownOnly)")
            #expect(try Self.ids(try await BureauListTests.ctl(daemon, as: "city", ["--json", "search", "91440605000000115C"])) == ["nanhai-000002"])
            #expect(try Self.ids(try await BureauListTests.ctl(daemon, as: "city", ["--json", "search", "100%_"])).isEmpty, "LIKE's wildcards match literally")
            // The keys' prefixes (contract:, project:) are not content: they match nothing.
            for fragment in ["con", "contract", "pro", "project:"] {
                #expect(try Self.ids(try await BureauListTests.ctl(daemon, as: "city", ["--json", "search", fragment])).isEmpty, "\(fragment)")
            }
            #expect(try Self.ids(try await BureauListTests.ctl(daemon, as: "city", ["--json", "search", "22-nanhai-2"])) == ["nanhai-000003"], "a typed fragment")
            let nothing = try await runCtl(["--data-dir", daemon.dataDirectory, "search", " \u{200B} "])
            #expect(nothing.status == 13 && nothing.error.contains("request.text"), "\(nothing.error)")
        }
    }

    @Test("a search looks at search_scan_rows applications per district a call: short pages go on from the last id looked at; subsidyctl fills its page")
    func boundedSearch() async throws {
        var configuration = DaemonConfiguration()
        configuration.limits["search_scan_rows"] = 1
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try await TemplateDirectory.demo.copy(into: configuration.dataDirectory)
        try await withDaemon(configuration: configuration) { daemon in
            func ctl(_ tenant: String, _ arguments: [String]) async throws -> [String] {
                let result = try await runCtl(["--socket", configuration.socketPath(tenant), "--json"] + arguments)
                #expect(result.status == 0, "subsidyctl \(arguments): \(result.error)")
                return try Self.ids(result.output)
            }
            let client = try await daemon.client("city")
            // By the pages alone: one application looked at a call (the first district that has
            // one after the token stops short, so the later ones are not read), every match found,
            // in order, once, and the calls that found none still said where to go on.
            var request = Foshan_Subsidy_V1_ListApplicationsRequest()
            request.text = "铝型材"
            var found: [String] = []
            var (calls, empty) = (0, 0)
            repeat {
                let page = try await Foshan_Subsidy_V1_CityService.Client(wrapping: client).listApplications(request)
                calls += 1
                #expect(page.records.count <= 1, "one application looked at, at most one match: \(page.records.map(\.id))")
                if page.records.isEmpty && !page.nextPageToken.isEmpty { empty += 1 }
                if let last = page.records.last { #expect(page.nextPageToken.isEmpty || page.nextPageToken >= last.id) }
                found += page.records.map(\.id)
                request.pageToken = page.nextPageToken
            } while !request.pageToken.isEmpty && calls < 1_000
            let total = try await ctl("city", ["list", "--page-size", "500"]).count
            #expect(found.count == 3 && found == found.sorted() && Set(found.map { $0.prefix { $0 != "-" } }).count == 3, "\(found)")
            #expect(empty > 0 && calls == total + 1, "a call per application and one past the last: \(calls) calls, \(total) applications, \(empty) empty")
            // subsidyctl follows the tokens until its page is full or the list ends.
            #expect(try await ctl("city", ["search", "铝型材"]) == found)
            #expect(try await ctl("city", ["search", "--page-size", "2", "铝型材"]) == Array(found.prefix(2)))
            #expect(try await ctl("nanhai", ["search", "HT 2022 nanhai 2"]) == ["nanhai-000003"])
        }
    }

    @Test("a clerk amends before review with single fields or show --json; the history names each field before and after")
    func amendments() async throws {
        try await withDaemon(demo: true) { daemon in
            // nanhai-000001 is SUBMITTED: corrected without a return.
            let amended = try await BureauListTests.ctl(
                daemon, as: "nanhai", ["amend", "nanhai-000001", "--set", "projectName=设备上云（更正）", "--set", "contractAmount=900,000", "--reason", "笔误"])
            #expect(amended.contains("projectName: 设备上云与生产管控云化 → 设备上云（更正）"), "\(amended)")
            #expect(amended.contains("contractAmount (yuan): 360,000.00 → 900,000.00"), "amounts on the command line are yuan, and shown so: \(amended)")
            // The amounts the award is computed from are shown, in yuan; labels line up; no line ends in blanks.
            #expect(amended.contains("\namounts:   contractAmount 900,000.00"), "\(amended)")
            let labelled = amended.split(separator: "\n").filter { $0.hasPrefix("measure:") || $0.hasPrefix("applicant:") || $0.hasPrefix("project:") }
            #expect(labelled.count == 3 && labelled.allSatisfy { $0.prefix(11).hasSuffix(" ") && $0.dropFirst(11).first != " " }, "\(labelled)")
            #expect(!amended.split(separator: "\n").contains { $0.hasSuffix(" ") }, "\(amended)")
            // The JSON show printed, edited, goes back as it is (nanhai-000002 is RETURNED).
            let shown = try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "show", "nanhai-000002"])
            let file = daemon.dataDirectory + "/edited.json"
            try shown.replacingOccurrences(of: "设备上云与生产管控云化", with: "改过的项目").write(toFile: file, atomically: false, encoding: .utf8)
            let resubmitted = try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "amend", "nanhai-000002", "--file", file])
            let history = try JSONValue.parse(resubmitted)["record"]?["history"]
            guard case .array(let entries)? = history, case .array(let changes)? = entries.last?["changes"] else {
                Issue.record("no changes recorded: \(resubmitted)")
                return
            }
            #expect(changes.count == 1)
            #expect(changes.first?["field"] == .string("projectName") && changes.first?["after"] == .string("改过的项目"))
            // Decided applications are not amended; the state says why, before any content check.
            let decided = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "amend", "nanhai-000003", "--set", "projectName=x"])
            #expect(decided.status == 19 && decided.error.contains("state:"), "\(decided.error)")
            let unknown = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "amend", "nanhai-000001", "--set", "bogus=1"])
            #expect(unknown.status == 64 && unknown.error.contains("--set bogus"), "a usage error: \(unknown.error)")
            // A value Excel-minded clerks type that is not an amount: a usage error naming what was typed, not "row 0".
            for typed in ["abc", "1.2万", "12,00,000"] {
                let bad = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "amend", "nanhai-000001", "--set", "contractAmount=\(typed)"])
                #expect(bad.status == 64 && bad.error.contains("--set contractAmount") && !bad.error.contains("row 0"), "\(typed): \(bad.error)")
            }
            // A code typed on the command line is what was typed: no spreadsheet's rules apply to it.
            let typed = try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "amend", "nanhai-000001", "--set", "contractNumber=1E+15", "--reason", "合同号"])
            #expect(try JSONValue.parse(typed)["record"]?["application"]?["contractNumber"] == .string("1E+15"), "\(typed)")
        }
    }

    @Test("更名: an applicant renamed keeps its history, is found by its new name, and the chains still verify")
    func renameApplicant() async throws {
        try await withDaemon(demo: true) { daemon in
            _ = try await BureauListTests.ctl(
                daemon, as: "nanhai", ["applicant", "update", "91440605000000107H", "--name", "佛山市南海区家电智造有限公司", "--reason", "工商变更"])
            let shown = try await BureauListTests.ctl(daemon, as: "nanhai", ["applicant", "show", "91440605000000107H"])
            #expect(shown.contains("name: 佛山市南海区家电制造有限公司 → 佛山市南海区家电智造有限公司") && shown.contains("工商变更"), "\(shown)")
            #expect(try Self.ids(try await BureauListTests.ctl(daemon, as: "city", ["--json", "search", "家电智造"])) == ["nanhai-000001"])
            let record = try await BureauListTests.ctl(daemon, as: "city", ["--json", "show", "nanhai-000001"])
            #expect(try JSONValue.parse(record)["record"]?["enterpriseName"] == .string("佛山市南海区家电智造有限公司"))
            // The city reads the registry across districts, read-only.
            let fromCity = try await BureauListTests.ctl(daemon, as: "city", ["applicant", "show", "91440605000000107H"])
            #expect(fromCity.contains("佛山市南海区家电智造有限公司  INDUSTRIAL_ENTERPRISE  LOCAL  nanhai") && fromCity.contains("工商变更"), "\(fromCity)")
            let cityCannotRename = try await runCtl(["--data-dir", daemon.dataDirectory, "applicant", "update", "91440605000000107H", "--name", "x"])
            #expect(cityCannotRename.status == 17, "\(cityCannotRename.error)")
            // Its voucher still waits for a decision, and a platform may not hold one.
            let pending = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "applicant", "update", "91440605000000107H", "--role", "platform"])
            #expect(pending.status == 19 && pending.error.contains("waiting for a decision"), "\(pending.error)")
            let role = try await BureauListTests.ctl(daemon, as: "nanhai", ["applicant", "update", "914406050000000193", "--role", "platform"])
            #expect(role.contains("PLATFORM") && role.contains("role: service_provider → platform"), "\(role)")
            let nothing = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "applicant", "update", "91440605000000107H"])
            #expect(nothing.status == 13)
            let verified = try await runCtl(["--data-dir", daemon.dataDirectory, "audit", "verify"])
            #expect(verified.status == 0, "\(verified.output)")
        }
    }
}

@Suite("output that fits scripts and clerks")
struct OutputTests {
    @Test("quota lists every subject it was asked for and says how many more there are; listings export as CSV; times are local, without a Z")
    func quotaAndFormats() async throws {
        try await withDaemon(demo: true) { daemon in
            let quota = try await BureauListTests.ctl(daemon, as: "city", ["quota", "--year", "2022", "--top", "1"])
            let perEnterprise = quota.split(separator: "\n").filter { $0.hasPrefix("CLOUD_VOUCHER.per_enterprise ") }
            #expect(perEnterprise.count == 1, "\(quota)")
            // Four: the demo's clawed-back award still counts (its money is not recovered).
            #expect(quota.contains("(CLOUD_VOUCHER.per_enterprise: 4 more subjects not shown; --top 5)"), "\(quota)")
            let everything = try await BureauListTests.ctl(daemon, as: "city", ["quota", "--year", "2022", "--top", "5"])
            #expect(everything.split(separator: "\n").filter { $0.hasPrefix("CLOUD_VOUCHER.per_enterprise ") }.count == 5)
            #expect(!everything.contains("CLOUD_VOUCHER.per_enterprise: "), "nothing left out: \(everything)")
            #expect(everything.contains("100.0%"), "the use of each cap as a percentage")
            // As CSV, for Excel: every subject, without asking for --top.
            let sheet = try await BureauListTests.ctl(daemon, as: "city", ["--output", "csv", "quota", "--year", "2022"])
            #expect(sheet.split(separator: "\r\n").filter { $0.hasPrefix("CLOUD_VOUCHER.per_enterprise,") }.count == 5, "\(sheet)")

            let csv = try await BureauListTests.ctl(daemon, as: "nanhai", ["--output", "csv", "list"])
            #expect(csv.hasPrefix("\u{FEFF}ID,DISTRICT,STATE,MEASURE,ENTERPRISE,AWARDED (YUAN)\r\n"), "\(csv.prefix(80))")
            #expect(csv.contains("nanhai-000003,nanhai,PUBLICIZED,CLOUD_VOUCHER,佛山市南海区家具制造有限公司,375000.00\r\n"), "plain numbers, as the exports: \(csv)")
            // A list that goes on says so, on standard error, out of the CSV.
            let page = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "--output", "csv", "list", "--page-size", "2"])
            #expect(page.status == 0 && page.output.split(separator: "\r\n").count == 3, "\(page.output)")
            #expect(page.error.contains("(more: --page-token "), "\(page.error)")

            let shown = try await BureauListTests.ctl(daemon, as: "city", ["show", "nanhai-000003"], environment: ["TZ": ""])
            let times = shown.split(separator: "\n").filter { $0.contains(" → ") }
            #expect(!times.isEmpty && times.allSatisfy { $0.wholeMatch(of: #/\s\s\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s\s.*/#) != nil }, "\(shown)")
            let utc = try await BureauListTests.ctl(daemon, as: "city", ["--utc", "show", "nanhai-000003"])
            #expect(utc.contains("Z  — → SUBMITTED"), "\(utc)")
            // China Standard Time is UTC+8: the same entry, eight hours on.
            let json = try await BureauListTests.ctl(daemon, as: "city", ["--json", "show", "nanhai-000003"])
            guard case .array(let history)? = try JSONValue.parse(json)["record"]?["history"], case .string(let at)? = history.first?["at"] else {
                Issue.record("no history: \(json)")
                return
            }
            let hour = try #require(Int(at.dropFirst(11).prefix(2)))
            let local = String(format: "%02d", (hour + 8) % 24)
            #expect(times.first?.dropFirst(13).hasPrefix(local) == true, "\(at) → \(times.first ?? "")")

            // A decision's default date is China's day whatever TZ the clerk's machine has (this
            // daemon acts on 2023-12-31, so the real day is refused, naming the date sent).
            func chinaDay() -> String {
                let formatter = DateFormatter()
                formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
                formatter.dateFormat = "yyyy-MM-dd"
                return formatter.string(from: Date())
            }
            for zone in ["Pacific/Kiritimati", "Etc/GMT+12", "UTC"] {
                let before = chinaDay()
                let dated = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "city", "revoke", "nanhai-000003", "--reason", "时区"],
                                             environment: ["TZ": zone])
                let sent = [before, chinaDay()]
                #expect(dated.status != 0 && sent.contains { dated.error.contains("request.decision_date: \($0) is after") }, "TZ=\(zone): \(dated.error)")
            }
        }
    }

    @Test("submit --batch files under a named programme, from its column or --programme, with grade and late reason; a field flag beside it is refused")
    func batchProgrammes() async throws {
        try await withDaemon { daemon in
            let nanhai = Bureau(try await daemon.client("nanhai"))
            let (factory, workshop, old) = (TestData.uscc(5_101, area: 5), TestData.uscc(5_102, area: 5), TestData.uscc(5_103, area: 5))
            for uscc in [factory, workshop, old] { try await nanhai.register(uscc) }
            let file = daemon.dataDirectory + "/programmes.csv"
            try """
                programme,measure,fundingYear,enterpriseUscc,projectName,grade,lateReason,investedAmount,selectionLevel
                ,DIGITAL_FACTORY,2024,\(factory),数字化示范工厂,EXCELLENT,,,
                ,DIGITAL_WORKSHOP,2024,\(workshop),数字化车间 1,,补报,,
                foshan-2020,BENCHMARK_PROJECT,2022,\(old),标杆项目,,,"1,000,000",MUNICIPAL

                """.write(toFile: file, atomically: false, encoding: .utf8)
            let flagged = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", file, "--year", "2025", "--grade", "STANDARD"])
            #expect(flagged.status == 64 && flagged.error.contains("--year, --grade cannot go with it"), "\(flagged.error)")
            let filed = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", file, "--programme", "foshan-dx-2021"])
            #expect(filed.output.contains("3 filed, 0 already filed, 0 refused of 3 rows"), "\(filed.output) \(filed.error)")
            let rows = try await BureauListTests.readCSV(daemon.dataDirectory + "/programmes.results.csv")
            var shown: [String: JSONValue] = [:]
            for row in rows.dropFirst() {
                let record = try JSONValue.parse(try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "show", row[2]]))["record"]
                shown[row[0]] = record
            }
            #expect(shown["2"]?["application"]?["programme"] == .string("foshan-dx-2021") && shown["2"]?["application"]?["grade"] == .string("EXCELLENT"), "\(shown)")
            #expect(shown["3"]?["application"]?["programme"] == .string("foshan-dx-2021"), "\(shown)")
            // Row 3's late reason went with it; its measure runs no calls here, so none is kept.
            #expect(shown["4"]?["application"]?["programme"] == .string("foshan-2020"), "the row's own column wins: \(shown)")
            // A bureau's template in Chinese: column names and the measure's name.
            let chinese = daemon.dataDirectory + "/模板.csv"
            let workshop2 = TestData.uscc(5_104, area: 5)
            try await nanhai.register(workshop2)
            try """
                政策,支持方向,资金年度,统一社会信用代码,项目名称,逾期申报原因
                foshan-dx-2021,数字化示范车间,2024,\(workshop2),车间模板项目,

                """.write(toFile: chinese, atomically: false, encoding: .utf8)
            let fromTemplate = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", chinese])
            #expect(fromTemplate.output.contains("1 filed, 0 already filed, 0 refused of 1 rows"), "\(fromTemplate.output) \(fromTemplate.error)")
            // The same file again: every row is the same request (its id includes its programme).
            let again = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", file, "--programme", "foshan-dx-2021"])
            #expect(again.output.contains("0 filed, 3 already filed, 0 refused of 3 rows"), "\(again.output) \(again.error)")
        }
    }

    @Test("spreadsheets as Excel and clerks write them: date cells and 2021/10/1, blank rows, _x000D_, #N/A, 15 digits, a stray GBK byte in UTF-8")
    func spreadsheetsAsWritten() async throws {
        try await LedgerWorkflowTests().prepared(buyersPerDistrict: 0) { daemon, city, _, _ in
            let directory = daemon.dataDirectory
            let enterprise = TestData.uscc(5_201, area: 5)
            _ = try await BureauListTests.python(
                #"""
                import sys, zipfile
                out, enterprise, provider = sys.argv[1], sys.argv[2], sys.argv[3]
                head = '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                def s(ref, text): return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'
                def n(ref, value): return f'<c r="{ref}"><v>{value}</v></c>'
                def sheet(name, rows, parts={}):
                    with zipfile.ZipFile(f"{out}/{name}.xlsx", "w") as z:
                        z.writestr("xl/worksheets/sheet1.xml", head + ''.join(f'<row r="{i + 1}">{r}</row>' for i, r in enumerate(rows)) + '</sheetData></worksheet>')
                        for part, text in parts.items(): z.writestr(part, text)
                cols = ["measure", "year", "district", "enterprise", "provider", "amount", "decision_date", "document"]
                header = ''.join(s(f"{chr(65 + i)}1", c) for i, c in enumerate(cols))
                # An import whose decision date is an Excel date cell (44470 = 2021-10-01).
                sheet("import-dates", [header, s("A2", "PUBLIC_SERVICE") + n("B2", 2021) + s("C2", "nanhai") + s("D2", enterprise) + n("F2", 120000) + n("G2", 44470) + s("H2", "佛工信〔2021〕20号")])
                # The same row from a workbook in the 1904 date system, its date cell dated (43008 = 2021-10-01 there).
                main = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
                sheet("import-dates-1904", [header, s("A2", "PUBLIC_SERVICE") + n("B2", 2021) + s("C2", "nanhai") + s("D2", enterprise) + n("F2", 120000) + '<c r="G2" s="1"><v>43008</v></c>' + s("H2", "佛工信〔2021〕20号")],
                      {"xl/workbook.xml": f'<workbook {main}><workbookPr date1904="1"/></workbook>',
                       "xl/styles.xml": f'<styleSheet {main}><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>'})
                # A batch: an _ and a CR escaped as Excel does, an amount with three decimals, a #N/A.
                bcols = ["measure", "fundingYear", "enterpriseUscc", "providerUscc", "contractNumber", "contractAmount", "paidAmount", "projectName"]
                bheader = ''.join(s(f"{chr(65 + i)}1", c) for i, c in enumerate(bcols))
                def voucher(r, contract, amount, name_cell):
                    return s(f"A{r}", "CLOUD_VOUCHER") + n(f"B{r}", 2022) + s(f"C{r}", enterprise) + s(f"D{r}", provider) + s(f"E{r}", contract) + n(f"F{r}", amount) + n(f"G{r}", amount) + name_cell
                sheet("batch-cells", [bheader,
                    voucher(2, "HT-X-1", "1200000.0000000002", s("H2", "设备_x005F_上云_x000D_一期")),
                    voucher(3, "HT-X-2", "1234.567", s("H3", "三位小数"))])
                sheet("batch-error", [bheader, voucher(2, "HT-X-3", 1000, '<c r="H2" t="e"><v>#N/A</v></c>')])
                # UTF-8 text with one character typed in GBK (补 = B2 B9), with and without a BOM.
                text = ("measure,fundingYear,enterpriseUscc,providerUscc,contractNumber,contractAmount,paidAmount,projectName\n"
                        f"CLOUD_VOUCHER,2022,{enterprise},{provider},HT-G-1,800000,800000,智能工厂\n").encode()
                text += f"CLOUD_VOUCHER,2022,{enterprise},{provider},HT-G-2".encode() + "补".encode("gbk") + ",800000,800000,上云项目\n".encode()
                open(f"{out}/mixed.csv", "wb").write(text)
                open(f"{out}/mixed-bom.csv", "wb").write(b"\xef\xbb\xbf" + text)
                # A header cell pasted with a no-break space, a row with formatted empty cells past
                # the header's last column.
                open(f"{out}/pasted.csv", "w", encoding="utf-8").write(
                    "measure,fundingYear,enterpriseUscc,providerUscc,contractNumber,contractAmount,paidAmount,projectName\u00a0\n"
                    f"CLOUD_VOUCHER,2022,{enterprise},{provider},HT-P-1,300000,300000,粘贴项目,,\n")
                # An import CSV: zh-CN Excel's date, then the blank rows a template leaves.
                open(f"{out}/import.csv", "w", encoding="utf-8").write(",".join(cols) + "\n" + f"PUBLIC_SERVICE,2021,nanhai,{enterprise},,50000,2021/11/3,佛工信〔2021〕21号\n" + ",,,,,,,\n,,,,,,,\n")
                """#, [directory, enterprise, LedgerWorkflowTests.provider])
            let nanhai = Bureau(try await daemon.client("nanhai"))
            try await nanhai.register(enterprise)

            let dates = try await runCtl(["--data-dir", directory, "import", "--file", directory + "/import-dates.xlsx"])
            #expect(dates.status == 0 && dates.output.contains("imported 1, already present 0"), "\(dates.output) \(dates.error)")
            // A successor programme's history: the programme and grade columns.
            try """
                measure,year,district,enterprise,provider,amount,decision_date,document,project,programme,grade
                DIGITAL_FACTORY,2022,nanhai,\(enterprise),,"5,000,000",2022/12/1,佛工信〔2022〕90号,数字化示范工厂,foshan-dx-2021,standard

                """.write(toFile: directory + "/import-successor.csv", atomically: false, encoding: .utf8)
            let successor = try await runCtl(["--data-dir", directory, "import", "--file", directory + "/import-successor.csv"])
            #expect(successor.status == 0 && successor.output.contains("imported 1, already present 0"), "\(successor.output) \(successor.error)")
            let dates1904 = try await runCtl(["--data-dir", directory, "import", "--file", directory + "/import-dates-1904.xlsx"])
            #expect(dates1904.status == 0 && dates1904.output.contains("imported 0, already present 1"), "the same decision date: \(dates1904.output) \(dates1904.error)")
            let csv = try await runCtl(["--data-dir", directory, "import", "--file", directory + "/import.csv"])
            #expect(csv.status == 0 && csv.output.contains("imported 1, already present 0"), "\(csv.output) \(csv.error)")
            #expect(try await city.quota(year: 2021).committed("PUBLIC_SERVICE.annual_budget", "2021") == 17_000_000)

            let cells = try await runCtl(["--data-dir", directory, "--as", "nanhai", "submit", "--batch", directory + "/batch-cells.xlsx"])
            #expect(cells.output.contains("1 filed, 0 already filed, 1 refused of 2 rows"), "\(cells.output) \(cells.error)")
            let results = try await BureauListTests.readCSV(directory + "/batch-cells.xlsx.results.csv")
            #expect(results.count == 3 && results[2][3].contains("row 3 column contractAmount") && results[2][3].contains("1234.567"), "\(results)")
            let filed = try JSONValue.parse(try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "show", results[1][2]]))
            #expect(filed["record"]?["application"]?["projectName"] == .string("设备_上云 一期"), "Excel's escapes of _ and CR, the line break made a space: \(filed)")
            #expect(filed["record"]?["application"]?["contractAmountFen"] == .string("120000000"), "\(filed)")

            let error = try await runCtl(["--data-dir", directory, "--as", "nanhai", "submit", "--batch", directory + "/batch-error.xlsx"])
            #expect(error.status == 1 && error.error.contains("cell H2 shows an Excel error (#N/A)"), "\(error.error)")

            let pasted = try await runCtl(["--data-dir", directory, "--as", "nanhai", "submit", "--batch", directory + "/pasted.csv"])
            #expect(pasted.output.contains("1 filed, 0 already filed, 0 refused of 1 rows"), "\(pasted.output) \(pasted.error)")
            // A macro-enabled template is a workbook too.
            try FileManager.default.copyItem(atPath: directory + "/batch-cells.xlsx", toPath: directory + "/batch-cells.xlsm")
            let macro = try await runCtl(["--data-dir", directory, "--as", "nanhai", "submit", "--batch", directory + "/batch-cells.xlsm"])
            #expect(macro.output.contains("0 filed, 1 already filed, 1 refused of 2 rows"), "\(macro.output) \(macro.error)")
            // Results that cannot be written are found before anything is filed.
            let nowhere = try await runCtl(["--data-dir", directory, "--as", "nanhai", "submit", "--batch", directory + "/pasted.csv", "--results", "/nonexistent/r.csv"])
            #expect(nowhere.status == 1 && nowhere.error.contains("/nonexistent/r.csv: cannot create") && !nowhere.output.contains("filed"), "\(nowhere.output) \(nowhere.error)")
            for name in ["mixed", "mixed-bom"] {
                let mixed = try await runCtl(["--data-dir", directory, "--as", "nanhai", "submit", "--batch", "\(directory)/\(name).csv"])
                #expect(mixed.status == 1 && mixed.error.contains("line 3 has a byte that is not"), "\(name): \(mixed.error)")
                #expect(!mixed.output.contains("filed"), "\(name): \(mixed.output)")
            }
        }
    }

    @Test("a code Excel turned into a date or a number is refused in a column of codes, naming row and column, the date shown; a whole number is its digits; amounts stay numbers")
    func cellsExcelConverted() async throws {
        try await withDaemon(demo: true) { daemon in
            let directory = daemon.dataDirectory
            _ = try await BureauListTests.python(
                #"""
                import sys, datetime, openpyxl, openpyxl.utils.datetime
                out = sys.argv[1]
                wb = openpyxl.Workbook(); ws = wb.active
                ws.append(["measure", "fundingYear", "enterpriseUscc", "providerUscc", "合同编号", "contractAmount", "paidAmount", "projectName"])
                def voucher(enterprise, contract, project):
                    ws.append(["CLOUD_VOUCHER", 2022, enterprise, "914406050000000193", contract, 1000000, 1000000, project])
                # 2022-03-04 typed into a General cell: Excel makes it a date (a custom yyyy-mm-dd format).
                voucher("91440605000000107H", datetime.date(2022, 3, 4), "日期合同")
                # 20220304 typed: a number Excel holds exactly; its amount shown as yuan with a unit.
                voucher("91440605000000107H", 20220304, "数字合同")
                ws["F3"].number_format = '#,##0.00"元"'
                # A USCC typed into a General cell: 18 digits, the last three lost.
                voucher(914406050000001000, "HT-NUM-4", "数字代码")
                # Built-in date format 14, and a Chinese date with a time of day.
                voucher("91440605000000107H", 44624, "内置日期")
                ws["E5"].number_format = "mm-dd-yy"
                voucher("91440605000000107H", 44624.5, "中文日期")
                ws["E6"].number_format = 'yyyy"年"m"月"d"日" h:mm'
                wb.save(f"{out}/converted.xlsx")
                # An import whose contract cell is a date; a review list whose id is one.
                wb = openpyxl.Workbook(); ws = wb.active
                ws.append(["measure", "year", "district", "enterprise", "provider", "amount", "decision_date", "document", "contract"])
                ws.append(["CLOUD_VOUCHER", 2021, "nanhai", "91440605000000107H", "914406050000000193", 100000, datetime.date(2021, 10, 1), "佛工信〔2021〕9号", datetime.date(2022, 3, 4)])
                wb.save(f"{out}/import-converted.xlsx")
                wb = openpyxl.Workbook(); ws = wb.active
                ws.append(["申请编号"]); ws.append([datetime.date(2022, 3, 4)])
                wb.save(f"{out}/ids.xlsx")
                # A workbook in the 1904 date system (Mac Excel before 2011): the same contract date.
                wb = openpyxl.Workbook(); wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904; ws = wb.active
                ws.append(["measure", "fundingYear", "enterpriseUscc", "providerUscc", "合同编号", "contractAmount", "paidAmount", "projectName"])
                voucher("91440605000000107H", datetime.date(2022, 3, 4), "苹果日期")
                wb.save(f"{out}/mac-1904.xlsx")
                # A CSV saved from a sheet whose USCC column was General: Excel wrote 9.14406E+17.
                # A contract number with an E in it is a contract number.
                open(f"{out}/scientific.csv", "w", encoding="utf-8").write(
                    "measure,fundingYear,enterpriseUscc,providerUscc,contractNumber,contractAmount,paidAmount,projectName\n"
                    "CLOUD_VOUCHER,2022,91440605000000115C,9.14406E+17,HT-SCI-1,800000,800000,科学计数\n"
                    "CLOUD_VOUCHER,2022,91440605000000115C,914406050000000193,2023E0015,800000,800000,带E合同\n"
                    # Codes as subsidyctl's own export protects them, read from the file itself;
                    # a code with an E that is not how Excel shows a long number.
                    "CLOUD_VOUCHER,2022,91440605000000115C,914406050000000193,\"=\"\"2022-10\"\"\",800000,800000,公式合同\n"
                    "CLOUD_VOUCHER,2022,91440605000000115C,914406050000000193,\"=\"\"5E-12\"\"\",800000,800000,指数合同\n"
                    "CLOUD_VOUCHER,2022,91440605000000115C,914406050000000193,'+HT-EQ-1,800000,800000,撇号合同\n")
                """#, [directory])

            let converted = try await runCtl(["--data-dir", directory, "--as", "nanhai", "submit", "--batch", directory + "/converted.xlsx"])
            #expect(converted.status == 2 && converted.output.contains("1 filed, 0 already filed, 4 refused of 5 rows"), "\(converted.output) \(converted.error)")
            let results = try await BureauListTests.readCSV(directory + "/converted.xlsx.results.csv")
            #expect(results.count == 6, "\(results)")
            let retype = "format the column as text (设置单元格格式 → 文本) and type the value again"
            for (row, shown) in [(1, "2022-03-04"), (4, "2022-03-04"), (5, "2022-03-04 12:00")] {
                #expect(results[row][3].contains("row \(row + 1) column 合同编号: Excel stored this cell as a date (\(shown))") && results[row][3].contains(retype),
                        "\(results[row])")
            }
            #expect(results[3][3].contains("row 4 column enterpriseUscc: Excel turned the code into a number (914406050000001000)") && results[3][3].contains(retype),
                    "\(results[3])")
            let filed = try JSONValue.parse(try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "show", results[2][2]]))["record"]?["application"]
            #expect(filed?["contractNumber"] == .string("20220304") && filed?["contractAmountFen"] == .string("100000000"), "\(String(describing: filed))")

            let mac = try await runCtl(["--data-dir", directory, "--as", "nanhai", "submit", "--batch", directory + "/mac-1904.xlsx"])
            let macResults = try await BureauListTests.readCSV(directory + "/mac-1904.xlsx.results.csv")
            #expect(mac.output.contains("0 filed, 0 already filed, 1 refused of 1 rows") && macResults[1][3].contains("Excel stored this cell as a date (2022-03-04)"),
                    "counted from 1904: \(mac.output) \(macResults)")

            let scientific = try await runCtl(["--data-dir", directory, "--as", "nanhai", "submit", "--batch", directory + "/scientific.csv"])
            #expect(scientific.output.contains("4 filed, 0 already filed, 1 refused of 5 rows"), "\(scientific.output) \(scientific.error)")
            let sciResults = try await BureauListTests.readCSV(directory + "/scientific.results.csv")
            #expect(sciResults[1][3].contains("row 2 column providerUscc: 9.14406E+17 is how Excel shows a code it turned into a number") && sciResults[1][3].contains(retype),
                    "\(sciResults)")
            #expect(sciResults[2][1].hasPrefix("filed"), "2023E0015 is a contract number: \(sciResults)")
            for (row, contract) in [(3, "2022-10"), (4, "5E-12"), (5, "+HT-EQ-1")] {
                let application = try JSONValue.parse(try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "show", sciResults[row][2]]))["record"]?["application"]
                #expect(application?["contractNumber"] == .string(contract), "the export's protection is not part of the code: \(String(describing: application))")
            }

            let imported = try await runCtl(["--data-dir", directory, "import", "--file", directory + "/import-converted.xlsx"])
            #expect(imported.status == 13 && imported.error.contains("row 2.contract: Excel stored this cell as a date (2022-03-04)"), "\(imported.output) \(imported.error)")
            #expect(!imported.output.contains("imported"), "nothing was imported: \(imported.output)")

            let reviewed = try await runCtl(["--data-dir", directory, "--as", "nanhai", "review", "--batch", directory + "/ids.xlsx", "--outcome", "recommend"])
            #expect(reviewed.status == 1 && reviewed.error.contains("ids.xlsx row 2: Excel stored this cell as a date (2022-03-04)"), "\(reviewed.output) \(reviewed.error)")
        }
    }

    @Test("submit --file run again (after a timeout) gives back the application filed the first time; an edited file is refused saying what to do")
    func submitFileTwice() async throws {
        try await withDaemon(demo: true) { daemon in
            let file = daemon.dataDirectory + "/voucher.json"
            try BureauListTests.voucher.write(toFile: file, atomically: false, encoding: .utf8)
            let submit = ["--data-dir", daemon.dataDirectory, "--as", "nanhai", "--today", BureauListTests.filingDay, "submit", "--file", file]
            let first = try await runCtl(submit)
            #expect(first.status == 0 && !first.error.contains("already filed"), "\(first.output) \(first.error)")
            let again = try await runCtl(submit)
            let id = try #require(first.output.split(separator: " ").first.map(String.init))
            #expect(again.status == 0 && again.output.hasPrefix(id + " ") && again.error.contains("already filed"), "\(again.output) \(again.error)")
            let listed = try await BureauListTests.ctl(daemon, as: "nanhai", ["--json", "list", "--text", "HT-2022-NH-9"])
            #expect(try FindAndCorrectTests.ids(listed) == [id], "filed once: \(listed)")
            // Withdrawn since: the run again shows it as it stands, and says how to file it anew.
            _ = try await BureauListTests.ctl(daemon, as: "nanhai", ["withdraw", id, "--reason", "填错"])
            let withdrawn = try await runCtl(submit)
            #expect(withdrawn.status == 0 && withdrawn.output.hasPrefix("\(id)  nanhai  WITHDRAWN"), "\(withdrawn.output)")
            #expect(withdrawn.error.contains("now WITHDRAWN") && withdrawn.error.contains("--request-id"), "\(withdrawn.error)")

            // The file edited since: not filed a second time; the clerk is told to amend.
            try BureauListTests.voucher.replacingOccurrences(of: "120000000", with: "110000000").write(toFile: file, atomically: false, encoding: .utf8)
            let edited = try await runCtl(submit)
            #expect(edited.status == 16 && edited.error.contains("was filed before with other values: find it (subsidyctl search) and amend it"),
                    "\(edited.output) \(edited.error)")
            // An id of its own files it as a second application, as before.
            let second = try await runCtl(submit + ["--request-id", "second-filing"])
            #expect(second.status == 0 && !second.output.hasPrefix(id + " "), "\(second.output) \(second.error)")
        }
    }

    @Test("a district by its Chinese name, with or without 区, wherever --as takes it: list --district, export --district, an import's district column")
    func districtNames() async throws {
        try await withDaemon(demo: true) { daemon in
            let all = try FindAndCorrectTests.ids(try await BureauListTests.ctl(daemon, as: "city", ["--json", "list", "--page-size", "500"]))
            for spelling in ["南海区", "南海", "nanhai"] {
                let listed = try FindAndCorrectTests.ids(try await BureauListTests.ctl(daemon, as: "city", ["--json", "list", "--district", spelling, "--page-size", "500"]))
                #expect(!listed.isEmpty && listed == all.filter { $0.hasPrefix("nanhai-") }, "\(spelling): \(listed)")
                let out = daemon.dataDirectory + "/applications-\(spelling).csv"
                _ = try await BureauListTests.ctl(daemon, as: "city", ["export", "applications", "--district", spelling, "--out", out])
                let rows = try await BureauListTests.readCSV(out)
                let district = try #require(rows.first?.firstIndex(of: "区"), "\(rows.first ?? [])")
                #expect(rows.count > 1 && rows.dropFirst().allSatisfy { $0[district] == "南海区" }, "\(spelling): \(rows)")
            }
            let publicity = try await runCtl(["--data-dir", daemon.dataDirectory, "export", "publicity", "--district", "南海", "--out", daemon.dataDirectory + "/公示.csv"])
            #expect(publicity.status == 0, "\(publicity.error)")

            let file = daemon.dataDirectory + "/history.csv"
            try """
                measure,year,district,enterprise,provider,amount,decision_date,document
                PUBLIC_SERVICE,2021,三水区,\(TestData.uscc(9_601)),,120000,2021-05-01,佛工信〔2021〕10号
                PUBLIC_SERVICE,2021,顺德,\(TestData.uscc(9_602)),,120000,2021-05-01,佛工信〔2021〕11号

                """.write(toFile: file, atomically: false, encoding: .utf8)
            let imported = try await runCtl(["--data-dir", daemon.dataDirectory, "import", "--file", file])
            #expect(imported.status == 0 && imported.output.contains("imported 2, already present 0"), "\(imported.output) \(imported.error)")
        }
    }

    @Test("a --file that is not JSON is a problem on this side: exit 1, the file named with the line and column, not a refusal by the daemon")
    func malformedFile() async throws {
        try await withDaemon { daemon in
            let file = daemon.dataDirectory + "/app.json"
            try "{\"measure\": \"CLOUD_VOUCHER\",\n  \"projectName\": \"设备上云\",\n  ,\"fundingYear\": 2022}\n".write(toFile: file, atomically: false, encoding: .utf8)
            let commands: [(tenant: String, arguments: [String])] = [
                ("nanhai", ["submit", "--file", file]), ("nanhai", ["quote", "--file", file]), ("nanhai", ["amend", "nanhai-000001", "--file", file]),
                ("city", ["import", "--file", file]),
            ]
            for (tenant, arguments) in commands {
                let result = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", tenant] + arguments)
                #expect(result.status == 1 && result.error.contains("\(file) line 3, column 3: not JSON: expected a member name"), "\(arguments): \(result.status) \(result.error)")
                #expect(!result.error.contains("INVALID_ARGUMENT"), "\(arguments): \(result.error)")
            }
            // JSON whose field the protocol does not allow is the refusal the daemon would give.
            try "{\"fundingYear\": \"abc\"}".write(toFile: file, atomically: false, encoding: .utf8)
            let field = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--file", file])
            #expect(field.status == 13 && field.error.contains("application.funding_year"), "\(field.error)")
            // A command line it cannot use.
            let usage = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--no-such-option"])
            #expect(usage.status == 64, "\(usage.error)")
        }
    }

    @Test("what a terminal would obey is refused in one-line texts (line breaks become spaces) and shown as \\uXXXX on a clerk's terminal; a change to nothing is refused")
    func terminalText() async throws {
        try await withDaemon { daemon in
            let nanhai = Bureau(try await daemon.client("nanhai"))
            let uscc = TestData.uscc(5_301, area: 5)
            // A name that would clear the clerk's screen, ring its bell, or start a new line.
            for name in ["佛山\u{1B}[2J有限公司", "佛山\u{7}有限公司", "佛山\u{85}有限公司"] {
                var request = Foshan_Subsidy_V1_RegisterApplicantRequest()
                request.requestId = UUID().uuidString
                var applicant = Foshan_Subsidy_V1_Applicant()
                (applicant.uscc, applicant.name, applicant.role, applicant.locality) = (uscc, name, .industrialEnterprise, .local)
                request.applicant = applicant
                let refused = await #expect(throws: SubsidyError.self) { try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.registerApplicant, request) }
                #expect(refused?.code == .invalidArgument && refused?.message.hasPrefix("applicant.name: holds the control character U+") == true, "\(refused?.message ?? "")")
            }
            // A line break or tab (a cell typed with Alt+Enter) becomes a space: no forged line.
            var wrapped = Foshan_Subsidy_V1_RegisterApplicantRequest()
            wrapped.requestId = UUID().uuidString
            var applicant = Foshan_Subsidy_V1_Applicant()
            (applicant.uscc, applicant.name, applicant.role, applicant.locality) = (uscc, "佛山有限公司\r\n  2023-01-01\tname: A → B", .industrialEnterprise, .local)
            wrapped.applicant = applicant
            let registered = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.registerApplicant, wrapped).applicant
            #expect(registered?.name == "佛山有限公司    2023-01-01 name: A → B", "\(registered?.name ?? "")")
            var application = TestData.benchmark(enterprise: uscc, investedFen: 100_000_000, name: "项目\u{1B}]0;x\u{07}")
            let project = await #expect(throws: SubsidyError.self) { try await nanhai.submit(application) }
            #expect(project?.message.hasPrefix("application.project_name: holds the control character U+001B") == true, "\(project?.message ?? "")")
            application.projectName = "项目"
            _ = try await nanhai.submit(application)

            // A reason may run over lines, but what it holds reaches the clerk's terminal visibly.
            var rename = Foshan_Subsidy_V1_UpdateApplicantRequest()
            (rename.requestId, rename.uscc, rename.name, rename.reason) = ("rename-1", uscc, "佛山新名有限公司", "更名\u{1B}]52;c;cHduZWQ=\u{07}\r伪造")
            _ = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, rename)
            // The same name again changes nothing, and is refused rather than stored again.
            rename.requestId = "rename-2"
            let same = await #expect(throws: SubsidyError.self) { try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, rename) }
            #expect(same?.code == .failedPrecondition && same?.message.contains("nothing to change") == true, "\(same?.message ?? "")")

            let ctl = DaemonProcess.productsDirectory + "/subsidyctl"
            let command = [ctl, "--data-dir", daemon.dataDirectory, "--as", "nanhai", "applicant", "show", uscc].map { "'\($0)'" }.joined(separator: " ")
            let onTerminal = try await run("/usr/bin/script", ["-qec", command, "/dev/null"])
            #expect(onTerminal.status == 0, "\(onTerminal.output) \(onTerminal.error)")
            #expect(onTerminal.output.contains("更名\\u001B]52;c;cHduZWQ=\\u0007\\u000D伪造"), "\(onTerminal.output)")
            #expect(!onTerminal.output.contains("\u{1B}]52"), "the escape reached the terminal")
            // A pipe gets the text as it is.
            let piped = try await BureauListTests.ctl(daemon, as: "nanhai", ["applicant", "show", uscc])
            #expect(piped.contains("更名\u{1B}]52;c;cHduZWQ=\u{07}\r伪造"), "\(piped)")
        }
    }

    @Test("a damaged or crafted .xlsx is refused whole, naming where, before anything is sent: no half sheet, no crash, no unbounded memory")
    func damagedWorkbooks() async throws {
        try await withDaemon { daemon in
            // A worksheet alone (subsidyctl reads sheet1 when there is no workbook part), written
            // by hand so each can be damaged the way a third-party exporter or an attacker would.
            let script = #"""
                import sys, zipfile
                out = sys.argv[1]
                head = '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                tail = '</sheetData></worksheet>'
                def cell(ref, text): return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'
                header = '<row r="1">' + ''.join(cell(f"{c}1", n) for c, n in zip("ABCDEFGH", ["measure", "fundingYear", "enterpriseUscc", "providerUscc", "contractNumber", "contractAmount", "paidAmount", "projectName"])) + '</row>'
                def rows(n, bad_at=None):
                    out = []
                    for r in range(2, n + 2):
                        name = "项目" + str(r) + ("\x0b" if r == bad_at else "")
                        out.append(f'<row r="{r}">' + cell(f"A{r}", "CLOUD_VOUCHER") + cell(f"B{r}", "2022") + cell(f"H{r}", name) + '</row>')
                    return ''.join(out)
                def write(name, sheet, shared=None, raw=None):
                    with zipfile.ZipFile(f"{out}/{name}.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
                        z.writestr("xl/worksheets/sheet1.xml", raw if raw is not None else head + sheet + tail)
                        if shared is not None: z.writestr("xl/sharedStrings.xml", shared)
                write("control-char", header + rows(2000, bad_at=50))
                write("shared-index", header + '<row r="2"><c r="A2" t="s"><v>-1</v></c></row>', shared='<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>x</t></si></sst>')
                write("column-overflow", header + '<row r="2">' + cell("AAAAAAAAAAAAAA2", "x") + '</row>')
                write("wide-column", header + '<row r="2">' + cell("ZZZZZZ2", "x") + '</row>')
                write("row-min", header + '<row r="-9223372036854775808">' + cell("A2", "x") + '</row>')
                write("row-huge", header + '<row r="1000000000000">' + cell("A2", "x") + '</row>')
                write("bomb", None, raw=head + " " * (129 * 1024 * 1024) + tail)
                """#
            _ = try await BureauListTests.python(script, [daemon.dataDirectory])
            let expected = [
                "control-char": "xl/worksheets/sheet1.xml is not well-formed XML at line", "shared-index": "cell A2 names shared string \"-1\"",
                "column-overflow": "cell reference \"AAAAAAAAAAAAAA2\" is outside Excel's columns", "wide-column": "cell reference \"ZZZZZZ2\" is outside",
                "row-min": "row number \"-9223372036854775808\" is out of order", "row-huge": "row number \"1000000000000\" is out of order",
                "bomb": "more than a sheet subsidyctl reads",
            ]
            for (name, message) in expected.sorted(by: { $0.key < $1.key }) {
                let result = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "submit", "--batch", "\(daemon.dataDirectory)/\(name).xlsx"])
                #expect(result.status == 1, "\(name): exit \(result.status) \(result.output) \(result.error)")
                #expect(result.error.contains(message), "\(name): \(result.error)")
                #expect(!result.output.contains("filed"), "\(name): \(result.output)")
            }
            let listed = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "--json", "list"])
            #expect(try listed.output.firstRecordID() == nil, "nothing was filed: \(listed.output)")
        }
    }

    @Test("a refusal in a Chinese locale: its kind and typed details in Chinese, amounts in yuan")
    func chineseRefusals() async throws {
        try await withDaemon(demo: true) { daemon in
            let chinese = ["LANG": "zh_CN.UTF-8", "LC_ALL": ""]
            let decided = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "nanhai", "amend", "nanhai-000003", "--set", "projectName=x"], environment: chinese)
            #expect(decided.error.hasPrefix("错误：不符合条件（FAILED_PRECONDITION）\n  条件 state："), "\(decided.error)")
            // gaoming's 91440608400000122W has used its whole 2022 voucher cap in the demo.
            let file = daemon.dataDirectory + "/gaoming.json"
            try BureauListTests.voucher.replacingOccurrences(of: "91440605000000115C", with: "91440608400000122W")
                .replacingOccurrences(of: "914406050000000193", with: "91440608400000018Q").write(toFile: file, atomically: false, encoding: .utf8)
            let quote = try await runCtl(["--data-dir", daemon.dataDirectory, "--as", "gaoming", "quote", "--file", file, "--decision-date", "2022-10-01"], environment: chinese)
            #expect(quote.error.contains("错误：额度不足或请求过多（RESOURCE_EXHAUSTED）"), "\(quote.error)")
            #expect(quote.error.contains("上限 500,000.00 元，已使用 500,000.00 元") && quote.error.contains("剩余 0.00 元"), "\(quote.error)")
            // A record and the registry read in Chinese too, labels lined up by display width.
            let shown = try await BureauListTests.ctl(daemon, as: "nanhai", ["show", "nanhai-000003"], environment: chinese)
            #expect(shown.contains("\n支持方向:    上云上平台服务券  资金年度 2022") && shown.contains("\n审定资助:    375,000.00"), "\(shown)")
            let applicants = try await BureauListTests.ctl(daemon, as: "nanhai", ["applicant", "list"], environment: chinese)
            #expect(applicants.hasPrefix("统一社会信用代码"), "\(applicants)")
        }
    }

    @Test("in a Chinese locale every label is Chinese: a record, a quote, quota's consumers, the registry, programmes, calls, batches; English stays as it was")
    func chineseLabels() async throws {
        try await withDaemon(demo: true) { daemon in
            let chinese = ["LANG": "zh_CN.UTF-8", "LC_ALL": ""]
            let english = ["LANG": "C.UTF-8", "LC_ALL": ""]
            let shown = try await BureauListTests.ctl(daemon, as: "nanhai", ["show", "nanhai-000003"], environment: chinese)
            #expect(shown.hasPrefix("nanhai-000003  南海区  公示中\n"), "\(shown)")
            for expected in [
                "合同金额 750,000.00 元，实付金额 750,000.00 元", "HT-2022-nanhai-2（按 contract:ht-2022-nanhai-2 比对）", "375,000.00 元，审定日期 2022-06-11",
                "  — → 待初审  操作 南海区（uid ", "  已推荐 → 已审定  操作 市局（uid ", "  决定日期 2022-06-11",
            ] {
                #expect(shown.contains(expected), "\(expected): \(shown)")
            }
            for english in ["PUBLICIZED", "CLOUD_VOUCHER", "yuan", "compared as", " by ", "dated", "contractAmount"] {
                #expect(!shown.contains(english), "\(english) left in English: \(shown)")
            }
            let inEnglish = try await BureauListTests.ctl(daemon, as: "nanhai", ["show", "nanhai-000003"], environment: english)
            #expect(inEnglish.hasPrefix("nanhai-000003  nanhai  PUBLICIZED\nmeasure:   CLOUD_VOUCHER  year 2022\n"), "\(inEnglish)")
            #expect(inEnglish.contains("amounts:   contractAmount 750,000.00, paidAmount 750,000.00 yuan"), "\(inEnglish)")
            #expect(inEnglish.contains("(compared as contract:ht-2022-nanhai-2)") && inEnglish.contains("→ APPROVED  by city (uid "), "\(inEnglish)")

            let file = daemon.dataDirectory + "/voucher.json"
            try BureauListTests.voucher.write(toFile: file, atomically: false, encoding: .utf8)
            let quoteArguments = ["--today", BureauListTests.filingDay, "quote", "--file", file, "--decision-date", "2022-10-01"]
            let quote = try await BureauListTests.ctl(daemon, as: "nanhai", quoteArguments, environment: chinese)
            #expect(quote.hasPrefix("资助金额：500,000.00 元，受单个企业上限 CLOUD_VOUCHER.per_enterprise [2022/91440605000000115C] 约束\n公式测算：600,000.00 元\n政策：foshan-2020@"), "\(quote)")
            #expect(quote.contains("*  单个企业上限") && quote.contains("   年度预算 ") && !quote.contains("Award:"), "\(quote)")
            #expect(try await BureauListTests.ctl(daemon, as: "nanhai", quoteArguments, environment: english).hasPrefix("CLOUD_VOUCHER 上云上平台服务券 · applicant"))
            // Notepad's "UTF-8 with BOM" is the same file.
            try ("\u{FEFF}" + BureauListTests.voucher).write(toFile: file, atomically: false, encoding: .utf8)
            #expect(try await BureauListTests.ctl(daemon, as: "nanhai", quoteArguments, environment: chinese) == quote)

            let quota = try await BureauListTests.ctl(daemon, as: "city", ["quota", "--year", "2022"], environment: chinese)
            let headers = quota.split(separator: "\n").map { String($0.prefix { $0 != " " }) }
            #expect(headers.contains("服务商") && headers.contains("企业") && headers.contains("区") && quota.contains("已使用（元）  资助（件）"), "\(quota)")
            #expect(!quota.contains("TOP ") && !quota.contains("DISTRICTS") && !quota.contains("AWARDS"), "\(quota)")
            // Beside Shunde's own programme's caps, the lists say whose awards they count.
            #expect(quota.contains("（以上服务商、企业、区的合计只含市级政策的资助，不含区级政策 shunde-dx-2021 的资助，后者见其额度）"), "\(quota)")
            let cityOnly = try await BureauListTests.ctl(daemon, as: "city", ["quota", "--year", "2022", "--programme", "foshan-2020"], environment: english)
            #expect(cityOnly.contains("TOP ENTERPRISES") && !cityOnly.contains("count the city programmes' awards only"), "\(cityOnly)")

            let applicants = try await BureauListTests.ctl(daemon, as: "nanhai", ["applicant", "list"], environment: chinese)
            #expect(applicants.contains("工业互联网服务商  佛山本地") && applicants.contains("工业企业") && !applicants.contains("LOCAL"), "\(applicants)")
            let applicantShown = try await BureauListTests.ctl(daemon, as: "nanhai", ["applicant", "show", "91440605000000115C"], environment: chinese)
            #expect(applicantShown.contains("工业企业  佛山本地  南海区") && !applicantShown.contains("INDUSTRIAL_ENTERPRISE"), "\(applicantShown)")
            #expect(try await BureauListTests.ctl(daemon, as: "nanhai", ["applicant", "list"], environment: english).contains("SERVICE_PROVIDER       LOCAL"))
            // A page that goes on, and a list with nothing in it.
            let paged = try await BureauListTests.ctl(daemon, as: "nanhai", ["list", "--page-size", "2"], environment: chinese)
            #expect(paged.contains("\n（未完，下一页：--page-token ") && !paged.contains("more:"), "\(paged)")
            #expect(try await BureauListTests.ctl(daemon, as: "nanhai", ["list", "--text", "没有这个项目"], environment: chinese) == "没有申请\n")
            #expect(try await BureauListTests.ctl(daemon, as: "nanhai", ["list", "--text", "没有这个项目"], environment: english) == "no applications\n")

            let programmes = try await BureauListTests.ctl(daemon, as: "city", ["--today", "2022-09-01", "programmes"], environment: chinese)
            #expect(programmes.contains("foshan-2020 *   申报中  ") && programmes.contains("顺德区") && !programmes.contains(" open "), "\(programmes)")
            _ = try await BureauListTests.ctl(
                daemon, as: "city", ["--today", "2025-01-01", "call", "open", "--programme", "foshan-dx-2021", "--measure", "DIGITAL_WORKSHOP", "--year", "2025", "--to", "2025-03-31"])
            let calls = try await BureauListTests.ctl(daemon, as: "city", ["--today", "2025-01-01", "call", "list"], environment: chinese)
            #expect(calls.contains("foshan-dx-2021/DIGITAL_WORKSHOP/2025/1  申报中  2025-01-01..2025-03-31"), "\(calls)")
            #expect(try await BureauListTests.ctl(daemon, as: "city", ["--today", "2025-01-01", "call", "list"], environment: english).contains("/2025/1  open   2025"))

            let ids = daemon.dataDirectory + "/ids.txt"
            try "nanhai-000001\n".write(toFile: ids, atomically: false, encoding: .utf8)
            let review = ["review", "--batch", ids, "--outcome", "recommend"]
            let reviewed = try await BureauListTests.ctl(daemon, as: "nanhai", review, environment: chinese)
            #expect(reviewed.hasPrefix("申请编号       状态    说明\nnanhai-000001  已推荐") && reviewed.hasSuffix("初审 1 项，此前已初审 0 项，未能初审 0 项\n"), "\(reviewed)")
            let again = try await BureauListTests.ctl(daemon, as: "nanhai", review, environment: english)
            #expect(again.hasPrefix("APPLICATION    STATE        DETAIL\nnanhai-000001  RECOMMENDED  already reviewed") && again.hasSuffix("0 reviewed, 1 already reviewed, 0 refused\n"), "\(again)")
            let sheet = daemon.dataDirectory + "/rows.csv"
            try BatchTests.sheet(rows: 1, bad: false).write(toFile: sheet, atomically: false, encoding: .utf8)
            let submitted = try await BureauListTests.ctl(daemon, as: "nanhai", ["--today", BureauListTests.filingDay, "submit", "--batch", sheet], environment: chinese)
            #expect(submitted.hasPrefix("已提交 1 行，此前已提交 0 行，未能提交 0 行，共 1 行；结果见 "), "\(submitted)")
        }
    }

    @Test("the socket comes from --socket, SUBSIDY_SOCKET or a client configuration file, never silently from a dev layout that is not there")
    func socketSources() async throws {
        try await withDaemon(demo: true) { daemon in
            let elsewhere = daemon.dataDirectory + "/elsewhere"
            try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
            let ctl = DaemonProcess.productsDirectory + "/subsidyctl"
            let bare = ["HOME": elsewhere, "XDG_CONFIG_HOME": elsewhere, "SUBSIDY_SOCKET": "", "SUBSIDY_CONFIG": ""]
            let none = try await run("/bin/sh", ["-c", "cd '\(elsewhere)' && exec '\(ctl)' whoami"], environment: bare)
            #expect(none.status == 24 && none.error.contains("no socket given") && none.error.contains("SUBSIDY_SOCKET"), "\(none.error)")
            let config = elsewhere + "/subsidyctl/config"
            try FileManager.default.createDirectory(atPath: elsewhere + "/subsidyctl", withIntermediateDirectories: true)
            try "# the district's socket\nsocket = \(daemon.socketPath("shunde"))\n".write(toFile: config, atomically: false, encoding: .utf8)
            let configured = try await run("/bin/sh", ["-c", "cd '\(elsewhere)' && exec '\(ctl)' whoami"], environment: bare)
            #expect(configured.status == 0 && configured.output.contains("shunde"), "\(configured.output) \(configured.error)")
            var fromEnvironment = bare
            fromEnvironment["SUBSIDY_SOCKET"] = daemon.socketPath("gaoming")
            let environment = try await run("/bin/sh", ["-c", "cd '\(elsewhere)' && exec '\(ctl)' whoami"], environment: fromEnvironment)
            #expect(environment.output.contains("gaoming"), "SUBSIDY_SOCKET comes before the file: \(environment.output)")
        }
    }

    @Test("quota --watch prints the table quota prints, then each cap that moves; warnings go to stderr; --json is JSON")
    func quotaWatch() async throws {
        try await withDaemon(demo: true) { daemon in
            let (out, err) = (Pipe(), Pipe())
            let watch = try ChildProcess(
                executable: DaemonProcess.productsDirectory + "/subsidyctl",
                arguments: ["--data-dir", daemon.dataDirectory, "quota", "--watch", "--year", "2022", "--warn-at", "95"],
                environment: ProcessInfo.processInfo.environment.merging(["LANG": "C.UTF-8", "LC_ALL": ""]) { $1 },
                standardOutput: out.fileHandleForWriting.fileDescriptor, standardError: err.fileHandleForWriting.fileDescriptor)
            try out.fileHandleForWriting.close()
            try err.fileHandleForWriting.close()
            defer {
                kill(watch.processIdentifier, SIGTERM)
                watch.waitUntilExit()
            }
            var (text, warnings) = ("", "")
            func read(_ pipe: Pipe, into text: inout String, until needle: String) async {
                while !text.contains(needle), await descriptorReady(pipe.fileHandleForReading.fileDescriptor, timeout: .seconds(20)) {
                    let chunk = pipe.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    text += String(decoding: chunk, as: UTF8.self)
                }
            }
            // First the table `quota` prints, the same rows: the caps, then the top consumers.
            await read(out, into: &text, until: "DISTRICTS")
            let table = try await BureauListTests.ctl(daemon, as: "city", ["quota", "--year", "2022"], environment: ["LANG": "C.UTF-8", "LC_ALL": ""])
            let capRows = table.split(separator: "\n").prefix { !$0.hasPrefix("policy ") }
            #expect(capRows.first?.hasPrefix("CAP") == true && capRows.count > 3, "\(table)")
            #expect(text.hasPrefix(capRows.joined(separator: "\n") + "\n"), "the watch begins with quota's table: \(text)")
            #expect(text.contains("TOP PROVIDERS"), "\(text)")
            // The demo's gaoming enterprise is already at 100% of its voucher cap: warned at once, on stderr.
            await read(err, into: &warnings, until: "91440608400000122W")
            #expect(warnings.contains("warning: CLOUD_VOUCHER.per_enterprise [2022/91440608400000122W] is at 100.0%"), "\(warnings)")
            #expect(!text.contains("warning:"), "warnings stay out of the table: \(text)")
            // An approval moves the annual budget: a line for it arrives while the watch goes on.
            let file = daemon.dataDirectory + "/voucher.json"
            try BureauListTests.voucher.write(toFile: file, atomically: false, encoding: .utf8)
            _ = try await BureauListTests.ctl(daemon, as: "nanhai", ["--today", BureauListTests.filingDay, "submit", "--file", file])
            _ = try await BureauListTests.ctl(daemon, as: "nanhai", ["--today", BureauListTests.filingDay, "review", "nanhai-000005", "--outcome", "recommend"])
            _ = try await BureauListTests.ctl(daemon, as: "city", ["approve", "nanhai-000005", "--decision-date", "2022-10-01"])
            await read(out, into: &text, until: "CLOUD_VOUCHER.annual_budget [2022]")
            #expect(text.contains("CLOUD_VOUCHER.annual_budget [2022]  2,625,000.00 of 20,000,000.00"), "\(text)")
            await read(err, into: &warnings, until: "91440605000000115C")
            #expect(warnings.contains("warning: CLOUD_VOUCHER.per_enterprise [2022/91440605000000115C] is at 100.0%"), "\(warnings)")

            // With --json: the snapshot as JSON first, the same caps `quota --json` lists.
            let (jsonOut, jsonErr) = (Pipe(), Pipe())
            let jsonWatch = try ChildProcess(
                executable: DaemonProcess.productsDirectory + "/subsidyctl",
                arguments: ["--data-dir", daemon.dataDirectory, "--json", "quota", "--watch", "--year", "2022"],
                standardOutput: jsonOut.fileHandleForWriting.fileDescriptor, standardError: jsonErr.fileHandleForWriting.fileDescriptor)
            try jsonOut.fileHandleForWriting.close()
            try jsonErr.fileHandleForWriting.close()
            defer {
                kill(jsonWatch.processIdentifier, SIGTERM)
                jsonWatch.waitUntilExit()
            }
            var json = ""
            await read(jsonOut, into: &json, until: "\n}\n")
            let snapshot = try JSONValue.parse(json)
            guard case .array(let caps)? = snapshot["caps"] else { Issue.record("no caps: \(json)"); return }
            #expect(caps.contains { $0["capId"] == .string("CLOUD_VOUCHER.annual_budget") }, "\(json)")
        }
    }
}

@Suite("events through a pipe")
struct EventsPipeTests {
    @Test("subsidyctl events writes each event as it comes, into a pipe, while it keeps following")
    func eventsFlushIntoAPipe() async throws {
        try await withDaemon(demo: true) { daemon in
            let out = Pipe()
            let events = try ChildProcess(
                executable: DaemonProcess.productsDirectory + "/subsidyctl", arguments: ["--data-dir", daemon.dataDirectory, "events", "--after", "1"],
                standardOutput: out.fileHandleForWriting.fileDescriptor)
            try out.fileHandleForWriting.close()
            defer {
                kill(events.processIdentifier, SIGTERM)
                events.waitUntilExit()
            }
            // The demo's ledger already holds events after #1: they must arrive while the
            // command is still following, not when it exits.
            #expect(await descriptorReady(out.fileHandleForReading.fileDescriptor, timeout: .seconds(20)), "an event line arrives within 20 s")
            let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
            #expect(line.hasPrefix("#2  "), "\(line)")
            #expect(events.isRunning)
        }
    }

    @Test("on a terminal, subsidyctl events prints a header and lines its columns up under it; into a pipe, no header")
    func eventsOnATerminal() async throws {
        try await withDaemon(demo: true) { daemon in
            let ctl = DaemonProcess.productsDirectory + "/subsidyctl"
            // script(1) gives the command a terminal; its output is what the terminal showed.
            let shown = try await run("/usr/bin/script", ["-qec", "\(ctl) --data-dir \(daemon.dataDirectory) events --from-start --count 3", "/dev/null"],
                                      environment: ["LANG": "C.UTF-8", "LC_ALL": ""])
            // A terminal's lines end in CR LF, one Character to Swift.
            let lines = shown.output.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
            #expect(lines.count == 4 && lines[0].hasPrefix("SEQ "), "\(shown.output)")
            // Each column starts where its title does, on every line.
            let header = try #require(lines.first)
            for title in ["TIME", "APPLICATION", "STATE"] {
                let column = try #require(header.range(of: title)).lowerBound.utf16Offset(in: header)
                for line in lines.dropFirst() {
                    let index = line.utf16.index(line.utf16.startIndex, offsetBy: column)
                    #expect(line.utf16[line.utf16.index(before: index)] == 0x20 && line.utf16[index] != 0x20, "\(title) in \(line)")
                }
            }
            let piped = try await runCtl(["--data-dir", daemon.dataDirectory, "events", "--from-start", "--count", "1"])
            #expect(piped.output.hasPrefix("#1  "), "no header into a pipe: \(piped.output)")
            // Waiting for more events than come ends at --timeout-ms, as a call does, not never.
            let waited = try await runCtl(["--data-dir", daemon.dataDirectory, "--timeout-ms", "500", "events", "--count", "1"])
            #expect(waited.status == 14 && waited.error.contains("DEADLINE_EXCEEDED"), "exit 10 + 4: \(waited.status) \(waited.error)")
        }
    }
}

/// Columns a terminal gives `text` (CJK and fullwidth characters two, an emoji two however many
/// it joins, a combining mark none), computed independently of subsidyctl's own.
private func displayWidth(_ text: String) -> Int {
    text.reduce(0) { width, character in
        if character.unicodeScalars.contains(where: { (0x1F300...0x1FAFF).contains($0.value) }) { return width + 2 }
        return width + character.unicodeScalars.reduce(0) { width, scalar in
            let v = scalar.value
            if (0x0300...0x036F).contains(v) || v == 0x200D { return width }
            return width + ((0x3000...0x9FFF).contains(v) || (0xFF00...0xFF60).contains(v) ? 2 : 1)
        }
    }
}

extension String {
    /// The id of the first record of a `--json list` response.
    fileprivate func firstRecordID() throws -> String? {
        let object = try JSONSerialization.jsonObject(with: Data(utf8)) as? [String: Any]
        return (object?["records"] as? [[String: Any]])?.first?["id"] as? String
    }
}

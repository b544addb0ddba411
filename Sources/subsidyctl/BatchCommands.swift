import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

/// The columns of a batch of applications (`submit --batch`): the JSON field names of
/// `Application` (camelCase, or the protos' snake_case). Every amount is in yuan under the name
/// without `Fen` (`contractAmount`); the `…Fen` names take fen, as in the JSON.
enum ApplicationColumns {
    /// JSON name → kind, for every field of `Application`.
    static let fields: [String: Kind] = [
        "measure": .text, "fundingYear": .integer, "enterpriseUscc": .text, "enterpriseLocality": .text, "projectName": .text,
        "contractNumber": .text, "contractAmountFen": .fen, "paidAmountFen": .fen, "providerUscc": .text, "investedAmountFen": .fen,
        "constructionAmountFen": .fen, "totalInvestmentFen": .fen, "upperLevelSubsidyFen": .fen, "upperLevelAwardTotalFen": .fen,
        "previousYearServiceSpendFen": .fen, "selectionDate": .text, "selectionLevel": .text, "inProvincialPool": .boolean,
        "recognisedSecondaryNode": .boolean, "pilotId": .text, "servedEnterprises": .list, "provincialVoucherEnterprises": .list,
        "otherFundDeclared": .boolean, "otherFundReason": .text, "programme": .text, "grade": .text, "declaredRevenueFen": .fen,
    ]

    /// The column of the request's own `late_reason` (not a field of Application): why a row is
    /// filed outside an open call for applications.
    static let lateReason: Set<String> = ["lateReason", "late_reason", "逾期申报原因"]

    /// The columns as a bureau's template names them in Chinese (and `export applications` does,
    /// where it has them); full-width or ASCII brackets, spaces ignored.
    static let chinese: [String: String] = [
        "政策": "programme", "支持方向": "measure", "资金年度": "fundingYear", "统一社会信用代码": "enterpriseUscc",
        "企业统一社会信用代码": "enterpriseUscc", "项目名称": "projectName", "合同编号": "contractNumber", "合同金额(元)": "contractAmount",
        "实付金额(元)": "paidAmount", "服务商统一社会信用代码": "providerUscc", "投资额(元)": "investedAmount", "建设投入(元)": "constructionAmount",
        "总投资(元)": "totalInvestment", "上级补助(元)": "upperLevelSubsidy", "上年服务支出(元)": "previousYearServiceSpend",
        "年主营业务收入(元)": "declaredRevenue", "评定等级": "grade", "入选日期": "selectionDate", "入选级别": "selectionLevel",
        "试点编号": "pilotId", "服务企业": "servedEnterprises",
    ]

    /// A field's Chinese name, as ``chinese`` has it (an amount's without its unit: 合同金额 for
    /// `contractAmountFen`), or nil for a field a bureau's template does not name.
    static func chineseName(of field: String) -> String? {
        let name = field.hasSuffix("Fen") ? String(field.dropLast(3)) : field
        // The shortest of several (统一社会信用代码, not 企业统一社会信用代码), as the exports name it.
        guard let key = chinese.filter({ $0.value == name }).keys.min(by: { ($0.count, $0) < ($1.count, $1) }) else { return nil }
        return key.hasSuffix("(元)") ? String(key.dropLast(3)) : key
    }

    /// `column` as the JSON name it stands for: a Chinese name of ``chinese``, or itself.
    static func englishName(_ column: String) -> String {
        chinese[headerKey(column)] ?? column
    }

    /// A header as the Chinese column tables are keyed: without spaces (ASCII or ideographic),
    /// full-width brackets as ASCII (`资助金额（元）` is `资助金额(元)`).
    static func headerKey(_ column: String) -> String {
        String(column.unicodeScalars.filter { $0 != " " && $0 != "\u{3000}" }.map { $0 == "（" ? "(" : $0 == "）" ? ")" : Character($0) })
    }

    /// Whether `column` is the late reason's.
    static func isLateReason(_ column: String) -> Bool { lateReason.contains(column) }

    /// Columns a bureau's sheet carries for its reader — a row number, an enterprise's name beside
    /// its code, a note — read by no one here, and so not refused as unknown.
    static let informational: Set<String> = ["序号", "企业名称", "服务商名称", "备注", "enterpriseName", "enterprise_name", "providerName", "provider_name", "note", "remark"]

    /// A measure as the row gives it: its protocol name, or its Chinese name (上云上平台服务券).
    static func measureName(_ value: String) -> String {
        Measure.allCases.first { $0.displayName == value.trimmingSpaces }?.rawValue ?? value
    }

    enum Kind { case text, integer, fen, yuan, boolean, list }

    /// The JSON field and kind a column names, or nil for a column that is not a field.
    static func field(_ column: String) -> (name: String, kind: Kind)? {
        let name = camelCase(englishName(column))
        if let kind = fields[name] { return (name, kind) }
        if fields[name + "Fen"] == .fen { return (name + "Fen", .yuan) }
        return nil
    }

    private static func camelCase(_ column: String) -> String {
        let parts = column.split(separator: "_")
        guard parts.count > 1 else { return column }
        return String(parts[0]) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// The fields that hold USCCs (统一社会信用代码): 18 characters that no number cell keeps.
    static let codes: Set<String> = ["enterpriseUscc", "providerUscc", "servedEnterprises", "provincialVoucherEnterprises"]

    /// One row as the JSON of an `Application`; a bad value names the row and the column (or,
    /// without a row, `--set` and the field: one value typed on the command line). Text fields
    /// (codes, numbers, names) take a cell as it was typed, not a date or a number Excel made
    /// of it (``SheetCell/identifier(at:isCode:)``); dates, amounts and years take either.
    static func json(_ fields: [String: SheetCell], row: Int?) throws(SubsidyError) -> String {
        var members: [String] = []
        for (column, cell) in fields.sorted(by: { $0.key < $1.key }) where !cell.text.isEmpty {
            guard let (name, kind) = field(column) else { continue }
            let value = cell.text
            let place = row.map { "row \($0) column \(column)" } ?? "--set \(column)"
            let encoded: String
            switch kind {
            case .text where name.hasSuffix("Date"):
                // Excel's serial day numbers and the clerks' 2021/3/15; anything else is refused
                // here, naming the row and column (`210315` is not guessed at).
                guard let date = normalisedDate(value) else {
                    throw .invalidField(place, "must be a date YYYY-MM-DD (2021/3/15 and Excel date cells are read too; got \"\(value)\")")
                }
                encoded = JSONString.quoted(date)
            // A value typed on the command line (`--set`, no row) is what was typed: no spreadsheet made it.
            case .text where name == "measure": encoded = JSONString.quoted(measureName(row == nil ? value : try cell.identifier(at: place, isCode: false)))
            case .text: encoded = JSONString.quoted(row == nil ? value : try cell.identifier(at: place, isCode: codes.contains(name)))
            case .integer:
                guard let number = Int32(value) else { throw .invalidField(place, "must be a whole number (got \"\(value)\")") }
                encoded = String(number)
            case .fen:
                guard let number = Int64(value) else { throw .invalidField(place, "must be a whole number of fen (got \"\(value)\")") }
                encoded = JSONString.quoted(String(number))
            case .yuan:
                do {
                    encoded = JSONString.quoted(String(try Money(parsing: value).fen))
                } catch {
                    throw .invalidField(place, "must be an amount in yuan (got \"\(value)\"): \(error)")
                }
            case .boolean:
                switch value.lowercased() {
                case "true", "yes", "1", "是", "y": encoded = "true"
                case "false", "no", "0", "否", "n": encoded = "false"
                default: throw .invalidField(place, "must be true or false (是/否) (got \"\(value)\")")
                }
            case .list:
                // A cell lists USCCs separated by ; , 、 or spaces (Excel keeps one cell per field).
                let items = try cell.identifier(at: place, isCode: true).split { ";；,，、 \n".contains($0) }.map(String.init)
                for item in items { try SheetCell.refuseScientific(item, at: place) }
                encoded = "[" + items.map(JSONString.quoted).joined(separator: ",") + "]"
            }
            members.append(JSONString.quoted(name) + ":" + encoded)
        }
        return "{" + members.joined(separator: ",") + "}"
    }
}

/// `submit --batch`: every row of a spreadsheet filed as one application, each with a request
/// id derived from what the application is (not where its row stands), so a re-run files
/// nothing twice.
struct BatchSubmission {
    let global: GlobalOptions
    let path: String
    let encoding: Spreadsheet.TextEncoding?
    let resultsPath: String?
    /// `--programme`: the programme of every row whose `programme` column is empty or absent.
    var programme = ""
    /// `--late-reason`: the late reason of every row whose `lateReason` column is empty or absent.
    var lateReason = ""

    func run() async throws {
        let sheet = try Spreadsheet.read(path: path, encoding: encoding)
        let unknown = sheet.header.filter {
            !$0.isEmpty && ApplicationColumns.field($0) == nil && !ApplicationColumns.isLateReason($0)
                && !ApplicationColumns.informational.contains($0.trimmingSpaces)
        }
        guard unknown.isEmpty else {
            throw ValidationError(
                "\(path): unknown column\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")); the columns are the JSON field names "
                    + "of Application (subsidyctl submit --help), or their Chinese names (支持方向, 资金年度, 统一社会信用代码, 项目名称, …); "
                    + "序号, 企业名称 and 备注 are read by people and skipped")
        }
        if sheet.encoding != .utf8 { note("\(path): read as GB18030") }
        let started = utcNow()
        let progress = Progress(total: sheet.rows.count, label: "submit")
        var results = CSVDocument(header: ["行号 row", "结果 outcome", "申请编号 application", "说明 detail"])
        var (filed, again, failed) = (0, 0, 0)
        let out = resultsPath ?? Self.resultsPath(for: path)
        // Where the results go is tried before anything is filed: a path that cannot be written
        // (a typo, a read-only share) is found now, not after every row was sent.
        if out != "-" { try writeFile(results.bytes, to: out) }
        // The first row of this file filed with each identity. A later row with the same
        // enterprise, measure, year and contract (or project) is a pasted copy or a contract typed
        // twice, not a second application: only one could ever be funded, so it is refused here,
        // naming the row it repeats, and nothing is filed for it.
        var firstRow: [String: Int] = [:]
        // Every row of each identity, read before any is sent: a re-run refused for a request id
        // another row's values hold must not advise amending that application to this row.
        var rowsOf: [String: [Int]] = [:]
        for row in sheet.rows {
            guard let json = try? ApplicationColumns.json(row.fields, row: row.row),
                var application = try? Foshan_Subsidy_V1_Application(jsonText: json, path: "row \(row.row)")
            else { continue }
            if application.programme.isEmpty { application.programme = programme }
            rowsOf[Self.identity(of: application), default: []].append(row.row)
        }
        let outcome: SubsidyError? = await global.connected { client throws(SubsidyError) in
            let district = Foshan_Subsidy_V1_DistrictService.Client(wrapping: client)
            for (index, row) in sheet.rows.enumerated() {
                defer { progress.update(index + 1) }
                var request = Foshan_Subsidy_V1_SubmitApplicationRequest()
                var identity = ""
                do throws(SubsidyError) {
                    let json = try ApplicationColumns.json(row.fields, row: row.row)
                    var application = try Foshan_Subsidy_V1_Application(jsonText: json, path: "row \(row.row)")
                    if application.programme.isEmpty { application.programme = programme }
                    request.application = application
                    let rowReason = ApplicationColumns.lateReason.compactMap { row.fields[$0]?.text }.first { !$0.isEmpty }
                    request.lateReason = rowReason ?? lateReason
                    // What the application is, not where its row stands, decides its id: a
                    // re-run after fixing, adding or deleting rows files only what was not filed,
                    // and a row edited since it was filed is refused (ALREADY_EXISTS), not filed again.
                    identity = Self.identity(of: application)
                    if let earlier = firstRow[identity] {
                        failed += 1
                        results.rows.append([
                            .number(String(row.row)), .text("repeats row \(earlier) 与第\(earlier)行重复"), .text(""),
                            .text("the same enterprise, measure, year and contract (or project) as row \(earlier): "
                                + "one application per contract; delete this row, or correct its contract number or project name"),
                        ])
                        continue
                    }
                    request.requestId = Self.requestID(identity: identity)
                    let response = try await district.submitApplication(request, timeout: global.timeout)
                    // Only a row that was filed (now or before) is one a later row repeats: a row
                    // the daemon refused leaves its corrected copy below it to be filed.
                    firstRow[identity] = row.row
                    let id = response.record?.id ?? ""
                    // A replay answers with the record filed before this run began.
                    if let created = response.record?.createdAt, created < started {
                        again += 1
                        results.rows.append([.number(String(row.row)), .text("already filed 已提交过"), .text(id), .text("")])
                    } else {
                        filed += 1
                        let warnings = response.record?.warnings.joined(separator: "; ") ?? ""
                        results.rows.append([.number(String(row.row)), .text("filed 已提交"), .text(id), .text(warnings)])
                    }
                } catch where error.code == .alreadyExists && error.message.contains("request_id") {
                    failed += 1
                    let others = (rowsOf[identity] ?? []).filter { $0 != row.row }
                    let detail =
                        others.isEmpty
                        ? "this row's application was filed by an earlier run with other values: find it (subsidyctl search) and amend it"
                        : "row \(others.map(String.init).joined(separator: ", ")) of this sheet describes the same application (enterprise, measure, year, "
                            + "contract or project) and was filed with its values: keep one row per application and delete this one"
                    results.rows.append([
                        .number(String(row.row)), .text("filed before with other values 已提交（内容不同）"), .text(""), .text(detail),
                    ])
                } catch {
                    // Problems of the connection or the caller fail every row after it: stop; the
                    // rows done so far are in the results, and a re-run resumes.
                    if error.endsBatch { throw error }
                    failed += 1
                    results.rows.append([.number(String(row.row)), .text("error 失败"), .text(""), .text("\(error.code): \(error.message)")])
                }
            }
        }
        try writeFile(results.bytes, to: out)
        if let outcome {
            let done = filed + again + failed
            note(prefersChinese() ? "已处理 \(done) 行（共 \(sheet.rows.count) 行）后停止；已有结果见 \(out)" : "stopped after \(done) of \(sheet.rows.count) rows; results so far in \(out)")
            throw ExitCode(ExitStatus.of(outcome.code))
        }
        let summary =
            prefersChinese()
            ? "已提交 \(filed) 行，此前已提交 \(again) 行，未能提交 \(failed) 行，共 \(sheet.rows.count) 行；结果见 \(out)"
            : "\(filed) filed, \(again) already filed, \(failed) refused of \(sheet.rows.count) rows; results in \(out)"
        if global.json {
            print(#"{"filed": \#(filed), "alreadyFiled": \#(again), "refused": \#(failed), "rows": \#(sheet.rows.count), "results": \#(JSONString.quoted(out))}"#)
        } else {
            print(summary)
        }
        if failed > 0 { throw ExitCode(ExitStatus.partialBatch) }
    }

    /// What an application is, whatever file or row it comes from: its measure, funding year,
    /// enterprise and content (contract or project), and its programme — only when one is named,
    /// so the ids of rows filed under the default before programmes could be named stay what
    /// they were.
    static func identity(of application: Foshan_Subsidy_V1_Application) -> String {
        ([
            application.measure.description, String(application.fundingYear), application.enterpriseUscc,
            SubsidyCore.Application.contentFingerprint(
                contractNumber: application.contractNumber, projectName: application.projectName, enterprise: application.enterpriseUscc),
        ] + (application.programme.isEmpty ? [] : [application.programme])).joined(separator: "\u{0}")
    }

    /// The request id of the application `identity` names: the same application filed again —
    /// a re-run of a batch, `submit --file` after a timeout — is the same request, which the
    /// daemon answers with the application filed the first time. (The `1` is the occurrence
    /// count earlier releases hashed in, kept so the ids of rows they filed stay what they were.)
    static func requestID(identity: String) -> String {
        "batch-" + String(HexDigest.sha256(Array("\(identity)\u{0}1".utf8)).prefix(32))
    }

    /// `apps.csv` → `apps.results.csv` beside it; any other file keeps its extension
    /// (`apps.xlsx` → `apps.xlsx.results.csv`): the results of a workbook must not replace those
    /// of the CSV of the same name, which the committee's next step may be about to read.
    static func resultsPath(for path: String) -> String {
        guard path != "-" else { return "submit-results.csv" }
        return (path.lowercased().hasSuffix(".csv") ? String(path.dropLast(4)) : path) + ".results.csv"
    }
}

/// Application ids from a file (one per line, or a CSV whose first column, or a column named
/// `id`, `application…` or 申请编号, holds them) or from the command line.
func applicationIDs(file: String?, arguments: [String]) throws -> [String] {
    guard let file else { return arguments }
    // Each row with its number in the sheet (the first is 1), blank rows left out.
    var rows = try Spreadsheet.records(path: file, encoding: nil).0.enumerated().map { (row: $0.offset + 1, cells: $0.element) }
    rows = rows.filter { !$0.cells.allSatisfy(\.isBlank) }
    guard let first = rows.first else { throw ValidationError("\(file): no application ids") }
    var column = 0
    // A header names the column: `id`, `application_id`, 申请编号, or the column of a results
    // file (`申请编号 application`), so `submit --batch`'s results feed `review --batch`.
    let named = first.cells.firstIndex { cell in
        let name = cell.text.trimmingSpaces.lowercased()
        return name == "id" || name.contains("application") || name.contains("申请编号")
    }
    if let named {
        column = named
        rows.removeFirst()
    }
    var ids: [String] = []
    for (row, cells) in rows where column < cells.count && !cells[column].isBlank {
        do throws(SubsidyError) {
            ids.append(try cells[column].trimmed.identifier(at: "row \(row)", isCode: false))
        } catch {
            throw LocalError("\(file) \(error.message)")
        }
    }
    guard !ids.isEmpty else { throw ValidationError("\(file): no application ids") }
    return ids + arguments
}

/// `approve --batch/--plan`: a committee's list through ApproveApplications, in chunks of the
/// daemon's limit; a plan consumes nothing.
struct BatchApproval {
    let global: GlobalOptions
    let ids: [String]
    let decisionDate: String
    let document: String
    let reason: String
    let plan: Bool
    let requestID: String?

    func run() async throws {
        let chunkSize = InputLimits.approvalsPerBatch
        // A plan is one moment of the ledger: a longer list would be planned in parts, each
        // blind to the ones before it.
        guard !plan || ids.count <= chunkSize else {
            throw ValidationError("a plan covers at most \(chunkSize) applications (this list has \(ids.count)); split the list by sitting")
        }
        var outcomes: [Foshan_Subsidy_V1_ApprovalOutcome] = []
        var total: Int64 = 0
        // The list, date and document decide the request id: approving the same list again is a
        // retry that approves nothing twice.
        let base = requestID ?? "approve-" + String(HexDigest.sha256(Array((ids + [decisionDate, document, reason]).joined(separator: "\u{0}").utf8)).prefix(32))
        let progress = Progress(total: ids.count, label: plan ? "plan" : "approve")
        for start in stride(from: 0, to: ids.count, by: chunkSize) {
            var request = Foshan_Subsidy_V1_ApproveApplicationsRequest()
            request.applicationIds = Array(ids[start..<min(ids.count, start + chunkSize)])
            request.requestId = ids.count > chunkSize ? "\(base)-\(start / chunkSize)" : base
            request.decisionDate = decisionDate
            request.decisionDocument = document
            request.reason = reason
            request.planOnly = plan
            let sent = request
            let response = try await global.withClient(retrying: plan ? nil : sent.requestId) { client throws(SubsidyError) in
                try await Foshan_Subsidy_V1_CityService.Client(wrapping: client).approveApplications(sent, timeout: global.timeout)
            }
            outcomes += response.outcomes
            total += response.totalAwardFen
            progress.update(outcomes.count)
        }
        var combined = Foshan_Subsidy_V1_ApproveApplicationsResponse()
        combined.outcomes = outcomes
        combined.totalAwardFen = total
        combined.approved = Int32(outcomes.filter { $0.status?.code.rawValue ?? 0 == 0 }.count)
        combined.refused = Int32(outcomes.count) - combined.approved
        let (table, summary) = Self.table(combined, plan: plan)
        global.emit(combined, table: table, footer: summary)
        if combined.refused > 0 && !plan { throw ExitCode(ExitStatus.partialBatch) }
    }

    static func table(_ response: Foshan_Subsidy_V1_ApproveApplicationsResponse, plan: Bool) -> (TextTable, String) {
        let chinese = prefersChinese()
        var table = TextTable(
            chinese
                ? [.init(title: "申请编号"), .init(title: "区"), .init(title: plan ? "预计" : "结果"), .init(title: "资助金额（元）", alignment: .right),
                   .init(title: "测算金额（元）", alignment: .right), .init(title: "约束额度 / 原因")]
                : [.init(title: "APPLICATION"), .init(title: "DISTRICT"), .init(title: plan ? "WOULD BE" : "OUTCOME"),
                   .init(title: "AWARD (YUAN)", alignment: .right), .init(title: "FORMULA (YUAN)", alignment: .right),
                   .init(title: "BINDING CAP / REASON")])
        for outcome in response.outcomes {
            let ok = outcome.status?.code.rawValue ?? 0 == 0
            let cut = ok && outcome.awardFen < outcome.formulaFen
            let verdict =
                if ok {
                    cut ? (chinese ? "部分支持" : "cut") : (chinese ? (plan ? "可支持" : "已审定") : (plan ? "approved" : "APPROVED"))
                } else {
                    // Not 不予支持, the word of a decision to reject: the application is not decided.
                    chinese ? "无法审定" : "refused"
                }
            var why = ""
            if cut || !ok, !outcome.bindingCap.isEmpty { why = outcome.bindingCap + (outcome.bindingScope.isEmpty ? "" : " [\(outcome.bindingScope)]") }
            if !ok, let status = outcome.status { why += (why.isEmpty ? "" : ": ") + "\(status.code): \(status.message)" }
            table.append([
                outcome.applicationId, chinese ? districtName(outcome.district) : outcome.district, verdict, ok ? yuan(outcome.awardFen) : "—",
                ok ? yuan(outcome.formulaFen) : "—", why,
            ])
        }
        let summary =
            chinese
            ? "\(plan ? "预计" : "")支持 \(response.approved) 项，合计 \(yuan(response.totalAwardFen)) 元；无法审定 \(response.refused) 项\(plan ? "（未占用任何额度）" : "")"
            : "\(response.approved) \(plan ? "would be " : "")approved for \(yuan(response.totalAwardFen)) yuan, \(response.refused) refused"
                + (plan ? " (a plan: nothing was committed)" : "")
        return (table, summary)
    }
}

/// `review --batch`: one first review per id, each with a request id derived from the id, the
/// outcome and the reason, so a re-run reviews nothing twice.
struct BatchReview {
    let global: GlobalOptions
    let ids: [String]
    let outcome: Foshan_Subsidy_V1_ReviewOutcome
    let reason: String
    var reviewDate = ""

    func run() async throws {
        let progress = Progress(total: ids.count, label: "review")
        // Each id's state after the run (nil when it could not be read) and what to say of it.
        var results: [(id: String, state: Foshan_Subsidy_V1_ApplicationState?, detail: String)] = []
        var (reviewed, already, failed) = (0, 0, 0)
        let target: Foshan_Subsidy_V1_ApplicationState =
            switch outcome {
            case .recommend: .recommended
            case .return: .returned
            default: .rejected
            }
        try await global.withClient { client throws(SubsidyError) in
            let district = Foshan_Subsidy_V1_DistrictService.Client(wrapping: client)
            for (index, id) in ids.enumerated() {
                defer { progress.update(index + 1) }
                do throws(SubsidyError) {
                    // The state first: an application this list already moved (an earlier run cut
                    // short) is reported, not reviewed again; one filed again after a return is
                    // reviewed afresh, with a new request id.
                    var get = Foshan_Subsidy_V1_GetApplicationRequest()
                    get.applicationId = id
                    let state = try await district.getApplication(get, timeout: global.timeout).record?.state ?? .unspecified
                    if state != .submitted {
                        if state == target {
                            already += 1
                            results.append((id, state, "already reviewed"))
                        } else {
                            failed += 1
                            results.append((id, state, "not SUBMITTED: nothing to review"))
                        }
                        continue
                    }
                    var request = Foshan_Subsidy_V1_ReviewApplicationRequest()
                    request.applicationId = id
                    request.outcome = outcome
                    request.reason = reason
                    request.reviewDate = reviewDate
                    request.requestId = newRequestID()
                    let response = try await district.reviewApplication(request, timeout: global.timeout)
                    reviewed += 1
                    results.append((id, response.record?.state, response.record?.warnings.joined(separator: "; ") ?? ""))
                } catch {
                    if error.endsBatch { throw error }
                    failed += 1
                    results.append((id, nil, "\(error.code): \(error.message)"))
                }
            }
        }
        let chinese = prefersChinese()
        let footer =
            chinese
            ? "初审 \(reviewed) 项，此前已初审 \(already) 项，未能初审 \(failed) 项" : "\(reviewed) reviewed, \(already) already reviewed, \(failed) refused"
        if global.json {
            // No message of the protocol holds a batch's outcomes: the same counts and rows as
            // the table, as JSON.
            let rows = results.map { result in
                #"{"applicationId": \#(JSONString.quoted(result.id)), "state": \#(result.state.map { JSONString.quoted($0.description) } ?? "null"), "detail": \#(JSONString.quoted(result.detail))}"#
            }
            print(#"{"reviewed": \#(reviewed), "alreadyReviewed": \#(already), "refused": \#(failed), "results": [\#(rows.joined(separator: ", "))]}"#)
        } else {
            var table = TextTable((chinese ? ["申请编号", "状态", "说明"] : ["APPLICATION", "STATE", "DETAIL"]).map { TextTable.Column(title: $0) })
            // The details this command writes itself, in Chinese; a refusal's is the daemon's own.
            let chineseDetails = ["already reviewed": "此前已初审", "not SUBMITTED: nothing to review": "不是待初审状态，无需初审"]
            for result in results {
                let detail = chinese ? chineseDetails[result.detail] ?? result.detail : result.detail
                table.append([result.id, result.state.map { stateLabel($0, chinese: chinese) } ?? "—", detail])
            }
            global.emit(Foshan_Subsidy_V1_ListApplicationsResponse(), table: table, footer: footer)
        }
        if failed > 0 { throw ExitCode(ExitStatus.partialBatch) }
    }
}

extension SubsidyError {
    /// A refusal that is about the connection or the caller, not the row: every row after it
    /// would get it too, so a batch stops (its results so far kept) instead of failing them all.
    /// So does a full disk or district file: every later row would be refused the same way.
    var endsBatch: Bool {
        [.unavailable, .permissionDenied, .unauthenticated, .deadlineExceeded].contains(code)
            || (code == .resourceExhausted && (message.contains("max_district_file_bytes") || message.contains("min_free_disk_bytes")
                || message.contains("disk is full")))
    }
}

import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

// Applicants, quotes and the city's ledger tools.

struct ApplicantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "applicant", abstract: "District: register, rename (更名) and look up applicants.",
        subcommands: [RegisterApplicant.self, UpdateApplicant.self, ShowApplicant.self, ListApplicants.self]
    )
}

struct RegisterApplicant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "register", abstract: "Register an enterprise, provider, platform or institution.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "18-character unified social credit code.") var uscc: String
    @Option(help: "Registered name.") var name: String
    @Option(help: "local, relocated or non_local.") var locality: String = "local"
    @Option(help: "industrial_enterprise, service_provider, platform or institution.") var role: String
    @Option var requestId: String = newRequestID()

    func run() async throws {
        var request = Foshan_Subsidy_V1_RegisterApplicantRequest()
        request.requestId = requestId
        var applicant = Foshan_Subsidy_V1_Applicant()
        applicant.uscc = uscc
        applicant.name = name
        applicant.locality = try parseEnum(Foshan_Subsidy_V1_Locality.self, locality, option: "--locality")
        applicant.role = try parseEnum(Foshan_Subsidy_V1_ApplicantRole.self, role, option: "--role")
        request.applicant = applicant
        let r = try await global.withClient(retrying: requestId) { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).registerApplicant(request, timeout: global.timeout)
        }
        let chinese = prefersChinese()
        let registered = r.applicant.map {
            chinese
                ? "已登记 \($0.uscc) \($0.name)（\(roleLabel($0.role, chinese: true))，\(localityLabel($0.locality, chinese: true))），\(districtName($0.district))"
                : "registered \($0.uscc) \($0.name) (\($0.role), \($0.locality)) in \($0.district)"
        } ?? ""
        global.emit(r, human: ([registered] + r.warnings.map { (chinese ? "提示：" : "warning: ") + $0 }).joined(separator: "\n"))
    }
}

struct ShowApplicant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one registered applicant and its history (a district: its own; the city: any district's).")
    @OptionGroup var global: GlobalOptions
    @Argument var uscc: String

    func run() async throws {
        var request = Foshan_Subsidy_V1_GetApplicantRequest()
        request.uscc = uscc
        let r = try await global.withClient { client throws(SubsidyError) in
            try await isCity(client)
                ? Foshan_Subsidy_V1_CityService.Client(wrapping: client).getApplicant(request, timeout: global.timeout)
                : Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).getApplicant(request, timeout: global.timeout)
        }
        global.emit(r, human: applicantText(r.applicant, history: r.history))
    }
}

struct UpdateApplicant: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Rename an applicant (更名) or change its role; the change is kept in its history.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "18-character unified social credit code.") var uscc: String
    @Option(help: "The new registered name.") var name: String = ""
    @Option(help: "The new role: industrial_enterprise, service_provider, platform or institution.") var role: String?
    @Option var reason: String = ""
    @Option var requestId: String = newRequestID()

    func run() async throws {
        var request = Foshan_Subsidy_V1_UpdateApplicantRequest()
        request.requestId = requestId
        request.uscc = uscc
        request.name = name
        if let role { request.role = try parseEnum(Foshan_Subsidy_V1_ApplicantRole.self, role, option: "--role") }
        request.reason = reason
        let sent = request
        let r = try await global.withClient(retrying: requestId) { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).updateApplicant(sent, timeout: global.timeout)
        }
        global.emit(r, human: applicantText(r.applicant, history: r.history))
    }
}

/// An applicant and the history of its entry.
func applicantText(_ applicant: Foshan_Subsidy_V1_Applicant?, history: [Foshan_Subsidy_V1_ApplicantChange]) -> String {
    guard let applicant else { return "" }
    let chinese = prefersChinese()
    var lines = [
        "\(applicant.uscc)  \(applicant.name)  \(roleLabel(applicant.role, chinese: chinese))  \(localityLabel(applicant.locality, chinese: chinese))  "
            + (chinese ? districtName(applicant.district) : applicant.district)
    ]
    for change in history {
        let by = chinese ? "经办 \(tenantName(change.tenant))（uid \(change.actorUid)）" : "by \(change.tenant) (uid \(change.actorUid))"
        lines.append("  \(localTime(change.at))  \(change.field): \(change.before) → \(change.after)  \(by)  \(change.reason)")
    }
    return lines.joined(separator: "\n")
}

struct ListApplicants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List this district's applicants.")
    @OptionGroup var global: GlobalOptions
    @Option var pageSize: Int32 = 50
    @Option var pageToken: String = ""

    func run() async throws {
        var request = Foshan_Subsidy_V1_ListApplicantsRequest()
        request.pageSize = pageSize
        request.pageToken = pageToken
        let r = try await global.withClient { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).listApplicants(request, timeout: global.timeout)
        }
        let chinese = prefersChinese()
        var table = TextTable(
            (chinese ? ["统一社会信用代码", "企业名称", "主体类型", "属地"] : ["USCC", "NAME", "ROLE", "LOCALITY"]).map { TextTable.Column(title: $0) })
        for applicant in r.applicants {
            table.append([applicant.uscc, applicant.name, roleLabel(applicant.role, chinese: chinese), localityLabel(applicant.locality, chinese: chinese)])
        }
        global.emit(r, table: table, footer: global.morePages(r.nextPageToken), empty: chinese ? "没有申请人" : "no applicants")
    }
}

/// A role as the registry's Chinese names it (工业企业, …; ``ApplicantRole``), or its protocol name.
func roleLabel(_ role: Foshan_Subsidy_V1_ApplicantRole, chinese: Bool) -> String {
    guard chinese else { return role.description }
    return switch role {
    case .industrialEnterprise: "工业企业"
    case .serviceProvider: "工业互联网服务商"
    case .platform: "平台商"
    case .institution: "机构单位"
    default: role.description
    }
}

/// A locality as the policy's Chinese names it (佛山本地, 落户, 外地; ``Locality``), or its protocol name.
func localityLabel(_ locality: Foshan_Subsidy_V1_Locality, chinese: Bool) -> String {
    guard chinese else { return locality.description }
    return switch locality {
    case .local: "佛山本地"
    case .relocated: "落户"
    case .nonLocal: "外地"
    default: locality.description
    }
}

struct Quote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quote",
        abstract: "Dry-run the policy engine against live city-wide usage: the award and why. Consumes nothing.",
        discussion: "Give --file (an Application as JSON, a pre-check before filing) or --application-id (a stored application)."
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Application JSON file, or -.") var file: String?
    @Option(help: "A stored application's id.") var applicationId: String?
    @Option(help: "Decision date YYYY-MM-DD (default: the last day of the policy).", transform: dateFlag) var decisionDate: String = ""
    @Option(help: "Case-by-case measures: the amount in yuan, e.g. 8,000,000 or 8000000.00 (as approve takes it).") var caseAmount: String?
    /// Kept for scripts written before `--case-amount`: every other amount a clerk types is in
    /// yuan, and a pre-check in fen quoted a hundredth of what `approve` then committed.
    @Option(help: .hidden) var caseAmountFen: Int64?
    @Option(help: "Case-by-case measures: the decision's document number.") var document: String = ""
    @Option(help: "With --file: the programme to quote under (default: the one the file names, else foshan-2020).") var programme: String?

    func validate() throws {
        guard (file == nil) != (applicationId == nil) else {
            throw ValidationError("give exactly one of --file or --application-id")
        }
        if caseAmount != nil && caseAmountFen != nil { throw ValidationError("give --case-amount (yuan) alone") }
    }

    func run() async throws {
        var request = Foshan_Subsidy_V1_QuoteRequest()
        if let file {
            let json = try readJSON(path: file)
            do throws(SubsidyError) {
                request.application = try Foshan_Subsidy_V1_Application(json: json, path: "application")
            } catch {
                printError(error)
                throw ExitCode(1)
            }
            if let programme { request.application?.programme = programme }
        }
        request.applicationId = applicationId ?? ""
        request.decisionDate = decisionDate
        request.caseAmountFen = try caseAmount.map { try fen($0, option: "--case-amount") } ?? caseAmountFen ?? 0
        request.decisionDocument = document
        let r = try await global.withClient { client throws(SubsidyError) in
            try await isCity(client)
                ? Foshan_Subsidy_V1_CityService.Client(wrapping: client).quote(request, timeout: global.timeout)
                : Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).quote(request, timeout: global.timeout)
        }
        global.emit(r, human: r.explanation.map { prefersChinese() ? chineseExplanation($0) : $0.rendered } ?? "")
    }
}

/// `explanation` for a reader whose locale is Chinese, from its typed fields: the award and the
/// limit that bound it, then one row per limit. Each limit's detail is the daemon's sentence, in
/// English as the daemon wrote it.
func chineseExplanation(_ explanation: Foshan_Subsidy_V1_AwardExplanation) -> String {
    let labels = [
        "formula": "公式测算", "per_project": "单项上限", "per_enterprise": "单个企业上限", "per_provider": "单个服务商上限", "annual_budget": "年度预算",
        "annual_count": "年度数量", "combined_upper_level": "叠加上级资助上限", "one_time": "一次性支持", "follow_on_condition": "后续支持条件",
        "validity_window": "政策有效期", "duplicate_content": "重复申报核查", "eligibility": "申报资格", "grade_ceiling": "等级上限", "difference": "差额奖励",
        "stacking": "多级资助叠加上限",
    ]
    func named(_ limit: Foshan_Subsidy_V1_LimitTrace) -> String {
        (labels[limit.kind] ?? limit.kind) + (limit.capId.isEmpty ? "" : " \(limit.capId)" + (limit.scope.isEmpty ? "" : " [\(limit.scope)]"))
    }
    var lines = ["资助金额：\(yuan(explanation.awardFen)) 元" + (explanation.limits.first(where: \.binding).map { "，受\(named($0)) 约束" } ?? "")]
    if explanation.awardFen < explanation.formulaFen { lines.append("公式测算：\(yuan(explanation.formulaFen)) 元") }
    lines.append("政策：\(explanation.policyVersion)")
    lines.append("")
    var table = TextTable([
        .init(title: " "), .init(title: "限制"), .init(title: "上限", alignment: .right), .init(title: "已使用", alignment: .right),
        .init(title: "剩余", alignment: .right), .init(title: "说明"),
    ])
    for limit in explanation.limits {
        // A count limit counts awards; a condition (eligibility, the validity window, …) has no value.
        let counts = limit.kind == "annual_count" || limit.kind == "one_time"
        let isCondition = limit.kind != "formula" && limit.limit == 0 && limit.committed == 0 && limit.headroom == 0
        let (value, committed, headroom) =
            if isCondition {
                ("—", "—", "—")
            } else if counts {
                ("\(limit.limit) 项", "\(limit.committed) 项", "\(max(0, limit.limit - limit.committed)) 项")
            } else {
                // The formula commits nothing of its own.
                (yuan(limit.limit), limit.kind == "formula" ? "—" : yuan(limit.committed), yuan(limit.headroom))
            }
        table.append([limit.binding ? "*" : "", labels[limit.kind] ?? limit.kind, value, committed, headroom, limit.detail])
    }
    lines.append(table.rendered())
    return lines.joined(separator: "\n")
}

struct Pool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "City: the Foshan resource pool (资源池) that voucher providers must belong to.",
        subcommands: [PoolRegister.self, PoolList.self]
    )
}

struct PoolRegister: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "register", abstract: "Register a pool member with its entry date.")
    @OptionGroup var global: GlobalOptions
    @Option var uscc: String
    @Option var name: String = ""
    @Option(help: "Entry date YYYY-MM-DD.", transform: dateFlag) var entryDate: String
    @Flag(help: "Also in the Guangdong provincial pool.") var provincial = false
    @Option var requestId: String = newRequestID()

    func run() async throws {
        var request = Foshan_Subsidy_V1_RegisterPoolMemberRequest()
        request.requestId = requestId
        var member = Foshan_Subsidy_V1_PoolMember()
        member.uscc = uscc
        member.name = name
        member.entryDate = entryDate
        member.provincial = provincial
        request.member = member
        let r = try await global.withClient(retrying: requestId) { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_CityService.Client(wrapping: client).registerPoolMember(request, timeout: global.timeout)
        }
        global.emit(r, human: r.member.map { "pool member \($0.uscc) since \($0.entryDate)" } ?? "")
    }
}

struct PoolList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List pool members.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        // Every page, so the list is whole however long it is.
        let r = try await global.withClient { client throws(SubsidyError) in
            var all = Foshan_Subsidy_V1_ListPoolMembersResponse()
            var request = Foshan_Subsidy_V1_ListPoolMembersRequest()
            request.pageSize = 500
            var tokens = PageTokens()
            repeat {
                let page = try await Foshan_Subsidy_V1_CityService.Client(wrapping: client).listPoolMembers(request, timeout: global.timeout)
                all.members += page.members
                request.pageToken = try tokens.next(page.nextPageToken)
            } while !request.pageToken.isEmpty
            return all
        }
        let chinese = prefersChinese()
        var table = TextTable(
            (chinese ? ["统一社会信用代码", "入库日期", "省级资源池", "来源", "名称"] : ["USCC", "ENTRY DATE", "PROVINCIAL", "SOURCE", "NAME"])
                .map { TextTable.Column(title: $0) })
        for member in r.members { table.append([member.uscc, member.entryDate, member.provincial ? (chinese ? "是" : "yes") : "", chinese ? (member.source == "award" ? "获奖认定" : member.source == "registration" ? "登记" : member.source) : member.source, member.name]) }
        global.emit(r, table: table, empty: chinese ? "资源池中没有成员" : "no pool members")
    }
}

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "City: import decisions made before the system existed, so every cap and one-time rule counts them.",
        discussion: """
            JSON: {"awards": [HistoricalAward, ...]} in the protos' JSON mapping. CSV or .xlsx: a header \
            line naming the columns measure, year, district (sanshui, or 三水区, 三水), enterprise, provider, amount (yuan), \
            decision_date, document, and optionally contract, project, pilot, selection_date, programme (a city \
            programme after 2020's, e.g. foshan-dx-2021), grade (STANDARD or EXCELLENT, for a graded recognition) and base (yuan: \
            what the award's rate applied to, so a later filing on the same contract or project under \
            another programme is measured on it) — or the HistoricalAward field names (contract_number, …), or the \
            Chinese names (支持方向, 资金年度, 区, 统一社会信用代码, 资助金额（元）, 审定日期, 文号, 合同编号, 项目名称, …); \
            a column it does not know refuses the file (企业名称 and 备注 are skipped). Every row \
            is validated like a live decision; re-importing the same file is idempotent: each row's ledger id \
            comes from its content, and a row already in the ledger is counted as already present (each run \
            is its own request; --request-id retries one whose answer was lost). Prints each row's \
            ledger id (import-…): `subsidyctl revoke` takes it to take back a row imported in error, after \
            which the corrected row can be imported.
            """
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: "JSON or CSV file, or - (JSON) for standard input.") var file: String
    @Option(help: "Request id, to retry a run whose answer was lost (default: a fresh one each run).") var requestId: String?

    @Option(help: "CSV text encoding (default: UTF-8 with or without a BOM, else GB18030/GBK).") var encoding: Spreadsheet.TextEncoding?

    func run() async throws {
        // Excel's "CSV UTF-8" starts with a byte-order mark and an older Excel writes GBK: both
        // are read (the mark is not part of the first column's name).
        // An .xls goes to the spreadsheet reader too, which says what to save it as.
        let isSheet = file.lowercased().hasSuffix(".csv") || file.lowercased().hasSuffix(".xls") || Spreadsheet.isWorkbook(file)
        let sheet = isSheet ? try Spreadsheet.records(path: file, encoding: encoding).0 : []
        let json = isSheet ? JSONValue.null : try readJSON(path: file)
        var request: Foshan_Subsidy_V1_ImportHistoryRequest
        // Each award's place in the file, as the clerk finds it again: its sheet row, or its index.
        var places: [String] = []
        do throws(SubsidyError) {
            if isSheet {
                (request, places) = try HistoryCSV.parse(rows: sheet)
            } else {
                request = try Foshan_Subsidy_V1_ImportHistoryRequest(json: json, path: "import")
                places = request.awards.indices.map { "awards[\($0)]" }
            }
        } catch {
            printError(error, json: global.json)
            throw ExitCode(ExitStatus.of(error.code))
        }
        // A fresh id each run: the rows' own ids (from their content) make an import idempotent,
        // and a second run must be answered anew — rows imported by the first counted as already
        // present — not with the first run's reply. A retry within this run keeps the id.
        request.requestId = requestId ?? newRequestID()
        let sent = request
        let r = try await global.withClient(retrying: sent.requestId) { client throws(SubsidyError) in
            do throws(SubsidyError) {
                return try await Foshan_Subsidy_V1_CityService.Client(wrapping: client).importHistory(sent, timeout: global.timeout)
            } catch {
                // The daemon names an award by its index among the awards sent; the clerk knows
                // the sheet's row (the one the success table and a local refusal name).
                throw isSheet ? error.naming(awards: places.map { "row \($0)" }) : error
            }
        }
        let chinese = prefersChinese()
        var table = TextTable([.init(title: chinese ? (isSheet ? "行号" : "序号") : isSheet ? "ROW" : "AWARD"), .init(title: chinese ? "台账编号" : "LEDGER ID")])
        for (place, id) in zip(places, r.applicationIds) { table.append([place, id]) }
        let footer = chinese ? "导入 \(r.imported) 条，已存在 \(r.alreadyPresent) 条" : "imported \(r.imported), already present \(r.alreadyPresent)"
        global.emit(r, table: table, footer: footer, empty: "")
    }
}

extension SubsidyError {
    /// The error with each award's path in an import request (`request.awards[1]`) replaced by
    /// where that award stands in the file (`places[1]`, e.g. `row 4`), field names kept:
    /// `request.awards[1].district: unknown district` becomes `row 4.district: unknown district`.
    func naming(awards places: [String]) -> SubsidyError {
        func named(_ text: String) -> String {
            var out = ""
            var rest = Substring(text)
            while let start = rest.firstRange(of: "request.awards[") {
                out += rest[..<start.lowerBound]
                let digits = rest[start.upperBound...].prefix(while: \.isNumber)
                let after = rest[start.upperBound...].dropFirst(digits.count)
                if after.first == "]", let index = Int(digits), places.indices.contains(index) {
                    out += places[index]
                    rest = after.dropFirst()
                } else {
                    out += rest[start]
                    rest = rest[start.upperBound...]
                }
            }
            return out + rest
        }
        let details = details.map { detail -> Detail in
            switch detail {
            case let .field(path, problem): .field(path: named(path), problem: named(problem))
            case let .precondition(subject, problem): .precondition(subject: named(subject), problem: named(problem))
            case .capExhausted: detail
            }
        }
        return SubsidyError(code, named(message), details: details, cause: cause)
    }
}

/// The CSV form of a historical import: RFC 4180 fields (quotes for commas), one award a row.
enum HistoryCSV {
    static let required = ["measure", "year", "district", "enterprise", "provider", "amount", "decision_date", "document"]

    /// The columns that hold USCCs (统一社会信用代码), and the other columns of codes and names:
    /// what Excel made of a typed value is refused in them, not imported
    /// (``SheetCell/identifier(at:isCode:)``).
    static let codeColumns: Set<String> = ["enterprise", "provider"]

    /// Every column the import reads, under the names a sheet may give it: its own, the
    /// HistoricalAward field's (`contract_number`), or the Chinese a bureau's sheet (and
    /// `export`) uses. A column it does not know refuses the file: read as nothing, a contract
    /// number under an unexpected header would import the award without its contract, and the
    /// same contract could then be funded again.
    static let aliases: [String: String] = [
        "funding_year": "year", "enterprise_uscc": "enterprise", "provider_uscc": "provider", "amount_yuan": "amount",
        "decision_document": "document", "contract_number": "contract", "project_name": "project", "pilot_id": "pilot", "base_yuan": "base",
    ]
    static let chinese: [String: String] = [
        "支持方向": "measure", "资金年度": "year", "区": "district", "统一社会信用代码": "enterprise", "企业统一社会信用代码": "enterprise",
        "服务商统一社会信用代码": "provider", "资助金额(元)": "amount", "资助金额": "amount", "审定日期": "decision_date", "决定日期": "decision_date",
        "文号": "document", "决定文号": "document", "合同编号": "contract", "项目名称": "project", "试点编号": "pilot", "入选日期": "selection_date",
        "政策": "programme", "评定等级": "grade", "计算基数(元)": "base",
    ]
    /// Columns a sheet carries for its reader (an enterprise's name beside its code, a note): not sent.
    static let informational: Set<String> = ["序号", "企业名称", "服务商名称", "备注", "enterprise_name", "provider_name", "name", "note", "remark"]
    static let known: Set<String> = Set(required).union(["contract", "project", "pilot", "selection_date", "programme", "grade", "base"])

    /// The header's columns as the names the parser reads (informational ones as ""), or the
    /// columns it does not know, and any named twice, refused together.
    static func columns(_ typed: [String]) throws(SubsidyError) -> [String] {
        var (names, unknown, seen) = ([String](), [String](), [String: String]())
        for text in typed {
            let plain = text.trimmingSpaces
            let key = ApplicationColumns.headerKey(plain)
            let lower = key.lowercased()
            let name = known.contains(lower) ? lower : aliases[lower] ?? chinese[key] ?? (informational.contains(lower) || informational.contains(key) ? "" : nil)
            guard let name else {
                if !plain.isEmpty { unknown.append(plain) }
                names.append("")
                continue
            }
            if !name.isEmpty, let first = seen.updateValue(plain, forKey: name) {
                throw .invalidField("csv", "columns \"\(first)\" and \"\(plain)\" are both \(name)")
            }
            names.append(name)
        }
        guard unknown.isEmpty else {
            throw .invalidField(
                "csv",
                "unknown column\(unknown.count == 1 ? "" : "s") \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")): the columns are "
                    + (required + ["contract", "project", "pilot", "selection_date", "programme", "grade", "base"]).joined(separator: ", ")
                    + " (or the HistoricalAward field names, or 支持方向, 资金年度, 合同编号, 项目名称, …); 序号, 企业名称 and 备注 are read by people and skipped")
        }
        return names
    }
    static let textColumns: Set<String> = ["measure", "district", "document", "contract", "project", "pilot", "programme", "grade"]

    static func parse(_ text: String) throws(SubsidyError) -> Foshan_Subsidy_V1_ImportHistoryRequest {
        try parse(rows: try records(text).map { $0.map { SheetCell(text: $0) } }).request
    }

    /// The request from a sheet's rows (CSV, or an .xlsx's first sheet): a header, then awards;
    /// with each award's sheet row number (2 is the first after the header; blank rows are
    /// skipped but keep their numbers).
    static func parse(rows: [[SheetCell]]) throws(SubsidyError) -> (request: Foshan_Subsidy_V1_ImportHistoryRequest, rows: [String]) {
        var rows = rows
        guard !rows.isEmpty else { throw .invalidField("csv", "is empty") }
        let typed = rows.removeFirst().map(\.text)
        let header = try columns(typed)
        for column in required where !header.contains(column) {
            throw .invalidField(
                "csv",
                "header lacks the column \"\(column)\" (needs \(required.joined(separator: ", ")); in Chinese "
                    + required.compactMap { name in chinese.first { $0.value == name }?.key }.joined(separator: ", ") + ")")
        }
        var request = Foshan_Subsidy_V1_ImportHistoryRequest()
        var lines: [String] = []
        // Rows of empty cells (Excel writes them for a template's formatted rows) are skipped.
        // Every row's problem at once (up to a screenful): a clerk fixes the sheet in one pass,
        // not one error a run.
        var problems: [SubsidyError] = []
        for (n, row) in rows.enumerated() where !row.allSatisfy(\.isBlank) {
            do throws(SubsidyError) {
                let line = "row \(n + 2)"
                var row = row
                while row.count > header.count, row.last?.isBlank == true { row.removeLast() }
                guard row.count <= header.count else { throw .invalidField(line, "has \(row.count) fields; the header has \(header.count)") }
                // A spreadsheet leaves trailing empty cells out: they are empty fields.
                let cells = row.map(\.trimmed) + Array(repeating: SheetCell(text: ""), count: header.count - row.count)
                var field = Dictionary(zip(header, cells.map(\.text)), uniquingKeysWith: { first, _ in first })
                // Codes and names as they were typed, or the row is refused naming its column.
                for column in codeColumns.union(textColumns).sorted() {
                    guard let index = header.firstIndex(of: column), !cells[index].isBlank else { continue }
                    field[column] = try cells[index].identifier(at: "\(line).\(column)", isCode: codeColumns.contains(column))
                }
                var award = Foshan_Subsidy_V1_HistoricalAward()
                guard let measure = Foshan_Subsidy_V1_Measure(protoName: ApplicationColumns.measureName(field["measure"] ?? "")) else {
                    throw .invalidField("\(line).measure", "unknown measure \"\(field["measure"] ?? "")\"")
                }
                award.measure = measure
                guard let year = Int32(field["year"] ?? "") else { throw .invalidField("\(line).year", "must be a year") }
                award.fundingYear = year
                // 三水区 or 三水, as a bureau's sheet names it, is sanshui.
                award.district = field["district"].map { districtID($0)?.rawValue ?? $0 } ?? ""
                award.enterpriseUscc = field["enterprise"] ?? ""
                award.providerUscc = field["provider"] ?? ""
                do {
                    award.amountFen = try Money(parsing: field["amount"] ?? "").fen
                } catch {
                    throw .invalidField("\(line).amount", "must be an amount in yuan (got \"\(field["amount"] ?? "")\"): \(error)")
                }
                // Excel's date cells and 2021/10/1 as YYYY-MM-DD; anything else goes as it is, and
                // the daemon names the row's field.
                award.decisionDate = field["decision_date"].map { normalisedDate($0) ?? $0 } ?? ""
                award.decisionDocument = field["document"] ?? ""
                award.contractNumber = field["contract"] ?? ""
                award.pilotId = field["pilot"] ?? ""
                award.projectName = field["project"] ?? ""
                award.selectionDate = field["selection_date"].map { $0.isEmpty ? "" : normalisedDate($0) ?? $0 } ?? ""
                award.programme = field["programme"] ?? ""
                if let grade = field["grade"], !grade.isEmpty {
                    guard let value = Foshan_Subsidy_V1_Grade(protoName: grade.uppercased()) else {
                        throw .invalidField("\(line).grade", "unknown grade \"\(grade)\" (STANDARD or EXCELLENT)")
                    }
                    award.grade = value
                }
                if let base = field["base"], !base.isEmpty {
                    do {
                        award.baseFen = try Money(parsing: base).fen
                    } catch {
                        throw .invalidField("\(line).base", "must be an amount in yuan (got \"\(base)\"): \(error)")
                    }
                }
                request.awards.append(award)
                lines.append(String(n + 2))
            } catch {
                problems.append(error)
                if problems.count == SubsidyError.rowsReported { break }
            }
        }
        guard problems.isEmpty else { throw SubsidyError.rows(problems, more: problems.count == SubsidyError.rowsReported) }
        return (request, lines)
    }

    /// Splits CSV text into rows of fields.
    static func records(_ text: String) throws(SubsidyError) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = Array(text.unicodeScalars).makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let p = pending { pending = nil; return p }
            return iterator.next()
        }
        while let c = next() {
            if quoted {
                if c == "\"" {
                    if let after = next() {
                        if after == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = after }
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty: quoted = true
            case ",": row.append(field); field = ""
            case "\r": continue
            case "\n": row.append(field); rows.append(row); row = []; field = ""
            default: field.unicodeScalars.append(c)
            }
        }
        if quoted { throw .invalidField("csv", "a quoted field is not closed") }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}

extension String {
    /// Without the spaces around it: ASCII space and tab, and the no-break (U+00A0) and
    /// ideographic (U+3000) spaces a cell pasted from Word or a web page brings, invisible in a
    /// message about it.
    var trimmingSpaces: String {
        let space: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\u{A0}" || $0 == "\u{3000}" }
        return String(unicodeScalars.drop(while: space).reversed().drop(while: space).reversed().map(Character.init))
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "City: audit chains.", subcommands: [AuditVerify.self])
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Check every file's hash chain and the ledger against the districts; report each problem.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let r = try await global.withClient { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_CityService.Client(wrapping: client).verifyAudit(Foshan_Subsidy_V1_VerifyAuditRequest(), timeout: global.timeout)
        }
        let lines = r.chains.map { chain in
            if chain.ok { return "\(chain.file.padding(10)) ok      \(chain.rows) rows" }
            // A cross-file disagreement has no row of its own; its problem names file and application.
            if chain.file == "consistency" { return "\(chain.file.padding(10)) BROKEN  \(chain.problem)" }
            return "\(chain.file.padding(10)) BROKEN  at row \(chain.firstBadRow): \(chain.problem)"
        }
        global.emit(r, human: lines.joined(separator: "\n"))
        if r.chains.contains(where: { !$0.ok }) { throw ExitCode(ExitStatus.auditBroken) }
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "City: follow ledger events (approvals, disbursements, revocations) as they happen.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Start after this sequence number (0: only new events).") var after: UInt64 = 0
    @Flag(help: "Replay every event from the first, then follow.") var fromStart = false
    @Option(help: "Stop after this many events, waiting for them (a --from-start replay too) at most --timeout-ms (0: follow until interrupted, with no deadline).") var count: Int = 0

    func run() async throws {
        var request = Foshan_Subsidy_V1_WatchEventsRequest()
        request.afterSequence = after
        request.fromStart = fromStart
        try await global.withClient { client throws(SubsidyError) in
            do {
                var printed = 0
                // Lines leave one at a time, so they line up by fixed widths, not by a table's.
                let chinese = prefersChinese()
                if !global.json && isatty(1) != 0 {
                    let titles = chinese ? ["序号", "时间", "申请编号", "状态", "金额（元）"] : ["SEQ", "TIME", "APPLICATION", "STATE", "AMOUNT"]
                    print(Self.line(titles[0], titles[1], titles[2], titles[3], titles[4]))
                }
                // A bounded wait is a call like any other, with its deadline; following is not.
                let events = Foshan_Subsidy_V1_CityService.Client(wrapping: client).watchEvents(request, timeout: count > 0 ? global.timeout : nil)
                for try await event in events {
                    global.emit(event, human: Self.line("#\(event.sequence)", global.time(event.at), event.applicationId, stateLabel(event.state, chinese: chinese), yuan(event.amountFen)))
                    // Each event leaves at once, even into a pipe or file (`events > file`,
                    // `events | grep`), where stdio would otherwise hold it until a block fills.
                    fflush(nil)
                    printed += 1
                    if count > 0, printed >= count { break }
                }
            } catch let error as SubsidyError {
                throw error
            } catch {
                throw SubsidyError(.unknown, "\(error)")
            }
        }
    }

    /// One event's columns at fixed display widths, two spaces apart, the amount right-aligned:
    /// wide enough for a sequence of nine digits, a local time with its zone, an imported award's
    /// id (`import-` and 20 hex digits) and every state.
    static func line(_ sequence: String, _ time: String, _ id: String, _ state: String, _ amount: String) -> String {
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - displayWidth(text))) }
        let amountPad = String(repeating: " ", count: max(0, 16 - displayWidth(amount)))
        return pad(sequence, 10) + "  " + pad(time, 25) + "  " + pad(id, 27) + "  " + pad(state, 10) + "  " + amountPad + amount
    }
}

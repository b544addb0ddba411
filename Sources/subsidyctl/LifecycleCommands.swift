import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

// The application lifecycle of RULES.md, one command per transition. Districts file and review;
// the city decides. Every mutating command sends a fresh request id (or --request-id to retry).

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "District: file an application, from a JSON file (the protos' JSON mapping of Application) or from flags.",
        discussion: """
            With --file, flags given as well override the file's fields. Amounts are in yuan \
            ("1,200,000" or "1200000.50"); use the JSON file for fields without a flag. \
            The request id of --file (and of each --batch row) comes from what the application is \
            (measure, year, enterprise, contract or project, programme): running the same file again, \
            after a timeout say, gives back the application filed the first time, as it stands now, and \
            files nothing twice (after a withdrawal too: pass --request-id to file it anew). A file whose \
            other fields (amounts, late reason) were edited since is refused (amend the application); one \
            whose measure, year, enterprise, contract or project changed is another application. Flags \
            alone send a fresh id each run.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Application JSON file, or - for standard input.") var file: String?
    @Option(help: "Programme, e.g. foshan-dx-2021 (default: the 2020 policy, foshan-2020; see `subsidyctl programmes`).") var programme: String?
    @Option(help: "Measure, e.g. CLOUD_VOUCHER.") var measure: String?
    @Option(help: "Funding year (one of the programme's).") var year: Int32?
    @Option(help: "Applicant's USCC.") var enterprise: String?
    @Option(help: "Provider's USCC (vouchers).") var provider: String?
    @Option(help: "Project name.") var projectName: String?
    @Option(help: "Contract number (vouchers).") var contractNumber: String?
    @Option(help: "Contract amount in yuan.") var contractAmount: String?
    @Option(help: "Amount actually paid in yuan.") var paidAmount: String?
    @Option(help: "Amount invested in yuan (benchmark projects).") var investedAmount: String?
    @Option(help: "Previous year's service spend in yuan (public service).") var previousYearSpend: String?
    @Option(help: "Grade of the recognition: STANDARD or EXCELLENT (DIGITAL_FACTORY).") var grade: String?
    @Option(help: "Declared annual main-business revenue (年主营业务收入) in yuan (CLOUD_USE's revenue tier).") var declaredRevenue: String?
    @Option(help: "File outside an open call for applications (申报批次) on purpose: the reason, recorded with it.") var lateReason: String = ""
    @Option(help: "Request id (default: derived from the application's measure, year, enterprise and contract or project, so running the same submission again is a retry; give one to file such an application a second time).")
    var requestId: String?
    @Option(
        help: ArgumentHelp(
            "A spreadsheet (CSV, or an .xlsx's or .xlsm's first sheet) of applications, one a row: files every row and writes a result per row.",
            discussion: "Columns: the JSON field names of Application (programme, measure, fundingYear, enterpriseUscc, projectName, contractNumber, "
                + "contractAmount (yuan; contractAmountFen in fen), grade, declaredRevenue, …), and lateReason; or their Chinese names "
                + "(政策, 支持方向 — its Chinese name too, 资金年度, 统一社会信用代码, 项目名称, 合同编号, 合同金额（元）, 逾期申报原因, …). "
                + "--programme and --late-reason apply to rows that leave those columns empty. Re-running the file files nothing twice; a row with the same enterprise, measure, year and contract (or project) as an earlier row is refused, naming that row."))
    var batch: String?
    @Option(help: "The batch file's encoding (default: UTF-8 with or without a BOM, else GB18030/GBK).") var encoding: Spreadsheet.TextEncoding?
    @Option(help: "Where the batch's per-row results go (default: beside FILE, apps.csv → apps.results.csv, apps.xlsx → apps.xlsx.results.csv).")
    var results: String?

    func run() async throws {
        if let batch {
            // A field flag would be silently dropped: each row's fields are its columns. The
            // programme and the late reason are defaults for rows that leave their column empty.
            let given = [
                ("--file", file != nil), ("--measure", measure != nil), ("--year", year != nil), ("--enterprise", enterprise != nil),
                ("--provider", provider != nil), ("--project-name", projectName != nil), ("--contract-number", contractNumber != nil),
                ("--contract-amount", contractAmount != nil), ("--paid-amount", paidAmount != nil), ("--invested-amount", investedAmount != nil),
                ("--previous-year-spend", previousYearSpend != nil), ("--grade", grade != nil), ("--declared-revenue", declaredRevenue != nil),
            ].filter(\.1).map(\.0)
            guard given.isEmpty else {
                throw ValidationError(
                    "--batch files the rows of its file: \(given.joined(separator: ", ")) cannot go with it (each is a column of the file; "
                        + "--programme and --late-reason may, for rows that leave theirs empty)")
            }
            var submission = BatchSubmission(global: global, path: batch, encoding: encoding, resultsPath: results)
            submission.programme = programme ?? ""
            submission.lateReason = lateReason
            try await submission.run()
            return
        }
        var request = Foshan_Subsidy_V1_SubmitApplicationRequest()
        var application = Foshan_Subsidy_V1_Application()
        if let file {
            let json = try readJSON(path: file)
            do throws(SubsidyError) {
                application = try Foshan_Subsidy_V1_Application(json: json, path: "application")
            } catch {
                printError(error, json: global.json)
                throw ExitCode(ExitStatus.of(error.code))
            }
        } else if measure == nil || year == nil || enterprise == nil {
            throw ValidationError("give --file, or at least --measure, --year and --enterprise")
        }
        if let measure { application.measure = try parseEnum(Foshan_Subsidy_V1_Measure.self, measure, option: "--measure") }
        if let year { application.fundingYear = year }
        if let enterprise { application.enterpriseUscc = enterprise }
        if let provider { application.providerUscc = provider }
        if let projectName { application.projectName = projectName }
        if let contractNumber { application.contractNumber = contractNumber }
        if let contractAmount { application.contractAmountFen = try fen(contractAmount, option: "--contract-amount") }
        if let paidAmount { application.paidAmountFen = try fen(paidAmount, option: "--paid-amount") }
        if let investedAmount { application.investedAmountFen = try fen(investedAmount, option: "--invested-amount") }
        if let previousYearSpend { application.previousYearServiceSpendFen = try fen(previousYearSpend, option: "--previous-year-spend") }
        if let programme { application.programme = programme }
        if let grade { application.grade = try parseEnum(Foshan_Subsidy_V1_Grade.self, grade, option: "--grade") }
        if let declaredRevenue { application.declaredRevenueFen = try fen(declaredRevenue, option: "--declared-revenue") }
        request.application = application
        request.lateReason = lateReason
        // A file, or the same flags, is what a clerk sends again after a timeout (or not sure it
        // went): the id comes from the application as a batch row's does, so the second run is a
        // retry, answered with the application filed the first time — not a second filing of the
        // same measure, year, enterprise and contract, of which only one could be funded.
        let derived = requestId == nil
        request.requestId = requestId ?? BatchSubmission.requestID(identity: BatchSubmission.identity(of: application))
        let sent = request
        let started = utcNow()
        let r = try await global.withClient(retrying: sent.requestId) { client throws(SubsidyError) in
            do throws(SubsidyError) {
                return try await Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).submitApplication(sent, timeout: global.timeout)
            } catch where derived && error.code == .alreadyExists && error.message.contains("request_id") {
                throw SubsidyError(
                    error.code,
                    "this application (the same measure, year, enterprise and contract or project) was filed before with other values: "
                        + "find it (subsidyctl search) and amend it, or pass --request-id to file a second application — \(error.message)",
                    details: error.details)
            }
        }
        // A replay answers with the record as it was filed, before this run began: shown as it
        // stands now (it may since have been reviewed, amended or withdrawn).
        if derived, let record = r.record, record.createdAt < started {
            var get = Foshan_Subsidy_V1_GetApplicationRequest()
            get.applicationId = record.id
            let current = try await global.withClient { client throws(SubsidyError) in
                try await Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).getApplication(get, timeout: global.timeout).record
            } ?? record
            note(
                "already filed (\(global.time(record.createdAt))) as \(record.id), now \(current.state): nothing was filed again; "
                    + "to file this application anew (after a withdrawal, say), pass --request-id with a new id")
            var now = r
            now.record = current
            global.emit(now, human: global.describe(current))
            return
        }
        global.emit(r, human: r.record.map(global.describe) ?? "")
    }
}

/// Yuan text ("1,200,000.00") as fen; no floating point on the way.
func fen(_ text: String, option: String) throws -> Int64 {
    do {
        return try Money(parsing: text).fen
    } catch {
        throw ValidationError("\(option): \(error)")
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one application with its history.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Application id.") var applicationId: String

    func run() async throws {
        var request = Foshan_Subsidy_V1_GetApplicationRequest()
        request.applicationId = applicationId
        let r = try await global.withClient { client throws(SubsidyError) in
            try await isCity(client)
                ? Foshan_Subsidy_V1_CityService.Client(wrapping: client).getApplication(request, timeout: global.timeout)
                : Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).getApplication(request, timeout: global.timeout)
        }
        global.emit(r, human: r.record.map(global.describe) ?? "")
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List applications (a district: its own; the city: every district).")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Measure, e.g. CLOUD_VOUCHER.") var measure: String?
    @Option(help: "State, e.g. RECOMMENDED.") var state: String?
    @Option(help: "Funding year.") var year: Int32 = 0
    @Option(help: "Enterprise USCC.") var enterprise: String = ""
    @Option(help: "City only: one district (nanhai, or 南海区, 南海).") var district: String = ""
    @Option(help: "Page size.") var pageSize: Int32 = 50
    @Option(help: "Page token from a previous page.") var pageToken: String = ""
    @Option(help: "Only applications whose enterprise name or USCC, contract number or project name contains this text.") var text: String = ""

    func run() async throws {
        var request = Foshan_Subsidy_V1_ListApplicationsRequest()
        if let measure { request.measure = try parseEnum(Foshan_Subsidy_V1_Measure.self, measure, option: "--measure") }
        if let state { request.state = try parseEnum(Foshan_Subsidy_V1_ApplicationState.self, state, option: "--state") }
        request.fundingYear = year
        request.enterpriseUscc = enterprise
        request.district = districtID(district)?.rawValue ?? district
        request.pageSize = pageSize
        request.pageToken = pageToken
        request.text = text
        try await listApplications(request, global: global)
    }
}

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find applications by enterprise name or USCC, contract number or project name (a district: its own; the city: all).",
        discussion: "Contract numbers and project names match in their canonical form: full-width letters, case, dashes and spaces do not matter.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Text to look for, e.g. 铝型材, HT-2022 or 9144060500.") var text: String
    @Option(help: "Page size.") var pageSize: Int32 = 50
    @Option(help: "Page token from a previous page.") var pageToken: String = ""

    func run() async throws {
        var request = Foshan_Subsidy_V1_ListApplicationsRequest()
        request.text = text
        request.pageSize = pageSize
        request.pageToken = pageToken
        try await listApplications(request, global: global)
    }
}

/// Lists applications as a table (or JSON): the city's list spans every district.
///
/// A page the daemon cut short — by its byte budget, or a search that stopped at its scan bound
/// (possibly with no match at all) — is followed by the next until the page size is reached or
/// the list ends, so the clerk sees a full page, not "no applications" with more to come. A
/// call that fails after some records arrived shows them, with the token to go on from, before
/// the error.
func listApplications(_ request: Foshan_Subsidy_V1_ListApplicationsRequest, global: GlobalOptions) async throws {
    let wanted = request.pageSize == 0 ? 50 : min(Int(request.pageSize), 500)  // negative: the daemon says why
    let (r, failure) = try await global.withClient { client throws(SubsidyError) in
        let city = try await isCity(client)
        var request = request
        var page = Foshan_Subsidy_V1_ListApplicationsResponse()
        var tokens = PageTokens(starting: request.pageToken)
        repeat {
            request.pageSize = Int32(wanted - page.records.count)
            let next: Foshan_Subsidy_V1_ListApplicationsResponse
            do throws(SubsidyError) {
                next =
                    try await city
                    ? Foshan_Subsidy_V1_CityService.Client(wrapping: client).listApplications(request, timeout: global.timeout)
                    : Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).listApplications(request, timeout: global.timeout)
            } catch {
                guard !page.records.isEmpty else { throw error }
                return (page, Optional(error))
            }
            page.records += next.records
            page.nextPageToken = next.nextPageToken
            request.pageToken = try tokens.next(next.nextPageToken)
        } while page.records.count < wanted && !page.nextPageToken.isEmpty
        return (page, nil)
    }
    let chinese = prefersChinese()
    var table = TextTable(
        chinese
            ? [.init(title: "申请编号"), .init(title: "区"), .init(title: "状态"), .init(title: "支持方向"), .init(title: "企业"),
               .init(title: "资助金额（元）", alignment: .right)]
            : [.init(title: "ID"), .init(title: "DISTRICT"), .init(title: "STATE"), .init(title: "MEASURE"), .init(title: "ENTERPRISE"),
               .init(title: "AWARDED (YUAN)", alignment: .right)])
    for record in r.records {
        let enterprise = record.enterpriseName.isEmpty ? record.application?.enterpriseUscc ?? "" : record.enterpriseName
        table.append([
            record.id, chinese ? districtName(record.district) : record.district, stateLabel(record.state, chinese: chinese),
            chinese ? measureName(record.application?.measure) : record.application?.measure.description ?? "", enterprise,
            yuan(record.awardedFen),
        ])
    }
    global.emit(r, table: table, footer: global.morePages(r.nextPageToken), empty: chinese ? "没有申请" : "no applications")
    if let failure {
        printError(failure, json: global.json)
        throw ExitCode(ExitStatus.of(failure.code))
    }
}

struct Amend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amend",
        abstract: "District: correct an application before review, or a RETURNED one, and (re)submit it; the history records each field changed.",
        discussion: """
            Change single fields with --set FIELD=VALUE (JSON field names of Application; amounts in yuan under the name \
            without Fen, e.g. --set contractAmount=1,200,000; an empty value clears the field), or give the whole \
            application with --file: Application JSON, or what `show --json` printed, edited.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument var applicationId: String
    @Option(help: "Application JSON file (or `show --json` output), or -.") var file: String?
    @Option(name: .customLong("set"), help: "FIELD=VALUE, repeatable.") var assignments: [String] = []
    @Option var reason: String = ""
    @Option var requestId: String = newRequestID()

    func run() async throws {
        guard file != nil || !assignments.isEmpty else { throw ValidationError("give --set FIELD=VALUE or --file") }
        var request = Foshan_Subsidy_V1_AmendApplicationRequest()
        request.requestId = requestId
        request.applicationId = applicationId
        request.reason = reason
        // What was typed on the command line is read before anything is sent: a value that is
        // not a number or a date is a usage error (exit 64), not the daemon's refusal.
        var changes: [(name: String, value: JSONValue?)] = []
        for assignment in assignments {
            guard let equals = assignment.firstIndex(of: "=") else { throw ValidationError("--set \(assignment): expected FIELD=VALUE") }
            let column = String(assignment[..<equals]).trimmingSpaces
            let value = String(assignment[assignment.index(after: equals)...]).trimmingSpaces
            guard let (name, _) = ApplicationColumns.field(column) else {
                throw ValidationError("--set \(column): not a field of Application (JSON names, e.g. projectName, contractAmount)")
            }
            do throws(SubsidyError) {
                let single = try JSONValue.parse(try ApplicationColumns.json([column: SheetCell(text: value)], row: nil))
                changes.append((name, value.isEmpty ? nil : single[name]))
            } catch {
                throw ValidationError(error.message)
            }
        }
        // The starting point: the file, or the application as it stands.
        let fileJSON = try file.map { try readJSON(path: $0) }
        var current: JSONValue = .object([])
        if fileJSON == nil {
            var get = Foshan_Subsidy_V1_GetApplicationRequest()
            get.applicationId = applicationId
            let sent = get
            current = try await global.withClient { client throws(SubsidyError) in
                try await Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).getApplication(sent, timeout: global.timeout)
            }.record?.application?.jsonValue ?? .object([])
        }
        do throws(SubsidyError) {
            var content = current
            if let fileJSON {
                content = fileJSON
                // What `show --json` prints wraps the application in its record.
                if let application = content["record"]?["application"] { content = application }
            }
            for change in changes { content = content.setting(change.name, to: change.value) }
            request.application = try Foshan_Subsidy_V1_Application(jsonText: content.serialized(), path: "application")
        } catch {
            printError(error, json: global.json)
            throw ExitCode(ExitStatus.of(error.code))
        }
        let sent = request
        let r = try await global.withClient(retrying: requestId) { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).amendApplication(sent, timeout: global.timeout)
        }
        global.emit(r, human: r.record.map(global.describe) ?? "")
    }
}

extension JSONValue {
    /// This object with `key` set to `value` (removed for nil), other members kept in order.
    func setting(_ key: String, to value: JSONValue?) -> JSONValue {
        guard case .object(var members) = self else { return self }
        if let index = members.firstIndex(where: { $0.0 == key }) {
            if let value { members[index].1 = value } else { members.remove(at: index) }
        } else if let value {
            members.append((key, value))
        }
        return .object(members)
    }
}

struct Withdraw: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "withdraw", abstract: "District: withdraw an application before approval.")

    @OptionGroup var global: GlobalOptions
    @Argument var applicationId: String
    @Option var reason: String = ""
    @Option var requestId: String = newRequestID()

    func run() async throws {
        var request = Foshan_Subsidy_V1_WithdrawApplicationRequest()
        request.requestId = requestId
        request.applicationId = applicationId
        request.reason = reason
        let r = try await global.withClient(retrying: requestId) { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).withdrawApplication(request, timeout: global.timeout)
        }
        global.emit(r, human: r.record.map(global.describe) ?? "")
    }
}

struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "District: first review (初审) — recommend, return or reject one application, several, or a file's list.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Application ids.") var applicationIds: [String] = []
    @Option(help: "A file of application ids (one a line, or a CSV with an id / 申请编号 column).") var batch: String?
    @Option(help: "recommend, return or reject.") var outcome: String
    @Option var reason: String = ""
    @Option(help: "With --outcome recommend: the day (YYYY-MM-DD) the district recommended it, when entered afterwards (default: today).", transform: dateFlag)
    var reviewDate: String = ""
    @Option var requestId: String = newRequestID()

    func run() async throws {
        let ids = try applicationIDs(file: batch, arguments: applicationIds)
        guard !ids.isEmpty else { throw ValidationError("name an application id, or --batch FILE") }
        let outcome = try parseEnum(Foshan_Subsidy_V1_ReviewOutcome.self, outcome, option: "--outcome")
        if ids.count > 1 || batch != nil {
            try await BatchReview(global: global, ids: ids, outcome: outcome, reason: reason, reviewDate: reviewDate).run()
            return
        }
        var request = Foshan_Subsidy_V1_ReviewApplicationRequest()
        request.requestId = requestId
        request.applicationId = ids[0]
        request.outcome = outcome
        request.reason = reason
        request.reviewDate = reviewDate
        let r = try await global.withClient(retrying: requestId) { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).reviewApplication(request, timeout: global.timeout)
        }
        global.emit(r, human: r.record.map(global.describe) ?? "")
    }
}

struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "City (a district: its own programme's): approve (复核) — compute the award and commit it against every cap; a committee's list with --batch, planned first with --plan.",
        discussion: """
            --plan computes the list in its order, each application as if the ones before it were approved, and shows
            which fit, for how much, and which cap cuts or refuses which; nothing is committed. Approving the same
            list (same ids, date and document) again approves nothing twice.
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Application ids.") var applicationIds: [String] = []
    @Option(help: "A file of application ids (one a line, or a CSV with an id / 申请编号 column), in the committee's order.") var batch: String?
    @Flag(help: "Plan the list: what each approval would give; nothing is committed.") var plan = false
    @Option(help: "Decision date YYYY-MM-DD, within the programme's validity window (2020-07-17..2023-12-31 for the 2020 policy).", transform: dateFlag) var decisionDate: String
    @Option(help: "Case-by-case measures: the decided amount in yuan, e.g. 8,000,000 or 8000000.00.") var caseAmount: String?
    @Option(help: "The decision's document number (文号), e.g. 佛工信〔2023〕12号.") var document: String = ""
    @Option var reason: String = ""
    @Option(help: "Request id, to retry safely (a list's id is derived from the list when not given).") var requestId: String?

    func run() async throws {
        let ids = try applicationIDs(file: batch, arguments: applicationIds)
        guard !ids.isEmpty else { throw ValidationError("name an application id, or --batch FILE") }
        if ids.count > 1 || batch != nil || plan {
            guard caseAmount == nil else { throw ValidationError("--case-amount is for one case-by-case application; approve those one at a time") }
            try await BatchApproval(
                global: global, ids: ids, decisionDate: decisionDate, document: document, reason: reason, plan: plan,
                requestID: requestId
            ).run()
            return
        }
        let requestId = self.requestId ?? newRequestID()
        var request = Foshan_Subsidy_V1_ApproveApplicationRequest()
        request.requestId = requestId
        request.applicationId = ids[0]
        request.decisionDate = decisionDate
        if let caseAmount {
            request.caseAmountFen = try fen(caseAmount, option: "--case-amount")
            // Echoed, so a slip of the unit shows before anyone reads the record.
            note("case amount: \(yuan(request.caseAmountFen)) yuan")
        }
        request.decisionDocument = document
        request.reason = reason
        let r = try await global.withClient(retrying: requestId) { client throws(SubsidyError) in
            // A district approves its own programme's applications, against caps in its own store.
            try await isCity(client)
                ? Foshan_Subsidy_V1_CityService.Client(wrapping: client).approveApplication(request, timeout: global.timeout)
                : Foshan_Subsidy_V1_DistrictProgrammes.Client(wrapping: client).approveApplication(request, timeout: global.timeout)
        }
        global.emit(r, human: r.record.map(global.describe) ?? "")
    }
}

/// The decisions that take only an id, a reason and a date: the city's, or a district's on its own
/// programme (``districtMethod``), chosen by who the daemon says the caller is.
protocol CityDecisionCommand: AsyncParsableCommand {
    var global: GlobalOptions { get }
    var decision: DecisionArguments { get }
    static var method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { get }
    static var districtMethod: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { get }
}

extension CityDecisionCommand {
    func run() async throws {
        var request = Foshan_Subsidy_V1_DecideApplicationRequest()
        request.requestId = decision.requestId
        request.applicationId = decision.applicationId
        request.reason = decision.reason
        request.decisionDate = decision.decisionDate.isEmpty ? global.decisionDay : decision.decisionDate
        request.decisionDocument = decision.document
        let r = try await global.withClient(retrying: decision.requestId) { client throws(SubsidyError) in
            try await client.call(try await isCity(client) ? Self.method : Self.districtMethod, request, timeout: global.timeout)
        }
        global.emit(r, human: r.record.map(global.describe) ?? "")
    }
}

/// What each ``CityDecisionCommand`` takes after the global options.
struct DecisionArguments: ParsableArguments {
    @Argument var applicationId: String
    @Option var reason: String = ""
    @Option(help: "Decision date YYYY-MM-DD (default: today in China, or --today; recover: required, the day the money came back).", transform: dateFlag)
    var decisionDate: String = ""
    @Option(help: "The decision's document number (文号).") var document: String = ""
    @Option var requestId: String = newRequestID()
}

struct Reject: CityDecisionCommand {
    static let configuration = CommandConfiguration(commandName: "reject", abstract: "City (a district: its own programme's): reject a RECOMMENDED application (after approval, use revoke).")
    static var method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { Foshan_Subsidy_V1_CityService.Method.rejectApplication }
    static var districtMethod: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { Foshan_Subsidy_V1_DistrictProgrammes.Method.rejectApplication }
    @OptionGroup var global: GlobalOptions
    @OptionGroup var decision: DecisionArguments
}

struct Publicize: CityDecisionCommand {
    static let configuration = CommandConfiguration(commandName: "publicize", abstract: "City (a district: its own programme's): start the publicity (公示, 7 days) of an approved award.")
    static var method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { Foshan_Subsidy_V1_CityService.Method.publicizeApplication }
    static var districtMethod: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { Foshan_Subsidy_V1_DistrictProgrammes.Method.publicizeApplication }
    @OptionGroup var global: GlobalOptions
    @OptionGroup var decision: DecisionArguments
}

struct Disburse: CityDecisionCommand {
    static let configuration = CommandConfiguration(commandName: "disburse", abstract: "City (a district: its own programme's): mark a publicized award disbursed.")
    static var method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { Foshan_Subsidy_V1_CityService.Method.disburseApplication }
    static var districtMethod: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { Foshan_Subsidy_V1_DistrictProgrammes.Method.disburseApplication }
    @OptionGroup var global: GlobalOptions
    @OptionGroup var decision: DecisionArguments
}

struct Revoke: CityDecisionCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "City (a district: its own programme's): revoke an award (releases it; after disbursement a clawback, which counts against the caps and funds its content until `recover`); an import-… id takes back an imported award.")
    static var method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { Foshan_Subsidy_V1_CityService.Method.revokeApplication }
    static var districtMethod: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { Foshan_Subsidy_V1_DistrictProgrammes.Method.revokeApplication }
    @OptionGroup var global: GlobalOptions
    @OptionGroup var decision: DecisionArguments
}

struct Recover: CityDecisionCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "City (a district: its own programme's): record that a clawback's money came back (--decision-date: the day it did; --document: the 缴款书 or 文号); the award stops counting against its caps.")
    static var method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { Foshan_Subsidy_V1_CityService.Method.recordRecovery }
    static var districtMethod: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse> { Foshan_Subsidy_V1_DistrictProgrammes.Method.recordRecovery }
    @OptionGroup var global: GlobalOptions
    @OptionGroup var decision: DecisionArguments

    /// The day the money came back is a fact to be typed, not today by default.
    func validate() throws {
        if decision.decisionDate.isEmpty { throw ValidationError("--decision-date is required: the day the money came back (YYYY-MM-DD)") }
    }
}

struct Quota: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota",
        abstract: "City: every cap — limit, committed, remaining — and the top consumers; a district: its own programme's caps.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "Funding year; default every year.") var year: Int32 = 0
    @Option(help: "Only this programme's caps (default: every programme).") var programme: String = ""
    @Option(name: .customLong("top"), help: "Top consumers and per-subject caps to show (default 5; with --output csv, 99: every row a spreadsheet may want).") var topShown: Int32?

    /// A spreadsheet is for every row; a screen for the first few.
    private var top: Int32 { topShown ?? (global.output == .csv ? 99 : 5) }
    @Flag(help: "Follow the caps live (WatchQuota): the table (JSON with --json), then a line for each cap that moves (its JSON with --json); warnings on stderr.")
    var watch = false
    @Option(help: "With --watch: warn when a cap's use reaches this percentage.") var warnAt: Int = 90

    func validate() throws {
        // A spreadsheet is one document; a watch goes on for ever.
        if watch, global.output == .csv { throw ValidationError("--watch prints a table or JSON (--json), not CSV") }
    }

    func run() async throws {
        if watch { return try await follow() }
        var request = Foshan_Subsidy_V1_GetQuotaRequest()
        request.fundingYear = year
        request.top = top + 1
        request.programme = programme
        let (r, calls, programmes) = try await global.withClient { client throws(SubsidyError) in
            let quota = try await isCity(client)
                ? Foshan_Subsidy_V1_CityService.Client(wrapping: client).getQuota(request, timeout: global.timeout)
                : Foshan_Subsidy_V1_DistrictProgrammes.Client(wrapping: client).getQuota(request, timeout: global.timeout)
            return (quota, try await callsShown(client), try await programmesSeen(client))
        }
        show(r, calls: calls, programmes: programmes)
    }

    /// Every programme the caller sees, for the versions of those whose caps are shown.
    private func programmesSeen(_ client: ClientConnection) async throws(SubsidyError) -> [Foshan_Subsidy_V1_Programme] {
        try await Foshan_Subsidy_V1_Programmes.Client(wrapping: client).listProgrammes(Foshan_Subsidy_V1_ListProgrammesRequest(), timeout: global.timeout)
            .programmes
    }

    /// The versions of the programmes whose caps `r` lists (`foshan-2020@…, foshan-dx-2021@…`): a
    /// cap's id begins with its measure. The response's own policy_version names only the
    /// default programme's unless --programme names one.
    static func versions(of r: Foshan_Subsidy_V1_GetQuotaResponse, programmes: [Foshan_Subsidy_V1_Programme]) -> String {
        let measures = Set(r.caps.map { String($0.capId.prefix { $0 != "." }) })
        let shown = programmes.filter { $0.measures.contains { measures.contains($0.description) } }.map(\.version)
        return shown.isEmpty ? r.policyVersion : shown.joined(separator: ", ")
    }

    /// The calls (申报批次) shown under the caps, with what was filed under each (a district: its
    /// own filings): --programme's (every programme's), of --year.
    private func callsShown(_ client: ClientConnection) async throws(SubsidyError) -> [Foshan_Subsidy_V1_Call] {
        try await allCalls(client, programme: programme, timeout: global.timeout).calls.filter { year == 0 || $0.fundingYear == year }
    }

    /// Prints `r` as `quota` shows it: the caps (at most --top subjects of a per-subject cap), the
    /// top consumers and the calls; or `r` as JSON. As CSV, each of those lists follows the caps
    /// after a blank row, with its own header, as `export report` writes them; what is said about
    /// the lists (the programmes' versions, subjects not shown) goes to stderr.
    private func show(_ r: Foshan_Subsidy_V1_GetQuotaResponse, calls: [Foshan_Subsidy_V1_Call], programmes: [Foshan_Subsidy_V1_Programme]) {
        let chinese = prefersChinese()
        var table = TextTable(
            (chinese ? ["额度", "范围", "上限", "已使用", "剩余", "使用率"] : ["CAP", "SCOPE", "LIMIT", "COMMITTED", "REMAINING", "USED"]).enumerated().map {
                TextTable.Column(title: $0.element, alignment: $0.offset >= 2 ? .right : .left)
            })
        // One more subject than shown was asked for, so a list that goes on says so.
        var shown: [String: Int] = [:]
        var omitted = Dictionary(r.omitted.map { ($0.capId, Int($0.count)) }, uniquingKeysWith: +)
        for cap in r.caps {
            let isPerSubject = cap.scope.contains("/")
            if isPerSubject {
                shown[cap.capId, default: 0] += 1
                if shown[cap.capId]! > top { omitted[cap.capId, default: 0] += 1; continue }
            }
            func amount(_ value: Int64) -> String { cap.unit == "count" ? "\(value)" : yuan(value) }
            table.append([cap.capId, cap.scope, amount(cap.limit), amount(cap.committed), amount(cap.remaining), percent(cap.committed, of: cap.limit)])
        }
        var footer = [(chinese ? "政策 " : "policy ") + Self.versions(of: r, programmes: programmes)]
        var sheets: [[[CSVDocument.CSVCell]]] = []
        for (capID, count) in omitted.sorted(by: { $0.key < $1.key }) {
            let more = min(100, Int(top) + count)
            footer.append(
                chinese ? "（\(capID)：另有 \(count) 个主体未列出；--top \(more)）" : "(\(capID): \(count) more subject\(count == 1 ? "" : "s") not shown; --top \(more))")
        }
        let sections = [
            (title: "top providers", chineseTitle: "服务商", consumers: r.topProviders), ("top enterprises", "企业", r.topEnterprises), ("districts", "区", r.districts),
        ]
        for (title, chineseTitle, consumers) in sections where !consumers.isEmpty {
            var consumerTable = TextTable([
                .init(title: chinese ? chineseTitle : title.uppercased()), .init(title: chinese ? "已使用（元）" : "COMMITTED (YUAN)", alignment: .right),
                .init(title: chinese ? "资助（件）" : "AWARDS", alignment: .right),
            ])
            for c in consumers.prefix(title == "districts" ? consumers.count : Int(top)) {
                consumerTable.append([title == "districts" && chinese ? districtName(c.id) : c.id, yuan(c.committedFen), "\(c.count)"])
            }
            footer.append("")
            footer.append(consumerTable.rendered())
            sheets.append([consumerTable.columns.map { .text($0.title) }] + consumerTable.csvRows)
            // One more than shown was asked for: say that the list goes on rather than cut it silently.
            if title != "districts", consumers.count > Int(top) {
                footer.append(chinese ? "（更多\(chineseTitle)：--top \(top * 2)）" : "(more \(title): --top \(top * 2))")
            }
        }
        // The lists come from the city's ledger: beside a district's own programme's caps (every
        // programme shown), say so, or a clerk adds them up against caps they do not count toward.
        let districtShown = programme.isEmpty ? programmes.filter { $0.level.hasPrefix("district") } : []
        if !districtShown.isEmpty, sections.contains(where: { !$0.2.isEmpty }) {
            let names = districtShown.map(\.name).joined(separator: ", ")
            footer.append(
                chinese
                    ? "（以上服务商、企业、区的合计只含市级政策的资助，不含区级政策 \(names) 的资助，后者见其额度）"
                    : "(the lists above count the city programmes' awards only, not those of \(names): see its caps)")
        }
        if !calls.isEmpty {
            // 申报批次: what was filed under each call (a district: its own filings).
            var callTable = TextTable(CallCounts.header.enumerated().map { TextTable.Column(title: $0.element, alignment: $0.offset >= 4 ? .right : .left) })
            for call in calls { callTable.append(CallCounts.cells(call)) }
            footer.append("")
            footer.append(callTable.rendered())
            // The id, window and state are text; the year and the counts numbers, as in the report.
            sheets.append(
                [CallCounts.header.map { .text($0) }]
                    + calls.map { CallCounts.cells($0).enumerated().map { [0, 2, 3].contains($0.offset) ? .text($0.element) : .number($0.element) } })
        }
        guard global.output == .csv else {
            global.emit(r, table: table, footer: footer.joined(separator: "\n"), empty: chinese ? "没有额度" : "no caps")
            return
        }
        var document = CSVDocument(header: table.columns.map(\.title))
        document.rows = table.csvRows
        for sheet in sheets { document.rows += [[]] + sheet }
        try? writeFile(document.bytes, to: "-")
        // Not in the file, but not lost: the versions, and the subjects and consumers not shown.
        note(footer.filter { !$0.isEmpty && !$0.contains("\n") }.joined(separator: "\n"))
    }
}

extension Quota {
    /// `quota --watch`: the caps as `quota` shows them, then every change of a cap as it happens,
    /// with a warning (on stderr, out of a piped table) the first time a cap reaches --warn-at
    /// percent.
    func follow() async throws {
        guard (1...100).contains(warnAt) else { throw ValidationError("--warn-at: a percentage from 1 to 100") }
        var request = Foshan_Subsidy_V1_GetQuotaRequest()
        request.fundingYear = year
        request.top = 100  // every subject the daemon lists (its most): a move of any is seen
        request.programme = programme
        try await global.withClient { client throws(SubsidyError) in
            let (calls, programmes) = (try await callsShown(client), try await programmesSeen(client))
            var last: [String: Int64] = [:]
            var warned = Set<String>()
            var first = true
            do {
                for try await snapshot in Foshan_Subsidy_V1_CityService.Client(wrapping: client).watchQuota(request) {
                    // The first snapshot is the table the moves that follow are read against.
                    if first { show(snapshot, calls: calls, programmes: programmes) }
                    first = false
                    for cap in snapshot.caps {
                        let key = cap.capId + " [" + cap.scope + "]"
                        let used = cap.limit > 0 ? cap.committed.multipliedReportingOverflow(by: 100).partialValue / cap.limit : 0
                        func amount(_ value: Int64) -> String { cap.unit == "count" ? "\(value)" : yuan(value) }
                        if last[key] != nil, last[key] != cap.committed {
                            if global.json {
                                global.emit(cap)
                            } else {
                                print("\(localTime(utcNow() + "Z"))  \(key)  \(amount(cap.committed)) of \(amount(cap.limit))  (\(percent(cap.committed, of: cap.limit)))")
                            }
                        }
                        if used >= warnAt, warned.insert(key).inserted {
                            note("warning: \(key) is at \(percent(cap.committed, of: cap.limit)) of its limit \(amount(cap.limit)); \(amount(cap.remaining)) remain")
                        }
                        last[key] = cap.committed
                    }
                    fflush(nil)
                }
            } catch let error as SubsidyError {
                throw error
            } catch {
                throw SubsidyError(.unknown, "\(error)")
            }
        }
    }
}

/// `part` of `whole` as a percentage with one decimal, rounded, in integers ("46.7%" for
/// 1,400,000 of 3,000,000); never "100.0%" for a cap not quite full.
func percent(_ part: Int64, of whole: Int64) -> String {
    guard whole > 0 else { return "—" }
    var tenths = part.multipliedReportingOverflow(by: 1000).partialValue.addingReportingOverflow(whole / 2).partialValue / whole
    if tenths >= 1000 && part < whole { tenths = 999 }
    return "\(tenths / 10).\(tenths % 10)%"
}

/// Whether the connected tenant is the city (the same command serves both roles).
func isCity(_ client: ClientConnection) async throws(SubsidyError) -> Bool {
    try await Foshan_Subsidy_V1_Identity.Client(wrapping: client).whoAmI(Foshan_Subsidy_V1_WhoAmIRequest()).role == .city
}

func parseEnum<E: ProtoEnum>(_: E.Type, _ text: String, option: String) throws -> E {
    if let value = E(protoName: text.uppercased()) { return value }
    // The zero value (ROLE_UNSPECIFIED, …) is the protocol's "not given", not a choice.
    let values = E.protoNames.keys.sorted().map(E.init(rawValue:)).filter { !$0.description.hasSuffix("_UNSPECIFIED") }
    // As the tables print it (待初审, 上云上平台服务券, 工业企业): what a clerk copies into a filter.
    if let value = values.first(where: { chineseLabel($0) == text.trimmingSpaces }) { return value }
    let choices = values.map(\.description).sorted()
    let labels = values.compactMap { chineseLabel($0) }
    throw ValidationError(
        "\(option): unknown value \"\(text)\"; expected one of \(choices.joined(separator: ", "))"
            + (labels.isEmpty ? "" : " (or as the tables print them: \(labels.joined(separator: ", ")))"))
}

/// `value` as the Chinese tables name it, for the enums they name; nil for the others.
private func chineseLabel(_ value: some ProtoEnum) -> String? {
    let label: String? =
        switch value {
        case let state as Foshan_Subsidy_V1_ApplicationState: stateLabel(state, chinese: true)
        case let measure as Foshan_Subsidy_V1_Measure: measureName(measure)
        case let role as Foshan_Subsidy_V1_ApplicantRole: roleLabel(role, chinese: true)
        case let locality as Foshan_Subsidy_V1_Locality: localityLabel(locality, chinese: true)
        default: nil
        }
    return label == value.description ? nil : label
}

func yuan(_ fen: Int64) -> String { Money(fen: fen).description }

extension GlobalOptions {
    /// `record` as `show` prints it, times as --utc asks.
    func describe(_ record: Foshan_Subsidy_V1_ApplicationRecord) -> String { subsidyctl.describe(record, time: time) }
}

func describe(_ record: Foshan_Subsidy_V1_ApplicationRecord, time: (String) -> String) -> String {
    // Labels padded by display width, so values line up under 公示 as under applicant; in
    // Chinese where the clerk's locale is.
    let chinese = prefersChinese()
    let chineseLabels = [
        "programme": "政策", "call": "申报批次", "late": "逾期原因", "measure": "支持方向", "applicant": "申报主体", "project": "项目名称",
        "amounts": "金额", "content": "比对内容", "filed": "受理日期", "reviewed": "初审日期", "awarded": "审定资助", "cut": "核减", "paid": "拨付日期", "recovered": "追回日期", "warning": "提示",
    ]
    func field(_ label: String, _ value: String) -> String {
        let head = (chinese ? chineseLabels[label] ?? label : label) + ":"
        return head + String(repeating: " ", count: max(1, (chinese ? 13 : 11) - displayWidth(head))) + value
    }
    var lines = ["\(record.id)  \(chinese ? districtName(record.district) : record.district)  \(stateLabel(record.state, chinese: chinese))"]
    // The programme decides the rules and who decides (`--json` has it as application.programme);
    // the call (申报批次) it was filed under, and why it was filed outside one, if it was.
    if let programme = record.application?.programme, !programme.isEmpty { lines.append(field("programme", programme)) }
    if !record.callId.isEmpty { lines.append(field("call", record.callId)) }
    if !record.lateReason.isEmpty { lines.append(field("late", (chinese ? "" : "filed outside an open call: ") + record.lateReason)) }
    lines += [
        field(
            "measure",
            chinese
                ? "\(measureName(record.application?.measure))  资金年度 \(record.application?.fundingYear ?? 0)"
                : "\(record.application?.measure.description ?? "")  year \(record.application?.fundingYear ?? 0)"),
        field("applicant", "\(record.application?.enterpriseUscc ?? "")  \(record.enterpriseName)"),
        field("project", record.application?.projectName ?? ""),
    ]
    // The amounts the award is computed from, in yuan as the clerk typed them (contract, paid,
    // invested, …): every non-zero amount of the application.
    if case .object(let members)? = record.application?.jsonValue {
        let amounts = members.compactMap { name, value -> String? in
            guard name.hasSuffix("Fen"), let fen = fenValue(value), fen != 0 else { return nil }
            // 合同金额 1,200,000.00 元: each amount under the name a bureau's template gives it.
            if chinese { return "\(ApplicationColumns.chineseName(of: name) ?? String(name.dropLast(3))) \(yuan(fen)) 元" }
            return "\(name.dropLast(3)) \(yuan(fen))"
        }
        if !amounts.isEmpty { lines.append(field("amounts", chinese ? amounts.joined(separator: "，") : amounts.joined(separator: ", ") + " yuan")) }
    }
    if let application = record.application, !record.contentKey.isEmpty {
        let typed = application.contractNumber.isEmpty ? application.projectName : application.contractNumber
        lines.append(field("content", chinese ? "\(typed)（按 \(record.contentKey) 比对）" : "\(typed)  (compared as \(record.contentKey))"))
    }
    // The day no decision on it may be dated before (its filing, or its last correction).
    if !record.filedOn.isEmpty { lines.append(field("filed", record.filedOn)) }
    // Nor before the district's recommendation (初审), which the city's 复核 rests on.
    if !record.recommendedOn.isEmpty { lines.append(field("reviewed", record.recommendedOn)) }
    // A difference award (差额奖励) may be decided at 0.00: shown too, with the limit that made it so.
    if record.awardedFen > 0 || (record.explanation != nil && !record.decisionDate.isEmpty) {
        let decided = chinese ? "\(yuan(record.awardedFen)) 元，审定日期 \(record.decisionDate)" : "\(yuan(record.awardedFen)) yuan on \(record.decisionDate)"
        lines.append(field("awarded", decided + (record.decisionDocument.isEmpty ? "" : "  \(record.decisionDocument)")))
        // A partial award says which cap cut it.
        if let explanation = record.explanation, explanation.awardFen < explanation.formulaFen,
            let binding = explanation.limits.first(where: \.binding)
        {
            let cap = binding.capId.isEmpty ? binding.kind : binding.capId + (binding.scope.isEmpty ? "" : " [\(binding.scope)]")
            lines.append(field("cut", chinese ? "测算 \(yuan(explanation.formulaFen)) 元，受 \(cap) 限制" : "from \(yuan(explanation.formulaFen)) by \(cap)"))
        }
    }
    if !record.publicizedOn.isEmpty { lines.append(field("公示", "\(record.publicizedOn) – \(record.publicityLastDay)")) }
    if !record.disbursedOn.isEmpty {
        lines.append(field("paid", record.disbursedOn))
    } else if let paid = record.history.last(where: { $0.action == "disburse" }) {
        // A payment recorded before the record kept its day: the history's entry says when.
        lines.append(field("paid", paid.decisionDate.isEmpty ? time(paid.at) : paid.decisionDate))
    }
    if !record.recoveredOn.isEmpty {
        lines.append(field("recovered", record.recoveredOn + (record.recoveryDocument.isEmpty ? "" : "  \(record.recoveryDocument)")))
    }
    // Warnings do not refuse the call, but the clerk must see them: only one of the two can be funded.
    for warning in record.warnings { lines.append(field("warning", warning)) }
    for t in record.history {
        var decision = t.decisionDate.isEmpty ? "" : chinese ? "  决定日期 \(t.decisionDate)" : "  dated \(t.decisionDate)"
        if !t.decisionDocument.isEmpty { decision += " \(t.decisionDocument)" }
        let reason = t.reason.isEmpty ? "" : "  \(t.reason)"
        let from = t.fromState.rawValue == 0 ? "—" : stateLabel(t.fromState, chinese: chinese)
        let by = chinese ? "操作 \(tenantName(t.tenant))（uid \(t.actorUid)）" : "by \(t.tenant) (uid \(t.actorUid))"
        // A recovery leaves the state as it was: the line says what it recorded.
        let recovered = t.action == "recover" ? (chinese ? "（追回）" : " (recovered)") : ""
        lines.append("  \(time(t.at))  \(from) → \(stateLabel(t.toState, chinese: chinese))\(recovered)  \(by)\(decision)\(reason)")
        for change in t.changes {
            // An amount changed is shown in yuan, as it was typed (contractAmount, not contractAmountFen).
            let inYuan = change.field.hasSuffix("Fen")
            func shown(_ text: String) -> String {
                guard !text.isEmpty else { return "—" }
                return inYuan ? Int64(text).map { yuan($0) } ?? text : text
            }
            let name =
                if chinese, let chineseName = ApplicationColumns.chineseName(of: change.field) {
                    chineseName + (inYuan ? "（元）" : "")
                } else {
                    inYuan ? String(change.field.dropLast(3)) + " (yuan)" : change.field
                }
            lines.append("      \(name): \(shown(change.before)) → \(shown(change.after))")
        }
    }
    return lines.joined(separator: "\n")
}

/// An int64 field's value in the protos' JSON mapping: a string of digits (or a number).
private func fenValue(_ value: JSONValue) -> Int64? {
    switch value {
    case .string(let text), .number(let text): Int64(text)
    default: nil
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

/// What `export` writes.
enum ExportKind: String, ExpressibleByArgument, CaseIterable {
    /// 公示名单: awards under (or past) their 7-day notice.
    case publicity
    /// 拨付名单: awards to pay (publicized) and paid, for the finance bureau.
    case disbursement
    /// Every application matching the filters, with its state and dates.
    case applications
    /// Year-end summary: measure × district, counts and amounts per state; the city adds cap usage.
    case report
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export the 公示 list, the disbursement list, the applications or a year-end report for Excel (CSV or XLSX).",
        discussion: """
            CSV in UTF-8 with a byte-order mark (Excel opens the Chinese correctly), CRLF line ends,
            amounts in yuan as plain numbers. A district exports its own applications; the city every
            district's (or one, with --district), with the enterprises' registered names.
            publicity: states PUBLICIZED and DISBURSED unless --state is given; --from/--to select by the
            公示's first day. disbursement: PUBLICIZED and DISBURSED; --from/--to select by the approval
            date. applications and report: every state; --from/--to select by the approval date.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "publicity, disbursement, applications or report.") var kind: ExportKind
    @Option(help: "Output file; - for standard output.") var out: String = "-"
    @Option(help: "csv (UTF-8 with a BOM) or xlsx (an Excel workbook); default: from --out's extension, else csv.") var format: ExportFormat?

    enum ExportFormat: String, ExpressibleByArgument, CaseIterable { case csv, xlsx }
    @Option(help: "Funding year.") var year: Int32 = 0
    @Option(help: "Measure, e.g. CLOUD_VOUCHER.") var measure: String?
    @Option(help: "State, e.g. PUBLICIZED (default: the kind's states).") var state: String?
    @Option(help: "City only: one district (nanhai, or 南海区, 南海).") var district: String = ""
    @Option(help: "Only applications under this programme (e.g. shunde-dx-2021; foshan-2020 includes those naming none).") var programme: String = ""
    @Option(help: "First date (YYYY-MM-DD) of the range the kind selects by.", transform: dateFlag) var from: String = ""
    @Option(help: "Last date (YYYY-MM-DD) of the range, inclusive.", transform: dateFlag) var to: String = ""

    func validate() throws {
        for (option, text) in [("--from", from), ("--to", to)] where !text.isEmpty {
            guard (try? CalendarDate(parsing: text)) != nil else { throw ValidationError("\(option): must be a date YYYY-MM-DD (got \"\(text)\")") }
        }
        // An empty list from a range typed backwards would read as "nothing happened then".
        if !from.isEmpty, !to.isEmpty, to < from { throw ValidationError("--to \(to) is before --from \(from): the range is empty") }
        // Excel opens an .xls holding CSV only after warning that its format does not match.
        let lowered = out.lowercased()
        if lowered.hasSuffix(".xls") || lowered.hasSuffix(".xlsm") || (lowered.hasSuffix(".csv") && format == .xlsx) || (lowered.hasSuffix(".xlsx") && format == .csv) {
            throw ValidationError("--out \(out): the file's extension does not match what is written; use .csv (UTF-8 with a BOM) or .xlsx (a workbook)")
        }
    }

    func run() async throws {
        var filter = Foshan_Subsidy_V1_ListApplicationsRequest()
        if let measure { filter.measure = try parseEnum(Foshan_Subsidy_V1_Measure.self, measure, option: "--measure") }
        filter.fundingYear = year
        filter.district = districtID(district)?.rawValue ?? district
        let states: [Foshan_Subsidy_V1_ApplicationState] =
            if let state { [try parseEnum(Foshan_Subsidy_V1_ApplicationState.self, state, option: "--state")] } else {
                switch kind {
                case .publicity, .disbursement: [.publicized, .disbursed]
                case .applications, .report: [.unspecified]
                }
            }
        let (records, quota, calls, programmes) = try await global.withClient { client throws(SubsidyError) in
            let city = try await isCity(client)
            var records: [Foshan_Subsidy_V1_ApplicationRecord] = []
            for state in states {
                var request = filter
                request.state = state
                request.pageSize = 500
                var tokens = PageTokens()
                repeat {
                    let page =
                        try await city
                        ? Foshan_Subsidy_V1_CityService.Client(wrapping: client).listApplications(request, timeout: global.timeout)
                        : Foshan_Subsidy_V1_DistrictService.Client(wrapping: client).listApplications(request, timeout: global.timeout)
                    records += page.records
                    request.pageToken = try tokens.next(page.nextPageToken)
                } while !request.pageToken.isEmpty
            }
            var quota: Foshan_Subsidy_V1_GetQuotaResponse?
            if kind == .report, city {
                var request = Foshan_Subsidy_V1_GetQuotaRequest()
                request.fundingYear = year
                request.top = 100  // the most subjects per cap the daemon lists; the rest are counted below
                request.programme = programme
                quota = try await Foshan_Subsidy_V1_CityService.Client(wrapping: client).getQuota(request, timeout: global.timeout)
            }
            var calls: [Foshan_Subsidy_V1_Call] = []
            if kind == .report {
                calls = try await allCalls(client, programme: programme, timeout: global.timeout).calls.filter { year == 0 || $0.fundingYear == year }
            }
            // Who decides and pays each award: the city's lists carry a district's own
            // programme's awards beside the city's, which the city's finance must not pay.
            var programmes: [String: Foshan_Subsidy_V1_Programme] = [:]
            if kind == .publicity || kind == .disbursement {
                let listed = try await Foshan_Subsidy_V1_Programmes.Client(wrapping: client).listProgrammes(
                    Foshan_Subsidy_V1_ListProgrammesRequest(), timeout: global.timeout)
                for programme in listed.programmes {
                    programmes[programme.name] = programme
                    if programme.isDefault { programmes[""] = programme }
                }
            }
            return (records, quota, calls, programmes)
        }
        let selected = records.filter { inRange(kind == .publicity ? $0.publicizedOn : $0.decisionDate) && inProgramme($0) }
            .sorted { ($0.district, $0.id) < ($1.district, $1.id) }
        let document =
            switch kind {
            case .publicity: Self.publicity(selected, programmes: programmes)
            case .disbursement: Self.disbursement(selected, programmes: programmes)
            case .applications: Self.applications(selected, time: global.time)
            case .report: Self.report(selected, quota: quota, calls: calls)
            }
        let chosen = format ?? (out.lowercased().hasSuffix(".xlsx") ? .xlsx : .csv)
        switch chosen {
        case .csv: try writeFile(document.bytes, to: out)
        case .xlsx:
            guard out != "-" || isatty(1) == 0 else { throw ValidationError("an .xlsx workbook is binary: give --out FILE.xlsx") }
            let names: [ExportKind: String] = [.publicity: "公示名单", .disbursement: "拨付名单", .applications: "申报明细", .report: "年度汇总"]
            try writeFile(Array(try XLSX.workbook(document, sheetName: names[kind] ?? kind.rawValue)), to: out)
        }
        if out != "-" {
            note("\(kind.rawValue): \(document.rows.count) row\(document.rows.count == 1 ? "" : "s") written to \(out)")
        }
    }

    /// An application naming no programme is the 2020 policy's (foshan-2020).
    private func inProgramme(_ record: Foshan_Subsidy_V1_ApplicationRecord) -> Bool {
        guard !programme.isEmpty else { return true }
        let named = record.application?.programme ?? ""
        return (named.isEmpty ? "foshan-2020" : named) == programme
    }

    private func inRange(_ date: String) -> Bool {
        if from.isEmpty && to.isEmpty { return true }
        guard !date.isEmpty else { return false }
        return (from.isEmpty || date >= from) && (to.isEmpty || date <= to)
    }

    /// The columns every award list starts with.
    private static let awardHeader = ["序号", "申请编号", "区", "企业名称", "统一社会信用代码", "项目名称", "支持方向", "资助金额（元）"]

    private static func awardCells(_ record: Foshan_Subsidy_V1_ApplicationRecord, number: Int) -> [CSVDocument.CSVCell] {
        [
            .number(String(number)), .text(record.id), .text(districtName(record.district)), .text(record.enterpriseName),
            .identifier(record.application?.enterpriseUscc ?? ""), .text(record.application?.projectName ?? ""),
            .text(measureName(record.application?.measure)), .number(Money(fen: record.awardedFen).plainText),
        ]
    }

    /// The last columns of the award lists: the programme, and the bureau that decides and pays
    /// its awards (its issuer: 佛山市工业和信息化局 for the city's, 佛山市顺德区经济促进局 for
    /// Shunde's own), so a finance office pays only its own.
    private static let programmeHeader = ["政策", "决定及拨付单位"]

    private static func programmeCells(_ record: Foshan_Subsidy_V1_ApplicationRecord, _ programmes: [String: Foshan_Subsidy_V1_Programme]) -> [CSVDocument.CSVCell] {
        let named = record.application?.programme ?? ""
        let programme = programmes[named]
        return [.text(programme?.name ?? (named.isEmpty ? "foshan-2020" : named)), .text(programme?.issuer ?? "")]
    }

    static func publicity(_ records: [Foshan_Subsidy_V1_ApplicationRecord], programmes: [String: Foshan_Subsidy_V1_Programme] = [:]) -> CSVDocument {
        var document = CSVDocument(header: awardHeader + ["文号", "公示开始日期", "公示结束日期"] + programmeHeader)
        for (index, record) in records.enumerated() {
            document.rows.append(
                awardCells(record, number: index + 1) + [
                    .text(record.decisionDocument), .text(record.publicizedOn), .text(record.publicityLastDay),
                ] + programmeCells(record, programmes))
        }
        return document
    }

    static func disbursement(_ records: [Foshan_Subsidy_V1_ApplicationRecord], programmes: [String: Foshan_Subsidy_V1_Programme] = [:]) -> CSVDocument {
        var document = CSVDocument(header: awardHeader + ["审定日期", "文号", "公示结束日期", "拨付金额（元）", "状态", "拨付日期"] + programmeHeader)
        for (index, record) in records.enumerated() {
            document.rows.append(
                awardCells(record, number: index + 1) + [
                    .text(record.decisionDate), .text(record.decisionDocument), .text(record.publicityLastDay),
                    .number(Money(fen: record.awardedFen).plainText), .text(stateLabel(record.state, chinese: true)), .text(record.disbursedOn),
                ] + programmeCells(record, programmes))
        }
        return document
    }

    /// - Parameter time: how a stored time is shown (``GlobalOptions/time(_:)``: the local time
    ///   zone, China's unless TZ says otherwise, or UTC with `--utc`).
    static func applications(_ records: [Foshan_Subsidy_V1_ApplicationRecord], time: (String) -> String = localTime) -> CSVDocument {
        // 受理日期 is the filing day decisions count from (a correction moves it); 申报时间 the
        // moment the record was made. A voucher's contract, payment and provider come last:
        // added after the others, whose columns sheets and scripts already read by position; then
        // a clawback's recovery (a revoked award with a 拨付日期 and no 追回日期 still counts
        // against its caps: its money is to be recovered).
        var document = CSVDocument(header: [
            "申请编号", "区", "状态", "支持方向", "资金年度", "企业名称", "统一社会信用代码", "项目名称", "合同编号", "资助金额（元）",
            "审定日期", "文号", "公示开始日期", "拨付日期", "申报时间", "政策", "申报批次", "逾期申报原因", "受理日期",
            "合同金额（元）", "实付金额（元）", "服务商统一社会信用代码", "追回日期", "追回凭证",
        ])
        // A measure without a contract (a benchmark project) leaves its amounts empty, not 0.00.
        func amount(_ fen: Int64?) -> CSVDocument.CSVCell { .number(fen.map { $0 == 0 ? "" : Money(fen: $0).plainText } ?? "") }
        for record in records {
            let application = record.application
            document.rows.append([
                .text(record.id), .text(districtName(record.district)), .text(stateLabel(record.state, chinese: true)),
                .text(measureName(application?.measure)), .number(String(application?.fundingYear ?? 0)), .text(record.enterpriseName),
                .identifier(application?.enterpriseUscc ?? ""), .text(application?.projectName ?? ""), .identifier(application?.contractNumber ?? ""),
                .number(Money(fen: record.awardedFen).plainText), .text(record.decisionDate), .text(record.decisionDocument), .text(record.publicizedOn),
                .text(record.disbursedOn), .text(time(record.createdAt)), .text(application?.programme.isEmpty == false ? application!.programme : "foshan-2020"),
                .text(record.callId), .text(record.lateReason), .text(record.filedOn),
                amount(application?.contractAmountFen), amount(application?.paidAmountFen), .identifier(application?.providerUscc ?? ""),
                .text(record.recoveredOn), .text(record.recoveryDocument),
            ])
        }
        return document
    }

    /// The states a report counts, in lifecycle order.
    static let reportStates: [Foshan_Subsidy_V1_ApplicationState] = [
        .submitted, .returned, .recommended, .rejected, .withdrawn, .approved, .publicized, .disbursed, .revoked,
    ]

    static func report(
        _ records: [Foshan_Subsidy_V1_ApplicationRecord], quota: Foshan_Subsidy_V1_GetQuotaResponse?, calls: [Foshan_Subsidy_V1_Call] = []
    ) -> CSVDocument {
        struct Key: Hashable, Comparable {
            var measure: Int32
            var district: String
            static func < (a: Key, b: Key) -> Bool { (a.measure, a.district) < (b.measure, b.district) }
        }
        var counts: [Key: [Int32: Int]] = [:]
        var amounts: [Key: [Int32: Int64]] = [:]
        var names: [Int32: String] = [:]
        for record in records {
            let measure = record.application?.measure
            let key = Key(measure: measure?.rawValue ?? 0, district: record.district)
            names[key.measure] = measureName(measure)
            counts[key, default: [:]][record.state.rawValue, default: 0] += 1
            amounts[key, default: [:]][record.state.rawValue, default: 0] += record.awardedFen
        }
        // Amounts for the states that carry an award (a revoked one: what was awarded, then revoked).
        let awarded: [Foshan_Subsidy_V1_ApplicationState] = [.approved, .publicized, .disbursed, .revoked]
        var document = CSVDocument(
            header: ["支持方向", "区"] + reportStates.map { stateLabel($0, chinese: true) + "（件）" }
                + awarded.map { stateLabel($0, chinese: true) + "金额（元）" } + ["承诺合计（元）"])
        for key in counts.keys.sorted() {
            let byState = amounts[key] ?? [:]
            let committed = [Foshan_Subsidy_V1_ApplicationState.approved, .publicized, .disbursed].reduce(Int64(0)) { $0 + (byState[$1.rawValue] ?? 0) }
            document.rows.append(
                [.text(names[key.measure] ?? ""), .text(districtName(key.district))]
                    + reportStates.map { .number(String(counts[key]?[$0.rawValue] ?? 0)) }
                    + awarded.map { .number(Money(fen: byState[$0.rawValue] ?? 0).plainText) } + [.number(Money(fen: committed).plainText)])
        }
        if let quota {
            document.rows.append([])
            // The rows above are the applications; the caps below count imported history too.
            document.rows.append([.text("以上为申报件；导入的历史奖补（ImportHistory）不在其中，以下额度已计入 (imported awards are not in the rows above; the caps below count them)")])
            document.rows.append(["额度", "范围", "资金年度", "单位", "上限", "已使用", "剩余"].map { .text($0) })
            for cap in quota.caps {
                func amount(_ value: Int64) -> CSVDocument.CSVCell { .number(cap.unit == "count" ? String(value) : Money(fen: value).plainText) }
                document.rows.append([
                    .text(cap.capId), .text(cap.scope), .number(String(cap.fundingYear)), .text(cap.unit == "count" ? "件" : "元"),
                    amount(cap.limit), amount(cap.committed), amount(cap.remaining),
                ])
            }
            for omitted in quota.omitted {
                document.rows.append([.text(omitted.capId), .text("另有 \(omitted.count) 个主体未列出 (\(omitted.count) more subjects not listed)")])
            }
        }
        if !calls.isEmpty {
            document.rows.append([])
            document.rows.append(CallCounts.header.map { .text($0) })
            for call in calls {
                // The id, window and state are text; the year and the counts numbers Excel can sum.
                document.rows.append(CallCounts.cells(call).enumerated().map { [0, 2, 3].contains($0.offset) ? .text($0.element) : .number($0.element) })
            }
        }
        return document
    }
}

/// A district id's Chinese name (禅城区), or the id as given.
func districtName(_ id: String) -> String { DistrictID(rawValue: id)?.displayName ?? id }

/// A measure's Chinese name, or its protocol name.
func measureName(_ measure: Foshan_Subsidy_V1_Measure?) -> String {
    guard let measure else { return "" }
    return Measure(rawValue: measure.description)?.displayName ?? measure.description
}

/// A call's state as the Chinese table around it names it (the daemon sends scheduled, open or
/// closed), on screen and in the year's report alike.
func callStateLabel(_ state: String) -> String {
    switch state {
    case "scheduled": "未开始"
    case "open": "申报中"
    case "closed": "已截止"
    default: state
    }
}

/// A state as clerks name it (待初审, 公示中, …) or its protocol name.
func stateLabel(_ state: Foshan_Subsidy_V1_ApplicationState, chinese: Bool) -> String {
    guard chinese else { return state.description }
    return switch state {
    case .submitted: "待初审"
    case .returned: "已退回"
    case .recommended: "已推荐"
    case .rejected: "不予支持"
    case .withdrawn: "已撤回"
    case .approved: "已审定"
    case .publicized: "公示中"
    case .disbursed: "已拨付"
    case .revoked: "已撤销"
    default: state.description
    }
}

/// Per-call counts (申报批次) as the report and quota show them.
enum CallCounts {
    static let header = ["申报批次", "资金年度", "申报期", "状态", "收件", "退回", "不予支持", "已推荐", "逾期", "撤回"]

    static func cells(_ call: Foshan_Subsidy_V1_Call) -> [String] {
        let c = call.counts ?? Foshan_Subsidy_V1_CallCounts()
        return [
            call.id, String(call.fundingYear), "\(call.opensOn)..\(call.closedOn.isEmpty ? call.closesOn : call.closedOn)", callStateLabel(call.state),
            String(c.received), String(c.returned), String(c.rejected), String(c.recommended), String(c.late), String(c.withdrawn),
        ]
    }
}

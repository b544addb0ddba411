import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

// The programmes the daemon serves (PROGRAMMES.md) and what a district keeps for its own:
// its product catalogue.

struct Programmes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "programmes",
        abstract: "List the programmes in force: state (open/closed/retired), validity, funding years, level and measures.",
        discussion: "A district sees the city's programmes and its own; the city sees every one. File under one with `submit --programme NAME`.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let r = try await global.withClient { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_Programmes.Client(wrapping: client).listProgrammes(Foshan_Subsidy_V1_ListProgrammesRequest(), timeout: global.timeout)
        }
        let chinese = prefersChinese()
        let titles = chinese
            ? ["政策", "状态", "有效期", "资金年度", "层级", "措施", "名称"]
            : ["PROGRAMME", "STATE", "VALIDITY", "FUNDING YEARS", "LEVEL", "MEASURES", "TITLE"]
        var table = TextTable(titles.map { TextTable.Column(title: $0) })
        for p in r.programmes {
            let shownState = chinese ? (p.state == "retired" ? "已废止" : callStateLabel(p.state)) : p.state
            let state = p.retiredOn.isEmpty ? shownState : "\(shownState) (\(p.retiredOn))"
            // A district's own programme is district:shunde on the wire: 顺德区 to a Chinese reader.
            let level = !chinese ? p.level : p.level == "city" ? "市级" : p.level.hasPrefix("district:") ? districtName(String(p.level.dropFirst(9))) : p.level
            table.append([
                p.name + (p.isDefault ? " *" : ""), state, "\(p.validFrom)..\(p.validThrough)", "\(p.firstFundingYear)–\(p.lastFundingYear)", level,
                p.measures.map(\.description).joined(separator: " "), p.title,
            ])
        }
        let footer = chinese ? "* 未指定政策的申请按此政策受理" : "* the programme an application that names none is filed under"
        global.emit(r, table: table, footer: footer, empty: chinese ? "没有政策" : "no programmes")
    }
}

struct Catalogue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalogue",
        abstract: "District: its product catalogue (e.g. 顺德区上云用云应用产品目录), which its own programme's measures require.",
        subcommands: [CatalogueAdd.self])
}

struct CatalogueAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a seller to a catalogue from its entry date.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "The catalogue, as the programme file names it (e.g. shunde-cloud-products).") var catalogue: String
    @Option var uscc: String
    @Option var name: String = ""
    @Option(help: "Entry date YYYY-MM-DD.", transform: dateFlag) var entryDate: String
    @Option var requestId: String = newRequestID()

    func run() async throws {
        var request = Foshan_Subsidy_V1_RegisterCatalogueMemberRequest()
        request.requestId = requestId
        request.catalogue = catalogue
        request.uscc = uscc
        request.name = name
        request.entryDate = entryDate
        let r = try await global.withClient(retrying: requestId) { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_DistrictProgrammes.Client(wrapping: client).registerCatalogueMember(request, timeout: global.timeout)
        }
        global.emit(r, human: "\(r.uscc) in catalogue \(r.catalogue) since \(r.entryDate)")
    }
}

struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Calls for applications (申报批次): the city opens and closes its programmes' calls, a district its own programme's.",
        discussion: """
            Once a measure of a programme has a call, its applications are filed inside an open call for their funding year; \
            outside one, `submit` is refused unless filed late on purpose (--late-reason).
            """,
        subcommands: [CallOpen.self, CallClose.self, CallList.self])
}

struct CallOpen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "open", abstract: "Open a call for one measure and funding year.")
    @OptionGroup var global: GlobalOptions
    @Option var programme: String
    @Option(help: "Measure, e.g. DIGITAL_WORKSHOP.") var measure: String
    @Option(help: "Funding year.") var year: Int32
    @Option(help: "First day of filing YYYY-MM-DD (default: today in China).", transform: dateFlag) var from: String = ""
    @Option(help: "Last day of filing YYYY-MM-DD.", transform: dateFlag) var to: String
    @Option var title: String = ""
    @Option var requestId: String = newRequestID()

    func run() async throws {
        var request = Foshan_Subsidy_V1_OpenCallRequest()
        request.requestId = requestId
        request.programme = programme
        request.measure = try parseEnum(Foshan_Subsidy_V1_Measure.self, measure, option: "--measure")
        request.fundingYear = year
        request.opensOn = from.isEmpty ? global.decisionDay : from
        request.closesOn = to
        request.title = title
        let r = try await global.withClient(retrying: requestId) { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_Calls.Client(wrapping: client).openCall(request, timeout: global.timeout)
        }
        global.emit(r, human: r.call.map { "call \($0.id) \($0.opensOn)..\($0.closesOn) (\($0.state))" } ?? "")
    }
}

struct CallClose: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "close", abstract: "Close a call early: it stays open through its last open day (--on, default today) and is closed from the day after.",
        discussion: """
            --on names the call's last open day: filings are taken through it and refused (unless filed late) from \
            the next day. The default, today, leaves the rest of today open; --on with yesterday's date closes it now.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The call's id, e.g. foshan-dx-2021/DIGITAL_WORKSHOP/2025/1.") var callId: String
    @Option(help: "Its last open day YYYY-MM-DD (default: today in China, or --today; yesterday closes it now).", transform: dateFlag) var on: String = ""
    @Option var requestId: String = newRequestID()

    func run() async throws {
        var request = Foshan_Subsidy_V1_CloseCallRequest()
        request.requestId = requestId
        request.callId = callId
        request.closedOn = on
        let r = try await global.withClient(retrying: requestId) { client throws(SubsidyError) in
            try await Foshan_Subsidy_V1_Calls.Client(wrapping: client).closeCall(request, timeout: global.timeout)
        }
        // The daemon keeps the last open day: say that, and the first closed day, not "closed on"
        // a day it is still open.
        global.emit(
            r,
            human: r.call.map { call in
                let next = (try? CalendarDate(parsing: call.closedOn))?.adding(days: 1)?.description
                return "call \(call.id) open through \(call.closedOn)" + (next.map { "; closed from \($0)" } ?? "")
            } ?? "")
    }
}

/// Every call of `programme` (of every programme the caller sees when empty), page after page.
func allCalls(_ client: ClientConnection, programme: String, timeout: Duration) async throws(SubsidyError) -> Foshan_Subsidy_V1_ListCallsResponse {
    var request = Foshan_Subsidy_V1_ListCallsRequest()
    request.programme = programme
    var all = Foshan_Subsidy_V1_ListCallsResponse()
    var tokens = PageTokens()
    repeat {
        let page = try await Foshan_Subsidy_V1_Calls.Client(wrapping: client).listCalls(request, timeout: timeout)
        all.calls += page.calls
        request.pageToken = try tokens.next(page.nextPageToken)
    } while !request.pageToken.isEmpty
    return all
}

struct CallList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List calls with what was filed under each (a district: its own filings).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this programme's calls.") var programme: String = ""

    func run() async throws {
        let r = try await global.withClient { client throws(SubsidyError) in try await allCalls(client, programme: programme, timeout: global.timeout) }
        let chinese = prefersChinese()
        let titles = chinese
            ? ["批次", "状态", "申报期", "收件", "退回", "不予支持", "已推荐", "逾期", "撤回"]
            : ["CALL", "STATE", "FILING", "RECEIVED", "RETURNED", "REJECTED", "RECOMMENDED", "LATE", "WITHDRAWN"]
        var table = TextTable(titles.enumerated().map { TextTable.Column(title: $0.element, alignment: $0.offset >= 3 ? .right : .left) })
        for call in r.calls {
            let c = call.counts ?? Foshan_Subsidy_V1_CallCounts()
            let window = "\(call.opensOn)..\(call.closedOn.isEmpty ? call.closesOn : call.closedOn)"
            table.append([call.id, chinese ? callStateLabel(call.state) : call.state, window, "\(c.received)", "\(c.returned)", "\(c.rejected)", "\(c.recommended)", "\(c.late)", "\(c.withdrawn)"])
        }
        global.emit(r, table: table, empty: chinese ? "没有申报批次" : "no calls")
    }
}

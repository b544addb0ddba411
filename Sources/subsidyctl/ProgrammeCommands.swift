import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

// The programmes the daemon serves (PROGRAMMES.md) and what a district keeps for its own:
// its product catalogue.

struct Programmes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
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
            let state = p.retiredOn.isEmpty ? p.state : "\(p.state) (\(p.retiredOn))"
            table.append([
                p.name + (p.isDefault ? " *" : ""), state, "\(p.validFrom)..\(p.validThrough)", "\(p.firstFundingYear)–\(p.lastFundingYear)", p.level,
                p.measures.map(\.description).joined(separator: " "), p.title,
            ])
        }
        global.emit(r, table: table, footer: "* the programme an application that names none is filed under", empty: "no programmes")
    }
}

struct Catalogue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "District: its product catalogue (e.g. 顺德区上云用云应用产品目录), which its own programme's measures require.",
        subcommands: [CatalogueAdd.self])
}

struct CatalogueAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a seller to a catalogue from its entry date.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "The catalogue, as the programme file names it (e.g. shunde-cloud-products).") var catalogue: String
    @Option var uscc: String
    @Option var name: String = ""
    @Option(help: "Entry date YYYY-MM-DD.") var entryDate: String
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

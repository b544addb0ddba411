import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

/// What the bureaus read all day, against a running daemon: the city's quota status (every cap
/// scope of a year with its top consumers), the city's list filtered by district, state and year,
/// and a district's own list filtered by state and measure — each first page and the page after
/// it (keyset paging) — and the city's text search, each walk followed to its end (every call
/// looks at a bounded number of applications, so a walk's calls grow with the data, each call's
/// time should not); one call in flight, for `seconds` each. Prints p50/p99/p999 per kind.
struct BrowseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "browse",
        abstract: "Quota status and filtered, paged lists against a running daemon: latency of each."
    )

    @OptionGroup var target: TargetOptions

    @Option(help: "Seconds per kind of call.")
    var seconds: Double = 3

    @Option(help: "Records per page.")
    var pageSize: Int32 = 50

    func run() async throws {
        let cityConnection = try await ClientConnection.connect(unixSocketPath: target.socket("city"))
        let districtConnection = try await ClientConnection.connect(unixSocketPath: target.socket("nanhai"))
        let city = Foshan_Subsidy_V1_CityService.Client(wrapping: cityConnection)
        let district = Foshan_Subsidy_V1_DistrictService.Client(wrapping: districtConnection)
        let districts = DistrictID.allCases.map(\.rawValue)
        let states: [Foshan_Subsidy_V1_ApplicationState] = [.submitted, .recommended, .returned, .rejected, .withdrawn]
        let measures: [Foshan_Subsidy_V1_Measure] = [.cloudVoucher, .benchmarkProject, .publicService, .identifierNode]
        var records = 0
        // The token of the page just read: odd-numbered calls ask for the page after it.
        var lastToken = ""

        let quota = try await measure { i in
            var request = Foshan_Subsidy_V1_GetQuotaRequest()
            request.fundingYear = Int32(2020 + i % 4)
            request.top = 5
            records += try await city.getQuota(request).caps.count
        }
        let cityList = try await measure { i in
            // Pairs of calls with the same filters: the first page, then the one after it.
            var request = Foshan_Subsidy_V1_ListApplicationsRequest()
            request.district = districts[(i / 2) % districts.count]
            request.state = .recommended
            request.fundingYear = Int32(2020 + (i / 10) % 4)
            request.pageSize = pageSize
            request.pageToken = i % 2 == 1 ? lastToken : ""
            let page = try await city.listApplications(request)
            lastToken = page.nextPageToken
            records += page.records.count
        }
        lastToken = ""
        let districtList = try await measure { i in
            var request = Foshan_Subsidy_V1_ListApplicationsRequest()
            request.state = states[(i / 2) % states.count]
            request.measure = measures[(i / 10) % measures.count]
            request.pageSize = pageSize
            request.pageToken = i % 2 == 1 ? lastToken : ""
            let page = try await district.listApplications(request)
            lastToken = page.nextPageToken
            records += page.records.count
        }
        // Text no application holds (the loader's project names are "<district> 数字化项目 <n>";
        // the "x" makes this one none of them): every call of a walk looks at its whole bound,
        // the costly case.
        lastToken = ""
        var (walks, walkCalls, callsInWalks) = (0, 0, 0)
        let search = try await measure { _ in
            var request = Foshan_Subsidy_V1_ListApplicationsRequest()
            request.text = "数字化项目 x\(walks)"
            request.pageSize = pageSize
            request.pageToken = lastToken
            let page = try await city.listApplications(request)
            lastToken = page.nextPageToken
            records += page.records.count
            walkCalls += 1
            if lastToken.isEmpty { (walks, callsInWalks) = (walks + 1, callsInWalks + walkCalls); walkCalls = 0 }
        }
        print("browse quota calls=\(quota.count) \(quota.summary)")
        print("browse city-list calls=\(cityList.count) page_size=\(pageSize) \(cityList.summary)")
        print("browse district-list calls=\(districtList.count) page_size=\(pageSize) \(districtList.summary) records_read=\(records)")
        print("browse city-search calls=\(search.count) walks=\(walks) calls_per_walk=\(walks == 0 ? "—" : String(callsInWalks / walks)) \(search.summary)")
        await cityConnection.close()
        await districtConnection.close()
    }

    /// Calls `body(i)` for i = 0, 1, … until `seconds` have passed, timing each.
    private func measure(_ body: (Int) async throws -> Void) async throws -> LatencyHistogram {
        var histogram = LatencyHistogram()
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        var i = 0
        while monotonicNanoseconds() < deadline {
            let start = monotonicNanoseconds()
            try await body(i)
            histogram.record(nanoseconds: monotonicNanoseconds() - start)
            i += 1
        }
        return histogram
    }
}

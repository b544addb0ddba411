import SubsidyServer
import SubsidyTestSupport
import SubsidyWire
import Testing

/// A search's page ends at whichever comes first: its size, its byte budget, or the last
/// application its scan looked at. The handlers on real stores, in-process.
@Suite("search pages: the scan bound and the byte budget together")
struct SearchPagingTests {
    typealias District = Foshan_Subsidy_V1_DistrictService.Method
    typealias City = Foshan_Subsidy_V1_CityService.Method

    @Test("a page cut by its byte budget goes on from its last record, though the scan looked further")
    func budgetInsideScan() async throws {
        // Four applications looked at per district a call, and records larger than a page's
        // 4 KiB budget (the smallest there is): every page holds one record.
        try await withInProcessDaemon(limits: { $0.searchScanRows = 4; $0.maximumFrameLength = 16 * 1024 }) { daemon in
            var matching: [String] = []
            for (district, area, count) in [("chancheng", 4, 6), ("nanhai", 5, 3)] {
                let bureau = Bureau(daemon.tenant(district))
                for n in 1...count {
                    let enterprise = TestData.uscc(area * 100 + n, area: area)
                    try await bureau.register(enterprise)
                    let found = n <= 4
                    let id = try await bureau.submit(
                        TestData.benchmark(enterprise: enterprise, investedFen: 100_000_000, name: found ? "搜索项目 \(n)" : "其他项目 \(n)")
                    ).id
                    var review = Foshan_Subsidy_V1_ReviewApplicationRequest()
                    review.requestId = "review-\(id)"
                    review.applicationId = id
                    review.outcome = .recommend
                    review.reason = String(repeating: "审", count: 1_500)
                    _ = try await daemon.call(District.reviewApplication, review, as: district)
                    if found { matching.append(id) }
                }
            }
            // chancheng's first call finds four matches among the four it looks at: the page
            // keeps one, and the next must start after that one, not after the fourth.
            for (tenant, expected) in [("city", matching), ("chancheng", matching.filter { $0.hasPrefix("chancheng-") })] {
                var request = Foshan_Subsidy_V1_ListApplicationsRequest()
                request.text = "搜索项目"
                var (found, calls) = ([String](), 0)
                repeat {
                    let page =
                        try await tenant == "city"
                        ? daemon.call(City.listApplications, request, as: tenant) : daemon.call(District.listApplications, request, as: tenant)
                    #expect(page.records.count <= 1, "records of 6 KB each in a 4 KiB budget: \(page.records.map(\.id))")
                    found += page.records.map(\.id)
                    request.pageToken = page.nextPageToken
                    calls += 1
                } while !request.pageToken.isEmpty && calls < 100
                #expect(found == expected, "\(tenant): \(found)")
            }
        }
    }
}

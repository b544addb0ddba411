import SubsidyCore
import SubsidyTestSupport
import Testing
@testable import SubsidyStore

/// A text search reads each application's content, so one call looks at a bounded number of
/// applications and says where it stopped. Real stores on real SQLite files.
@Suite("text search, bounded per call")
struct ApplicationSearchTests {
    /// Twelve applications in shunde (`shunde-000001` …), every third a 铝型材 project; the sixth
    /// recommended. Returns the store.
    static func filed(_ harness: StoreHarness) async throws -> DistrictStore {
        for n in 1...12 {
            var application = harness.benchmark(StoreHarness.uscc(700 + n))
            application.projectName = n % 3 == 0 ? "铝型材产线 \(n)" : "注塑车间 \(n)"
            if n == 6 {
                _ = try await harness.recommended(application, in: .shunde)
                continue
            }
            let applicant = try await harness.register(application.enterprise, in: .shunde)
            _ = try await harness.stores.submit(
                application, applicant: applicant, policy: harness.policy,
                filedOn: StoreHarness.filed, request: RequestKey(id: "shunde:submit-\(n)", fingerprint: "f"), actor: StoreHarness.actor(.shunde)
            ) { _, _ in [] }
        }
        return harness.stores.store(.shunde)
    }

    static func id(_ n: Int) -> String { "shunde-" + String(repeating: "0", count: 6 - String(n).count) + String(n) }

    @Test("each call looks at textScanRows applications after the token and names the last; a full page or the end names none")
    func boundedCalls() async throws {
        let harness = try StoreHarness()
        let store = try await Self.filed(harness)
        var filter = ApplicationFilter(text: "铝型材")
        filter.textScanRows = 4
        #expect(try await store.applicationIDs(filter, afterID: "", limit: 10) == ApplicationIDs(ids: [Self.id(3)], scannedThrough: Self.id(4)))
        // The limit reached first: the page is full before the scan's end, which is not named.
        #expect(try await store.applicationIDs(filter, afterID: "", limit: 1) == ApplicationIDs(ids: [Self.id(3)]))
        // Walking the tokens finds every match once, in order, and ends with none named.
        var (after, found, calls) = ("", [String](), 0)
        while true {
            let page = try await store.applicationIDs(filter, afterID: after, limit: 10)
            calls += 1
            found += page.ids
            guard let next = page.scannedThrough else { break }
            after = next
        }
        #expect(found == [3, 6, 9, 12].map(Self.id))
        #expect(calls == 4, "4, 8 and 12 looked at last, then a call that finds the end: \(calls)")
        // The bound counts the applications that pass the other, indexed filters: one
        // recommended application is one call, whatever the district holds besides.
        filter.state = .recommended
        #expect(try await store.applicationIDs(filter, afterID: "", limit: 10) == ApplicationIDs(ids: [Self.id(6)]))
        filter.textScanRows = 1
        #expect(try await store.applicationIDs(filter, afterID: "", limit: 10) == ApplicationIDs(ids: [Self.id(6)], scannedThrough: Self.id(6)))
        #expect(try await store.applicationIDs(filter, afterID: Self.id(6), limit: 10) == ApplicationIDs(ids: []))
        // A bound past the district's end, and a list without text, name no end.
        filter.textScanRows = 100
        #expect(try await store.applicationIDs(filter, afterID: "", limit: 10) == ApplicationIDs(ids: [Self.id(6)]))
        #expect(try await store.applicationIDs(ApplicationFilter(state: .recommended), afterID: "", limit: 10) == ApplicationIDs(ids: [Self.id(6)]))
    }

    @Test("LIKE's wildcards and escape are escaped by code point: a wildcard carrying a combining mark is still the wildcard")
    func wildcardsEscaped() {
        #expect(DistrictStore.likePattern("50%_\\x") == "%50\\%\\_\\\\x%")
        // `_` and U+0301 are one Character; LIKE reads the `_` alone.
        #expect(DistrictStore.likePattern("x_\u{301}y") == "%x\\_\u{301}y%")
        #expect(DistrictStore.likePattern("%\u{301}") == "%\\%\u{301}%")
    }
}

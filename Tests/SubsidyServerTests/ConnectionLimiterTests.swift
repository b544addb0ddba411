import Testing

@testable import SubsidyServer

@Suite("ConnectionLimiter")
struct ConnectionLimiterTests {
    typealias Refusal = ConnectionLimiter.Refusal

    /// One row per limit: connections opened as (uid, tenant) in turn, and the refusal of the one
    /// after them (nil: admitted).
    @Test(
        "the limit that binds first is the one named",
        arguments: [
            ([(1, "nanhai"), (2, "shunde"), (3, "city")], (4, "gaoming"), Refusal.total(limit: 3)),
            ([(1, "nanhai"), (1, "shunde")], (1, "city"), Refusal.perUID(uid: 1, limit: 2)),
            ([(1, "nanhai"), (2, "nanhai")], (3, "nanhai"), Refusal.perTenant(tenant: "nanhai", limit: 2)),
            // The total is checked before the per-uid limit, and that before the per-tenant one.
            ([(1, "nanhai"), (1, "nanhai"), (2, "shunde")], (1, "nanhai"), Refusal.total(limit: 3)),
            ([(1, "nanhai"), (1, "nanhai")], (1, "nanhai"), Refusal.perUID(uid: 1, limit: 2)),
            ([(1, "nanhai"), (2, "shunde")], (3, "city"), nil),
        ] as [([(UInt32, String)], (UInt32, String), Refusal?)]
    )
    func bindingLimit(open: [(UInt32, String)], next: (UInt32, String), expected: Refusal?) {
        let limiter = ConnectionLimiter(maximumTotal: 3, maximumPerUID: 2, maximumPerTenant: 2)
        for (uid, tenant) in open { #expect(limiter.acquire(uid: uid, tenant: tenant) == nil) }
        #expect(limiter.acquire(uid: next.0, tenant: next.1) == expected)
        #expect(limiter.openConnections == open.count + (expected == nil ? 1 : 0))
    }

    @Test("a refused connection holds no slot; a released one frees the slot for the same uid and tenant")
    func releaseFreesTheSlot() {
        let limiter = ConnectionLimiter(maximumTotal: 10, maximumPerUID: 1, maximumPerTenant: 10)
        #expect(limiter.acquire(uid: 7, tenant: "nanhai") == nil)
        for _ in 0..<5 { #expect(limiter.acquire(uid: 7, tenant: "shunde") == .perUID(uid: 7, limit: 1)) }
        #expect(limiter.openConnections == 1)
        limiter.release(uid: 7, tenant: "nanhai")
        #expect(limiter.openConnections == 0)
        #expect(limiter.acquire(uid: 7, tenant: "shunde") == nil)
    }

    @Test("acquire and release from many threads at once leave the count at zero")
    func concurrentBalance() async {
        let limiter = ConnectionLimiter(maximumTotal: 1_000_000, maximumPerUID: 1_000_000, maximumPerTenant: 1_000_000)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for n in 0..<2_000 {
                        let uid = UInt32(n % 5)
                        let tenant = "t\(task % 3)"
                        #expect(limiter.acquire(uid: uid, tenant: tenant) == nil)
                        limiter.release(uid: uid, tenant: tenant)
                    }
                }
            }
        }
        #expect(limiter.openConnections == 0)
        // Nothing is left counted against any uid or tenant: each may open its full share again.
        let small = limiter
        for uid in 0..<5 { #expect(small.acquire(uid: UInt32(uid), tenant: "t0") == nil) }
    }

    @Test("each refusal names the configuration key that set its limit")
    func refusalNamesItsKey() {
        #expect(Refusal.total(limit: 4).description == "the daemon already has 4 connections open (max_connections)")
        #expect(Refusal.perUID(uid: 1000, limit: 2).description == "uid 1000 already has 2 connections open (max_connections_per_uid)")
        #expect(
            Refusal.perTenant(tenant: "nanhai", limit: 3).description
                == "tenant nanhai already has 3 connections open (max_connections_per_tenant)"
        )
    }
}

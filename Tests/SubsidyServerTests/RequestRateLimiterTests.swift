import NIOCore
import Testing

@testable import SubsidyServer

/// The per-tenant token bucket with the clock passed in: bursts, refill, one log line per episode.
@Suite("RequestRateLimiter")
struct RequestRateLimiterTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    @Test("a burst is admitted at once; the next call is refused, the first refusal of the episode flagged")
    func burstThenRefusal() {
        let limiter = RequestRateLimiter(rate: 5, burst: 10)
        for _ in 0..<10 { #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .admitted) }
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .refused(firstRefusal: true))
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .refused(firstRefusal: false))
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .refused(firstRefusal: false))
    }

    @Test("tokens come back at the rate: one every 1/rate s, and an admission ends the episode")
    func refill() {
        let limiter = RequestRateLimiter(rate: 5, burst: 1)
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .admitted)
        #expect(limiter.admit(tenant: "nanhai", now: Self.start + .milliseconds(199)) == .refused(firstRefusal: true))
        #expect(limiter.admit(tenant: "nanhai", now: Self.start + .milliseconds(200)) == .admitted)
        #expect(limiter.admit(tenant: "nanhai", now: Self.start + .milliseconds(200)) == .refused(firstRefusal: true))
    }

    @Test("a tenant is refusing from its first refusal to its next admission (the event loop then passes its inline calls on)")
    func refusing() {
        let limiter = RequestRateLimiter(rate: 5, burst: 1)
        #expect(!limiter.isRefusing(tenant: "nanhai"))
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .admitted)
        #expect(!limiter.isRefusing(tenant: "nanhai"))
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .refused(firstRefusal: true))
        #expect(limiter.isRefusing(tenant: "nanhai") && !limiter.isRefusing(tenant: "shunde"))
        #expect(limiter.admit(tenant: "nanhai", now: Self.start + .milliseconds(200)) == .admitted)
        #expect(!limiter.isRefusing(tenant: "nanhai"))
    }

    @Test("a long quiet period refills to the burst, never beyond")
    func refillIsCapped() {
        let limiter = RequestRateLimiter(rate: 5, burst: 3)
        let later = Self.start + .seconds(3_600)
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .admitted)
        for _ in 0..<3 { #expect(limiter.admit(tenant: "nanhai", now: later) == .admitted) }
        #expect(limiter.admit(tenant: "nanhai", now: later) == .refused(firstRefusal: true))
    }

    @Test("one tenant's bucket is its own: another tenant keeps its full burst")
    func tenantsAreIndependent() {
        let limiter = RequestRateLimiter(rate: 1, burst: 2)
        for _ in 0..<2 { #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .admitted) }
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .refused(firstRefusal: true))
        for _ in 0..<2 { #expect(limiter.admit(tenant: "shunde", now: Self.start) == .admitted) }
        #expect(limiter.admit(tenant: "city", now: Self.start) == .admitted)
    }

    @Test("a burst below 1 still admits one call at a time")
    func burstAtLeastOne() {
        let limiter = RequestRateLimiter(rate: 10, burst: 0)
        #expect(limiter.burst == 1)
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .admitted)
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .refused(firstRefusal: true))
        #expect(limiter.admit(tenant: "nanhai", now: Self.start + .milliseconds(100)) == .admitted)
    }

    @Test("a clock reading earlier than the last one adds no tokens")
    func clockGoingBack() {
        let limiter = RequestRateLimiter(rate: 1, burst: 1)
        #expect(limiter.admit(tenant: "nanhai", now: Self.start) == .admitted)
        #expect(limiter.admit(tenant: "nanhai", now: Self.start - .seconds(10)) == .refused(firstRefusal: true))
        #expect(limiter.admit(tenant: "nanhai", now: Self.start + .milliseconds(999)) == .refused(firstRefusal: false))
        #expect(limiter.admit(tenant: "nanhai", now: Self.start + .seconds(1)) == .admitted)
    }
}

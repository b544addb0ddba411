import NIOCore
import Synchronization

/// A token bucket per tenant: each tenant may start `rate` calls per second on average and
/// `burst` at once, over all its connections. A district over its rate gets RESOURCE_EXHAUSTED for
/// the calls beyond it; the other tenants' buckets are untouched, so they keep being served.
final class RequestRateLimiter: Sendable {
    enum Decision: Sendable, Equatable {
        case admitted
        /// `firstRefusal` is true for the first refusal after an admitted call, so the log gets
        /// one line per episode rather than one per refused call.
        case refused(firstRefusal: Bool)
    }

    private struct Bucket {
        var tokens: Double
        var refilledAt: UInt64
        var refusing = false
    }

    let rate: Double
    let burst: Double
    private let buckets: Mutex<[String: Bucket]>

    init(rate: Int, burst: Int) {
        self.rate = Double(rate)
        self.burst = Double(max(burst, 1))
        buckets = Mutex([:])
    }

    func admit(tenant: String, now: NIODeadline = .now()) -> Decision {
        let nanoseconds = now.uptimeNanoseconds
        return buckets.withLock { buckets in
            var bucket = buckets[tenant] ?? Bucket(tokens: burst, refilledAt: nanoseconds)
            if nanoseconds > bucket.refilledAt {
                let elapsed = Double(nanoseconds - bucket.refilledAt) / 1e9
                bucket.tokens = min(burst, bucket.tokens + elapsed * rate)
                bucket.refilledAt = nanoseconds
            }
            let decision: Decision
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                bucket.refusing = false
                decision = .admitted
            } else {
                decision = .refused(firstRefusal: !bucket.refusing)
                bucket.refusing = true
            }
            buckets[tenant] = bucket
            return decision
        }
    }
}

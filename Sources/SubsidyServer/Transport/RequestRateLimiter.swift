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

    private struct State {
        var rate: Double
        var burst: Double
        var buckets: [String: Bucket] = [:]
    }

    // Rate and burst sit under the buckets' lock so a SIGHUP reload applies to the next call.
    private let state: Mutex<State>

    init(rate: Int, burst: Int) {
        state = Mutex(State(rate: Double(rate), burst: Double(max(burst, 1))))
    }

    /// Calls per second, as configured now.
    var rate: Double { state.withLock { $0.rate } }
    /// Bucket size (at least 1), as configured now.
    var burst: Double { state.withLock { $0.burst } }

    /// Applies a reloaded rate and burst to the next call; each bucket keeps its tokens (at most the new burst).
    func setRate(_ rate: Int, burst: Int) {
        state.withLock { state in
            state.rate = Double(rate)
            state.burst = Double(max(burst, 1))
            let burst = state.burst
            state.buckets = state.buckets.mapValues { bucket in
                var bucket = bucket
                bucket.tokens = min(burst, bucket.tokens)
                return bucket
            }
        }
    }

    /// Whether `tenant`'s last call was refused (until its next call is admitted): the event
    /// loop then passes its inline calls on, so a refusal pauses their connection as any other.
    func isRefusing(tenant: String) -> Bool {
        state.withLock { $0.buckets[tenant]?.refusing ?? false }
    }

    func admit(tenant: String, now: NIODeadline = .now()) -> Decision {
        let nanoseconds = now.uptimeNanoseconds
        return state.withLock { state in
            let rate = state.rate
            let burst = state.burst
            var bucket = state.buckets[tenant] ?? Bucket(tokens: burst, refilledAt: nanoseconds)
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
            state.buckets[tenant] = bucket
            return decision
        }
    }
}

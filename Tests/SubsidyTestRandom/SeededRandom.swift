import Foundation

/// SplitMix64: a small, fast generator whose whole state is one `UInt64`, so a test's random
/// choices are fixed by the seed it started from.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An independent generator for a named part of the work (a task, a round), the same for the
    /// same seed whatever order the parts run in.
    public func derived(_ name: String) -> SplitMix64 {
        SplitMix64(seed: state ^ TestSeed.stableHash(name))
    }
}

/// The run's seed. Every random test starts from it: `SUBSIDYD_SEED=<n>` replays a run, and
/// without it each run draws a new one, so CI explores more over time and a failure can be
/// replayed from the seed printed beside it.
public enum TestSeed {
    public static let run: UInt64 = {
        if let text = ProcessInfo.processInfo.environment["SUBSIDYD_SEED"], !text.isEmpty {
            guard let seed = UInt64(text) else { fatalError("SUBSIDYD_SEED=\(text) is not an unsigned 64-bit integer") }
            return seed
        }
        return UInt64.random(in: 0...UInt64.max)
    }()

    /// "SUBSIDYD_SEED=<n>", for failure messages.
    public static var replay: String { "SUBSIDYD_SEED=\(run)" }

    /// A generator for the test (or part of one) called `name`, seeded from the run's seed and the
    /// name, so tests running in parallel or alone draw the same values. Prints the seed.
    public static func generator(_ name: String) -> SplitMix64 {
        print("random test \"\(name)\": seed \(run) (replay with \(replay))")
        return SplitMix64(seed: run).derived(name)
    }

    /// FNV-1a over the UTF-8 bytes: stable across processes, unlike `String.hashValue`.
    public static func stableHash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3 }
    }
}

extension RandomNumberGenerator {
    /// One of `values` (which must not be empty).
    public mutating func pick<T>(_ values: [T]) -> T {
        values[Int(next() % UInt64(values.count))]
    }

    /// True `percent` times in 100.
    public mutating func chance(_ percent: UInt64) -> Bool {
        next() % 100 < percent
    }
}

import NIOCore
import Synchronization

/// How many lines of one kind a tenant's actions may add to the log: refusals a caller can
/// provoke at will (peers not allowed, connections over a limit, the other role's methods,
/// deadlines, broken frames) are logged up to ``linesPerWindow`` per ``window`` each, then
/// counted, and the next line logged says how many like it were left out — or, if none comes,
/// the server's periodic report of ended windows (``endedWindows(now:)``). One district looping
/// on a refusal would otherwise fill the journal past its rate limit, and journald would drop
/// every tenant's lines with it — error ids clerks quote, security warnings, backups.
final class LogBudget: Sendable {
    /// The refusals counted, one budget each per tenant.
    enum Kind: String, Sendable {
        case peerNotAllowed, connectionLimit, callLimit, rate, backpressure, timeout, permissionDenied, deadline, protocolViolation

        /// The words an operator reads in the log ("connection-limit refusals"), not the case name.
        var label: String {
            switch self {
            case .peerNotAllowed: "peer-not-allowed"
            case .connectionLimit: "connection-limit"
            case .callLimit: "open-call-limit"
            case .rate: "rate"
            case .backpressure: "backpressure"
            case .timeout: "timeout"
            case .permissionDenied: "permission-denied"
            case .deadline: "deadline"
            case .protocolViolation: "protocol-violation"
            }
        }
    }

    private struct Key: Hashable {
        var tenant: String
        var kind: Kind
    }

    private struct Window {
        var start: UInt64
        var logged = 0
        var suppressed = 0
    }

    let linesPerWindow: Int
    let window: Duration
    // Keys are a configured tenant and a kind: the table cannot grow past tenants × kinds.
    private let windows = Mutex<[Key: Window]>([:])

    init(linesPerWindow: Int = 20, window: Duration = .seconds(60)) {
        self.linesPerWindow = linesPerWindow
        self.window = window
    }

    private var windowNanoseconds: UInt64 {
        UInt64(window.components.seconds) * 1_000_000_000 + UInt64(window.components.attoseconds / 1_000_000_000)
    }

    /// The lines left out in windows that have ended, each window reported once and then closed
    /// (its count is not carried into the next line of its kind): a tenant whose refusals
    /// stopped still has them accounted for, though no line of that kind may come again.
    /// - Parameter all: every window with lines left out, ended or not (at shutdown: the last
    ///   window's count would otherwise go with the process).
    func endedWindows(now: NIODeadline = .now(), all: Bool = false) -> [(tenant: String, kind: Kind, suppressed: Int)] {
        let nanoseconds = now.uptimeNanoseconds
        let length = windowNanoseconds
        return windows.withLock { windows in
            var ended: [(tenant: String, kind: Kind, suppressed: Int)] = []
            for (key, entry) in windows where entry.suppressed > 0 && (all || nanoseconds &- entry.start >= length) {
                ended.append((key.tenant, key.kind, entry.suppressed))
                windows[key] = nil
            }
            return ended.sorted { ($0.tenant, $0.kind.rawValue) < ($1.tenant, $1.kind.rawValue) }
        }
    }

    /// Whether to log this `kind` of event of `tenant` now; if so, a note of how many like it were
    /// left out since the last line logged ("" if none), to append to the line.
    func admit(_ kind: Kind, tenant: String, now: NIODeadline = .now()) -> String? {
        let nanoseconds = now.uptimeNanoseconds
        let length = windowNanoseconds
        return windows.withLock { windows -> String? in
            var entry = windows[Key(tenant: tenant, kind: kind), default: Window(start: nanoseconds)]
            var carried = 0
            if nanoseconds &- entry.start >= length {
                carried = entry.suppressed
                entry = Window(start: nanoseconds)
            }
            defer { windows[Key(tenant: tenant, kind: kind)] = entry }
            guard entry.logged < linesPerWindow else {
                entry.suppressed += 1
                return nil
            }
            entry.logged += 1
            let seconds = window.components.seconds
            var note = carried == 0 ? "" : " (\(carried) more like it were not logged in the \(seconds) s before)"
            if entry.logged == linesPerWindow { note += " (the last like it logged for up to \(seconds) s)" }
            return note
        }
    }
}

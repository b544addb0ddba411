#if canImport(Glibc)
import Glibc
#endif

// The clerk's clock: the daemon keeps UTC (RFC 3339 with a Z); people read China Standard Time
// (UTC+8 all year, no daylight saving since 1991) unless TZ names another zone.

/// The broken-down time of `seconds`: in UTC, in China Standard Time, or for reading (`local`)
/// in TZ's zone when TZ is set and China's otherwise.
private func civil(_ seconds: time_t, _ zone: Zone) -> tm {
    var seconds = seconds
    var parts = tm()
    switch zone {
    case .utc: gmtime_r(&seconds, &parts)
    case .local where getenv("TZ").map({ $0.pointee != 0 }) ?? false: localtime_r(&seconds, &parts)
    case .local, .china:
        seconds += 8 * 3600
        gmtime_r(&seconds, &parts)
    }
    return parts
}

private enum Zone { case utc, china, local }

/// `2026-12-04`, with ` 13:39:23` (or `T13:39:23`) when `time` says so.
private func text(_ parts: tm, time separator: String?) -> String {
    func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let date = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    guard let separator else { return date }
    return date + separator + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
}

/// Today's date in China, for a decision dated today: whatever TZ the clerk's machine has, the
/// daemon judges dates by Foshan's day (a laptop on UTC before 08:00 would otherwise date a
/// decision the day before, and one on a zone ahead of China a day the daemon refuses).
func todayInChina() -> String { text(civil(time(nil), .china), time: nil) }

/// The current UTC time as the daemon writes it (`2026-12-04T05:16:20.079`), to the millisecond.
func utcNow() -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    let milliseconds = now.tv_nsec / 1_000_000
    return text(civil(now.tv_sec, .utc), time: "T") + "." + String(repeating: "0", count: 3 - String(milliseconds).count) + String(milliseconds)
}

/// `2026-12-04T05:39:23.463Z` in the local time zone — TZ's when it is set, else China Standard
/// Time — as `2026-12-04 13:39:23`. Text that is not such a time is returned as it is.
func localTime(_ stamp: String) -> String {
    let fields = stamp.split(whereSeparator: { "-T:.Z".contains($0) }).compactMap { Int($0) }
    guard fields.count >= 6, stamp.hasSuffix("Z") else { return stamp }
    var utc = tm()
    utc.tm_year = Int32(fields[0] - 1900)
    utc.tm_mon = Int32(fields[1] - 1)
    utc.tm_mday = Int32(fields[2])
    utc.tm_hour = Int32(fields[3])
    utc.tm_min = Int32(fields[4])
    utc.tm_sec = Int32(fields[5])
    return text(civil(timegm(&utc), .local), time: " ")
}

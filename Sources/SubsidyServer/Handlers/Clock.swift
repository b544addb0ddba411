import SubsidyCore

#if canImport(Glibc)
import Glibc
#endif

/// Dates as the bureaus' calendar has them.
enum Clock {
    /// Today in China Standard Time (UTC+8, no daylight saving): whether a programme is open or
    /// retired is a question about Foshan's day, whatever the server's zone.
    static func today() -> CalendarDate {
        let days = (Int(time(nil)) + 8 * 3_600) / 86_400
        // The epoch plus a count of days since is always a valid date.
        return CalendarDate(daysSinceEpoch: days) ?? CalendarDate(year: 2020, month: 1, day: 1)!
    }
}

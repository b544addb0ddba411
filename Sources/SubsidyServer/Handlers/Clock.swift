import SubsidyCore

#if canImport(Glibc)
import Glibc
#endif

/// Dates as the bureaus' calendar has them.
enum Clock {
    /// The day this call's calendar is pinned to, if it is: bound for each call from its
    /// ``CallContext/pinnedToday`` (`subsidyd --today`, for rehearsals and tests only).
    @TaskLocal static var pinned: CalendarDate?

    /// Today in China Standard Time (UTC+8, no daylight saving): whether a programme is open or
    /// retired is a question about Foshan's day, whatever the server's zone.
    static func today() -> CalendarDate {
        if let pinned { return pinned }
        return realToday()
    }

    /// Today in Foshan by the system clock, whatever the call is pinned to.
    static func realToday() -> CalendarDate {
        let days = (Int(time(nil)) + 8 * 3_600) / 86_400
        // The epoch plus a count of days since is always a valid date.
        return CalendarDate(daysSinceEpoch: days) ?? CalendarDate(year: 2020, month: 1, day: 1)!
    }

    /// Runs `body` with the calendar `context` is pinned to (if any) as ``today()``.
    static func withCalendar<T>(of context: CallContext, _ body: () async throws(SubsidyError) -> T) async throws(SubsidyError) -> T {
        guard let day = context.pinnedToday else { return try await body() }
        do {
            return try await $pinned.withValue(day) { () async throws -> T in try await body() }
        } catch let error as SubsidyError {
            throw error
        } catch {
            throw SubsidyError(.internal, "\(error)")
        }
    }
}

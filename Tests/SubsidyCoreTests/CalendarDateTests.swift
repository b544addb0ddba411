import SubsidyCore
import Testing

@Suite("CalendarDate")
struct CalendarDateTests {
    @Test("parses and prints YYYY-MM-DD", arguments: ["2020-07-17", "2023-12-31", "2024-02-29", "0001-01-01", "9999-12-31"])
    func roundTrip(_ text: String) throws {
        #expect(try CalendarDate(parsing: text).description == text)
    }

    @Test("refuses malformed or impossible dates", arguments: [
        ("2020-7-17", "is not a date in the form YYYY-MM-DD"),
        ("2020/07/17", "is not a date in the form YYYY-MM-DD"),
        ("2020-07-17T00:00", "is not a date in the form YYYY-MM-DD"),
        ("２０２０-07-17", "is not a date in the form YYYY-MM-DD"),
        ("2020-13-01", "month 13 is not 1–12"),
        ("2020-00-01", "month 0 is not 1–12"),
        ("2021-02-29", "day 29 does not exist in 2021-02"),
        ("2020-04-31", "day 31 does not exist in 2020-04"),
        ("2020-01-00", "day 0 does not exist in 2020-01"),
        ("0000-01-01", "does not exist"),
    ])
    func refuses(_ text: String, _ problem: String) {
        do {
            _ = try CalendarDate(parsing: text)
            Issue.record("\(text) accepted")
        } catch {
            #expect(error.problem.contains(problem), "\(error)")
        }
    }

    @Test("days since the epoch match known values", arguments: [
        ("1970-01-01", 0), ("2000-03-01", 11_017), ("2020-07-17", 18_460), ("2023-12-31", 19_722), ("1969-12-31", -1),
    ])
    func epochDays(_ text: String, _ days: Int) throws {
        let date = try CalendarDate(parsing: text)
        #expect(date.daysSinceEpoch == days)
        #expect(CalendarDate(daysSinceEpoch: days) == date)
    }

    @Test("adding years keeps the day, 29 February becomes 28 February", arguments: [
        ("2021-03-10", 2, "2023-03-10"), ("2020-02-29", 2, "2022-02-28"), ("2020-02-29", 4, "2024-02-29"), ("2023-12-31", -3, "2020-12-31"),
    ])
    func addYears(_ from: String, _ years: Int, _ to: String) throws {
        #expect(try CalendarDate(parsing: from).adding(years: years)?.description == to)
    }

    @Test("adding days crosses months, years and leap days", arguments: [
        ("2022-09-01", 7, "2022-09-08"), ("2023-12-31", 1, "2024-01-01"), ("2020-02-28", 1, "2020-02-29"),
        ("2021-02-28", 1, "2021-03-01"), ("2020-07-17", -1, "2020-07-16"), ("2020-07-17", 1262, "2023-12-31"),
    ])
    func addDays(_ from: String, _ days: Int, _ to: String) throws {
        let date = try CalendarDate(parsing: from)
        #expect(date.adding(days: days)?.description == to)
        #expect(try date.days(until: CalendarDate(parsing: to)) == days)
    }

    @Test("comparison is chronological")
    func ordering() throws {
        let dates = try ["2023-12-31", "2020-07-17", "2021-01-01", "2020-12-31"].map(CalendarDate.init(parsing:))
        #expect(dates.sorted().map(\.description) == ["2020-07-17", "2020-12-31", "2021-01-01", "2023-12-31"])
        #expect(CalendarDate(year: 9999, month: 12, day: 31)?.adding(days: 1) == nil)
    }
}

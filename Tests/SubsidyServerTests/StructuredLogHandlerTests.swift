import NIOCore
import Testing

@testable import SubsidyServer

@Suite("StructuredLogHandler")
struct StructuredLogHandlerTests {
    @Test("logfmt quotes what needs quoting and keeps every value on its line")
    func logfmt() {
        let line = StructuredLogHandler.render(
            format: .logfmt, time: "2026-12-04T00:00:00.000Z", level: "notice", message: "reload refused: \"x\"\nnext",
            fields: [("call.id", "7"), ("tenant.id", "nanhai"), ("empty", ""), ("limits", "a=1 b=2")])
        #expect(line == #"ts=2026-12-04T00:00:00.000Z level=notice msg="reload refused: \"x\"\nnext" call.id=7 tenant.id=nanhai empty="" limits="a=1 b=2""#)
    }

    @Test("JSON is one object per line with every field a string")
    func json() {
        let line = StructuredLogHandler.render(
            format: .json, time: "t", level: "info", message: "a\nb", fields: [("call.method", "/x/Y")])
        #expect(line == #"{"ts":"t","level":"info","msg":"a\nb","call.method":"/x/Y"}"#)
    }

    @Test("what a terminal or editor would act on is shown as an escape: C1 controls, separators, bidi overrides, invisible format characters")
    func hiddenCharacters() {
        let value = "a\u{9B}31m\u{202E}gpj.exe\u{2028}b\u{200B}c\u{FEFF}"
        let logfmt = StructuredLogHandler.render(format: .logfmt, time: "t", level: "info", message: "m", fields: [("backup.directory", value)])
        #expect(logfmt == #"ts=t level=info msg=m backup.directory="a\u009B31m\u202Egpj.exe\u2028b\u200Bc\uFEFF""#, "\(logfmt)")
        let json = StructuredLogHandler.render(format: .json, time: "t", level: "info", message: value, fields: [])
        #expect(json == #"{"ts":"t","level":"info","msg":"a\u009B31m\u202Egpj.exe\u2028b\u200Bc\uFEFF"}"#, "\(json)")
        // Arabic's bidi mark, a soft hyphen, DEL, a tag character (a surrogate pair in JSON).
        #expect(StructuredLogHandler.logfmtValue("a\u{061C}b\u{AD}c\u{7F}d\u{E0041}") == #""a\u061Cb\u00ADc\u007fd\uDB40\uDC41""#)
        // Chinese text and ordinary punctuation stay as they are.
        #expect(StructuredLogHandler.logfmtValue("佛工信〔2022〕88号") == "佛工信〔2022〕88号")
    }
}

@Suite("LogBudget")
struct LogBudgetTests {
    @Test("a tenant's refusals of one kind are logged up to the budget per window, then counted; the next window's first line says how many were left out")
    func budget() {
        let budget = LogBudget(linesPerWindow: 3, window: .seconds(60))
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let notes = (0..<5).map { _ in budget.admit(.permissionDenied, tenant: "nanhai", now: start) }
        #expect(notes == ["", "", " (the last like it logged for up to 60 s)", nil, nil])
        // Another tenant, or another kind, has its own budget.
        #expect(budget.admit(.permissionDenied, tenant: "shunde", now: start) == "")
        #expect(budget.admit(.deadline, tenant: "nanhai", now: start) == "")
        let later = NIODeadline.uptimeNanoseconds(62_000_000_000)
        #expect(budget.admit(.permissionDenied, tenant: "nanhai", now: later) == " (2 more like it were not logged in the 60 s before)")
        #expect(budget.admit(.permissionDenied, tenant: "nanhai", now: later) == "")
    }

    @Test("a window that ended with lines left out is reported once, though no line of its kind comes again, and its count is not carried")
    func endedWindows() {
        let budget = LogBudget(linesPerWindow: 2, window: .seconds(60))
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        for _ in 0..<7 { _ = budget.admit(.rate, tenant: "nanhai", now: start) }
        _ = budget.admit(.deadline, tenant: "shunde", now: start)
        #expect(budget.endedWindows(now: .uptimeNanoseconds(30_000_000_000)).isEmpty, "the window has not ended")
        let ended = budget.endedWindows(now: .uptimeNanoseconds(61_000_000_000))
        #expect(ended.map { "\($0.tenant) \($0.kind) \($0.suppressed)" } == ["nanhai rate 5"], "shunde left nothing out")
        #expect(budget.endedWindows(now: .uptimeNanoseconds(200_000_000_000)).isEmpty, "reported once")
        #expect(budget.admit(.rate, tenant: "nanhai", now: .uptimeNanoseconds(201_000_000_000)) == "", "not carried into the next line")
        // At shutdown, the window still open is reported too.
        for _ in 0..<3 { _ = budget.admit(.rate, tenant: "nanhai", now: .uptimeNanoseconds(202_000_000_000)) }
        #expect(budget.endedWindows(now: .uptimeNanoseconds(203_000_000_000)).isEmpty)
        #expect(budget.endedWindows(now: .uptimeNanoseconds(203_000_000_000), all: true).map(\.suppressed) == [2])
    }
}

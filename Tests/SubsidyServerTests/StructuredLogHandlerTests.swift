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
}

import SubsidyCore
import Testing

/// What a table row expects from the calculator.
enum Expected: Sendable, CustomStringConvertible {
    /// An award of this many fen, bound by this kind of limit (and cap id, when a cap binds).
    case award(Int64, LimitTrace.Kind, cap: String? = nil)
    /// A refusal with this code whose message contains this text.
    case refused(SubsidyError.Code, String)

    var description: String {
        switch self {
        case let .award(fen, kind, cap): "award \(Money(fen: fen)) bound by \(kind.label)\(cap.map { " \($0)" } ?? "")"
        case let .refused(code, text): "\(code) ‘\(text)’"
        }
    }
}

/// Runs the calculator and returns its outcome rather than throwing.
func compute(
    _ application: Application, usage: InMemoryUsageSnapshot = Fixtures.usage(),
    on date: CalendarDate = Fixtures.decisionDate, caseAmount: Money? = nil, document: String? = nil,
    policy: Policy? = nil
) throws -> Result<AwardDecision, SubsidyError> {
    let policy = try policy ?? Fixtures.policy()
    do {
        return .success(try AwardCalculator.compute(
            application: application, policy: policy, usage: usage,
            decision: DecisionInput(decisionDate: date, caseAmount: caseAmount, decisionDocument: document)))
    } catch {
        return .failure(error)
    }
}

/// Checks an outcome against a row's expectation.
func check(_ outcome: Result<AwardDecision, SubsidyError>, _ expected: Expected, sourceLocation: SourceLocation = #_sourceLocation) {
    switch (outcome, expected) {
    case let (.success(decision), .award(fen, kind, cap)):
        #expect(decision.award.fen == fen, "award \(decision.award)", sourceLocation: sourceLocation)
        #expect(decision.binding?.kind == kind, "bound by \(decision.bindingPhrase)", sourceLocation: sourceLocation)
        #expect(decision.binding?.capID == cap, sourceLocation: sourceLocation)
        #expect(decision.limits.filter(\.binding).count == 1, sourceLocation: sourceLocation)
        #expect(decision.charges.allSatisfy { $0.amount == decision.award && $0.count == 1 }, sourceLocation: sourceLocation)
    case let (.failure(error), .refused(code, text)):
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
    case let (.success(decision), .refused):
        Issue.record("expected \(expected), got an award of \(decision.award) bound by \(decision.bindingPhrase)", sourceLocation: sourceLocation)
    case let (.failure(error), .award):
        Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
    }
}

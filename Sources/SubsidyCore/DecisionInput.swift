/// What the city supplies at decision time, beyond the application.
public struct DecisionInput: Hashable, Sendable {
    /// The date of the decision; must fall in the policy's validity window.
    public var decisionDate: CalendarDate
    /// The amount the city decided, for case-by-case (一事一议) measures.
    public var caseAmount: Money?
    /// The city's decision document number (e.g. `佛工信函〔2022〕15号`), for case-by-case measures.
    public var decisionDocument: String?

    public init(decisionDate: CalendarDate, caseAmount: Money? = nil, decisionDocument: String? = nil) {
        self.decisionDate = decisionDate
        self.caseAmount = caseAmount
        self.decisionDocument = decisionDocument
    }

    /// The input for a dry-run quote on `date`: a case-by-case amount and document are taken from
    /// what the application proposes.
    public static func quote(_ application: Application, on date: CalendarDate) -> DecisionInput {
        DecisionInput(
            decisionDate: date,
            caseAmount: application.caseAmount > .zero ? application.caseAmount : nil,
            decisionDocument: application.decisionDocument.isEmpty ? nil : application.decisionDocument)
    }
}

/// A loaded, validated programme (政策措施): every amount, rate, cap, quota, window and configurable
/// reading, read from its programme file (`Deploy/policy/foshan-2020.toml`, the 2020 measures of
/// RULES.md; `foshan-dx-2021.toml` and `shunde-dx-2021.toml` of PROGRAMMES.md). ``Programmes``
/// holds every one in force.
///
/// Every decision records ``version`` so an award can always be traced to the exact file text.
public struct Policy: Sendable {
    /// The policy's name, e.g. `foshan-2020`; also the period part of whole-policy cap scopes.
    public let name: String
    /// `name@` + the first 12 hex digits of SHA-256 of the file text.
    public let version: String
    /// The policy's title (the document's name).
    public let title: String
    /// Who interprets the policy (负责解释).
    public let issuer: String
    /// First day decisions may be dated (施行).
    public let validFrom: CalendarDate
    /// Last day decisions may be dated (有效期至), inclusive.
    public let validThrough: CalendarDate
    /// Funding years applications may be filed under.
    public let fundingYears: ClosedRange<Int>
    /// General rule 3: award less than the formula when a cap leaves only part of it (`true`), or
    /// refuse such an award (`false`).
    public let allowPartialAwards: Bool
    /// Length of the 公示 period in days.
    public let publicityDays: Int
    /// The measures this policy offers.
    public let rules: [Measure: MeasureRule]
    /// Who decides its awards: the city, or one district for its own programme.
    public var level: ProgrammeLevel = .city
    /// The day it stopped taking new applications (`retired_on`), if it has: its awards keep
    /// counting and can still be disbursed, revoked and clawed back.
    public var retiredOn: CalendarDate?
    /// The stacking limits (``MeasureRule/stackingRate``) of the other programmes loaded beside
    /// this one, by measure (a measure code belongs to one programme). Content an award of one of
    /// those measures holds is not refused by this programme: its award is bound by that limit
    /// instead, as that limit binds its own measure's award when it comes second: a district's
    /// small award no longer vetoes the city's. Filled in by ``Programmes``; empty for a policy
    /// loaded on its own.
    public var stackingElsewhere: [Measure: Rate] = [:]

    public init(
        name: String, version: String, title: String, issuer: String, validFrom: CalendarDate,
        validThrough: CalendarDate, fundingYears: ClosedRange<Int>, allowPartialAwards: Bool,
        publicityDays: Int, rules: [Measure: MeasureRule]
    ) {
        self.name = name
        self.version = version
        self.title = title
        self.issuer = issuer
        self.validFrom = validFrom
        self.validThrough = validThrough
        self.fundingYears = fundingYears
        self.allowPartialAwards = allowPartialAwards
        self.publicityDays = publicityDays
        self.rules = rules
    }

    /// `2020-07-17..2023-12-31`, for messages.
    public var validityText: String { "\(validFrom)..\(validThrough)" }

    /// The rule for `measure`, or `FAILED_PRECONDITION` if this policy does not offer it.
    public func rule(for measure: Measure) throws(SubsidyError) -> MeasureRule {
        guard let rule = rules[measure] else {
            throw SubsidyError.precondition("measure", "\(measure) is not offered by policy \(name)")
        }
        return rule
    }

    /// Scheduled (its window has not begun), open, closed (its window has passed) or retired, as
    /// of `date`: the words a call's state uses, so one label serves both.
    public func state(on date: CalendarDate) -> String {
        if let retiredOn, retiredOn <= date { return "retired" }
        if date < validFrom { return "scheduled" }
        if validThrough < date { return "closed" }
        return "open"
    }

    /// Every cap of every measure, in measure order then file order (for watching and reports).
    public var caps: [CapRule] {
        Measure.allCases.flatMap { rules[$0]?.caps ?? [] }
    }

    /// `year` as a funding year open under this policy, or `FAILED_PRECONDITION` naming the window.
    /// - Parameter row: the request field it came from, named in the refusal where one request
    ///   carries many (an import's rows).
    public func fundingYear(_ year: Int, row: String? = nil) throws(SubsidyError) -> FundingYear {
        guard fundingYears.contains(year), let fundingYear = FundingYear(year) else {
            throw SubsidyError.precondition(
                "validity_window",
                "\(row.map { "\($0): " } ?? "")funding year \(year) is outside policy \(name) (funding years \(fundingYears.lowerBound)–\(fundingYears.upperBound), in force \(validityText))")
        }
        return fundingYear
    }

    /// `FAILED_PRECONDITION` unless `date` is within the policy's validity window (inclusive).
    public func checkDecisionDate(_ date: CalendarDate) throws(SubsidyError) {
        guard validFrom <= date && date <= validThrough else {
            throw SubsidyError.precondition(
                "validity_window",
                "decision date \(date) is outside policy \(name)'s validity window \(validityText)")
        }
    }

    /// ``checkDecisionDate(_:)``, and that `year`'s budget has begun by `date`: an award is
    /// charged to its funding year, and a 2023 award decided in 2020 would spend a budget not yet
    /// set — and let one enterprise draw four years' per-enterprise caps in one week. (A year
    /// that has ended still takes late decisions: a call's review runs past the year end.)
    public func checkDecisionDate(_ date: CalendarDate, fundingYear year: FundingYear) throws(SubsidyError) {
        try checkDecisionDate(date)
        guard date.year >= year.year else {
            throw SubsidyError.precondition(
                "validity_window",
                "decision date \(date) is before funding year \(year.year) begins: an award is charged to a budget year that has begun")
        }
    }

    /// The first day an application publicised on `date` may be disbursed: after ``publicityDays``
    /// full days of 公示 (publicised 2022-09-01 with 7 days → 2022-09-08).
    public func publicityEnds(publicisedOn date: CalendarDate) -> CalendarDate? {
        date.adding(days: publicityDays)
    }
}

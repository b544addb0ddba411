/// The numbers and readings the policy file gives one measure (`[measure.<MEASURE>]`).
/// The formula's shape comes from ``Measure/formulaShape``; everything countable comes from here.
public struct MeasureRule: Hashable, Sendable {
    /// The follow-on condition of article 五 (`CLUSTER_PILOT_FOLLOW_ON`).
    public struct FollowOn: Hashable, Sendable {
        /// Distinct served enterprises holding a voucher that are needed (15, 含).
        public let minServedEnterprises: Int
        /// Years after the selection date in which the vouchers must have been obtained (2).
        public let windowYears: Int
        /// Whether the award decision itself must also fall inside that window (a configurable
        /// reading: `decision_within_window`).
        public let decisionWithinWindow: Bool

        public init(minServedEnterprises: Int, windowYears: Int, decisionWithinWindow: Bool) {
            self.minServedEnterprises = minServedEnterprises
            self.windowYears = windowYears
            self.decisionWithinWindow = decisionWithinWindow
        }
    }

    public let measure: Measure
    /// The article of the policy text the measure comes from (一 … 八), for explanations.
    public let article: String
    /// The fixed award (fixed-shape measures).
    public let amount: Money?
    /// `POOL_ENTRY`'s extra award when the applicant is also in the Guangdong provincial pool.
    public let provincialPoolBonus: Money?
    /// The rate of the base (rate-shape measures).
    public let rate: Rate?
    /// The most one project may receive (单个项目最高不超过…), if any.
    public let perProjectCap: Money?
    /// Upper-level + city money ≤ this rate of ``Measure/combinedUpperLevelBase``, if any.
    public let combinedUpperLevelRate: Rate?
    /// Localities eligible for the measure.
    public let localities: Set<Locality>
    /// Selection levels eligible for the measure; `nil` means the measure needs no selection.
    public let selectionLevels: Set<SelectionLevel>?
    /// Kinds of applicant the registry accepts for the measure (checked by the district store).
    public let applicantRoles: Set<ApplicantRole>
    /// The follow-on condition, for `CLUSTER_PILOT_FOLLOW_ON` only.
    public let followOn: FollowOn?
    /// The caps, in file order (which is also the order of the explanation).
    public let caps: [CapRule]
    /// The most a case-by-case decision may award, per grade (`ceiling_yuan_standard`,
    /// `ceiling_yuan_excellent`); empty when the measure has no grades.
    public var gradeCeilings: [Grade: Money] = [:]
    /// 差额奖励: the award is paid as the decided amount minus everything already awarded (and
    /// not revoked) to the same enterprise under these measures of the same programme
    /// (`difference_of`). Empty: paid in full.
    public var differenceOf: Set<Measure> = []
    /// The seller must be in this catalogue on the decision date (`catalogue`), like the city's
    /// pool for vouchers: a district's product catalogue (顺德区上云用云应用产品目录).
    public var catalogue: String?
    /// Stacking across levels (`stacking_base_rate_bp`): every public award for the same content —
    /// city and district programmes, and the upper-level funds declared — may not exceed this rate
    /// of the formula's base. Set, it replaces the refusal of content funded under *another*
    /// programme; within one programme general rule 2 still refuses it.
    public var stackingRate: Rate?

    public init(
        measure: Measure, article: String, amount: Money?, provincialPoolBonus: Money?, rate: Rate?,
        perProjectCap: Money?, combinedUpperLevelRate: Rate?, localities: Set<Locality>,
        selectionLevels: Set<SelectionLevel>?, applicantRoles: Set<ApplicantRole>, followOn: FollowOn?,
        caps: [CapRule]
    ) {
        self.measure = measure
        self.article = article
        self.amount = amount
        self.provincialPoolBonus = provincialPoolBonus
        self.rate = rate
        self.perProjectCap = perProjectCap
        self.combinedUpperLevelRate = combinedUpperLevelRate
        self.localities = localities
        self.selectionLevels = selectionLevels
        self.applicantRoles = applicantRoles
        self.followOn = followOn
        self.caps = caps
    }
}

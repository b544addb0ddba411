/// One line of an award's explanation: a limit or condition that was applied, its value, what was
/// already committed, the headroom it left, and whether it is the one that set the award.
///
/// Amount-limiting kinds (formula, per-project, combined upper-level, the caps) carry
/// ``headroom``: the award is the least of them. Conditions (validity, eligibility, duplicate
/// content, one-time, follow-on) carry only a ``detail`` — had one failed there would be no
/// decision, only an error.
public struct LimitTrace: Hashable, Sendable {
    /// What kind of limit.
    public enum Kind: String, CaseIterable, Hashable, Sendable {
        case formula
        case perProject = "per_project"
        case perEnterprise = "per_enterprise"
        case perProvider = "per_provider"
        case annualBudget = "annual_budget"
        case annualCount = "annual_count"
        case combinedUpperLevel = "combined_upper_level"
        case oneTime = "one_time"
        case followOnCondition = "follow_on_condition"
        case validityWindow = "validity_window"
        case duplicateContent = "duplicate_content"
        case eligibility
        /// A case-by-case decision's ceiling for the recognition's grade.
        case gradeCeiling = "grade_ceiling"
        /// 差额奖励: the decided amount less the earlier awards to the same enterprise.
        case difference
        /// Stacking across levels: every public award for the content ≤ its base.
        case stacking

        /// Human label: `per-enterprise`, `annual budget`.
        public var label: String {
            switch self {
            case .formula: "formula"
            case .perProject: "per-project"
            case .perEnterprise: "per-enterprise"
            case .perProvider: "per-provider"
            case .annualBudget: "annual budget"
            case .annualCount: "annual count"
            case .combinedUpperLevel: "combined upper-level"
            case .oneTime: "one-time"
            case .followOnCondition: "follow-on condition"
            case .validityWindow: "validity window"
            case .duplicateContent: "duplicate content"
            case .eligibility: "eligibility"
            case .gradeCeiling: "grade ceiling"
            case .difference: "difference"
            case .stacking: "stacking"
            }
        }
    }

    public var kind: Kind
    /// The ledger key, for limits that are caps.
    public var capKey: CapKey?
    /// The limit's value: an amount (formula result, per-project maximum, combined maximum, cap).
    public var limit: Money?
    /// The limit's value when it counts awards.
    public var limitCount: Int?
    /// Already committed under the cap (or, for the combined limit, upper-level money received).
    public var committed: Money?
    /// Awards already committed under a count cap.
    public var committedCount: Int?
    /// What this limit still allows; the award is the least headroom of all amount limits.
    public var headroom: Money?
    /// A sentence a bureau can read: `50% of min(contract 1,200,000.00, paid 1,200,000.00) = 600,000.00`.
    public var detail: String
    /// Whether this limit set the award. Exactly one trace of a decision binds; on a tie the
    /// formula wins (the applicant got everything the formula gives), then the first in order.
    public var binding: Bool

    public init(
        kind: Kind, capKey: CapKey? = nil, limit: Money? = nil, limitCount: Int? = nil, committed: Money? = nil,
        committedCount: Int? = nil, headroom: Money? = nil, detail: String, binding: Bool = false
    ) {
        self.kind = kind
        self.capKey = capKey
        self.limit = limit
        self.limitCount = limitCount
        self.committed = committed
        self.committedCount = committedCount
        self.headroom = headroom
        self.detail = detail
        self.binding = binding
    }

    /// `CLOUD_VOUCHER.per_enterprise`, or `nil` if not a cap.
    public var capID: String? { capKey?.capID }
    /// `2022/91440604…`, or `nil` if not a cap.
    public var scope: String? { capKey?.scope }
}

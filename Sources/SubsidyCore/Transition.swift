/// A move in the application lifecycle, with the role that may make it and the states it leaves
/// from. The table is RULES.md's “Lifecycle” section; nothing else decides legality.
public enum Transition: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// District first review passes: SUBMITTED → RECOMMENDED.
    case recommend
    /// District sends back for correction: SUBMITTED → RETURNED.
    case `return`
    /// District refuses: SUBMITTED → REJECTED.
    case reject
    /// District withdraws before approval: SUBMITTED | RETURNED | RECOMMENDED → WITHDRAWN.
    case withdraw
    /// District corrects an application before review, or resubmits a returned one: SUBMITTED | RETURNED → SUBMITTED.
    case amend
    /// City approves an amount, committing it against every cap: RECOMMENDED → APPROVED.
    case approve
    /// City refuses at second review: RECOMMENDED → REJECTED.
    case cityReject
    /// City starts the 公示 period: APPROVED → PUBLICIZED.
    case publicize
    /// City records payment (after the publicity period): PUBLICIZED → DISBURSED.
    case disburse
    /// City revokes: APPROVED | PUBLICIZED → REVOKED releases the commitment;
    /// DISBURSED → REVOKED records a clawback.
    case revoke

    /// The role that performs this transition.
    public var role: ActorRole {
        switch self {
        case .recommend, .return, .reject, .withdraw, .amend: .district
        case .approve, .cityReject, .publicize, .disburse, .revoke: .city
        }
    }

    /// The states this transition may start from.
    public var from: Set<ApplicationState> {
        switch self {
        case .recommend, .return, .reject: [.submitted]
        case .withdraw: [.submitted, .returned, .recommended]
        // Before the first review as well: a clerk corrects a typo without a return round trip.
        case .amend: [.submitted, .returned]
        case .approve, .cityReject: [.recommended]
        case .publicize: [.approved]
        case .disburse: [.publicized]
        case .revoke: [.approved, .publicized, .disbursed]
        }
    }

    /// The state it leads to.
    public var to: ApplicationState {
        switch self {
        case .recommend: .recommended
        case .return: .returned
        case .reject, .cityReject: .rejected
        case .withdraw: .withdrawn
        case .amend: .submitted
        case .approve: .approved
        case .publicize: .publicized
        case .disburse: .disbursed
        case .revoke: .revoked
        }
    }

    public var description: String { rawValue }

    /// The verb a clerk knows it by, for messages: the city's refusal is "reject", as the
    /// district's is (`rawValue`, kept in every file's history, names them apart).
    public var verb: String { self == .cityReject ? "reject" : rawValue }
}

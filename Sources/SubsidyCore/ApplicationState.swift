/// Where an application is in its lifecycle (RULES.md, “Lifecycle”). Raw values are the wire names.
///
/// Only ``Transition``s move an application; ``canTransition(to:)`` and ``applying(_:as:)`` are the
/// single place that knows which moves are legal.
public enum ApplicationState: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// Filed by the district. Allows: recommend, return, reject, withdraw.
    case submitted = "SUBMITTED"
    /// Sent back to the district for correction. Allows: amend (→ SUBMITTED), withdraw.
    case returned = "RETURNED"
    /// Passed first review, awaiting the city. Allows: approve, cityReject, withdraw.
    case recommended = "RECOMMENDED"
    /// Refused by the district or the city. Final.
    case rejected = "REJECTED"
    /// Withdrawn by the district before approval. Final.
    case withdrawn = "WITHDRAWN"
    /// Amount committed against every cap. Allows: publicize, revoke.
    case approved = "APPROVED"
    /// In its 公示 (publicity) period. Allows: disburse (after the period), revoke.
    case publicized = "PUBLICIZED"
    /// Money paid. Allows: revoke (records a clawback).
    case disbursed = "DISBURSED"
    /// Revoked by the city after approval; the commitment is released or clawed back. Final.
    case revoked = "REVOKED"

    /// Whether the application holds a live commitment in the city ledger in this state.
    public var holdsCommitment: Bool {
        switch self {
        case .approved, .publicized, .disbursed: true
        default: false
        }
    }

    /// Whether no transition leaves this state.
    public var isFinal: Bool { Transition.allCases.allSatisfy { !$0.from.contains(self) } }

    /// Whether some transition (by any role) leads from this state to `target`.
    public func canTransition(to target: ApplicationState) -> Bool {
        Transition.allCases.contains { $0.from.contains(self) && $0.to == target }
    }

    /// The state after `transition` performed by `role`.
    ///
    /// - Throws: `PERMISSION_DENIED` if the role may not perform it, `FAILED_PRECONDITION`
    ///   (subject `state`) if it is not legal from this state.
    public func applying(_ transition: Transition, as role: ActorRole) throws(SubsidyError) -> ApplicationState {
        guard transition.role == role else {
            throw SubsidyError(.permissionDenied, "\(transition) is done by the \(transition.role) bureau, not a \(role) bureau")
        }
        guard transition.from.contains(self) else {
            let legal = ApplicationState.allCases.filter(transition.from.contains).map(\.rawValue).joined(separator: ", ")
            throw SubsidyError.precondition("state", "cannot \(transition.verb) an application that is \(rawValue) (only from \(legal))")
        }
        return transition.to
    }

    public var description: String { rawValue }
}

import SubsidyCore
import Testing

@Suite("Application lifecycle")
struct ApplicationStateTests {
    /// The full table: (state, transition) → next state, for every legal move. Everything else is illegal.
    static let legal: [ApplicationState: [Transition: ApplicationState]] = [
        .submitted: [.recommend: .recommended, .return: .returned, .reject: .rejected, .withdraw: .withdrawn, .amend: .submitted],
        .returned: [.amend: .submitted, .withdraw: .withdrawn],
        .recommended: [.approve: .approved, .cityReject: .rejected, .withdraw: .withdrawn],
        .approved: [.publicize: .publicized, .revoke: .revoked],
        .publicized: [.disburse: .disbursed, .revoke: .revoked],
        .disbursed: [.revoke: .revoked],
    ]

    @Test("every state × transition is legal exactly as RULES.md says", arguments: ApplicationState.allCases, Transition.allCases)
    func table(_ state: ApplicationState, _ transition: Transition) throws {
        let result = Result { () throws(SubsidyError) -> ApplicationState in try state.applying(transition, as: transition.role) }
        if let next = Self.legal[state]?[transition] {
            #expect(try result.get() == next)
            #expect(state.canTransition(to: next))
        } else {
            #expect(throws: SubsidyError.self) { try result.get() }
            if case let .failure(error) = result {
                #expect(error.code == .failedPrecondition)
                #expect(error.message.hasPrefix("state: cannot \(transition.verb) an application that is \(state.rawValue)"))
                #expect(!error.message.contains("cityReject"), "the internal name stays out of messages")
            }
        }
    }

    @Test("each transition belongs to one role", arguments: Transition.allCases)
    func roles(_ transition: Transition) throws {
        let expected: ActorRole = [.recommend, .return, .reject, .withdraw, .amend].contains(transition) ? .district : .city
        #expect(transition.role == expected)
        let other: ActorRole = expected == .city ? .district : .city
        let from = try #require(ApplicationState.allCases.first(where: transition.from.contains))
        do {
            _ = try from.applying(transition, as: other)
            Issue.record("\(other) performed \(transition)")
        } catch {
            #expect(error.code == .permissionDenied)
        }
    }

    @Test("final states and commitments")
    func finalStates() {
        #expect(ApplicationState.allCases.filter(\.isFinal) == [.rejected, .withdrawn, .revoked])
        #expect(ApplicationState.allCases.filter(\.holdsCommitment) == [.approved, .publicized, .disbursed])
        #expect(!ApplicationState.submitted.canTransition(to: .approved))
        #expect(ApplicationState.recommended.canTransition(to: .approved))
    }
}

import SubsidyCore

/// Reconciles the district stores with the ledger at start-up, before any call is served.
///
/// The commit protocol writes the ledger first and the district second, so a crash between the
/// two leaves the ledger ahead. Recovery rolls each district forward to what the ledger says;
/// the ledger is never rolled back. Anything the protocol cannot produce is reported, not fixed.
public enum Recovery {
    public struct Report: Sendable {
        /// "nanhai-000012 RECOMMENDED->APPROVED", one per repaired application.
        public var rolledForward: [String] = []
        /// States the commit protocol cannot produce (e.g. an approved application without a
        /// live commitment); the daemon logs them loudly.
        public var inconsistencies: [String] = []
    }

    public static let actor = Actor(tenant: "recovery", uid: 0)

    public static func reconcile(ledger: CityLedger, districts: [DistrictID: DistrictStore]) throws -> Report {
        var report = Report()
        for (district, store) in districts.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let commitments = try ledger.commitments(district: district.rawValue)
            var committedIDs = Set<String>()
            for commitment in commitments {
                committedIDs.insert(commitment.applicationID)
                try reconcile(commitment, store: store, into: &report)
            }
            for (id, state) in try store.decidedStates() where state.holdsCommitment && !committedIDs.contains(id) {
                report.inconsistencies.append("\(id) is \(state) but the ledger holds no commitment for it")
            }
        }
        return report
    }

    /// Brings one application in line with its commitment (if any). Decisions call this under the
    /// decision lock, so a district step that failed without a crash is completed before anything
    /// else touches the application — not left until the next start.
    public static func reconcile(applicationID: String, ledger: CityLedger, store: DistrictStore) throws -> Report {
        var report = Report()
        let commitment = try ledger.database.read { try ledger.commitment(for: applicationID, in: $0) }
        if let commitment { try reconcile(commitment, store: store, into: &report) }
        return report
    }

    private static func reconcile(_ commitment: CityLedger.Commitment, store: DistrictStore, into report: inout Report) throws {
        guard let application = try store.application(commitment.applicationID) else {
            report.inconsistencies.append("ledger commitment \(commitment.applicationID) has no application in \(store.district.rawValue)")
            return
        }
        let pending = pendingTransitions(commitment: commitment, state: application.state)
        if pending.isEmpty, ["live", "disbursed"].contains(commitment.state), !application.state.holdsCommitment {
            report.inconsistencies.append(
                "\(commitment.applicationID) is \(application.state) but the ledger holds a \(commitment.state) commitment of \(commitment.amountFen) fen"
            )
        }
        for transition in pending {
            let approving = transition == .approve
            let request = RequestKey(id: approving ? commitment.requestID : commitment.releaseRequestID, fingerprint: "recovery")
            // The decision is its author's: the ledger kept who made it and why.
            let author = approving ? commitment.actor : commitment.releaseActor
            let reason = approving ? commitment.reason : commitment.releaseReason
            try store.database.write { transaction in
                _ = try store.apply(
                    transition, to: commitment.applicationID, actor: author.tenant.isEmpty ? actor : author, role: .city,
                    reason: reason.isEmpty ? "completed from the city ledger" : reason + " (completed from the city ledger)",
                    request: request, at: Timestamp.now(), in: transaction
                ) { record in
                    if transition == .approve {
                        record.awardedFen = commitment.amountFen
                        record.explanation = commitment.explanation
                        record.decisionDate = commitment.decisionDate
                        record.decisionDocument = commitment.decisionDocument
                    }
                }
            }
            report.rolledForward.append("\(commitment.applicationID) \(transition)")
        }
    }

    /// What the district must still do to match the ledger.
    static func pendingTransitions(commitment: CityLedger.Commitment, state: ApplicationState) -> [Transition] {
        switch (commitment.state, state) {
        case ("live", .recommended), ("disbursed", .recommended): [.approve]
        case ("disbursed", .publicized): [.disburse]
        case ("released", .recommended), ("clawback", .recommended):
            // Approved and revoked in the ledger before the district heard of either.
            [.approve, .revoke]
        case ("released", let s) where s.holdsCommitment: [.revoke]
        case ("clawback", let s) where s.holdsCommitment: [.revoke]
        default: []
        }
    }
}

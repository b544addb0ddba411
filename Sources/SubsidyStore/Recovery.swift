import SubsidyCore

/// Reconciles the district stores with the ledger at start-up, before any call is served.
///
/// The commit protocol writes the ledger first and the district second, so a crash between the
/// two leaves the ledger ahead. Recovery rolls each district forward to what the ledger says;
/// the ledger is never rolled back. Anything the protocol cannot produce is reported, not fixed.
public enum Recovery {
    public struct Report: Sendable {
        /// "nanhai-000012 approve", one per repaired application (with `apply: false`, one per
        /// application recovery would repair).
        public var rolledForward: [String] = []
        /// States the commit protocol cannot produce (e.g. an approved application without a
        /// live commitment, a ledger behind what a district saw). The daemon refuses to serve
        /// while there is any.
        public var inconsistencies: [Inconsistency] = []
    }

    /// One disagreement between the ledger and a district store, with the file it was found in.
    public struct Inconsistency: Sendable, Equatable, CustomStringConvertible {
        /// The file that disagrees (a district store, or the ledger).
        public var file: String
        /// The application concerned, or nil for the ledger position as a whole.
        public var applicationID: String?
        public var problem: String
        /// True when the ledger is behind, rewritten or replaced relative to what a district saw:
        /// only restoring a newer ledger (or accepting this one deliberately) resolves it.
        public var isLedgerPosition: Bool

        public var description: String { "\(file): " + (applicationID.map { "\($0): " } ?? "") + problem }
    }

    public static let actor = Actor(tenant: "recovery", uid: 0)

    /// Checks every district against the ledger and, with `apply`, rolls districts forward to the
    /// ledger. Nothing is rolled forward when a district has seen a later (or another) ledger
    /// than this one: an older ledger must not drive the districts.
    public static func reconcile(ledger: CityLedger, districts: [DistrictID: DistrictStore], apply: Bool = true) async throws -> Report {
        var report = Report()
        let current = try await ledger.position()
        let ordered = districts.sorted(by: { $0.key.rawValue < $1.key.rawValue })
        let heads = try await ledger.districtHeads()
        // A district that saw this ledger vouches for it: then one that saw another ledger is the
        // file out of place (another installation's), not the ledger.
        var seen: [DistrictID: LedgerPosition] = [:]
        for (district, store) in ordered { seen[district] = try await store.seenLedgerPosition() }
        let vouched = seen.values.contains { $0.identity == current.identity }
        for (district, store) in ordered {
            let foreign = seen[district].map { $0.identity != current.identity && vouched } ?? false
            if foreign, let seen = seen[district] {
                report.inconsistencies.append(
                    Inconsistency(
                        file: store.database.path, applicationID: nil,
                        problem: "has seen ledger \(seen.identity), but \(ledger.database.path) is ledger \(current.identity), the one the other district files "
                            + "saw: this district file is another installation's (or another data directory's); put back this district's file "
                            + "from this installation's backup. Accepting the ledger would adopt the wrong district's data",
                        isLedgerPosition: false))
            } else if let seen = seen[district], let problem = try await positionProblem(ledger: ledger, current: current, seen: seen, file: store.database.path) {
                report.inconsistencies.append(problem)
            }
            // Another installation's file lacks this one's rows too; it has been said what it is.
            if !foreign, let head = heads[district.rawValue], let lack = try await Self.lack(head, store) {
                // "Not this file" only against a ledger a district vouches for: a ledger from
                // elsewhere recorded its own districts' rows, which every file here lacks.
                let problem = switch vouched ? lack : .older {
                case .older:
                    "lacks its audit row \(head.sequence) (hash \(head.hash.prefix(16))…), which the ledger \(ledger.database.path) recorded of it: "
                        + "the file is older than the rest (put back alone from an older copy?) and lost the decisions since; restore the whole "
                        + "backup, all six files; only to accept the loss, `subsidyd --repair --accept-ledger`"
                case .other:
                    "is not the file the ledger \(ledger.database.path) recorded: its audit row \(head.sequence) differs from the one recorded of it "
                        + "(hash \(head.hash.prefix(16))…), so it is another installation's file (or was rewritten), not an older copy of this one; "
                        + "put back this district's file from this installation's backup (with the others, if they are as old)"
                }
                report.inconsistencies.append(Inconsistency(file: store.database.path, applicationID: nil, problem: problem, isLedgerPosition: false))
            }
        }
        let applying = apply && report.inconsistencies.isEmpty
        for (district, store) in ordered {
            let commitments = try await ledger.commitments(district: district.rawValue)
            var committedIDs = Set<String>()
            for commitment in commitments {
                committedIDs.insert(commitment.applicationID)
                try await reconcile(commitment, ledger: ledger, store: store, apply: applying, into: &report)
            }
            for (id, state) in try await store.decidedStates().sorted(by: { $0.key < $1.key }) where state.holdsCommitment && !committedIDs.contains(id) {
                report.inconsistencies.append(
                    Inconsistency(
                        file: store.database.path, applicationID: id,
                        problem: "is \(state) but the ledger \(ledger.database.path) holds no commitment for it", isLedgerPosition: false
                    )
                )
            }
        }
        return report
    }

    /// Whether `seen`, the ledger position the district `file` has seen, is one that `current`
    /// does not continue.
    static func positionProblem(ledger: CityLedger, current: LedgerPosition, seen: LedgerPosition, file: String) async throws -> Inconsistency? {
        let problem: String
        if seen.identity != current.identity {
            problem = "has seen ledger \(seen.identity), but \(ledger.database.path) is ledger \(current.identity): a different ledger file was put in place"
        } else if seen.sequence > current.sequence {
            problem = "has seen the ledger at audit row \(seen.sequence), but \(ledger.database.path) ends at row \(current.sequence): "
                + "the ledger was rolled back (restored from an older copy?)"
        } else if try await ledger.auditHash(at: seen.sequence) != seen.hash {
            problem = "has seen the ledger's audit row \(seen.sequence) with hash \(seen.hash.prefix(16))…, but that row of \(ledger.database.path) "
                + "differs: the ledger was rewritten or replaced"
        } else {
            return nil
        }
        return Inconsistency(file: file, applicationID: nil, problem: problem, isLedgerPosition: true)
    }

    /// Records the ledger's current position in every district, audited there: the operator's
    /// explicit acceptance of a ledger restored on purpose (`subsidyd --repair --accept-ledger`).
    /// Returns one line per district.
    public static func acceptLedger(ledger: CityLedger, districts: [DistrictID: DistrictStore], by actor: Actor) async throws -> [String] {
        let current = try await ledger.position()
        var lines: [String] = []
        for (_, store) in districts.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let seen = try await store.seenLedgerPosition()
            try await store.acceptLedgerPosition(current, by: actor, at: Timestamp.now())
            lines.append("\(store.database.path): now records \(current) (was \(seen.map(\.description) ?? "none"))")
        }
        // And the districts as they are: a file put back alone from an older copy is accepted
        // with what it lacks, and the ledger's audit chain says which, what it lacked, and who.
        let recorded = try await ledger.districtHeads()
        var accepted: [DistrictID: (sequence: Int64, hash: String)] = [:]
        for (district, store) in districts.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            guard let noted = recorded[district.rawValue], try await lacks(noted, store) else { continue }
            accepted[district] = noted
            let head = try await store.auditHead()
            lines.append(
                "\(store.database.path): accepted as it is, at its audit row \(head.sequence); the ledger had recorded row \(noted.sequence) of it (what was decided since is lost)")
        }
        try await ledger.recordDistrictHeads(districtHeads(districts), accepting: true, at: Timestamp.now(), accepted: accepted, by: actor)
        lines.append("\(ledger.database.path): now records every district file's audit head as it is")
        return lines
    }

    /// Whether `store` is older than (or other than) the file whose audit head the ledger
    /// recorded: its own head is before the recorded one, or its row there is another. A row
    /// missing under a head at or past it is a broken chain, which the chain's verification
    /// reports (the daemon serves with one, as documented), not an older file.
    static func lacks(_ recorded: (sequence: Int64, hash: String), _ store: DistrictStore) async throws -> Bool {
        try await lack(recorded, store) != nil
    }

    /// How a district file lacks the audit head the ledger recorded of it (``lacks(_:_:)``).
    enum Lack {
        /// Its chain ends before the recorded row: an older copy (or a shorter foreign file).
        case older
        /// It holds the recorded row's position with another row: not this file at all.
        case other
    }

    /// ``lacks(_:_:)``, saying how; nil when it does not.
    static func lack(_ recorded: (sequence: Int64, hash: String), _ store: DistrictStore) async throws -> Lack? {
        let head = try await store.auditHead()
        if head.sequence < recorded.sequence { return .older }
        if head.sequence == recorded.sequence { return head.hash != recorded.hash ? .other : nil }
        guard let hash = try await store.auditHash(at: recorded.sequence) else { return nil }
        return hash != recorded.hash ? .other : nil
    }

    /// Records every district file's audit head in the ledger (``CityLedger/districtHeads()``):
    /// at start-up once the files agree, while serving (``SubsidyStores/districtHeadInterval``)
    /// and at a clean stop.
    public static func recordDistrictHeads(ledger: CityLedger, districts: [DistrictID: DistrictStore], accepting: Bool = false) async throws {
        try await ledger.recordDistrictHeads(districtHeads(districts), accepting: accepting, at: Timestamp.now())
    }

    /// Each district file's audit head, in district order.
    static func districtHeads(_ districts: [DistrictID: DistrictStore]) async throws -> [(district: DistrictID, sequence: Int64, hash: String)] {
        var heads: [(district: DistrictID, sequence: Int64, hash: String)] = []
        for (district, store) in districts.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let head = try await store.auditHead()
            heads.append((district, head.sequence, head.hash))
        }
        return heads
    }

    /// Brings one application in line with its commitment (if any). Decisions call this under the
    /// decision lock, so a district step that failed without a crash is completed before anything
    /// else touches the application — not left until the next start.
    public static func reconcile(applicationID: String, ledger: CityLedger, store: DistrictStore) async throws -> Report {
        var report = Report()
        let commitment = try await ledger.database.read { try ledger.commitment(for: applicationID, in: $0) }
        if let commitment { try await reconcile(commitment, ledger: ledger, store: store, apply: true, into: &report) }
        return report
    }

    private static func reconcile(
        _ commitment: CityLedger.Commitment, ledger: CityLedger, store: DistrictStore, apply: Bool, into report: inout Report
    ) async throws {
        guard let application = try await store.application(commitment.applicationID) else {
            report.inconsistencies.append(
                Inconsistency(
                    file: ledger.database.path, applicationID: commitment.applicationID,
                    problem: "the ledger holds a \(commitment.state) commitment, but \(store.database.path) has no such application",
                    isLedgerPosition: false
                )
            )
            return
        }
        let pending = pendingTransitions(commitment: commitment, state: application.state)
        // The application the ledger committed for, not another that took its id since: a
        // district file put back from before the decision hands its ids out again, and rolling
        // forward would then award one enterprise's amount, charged to its caps, to another.
        if commitment.state.isInForce || !pending.isEmpty, let differences = Self.differences(commitment, application) {
            report.inconsistencies.append(
                Inconsistency(
                    file: store.database.path, applicationID: commitment.applicationID,
                    problem: "is not the application the ledger \(ledger.database.path) committed \(commitment.amountFen) fen for (\(differences)); "
                        + "its id was handed out again — was the district file restored from before that decision?",
                    isLedgerPosition: false
                )
            )
            return
        }
        if pending.isEmpty, commitment.state.isInForce, !application.state.holdsCommitment {
            report.inconsistencies.append(
                Inconsistency(
                    file: store.database.path, applicationID: commitment.applicationID,
                    problem: "is \(application.state) but the ledger \(ledger.database.path) holds a \(commitment.state) commitment of \(commitment.amountFen) fen",
                    isLedgerPosition: false
                )
            )
        }
        // A clawback's recovery the ledger recorded, whose district step was lost: the record
        // still lacks its `recover` entry (read only for such a record, which is rare) — also
        // when the revocation itself is rolled forward first, just below.
        var recovery: CityLedger.Recovery?
        let revoked = pending.isEmpty ? application.state == .revoked : pending.last == .revoke
        if commitment.state == .released, revoked, application.wasPaid || pending.contains(.disburse), application.recovery == nil {
            recovery = try await ledger.database.read { try ledger.recovery(for: commitment.applicationID, in: $0) }
        }
        guard apply else {
            report.rolledForward += pending.map { "\(commitment.applicationID) \($0)" } + (recovery == nil ? [] : ["\(commitment.applicationID) recover"])
            return
        }
        // Completing a ledger-first step is seeing the ledger where it now stands.
        let position = pending.isEmpty && recovery == nil ? nil : try await ledger.position()
        for transition in pending {
            let approving = transition == .approve
            let request = RequestKey(id: approving ? commitment.requestID : commitment.releaseRequestID, fingerprint: "recovery")
            // The decision is its author's: the ledger kept who made it and why.
            let (author, reason) = completion(
                by: approving ? commitment.actor : commitment.releaseActor, approving ? commitment.reason : commitment.releaseReason)
            try await store.database.write { transaction in
                let now = Timestamp.now()
                _ = try store.apply(
                    transition, to: commitment.applicationID, actor: author, role: .city, reason: reason,
                    request: request, at: now, in: transaction
                ) { record in
                    if transition == .approve {
                        record.awardedFen = commitment.amountFen
                        record.decisionDate = commitment.decisionDate
                        record.decisionDocument = commitment.decisionDocument
                    }
                }
                if let position { try store.recordLedgerPosition(position, at: now, in: transaction) }
            }
            report.rolledForward.append("\(commitment.applicationID) \(transition)")
        }
        // After the revocation it follows, if that was rolled forward too.
        if let recovery, let position {
            let (author, reason) = completion(by: recovery.actor, recovery.reason)
            try await store.database.write { transaction in
                let now = Timestamp.now()
                _ = try store.recordRecovery(
                    commitment.applicationID, actor: author, reason: reason,
                    request: RequestKey(id: recovery.requestID, fingerprint: "recovery"),
                    decision: DecisionNote(date: recovery.recoveredOn, document: recovery.document), at: now, in: transaction)
                try store.recordLedgerPosition(position, at: now, in: transaction)
            }
            report.rolledForward.append("\(commitment.applicationID) recover")
        }
    }

    /// Who a step completed from the ledger is recorded as made by, and why: its author, as the
    /// ledger kept them (``actor`` when it kept none), and the reason said to be completed.
    private static func completion(by author: Actor, _ reason: String) -> (Actor, String) {
        (author.tenant.isEmpty ? actor : author, reason.isEmpty ? "completed from the city ledger" : reason + " (completed from the city ledger)")
    }

    /// How `application` differs from what `commitment` was made for (district, enterprise,
    /// measure, funding year), or nil when it is the same. None of them changes once an
    /// application holds a commitment: only a RETURNED one is amended.
    static func differences(_ commitment: CityLedger.Commitment, _ application: StoredApplication) -> String? {
        let pairs = [
            ("district", commitment.district, application.district.rawValue), ("enterprise", commitment.enterprise, application.enterprise),
            ("measure", commitment.measure, application.measure.rawValue), ("funding year", String(commitment.fundingYear), String(application.fundingYear)),
        ]
        let differing = pairs.filter { $0.1 != $0.2 }.map { "\($0.0) \($0.1) in the ledger, \($0.2) here" }
        return differing.isEmpty ? nil : differing.joined(separator: ", ")
    }

    /// What the district must still do to match the ledger.
    static func pendingTransitions(commitment: CityLedger.Commitment, state: ApplicationState) -> [Transition] {
        switch (commitment.state, state) {
        case (.live, .recommended), (.disbursed, .recommended): [.approve]
        case (.disbursed, .publicized): [.disburse]
        case (.released, .recommended), (.clawback, .recommended):
            // Approved and revoked in the ledger before the district heard of either.
            [.approve, .revoke]
        case (.released, let s) where s.holdsCommitment: [.revoke]
        case (.clawback, let s) where s.holdsCommitment: [.revoke]
        default: []
        }
    }
}

import SubsidyCore

/// An application as its district store keeps it: the core application as filed, and the columns
/// beside it that exist for filtering and rules.
public struct StoredApplication: Sendable, Equatable {
    public var id: String
    public var district: DistrictID
    public var measure: Measure
    public var fundingYear: Int
    public var enterprise: String
    public var state: ApplicationState
    public var application: Application
    public var awardedFen: Int64
    /// Why the award is what it is: kept once, with the commitment in the city ledger, and
    /// attached to a record by ``SubsidyStores`` (``SubsidyStores/record(_:in:)``); nil in a
    /// record read from the district file alone.
    public var explanation: StoredExplanation?
    public var decisionDate: String
    public var decisionDocument: String
    public var publicizedOn: String
    public var createdAt: String
    public var updatedAt: String
    public var history: [TransitionEntry]
    /// ``Application/contentFingerprint`` of the content, for duplicate checks across districts.
    public var contentKey: String = ""
    /// The applicant's project key, where it is a second key (``Application/contentKeys``).
    public var projectKey: String = ""
    /// The enterprise's registered name in this district ("" if it is not registered), read with
    /// the record so the city's lists and exports can name it.
    public var enterpriseName: String = ""
    /// The last day (inclusive) of the 公示 that began on ``publicizedOn``.
    public var publicityLastDay: String = ""
    /// The day of payment, once disbursed.
    public var disbursedOn: String = ""
    /// The call for applications (申报批次) it was filed under, if its measure runs calls.
    public var callID: String = ""
    /// Why it was filed outside an open call, when it was on purpose.
    public var lateReason: String = ""
    /// The day in Foshan (YYYY-MM-DD) its content as it now stands was filed: the submission's,
    /// or the last amendment's. No decision on it may be dated before it
    /// (``requireDecidable(on:_:)``).
    public var filedOn: String = ""
    /// The day in Foshan (YYYY-MM-DD) the 初审 last recommended it ("" if it never did): the
    /// decision that follows may not be dated before it (``requireDecidable(on:_:)``).
    public var recommendedOn: String = ""

    /// Refuses a decision (`what`, e.g. "approval") dated `date` before the application it
    /// decides was filed, or before the district recommended it: a decision cannot answer content
    /// the bureau had not yet received, nor a 复核 come before the 初审 it rests on — a 2020
    /// application first recommended in 2024 cannot be approved under a date of 2023.
    public func requireDecidable(on date: CalendarDate, _ what: String) throws(SubsidyError) {
        if let filed = try? CalendarDate(parsing: filedOn), date < filed {
            throw SubsidyError.invalidField("request.decision_date", "\(what) of \(id) on \(date) is before it was filed on \(filed)")
        }
        if let recommended = try? CalendarDate(parsing: recommendedOn), date < recommended {
            throw SubsidyError.invalidField(
                "request.decision_date", "\(what) of \(id) on \(date) is before the district recommended it (初审) on \(recommended)")
        }
    }

    /// The recording of this award's recovery (a clawback's money back), if there is one.
    public var recovery: TransitionEntry? { history.last { $0.action == .recover } }

    /// Whether the award was paid: its payment day, or — for a payment recorded before the
    /// record kept that day (district migration 6) — its history's `disburse`.
    public var wasPaid: Bool { !disbursedOn.isEmpty || history.contains { $0.action == .transition(.disburse) } }

    /// Refuses to record a recovery on `date` unless the award was revoked after payment (a
    /// clawback), its recovery is not recorded yet, and `date` is not before the revocation
    /// (its date, else the payment's).
    public func requireRecoverable(on date: CalendarDate) throws(SubsidyError) {
        guard state == .revoked else {
            throw SubsidyError.precondition(
                "state", "cannot record the recovery of \(id), which is \(state.rawValue): only an award revoked after payment (a clawback) has money to recover")
        }
        guard wasPaid else {
            throw SubsidyError.precondition("state", "\(id) was revoked before payment: its commitment was released then, and no money was paid to recover")
        }
        if let recovery {
            throw SubsidyError.precondition(
                "recovery", "the recovery of \(id) was recorded already, on \(recovery.decisionDate); it is no longer counted against any cap")
        }
        let revoked = history.last { $0.action == .transition(.revoke) }?.decisionDate ?? ""
        let (step, day) = revoked.isEmpty ? ("payment", disbursedOn) : ("revocation", revoked)
        if let earliest = try? CalendarDate(parsing: day), date < earliest {
            throw SubsidyError.invalidField("request.decision_date", "recovery on \(date) is before the \(step) of \(id) on \(earliest)")
        }
    }

    /// Refuses a revocation dated `date` before the award's last step: its approval, its 公示 or
    /// its payment. A clawback dated before the payment it claws back would make the record say
    /// the money was revoked while it was still to be paid.
    public func requireRevocable(on date: CalendarDate) throws(SubsidyError) {
        let steps = [("approval", decisionDate), ("publicity", publicizedOn), ("disbursement", disbursedOn)]
            .compactMap { step, day in (try? CalendarDate(parsing: day)).map { (step, $0) } }
        guard let (step, day) = steps.max(by: { $0.1 < $1.1 }), date < day else { return }
        throw SubsidyError.invalidField("request.decision_date", "revocation on \(date) is before the \(step) of \(id) on \(day)")
    }
}

/// What a city decision names besides its reason: the date it takes effect and its document
/// number (文号). Kept in the history entry of the change it makes.
public struct DecisionNote: Sendable, Equatable {
    public var date: String
    public var document: String
    public init(date: String = "", document: String = "") {
        self.date = date
        self.document = document
    }
    public static let none = DecisionNote()
}

/// What one district's file holds of some content keys (``DistrictStore/content(_:excluding:)``).
public struct HeldContent: Sendable, Equatable {
    /// Live awards of the district's own programmes.
    public var funded: [FundedContent]
    /// Applications still waiting for a decision.
    public var pending: [PendingContent]
    public init(funded: [FundedContent], pending: [PendingContent]) {
        self.funded = funded
        self.pending = pending
    }
}

/// Another application pending with the same content (for a clerk's warning).
public struct PendingContent: Sendable, Equatable {
    public var applicationID: String
    public var measure: Measure
    public var state: ApplicationState
    /// The content key the two share.
    public var key: String
    public init(applicationID: String, measure: Measure, state: ApplicationState, key: String) {
        self.applicationID = applicationID
        self.measure = measure
        self.state = state
        self.key = key
    }
}

/// What a history entry records: the filing, or a move along the lifecycle.
public enum HistoryAction: RawRepresentable, Sendable, Equatable, CustomStringConvertible {
    case submit
    case transition(Transition)
    /// A clawback's money came back (REVOKED → REVOKED): not a move in the lifecycle, whose
    /// REVOKED stays final, but a decision on the award the record keeps with the others.
    case recover

    /// The stored (and wire) spelling: `submit`, `recover`, or the transition's name (`approve`, …).
    public var rawValue: String {
        switch self {
        case .submit: "submit"
        case .recover: "recover"
        case .transition(let transition): transition.rawValue
        }
    }

    public init?(rawValue: String) {
        if rawValue == "submit" {
            self = .submit
        } else if rawValue == "recover" {
            self = .recover
        } else if let transition = Transition(rawValue: rawValue) {
            self = .transition(transition)
        } else {
            return nil
        }
    }

    public var description: String { rawValue }
}

/// One recorded state change.
public struct TransitionEntry: Sendable, Equatable {
    public var from: ApplicationState?
    public var to: ApplicationState
    public var action: HistoryAction
    public var tenant: String
    public var actorUID: UInt32
    public var at: String
    public var reason: String
    public var requestID: String
    /// The decision's date and document number, for the city's decisions that carry them.
    public var decisionDate: String = ""
    public var decisionDocument: String = ""
    /// For an amendment, the fields it changed.
    public var changes: [FieldChange] = []
}

/// One field of an application an amendment changed, named as in the protocol's JSON.
public struct FieldChange: Sendable, Equatable, Codable {
    public var field: String
    public var before: String
    public var after: String
    public init(field: String, before: String, after: String) {
        self.field = field
        self.before = before
        self.after = after
    }
}

/// A registered applicant (enterprise, provider, platform or institution).
public struct ApplicantRecord: Sendable, Equatable {
    public var uscc: String
    public var name: String
    public var district: DistrictID
    public var locality: Locality
    public var role: ApplicantRole
    public init(uscc: String, name: String, district: DistrictID, locality: Locality, role: ApplicantRole) {
        self.uscc = uscc
        self.name = name
        self.district = district
        self.locality = locality
        self.role = role
    }
}

/// Filters for listing applications; nil matches everything. Order is by id.
public struct ApplicationFilter: Sendable {
    public var measure: Measure?
    public var state: ApplicationState?
    public var fundingYear: Int?
    public var enterprise: String?
    /// Text the enterprise's name or USCC, or the canonical contract number or project name,
    /// contains.
    public var text: String?
    /// How many applications after the page token one district looks at for a ``text`` search
    /// in one call (see ``DistrictStore/applicationIDs(_:afterID:limit:)``); the daemon's
    /// `[limits] search_scan_rows`. A search's page may then hold fewer matches than asked for,
    /// even none, with a token to go on from, as a page cut by its byte budget does.
    public var textScanRows = Self.defaultTextScanRows

    /// ``textScanRows`` unless the daemon's configuration says otherwise: ~30 ms of a core.
    public static let defaultTextScanRows = 10_000
    public init(measure: Measure? = nil, state: ApplicationState? = nil, fundingYear: Int? = nil, enterprise: String? = nil, text: String? = nil) {
        self.measure = measure
        self.state = state
        self.fundingYear = fundingYear
        self.enterprise = enterprise
        self.text = text
    }
}

/// One district's candidates for a page of applications.
public struct ApplicationIDs: Sendable, Equatable {
    /// Matching ids in id order, at most the limit asked for.
    public var ids: [String]
    /// Set when a text search stopped at its scan bound before finding the limit: the last id it
    /// looked at. Applications after it were not looked at, so a page must end there.
    public var scannedThrough: String?

    public init(ids: [String], scannedThrough: String? = nil) {
        self.ids = ids
        self.scannedThrough = scannedThrough
    }
}

/// One recorded change of a registry entry (更名, role).
public struct ApplicantChange: Sendable, Equatable {
    public var at: String
    public var field: String
    public var before: String
    public var after: String
    public var tenant: String
    public var actorUID: UInt32
    public var reason: String
}

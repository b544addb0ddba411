import SubsidyCore

extension Foshan_Subsidy_V1_Status {
    /// The wire form of a ``SubsidyError``; the one place domain errors become statuses.
    ///
    /// Messages quote what the caller sent (`'…' is not a valid 统一社会信用代码`, an unknown
    /// application id, a method name), and a request may be megabytes long: every text is cut to
    /// ``maximumText`` bytes and at most ``maximumDetails`` details are kept, so an error always
    /// fits a frame and says what it is about rather than turning into RESOURCE_EXHAUSTED.
    public init(_ error: SubsidyError) {
        self.init()
        code = Foshan_Subsidy_V1_StatusCode(rawValue: error.code.rawValue)
        message = Self.bounded(error.message)
        for detail in error.details.prefix(Self.maximumDetails) {
            switch detail {
            case let .field(path, problem):
                var v = Foshan_Subsidy_V1_FieldViolation()
                v.field = Self.bounded(path)
                v.description = Self.bounded(problem)
                fieldViolations.append(v)
            case let .capExhausted(capID, scope, limit, committed, requested):
                var v = Foshan_Subsidy_V1_CapViolation()
                v.capId = Self.bounded(capID)
                v.scope = Self.bounded(scope)
                v.limit = limit
                v.committed = committed
                v.requested = requested
                capViolations.append(v)
            case let .precondition(subject, problem):
                var v = Foshan_Subsidy_V1_PreconditionFailure()
                v.subject = Self.bounded(subject)
                v.description = Self.bounded(problem)
                preconditionFailures.append(v)
            }
        }
    }

    /// The most bytes of UTF-8 any one text of a status carries.
    public static let maximumText = 4_096
    /// The most details (field violations, cap violations, precondition failures) a status carries.
    public static let maximumDetails = 100

    /// `text`, or its first bytes up to ``maximumText`` (cut between characters' scalars) and how
    /// many were left out.
    static func bounded(_ text: String) -> String {
        InputLimits.shown(text, maximumBytes: maximumText)
    }

    /// An OK status.
    public static var ok: Foshan_Subsidy_V1_Status { Foshan_Subsidy_V1_Status() }
}

extension SubsidyError {
    /// The error a non-OK wire status describes.
    public init(_ status: Foshan_Subsidy_V1_Status) {
        var details: [Detail] = []
        details += status.fieldViolations.map { .field(path: $0.field, problem: $0.description) }
        details += status.capViolations.map {
            .capExhausted(capID: $0.capId, scope: $0.scope, limitFen: $0.limit, committedFen: $0.committed, requestedFen: $0.requested)
        }
        details += status.preconditionFailures.map { .precondition(subject: $0.subject, problem: $0.description) }
        self.init(Code(rawValue: status.code.rawValue), status.message, details: details)
    }
}

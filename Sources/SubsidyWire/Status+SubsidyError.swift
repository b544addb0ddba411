import SubsidyCore

extension Foshan_Subsidy_V1_Status {
    /// The wire form of a ``SubsidyError``; the one place domain errors become statuses.
    public init(_ error: SubsidyError) {
        self.init()
        code = Foshan_Subsidy_V1_StatusCode(rawValue: error.code.rawValue)
        message = error.message
        for detail in error.details {
            switch detail {
            case let .field(path, problem):
                var v = Foshan_Subsidy_V1_FieldViolation()
                v.field = path
                v.description = problem
                fieldViolations.append(v)
            case let .capExhausted(capID, scope, limit, committed, requested):
                var v = Foshan_Subsidy_V1_CapViolation()
                v.capId = capID
                v.scope = scope
                v.limit = limit
                v.committed = committed
                v.requested = requested
                capViolations.append(v)
            case let .precondition(subject, problem):
                var v = Foshan_Subsidy_V1_PreconditionFailure()
                v.subject = subject
                v.description = problem
                preconditionFailures.append(v)
            }
        }
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

import SubsidyCore

/// Calls for applications (申报批次), kept in the city ledger for every programme: once a
/// programme's measure has a call, its applications are filed inside an open one — or late, on
/// purpose, with a reason.
extension CityLedger {
    /// One call as stored.
    public struct Call: Sendable, Equatable {
        public var id: String
        public var programme: String
        public var measure: Measure
        public var fundingYear: Int
        public var opensOn: CalendarDate
        public var closesOn: CalendarDate
        /// The day it was closed early ("" if it was not).
        public var closedOn: String
        public var title: String
        public var tenant: String

        /// The last day filing is open: the earlier of its closing day and the day it was closed.
        public var lastDay: CalendarDate {
            (try? CalendarDate(parsing: closedOn)).map { min($0, closesOn) } ?? closesOn
        }

        /// `scheduled`, `open` or `closed` on `date`.
        public func state(on date: CalendarDate) -> String {
            if date < opensOn { return "scheduled" }
            return date <= lastDay ? "open" : "closed"
        }
    }

    /// Opens a call (idempotent by request id); its id numbers the calls of its programme,
    /// measure and year. Windows of one measure and year may not overlap.
    func openCall(
        programme: String, measure: Measure, fundingYear: Int, opensOn: CalendarDate, closesOn: CalendarDate, title: String,
        request key: RequestKey, actor: Actor, respond: @escaping @Sendable (Call) throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await mutate(key) { transaction, now in
            let existing = try Self.calls(programme: programme, measure: measure, fundingYear: fundingYear, in: transaction)
            guard existing.count < InputLimits.callsPerMeasureYear else {
                throw SubsidyError.precondition(
                    "call",
                    "\(measure) of \(programme) already has \(existing.count) calls for funding year \(fundingYear), "
                        + "the most one measure and year may have (\(InputLimits.callsPerMeasureYear))")
            }
            if let overlap = existing.first(where: { $0.opensOn <= closesOn && opensOn <= $0.lastDay }) {
                throw SubsidyError.precondition(
                    "call", "call \(overlap.id) (\(overlap.opensOn)..\(overlap.lastDay)) already covers part of \(opensOn)..\(closesOn)")
            }
            let id = "\(programme)/\(measure.rawValue)/\(fundingYear)/\(existing.count + 1)"
            try transaction.query(
                """
                INSERT INTO calls (id, programme, measure, funding_year, opens_on, closes_on, title, tenant, actor_uid, request_id, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [.text(id), .text(programme), .text(measure.rawValue), .integer(Int64(fundingYear)), .text(opensOn.description),
                 .text(closesOn.description), .text(title), .text(actor.tenant), .integer(Int64(actor.uid)), .text(key.id), .text(now)]
            )
            try AuditChain.append(
                AuditEvent("call_open", [
                    .text("call", id), .text("opens_on", opensOn.description), .text("closes_on", closesOn.description), .text("request", key.id),
                ] + AuditEvent.Field.actor(actor)),
                at: now, in: transaction
            )
            return try respond(try Self.call(id, in: transaction)!)
        }
    }

    /// Closes a call on `date` (not before it opened nor after its last day; a closed call stays
    /// closed).
    func closeCall(
        _ id: String, on date: CalendarDate, request key: RequestKey, actor: Actor, check: @escaping @Sendable (Call) throws -> Void,
        respond: @escaping @Sendable (Call) throws -> [UInt8]
    ) async throws -> [UInt8] {
        try await mutate(key) { transaction, now in
            guard let call = try Self.call(id, in: transaction) else { throw SubsidyError(.notFound, "call \(id) does not exist") }
            try check(call)
            guard call.closedOn.isEmpty else { throw SubsidyError.precondition("call", "call \(id) was closed on \(call.closedOn)") }
            guard date >= call.opensOn else {
                throw SubsidyError.invalidField("request.closed_on", "\(date) is before call \(id) opened on \(call.opensOn)")
            }
            // A later date would change nothing but keep the call from ever being closed early:
            // a typo (2099) must not stand in for the bureau's decision.
            guard date <= call.closesOn else {
                throw SubsidyError.invalidField(
                    "request.closed_on", "\(date) is after call \(id)'s last day \(call.closesOn), when it closes by itself; closing early takes a date up to then")
            }
            try transaction.query("UPDATE calls SET closed_on = ? WHERE id = ?", [.text(date.description), .text(id)])
            try AuditChain.append(
                AuditEvent("call_close", [.text("call", id), .text("closed_on", date.description), .text("request", key.id)] + AuditEvent.Field.actor(actor)),
                at: now, in: transaction
            )
            return try respond(try Self.call(id, in: transaction)!)
        }
    }

    /// Every call of `programme` (nil: of every programme), by programme, measure, funding year
    /// and opening day.
    public func calls(programme: String?) async throws -> [Call] {
        try await database.read { try Self.calls(programme: programme, in: $0) }
    }

    /// The call an application of `measure` and `fundingYear` under `programme` is filed under on
    /// `date`: `.open(call)` inside one, `.closed(latest)` outside every one of a measure that
    /// runs calls (latest: the last of the year that has opened by `date`, which a late filing
    /// is counted under; none if none has), `.none` when the measure has no call at all (it does
    /// not run calls).
    public func filing(programme: String, measure: Measure, fundingYear: Int, on date: CalendarDate) async throws -> Filing {
        let calls = try await database.lookup { try Self.calls(programme: programme, measure: measure, in: $0) }
        guard !calls.isEmpty else { return .none }
        let year = calls.filter { $0.fundingYear == fundingYear }
        if let open = year.first(where: { $0.state(on: date) == "open" }) { return .open(open) }
        return .closed(year.last { $0.opensOn <= date }, every: calls)
    }

    /// Where a submission stands against its measure's calls.
    public enum Filing: Sendable {
        case none
        case open(Call)
        case closed(Call?, every: [Call])
    }

    private static func call(_ id: String, in transaction: Transaction) throws -> Call? {
        try transaction.query("SELECT * FROM calls WHERE id = ?", [.text(id)]).first.map(call(row:))
    }

    /// The calls of one measure of `programme` (of one funding year, if given), in the order they
    /// open (ids sort as text, so `…/10` would come before `…/9`), through the `calls_measure`
    /// index: at most ``InputLimits/callsPerMeasureYear`` a year.
    private static func calls(programme: String, measure: Measure, fundingYear: Int? = nil, in transaction: Transaction) throws -> [Call] {
        let rows = try fundingYear.map {
            try transaction.query(
                "SELECT * FROM calls WHERE programme = ? AND measure = ? AND funding_year = ? ORDER BY opens_on, rowid",
                [.text(programme), .text(measure.rawValue), .integer(Int64($0))])
        } ?? transaction.query("SELECT * FROM calls WHERE programme = ? AND measure = ? ORDER BY funding_year, opens_on, rowid", [.text(programme), .text(measure.rawValue)])
        return try rows.map(call(row:))
    }

    private static func calls(programme: String?, in transaction: Transaction) throws -> [Call] {
        // By programme, measure, year and opening, as a clerk reads them (by id, …/10 came before …/2).
        let rows = try programme.map {
            try transaction.query("SELECT * FROM calls WHERE programme = ? ORDER BY measure, funding_year, opens_on, rowid", [.text($0)])
        } ?? transaction.query("SELECT * FROM calls ORDER BY programme, measure, funding_year, opens_on, rowid")
        return try rows.map(call(row:))
    }

    private static func call(row: SQLiteRow) throws -> Call {
        func date(_ name: String) throws -> CalendarDate {
            do { return try CalendarDate(parsing: try row.text(name)) } catch { throw SQLiteError.damaged("column \(name) holds no date") }
        }
        return Call(
            id: try row.text("id"), programme: try row.text("programme"), measure: try row.decode(Measure.self, "measure"),
            fundingYear: Int(try row.int("funding_year")), opensOn: try date("opens_on"), closesOn: try date("closes_on"),
            closedOn: try row.text("closed_on"), title: try row.text("title"), tenant: try row.text("tenant"))
    }
}

import SubsidyCore
import SubsidyStore
import SubsidyWire

/// `foshan.subsidy.v1.Calls`: calls for applications (申报批次). The city opens and closes the
/// calls of its programmes, a district those of its own; every tenant lists the calls of the
/// programmes it sees, counted over the applications it may see (a district: its own).
struct CallsService: Foshan_Subsidy_V1_Calls.ServiceProtocol {
    let programmes: Programmes
    let stores: SubsidyStores

    func openCall(_ request: Foshan_Subsidy_V1_OpenCallRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_OpenCallResponse {
        let key = try requestKey(request.requestId, context: context, request)
        let programme = try Self.decidedBy(tenant: context.tenant, programme: request.programme, programmes: programmes, field: "request.programme")
        guard let measure = Measure(wire: request.measure), programme.rules[measure] != nil else {
            throw .invalidField(
                "request.measure",
                "one of \(programme.name)'s measures: \(Measure.allCases.filter { programme.rules[$0] != nil }.map(\.rawValue).joined(separator: ", "))")
        }
        let year = try programme.fundingYear(Int(request.fundingYear)).year
        let opens = try parseDate(request.opensOn, field: "request.opens_on")
        let closes = try parseDate(request.closesOn, field: "request.closes_on")
        try InputLimits.check(opens, field: "request.opens_on")
        try InputLimits.check(closes, field: "request.closes_on")
        guard opens <= closes else { throw .invalidField("request.closes_on", "\(closes) is before opens_on \(opens)") }
        // A call outside its programme's window would invite filings the programme refuses.
        guard programme.validFrom <= opens else {
            throw .invalidField("request.opens_on", "\(opens) is before programme \(programme.name) is in force (\(programme.validityText))")
        }
        guard closes <= programme.validThrough else {
            throw .invalidField("request.closes_on", "\(closes) is after programme \(programme.name) ends (\(programme.validityText))")
        }
        let title = try InputLimits.oneLine(request.title, InputLimits.projectName, field: "request.title")
        // Read here, in the call's task: the reply is made on the store's thread, where the
        // call's calendar (`Clock.pinned`) is not bound.
        let (stores, today) = (self.stores, Clock.today())
        let bytes = try await StoreCall.run(for: context) {
            try await stores.openCall(
                programme: programme.name, measure: measure, fundingYear: year, opensOn: opens, closesOn: closes, title: title,
                request: key, actor: context.actor
            ) { call in
                var response = Foshan_Subsidy_V1_OpenCallResponse()
                response.call = Foshan_Subsidy_V1_Call(call, today: today)
                return response.serializedBytes()
            }
        }
        return try Foshan_Subsidy_V1_OpenCallResponse(serializedBytes: bytes, path: "stored")
    }

    func closeCall(_ request: Foshan_Subsidy_V1_CloseCallRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_CloseCallResponse {
        let key = try requestKey(request.requestId, context: context, request)
        // A retry first: its date may have passed since (a close sent at 23:59, retried at 00:01).
        if let earlier: Foshan_Subsidy_V1_CloseCallResponse = try await storedReply(key, stores: stores, context: context) { return earlier }
        try InputLimits.check(request.callId, InputLimits.callID, field: "request.call_id")
        let today = Clock.today()
        let date = try parseOptionalDate(request.closedOn, field: "request.closed_on") ?? today
        // Its last open day: yesterday closes it now (filings made earlier today keep the call
        // they were filed inside). An earlier day would leave whole days of filings counted as
        // inside a call that, by its record, had closed before them.
        if let yesterday = CalendarDate(daysSinceEpoch: today.daysSinceEpoch - 1), date < yesterday {
            throw .invalidField(
                "request.closed_on",
                "\(date) has passed: a call closes from now on (its last day at the earliest \(yesterday), yesterday in Foshan, which refuses filings from today)")
        }
        let (stores, programmes, tenant) = (self.stores, self.programmes, context.tenant)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.closeCall(
                request.callId, on: date, request: key, actor: context.actor,
                check: { call in
                    // Another district's call is as absent as one that does not exist: the answer
                    // must not tell a district which of another's ids are taken.
                    guard programmes.visible(to: tenant.district).contains(where: { $0.name == call.programme }) else {
                        throw SubsidyError(.notFound, "call \(call.id) does not exist")
                    }
                    _ = try Self.decidedBy(tenant: tenant, programme: call.programme, programmes: programmes, field: "request.call_id")
                }
            ) { call in
                var response = Foshan_Subsidy_V1_CloseCallResponse()
                response.call = Foshan_Subsidy_V1_Call(call, today: today)
                return response.serializedBytes()
            }
        }
        return try Foshan_Subsidy_V1_CloseCallResponse(serializedBytes: bytes, path: "stored")
    }

    func listCalls(_ request: Foshan_Subsidy_V1_ListCallsRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ListCallsResponse {
        let district = context.tenant.district
        let visible = Set(programmes.visible(to: district).map(\.name))
        if !request.programme.isEmpty && !visible.contains(request.programme) {
            throw Programmes.unknown(request.programme, field: "request.programme", among: visible.sorted())
        }
        // Calls are few (at most 50 per programme, measure and year), so a page is cut from the
        // whole ordered list; 0 asks for the most, as clients written before paging expect all.
        let limit = request.pageSize == 0 ? 500 : try pageSize(request.pageSize)
        let (ledger, stores) = (stores.ledger, self.stores)
        let (all, counts) = try await StoreCall.run(for: context) {
            let calls = try await ledger.calls(programme: request.programme.isEmpty ? nil : request.programme).filter { visible.contains($0.programme) }
            var counts: [String: (states: [ApplicationState: Int64], late: Int64)] = [:]
            for id in district.map({ [$0] }) ?? DistrictID.allCases {
                for (call, entry) in try await stores.store(id).callCounts() {
                    var total = counts[call] ?? ([:], 0)
                    total.states.merge(entry.states, uniquingKeysWith: +)
                    total.late += entry.late
                    counts[call] = total
                }
            }
            return (calls, counts)
        }
        var calls = all[...]
        if !request.pageToken.isEmpty {
            // A call is never removed, so the call a page ended with is always found again.
            guard let last = calls.firstIndex(where: { $0.id == request.pageToken }) else {
                throw .invalidField("request.page_token", "is not a call of this list; start again without one")
            }
            calls = calls[calls.index(after: last)...]
        }
        let today = Clock.today()
        var response = Foshan_Subsidy_V1_ListCallsResponse()
        (response.calls, response.nextPageToken) = try ReplyPage.page(of: Array(calls), limit: limit, budget: context.listPageBytes, key: \.id) { call in
            var wire = Foshan_Subsidy_V1_Call(call, today: today)
            let entry = counts[call.id] ?? ([:], 0)
            var c = Foshan_Subsidy_V1_CallCounts()
            c.received = entry.states.values.reduce(0, +)
            c.returned = entry.states[.returned] ?? 0
            c.rejected = entry.states[.rejected] ?? 0
            c.withdrawn = entry.states[.withdrawn] ?? 0
            c.recommended = [ApplicationState.recommended, .approved, .publicized, .disbursed, .revoked].reduce(0) { $0 + (entry.states[$1] ?? 0) }
            c.late = entry.late
            wire.counts = c
            return wire
        }
        return response
    }

    /// The programme `name`, which `tenant` must decide: the city its programmes, a district its own.
    static func decidedBy(tenant: Tenant, programme name: String, programmes: Programmes, field: String) throws(SubsidyError) -> Policy {
        let visible = programmes.visible(to: tenant.district)
        guard let programme = visible.first(where: { $0.name == name }) else { throw Programmes.unknown(name, field: field, among: visible.map(\.name)) }
        let decides = switch programme.level {
        case .city: tenant.district == nil
        case .district(let district): tenant.district == district
        }
        guard decides else {
            throw SubsidyError(.permissionDenied, "the calls of programme \(programme.name) (level \(programme.level)) are opened and closed by \(programme.level == .city ? "the city" : "that district")")
        }
        return programme
    }
}

extension Foshan_Subsidy_V1_Call {
    init(_ call: CityLedger.Call, today: CalendarDate) {
        self.init()
        id = call.id
        programme = call.programme
        measure = call.measure.wire
        fundingYear = Int32(call.fundingYear)
        opensOn = call.opensOn.description
        closesOn = call.closesOn.description
        closedOn = call.closedOn
        title = call.title
        state = call.state(on: today)
        tenant = call.tenant
    }
}

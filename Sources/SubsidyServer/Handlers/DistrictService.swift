import SubsidyCore
import SubsidyStore
import SubsidyWire

/// The district bureaus' service: applicants, filing and the first review (初审). Every call is
/// scoped to the caller's district, resolved from its socket and credentials.
struct DistrictService: Foshan_Subsidy_V1_DistrictService.ServiceProtocol {
    let programmes: Programmes
    let stores: SubsidyStores
    /// `[relocations]` of the configuration: enterprises another district's area registered.
    var relocations: [String: DistrictID] = [:]

    func registerApplicant(_ request: Foshan_Subsidy_V1_RegisterApplicantRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_RegisterApplicantResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        // A retry first: [relocations] may have changed by a reload since the first call.
        if let earlier: Foshan_Subsidy_V1_RegisterApplicantResponse = try await storedReply(key, stores: stores, context: context) { return earlier }
        guard let applicant = request.applicant else { throw .invalidField("request.applicant", "is required") }
        let uscc = try USCC.parse(applicant.uscc, field: "applicant.uscc")
        let name = try InputLimits.oneLine(applicant.name, InputLimits.name, field: "applicant.name")
        guard !CanonicalText(applicant.name).isEmpty else { throw .invalidField("applicant.name", "is required") }
        guard let locality = Locality(wire: applicant.locality) else {
            throw .invalidField("applicant.locality", "is required: LOCAL, RELOCATED or NON_LOCAL")
        }
        guard let role = ApplicantRole(wire: applicant.role) else {
            throw .invalidField("applicant.role", "is required: INDUSTRIAL_ENTERPRISE, SERVICE_PROVIDER, PLATFORM or INSTITUTION")
        }
        // Positions 3–8 say where the enterprise was registered: outside Foshan (4406xx) it is not
        // local, though it may have relocated here; inside, only its area's district registers it,
        // unless the configuration records it as relocated to another.
        let area = String(uscc.rawValue.dropFirst(2).prefix(6))
        if locality == .local && !area.hasPrefix("4406") {
            throw SubsidyError.precondition(
                "applicant.locality",
                "\(uscc.rawValue) was registered in area \(area), outside Foshan (4406xx): it is RELOCATED or NON_LOCAL, not LOCAL")
        }
        if let relocatedTo = relocations[uscc.rawValue], relocatedTo != district {
            throw SubsidyError.precondition(
                "applicant.uscc",
                "\(uscc.rawValue) has relocated to \(relocatedTo.displayName) (\(relocatedTo.rawValue), [relocations]); only \(relocatedTo.rawValue) may register it")
        }
        if relocations[uscc.rawValue] == nil, let owner = DistrictID(registrationAreaOf: uscc), owner != district {
            throw SubsidyError.precondition(
                "applicant.uscc",
                "\(uscc.rawValue) is registered in \(owner.displayName) (\(owner.rawValue), area \(owner.divisionCode)); "
                    + "only \(owner.rawValue) may register it (a relocated enterprise is listed under [relocations] in the configuration)")
        }
        let record = ApplicantRecord(uscc: uscc.rawValue, name: name, district: district, locality: locality, role: role)
        let stores = self.stores
        let bytes = try await StoreCall.run(for: context) {
            try await stores.registerApplicant(record, request: key, actor: context.actor, relocated: relocations[uscc.rawValue] == district) { record, warnings in
                var response = Foshan_Subsidy_V1_RegisterApplicantResponse()
                response.applicant = Foshan_Subsidy_V1_Applicant(record)
                response.warnings = warnings
                return response.serializedBytes()
            }
        }
        return try Foshan_Subsidy_V1_RegisterApplicantResponse(serializedBytes: bytes, path: "stored")
    }

    func getApplicant(_ request: Foshan_Subsidy_V1_GetApplicantRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_GetApplicantResponse {
        let district = try context.requireDistrict()
        let uscc = try USCC.parse(request.uscc, field: "request.uscc")
        let store = stores.store(district)
        guard let record = try await StoreCall.run(for: context, { try await store.applicant(uscc.rawValue) }) else {
            throw SubsidyError(.notFound, "applicant \(uscc.rawValue) is not registered in \(district.rawValue)")
        }
        var response = Foshan_Subsidy_V1_GetApplicantResponse()
        response.applicant = Foshan_Subsidy_V1_Applicant(record)
        response.history = try await StoreCall.run(for: context) { try await store.applicantChanges(uscc.rawValue) }.map(Foshan_Subsidy_V1_ApplicantChange.init)
        return response
    }

    /// 更名 or a new role; the history keeps every change.
    func updateApplicant(_ request: Foshan_Subsidy_V1_UpdateApplicantRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_UpdateApplicantResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        // A retry first: [relocations] or the applicant's applications may have changed since.
        if let earlier: Foshan_Subsidy_V1_UpdateApplicantResponse = try await storedReply(key, stores: stores, context: context) { return earlier }
        let uscc = try USCC.parse(request.uscc, field: "request.uscc")
        try requireNotRelocated(uscc.rawValue, from: district)
        var name: String?
        if !request.name.isEmpty {
            name = try InputLimits.oneLine(request.name, InputLimits.name, field: "request.name")
            guard !CanonicalText(request.name).isEmpty else { throw .invalidField("request.name", "has no visible characters") }
        }
        var role: ApplicantRole?
        if request.role.rawValue != 0 {
            guard let known = ApplicantRole(wire: request.role) else { throw .invalidField("request.role", "unknown role") }
            role = known
        }
        guard name != nil || role != nil else { throw .invalidField("request.name", "give a new name or a new role") }
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let (stores, programmes, newName, newRole) = (self.stores, self.programmes, name, role)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.updateApplicant(
                uscc.rawValue, in: district, name: newName, role: newRole, programmes: programmes, request: key, actor: context.actor, reason: request.reason
            ) {
                record, history in
                var response = Foshan_Subsidy_V1_UpdateApplicantResponse()
                response.applicant = Foshan_Subsidy_V1_Applicant(record)
                response.history = history.map(Foshan_Subsidy_V1_ApplicantChange.init)
                return response.serializedBytes()
            }
        }
        return try Foshan_Subsidy_V1_UpdateApplicantResponse(serializedBytes: bytes, path: "stored")
    }

    func listApplicants(_ request: Foshan_Subsidy_V1_ListApplicantsRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ListApplicantsResponse {
        let district = try context.requireDistrict()
        let limit = try pageSize(request.pageSize)
        let store = stores.store(district)
        let after = request.pageToken
        let records = try await StoreCall.run(for: context) { try await store.applicants(after: after, limit: limit + 1) }
        var response = Foshan_Subsidy_V1_ListApplicantsResponse()
        (response.applicants, response.nextPageToken) = try ReplyPage.page(
            of: records, limit: limit, budget: context.listPageBytes, key: \.uscc, Foshan_Subsidy_V1_Applicant.init)
        return response
    }

    func submitApplication(_ request: Foshan_Subsidy_V1_SubmitApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_SubmitApplicationResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        // A retry first: its call for applications may have closed, or its programme been
        // retired, since the first call, which the checks below would now refuse.
        if let earlier: Foshan_Subsidy_V1_SubmitApplicationResponse = try await storedReply(key, stores: stores, context: context) { return earlier }
        guard var wire = request.application else { throw .invalidField("request.application", "is required") }
        try requireNotRelocated(wire.enterpriseUscc, from: district)
        let (application, applicant, policy) = try await checkedApplication(&wire, district: district, stores: stores, programmes: programmes, context: context)
        try InputLimits.check(request.lateReason, InputLimits.reason, field: "request.late_reason")
        let filed = try await callFiledUnder(application, programme: policy, lateReason: request.lateReason, context: context)
        // A reason given for a filing inside an open call is not kept: it is not late, and the
        // call's counts of late filings must not say so.
        let lateReason = filed.late ? request.lateReason : ""
        // Read in the call's task, where its day is bound (the store runs the closure elsewhere).
        let (stores, today) = (self.stores, Clock.today())
        let bytes = try await StoreCall.run(for: context) {
            try await stores.submit(
                application, applicant: applicant, policy: policy, call: filed.call, lateReason: lateReason, filedOn: today, request: key,
                actor: context.actor
            ) {
                try Foshan_Subsidy_V1_SubmitApplicationResponse.encoding($0, warnings: $1)
            }
        }
        return try Foshan_Subsidy_V1_SubmitApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    func getApplication(_ request: Foshan_Subsidy_V1_GetApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_GetApplicationResponse {
        let district = try context.requireDistrict()
        return try await ApplicationListing.get(request.applicationId, from: stores.owning(request.applicationId, as: district), stores: stores, context: context)
    }

    func listApplications(_ request: Foshan_Subsidy_V1_ListApplicationsRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ListApplicationsResponse {
        let district = try context.requireDistrict()
        if !request.district.isEmpty && request.district != district.rawValue {
            throw SubsidyError(.permissionDenied, "district \(district.rawValue) may not list the applications of \(request.district)")
        }
        return try await ApplicationListing.list(request, districts: [stores.store(district)], stores: stores, context: context)
    }

    func amendApplication(_ request: Foshan_Subsidy_V1_AmendApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_AmendApplicationResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: district)
        if let earlier: Foshan_Subsidy_V1_AmendApplicationResponse = try await storedReply(key, stores: stores, context: context) { return earlier }
        guard var wire = request.application else { throw .invalidField("request.application", "is required") }
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let store = stores.store(district)
        let filed = try await StoreCall.run(for: context, { try await store.application(request.applicationId) })
        let (application, applicant, policy) = try await checkedApplication(
            &wire, district: district, stores: stores, programmes: programmes, context: context, filedUnder: filed?.application.programme)
        // Amended onto another enterprise, it is a new filing for that one: not for an
        // enterprise that has moved away (its own enterprise's stays amendable here).
        if let filed, filed.enterprise != application.enterprise.rawValue {
            try requireNotRelocated(application.enterprise.rawValue, from: district)
            // Nor for a programme that takes no new applications (retired, or outside its window):
            // a returned placeholder must not carry another enterprise's filing past it.
            do {
                _ = try programmes.programmeForFiling(wire.programme, by: district, on: Clock.today())
            } catch {
                guard case .precondition(_, let problem)? = error.details.first else { throw error }
                throw SubsidyError.precondition(
                    "programme", "\(request.applicationId) cannot be amended to enterprise \(application.enterprise.rawValue) (a new filing for it): \(problem)")
            }
        }
        try await requireSameCall(request.applicationId, amendedTo: application, programme: policy, district: district, context: context)
        let (stores, today) = (self.stores, Clock.today())
        // A correction kept under a programme that has ended (补正 after 退回) is taken, but no
        // approval can follow: it would have to be dated inside the window, before this filing.
        let ended =
            policy.validThrough < today
            ? [
                "programme \(policy.name) ended on \(policy.validThrough): an approval must be dated inside \(policy.validityText) and not before "
                    + "this correction (\(today)), so \(request.applicationId) can now only be refused or withdrawn"
            ] : []
        let bytes = try await StoreCall.run(for: context) {
            try await stores.amend(
                request.applicationId, with: application, applicant: applicant, policy: policy, filedOn: today, request: key,
                actor: context.actor, reason: request.reason
            ) { try Foshan_Subsidy_V1_AmendApplicationResponse.encoding($0, warnings: $1 + ended) }
        }
        return try Foshan_Subsidy_V1_AmendApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    func withdrawApplication(_ request: Foshan_Subsidy_V1_WithdrawApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_WithdrawApplicationResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: district)
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let stores = self.stores
        let bytes = try await StoreCall.run(for: context) {
            try await stores.withdraw(request.applicationId, as: district, request: key, actor: context.actor, reason: request.reason) {
                try Foshan_Subsidy_V1_WithdrawApplicationResponse.encoding($0)
            }
        }
        return try Foshan_Subsidy_V1_WithdrawApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    func reviewApplication(_ request: Foshan_Subsidy_V1_ReviewApplicationRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ReviewApplicationResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        _ = try stores.owning(request.applicationId, as: district)
        let transition: Transition
        switch request.outcome {
        case .recommend: transition = .recommend
        case .return: transition = .return
        case .reject: transition = .reject
        default: throw .invalidField("request.outcome", "is required: RECOMMEND, RETURN or REJECT")
        }
        if transition != .recommend && CanonicalText(request.reason).isEmpty {
            throw .invalidField("request.reason", "is required when returning or rejecting an application (blanks and invisible characters alone are not a reason)")
        }
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let today = Clock.today()
        var day = today
        if !request.reviewDate.isEmpty {
            guard transition == .recommend else { throw .invalidField("request.review_date", "is for RECOMMEND only") }
            day = try parseDate(request.reviewDate, field: "request.review_date")
            guard day <= today else { throw .invalidField("request.review_date", "\(day) is after today (\(today))") }
        }
        let (stores, programmes, reviewedOn) = (self.stores, self.programmes, day)
        let bytes = try await StoreCall.run(for: context) {
            try await stores.review(
                request.applicationId, as: district, transition, on: reviewedOn, programmes: programmes, request: key, actor: context.actor,
                reason: request.reason
            ) {
                try Foshan_Subsidy_V1_ReviewApplicationResponse.encoding($0, warnings: $1)
            }
        }
        return try Foshan_Subsidy_V1_ReviewApplicationResponse(serializedBytes: bytes, path: "stored")
    }
}

extension DistrictService {
    /// FAILED_PRECONDITION (subject `applicant`) when `[relocations]` names another district for
    /// `uscc`: the enterprise moved, and the district it left no longer files for it or changes
    /// its entry (what it filed before stays with it — amended, reviewed and decided as before).
    func requireNotRelocated(_ uscc: String, from district: DistrictID) throws(SubsidyError) {
        guard let relocatedTo = relocations[uscc], relocatedTo != district else { return }
        throw SubsidyError.precondition(
            "applicant",
            "\(uscc) has relocated to \(relocatedTo.displayName) (\(relocatedTo.rawValue), [relocations]); \(relocatedTo.rawValue) files for it now")
    }

    /// The call for applications `application` is filed under today: the open call of its
    /// measure and year; none when the measure runs no calls. Outside every call of a measure that
    /// runs them, FAILED_PRECONDITION naming the calls — unless it is filed late on purpose, with
    /// a reason (then the year's latest call, or none, is recorded with the reason).
    /// An amendment that changes the programme, measure or funding year must fall under the call
    /// for applications the application was filed under (or under none, as it was): otherwise it
    /// would slip a filing past a closed call without a late reason, or leave it counted under a
    /// call of another measure or year. Such a change is a new filing: withdraw and file again.
    func requireSameCall(
        _ id: String, amendedTo application: Application, programme: Policy, district: DistrictID, context: CallContext
    ) async throws(SubsidyError) {
        let store = stores.store(district)
        guard let current = try await StoreCall.run(for: context, { try await store.application(id) }) else { return }
        let was = current.application
        // By the programme each resolves to: an empty name and the default's own name are one.
        let wasProgramme = (try? programmes.programme(for: was).name) ?? was.programme
        // Another enterprise is a new filing too: a returned placeholder must not carry another
        // enterprise's application into a call that has closed.
        let otherEnterprise = was.enterprise != application.enterprise
        guard wasProgramme != programme.name || was.measure != application.measure || was.fundingYear != application.fundingYear || otherEnterprise
        else { return }
        let call: String
        do {
            call = try await callFiledUnder(application, programme: programme, lateReason: current.lateReason, context: context).call
        } catch where error.code == .failedPrecondition {
            let target =
                otherEnterprise
                ? "enterprise \(application.enterprise.rawValue) (a new filing for it)" : "\(application.measure) of funding year \(application.fundingYear)"
            throw SubsidyError.precondition("call", "\(id) cannot be amended to \(target): \(error.message)")
        }
        guard call == current.callID else {
            let place = { (call: String) in call.isEmpty ? "no call for applications" : "call \(call)" }
            throw SubsidyError.precondition(
                "call",
                "amending \(id) to \(application.measure) of \(programme.name), funding year \(application.fundingYear), would move it from "
                    + "\(place(current.callID)) to \(place(call)); withdraw it and file it again")
        }
    }

    /// The call for applications `application` is filed under today (empty: none), and whether
    /// it is filed late (outside every open call of a measure that runs calls, with a reason).
    func callFiledUnder(
        _ application: Application, programme: Policy, lateReason: String, context: CallContext
    ) async throws(SubsidyError) -> (call: String, late: Bool) {
        let ledger = stores.ledger
        let today = Clock.today()
        let filing = try await StoreCall.run(for: context) {
            try await ledger.filing(programme: programme.name, measure: application.measure, fundingYear: application.fundingYear.year, on: today)
        }
        switch filing {
        case .none:
            return ("", false)
        case .open(let call):
            return (call.id, false)
        case .closed(let latest, let every):
            guard CanonicalText(lateReason).isEmpty else { return (latest?.id ?? "", true) }
            let known = every.filter { $0.fundingYear == application.fundingYear.year }
                .map { "\($0.id) \($0.opensOn)..\($0.lastDay)" }.joined(separator: ", ")
            throw SubsidyError.precondition(
                "call",
                "\(application.measure) of \(programme.name) is filed in calls for applications (申报批次) and none for funding year \(application.fundingYear) is open on \(today)"
                    + (known.isEmpty ? "" : " (calls: \(known))") + "; file it late on purpose with request.late_reason")
        }
    }

    func quote(_ request: Foshan_Subsidy_V1_QuoteRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_QuoteResponse {
        try await QuoteService(programmes: programmes, stores: stores).quote(request, context: context)
    }
}

/// Checks an application against the district's registry and the programme it names (one the
/// district can see, in force and not retired — or, for an amendment, the one it was filed under:
/// `filedUnder`), and fixes the locality to the registry's before it is stored. Returns it with
/// the registry's entry and the programme.
func checkedApplication(
    _ wire: inout Foshan_Subsidy_V1_Application, district: DistrictID, stores: SubsidyStores, programmes: Programmes, context: CallContext,
    filedUnder: String? = nil
) async throws(SubsidyError) -> (Application, ApplicantRecord, Policy) {
    try wire.makeLinesOneLine()
    let policy = try programmes.programmeForFiling(wire.programme, by: district, on: Clock.today(), filedUnder: filedUnder)
    let uscc = try USCC.parse(wire.enterpriseUscc, field: "application.enterprise_uscc")
    let store = stores.store(district)
    guard let applicant = try await StoreCall.run(for: context, { try await store.applicant(uscc.rawValue) }) else {
        throw SubsidyError.precondition(
            "applicant", "\(uscc.rawValue) is not registered in \(district.rawValue); register it first (subsidyctl applicant register)"
        )
    }
    wire.enterpriseLocality = applicant.locality.wire
    let application = try Application(wire: wire, policy: policy, locality: applicant.locality)
    let rule = try policy.rule(for: application.measure)
    guard rule.applicantRoles.contains(applicant.role) else {
        throw SubsidyError.precondition(
            "applicant.role",
            "\(application.measure) is for \(rule.applicantRoles.map(\.rawValue).sorted().joined(separator: " or ")); \(uscc.rawValue) is registered as \(applicant.role.rawValue)"
        )
    }
    return (application, applicant, policy)
}

func pageSize(_ requested: Int32) throws(SubsidyError) -> Int {
    guard requested >= 0 else { throw .invalidField("request.page_size", "must be ≥ 0 (got \(requested))") }
    return requested == 0 ? 50 : min(Int(requested), 500)
}

/// Reading applications from one or more district stores; listing is in one stable order (by id).
enum ApplicationListing {
    static func get(_ id: String, from store: DistrictStore, stores: SubsidyStores, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_GetApplicationResponse {
        guard let record = try await StoreCall.run(for: context, { try await stores.record(id, in: store) }) else {
            throw SubsidyError(.notFound, "application \(id) does not exist in \(store.district.rawValue)")
        }
        var response = Foshan_Subsidy_V1_GetApplicationResponse()
        response.record = try Foshan_Subsidy_V1_ApplicationRecord(record)
        return response
    }

    /// One page of applications from `districts`, merged in id order, within the page's count
    /// and byte budget.
    static func list(
        _ request: Foshan_Subsidy_V1_ListApplicationsRequest, districts: [DistrictStore], stores: SubsidyStores, context: CallContext
    ) async throws(SubsidyError) -> Foshan_Subsidy_V1_ListApplicationsResponse {
        let limit = try pageSize(request.pageSize)
        var filter = ApplicationFilter()
        if request.measure.rawValue != 0 {
            filter.measure = try Measure.required(request.measure, field: "request.measure")
        }
        if request.state.rawValue != 0 {
            guard let state = SubsidyCore.ApplicationState(wire: request.state) else { throw .invalidField("request.state", "unknown state") }
            filter.state = state
        }
        if request.fundingYear != 0 { filter.fundingYear = Int(request.fundingYear) }
        if !request.enterpriseUscc.isEmpty {
            filter.enterprise = try USCC.parse(request.enterpriseUscc, field: "request.enterprise_uscc").rawValue
        }
        if !request.text.isEmpty {
            try InputLimits.check(request.text, InputLimits.name, field: "request.text")
            guard !CanonicalText.canonical(request.text).isEmpty else { throw .invalidField("request.text", "has nothing to search for") }
            filter.text = request.text
            filter.textScanRows = context.searchScanRows
        }
        let after = request.pageToken
        let chosen = filter
        let budget = context.listPageBytes
        return try await StoreCall.run(for: context) {
            // Ids first from every district (an index walk each), merged; then records in runs
            // of one district, each run read at once up to the page's bytes, kept only while
            // they fit the page. The city's list over five districts costs one page of records,
            // however many applications each district holds; reading a run at once costs two
            // trips to the files' readers instead of two per record (at 50 records a page,
            // per-record reads were most of the call's time), and decodes about one page beyond
            // what the page keeps.
            //
            // Every id of a district starts with its name and a dash, so the districts' ids come
            // in the districts' name order: once a page is full, or a text search has stopped
            // short of a later district, that district has nothing for this page and is not read
            // (and no candidate read lies past where a search stopped).
            var candidates: [(id: String, store: DistrictStore)] = []
            var scannedThrough: String?
            for store in districts.sorted(by: { $0.district.rawValue < $1.district.rawValue }) {
                if candidates.count > limit { break }
                if let scannedThrough, scannedThrough < store.district.rawValue + "-" { break }
                let found = try await store.applicationIDs(chosen, afterID: after, limit: limit + 1)
                candidates += found.ids.map { (id: $0, store: store) }
                if let stop = found.scannedThrough { scannedThrough = min(scannedThrough ?? stop, stop) }
            }
            candidates = Array(candidates.sorted { $0.id < $1.id }.prefix(limit + 1))
            let wanted = min(limit, candidates.count)
            var page = ReplyPage<Foshan_Subsidy_V1_ApplicationRecord>(budget: budget)
            var next = 0
            filling: while next < wanted {
                let store = candidates[next].store
                var end = next
                while end < wanted && candidates[end].store === store { end += 1 }
                let run = candidates[next..<end].map(\.id)
                let read = try await stores.records(run, in: store, byteBudget: budget)
                for stored in read {
                    guard try page.add(try Foshan_Subsidy_V1_ApplicationRecord(stored), id: stored.id) else { break filling }
                }
                // Ids of the run that no longer exist were skipped; the read stopped after its
                // last record (or found none at all).
                next = read.last.flatMap { last in run.firstIndex(of: last.id).map { next + $0 + 1 } } ?? end
            }
            var response = Foshan_Subsidy_V1_ListApplicationsResponse()
            response.records = page.records
            if page.records.count < candidates.count, let last = page.records.last {
                response.nextPageToken = last.id
            } else if let scannedThrough {
                // Every candidate fits, but a search has applications after these left to look at.
                response.nextPageToken = scannedThrough
            }
            return response
        }
    }
}

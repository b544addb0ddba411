import SubsidyCore
import SubsidyStore
import SubsidyWire
import Synchronization

/// The district bureaus' service: applicants, filing and the first review (初审). Every call is
/// scoped to the caller's district, resolved from its socket and credentials.
struct DistrictService: Sendable {
    let policy: Policy
    let stores: SubsidyStores
    /// `[relocations]` of the configuration: enterprises another district's area registered.
    var relocations: [String: DistrictID] = [:]

    func register(into router: inout MethodRouter) {
        let district: Set<TenantRole> = [.district]
        router.register(DistrictServiceMethods.registerApplicant, roles: district, registerApplicant)
        router.register(DistrictServiceMethods.getApplicant, roles: district, getApplicant)
        router.register(DistrictServiceMethods.listApplicants, roles: district, listApplicants)
        router.register(DistrictServiceMethods.submitApplication, roles: district, submit)
        router.register(DistrictServiceMethods.getApplication, roles: district, getApplication)
        router.register(DistrictServiceMethods.listApplications, roles: district, listApplications)
        router.register(DistrictServiceMethods.amendApplication, roles: district, amend)
        router.register(DistrictServiceMethods.withdrawApplication, roles: district, withdraw)
        router.register(DistrictServiceMethods.reviewApplication, roles: district, review)
    }

    @Sendable
    func registerApplicant(_ request: RegisterApplicantRequest, _ context: CallContext) async throws(SubsidyError) -> RegisterApplicantResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        guard let applicant = request.applicant else { throw .invalidField("request.applicant", "is required") }
        let uscc = try USCC.parse(applicant.uscc, field: "applicant.uscc")
        guard !CanonicalText(applicant.name).isEmpty else { throw .invalidField("applicant.name", "is required") }
        try InputLimits.check(applicant.name, InputLimits.name, field: "applicant.name")
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
        let record = ApplicantRecord(uscc: uscc.rawValue, name: applicant.name, district: district, locality: locality, role: role)
        let store = stores.store(district)
        let actor = Actor(tenant: context.tenant.id, uid: context.peer.uid)
        let ledger = stores.ledger
        let bytes = try await BlockingIO.run(for: context) {
            if let earlier = try store.replay(key) { return earlier }
            // The city-wide index first (one district per enterprise), then the district's own
            // file; a crash between the two is completed by retrying the same registration.
            try ledger.indexApplicant(record, at: Timestamp.now())
            return try store.mutate(key) { transaction, now in
                try store.insertApplicant(record, by: actor, at: now, in: transaction)
                var response = RegisterApplicantResponse()
                response.applicant = SubsidyWire.Applicant(record)
                return response.serializedBytes()
            }
        }
        return try RegisterApplicantResponse(serializedBytes: bytes, path: "stored")
    }

    @Sendable
    func getApplicant(_ request: GetApplicantRequest, _ context: CallContext) async throws(SubsidyError) -> GetApplicantResponse {
        let district = try context.requireDistrict()
        let uscc = try USCC.parse(request.uscc, field: "request.uscc")
        let store = stores.store(district)
        guard let record = try await BlockingIO.run(for: context, { try store.applicant(uscc.rawValue) }) else {
            throw SubsidyError(.notFound, "applicant \(uscc.rawValue) is not registered in \(district.rawValue)")
        }
        var response = GetApplicantResponse()
        response.applicant = SubsidyWire.Applicant(record)
        return response
    }

    @Sendable
    func listApplicants(_ request: ListApplicantsRequest, _ context: CallContext) async throws(SubsidyError) -> ListApplicantsResponse {
        let district = try context.requireDistrict()
        let limit = try pageSize(request.pageSize)
        let store = stores.store(district)
        let after = request.pageToken
        let records = try await BlockingIO.run(for: context) { try store.applicants(after: after, limit: limit + 1) }
        var page = ReplyPage<SubsidyWire.Applicant>(budget: context.listPageBytes)
        for record in records.prefix(limit) {
            guard try page.add(SubsidyWire.Applicant(record), id: record.uscc) else { break }
        }
        var response = ListApplicantsResponse()
        response.applicants = page.records
        if page.records.count < records.count, let last = page.records.last { response.nextPageToken = last.uscc }
        return response
    }

    @Sendable
    func submit(_ request: SubmitApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> SubmitApplicationResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        guard let submitted = request.application else { throw .invalidField("request.application", "is required") }
        let store = stores.store(district)
        let actor = Actor(tenant: context.tenant.id, uid: context.peer.uid)
        let (policy, stores) = (self.policy, self.stores)
        let bytes = try await BlockingIO.run(for: context) {
            if let earlier = try store.replay(key) { return earlier }
            // Checked before the district's write transaction: the check reads every district's
            // file, and holding one district's writer while waiting for another's could deadlock.
            var preview = submitted
            let candidate = try store.database.read { try checkedApplication(&preview, store: store, transaction: $0, policy: policy) }
            let warnings = try stores.contentNotices(for: candidate, excluding: "", policy: policy)
            return try store.mutate(key) { transaction, now in
                var wire = submitted
                let application = try checkedApplication(&wire, store: store, transaction: transaction, policy: policy)
                let record = try store.insertApplication(
                    measure: application.measure, fundingYear: application.fundingYear.year, enterprise: application.enterprise.rawValue,
                    contentKeys: application.contentKeys, content: wire.serializedBytes(), actor: actor, request: key, at: now, in: transaction
                )
                return SubmitApplicationResponse.encoding(record, warnings: warnings)
            }
        }
        return try SubmitApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    @Sendable
    func getApplication(_ request: GetApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> GetApplicationResponse {
        let district = try context.requireDistrict()
        return try await ApplicationListing.get(request.applicationId, from: stores.owning(request.applicationId, as: district), context: context)
    }

    @Sendable
    func listApplications(_ request: ListApplicationsRequest, _ context: CallContext) async throws(SubsidyError) -> ListApplicationsResponse {
        let district = try context.requireDistrict()
        if !request.district.isEmpty && request.district != district.rawValue {
            throw SubsidyError(.permissionDenied, "district \(district.rawValue) may not list the applications of \(request.district)")
        }
        return try await ApplicationListing.list(request, districts: [stores.store(district)], context: context)
    }

    @Sendable
    func amend(_ request: AmendApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> AmendApplicationResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        let store = try stores.owning(request.applicationId, as: district)
        guard let submitted = request.application else { throw .invalidField("request.application", "is required") }
        let actor = Actor(tenant: context.tenant.id, uid: context.peer.uid)
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let (policy, stores) = (self.policy, self.stores)
        let bytes = try await BlockingIO.run(for: context) {
            if let earlier = try store.replay(key) { return earlier }
            var preview = submitted
            let candidate = try store.database.read { try checkedApplication(&preview, store: store, transaction: $0, policy: policy) }
            let warnings = try stores.contentNotices(for: candidate, excluding: request.applicationId, policy: policy)
            return try store.mutate(key) { transaction, now in
                var wire = submitted
                let application = try checkedApplication(&wire, store: store, transaction: transaction, policy: policy)
                let record = try store.apply(.amend, to: request.applicationId, actor: actor, role: .district, reason: request.reason, request: key, at: now, in: transaction) {
                    $0.content = wire.serializedBytes()
                    $0.measure = application.measure
                    $0.fundingYear = application.fundingYear.year
                    $0.enterprise = application.enterprise.rawValue
                    $0.contentKey = application.contentFingerprint
                    $0.projectKey = application.contentKeys.dropFirst().first ?? ""
                }
                return AmendApplicationResponse.encoding(record, warnings: warnings)
            }
        }
        return try AmendApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    @Sendable
    func withdraw(_ request: WithdrawApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> WithdrawApplicationResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        let store = try stores.owning(request.applicationId, as: district)
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let actor = Actor(tenant: context.tenant.id, uid: context.peer.uid)
        let stores = self.stores
        let bytes = try await BlockingIO.run(for: context) {
            // Withdrawal of a RECOMMENDED application must not slip between an approval's
            // ledger and district steps.
            try stores.decisionLock.withLock { _ in
                // An approval whose district step failed is completed first: its commitment
                // stands, and a withdrawal must not strand it.
                _ = try Recovery.reconcile(applicationID: request.applicationId, ledger: stores.ledger, store: store)
                return try store.mutate(key) { transaction, now in
                    let record = try store.apply(.withdraw, to: request.applicationId, actor: actor, role: .district, reason: request.reason, request: key, at: now, in: transaction)
                    return WithdrawApplicationResponse.encoding(record)
                }
            }
        }
        return try WithdrawApplicationResponse(serializedBytes: bytes, path: "stored")
    }

    @Sendable
    func review(_ request: ReviewApplicationRequest, _ context: CallContext) async throws(SubsidyError) -> ReviewApplicationResponse {
        let district = try context.requireDistrict()
        let key = try requestKey(request.requestId, context: context, request)
        let store = try stores.owning(request.applicationId, as: district)
        let transition: Transition
        switch request.outcome {
        case .recommend: transition = .recommend
        case .return: transition = .return
        case .reject: transition = .reject
        default: throw .invalidField("request.outcome", "is required: RECOMMEND, RETURN or REJECT")
        }
        if transition != .recommend && request.reason.isEmpty {
            throw .invalidField("request.reason", "is required when returning or rejecting an application")
        }
        try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
        let actor = Actor(tenant: context.tenant.id, uid: context.peer.uid)
        let (policy, stores) = (self.policy, self.stores)
        let bytes = try await BlockingIO.run(for: context) {
            if let earlier = try store.replay(key) { return earlier }
            var warnings: [String] = []
            if transition == .recommend, let current = try store.application(request.applicationId) {
                // 初审 again asks what submit asked: a recommendation of content already funded
                // would only reach the city to be refused there.
                let wire = try WireApplication(serializedBytes: current.content, path: "stored")
                let application = try CoreApplication(wire: wire, policy: policy, locality: Locality(wire: wire.enterpriseLocality))
                warnings = try stores.contentNotices(for: application, excluding: current.id, policy: policy)
            }
            return try store.mutate(key) { transaction, now in
                let record = try store.apply(transition, to: request.applicationId, actor: actor, role: .district, reason: request.reason, request: key, at: now, in: transaction)
                return ReviewApplicationResponse.encoding(record, warnings: warnings)
            }
        }
        return try ReviewApplicationResponse(serializedBytes: bytes, path: "stored")
    }
}

/// Checks an application against the district's registry and the policy, and fixes the
/// locality to the registry's before it is stored.
func checkedApplication(
    _ wire: inout WireApplication, store: DistrictStore, transaction: Transaction, policy: Policy
) throws -> CoreApplication {
    let uscc = try USCC.parse(wire.enterpriseUscc, field: "application.enterprise_uscc")
    guard let applicant = try store.applicantRecord(uscc.rawValue, in: transaction) else {
        throw SubsidyError.precondition(
            "applicant", "\(uscc.rawValue) is not registered in \(store.district.rawValue); register it first (subsidyctl applicant register)"
        )
    }
    wire.enterpriseLocality = applicant.locality.wire
    let application = try CoreApplication(wire: wire, policy: policy, locality: applicant.locality)
    let rule = try policy.rule(for: application.measure)
    guard rule.applicantRoles.contains(applicant.role) else {
        throw SubsidyError.precondition(
            "applicant.role",
            "\(application.measure) is for \(rule.applicantRoles.map(\.rawValue).sorted().joined(separator: " or ")); \(uscc.rawValue) is registered as \(applicant.role.rawValue)"
        )
    }
    return application
}

func pageSize(_ requested: Int32) throws(SubsidyError) -> Int {
    guard requested >= 0 else { throw .invalidField("request.page_size", "must be ≥ 0 (got \(requested))") }
    return requested == 0 ? 50 : min(Int(requested), 500)
}

extension SubsidyStores {
    /// What submit, amend and review tell the clerk before the city ever sees an application.
    /// The policy engine is run as `Quote` would run it (decided on the policy's last day) against
    /// the ledger: what can never be funded is refused — content already funded
    /// (`duplicate_content`) and a one-time award already used (`one_time`) — and whatever else
    /// would stop an approval today (a cap exhausted, a follow-on's pilot not yet awarded, …) is a
    /// warning, as is the same content pending in another application of any district: another
    /// decision may still change those. The city's approval decides, inside the ledger's
    /// transaction.
    func contentNotices(for application: CoreApplication, excluding id: String, policy: Policy) throws -> [String] {
        var warnings: [String] = []
        let outcome = try ledger.database.read { transaction -> SubsidyError? in
            let snapshot = ledger.usage(in: transaction)
            if let duplicate = try AwardCalculator.duplicate(of: application, usage: snapshot) { return duplicate }
            // A case-by-case amount is the city's to set; there is nothing to pre-compute.
            guard application.measure.formulaShape != .caseByCase else { return nil }
            do throws(SubsidyError) {
                _ = try AwardCalculator.compute(
                    application: application, policy: policy, usage: snapshot, decision: DecisionInput(decisionDate: policy.validThrough))
                return nil
            } catch {
                return error
            }
        }
        if let outcome {
            let certain = outcome.details.contains { detail in
                if case .precondition(let subject, _) = detail { return subject == "duplicate_content" || subject == "one_time" }
                return false
            }
            if certain { throw outcome }
            warnings.append("the city could not approve it as things stand: \(outcome.message)")
        }
        for district in DistrictID.allCases {
            for other in try store(district).pendingApplications(withContent: application.contentKeys, excluding: id)
            where CoreApplication.isDoubleFunding(application.measure, other.measure, sharing: other.key) {
                warnings.append(
                    "the same content \(application.contentText) is already pending as \(other.applicationID) (\(other.measure), \(other.state)); only one can be funded")
            }
        }
        return warnings
    }

    /// The store that holds `applicationID`, if the caller may touch it. Ids start with their
    /// district; another district's id is PERMISSION_DENIED, whatever the rest says.
    func owning(_ applicationID: String, as caller: DistrictID?) throws(SubsidyError) -> DistrictStore {
        guard !applicationID.isEmpty else { throw .invalidField("request.application_id", "is required") }
        let prefix = String(applicationID.prefix { $0 != "-" })
        guard let owner = DistrictID(rawValue: prefix) else {
            throw SubsidyError(.notFound, "application \(applicationID) does not exist")
        }
        if let caller, caller != owner {
            throw SubsidyError(.permissionDenied, "application \(applicationID) belongs to \(owner.rawValue); \(caller.rawValue) may not access it")
        }
        return store(owner)
    }
}

/// Reading applications from one or more district stores; listing is in one stable order (by id).
enum ApplicationListing {
    static func get(_ id: String, from store: DistrictStore, context: CallContext) async throws(SubsidyError) -> GetApplicationResponse {
        guard let record = try await BlockingIO.run(for: context, { try store.application(id) }) else {
            throw SubsidyError(.notFound, "application \(id) does not exist in \(store.district.rawValue)")
        }
        var response = GetApplicationResponse()
        response.record = ApplicationRecord(record)
        return response
    }

    /// One page of applications from `districts`, merged in id order, within the page's count
    /// and byte budget.
    static func list(_ request: ListApplicationsRequest, districts: [DistrictStore], context: CallContext) async throws(SubsidyError) -> ListApplicationsResponse {
        let limit = try pageSize(request.pageSize)
        var filter = ApplicationFilter()
        if request.measure.rawValue != 0 {
            guard let measure = Measure(rawValue: request.measure.description) else { throw .invalidField("request.measure", "unknown measure") }
            filter.measure = measure
        }
        if request.state.rawValue != 0 {
            guard let state = SubsidyCore.ApplicationState(wire: request.state) else { throw .invalidField("request.state", "unknown state") }
            filter.state = state
        }
        if request.fundingYear != 0 { filter.fundingYear = Int(request.fundingYear) }
        if !request.enterpriseUscc.isEmpty {
            filter.enterprise = try USCC.parse(request.enterpriseUscc, field: "request.enterprise_uscc").rawValue
        }
        let after = request.pageToken
        let chosen = filter
        let budget = context.listPageBytes
        return try await BlockingIO.run(for: context) {
            // Ids first from every district (an index walk each), merged; then records one at a
            // time, only while they fit the page. The city's list over five districts costs one
            // page of records, however many applications each district holds.
            let candidates = try districts.flatMap { store in
                try store.applicationIDs(chosen, afterID: after, limit: limit + 1).map { (id: $0, store: store) }
            }.sorted { $0.id < $1.id }.prefix(limit + 1)
            var page = ReplyPage<ApplicationRecord>(budget: budget)
            for candidate in candidates.prefix(limit) {
                guard let stored = try candidate.store.application(candidate.id) else { continue }
                guard try page.add(ApplicationRecord(stored), id: candidate.id) else { break }
            }
            var response = ListApplicationsResponse()
            response.records = page.records
            if page.records.count < candidates.count, let last = page.records.last { response.nextPageToken = last.id }
            return response
        }
    }
}

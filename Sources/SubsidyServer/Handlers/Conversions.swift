import SubsidyCore
import SubsidyStore
import SubsidyWire

// Translation between the wire messages and the domain: the one place that knows both.
// Errors name the proto field path (`application.enterprise_uscc`). Enums convert by exhaustive
// `switch` over the domain's cases, so a case added on one side without the other does not compile
// (the wire's enums are open, so from the wire there is always a `default`: unknown numbers).

extension Foshan_Subsidy_V1_Application {
    /// The one-line texts of an application as a request brings it, made one line
    /// (``InputLimits/oneLine(_:field:)``); not in the core's validation, which stored
    /// applications pass again at every decision.
    mutating func makeLinesOneLine() throws(SubsidyError) {
        projectName = try InputLimits.oneLine(projectName, field: "application.project_name")
        contractNumber = try InputLimits.oneLine(contractNumber, field: "application.contract_number")
        pilotId = try InputLimits.oneLine(pilotId, field: "application.pilot_id")
        programme = try InputLimits.oneLine(programme, field: "application.programme")
    }
}

extension Application {
    /// Builds and validates the domain application from its wire form.
    /// - Parameter policy: the programme the application names (``Programmes/programmeForFiling(_:by:on:)``).
    /// - Parameter locality: the registry's locality for the enterprise, which overrides the
    ///   request's (a bureau's registry, not the form, says where an enterprise is registered).
    init(wire: Foshan_Subsidy_V1_Application, policy: Policy, locality: Locality?, path: String = "application") throws(SubsidyError) {
        let measure = try Measure.required(wire.measure, field: "\(path).measure")
        guard wire.fundingYear != 0 else {
            throw .invalidField("\(path).funding_year", "is required: one of \(policy.fundingYears.lowerBound)–\(policy.fundingYears.upperBound)")
        }
        // A year outside the policy is not malformed: it is the validity window that refuses it,
        // with the same code and detail as a decision date outside the window.
        let fundingYear = try policy.fundingYear(Int(wire.fundingYear))
        let enterprise = try USCC.parse(wire.enterpriseUscc, field: "\(path).enterprise_uscc")
        let provider = wire.providerUscc.isEmpty ? nil : try USCC.parse(wire.providerUscc, field: "\(path).provider_uscc")
        var selectionDate: CalendarDate?
        if !wire.selectionDate.isEmpty {
            do {
                selectionDate = try CalendarDate(parsing: wire.selectionDate)
            } catch {
                throw .invalidField("\(path).selection_date", "must be a date YYYY-MM-DD (got \"\(wire.selectionDate)\")")
            }
        }
        // Counted before a single one is parsed: the count bounds the work.
        try InputLimits.check(count: wire.servedEnterprises.count, InputLimits.servedEnterprises, field: "\(path).served_enterprises")
        try InputLimits.check(
            count: wire.provincialVoucherEnterprises.count, InputLimits.servedEnterprises, field: "\(path).provincial_voucher_enterprises")
        var served: [USCC] = []
        for (i, text) in wire.servedEnterprises.enumerated() {
            served.append(try USCC.parse(text, field: "\(path).served_enterprises[\(i)]"))
        }
        var provincial: [USCC] = []
        for (i, text) in wire.provincialVoucherEnterprises.enumerated() {
            provincial.append(try USCC.parse(text, field: "\(path).provincial_voucher_enterprises[\(i)]"))
        }
        // Unset is "none" (no selection claimed) and, for an unregistered enterprise the city quotes,
        // LOCAL; a number the contract does not define (a newer client's) is refused rather than
        // read as either.
        try requireKnown(wire.selectionLevel, field: "\(path).selection_level")
        if locality == nil { try requireKnown(wire.enterpriseLocality, field: "\(path).enterprise_locality") }
        let level = SelectionLevel(wire: wire.selectionLevel)
        self.init(
            measure: measure, fundingYear: fundingYear, enterprise: enterprise,
            enterpriseLocality: locality ?? Locality(wire: wire.enterpriseLocality) ?? .local,
            projectName: wire.projectName, contractNumber: wire.contractNumber,
            contractAmount: Money(fen: wire.contractAmountFen), paidAmount: Money(fen: wire.paidAmountFen), provider: provider,
            investedAmount: Money(fen: wire.investedAmountFen), constructionAmount: Money(fen: wire.constructionAmountFen),
            totalInvestment: Money(fen: wire.totalInvestmentFen), upperLevelSubsidy: Money(fen: wire.upperLevelSubsidyFen),
            upperLevelAwardTotal: Money(fen: wire.upperLevelAwardTotalFen),
            previousYearServiceSpend: Money(fen: wire.previousYearServiceSpendFen), selectionDate: selectionDate,
            selectionLevel: level, inProvincialPool: wire.inProvincialPool, recognisedSecondaryNode: wire.recognisedSecondaryNode,
            pilotID: wire.pilotId, servedEnterprises: served, provincialVoucherEnterprises: provincial,
            otherFundDeclared: wire.otherFundDeclared, otherFundReason: wire.otherFundReason,
            programme: wire.programme, grade: try Grade(wire: wire.grade, path: "\(path).grade"),
            declaredRevenue: Money(fen: wire.declaredRevenueFen)
        )
        try validate()
    }
}

extension Foshan_Subsidy_V1_Application {
    /// The wire form of a core application: what the district filed, field for field (the
    /// inverse of ``Application/init(wire:policy:locality:path:)`` on what it accepts).
    init(_ a: Application) {
        self.init()
        measure = a.measure.wire
        fundingYear = Int32(a.fundingYear.year)
        enterpriseUscc = a.enterprise.rawValue
        enterpriseLocality = a.enterpriseLocality.wire
        projectName = a.projectName
        contractNumber = a.contractNumber
        contractAmountFen = a.contractAmount.fen
        paidAmountFen = a.paidAmount.fen
        providerUscc = a.provider?.rawValue ?? ""
        investedAmountFen = a.investedAmount.fen
        constructionAmountFen = a.constructionAmount.fen
        totalInvestmentFen = a.totalInvestment.fen
        upperLevelSubsidyFen = a.upperLevelSubsidy.fen
        upperLevelAwardTotalFen = a.upperLevelAwardTotal.fen
        previousYearServiceSpendFen = a.previousYearServiceSpend.fen
        selectionDate = a.selectionDate?.description ?? ""
        selectionLevel = a.selectionLevel.wire
        inProvincialPool = a.inProvincialPool
        recognisedSecondaryNode = a.recognisedSecondaryNode
        pilotId = a.pilotID
        servedEnterprises = a.servedEnterprises.map(\.rawValue)
        provincialVoucherEnterprises = a.provincialVoucherEnterprises.map(\.rawValue)
        otherFundDeclared = a.otherFundDeclared
        otherFundReason = a.otherFundReason
        programme = a.programme
        grade = a.grade.wire
        declaredRevenueFen = a.declaredRevenue.fen
    }
}

extension Grade {
    /// Unset is `.none`; a number this build does not know is refused, naming the field.
    init(wire: Foshan_Subsidy_V1_Grade, path: String) throws(SubsidyError) {
        switch wire {
        case .unspecified: self = .none
        case .standard: self = .standard
        case .excellent: self = .excellent
        default: throw .invalidField(path, "unknown grade \(wire.rawValue) (STANDARD or EXCELLENT)")
        }
    }

    var wire: Foshan_Subsidy_V1_Grade {
        switch self {
        case .none: .unspecified
        case .standard: .standard
        case .excellent: .excellent
        }
    }
}

extension Application {
    /// An application as the first releases stored it (the protocol's encoding), read as filed:
    /// nothing is checked against a policy, and a value no submit could have stored throws.
    init(legacyWire wire: Foshan_Subsidy_V1_Application) throws {
        guard let measure = Measure(wire: wire.measure), let year = FundingYear(Int(wire.fundingYear)) else {
            throw SubsidyError(.dataLoss, "stored application has no valid measure or funding year")
        }
        let selectionDate = wire.selectionDate.isEmpty ? nil : try CalendarDate(parsing: wire.selectionDate)
        self.init(
            measure: measure, fundingYear: year, enterprise: try USCC(validating: wire.enterpriseUscc),
            enterpriseLocality: Locality(wire: wire.enterpriseLocality) ?? .local,
            projectName: wire.projectName, contractNumber: wire.contractNumber,
            contractAmount: Money(fen: wire.contractAmountFen), paidAmount: Money(fen: wire.paidAmountFen),
            provider: wire.providerUscc.isEmpty ? nil : try USCC(validating: wire.providerUscc),
            investedAmount: Money(fen: wire.investedAmountFen), constructionAmount: Money(fen: wire.constructionAmountFen),
            totalInvestment: Money(fen: wire.totalInvestmentFen), upperLevelSubsidy: Money(fen: wire.upperLevelSubsidyFen),
            upperLevelAwardTotal: Money(fen: wire.upperLevelAwardTotalFen),
            previousYearServiceSpend: Money(fen: wire.previousYearServiceSpendFen), selectionDate: selectionDate,
            selectionLevel: SelectionLevel(wire: wire.selectionLevel), inProvincialPool: wire.inProvincialPool,
            recognisedSecondaryNode: wire.recognisedSecondaryNode, pilotID: wire.pilotId,
            servedEnterprises: try wire.servedEnterprises.map { try USCC(validating: $0) },
            provincialVoucherEnterprises: try wire.provincialVoucherEnterprises.map { try USCC(validating: $0) },
            otherFundDeclared: wire.otherFundDeclared, otherFundReason: wire.otherFundReason
        )
    }
}

extension Locality {
    init?(wire: Foshan_Subsidy_V1_Locality) {
        switch wire {
        case .local: self = .local
        case .relocated: self = .relocated
        case .nonLocal: self = .nonLocal
        default: return nil
        }
    }

    var wire: Foshan_Subsidy_V1_Locality {
        switch self {
        case .local: .local
        case .relocated: .relocated
        case .nonLocal: .nonLocal
        }
    }
}

extension ApplicantRole {
    init?(wire: Foshan_Subsidy_V1_ApplicantRole) {
        switch wire {
        case .industrialEnterprise: self = .industrialEnterprise
        case .serviceProvider: self = .serviceProvider
        case .platform: self = .platform
        case .institution: self = .institution
        default: return nil
        }
    }

    var wire: Foshan_Subsidy_V1_ApplicantRole {
        switch self {
        case .industrialEnterprise: .industrialEnterprise
        case .serviceProvider: .serviceProvider
        case .platform: .platform
        case .institution: .institution
        }
    }
}

extension ApplicationState {
    init?(wire: Foshan_Subsidy_V1_ApplicationState) {
        switch wire {
        case .submitted: self = .submitted
        case .returned: self = .returned
        case .recommended: self = .recommended
        case .rejected: self = .rejected
        case .withdrawn: self = .withdrawn
        case .approved: self = .approved
        case .publicized: self = .publicized
        case .disbursed: self = .disbursed
        case .revoked: self = .revoked
        default: return nil
        }
    }

    var wire: Foshan_Subsidy_V1_ApplicationState {
        switch self {
        case .submitted: .submitted
        case .returned: .returned
        case .recommended: .recommended
        case .rejected: .rejected
        case .withdrawn: .withdrawn
        case .approved: .approved
        case .publicized: .publicized
        case .disbursed: .disbursed
        case .revoked: .revoked
        }
    }
}

extension Measure {
    /// The measure a request names in `field`, refusing its absence (0) as "is required" and a
    /// number this protocol does not define as unknown, both listing the measures.
    static func required(_ wire: Foshan_Subsidy_V1_Measure, field: String) throws(SubsidyError) -> Measure {
        if let measure = Measure(wire: wire) { return measure }
        let known = Measure.allCases.map(\.rawValue).joined(separator: ", ")
        throw .invalidField(field, wire.rawValue == 0 ? "is required: one of \(known)" : "\(wire.rawValue) is not a value of this contract: one of \(known)")
    }

    init?(wire: Foshan_Subsidy_V1_Measure) {
        switch wire {
        case .poolEntry: self = .poolEntry
        case .cloudVoucher: self = .cloudVoucher
        case .benchmarkProject: self = .benchmarkProject
        case .identifierNode: self = .identifierNode
        case .crossIndustryPlatform: self = .crossIndustryPlatform
        case .majorPlatform: self = .majorPlatform
        case .clusterPilot: self = .clusterPilot
        case .clusterPilotFollowOn: self = .clusterPilotFollowOn
        case .demoBase: self = .demoBase
        case .publicService: self = .publicService
        case .innovationCarrier: self = .innovationCarrier
        case .digitalFactory: self = .digitalFactory
        case .digitalWorkshop: self = .digitalWorkshop
        case .cloudUse: self = .cloudUse
        case .nationalMatch: self = .nationalMatch
        case .benchmarkMatch: self = .benchmarkMatch
        default: return nil
        }
    }

    var wire: Foshan_Subsidy_V1_Measure {
        switch self {
        case .poolEntry: .poolEntry
        case .cloudVoucher: .cloudVoucher
        case .benchmarkProject: .benchmarkProject
        case .identifierNode: .identifierNode
        case .crossIndustryPlatform: .crossIndustryPlatform
        case .majorPlatform: .majorPlatform
        case .clusterPilot: .clusterPilot
        case .clusterPilotFollowOn: .clusterPilotFollowOn
        case .demoBase: .demoBase
        case .publicService: .publicService
        case .innovationCarrier: .innovationCarrier
        case .digitalFactory: .digitalFactory
        case .digitalWorkshop: .digitalWorkshop
        case .cloudUse: .cloudUse
        case .nationalMatch: .nationalMatch
        case .benchmarkMatch: .benchmarkMatch
        }
    }
}

extension SelectionLevel {
    /// An unset or unknown level is `.none`: the application claims no selection.
    init(wire: Foshan_Subsidy_V1_SelectionLevel) {
        switch wire {
        case .municipal: self = .municipal
        case .provincial: self = .provincial
        case .national: self = .national
        default: self = .none
        }
    }

    var wire: Foshan_Subsidy_V1_SelectionLevel {
        switch self {
        case .none: .unspecified
        case .municipal: .municipal
        case .provincial: .provincial
        case .national: .national
        }
    }
}

extension Foshan_Subsidy_V1_Applicant {
    init(_ record: ApplicantRecord) {
        self.init()
        uscc = record.uscc
        name = record.name
        district = record.district.rawValue
        locality = record.locality.wire
        role = record.role.wire
    }
}

extension Foshan_Subsidy_V1_ApplicantChange {
    init(_ change: ApplicantChange) {
        self.init()
        at = change.at
        field = change.field
        before = change.before
        after = change.after
        tenant = change.tenant
        actorUid = change.actorUID
        reason = change.reason
    }
}

extension Foshan_Subsidy_V1_ApplicationRecord {
    /// The wire form of a stored application. (Content that no longer decodes never gets here: the
    /// store reports it as damaged data when it reads the row, and the caller gets DATA_LOSS.)
    init(_ stored: StoredApplication) throws(SubsidyError) {
        self.init()
        id = stored.id
        district = stored.district.rawValue
        state = stored.state.wire
        application = Foshan_Subsidy_V1_Application(stored.application)
        explanation = stored.explanation.map(Foshan_Subsidy_V1_AwardExplanation.init)
        awardedFen = stored.awardedFen
        decisionDate = stored.decisionDate
        decisionDocument = stored.decisionDocument
        createdAt = stored.createdAt
        updatedAt = stored.updatedAt
        contentKey = stored.contentKey
        enterpriseName = stored.enterpriseName
        publicizedOn = stored.publicizedOn
        publicityLastDay = stored.publicityLastDay
        disbursedOn = stored.disbursedOn
        callId = stored.callID
        lateReason = stored.lateReason
        filedOn = stored.filedOn
        recommendedOn = stored.recommendedOn
        recoveredOn = stored.recovery?.decisionDate ?? ""
        recoveryDocument = stored.recovery?.decisionDocument ?? ""
        history = stored.history.map { entry in
            var t = Foshan_Subsidy_V1_TransitionRecord()
            t.fromState = entry.from?.wire ?? .init(rawValue: 0)
            t.toState = entry.to.wire
            t.action = entry.action.rawValue
            t.tenant = entry.tenant
            t.actorUid = entry.actorUID
            t.at = entry.at
            t.reason = entry.reason
            t.requestId = clientRequestID(entry.requestID)
            t.decisionDate = entry.decisionDate
            t.decisionDocument = entry.decisionDocument
            t.changes = entry.changes.map { change in
                var c = Foshan_Subsidy_V1_FieldChange()
                c.field = change.field
                c.before = change.before
                c.after = change.after
                return c
            }
            return t
        }
    }
}

extension Foshan_Subsidy_V1_ApplicationRecord {
    /// An imported award just revoked, as a record: read from the ledger (no district holds an
    /// imported award), with its revocation as its one history entry.
    init(revoked award: CityLedger.ImportedAward, on date: CalendarDate?, document: String, request: String, actor: Actor, reason: String) {
        // The reply to the revocation itself: what the request carried (its id, date and 文号)
        // besides who, when and why, which the ledger keeps too.
        self.init(imported: award)
        state = .revoked
        history = [Self.revocation(of: award, actor: actor, reason: reason)]
        history[0].requestId = clientRequestID(request)
        history[0].decisionDate = date?.description ?? ""
        history[0].decisionDocument = document
    }

    private static func revocation(of award: CityLedger.ImportedAward, actor: Actor, reason: String) -> Foshan_Subsidy_V1_TransitionRecord {
        var revocation = Foshan_Subsidy_V1_TransitionRecord()
        revocation.fromState = .approved
        revocation.toState = .revoked
        revocation.action = Transition.revoke.rawValue
        revocation.tenant = actor.tenant
        revocation.actorUid = actor.uid
        revocation.at = award.updatedAt
        revocation.reason = reason
        return revocation
    }

    /// An imported award as a record (no district holds one: it is built from the ledger's
    /// commitment): APPROVED, or REVOKED once taken back — who, when and why in the history (the
    /// revocation's date and 文号 are in the ledger's audit chain). An import is never publicized
    /// or paid here: that happened before the system. Its grade is not kept.
    init(imported award: CityLedger.ImportedAward) {
        self.init()
        id = award.applicationID
        district = award.district
        state = switch award.state {
        case .live: .approved
        case .disbursed: .disbursed
        case .released, .clawback: .revoked
        }
        var application = Foshan_Subsidy_V1_Application()
        application.measure = Measure(rawValue: award.measure)?.wire ?? .init(rawValue: 0)
        application.fundingYear = Int32(clamping: award.fundingYear)
        application.enterpriseUscc = award.enterprise
        application.providerUscc = award.provider
        application.pilotId = award.pilotID
        application.programme = programmeName(ofVersion: award.policyVersion)
        if award.contentFingerprint.hasPrefix("contract:") { application.contractNumber = award.contentTyped } else { application.projectName = award.contentTyped }
        self.application = application
        awardedFen = award.amountFen
        decisionDate = award.decisionDate
        decisionDocument = award.decisionDocument
        createdAt = award.createdAt
        updatedAt = award.updatedAt
        contentKey = award.contentFingerprint
        if state == .revoked { history = [Self.revocation(of: award, actor: award.releaseActor, reason: award.releaseReason)] }
    }
}

extension Foshan_Subsidy_V1_AwardExplanation {
    init(_ decision: AwardDecision) {
        self.init(StoredExplanation(decision))
    }

    init(_ explanation: StoredExplanation) {
        self.init()
        awardFen = explanation.awardFen
        formulaFen = explanation.formulaFen
        policyVersion = explanation.policyVersion
        rendered = explanation.rendered
        limits = explanation.limits.map { limit in
            var l = Foshan_Subsidy_V1_LimitTrace()
            l.kind = limit.kind
            l.capId = limit.capID
            l.scope = limit.scope
            l.limit = limit.limit
            l.committed = limit.committed
            l.headroom = limit.headroom
            l.detail = limit.detail
            l.binding = limit.binding
            return l
        }
    }
}

/// Refuses an enum number the contract does not define: unknown to this release, it must not be
/// read as unset or as a value it is not.
func requireKnown<E: ProtoEnum>(_ value: E, field: String) throws(SubsidyError) {
    guard E.protoNames[value.rawValue] == nil else { return }
    let names = E.protoNames.sorted { $0.key < $1.key }.map(\.value).filter { !$0.hasSuffix("_UNSPECIFIED") }
    throw .invalidField(field, "\(value.rawValue) is not a value of this contract (one of \(names.joined(separator: ", ")))")
}

/// Parses a required date field.
func parseDate(_ text: String, field: String) throws(SubsidyError) -> CalendarDate {
    guard !text.isEmpty else { throw .invalidField(field, "is required (YYYY-MM-DD)") }
    do {
        return try CalendarDate(parsing: text)
    } catch {
        throw .invalidField(field, "must be a date YYYY-MM-DD (got \"\(text)\")")
    }
}

/// Parses a date field that may be left empty (nil).
/// A decision's date (approval, 公示, payment, refusal, revocation, an imported award's): a real
/// date from 2000-01-01 to today in Foshan. A decision is entered once it is taken, so a date
/// still to come is a mistake — a payment recorded before it was made, or a 公示 whose end, from
/// which payment may follow, is pushed into the future.
/// `planned`: a date for a plan, which commits nothing, and may be still to come.
func decisionDate(_ text: String, field: String, planned: Bool = false) throws(SubsidyError) -> CalendarDate {
    let date = try parseDate(text, field: field)
    try InputLimits.check(date, field: field, notAfter: planned ? nil : Clock.today(), latestName: "today in Foshan,")
    return date
}

/// A RecordRecovery request's id, date (the day the money came back: required, not after today)
/// and document; its reason is required, as a revocation's is.
func recoveryRequest(_ request: Foshan_Subsidy_V1_DecideApplicationRequest, context: CallContext) throws(SubsidyError) -> (RequestKey, CalendarDate, String) {
    guard !CanonicalText(request.reason).isEmpty else {
        throw .invalidField("request.reason", "is required to record a recovery (blanks and invisible characters alone are not a reason)")
    }
    try InputLimits.check(request.reason, InputLimits.reason, field: "request.reason")
    guard !request.decisionDate.isEmpty else { throw .invalidField("request.decision_date", "is required: the day the money came back (YYYY-MM-DD)") }
    let date = try decisionDate(request.decisionDate, field: "request.decision_date")
    return (try requestKey(request.requestId, context: context, request), date, try decisionDocument(request))
}

/// ``decisionDate(_:field:)`` where the date may be left out (empty: none).
func optionalDecisionDate(_ text: String, field: String) throws(SubsidyError) -> CalendarDate? {
    text.isEmpty ? nil : try decisionDate(text, field: field)
}

func parseOptionalDate(_ text: String, field: String) throws(SubsidyError) -> CalendarDate? {
    guard !text.isEmpty else { return nil }
    let date = try parseDate(text, field: field)
    try InputLimits.check(date, field: field)
    return date
}

/// The request id as the client sent it: stores keep it scoped by tenant (`nanhai:…`).
func clientRequestID(_ stored: String) -> String {
    guard let colon = stored.firstIndex(of: ":") else { return stored }
    let tenant = stored[..<colon]
    guard DistrictID(rawValue: String(tenant)) != nil || tenant == "city" else { return stored }
    return String(stored[stored.index(after: colon)...])
}

/// The idempotency key of a mutating request: the caller's tenant and id, and a hash of its
/// method and content. The tenant is part of the key so that one tenant's ids can never collide
/// with (or pre-empt) another's in a file both write, such as a district store the city decides in.
func requestKey(_ requestID: String, context: CallContext, _ request: some ProtoMessage) throws(SubsidyError) -> RequestKey {
    try checkRequestID(requestID)
    return requestKey(checked: requestID, context: context, request)
}

/// INVALID_ARGUMENT unless `requestID` is given and at most 128 bytes.
func checkRequestID(_ requestID: String) throws(SubsidyError) {
    guard !requestID.isEmpty else { throw .invalidField("request.request_id", "is required for every mutating call (any unique text, e.g. a UUID)") }
    guard requestID.utf8.count <= 128 else { throw .invalidField("request.request_id", "must be at most 128 bytes") }
}

/// The key of `request` under `requestID`, which the caller has checked (or derived from one it
/// checked, as each application of an ApproveApplications list is keyed).
func requestKey(checked requestID: String, context: CallContext, _ request: some ProtoMessage) -> RequestKey {
    RequestKey(id: context.tenant.id + ":" + requestID, fingerprint: HexDigest.sha256(Array(context.method.utf8) + [0] + request.serializedBytes()))
}

/// The reply `key` already has, for the district handlers whose checks read what may change
/// before a retry (``SubsidyStores/storedResponse(_:tenant:)``): looked up before those checks.
func storedReply<Response: ProtoMessage>(_ key: RequestKey, stores: SubsidyStores, context: CallContext) async throws(SubsidyError) -> Response? {
    let bytes = try await StoreCall.run(for: context) { try await stores.storedResponse(key, tenant: context.tenant.id) }
    return try bytes.map { bytes throws(SubsidyError) in try Response(serializedBytes: bytes, path: "stored") }
}

/// A response that carries one application record (submit, amend, review, decisions, …).
protocol RecordResponse: ProtoMessage {
    var record: Foshan_Subsidy_V1_ApplicationRecord? { get set }
}

extension RecordResponse {
    /// The encoded response for `stored`, with the clerk's `warnings`, as the request log keeps it.
    static func encoding(_ stored: StoredApplication, warnings: [String]) throws(SubsidyError) -> [UInt8] {
        var response = Self()
        var record = try Foshan_Subsidy_V1_ApplicationRecord(stored)
        record.warnings = warnings
        response.record = record
        return response.serializedBytes()
    }

    /// The encoded response for `stored`, as the request log keeps it.
    static func encoding(_ stored: StoredApplication) throws(SubsidyError) -> [UInt8] {
        try encoding(stored, warnings: [])
    }
}

extension Foshan_Subsidy_V1_SubmitApplicationResponse: RecordResponse {}
extension Foshan_Subsidy_V1_AmendApplicationResponse: RecordResponse {}
extension Foshan_Subsidy_V1_WithdrawApplicationResponse: RecordResponse {}
extension Foshan_Subsidy_V1_ReviewApplicationResponse: RecordResponse {}
extension Foshan_Subsidy_V1_ApproveApplicationResponse: RecordResponse {}
extension Foshan_Subsidy_V1_DecideApplicationResponse: RecordResponse {}

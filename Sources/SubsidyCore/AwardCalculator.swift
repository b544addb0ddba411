/// Computes what may be awarded for an application, and why — a pure function of the application,
/// the policy, a snapshot of city-wide usage and the city's decision input.
///
/// Order of checks (the first failure is the error):
/// 1. the application is well-formed (``Application/validate()``, `INVALID_ARGUMENT`);
/// 2. the policy offers the measure, the funding year and decision date are in the validity
///    window (`FAILED_PRECONDITION`, subject `validity_window`, naming the window);
/// 3. eligibility: locality, selection level, the voucher provider's pool membership, the
///    secondary-node recognition (`FAILED_PRECONDITION`, subject `eligibility`);
/// 4. the content has not been funded (`FAILED_PRECONDITION`, subject `duplicate_content` — chosen
///    over `ALREADY_EXISTS` because nothing is being created twice: the application exists, it is
///    the *system's state* that forbids approving it);
/// 5. one-time rules — count caps per applicant or pilot (`FAILED_PRECONDITION`, subject `one_time`);
/// 6. the follow-on condition (`FAILED_PRECONDITION`, subject `follow_on_condition`);
/// 7. annual count quotas (`RESOURCE_EXHAUSTED`, with the cap in the details);
/// 8. the amount: the least of the formula, the per-project limit, the combined upper-level limit
///    and every amount cap's headroom (caps are inclusive, percentages floored). Zero →
///    `RESOURCE_EXHAUSTED` naming the cap (or `FAILED_PRECONDITION` when the formula or the
///    upper-level money leaves nothing). With `allow_partial_awards = false`, an award below the
///    *entitlement* (formula, per-project and combined limits — the legal maximum) because a cap ran
///    short is refused with `RESOURCE_EXHAUSTED` too.
public enum AwardCalculator {
    /// The award for `application` under `policy` given `usage`, with its explanation and charges.
    public static func compute(
        application: Application, policy: Policy, usage: some UsageSnapshot, decision: DecisionInput
    ) throws(SubsidyError) -> AwardDecision {
        try application.validate()
        let measure = application.measure
        let rule = try policy.rule(for: measure)
        let date = decision.decisionDate
        var conditions: [LimitTrace] = []

        // General rule 1: funding year and decision date inside the policy.
        _ = try policy.fundingYear(application.fundingYear.year)
        try policy.checkDecisionDate(date, fundingYear: application.fundingYear)
        conditions.append(LimitTrace(
            kind: .validityWindow,
            detail: "funding year \(application.fundingYear) in \(policy.fundingYears.lowerBound)–\(policy.fundingYears.upperBound); decision date \(date) in \(policy.validityText)"))

        conditions += try eligibility(application, rule: rule, usage: usage, date: date)

        // General rule 2: the same content is never funded twice.
        let fingerprint = application.contentFingerprint
        // Read once: the duplicate check and the stacking limits ask the same question of it.
        let held = try usage.fundedContent(application.lookupKeys)
        if let conflict = duplicate(of: application, held: held, rule: rule, programme: policy.name, stackingElsewhere: policy.stackingElsewhere) { throw conflict }
        let across = rule.stackingRate == nil ? try stackingOnOtherLevels(application, policy: policy, held: held) : nil
        conditions.append(LimitTrace(
            kind: .duplicateContent,
            detail: rule.stackingRate != nil
                ? "content \(application.contentText) (\(fingerprint)) not funded before under \(policy.name); other programmes' awards count toward the stacking limit"
                : across != nil
                    ? "content \(application.contentText) (\(fingerprint)): no award of \(policy.name) forbids it; another programme's award of it, "
                        + "under a measure with a stacking limit, binds this one to that limit (below)"
                    : "content \(application.contentText) (\(fingerprint)) not funded before"))
        // Resolve every applicable cap, its limit for this application and its usage once.
        var caps: [ResolvedCap] = []
        for cap in rule.caps where cap.applies(to: application) {
            guard let key = cap.key(for: application, policyName: policy.name) else {
                throw SubsidyError(.internal, "cap \(cap.id) has no subject in the application")
            }
            let (limit, tier) = cap.limit(for: application)
            caps.append(ResolvedCap(rule: cap, key: key, used: try usage.committed(key), limit: limit, tier: tier))
        }

        // One-time rules, then the follow-on condition, then annual quotas.
        for cap in caps {
            guard case let .count(limit) = cap.limit, cap.rule.subject != .city, cap.used.count >= limit else { continue }
            let who = switch cap.rule.subject {
            case .pilot: "pilot \(application.pilotID)"
            case .provider: "provider \(application.provider?.rawValue ?? "")"
            case .applicant, .city: "applicant \(application.enterprise)"
            }
            throw SubsidyError.precondition(
                "one_time",
                "\(who) already has \(cap.used.count) \(measure) award\(cap.used.count == 1 ? "" : "s") and \(cap.rule.describe(scope: cap.key)) allows no more")
        }
        if let followOn = rule.followOn {
            conditions.append(try checkFollowOn(followOn, application: application, usage: usage, date: date))
        }
        for cap in caps {
            guard case let .count(limit) = cap.limit, cap.rule.subject == .city, cap.used.count >= limit else { continue }
            throw SubsidyError.capExhausted(
                "\(cap.rule.describe(scope: cap.key)) exhausted: \(cap.used.count) awards committed",
                key: cap.key, limit: cap.limit, committed: cap.used, requested: .zero)
        }

        // The amount.
        let (formulaAmount, formulaDetail, document) = try formula(application, rule: rule, decision: decision)
        var limits: [LimitTrace] = [LimitTrace(kind: .formula, limit: formulaAmount, headroom: formulaAmount, detail: formulaDetail)]
        if let perProject = rule.perProjectCap {
            limits.append(LimitTrace(kind: .perProject, limit: perProject, headroom: perProject,
                                     detail: "at most \(perProject.yuanText) per project (article \(rule.article))"))
        }
        if let rate = rule.combinedUpperLevelRate, let base = measure.combinedUpperLevelBase {
            let (baseAmount, baseName) = value(of: base, in: application)
            let maximum = baseAmount.scaled(by: rate)
            // The upper-level funds of the project, declared with this application or with another
            // award of it (Shunde's 省市标杆配套 may hold it): the same funds, counted once.
            let declared = declaredUpperLevel(application.upperLevelSubsidy, measure: measure, contract: application.hasContract, held: held)
            let upper = declared.amount
            let headroom = maximum.headroom(after: upper)
            let with = declared.with.map { " (declared with \($0))" } ?? ""
            limits.append(LimitTrace(
                kind: .combinedUpperLevel, limit: maximum, committed: upper, headroom: headroom,
                detail: "upper-level + city ≤ \(rate) of \(baseName) = \(maximum); upper-level received \(upper)\(with) leaves \(headroom)"))
        }
        if let ceiling = rule.gradeCeilings[application.grade] {
            limits.append(LimitTrace(
                kind: .gradeCeiling, limit: ceiling, headroom: ceiling,
                detail: "at most \(ceiling.yuanText) for a recognition graded \(application.grade.label)"))
        } else if !rule.gradeCeilings.isEmpty {
            let graded = Grade.allCases.filter { rule.gradeCeilings[$0] != nil }.map(\.rawValue).joined(separator: ", ")
            throw SubsidyError.precondition("eligibility", "\(measure) has ceilings for grades \(graded); the application is graded \(application.grade)")
        }
        if !rule.differenceOf.isEmpty {
            limits.append(try difference(application, rule: rule, usage: usage, upTo: limits.compactMap(\.headroom).min() ?? .zero))
        }
        if let stackingRate = rule.stackingRate {
            if case let .rate(base) = measure.formulaShape {
                limits.append(try stacking(application, rate: stackingRate, base: base, programme: policy.name, held: held))
            } else if let trace = try stackingOnAwardedBases(application, rate: stackingRate, programme: policy.name, held: held) {
                limits.append(trace)
            }
        } else if let across {
            limits.append(across)
        }
        let entitlement = limits.compactMap(\.headroom).min() ?? .zero

        for cap in caps {
            switch cap.limit {
            case let .amount(limit):
                let headroom = limit.headroom(after: cap.used.amount)
                let tier = cap.tier.map { " (\($0))" } ?? ""
                limits.append(LimitTrace(
                    kind: cap.rule.traceKind, capKey: cap.key, limit: limit, committed: cap.used.amount, headroom: headroom,
                    detail: "\(cap.rule.describe(scope: cap.key, limit: cap.limit))\(tier): committed \(cap.used.amount), leaves \(headroom)"))
            case let .count(limit):
                limits.append(LimitTrace(
                    kind: cap.rule.traceKind, capKey: cap.key, limitCount: limit, committedCount: cap.used.count,
                    detail: "\(cap.rule.describe(scope: cap.key)): \(cap.used.count) committed, this is number \(cap.used.count + 1)"))
            }
        }

        let award = limits.compactMap(\.headroom).min() ?? .zero
        guard let bindingIndex = limits.firstIndex(where: { $0.headroom == award }) else {
            throw SubsidyError(.internal, "no limit produced the award \(award)")
        }
        limits[bindingIndex].binding = true
        let binding = limits[bindingIndex]

        if award <= .zero && binding.kind != .difference {
            switch binding.kind {
            case .formula:
                throw SubsidyError.precondition("formula", "\(measure) formula gives \(formulaAmount.yuanText): \(formulaDetail)")
            case .combinedUpperLevel:
                throw SubsidyError.precondition("combined_upper_level", "upper-level subsidy leaves no room for city money: \(binding.detail)")
            case .stacking:
                throw SubsidyError.precondition("stacking", "the public money already awarded for this content leaves nothing: \(binding.detail)")
            default:
                throw exhausted(binding, caps: caps, requested: entitlement, suffix: "exhausted:")
            }
        }
        if !policy.allowPartialAwards && award < entitlement {
            throw exhausted(binding, caps: caps, requested: entitlement,
                            suffix: "leaves only \(award.yuanText) of the \(entitlement.yuanText) due, and policy \(policy.name) does not allow partial awards (allow_partial_awards = false);")
        }

        let charges = caps.map { CapCharge(key: $0.key, amount: award, count: 1, limit: $0.limit) }
        // Every approval may name its 文号; case by case requires one (checked in the formula).
        var result = AwardDecision(
            measure: measure, fundingYear: application.fundingYear, enterprise: application.enterprise,
            contentFingerprint: fingerprint, decisionDate: date, decisionDocument: document ?? decision.decisionDocument, award: award,
            formulaAmount: formulaAmount, limits: conditions + limits, charges: charges, policyVersion: policy.version)
        result.contentTyped = application.contentText.typed
        result.contentKeys = application.contentKeys
        if measure == .clusterPilot || measure == .clusterPilotFollowOn { result.pilotKey = application.pilotKey }
        if measure == .clusterPilot { result.selectionDate = application.selectionDate }
        result.stackingBase = stackingBase(of: application)
        result.upperLevel = application.upperLevelSubsidy
        return result
    }

    /// `FAILED_PRECONDITION` (`duplicate_content`) naming the award that already holds the
    /// application's content, or nil. A pilot's selection award and its follow-on share content
    /// by design (``Measure/sharesContent(with:)``); every other pair — the same measure twice, or
    /// two measures for one project — is double funding. Submit and review ask the same question
    /// early, so the clerk hears it before the city does.
    ///
    /// Under a programme with a stacking limit (``MeasureRule/stackingRate``), content funded by
    /// *another* programme is not a conflict (the stacking limit counts it instead); nor, under
    /// any programme, is content another programme funded under a measure with a stacking limit
    /// (``Policy/stackingElsewhere``: that limit binds this award instead, as it binds the
    /// stacking measure's own when that one comes second). Within one programme it always is, except between measures linked
    /// by a difference award (the later award subtracts the earlier).
    /// - Parameter policy: the programme deciding (nil: the 2020 policy, with nothing stacking).
    public static func duplicate(
        of application: Application, usage: some UsageSnapshot, rule: MeasureRule? = nil, policy: Policy? = nil
    ) throws(SubsidyError) -> SubsidyError? {
        duplicate(
            of: application, held: try usage.fundedContent(application.lookupKeys), rule: rule, programme: policy?.name ?? "foshan-2020",
            stackingElsewhere: policy?.stackingElsewhere ?? [:])
    }

    /// ``duplicate(of:usage:rule:policy:)`` given the awards holding the application's content.
    private static func duplicate(
        of application: Application, held: [FundedContent], rule: MeasureRule?, programme: String, stackingElsewhere: [Measure: Rate]
    ) -> SubsidyError? {
        let conflicts = held.filter {
            forbids($0, application.measure, contract: application.hasContract, rule: rule, programme: programme, stackingElsewhere: stackingElsewhere)
        }
        guard let first = conflicts.first else {
            return nil
        }
        let typed = first.typed.isEmpty ? "" : " (typed there as \"\(first.typed)\")"
        return SubsidyError.precondition(
            "duplicate_content",
            "the same implementation content \(application.contentText) is already funded as \(first.applicationID) under \(first.measure)\(typed); "
                + "content \(first.key) may not be funded again by any measure or district"
                + (first.awaitingRecovery
                    ? " (\(first.applicationID) was revoked after payment and the money is not back: once it is, its recovery recorded (RecordRecovery, "
                        + "`subsidyctl recover`) frees the content)" : ""))
    }

    /// Whether `funded` forbids an award of `measure` under `programme` (general rule 2, with the
    /// exceptions ``duplicate(of:usage:rule:policy:)`` lists).
    private static func forbids(
        _ funded: FundedContent, _ measure: Measure, contract: Bool, rule: MeasureRule?, programme: String, stackingElsewhere: [Measure: Rate]
    ) -> Bool {
        guard Application.isDoubleFunding(measure, contract: contract, as: funded) else { return false }
        if funded.programme != programme && (rule?.stackingRate != nil || stackingElsewhere[funded.measure] != nil) { return false }
        if let rule, funded.programme == programme, rule.differenceOf.contains(funded.measure) { return false }
        return true
    }

    /// The content rules for a decision made before the system existed (ImportHistory), as a live
    /// decision of `measure` under `policy` meets them: the first award in `held` that forbids it
    /// (``duplicate(of:usage:rule:policy:)``), else nil and, where another programme's stacking
    /// limit would bind a live award (``stackingOnOtherLevels(_:policy:held:)``), that limit's
    /// trace. An imported amount is already decided: a caller refuses what exceeds the trace's
    /// headroom, as it cannot pay less. `base` is the row's declared base (zero: none).
    public static func importedContent(
        _ measure: Measure, contract: Bool, base: Money, policy: Policy, held: [FundedContent]
    ) throws(SubsidyError) -> (forbidden: FundedContent?, stacking: LimitTrace?) {
        let rule = policy.rules[measure]
        if let first = held.first(where: { forbids($0, measure, contract: contract, rule: rule, programme: policy.name, stackingElsewhere: policy.stackingElsewhere) }) {
            return (first, nil)
        }
        guard rule?.stackingRate == nil else { return (nil, nil) }
        let own = base > .zero ? (amount: base, name: "the row's base_fen, \(base)") : nil
        return (nil, try stackingOnOtherLevels(
            measure, contract: contract, base: own, upperLevel: declaredUpperLevel(.zero, measure: measure, contract: contract, held: held), policy: policy,
            held: held))
    }

    /// A cap as it applies to one application: its key, its usage and its limit (a revenue tier's).
    struct ResolvedCap {
        let rule: CapRule
        let key: CapKey
        let used: CapUsage
        let limit: CapLimit
        /// The revenue tier used, for the explanation.
        let tier: String?
    }

    private static func exhausted(_ binding: LimitTrace, caps: [ResolvedCap], requested: Money, suffix: String) -> SubsidyError {
        guard let cap = caps.first(where: { $0.key == binding.capKey }) else {
            return SubsidyError(.internal, "binding limit \(binding.kind.label) is not a cap")
        }
        return SubsidyError.capExhausted(
            "\(cap.rule.describe(scope: cap.key, limit: cap.limit)) \(suffix) committed \(cap.used.amount), requested \(requested)",
            key: cap.key, limit: cap.limit, committed: cap.used, requested: requested)
    }

    /// 差额奖励: `decided` (the formula within its ceilings) less every live award to the same
    /// enterprise under the linked measures, never below zero; the trace names each award.
    private static func difference(
        _ application: Application, rule: MeasureRule, usage: some UsageSnapshot, upTo decided: Money
    ) throws(SubsidyError) -> LimitTrace {
        let earlier = try usage.earlierAwards(to: application.enterprise, under: rule.differenceOf)
        var total = Money.zero
        for award in earlier {
            guard let sum = total.adding(award.amount) else { throw SubsidyError(.internal, "earlier awards overflow") }
            total = sum
        }
        let headroom = decided.headroom(after: total)
        let linked = Measure.allCases.filter(rule.differenceOf.contains).map(\.rawValue).joined(separator: ", ")
        let named = earlier.isEmpty
            ? "no earlier award to \(application.enterprise) under \(linked)"
            : earlier.map { "\($0.applicationID) \($0.measure) \($0.amount)" }.joined(separator: " + ") + " = \(total)"
        let zero = headroom <= .zero ? "; the earlier awards already reach it, so nothing is paid (the recognition is recorded and counted)" : ""
        return LimitTrace(
            kind: .difference, limit: decided, committed: total, headroom: headroom,
            detail: "difference award (按累计奖补的差额): \(decided) less \(named) leaves \(headroom)\(zero)")
    }

    /// What `application`'s rate applies to (``AwardDecision/stackingBase``): zero for a fixed or
    /// case-by-case amount.
    public static func stackingBase(of application: Application) -> Money {
        guard case let .rate(base) = application.measure.formulaShape else { return .zero }
        return value(of: base, in: application).0
    }

    /// Stacking across levels: the formula's base × `rate` less the public money already awarded
    /// for the same content under other programmes and the upper-level funds declared. The base
    /// is the smallest declared for the content: this application's, or one an earlier award of
    /// it was computed from (a later filing declaring a larger contract must not make room the
    /// contract does not have) — an award of the same kind of base (a contract's amount is not an
    /// investment) on the key that base belongs to: the contract for a contract's amount (a
    /// voucher on another contract of the same project has its own contract), the project for
    /// the others (typing a contract number on a project does not make it another project).
    private static func stacking(
        _ application: Application, rate: Rate, base: Measure.FormulaBase, programme: String, held: [FundedContent]
    ) throws(SubsidyError) -> LimitTrace {
        var (baseAmount, baseName) = value(of: base, in: application)
        // The key the base belongs to: a contract's amount to the contract, an investment (and
        // every other base) to the project — not whichever key a typed contract number put first.
        let baseKey = application.contentKeys.first { $0.hasPrefix(base == .lowerOfContractAndPaid ? "contract:" : "project:") }
        let (others, awarded, named) = try sameContentAwards(of: application.measure, contract: application.hasContract, except: programme, held: held)
        for funded in others
        where funded.base > .zero && funded.base < baseAmount && funded.key == baseKey && funded.measure.formulaShape == .rate(base) {
            (baseAmount, baseName) = (funded.base, "the base \(funded.applicationID) was awarded on, \(funded.base) (less than this application's \(baseName))")
        }
        return try stackingTrace(
            upperLevel: declaredUpperLevel(application.upperLevelSubsidy, measure: application.measure, contract: application.hasContract, held: held), rate: rate, base: baseAmount, baseName: baseName, awarded: awarded,
            named: named)
    }

    /// The awards in `held` for the same content as an award of `measure` (naming a contract:
    /// `contract`; ``Application/isSameContent(_:contract:as:)``), except those of programme
    /// `except`, each once: what stacking adds to the public money for the content, their total
    /// and how its trace names them.
    private static func sameContentAwards(
        of measure: Measure, contract: Bool, except: String? = nil, held: [FundedContent]
    ) throws(SubsidyError) -> (awards: [FundedContent], total: Money, named: [String]) {
        var seen = Set<String>()
        var (awards, total, named) = ([FundedContent](), Money.zero, [String]())
        for funded in held
        where funded.programme != except && Application.isSameContent(measure, contract: contract, as: funded) && seen.insert(funded.applicationID).inserted
        {
            guard let sum = total.adding(funded.amount) else { throw SubsidyError(.internal, "stacked awards overflow") }
            total = sum
            awards.append(funded)
            named.append("\(funded.applicationID) (\(funded.programme) \(funded.measure)) \(funded.amount)")
        }
        return (awards, total, named)
    }

    /// Stacking for a measure whose amount has no base of its own (case by case: Shunde's 省市标杆配套,
    /// matching the city's benchmark award for the same project): all public awards for the
    /// content ≤ `rate` × the smallest base the other programmes' awards of it were computed from.
    /// Nil when no other programme's award holds the content (nothing is stacked on);
    /// `FAILED_PRECONDITION` `stacking` when some do and none has a known base.
    private static func stackingOnAwardedBases(
        _ application: Application, rate: Rate, programme: String, held: [FundedContent]
    ) throws(SubsidyError) -> LimitTrace? {
        let (others, awarded, named) = try sameContentAwards(of: application.measure, contract: application.hasContract, except: programme, held: held)
        guard !others.isEmpty else { return nil }
        var base: (amount: Money, name: String)?
        for funded in others {
            // A project's amount (its investment, …), not one of its contracts': the match is
            // of the project.
            guard funded.base > .zero, funded.key.hasPrefix("project:"), case let .rate(kind) = funded.measure.formulaShape,
                kind != .lowerOfContractAndPaid, base.map({ funded.base < $0.amount }) ?? true
            else { continue }
            base = (funded.base, "the base \(funded.applicationID) was awarded on, \(funded.base)")
        }
        guard let base else {
            throw SubsidyError.precondition(
                "stacking",
                "all public awards for the content may not exceed \(rate) of the base they were computed from, and no base is known for "
                    + "\(named.joined(separator: " + ")); the award cannot be bounded")
        }
        return try stackingTrace(
            upperLevel: declaredUpperLevel(application.upperLevelSubsidy, measure: application.measure, contract: application.hasContract, held: held), rate: rate, base: base.amount,
            baseName: base.name, awarded: awarded, named: named)
    }

    /// The upper-level (national, provincial) funds declared for the content: the most any
    /// application for it declared, this one (`own`) or one an award in `held` was made on, with
    /// that award's id. One content's upper-level funds are the same money however often they are
    /// declared, so the largest declaration counts, once; forgotten, an award made after one that
    /// declared them would fill the room they take.
    private static func declaredUpperLevel(_ own: Money, measure: Measure, contract: Bool, held: [FundedContent]) -> (amount: Money, with: String?) {
        var declared: (amount: Money, with: String?) = (own, nil)
        for funded in held where funded.upperLevel > declared.amount && Application.isSameContent(measure, contract: contract, as: funded) {
            declared = (funded.upperLevel, funded.applicationID)
        }
        return declared
    }

    /// The stacking limit's trace: `rate` × `base`, less `awarded` and the upper-level funds declared.
    private static func stackingTrace(
        upperLevel: (amount: Money, with: String?), rate: Rate, base: Money, baseName: String, awarded: Money, named: [String], rule: String = ""
    ) throws(SubsidyError) -> LimitTrace {
        var named = named
        let maximum = base.scaled(by: rate)
        guard let committed = awarded.adding(upperLevel.amount) else { throw SubsidyError(.internal, "stacked awards overflow") }
        if upperLevel.amount > .zero { named.append("declared upper-level funds \(upperLevel.amount)" + (upperLevel.with.map { " (declared with \($0))" } ?? "")) }
        let headroom = maximum.headroom(after: committed)
        let what = named.isEmpty ? "no other public money for this content" : named.joined(separator: " + ")
        return LimitTrace(
            kind: .stacking, limit: maximum, committed: committed, headroom: headroom,
            detail: "\(rule)all public awards for the content ≤ \(rate) of \(baseName) = \(maximum); \(what) leaves \(headroom)")
    }

    /// Stacking across levels when a measure with a stacking limit decided first: content an award
    /// under such a measure of another programme holds (``Policy/stackingElsewhere``) is not
    /// refused by a programme without a limit of its own (``duplicate(of:usage:rule:policy:)``),
    /// and that limit binds this award as it would have bound the other had this one come first.
    /// More conservative than the limit's own programme, because this programme's awards may
    /// share content among themselves (a difference award, a pilot's follow-on): every counted
    /// award holding the content counts, this programme's too, and the base is the smallest of
    /// this application's (a rate measure's) and every stacking award's, whatever their kinds.
    /// With two such limits, the lower rate. Nil when no such award holds the content.
    private static func stackingOnOtherLevels(_ application: Application, policy: Policy, held: [FundedContent]) throws(SubsidyError) -> LimitTrace? {
        let base: (amount: Money, name: String)? = if case let .rate(kind) = application.measure.formulaShape { value(of: kind, in: application) } else { nil }
        return try stackingOnOtherLevels(
            application.measure, contract: application.hasContract, base: base,
            upperLevel: declaredUpperLevel(application.upperLevelSubsidy, measure: application.measure, contract: application.hasContract, held: held),
            policy: policy, held: held)
    }

    /// ``stackingOnOtherLevels(_:policy:held:)`` for an award of `measure` whose own base (a rate
    /// measure's) is `base`, with `upperLevel` of upper-level funds declared.
    private static func stackingOnOtherLevels(
        _ measure: Measure, contract: Bool, base: (amount: Money, name: String)?, upperLevel: (amount: Money, with: String?), policy: Policy, held: [FundedContent]
    ) throws(SubsidyError) -> LimitTrace? {
        var limit: (rate: Rate, funded: FundedContent)?
        for funded in held where funded.programme != policy.name && Application.isDoubleFunding(measure, contract: contract, as: funded) {
            guard let rate = policy.stackingElsewhere[funded.measure] else { continue }
            // The lower of two rates: a/b < c/d ⇔ a·d < c·b, in 128 bits.
            if let current = limit?.rate {
                let (lower, higher) = (rate.numerator.multipliedFullWidth(by: current.denominator), current.numerator.multipliedFullWidth(by: rate.denominator))
                guard (lower.high, lower.low) < (higher.high, higher.low) else { continue }
            }
            limit = (rate, funded)
        }
        guard let (rate, stacker) = limit else { return nil }
        var base = base
        // Every award of the content, this programme's too.
        let (all, awarded, named) = try sameContentAwards(of: measure, contract: contract, held: held)
        for funded in all {
            guard policy.stackingElsewhere[funded.measure] != nil, funded.base > .zero, base.map({ funded.base < $0.amount }) ?? true else { continue }
            let than = base.map { " (less than \($0.name))" } ?? ""
            base = (funded.base, "the base \(funded.applicationID) was awarded on, \(funded.base)\(than)")
        }
        let rule = "stacking across levels (\(stacker.programme)'s \(stacker.measure) award \(stacker.applicationID) holds this content): "
        guard let base else {
            throw SubsidyError.precondition(
                "stacking",
                "\(rule)all public awards for the content may not exceed \(rate) of the base they were computed from, and no base is known for "
                    + "\(named.joined(separator: " + ")); the award cannot be bounded")
        }
        return try stackingTrace(upperLevel: upperLevel, rate: rate, base: base.amount, baseName: base.name, awarded: awarded, named: named, rule: rule)
    }

    /// Locality, selection level and the measure's own conditions.
    private static func eligibility(
        _ application: Application, rule: MeasureRule, usage: some UsageSnapshot, date: CalendarDate
    ) throws(SubsidyError) -> [LimitTrace] {
        let measure = application.measure
        var traces: [LimitTrace] = []
        let allowed = Locality.allCases.filter(rule.localities.contains).map(\.rawValue).joined(separator: ", ")
        guard rule.localities.contains(application.enterpriseLocality) else {
            throw SubsidyError.precondition(
                "eligibility",
                "\(measure) (article \(rule.article)) is only for \(allowed) applicants; \(application.enterprise) is \(application.enterpriseLocality)")
        }
        traces.append(LimitTrace(kind: .eligibility, detail: "applicant \(application.enterprise) is \(application.enterpriseLocality) (allowed: \(allowed))"))

        if let levels = rule.selectionLevels {
            let allowedLevels = SelectionLevel.allCases.filter(levels.contains).map(\.rawValue).joined(separator: ", ")
            guard levels.contains(application.selectionLevel) else {
                throw SubsidyError.precondition(
                    "eligibility",
                    "\(measure) (article \(rule.article)) needs selection at level \(allowedLevels); the application says \(application.selectionLevel)")
            }
            traces.append(LimitTrace(kind: .eligibility, detail: "selected at \(application.selectionLevel) level (allowed: \(allowedLevels))"))
        }
        if let selected = application.selectionDate {
            try InputLimits.check(selected, field: "application.selection_date", notAfter: date, latestName: "the decision date")
        }

        if let catalogue = rule.catalogue {
            guard let provider = application.provider else {
                throw SubsidyError.invalidField("application.provider_uscc", "required for \(measure) (the seller must be in catalogue \(catalogue))")
            }
            guard try usage.isCatalogueMember(provider, catalogue: catalogue, on: date) else {
                throw SubsidyError.precondition(
                    "eligibility", "provider \(provider) is not in catalogue \(catalogue) on \(date); \(measure) pays only for catalogue products")
            }
            traces.append(LimitTrace(kind: .eligibility, detail: "provider \(provider) is in catalogue \(catalogue) on \(date)"))
        }
        switch measure {
        case .cloudVoucher:
            // validate() guarantees a provider for vouchers.
            guard let provider = application.provider else { break }
            // 资源池本地服务商: the seller is a local provider. The pool holds providers from
            // elsewhere too; one registered outside Foshan (positions 3–8 not 4406xx, the rule
            // the registry's LOCAL follows) is not local, whatever the pool says.
            guard provider.isRegisteredInFoshan else {
                throw SubsidyError.precondition(
                    "eligibility",
                    "provider \(provider) was registered in area \(provider.rawValue.dropFirst(2).prefix(6)), outside Foshan (4406xx): "
                        + "vouchers pay only for local providers' products (资源池本地服务商)")
            }
            guard try usage.isPoolMember(provider, on: date) else {
                throw SubsidyError.precondition(
                    "eligibility",
                    "provider \(provider) is not in the Foshan industrial-internet resource pool (资源池) on \(date); vouchers pay only for pool providers' products")
            }
            traces.append(LimitTrace(kind: .eligibility, detail: "provider \(provider) is in the Foshan resource pool on \(date)"))
        case .identifierNode:
            guard application.recognisedSecondaryNode else {
                throw SubsidyError.precondition(
                    "eligibility",
                    "IDENTIFIER_NODE needs a project recognised as a secondary node (二级节点) by the national or provincial authority")
            }
            traces.append(LimitTrace(kind: .eligibility, detail: "recognised secondary identifier-resolution node"))
        default:
            break
        }
        return traces
    }

    /// Article 五: the follow-on belongs to a pilot with a live `CLUSTER_PILOT` award to the same
    /// lead unit, and ≥ N distinct served enterprises hold a voucher obtained within the window
    /// that runs from the selection date recorded with that award — never from a date the
    /// follow-on application itself declares.
    private static func checkFollowOn(
        _ followOn: MeasureRule.FollowOn, application: Application, usage: some UsageSnapshot, date: CalendarDate
    ) throws(SubsidyError) -> LimitTrace {
        let pilot = CanonicalText(application.pilotID)
        guard let award = try usage.pilotAward(pilot.key) else {
            throw SubsidyError.precondition(
                "follow_on_condition",
                "pilot \(pilot) has no live CLUSTER_PILOT award in the ledger; a follow-on belongs to an awarded pilot")
        }
        guard award.enterprise == application.enterprise else {
            throw SubsidyError.precondition(
                "follow_on_condition",
                "pilot \(pilot) was awarded to \(award.enterprise) (\(award.applicationID)), not to \(application.enterprise)")
        }
        guard let selected = award.selectionDate else {
            throw SubsidyError.precondition(
                "follow_on_condition",
                "the award \(award.applicationID) of pilot \(pilot) records no selection date, so the follow-on's window cannot be known; "
                    + "import the pilot's award with its selection_date")
        }
        guard let windowEnd = selected.adding(years: followOn.windowYears) else {
            throw SubsidyError(.internal, "the window of pilot \(pilot.key) cannot be computed from \(selected)")
        }
        let window = "\(selected)..\(windowEnd)"
        if followOn.decisionWithinWindow && date > windowEnd {
            throw SubsidyError.precondition(
                "follow_on_condition",
                "decision date \(date) is more than \(followOn.windowYears) years after the pilot's selection on \(selected) (window \(window), from \(award.applicationID))")
        }
        let served = Set(application.servedEnterprises)
        // A voucher decided after this decision's own date did not exist when it was made: a
        // follow-on decided inside the window (or dated back to a day inside it) counts only the
        // vouchers decided by then.
        let countedThrough = min(windowEnd, date)
        let foshan = try usage.voucherRecipients(among: served.sorted(), decidedFrom: selected, through: countedThrough)
        let declared = Set(application.provincialVoucherEnterprises)  // ⊆ served, by validate()
        let holders = foshan.union(declared)
        // ≥ N distinct *Foshan* cluster enterprises: a code another city registered does not
        // count, and twins (one organisation code under two USCCs) count once.
        let local = holders.filter(\.isRegisteredInFoshan)
        let organisations = Set(local.map(\.organisationCode)).count
        var notCounted: [String] = []
        if local.count < holders.count { notCounted.append("\(holders.count - local.count) registered outside Foshan") }
        if organisations < local.count { notCounted.append("\(local.count - organisations) sharing another's organisation code") }
        let unlisted = notCounted.isEmpty ? "" : "; not counted: " + notCounted.joined(separator: ", ")
        let summary = "pilot \(pilot.key) selected \(selected) (\(award.applicationID)); \(organisations) of \(served.count) served enterprises hold a voucher (\(foshan.count) Foshan vouchers decided \(selected)..\(countedThrough), \(declared.subtracting(foshan).count) more declared Guangdong vouchers\(unlisted)); need ≥ \(followOn.minServedEnterprises) distinct Foshan enterprises"
        guard organisations >= followOn.minServedEnterprises else {
            throw SubsidyError.precondition("follow_on_condition", summary)
        }
        return LimitTrace(kind: .followOnCondition, detail: summary)
    }

    /// The formula's amount, a sentence explaining it, and the decision document (case by case).
    private static func formula(
        _ application: Application, rule: MeasureRule, decision: DecisionInput
    ) throws(SubsidyError) -> (Money, String, String?) {
        // An amount typed for a measure its formula decides would be dropped without a word, and
        // the clerk who typed 1 yuan would find the formula's 210,000 committed.
        if application.measure.formulaShape != .caseByCase, let typed = decision.caseAmount, typed > .zero {
            throw SubsidyError.invalidField(
                "case_amount_fen",
                "applies only to case-by-case (一事一议) measures; \(application.measure) is awarded by its formula: leave the amount (\(typed)) out")
        }
        switch application.measure.formulaShape {
        case .fixed:
            guard let amount = rule.amount else { throw SubsidyError(.internal, "policy has no amount for \(application.measure)") }
            guard application.measure == .poolEntry, let bonus = rule.provincialPoolBonus else {
                return (amount, "fixed award \(amount) (article \(rule.article))", nil)
            }
            guard application.inProvincialPool else {
                return (amount, "first entry \(amount); not in the Guangdong provincial pool, so no bonus", nil)
            }
            guard let total = amount.adding(bonus) else { throw SubsidyError(.internal, "pool-entry award overflows") }
            return (total, "first entry \(amount) + Guangdong provincial pool bonus \(bonus) = \(total)", nil)
        case let .rate(base):
            guard let rate = rule.rate else { throw SubsidyError(.internal, "policy has no rate for \(application.measure)") }
            let (baseAmount, baseName) = value(of: base, in: application)
            let amount = baseAmount.scaled(by: rate)
            return (amount, "\(rate) of \(baseName) = \(amount)", nil)
        case .caseByCase:
            guard let amount = decision.caseAmount, amount > .zero else {
                throw SubsidyError.invalidField("case_amount_fen", "required and > 0 for \(application.measure) (一事一议: the city decides the amount)")
            }
            guard let document = decision.decisionDocument, !CanonicalText(document).isEmpty else {
                throw SubsidyError.invalidField("decision_document", "required for \(application.measure) (一事一议: the city's decision document number)")
            }
            return (amount, "case by case (一事一议) per \(document): \(amount)\(application.grade == .none ? "" : ", graded \(application.grade.label)")", document)
        }
    }

    /// The base amount and a phrase naming it: `min(contract 1,200,000.00, paid 1,200,000.00)`.
    private static func value(of base: Measure.FormulaBase, in application: Application) -> (Money, String) {
        switch base {
        case .lowerOfContractAndPaid:
            let lower = min(application.contractAmount, application.paidAmount)
            return (lower, "min(contract \(application.contractAmount), paid \(application.paidAmount))")
        case .investedAmount:
            return (application.investedAmount, "invested \(application.investedAmount)")
        case .constructionAmount:
            return (application.constructionAmount, "construction amount \(application.constructionAmount)")
        case .totalInvestment:
            return (application.totalInvestment, "total investment \(application.totalInvestment)")
        case .upperLevelAwardTotal:
            return (application.upperLevelAwardTotal, "upper-level award total \(application.upperLevelAwardTotal)")
        case .previousYearServiceSpend:
            return (application.previousYearServiceSpend, "previous-year service spend \(application.previousYearServiceSpend)")
        case .nationalFundingReceived:
            return (application.upperLevelAwardTotal, "national funding received \(application.upperLevelAwardTotal)")
        }
    }
}

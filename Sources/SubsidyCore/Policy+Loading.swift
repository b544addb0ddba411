extension Policy {
    /// Parses and validates a policy file. `name` labels the policy (e.g. `foshan-2020`): it begins
    /// the version, errors and whole-policy cap scopes.
    ///
    /// Every problem stops loading with a ``PolicyError`` naming the line and the dotted key:
    /// syntax errors, duplicate keys or tables, unknown tables, measures or keys (a typo must not
    /// silently drop a cap), missing keys, wrong types and out-of-range values.
    public static func load(text: String, name: String) throws(PolicyError) -> Policy {
        guard !name.isEmpty, name.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }),
              name.utf8.contains(where: { (97...122).contains($0) }) else {
            throw PolicyError(policyName: name, line: nil, key: nil,
                              problem: "policy name must be lower-case letters, digits and '-' with at least one letter (it is part of cap scopes)")
        }
        let document = try PolicyDocument(text: text, policyName: name)

        var policyTable: PolicyDocument.Table?
        var measureTables: [(Measure, PolicyDocument.Table)] = []
        var capTables: [Measure: [(String, PolicyDocument.Table)]] = [:]
        for table in document.tables {
            let parts = table.name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            switch parts.count {
            case 1 where parts[0].isEmpty:
                if let key = table.order.first, let entry = table.entries[key] {
                    throw PolicyError(policyName: name, line: entry.line, key: key, problem: "key outside any table (put it under [policy] or a [measure.…] table)")
                }
            case 1 where parts[0] == "policy":
                policyTable = table
            case 2 where parts[0] == "measure", 4 where parts[0] == "measure" && parts[2] == "cap":
                guard let measure = Measure(rawValue: parts[1]) else {
                    throw PolicyError(policyName: name, line: table.line, key: table.name,
                                      problem: "unknown measure '\(parts[1])' (known: \(Measure.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                if parts.count == 2 {
                    measureTables.append((measure, table))
                } else {
                    guard measureTables.contains(where: { $0.0 == measure }) else {
                        throw PolicyError(policyName: name, line: table.line, key: table.name,
                                          problem: "cap table before its measure table [measure.\(measure.rawValue)]")
                    }
                    capTables[measure, default: []].append((parts[3], table))
                }
            default:
                throw PolicyError(policyName: name, line: table.line, key: table.name,
                                  problem: "unknown table (expected [policy], [measure.<MEASURE>] or [measure.<MEASURE>.cap.<name>])")
            }
        }
        guard let policyTable else {
            throw PolicyError(policyName: name, line: nil, key: "policy", problem: "missing table [policy]")
        }

        let reader = TableReader(table: policyTable, policyName: name)
        try reader.allowOnly(["name", "title", "issuer", "level", "valid_from", "valid_through", "first_funding_year", "last_funding_year",
                              "allow_partial_awards", "publicity_days", "retired_on"])
        // The name scopes every whole-policy cap, so it comes from the file itself when the file
        // declares it: renaming or moving the file must not reset once-only rules.
        let declaredName = try? reader.text("name")
        if let declaredName, declaredName != name {
            return try load(text: text, name: declaredName)
        }
        let title = try reader.text("title")
        let issuer = try reader.text("issuer")
        let validFrom = try reader.date("valid_from")
        let validThrough = try reader.date("valid_through")
        if validThrough < validFrom {
            throw reader.error("valid_through", "\(validThrough) is before valid_from \(validFrom)")
        }
        let firstYear = try reader.integer("first_funding_year", in: Int64(validFrom.year)...Int64(validThrough.year), rule: "a year within the validity window")
        let lastYear = try reader.integer("last_funding_year", in: firstYear...Int64(validThrough.year), rule: "a year from first_funding_year to the end of the validity window")
        let allowPartialAwards = try reader.boolean("allow_partial_awards")
        let publicityDays = try reader.integer("publicity_days", in: 1...366, rule: "1–366 days")
        // Absent means the city: the 2020 file predates levels and keeps meaning what it meant.
        var level = ProgrammeLevel.city
        if reader.has("level") {
            let text = try reader.text("level")
            guard let parsed = ProgrammeLevel(text: text) else {
                throw reader.error("level", "must be \"city\" or \"district:<id>\" with a district id (\(DistrictID.allCases.map(\.rawValue).joined(separator: ", "))); got '\(text)'")
            }
            level = parsed
        }
        let retiredOn = reader.has("retired_on") ? try reader.date("retired_on") : nil

        guard !measureTables.isEmpty else {
            throw PolicyError(policyName: name, line: nil, key: "measure", problem: "the policy offers no measure (add [measure.<MEASURE>] tables)")
        }
        var rules: [Measure: MeasureRule] = [:]
        for (measure, table) in measureTables {
            rules[measure] = try loadMeasure(measure, table: table, caps: capTables[measure] ?? [], policyName: name)
        }

        let hash = HexDigest.sha256(text.utf8)
        var policy = Policy(
            name: name, version: name + "@" + hash.prefix(12), title: title, issuer: issuer,
            validFrom: validFrom, validThrough: validThrough, fundingYears: Int(firstYear)...Int(lastYear),
            allowPartialAwards: allowPartialAwards, publicityDays: Int(publicityDays), rules: rules)
        policy.level = level
        policy.retiredOn = retiredOn
        return policy
    }

    private static func loadMeasure(
        _ measure: Measure, table: PolicyDocument.Table, caps capTables: [(String, PolicyDocument.Table)], policyName: String
    ) throws(PolicyError) -> MeasureRule {
        let reader = TableReader(table: table, policyName: policyName)
        var allowed = ["article", "localities", "applicant_roles", "selection_levels"]
        switch measure.formulaShape {
        case .fixed: allowed.append("amount_yuan")
        case .rate: allowed += ["rate_bp", "per_project_cap_yuan"]
        case .caseByCase: allowed.append("per_project_cap_yuan")
        }
        if measure == .poolEntry { allowed.append("provincial_pool_bonus_yuan") }
        if measure.combinedUpperLevelBase != nil { allowed.append("combined_upper_level_rate_bp") }
        if measure == .clusterPilotFollowOn { allowed += ["min_served_enterprises", "window_years", "decision_within_window"] }
        if measure.formulaShape == .caseByCase { allowed += ["ceiling_yuan_standard", "ceiling_yuan_excellent"] }
        if measure.hasProvider { allowed.append("catalogue") }
        // A case-by-case amount stacks on the bases of the other programmes' awards it joins.
        switch measure.formulaShape {
        case .rate, .caseByCase: allowed.append("stacking_base_rate_bp")
        default: break
        }
        allowed.append("difference_of")
        try reader.allowOnly(allowed)
        let article = try reader.text("article")
        let localities = try reader.set("localities", of: Locality.self)
        let applicantRoles = try reader.set("applicant_roles", of: ApplicantRole.self)
        let selectionLevels = try reader.optionalSet("selection_levels", of: SelectionLevel.self)

        var amount: Money?, bonus: Money?, rate: Rate?, perProjectCap: Money?, combined: Rate?
        switch measure.formulaShape {
        case .fixed:
            amount = try reader.yuan("amount_yuan")
        case .rate:
            rate = try reader.rate("rate_bp")
            perProjectCap = try reader.optionalYuan("per_project_cap_yuan")
        case .caseByCase:
            perProjectCap = try reader.optionalYuan("per_project_cap_yuan")
        }
        if measure == .poolEntry {
            bonus = try reader.optionalYuan("provincial_pool_bonus_yuan")
        }
        if measure.combinedUpperLevelBase != nil {
            combined = try reader.optionalRate("combined_upper_level_rate_bp")
        }
        var followOn: MeasureRule.FollowOn?
        if measure == .clusterPilotFollowOn {
            followOn = MeasureRule.FollowOn(
                minServedEnterprises: Int(try reader.integer("min_served_enterprises", in: 1...100_000, rule: "1–100000")),
                windowYears: Int(try reader.integer("window_years", in: 1...50, rule: "1–50 years")),
                decisionWithinWindow: try reader.boolean("decision_within_window"))
        }

        var caps: [CapRule] = []
        for (capName, capTable) in capTables {
            caps.append(try loadCap(capName, measure: measure, table: capTable, policyName: policyName))
        }
        var rule = MeasureRule(
            measure: measure, article: article, amount: amount, provincialPoolBonus: bonus, rate: rate,
            perProjectCap: perProjectCap, combinedUpperLevelRate: combined, localities: localities,
            selectionLevels: selectionLevels, applicantRoles: applicantRoles, followOn: followOn, caps: caps)
        for (grade, key) in [(Grade.standard, "ceiling_yuan_standard"), (.excellent, "ceiling_yuan_excellent")] {
            if let ceiling = try reader.optionalYuan(key) { rule.gradeCeilings[grade] = ceiling }
        }
        if let standard = rule.gradeCeilings[.standard], let excellent = rule.gradeCeilings[.excellent], excellent < standard {
            throw reader.error("ceiling_yuan_excellent", "\(excellent.yuanText) is below ceiling_yuan_standard \(standard.yuanText)")
        }
        rule.differenceOf = try reader.optionalSet("difference_of", of: Measure.self) ?? []
        if reader.has("catalogue") { rule.catalogue = try reader.text("catalogue") }
        rule.stackingRate = try reader.optionalRate("stacking_base_rate_bp")
        return rule
    }

    private static func loadCap(_ capName: String, measure: Measure, table: PolicyDocument.Table, policyName: String) throws(PolicyError) -> CapRule {
        let reader = TableReader(table: table, policyName: policyName)
        try reader.allowOnly([
            "subject", "period", "limit_yuan", "limit_count", "selection_levels", "grades", "revenue_tier_above_yuan", "revenue_tier_limit_yuan",
        ])
        let subject = try reader.choice("subject", of: CapRule.Subject.self)
        switch subject {
        case .provider where !measure.hasProvider:
            throw reader.error("subject", "'provider' caps exist only for CLOUD_VOUCHER and CLOUD_USE (the measures with a provider)")
        case .pilot where measure != .clusterPilot && measure != .clusterPilotFollowOn:
            throw reader.error("subject", "'pilot' caps exist only for CLUSTER_PILOT and CLUSTER_PILOT_FOLLOW_ON")
        default: break
        }
        let period = try reader.choice("period", of: CapRule.Period.self)
        let amount = try reader.optionalYuan("limit_yuan")
        let count = try reader.optionalInteger("limit_count", in: 1...1_000_000, rule: "1–1000000 awards")
        let limit: CapLimit
        switch (amount, count) {
        case let (amount?, nil): limit = .amount(amount)
        case let (nil, count?): limit = .count(Int(count))
        case (.some, .some): throw reader.error("limit_count", "a cap has limit_yuan or limit_count, not both (make two caps)")
        case (nil, nil): throw reader.error("limit_yuan", "missing key (a cap needs limit_yuan or limit_count)")
        }
        let selectionLevels = try reader.optionalSet("selection_levels", of: SelectionLevel.self)
        var cap = CapRule(id: "\(measure.rawValue).\(capName)", measure: measure, subject: subject, period: period,
                          limit: limit, selectionLevels: selectionLevels)
        cap.grades = try reader.optionalSet("grades", of: Grade.self)
        let above = try reader.optionalYuanList("revenue_tier_above_yuan")
        let limits = try reader.optionalYuanList("revenue_tier_limit_yuan")
        switch (above, limits) {
        case (nil, nil): break
        case let (above?, limits?):
            guard above.count == limits.count else {
                throw reader.error("revenue_tier_limit_yuan", "has \(limits.count) limits for \(above.count) tiers in revenue_tier_above_yuan")
            }
            guard case .amount = limit, subject == .applicant else {
                throw reader.error("revenue_tier_above_yuan", "revenue tiers apply to an applicant's amount cap (subject = \"applicant\", limit_yuan)")
            }
            guard zip(above, above.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw reader.error("revenue_tier_above_yuan", "tiers must ascend")
            }
            cap.revenueTiers = zip(above, limits).map { CapRule.RevenueTier(revenueAbove: $0, limit: $1) }
        case (nil, _?): throw reader.error("revenue_tier_limit_yuan", "needs revenue_tier_above_yuan")
        case (_?, nil): throw reader.error("revenue_tier_above_yuan", "needs revenue_tier_limit_yuan")
        }
        return cap
    }
}

/// Reads typed values out of one table. ``allowOnly(_:)`` runs first, so a typo or a key meant for
/// another measure is reported as itself, on its own line, rather than ignored or reported as the
/// key it was meant to be being missing.
private struct TableReader {
    let table: PolicyDocument.Table
    let policyName: String

    init(table: PolicyDocument.Table, policyName: String) {
        self.table = table
        self.policyName = policyName
    }

    func error(_ key: String, _ problem: String) -> PolicyError {
        PolicyError(policyName: policyName, line: table.entries[key]?.line ?? table.line, key: table.name + "." + key, problem: problem)
    }

    /// Fails on the first key, in file order, that this kind of table does not have.
    func allowOnly(_ keys: [String]) throws(PolicyError) {
        if let key = table.order.first(where: { !keys.contains($0) }) {
            throw error(key, "unknown key for this table (allowed: \(keys.joined(separator: ", ")))")
        }
    }

    private func optionalEntry(_ key: String) -> PolicyDocument.Entry? {
        table.entries[key]
    }

    func has(_ key: String) -> Bool { table.entries[key] != nil }

    /// A non-empty array of whole yuan, each > 0.
    func optionalYuanList(_ key: String) throws(PolicyError) -> [Money]? {
        guard let entry = optionalEntry(key) else { return nil }
        guard case let .array(items) = entry.value, !items.isEmpty else { throw typeError(key, "a non-empty array of whole yuan", entry.value) }
        var result: [Money] = []
        for item in items {
            guard case let .integer(yuan) = item, yuan > 0, let money = Money.checked(yuan: yuan) else {
                throw error(key, "every item must be a whole number of yuan > 0 (got \(item.typeName))")
            }
            result.append(money)
        }
        return result
    }

    private func requiredEntry(_ key: String) throws(PolicyError) -> PolicyDocument.Entry {
        guard let entry = optionalEntry(key) else { throw error(key, "missing key") }
        return entry
    }

    private func typeError(_ key: String, _ expected: String, _ value: PolicyDocument.Value) -> PolicyError {
        error(key, "must be \(expected) (got \(value.typeName))")
    }

    func text(_ key: String) throws(PolicyError) -> String {
        let entry = try requiredEntry(key)
        guard case let .string(text) = entry.value else { throw typeError(key, "a string", entry.value) }
        guard !text.isEmpty else { throw error(key, "must not be empty") }
        return text
    }

    func date(_ key: String) throws(PolicyError) -> CalendarDate {
        let entry = try requiredEntry(key)
        guard case let .date(date) = entry.value else { throw typeError(key, "a date (YYYY-MM-DD)", entry.value) }
        return date
    }

    func boolean(_ key: String) throws(PolicyError) -> Bool {
        let entry = try requiredEntry(key)
        guard case let .boolean(value) = entry.value else { throw typeError(key, "true or false", entry.value) }
        return value
    }

    func optionalInteger(_ key: String, in range: ClosedRange<Int64>, rule: String) throws(PolicyError) -> Int64? {
        guard let entry = optionalEntry(key) else { return nil }
        guard case let .integer(value) = entry.value else { throw typeError(key, "an integer", entry.value) }
        guard range.contains(value) else { throw error(key, "must be \(rule) (got \(value))") }
        return value
    }

    func integer(_ key: String, in range: ClosedRange<Int64>, rule: String) throws(PolicyError) -> Int64 {
        _ = try requiredEntry(key)
        guard let value = try optionalInteger(key, in: range, rule: rule) else { throw error(key, "missing key") }
        return value
    }

    func optionalYuan(_ key: String) throws(PolicyError) -> Money? {
        guard let yuan = try optionalInteger(key, in: Int64.min...Int64.max, rule: "") else { return nil }
        guard yuan > 0 else { throw error(key, "must be > 0 (got \(yuan))") }
        guard let money = Money.checked(yuan: yuan) else { throw error(key, "\(yuan) yuan is out of range") }
        return money
    }

    func yuan(_ key: String) throws(PolicyError) -> Money {
        _ = try requiredEntry(key)
        guard let money = try optionalYuan(key) else { throw error(key, "missing key") }
        return money
    }

    func optionalRate(_ key: String) throws(PolicyError) -> Rate? {
        guard let bp = try optionalInteger(key, in: 1...10_000, rule: "1–10000 basis points (0.01%–100%)") else { return nil }
        guard let rate = Rate(basisPoints: bp) else { throw error(key, "must be 1–10000 basis points (got \(bp))") }
        return rate
    }

    func rate(_ key: String) throws(PolicyError) -> Rate {
        _ = try requiredEntry(key)
        guard let rate = try optionalRate(key) else { throw error(key, "missing key") }
        return rate
    }

    func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, of _: Choice.Type) throws(PolicyError) -> Choice
    where Choice.RawValue == String {
        let entry = try requiredEntry(key)
        return try Self.decode(entry.value, Choice.self) { error(key, $0) }
    }

    func optionalSet<Choice: RawRepresentable & CaseIterable & Hashable>(_ key: String, of _: Choice.Type) throws(PolicyError) -> Set<Choice>?
    where Choice.RawValue == String {
        guard let entry = optionalEntry(key) else { return nil }
        guard case let .array(items) = entry.value else { throw typeError(key, "an array of strings", entry.value) }
        guard !items.isEmpty else { throw error(key, "must not be empty") }
        var result: Set<Choice> = []
        for item in items {
            let choice = try Self.decode(item, Choice.self) { error(key, $0) }
            guard result.insert(choice).inserted else { throw error(key, "'\(choice.rawValue)' is listed twice") }
        }
        return result
    }

    func set<Choice: RawRepresentable & CaseIterable & Hashable>(_ key: String, of type: Choice.Type) throws(PolicyError) -> Set<Choice>
    where Choice.RawValue == String {
        _ = try requiredEntry(key)
        guard let set = try optionalSet(key, of: type) else { throw error(key, "missing key") }
        return set
    }

    private static func decode<Choice: RawRepresentable & CaseIterable>(
        _ value: PolicyDocument.Value, _: Choice.Type, error: (String) -> PolicyError
    ) throws(PolicyError) -> Choice where Choice.RawValue == String {
        let known = Choice.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        guard case let .string(text) = value else { throw error("must be a string, one of \(known) (got \(value.typeName))") }
        guard let choice = Choice(rawValue: text) else { throw error("unknown value '\(text)' (expected one of \(known))") }
        return choice
    }
}

extension Application {
    /// The largest amount any field of an application may hold, in fen (1,000,000,000,000 yuan).
    public static let maximumAmountFen: Int64 = 100_000_000_000_000

    /// Checks that the fields the measure needs are present and well-formed, before any policy or
    /// usage is consulted. Malformed input is `INVALID_ARGUMENT` naming the proto field
    /// (`application.contract_amount_fen: must be > 0 (got -5.00)`); whether a well-formed application
    /// is *eligible* is the calculator's question and fails with `FAILED_PRECONDITION`.
    public func validate() throws(SubsidyError) {
        // Lengths first: the checks below canonicalise texts, work proportional to their size.
        try checkBounds()
        // The texts content is compared on (CanonicalText.requireComparable): at filing, and
        // again at every decision, so content stored before the rule cannot be funded unchecked.
        try CanonicalText.requireComparable(contractNumber, field: "application.contract_number")
        try CanonicalText.requireComparable(pilotID, field: "application.pilot_id")
        try CanonicalText.requireComparable(projectName, field: "application.project_name", lookalikeLetters: false)
        switch measure {
        case .cloudVoucher, .cloudUse:
            try Self.requireText(contractNumber, "contract_number")
            try Self.requirePositive(contractAmount, "contract_amount_fen")
            try Self.requirePositive(paidAmount, "paid_amount_fen")
            guard let provider else {
                let seller = measure == .cloudUse ? "the seller of the catalogue product" : "the pool provider that sold the product"
                throw SubsidyError.invalidField("application.provider_uscc", "required for \(measure) (\(seller))")
            }
            if provider == enterprise {
                throw SubsidyError.invalidField("application.provider_uscc", "must differ from the buying enterprise (got \(provider) for both)")
            }
            if measure == .cloudUse {
                // The per-enterprise cap's tier comes from it: it is declared, never assumed.
                try Self.requirePositive(declaredRevenue, "declared_revenue_fen")
            }
        case .digitalFactory:
            if grade == .none {
                throw SubsidyError.invalidField("application.grade", "required for DIGITAL_FACTORY (STANDARD or EXCELLENT: the ceiling depends on it)")
            }
        case .nationalMatch:
            try Self.requirePositive(upperLevelAwardTotal, "upper_level_award_total_fen")
        case .benchmarkProject:
            try Self.requirePositive(investedAmount, "invested_amount_fen")
        case .identifierNode:
            try Self.requirePositive(constructionAmount, "construction_amount_fen")
            try Self.requirePositive(totalInvestment, "total_investment_fen")
        case .demoBase:
            try Self.requirePositive(upperLevelAwardTotal, "upper_level_award_total_fen")
        case .publicService:
            try Self.requirePositive(previousYearServiceSpend, "previous_year_service_spend_fen")
        case .clusterPilot, .clusterPilotFollowOn:
            try Self.requireText(pilotID, "pilot_id")
            // The follow-on's window runs from the selection date recorded with its pilot's award
            // (the ledger's), so only the pilot itself must declare one.
            if measure == .clusterPilot && selectionDate == nil {
                throw SubsidyError.invalidField("application.selection_date", "required for \(measure) (the date the pilot was selected)")
            }
            let served = Set(servedEnterprises)
            if let stray = provincialVoucherEnterprises.first(where: { !served.contains($0) }) {
                throw SubsidyError.invalidField(
                    "application.provincial_voucher_enterprises",
                    "\(stray) is not among served_enterprises (only served enterprises count)")
            }
        case .poolEntry, .crossIndustryPlatform, .majorPlatform, .innovationCarrier, .digitalWorkshop, .benchmarkMatch:
            break
        }
        let amounts: [(String, Money)] = [
            ("contract_amount_fen", contractAmount), ("paid_amount_fen", paidAmount),
            ("invested_amount_fen", investedAmount), ("construction_amount_fen", constructionAmount),
            ("total_investment_fen", totalInvestment), ("upper_level_subsidy_fen", upperLevelSubsidy),
            ("upper_level_award_total_fen", upperLevelAwardTotal),
            ("previous_year_service_spend_fen", previousYearServiceSpend), ("case_amount_fen", caseAmount),
            ("declared_revenue_fen", declaredRevenue),
        ]
        for (name, amount) in amounts where amount < .zero {
            throw SubsidyError.invalidField("application.\(name)", "must be ≥ 0 (got \(amount.inBothUnits))")
        }
        // Far above any real figure, and low enough that the sums the calculator forms (awards
        // plus declared funds, bases times rates) stay far inside Int64: an overflow would be an
        // INTERNAL error, logged with an id, on every call that sends it.
        for (name, amount) in amounts where amount.fen > Self.maximumAmountFen {
            throw SubsidyError.invalidField("application.\(name)", "must be at most \(Money(fen: Self.maximumAmountFen).inBothUnits) (got \(amount.inBothUnits))")
        }
        try Self.requireText(projectName, "project_name")
        // General rule 2: content also filed with another city fund must say why (注明原因).
        if otherFundDeclared && Self.isBlank(otherFundReason) {
            throw SubsidyError.invalidField(
                "application.other_fund_reason",
                "required when other_fund_declared is true (同一实施内容已申报市级其他专项资金的，必须注明原因)")
        }
    }

    /// Every text and list has a maximum (``InputLimits``) and every date a plausible range,
    /// checked before anything is stored or computed, so no field can grow a row, a reply or a
    /// quote's work without bound.
    func checkBounds() throws(SubsidyError) {
        try InputLimits.check(projectName, InputLimits.projectName, field: "application.project_name")
        try InputLimits.check(contractNumber, InputLimits.contractNumber, field: "application.contract_number")
        try InputLimits.check(pilotID, InputLimits.pilotID, field: "application.pilot_id")
        try InputLimits.check(otherFundReason, InputLimits.reason, field: "application.other_fund_reason")
        try InputLimits.check(decisionDocument, InputLimits.decisionDocument, field: "application.decision_document")
        try InputLimits.check(programme, InputLimits.programme, field: "application.programme")
        try InputLimits.check(count: servedEnterprises.count, InputLimits.servedEnterprises, field: "application.served_enterprises")
        try InputLimits.check(
            count: provincialVoucherEnterprises.count, InputLimits.servedEnterprises, field: "application.provincial_voucher_enterprises")
        if let selectionDate {
            try InputLimits.check(selectionDate, field: "application.selection_date")
        }
    }

    /// Blank means nothing to compare: empty, or only white space, invisible characters and
    /// punctuation (its ``CanonicalText`` is empty).
    private static func isBlank(_ text: String) -> Bool {
        CanonicalText(text).isEmpty
    }

    private static func requireText(_ text: String, _ name: String) throws(SubsidyError) {
        if isBlank(text) {
            let what = text.isEmpty ? "" : " (it holds only white space, invisible characters or punctuation)"
            throw SubsidyError.invalidField("application.\(name)", "must not be empty\(what)")
        }
    }

    private static func requirePositive(_ amount: Money, _ name: String) throws(SubsidyError) {
        if amount <= .zero {
            throw SubsidyError.invalidField("application.\(name)", "must be > 0 (got \(amount.inBothUnits))")
        }
    }
}

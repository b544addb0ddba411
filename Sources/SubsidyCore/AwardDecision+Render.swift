extension AwardDecision {
    /// `the per-enterprise cap CLOUD_VOUCHER.per_enterprise [2022/9144…]`, `the formula`, …
    public var bindingPhrase: String {
        guard let binding else { return "nothing" }
        switch binding.kind {
        case .formula: return "the formula"
        case .combinedUpperLevel: return "the combined upper-level limit"
        case .perProject where binding.capKey == nil: return "the per-project limit"
        case .gradeCeiling: return "the grade ceiling"
        case .difference: return "the difference from earlier awards (差额奖励)"
        case .stacking: return "the stacking limit across programmes"
        default:
            let key = binding.capKey.map { " \($0.capID) [\($0.scope)]" } ?? ""
            return "the \(binding.kind.label) cap\(key)"
        }
    }

    /// A plain-text explanation for `subsidyctl quote`: the award, what bound it, and one row per
    /// limit with its value, what is committed, the headroom left and a sentence of detail.
    /// The binding row is marked `*`.
    public func render() -> String {
        var lines: [String] = []
        lines.append("\(measure.rawValue) \(measure.displayName) · applicant \(enterprise) · funding year \(fundingYear) · decided \(decisionDate)")
        lines.append("Award: \(award.yuanText) (\(award.fen) fen), bound by \(bindingPhrase)")
        if award < formulaAmount {
            lines.append("Formula alone: \(formulaAmount.yuanText)")
        }
        if let decisionDocument { lines.append("Decision document: \(decisionDocument)") }
        lines.append("Policy: \(policyVersion)")
        lines.append("")

        let header = [" ", "limit", "value", "committed", "headroom", "detail"]
        var rows: [[String]] = [header]
        for trace in limits {
            let value = trace.limit?.description ?? trace.limitCount.map { "\($0) award\($0 == 1 ? "" : "s")" } ?? "-"
            let committed = trace.committed?.description ?? trace.committedCount.map(String.init) ?? "-"
            var headroom = trace.headroom?.description ?? "-"
            if trace.headroom == nil, let limit = trace.limitCount, let used = trace.committedCount {
                headroom = "\(max(0, limit - used)) left"
            }
            rows.append([trace.binding ? "*" : " ", trace.kind.label, value, committed, headroom, trace.detail])
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            var line = row[0] + " " + Self.pad(row[1], widths[1], right: false)
            for column in 2..<5 {
                line += "  " + Self.pad(row[column], widths[column], right: true)
            }
            line += "  " + row[5]
            lines.append(line)
        }
        if !charges.isEmpty {
            lines.append("")
            lines.append("Commits on approval:")
            for charge in charges {
                lines.append("  \(charge.key) += \(charge.amount.yuanText), \(charge.count) award\(charge.count == 1 ? "" : "s") (limit \(charge.limit))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func pad(_ text: String, _ width: Int, right: Bool) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return right ? padding + text : text + padding
    }
}

import SubsidyCore

/// What the city ledger and a district's own programme ledger ask of their commitments in the same
/// way (their tables have the same columns for it).
enum CommitmentQueries {
    /// The maintained total under `key` in `table` (`cap_totals` or `programme_totals`): one row,
    /// whatever the number of awards; none yet is zero.
    static func total(table: String, key: CapKey, in connection: SQLiteConnection) throws -> CapUsage {
        let row = try connection.query("SELECT amount_fen, count FROM \(table) WHERE cap_id = ? AND scope = ?", [.text(key.capID), .text(key.scope)]).first
        return CapUsage(amount: Money(fen: try row?.int("amount_fen") ?? 0), count: Int(try row?.int("count") ?? 0))
    }

    /// Runs a read of `store` for the policy engine: a damaged row is DATA_LOSS (never data that
    /// looks valid), any other failure INTERNAL, each keeping its cause.
    static func reading<T>(_ store: String, _ body: () throws -> T) throws(SubsidyError) -> T {
        do {
            return try body()
        } catch let error as SubsidyError {
            throw error
        } catch let error as SQLiteError where error.isDataLoss {
            throw SubsidyError(.dataLoss, "\(store) holds damaged data", cause: error)
        } catch {
            throw SubsidyError(.internal, "\(store) could not be read", cause: error)
        }
    }

    /// Every commitment in force in `table` to `enterprise` under one of `measures`, in decision
    /// order, through the (measure, enterprise) index.
    static func earlierAwards(table: String, enterprise: USCC, measures: Set<Measure>, in connection: SQLiteConnection) throws -> [EarlierAward] {
        guard !measures.isEmpty else { return [] }
        let sorted = measures.map(\.rawValue).sorted()
        return try connection.query(
            """
            SELECT application_id, measure, amount_fen, decision_date FROM \(table)
            WHERE measure IN (\(sorted.map { _ in "?" }.joined(separator: ", "))) AND enterprise = ? AND state IN \(CityLedger.inForce)
            ORDER BY decision_date, application_id
            """,
            sorted.map { .text($0) } + [.text(enterprise.rawValue)]
        ).map { row in
            EarlierAward(
                applicationID: try row.text("application_id"), measure: try row.decode(Measure.self, "measure"),
                amount: Money(fen: try row.int("amount_fen")), decisionDate: try? CalendarDate(parsing: try row.text("decision_date")))
        }
    }

    /// The store's own guarantee after a charge is written in its transaction: the total `after`
    /// it is within the limit the charge was made under, else RESOURCE_EXHAUSTED (and the
    /// caller's transaction rolls back), said in awards for a count cap and in yuan for an amount.
    static func requireWithinLimit(_ charge: CapCharge, after: CapUsage, applicationID: String) throws(SubsidyError) {
        let over: Bool = switch charge.limit {
        case .amount(let limit): after.amount > limit
        case .count(let limit): after.count > limit
        }
        guard over else { return }
        let before = CapUsage(amount: Money(fen: after.amount.fen - charge.amount.fen), count: after.count - charge.count)
        let figures =
            switch charge.limit {
            case .count: "committed \(before.count) awards, requested \(charge.count) more"
            case .amount: "committed \(before.amount), requested \(charge.amount)"
            }
        throw SubsidyError.capExhausted(
            "\(charge.key) of \(applicationID) would exceed its limit \(charge.limit): \(figures)",
            key: charge.key, limit: charge.limit, committed: before, requested: charge.amount)
    }
}

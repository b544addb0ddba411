import SubsidyCore

/// Calls for applications, opened and closed by the tenant that decides their programme: the
/// city's and each district's are kept in the ledger (``CityLedger/openCall``), so a district's
/// call keeps its response in the ledger's request log while everything else the district does
/// keeps it in its own file. Its request id is therefore claimed in the district's file first
/// (``SubsidyStores/claimingAtHome(_:of:respondingIn:holding:_:)``): one id, one request, across
/// both files.
extension SubsidyStores {
    /// Opens a call (see ``CityLedger/openCall(programme:measure:fundingYear:opensOn:closesOn:title:request:actor:respond:)``)
    /// with its request id bound in the caller's home log.
    public func openCall(
        programme: String, measure: Measure, fundingYear: Int, opensOn: CalendarDate, closesOn: CalendarDate, title: String,
        request key: RequestKey, actor: Actor, respond: @escaping @Sendable (CityLedger.Call) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let ledger = self.ledger
        return try await claimingAtHome(key, of: actor, respondingIn: ledger.database) {
            try await ledger.openCall(
                programme: programme, measure: measure, fundingYear: fundingYear, opensOn: opensOn, closesOn: closesOn, title: title,
                request: key, actor: actor, respond: respond)
        }
    }

    /// Closes a call early (see ``CityLedger/closeCall(_:on:request:actor:check:respond:)``) with
    /// its request id bound in the caller's home log.
    public func closeCall(
        _ id: String, on date: CalendarDate, request key: RequestKey, actor: Actor, check: @escaping @Sendable (CityLedger.Call) throws -> Void,
        respond: @escaping @Sendable (CityLedger.Call) throws -> [UInt8]
    ) async throws -> [UInt8] {
        let ledger = self.ledger
        return try await claimingAtHome(key, of: actor, respondingIn: ledger.database) {
            try await ledger.closeCall(id, on: date, request: key, actor: actor, check: check, respond: respond)
        }
    }
}

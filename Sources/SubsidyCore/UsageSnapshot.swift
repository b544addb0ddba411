/// The city-wide facts an award depends on, as of one moment. The city ledger implements it with
/// SQL inside its write transaction; tests use ``InMemoryUsageSnapshot``.
///
/// “Committed” always means approved + disbursed and not released (RULES.md).
public protocol UsageSnapshot {
    /// The amount and number of live commitments under `key`.
    func committed(_ key: CapKey) throws(SubsidyError) -> CapUsage
    /// Whether any live commitment — any measure, any district — has this
    /// ``Application/contentFingerprint``.
    func hasFunded(content fingerprint: String) throws(SubsidyError) -> Bool
    /// Whether `provider` is in the Foshan ecosystem supply resource pool (资源池) on `date`.
    func isPoolMember(_ provider: USCC, on date: CalendarDate) throws(SubsidyError) -> Bool
    /// Those of `enterprises` that hold a live `CLOUD_VOUCHER` commitment decided within
    /// `from...through` (inclusive), for the follow-on rule.
    func voucherRecipients(among enterprises: [USCC], decidedFrom from: CalendarDate, through: CalendarDate) throws(SubsidyError) -> Set<USCC>
}

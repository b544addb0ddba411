/// Where the city ledger stood: its identity and the head of its audit chain.
///
/// Every ledger-first step (approve, revoke, disburse, and recovery completing one) appends to
/// the ledger's audit chain, so the head only moves forward. A district records the position it
/// saw when such a step completed in it; a ledger whose head is behind that, whose row at that
/// sequence number has another hash, or whose identity differs is not the ledger the district
/// saw — it was restored from an older copy or replaced — and the daemon refuses to serve on it.
public struct LedgerPosition: Sendable, Equatable, CustomStringConvertible {
    /// The ledger file's random identity (generated once, by ledger migration 5).
    public var identity: String
    /// The audit chain's last sequence number (0: no event yet).
    public var sequence: Int64
    /// The audit chain's hash at ``sequence``.
    public var hash: String

    public init(identity: String, sequence: Int64, hash: String) {
        self.identity = identity
        self.sequence = sequence
        self.hash = hash
    }

    public var description: String { "ledger \(identity) at audit row \(sequence) (hash \(hash.prefix(16))…)" }
}

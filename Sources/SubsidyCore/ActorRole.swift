/// Who acts on an application: a district bureau (first review) or the city bureau (second review,
/// money). Derived by the server from the socket and peer credentials, never from a request field.
public enum ActorRole: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// 区经济和科技促进局 / 经济促进局 — registers applicants, submits, first review.
    case district
    /// 市工信局 — approves amounts against the city-wide caps, publicises, disburses, revokes.
    case city

    public var description: String { rawValue }
}

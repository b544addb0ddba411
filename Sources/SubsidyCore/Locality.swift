/// Where an applicant stands relative to Foshan, which decides eligibility (“佛山本地企业”).
public enum Locality: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// 佛山本地企业 — registered in Foshan.
    case local
    /// 落户 — moved its headquarters to Foshan or set up a holding subsidiary there (四, 五 treat it
    /// as local).
    case relocated
    /// Neither.
    case nonLocal = "non_local"

    public var description: String { rawValue }
}

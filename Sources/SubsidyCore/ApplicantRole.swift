/// What kind of body an applicant is in the district registry. The registry checks it against the
/// measure's ``MeasureRule/applicantRoles`` (from the policy file); the calculator does not see it.
public enum ApplicantRole: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// 工业企业 / 制造业企业 — a manufacturer (voucher buyer, benchmark project owner).
    case industrialEnterprise = "industrial_enterprise"
    /// 工业互联网服务商 — a service provider (voucher seller, pool member).
    case serviceProvider = "service_provider"
    /// 平台商 — an industrial-internet platform operator.
    case platform
    /// 机构单位 — an institution: association, university, research institute, park, government body.
    case institution

    public var description: String { rawValue }
}

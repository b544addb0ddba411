import SubsidyCore
import SubsidyWire

/// Health, Identity and Reflection: the services every tenant may call.
public enum FoundationServices {
    /// The daemon's version string, reported by WhoAmI.
    public static let serverVersion = "subsidyd \(SubsidyVersion.current)"

    static let everyone: Set<TenantRole> = [.district, .city]

    /// Registers Health and Identity. Call ``registerReflection(into:)`` last, so it lists the rest.
    public static func register(into router: inout MethodRouter, health: HealthMonitor, policyVersion: String) {
        HealthService(monitor: health).registerMethods(with: &router, roles: everyone)
        IdentityService(policyVersion: policyVersion).registerMethods(with: &router, roles: everyone)
        // The two calls every client makes (probes, benchmarks, "who am I") answer inline.
        let (healthService, identityService) = (HealthService(monitor: health), IdentityService(policyVersion: policyVersion))
        router.registerInline(Foshan_Subsidy_V1_Health.Method.check, roles: everyone) { request, _ in healthService.status(of: request) }
        router.registerInline(Foshan_Subsidy_V1_Identity.Method.whoAmI, roles: everyone) { _, context in identityService.identity(of: context) }
    }

    /// Registers Reflection over every service of the protocol, marking which the caller may use.
    public static func registerReflection(into router: inout MethodRouter) {
        ReflectionService(served: router).registerMethods(with: &router, roles: everyone)
    }
}

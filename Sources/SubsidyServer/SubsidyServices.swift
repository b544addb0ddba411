import Logging
import SubsidyCore
import SubsidyWire

/// Builds everything the daemon serves from a configuration: the router with every service,
/// and the health monitor. The executable only parses flags, loads configuration and runs this.
public struct SubsidyServices: Sendable {
    public let router: MethodRouter
    public let health: HealthMonitor

    public static func bootstrap(configuration: ServerConfiguration, logger: Logger) throws -> SubsidyServices {
        let health = HealthMonitor()
        var router = MethodRouter()
        FoundationServices.register(into: &router, health: health, policyVersion: "none")
        FoundationServices.registerReflection(into: &router)
        return SubsidyServices(router: router, health: health)
    }
}

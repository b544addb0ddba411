import SubsidyCore
import SubsidyWire

/// `foshan.subsidy.v1.Health`, like `grpc.health.v1`: the daemon's serving status, or that of one
/// of the services this protocol defines.
struct HealthService: Foshan_Subsidy_V1_Health.ServiceProtocol {
    let monitor: HealthMonitor

    func check(_ request: Foshan_Subsidy_V1_HealthCheckRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_HealthCheckResponse {
        status(of: request)
    }

    /// Check's answer, synchronously (it is served inline).
    func status(of request: Foshan_Subsidy_V1_HealthCheckRequest) -> Foshan_Subsidy_V1_HealthCheckResponse {
        var response = Foshan_Subsidy_V1_HealthCheckResponse()
        response.status = Self.knows(service: request.service) ? monitor.status : .serviceUnknown
        return response
    }

    /// The status now and at every change; ends after NOT_SERVING (the daemon is draining).
    func watch(
        _ request: Foshan_Subsidy_V1_HealthCheckRequest, writer: ResponseStreamWriter<Foshan_Subsidy_V1_HealthCheckResponse>, context: CallContext
    ) async throws(SubsidyError) {
        guard Self.knows(service: request.service) else {
            var response = Foshan_Subsidy_V1_HealthCheckResponse()
            response.status = .serviceUnknown
            try? await writer.write(response)
            return
        }
        for await status in monitor.updates() {
            var response = Foshan_Subsidy_V1_HealthCheckResponse()
            response.status = status
            do { try await writer.write(response) } catch { return }
            if status == .notServing { return }
        }
    }

    private static func knows(service: String) -> Bool {
        service.isEmpty || allServiceMethods[service] != nil
    }
}

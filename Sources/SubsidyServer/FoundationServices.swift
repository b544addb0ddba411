import SubsidyCore
import SubsidyWire

/// Health, Identity and Reflection: the services every tenant may call.
public enum FoundationServices {
    /// The daemon's version string, reported by WhoAmI.
    public static let serverVersion = "subsidyd 0.1.0"

    /// Registers Health and Identity. Call ``registerReflection(into:)`` last, so it lists the rest.
    public static func register(into router: inout MethodRouter, health: HealthMonitor, policyVersion: String) {
        let everyone: Set<TenantRole> = [.district, .city]

        router.register(Foshan_Subsidy_V1_Health.Method.check, roles: everyone) { request, _ throws(SubsidyError) in
            var response = Foshan_Subsidy_V1_HealthCheckResponse()
            response.status = knows(service: request.service) ? health.status : .serviceUnknown
            return response
        }
        router.register(Foshan_Subsidy_V1_Health.Method.watch, roles: everyone) { request, _, writer throws(SubsidyError) in
            guard knows(service: request.service) else {
                var response = Foshan_Subsidy_V1_HealthCheckResponse()
                response.status = .serviceUnknown
                try? await writer.write(response)
                return
            }
            for await status in health.updates() {
                var response = Foshan_Subsidy_V1_HealthCheckResponse()
                response.status = status
                do { try await writer.write(response) } catch { return }
                if status == .notServing { return }
            }
        }
        router.register(Foshan_Subsidy_V1_Identity.Method.whoAmI, roles: everyone) { _, context throws(SubsidyError) in
            var response = Foshan_Subsidy_V1_WhoAmIResponse()
            response.tenant = context.tenant.id
            response.displayName = context.tenant.displayName
            response.role = context.tenant.role == .city ? .city : .district
            response.uid = context.peer.uid
            response.gid = context.peer.gid
            response.pid = context.peer.pid
            response.serverVersion = serverVersion
            response.policyVersion = policyVersion
            return response
        }
    }

    /// Registers Reflection over every service of the protocol, marking which the caller may use.
    public static func registerReflection(into router: inout MethodRouter) {
        let everyone: Set<TenantRole> = [.district, .city]
        let snapshot = router
        router.register(Foshan_Subsidy_V1_Reflection.Method.listServices, roles: everyone) { _, context throws(SubsidyError) in
            var response = Foshan_Subsidy_V1_ListServicesResponse()
            for (name, methods) in allServiceMethods.sorted(by: { $0.key < $1.key }) {
                var service = Foshan_Subsidy_V1_ServiceInfo()
                service.name = name
                service.methods = methods.map { method in
                    var info = Foshan_Subsidy_V1_MethodInfo()
                    info.name = method.methodName
                    info.fullName = method.fullName
                    info.inputType = "." + method.inputName
                    info.outputType = "." + method.outputName
                    info.serverStreaming = method.isServerStreaming
                    info.allowedForCaller = name == Foshan_Subsidy_V1_Reflection.serviceName || snapshot.isAllowed(method.fullName, for: context.tenant.role)
                    return info
                }
                response.services.append(service)
            }
            return response
        }
        let descriptorSet = decodeBase64(protoFileDescriptorSetBase64)
        router.register(Foshan_Subsidy_V1_Reflection.Method.getFileDescriptorSet, roles: everyone) { _, _ throws(SubsidyError) in
            var response = Foshan_Subsidy_V1_GetFileDescriptorSetResponse()
            response.fileDescriptorSet = descriptorSet
            return response
        }
    }

    private static func knows(service: String) -> Bool {
        service.isEmpty || allServiceMethods[service] != nil
    }

    private static func decodeBase64(_ text: String) -> [UInt8] {
        (try? JSONValue.string(text).bytes(at: "descriptor_set")) ?? []
    }
}

import SubsidyCore
import SubsidyWire

/// `foshan.subsidy.v1.Reflection`: every service of the protocol, with the methods the caller may
/// use marked, and the protos' `FileDescriptorSet`.
struct ReflectionService: Foshan_Subsidy_V1_Reflection.ServiceProtocol {
    /// The router as it was before Reflection was registered: what the daemon serves, and to whom.
    let served: MethodRouter
    /// Decoded on the first request, not at every start-up: few callers ever ask.
    private static let descriptorSet = (try? JSONValue.string(protoFileDescriptorSetBase64).bytes(at: "descriptor_set")) ?? []

    init(served: MethodRouter) {
        self.served = served
    }

    func listServices(_ request: Foshan_Subsidy_V1_ListServicesRequest, context: CallContext) async throws(SubsidyError) -> Foshan_Subsidy_V1_ListServicesResponse {
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
                info.allowedForCaller = name == Foshan_Subsidy_V1_Reflection.serviceName || served.isAllowed(method.fullName, for: context.tenant.role)
                return info
            }
            response.services.append(service)
        }
        return response
    }

    func getFileDescriptorSet(
        _ request: Foshan_Subsidy_V1_GetFileDescriptorSetRequest, context: CallContext
    ) async throws(SubsidyError) -> Foshan_Subsidy_V1_GetFileDescriptorSetResponse {
        var response = Foshan_Subsidy_V1_GetFileDescriptorSetResponse()
        response.fileDescriptorSet = Self.descriptorSet
        return response
    }
}

/// A method of a service, named by its full name as it travels in `Frame.method`.
public protocol MethodDescriptor: Sendable {
    /// `/foshan.subsidy.v1.Health/Check`
    var fullName: String { get }
    var isServerStreaming: Bool { get }
    var inputName: String { get }
    var outputName: String { get }
}

extension MethodDescriptor {
    /// `foshan.subsidy.v1.Health`
    public var serviceName: String { String(fullName.dropFirst().prefix { $0 != "/" }) }
    /// `Check`
    public var methodName: String { String(fullName.split(separator: "/").last ?? "") }
}

/// A method with one request and one response.
public struct UnaryMethod<Input: ProtoMessage, Output: ProtoMessage>: MethodDescriptor {
    public let fullName: String
    public var isServerStreaming: Bool { false }
    public var inputName: String { Input.protoName }
    public var outputName: String { Output.protoName }
    public init(fullName: String) { self.fullName = fullName }
}

/// A method with one request and a stream of responses, ended by a status.
public struct ServerStreamingMethod<Input: ProtoMessage, Output: ProtoMessage>: MethodDescriptor {
    public let fullName: String
    public var isServerStreaming: Bool { true }
    public var inputName: String { Input.protoName }
    public var outputName: String { Output.protoName }
    public init(fullName: String) { self.fullName = fullName }
}

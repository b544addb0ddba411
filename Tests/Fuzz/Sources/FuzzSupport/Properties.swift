import CFuzzerDriver
import SubsidyWire
#if canImport(Glibc)
import Glibc
#endif

/// A property a fuzz target checks was broken: trap, so libFuzzer saves the input as a crash.
public func propertyViolated(_ message: String) -> Never {
    fatalError("fuzz property violated: \(message)")
}

/// Decodes `bytes` as `M` exactly as the daemon does (``PayloadValidator`` then protobuf-c).
///
/// Bytes that do not decode must be refused with a `SubsidyError` (the typed `throws` guarantees
/// nothing else escapes); bytes that do decode must give a message that
/// - re-encodes with `checkedSerializedBytes()` (no text the wire cannot carry slipped through),
/// - decodes again to the same value, and re-encodes to the same bytes (the round trip is stable),
/// - survives the proto3 JSON mapping subsidyctl uses (value → JSON text → value is the identity).
@discardableResult
public func checkDecode<M: ProtoMessage>(_: M.Type, _ bytes: some Collection<UInt8>, path: String) -> M? {
    let message: M
    do {
        message = try M(serializedBytes: bytes, path: path)
    } catch {
        return nil
    }
    let encoded: [UInt8]
    do {
        encoded = try message.checkedSerializedBytes()
    } catch {
        propertyViolated("\(M.protoName): a decoded message does not re-encode: \(error)")
    }
    let again: M
    do {
        again = try M(serializedBytes: encoded, path: path)
    } catch {
        propertyViolated("\(M.protoName): its own encoding does not decode: \(error)")
    }
    guard again == message else { propertyViolated("\(M.protoName): decode(encode(m)) != m") }
    guard again.serializedBytes() == encoded else { propertyViolated("\(M.protoName): the encoding is not stable") }
    let text = message.jsonValue.serialized()
    do {
        let viaJSON = try M(jsonText: text, path: path)
        guard viaJSON == message else { propertyViolated("\(M.protoName): the JSON round trip changed the value: \(text)") }
    } catch {
        propertyViolated("\(M.protoName): its own JSON does not parse: \(error): \(text)")
    }
    return message
}

/// One request message type, reachable without knowing it statically.
public struct RequestType: Sendable {
    public let protoName: String
    private let decode: @Sendable ([UInt8]) -> Bool

    init<M: ProtoMessage>(_: M.Type) {
        protoName = M.protoName
        decode = { checkDecode(M.self, $0, path: "request") != nil }
    }

    /// Runs ``checkDecode(_:_:path:)``; true if the bytes decoded.
    @discardableResult
    public func check(_ bytes: [UInt8]) -> Bool { decode(bytes) }
}

/// Opens a method descriptor's `Input` type (the descriptors are stored as `any MethodDescriptor`).
protocol HasRequestType {
    var requestType: RequestType { get }
}

extension UnaryMethod: HasRequestType {
    var requestType: RequestType { RequestType(Input.self) }
}

extension ServerStreamingMethod: HasRequestType {
    var requestType: RequestType { RequestType(Input.self) }
}

public enum Requests {
    /// Every distinct request type of `allServiceMethods`, in a stable order (services sorted by
    /// name, methods in declaration order), so that a corpus file means the same type tomorrow.
    public static let types: [RequestType] = {
        var seen: Set<String> = []
        var types: [RequestType] = []
        for service in allServiceMethods.keys.sorted() {
            for method in allServiceMethods[service] ?? [] {
                guard let typed = method as? any HasRequestType else {
                    propertyViolated("\(method.fullName): a kind of method the request fuzzer does not know")
                }
                let type = typed.requestType
                if seen.insert(type.protoName).inserted { types.append(type) }
            }
        }
        return types
    }()

    /// The request type a method name routes to, as the daemon's router finds it.
    public static func type(forMethod fullName: String) -> RequestType? {
        for methods in allServiceMethods.values {
            if let method = methods.first(where: { $0.fullName == fullName }) as? any HasRequestType {
                return method.requestType
            }
        }
        return nil
    }
}

/// Lets a harness hand raw bytes to Swift without copying twice.
public func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(start: size > 0 ? data : nil, count: size)
}

/// Runs libFuzzer with `callback` as the target and exits with its status.
public func runFuzzer(_ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
}

import Logging
import NIOCore
import SubsidyCore
import SubsidyWire

/// Sends the response messages of a server-streaming call.
public struct ResponseStreamWriter<Output: ProtoMessage>: Sendable {
    let send: @Sendable ([UInt8]) async throws -> Void

    public func write(_ message: Output) async throws {
        try await send(message.serializedBytes())
    }
}

/// Maps full method names to handlers, with the roles allowed to call each.
///
/// Handlers see typed messages; decoding (with the text checks of the bridge) and encoding
/// happen here, so a payload that does not parse is INVALID_ARGUMENT before any handler runs.
public struct MethodRouter: Sendable {
    typealias Handler = @Sendable (_ payload: [UInt8], _ context: CallContext, _ send: @escaping @Sendable ([UInt8]) async throws -> Void) async throws(SubsidyError) -> [UInt8]?

    /// A unary handler that answers at once, touching no store and never waiting: the connection
    /// runs it where it read the request, without a task, a deadline timer or a cancel watcher
    /// (nothing could interrupt it before it ends).
    typealias InlineHandler = @Sendable (_ payload: [UInt8], _ context: CallContext) throws(SubsidyError) -> [UInt8]

    struct Route: Sendable {
        var descriptor: any MethodDescriptor
        var roles: Set<TenantRole>
        var handler: Handler
        var inline: InlineHandler? = nil
        /// Whether the call computes in its tenant's turns (``ComputeTurn``): unary methods do;
        /// a stream, which may stay open for hours, and an inline method, which never waits, do not.
        var takesComputeTurn = false
    }

    private(set) var routes: [String: Route] = [:]

    public init() {}

    /// Registers a unary method.
    public mutating func register<I, O>(
        _ method: UnaryMethod<I, O>,
        roles: Set<TenantRole>,
        _ body: @escaping @Sendable (I, CallContext) async throws(SubsidyError) -> O
    ) {
        routes[method.fullName] = Route(
            descriptor: method, roles: roles,
            handler: { payload, context, _ async throws(SubsidyError) in
                let request = try I(serializedBytes: payload, path: "request", maximumEntries: InputLimits.listEntriesPerMessage)
                do throws(SubsidyError) {
                    return try await Clock.withCalendar(of: context) { () async throws(SubsidyError) in try await body(request, context) }.serializedBytes()
                } catch {
                    throw error.redactingInternal(logger: context.logger)
                }
            }, takesComputeTurn: true)
    }

    /// Registers (or re-registers) a unary method whose handler is synchronous and store-free
    /// (Health.Check, WhoAmI): served inline by the connection, and through the ordinary call
    /// path when a test hook asks for the call to be held.
    public mutating func registerInline<I, O>(
        _ method: UnaryMethod<I, O>,
        roles: Set<TenantRole>,
        _ body: @escaping @Sendable (I, CallContext) throws(SubsidyError) -> O
    ) {
        let inline: InlineHandler = { payload, context throws(SubsidyError) in
            let request = try I(serializedBytes: payload, path: "request", maximumEntries: InputLimits.listEntriesPerMessage)
            do throws(SubsidyError) {
                return try body(request, context).serializedBytes()
            } catch {
                throw error.redactingInternal(logger: context.logger)
            }
        }
        routes[method.fullName] = Route(descriptor: method, roles: roles, handler: { payload, context, _ async throws(SubsidyError) in
            try inline(payload, context)
        }, inline: inline)
    }

    /// Registers a server-streaming method. The handler returns when the stream is complete.
    public mutating func register<I, O>(
        _ method: ServerStreamingMethod<I, O>,
        roles: Set<TenantRole>,
        _ body: @escaping @Sendable (I, CallContext, ResponseStreamWriter<O>) async throws(SubsidyError) -> Void
    ) {
        routes[method.fullName] = Route(descriptor: method, roles: roles) { payload, context, send async throws(SubsidyError) in
            let request = try I(serializedBytes: payload, path: "request", maximumEntries: InputLimits.listEntriesPerMessage)
            do throws(SubsidyError) {
                try await Clock.withCalendar(of: context) { () async throws(SubsidyError) in try await body(request, context, ResponseStreamWriter(send: send)) }
            } catch {
                throw error.redactingInternal(logger: context.logger)
            }
            return nil
        }
    }

    func route(_ fullName: String) -> Route? { routes[fullName] }

    /// Every registered method, for reflection.
    var descriptors: [any MethodDescriptor] { routes.values.map(\.descriptor) }

    func isAllowed(_ fullName: String, for role: TenantRole) -> Bool {
        routes[fullName]?.roles.contains(role) ?? false
    }
}

import Logging
import NIOCore
import SubsidyCore
import SubsidyWire
import Synchronization

/// One accepted connection: reads frames, runs each call as a child task, and multiplexes the
/// replies. Its failure is logged and never reaches the listener or any other connection.
final class Connection: Sendable {
    /// Why a call stops before its handler finishes.
    enum Interruption: Sendable {
        case cancelledByClient
        case serverShuttingDown
    }

    private struct CallHandle {
        let interrupt: AsyncStream<Interruption>.Continuation
        let isStreaming: Bool
    }

    /// Open calls and whether the connection is draining. Transitions: `open → draining` (on
    /// shutdown), and the channel closes once draining with no open calls.
    private struct State {
        var calls: [UInt64: CallHandle] = [:]
        var draining = false
    }

    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    let tenant: Tenant
    let peer: PeerCredentials
    let router: MethodRouter
    let limits: ServerConfiguration.Limits
    let testHooks: Bool
    let logger: Logger
    private let state = Mutex(State())

    init(
        channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, tenant: Tenant, peer: PeerCredentials,
        router: MethodRouter, limits: ServerConfiguration.Limits, testHooks: Bool, logger: Logger
    ) {
        self.testHooks = testHooks
        self.channel = channel
        self.tenant = tenant
        self.peer = peer
        self.router = router
        self.limits = limits
        var logger = logger
        logger[metadataKey: "peer.pid"] = "\(peer.pid)"
        logger[metadataKey: "peer.uid"] = "\(peer.uid)"
        self.logger = logger
    }

    func run() async {
        do {
            try await channel.executeThenClose { inbound, outbound in
                let writer = FrameWriter(outbound: outbound, allocator: channel.channel.allocator)
                try await withThrowingDiscardingTaskGroup { group in
                    do {
                        for try await body in inbound {
                            guard let frame = await decode(body, writer: writer) else { break }
                            switch frame.kind {
                            case .request:
                                switch admit(frame) {
                                case .failure(let refusal):
                                    await writer.end(callID: frame.callId, status: Status(refusal))
                                case .success(let interruptions):
                                    group.addTask { await self.runCall(frame, interruptions: interruptions, writer: writer) }
                                }
                            case .cancel:
                                interrupt(callID: frame.callId, reason: .cancelledByClient)
                            default:
                                await writer.end(
                                    callID: 0,
                                    status: Status(.invalidField("frame.kind", "a client may send only REQUEST or CANCEL frames (got \(frame.kind))"))
                                )
                                return
                            }
                        }
                    } catch let error as FrameError {
                        logger.notice("closing connection: \(error)")
                        let code: SubsidyError.Code = if case .frameTooLarge = error { .resourceExhausted } else { .invalidArgument }
                        await writer.end(callID: 0, status: Status(SubsidyError(code, error.description)))
                        group.cancelAll()
                    }
                }
            }
        } catch {
            logger.debug("connection ended: \(error)")
        }
    }

    /// Decodes an envelope; one that does not parse ends the connection (its framing cannot be trusted).
    private func decode(_ body: ByteBuffer, writer: FrameWriter) async -> Frame? {
        do {
            return try Frame(body: body)
        } catch {
            logger.notice("closing connection: undecodable frame: \(error)")
            await writer.end(callID: 0, status: Status(error))
            return nil
        }
    }

    /// Registers a new call before its task starts (so a CANCEL read next finds it), or says why
    /// it may not start.
    private func admit(_ frame: Frame) -> Result<AsyncStream<Interruption>, SubsidyError> {
        let isStreaming = router.route(frame.method)?.descriptor.isServerStreaming ?? false
        return state.withLock { state in
            if frame.callId == 0 { return .failure(.invalidField("frame.call_id", "must be non-zero")) }
            if state.draining { return .failure(SubsidyError(.unavailable, "subsidyd is shutting down; retry against the restarted daemon")) }
            if state.calls[frame.callId] != nil {
                return .failure(.invalidField("frame.call_id", "call \(frame.callId) is already open on this connection"))
            }
            if state.calls.count >= limits.maximumConcurrentCallsPerConnection {
                logger.notice("refusing call: \(limits.maximumConcurrentCallsPerConnection) calls already open")
                return .failure(SubsidyError(.resourceExhausted, "at most \(limits.maximumConcurrentCallsPerConnection) concurrent calls per connection"))
            }
            let (stream, continuation) = AsyncStream<Interruption>.makeStream()
            state.calls[frame.callId] = CallHandle(interrupt: continuation, isStreaming: isStreaming)
            return .success(stream)
        }
    }

    private func interrupt(callID: UInt64, reason: Interruption) {
        let handle = state.withLock { $0.calls[callID] }
        handle?.interrupt.yield(reason)
    }

    /// Starts draining: no new calls, streams end, and the channel closes when the last call ends.
    func beginDraining() {
        let (streams, idle) = state.withLock { state -> ([CallHandle], Bool) in
            state.draining = true
            return (state.calls.values.filter(\.isStreaming), state.calls.isEmpty)
        }
        for handle in streams { handle.interrupt.yield(.serverShuttingDown) }
        if idle { channel.channel.close(promise: nil) }
    }

    private enum Outcome: Sendable {
        case finished(Result<[UInt8]?, SubsidyError>)
        case interrupted(Interruption)
        case deadlineExceeded
        case none
    }

    private func runCall(_ frame: Frame, interruptions: AsyncStream<Interruption>, writer: FrameWriter) async {
        let callID = frame.callId
        let route = router.route(frame.method)
        defer { finish(callID: callID) }

        var logger = self.logger
        logger[metadataKey: "call.method"] = "\(frame.method)"
        logger[metadataKey: "call.id"] = "\(callID)"

        guard let route else {
            await writer.end(callID: callID, status: Status(SubsidyError(.unimplemented, "unknown method \"\(frame.method)\"")))
            return
        }
        guard route.roles.contains(tenant.role) else {
            logger.notice("permission denied: \(tenant.role) tenant \(tenant.id) called \(frame.method)")
            await writer.end(
                callID: callID,
                status: Status(SubsidyError(.permissionDenied, "\(frame.method) is not available to the \(tenant.role.rawValue) tenant \(tenant.id)"))
            )
            return
        }
        let context = CallContext(
            tenant: tenant, peer: peer, method: frame.method,
            metadata: Dictionary(frame.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last }),
            logger: logger
        )
        let ended = Mutex(false)
        let send: @Sendable ([UInt8]) async throws -> Void = { payload in
            guard !ended.withLock({ $0 }) else { throw CancellationError() }
            await writer.message(callID: callID, payload: payload)
        }
        let timeout = frame.timeoutMs
        let testDelay = testHooks ? context.metadata["x-test-delay-ms"].flatMap { Int64($0) } : nil
        await withTaskGroup(of: Outcome.self) { group in
            group.addTask {
                do throws(SubsidyError) {
                    if let testDelay {
                        // Cancellation ends the sleep early; the handler then still runs, as a
                        // real handler that is already committing would.
                        try? await Task.sleep(for: .milliseconds(testDelay))
                    }
                    return .finished(.success(try await route.handler(frame.payload, context, send)))
                } catch {
                    return .finished(.failure(error))
                }
            }
            group.addTask {
                for await reason in interruptions { return .interrupted(reason) }
                return .none
            }
            // Deadlines beyond a day are treated as none rather than overflowing the clock.
            if timeout > 0 && timeout < 86_400_000 {
                group.addTask {
                    do {
                        try await Task.sleep(for: .milliseconds(Int64(timeout)))
                        return .deadlineExceeded
                    } catch {
                        return .none
                    }
                }
            }
            var outcome = Outcome.none
            while let next = await group.next() {
                if case .none = next { continue }
                outcome = next
                break
            }
            ended.withLock { $0 = true }
            // Reply before waiting for the other children, so a deadline answers on time even
            // while a handler finishes work that must not be torn in half.
            switch outcome {
            case .finished(.success(let payload)):
                await writer.end(callID: callID, status: .ok, payload: payload ?? [])
            case .finished(.failure(let error)):
                logger.debug("call failed: \(error)")
                await writer.end(callID: callID, status: Status(error))
            case .interrupted(.cancelledByClient):
                await writer.end(callID: callID, status: Status(SubsidyError(.cancelled, "cancelled by the client")))
            case .interrupted(.serverShuttingDown):
                await writer.end(callID: callID, status: Status(SubsidyError(.unavailable, "subsidyd is shutting down")))
            case .deadlineExceeded:
                logger.info("deadline of \(timeout) ms exceeded")
                await writer.end(callID: callID, status: Status(SubsidyError(.deadlineExceeded, "deadline of \(timeout) ms exceeded")))
            case .none:
                await writer.end(callID: callID, status: Status(SubsidyError(.internal, "call ended without an outcome")))
            }
            group.cancelAll()
        }
    }

    private func finish(callID: UInt64) {
        let (handle, closeNow) = state.withLock { state -> (CallHandle?, Bool) in
            let handle = state.calls.removeValue(forKey: callID)
            return (handle, state.draining && state.calls.isEmpty)
        }
        handle?.interrupt.finish()
        if closeNow { channel.channel.close(promise: nil) }
    }
}

/// Encodes frames onto a connection's outbound writer. Writes from concurrent calls interleave
/// whole frames only: each frame is one buffer.
struct FrameWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let allocator: ByteBufferAllocator

    func end(callID: UInt64, status: Status, payload: [UInt8] = []) async {
        var frame = Frame()
        frame.callId = callID
        frame.kind = .end
        frame.status = status
        frame.payload = payload
        await write(frame)
    }

    func message(callID: UInt64, payload: [UInt8]) async {
        var frame = Frame()
        frame.callId = callID
        frame.kind = .message
        frame.payload = payload
        await write(frame)
    }

    private func write(_ frame: Frame) async {
        var buffer = allocator.buffer(capacity: 64 + frame.payload.count)
        frame.write(to: &buffer)
        // A peer that has gone away cannot be told anything; the call's outcome stands regardless.
        try? await outbound.write(buffer)
    }
}

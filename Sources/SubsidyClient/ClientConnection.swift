import NIOCore
import NIOPosix
import SubsidyCore
import SubsidyWire
import Synchronization

/// An async client for subsidyd over one Unix-socket connection.
///
/// Calls are multiplexed: any number may be in flight at once from any tasks, and replies are
/// matched to calls by id whatever order they arrive in. A non-OK status is thrown as a
/// ``SubsidyError`` with the same code and details; a lost connection as `UNAVAILABLE`.
public final class ClientConnection: Sendable {
    private let channel: any Channel
    private let calls: CallTable
    /// Sent with every call; a call's own metadata wins over it key by key.
    private let metadata: [String: String]

    private init(channel: any Channel, calls: CallTable, metadata: [String: String]) {
        self.channel = channel
        self.calls = calls
        self.metadata = metadata
    }

    /// Connects to a subsidyd socket.
    /// - Parameter metadata: sent with every call on the connection (e.g. `x-today` to a
    ///   `--dev` daemon).
    public static func connect(
        unixSocketPath path: String,
        maximumFrameLength: Int = FrameDecoder.defaultMaximumFrameLength,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        metadata: [String: String] = [:]
    ) async throws(SubsidyError) -> ClientConnection {
        let calls = CallTable()
        do {
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(maximumFrameLength: maximumFrameLength))
                        )
                        try channel.pipeline.syncOperations.addHandler(ReplyHandler(calls: calls))
                    }
                }
                .connect(unixDomainSocketPath: path)
                .get()
            return ClientConnection(channel: channel, calls: calls, metadata: metadata)
        } catch {
            throw SubsidyError(.unavailable, "cannot connect to \(path): \(error)")
        }
    }

    /// Calls a unary method.
    /// - Parameter timeout: the call's deadline, sent to the server, which enforces it.
    public func call<I, O>(
        _ method: UnaryMethod<I, O>, _ request: I, timeout: Duration? = nil, metadata: [String: String] = [:]
    ) async throws(SubsidyError) -> O {
        let (callID, replies) = calls.open()
        var result: Result<O, SubsidyError> = .failure(SubsidyError(.unavailable, "connection closed before the reply"))
        await withTaskCancellationHandler {
            do throws(SubsidyError) {
                // Not waiting for the write to complete saves a wake-up per call: a write that
                // fails closes the connection, and the reply stream then ends (UNAVAILABLE).
                let frame = try Self.requestFrame(
                    callID: callID, method: method.fullName, request.checkedSerializedBytes(), timeout: timeout,
                    metadata: self.metadata.merging(metadata) { _, call in call })
                writeWithoutWaiting(frame)
                for await frame in replies where frame.kind == .end {
                    let status = frame.status ?? Foshan_Subsidy_V1_Status()
                    if status.code == .ok {
                        result = Result { () throws(SubsidyError) in try O(serializedBytes: frame.payload, path: "response") }
                    } else {
                        result = .failure(SubsidyError(status))
                    }
                    break
                }
                // Iteration also stops when this task is cancelled (CANCEL was sent).
                if Task.isCancelled { result = .failure(SubsidyError(.cancelled, "cancelled by the client")) }
            } catch {
                result = .failure(error)
            }
        } onCancel: {
            self.cancel(callID: callID)
        }
        calls.close(callID)
        return try result.get()
    }

    /// Calls a server-streaming method; the stream ends when the server ends the call, and throws
    /// its status if that is not OK. Cancelling the consuming task cancels the call.
    public func stream<I, O>(
        _ method: ServerStreamingMethod<I, O>, _ request: I, timeout: Duration? = nil, metadata: [String: String] = [:]
    ) -> AsyncThrowingStream<O, any Error> {
        let (callID, replies) = calls.open()
        return AsyncThrowingStream { continuation in
            let task = Task {
                do throws(SubsidyError) {
                    try await send(callID: callID, method: method.fullName, request.checkedSerializedBytes(), timeout: timeout, metadata: metadata)
                    for await frame in replies {
                        if frame.kind == .message {
                            continuation.yield(try O(serializedBytes: frame.payload, path: "response"))
                        } else if frame.kind == .end {
                            let status = frame.status ?? Foshan_Subsidy_V1_Status()
                            if status.code != .ok { throw SubsidyError(status) }
                            continuation.finish()
                            calls.close(callID)
                            return
                        }
                    }
                    throw SubsidyError(.unavailable, "connection closed before the stream ended")
                } catch {
                    continuation.finish(throwing: error)
                }
                calls.close(callID)
            }
            continuation.onTermination = { reason in
                if case .cancelled = reason {
                    self.cancel(callID: callID)
                    task.cancel()
                }
            }
        }
    }

    /// An executor that runs tasks on the thread serving this connection. A task making many calls
    /// on this connection can prefer it (`withTaskExecutorPreference(connection.executor) { … }`):
    /// its requests are then written, and its replies resumed, on the thread that reads the
    /// socket — no hand-off between threads per call. Run nothing that blocks on it: the
    /// connection's replies wait behind it. The event loop group the connection was made on must
    /// outlive such tasks (a shut-down loop runs nothing more).
    public var executor: any TaskExecutor { EventLoopTaskExecutor(loop: channel.eventLoop) }

    /// Closes the connection; calls still open end with UNAVAILABLE.
    public func close() async {
        try? await channel.close()
    }

    private func send(callID: UInt64, method: String, _ payload: [UInt8], timeout: Duration?, metadata: [String: String]) async throws(SubsidyError) {
        try await write(Self.requestFrame(callID: callID, method: method, payload, timeout: timeout, metadata: self.metadata.merging(metadata) { _, call in call }))
    }

    private static func requestFrame(callID: UInt64, method: String, _ payload: [UInt8], timeout: Duration?, metadata: [String: String]) -> Foshan_Subsidy_V1_Frame {
        var frame = Foshan_Subsidy_V1_Frame()
        frame.callId = callID
        frame.kind = .request
        frame.method = method
        frame.payload = payload
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            frame.timeoutMs = UInt64(max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000))
        }
        frame.metadata = metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Foshan_Subsidy_V1_MetadataEntry()
            entry.key = key
            entry.value = value
            return entry
        }
        return frame
    }

    private func cancel(callID: UInt64) {
        var frame = Foshan_Subsidy_V1_Frame()
        frame.callId = callID
        frame.kind = .cancel
        writeWithoutWaiting(frame)
    }

    private func encoded(_ frame: Foshan_Subsidy_V1_Frame) -> ByteBuffer {
        var buffer = channel.allocator.buffer(capacity: 64 + frame.payload.count)
        frame.write(to: &buffer)
        return buffer
    }

    private func writeWithoutWaiting(_ frame: Foshan_Subsidy_V1_Frame) {
        channel.writeAndFlush(encoded(frame), promise: nil)
    }

    private func write(_ frame: Foshan_Subsidy_V1_Frame) async throws(SubsidyError) {
        do {
            try await channel.writeAndFlush(encoded(frame))
        } catch {
            throw SubsidyError(.unavailable, "connection lost: \(error)")
        }
    }
}

/// Runs jobs on an event loop (NIO 2.101 has no task executor of its own). A job enqueued from
/// the loop's own thread queues behind the current work without waking anything.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Open calls by id, each with the stream its reply frames are delivered to.
final class CallTable: Sendable {
    private struct State {
        var nextID: UInt64 = 1
        var open: [UInt64: AsyncStream<Foshan_Subsidy_V1_Frame>.Continuation] = [:]
        var closed = false
        /// A connection-level error from the server (call id 0), kept for calls still open.
        var connectionError: Foshan_Subsidy_V1_Frame?
    }

    private let state = Mutex(State())

    func open() -> (UInt64, AsyncStream<Foshan_Subsidy_V1_Frame>) {
        let (stream, continuation) = AsyncStream<Foshan_Subsidy_V1_Frame>.makeStream()
        let (id, closed) = state.withLock { state -> (UInt64, Bool) in
            let id = state.nextID
            state.nextID += 1
            if !state.closed { state.open[id] = continuation }
            return (id, state.closed)
        }
        if closed { continuation.finish() }
        return (id, stream)
    }

    func close(_ id: UInt64) {
        state.withLock { $0.open.removeValue(forKey: id) }?.finish()
    }

    func deliver(_ frame: Foshan_Subsidy_V1_Frame) {
        if frame.callId == 0 {
            // The server is about to close the connection: every open call ends with its status.
            let all = state.withLock { state -> [UInt64: AsyncStream<Foshan_Subsidy_V1_Frame>.Continuation] in
                state.connectionError = frame
                return state.open
            }
            for (id, continuation) in all {
                var copy = frame
                copy.callId = id
                continuation.yield(copy)
            }
            return
        }
        let continuation = state.withLock { $0.open[frame.callId] }
        continuation?.yield(frame)
        if frame.kind == .end { continuation?.finish() }
    }

    func connectionClosed() {
        let all = state.withLock { state -> [AsyncStream<Foshan_Subsidy_V1_Frame>.Continuation] in
            state.closed = true
            defer { state.open = [:] }
            return Array(state.open.values)
        }
        for continuation in all { continuation.finish() }
    }
}

/// Decodes reply frames and hands them to the call table.
final class ReplyHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let calls: CallTable

    init(calls: CallTable) { self.calls = calls }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let body = unwrapInboundIn(data)
        guard let frame = try? Foshan_Subsidy_V1_Frame(body: body) else {
            context.close(promise: nil)
            return
        }
        calls.deliver(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        calls.connectionClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

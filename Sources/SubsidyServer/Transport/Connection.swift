import Logging
import NIOCore
import SubsidyCore
import SubsidyStore
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
        /// Nil for a call served inline on the event loop: it ends before anything could interrupt it.
        let interrupt: AsyncStream<Interruption>.Continuation?
        let isStreaming: Bool
        /// The request's size plus ``heldPerCall``: counted in ``queued`` from admission until the
        /// call's END has been written (or the peer has gone), as long as its task holds them.
        let requestBytes: Int
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
    let router: RouteTable
    let limits: ServerConfiguration.Limits
    let activity: ConnectionActivity
    let rateLimiter: RequestRateLimiter
    /// Lines this tenant's refusals may add to the log, shared with its other connections.
    let logBudget: LogBudget
    let testHooks: Bool
    /// The day the calendar is pinned to (`subsidyd --today`), nil for Foshan's real day.
    let pinnedToday: CalendarDate?
    /// Whether a call may pin its own day (metadata `x-today`): a `--dev` daemon's only (and the
    /// test suite's, `--test-hooks`).
    let takesCallDates: Bool
    let logger: Logger
    let metrics: DaemonMetrics?
    /// Requests of open calls and replies not yet written, against `max_queued_bytes_per_connection`.
    let queued: QueuedBytes
    /// The tenant's share of blocking store work, shared by all of its connections.
    let storePermits: AsyncSemaphore
    /// The tenant's turns to compute (``ComputeTurn``); nil: calls take none (tests that make a
    /// connection of their own).
    let computeTurns: AsyncSemaphore?
    /// Frames the event loop passed on to this connection's reading task and it has not yet taken in.
    let backlog: InlineCallHandler.Backlog
    /// Its frames, counted for the tenant from their header until this connection takes them in.
    let arriving: ArrivingFrames
    private let state = Mutex(State())

    init(
        channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, tenant: Tenant, peer: PeerCredentials,
        router: RouteTable, limits: ServerConfiguration.Limits, activity: ConnectionActivity,
        rateLimiter: RequestRateLimiter, logBudget: LogBudget = LogBudget(), storePermits: AsyncSemaphore, computeTurns: AsyncSemaphore? = nil, tenantQueue: TenantQueue? = nil, testHooks: Bool, pinnedToday: CalendarDate? = nil, takesCallDates: Bool = false,
        logger: Logger, metrics: DaemonMetrics? = nil, backlog: InlineCallHandler.Backlog = .init(), arriving: ArrivingFrames = ArrivingFrames(tenant: nil)
    ) {
        self.backlog = backlog
        self.arriving = arriving
        self.metrics = metrics
        self.storePermits = storePermits
        self.computeTurns = computeTurns
        queued = QueuedBytes(limit: limits.maximumQueuedBytesPerConnection, tenant: tenantQueue)
        self.activity = activity
        self.rateLimiter = rateLimiter
        self.logBudget = logBudget
        self.testHooks = testHooks
        self.pinnedToday = pinnedToday
        self.takesCallDates = takesCallDates
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
                let writer = FrameWriter(outbound: outbound, allocator: channel.channel.allocator, queued: queued)
                try await withThrowingDiscardingTaskGroup { group in
                    switch await readFrames(inbound, writer: writer, group: &group) {
                    case .endOfInput:
                        // The client has gone: nobody is left to read a stream or a reply. Calls
                        // already at the store still finish, so a decision that is being committed
                        // is not torn; calls still waiting for their turn end without starting.
                        interruptStreams(reason: .cancelledByClient)
                        queued.abandon()
                    case .protocolViolation:
                        queued.abandon()
                        group.cancelAll()
                    }
                }
            }
        } catch {
            logger.debug("connection ended: \(error)")
        }
    }

    private enum InputEnd {
        case endOfInput
        /// The peer broke the protocol; it was told why (END on call 0) and is being closed.
        case protocolViolation
    }

    private func readFrames(
        _ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, writer: FrameWriter, group: inout ThrowingDiscardingTaskGroup<any Error>
    ) async -> InputEnd {
        do {
            var frames = inbound.makeAsyncIterator()
            while true {
                if queued.total >= queued.limit {
                    // Backpressure: no more reads (so no more calls) until the client has read
                    // enough of its replies or its open calls have ended.
                    if let note = logBudget.admit(.backpressure, tenant: tenant.id) {
                        logger.info(
                            "pausing reads: \(queued.total) bytes queued for this connection\(note)",
                            metadata: ["limit.max_queued_bytes_per_connection": "\(queued.limit)"]
                        )
                    }
                    await queued.waitUntilBelowLimit()
                }
                if let tenantQueue = queued.tenant, tenantQueue.isOverLimit {
                    // The tenant as a whole holds too much: this connection waits too, checking
                    // every 20 ms (the bytes fall as any of the tenant's clients read, or go), and
                    // stops waiting if it is closed meanwhile (drain, idle timeout).
                    if let note = logBudget.admit(.backpressure, tenant: tenant.id) {
                        logger.info(
                            "pausing reads: tenant \(tenant.id) holds \(tenantQueue.total) bytes over all its connections\(note)",
                            metadata: ["limit.max_queued_bytes_per_tenant": "\(tenantQueue.limit)"]
                        )
                    }
                    while tenantQueue.isOverLimit && channel.channel.isActive {
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                    // Closed meanwhile: read on, to the end of what arrived.
                    if channel.channel.isActive { continue }
                }
                guard let body = try await frames.next() else { break }
                // Counted from here on as its call (or not at all, if it is refused).
                arriving.taken(body.readableBytes)
                // Taken in once admitted or refused (the call is in the table, or answered), so
                // the event loop checks later inline calls against it.
                defer { backlog.takenIn() }
                guard let frame = await decode(body, writer: writer) else { return .protocolViolation }
                switch frame.kind {
                case .request where frame.callId == 0:
                    await writer.end(callID: 0, status: Foshan_Subsidy_V1_Status(.invalidField("frame.call_id", "must be non-zero")))
                    return .protocolViolation
                case .request:
                    switch admit(frame) {
                    case .failure(let refusal):
                        metrics?.recordRefusedCall(method: metricsMethod(frame.method), tenant: tenant.id, code: refusal.code.description)
                        await writer.end(callID: frame.callId, status: Foshan_Subsidy_V1_Status(refusal))
                        // Over the rate or the connection's calls: refusing costs a decode and a
                        // reply each, so this connection is not read for a moment (its client
                        // feels the backpressure; other connections and tenants are read on).
                        if refusal.code == .resourceExhausted { await pauseAfterRefusal() }
                    case .success(let interruptions):
                        if let (route, inline) = inlineHandler(for: frame) {
                            await runInline(frame, route: route, inline: inline, writer: writer)
                        } else {
                            group.addTask { await self.runCall(frame, interruptions: interruptions, writer: writer) }
                        }
                    }
                case .cancel:
                    interrupt(callID: frame.callId, reason: .cancelledByClient)
                    // A CANCEL costs its decode like a request and gets no reply, so nothing else
                    // would slow a flood of them: each takes a token of the tenant's rate, and
                    // past it the connection pauses as for a refused request.
                    if case .refused(let first) = rateLimiter.admit(tenant: tenant.id) {
                        // Once per episode, and episodes within the budget: a client just over
                        // its rate starts one every other call.
                        if first, let note = logBudget.admit(.rate, tenant: tenant.id) {
                            logger.notice(
                                "pausing reads: tenant \(tenant.id) is over its request rate (CANCEL frames count too)\(note)",
                                metadata: ["limit.requests_per_second": "\(limits.requestsPerSecond)", "limit.request_burst": "\(limits.requestBurst)"]
                            )
                        }
                        await pauseAfterRefusal()
                    }
                default:
                    await writer.end(
                        callID: 0,
                        status: Foshan_Subsidy_V1_Status(.invalidField("frame.kind", "a client may send only REQUEST or CANCEL frames (got \(frame.kind))"))
                    )
                    return .protocolViolation
                }
            }
            return .endOfInput
        } catch let error as FrameError {
            if let note = logBudget.admit(.protocolViolation, tenant: tenant.id) { logger.notice("closing connection: \(error)\(note)") }
            let code: SubsidyError.Code = if case .frameTooLarge = error { .resourceExhausted } else { .invalidArgument }
            await writer.end(callID: 0, status: Foshan_Subsidy_V1_Status(SubsidyError(code, error.description)))
            return .protocolViolation
        } catch {
            logger.debug("connection read failed: \(error)")
            return .endOfInput
        }
    }

    /// How long a connection is not read after a frame refused for the tenant's rate or its
    /// calls: with 128 connections, one tenant's flood then costs at most a few thousand decodes
    /// a second, not the event loops' and the pool's whole time.
    static let refusalPause = Duration.milliseconds(50)

    private func pauseAfterRefusal() async {
        try? await Task.sleep(for: Self.refusalPause)
    }

    /// Decodes an envelope; one that does not parse ends the connection (its framing cannot be trusted).
    private func decode(_ body: ByteBuffer, writer: FrameWriter) async -> Foshan_Subsidy_V1_Frame? {
        do {
            return try Foshan_Subsidy_V1_Frame(body: body)
        } catch {
            if let note = logBudget.admit(.protocolViolation, tenant: tenant.id) { logger.notice("closing connection: undecodable frame: \(error)\(note)") }
            await writer.end(callID: 0, status: Foshan_Subsidy_V1_Status(error))
            return nil
        }
    }

    /// Registers a new call before its task starts (so a CANCEL read next finds it), or says why
    /// it may not start.
    private func admit(_ frame: Foshan_Subsidy_V1_Frame) -> Result<AsyncStream<Interruption>, SubsidyError> {
        let (stream, continuation) = AsyncStream<Interruption>.makeStream()
        return register(frame, interrupt: continuation).map { stream }
    }

    /// Admits a call (rate, draining, call id, concurrency) and enters it in the table with what
    /// can interrupt it (nil for a call served inline, which ends before anything could).
    private func register(
        _ frame: Foshan_Subsidy_V1_Frame, interrupt: AsyncStream<Interruption>.Continuation?
    ) -> Result<Void, SubsidyError> {
        let isStreaming = router.route(frame.method)?.descriptor.isServerStreaming ?? false
        if case .refused(let first) = rateLimiter.admit(tenant: tenant.id) {
            if first, let note = logBudget.admit(.rate, tenant: tenant.id) {
                logger.notice(
                    "refusing calls: tenant \(tenant.id) is over its request rate\(note)",
                    metadata: ["limit.requests_per_second": "\(limits.requestsPerSecond)", "limit.request_burst": "\(limits.requestBurst)"]
                )
            }
            return .failure(SubsidyError(
                .resourceExhausted,
                "tenant \(tenant.id) is over its request rate of \(limits.requestsPerSecond)/s (burst \(limits.requestBurst)); retry later"
            ))
        }
        return state.withLock { state in
            if state.draining { return .failure(SubsidyError(.unavailable, "subsidyd is shutting down; retry against the restarted daemon")) }
            if state.calls[frame.callId] != nil {
                return .failure(.invalidField("frame.call_id", "call \(frame.callId) is already open on this connection"))
            }
            if state.calls.count >= limits.maximumConcurrentCallsPerConnection {
                if let note = logBudget.admit(.callLimit, tenant: tenant.id) {
                    logger.notice("refusing call: \(limits.maximumConcurrentCallsPerConnection) calls already open\(note)")
                }
                return .failure(SubsidyError(.resourceExhausted, "at most \(limits.maximumConcurrentCallsPerConnection) concurrent calls per connection"))
            }
            // An open call holds its whole frame: payload, method, metadata and any status a
            // client put in. Counted as payload and method, calls of 240 KiB of metadata whose
            // ENDs were never read grew RSS by 65 MB against a 2 MiB bound. What the decoded
            // frame keeps is counted (``keptBytes(of:)``), not its encoded length: unknown fields
            // are dropped as it is decoded, and a frame padded with one was counted at megabytes
            // while holding nothing — a few long-lived streams so padded held their tenant over
            // its limit, and none of its connections was read again. The rest of what serving
            // it holds is counted as a fixed amount, so many small calls are bounded too.
            let requestBytes = Self.keptBytes(of: frame) + Self.heldPerCall
            queued.addRequest(requestBytes)
            state.calls[frame.callId] = CallHandle(interrupt: interrupt, isStreaming: isStreaming, requestBytes: requestBytes)
            activity.callStarted()
            return .success(())
        }
    }

    /// The method as a log line or a status names it: a name the router serves as it is, another
    /// (a frame may carry megabytes of name) cut to ``longestShownMethod`` bytes.
    private func shownMethod(_ method: String) -> String {
        InputLimits.shown(method, maximumBytes: Self.longestShownMethod)
    }

    /// Bytes of an unknown method name shown: more than any method the daemon serves.
    static let longestShownMethod = 200

    /// The method as a metrics label: only names the router serves, so a client cannot grow the
    /// label set by inventing method names.
    private func metricsMethod(_ method: String) -> String {
        router.route(method) == nil ? "unknown" : method
    }

    private func interrupt(callID: UInt64, reason: Interruption) {
        let handle = state.withLock { $0.calls[callID] }
        handle?.interrupt?.yield(reason)
    }

    /// Starts draining: no new calls, streams end, and the channel closes when the last call ends.
    func beginDraining() {
        let idle = state.withLock { state -> Bool in
            state.draining = true
            return state.calls.isEmpty
        }
        interruptStreams(reason: .serverShuttingDown)
        if idle { channel.channel.close(promise: nil) }
    }

    private func interruptStreams(reason: Interruption) {
        let streams = state.withLock { $0.calls.values.filter(\.isStreaming) }
        for handle in streams { handle.interrupt?.yield(reason) }
    }

    private enum Outcome: Sendable {
        case finished(Result<[UInt8]?, SubsidyError>)
        case interrupted(Interruption)
        case deadlineExceeded
        case graceExpired
        case none
    }

    private func runCall(_ frame: Foshan_Subsidy_V1_Frame, interruptions: AsyncStream<Interruption>, writer: FrameWriter) async {
        let started = ContinuousClock.now
        await execute(frame, interruptions: interruptions, writer: writer, logger: callLogger(frame)) { status, payload in
            await self.end(frame, started: started, status: status, payload: payload, writer: writer)
        }
    }

    /// Serves, in the reading task, a call with an inline handler that the event loop passed on
    /// (see ``InlineCallHandler``: not yet attached, not writable, or frames before it pending).
    private func runInline(_ frame: Foshan_Subsidy_V1_Frame, route: MethodRouter.Route, inline: MethodRouter.InlineHandler, writer: FrameWriter) async {
        let started = ContinuousClock.now
        let (status, payload) = serve(frame, route: route, inline: inline)
        await end(frame, started: started, status: status, payload: payload, writer: writer)
    }

    /// Runs an inline handler after the role and metadata checks: its status and reply.
    private func serve(_ frame: Foshan_Subsidy_V1_Frame, route: MethodRouter.Route, inline: MethodRouter.InlineHandler) -> (Foshan_Subsidy_V1_Status, [UInt8]) {
        let logger = callLogger(frame)
        if let refusal = refusal(of: frame, route: route, logger: logger) {
            return (Foshan_Subsidy_V1_Status(refusal), [])
        }
        do throws(SubsidyError) {
            return (.ok, try inline(frame.payload, context(for: frame, logger: logger, computing: false)))
        } catch {
            logger.debug("call failed: \(error)")
            return (Foshan_Subsidy_V1_Status(error), [])
        }
    }

    /// Answers `body` on the event loop that read it, if it is a request an inline handler serves
    /// and nothing holds the connection back: the encoded END, and whether the channel closes
    /// after it (the last call of a draining connection). Nil passes the frame on to the reading
    /// task, which handles everything else (streams, store calls, CANCEL, malformed frames, and
    /// any call while replies are queued over the limits, so backpressure is kept there).
    func answerInline(_ body: ByteBuffer, allocator: ByteBufferAllocator) -> (reply: ByteBuffer, close: Bool)? {
        // A frame passed on is decoded again by the reading task: only small ones (every inline
        // request is) are decoded here, so a store call's large request is not decoded twice.
        guard body.readableBytes <= Self.largestInlineRequest else { return nil }
        if queued.total >= queued.limit { return nil }
        if let tenantQueue = queued.tenant, tenantQueue.isOverLimit { return nil }
        // Over its rate, a tenant's Health.Check and WhoAmI are refused by the reading task,
        // which pauses the connection after each refusal; answered here, a flood of them would
        // be refused at the event loop's full speed.
        if rateLimiter.isRefusing(tenant: tenant.id) { return nil }
        guard let frame = try? Foshan_Subsidy_V1_Frame(body: body), frame.kind == .request, frame.callId != 0,
            let (route, inline) = inlineHandler(for: frame)
        else { return nil }
        let started = ContinuousClock.now
        switch register(frame, interrupt: nil) {
        case .failure(let refusal):
            metrics?.recordRefusedCall(method: metricsMethod(frame.method), tenant: tenant.id, code: refusal.code.description)
            return (FrameWriter.endFrame(callID: frame.callId, status: Foshan_Subsidy_V1_Status(refusal), payload: [], allocator: allocator), false)
        case .success:
            let (status, payload) = serve(frame, route: route, inline: inline)
            let (close, held) = ended(frame, started: started, status: status)
            // Nothing of the call is held once its END is handed to the event loop.
            queued.removeRequest(held)
            return (FrameWriter.endFrame(callID: frame.callId, status: status, payload: payload, allocator: allocator), close)
        }
    }

    /// Frames larger than this go to the reading task undecoded. Health.Check and WhoAmI requests
    /// are tens of bytes; one carrying unusually large metadata simply takes the ordinary path.
    static let largestInlineRequest = 4_096

    /// Whether `frame` is served inline: its route has an inline handler and no test hook holds it.
    private func inlineHandler(for frame: Foshan_Subsidy_V1_Frame) -> (MethodRouter.Route, MethodRouter.InlineHandler)? {
        guard let route = router.route(frame.method), let inline = route.inline else { return nil }
        if testHooks && frame.metadata.contains(where: { $0.key == "x-test-delay-ms" }) { return nil }
        return (route, inline)
    }

    /// Records the call, takes it out of the table, then writes its END; what the call held stays
    /// counted until the END is written, since the call's task holds its request until then (a
    /// client that never reads would otherwise have its calls' requests kept uncounted, and its
    /// connection read on).
    private func end(_ frame: Foshan_Subsidy_V1_Frame, started: ContinuousClock.Instant, status: Foshan_Subsidy_V1_Status, payload: [UInt8], writer: FrameWriter) async {
        let (closeNow, held) = ended(frame, started: started, status: status)
        await writer.end(callID: frame.callId, status: status, payload: payload)
        queued.removeRequest(held)
        if closeNow { channel.channel.close(promise: nil) }
    }

    /// What ``queued`` counts for an open call besides its request's bytes: its task, context,
    /// logger and END, so a flood of tiny calls is bounded as large ones are. Measured, not
    /// guessed: 25,000 calls left waiting to write their END grew the release daemon's RSS by
    /// ~8,000 bytes each (the 2 KiB counted before let 32 MiB of bound hold ~130 MiB);
    /// `ResourceBoundsTests.tinyCallsCounted` holds the two together.
    static let heldPerCall = 8 * 1_024

    /// What a decoded request frame holds: its payload, method, metadata (with what each entry
    /// costs besides its text) and any status; not the unknown fields the decoder dropped.
    static func keptBytes(of frame: Foshan_Subsidy_V1_Frame) -> Int {
        var bytes = frame.payload.count + frame.method.utf8.count
        for entry in frame.metadata { bytes += entry.key.utf8.count + entry.value.utf8.count + 32 }
        if let status = frame.status { bytes += status.serializedBytes().count }
        return bytes
    }

    /// Records the call and takes it out of the table — before its END is written, so a client
    /// that reuses the id (or counts its open calls) right after reading END is never refused.
    /// Returns whether the channel is to close after the END (draining, and no call left) and the
    /// bytes the call had counted, for the caller to release once the call no longer holds them.
    private func ended(
        _ frame: Foshan_Subsidy_V1_Frame, started: ContinuousClock.Instant, status: Foshan_Subsidy_V1_Status
    ) -> (close: Bool, held: Int) {
        metrics?.recordCall(
            method: metricsMethod(frame.method), tenant: tenant.id, code: SubsidyError.Code(rawValue: status.code.rawValue).description,
            duration: ContinuousClock.now - started)
        return state.withLock { state in
            var held = 0
            if let handle = state.calls.removeValue(forKey: frame.callId) {
                handle.interrupt?.finish()
                activity.callEnded()
                held = handle.requestBytes
            }
            return (state.draining && state.calls.isEmpty, held)
        }
    }

    /// The connection's logger, with the call's method and id on every line.
    private func callLogger(_ frame: Foshan_Subsidy_V1_Frame) -> Logger {
        var logger = self.logger
        logger[metadataKey: "call.method"] = "\(shownMethod(frame.method))"
        logger[metadataKey: "call.id"] = "\(frame.callId)"
        return logger
    }

    /// Why the caller may not make this call (its role, or its metadata), if it may not.
    private func refusal(of frame: Foshan_Subsidy_V1_Frame, route: MethodRouter.Route, logger: Logger) -> SubsidyError? {
        guard route.roles.contains(tenant.role) else {
            if let note = logBudget.admit(.permissionDenied, tenant: tenant.id) {
                logger.notice("permission denied: \(tenant.role) tenant \(tenant.id) called \(frame.method)\(note)")
            }
            return SubsidyError(.permissionDenied, "\(frame.method) is not available to the \(tenant.role.rawValue) tenant \(tenant.id)")
        }
        if let problem = Self.metadataProblem(frame.metadata.map { ($0.key, $0.value) }) {
            return .invalidField("frame.metadata", problem)
        }
        // Every entry, in any case: none may slip past as a spelling the check did not read.
        for entry in frame.metadata where Self.isTodayKey(entry.key) {
            guard takesCallDates else {
                return .invalidField(
                    "frame.metadata", "\(Self.todayKey): this daemon keeps Foshan's real calendar; only subsidyd --dev takes a call's own day")
            }
            if (try? CalendarDate(parsing: entry.value)) == nil {
                return .invalidField("frame.metadata", "\(Self.todayKey) must be a date YYYY-MM-DD (got \"\(entry.value.prefix(40))\")")
            }
        }
        return nil
    }

    static func isTodayKey(_ key: String) -> Bool { key.lowercased() == todayKey }

    /// Metadata that pins one call's calendar (`subsidyctl --today`), taken by a `--dev` daemon
    /// only: a rehearsal, or a test, steps through a programme's years as a bureau lived them.
    static let todayKey = "x-today"

    private func context(for frame: Foshan_Subsidy_V1_Frame, logger: Logger, computing: Bool) -> CallContext {
        let callToday = takesCallDates ? frame.metadata.last(where: { Self.isTodayKey($0.key) }).flatMap { try? CalendarDate(parsing: $0.value) } : nil
        var context = CallContext(
            tenant: tenant, peer: peer, method: frame.method,
            metadata: Dictionary(frame.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last }),
            logger: logger,
            blockingWork: BlockingWorkAdmission(
                tenantPermits: storePermits, connection: queued, compute: computing ? computeTurns.map(ComputeTurn.init(tenantTurns:)) : nil),
            listPageBytes: limits.listPageBytes,
            searchScanRows: limits.searchScanRows,
            metrics: metrics
        )
        context.pinnedToday = callToday ?? pinnedToday
        return context
    }

    /// Runs a call's handler against its deadline and a possible cancel, and ends it through
    /// `end` as soon as the first of them finishes — before waiting for the others, so a deadline
    /// is answered on time even while a handler completes work that must not be torn in half.
    private func execute(
        _ frame: Foshan_Subsidy_V1_Frame, interruptions: AsyncStream<Interruption>, writer: FrameWriter, logger: Logger,
        end: @escaping @Sendable (Foshan_Subsidy_V1_Status, [UInt8]) async -> Void
    ) async {
        let callID = frame.callId
        guard let route = router.route(frame.method) else {
            return await end(Foshan_Subsidy_V1_Status(SubsidyError(.unimplemented, "unknown method \"\(shownMethod(frame.method))\"")), [])
        }
        if let refusal = refusal(of: frame, route: route, logger: logger) {
            return await end(Foshan_Subsidy_V1_Status(refusal), [])
        }
        let context = context(for: frame, logger: logger, computing: route.takesComputeTurn)
        let ended = Mutex(false)
        let send: @Sendable ([UInt8]) async throws -> Void = { payload in
            guard !ended.withLock({ $0 }) else { throw CancellationError() }
            try await writer.message(callID: callID, payload: payload)
        }
        let timeout = frame.timeoutMs
        let testDelay = testHooks ? context.metadata["x-test-delay-ms"].flatMap { Int64($0) } : nil
        await withTaskGroup(of: Outcome.self) { group in
            group.addTask {
                let compute = context.blockingWork.compute
                defer { compute?.give() }
                do throws(SubsidyError) {
                    try await compute?.take()
                    if let testDelay {
                        // Logged so a test can tell the call is in flight. Cancellation ends the
                        // sleep early; the handler then still runs, as a real handler that is
                        // already committing would. In its turn: it stands for a call computing.
                        context.logger.debug("test hook: delaying the handler \(testDelay) ms")
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
            var graceStarted = false
            while let next = await group.next() {
                switch next {
                case .none:
                    continue
                case .interrupted(.serverShuttingDown) where !graceStarted:
                    // A stream told of the shutdown (Health.Watch sends NOT_SERVING) gets a
                    // moment to say so and end cleanly before it is cut off.
                    graceStarted = true
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(500))
                        return .graceExpired
                    }
                    continue
                case .graceExpired:
                    outcome = .interrupted(.serverShuttingDown)
                default:
                    outcome = next
                }
                break
            }
            ended.withLock { $0 = true }
            // The others stop before the END is written: a client slow to read it must not keep a
            // call it was told has ended (a deadline, a cancel) working or waiting for its turn.
            group.cancelAll()
            switch outcome {
            case .finished(.success(let payload)):
                await end(.ok, payload ?? [])
            case .finished(.failure(let error)):
                logger.debug("call failed: \(error)")
                await end(Foshan_Subsidy_V1_Status(error), [])
            case .interrupted(.cancelledByClient):
                await end(Foshan_Subsidy_V1_Status(SubsidyError(.cancelled, "cancelled by the client")), [])
            case .interrupted(.serverShuttingDown):
                await end(Foshan_Subsidy_V1_Status(SubsidyError(.unavailable, "subsidyd is shutting down")), [])
            case .deadlineExceeded:
                if let note = logBudget.admit(.deadline, tenant: tenant.id) { logger.info("deadline of \(timeout) ms exceeded\(note)") }
                await end(Foshan_Subsidy_V1_Status(SubsidyError(.deadlineExceeded, "deadline of \(timeout) ms exceeded")), [])
            case .none, .graceExpired:
                await end(Foshan_Subsidy_V1_Status(SubsidyError(.internal, "call ended without an outcome")), [])
            }
        }
    }

    /// Why a call's metadata is refused, if it is: too many entries, or a key or value too long
    /// (``InputLimits``); nil when it is within bounds.
    static func metadataProblem(_ entries: [(String, String)]) -> String? {
        if entries.count > InputLimits.metadataEntries {
            return "must have at most \(InputLimits.metadataEntries) entries (got \(entries.count))"
        }
        for (key, value) in entries where key.utf8.count > InputLimits.metadataText || value.utf8.count > InputLimits.metadataText {
            return "keys and values must be at most \(InputLimits.metadataText) bytes (\"\(key.prefix(40))\" is longer)"
        }
        return nil
    }
}

/// Encodes frames onto a connection's outbound writer. Writes from concurrent calls interleave
/// whole frames only: each frame is one buffer.
///
/// A frame counts in `queued` from when it is encoded until the channel has taken it; the
/// writer suspends while the channel is unwritable, so a client that does not read keeps its
/// replies counted, and its connection stops being read. No frame larger than what clients
/// accept (`FrameDecoderDefaults.maximumReplyFrameLength`) is ever sent.
struct FrameWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let allocator: ByteBufferAllocator
    let queued: QueuedBytes

    func end(callID: UInt64, status: Foshan_Subsidy_V1_Status, payload: [UInt8] = []) async {
        // A peer that has gone away cannot be told anything; the call's outcome stands regardless.
        try? await write(Self.endFrame(callID: callID, status: status, payload: payload, allocator: allocator))
    }

    /// A call's END frame, encoded; a reply larger than clients accept becomes RESOURCE_EXHAUSTED.
    static func endFrame(callID: UInt64, status: Foshan_Subsidy_V1_Status, payload: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var frame = Foshan_Subsidy_V1_Frame()
        frame.callId = callID
        frame.kind = .end
        frame.status = status
        frame.payload = payload
        var buffer = encode(frame, allocator: allocator)
        if buffer.readableBytes > FrameDecoderDefaults.maximumReplyFrameLength {
            // Better a clear status than a frame the client would refuse and close on.
            frame.payload = []
            frame.status = Foshan_Subsidy_V1_Status(SubsidyError(
                .resourceExhausted,
                "the reply is \(buffer.readableBytes) bytes, more than the \(FrameDecoderDefaults.maximumReplyFrameLength)-byte frames clients accept, and is not sent; "
                    + "a call that changes something has made its change (read it back with a narrower call), a listing can ask for less (a smaller page_size)"
            ))
            buffer = encode(frame, allocator: allocator)
        }
        return buffer
    }

    /// Throws when the peer has gone, so a stream stops producing for nobody.
    func message(callID: UInt64, payload: [UInt8]) async throws {
        var frame = Foshan_Subsidy_V1_Frame()
        frame.callId = callID
        frame.kind = .message
        frame.payload = payload
        let buffer = Self.encode(frame, allocator: allocator)
        guard buffer.readableBytes <= FrameDecoderDefaults.maximumReplyFrameLength else {
            throw SubsidyError(.resourceExhausted, "a stream message of \(buffer.readableBytes) bytes exceeds the \(FrameDecoderDefaults.maximumReplyFrameLength)-byte frames clients accept")
        }
        try await write(buffer)
    }

    private static func encode(_ frame: Foshan_Subsidy_V1_Frame, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64 + frame.payload.count)
        frame.write(to: &buffer)
        return buffer
    }

    private func write(_ buffer: ByteBuffer) async throws {
        let bytes = buffer.readableBytes
        queued.addReply(bytes)
        defer { queued.removeReply(bytes) }
        try await outbound.write(buffer)
    }
}

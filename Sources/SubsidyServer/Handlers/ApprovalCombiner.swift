import SubsidyCore
import SubsidyStore
import SubsidyWire
import Synchronization

/// Single approvals (`ApproveApplication`) committed together: calls that arrive while the
/// city's store calls are busy queue here, and the next of them to get a store permit takes every
/// queued approval (up to ``maximumGroup``) into one store call — what `ApproveApplications` does
/// with a committee's list, each approval still under its own request id, decision and reason,
/// refused on its own, and answered only after its district step has committed.
///
/// Why: a group commit is as large as the approvals in flight at once, and the city's share of
/// store calls (`max_concurrent_store_calls_per_tenant`) held single approvals to groups of that
/// many. Combined, one permit carries a whole group; the share still bounds the city's store
/// calls, and each call still waits for reply room on its own connection first.
///
/// One per `CityService` (a reload's new service starts its own; the old one's calls finish).
final class ApprovalCombiner: Sendable {
    /// Approvals of one store call at most: a short committee's list. A queue longer than this
    /// goes in several groups.
    static let maximumGroup = 64

    private let stores: SubsidyStores
    private let programmes: Programmes
    /// Approvals not yet taken by a group, in arrival order.
    private let queue = Mutex<[Ticket]>([])
    /// Groups run and the largest, for tests.
    private let counts = Mutex<(groups: Int, approvals: Int, largest: Int)>((0, 0, 0))
    /// Tickets not yet freed, for tests: a ticket outliving its call is a leak.
    private let tickets = Tickets()

    init(stores: SubsidyStores, programmes: Programmes) {
        self.stores = stores
        self.programmes = programmes
    }

    /// Approves `approval` (its permit taken from `context`), alone or in a group; returns its
    /// stored response. A call that ends before its turn takes nothing from the store; once its
    /// group holds its decision locks, the group finishes whatever happens to any one caller. A
    /// group whose every caller has gone while it waits for its locks (behind a backup or
    /// VerifyAudit, which hold every lock) stops waiting, approves nothing and frees its permit.
    func approve(_ approval: SubsidyStores.Approval, context: CallContext) async throws(SubsidyError) -> [UInt8] {
        let admission = context.blockingWork
        // The wait for a permit, in a task of its own so a group that takes this approval can end
        // it: the call then needs no permit, only its group's result.
        let entering = Task { try await admission.enter() }
        let ticket = Ticket(approval, connection: admission.connection, entering: entering, counted: tickets)
        queue.withLock { $0.append(ticket) }
        return try await withTaskCancellationHandler {
            await self.outcome(of: ticket, context: context)
        } onCancel: {
            entering.cancel()
            ticket.callerLeft()
        }.get()
    }

    private func outcome(of ticket: Ticket, context: CallContext) async -> Result<[UInt8], SubsidyError> {
        let admission = context.blockingWork
        if case .failure(let error) = await ticket.entering.result {
            // Taken into a group (which ended the wait, or the caller left after): it is being
            // approved; its result is the call's.
            guard !withdraw(ticket) else { return .failure(StoreCall.status(of: error)) }
            return await ticket.result
        }
        // Lead groups while this approval waits in the queue; once another caller's group has
        // taken it, give the permit back and wait for that group. A leader whose caller has gone
        // leads no further group: the permit goes to the next call waiting for one.
        while true {
            if Task.isCancelled && withdraw(ticket) {
                admission.leave()
                return .failure(StoreCall.status(of: CancellationError()))
            }
            guard let group = take(leading: ticket) else { break }
            await run(group, context: context)
        }
        admission.leave()
        return await ticket.result
    }

    /// Removes `ticket` from the queue; false if a group has taken it.
    private func withdraw(_ ticket: Ticket) -> Bool {
        queue.withLock { queue in
            guard let index = queue.firstIndex(where: { $0 === ticket }) else { return false }
            queue.remove(at: index)
            return true
        }
    }

    /// What the combiner has done so far: groups run, approvals in them, the largest group.
    var statistics: (groups: Int, approvals: Int, largest: Int) { counts.withLock { $0 } }

    /// Approvals waiting for a group.
    var queued: Int { queue.withLock { $0.count } }

    /// Tickets (calls' approvals) still in memory.
    var liveTickets: Int { tickets.live.load(ordering: .relaxed) }

    private final class Tickets: Sendable {
        let live = Atomic(0)
    }

    /// The next group, from the front of the queue, if `ticket` (the leader's own, which has its
    /// permit) is still queued: at most ``maximumGroup`` approvals, each application once (a
    /// second approval of an application waits for the next group: it must start from what the
    /// first committed). Another call's approval joins only while its connection has room for
    /// replies and its peer is still there, as its own turn would require; else it stays queued
    /// for its own turn. (Several approvals of one connection may join while it has room: a
    /// client that does not read gets at most a group's replies, ~4 KiB each, beyond its limit.)
    private func take(leading ticket: Ticket) -> Group? {
        let taken = queue.withLock { queue -> [Ticket]? in
            guard queue.contains(where: { $0 === ticket }) else { return nil }
            var group: [Ticket] = []
            var ids = Set<String>()
            // A request id reused for another application must meet the first one's request-log
            // entry before its ledger step, as it would in a later group: in the same group both
            // would pass the log's check and the second would commit and then be refused.
            var requests = Set<String>()
            var left: [Ticket] = []
            for queued in queue {
                let ready = queued === ticket || (queued.connection.hasReplyRoom && !queued.connection.isAbandoned)
                if ready && group.count < Self.maximumGroup && !ids.contains(queued.approval.id) && !requests.contains(queued.approval.request.id) {
                    ids.insert(queued.approval.id)
                    requests.insert(queued.approval.request.id)
                    group.append(queued)
                } else {
                    left.append(queued)
                }
            }
            queue = left
            return group
        }
        guard let taken else { return nil }
        // The others in the group wait for no permit now.
        for other in taken where other !== ticket { other.entering.cancel() }
        return Group(taken)
    }

    private func run(_ group: Group, context: CallContext) async {
        let (stores, programmes, approvals) = (self.stores, self.programmes, group.tickets.map(\.approval))
        // Not the leader's task: its caller going away must not cancel the others' approvals. It
        // is cancelled only when every caller has gone, and then only its wait for the decision
        // locks ends (``SubsidyStores/approve(_:programmes:respond:)`` runs to its end once it
        // holds them).
        let approving = Task {
            try await stores.approve(approvals, programmes: programmes) { try Foshan_Subsidy_V1_ApproveApplicationResponse.encoding($0) }
        }
        group.started(approving)
        let outcome: Result<[Result<[UInt8], any Error>], SubsidyError>
        do throws(SubsidyError) {
            outcome = .success(try await StoreCall.measured(for: context) { try await approving.value })
        } catch {
            outcome = .failure(error)
        }
        counts.withLock { counts in
            counts.groups += 1
            counts.approvals += group.tickets.count
            counts.largest = max(counts.largest, group.tickets.count)
        }
        switch outcome {
        case .success(let results):
            precondition(results.count == group.tickets.count, "a result for every approval of the group")
            for (ticket, result) in zip(group.tickets, results) { ticket.finish(result.mapError(StoreCall.status(of:))) }
        case .failure(let error):
            for ticket in group.tickets { ticket.finish(.failure(error)) }
        }
    }

    /// The approvals of one store call and how many of their callers still wait for them.
    private final class Group: Sendable {
        let tickets: [Ticket]
        private let state = Mutex<(present: Int, approving: Task<[Result<[UInt8], any Error>], any Error>?)>((0, nil))

        init(_ tickets: [Ticket]) {
            self.tickets = tickets
            // Under the group's lock, so a caller leaving meanwhile is counted after it joined.
            state.withLock { state in state.present = tickets.count(where: { $0.join(self) }) }
        }

        /// The store call now running for the group (cancelled at once if no caller is left).
        func started(_ approving: Task<[Result<[UInt8], any Error>], any Error>) {
            let nobody = state.withLock { state in
                state.approving = approving
                return state.present == 0
            }
            if nobody { approving.cancel() }
        }

        /// One of its callers has gone; the last one going cancels the store call.
        func callerLeft() {
            let approving = state.withLock { state in
                state.present -= 1
                return state.present == 0 ? state.approving : nil
            }
            approving?.cancel()
        }
    }

    /// One call's approval and, once its group has run, its result.
    private final class Ticket: Sendable {
        let approval: SubsidyStores.Approval
        /// The caller's connection: its reply room and whether its peer is still there.
        let connection: QueuedBytes
        /// The caller's wait for a store permit.
        let entering: Task<Void, any Error>
        private let state = Mutex<State>(.waiting(nil))
        /// Whether the caller has gone, and the group that took the approval.
        private let membership = Mutex<(gone: Bool, group: Group?)>((false, nil))

        private enum State {
            case waiting(CheckedContinuation<Result<[UInt8], SubsidyError>, Never>?)
            case finished(Result<[UInt8], SubsidyError>)
        }

        private let counted: Tickets

        init(_ approval: SubsidyStores.Approval, connection: QueuedBytes, entering: Task<Void, any Error>, counted: Tickets) {
            self.approval = approval
            self.connection = connection
            self.entering = entering
            self.counted = counted
            counted.live.add(1, ordering: .relaxed)
        }

        deinit { counted.live.subtract(1, ordering: .relaxed) }

        /// Joins `group`; whether the caller is still there.
        func join(_ group: Group) -> Bool {
            membership.withLock { membership in
                membership.group = group
                return !membership.gone
            }
        }

        /// The caller has gone (once): its group, if any, has one caller fewer.
        func callerLeft() {
            let group = membership.withLock { membership -> Group? in
                guard !membership.gone else { return nil }
                membership.gone = true
                return membership.group
            }
            group?.callerLeft()
        }

        func finish(_ result: Result<[UInt8], SubsidyError>) {
            // The group holds its tickets: once it has run, a ticket must not hold it (the cycle
            // would keep both, and the response, for the life of the process).
            membership.withLock { $0.group = nil }
            let waiter = state.withLock { state -> CheckedContinuation<Result<[UInt8], SubsidyError>, Never>? in
                guard case .waiting(let waiter) = state else { return nil }
                state = .finished(result)
                return waiter
            }
            waiter?.resume(returning: result)
        }

        /// Waits for ``finish(_:)`` (not cancellable: the group is running and will finish it).
        var result: Result<[UInt8], SubsidyError> {
            get async {
                await withCheckedContinuation { continuation in
                    let finished = state.withLock { state -> Result<[UInt8], SubsidyError>? in
                        switch state {
                        case .finished(let result): return result
                        case .waiting:
                            state = .waiting(continuation)
                            return nil
                        }
                    }
                    if let finished { continuation.resume(returning: finished) }
                }
            }
        }
    }
}

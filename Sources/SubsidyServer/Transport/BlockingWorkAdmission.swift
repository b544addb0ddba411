import NIOCore
import SubsidyCore
import SubsidyStore
import Synchronization

/// A call's way into blocking store work: a permit from its tenant's share
/// (`max_concurrent_store_calls_per_tenant`), taken only while its connection has room for more
/// replies (`max_queued_bytes_per_connection`) and its tenant's connections together have too
/// (`max_queued_bytes_per_tenant`).
///
/// Store work queues on each file's executor; without a share per tenant one tenant's flood
/// would fill every queue and every other tenant's call would wait behind it.
struct BlockingWorkAdmission: Sendable {
    let tenantPermits: AsyncSemaphore
    let connection: QueuedBytes
    /// The call's turn on the processor among its tenant's calls, if the connection keeps them:
    /// given up while it waits for, and does, store work (``enter()``), taken again after it
    /// (``StoreCall/run(for:_:)``).
    var compute: ComputeTurn? = nil

    /// Waits for reply room (the connection's, then the tenant's), then for a permit. If replies
    /// finished meanwhile filled either room again, the permit goes back and the wait starts
    /// over: clients that do not read get at most their tenant's permits' worth of replies built
    /// beyond the limits. A call whose peer has gone by then never starts.
    func enter() async throws(SubsidyError) {
        // Waiting for the store, and on it, takes no processor: another of the tenant's calls may.
        compute?.give()
        do {
            while true {
                try await connection.waitForReplyRoom()
                if let tenant = connection.tenant, !tenant.hasReplyRoom {
                    // Woken as any of the tenant's clients read (or go); ended if this one goes.
                    let connection = self.connection
                    try await tenant.waitForReplyRoom(connection: ObjectIdentifier(connection), isAbandoned: { connection.isAbandoned })
                    continue
                }
                try await tenantPermits.wait()
                // A peer that left while this call queued for a permit reads no reply: the work
                // is not started (nothing is torn; a returning client retries by request id).
                if connection.isAbandoned {
                    tenantPermits.signal()
                    throw CancellationError()
                }
                if connection.hasReplyRoom && connection.tenant?.hasReplyRoom != false { return }
                tenantPermits.signal()
            }
        } catch {
            throw SubsidyError(.cancelled, "the call ended before its turn for the store came")
        }
    }

    func leave() {
        tenantPermits.signal()
    }

    /// For calls made in-process without a connection (demo seeding): one at a time, nothing queued.
    static var inProcess: BlockingWorkAdmission {
        BlockingWorkAdmission(tenantPermits: AsyncSemaphore(permits: 1), connection: QueuedBytes(limit: Int.max))
    }
}

/// One semaphore per tenant, fixed at start-up.
/// A call's turn to compute among its tenant's calls: decoding its request, checking and
/// converting what it carries, building its reply. A tenant has one turn fewer than the machine
/// has processors (one at least), so its flood of heavy requests (a quote listing 5,000 served
/// enterprises costs ~40 ms of CPU) queues behind its own calls and leaves a processor to the
/// others: the store permits bound only the store work, which comes after. (Measured on two
/// cores: with two turns the city's flood still took another district's list from 1.3 to
/// ~200 ms p50, the event loops and its own client crowding the cores; with one, 0.6 ms.)
/// Taken before a unary handler runs, given up for its store work and taken again after it
/// (``StoreCall/run(for:_:)``; a single approval, answered by its group, finishes without one:
/// what is left is encoding its reply), given back when it ends; streams and the inline methods
/// take none.
final class ComputeTurn: Sendable {
    private let tenantTurns: AsyncSemaphore
    private let held = Atomic<Bool>(false)

    init(tenantTurns: AsyncSemaphore) {
        self.tenantTurns = tenantTurns
    }

    /// Waits for a turn (FIFO among the tenant's calls) unless the call holds one.
    func take() async throws(SubsidyError) {
        guard !held.load(ordering: .acquiring) else { return }
        do {
            try await tenantTurns.wait()
        } catch {
            throw SubsidyError(.cancelled, "the call ended before its turn came")
        }
        held.store(true, ordering: .releasing)
    }

    /// Gives the turn back if the call holds it; idempotent.
    func give() {
        if held.exchange(false, ordering: .acquiringAndReleasing) { tenantTurns.signal() }
    }

    /// Turns per tenant unless `max_concurrent_compute_per_tenant` says otherwise: the processors
    /// the daemon may run on (its affinity and cgroup quota counted) but one, and one at least.
    static var processors: Int { max(1, System.coreCount - 1) }
}

/// One semaphore per configured tenant, all of one size: the store permits, the compute turns.
struct TenantPermits: Sendable {
    private let permits: [String: AsyncSemaphore]

    init(tenants: [Tenant], permitsPerTenant: Int) {
        permits = Dictionary(tenants.map { ($0.id, AsyncSemaphore(permits: permitsPerTenant)) }, uniquingKeysWith: { first, _ in first })
    }

    func permits(for tenant: Tenant) -> AsyncSemaphore {
        // Every served tenant is in the configuration the dictionary was built from.
        permits[tenant.id]!
    }
}

import SubsidyCore
import SubsidyStore

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

    /// Waits for reply room (the connection's, then the tenant's), then for a permit. If replies
    /// finished meanwhile filled either room again, the permit goes back and the wait starts
    /// over: clients that do not read get at most their tenant's permits' worth of replies built
    /// beyond the limits. A call whose peer has gone by then never starts.
    func enter() async throws(SubsidyError) {
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
struct TenantStorePermits: Sendable {
    private let permits: [String: AsyncSemaphore]

    init(tenants: [Tenant], permitsPerTenant: Int) {
        permits = Dictionary(tenants.map { ($0.id, AsyncSemaphore(permits: permitsPerTenant)) }, uniquingKeysWith: { first, _ in first })
    }

    func permits(for tenant: Tenant) -> AsyncSemaphore {
        // Every served tenant is in the configuration the dictionary was built from.
        permits[tenant.id]!
    }
}

import Synchronization

/// The commit protocol's locks: a decision holds the keys it touches (an application's id, an
/// applicant's registration) across its ledger step and its district step, so nothing else
/// touches that application between the two — while decisions on other applications run beside
/// it, and their ledger steps share one transaction and one fsync (``SQLiteDatabase``'s group
/// commit). Start-up recovery, `--check`/VerifyAudit and backup hold ``Scope/everything``: they
/// see no decision half-way.
///
/// Waiters are served in arrival order among those they conflict with: a waiter is let in only
/// when it conflicts with no holder and with no earlier waiter, so a key never starves and an
/// `everything` waiter stops new decisions from overtaking it. Waiting suspends the task (never a
/// thread) and ends with `CancellationError` if the task is cancelled first.
package final class DecisionLocks: Sendable {
    /// What a holder excludes others from.
    package enum Scope: Sendable, Equatable {
        /// Every key: nothing else holds any lock meanwhile.
        case everything
        /// These keys only.
        case keys(Set<String>)

        func conflicts(with other: Scope) -> Bool {
            switch (self, other) {
            case (.everything, _), (_, .everything): true
            case (.keys(let mine), .keys(let theirs)): !mine.isDisjoint(with: theirs)
            }
        }
    }

    private struct Waiter {
        let id: UInt64
        let scope: Scope
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var everythingHeld = false
        var heldKeys: Set<String> = []
        /// Holders of `.keys` scopes (an `.everything` holder waits for none to remain).
        var keyHolders = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0

        func isFree(for scope: Scope) -> Bool {
            guard !everythingHeld else { return false }
            switch scope {
            case .everything: return keyHolders == 0
            case .keys(let keys): return heldKeys.isDisjoint(with: keys)
            }
        }

        mutating func take(_ scope: Scope) {
            switch scope {
            case .everything: everythingHeld = true
            case .keys(let keys):
                heldKeys.formUnion(keys)
                keyHolders += 1
            }
        }

        mutating func give(_ scope: Scope) {
            switch scope {
            case .everything: everythingHeld = false
            case .keys(let keys):
                heldKeys.subtract(keys)
                keyHolders -= 1
            }
        }

        /// Lets in every waiter that is free and conflicts with no earlier waiter still waiting;
        /// returns their continuations, to be resumed outside the lock.
        mutating func admit() -> [CheckedContinuation<Void, any Error>] {
            var admitted: [CheckedContinuation<Void, any Error>] = []
            var stillWaiting: [Waiter] = []
            for waiter in waiters {
                if isFree(for: waiter.scope) && !stillWaiting.contains(where: { $0.scope.conflicts(with: waiter.scope) }) {
                    take(waiter.scope)
                    admitted.append(waiter.continuation)
                } else {
                    stillWaiting.append(waiter)
                }
            }
            waiters = stillWaiting
            return admitted
        }
    }

    private let state = Mutex(State())

    package init() {}

    /// How many callers wait for a lock now (tests order a race with it).
    package var waiting: Int { state.withLock { $0.waiters.count } }

    /// Runs `body` holding `scope`. Once it holds the lock the body runs to its end even if the
    /// caller goes away: a commit protocol is never stopped between its two steps by a cancelled
    /// call (an unstructured task does not inherit the caller's cancellation).
    package func holding<T: Sendable>(_ scope: Scope, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await wait(for: scope)
        return try await Task {
            defer { release(scope) }
            return try await body()
        }.value
    }

    private func wait(for scope: Scope) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Bool? in
                    // Checked under the lock: a cancel that ran before the waiter was queued
                    // found nothing to remove, so it must be seen here.
                    if Task.isCancelled { return false }
                    if state.isFree(for: scope) && !state.waiters.contains(where: { $0.scope.conflicts(with: scope) }) {
                        state.take(scope)
                        return true
                    }
                    state.waiters.append(Waiter(id: id, scope: scope, continuation: continuation))
                    return nil
                }
                switch outcome {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            // A waiter that leaves may have been the one blocking those behind it.
            let (cancelled, admitted) = state.withLock { state -> (CheckedContinuation<Void, any Error>?, [CheckedContinuation<Void, any Error>]) in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return (nil, []) }
                let waiter = state.waiters.remove(at: index)
                return (waiter.continuation, state.admit())
            }
            cancelled?.resume(throwing: CancellationError())
            for continuation in admitted { continuation.resume() }
        }
    }

    private func release(_ scope: Scope) {
        let admitted = state.withLock { state in
            state.give(scope)
            return state.admit()
        }
        for continuation in admitted { continuation.resume() }
    }
}

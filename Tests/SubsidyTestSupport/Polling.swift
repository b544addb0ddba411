/// Checks `condition` every `interval` until it holds or `timeout` has passed; returns whether it
/// held. For waiting on something the test can observe (a log line, a freed slot) instead of
/// sleeping a fixed time that is too long on a fast machine and too short on a loaded one.
@discardableResult
public func eventually(
    isolation: isolated (any Actor)? = #isolation,
    timeout: Duration = .seconds(10), interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: interval)
    }
}

import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyWire

/// The real `subsidyd` binary, started in a fresh temporary data directory.
///
/// Tests drive it over its real sockets; nothing stands in for it.
public final class DaemonProcess: @unchecked Sendable {
    public static let districts = ["chancheng", "nanhai", "shunde", "gaoming", "sanshui"]
    public static let tenants = districts + ["city"]

    public let dataDirectory: String
    public let process: ChildProcess
    public let logPath: String
    /// Socket of each tenant when started from a configuration file; nil for the `--dev` layout.
    public let socketPaths: [String: String]?

    /// Where the package's executables were built (beside the test bundle), or `SUBSIDYD_BIN_DIR`.
    public static var productsDirectory: String {
        if let dir = ProcessInfo.processInfo.environment["SUBSIDYD_BIN_DIR"] { return dir }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.deletingLastPathComponent().appendingPathComponent("subsidyd").path) {
            url = url.deletingLastPathComponent()
        }
        return url.deletingLastPathComponent().path
    }

    /// The day test daemons' calendars are pinned to unless a test names another (`--today`, or a
    /// call's `x-today`): the last day of the 2020 measures, so their filings are in force and
    /// their decisions' dates are past. The real day would make every test depend on the year.
    public static let today = "2023-12-31"

    /// `--today` with the tests' day, unless `arguments` name a day of their own.
    static func pinned(_ arguments: [String]) -> [String] {
        arguments.contains { $0 == "--today" || $0.hasPrefix("--today=") } ? arguments : arguments + ["--today", today]
    }

    /// A short temporary directory (Unix socket paths are limited to 107 bytes), under
    /// ``TestDirectories/root``.
    public static func makeTemporaryDirectory() -> String {
        TestDirectories.make("subsidyd-test")
    }

    private init(dataDirectory: String, process: ChildProcess, logPath: String, socketPaths: [String: String]? = nil) {
        self.dataDirectory = dataDirectory
        self.process = process
        self.logPath = logPath
        self.socketPaths = socketPaths
    }

    /// Starts the daemon and waits until every socket answers Health.Check.
    /// - Parameter dataDirectory: the caller's directory, used as it is; without it a fresh one
    ///   that starts as a copy of ``TemplateDirectory/started`` (files created, no data).
    /// - Parameter environment: added to the daemon's environment (e.g. `SUBSIDYD_CRASH_AT`).
    public static func start(dataDirectory: String? = nil, extraArguments: [String] = [], environment: [String: String] = [:]) async throws -> DaemonProcess {
        let directory: String
        if let dataDirectory {
            directory = dataDirectory
        } else {
            directory = makeTemporaryDirectory()
            do {
                try await TemplateDirectory.started.copy(into: directory)
            } catch {
                TestDirectories.remove(directory)
                throw error
            }
        }
        raiseDescriptorLimit()
        let logPath = directory + "/daemon-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }
        // The caller's own NOTIFY_SOCKET (a test of the notifications) wins; readiness is then polled.
        let readiness = environment["NOTIFY_SOCKET"] == nil ? try NotifySocket() : nil
        var childEnvironment = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
        if let readiness { childEnvironment["NOTIFY_SOCKET"] = readiness.address }
        let process = try ChildProcess(
            executable: productsDirectory + "/subsidyd",
            arguments: pinned(["--dev", "--data-dir", directory, "--test-hooks", "--log-level", "debug"] + extraArguments),
            environment: childEnvironment,
            standardOutput: log.fileDescriptor, standardError: log.fileDescriptor
        )
        let daemon = DaemonProcess(dataDirectory: directory, process: process, logPath: logPath)
        try await daemon.waitUntilServing(readiness)
        return daemon
    }

    /// Starts the daemon with `subsidyd --config FILE` (the file written from `configuration`)
    /// and waits until every socket answers Health.Check.
    ///
    /// A data directory that does not exist yet starts as a copy of
    /// ``TemplateDirectory/started`` unless the daemon would make it differently: under another
    /// user (`launcher`) or with a policy file of its own.
    /// - Parameter launcher: a program and its arguments the daemon is started through, e.g.
    ///   `setpriv --reuid=… --groups=…` to run it as the systemd unit would.
    /// - Parameter testHooks: `--test-hooks` (fault points, a call's own day in `x-today`); off,
    ///   the daemon is started as production starts it.
    public static func start(
        configuration: DaemonConfiguration, extraArguments: [String] = [], launcher: [String] = [], testHooks: Bool = true
    ) async throws -> DaemonProcess {
        if launcher.isEmpty && configuration.policyPath == nil && !FileManager.default.fileExists(atPath: configuration.dataDirectory) {
            try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try await TemplateDirectory.started.copy(into: configuration.dataDirectory)
        }
        let configPath = try configuration.write()
        raiseDescriptorLimit()
        let arguments = testHooks
            ? pinned(["--config", configPath, "--test-hooks", "--log-level", "debug"] + extraArguments)
            : ["--config", configPath, "--log-level", "debug"] + extraArguments
        let logPath = configuration.baseDirectory + "/daemon-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }
        let readiness = try NotifySocket()
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = readiness.address
        let process: ChildProcess
        if let program = launcher.first {
            process = try ChildProcess(
                executable: program, arguments: Array(launcher.dropFirst()) + [productsDirectory + "/subsidyd"] + arguments, environment: environment,
                standardOutput: log.fileDescriptor, standardError: log.fileDescriptor)
        } else {
            process = try ChildProcess(
                executable: productsDirectory + "/subsidyd", arguments: arguments, environment: environment,
                standardOutput: log.fileDescriptor, standardError: log.fileDescriptor)
        }
        let paths = Dictionary(uniqueKeysWithValues: tenants.map { ($0, configuration.socketPath($0)) })
        let daemon = DaemonProcess(dataDirectory: configuration.dataDirectory, process: process, logPath: logPath, socketPaths: paths)
        try await daemon.waitUntilServing(readiness)
        return daemon
    }

    public func socketPath(_ tenant: String) -> String {
        socketPaths?[tenant] ?? DevelopmentLayout.socketPath(dataDirectory: dataDirectory, tenant: tenant)
    }

    public func client(_ tenant: String) async throws -> ClientConnection {
        try await ClientConnection.connect(unixSocketPath: socketPath(tenant))
    }

    /// Waits for READY=1 on `readiness` — the daemon's sd_notify, sent once every socket listens,
    /// which is what systemd waits for — or, without one, until every socket answers Health.Check.
    /// `readiness` is an abstract-namespace ``NotifySocket`` (no file, nothing in the data
    /// directory), dropped once the daemon is ready: later notifications (STOPPING) then go
    /// nowhere, as sd_notify allows. A daemon that never serves is killed and reaped before the
    /// error is thrown, so nothing is left writing into a directory its caller is about to remove.
    private func waitUntilServing(_ readiness: NotifySocket?) async throws {
        do {
            if let readiness {
                try await waitForReady(on: readiness)
            } else {
                try await pollUntilServing()
            }
        } catch {
            await crash()
            throw error
        }
    }

    private func waitForReady(on readiness: NotifySocket) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            // A short wait, then a look at the process: a daemon that fails to start never notifies.
            if let message = await readiness.next(timeout: .milliseconds(250)) {
                if message.hasPrefix("READY=1") { return }
                continue
            }
            guard process.isRunning else { throw DaemonError.exited(status: process.terminationStatus, log: log()) }
        }
        // The deadline may have passed while this task waited for a thread (a loaded run, under
        // ThreadSanitizer, starved the pool for 30 s): what arrived meanwhile is still queued.
        while let message = readiness.pending() {
            if message.hasPrefix("READY=1") { return }
        }
        throw DaemonError.notServing(log: log())
    }

    private func pollUntilServing() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        for tenant in Self.tenants {
            while true {
                guard process.isRunning else {
                    throw DaemonError.exited(status: process.terminationStatus, log: log())
                }
                if let client = try? await client(tenant) {
                    let status = try? await client.call(Foshan_Subsidy_V1_Health.Method.check, Foshan_Subsidy_V1_HealthCheckRequest(), timeout: .seconds(2)).status
                    await client.close()
                    if status == .serving { break }
                }
                guard ContinuousClock.now < deadline else { throw DaemonError.notServing(log: log()) }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// SIGTERM, then the exit status; a daemon still running after `patience` is killed with
    /// SIGKILL (and reports it), so a drain that hangs fails its test instead of outliving it.
    @discardableResult
    public func terminate(patience: Duration = .seconds(60)) async -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = ContinuousClock.now + patience
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        return await waitForExit()
    }

    /// SIGKILL: no chance to drain or close anything.
    public func crash() async {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        _ = await waitForExit()
    }

    public func waitForExit() async -> Int32 {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return process.terminationStatus
    }

    /// Whether, within `timeout`, the ledger's record of every district file's audit head
    /// (`district_heads`, noted while serving) reaches the file's own head: after it, a daemon
    /// left alone writes nothing more.
    public func districtHeadsRecorded(timeout: Duration = .seconds(30)) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(100)) {
            let recorded = try? ReadOnlyDatabase(path: dataDirectory + "/city-ledger.sqlite").rows("SELECT district, seq FROM district_heads")
            guard let recorded else { return false }
            let noted = Dictionary(recorded.map { ($0[0], $0[1]) }, uniquingKeysWith: { first, _ in first })
            return Self.districts.allSatisfy { district in
                let head = try? ReadOnlyDatabase(path: dataDirectory + "/districts/\(district).sqlite").rows("SELECT seq FROM audit_head").first?.first
                return head != nil && noted[district] == head
            }
        }
    }

    public func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// Resident set size of the daemon in KiB, from /proc.
    public func residentKiB() -> Int {
        statusKiB("VmRSS:")
    }

    /// The daemon's peak resident set so far (VmHWM): what a burst allocated and freed again
    /// still shows here.
    public func peakResidentKiB() -> Int {
        statusKiB("VmHWM:")
    }

    private func statusKiB(_ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field) } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Starts the daemon (`--dev`) in a fresh temporary directory, runs `body`, then — however `body`
/// ends, a thrown error included — terminates the daemon, waits for it, and removes the directory.
/// With `dataDirectory` the caller's directory is used as it is and left in place. Otherwise the
/// fresh directory starts as a copy of a ``TemplateDirectory`` made once per test process: the
/// `--demo` data set with `demo` (for tests that need the demo's data, not its seeding), else a
/// started daemon's files with no data.
/// `SUBSIDYD_KEEP_TEST_DIRS=1` keeps every directory for a post-mortem.
public func withDaemon<T>(
    isolation: isolated (any Actor)? = #isolation,
    dataDirectory: String? = nil, demo: Bool = false, extraArguments: [String] = [], environment: [String: String] = [:],
    _ body: (DaemonProcess) async throws -> T
) async throws -> T {
    precondition(!(demo && dataDirectory != nil), "demo copies into a fresh directory of its own")
    let directory = dataDirectory ?? DaemonProcess.makeTemporaryDirectory()
    return try await removingAfterwards(directory, owned: dataDirectory == nil) {
        if dataDirectory == nil { try await (demo ? TemplateDirectory.demo : .started).copy(into: directory) }
        let daemon = try await DaemonProcess.start(dataDirectory: directory, extraArguments: extraArguments, environment: environment)
        return try await terminatingAfterwards(daemon, body)
    }
}

/// Starts the daemon with `subsidyd --config` written from `configuration`, runs `body`, then
/// always terminates the daemon and removes `configuration.baseDirectory`.
public func withDaemon<T>(
    isolation: isolated (any Actor)? = #isolation,
    configuration: DaemonConfiguration, extraArguments: [String] = [], testHooks: Bool = true,
    _ body: (DaemonProcess) async throws -> T
) async throws -> T {
    try await removingAfterwards(configuration.baseDirectory, owned: true) {
        let daemon = try await DaemonProcess.start(configuration: configuration, extraArguments: extraArguments, testHooks: testHooks)
        return try await terminatingAfterwards(daemon, body)
    }
}

/// Runs `body` with a fresh temporary directory (short, for socket paths) that is removed
/// afterwards however `body` ends — for tests that restart daemons on one data directory.
public func withTemporaryDirectory<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ body: (String) async throws -> T
) async throws -> T {
    let directory = DaemonProcess.makeTemporaryDirectory()
    return try await removingAfterwards(directory, owned: true) { try await body(directory) }
}

private func terminatingAfterwards<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ daemon: DaemonProcess, _ body: (DaemonProcess) async throws -> T
) async throws -> T {
    let result: T
    do {
        result = try await body(daemon)
    } catch {
        await daemon.terminate()
        // The directory (and the log in it) is about to go: keep the end of the log in the output.
        print("subsidyd log (\(daemon.logPath)) after \(error):\n\(daemon.log().suffix(8_000))")
        throw error
    }
    await daemon.terminate()
    return result
}

private func removingAfterwards<T>(
    isolation: isolated (any Actor)? = #isolation,
    _ directory: String, owned: Bool, _ body: () async throws -> T
) async throws -> T {
    defer { if owned { TestDirectories.remove(directory) } }
    return try await body()
}

public enum DaemonError: Error, CustomStringConvertible {
    case exited(status: Int32, log: String)
    case notServing(log: String)

    public var description: String {
        switch self {
        case let .exited(status, log): "subsidyd exited with \(status):\n\(log)"
        case let .notServing(log): "subsidyd did not start serving:\n\(log)"
        }
    }
}

import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The `--demo` data set, seeded once per test process by the real daemon (`subsidyd --dev
/// --demo`, then a clean SIGTERM) and copied whole into each test's own data directory.
///
/// Seeding runs every district's filings and the city's decisions through the daemon's handlers,
/// ≈ 0.4 s of CPU each time; the suites that only need the demo's data as a starting point share
/// one seeding instead of paying it per test. A copy of every file of a stopped daemon's data
/// directory is exactly what a restore from a whole-directory backup is, so the daemon starts on
/// it as on its own. The suite that checks the seeding itself still runs `--demo`.
enum DemoDirectory {
    /// The seeded directory, made by the first test that asks; removed when the process exits.
    private static let template = Task<String, any Error> {
        let directory = TestDirectories.make("subsidyd-demo")
        templatePath.withLock { $0 = directory }
        atexit {
            guard ProcessInfo.processInfo.environment["SUBSIDYD_KEEP_TEST_DIRS"] == nil,
                let path = DemoDirectory.templatePath.withLock({ $0 })
            else { return }
            try? FileManager.default.removeItem(atPath: path)
        }
        let daemon = try await DaemonProcess.start(dataDirectory: directory, extraArguments: ["--demo"])
        let status = await daemon.terminate()
        guard status == 0 else { throw DaemonError.exited(status: status, log: daemon.log()) }
        return directory
    }

    private static let templatePath = Mutex<String?>(nil)

    /// Copies the seeded data set into `directory` (which exists and is empty): every file but
    /// the seeding daemon's log, with its mode.
    static func copy(into directory: String) async throws {
        let source = try await template.value
        let files = FileManager.default
        for relative in try files.subpathsOfDirectory(atPath: source).sorted() {
            let from = source + "/" + relative
            let to = directory + "/" + relative
            let attributes = try files.attributesOfItem(atPath: from)
            switch attributes[.type] as? FileAttributeType {
            case .typeDirectory?:
                try files.createDirectory(atPath: to, withIntermediateDirectories: true, attributes: [.posixPermissions: attributes[.posixPermissions] ?? 0o700])
            case .typeRegular? where !relative.hasSuffix(".log"):
                try files.copyItem(atPath: from, toPath: to)
            default:
                continue
            }
        }
    }
}

import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Data directories made once per test process by the real daemon and copied whole into each
/// test's own directory.
///
/// - ``started``: what `subsidyd --dev` leaves after its first start and a clean SIGTERM — every
///   file created and migrated. Creating six SQLite files (schemas, eleven and ten migrations,
///   their fsyncs) is two thirds of a debug daemon's start-up CPU; the ~90 tests that only need a
///   daemon with no data start on a copy instead of creating the files again.
/// - ``demo``: the `--demo` data set. Seeding runs every district's filings and the city's
///   decisions through the daemon's handlers, ≈ 0.4 s of CPU each time.
///
/// A copy of every file of a stopped daemon's data directory is exactly what a restore from a
/// whole-directory backup is, so the daemon starts on it as on its own. What the copies skip is
/// still tested where it is the point: every run makes both templates with the real daemon
/// (creation and migration of each file, and `--demo`'s seeding, whose result
/// `LedgerWorkflowTests.demo` checks); suites about first starts (`StartupIntegrityTests`,
/// `InstallTests`, the migration fixtures) pass a directory of their own, which is never filled
/// from a template.
public enum TemplateDirectory: Sendable {
    case started
    case demo

    /// Copies the template into `directory` (which exists and is empty): every file but the
    /// making daemon's log and sockets (the `--dev` layout keeps them in the data directory), with
    /// its mode.
    public func copy(into directory: String) async throws {
        let source = try await template.value
        let files = FileManager.default
        for relative in try files.subpathsOfDirectory(atPath: source).sorted() where relative != "sockets" && !relative.hasPrefix("sockets/") {
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

    private var template: Task<String, any Error> {
        switch self {
        case .started: Self.startedTemplate
        case .demo: Self.demoTemplate
        }
    }

    private static let startedTemplate = made("subsidyd-started", arguments: [])
    private static let demoTemplate = made("subsidyd-demo", arguments: ["--demo"])

    /// Every template made so far, removed when the process exits.
    private static let paths = Mutex<[String]>([])

    /// The directory a daemon started with `arguments` and stopped with SIGTERM leaves, made by
    /// the first test that asks.
    private static func made(_ name: String, arguments: [String]) -> Task<String, any Error> {
        Task {
            let directory = TestDirectories.make(name)
            let first = paths.withLock { paths in
                paths.append(directory)
                return paths.count == 1
            }
            if first {
                atexit { for path in TemplateDirectory.paths.withLock({ $0 }) { TestDirectories.remove(path) } }
            }
            let daemon = try await DaemonProcess.start(dataDirectory: directory, extraArguments: arguments)
            let status = await daemon.terminate()
            guard status == 0 else { throw DaemonError.exited(status: status, log: daemon.log()) }
            return directory
        }
    }
}

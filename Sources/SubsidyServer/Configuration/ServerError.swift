import SubsidyStore

#if canImport(Glibc)
import Glibc
#endif

/// Process-level failures: the daemon cannot start or keep a listener. Per-request failures are
/// `SubsidyError`s instead.
public enum ServerError: Error, CustomStringConvertible, Equatable {
    case socketInUse(path: String)
    case socketPathTooLong(path: String)
    case dataDirectoryLocked(path: String)
    case cannotCreate(path: String, errno: Int32)
    case peerCredentialsUnavailable
    case configuration(key: String, problem: String)
    /// A directory that fails the StrictModes rule (see ``StrictModes``).
    case unsafeDirectory(path: String, problem: String)
    /// Start-up found the ledger and the district stores disagreeing; one line per problem.
    case storesInconsistent(problems: [String])
    /// The data directory holds what a restore cut off before its last file left
    /// (`RESTORE-IN-PROGRESS`).
    case unfinishedRestore(path: String)
    /// A tool that changes nothing (`--check`, the offline backup) found files this release would
    /// migrate; one line per file.
    case wouldMigrate([String])

    public var description: String {
        switch self {
        case .socketInUse(let path): "\(path): another process is serving on this socket; refusing to replace it"
        case .socketPathTooLong(let path): "\(path): a Unix socket path may be at most 107 bytes"
        case .dataDirectoryLocked(let path): "\(path): another subsidyd holds this data directory's lock"
        case let .cannotCreate(path, errno): "\(path): cannot create (\(String(cString: strerror(errno))))"
        case .peerCredentialsUnavailable: "SO_PEERCRED unavailable on this channel"
        case let .configuration(key, problem): "configuration \(key): \(problem)"
        case let .unsafeDirectory(path, problem): "\(path): \(problem); refusing to use it"
        case let .unfinishedRestore(path):
            "\(path): a restore into this directory did not finish (\(BackupManifest.restoringMarker) is there): "
                + "remove the directory and run `subsidyd restore` again"
        case let .wouldMigrate(files):
            "these files were written by an earlier release and this one would migrate them, after which that release cannot open them:\n"
                + files.map { "  - \($0)" }.joined(separator: "\n")
                + "\nthis command migrates nothing: run it with the release that wrote them (before an upgrade), or start this release, "
                + "which migrates them, and run it afterwards"
        case let .storesInconsistent(problems):
            "refusing to serve: the city ledger and the district stores disagree:\n"
                + problems.map { "  - \($0)" }.joined(separator: "\n")
                + "\nrun `subsidyd --check` for a full report and see Deploy/README.md (\"Refusing to serve\") for the repair"
        }
    }
}

/// Process-level failures: the daemon cannot start or keep a listener. Per-request failures are
/// `SubsidyError`s instead.
public enum ServerError: Error, CustomStringConvertible, Equatable {
    case socketInUse(path: String)
    case socketPathTooLong(path: String)
    case dataDirectoryLocked(path: String)
    case cannotCreate(path: String, errno: Int32)
    case peerCredentialsUnavailable
    case configuration(key: String, problem: String)

    public var description: String {
        switch self {
        case .socketInUse(let path): "\(path): another process is serving on this socket; refusing to replace it"
        case .socketPathTooLong(let path): "\(path): a Unix socket path may be at most 107 bytes"
        case .dataDirectoryLocked(let path): "\(path): another subsidyd holds this data directory's lock"
        case let .cannotCreate(path, errno): "\(path): cannot create (errno \(errno))"
        case .peerCredentialsUnavailable: "SO_PEERCRED unavailable on this channel"
        case let .configuration(key, problem): "configuration \(key): \(problem)"
        }
    }
}

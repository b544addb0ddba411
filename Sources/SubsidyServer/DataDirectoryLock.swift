#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `DIR/subsidyd.lock`, held for the life of the process, so a second
/// daemon on the same data directory refuses to start instead of corrupting the stores.
public final class DataDirectoryLock: Sendable {
    private let descriptor: Int32

    public init(dataDirectory: String) throws {
        if mkdir(dataDirectory, 0o700) != 0 && errno != EEXIST {
            throw ServerError.cannotCreate(path: dataDirectory, errno: errno)
        }
        let path = dataDirectory + "/subsidyd.lock"
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ServerError.cannotCreate(path: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw ServerError.dataDirectoryLocked(path: dataDirectory)
        }
        descriptor = fd
    }

    deinit { close(descriptor) }
}

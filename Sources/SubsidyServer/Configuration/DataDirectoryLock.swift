#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on the data directory itself, held for the life of the process, so a
/// second daemon on the same data directory refuses to start instead of corrupting the stores.
///
/// The lock is on the directory, not on a file in it: a lock file can be deleted while held (and
/// the next daemon would lock a new file), but the directory cannot be removed while it holds the
/// stores, and every process that opens it locks the same inode.
public final class DataDirectoryLock: Sendable {
    private let descriptor: Int32

    /// Checks the directory (``StrictModes``), creates it (mode 0700) if missing, and locks it.
    public init(dataDirectory: String) throws {
        if mkdir(dataDirectory, 0o700) != 0 && errno != EEXIST {
            throw ServerError.cannotCreate(path: dataDirectory, errno: errno)
        }
        let fd = open(dataDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ServerError.cannotCreate(path: dataDirectory, errno: errno) }
        do {
            // Checked on the descriptor that is locked, so the directory checked is the one used.
            try StrictModes.check(descriptor: fd, path: dataDirectory)
        } catch {
            close(fd)
            throw error
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw ServerError.dataDirectoryLocked(path: dataDirectory)
        }
        descriptor = fd
    }

    deinit { close(descriptor) }
}

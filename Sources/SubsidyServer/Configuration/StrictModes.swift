#if canImport(Glibc)
import Glibc
#endif

/// sshd's StrictModes for the daemon's directories: one that already exists must be a directory
/// owned by the daemon's effective user (or root) and writable by no one else, or another
/// account could swap the stores or the sockets underneath the daemon.
public enum StrictModes {
    /// Throws ``ServerError/unsafeDirectory(path:problem:)`` naming the path and the problem.
    /// A missing directory passes: the daemon creates it with a private mode.
    /// - Parameter allowingSharedTemporary: also accept a root-owned sticky directory such as
    ///   `/tmp`, where no one may remove or rename another user's files (for a socket placed there).
    public static func check(directory path: String, allowingSharedTemporary: Bool = false) throws(ServerError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return }
            throw ServerError.unsafeDirectory(path: path, problem: "cannot be examined (\(String(cString: strerror(errno))))")
        }
        if allowingSharedTemporary && info.st_uid == 0 && info.st_mode & S_ISVTX != 0 && info.st_mode & S_IFMT == S_IFDIR { return }
        try check(info, path: path)
    }

    /// The same rule for a directory already open as `descriptor` (no window between check and use).
    static func check(descriptor: Int32, path: String) throws(ServerError) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw ServerError.unsafeDirectory(path: path, problem: "cannot be examined (\(String(cString: strerror(errno))))")
        }
        try check(info, path: path)
    }

    private static func check(_ info: stat, path: String) throws(ServerError) {
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ServerError.unsafeDirectory(path: path, problem: "is not a directory")
        }
        let owner = geteuid()
        guard info.st_uid == owner || info.st_uid == 0 else {
            // Root running `--check` on an installed directory is the usual way here: the
            // directory is the daemon account's, and the answer is to run as that account.
            let account = getpwuid(info.st_uid).map { String(cString: $0.pointee.pw_name) }
            if owner == 0 {
                throw ServerError.unsafeDirectory(
                    path: path,
                    problem: "is owned by uid \(info.st_uid)\(account.map { " (\($0))" } ?? ""), not root: run subsidyd as that account "
                        + "(runuser -u \(account ?? "<account>") -- subsidyd …), so the files it writes stay the daemon's")
            }
            throw ServerError.unsafeDirectory(path: path, problem: "is owned by uid \(info.st_uid), not by this process's user (uid \(owner)) or root")
        }
        let writable = info.st_mode & 0o022
        guard writable == 0 else {
            let who = writable == 0o022 ? "group and others" : writable == 0o020 ? "its group" : "others"
            throw ServerError.unsafeDirectory(
                path: path, problem: "is writable by \(who) (mode \(String(info.st_mode & 0o7777, radix: 8))); chmod go-w it"
            )
        }
    }
}

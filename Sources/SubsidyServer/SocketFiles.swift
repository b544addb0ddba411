import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// File-system chores around socket paths.
enum SocketFiles {
    /// Creates the socket's parent directories (mode 0755; the socket's own mode guards access).
    static func prepareDirectory(for path: String) throws {
        var directory = ""
        for component in path.split(separator: "/").dropLast() {
            directory += "/" + component
            if mkdir(directory, 0o755) != 0 && errno != EEXIST {
                throw ServerError.cannotCreate(path: directory, errno: errno)
            }
        }
    }

    /// Removes a socket file left by a daemon that died, but never one that still answers.
    static func removeIfStale(_ path: String, group: any EventLoopGroup) async throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw ServerError.configuration(key: "socket_path", problem: "\(path) exists and is not a socket")
        }
        let answered: Bool
        do {
            let channel = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: path).get()
            try? await channel.close()
            answered = true
        } catch {
            answered = false
        }
        if answered { throw ServerError.socketInUse(path: path) }
        unlink(path)
    }
}

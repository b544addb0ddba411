import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// File-system chores around socket paths.
enum SocketFiles {
    /// Name of the private directory a socket is bound in before it is renamed into place
    /// (`mkdtemp` fills the X's); the socket inside is called `s`.
    static let stagingTemplate = ".sXXXXXX"

    /// Length in bytes of the path the socket is bound at before the rename (`DIR/.sXXXXXX/s`).
    static func stagingPathLength(for path: String) -> Int {
        directory(of: path).utf8.count + 1 + stagingTemplate.utf8.count + 2
    }

    static func directory(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }

    /// Creates `directory` and its missing parents. Directories it creates get `mode` exactly
    /// (chmod after mkdir, so the process umask cannot narrow or widen them); existing ones are
    /// left alone, as they belong to the administrator.
    static func makeDirectories(_ directory: String, mode: UInt32) throws {
        var path = ""
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o700) == 0 {
                if chmod(path, mode_t(mode)) != 0 { throw ServerError.cannotCreate(path: path, errno: errno) }
            } else if errno != EEXIST {
                throw ServerError.cannotCreate(path: path, errno: errno)
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

    /// Binds a listening socket that appears at `path` only with its final mode and group.
    ///
    /// `bind(2)` creates the file and NIO listens in the same step, so the socket is bound inside
    /// a fresh 0700 directory that only the daemon's user can enter, under a umask that gives it
    /// `mode`; it is then chowned to `group` and `rename(2)`d to `path`, which is atomic. A peer
    /// can therefore only ever reach the socket with its final mode and group: chown after a bind
    /// in place would leave a moment where the daemon's primary group had the group bits.
    static func bindStaged<Listener>(
        at path: String, mode: UInt32, group socketGroup: UInt32?,
        bind: (String) async throws -> Listener, close: (Listener) async -> Void
    ) async throws -> Listener {
        var template = Array((directory(of: path) + "/" + stagingTemplate).utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw ServerError.cannotCreate(path: directory(of: path) + "/" + stagingTemplate, errno: errno)
        }
        let staging = String(cString: created)
        let stagedPath = staging + "/s"
        defer {
            unlink(stagedPath)
            rmdir(staging)
        }
        // umask is process-wide; listeners are bound one at a time at start-up, before anything
        // else creates files.
        let previous = umask(mode_t(0o777 & ~mode))
        let listener: Listener
        do {
            listener = try await bind(stagedPath)
            umask(previous)
        } catch {
            umask(previous)
            throw error
        }
        do {
            if let socketGroup, chown(stagedPath, uid_t.max, gid_t(socketGroup)) != 0 {
                throw ServerError.cannotCreate(path: path, errno: errno)
            }
            // chown may clear nothing on sockets, but make the mode exact whatever the umask did.
            if chmod(stagedPath, mode_t(mode)) != 0 { throw ServerError.cannotCreate(path: path, errno: errno) }
            if rename(stagedPath, path) != 0 { throw ServerError.cannotCreate(path: path, errno: errno) }
        } catch {
            await close(listener)
            throw error
        }
        return listener
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the tests put their files.
public enum TestDirectories {
    /// `SUBSIDYD_TEST_TMPDIR` if set, else `/dev/shm` when it is a tmpfs with at least 2 GiB free,
    /// else `/tmp`. The suites create thousands of files and every commit is fsynced; in memory
    /// that costs neither disk writes nor journal work. The tests check behaviour, which is the
    /// same on either; the benchmark is what measures the disk.
    public static let root: String = {
        if let chosen = ProcessInfo.processInfo.environment["SUBSIDYD_TEST_TMPDIR"], !chosen.isEmpty { return chosen }
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        let isTmpfs = mounts.split(separator: "\n").contains { $0.split(separator: " ").prefix(3).dropFirst().elementsEqual(["/dev/shm", "tmpfs"]) }
        var space = statvfs()
        if isTmpfs, statvfs("/dev/shm", &space) == 0, UInt64(space.f_bavail) * UInt64(space.f_frsize) >= 2 << 30 {
            return "/dev/shm"
        }
        return "/tmp"
    }()

    /// A new directory `root/<prefix>-XXXXXX` (short: Unix socket paths are limited to 107 bytes).
    public static func make(_ prefix: String) -> String {
        var template = Array("\(root)/\(prefix)-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    /// Removes a test's directory — unless `SUBSIDYD_KEEP_TEST_DIRS` is set, which keeps every one
    /// for a post-mortem.
    public static func remove(_ path: String) {
        guard ProcessInfo.processInfo.environment["SUBSIDYD_KEEP_TEST_DIRS"] == nil else { return }
        try? FileManager.default.removeItem(atPath: path)
    }
}

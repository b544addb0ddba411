import Foundation
import SubsidyCore
import SubsidyTestSupport
import Testing

/// `Deploy/install.sh` into a temporary root, then systemd's own tools on what it installed:
/// `systemd-analyze verify` on the units, `systemd-sysusers` and `systemd-tmpfiles` on the
/// sysusers.d and tmpfiles.d files, and the installed configuration through `--check-config`.
@Suite("install into a temporary root", .serialized)
struct InstallTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// `systemd-analyze` and friends come with Debian's `systemd` package (.ci/run installs it).
    static func tool(_ name: String) -> String? {
        ["/usr/bin/", "/bin/"].map { $0 + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test("install.sh --destdir puts binaries, units, sysusers, tmpfiles, configuration, completions and man pages in place; systemd verifies them")
    func installIntoTemporaryRoot() async throws {
        try await withTemporaryDirectory { base in
            let root = base + "/root"
            let installed = try await run(
                "/bin/bash", [Self.repository + "/Deploy/install.sh", "--destdir", root, "--prefix", "/usr", "--bin-dir", DaemonProcess.productsDirectory])
            #expect(installed.status == 0, "\(installed.output)\(installed.error)")
            let expected = [
                "usr/bin/subsidyd", "usr/bin/subsidyctl", "usr/lib/systemd/system/subsidyd.service",
                "usr/lib/systemd/system/subsidyd-backup.service", "usr/lib/systemd/system/subsidyd-backup.timer",
                "usr/lib/sysusers.d/subsidyd.conf", "usr/lib/tmpfiles.d/subsidyd.conf", "etc/subsidyd/subsidyd.toml",
                "etc/subsidyd/policy.d/foshan-2020.toml", "etc/subsidyd/policy.d/foshan-dx-2021.toml", "etc/subsidyd/policy.d/shunde-dx-2021.toml", "usr/share/bash-completion/completions/subsidyctl",
                "usr/share/zsh/vendor-completions/_subsidyctl", "usr/share/man/man8/subsidyd.8.gz", "usr/share/man/man1/subsidyctl.1.gz",
                "usr/share/doc/subsidyd/README.md",
            ]
            for path in expected { #expect(FileManager.default.fileExists(atPath: root + "/" + path), "missing \(path)") }
            let version = try await run(root + "/usr/bin/subsidyd", ["--version"])
            #expect(version.output.contains(SubsidyVersion.current))

            // The installed configuration reads the policy from /etc; checked here with both paths
            // moved into the temporary root.
            let config = try String(contentsOfFile: root + "/etc/subsidyd/subsidyd.toml", encoding: .utf8)
            #expect(config.contains("\npolicy = \"/etc/subsidyd/policy.d\""))
            try config.replacingOccurrences(of: "\"/etc/subsidyd/", with: "\"\(root)/etc/subsidyd/")
                .write(toFile: base + "/check.toml", atomically: true, encoding: .utf8)
            let check = try await run(root + "/usr/bin/subsidyd", ["--check-config", "--config", base + "/check.toml"])
            #expect(check.status == 0, "\(check.error)")

            // A second install keeps the operator's configuration and puts the shipped one beside it.
            try (config + "\n# edited by the operator\n").write(toFile: root + "/etc/subsidyd/subsidyd.toml", atomically: true, encoding: .utf8)
            let again = try await run(
                "/bin/bash", [Self.repository + "/Deploy/install.sh", "--destdir", root, "--bin-dir", DaemonProcess.productsDirectory])
            #expect(again.status == 0, "\(again.error)")
            #expect(try String(contentsOfFile: root + "/etc/subsidyd/subsidyd.toml", encoding: .utf8).contains("edited by the operator"))
            #expect(FileManager.default.fileExists(atPath: root + "/etc/subsidyd/subsidyd.toml.dist"))

            guard let analyze = Self.tool("systemd-analyze"), let sysusers = Self.tool("systemd-sysusers"),
                let tmpfiles = Self.tool("systemd-tmpfiles")
            else {
                Issue.record("systemd-analyze, systemd-sysusers or systemd-tmpfiles missing: install Debian's systemd package (.ci/run does)")
                return
            }
            // What a Debian root has and the units rely on: the standard targets and slices,
            // /bin → usr/bin, kill(1) for ExecReload.
            let unitDirectory = root + "/usr/lib/systemd/system"
            for name in try FileManager.default.contentsOfDirectory(atPath: "/usr/lib/systemd/system")
            where name.hasSuffix(".target") || name.hasSuffix(".slice") {
                try? FileManager.default.copyItem(atPath: "/usr/lib/systemd/system/" + name, toPath: unitDirectory + "/" + name)
            }
            try FileManager.default.createSymbolicLink(atPath: root + "/bin", withDestinationPath: "usr/bin")
            try FileManager.default.copyItem(atPath: Self.tool("kill") ?? "/usr/bin/kill", toPath: root + "/usr/bin/kill")

            for unit in ["subsidyd.service", "subsidyd-backup.service", "subsidyd-backup.timer"] {
                let verified = try await run(analyze, ["verify", "--root=\(root)", "--man=no", unitDirectory + "/" + unit])
                #expect(verified.status == 0 && verified.error.isEmpty && verified.output.isEmpty, "\(unit): \(verified.output)\(verified.error)")
            }

            let users = try await run(sysusers, ["--root=\(root)"])
            #expect(users.status == 0, "\(users.error)")
            let groups = try String(contentsOfFile: root + "/etc/group", encoding: .utf8)
            for (name, gid) in [
                ("subsidy-city", 2100), ("subsidy-chancheng", 2101), ("subsidy-nanhai", 2102), ("subsidy-shunde", 2103),
                ("subsidy-gaoming", 2104), ("subsidy-sanshui", 2105),
            ] {
                #expect(groups.contains("\n\(name):x:\(gid):") || groups.hasPrefix("\(name):x:\(gid):"), "group \(name) with gid \(gid)")
            }
            let passwd = try String(contentsOfFile: root + "/etc/passwd", encoding: .utf8)
            #expect(passwd.contains("subsidyd:x:"))
            #expect(passwd.contains("subsidyd-backup:x:") && passwd.contains(":2100:subsidyd scheduled backups:"))
            // The unit's SupplementaryGroups= names exactly the groups sysusers.d creates.
            let unit = try String(contentsOfFile: unitDirectory + "/subsidyd.service", encoding: .utf8)
            #expect(unit.contains("SupplementaryGroups=subsidy-city subsidy-chancheng subsidy-nanhai subsidy-shunde subsidy-gaoming subsidy-sanshui"))

            let directories = try await run(tmpfiles, ["--root=\(root)", "--create"])
            #expect(directories.status == 0, "\(directories.error)")
            var status = stat()
            #expect(stat(root + "/var/lib/subsidyd", &status) == 0 && status.st_mode & 0o777 == 0o700)
        }
    }
}

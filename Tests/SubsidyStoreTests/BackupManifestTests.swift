import Foundation
import Testing

@testable import SubsidyStore

@Suite("BackupManifest")
struct BackupManifestTests {
    static let manifest = BackupManifest(
        takenAt: "2026-12-04T02:30:00.000Z", writtenBy: "subsidyd 1.0.0",
        ledger: LedgerPosition(identity: "f08d83c9a03e786ac540644b34318e53", sequence: 58, hash: String(repeating: "a", count: 64)),
        files: BackupManifest.expectedNames.enumerated().map { index, name in
            BackupManifest.File(name: name, bytes: Int64(4096 * (index + 1)), sha256: String(repeating: "b", count: 64), auditSequence: Int64(index), auditHash: String(repeating: "c", count: 64))
        })

    @Test("the text form round-trips")
    func roundTrip() throws {
        #expect(try BackupManifest(parsing: Self.manifest.text) == Self.manifest)
    }

    /// One row per way a manifest can be wrong, and what the error must say.
    static let broken: [(String, String, String)] = [
        ("another format", Self.manifest.text.replacingFirst("subsidyd-backup 1", with: "subsidyd-backup 2"), "format 1"),
        ("a file missing", Self.manifest.text.split(separator: "\n").filter { !$0.contains("districts/gaoming") }.joined(separator: "\n"), "a backup holds exactly"),
        ("a file without its hash", Self.manifest.text.replacingFirst(" sha256=", with: " sha=") , "lacks bytes, sha256"),
        ("no ledger sequence", Self.manifest.text.split(separator: "\n").filter { !$0.hasPrefix("ledger-sequence") }.joined(separator: "\n"), "ledger-sequence"),
        ("a line with no value", Self.manifest.text + "dangling\n", "expected `key value`"),
    ]

    @Test("a damaged manifest is refused with the reason", arguments: broken)
    func refused(name: String, text: String, expected: String) {
        #expect {
            _ = try BackupManifest(parsing: text)
        } throws: { error in
            "\(error)".contains(expected)
        }
    }

    @Test("a partial file sits beside its final name, hidden")
    func partialNames() {
        #expect(BackupFiles.partialName("city-ledger.sqlite") == ".city-ledger.sqlite.partial")
        #expect(BackupFiles.partialName("districts/nanhai.sqlite") == "districts/.nanhai.sqlite.partial")
    }
}

extension String {
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

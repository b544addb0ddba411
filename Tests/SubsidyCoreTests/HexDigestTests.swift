import SubsidyCore
import Testing

@Suite("HexDigest")
struct HexDigestTests {
    @Test("FIPS 180-4 SHA-256 vectors, as 64 lower-case hex digits", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func vectors(_ input: String, _ hex: String) {
        #expect(HexDigest.sha256(input.utf8) == hex)
        #expect(HexDigest.sha256(Array(input.utf8)) == hex)
    }

    @Test("a million 'a'")
    func millionA() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(HexDigest.sha256([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)) == expected)
    }

    @Test("lengths around the padding boundary agree between contiguous and non-contiguous input", arguments: [55, 56, 63, 64, 65, 119, 120, 128])
    func paddingBoundary(_ length: Int) {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(HexDigest.sha256(bytes) == HexDigest.sha256((0..<length).lazy.map { UInt8(truncatingIfNeeded: $0 &* 31) }))
    }
}

import Crypto

/// SHA-256 digests in the one text form the daemon stores and compares: 64 lower-case hex digits.
///
/// Used for the policy version (a hash of the policy file's text), the audit chain
/// (`h_i = SHA-256(h_{i-1} ‖ event)`), request fingerprints and import request ids. The hashing is
/// swift-crypto's `SHA256` (BoringSSL on Linux); only the hex spelling is ours, and it must never
/// change: audit hashes already written to district and city files are compared as text.
package enum HexDigest {
    /// The SHA-256 digest of `bytes` as 64 lower-case hex digits.
    package static func sha256(_ bytes: some Sequence<UInt8>) -> String {
        var hasher = SHA256()
        if bytes.withContiguousStorageIfAvailable({ hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) == nil {
            Array(bytes).withUnsafeBytes { hasher.update(bufferPointer: $0) }
        }
        return hex(hasher.finalize())
    }

    /// A SHA-256 fed piece by piece: a store file of gigabytes is hashed without holding it.
    package struct Stream {
        private var hasher = SHA256()

        package init() {}

        package mutating func update(_ bytes: UnsafeRawBufferPointer) {
            hasher.update(bufferPointer: bytes)
        }

        /// The digest of everything fed, as 64 lower-case hex digits.
        package func finalize() -> String { HexDigest.hex(hasher.finalize()) }
    }

    private static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".unicodeScalars)
        var text = String.UnicodeScalarView()
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(text)
    }
}

import FuzzSupport
import SubsidyWire

/// Target (b): a frame body through `Foshan_Subsidy_V1_Frame(serializedBytes:)` (what `Foshan_Subsidy_V1_Frame(body:)` calls), then —
/// as the daemon's router does — a REQUEST's payload through the request type its method names.
/// Checks: decodes or throws `SubsidyError`; what decodes round-trips (see `checkDecode`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let frame = checkDecode(Foshan_Subsidy_V1_Frame.self, bytes(data, size), path: "frame") else { return 0 }
    if frame.kind == .request, let type = Requests.type(forMethod: frame.method) {
        type.check(frame.payload)
    }
    return 0
}

@main
enum Main {
    static func main() { fuzzMain(target: "envelope", fuzzEnvelope) }
}

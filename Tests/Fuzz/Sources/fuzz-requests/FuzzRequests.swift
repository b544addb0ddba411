import FuzzSupport
import SubsidyWire

/// Target (c): every request message's decode path through protobuf-c. Byte 0 picks a request
/// type from `allServiceMethods` (`Requests.types`: distinct input types, stable order); the rest
/// is decoded as that type. Checks: decodes or throws `SubsidyError`; what decodes re-encodes,
/// decodes to the same value, re-encodes to the same bytes, and survives the JSON mapping.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequests(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    guard let selector = input.first else { return 0 }
    let type = Requests.types[Int(selector) % Requests.types.count]
    type.check(Array(input.dropFirst()))
    return 0
}

@main
enum Main {
    static func main() { fuzzMain(target: "requests", fuzzRequests) }
}

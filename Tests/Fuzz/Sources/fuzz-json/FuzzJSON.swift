import FuzzSupport
import SubsidyWire

/// Target (d): subsidyctl's JSON input. `subsidyctl submit/amend --file F` reads F, refuses it
/// unless it is UTF-8 (`readText`), then calls `Foshan_Subsidy_V1_Application(jsonText:path:)`, which is
/// `JSONValue.parse` + the generated proto3-JSON mapping. Input bytes that are not UTF-8 are
/// still fed in, repaired, so the parser sees U+FFFD too.
/// Checks: `JSONValue.parse` either throws `SubsidyError` or returns a value whose compact and
/// pretty serializations parse back to the same value; a `Foshan_Subsidy_V1_Application` that parses re-encodes
/// (no U+0000 reaches protobuf-c), decodes from its own bytes to the same value, and its own JSON
/// gives it back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    let text = String(validating: input, as: UTF8.self) ?? String(decoding: input, as: UTF8.self)

    if let value = try? JSONValue.parse(text) {
        for pretty in [false, true] {
            let written = value.serialized(pretty: pretty)
            do {
                guard try JSONValue.parse(written) == value else {
                    propertyViolated("JSON re-parse changed the value: \(written)")
                }
            } catch {
                propertyViolated("our own JSON does not parse: \(error): \(written)")
            }
        }
    }

    let application: Foshan_Subsidy_V1_Application
    do {
        application = try Foshan_Subsidy_V1_Application(jsonText: text, path: "application")
    } catch {
        return 0
    }
    let encoded: [UInt8]
    do {
        encoded = try application.checkedSerializedBytes()
    } catch {
        propertyViolated("an Application accepted from JSON cannot be sent: \(error)")
    }
    guard let decoded = checkDecode(Foshan_Subsidy_V1_Application.self, encoded, path: "application") else {
        propertyViolated("an Application accepted from JSON does not decode from its own bytes")
    }
    guard decoded == application else { propertyViolated("Application changed on the wire") }
    return 0
}

@main
enum Main {
    static func main() { fuzzMain(target: "json", fuzzJSON) }
}

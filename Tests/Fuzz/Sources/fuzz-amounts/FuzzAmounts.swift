import FuzzSupport
// SubsidyCore has no library product of its own; it is built as SubsidyWire's dependency.
import SubsidyCore

/// Target (d, flags): subsidyctl's amount flags (`submit --contract-amount 1,200,000.50` …), which
/// go through `Money(parsing:)` (yuan text → fen, no floating point). The input is the flag value.
/// Checks: parse or throw `Money.ParseError`; an amount that parses prints (`description`:
/// grouped, two decimals) as text that parses back to the same amount; and it agrees with a plain
/// reference: optional "-", digits, optional ",": groups of three, optional "." and ≤ 2 decimals.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAmounts(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = bytes(data, size)
    let text = String(validating: input, as: UTF8.self) ?? String(decoding: input, as: UTF8.self)
    let parsed = try? Money(parsing: text)
    let expected = referenceFen(Array(text.utf8))
    guard parsed?.fen == expected else {
        propertyViolated("Money(parsing: \(text.debugDescription)) = \(String(describing: parsed?.fen)), reference \(String(describing: expected))")
    }
    if let parsed {
        let printed = parsed.description
        guard (try? Money(parsing: printed)) == parsed else { propertyViolated("\(printed) does not parse back to \(parsed.fen) fen") }
    }
    return 0
}

/// The grammar written out plainly, over bytes, in 128-bit arithmetic: nil if not an amount.
func referenceFen(_ text: [UInt8]) -> Int64? {
    var rest = text[...]
    let negative = rest.first == UInt8(ascii: "-")
    if negative { rest = rest.dropFirst() }
    let integerPart = rest.prefix { $0 != UInt8(ascii: ".") }
    let hasPoint = integerPart.count < rest.count
    let fraction = hasPoint ? rest[(integerPart.endIndex + 1)...] : []
    let isDigit = { (b: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
    guard fraction.count <= 2, fraction.allSatisfy(isDigit) else { return nil }
    guard !(hasPoint && fraction.isEmpty) else { return nil }
    let groups = integerPart.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
    guard groups.allSatisfy({ $0.allSatisfy(isDigit) }) else { return nil }
    if groups.count > 1 {
        guard (1...3).contains(groups[0].count), groups.dropFirst().allSatisfy({ $0.count == 3 }) else { return nil }
    }
    guard !integerPart.isEmpty || !fraction.isEmpty else { return nil }
    var magnitude: Int128 = 0
    for digit in groups.joined() + fraction + Array(repeating: UInt8(ascii: "0"), count: 2 - fraction.count) {
        magnitude = magnitude * 10 + Int128(digit - UInt8(ascii: "0"))
        if magnitude > Int128(Int64.max) + 1 { return nil }
    }
    let fen = negative ? -magnitude : magnitude
    return fen >= Int128(Int64.min) && fen <= Int128(Int64.max) ? Int64(fen) : nil
}

@main
enum Main {
    static func main() { fuzzMain(target: "amounts", fuzzAmounts) }
}

/// A rate between 0 and 100 % as an exact fraction, never a floating-point number.
///
/// The policy file writes rates in basis points (`rate_bp = 5000` is 50 %); ``Money/scaled(by:)``
/// applies one with a floor, as RULES.md requires.
public struct Rate: Hashable, Sendable, CustomStringConvertible {
    /// Numerator of the fraction; `0 ≤ numerator ≤ denominator`.
    public let numerator: Int64
    /// Denominator of the fraction; always positive.
    public let denominator: Int64

    /// A rate of `numerator / denominator`, or `nil` unless `0 ≤ numerator ≤ denominator` and
    /// `denominator > 0` (rates above 100 % never occur in a subsidy and could overflow).
    public init?(numerator: Int64, denominator: Int64) {
        guard denominator > 0, numerator >= 0, numerator <= denominator else { return nil }
        self.numerator = numerator
        self.denominator = denominator
    }

    /// A rate in basis points (1 bp = 0.01 %), or `nil` outside `0...10_000`.
    public init?(basisPoints: Int64) {
        self.init(numerator: basisPoints, denominator: 10_000)
    }

    /// The rate as a percentage with up to four decimals: `50%`, `12.5%`.
    public var description: String {
        // Percentage × 10⁴, floored; exact for every basis-point rate. 128-bit, so no overflow.
        let scaled = denominator.dividingFullWidth(numerator.multipliedFullWidth(by: 1_000_000)).quotient
        var text = String(scaled / 10_000)
        var fraction = scaled % 10_000
        if fraction != 0 {
            var digits = ""
            var divisor: Int64 = 1000
            while fraction != 0 {
                digits.append(String(fraction / divisor))
                fraction %= divisor
                divisor /= 10
            }
            text += "." + digits
        }
        return text + "%"
    }
}

/// The grade a recognition was given (e.g. a 数字化示范工厂 recognised as 优秀): case-by-case
/// measures may set a ceiling per grade, and once-per-grade caps count per grade.
public enum Grade: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// No grade (the default for measures that have none).
    case none = "NONE"
    /// 标准 — recognised.
    case standard = "STANDARD"
    /// 优秀 — recognised as excellent.
    case excellent = "EXCELLENT"

    /// `STANDARD (标准)`, for explanations.
    public var label: String {
        switch self {
        case .none: "none"
        case .standard: "STANDARD (标准)"
        case .excellent: "EXCELLENT (优秀)"
        }
    }

    public var description: String { rawValue }
}

/// Who decides a programme's awards and whose store keeps its caps.
public enum ProgrammeLevel: Hashable, Sendable, CustomStringConvertible {
    /// A city programme: the city approves, against caps in the city ledger.
    case city
    /// A district's own programme: that district's bureau decides, against caps in its own store.
    case district(DistrictID)

    /// `city` or `district:<id>`, as the programme file writes it; nil for anything else.
    public init?(text: String) {
        if text == "city" {
            self = .city
        } else if text.hasPrefix("district:"), let district = DistrictID(rawValue: String(text.dropFirst("district:".count))) {
            self = .district(district)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .city: "city"
        case let .district(district): "district:\(district.rawValue)"
        }
    }
}

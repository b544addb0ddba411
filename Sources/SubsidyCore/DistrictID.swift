/// One of Foshan's five districts. Each has its own bureau, socket and store; caps are city-wide.
public enum DistrictID: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case chancheng
    case nanhai
    case shunde
    case gaoming
    case sanshui

    /// The district's Chinese name, e.g. `禅城区`.
    public var displayName: String {
        switch self {
        case .chancheng: "禅城区"
        case .nanhai: "南海区"
        case .shunde: "顺德区"
        case .gaoming: "高明区"
        case .sanshui: "三水区"
        }
    }

    public var description: String { rawValue }

    /// The district's administrative division code (GB/T 2260), as positions 3–8 of a USCC
    /// registered there carry it: 440604 禅城, 440605 南海, 440606 顺德, 440607 三水, 440608 高明.
    public var divisionCode: String {
        switch self {
        case .chancheng: "440604"
        case .nanhai: "440605"
        case .shunde: "440606"
        case .sanshui: "440607"
        case .gaoming: "440608"
        }
    }

    /// The district whose area registered `uscc` (its positions 3–8), or nil for a code outside
    /// the five districts (another city, or Foshan's city-level 440600/440601).
    public init?(registrationAreaOf uscc: USCC) {
        let code = String(uscc.rawValue.dropFirst(2).prefix(6))
        guard let district = DistrictID.allCases.first(where: { $0.divisionCode == code }) else { return nil }
        self = district
    }
}

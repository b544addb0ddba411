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
}

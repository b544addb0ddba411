/// The level at which a project, platform, pilot or base was selected (入选 / 认定).
public enum SelectionLevel: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// Not selected at any level (the default for measures that need no selection).
    case none
    /// 市级 — selected by Foshan (e.g. a municipal benchmark project being recognised now).
    case municipal
    /// 省级 — selected by Guangdong (广东省工信厅).
    case provincial
    /// 国家级 — selected by the state (工信部).
    case national

    public var description: String { rawValue }
}

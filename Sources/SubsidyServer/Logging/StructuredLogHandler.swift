import Logging
import SubsidyCore
import SubsidyStore

#if canImport(Glibc)
import Glibc
#endif

/// One line per event on standard error (journald keeps it), in logfmt or JSON as the
/// configuration's `log_format` says, so a log pipeline can parse every field. The fields:
/// `ts` (RFC 3339 UTC), `level`, `msg`, then the metadata in key order — on every line of a call
/// `call.id`, `call.method`, `tenant.id`, `peer.uid`, `peer.pid` (Deploy/README.md, "Logs").
public struct StructuredLogHandler: LogHandler {
    /// `log_format` in the configuration.
    public enum Format: String, Sendable, CaseIterable {
        case logfmt
        case json
    }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let format: Format

    public init(format: Format, level: Logger.Level) {
        self.format = format
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let own = event.metadata { fields.merge(own) { _, new in new } }
        var line = Self.render(
            format: format, time: Timestamp.now(), level: event.level.rawValue, message: event.message.description,
            fields: fields.map { ($0.key, "\($0.value)") }.sorted { $0.0 < $1.0 })
        line += "\n"
        // One write(2) per line, so lines from different threads never interleave.
        var bytes = Array(line.utf8)
        _ = write(2, &bytes, bytes.count)
    }

    /// One event as a line (without its newline).
    public static func render(format: Format, time: String, level: String, message: String, fields: [(String, String)]) -> String {
        let all = [("ts", time), ("level", level), ("msg", message)] + fields
        switch format {
        case .json:
            return "{" + all.map { "\(JSONString.quoted($0.0)):\(JSONString.quoted($0.1))" }.joined(separator: ",") + "}"
        case .logfmt:
            return all.map { "\($0.0)=\(logfmtValue($0.1))" }.joined(separator: " ")
        }
    }

    /// A bare value when it needs no quoting, else a quoted one with `"` and `\` escaped and
    /// control characters written as escapes, so a value never breaks the line.
    static func logfmtValue(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x20 && scalar.value != 0x7F && scalar != "\"" && scalar != "=" && scalar != "\\"
        }
        if plain { return value }
        // JSON's escaping is logfmt's quoting with control characters made visible.
        return JSONString.quoted(value)
    }
}

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
            return "{" + all.map { "\(quoted($0.0)):\(quoted($0.1))" }.joined(separator: ",") + "}"
        case .logfmt:
            return all.map { "\($0.0)=\(logfmtValue($0.1))" }.joined(separator: " ")
        }
    }

    /// A bare value when it needs no quoting, else a quoted one with `"` and `\` escaped and
    /// control characters written as escapes, so a value never breaks the line.
    static func logfmtValue(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x20 && scalar.value != 0x7F && scalar != "\"" && scalar != "=" && scalar != "\\" && !isHidden(scalar)
        }
        if plain { return value }
        // JSON's escaping is logfmt's quoting with control characters made visible.
        return quoted(value)
    }

    /// `value` as a JSON string, with what JSON leaves as it is but a terminal or an editor would
    /// act on made visible too: C1 controls (U+009B starts an escape sequence on some terminals),
    /// line and paragraph separators, bidirectional overrides and invisible format characters
    /// (a log line must read as it was written). Audit events keep `JSONString`'s own form.
    static func quoted(_ value: String) -> String {
        let text = JSONString.quoted(value)
        guard text.unicodeScalars.contains(where: isHidden) else { return text }
        var shown = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isHidden(scalar) {
                // JSON's \u takes one UTF-16 unit: beyond the BMP (tag characters), a surrogate pair.
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16, uppercase: true)
                    shown.append(contentsOf: ("\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex).unicodeScalars)
                }
            } else {
                shown.append(scalar)
            }
        }
        return String(shown)
    }

    /// Controls (C0, DEL, C1), format characters (bidi marks and overrides, zero-width ones, soft
    /// hyphen, tags), line and paragraph separators, and the Hangul fillers that show as blanks.
    private static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return [0x115F, 0x1160, 0x3164, 0xFFA0].contains(scalar.value)
        }
    }
}

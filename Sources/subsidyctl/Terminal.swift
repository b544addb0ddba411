#if canImport(Glibc)
import Glibc
#endif

/// What subsidyctl writes to a terminal. Names, reasons and project names come from whoever
/// filed them, and a terminal obeys what they hold: ESC starts a sequence that moves the
/// cursor, erases lines, retitles the window or writes the clipboard; CR returns to the start
/// of the line; bidi controls reorder what follows. Shown to a clerk, such a name could forge
/// lines of a history or hide part of a record. On a terminal each is shown as `\u001B` —
/// JSON's own escape of it, so `--json` on a terminal stays valid JSON; a pipe or a file gets
/// the text as it is.
enum Terminal {
    static let standardOutput = isatty(1) == 1
    static let standardError = isatty(2) == 1

    /// `text` with every control character but the line feed and the tab, and every bidi and
    /// line-separator control, written as `\uXXXX`.
    static func visible(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isHidden) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isHidden(scalar) {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    private static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09: false
        case 0x00...0x1F, 0x7F...0x9F: true
        // LRM, RLM, ALM; line and paragraph separators; embeddings, overrides and isolates.
        case 0x200E, 0x200F, 0x061C, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}

/// `Swift.print`, with what a terminal would obey shown instead (``Terminal/visible(_:)``)
/// when standard output is one. Every `print` of subsidyctl goes through it.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    let text = items.map { "\($0)" }.joined(separator: separator)
    Swift.print(Terminal.standardOutput ? Terminal.visible(text) : text, terminator: terminator)
}

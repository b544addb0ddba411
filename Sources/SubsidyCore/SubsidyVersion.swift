/// The release of subsidyd and subsidyctl, printed by `--version` and in the daemon's start-up
/// line, so an operator can tell which build wrote a log or a backup.
public enum SubsidyVersion {
    /// Semantic version of this source tree; raise it with every release (Deploy/README.md, upgrade).
    public static let current = "1.0.0"
}

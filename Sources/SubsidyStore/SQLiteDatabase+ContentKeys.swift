import SubsidyCore

extension SQLiteDatabase.Migration {
    /// Adds, for each commitment of the ledger, the key its typed content (`content_typed`: the
    /// contract number, or else the project name) has in this release's canonical form, when it
    /// differs from the fingerprint stored: content funded under an older form then still blocks
    /// every spelling the newer form makes one. The stored keys stay (the audit trail names them).
    ///
    /// Only the fingerprint can be derived again: the ledger keeps no project name beside a
    /// contract number (that key stays as it was stored), and a canonical key is not canonical
    /// text (`5g` is written `5-g`), so keys are derived from what was typed, never from keys.
    /// Pilot keys are re-derived by their own migration (``rederivePilotKeys(version:)``).
    static func recanonicaliseFingerprints(version: Int) -> Self {
        Self(version: version, sql: "") { transaction throws(SQLiteError) in
            try inBatches("SELECT rowid AS id, application_id, enterprise, content_fingerprint, content_typed FROM commitments", in: transaction) {
                row throws(SQLiteError) in
                let stored = try row.text("content_fingerprint"), typed = try row.text("content_typed")
                guard !CanonicalText(typed).isEmpty else { return }
                let current =
                    stored.hasPrefix("contract:")
                    ? "contract:" + CanonicalText.canonical(typed)
                    : Application.projectKey(projectName: typed, enterprise: try row.text("enterprise"))
                guard current != stored else { return }
                try transaction.query(
                    "INSERT OR IGNORE INTO content_keys (key, application_id) VALUES (?, ?)", [.text(current), .text(try row.text("application_id"))])
            }
        }
    }

    /// ``recanonicaliseFingerprints(version:)`` for a district's own programme: each award's
    /// typed content (`programme_commitments.content_typed`) under this release's canonical form,
    /// beside its stored keys. The typed text is the contract number when the award has a
    /// contract key, else the project name (the district file keeps no other kind of row here).
    /// Adds the index by application its key lookups (here, and a key per award after) need.
    static func recanonicaliseProgrammeKeys(version: Int) -> Self {
        Self(version: version, sql: "CREATE INDEX IF NOT EXISTS programme_content_keys_application ON programme_content_keys (application_id);") {
            transaction throws(SQLiteError) in
            try inBatches("SELECT rowid AS id, application_id, enterprise, content_typed FROM programme_commitments", in: transaction) {
                row throws(SQLiteError) in
                let id = try row.text("application_id"), typed = try row.text("content_typed")
                guard !CanonicalText(typed).isEmpty else { return }
                var keys: [String] = []
                for key in try transaction.query("SELECT key FROM programme_content_keys WHERE application_id = ?", [.text(id)]) { keys.append(try key.text("key")) }
                let current =
                    keys.contains { $0.hasPrefix("contract:") }
                    ? "contract:" + CanonicalText.canonical(typed)
                    : Application.projectKey(projectName: typed, enterprise: try row.text("enterprise"))
                guard !keys.contains(current) else { return }
                try transaction.query("INSERT OR IGNORE INTO programme_content_keys (key, application_id) VALUES (?, ?)", [.text(current), .text(id)])
            }
        }
    }

    /// Each commitment's pilot key under this release's canonical form (from its typed `pilot_id`),
    /// and its pilot caps' charges with it: a once-per-pilot cap is scoped `<period>/<pilot key>`,
    /// so an award keyed under an older form (`粤工信～2021～7` when a tilde was a letter) would
    /// not count against the cap a new filing of the same pilot computes, and the pilot could be
    /// awarded twice. The charge's scope moves in SQL's `UPDATE`, and the maintained totals move
    /// with it (the `cap_totals_charge_changed` trigger): no total is guessed at. Two awards of
    /// one pilot under two old spellings then show as a cap used twice, which is what they are.
    static func rederivePilotKeys(version: Int) -> Self {
        Self(version: version, sql: "") { transaction throws(SQLiteError) in
            try inBatches("SELECT rowid AS id, application_id, pilot_id, pilot_key FROM commitments", in: transaction) {
                row throws(SQLiteError) in
                let pilot = try row.text("pilot_id"), stored = try row.text("pilot_key")
                let current = CanonicalText(pilot).key
                guard !pilot.isEmpty, !stored.isEmpty, !current.isEmpty, current != stored else { return }
                let id = try row.text("application_id")
                try CityLedger.movePilotCharges(of: id, from: stored, to: current, in: transaction)
                try transaction.query("UPDATE commitments SET pilot_key = ? WHERE application_id = ?", [.text(current), .text(id)])
            }
        }
    }

    /// Runs `body` on every row of `select` (which names its rowid `id`), 10,000 rows at a time
    /// in rowid order: a file may hold a million commitments, which must not all be in memory.
    private static func inBatches(
        _ select: String, in transaction: Transaction, _ body: (SQLiteRow) throws(SQLiteError) -> Void
    ) throws(SQLiteError) {
        var after: Int64 = 0
        while true {
            let rows = try transaction.query(select + " WHERE rowid > ? ORDER BY rowid LIMIT 10000", [.integer(after)])
            guard let last = rows.last else { return }
            after = try last.int("id")
            for row in rows { try body(row) }
        }
    }
}

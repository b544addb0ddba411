import SubsidyCore

extension SubsidyStores {
    /// Where the city's applicant index and a district's registry disagree, for `subsidyd --check`.
    public struct ApplicantIndexGaps: Sendable, Equatable {
        public var district: DistrictID
        /// Indexed for the district, not in its registry: registrations cut off after the index
        /// (the district's next registration of each takes it over).
        public var unfinished: [String]
        /// In the registry, not indexed for the district: a file older than the index, or one
        /// put back from another time.
        public var unindexed: [String]
    }

    /// Every district whose registry and the index's entries for it differ, with the USCCs each
    /// way (sorted). Reads every applicant of both: a check for a stopped daemon, not a call.
    public func applicantIndexGaps() async throws -> [ApplicantIndexGaps] {
        var gaps: [ApplicantIndexGaps] = []
        for district in DistrictID.allCases {
            let indexed = Set(
                try await ledger.database.read { transaction in
                    try transaction.query("SELECT uscc FROM applicants WHERE district = ?", [.text(district.rawValue)]).map { try $0.text("uscc") }
                })
            let registered = Set(
                try await store(district).database.read { transaction in
                    try transaction.query("SELECT uscc FROM applicants").map { try $0.text("uscc") }
                })
            guard indexed != registered else { continue }
            gaps.append(
                ApplicantIndexGaps(district: district, unfinished: indexed.subtracting(registered).sorted(), unindexed: registered.subtracting(indexed).sorted()))
        }
        return gaps
    }
}

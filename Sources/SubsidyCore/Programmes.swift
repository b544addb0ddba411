/// Every programme in force, by name: the 2020 measures beside their successors and the districts'
/// own programmes (PROGRAMMES.md). Loaded together, validated together: a set where two
/// programmes share a name or a measure code is refused, because cap ids (`<MEASURE>.<name>`) and
/// whole-programme cap scopes would then mix their awards.
public struct Programmes: Sendable {
    /// Each programme, in name order.
    public let all: [Policy]
    /// The programme an application that names none belongs to (`foshan-2020`): clients written
    /// before programmes existed keep meaning the 2020 policy.
    public let defaultProgramme: Policy

    /// Checks the set. `defaultName` must be one of them.
    public init(_ programmes: [Policy], defaultName: String = "foshan-2020") throws(PolicyError) {
        var byName: [String: Policy] = [:]
        var measures: [Measure: String] = [:]
        for programme in programmes {
            guard byName.updateValue(programme, forKey: programme.name) == nil else {
                throw PolicyError(policyName: programme.name, line: nil, key: "policy.name", problem: "two programme files declare the name \(programme.name)")
            }
            for measure in programme.rules.keys {
                if let other = measures.updateValue(programme.name, forKey: measure) {
                    throw PolicyError(
                        policyName: programme.name, line: nil, key: "measure.\(measure.rawValue)",
                        problem: "measure \(measure.rawValue) is already offered by programme \(other); a measure code belongs to one programme")
                }
            }
        }
        guard let defaultProgramme = byName[defaultName] ?? (programmes.count == 1 ? programmes.first : nil) else {
            throw PolicyError(policyName: defaultName, line: nil, key: nil,
                              problem: "the default programme \(defaultName) is not among the programme files (\(byName.keys.sorted().joined(separator: ", ")))")
        }
        // Each programme learns the others' stacking limits (measure codes are unique, so by measure).
        let linked = programmes.map { programme in
            var programme = programme
            for other in programmes where other.name != programme.name {
                for (measure, rule) in other.rules { if let rate = rule.stackingRate { programme.stackingElsewhere[measure] = rate } }
            }
            return programme
        }
        self.all = linked.sorted { $0.name < $1.name }
        self.defaultProgramme = linked.first { $0.name == defaultProgramme.name } ?? defaultProgramme
    }

    /// A set of one programme (a single policy file, as before programmes).
    public init(single policy: Policy) {
        self.all = [policy]
        self.defaultProgramme = policy
    }

    /// The programme called `name`, or nil.
    public func programme(named name: String) -> Policy? {
        all.first { $0.name == name }
    }

    /// The programme `application` is filed under: the one it names, or the default when it names
    /// none. An unknown name is `INVALID_ARGUMENT` naming the field and the programmes there are.
    public func programme(for application: Application) throws(SubsidyError) -> Policy {
        try programme(forName: application.programme)
    }

    /// ``programme(for:)`` by name (empty: the default).
    public func programme(forName name: String) throws(SubsidyError) -> Policy {
        try programme(name, visibleTo: nil, field: "application.programme")
    }

    /// The programme `name` as `district` sees it (nil: the city, which sees every one; empty:
    /// the default). One it cannot see is `INVALID_ARGUMENT` on `field`, unknown programme, naming
    /// the programmes it can: another district's programme does not exist for it, and every
    /// request field that names a programme says so in the same words.
    public func programme(_ name: String, visibleTo district: DistrictID?, field: String) throws(SubsidyError) -> Policy {
        let visible = visible(to: district)
        let wanted = name.isEmpty ? defaultProgramme.name : name
        guard let programme = visible.first(where: { $0.name == wanted }) else { throw Self.unknown(name, field: field, among: visible.map(\.name)) }
        return programme
    }

    /// `INVALID_ARGUMENT` on `field`: `name` is none of the programmes `among` (those the caller
    /// can see). A name longer than any programme's is said to be, not echoed back.
    public static func unknown(_ name: String, field: String, among names: [String]) -> SubsidyError {
        do throws(SubsidyError) {
            try InputLimits.check(name, InputLimits.programme, field: field)
        } catch {
            return error
        }
        return SubsidyError.invalidField(field, "unknown programme '\(name)' (programmes: \(names.joined(separator: ", ")))")
    }

    /// The programmes `district` may see and file under: the city's and its own (nil: the city,
    /// which sees every one). Another district's programme does not exist for it.
    public func visible(to district: DistrictID?) -> [Policy] {
        guard let district else { return all }
        return all.filter { $0.level == .city || $0.level == .district(district) }
    }

    /// The programme named `name` (empty: the default) as `district` may file under it: one it
    /// can see (else `INVALID_ARGUMENT`, unknown programme), in force on `date` and not retired
    /// (`FAILED_PRECONDITION`). Its decisions must be dated within its window and no later than
    /// the day they are entered, so an application filed after the window could only be refused,
    /// or approved under a date made up to fit.
    /// - Parameter filedUnder: an amendment's programme as filed (empty: the default). Kept, the
    ///   amendment corrects a filing made while the programme took them (补正 after 退回), and
    ///   neither the window nor retirement applies; onto another programme, it is a new filing.
    public func programmeForFiling(_ name: String, by district: DistrictID?, on date: CalendarDate, filedUnder: String? = nil) throws(SubsidyError) -> Policy {
        let programme = try programme(name, visibleTo: district, field: "application.programme")
        if let filedUnder, (filedUnder.isEmpty ? defaultProgramme.name : filedUnder) == programme.name { return programme }
        if let retired = programme.retiredOn, retired <= date {
            throw SubsidyError.precondition("programme", "programme \(programme.name) was retired on \(retired) and takes no new applications")
        }
        if date < programme.validFrom {
            throw SubsidyError.precondition(
                "programme", "programme \(programme.name) is in force from \(programme.validFrom) (\(programme.validityText)); it takes applications from then")
        }
        if programme.validThrough < date {
            throw SubsidyError.precondition(
                "programme",
                "programme \(programme.name) ended on \(programme.validThrough) (in force \(programme.validityText)) and takes no new applications on \(date)")
        }
        return programme
    }
}

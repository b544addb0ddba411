import SubsidyCore

#if canImport(Glibc)
import Glibc
#endif

extension ServerConfiguration {
    /// A configuration file that cannot be used: the daemon refuses to start (and
    /// `subsidyd --check-config` exits non-zero) with `FILE:LINE: key: problem`.
    public struct FileError: Error, Hashable, Sendable, CustomStringConvertible {
        public let path: String
        /// The 1-based line at fault, or nil when no single line is (a missing table).
        public let line: Int?
        /// The dotted key or table at fault (`district.nanhai.socket_mode`).
        public let key: String?
        public let problem: String

        public init(path: String, line: Int?, key: String?, problem: String) {
            self.path = path
            self.line = line
            self.key = key
            self.problem = problem
        }

        public var description: String {
            var text = path
            if let line { text += ":\(line)" }
            text += ": "
            if let key { text += "\(key): " }
            return text + problem
        }
    }

    /// Looks up user and group names; injectable so validation can be tested without accounts.
    public struct NameResolver: Sendable {
        public var user: @Sendable (String) -> UInt32?
        public var group: @Sendable (String) -> UInt32?

        public init(user: @escaping @Sendable (String) -> UInt32?, group: @escaping @Sendable (String) -> UInt32?) {
            self.user = user
            self.group = group
        }

        /// The system's passwd and group databases (NSS).
        public static let system = NameResolver(
            user: { name in
                var entry = Glibc.passwd()
                var result: UnsafeMutablePointer<Glibc.passwd>?
                var buffer = [CChar](repeating: 0, count: 16_384)
                guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
                return entry.pw_uid
            },
            group: { name in
                var entry = Glibc.group()
                var result: UnsafeMutablePointer<Glibc.group>?
                var buffer = [CChar](repeating: 0, count: 65_536)
                guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
                return entry.gr_gid
            }
        )
    }

    /// Reads and validates a configuration file (see `Deploy/subsidyd.toml` for every key).
    public static func load(path: String, names: NameResolver = .system) throws(FileError) -> ServerConfiguration {
        let text: String
        do {
            text = try readFile(path)
        } catch {
            throw FileError(path: path, line: nil, key: nil, problem: error.problem)
        }
        return try parse(text: text, path: path, names: names)
    }

    /// Validates configuration text; `path` only labels errors.
    public static func parse(text: String, path: String, names: NameResolver = .system) throws(FileError) -> ServerConfiguration {
        let document: PolicyDocument
        do {
            document = try PolicyDocument(text: text, policyName: path)
        } catch {
            throw FileError(path: path, line: error.line, key: error.key, problem: error.problem)
        }
        return try ConfigurationReader(document: document, path: path, names: names).configuration()
    }

    private struct ReadError: Error {
        let problem: String
    }

    private static func readFile(_ path: String) throws(ReadError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(problem: "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 { throw ReadError(problem: "cannot read (\(String(cString: strerror(errno))))") }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > 1_048_576 { throw ReadError(problem: "larger than 1 MiB; not a configuration file") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ReadError(problem: "not valid UTF-8") }
        return text
    }
}

/// Turns a parsed document into a ``ServerConfiguration``, failing on the first problem in file
/// order with the key and line. Unknown keys and tables are errors, so a typo never silently
/// drops a limit or an allowed group.
private struct ConfigurationReader {
    let document: PolicyDocument
    let path: String
    let names: ServerConfiguration.NameResolver

    static let rootKeys = ["data_dir", "runtime_dir", "runtime_dir_mode", "policy", "metrics_textfile", "metrics_interval_ms", "log_format"]
    static let limitKeys = [
        "max_frame_bytes", "frame_deadline_ms", "idle_timeout_ms", "write_stall_timeout_ms", "drain_grace_ms", "max_calls_per_connection",
        "max_connections", "max_connections_per_uid", "requests_per_second", "request_burst",
        "max_connections_per_tenant", "max_queued_bytes_per_connection", "max_concurrent_store_calls_per_tenant",
        "max_concurrent_compute_per_tenant", "max_queued_bytes_per_tenant", "max_district_file_bytes", "min_free_disk_bytes",
        "search_scan_rows",
    ]
    static let tenantKeys = ["display_name", "socket", "socket_mode", "socket_group", "allowed_uids", "allowed_gids"]
    /// The longest socket path the kernel accepts (`sun_path` is 108 bytes with its NUL).
    static let maximumSocketPathBytes = 107

    func error(_ table: PolicyDocument.Table, _ key: String?, _ problem: String) -> ServerConfiguration.FileError {
        let dotted = key.map { table.name.isEmpty ? $0 : table.name + "." + $0 } ?? table.name
        return .init(path: path, line: key.flatMap { table.entries[$0]?.line } ?? (table.line > 0 ? table.line : nil), key: dotted, problem: problem)
    }

    func configuration() throws(ServerConfiguration.FileError) -> ServerConfiguration {
        var root: PolicyDocument.Table?
        var limitsTable: PolicyDocument.Table?
        var cityTable: PolicyDocument.Table?
        var relocationsTable: PolicyDocument.Table?
        var districtTables: [(DistrictID, PolicyDocument.Table)] = []
        for table in document.tables {
            let parts = table.name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            switch (parts.count, parts[0]) {
            case (1, ""): root = table
            case (1, "limits"): limitsTable = table
            case (1, "city"): cityTable = table
            case (1, "relocations"): relocationsTable = table
            case (2, "district"):
                guard let district = DistrictID(rawValue: parts[1]) else {
                    throw error(table, nil, "unknown district '\(parts[1])' (known: \(DistrictID.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                districtTables.append((district, table))
            default:
                throw error(table, nil, "unknown table (expected [limits], [district.<id>], [city] or [relocations])")
            }
        }
        guard let root else { throw .init(path: path, line: nil, key: nil, problem: "empty document") }
        try allowOnly(Self.rootKeys, in: root, hint: "tables: [limits], [district.<id>], [city]")

        let dataDirectory = try absolutePath("data_dir", in: root, required: true)!
        let runtimeDirectory = try absolutePath("runtime_dir", in: root, required: true)!
        let runtimeMode = try mode("runtime_dir_mode", in: root, default: 0o755)
        if runtimeMode & 0o700 != 0o700 {
            throw error(root, "runtime_dir_mode", "the daemon's own user needs rwx on its runtime directory (got \(octal(runtimeMode)))")
        }
        if runtimeMode & 0o022 != 0 {
            // The next start would refuse a directory created this way (StrictModes).
            throw error(root, "runtime_dir_mode", "must not be writable by group or others (got \(octal(runtimeMode)))")
        }
        let policyPath = try absolutePath("policy", in: root, required: false)

        let limits = try readLimits(limitsTable)

        for district in DistrictID.allCases where !districtTables.contains(where: { $0.0 == district }) {
            throw .init(path: path, line: nil, key: "district.\(district.rawValue)", problem: "missing table [district.\(district.rawValue)] (all five districts must be configured)")
        }
        guard let cityTable else {
            throw .init(path: path, line: nil, key: "city", problem: "missing table [city]")
        }
        var tenants: [Tenant] = []
        var socketOwners: [String: String] = [:]
        var warnings: [String] = []
        for (district, table) in districtTables {
            tenants.append(
                try tenant(table, id: district.rawValue, role: .district, runtimeDirectory: runtimeDirectory, socketOwners: &socketOwners, warnings: &warnings))
        }
        tenants.append(try tenant(cityTable, id: "city", role: .city, runtimeDirectory: runtimeDirectory, socketOwners: &socketOwners, warnings: &warnings))

        warnings += Self.accessWarnings(tenants)
        var configuration = ServerConfiguration(dataDirectory: dataDirectory, tenants: tenants, limits: limits)
        configuration.warnings = warnings
        configuration.runtimeDirectory = runtimeDirectory
        configuration.runtimeDirectoryMode = runtimeMode
        configuration.policyPath = policyPath
        configuration.relocations = try relocations(relocationsTable)
        configuration.metricsTextfile = try absolutePath("metrics_textfile", in: root, required: false)
        if let path = configuration.metricsTextfile, !path.hasSuffix(".prom") {
            // node_exporter reads only *.prom files: any other name would silently never be collected.
            throw error(root, "metrics_textfile", "must end in .prom, the textfile collector reads nothing else (got \"\(path)\")")
        }
        if let entry = root.entries["metrics_interval_ms"] {
            guard case .integer(let value) = entry.value else {
                throw error(root, "metrics_interval_ms", "must be an integer (got \(entry.value.typeName))")
            }
            guard (1_000...3_600_000).contains(value) else {
                throw error(root, "metrics_interval_ms", "must be between 1000 and 3600000 (got \(value))")
            }
            configuration.metricsIntervalMilliseconds = value
        }
        if let text = try string("log_format", in: root, required: false) {
            guard let format = StructuredLogHandler.Format(rawValue: text) else {
                throw error(root, "log_format", "must be \"logfmt\" or \"json\" (got \"\(text)\")")
            }
            configuration.logFormat = format
        }
        return configuration
    }

    /// Access lists that work but are seldom meant: one account or group allowed on several
    /// tenants (its peers choose whose bureau they act as by the socket they open), and uid or gid
    /// 0 (every root process, or every member of group root, acts as that tenant).
    static func accessWarnings(_ tenants: [Tenant]) -> [String] {
        var warnings: [String] = []
        for (kind, ids) in [("uid", { (t: Tenant) in t.allowedUIDs }), ("gid", { (t: Tenant) in t.allowedGIDs })] {
            let all = Set(tenants.flatMap(ids)).sorted()
            for id in all {
                let holders = tenants.filter { ids($0).contains(id) }.map { Tenant.tableName(of: $0.id) }
                if id == 0 {
                    warnings.append("\(kind) 0 (root) is allowed on \(holders.joined(separator: ", ")): do not allow it in production (Deploy/README.md)")
                } else if holders.count > 1 {
                    warnings.append("\(kind) \(id) is allowed on \(holders.joined(separator: ", ")): its peers act as whichever tenant's socket they open")
                }
            }
        }
        return warnings
    }

    /// `[relocations]`: `<USCC> = "<district>"` for an enterprise registered in one district's
    /// area (its USCC's positions 3–8) that now belongs to another.
    private func relocations(_ table: PolicyDocument.Table?) throws(ServerConfiguration.FileError) -> [String: DistrictID] {
        guard let table else { return [:] }
        try refuseMisplacedTopLevelKeys(in: table)
        var result: [String: DistrictID] = [:]
        for key in table.order {
            do {
                _ = try USCC(validating: key)
            } catch {
                throw self.error(table, key, "not a valid 统一社会信用代码: \(error)")
            }
            guard case .string(let text)? = table.entries[key]?.value, let district = DistrictID(rawValue: text) else {
                throw self.error(table, key, "must be a district id (\(DistrictID.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            result[key] = district
        }
        return result
    }

    /// A key of the top level written below a `[table]` header: TOML reads it as that table's
    /// (an operator appending `metrics_textfile = …` at the end of the file lands in its last table).
    private func refuseMisplacedTopLevelKeys(in table: PolicyDocument.Table) throws(ServerConfiguration.FileError) {
        guard !table.name.isEmpty, let key = table.order.first(where: Self.rootKeys.contains) else { return }
        throw error(table, key, "\(key) is a top-level key, but it is written below the [\(table.name)] header, so TOML reads it as part of that table: move it above the first [table] of the file")
    }

    private func allowOnly(_ keys: [String], in table: PolicyDocument.Table, hint: String? = nil) throws(ServerConfiguration.FileError) {
        try refuseMisplacedTopLevelKeys(in: table)
        if let key = table.order.first(where: { !keys.contains($0) }) {
            throw error(table, key, "unknown key (allowed: \(keys.joined(separator: ", "))\(hint.map { "; " + $0 } ?? ""))")
        }
    }

    private func string(_ key: String, in table: PolicyDocument.Table, required: Bool) throws(ServerConfiguration.FileError) -> String? {
        guard let entry = table.entries[key] else {
            if required { throw error(table, key, "missing key") }
            return nil
        }
        guard case .string(let text) = entry.value else { throw error(table, key, "must be a string (got \(entry.value.typeName))") }
        guard !text.isEmpty else { throw error(table, key, "must not be empty") }
        return text
    }

    private func absolutePath(_ key: String, in table: PolicyDocument.Table, required: Bool) throws(ServerConfiguration.FileError) -> String? {
        guard let text = try string(key, in: table, required: required) else { return nil }
        guard text.hasPrefix("/") else { throw error(table, key, "must be an absolute path (got \"\(text)\")") }
        return normalized(text)
    }

    /// Octal permission bits written as a string (`"0660"`), because TOML integers have no octal
    /// form in the subset we parse and a bare `660` would silently mean decimal.
    private func mode(_ key: String, in table: PolicyDocument.Table, default fallback: UInt32) throws(ServerConfiguration.FileError) -> UInt32 {
        guard let text = try string(key, in: table, required: false) else { return fallback }
        let digits = text.hasPrefix("0o") ? String(text.dropFirst(2)) : text
        guard (3...4).contains(digits.count), let value = UInt32(digits, radix: 8) else {
            throw error(table, key, "must be an octal mode string such as \"0660\" (got \"\(text)\")")
        }
        guard value <= 0o777 else { throw error(table, key, "setuid, setgid and sticky bits are not allowed (got \(octal(value)))") }
        guard value & 0o002 == 0 else { throw error(table, key, "must not be world-writable (got \(octal(value)))") }
        return value
    }

    private func readLimits(_ table: PolicyDocument.Table?) throws(ServerConfiguration.FileError) -> ServerConfiguration.Limits {
        var limits = ServerConfiguration.Limits()
        guard let table else { return limits }
        try allowOnly(Self.limitKeys, in: table)
        func positive(_ key: String, maximum: Int64) throws(ServerConfiguration.FileError) -> Int64? {
            try integer(key, in: 1...maximum)
        }
        func integer(_ key: String, in range: ClosedRange<Int64>) throws(ServerConfiguration.FileError) -> Int64? {
            guard let entry = table.entries[key] else { return nil }
            guard case .integer(let value) = entry.value else { throw error(table, key, "must be an integer (got \(entry.value.typeName))") }
            if range.lowerBound == 1 {
                guard value > 0 else { throw error(table, key, "must be > 0 (got \(value))") }
                guard value <= range.upperBound else { throw error(table, key, "must be at most \(range.upperBound) (got \(value))") }
            } else {
                guard range.contains(value) else {
                    throw error(table, key, "must be between \(range.lowerBound) and \(range.upperBound) (got \(value))")
                }
            }
            return value
        }
        if let value = try positive("max_frame_bytes", maximum: 1 << 30) { limits.maximumFrameLength = Int(value) }
        if let value = try positive("frame_deadline_ms", maximum: 3_600_000) { limits.frameDeadlineMilliseconds = value }
        if let value = try positive("idle_timeout_ms", maximum: 86_400_000) { limits.idleTimeoutMilliseconds = value }
        if let value = try positive("write_stall_timeout_ms", maximum: 86_400_000) { limits.writeStallTimeoutMilliseconds = value }
        if let value = try positive("drain_grace_ms", maximum: 600_000) { limits.drainGraceMilliseconds = value }
        if let value = try positive("max_calls_per_connection", maximum: 100_000) { limits.maximumConcurrentCallsPerConnection = Int(value) }
        if let value = try positive("max_connections", maximum: 1_000_000) { limits.maximumConnections = Int(value) }
        if let value = try positive("max_connections_per_uid", maximum: 1_000_000) { limits.maximumConnectionsPerUID = Int(value) }
        if let value = try positive("requests_per_second", maximum: 10_000_000) { limits.requestsPerSecond = Int(value) }
        if let value = try positive("request_burst", maximum: 10_000_000) { limits.requestBurst = Int(value) }
        if let value = try positive("max_queued_bytes_per_connection", maximum: 1 << 32) { limits.maximumQueuedBytesPerConnection = Int(value) }
        if let value = try positive("max_queued_bytes_per_tenant", maximum: 1 << 40) { limits.maximumQueuedBytesPerTenant = Int(value) }
        if limits.maximumQueuedBytesPerTenant < limits.maximumQueuedBytesPerConnection {
            throw error(table, table.entries["max_queued_bytes_per_tenant"] != nil ? "max_queued_bytes_per_tenant" : "max_queued_bytes_per_connection",
                        "max_queued_bytes_per_tenant (\(limits.maximumQueuedBytesPerTenant)) must be at least max_queued_bytes_per_connection (\(limits.maximumQueuedBytesPerConnection))")
        }
        if let value = try positive("max_district_file_bytes", maximum: 1 << 50) { limits.maximumDistrictFileBytes = value }
        // 0 turns the reserve off, so this one key may be zero.
        if let value = try integer("min_free_disk_bytes", in: 0...(1 << 50)) { limits.minimumFreeDiskBytes = value }
        if let value = try positive("search_scan_rows", maximum: 100_000_000) { limits.searchScanRows = Int(value) }
        if let value = try positive("max_concurrent_store_calls_per_tenant", maximum: 1_000) {
            limits.maximumConcurrentStoreCallsPerTenant = Int(value)
        }
        // 0 is one fewer than the processors, so this key may be zero.
        if let value = try integer("max_concurrent_compute_per_tenant", in: 0...1_000) { limits.maximumConcurrentComputePerTenant = Int(value) }
        if let value = try positive("max_connections_per_tenant", maximum: 1_000_000) {
            limits.maximumConnectionsPerTenant = Int(value)
            // With the five other tenants at their cap, every tenant — the city included — must
            // still find room: one bureau's accounts cannot lock the others out.
            if Int(value) * ServerConfiguration.Limits.otherTenants >= limits.maximumConnections && limits.maximumConnections > 1 {
                throw error(table, "max_connections_per_tenant",
                            "\(ServerConfiguration.Limits.otherTenants) × max_connections_per_tenant (\(value)) must be below max_connections (\(limits.maximumConnections)), so that with five tenants at their cap the sixth keeps room")
            }
        } else {
            // A small max_connections without a per-tenant key: the largest share that keeps room.
            limits.maximumConnectionsPerTenant = min(limits.maximumConnectionsPerTenant, ServerConfiguration.Limits.tenantShare(of: limits.maximumConnections))
        }
        if limits.maximumConnectionsPerUID > limits.maximumConnections {
            throw error(table, table.entries["max_connections_per_uid"] != nil ? "max_connections_per_uid" : "max_connections",
                        "max_connections_per_uid (\(limits.maximumConnectionsPerUID)) exceeds max_connections (\(limits.maximumConnections))")
        }
        return limits
    }

    private func tenant(
        _ table: PolicyDocument.Table, id: String, role: TenantRole, runtimeDirectory: String, socketOwners: inout [String: String],
        warnings: inout [String]
    ) throws(ServerConfiguration.FileError) -> Tenant {
        try allowOnly(Self.tenantKeys, in: table)
        let displayName = try string("display_name", in: table, required: true)!

        let socketText = try string("socket", in: table, required: true)!
        let socketPath = normalized(socketText.hasPrefix("/") ? socketText : runtimeDirectory + "/" + socketText)
        guard !socketPath.hasSuffix("/") && socketPath != runtimeDirectory else {
            throw error(table, "socket", "must name a file (got \"\(socketText)\")")
        }
        guard socketPath.utf8.count <= Self.maximumSocketPathBytes else {
            throw error(table, "socket", "\(socketPath) is \(socketPath.utf8.count) bytes; a Unix socket path may be at most \(Self.maximumSocketPathBytes)")
        }
        let staging = SocketFiles.stagingPathLength(for: socketPath)
        guard staging <= Self.maximumSocketPathBytes else {
            throw error(table, "socket", "the directory of \(socketPath) is too long: the socket is bound in a private staging directory beside it, whose path would be \(staging) bytes (at most \(Self.maximumSocketPathBytes))")
        }
        if let other = socketOwners[socketPath] {
            throw error(table, "socket", "\(socketPath) is already the socket of [\(other)]")
        }
        socketOwners[socketPath] = table.name

        let socketMode = try mode("socket_mode", in: table, default: 0o660)
        if socketMode & 0o200 == 0 {
            throw error(table, "socket_mode", "the owner needs write permission to remove and replace the socket (got \(octal(socketMode)))")
        }
        var socketGroup: UInt32?
        if let entry = table.entries["socket_group"] {
            socketGroup = try identity(entry.value, key: "socket_group", in: table, kind: "group", lookup: names.group)
        }
        let uids = try identities("allowed_uids", in: table, kind: "user", lookup: names.user, warnings: &warnings)
        let gids = try identities("allowed_gids", in: table, kind: "group", lookup: names.group, warnings: &warnings)
        let named = table.entries["allowed_uids"] != nil ? "allowed_uids" : (table.entries["allowed_gids"] != nil ? "allowed_gids" : nil)
        if uids.isEmpty && gids.isEmpty {
            let problem = "at least one allowed uid or gid is required (allowed_uids / allowed_gids), or nobody could use [\(table.name)]"
            // Every one named is an account that no longer exists: this tenant serves nobody until
            // the file names one that does, the others go on.
            guard let named, warnings.contains(where: { $0.contains("\(table.name).allowed_") }) else { throw error(table, named, problem) }
            warnings.append(error(table, named, "no account it names exists, so nobody can use [\(table.name)] until one does").description)
        }
        return Tenant(
            id: id, displayName: displayName, role: role, socketPath: socketPath, socketMode: socketMode,
            socketGroup: socketGroup, allowedUIDs: Set(uids), allowedGIDs: Set(gids)
        )
    }

    /// The ids `key` lists. A name no account has is left out with a warning, not refused: the
    /// list names clerks, and a clerk's account deleted (`userdel`) must not stop the daemon at
    /// its next start, nor every reload until then.
    private func identities(
        _ key: String, in table: PolicyDocument.Table, kind: String, lookup: (String) -> UInt32?, warnings: inout [String]
    ) throws(ServerConfiguration.FileError) -> [UInt32] {
        guard let entry = table.entries[key] else { return [] }
        guard case .array(let items) = entry.value else {
            throw error(table, key, "must be an array of \(kind) names or numbers, e.g. [\"subsidy-nanhai\", 2101] (got \(entry.value.typeName))")
        }
        var result: [UInt32] = []
        for item in items {
            if case .string(let name) = item, lookup(name) == nil {
                warnings.append(error(table, key, "unknown \(kind) '\(name)' left out (no such account)").description)
                continue
            }
            result.append(try identity(item, key: key, in: table, kind: kind, lookup: lookup))
        }
        return result
    }

    private func identity(
        _ value: PolicyDocument.Value, key: String, in table: PolicyDocument.Table, kind: String, lookup: (String) -> UInt32?
    ) throws(ServerConfiguration.FileError) -> UInt32 {
        switch value {
        case .integer(let number):
            // (uid_t)-1 means "no change" to chown and is nobody's id.
            guard number >= 0 && number < Int64(UInt32.max) else {
                throw error(table, key, "\(number) is not a valid \(kind) id (0…\(UInt32.max - 1))")
            }
            return UInt32(number)
        case .string(let name):
            guard let id = lookup(name) else { throw error(table, key, "unknown \(kind) '\(name)'") }
            return id
        default:
            throw error(table, key, "must be a \(kind) name or number (got \(value.typeName))")
        }
    }

    private func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }

    private func octal(_ mode: UInt32) -> String { "0" + String(mode, radix: 8) }
}

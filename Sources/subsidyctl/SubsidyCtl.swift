import ArgumentParser
import SubsidyClient
import SubsidyCore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

/// `subsidyctl`: the thin command-line client for district bureaus and the city bureau.
@main
struct SubsidyCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subsidyctl",
        abstract: "Client for subsidyd: file and review applications (districts), decide and watch caps (city).",
        discussion: """
            Connect with --socket PATH, or with --data-dir DIR --as TENANT for the layout of
            `subsidyd --dev --data-dir DIR` (TENANT: chancheng, nanhai, shunde, gaoming, sanshui or city).
            The socket: --socket, else $SUBSIDY_SOCKET, else the dev layout under --data-dir.
            Exit status: 0 on success; 1 for a problem on this side (a file that cannot be read or
            written, or a --file that is not JSON); 2 when a batch had refused rows (the rest were done; see its results); 3 when
            `audit verify` finds a broken chain; 10 + the status code when the daemon refused the call
            (13 INVALID_ARGUMENT, 15 NOT_FOUND, 16 ALREADY_EXISTS, 17 PERMISSION_DENIED, 18
            RESOURCE_EXHAUSTED, 19 FAILED_PRECONDITION, 24 UNAVAILABLE: not running or wrong socket, and so on);
            64 for a command line it cannot use. A refusal is printed on stderr (as JSON with --json).
            """,
        version: SubsidyVersion.current,
        subcommands: [
            Health.self, WhoAmI.self, Services.self,
            ApplicantCommand.self, Submit.self, Show.self, List.self, Search.self, Amend.self, Withdraw.self, Review.self, Quote.self,
            Approve.self, Reject.self, Publicize.self, Disburse.self, Revoke.self, Recover.self,
            Quota.self, Export.self, Events.self, Pool.self, Import.self, Audit.self, Admin.self, Programmes.self, Catalogue.self, CallCommand.self,
        ]
    )

    /// Global options may also stand before the command (`subsidyctl --as nanhai list`), as the
    /// README shows; ArgumentParser wants them after it, so they are moved there.
    static func main() async {
        let arguments = GlobalOptions.hoisted(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Connection and output options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Path of the subsidyd socket to use.")
    var socket: String?

    @Option(name: .customLong("data-dir"), help: "Data directory of a `subsidyd --dev` daemon (with --as; default ./subsidyd-data when it exists).")
    var dataDirectory: String?

    /// The dev layout's data directory: --data-dir, else ./subsidyd-data.
    var dataDir: String { dataDirectory ?? "./subsidyd-data" }

    @Option(name: .customLong("as"), help: "Tenant to act as with --data-dir: a district id or city (or its Chinese name: 南海, 南海区, 市).")
    var tenant: String = "city"

    mutating func validate() throws {
        // A clerk types the district's name: 南海 or 南海区 is nanhai, 市 or 市局 the city.
        if let district = districtID(tenant) {
            tenant = district.rawValue
        } else if ["市", "市局", "佛山市"].contains(tenant) {
            tenant = "city"
        }
        guard tenant == "city" || DistrictID(rawValue: tenant) != nil else {
            throw ValidationError(
                "unknown tenant \"\(tenant)\" for --as; use one of \((DistrictID.allCases.map(\.rawValue) + ["city"]).joined(separator: ", ")) "
                    + "(or \(DistrictID.allCases.map(\.displayName).joined(separator: ", ")), 市)")
        }
    }

    @Flag(name: .customLong("json"), help: "Print responses as JSON (the protos' JSON mapping); the same as --output json.")
    var jsonFlag = false

    @Option(help: "table (aligned, with a header), json (the protos' JSON mapping) or csv (a listing as CSV with a BOM, for Excel).")
    var output: OutputFormat?

    @Flag(help: "Show times in UTC (default: the time zone in TZ, else China Standard Time, without a Z).")
    var utc = false

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case table, json, csv }

    /// Whether responses (and errors) are JSON.
    var json: Bool { jsonFlag || output == .json }

    @Option(help: "Deadline for the call, in milliseconds.")
    var timeoutMs: Int64 = 30_000

    @Option(help: "Act on this day (YYYY-MM-DD), for rehearsing on programmes that have ended: only a `subsidyd --dev` daemon takes it. Decision dates default to it (a quote's: its programme's last day).")
    var today: String?

    /// Today for a decision date left out: --today, else today in China.
    var decisionDay: String { today ?? todayInChina() }

    /// Metadata sent with every call: the day a rehearsal acts on.
    private var callMetadata: [String: String] { today.map { ["x-today": $0] } ?? [:] }

    /// Options that take a value, and flags, that may precede the command name.
    private static let valued: Set<String> = ["--socket", "--data-dir", "--as", "--timeout-ms", "--output", "--today"]
    private static let flags: Set<String> = ["--json", "--utc"]

    static func hoisted(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let word = arguments[index]
            let name = String(word.prefix { $0 != "=" })
            if flags.contains(word) {
                leading.append(word)
                index += 1
            } else if valued.contains(name) {
                leading.append(word)
                if !word.contains("="), index + 1 < arguments.count { leading.append(arguments[index + 1]); index += 1 }
                index += 1
            } else {
                break
            }
        }
        guard index < arguments.count, !leading.isEmpty else { return arguments }
        // Options belong to the leaf command: after `applicant register`, not after `applicant`.
        var end = index + 1
        if ["applicant", "pool", "audit", "admin", "catalogue", "call"].contains(arguments[index]), end < arguments.count, !arguments[end].hasPrefix("-") { end += 1 }
        return Array(arguments[index..<end]) + leading + arguments[end...]
    }

    /// Where the socket came from, for a message that says what to change.
    enum SocketSource: CustomStringConvertible {
        case option, environment
        case configuration(String)
        case development

        var description: String {
            switch self {
            case .option: "--socket"
            case .environment: "SUBSIDY_SOCKET"
            case .configuration(let file): "socket = … in \(file)"
            case .development: "the dev layout"
            }
        }
    }

    /// The client configuration files, first found wins: `SUBSIDY_CONFIG`, then the user's,
    /// then the machine's. A line `socket = /run/subsidyd/district/nanhai.sock` names the socket.
    static var configurationFiles: [String] {
        var files: [String] = []
        if let explicit = getenv("SUBSIDY_CONFIG").map({ String(cString: $0) }), !explicit.isEmpty { files.append(explicit) }
        let home = getenv("XDG_CONFIG_HOME").map { String(cString: $0) } ?? getenv("HOME").map { String(cString: $0) + "/.config" }
        if let home { files.append(home + "/subsidyctl/config") }
        files.append("/etc/subsidyd/subsidyctl.conf")
        return files
    }

    /// The socket: --socket, else `SUBSIDY_SOCKET`, else a client configuration file's `socket`,
    /// else the dev layout — but only with --data-dir or a ./subsidyd-data that exists, never
    /// silently in a deployment.
    func resolvedSocket() -> (path: String, source: SocketSource)? {
        if let socket { return (socket, .option) }
        if let environment = getenv("SUBSIDY_SOCKET").map({ String(cString: $0) }), !environment.isEmpty { return (environment, .environment) }
        if dataDirectory == nil {
            for file in Self.configurationFiles {
                guard let text = try? readText(path: file) else { continue }
                for line in text.split(separator: "\n") {
                    let parts = line.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
                    if parts.count == 2, parts[0] == "socket", !parts[1].isEmpty { return (String(parts[1].drop { $0 == "\"" }.reversed().drop { $0 == "\"" }.reversed()), .configuration(file)) }
                }
            }
            guard access(dataDir, F_OK) == 0 else { return nil }
        }
        return (DevelopmentLayout.socketPath(dataDirectory: dataDir, tenant: tenant), .development)
    }

    /// The socket to connect to, or UNAVAILABLE saying how to name one.
    func socketPath() throws(SubsidyError) -> String {
        guard let (path, _) = resolvedSocket() else {
            throw SubsidyError(
                .unavailable,
                "no socket given: pass --socket PATH, set SUBSIDY_SOCKET, or write socket = PATH in \(Self.configurationFiles.dropFirst(getenv("SUBSIDY_CONFIG") == nil ? 0 : 1).first ?? "~/.config/subsidyctl/config") "
                    + "(a deployment's sockets are under /run/subsidyd; a dev daemon's: --data-dir DIR --as TENANT)")
        }
        return path
    }

    var timeout: Duration { .milliseconds(timeoutMs) }

    /// `error` with what to do next, where the cause is on this side of the socket: no daemon,
    /// the wrong socket, a peer the daemon does not admit (an unknown tenant is refused before:
    /// ``validate()``).
    private func explained(_ error: SubsidyError) -> SubsidyError {
        guard error.code == .unavailable, let (path, source) = resolvedSocket() else { return error }
        let chosen = if case .development = source { "--data-dir \(dataDir) --as \(tenant)" } else { source.description }
        let hint: String
        if error.message.contains("cannot connect"), error.message.contains("errno: 2)") {
            hint = "no socket at \(path) (from \(chosen)): is subsidyd running, and is this its socket?"
        } else if error.message.contains("cannot connect"), error.message.contains("errno: 13)") {
            hint = "no permission to connect to \(path): uid \(getuid()) is not in the socket's group (the tenant's socket_group in the daemon's configuration)"
        } else if error.message.contains("cannot connect"), error.message.contains("errno: 111)") {
            hint = "nothing listens on \(path): subsidyd is not running (the socket file is stale)"
        } else if error.message.contains("connection lost") || error.message.contains("connection closed") {
            hint = "the daemon closed the connection to \(path); it closes, before any reply, the peers its configuration does not admit "
                + "(you are uid \(getuid()), gid \(getgid()): the tenant's allowed_uids / allowed_gids must list one of them), and it logs why"
        } else {
            return error
        }
        return SubsidyError(error.code, hint + " — " + error.message, details: error.details)
    }

    /// Runs `body` with a connected client and turns a failed status into exit code 1.
    /// - Parameter retrying: the request id of a mutating call, printed on failure so the caller
    ///   can retry safely (the daemon returns the first result of an id it has seen).
    func withClient<T>(retrying requestID: String? = nil, _ body: (ClientConnection) async throws(SubsidyError) -> T) async throws -> T {
        do throws(SubsidyError) {
            let client = try await ClientConnection.connect(unixSocketPath: try socketPath(), metadata: callMetadata)
            defer { Task { await client.close() } }
            return try await body(client)
        } catch {
            let error = explained(error)
            printError(error, json: json)
            if !json, let requestID, [.unavailable, .deadlineExceeded, .internal, .unknown, .cancelled].contains(error.code) {
                note("retry safely with: --request-id \(requestID)")
            }
            throw ExitCode(ExitStatus.of(error.code))
        }
    }

    /// Runs `body` with a connected client; a refusal that ends it is printed and returned, so
    /// the caller can write what it has before it exits.
    func connected(_ body: (ClientConnection) async throws(SubsidyError) -> Void) async -> SubsidyError? {
        do throws(SubsidyError) {
            let client = try await ClientConnection.connect(unixSocketPath: try socketPath(), metadata: callMetadata)
            defer { Task { await client.close() } }
            try await body(client)
            return nil
        } catch {
            let error = explained(error)
            printError(error, json: json)
            return error
        }
    }

    /// Prints a response: JSON with --json, otherwise `human` (or JSON when it has no text form).
    func emit(_ message: some ProtoMessage, human: String? = nil) {
        if json || human == nil {
            print(message.jsonValue.serialized(pretty: true))
        } else if let human {
            print(human)
        }
    }

    /// Prints a listing: `table` aligned (with `footer` below it), as CSV for Excel with
    /// --output csv, or `message` as JSON.
    func emit(_ message: some ProtoMessage, table: TextTable, footer: String = "", empty: String = prefersChinese() ? "无" : "nothing to show") {
        switch output ?? (jsonFlag ? .json : .table) {
        case .json: print(message.jsonValue.serialized(pretty: true))
        case .csv:
            var document = CSVDocument(header: table.columns.map(\.title))
            document.rows = table.csvRows
            try? writeFile(document.bytes, to: "-")
            // Not in the file, but not lost: "(more: --page-token …)" says the list goes on.
            if !footer.isEmpty { note(footer) }
        case .table:
            print([table.rows.isEmpty ? empty : table.rendered(), footer].filter { !$0.isEmpty }.joined(separator: "\n"))
        }
    }

    /// The footer of a listing's page when more follow: how to read the next one ("" on the last).
    func morePages(_ token: String) -> String {
        token.isEmpty ? "" : prefersChinese() ? "（未完，下一页：--page-token \(token)）" : "(more: --page-token \(token))"
    }

    /// A daemon time (RFC 3339 UTC) as a clerk reads it: in the time zone of TZ, else China
    /// Standard Time, `2026-12-04 13:39:23`; in UTC with --utc.
    func time(_ stamp: String) -> String { utc ? stamp : localTime(stamp) }
}

extension TextTable {
    /// The rows as CSV cells. Left-aligned columns hold codes and names (a USCC must not become
    /// 9.14406E+17); right-aligned ones amounts and counts, written as the plain numbers the
    /// exports write (`375000.00`, not the `375,000.00` grouped for the eye, which Excel takes
    /// for text), anything else in them (—, 46.7%) as text.
    var csvRows: [[CSVDocument.CSVCell]] {
        rows.map { row in
            row.enumerated().map { index, cell in
                guard index < columns.count, columns[index].alignment == .right else { return .identifier(cell) }
                let plain = cell.filter { $0 != "," }
                return plain.wholeMatch(of: /-?[0-9]+(\.[0-9]+)?/) != nil ? .number(plain) : .text(cell)
            }
        }
    }
}

/// A district as a clerk types it, wherever subsidyctl takes one (`--as`, `--district`, an
/// import's district column): its id (`nanhai`), or its Chinese name with or without 区 (南海区,
/// 南海). Nil for anything else, which the caller refuses or the daemon names.
func districtID(_ text: String) -> DistrictID? {
    DistrictID(rawValue: text) ?? DistrictID.allCases.first { text == $0.displayName || text + "区" == $0.displayName }
}

/// A tenant as a Chinese table names it: a district's name (南海区), the city as 市局.
func tenantName(_ tenant: String) -> String { tenant == "city" ? "市局" : districtName(tenant) }

/// subsidyctl's exit statuses (`subsidyctl --help` lists them).
enum ExitStatus {
    /// A batch with refused rows: the others were done.
    static let partialBatch: Int32 = 2
    /// `audit verify` found a broken chain.
    static let auditBroken: Int32 = 3
    /// A call the daemon refused: 10 + its status code, so scripts can tell NOT_FOUND (15) from
    /// FAILED_PRECONDITION (19) or a daemon that is not running (UNAVAILABLE, 24).
    static func of(_ code: SubsidyError.Code) -> Int32 { 10 + code.rawValue }
}

/// Prints `error` on stderr: one line (and the details that add to it), or with `json` the
/// protos' JSON of its `Status`.
func printError(_ error: SubsidyError, json: Bool = false) {
    if json {
        note("{\"error\": " + Foshan_Subsidy_V1_Status(error).jsonValue.serialized(pretty: false) + "}")
        return
    }
    if prefersChinese() {
        printErrorInChinese(error)
        return
    }
    var text = "error: \(error.code): \(error.message)\n"
    // A detail that only repeats the message is left out: one error, one line.
    for detail in error.details {
        switch detail {
        case let .field(path, problem) where !error.message.contains(problem): text += "  field \(path): \(problem)\n"
        case let .capExhausted(capID, scope, limit, committed, requested) where !error.message.contains(capID):
            text += "  cap \(capID) [\(scope)]: limit \(limit), committed \(committed), requested \(requested)\n"
        case let .precondition(subject, problem) where !error.message.contains(problem): text += "  \(subject): \(problem)\n"
        default: break
        }
    }
    if let hint = flagHint(error) { text += "  (\(hint))\n" }
    standardErrorShown(text)
}

/// The daemon's fields a refusal may tell the caller to give or change, and the flag that gives
/// each here: its message names the protocol's field (`request.late_reason`), which a clerk at
/// this command line types as `--late-reason`.
private let flagsOfFields: [(field: String, flag: String)] = [
    ("late_reason", "--late-reason"), ("decision_date", "--decision-date"), ("case_amount_fen", "--case-amount (in yuan)"),
    ("decision_document", "--document"), ("request_id", "--request-id"), ("review_date", "--review-date"),
    ("contract_amount_fen", "--contract-amount (in yuan)"), ("paid_amount_fen", "--paid-amount (in yuan)"),
    ("invested_amount_fen", "--invested-amount (in yuan)"), ("declared_revenue_fen", "--declared-revenue (in yuan)"),
]

/// "with subsidyctl: --late-reason" for the fields `error` names whose flag is spelled otherwise.
func flagHint(_ error: SubsidyError) -> String? {
    var paths = [error.message]
    for detail in error.details {
        if case .field(let path, let problem) = detail { paths += [path, problem] }
        if case .precondition(let subject, let problem) = detail { paths += [subject, problem] }
    }
    let flags = flagsOfFields.filter { field, _ in
        paths.contains { text in
            // The field of a request, as a word: `request.late_reason`, `application.paid_amount_fen`
            // or a bare subject (`case_amount_fen: …`), not `late_reasons`, nor a file's column of
            // that name (`csv: … decision_date …`).
            text.ranges(of: field).contains { range in
                let after = text[range.upperBound...].first
                let path = text[..<range.lowerBound]
                return (after.map { !($0.isLetter || $0.isNumber || $0 == "_") } ?? true)
                    && (path.isEmpty || path.hasSuffix("request.") || path.hasSuffix("application."))
            }
        }
    }.map(\.flag)
    return flags.isEmpty ? nil : (prefersChinese() ? "命令行参数：" : "with subsidyctl: ") + flags.joined(separator: ", ")
}

/// Reads a whole file (a JSON request), or standard input for "-".
func readText(path: String) throws -> String {
    var bytes = try readBytes(path: path)
    // Notepad's "UTF-8 with BOM": the mark is not part of the text (RFC 8259 lets a parser skip it).
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
    guard let text = String(validating: bytes, as: UTF8.self) else { throw LocalError("\(path): not UTF-8") }
    return text
}

/// The JSON document in the file at `path` (standard input for "-"). Text that is not JSON is a
/// problem of the file on this side, not a refusal: a ``LocalError`` (exit 1) naming the file,
/// and the line and column where the parser stopped (its error counts bytes).
func readJSON(path: String) throws -> JSONValue {
    let text = try readText(path: path)
    do throws(SubsidyError) {
        return try JSONValue.parse(text)
    } catch {
        let name = path == "-" ? "standard input" : path
        // The parser's problem, "expected a member name at byte 28": the byte becomes a line and
        // a column (in characters, as an editor counts them).
        let problem = error.details.lazy.compactMap { detail -> String? in
            if case .field(_, let problem) = detail { problem } else { nil }
        }.first ?? error.message
        guard let at = problem.firstRange(of: " at byte "), let offset = Int(problem[at.upperBound...]) else {
            throw LocalError("\(name): not JSON: \(problem)")
        }
        let before = Array(text.utf8.prefix(offset))
        let lineStart = (before.lastIndex(of: 0x0A) ?? -1) + 1
        let line = before.count { $0 == 0x0A } + 1
        let column = String(decoding: before[lineStart...], as: UTF8.self).count + 1
        throw LocalError("\(name) line \(line), column \(column): not JSON: \(problem[..<at.lowerBound])")
    }
}

/// A fresh request id for a mutating call (retries of one invocation reuse it).
func newRequestID() -> String {
    var random = SystemRandomNumberGenerator()
    return (0..<4).map { _ in String(random.next() as UInt32, radix: 16) }.joined(separator: "-")
}

/// A refusal for a reader whose locale is Chinese: what kind of refusal, then its typed details
/// (the cap with its limit, use and request in yuan; the rule; the field) in Chinese. The
/// daemon's own message, which names the rule precisely, follows in English.
private func printErrorInChinese(_ error: SubsidyError) {
    let kinds: [SubsidyError.Code: String] = [
        .invalidArgument: "请求有误", .notFound: "未找到", .alreadyExists: "已存在", .permissionDenied: "无权操作",
        .resourceExhausted: "额度不足或请求过多", .failedPrecondition: "不符合条件", .unavailable: "无法连接服务",
        .deadlineExceeded: "超时", .internal: "服务内部错误", .dataLoss: "数据损坏",
    ]
    var text = "错误：\(kinds[error.code] ?? error.code.description)（\(error.code)）\n"
    for detail in error.details {
        switch detail {
        case let .field(path, problem): text += "  字段 \(path)：\(problem)\n"
        case let .capExhausted(capID, scope, limit, committed, requested):
            // Count caps are in awards; every other cap in yuan.
            func amount(_ value: Int64) -> String { capID.hasSuffix("count") ? "\(value) 项" : yuan(value) + " 元" }
            text += "  额度 \(capID) [\(scope)]：上限 \(amount(limit))，已使用 \(amount(committed))，本次申请 \(amount(requested))，"
                + "剩余 \(amount(max(0, limit - committed)))\n"
        case let .precondition(subject, problem): text += "  条件 \(subject)：\(problem)\n"
        }
    }
    text += "  \(error.message)\n"
    if let hint = flagHint(error) { text += "  （\(hint)）\n" }
    standardErrorShown(text)
}

/// The page tokens a listing has followed. A daemon that hands back a token already followed
/// would have the listing read the same pages for ever: that stops it, with an error.
struct PageTokens {
    private var followed: Set<String>

    init(starting token: String = "") {
        followed = token.isEmpty ? [] : [token]
    }

    /// `token` to follow next (empty: the last page was read), or INTERNAL if it was followed before.
    mutating func next(_ token: String) throws(SubsidyError) -> String {
        guard !token.isEmpty else { return token }
        guard followed.insert(token).inserted else {
            throw SubsidyError(.internal, "the daemon returned page token \(token.prefix(64)) a second time; stopped rather than read the same pages again")
        }
        return token
    }
}

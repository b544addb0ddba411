import Foundation
import SubsidyCore
import Testing

@Suite("Policy loading")
struct PolicyLoadingTests {
    @Test("the shipped policy loads with every number of RULES.md")
    func shippedPolicy() throws {
        let text = try Fixtures.policyText()
        let policy = try Policy.load(text: text, name: "foshan-2020")
        #expect(policy.version == "foshan-2020@" + HexDigest.sha256(text.utf8).prefix(12))
        #expect(policy.version.count == "foshan-2020@".count + 12)
        #expect(policy.validFrom.description == "2020-07-17")
        #expect(policy.validThrough.description == "2023-12-31")
        #expect(policy.fundingYears == 2020...2023)
        #expect(policy.allowPartialAwards)
        #expect(policy.publicityDays == 7)
        // Every measure of the 2020 text; the later programmes' measures are theirs.
        #expect(Set(policy.rules.keys) == Set(Measure.allCases.prefix(11)))

        let voucher = try policy.rule(for: .cloudVoucher)
        #expect(voucher.rate == Rate(basisPoints: 5_000))
        #expect(voucher.localities == [.local])
        #expect(voucher.caps.map(\.id) == ["CLOUD_VOUCHER.per_enterprise", "CLOUD_VOUCHER.per_provider", "CLOUD_VOUCHER.annual_budget"])
        #expect(voucher.caps.map(\.limit) == [.amount(Money(yuan: 500_000)), .amount(Money(yuan: 3_000_000)), .amount(Money(yuan: 20_000_000))])
        #expect(voucher.caps.map(\.subject) == [.applicant, .provider, .city])

        let pool = try policy.rule(for: .poolEntry)
        #expect(pool.amount == Money(yuan: 100_000))
        #expect(pool.provincialPoolBonus == Money(yuan: 100_000))
        #expect(pool.caps.map(\.limit) == [.count(1), .count(40)])

        let benchmark = try policy.rule(for: .benchmarkProject)
        #expect(benchmark.rate == Rate(basisPoints: 3_000))
        #expect(benchmark.perProjectCap == Money(yuan: 3_000_000))
        #expect(benchmark.combinedUpperLevelRate == Rate(basisPoints: 5_000))
        #expect(benchmark.caps.map(\.limit) == [.count(30)])

        let node = try policy.rule(for: .identifierNode)
        #expect(node.perProjectCap == Money(yuan: 2_000_000))
        #expect(node.caps.map(\.limit) == [.amount(Money(yuan: 6_000_000))])

        #expect(try policy.rule(for: .crossIndustryPlatform).amount == Money(yuan: 2_000_000))
        #expect(try policy.rule(for: .clusterPilot).amount == Money(yuan: 1_000_000))
        let followOn = try policy.rule(for: .clusterPilotFollowOn)
        #expect(followOn.amount == Money(yuan: 2_000_000))
        #expect(followOn.followOn == MeasureRule.FollowOn(minServedEnterprises: 15, windowYears: 2, decisionWithinWindow: true))
        #expect(try policy.rule(for: .demoBase).perProjectCap == Money(yuan: 5_000_000))
        #expect(try policy.rule(for: .publicService).caps.map(\.limit) == [.amount(Money(yuan: 500_000)), .amount(Money(yuan: 5_000_000))])
        #expect(try policy.rule(for: .majorPlatform).caps.isEmpty)
        #expect(policy.caps.count == 12)
        #expect(policy.publicityEnds(publicisedOn: Fixtures.date("2022-09-01"))?.description == "2022-09-08")
    }

    @Test("the version changes with any change to the text, comments included")
    func versionIsContentHash() throws {
        let text = try Fixtures.policyText()
        let a = try Policy.load(text: text, name: "foshan-2020")
        let b = try Policy.load(text: text + "\n# amended\n", name: "foshan-2020")
        #expect(a.version != b.version)
    }

    static let minimal = """
        # test policy
        [policy]
        title = "t"
        issuer = "i"
        valid_from = 2020-07-17
        valid_through = 2023-12-31
        first_funding_year = 2020
        last_funding_year = 2023
        allow_partial_awards = true
        publicity_days = 7

        [measure.CLOUD_VOUCHER]
        article = "一"
        localities = ["local"]
        applicant_roles = ["industrial_enterprise"]
        rate_bp = 5000

        [measure.CLOUD_VOUCHER.cap.per_enterprise]
        subject = "applicant"
        period = "funding_year"
        limit_yuan = 500_000
        """

    @Test("the minimal policy used below is itself valid")
    func minimalLoads() throws {
        let policy = try Policy.load(text: Self.minimal, name: "test")
        #expect(policy.caps.map(\.id) == ["CLOUD_VOUCHER.per_enterprise"])
        #expect(try Policy.load(text: Self.minimal.replacingOccurrences(of: "\n", with: "\r\n"), name: "test").caps.count == 1)
    }

    struct Mistake: Sendable, CustomStringConvertible {
        let name: String
        let old: String
        let new: String
        let line: Int?
        let key: String?
        let problem: String
        var description: String { name }
    }

    static let mistakes: [Mistake] = [
        Mistake(name: "missing key", old: "rate_bp = 5000\n", new: "\n", line: 12, key: "measure.CLOUD_VOUCHER.rate_bp", problem: "missing key"),
        Mistake(name: "negative amount", old: "limit_yuan = 500_000", new: "limit_yuan = -500_000",
                line: 21, key: "measure.CLOUD_VOUCHER.cap.per_enterprise.limit_yuan", problem: "must be > 0 (got -500000)"),
        Mistake(name: "zero rate", old: "rate_bp = 5000", new: "rate_bp = 0",
                line: 16, key: "measure.CLOUD_VOUCHER.rate_bp", problem: "must be 1–10000 basis points (0.01%–100%) (got 0)"),
        Mistake(name: "rate above 100%", old: "rate_bp = 5000", new: "rate_bp = 10001",
                line: 16, key: "measure.CLOUD_VOUCHER.rate_bp", problem: "(got 10001)"),
        Mistake(name: "bad type: string for integer", old: "rate_bp = 5000", new: "rate_bp = \"5000\"",
                line: 16, key: "measure.CLOUD_VOUCHER.rate_bp", problem: "must be an integer (got a string)"),
        Mistake(name: "bad type: string for boolean", old: "allow_partial_awards = true", new: "allow_partial_awards = \"yes\"",
                line: 9, key: "policy.allow_partial_awards", problem: "must be true or false (got a string)"),
        Mistake(name: "bad type: integer for date", old: "valid_from = 2020-07-17", new: "valid_from = 20200717",
                line: 5, key: "policy.valid_from", problem: "must be a date (YYYY-MM-DD) (got an integer)"),
        Mistake(name: "fraction", old: "rate_bp = 5000", new: "rate_bp = 50.5",
                line: 16, key: "measure.CLOUD_VOUCHER.rate_bp", problem: "'50.5' is not an integer"),
        Mistake(name: "unknown measure", old: "[measure.CLOUD_VOUCHER]", new: "[measure.CLOUD_VOUCHERS]",
                line: 12, key: "measure.CLOUD_VOUCHERS", problem: "unknown measure 'CLOUD_VOUCHERS'"),
        Mistake(name: "unknown key (a typo)", old: "rate_bp = 5000", new: "rate_bps = 5000",
                line: 16, key: "measure.CLOUD_VOUCHER.rate_bps", problem: "unknown key for this table"),
        Mistake(name: "key of another measure", old: "rate_bp = 5000", new: "rate_bp = 5000\namount_yuan = 1",
                line: 17, key: "measure.CLOUD_VOUCHER.amount_yuan", problem: "unknown key for this table"),
        Mistake(name: "unknown table", old: "[measure.CLOUD_VOUCHER.cap.per_enterprise]", new: "[measure.CLOUD_VOUCHER.caps.per_enterprise]",
                line: 18, key: "measure.CLOUD_VOUCHER.caps.per_enterprise", problem: "unknown table"),
        Mistake(name: "bad date", old: "valid_through = 2023-12-31", new: "valid_through = 2023-02-30",
                line: 6, key: "policy.valid_through", problem: "bad date: '2023-02-30': day 30 does not exist in 2023-02"),
        Mistake(name: "badly written date", old: "valid_from = 2020-07-17", new: "valid_from = 2020-7-17",
                line: 5, key: "policy.valid_from", problem: "'2020-7-17' is not an integer, a date or a keyword"),
        Mistake(name: "window backwards", old: "valid_through = 2023-12-31", new: "valid_through = 2020-07-16",
                line: 6, key: "policy.valid_through", problem: "2020-07-16 is before valid_from 2020-07-17"),
        Mistake(name: "funding year outside the window", old: "first_funding_year = 2020", new: "first_funding_year = 2019",
                line: 7, key: "policy.first_funding_year", problem: "must be a year within the validity window (got 2019)"),
        Mistake(name: "duplicate key", old: "rate_bp = 5000", new: "rate_bp = 5000\nrate_bp = 4000",
                line: 17, key: "measure.CLOUD_VOUCHER.rate_bp", problem: "duplicate key (first set on line 16)"),
        Mistake(name: "duplicate table", old: "[measure.CLOUD_VOUCHER.cap.per_enterprise]", new: "[measure.CLOUD_VOUCHER]",
                line: 18, key: "measure.CLOUD_VOUCHER", problem: "table [measure.CLOUD_VOUCHER] is defined twice"),
        Mistake(name: "syntax error: no '='", old: "rate_bp = 5000", new: "rate_bp 5000",
                line: 16, key: nil, problem: "expected '=' after key 'rate_bp'"),
        Mistake(name: "syntax error: unterminated string", old: "title = \"t\"", new: "title = \"t",
                line: 3, key: "policy.title", problem: "unterminated string"),
        Mistake(name: "syntax error: unclosed header", old: "[policy]", new: "[policy",
                line: 2, key: "policy", problem: "expected ']'"),
        Mistake(name: "syntax error: trailing garbage", old: "publicity_days = 7", new: "publicity_days = 7 days",
                line: 10, key: "policy.publicity_days", problem: "unexpected 'days' after the value"),
        Mistake(name: "syntax error: dotted key", old: "rate_bp = 5000", new: "cap.rate_bp = 5000",
                line: 16, key: nil, problem: "dotted keys are not supported"),
        Mistake(name: "unknown cap subject", old: "subject = \"applicant\"", new: "subject = \"enterprise\"",
                line: 19, key: "measure.CLOUD_VOUCHER.cap.per_enterprise.subject",
                problem: "unknown value 'enterprise' (expected one of 'applicant', 'provider', 'pilot', 'city')"),
        Mistake(name: "cap with two limits", old: "limit_yuan = 500_000", new: "limit_yuan = 500_000\nlimit_count = 3",
                line: 22, key: "measure.CLOUD_VOUCHER.cap.per_enterprise.limit_count", problem: "not both"),
        Mistake(name: "cap with no limit", old: "limit_yuan = 500_000", new: "",
                line: 18, key: "measure.CLOUD_VOUCHER.cap.per_enterprise.limit_yuan", problem: "missing key"),
        Mistake(name: "unknown locality", old: "localities = [\"local\"]", new: "localities = [\"foshan\"]",
                line: 14, key: "measure.CLOUD_VOUCHER.localities", problem: "unknown value 'foshan'"),
        Mistake(name: "empty locality list", old: "localities = [\"local\"]", new: "localities = []",
                line: 14, key: "measure.CLOUD_VOUCHER.localities", problem: "must not be empty"),
        Mistake(name: "locality listed twice", old: "localities = [\"local\"]", new: "localities = [\"local\", \"local\"]",
                line: 14, key: "measure.CLOUD_VOUCHER.localities", problem: "'local' is listed twice"),
        Mistake(name: "key outside any table", old: "# test policy", new: "rate_bp = 1",
                line: 1, key: "rate_bp", problem: "key outside any table"),
        Mistake(name: "integer out of range", old: "limit_yuan = 500_000", new: "limit_yuan = 92233720368547759",
                line: 21, key: "measure.CLOUD_VOUCHER.cap.per_enterprise.limit_yuan", problem: "out of range"),
        Mistake(name: "provider cap on a measure without providers", old: "[measure.CLOUD_VOUCHER]\narticle = \"一\"\nlocalities = [\"local\"]\napplicant_roles = [\"industrial_enterprise\"]\nrate_bp = 5000\n\n[measure.CLOUD_VOUCHER.cap.per_enterprise]\nsubject = \"applicant\"",
                new: "[measure.PUBLIC_SERVICE]\narticle = \"七\"\nlocalities = [\"local\"]\napplicant_roles = [\"institution\"]\nrate_bp = 5000\n\n[measure.PUBLIC_SERVICE.cap.per_enterprise]\nsubject = \"provider\"",
                line: 19, key: "measure.PUBLIC_SERVICE.cap.per_enterprise.subject", problem: "'provider' caps exist only for CLOUD_VOUCHER"),
    ]

    @Test("a mistake names its key and line", arguments: mistakes)
    func mistake(_ mistake: Mistake) {
        #expect(Self.minimal.contains(mistake.old))
        let text = Self.minimal.replacingOccurrences(of: mistake.old, with: mistake.new)
        do {
            _ = try Policy.load(text: text, name: "test")
            Issue.record("accepted")
        } catch {
            #expect(error.line == mistake.line, "\(error)")
            #expect(error.key == mistake.key, "\(error)")
            #expect(error.problem.contains(mistake.problem), "\(error)")
            #expect(error.description.hasPrefix("test:\(mistake.line.map(String.init) ?? "")"))
        }
    }

    @Test("problems without a line still name the key")
    func missingTables() {
        #expect(throws: PolicyError(policyName: "test", line: nil, key: "policy", problem: "missing table [policy]")) {
            try Policy.load(text: "[measure.POOL_ENTRY]\narticle = \"一\"\n", name: "test")
        }
        let noMeasures = Self.minimal.components(separatedBy: "[measure.CLOUD_VOUCHER]")[0]
        #expect(throws: PolicyError(policyName: "test", line: nil, key: "measure", problem: "the policy offers no measure (add [measure.<MEASURE>] tables)")) {
            try Policy.load(text: noMeasures, name: "test")
        }
        #expect(throws: PolicyError.self) { try Policy.load(text: Self.minimal, name: "Foshan 2020") }
        #expect(throws: PolicyError.self) { try Policy.load(text: Self.minimal, name: "2020") }
    }

    @Test("a cap table needs its measure table first")
    func capBeforeMeasure() {
        let text = Self.minimal.replacingOccurrences(of: "[measure.CLOUD_VOUCHER.cap.per_enterprise]", with: "[measure.PUBLIC_SERVICE.cap.per_enterprise]")
        #expect(throws: PolicyError(policyName: "test", line: 18, key: "measure.PUBLIC_SERVICE.cap.per_enterprise",
                                    problem: "cap table before its measure table [measure.PUBLIC_SERVICE]")) {
            try Policy.load(text: text, name: "test")
        }
    }

    @Test("strings: escapes, comments after values, a '#' inside a string")
    func strings() throws {
        let text = Self.minimal.replacingOccurrences(of: "title = \"t\"", with: #"title = "a \"b\" \u4F5B #c"  # comment"#)
        #expect(try Policy.load(text: text, name: "test").title == "a \"b\" 佛 #c")
    }
}

@Suite("policy name")
struct PolicyNameTests {
    @Test("the name declared in the file wins over the file's path, so renaming it cannot reset once-only caps")
    func declaredName() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Deploy/policy/foshan-2020.toml")
        let text = try String(contentsOf: url, encoding: .utf8)
        let policy = try Policy.load(text: text, name: "foshan-2020-rev1")
        #expect(policy.name == "foshan-2020")
        #expect(policy.version.hasPrefix("foshan-2020@"))
    }
}

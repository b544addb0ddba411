import Foundation
import SubsidyCore
import SubsidyTestRandom
import Testing
@testable import SubsidyStore

/// What the district store keeps is the core's application and a typed explanation, in its own
/// encoding: every field comes back, and a value the core would not accept is damaged data.
@Suite("stored content")
struct StoredContentTests {
    /// An application with every field set, from `random`.
    static func everyField(_ random: inout SplitMix64) -> Application {
        let uscc = { (n: Int) in StoreHarness.uscc(n) }
        let base = Int(random.next() % 90_000)
        return Application(
            measure: .clusterPilotFollowOn, fundingYear: FundingYear(2021 + Int(random.next() % 3))!, enterprise: uscc(base),
            enterpriseLocality: [.local, .relocated, .nonLocal][Int(random.next() % 3)], projectName: "集群数字化 \(random.next() % 1000)",
            contractNumber: "HT-\(random.next() % 10_000)", contractAmount: Money(fen: Int64(random.next() % 1_000_000_000)),
            paidAmount: Money(fen: Int64(random.next() % 1_000_000)), provider: uscc(base + 1), investedAmount: Money(fen: 1),
            constructionAmount: Money(fen: 2), totalInvestment: Money(fen: 3), upperLevelSubsidy: Money(fen: 4), upperLevelAwardTotal: Money(fen: 5),
            previousYearServiceSpend: Money(fen: 6), selectionDate: CalendarDate(year: 2022, month: 1 + Int(random.next() % 12), day: 1),
            selectionLevel: [.none, .municipal, .provincial, .national][Int(random.next() % 4)], inProvincialPool: random.next() % 2 == 0,
            recognisedSecondaryNode: random.next() % 2 == 0, pilotID: "P-\(random.next() % 100)",
            servedEnterprises: (0..<Int(random.next() % 20)).map { uscc(base + 10 + $0) }, provincialVoucherEnterprises: [uscc(base + 5)],
            otherFundDeclared: true, otherFundReason: "说明 \u{1F600} \"quoted\" \\ back", caseAmount: Money(fen: 7), decisionDocument: "佛工信〔2022〕1号"
        )
    }

    @Test("every field of an application survives the store's encoding")
    func roundTrip() throws {
        var random = TestSeed.generator("stored content")
        for _ in 0..<200 {
            let application = Self.everyField(&random)
            #expect(try ApplicationContent.decode(ApplicationContent.encode(application)) == application)
            // The same value is always the same bytes.
            #expect(ApplicationContent.encode(application) == ApplicationContent.encode(application))
        }
        let explanation = StoredExplanation(
            awardFen: 1, formulaFen: 2, policyVersion: "foshan-2020@x", rendered: "三十万元",
            limits: [.init(kind: "annual_budget", capID: "cap", scope: "2022", limit: 3, committed: 4, headroom: 5, detail: "d", binding: true)])
        #expect(try StoredExplanation.decode(StoredExplanation.encode(explanation)) == explanation)
        #expect(try StoredExplanation.decode([]) == nil)
    }

    /// Text from the characters JSON writers disagree on: every control character, quotes,
    /// backslashes, slashes, the line separators JavaScript cares about, non-BMP and combining
    /// characters, invisible ones.
    static func awkwardText(_ random: inout SplitMix64) -> String {
        let pool: [String] = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) } + [
            "\u{7F}", "\"", "\\", "/", "\u{2028}", "\u{2029}", "é", "e\u{301}", "佛山", "\u{1F600}", "\u{FEFF}", "\u{200B}", "a", "Z", "0", " ",
        ]
        return (0..<Int(random.next() % 12)).map { _ in random.pick(pool) }.joined()
    }

    static func awkwardInteger(_ random: inout SplitMix64) -> Int64 {
        random.pick([0, 1, -1, .max, .min, Int64(bitPattern: random.next()), Int64(random.next() % 1_000)])
    }

    /// Stored content with awkward text and integers in most fields and each optional present or
    /// absent: not an application the core would accept, only JSON to write and read.
    static func awkwardContent(_ random: inout SplitMix64) -> ApplicationContent {
        var content = ApplicationContent(Self.everyField(&random))
        content.measure = Self.awkwardText(&random)
        content.fundingYear = Int(Self.awkwardInteger(&random))
        content.projectName = Self.awkwardText(&random)
        content.contractNumber = Self.awkwardText(&random)
        content.otherFundReason = Self.awkwardText(&random)
        content.decisionDocument = Self.awkwardText(&random)
        content.pilotID = Self.awkwardText(&random)
        content.contractAmountFen = Self.awkwardInteger(&random)
        content.upperLevelAwardTotalFen = Self.awkwardInteger(&random)
        content.inProvincialPool = random.chance(50)
        content.servedEnterprises = (0..<Int(random.next() % 4)).map { _ in Self.awkwardText(&random) }
        content.provincialVoucherEnterprises = (0..<Int(random.next() % 3)).map { _ in Self.awkwardText(&random) }
        content.provider = random.chance(50) ? Self.awkwardText(&random) : nil
        content.selectionDate = random.chance(50) ? Self.awkwardText(&random) : nil
        content.programme = random.chance(50) ? Self.awkwardText(&random) : nil
        content.grade = random.chance(50) ? Self.awkwardText(&random) : nil
        content.declaredRevenueFen = random.chance(50) ? Self.awkwardInteger(&random) : nil
        return content
    }

    @Test("the store writes JSONEncoder's bytes itself: every field, every kind of character")
    func directJSON() throws {
        var random = TestSeed.generator("direct json")
        for _ in 0..<300 {
            let content = Self.awkwardContent(&random)
            let written = content.json()
            let reference = StoredJSON.encode(content)
            // Compared as bytes (`String ==` would call canonically equivalent spellings equal).
            let same = written == reference
            #expect(same, "\(String(decoding: written, as: UTF8.self)) vs \(String(decoding: reference, as: UTF8.self))")
            #expect(try StoredJSON.decode(ApplicationContent.self, written, what: "content") == content)
            #expect(try ApplicationContent.read(written) == content)

            let explanation = StoredExplanation(
                awardFen: Self.awkwardInteger(&random), formulaFen: Self.awkwardInteger(&random), policyVersion: Self.awkwardText(&random),
                rendered: Self.awkwardText(&random),
                limits: (0..<Int(random.next() % 4)).map { _ in
                    .init(
                        kind: Self.awkwardText(&random), capID: Self.awkwardText(&random), scope: Self.awkwardText(&random),
                        limit: Self.awkwardInteger(&random), committed: Self.awkwardInteger(&random), headroom: Self.awkwardInteger(&random),
                        detail: Self.awkwardText(&random), binding: random.chance(50))
                })
            let explained = explanation.json()
            let explainedReference = StoredJSON.encode(explanation)
            let sameExplanation = explained == explainedReference
            #expect(sameExplanation, "\(String(decoding: explained, as: UTF8.self)) vs \(String(decoding: explainedReference, as: UTF8.self))")
            #expect(try StoredExplanation.decode(explained) == explanation)
        }
    }

    /// `content` as JSON another writer might have produced: keys in any order, white space
    /// between tokens, characters escaped that need not be, absent optionals as `null`, and
    /// keys this version does not know holding every kind of value.
    static func respelled(_ content: ApplicationContent, _ random: inout SplitMix64) -> [UInt8] {
        func quoted(_ text: String, _ random: inout SplitMix64) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "/": out += random.chance(50) ? "\\/" : "/"
                case _ where scalar.value < 0x20 || random.chance(20):
                    // Any character may be written as \u escapes, beyond the BMP as a pair.
                    for unit in String(scalar).utf16 { out += "\\u" + String(format: random.chance(50) ? "%04x" : "%04X", unit) }
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        func space(_ random: inout SplitMix64) -> String { random.pick(["", "", " ", "\n", "\t ", "\r\n  "]) }
        var members: [String] = []
        for child in Mirror(reflecting: content).children {
            guard let label = child.label else { continue }
            var value = child.value
            if Mirror(reflecting: value).displayStyle == .optional {
                guard let wrapped = Mirror(reflecting: value).children.first?.value else {
                    if random.chance(50) { members.append(quoted(label, &random) + space(&random) + ":" + space(&random) + "null") }
                    continue
                }
                value = wrapped
            }
            let text: String
            switch value {
            case let string as String: text = quoted(string, &random)
            case let flag as Bool: text = flag ? "true" : "false"
            case let number as Int64: text = String(number)
            case let number as Int: text = String(number)
            case let list as [String]: text = "[" + list.map { space(&random) + quoted($0, &random) }.joined(separator: ",") + space(&random) + "]"
            default: Issue.record("\(label) has a type the test does not write"); continue
            }
            members.append(quoted(label, &random) + space(&random) + ":" + space(&random) + text)
        }
        for n in 0..<Int(random.next() % 3) {
            let unknown = random.pick(["{}", "[]", "{\"a\":[1,-2.5e+3,{\"b\":null}]}", "-0.125E-2", "12", "\"x\\u00e9\"", "true", "null", "[[],{}]"])
            members.append(quoted("futureField\(n)", &random) + ":" + space(&random) + unknown)
        }
        members.shuffle(using: &random)
        return Array((space(&random) + "{" + members.map { space(&random) + $0 + space(&random) }.joined(separator: ",") + "}" + space(&random)).utf8)
    }

    @Test("the store's JSON reader reads what JSONDecoder reads: any key order, spacing, escapes, nulls, unknown keys")
    func readerAgreesWithJSONDecoder() throws {
        var random = TestSeed.generator("json reader")
        for _ in 0..<200 {
            let content = Self.awkwardContent(&random)
            let bytes = Self.respelled(content, &random)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(try StoredJSON.decode(ApplicationContent.self, bytes, what: "content") == content, "\(text)")
            #expect(try ApplicationContent.read(bytes) == content, "\(text)")
            // As bytes too: `String ==` would take a canonically equivalent spelling as the same.
            #expect(try ApplicationContent.read(bytes).json() == content.json(), "\(text)")
        }
    }

    @Test("the reader's edges: numbers, escapes, literals, duplicate keys, nesting, trailing bytes")
    func readerEdges() throws {
        var random = TestSeed.generator("json reader edges")
        var content = ApplicationContent(Self.everyField(&random))
        content.projectName = "p"
        let good = String(decoding: content.json(), as: UTF8.self)
        func read(_ text: String) throws(SQLiteError) -> ApplicationContent { try ApplicationContent.read(Array(text.utf8)) }
        func replacing(_ old: String, _ new: String) -> String {
            precondition(good.contains(old), old)
            return good.replacingOccurrences(of: old, with: new)
        }
        let integers: [(String, Int64?)] = [
            ("7", 7), ("-0", 0), ("-9223372036854775808", .min), ("9223372036854775807", .max),
            ("9223372036854775808", nil), ("-9223372036854775809", nil), ("-", nil), ("01", nil), ("1.0", nil), ("1e3", nil), ("+1", nil), ("", nil),
        ]
        for (written, value) in integers {
            let text = replacing("\"caseAmountFen\":7", "\"caseAmountFen\":\(written)")
            if let value { #expect(try read(text).caseAmountFen == value, "\(written)") } else { #expect(throws: SQLiteError.self, "\(written)") { try read(text) } }
        }
        let strings: [(String, String?)] = [
            (#""\u00e9""#, "é"), (#""e\u0301""#, "e\u{301}"), (#""\ud83d\ude00""#, "\u{1F600}"), (#""\/\b\f\n\r\t\"\\""#, "/\u{8}\u{C}\n\r\t\"\\"),
            (#""\ud800""#, nil), (#""\udc00""#, nil), (#""\ud83d\u0041""#, nil), (#""\x""#, nil), (#""\u12""#, nil), ("\"a\u{1}\"", nil), ("\"a", nil),
        ]
        for (written, value) in strings {
            let text = replacing("\"projectName\":\"p\"", "\"projectName\":\(written)")
            if let value {
                #expect(try Array(read(text).projectName.utf8) == Array(value.utf8), "\(written)")
            } else {
                #expect(throws: SQLiteError.self, "\(written)") { try read(text) }
            }
        }
        // Not UTF-8 inside a string (JSONDecoder refuses it too; String(decoding:) would repair it).
        let notUTF8 = Array(replacing("\"projectName\":\"p\"", "\"projectName\":\"p\u{7F}q\"").utf8).map { $0 == 0x7F ? 0xFF : $0 }
        #expect(throws: SQLiteError.self) { try ApplicationContent.read(notUTF8) }
        #expect((try? StoredJSON.decode(ApplicationContent.self, notUTF8, what: "content")) == nil)
        let nested = String(repeating: "[", count: 20) + String(repeating: "]", count: 20)
        let accepted = [good + " \n", "\t" + good, replacing("{", "{\"future\":\(nested),"), replacing("{", "{\"grade\":null,")]
        for text in accepted { #expect(try read(text) == content, "\(text.prefix(80))") }
        let refused = [
            good + "x", good + "{}", replacing("{", "{\"measure\":\"BENCHMARK_PROJECT\","), replacing("{", "{\"grade\":null,\"grade\":null,"),
            replacing("{", "{\"future\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + ","),
            replacing("{", "{\"future\":" + String(repeating: "{\"a\":", count: 40) + "1" + String(repeating: "}", count: 40) + ","),
            replacing("\"inProvincialPool\":", "\"inProvincialPool\":tru,\"x\":"), replacing("}", ",}"), replacing("\"measure\"", "measure"),
            replacing("\"measure\":", "\"future\":nul,\"measure\":"),
        ]
        for text in refused {
            #expect(throws: SQLiteError.self, "\(text.prefix(80))") { try read(text) }
        }
        // JSONDecoder takes a repeated key silently; the store's reader calls it damaged.
        let twice = replacing("{", "{\"measure\":\"BENCHMARK_PROJECT\",")
        #expect((try? StoredJSON.decode(ApplicationContent.self, Array(twice.utf8), what: "content")) != nil)
    }

    @Test("damaged JSON is damaged to the store's reader: whatever it accepts, JSONDecoder reads the same")
    func readerRefusesDamage() throws {
        var random = TestSeed.generator("json reader damage")
        let interesting = Array("{}[],:\"\\/ntfu0-.e19aE+\t".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xE4, 0xFF]
        var refused = 0
        for _ in 0..<150 {
            var content = ApplicationContent(Self.everyField(&random))
            content.projectName = Self.awkwardText(&random)
            let good = random.chance(50) ? content.json() : Self.respelled(content, &random)
            for _ in 0..<20 {
                var bad = good
                let at = Int(random.next() % UInt64(bad.count))
                switch random.next() % 4 {
                case 0: bad.removeSubrange(at...)
                case 1: bad[at] = random.pick(interesting)
                case 2: bad.remove(at: at)
                default: bad.insert(random.pick(interesting), at: at)
                }
                let text = String(decoding: bad, as: UTF8.self)
                do {
                    let read = try ApplicationContent.read(bad)
                    // Never more lenient than JSONDecoder (stricter where only a stranger
                    // would write it, e.g. 5.0 for 5), never a different value.
                    #expect(try StoredJSON.decode(ApplicationContent.self, bad, what: "content") == read, "\(text)")
                } catch {
                    #expect(error.isDataLoss, "\(text)")
                    #expect(error.description.contains("application content"))
                    refused += 1
                }
            }
        }
        // Most single-byte damage breaks the document; some (a digit for a digit) does not.
        #expect(refused > 1_500)
    }

    @Test("content the core would not accept is damaged data, never a valid-looking application")
    func damaged() throws {
        var random = TestSeed.generator("stored content")
        let good = String(decoding: ApplicationContent.encode(Self.everyField(&random)), as: UTF8.self)
        let enterprise = try #require(good.firstMatch(of: /"enterprise":"([0-9A-Z]{18})"/)?.1)
        // Any other check character is a wrong one; the seed decides which one the code has.
        let wrongCheck = enterprise.last == "X" ? "0" : "X"
        for bad in [
            "", "{}", "not json", String(good.dropLast()),
            good.replacingOccurrences(of: "\"measure\":\"CLUSTER_PILOT_FOLLOW_ON\"", with: "\"measure\":\"lottery\""),
            good.replacingOccurrences(of: "\"enterprise\":\"\(enterprise)\"", with: "\"enterprise\":\"\(enterprise.dropLast())\(wrongCheck)\""),
            good.replacingOccurrences(of: "\"selectionLevel\":", with: "\"selectionLevel\":\"galactic\",\"x\":"),
        ] {
            #expect(throws: SQLiteError.self, "\(bad.prefix(60))") { try ApplicationContent.decode(Array(bad.utf8)) }
            do {
                _ = try ApplicationContent.decode(Array(bad.utf8))
            } catch {
                #expect(error.isDataLoss)
            }
        }
    }

    @Test("a filed application's record is the one reading it back gives: every field, registered or not")
    func filedRecordIsReadBack() async throws {
        let directory = try TemporaryDirectory()
        let store = try DistrictStore(path: directory.path + "/sanshui.sqlite", district: .sanshui)
        var random = TestSeed.generator("filed record")
        let actor = Actor(tenant: "sanshui", uid: 4_000_000_000)
        let filed = try store.database.writeNow { transaction in
            try (0..<120).map { i in
                var application = Self.everyField(&random)
                application.enterprise = StoreHarness.uscc(900_000 + i)
                application.provider = random.chance(50) ? application.provider : nil
                application.selectionDate = random.chance(50) ? application.selectionDate : nil
                application.programme = random.chance(50) ? "" : Self.awkwardText(&random)
                application.projectName = Self.awkwardText(&random)
                application.contractNumber = random.chance(30) ? "" : Self.awkwardText(&random)
                application.declaredRevenue = Money(fen: Self.awkwardInteger(&random))
                // Half the enterprises are registered (the record names them), half not.
                if i % 2 == 0 {
                    try store.insertApplicant(
                        ApplicantRecord(uscc: application.enterprise.rawValue, name: "企业 \(i) \u{200B}", district: .sanshui, locality: .local, role: .industrialEnterprise),
                        by: actor, at: "2022-05-01T00:00:00Z", in: transaction)
                }
                let time = "2022-05-0\(1 + i % 9)T08:00:0\(i % 10)Z"
                return try store.insertApplication(
                    application, filedOn: StoreHarness.filed, actor: actor, request: RequestKey(id: "sanshui:filed-\(i)", fingerprint: "f\(i)"), at: time, in: transaction)
            }
        }
        for record in filed {
            let read = try #require(try await store.application(record.id))
            #expect(record == read, "\(record.id)")
        }
        #expect(filed.contains { $0.enterpriseName.isEmpty } && filed.contains { !$0.enterpriseName.isEmpty })
        await store.database.close()
    }

    @Test("a stored application is read back as the core's, with its explanation once approved")
    func storedAndApproved() async throws {
        let harness = try StoreHarness()
        let application = harness.benchmark(StoreHarness.uscc(11))
        let id = try await harness.recommended(application, in: .gaoming)
        #expect(try await harness.application(id).application == application)
        #expect(try await harness.application(id).explanation == nil)
        try await harness.approve(id)
        // The explanation is kept once, with the commitment; the district row holds none, and
        // a record shows the ledger's.
        #expect(try await harness.application(id).explanation == nil)
        let record = try #require(try await harness.stores.record(id, in: harness.stores.store(.gaoming)))
        let explanation = try #require(record.explanation)
        #expect(explanation.awardFen == record.awardedFen)
        #expect(try await harness.commitment(id)?.explanation == explanation)
        #expect(explanation.limits.contains { $0.binding })
        await harness.stores.close()
    }
}

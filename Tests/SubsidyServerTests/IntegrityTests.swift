import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyServer
import SubsidyStore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// Issue 8 §1–§2 through the handlers, in-process (the real services on real stores; no
/// socket): nothing is funded twice by a respelling or under a second measure, a follow-on needs
/// its pilot's award, districts register their own enterprises, the validity window bounds
/// approval (not payment), and fields have limits. What needs the daemon itself — a relocation
/// read from its configuration file, others served while a large quote runs — is in
/// SubsidyIntegrationTests' `IntegrityTests`.
@Suite("integrity at the edges")
struct IntegrityTests {
    static let provider = TestData.uscc(930)

    /// Respellings of `text` a clerk's copy-paste produces: invisible characters, widths, dashes,
    /// white space, case, zero padding, trailing punctuation.
    static func respellings(of text: String) -> [String] {
        let fullWidth = String(String.UnicodeScalarView(text.unicodeScalars.map { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-")
                ? Unicode.Scalar(scalar.value + 0xFEE0)! : scalar
        }))
        return [
            text + "\u{200B}", "\u{FEFF}" + text, text + " ", " " + text.lowercased(), text + "。", text + ".",
            text.replacingOccurrences(of: "-", with: "\u{2013}"), text.replacingOccurrences(of: "-", with: "\u{2212}"),
            text.replacingOccurrences(of: "-", with: " - "), fullWidth, text.replacingOccurrences(of: "-", with: "-\u{00AD}"),
            "\u{202D}" + text + "\u{202C}", text.replacingOccurrences(of: "-0", with: "-00"), text + "\u{3000}",
        ]
    }

    /// A daemon in which the city has pooled ``provider``, chancheng has registered it as a
    /// service provider, and three districts have each registered one buyer.
    func prepared<T>(
        isolation: isolated (any _Concurrency.Actor)? = #isolation,
        _ test: (_ city: Bureau, _ bureaus: [String: Bureau], _ buyers: [String]) async throws -> T
    ) async throws -> T {
        try await withInProcessDaemon { daemon in
            let city = Bureau(daemon.tenant("city"))
            try await city.pool(Self.provider)
            var bureaus: [String: Bureau] = [:]
            for name in DaemonProcess.districts { bureaus[name] = Bureau(daemon.tenant(name)) }
            try await bureaus["chancheng"]!.register(Self.provider, role: .serviceProvider)
            var buyers: [String] = []
            for i in 0..<3 {
                let uscc = TestData.uscc(9300 + i)
                try await bureaus[DaemonProcess.districts[i]]!.register(uscc)
                buyers.append(uscc)
            }
            return try await test(city, bureaus, buyers)
        }
    }

    @Test("a funded contract number is refused at submit in every respelling and every district; a pending one warns")
    func contractRespellings() async throws {
        try await prepared { city, bureaus, buyers in
            let chancheng = bureaus["chancheng"]!, nanhai = bureaus["nanhai"]!
            let first = try await chancheng.file(TestData.voucher(enterprise: buyers[0], provider: Self.provider, contractFen: 10_000_000, contract: "HT-2022-0001"))

            // Pending, not yet funded: another district's respelling is filed with a warning.
            let pending = try await nanhai.submit(TestData.voucher(enterprise: buyers[1], provider: Self.provider, contractFen: 10_000_000, contract: "ＨＴ－２０２２－０００１\u{200B}"))
            #expect(pending.contentKey == "contract:ht-2022-1")
            #expect(pending.warnings.contains { $0.contains(first) && $0.contains("already pending") }, "\(pending.warnings)")
            // Recommending it repeats the warning.
            #expect(try await nanhai.recommend(pending.id).warnings.contains { $0.contains(first) })

            _ = try await city.approve(first)
            for variant in Self.respellings(of: "HT-2022-0001") {
                let refused = await #expect(throws: SubsidyError.self, "\(variant.unicodeScalars.map(\.value))") {
                    try await nanhai.submit(TestData.voucher(enterprise: buyers[1], provider: Self.provider, contractFen: 10_000_000, contract: variant))
                }
                #expect(refused?.code == .failedPrecondition)
                #expect(refused?.message.contains("duplicate_content") == true && refused?.message.contains(first) == true, "\(refused?.message ?? "")")
            }
            // The one already recommended is refused by the city, inside the ledger's transaction.
            let late = await #expect(throws: SubsidyError.self) { try await city.approve(pending.id) }
            #expect(late?.code == .failedPrecondition)
            #expect(late?.message.contains("already funded as \(first)") == true, "\(late?.message ?? "")")
        }
    }

    @Test("only applications still waiting for a decision warn as pending: withdrawn and rejected ones do not")
    func pendingOnly() async throws {
        try await prepared { city, bureaus, buyers in
            let (chancheng, nanhai, shunde) = (bureaus["chancheng"]!, bureaus["nanhai"]!, bureaus["shunde"]!)
            func voucher(_ buyer: Int, _ contract: String) -> Foshan_Subsidy_V1_Application {
                TestData.voucher(enterprise: buyers[buyer], provider: Self.provider, contractFen: 10_000_000, contract: contract)
            }
            func pendingNamed(_ warnings: [String]) -> [String] {
                warnings.filter { $0.contains("already pending") }.compactMap { warning in
                    warning.range(of: "already pending as ").map { String(warning[$0.upperBound...].prefix { $0 != " " }) }
                }
            }
            let submitted = try await chancheng.submit(voucher(0, "HT-2022-0777")).id
            let recommended = try await nanhai.file(voucher(1, "HT-2022-0777"))
            let withdrawn = try await nanhai.submit(voucher(1, "HT-2022-0777")).id
            var withdraw = Foshan_Subsidy_V1_WithdrawApplicationRequest()
            withdraw.requestId = "withdraw-pending-only"
            withdraw.applicationId = withdrawn
            withdraw.reason = "filed twice"
            _ = try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.withdrawApplication, withdraw)
            let rejected = try await chancheng.file(voucher(0, "HT-2022-0777"))
            _ = try await city.decide(Foshan_Subsidy_V1_CityService.Method.rejectApplication, rejected, reason: "not eligible")

            // Another district's filing is told of the two still waiting, each once, and of
            // neither the withdrawn nor the rejected one.
            let latest = try await shunde.submit(voucher(2, "HT-2022-0777"))
            #expect(Set(pendingNamed(latest.warnings)) == [submitted, recommended], "\(latest.warnings)")
            #expect(pendingNamed(latest.warnings).count == 2, "\(latest.warnings)")
            // A filing where one of them waits is told of it and of the later one.
            let again = try await nanhai.submit(voucher(1, "HT-2022-0777"))
            #expect(pendingNamed(again.warnings).sorted() == [latest.id, recommended, submitted].sorted(), "\(again.warnings)")
        }
    }

    @Test("a filing names at most ten applications pending with its content, however many there are")
    func pendingNamedBound() async throws {
        try await prepared { _, bureaus, buyers in
            let (nanhai, shunde) = (bureaus["nanhai"]!, bureaus["shunde"]!)
            var filed: [String] = []
            for _ in 0..<(SubsidyStores.pendingNamed + 3) {
                filed.append(try await nanhai.submit(TestData.voucher(enterprise: buyers[1], provider: Self.provider, contractFen: 10_000_000, contract: "HT-2022-0999")).id)
            }
            let latest = try await shunde.submit(TestData.voucher(enterprise: buyers[2], provider: Self.provider, contractFen: 10_000_000, contract: "HT-2022-0999"))
            let named = latest.warnings.filter { $0.contains("already pending as") }
            #expect(named.count == SubsidyStores.pendingNamed, "\(latest.warnings)")
            // All in one state and district, so the index gives the first ones by id; named in id order.
            for (warning, id) in zip(named, filed.sorted()) { #expect(warning.contains("as \(id) "), "\(warning)") }
            #expect(latest.warnings.contains { $0.contains("more applications with the same content") }, "\(latest.warnings)")
        }
    }

    @Test("one enterprise's project is not funded under two measures")
    func twoMeasures() async throws {
        try await prepared { city, bureaus, buyers in
            let shunde = bureaus["shunde"]!
            let benchmark = try await shunde.file(TestData.benchmark(enterprise: buyers[2], investedFen: 100_000_000, name: "5G 智能工厂"))
            _ = try await city.approve(benchmark)
            var node = Foshan_Subsidy_V1_Application()
            node.measure = .identifierNode
            node.fundingYear = 2022
            node.enterpriseUscc = buyers[2]
            node.projectName = "５Ｇ智能工厂。"
            node.constructionAmountFen = 100_000_000
            node.totalInvestmentFen = 100_000_000
            node.recognisedSecondaryNode = true
            let refused = await #expect(throws: SubsidyError.self) { try await shunde.submit(node) }
            #expect(refused?.code == .failedPrecondition)
            #expect(refused?.message.contains("already funded as \(benchmark) under BENCHMARK_PROJECT") == true, "\(refused?.message ?? "")")
            // Typing a contract number does not make it other content: the project is still known.
            node.contractNumber = "NODE-1"
            let withContract = await #expect(throws: SubsidyError.self) { try await shunde.submit(node) }
            #expect(withContract?.message.contains("already funded as \(benchmark)") == true, "\(withContract?.message ?? "")")

            // Two vouchers of one enterprise for one project are two contracts, both fundable.
            let nanhai = bureaus["nanhai"]!
            var first = TestData.voucher(enterprise: buyers[1], provider: Self.provider, contractFen: 1_000_000, contract: "V-1")
            first.projectName = "设备上云"
            var second = first
            second.contractNumber = "V-2"
            #expect(try await city.approve(try await nanhai.file(first)).state == .approved)
            #expect(try await city.approve(try await nanhai.file(second)).state == .approved)
            // But a benchmark project of that name, for that enterprise, is the vouchers' content.
            let benchmarkTwin = await #expect(throws: SubsidyError.self) {
                try await nanhai.submit(TestData.benchmark(enterprise: buyers[1], investedFen: 1_000_000, name: "设备上云"))
            }
            #expect(benchmarkTwin?.code == .failedPrecondition)
        }
    }

    @Test("pool members come back in pages, every one once")
    func poolPages() async throws {
        try await prepared { city, _, _ in
            let members = (0..<120).map { TestData.uscc(9400 + $0) }
            for member in members { try await city.pool(member) }
            var seen: [String] = []
            var request = Foshan_Subsidy_V1_ListPoolMembersRequest()
            request.pageSize = 50
            var pages = 0
            repeat {
                let page = try await city.client.call(Foshan_Subsidy_V1_CityService.Method.listPoolMembers, request)
                #expect(page.members.count <= 50)
                seen += page.members.map(\.uscc)
                request.pageToken = page.nextPageToken
                pages += 1
            } while !request.pageToken.isEmpty
            #expect(pages == 3)
            #expect(seen == (members + [Self.provider]).sorted())
        }
    }

    @Test("a follow-on needs a live award of its pilot, and its window runs from the pilot's recorded selection date")
    func followOnNeedsPilot() async throws {
        try await prepared { city, bureaus, buyers in
            let gaoming = bureaus["gaoming"]!
            let lead = TestData.uscc(9310)
            try await gaoming.register(lead, role: .platform)
            var followOn = TestData.followOn(lead: lead, pilot: "P-07 ", served: buyers)
            followOn.selectionDate = "2023-01-01"  // declared, but only the pilot award's date counts
            let early = try await gaoming.submit(followOn)
            #expect(early.warnings.contains { $0.contains("has no live CLUSTER_PILOT award") }, "\(early.warnings)")
            _ = try await gaoming.recommend(early.id)
            let refused = await #expect(throws: SubsidyError.self) { try await city.approve(early.id, date: "2023-06-01") }
            #expect(refused?.code == .failedPrecondition)
            #expect(refused?.message.contains("no live CLUSTER_PILOT award") == true, "\(refused?.message ?? "")")

            var pilot = followOn
            pilot.measure = .clusterPilot
            pilot.fundingYear = 2021
            pilot.pilotId = "Ｐ－０７"
            pilot.selectionDate = "2021-03-10"
            pilot.selectionLevel = .provincial
            pilot.servedEnterprises = []
            let pilotID = try await gaoming.file(pilot)
            _ = try await city.approve(pilotID, date: "2021-06-01")
            // Now the follow-on's window is 2021-03-10..2023-03-10 (from the award, not the declared
            // 2023-01-01): a decision on 2023-06-01 is outside it.
            let late = await #expect(throws: SubsidyError.self) { try await city.approve(early.id, date: "2023-06-01") }
            #expect(late?.message.contains("after the pilot's selection on 2021-03-10") == true, "\(late?.message ?? "")")
            // A second selection award for the same pilot, spelled differently, is once-per-pilot: a
            // certain refusal, so the district hears it at submit.
            pilot.pilotId = "p-7。"
            pilot.projectName = "另一个集群试点"
            let twice = await #expect(throws: SubsidyError.self) { try await gaoming.submit(pilot) }
            #expect(twice?.code == .failedPrecondition)
            #expect(twice?.message.contains("already has 1 CLUSTER_PILOT award") == true, "\(twice?.message ?? "")")
        }
    }

    @Test("a district registers only the enterprises of its own area")
    func registrationArea() async throws {
        try await prepared { _, bureaus, _ in
            let chanchengEnterprise = TestData.uscc(9320, area: 4)  // 440604 禅城
            for name in ["nanhai", "shunde", "gaoming", "sanshui"] {
                let refused = await #expect(throws: SubsidyError.self) { try await bureaus[name]!.register(chanchengEnterprise) }
                #expect(refused?.code == .failedPrecondition)
                #expect(refused?.message.contains("禅城区 (chancheng, area 440604)") == true, "\(refused?.message ?? "")")
            }
            #expect(try await bureaus["chancheng"]!.register(chanchengEnterprise)?.uscc == chanchengEnterprise)
            // A USCC from outside Foshan is not LOCAL, though it may have relocated here.
            let guangzhou = try USCC.makeValid(prefix16: "9144010600009330").rawValue
            let notLocal = await #expect(throws: SubsidyError.self) { try await bureaus["nanhai"]!.register(guangzhou, locality: .local) }
            #expect(notLocal?.message.contains("area 440106, outside Foshan") == true, "\(notLocal?.message ?? "")")
            #expect(try await bureaus["nanhai"]!.register(guangzhou, locality: .relocated)?.uscc == guangzhou)
            #expect(try await bureaus["sanshui"]!.register(TestData.uscc(9321, area: 7))?.uscc == TestData.uscc(9321, area: 7))
        }
    }

    @Test("an organisation has one USCC: a second code with its organisation code (positions 9–17) is refused in the district that registered the first, and in an import")
    func organisationCode() async throws {
        try await withInProcessDaemon { daemon in
            let (city, nanhai, shunde) = (Bureau(daemon.tenant("city")), Bureau(daemon.tenant("nanhai")), Bureau(daemon.tenant("shunde")))
            let registered = try USCC.makeValid(prefix16: "91440605MAXHXL35").rawValue
            #expect(try await nanhai.register(registered)?.uscc == registered)
            // Positions 1–8 changed and position 18 recomputed: each is a valid USCC.
            // (Another district's twin is registered, with a warning: organisationTwinsInTwoDistricts.)
            let twins: [(Bureau, String, Foshan_Subsidy_V1_Locality)] = [
                (nanhai, "92440605MAXHXL35", .local), (nanhai, "91440605MAXHXL35", .local), (nanhai, "91440600MAXHXL35", .local),
                (nanhai, "91440699MAXHXL35", .local), (nanhai, "91110108MAXHXL35", .relocated), (nanhai, "Y1440605MAXHXL35", .local),
            ]
            for (bureau, prefix, locality) in twins {
                let twin = try USCC.makeValid(prefix16: prefix).rawValue
                guard twin != registered else { continue }
                let refused = await #expect(throws: SubsidyError.self, "\(twin)") { try await bureau.register(twin, locality: locality) }
                #expect(refused?.code == .alreadyExists)
                #expect(refused?.message.contains("has the organisation code (主体标识码, positions 9–17) of \(registered), registered by nanhai") == true, "\(refused?.message ?? "")")
            }
            // Another organisation of the same area still registers.
            let other = try USCC.makeValid(prefix16: "91440605MAXHXL36").rawValue
            #expect(try await nanhai.register(other)?.uscc == other)
            // An imported award under a twin would count against caps of its own.
            let twin = try USCC.makeValid(prefix16: "92440605MAXHXL35").rawValue
            let imported = await #expect(throws: SubsidyError.self) {
                try await city.importAwards([historical(.publicService, district: "nanhai", enterprise: twin, amountFen: 1_000_000, document: "佛工信〔2022〕3号")])
            }
            #expect(imported?.code == .failedPrecondition)
            #expect(imported?.message.hasPrefix("request.awards[0].enterprise_uscc: \(twin) has the organisation code") == true, "\(imported?.message ?? "")")
            // An award under a code no district registered counts too: its twin cannot be
            // registered after it, nor a second twin imported beside it in one request.
            let awarded = try USCC.makeValid(prefix16: "91440605MAXHXL37").rawValue
            let awardedTwin = try USCC.makeValid(prefix16: "92440605MAXHXL37").rawValue
            let pair = await #expect(throws: SubsidyError.self) {
                try await city.importAwards([
                    historical(.publicService, district: "nanhai", enterprise: awarded, amountFen: 1_000_000, document: "佛工信〔2022〕4号"),
                    historical(.publicService, district: "nanhai", enterprise: awardedTwin, amountFen: 1_000_000, document: "佛工信〔2022〕5号"),
                ])
            }
            #expect(pair?.message.hasPrefix("request.awards[1].enterprise_uscc: \(awardedTwin) has the organisation code (主体标识码, positions 9–17) of \(awarded), already awarded in nanhai") == true, "\(pair?.message ?? "")")
            #expect(try await city.importAwards([historical(.publicService, district: "nanhai", enterprise: awarded, amountFen: 1_000_000, document: "佛工信〔2022〕4号")]).imported == 1)
            let afterAward = await #expect(throws: SubsidyError.self) { try await nanhai.register(awardedTwin) }
            #expect(afterAward?.code == .alreadyExists && afterAward?.message.contains("of \(awarded), awarded in nanhai") == true, "\(afterAward?.message ?? "")")
            // Nor in another district: a twin holding an award refuses every new code.
            let shundeTwin = try USCC.makeValid(prefix16: "91440606MAXHXL37").rawValue
            let elsewhere = await #expect(throws: SubsidyError.self) { try await shunde.register(shundeTwin) }
            #expect(elsewhere?.code == .alreadyExists && elsewhere?.message.contains("of \(awarded), awarded in nanhai") == true, "\(elsewhere?.message ?? "")")
            // Found through its index, not by reading every applicant.
            let plan = try await daemon.services.stores.ledger.database.read { transaction in
                try transaction.query(
                    "EXPLAIN QUERY PLAN SELECT uscc, district FROM applicants WHERE substr(uscc, 9, 9) = substr(?1, 9, 9) AND uscc != ?1 ORDER BY uscc LIMIT 1",
                    [.text(twin)]
                ).map { try $0.text("detail") }
            }
            #expect(plan.contains { $0.contains("USING INDEX applicants_organisation") }, "\(plan)")
            // Twins a file holds from before (registered, or an award's enterprise) are listed
            // for `subsidyd --check`.
            #expect(try await daemon.services.stores.sharedOrganisationCodes().isEmpty)
            let stores = daemon.services.stores
            _ = try await stores.ledger.database.write { transaction in
                try transaction.query(
                    "INSERT INTO applicants (uscc, district, name, locality, role, created_at) VALUES (?, 'shunde', 'x', 'local', 'industrial_enterprise', '2024-01-01T00:00:00Z')",
                    [.text(twin)])
            }
            let shared = try await stores.sharedOrganisationCodes()
            #expect(shared.map(\.organisation) == [String(registered.dropFirst(8).prefix(9))])
            #expect(shared.first?.usccs == [registered, twin].sorted())
            // A pair from before does not block awards to either code the ledger knows.
            #expect(try await city.importAwards([historical(.publicService, district: "nanhai", enterprise: registered, amountFen: 1_000_000, document: "佛工信〔2022〕6号")]).imported == 1)
        }
    }

    @Test("twins in two districts: a code of one's own area cannot lock another district's enterprise out; both register (warned), filings are warned, and the city awards one")
    func organisationTwinsInTwoDistricts() async throws {
        try await withInProcessDaemon { daemon in
            let (city, nanhai, shunde) = (Bureau(daemon.tenant("city")), Bureau(daemon.tenant("nanhai")), Bureau(daemon.tenant("shunde")))
            // Nanhai registers a code of its own area carrying the organisation code of a Shunde
            // enterprise (made up, or mistyped): both check out.
            let squatted = try USCC.makeValid(prefix16: "91440605MAXHXL41").rawValue
            let real = try USCC.makeValid(prefix16: "91440606MAXHXL41").rawValue
            #expect(try await nanhai.register(squatted)?.uscc == squatted)
            var request = Foshan_Subsidy_V1_RegisterApplicantRequest()
            request.requestId = "register-real"
            var applicant = Foshan_Subsidy_V1_Applicant()
            (applicant.uscc, applicant.name, applicant.role, applicant.locality) = (real, "顺德真实企业", .industrialEnterprise, .local)
            request.applicant = applicant
            let reply = try await shunde.client.call(Foshan_Subsidy_V1_DistrictService.Method.registerApplicant, request)
            #expect(reply.applicant?.uscc == real)
            #expect(reply.warnings.count == 1 && reply.warnings[0].contains("\(squatted) has the same organisation code") && reply.warnings[0].contains("registered by nanhai"),
                    "\(reply.warnings)")
            // The retry answers the same, warning and all.
            #expect(try await shunde.client.call(Foshan_Subsidy_V1_DistrictService.Method.registerApplicant, request).warnings == reply.warnings)
            // Another district's applicant is not found here, as one no district registered: the
            // answer says nothing of who has it.
            for (n, probed) in [squatted, try USCC.makeValid(prefix16: "91440605MAXHXL49").rawValue].enumerated() {
                var probe = Foshan_Subsidy_V1_UpdateApplicantRequest()
                (probe.requestId, probe.uscc, probe.name, probe.reason) = ("probe-\(n)", probed, "探测", "更名")
                let unknown = await #expect(throws: SubsidyError.self) { try await shunde.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, probe) }
                #expect(unknown?.code == .notFound && unknown?.message == "applicant \(probed) is not registered in shunde", "\(unknown?.message ?? "")")
            }
            // A third code in Shunde is refused: Shunde has the organisation registered now.
            let third = try USCC.makeValid(prefix16: "92440606MAXHXL41").rawValue
            let refused = await #expect(throws: SubsidyError.self) { try await shunde.register(third) }
            #expect(refused?.code == .alreadyExists && refused?.message.contains("of \(real), registered by shunde") == true, "\(refused?.message ?? "")")

            // Filing warns; the first award wins, and the twin's is refused while it stands.
            let filed = try await shunde.submit(TestData.benchmark(enterprise: real, investedFen: 100_000_000, name: "顺德智能工厂"))
            #expect(filed.warnings.contains { $0.contains("\(squatted) has the same organisation code") && $0.contains("only one of them is awarded") }, "\(filed.warnings)")
            try await shunde.recommend(filed.id)
            #expect(try await city.approve(filed.id).state == .approved)
            let twin = try await nanhai.submit(TestData.benchmark(enterprise: squatted, investedFen: 100_000_000, name: "南海智能工厂"))
            #expect(twin.warnings.contains { $0.hasPrefix("it cannot be awarded as things stand: \(squatted) has the organisation code") && $0.contains("of \(real), already awarded in shunde") }, "\(twin.warnings)")
            try await nanhai.recommend(twin.id)
            let second = await #expect(throws: SubsidyError.self) { try await city.approve(twin.id) }
            #expect(second?.code == .failedPrecondition)
            #expect(second?.message.hasPrefix("applicant: \(squatted) has the organisation code (主体标识码, positions 9–17) of \(real), already awarded in shunde") == true,
                    "\(second?.message ?? "")")
            // The quote fails the way the approval does, not with an award the approval refuses.
            var quote = Foshan_Subsidy_V1_QuoteRequest()
            (quote.applicationId, quote.decisionDate) = (twin.id, "2022-06-01")
            let quoted = await #expect(throws: SubsidyError.self) { try await city.client.call(Foshan_Subsidy_V1_CityService.Method.quote, quote) }
            #expect(quoted?.code == .failedPrecondition && quoted?.message.contains("of \(real), already awarded in shunde") == true, "\(quoted?.message ?? "")")
            // A committee's plan says the same, of the ledger and of the list itself.
            func plan(_ ids: [String]) async throws -> [Foshan_Subsidy_V1_ApprovalOutcome] {
                var list = Foshan_Subsidy_V1_ApproveApplicationsRequest()
                (list.requestId, list.applicationIds, list.decisionDate, list.planOnly) = ("plan-\(ids.joined())", ids, "2022-06-01", true)
                return try await city.client.call(Foshan_Subsidy_V1_CityService.Method.approveApplications, list).outcomes
            }
            #expect(try await plan([twin.id]).first?.status?.message.contains("of \(real), already awarded in shunde") == true)
            let (nanhaiCode, shundeCode) = (try USCC.makeValid(prefix16: "91440605MAXHXL43").rawValue, try USCC.makeValid(prefix16: "91440606MAXHXL43").rawValue)
            try await nanhai.register(nanhaiCode)
            try await shunde.register(shundeCode)
            let pair = [
                try await nanhai.file(TestData.benchmark(enterprise: nanhaiCode, investedFen: 100_000_000, name: "南海项目")),
                try await shunde.file(TestData.benchmark(enterprise: shundeCode, investedFen: 100_000_000, name: "顺德项目")),
            ]
            let planned = try await plan(pair)
            #expect(planned.count == 2 && planned[0].status?.code == .ok, "\(planned)")
            #expect(planned[1].status?.code == .failedPrecondition && planned[1].status?.message.contains("of \(nanhaiCode), already awarded in this list (\(pair[0]))") == true, "\(planned)")
            // Nor is an award under the twin imported.
            let imported = await #expect(throws: SubsidyError.self) {
                try await city.importAwards([historical(.publicService, district: "nanhai", enterprise: squatted, amountFen: 1_000_000, document: "佛工信〔2022〕9号")])
            }
            #expect(imported?.message.hasPrefix("request.awards[0].enterprise_uscc: \(squatted) has the organisation code (主体标识码, positions 9–17) of \(real), already awarded in shunde") == true,
                    "\(imported?.message ?? "")")
            let awarded = try await daemon.services.stores.ledger.database.read { transaction in
                try transaction.query("SELECT enterprise FROM commitments WHERE state IN ('live', 'disbursed')").map { try $0.text("enterprise") }
            }
            #expect(awarded == [real])
            // `subsidyd --check` lists the pair.
            #expect(try await daemon.services.stores.sharedOrganisationCodes().first?.usccs == [squatted, real].sorted())
        }
    }

    @Test("a role no waiting application's measure admits is refused until those are decided or withdrawn")
    func roleChangeWithPendingApplications() async throws {
        try await prepared { _, bureaus, buyers in
            let chancheng = bureaus[DaemonProcess.districts[0]]!
            let voucher = try await chancheng.submit(TestData.voucher(enterprise: buyers[0], provider: Self.provider, contractFen: 1_000_000, contract: "R-1"))
            var update = Foshan_Subsidy_V1_UpdateApplicantRequest()
            (update.requestId, update.uscc, update.role, update.reason) = ("role-1", buyers[0], .institution, "改为事业单位")
            let refused = await #expect(throws: SubsidyError.self) { try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, update) }
            #expect(refused?.code == .failedPrecondition, "\(refused?.message ?? "")")
            #expect(refused?.message.hasPrefix("applicant.role: \(buyers[0]) has applications waiting for a decision that a institution may not hold: \(voucher.id) (CLOUD_VOUCHER, for industrial_enterprise") == true, "\(refused?.message ?? "")")
            // A role the measure admits is no problem; once the voucher is withdrawn, neither is the other.
            var withdraw = Foshan_Subsidy_V1_WithdrawApplicationRequest()
            (withdraw.requestId, withdraw.applicationId, withdraw.reason) = ("withdraw-r1", voucher.id, "企业性质变更")
            _ = try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.withdrawApplication, withdraw)
            update.requestId = "role-2"
            #expect(try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, update).applicant?.role == .institution)
        }
    }

    @Test("a role change and a filing under the old role sent together never both succeed, and the index keeps the registry's role")
    func roleChangeRacesFiling() async throws {
        try await withInProcessDaemon { daemon in
            let city = Bureau(daemon.tenant("city"))
            try await city.pool(Self.provider)
            let chancheng = Bureau(daemon.tenant("chancheng"))
            try await chancheng.register(Self.provider, role: .serviceProvider)
            let buyers = (0..<32).map { TestData.uscc(9400 + $0) }
            for buyer in buyers { try await chancheng.register(buyer) }
            // nil: it succeeded; otherwise the refusal's status.
            let file: @Sendable (Int) async -> SubsidyError.Code? = { i in
                do {
                    _ = try await chancheng.submit(TestData.voucher(enterprise: buyers[i], provider: Self.provider, contractFen: 1_000_000, contract: "RACE-\(i)"))
                    return nil
                } catch let error as SubsidyError { return error.code } catch { return .internal }
            }
            let change: @Sendable (Int) async -> SubsidyError.Code? = { i in
                var update = Foshan_Subsidy_V1_UpdateApplicantRequest()
                (update.requestId, update.uscc, update.role, update.reason) = ("race-role-\(i)", buyers[i], .institution, "改为事业单位")
                do {
                    _ = try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, update)
                    return nil
                } catch let error as SubsidyError { return error.code } catch { return .internal }
            }
            let outcomes = await withTaskGroup(of: (Int, SubsidyError.Code?, SubsidyError.Code?).self) { group in
                for i in buyers.indices {
                    group.addTask {
                        async let filed = file(i)
                        async let changed = change(i)
                        return (i, await filed, await changed)
                    }
                }
                return await group.reduce(into: [:]) { $0[$1.0] = ($1.1, $1.2) }
            }
            let stores = daemon.services.stores
            for (i, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
                #expect(outcome.0 != nil || outcome.1 != nil, "buyer \(i): the voucher was filed and the role changed to institution")
                #expect([outcome.0, outcome.1].allSatisfy { $0 == nil || $0 == .failedPrecondition }, "buyer \(i): \(outcome)")
                let registered = try await stores.store(.chancheng).applicant(buyers[i])?.role
                let indexed = try await stores.ledger.database.read { transaction in
                    try transaction.query("SELECT role FROM applicants WHERE uscc = ?", [.text(buyers[i])]).first?.text("role")
                }
                #expect(indexed == registered?.rawValue, "buyer \(i): the index says \(indexed ?? "-"), the registry \(registered?.rawValue ?? "-")")
            }
        }
    }

    @Test("the validity window bounds approval, not publicity or payment; years outside it are a precondition")
    func datesAndWindow() async throws {
        try await prepared { city, bureaus, buyers in
            let chancheng = bureaus["chancheng"]!
            var outside = TestData.voucher(enterprise: buyers[0], provider: Self.provider, contractFen: 1_000_000, year: 2024, contract: "Y-2024")
            let refused = await #expect(throws: SubsidyError.self) { try await chancheng.submit(outside) }
            #expect(refused?.code == .failedPrecondition)
            #expect(refused?.message.contains("validity_window") == true, "\(refused?.message ?? "")")
            let quote = await #expect(throws: SubsidyError.self) {
                var request = Foshan_Subsidy_V1_QuoteRequest()
                request.application = outside
                _ = try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.quote, request)
            }
            #expect(quote?.code == .failedPrecondition)

            outside.fundingYear = 2023
            let id = try await chancheng.file(outside)
            _ = try await city.approve(id, date: "2023-12-20")
            #expect(try await city.decide(Foshan_Subsidy_V1_CityService.Method.publicizeApplication, id, date: "2023-12-28").state == .publicized)
            // Paid and clawed back after the measures ended.
            let later = city.on("2024-01-05")
            #expect(try await later.decide(Foshan_Subsidy_V1_CityService.Method.disburseApplication, id, date: "2024-01-05").state == .disbursed)
            let revoked = try await later.decide(Foshan_Subsidy_V1_CityService.Method.revokeApplication, id, reason: "clawback in 2024")
            #expect(revoked.state == .revoked)
            let lateApproval = await #expect(throws: SubsidyError.self) {
                let other = try await chancheng.file(TestData.voucher(enterprise: buyers[0], provider: Self.provider, contractFen: 1_000_000, year: 2023, contract: "Y-2"))
                _ = try await later.approve(other, date: "2024-01-02")
            }
            #expect(lateApproval?.message.contains("validity_window") == true)
        }
    }

    @Test("every text and list has a limit, named with the field")
    func limits() async throws {
        try await prepared { _, bureaus, buyers in
            let chancheng = bureaus["chancheng"]!
            var long = TestData.voucher(enterprise: buyers[0], provider: Self.provider, contractFen: 1_000_000, contract: String(repeating: "9", count: 65))
            var error = await #expect(throws: SubsidyError.self) { try await chancheng.submit(long) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("application.contract_number: must be at most 64 characters (got 65)") == true, "\(error?.message ?? "")")
            long.contractNumber = "L-1"
            long.projectName = String(repeating: "项", count: 201)
            error = await #expect(throws: SubsidyError.self) { try await chancheng.submit(long) }
            #expect(error?.message.contains("application.project_name: must be at most 200 characters") == true)
            long.projectName = "\u{200B}\u{3000}。"
            error = await #expect(throws: SubsidyError.self) { try await chancheng.submit(long) }
            #expect(error?.message.contains("application.project_name: must not be empty") == true)
            long.projectName = "ok"
            long.selectionDate = "1999-12-31"
            error = await #expect(throws: SubsidyError.self) { try await chancheng.submit(long) }
            #expect(error?.message.contains("application.selection_date: 1999-12-31 is before 2000-01-01") == true)
            let tooMany = TestData.followOn(lead: buyers[0], pilot: "P-1", served: Array(repeating: buyers[1], count: InputLimits.servedEnterprises + 1))
            error = await #expect(throws: SubsidyError.self) { try await chancheng.submit(tooMany) }
            #expect(error?.message.contains("application.served_enterprises: must have at most 5000 entries") == true, "\(error?.message ?? "")")
            // A quote is bound as an approval is: 100,000,000 yuan is the most one award may be.
            var quote = Foshan_Subsidy_V1_QuoteRequest()
            quote.caseAmountFen = 10_000_000_001
            error = await #expect(throws: SubsidyError.self) { try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.quote, quote) }
            #expect(error?.details == [.field(path: "request.case_amount_fen", problem: "must be between 0 and 10000000000 fen (got 10000000001)")])
        }
    }

    @Test("an endless return–amend loop ends: one application has at most 100 recorded changes")
    func historyBound() async throws {
        try await prepared { _, bureaus, buyers in
            let chancheng = bureaus["chancheng"]!
            let application = TestData.voucher(enterprise: buyers[0], provider: Self.provider, contractFen: 1_000_000, contract: "LOOP-1")
            let id = try await chancheng.submit(application).id
            var refusal: SubsidyError?
            for cycle in 0..<60 where refusal == nil {
                var review = Foshan_Subsidy_V1_ReviewApplicationRequest()
                review.applicationId = id
                review.outcome = .return
                review.reason = "cycle \(cycle)"
                review.requestId = "return-\(cycle)"
                var amend = Foshan_Subsidy_V1_AmendApplicationRequest()
                amend.applicationId = id
                amend.application = application
                amend.reason = "cycle \(cycle)"
                amend.requestId = "amend-\(cycle)"
                do {
                    _ = try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, review)
                    _ = try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, amend)
                } catch let error as SubsidyError {
                    refusal = error
                }
            }
            #expect(refusal?.code == .failedPrecondition)
            #expect(refusal?.message.contains("has 100 recorded changes") == true, "\(refusal?.message ?? "none")")
            // The application is still whole and can be withdrawn.
            var get = Foshan_Subsidy_V1_GetApplicationRequest()
            get.applicationId = id
            #expect(try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.getApplication, get).record?.history.count == 100)
        }
    }

    @Test("a record stays far below one reply frame however it is amended: 100 changes, each swapping long lists and the longest texts")
    func recordBound() async throws {
        try await prepared { _, bureaus, buyers in
            let chancheng = bureaus["chancheng"]!
            // Lists no entry of which is in another, and the longest texts of 4-byte scalars. A
            // long list's change is recorded at the same size however long the list (its size and
            // ten entries), so the cycles swap lists of 100 (cheap to send 50 times) and the last
            // amendment leaves the longest lists in the content.
            let lists = (0..<3).map { n in (0..<(n == 2 ? InputLimits.servedEnterprises : 100)).map { TestData.uscc(600_000 + n * 10_000 + $0) } }
            let last = 49
            let longest = { (seed: UInt32, count: Int) in String(repeating: String(Character(Unicode.Scalar(0x20000 + seed)!)), count: count) }
            func application(_ cycle: Int) -> Foshan_Subsidy_V1_Application {
                var a = TestData.voucher(enterprise: buyers[0], provider: Self.provider, contractFen: 1_000_000, contract: "BOUND-1")
                a.servedEnterprises = lists[cycle == last ? 2 : cycle % 2]
                a.provincialVoucherEnterprises = a.servedEnterprises
                a.otherFundDeclared = true
                a.otherFundReason = longest(UInt32(cycle % 2), InputLimits.reason)
                a.projectName = longest(UInt32(cycle % 2) + 2, InputLimits.projectName)
                return a
            }
            let id = try await chancheng.submit(application(0)).id
            var record = Foshan_Subsidy_V1_ApplicationRecord()
            for cycle in 1..<60 {
                var review = Foshan_Subsidy_V1_ReviewApplicationRequest()
                review.applicationId = id
                review.outcome = .return
                review.reason = longest(4, InputLimits.reason)
                review.requestId = "return-\(cycle)"
                var amend = Foshan_Subsidy_V1_AmendApplicationRequest()
                amend.applicationId = id
                amend.application = application(cycle)
                amend.reason = longest(5, InputLimits.reason)
                amend.requestId = "amend-\(cycle)"
                do {
                    _ = try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, review)
                    record = try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, amend).record ?? record
                } catch let error as SubsidyError {
                    #expect(error.message.contains("has 100 recorded changes"), "\(error.message)")
                    break
                }
            }
            var get = Foshan_Subsidy_V1_GetApplicationRequest()
            get.applicationId = id
            record = try #require(try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.getApplication, get).record)
            #expect(record.history.count == InputLimits.transitionsPerApplication)
            // Each list's change names its size and a few entries, not 5,000 of them twice.
            let served = try #require(record.history.last { !$0.changes.isEmpty }?.changes.first { $0.field == "servedEnterprises" })
            #expect(served.before == "100 entries; removed 100: \(lists[0].prefix(10).joined(separator: ", ")) and 90 more", "\(served.before.prefix(300))")
            #expect(served.after.hasPrefix("5000 entries; added 5000: \(lists[2][0]), ") && served.after.hasSuffix(" and 4990 more"), "\(served.after.prefix(300))")
            #expect(record.application?.servedEnterprises.count == InputLimits.servedEnterprises)
            // Far below the 4 MiB frame: room for the explanation and decisions still to come.
            let bytes = record.serializedBytes().count
            #expect(bytes < FrameDecoderDefaults.maximumReplyFrameLength * 3 / 4, "the record is \(bytes) bytes")
            print("a record at its bounds: \(bytes) bytes")
        }
    }

    @Test("renaming back and forth ends: one applicant has at most 100 recorded changes, and the ledger's index keeps the last name allowed")
    func applicantHistoryBound() async throws {
        try await withInProcessDaemon { daemon in
            let chancheng = Bureau(daemon.tenant("chancheng"))
            let uscc = TestData.uscc(9400)
            try await chancheng.register(uscc)
            func rename(_ round: Int) -> Foshan_Subsidy_V1_UpdateApplicantRequest {
                var update = Foshan_Subsidy_V1_UpdateApplicantRequest()
                update.requestId = "rename-\(round)"
                update.uscc = uscc
                update.name = round % 2 == 0 ? "佛山甲有限公司" : "佛山乙有限公司"
                update.reason = String(repeating: "更名", count: 500)
                return update
            }
            var refusal: SubsidyError?
            var renames = 0
            for round in 0..<120 where refusal == nil {
                do {
                    let reply = try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, rename(round))
                    renames += 1
                    #expect(reply.history.count == renames)
                } catch let error as SubsidyError {
                    refusal = error
                }
            }
            #expect(renames == InputLimits.changesPerApplicant)
            #expect(refusal?.code == .failedPrecondition)
            #expect(refusal?.message.contains("has 100 recorded changes") == true, "\(refusal?.message ?? "none")")
            // The registry and the ledger's index agree on the last name that was allowed: the
            // refused rename reached neither.
            var get = Foshan_Subsidy_V1_GetApplicantRequest()
            get.uscc = uscc
            let registry = try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.getApplicant, get)
            #expect(registry.history.count == 100)
            #expect(registry.applicant?.name == "佛山乙有限公司")
            let indexed = try await daemon.services.stores.ledger.database.read { transaction in
                try transaction.query("SELECT name FROM applicants WHERE uscc = ?", [.text(uscc)]).first?.text("name")
            }
            #expect(indexed == "佛山乙有限公司")
            // A retry of a rename that was made still replays.
            #expect(try await chancheng.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, rename(99)).history.count == 100)
        }
    }
}

import Logging
import SubsidyCore
import SubsidyStore
import SubsidyWire

#if canImport(Glibc)
import Glibc
#endif

/// `subsidyd --dev --demo`: a realistic sample for newcomers — applicants and providers in all
/// five districts, applications of several measures in every lifecycle state, earlier decisions
/// imported, caps partly used. It goes through the same service code as real calls, so it obeys
/// every rule; it only runs on an empty data directory.
public enum DemoData {
    static let providers = ["佛山云智科技有限公司", "南海工业互联网服务有限公司", "顺德数联科技有限公司", "高明智造云有限公司", "三水数字工场有限公司"]
    static let buyers = ["陶瓷", "家电", "铝型材", "家具", "纺织", "五金", "机械", "电子"]

    /// The demo's USCCs: Foshan district codes 440604…440607, with valid check characters. The
    /// organisation code (positions 9–16) starts with a digit of the district's own, so no two
    /// districts' enterprises are one organisation (an organisation has one USCC); nanhai's is 0,
    /// which keeps the codes the README's walkthrough names.
    static func uscc(_ district: Int, _ n: Int) -> String {
        let areas = ["440604", "440605", "440606", "440608", "440607"]
        let digits = String(n)
        let organisation = (district == 1 ? "0" : String(district + 1)) + String(repeating: "0", count: 7 - digits.count) + digits
        return (try? USCC.makeValid(prefix16: "91" + areas[district] + organisation).rawValue) ?? ""
    }

    public static func seed(services: SubsidyServices, configuration: ServerConfiguration, logger: Logger) async throws {
        var applicantCount = 0
        for district in DistrictID.allCases { applicantCount += try await services.stores.store(district).applicants(after: "", limit: 1).count }
        guard applicantCount == 0 else {
            logger.info("demo: data directory already has data; not seeding again")
            return
        }
        // The sample is history: 2022 under the 2020 measures, 2024 under their successors, each
        // decided on the calendar of its year (the programmes have since ended), and filed
        // earlier (`Seeder.submit(on:)`): no decision may be dated before its filing.
        try await Clock.$pinned.withValue(CalendarDate(year: 2022, month: 9, day: 30)) {
            try await seed2020(services: services, configuration: configuration)
        }
        try await Clock.$pinned.withValue(CalendarDate(year: 2024, month: 11, day: 30)) {
            try await seedProgrammes(seeder: Seeder(services: services, configuration: configuration), programmes: services.programmes)
        }
        logger.notice("demo: seeded applicants, pool members, history and applications in every lifecycle state, under all three programmes")
    }

    /// Applicants, pool members, imported history and 2022 applications under the 2020 measures.
    static func seed2020(services: SubsidyServices, configuration: ServerConfiguration) async throws {
        let seeder = Seeder(services: services, configuration: configuration)
        let programmes = services.programmes
        let stores = services.stores
        let district = DistrictService(programmes: programmes, stores: stores)
        let city = CityService(programmes: programmes, stores: stores, events: LedgerEvents())
        let views = CityViews(programmes: programmes, stores: stores, events: LedgerEvents())

        // Decisions made before the system: imported so their caps count.
        var history = Foshan_Subsidy_V1_ImportHistoryRequest()
        history.requestId = "demo-history"
        for i in 0..<12 {
            var award = Foshan_Subsidy_V1_HistoricalAward()
            award.measure = .cloudVoucher
            award.fundingYear = 2021
            award.district = DistrictID.allCases[i % 5].rawValue
            award.enterpriseUscc = uscc(i % 5, 500 + i)
            award.providerUscc = uscc(i % 5, 1)
            award.amountFen = Int64(20 + i * 2) * 1_000_000
            award.decisionDate = "2021-0\(1 + i % 9)-15"
            award.decisionDocument = "佛工信〔2021〕\(30 + i)号"
            award.contractNumber = "HIST-2021-\(i)"
            history.awards.append(award)
        }
        _ = try await views.importHistory(history, context: seeder.context(.city, "ImportHistory"))

        for (d, id) in DistrictID.allCases.enumerated() {
            let ctx = seeder.context(id, "RegisterApplicant")
            try await seeder.register(district, ctx, uscc(d, 1), providers[d], .serviceProvider)
            var member = Foshan_Subsidy_V1_RegisterPoolMemberRequest()
            member.requestId = "demo-pool-\(d)"
            var m = Foshan_Subsidy_V1_PoolMember()
            m.uscc = uscc(d, 1)
            m.name = providers[d]
            m.entryDate = "2020-0\(8 + d % 2)-1\(d)"
            member.member = m
            _ = try await views.registerPoolMember(member, context: seeder.context(.city, "RegisterPoolMember"))
            for n in 0..<4 {
                try await seeder.register(district, ctx, uscc(d, 10 + n), "佛山市\(id.displayName)\(buyers[(d + n) % buyers.count])制造有限公司", .industrialEnterprise)
            }
            try await seeder.register(district, ctx, uscc(d, 90), "\(id.displayName)工业互联网公共服务中心", .institution)
        }

        // Every lifecycle state, across the districts and measures; filed in the spring, decided from May.
        let filed = try CalendarDate(parsing: "2022-03-01")
        for (d, id) in DistrictID.allCases.enumerated() {
            let provider = uscc(d, 1)
            func voucher(_ n: Int, _ contractYuan: Int64) -> Foshan_Subsidy_V1_Application {
                var a = Foshan_Subsidy_V1_Application()
                a.measure = .cloudVoucher
                a.fundingYear = 2022
                a.enterpriseUscc = uscc(d, 10 + n)
                a.providerUscc = provider
                a.contractNumber = "HT-2022-\(id.rawValue)-\(n)"
                a.contractAmountFen = contractYuan * 100
                a.paidAmountFen = contractYuan * 100
                a.projectName = "设备上云与生产管控云化"
                return a
            }
            let submitted = try await seeder.submit(district, id, voucher(0, 360_000), on: filed)
            _ = submitted
            let returned = try await seeder.submit(district, id, voucher(1, 280_000), on: filed)
            try await seeder.review(district, id, returned, .return, "合同金额与发票不一致，请补正", on: filed)
            let approved = try await seeder.submit(district, id, voucher(2, 600_000 + Int64(d) * 150_000), on: filed)
            try await seeder.review(district, id, approved, .recommend, "", on: filed)
            try await seeder.approve(city, approved, "2022-0\(5 + d % 3)-1\(d)")
            if d >= 1 { try await seeder.decide(city, Foshan_Subsidy_V1_CityService.Method.publicizeApplication, approved, "2022-08-01", "公示") }
            if d >= 2 { try await seeder.decide(city, Foshan_Subsidy_V1_CityService.Method.disburseApplication, approved, "2022-08-20", "已拨付") }
            if d == 4 { try await seeder.decide(city, Foshan_Subsidy_V1_CityService.Method.revokeApplication, approved, "2022-09-01", "项目未按合同实施，撤销奖补") }
            let recommended = try await seeder.submit(district, id, voucher(3, 420_000), on: filed)
            try await seeder.review(district, id, recommended, .recommend, "", on: filed)
            if d == 0 {
                try await seeder.decide(city, Foshan_Subsidy_V1_CityService.Method.rejectApplication, recommended, "", "服务商产品不属于资源池目录")
            }
            if d == 1 {
                var w = Foshan_Subsidy_V1_WithdrawApplicationRequest()
                w.requestId = "demo-withdraw-\(d)"
                w.applicationId = recommended
                w.reason = "企业申请撤回"
                _ = try await district.withdrawApplication(w, context: seeder.context(id, "WithdrawApplication"))
            }
            if d == 2 {
                var a = Foshan_Subsidy_V1_Application()
                a.measure = .publicService
                a.fundingYear = 2022
                a.enterpriseUscc = uscc(d, 90)
                a.previousYearServiceSpendFen = 86_000_000
                a.projectName = "2021年度工业互联网公共服务"
                let ps = try await seeder.submit(district, id, a, on: filed)
                try await seeder.review(district, id, ps, .recommend, "", on: filed)
                try await seeder.approve(city, ps, "2022-06-30")
            }
            if d == 3 {
                var a = Foshan_Subsidy_V1_Application()
                a.measure = .benchmarkProject
                a.fundingYear = 2022
                a.enterpriseUscc = uscc(d, 11)
                a.investedAmountFen = 1_250_000_000
                a.selectionLevel = .municipal
                a.projectName = "5G+边缘计算智能工厂标杆示范"
                let bp = try await seeder.submit(district, id, a, on: filed)
                try await seeder.review(district, id, bp, .recommend, "", on: filed)
                try await seeder.approve(city, bp, "2022-07-15")
            }
        }
    }

    /// The programmes after 2023: a 禅城 enterprise's workshops and factory under foshan-dx-2021
    /// (the factory paid as a difference), and 顺德's own CLOUD_USE awards under shunde-dx-2021,
    /// decided by 顺德 — approved, publicized, disbursed and one still waiting.
    static func seedProgrammes(seeder: Seeder, programmes: Programmes) async throws {
        let district = DistrictService(programmes: programmes, stores: seeder.services.stores)
        let city = CityService(programmes: programmes, stores: seeder.services.stores, events: LedgerEvents())
        // Enterprises of their own, so the 2020 demo's rows and names stay as they were.
        let chancheng = DistrictID.chancheng
        let owner = uscc(0, 30)
        try await seeder.register(district, seeder.context(chancheng, "RegisterApplicant"), owner, "佛山市禅城区数字化装备制造有限公司", .industrialEnterprise)
        for (n, year) in [(1, Int32(2022)), (2, 2023)] {
            var a = Foshan_Subsidy_V1_Application()
            a.programme = "foshan-dx-2021"
            a.measure = .digitalWorkshop
            a.fundingYear = year
            a.enterpriseUscc = owner
            a.projectName = "数字化车间（\(n)号）"
            let id = try await seeder.submit(district, chancheng, a, on: try CalendarDate(parsing: "2022-09-01"))
            try await seeder.review(district, chancheng, id, .recommend, "", on: try CalendarDate(parsing: "2022-09-01"))
            try await seeder.approve(city, id, "\(year)-10-15")
        }
        var factory = Foshan_Subsidy_V1_Application()
        factory.programme = "foshan-dx-2021"
        factory.measure = .digitalFactory
        factory.fundingYear = 2024
        factory.enterpriseUscc = owner
        factory.grade = .standard
        factory.projectName = "数字化示范工厂"
        let factoryID = try await seeder.submit(district, chancheng, factory, on: try CalendarDate(parsing: "2024-09-02"))
        try await seeder.review(district, chancheng, factoryID, .recommend, "", on: try CalendarDate(parsing: "2024-09-02"))
        var approval = Foshan_Subsidy_V1_ApproveApplicationRequest()
        approval.requestId = "demo-approve-\(factoryID)"
        approval.applicationId = factoryID
        approval.decisionDate = "2024-11-20"
        approval.caseAmountFen = 1_000_000_000
        approval.decisionDocument = "佛工信〔2024〕88号"
        approval.reason = "认定为数字化示范工厂，按累计奖补差额拨付"
        _ = try await city.approveApplication(approval, context: seeder.context(.city, "ApproveApplication"))

        // 顺德: its catalogue, and CLOUD_USE awards it decides itself.
        let shunde = DistrictID.shunde
        let own = DistrictProgrammesService(programmes: programmes, stores: seeder.services.stores, events: LedgerEvents())
        var member = Foshan_Subsidy_V1_RegisterCatalogueMemberRequest()
        member.requestId = "demo-catalogue"
        member.catalogue = "shunde-cloud-products"
        member.uscc = uscc(2, 1)
        member.name = providers[2]
        member.entryDate = "2022-01-01"
        _ = try await own.registerCatalogueMember(member, context: seeder.context(shunde, "RegisterCatalogueMember"))
        let users = ["佛山市顺德区智能家居制造有限公司", "佛山市顺德区精密模具有限公司", "佛山市顺德区小家电科技有限公司"]
        for (n, name) in users.enumerated() {
            try await seeder.register(district, seeder.context(shunde, "RegisterApplicant"), uscc(2, 30 + n), name, .industrialEnterprise)
        }
        for n in 0..<3 {
            var a = Foshan_Subsidy_V1_Application()
            a.programme = "shunde-dx-2021"
            a.measure = .cloudUse
            a.fundingYear = 2024
            a.enterpriseUscc = uscc(2, 30 + n)
            a.providerUscc = uscc(2, 1)
            a.contractNumber = "SD-CLOUD-2024-\(n)"
            a.contractAmountFen = Int64(1_200_000 + n * 900_000) * 100
            a.paidAmountFen = a.contractAmountFen
            a.declaredRevenueFen = Int64([80_000_000, 40_000_000, 120_000_000][n]) * 100
            a.projectName = "工业软件上云用云"
            let id = try await seeder.submit(district, shunde, a, on: try CalendarDate(parsing: "2024-03-01"))
            try await seeder.review(district, shunde, id, .recommend, "", on: try CalendarDate(parsing: "2024-03-01"))
            guard n < 2 else { continue }  // one still waits for the district's decision
            var r = Foshan_Subsidy_V1_ApproveApplicationRequest()
            r.requestId = "demo-approve-\(id)"
            r.applicationId = id
            r.decisionDate = "2024-06-1\(n)"
            r.decisionDocument = "顺经促〔2024〕\(20 + n)号"
            r.reason = "区级复核通过"
            _ = try await own.approveApplication(r, context: seeder.context(shunde, "ApproveApplication"))
            if n == 1 {
                for (step, date) in [("PublicizeApplication", "2024-06-20"), ("DisburseApplication", "2024-07-05")] {
                    var d = Foshan_Subsidy_V1_DecideApplicationRequest()
                    d.requestId = "demo-\(step)-\(id)"
                    d.applicationId = id
                    d.decisionDate = date
                    d.reason = "区级决定"
                    let ctx = seeder.context(shunde, step)
                    _ = step == "PublicizeApplication"
                        ? try await own.publicizeApplication(d, context: ctx) : try await own.disburseApplication(d, context: ctx)
                }
            }
        }
    }

    /// Calls the services as the tenant would, through the same code paths as the RPCs.
    struct Seeder {
        let services: SubsidyServices
        let configuration: ServerConfiguration
        private static let logger = Logger(label: "subsidyd.demo")

        func context(_ district: DistrictID?, _ method: String) -> CallContext {
            let tenantID = district?.rawValue ?? DevelopmentLayout.cityTenant
            let tenant = configuration.tenants.first { $0.id == tenantID }!
            let service = district == nil ? "CityService" : "DistrictService"
            return CallContext(
                tenant: tenant, peer: PeerCredentials(pid: getpid(), uid: getuid(), gid: getgid()),
                method: "/foshan.subsidy.v1.\(service)/\(method)", metadata: [:], logger: Self.logger,
                blockingWork: .inProcess, listPageBytes: configuration.limits.listPageBytes, searchScanRows: configuration.limits.searchScanRows
            )
        }

        func context(_ city: CityTenant, _ method: String) -> CallContext { context(nil, method) }

        func register(_ service: DistrictService, _ ctx: CallContext, _ uscc: String, _ name: String, _ role: Foshan_Subsidy_V1_ApplicantRole) async throws {
            var r = Foshan_Subsidy_V1_RegisterApplicantRequest()
            r.requestId = "demo-applicant-\(ctx.tenant.id)-\(uscc)"
            var a = Foshan_Subsidy_V1_Applicant()
            a.uscc = uscc
            a.name = name
            a.locality = .local
            a.role = role
            r.applicant = a
            _ = try await service.registerApplicant(r, context: ctx)
        }

        /// Files `application` on `day` (the decisions that follow are dated after it).
        func submit(
            _ service: DistrictService, _ district: DistrictID, _ application: Foshan_Subsidy_V1_Application, on day: CalendarDate
        ) async throws -> String {
            var r = Foshan_Subsidy_V1_SubmitApplicationRequest()
            r.requestId = "demo-submit-\(district.rawValue)-\(application.enterpriseUscc)-\(application.measure)-\(application.contractNumber)-\(application.fundingYear)-\(application.projectName)"
            r.application = application
            return try await Clock.$pinned.withValue(day) {
                try await service.submitApplication(r, context: context(district, "SubmitApplication")).record?.id ?? ""
            }
        }

        /// Reviews `id` on `day` (the day it was filed: its decisions are dated after both).
        func review(
            _ service: DistrictService, _ district: DistrictID, _ id: String, _ outcome: Foshan_Subsidy_V1_ReviewOutcome, _ reason: String, on day: CalendarDate
        ) async throws {
            var r = Foshan_Subsidy_V1_ReviewApplicationRequest()
            r.requestId = "demo-review-\(id)"
            r.applicationId = id
            r.outcome = outcome
            r.reason = reason
            _ = try await Clock.$pinned.withValue(day) {
                try await service.reviewApplication(r, context: context(district, "ReviewApplication"))
            }
        }

        func approve(_ service: CityService, _ id: String, _ date: String) async throws {
            var r = Foshan_Subsidy_V1_ApproveApplicationRequest()
            r.requestId = "demo-approve-\(id)"
            r.applicationId = id
            r.decisionDate = date
            r.reason = "复核通过"
            _ = try await service.approveApplication(r, context: context(.city, "ApproveApplication"))
        }

        func decide(_ service: CityService, _ method: UnaryMethod<Foshan_Subsidy_V1_DecideApplicationRequest, Foshan_Subsidy_V1_DecideApplicationResponse>, _ id: String, _ date: String, _ reason: String) async throws {
            var r = Foshan_Subsidy_V1_DecideApplicationRequest()
            r.requestId = "demo-\(method.methodName)-\(id)"
            r.applicationId = id
            r.decisionDate = date
            r.reason = reason
            let ctx = context(.city, method.methodName)
            switch method.fullName {
            case Foshan_Subsidy_V1_CityService.Method.revokeApplication.fullName: _ = try await service.revokeApplication(r, context: ctx)
            case Foshan_Subsidy_V1_CityService.Method.disburseApplication.fullName: _ = try await service.disburseApplication(r, context: ctx)
            case Foshan_Subsidy_V1_CityService.Method.publicizeApplication.fullName: _ = try await service.publicizeApplication(r, context: ctx)
            default: _ = try await service.rejectApplication(r, context: ctx)
            }
        }
    }

    enum CityTenant { case city }
}

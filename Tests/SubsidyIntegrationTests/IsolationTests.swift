import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Testing

/// Districts see and change only their own data: every district RPC, called as every district,
/// aimed at every other district's application, is PERMISSION_DENIED and leaves every file as
/// it was; every CityService method is PERMISSION_DENIED to every district.
@Suite("tenant isolation")
struct IsolationTests {
    @Test("the isolation matrix: 5 callers × 4 other districts × every application RPC, and every city method")
    func matrix() async throws {
        try await withDaemon { daemon in
            let provider = TestData.uscc(902)
            try await Bureau(try await daemon.client("city")).pool(provider)
            var ids: [String: String] = [:]
            var bureaus: [String: Bureau] = [:]
            for (d, district) in DaemonProcess.districts.enumerated() {
                let bureau = Bureau(try await daemon.client(district))
                let buyer = TestData.uscc(4000 + d)
                try await bureau.register(buyer)
                if d == 0 { try await bureau.register(provider, role: .serviceProvider) }
                ids[district] = try await bureau.submit(
                    TestData.voucher(enterprise: buyer, provider: provider, contractFen: 10_000_000, contract: "ISO-\(district)")
                ).id
                bureaus[district] = bureau
            }
            // The ledger takes note of the district files' heads a moment after they move: wait for it.
            #expect(await daemon.districtHeadsRecorded(), "the ledger never recorded the district files' heads")
            let before = try fileDigests(daemon.dataDirectory)

            var checked = 0
            for caller in DaemonProcess.districts {
                let client = bureaus[caller]!.client
                for target in DaemonProcess.districts where target != caller {
                    let id = ids[target]!
                    let attempts: [(String, () async throws -> Void)] = [
                        ("GetApplication", {
                            var r = Foshan_Subsidy_V1_GetApplicationRequest()
                            r.applicationId = id
                            _ = try await client.call(Foshan_Subsidy_V1_DistrictService.Method.getApplication, r)
                        }),
                        ("ReviewApplication", {
                            var r = Foshan_Subsidy_V1_ReviewApplicationRequest()
                            r.requestId = "iso-review-\(caller)-\(target)"
                            r.applicationId = id
                            r.outcome = .recommend
                            _ = try await client.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, r)
                        }),
                        ("WithdrawApplication", {
                            var r = Foshan_Subsidy_V1_WithdrawApplicationRequest()
                            r.requestId = "iso-withdraw-\(caller)-\(target)"
                            r.applicationId = id
                            _ = try await client.call(Foshan_Subsidy_V1_DistrictService.Method.withdrawApplication, r)
                        }),
                        ("AmendApplication", {
                            var r = Foshan_Subsidy_V1_AmendApplicationRequest()
                            r.requestId = "iso-amend-\(caller)-\(target)"
                            r.applicationId = id
                            r.application = TestData.voucher(enterprise: TestData.uscc(4000), provider: provider, contractFen: 1, contract: "X")
                            _ = try await client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, r)
                        }),
                        ("Quote", {
                            var r = Foshan_Subsidy_V1_QuoteRequest()
                            r.applicationId = id
                            _ = try await client.call(Foshan_Subsidy_V1_DistrictService.Method.quote, r)
                        }),
                        ("ListApplications", {
                            var r = Foshan_Subsidy_V1_ListApplicationsRequest()
                            r.district = target
                            _ = try await client.call(Foshan_Subsidy_V1_DistrictService.Method.listApplications, r)
                        }),
                    ]
                    for (name, attempt) in attempts {
                        let error = await #expect(throws: SubsidyError.self, "\(caller) → \(target) \(name)") { try await attempt() }
                        #expect(error?.code == .permissionDenied, "\(caller) → \(target) \(name): \(String(describing: error))")
                        checked += 1
                    }
                }
                // A district's own list never contains another district's applications.
                let own = try await client.call(Foshan_Subsidy_V1_DistrictService.Method.listApplications, Foshan_Subsidy_V1_ListApplicationsRequest())
                #expect(own.records.map(\.id) == [ids[caller]!])

                // Every city method, whatever the request, is refused to a district.
                let raw = try RawConnection(path: daemon.socketPath(caller))
                for (n, method) in Foshan_Subsidy_V1_CityService.Method.all.enumerated() {
                    raw.send(RawConnection.request(callID: UInt64(n + 1), method: method.fullName, payload: []))
                    let reply = try #require(try await raw.receiveFrame())
                    #expect(reply.status?.code == .permissionDenied, "\(caller) \(method.fullName)")
                    checked += 1
                }
            }
            #expect(checked == 5 * 4 * 6 + 5 * Foshan_Subsidy_V1_CityService.Method.all.count)

            // An enterprise is registered once, by its own district: another district cannot
            // register it (under another locality or role) to file for it.
            let taken = await #expect(throws: SubsidyError.self) {
                try await bureaus["shunde"]!.register(TestData.uscc(4000), role: .industrialEnterprise, locality: .local)
            }
            #expect(taken?.code == .alreadyExists)
            #expect(taken?.message.contains("registered by chancheng") == true)
            #expect(try fileDigests(daemon.dataDirectory) == before, "a refused call changed a file")
        }
    }

    /// SHA-256 of every SQLite file (and its WAL) under the data directory.
    private func fileDigests(_ directory: String) throws -> [String: String] {
        var digests: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let path = enumerator?.nextObject() as? String {
            guard path.hasSuffix(".sqlite") || path.hasSuffix(".sqlite-wal") else { continue }
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + path))
            digests[path] = HexDigest.sha256(data)
        }
        return digests
    }
}

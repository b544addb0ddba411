import Foundation
import SubsidyClient
import SubsidyCore
import SubsidyTestSupport
import SubsidyWire
import Synchronization
import Testing
@testable import SubsidyStore

/// One tenant cannot hurt the others (issue 8 §3): replies bounded by bytes, a connection that
/// never reads bounded in memory, connections capped per tenant — against the real daemon.
///
/// Each test has its own daemon and measures only that daemon, so they run in parallel.
@Suite("resource bounds")
struct ResourceBoundsTests {
    static func configuration(_ extra: [String: Int] = [:]) -> DaemonConfiguration {
        raiseDescriptorLimit()
        var configuration = DaemonConfiguration()
        configuration.limits = ["requests_per_second": 1_000_000, "request_burst": 1_000_000].merging(extra) { _, new in new }
        return configuration
    }

    /// A CLUSTER_PILOT application with `served` enterprises, a long project name and a long reason
    /// (~30 KB encoded with 1,000 served enterprises; the largest a district can file has 5,000).
    static func largeApplication(enterprise: USCC, index: Int, served: [USCC]) -> Application {
        Application(
            measure: .clusterPilot, fundingYear: FundingYear(2022)!, enterprise: enterprise,
            projectName: String(repeating: "集群数字化转型", count: 25) + " \(index)", selectionDate: CalendarDate(year: 2022, month: 3, day: 1),
            selectionLevel: .provincial, pilotID: "P-\(enterprise.rawValue.suffix(6))-\(index)", servedEnterprises: served,
            otherFundReason: String(repeating: "说明", count: 700)
        )
    }

    /// Writes `count` large applications (SUBMITTED) into each of `districts`' files before the
    /// daemon starts, through the store's own code in one transaction per district, and returns
    /// every id. These tests are about what the daemon does with many large records, not about
    /// filing them (which the lifecycle tests cover over the socket): filing 1,250 of them one RPC
    /// at a time took a minute.
    static func prefill(
        _ configuration: DaemonConfiguration, perDistrict count: Int, servedEnterprises: Int = 1_000,
        districts chosen: [DistrictID] = DistrictID.allCases
    ) async throws -> Set<String> {
        let served = try (0..<servedEnterprises).map { try USCC(validating: TestData.uscc(500_000 + $0)) }
        let districts = configuration.dataDirectory + "/districts"
        for directory in [configuration.dataDirectory, districts] where mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw CocoaError(.fileWriteUnknown)
        }
        // The ledger first, as the daemon creates it: district files with data and no ledger are
        // a lost ledger, which start-up refuses.
        let ledger = try CityLedger(path: configuration.dataDirectory + "/city-ledger.sqlite")
        await ledger.database.close()
        var all = Set<String>()
        for (d, district) in DistrictID.allCases.enumerated() where chosen.contains(district) {
            let store = try DistrictStore(path: "\(districts)/\(district.rawValue).sqlite", district: district)
            let enterprise = TestData.uscc(10_000 + d, area: Int(district.divisionCode.suffix(1))!)
            let applicant = ApplicantRecord(uscc: enterprise, name: "集群促进会 \(d)", district: district, locality: .local, role: .industrialEnterprise)
            let actor = Actor(tenant: district.rawValue, uid: getuid())
            let ids = try store.database.writeNow { transaction in
                try store.insertApplicant(applicant, by: actor, at: "2022-05-01T00:00:00Z", in: transaction)
                return try (0..<count).map { i in
                    return try store.insertApplication(
                        largeApplication(enterprise: try USCC(validating: enterprise), index: i, served: served), filedOn: CalendarDate(year: 2022, month: 1, day: 4)!,
                        actor: actor, request: RequestKey(id: "\(district.rawValue):prefill-\(i)", fingerprint: "prefill"),
                        at: "2022-05-01T00:00:00Z", in: transaction
                    ).id
                }
            }
            await store.database.close()
            all.formUnion(ids)
        }
        return all
    }

    @Test("a tenant's calls compute in its own turns: while its turn is held its next call waits, and another tenant's is answered")
    func computeTurns() async throws {
        var configuration = DaemonConfiguration()
        configuration.limits = ["max_concurrent_compute_per_tenant": 1]
        try await withDaemon(configuration: configuration) { daemon in
            #expect(daemon.log().contains("max_concurrent_compute_per_tenant=1"))
            let list = Foshan_Subsidy_V1_DistrictService.Method.listApplications
            let (holder, waiter, other) = (try await daemon.client("nanhai"), try await daemon.client("nanhai"), try await daemon.client("shunde"))
            // The test hook's delay is spent in the call's turn, as a heavy request's checks are.
            let holding = Task { try await holder.call(list, Foshan_Subsidy_V1_ListApplicationsRequest(), metadata: ["x-test-delay-ms": "8000"]) }
            #expect(await eventually { daemon.log().contains("test hook: delaying the handler 8000 ms") })
            let answered = TurnFlag()
            let waiting = Task {
                let reply = try await waiter.call(list, Foshan_Subsidy_V1_ListApplicationsRequest())
                answered.set()
                return reply
            }
            // Another tenant is answered at once; nanhai's second call still waits for the turn.
            _ = try await other.call(list, Foshan_Subsidy_V1_ListApplicationsRequest())
            #expect(!answered.isSet, "nanhai's second call was answered while its one turn was held")
            // The turn is given back when the held call ends, and the waiting call gets it.
            _ = try await holding.value
            _ = try await waiting.value
            #expect(answered.isSet)
            for client in [holder, waiter, other] { await client.close() }
        }
    }

    @Test("the city pages through hundreds of large applications: every page under the byte budget, every record once")
    func cityListIsBoundedByBytes() async throws {
        // The page budget is a quarter of max_frame_bytes (at most 1 MiB): 64 KiB here, so ~8 KB
        // records make many pages of a 500-record request without tens of megabytes of records.
        let configuration = Self.configuration(["max_frame_bytes": 256 * 1024])
        let budget = 64 * 1024
        // 200 records of ~8 KB: ~25 pages, each cut by bytes long before 500 records.
        let perDistrict = 40
        let filed = try await Self.prefill(configuration, perDistrict: perDistrict, servedEnterprises: 150)
        try await withDaemon(configuration: configuration) { daemon in
            #expect(filed.count == perDistrict * DistrictID.allCases.count)

            let city = try await daemon.client("city")
            var seen: [String] = []
            var token = ""
            var pages = 0
            repeat {
                var request = Foshan_Subsidy_V1_ListApplicationsRequest()
                request.pageSize = 500
                request.pageToken = token
                let page = try await city.call(Foshan_Subsidy_V1_CityService.Method.listApplications, request)
                let bytes = page.serializedBytes().count
                #expect(bytes <= budget + 4_096, "page \(pages) is \(bytes) bytes")
                #expect(!page.records.isEmpty)
                seen += page.records.map(\.id)
                token = page.nextPageToken
                pages += 1
            } while !token.isEmpty && pages < 1_000
            print("city list: \(seen.count) records in \(pages) pages")
            #expect(pages > filed.count * 8 * 1024 / budget / 2, "a 500-record page of ~8 KB records must have been cut by bytes")
            #expect(seen.count == Set(seen).count, "a record was listed twice")
            #expect(Set(seen) == filed, "records lost: \(filed.subtracting(seen).sorted().prefix(5))")
            #expect(seen == seen.sorted(), "pages are in id order")

            // A district's own list is bounded the same way.
            let nanhai = try await daemon.client("nanhai")
            var request = Foshan_Subsidy_V1_ListApplicationsRequest()
            request.pageSize = 500
            let page = try await nanhai.call(Foshan_Subsidy_V1_DistrictService.Method.listApplications, request)
            #expect(page.serializedBytes().count <= budget + 4_096)
            #expect(!page.nextPageToken.isEmpty && page.records.count < perDistrict)
            await nanhai.close()
            await city.close()
        }
    }

    /// A daemon's files and limits for clients that never read their replies: 1,000 calls a
    /// connection may open, each answered with a 64 KiB page (the page budget is a quarter of
    /// max_frame_bytes), so without the queued-bytes bound each such connection could make the
    /// daemon build ~64 MiB of replies. With it (256 KiB here), each holds 256 KiB + one reply
    /// per store permit + a few frames. The bound is on bytes, so the sizes scale together; small
    /// pages keep the replies the daemon builds (in a debug build) cheap. The tenant's budget is
    /// one connection's (the least the configuration allows), so the first client's replies
    /// alone fill it. Nanhai, their district, holds 40 records of ~6 KB (50 served enterprises):
    /// ~10 make a page.
    static func nonReaders(_ extra: [String: Int]) async throws -> DaemonConfiguration {
        let configuration = Self.configuration(
            [
                "max_frame_bytes": 256 * 1024, "max_calls_per_connection": 1_000, "max_queued_bytes_per_connection": 256 * 1024,
                "max_queued_bytes_per_tenant": 256 * 1024,
            ].merging(extra) { _, new in new })
        _ = try await Self.prefill(configuration, perDistrict: 40, servedEnterprises: 50, districts: [.nanhai])
        return configuration
    }

    /// A district's ListApplications of up to 500 records: one page of the byte budget each.
    static let largePageRequest: Foshan_Subsidy_V1_Frame = {
        var request = Foshan_Subsidy_V1_ListApplicationsRequest()
        request.pageSize = 500
        return RawConnection.request(callID: 0, method: Foshan_Subsidy_V1_DistrictService.Method.listApplications.fullName, payload: request.serializedBytes())
    }()

    @Test("a stream's frame padded with an unknown field is counted at what the daemon keeps: it cannot hold its tenant over the limit for good")
    func paddedStreams() async throws {
        var configuration = DaemonConfiguration()
        configuration.limits["max_queued_bytes_per_tenant"] = 4 * 1_024 * 1_024
        configuration.limits["max_queued_bytes_per_connection"] = 4 * 1_024 * 1_024
        try await withDaemon(configuration: configuration) { daemon in
            // Two Health.Watch calls, each frame padded to 3 MiB with field 15, which the
            // envelope does not have (dropped as the frame is decoded).
            let raw = try RawConnection(path: daemon.socketPath("nanhai"))
            for id in [1, 2] as [UInt64] {
                var body = RawConnection.request(callID: id, method: Foshan_Subsidy_V1_Health.Method.watch.fullName, payload: []).serializedBytes()
                let padding = 3 * 1_024 * 1_024
                body += [0x7A] + Self.varint(padding) + [UInt8](repeating: 0x41, count: padding)
                #expect(raw.send(RawConnection.lengthPrefix(body.count) + body))
            }
            // Each stream answers first: both were read, and are open and held. (Raw reads give
            // up after 10 s, so a regression fails here rather than hanging.)
            for _ in 0..<2 { #expect(try await raw.receiveFrame() != nil, "a padded stream was never read") }
            // Another connection of the same tenant is read and served.
            let other = try RawConnection(path: daemon.socketPath("nanhai"))
            other.send(RawConnection.request(callID: 1, method: Foshan_Subsidy_V1_Identity.Method.whoAmI.fullName, payload: []))
            #expect(try await other.receiveFrame()?.status?.code == .ok, "the tenant's other connection was not served")
            #expect(!daemon.log().contains("pausing reads: tenant nanhai holds"), "the padding was counted")
        }
    }

    private static func varint(_ value: Int) -> [UInt8] {
        var (rest, bytes) = (UInt64(value), [UInt8]())
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        return bytes + [UInt8(rest)]
    }

    @Test("clients that send many large list requests and never read: the daemon stops reading them, its RSS stays bounded, others are served")
    func hostileNonReaders() async throws {
        let configuration = try await Self.nonReaders(["drain_grace_ms": 2_000])
        try await withDaemon(configuration: configuration) { daemon in
            let city = try await daemon.client("city")
            let shunde = try await daemon.client("shunde")
            _ = try await city.call(Foshan_Subsidy_V1_CityService.Method.listApplications, Foshan_Subsidy_V1_ListApplicationsRequest())
            let before = daemon.residentKiB()

            let frame = Self.largePageRequest
            let hostile = try (0..<4).map { _ in try RawConnection(path: daemon.socketPath("nanhai")) }
            var sent = [Int](repeating: 0, count: hostile.count)
            // Each hostile client writes requests until the daemon stops reading it (its socket
            // buffer fills) or 5,000 requests: without backpressure each would cost a 64 KiB reply.
            // The first alone, in bursts of 50 so that replies are built before its 1,000 calls are
            // open (at that limit the daemon refuses further calls and is held by the refusals'
            // writes instead), until its own bound pauses the daemon's reads of it …
            let pausedByConnection = await eventually {
                sent[0] += await sendUntilBlocked(hostile[0], frame: frame, maximum: min(50, 5_000 - sent[0]))
                return daemon.log().contains("bytes queued for this connection")
            }
            #expect(pausedByConnection)
            // … then the others: the first's unread replies already hold the tenant's budget, so
            // the tenant's bound pauses them after at most one call (each was already waiting for
            // its first frame).
            let pausedByTenant = await eventually {
                for i in 1..<hostile.count { sent[i] += await sendUntilBlocked(hostile[i], frame: frame, maximum: min(50, 5_000 - sent[i])) }
                return daemon.log().contains("pausing reads: tenant nanhai holds")
            }
            #expect(pausedByTenant)
            var peak = 0
            for round in 0..<10 {
                // Others are served while the hostile clients sit on their replies.
                _ = try await city.call(Foshan_Subsidy_V1_CityService.Method.listApplications, Foshan_Subsidy_V1_ListApplicationsRequest(), timeout: .seconds(30))
                #expect(try await shunde.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest(), timeout: .seconds(30)).tenant == "shunde")
                // Keep pushing: whatever the daemon still reads is answered into a full socket.
                for (i, raw) in hostile.enumerated() { sent[i] += await sendUntilBlocked(raw, frame: frame, maximum: 5_000 - sent[i]) }
                peak = max(peak, daemon.residentKiB())
                if round % 5 == 4 { print("hostile non-readers: round \(round + 1), RSS \(daemon.residentKiB()) KiB, peak \(peak) KiB") }
                if round % 5 == 4 { try await Task.sleep(for: .milliseconds(200)) }
            }
            let growth = peak - before
            print("hostile non-readers: requests accepted by the kernel per connection \(sent); RSS before \(before) KiB, peak \(peak) KiB, growth \(growth) KiB")
            #expect(sent.allSatisfy { $0 < 5_000 }, "the daemon kept reading a client that never reads: \(sent)")
            // Per connection (Deploy/README.md, "Worst-case memory"): 256 KiB queued + the frame
            // that crossed it + up to 4 replies built past it (64 KiB each) + 3 inbound frames of
            // ~20 B: ~0.6 MiB, 4 connections ~2.5 MiB. Measured peak growth is ~7 MiB: the rest is
            // the open calls, the store calls' transient working sets and malloc arenas that keep
            // freed memory. Without the bound the replies alone are 4 × 1,000 × 64 KiB = 250 MiB.
            #expect(growth < 64 * 1024, "RSS grew by \(growth) KiB")

            // Closing the hostile connections ends their calls still waiting for a turn (nobody will
            // read those replies); the daemon keeps serving.
            _ = consume hostile
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await shunde.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest(), timeout: .seconds(30)).tenant == "shunde")
            await shunde.close()
            await city.close()
            // And it stops on SIGTERM within its drain grace (2 s here), not after building every reply.
            let started = ContinuousClock.now
            #expect(await daemon.terminate(patience: .seconds(40)) == 0)
            print("hostile non-readers: SIGTERM to exit \(ContinuousClock.now - started)")
        }
    }

    @Test("a client that takes none of its replies is disconnected after write_stall_timeout_ms, and its tenant's other connections are served again")
    func writeStall() async throws {
        // The tenant's budget is one connection's, so the stuck client alone stalls every other
        // connection of nanhai.
        let configuration = try await Self.nonReaders(["write_stall_timeout_ms": 2_000])
        try await withDaemon(configuration: configuration) { daemon in
            var request = Foshan_Subsidy_V1_ListApplicationsRequest()
            request.pageSize = 500
            let frame = Self.largePageRequest
            let stuck = try RawConnection(path: daemon.socketPath("nanhai"))
            let paused = await eventually {
                _ = await sendUntilBlocked(stuck, frame: frame, maximum: 50)
                return daemon.log().contains("bytes queued for this connection")
            }
            #expect(paused)
            let stalledAt = ContinuousClock.now
            // While it is stuck, nanhai's budget is spent: another connection of nanhai waits …
            let other = try await daemon.client("nanhai")
            let waiting = Task { try await other.call(Foshan_Subsidy_V1_DistrictService.Method.listApplications, request, timeout: .seconds(60)) }
            // … until the stuck one is closed, 2 s after it stopped taking replies.
            #expect(await eventually(timeout: .seconds(30)) { daemon.log().contains("taken none of its replies for 2000 ms (write_stall_timeout_ms)") })
            let page = try await waiting.value
            #expect(!page.records.isEmpty)
            print("write stall: closed and the tenant served again \(ContinuousClock.now - stalledAt) after the pause")
            // The stuck client finds, behind the replies the socket took, the end of its connection.
            var frames = 0
            while try await stuck.receiveFrame() != nil { frames += 1 }
            #expect(frames > 0)
            await other.close()
        }
    }

    @Test("a client that floods calls answered on the event loop (WhoAmI) and never reads is held back like any other")
    func inlineNonReader() async throws {
        try await withDaemon(configuration: Self.configuration(["max_queued_bytes_per_connection": 256 * 1024])) { daemon in
            let frame = RawConnection.request(callID: 1, method: Foshan_Subsidy_V1_Identity.Method.whoAmI.fullName, payload: [])
            let hostile = try RawConnection(path: daemon.socketPath("nanhai"))
            let before = daemon.residentKiB()
            // ~200-byte replies: without backpressure 2,000,000 of them would be ~400 MiB.
            var sent = await sendUntilBlocked(hostile, frame: frame, maximum: 2_000_000)
            let shunde = try await daemon.client("shunde")
            for _ in 0..<3 {
                #expect(try await shunde.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest(), timeout: .seconds(30)).tenant == "shunde")
                sent += await sendUntilBlocked(hostile, frame: frame, maximum: 2_000_000 - sent)
            }
            let growth = daemon.residentKiB() - before
            print("inline non-reader: \(sent) requests accepted by the kernel, RSS growth \(growth) KiB")
            // Once the channel takes no more writes the event loop passes calls on to the reading
            // task, whose writer waits for the client: reading stops with the socket buffers full.
            #expect(sent < 100_000, "the daemon kept reading a client that never reads: \(sent)")
            #expect(growth < 64 * 1024, "RSS grew by \(growth) KiB")
            withExtendedLifetime(hostile) {}
            await shunde.close()
        }
    }

    @Test("a client whose calls end at once but who reads their ENDs slowly: each call's request counts until its END is written")
    func endsUnread() async throws {
        // No open-calls limit to speak of, so what bounds the calls waiting to write their END is
        // the queued-bytes bound alone.
        let configuration = Self.configuration([
            "max_frame_bytes": 256 * 1024, "max_queued_bytes_per_connection": 256 * 1024, "max_calls_per_connection": 100_000,
        ])
        try await withDaemon(configuration: configuration) { daemon in
            // Calls to a method nobody serves end at once with a ~100-byte END.
            let method = "/foshan.subsidy.v1.Nowhere/Nothing"
            let hostile = try RawConnection(path: daemon.socketPath("nanhai"), receiveTimeoutSeconds: 1)
            let before = daemon.residentKiB()
            // Tiny calls until the daemon stops reading this connection: its ENDs no longer fit
            // the socket, and the calls waiting to write them reach the bound.
            let paused = await eventually(timeout: .seconds(30)) {
                guard await sendUntilBlocked(hostile, frame: RawConnection.request(callID: 0, method: method, payload: []), maximum: 5_000) < 5_000 else { return false }
                try? await Task.sleep(for: .milliseconds(200))
                return await sendUntilBlocked(hostile, frame: RawConnection.request(callID: 0, method: method, payload: []), maximum: 1) == 0
            }
            #expect(paused)
            // The client reads what has reached it (so the daemon writes as many ENDs more), then
            // sends calls of 64 KiB each and reads no more. Were a call's request released before
            // its END is written, each call waiting for that would count as its ~100-byte END
            // while its task holds 64 KiB: ~2,000 of them (~130 MiB) before reads paused again.
            var read = 0
            while try await hostile.receiveFrame() != nil { read += 1 }
            #expect(read > 0)
            let large = RawConnection.request(callID: 0, method: method, payload: [UInt8](repeating: 0x5A, count: 64 * 1024))
            let sent = try await sendWhileTaken(hostile, frame: large, maximum: 5_000, idle: .milliseconds(500))
            let growth = daemon.residentKiB() - before
            print("unread ENDs: \(read) read, then \(sent) calls of 64 KiB accepted by the kernel, RSS growth \(growth) KiB")
            // Those whose END fits where the client made room end and free their request; of the
            // rest at most 256 KiB (4) are read, plus what the socket and the inbound buffer hold.
            #expect(sent < 5_000, "the daemon kept reading calls whose ENDs it could not write")
            #expect(growth < 32 * 1024, "RSS grew by \(growth) KiB")
            // Others are served meanwhile.
            let shunde = try await daemon.client("shunde")
            #expect(try await shunde.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest(), timeout: .seconds(30)).tenant == "shunde")
            await shunde.close()
            withExtendedLifetime(hostile) {}
        }
    }

    @Test("a frame of two million empty list entries is refused before it is unpacked; others are served")
    func frameOfEntries() async throws {
        try await withDaemon(configuration: Self.configuration()) { daemon in
            // call_id 1, REQUEST, Health.Check, then `metadata {}` (0x2a 0x00) two million times:
            // 4 MB on the wire, which protobuf-c and the Swift copy once unpacked into ~240 MB.
            let method = Array(Foshan_Subsidy_V1_Health.Method.check.fullName.utf8)
            var body: [UInt8] = [0x08, 0x01, 0x10, 0x01, 0x1a, UInt8(method.count)] + method
            body += [UInt8](repeating: 0, count: 2 * 2_000_000)
            for index in stride(from: 6 + method.count, to: body.count, by: 2) { body[index] = 0x2a }
            let hostile = try RawConnection(path: daemon.socketPath("nanhai"), receiveTimeoutSeconds: 10)
            let peak = daemon.peakResidentKiB()
            #expect(hostile.send(RawConnection.lengthPrefix(body.count) + body))
            let end = try #require(try await hostile.receiveFrame())
            let status = try #require(end.status)
            #expect(end.callId == 0 && end.kind == .end && status.code == .invalidArgument)
            #expect(status.message.hasPrefix("frame.metadata: is past the \(InputLimits.listEntriesPerMessage) list entries"), "\(status.message)")
            #expect(await hostile.isClosedByPeer())
            let growth = daemon.peakResidentKiB() - peak
            print("frame of 2,000,000 empty metadata entries: peak RSS growth \(growth) KiB")
            // The frame's own 4 MB buffer, and little else.
            #expect(growth < 32 * 1024, "peak RSS grew by \(growth) KiB")
            let shunde = try await daemon.client("shunde")
            #expect(try await shunde.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest(), timeout: .seconds(30)).tenant == "shunde")
            await shunde.close()
        }
    }

    @Test("calls with large metadata whose ENDs are never read count their whole frame, not just their payload")
    func metadataCounted() async throws {
        let bound = 2 * 1024 * 1024
        let configuration = Self.configuration([
            "max_frame_bytes": 256 * 1024, "max_queued_bytes_per_connection": bound, "max_calls_per_connection": 100_000,
        ])
        try await withDaemon(configuration: configuration) { daemon in
            // A method nobody serves ends at once; its END waits for a client that never reads,
            // and the call holds its frame until then. Each frame carries 240 KiB of metadata
            // (refused too, for a value over 1,024 bytes) and no payload. Once the socket holds
            // as many ENDs as it takes (~1,000), calls wait; counted as their payload, 2 MiB let
            // ~250 such calls (~60 MiB) in.
            let frame = RawConnection.request(
                callID: 0, method: "/foshan.subsidy.v1.Nowhere/Nothing", payload: [],
                metadata: ["x-filler": String(repeating: "m", count: 240 * 1024)])
            let hostile = try RawConnection(path: daemon.socketPath("nanhai"), receiveTimeoutSeconds: 1)
            let before = daemon.residentKiB()
            let sent = try await sendWhileTaken(hostile, frame: frame, maximum: 5_000, idle: .seconds(1))
            let growth = daemon.residentKiB() - before
            print("large-metadata calls left unread: \(sent) accepted by the kernel, RSS growth \(growth) KiB")
            #expect(sent < 5_000, "the daemon kept reading calls whose ENDs it could not write")
            #expect(growth < 24 * 1024, "RSS grew by \(growth) KiB for a bound of \(bound / 1024) KiB")
            withExtendedLifetime(hostile) {}
        }
    }

    @Test("calls waiting to write their END hold no more memory than they are counted for")
    func tinyCallsCounted() async throws {
        // The queued-bytes bound alone stops the flood (no open-calls limit to speak of).
        let bound = 32 * 1024 * 1024
        let configuration = Self.configuration([
            "max_frame_bytes": 256 * 1024, "max_queued_bytes_per_connection": bound, "max_calls_per_connection": 100_000,
        ])
        try await withDaemon(configuration: configuration) { daemon in
            // Calls to a method nobody serves end at once with a ~100-byte END, which a client that
            // never reads leaves unwritten: each such call is counted as its request plus
            // `heldPerCall` until then.
            let method = "/foshan.subsidy.v1.Nowhere/Nothing"
            let hostile = try RawConnection(path: daemon.socketPath("nanhai"), receiveTimeoutSeconds: 1)
            let before = daemon.residentKiB()
            let sent = try await sendWhileTaken(hostile, frame: RawConnection.request(callID: 0, method: method, payload: []), maximum: 40_000, idle: .seconds(1))
            let growth = daemon.residentKiB() - before
            print("tiny calls left unread: \(sent) accepted by the kernel, RSS growth \(growth) KiB (\(growth * 1024 / max(1, sent)) bytes a call)")
            #expect(sent < 40_000, "the daemon kept reading calls whose ENDs it could not write")
            // Counted at 2 KiB a call (before), 32 MiB let ~16,000 calls in, ~8 KB each: ~130 MiB.
            #expect(growth < 2 * bound / 1024, "RSS grew by \(growth) KiB for a bound of \(bound / 1024) KiB")
            withExtendedLifetime(hostile) {}
        }
    }

    @Test("a client that never reads cannot hold a graceful shutdown")
    func shutdownWithNonReader() async throws {
        // Pages of 64 KiB (a quarter of max_frame_bytes), as in `hostileNonReaders`.
        let configuration = Self.configuration([
            "max_frame_bytes": 256 * 1024, "max_calls_per_connection": 1_000, "max_queued_bytes_per_connection": 256 * 1024, "drain_grace_ms": 1_000,
        ])
        _ = try await Self.prefill(configuration, perDistrict: 40, servedEnterprises: 50, districts: [.nanhai])
        try await withDaemon(configuration: configuration) { daemon in
            var request = Foshan_Subsidy_V1_ListApplicationsRequest()
            request.pageSize = 500
            let frame = RawConnection.request(callID: 0, method: Foshan_Subsidy_V1_DistrictService.Method.listApplications.fullName, payload: request.serializedBytes())
            let hostile = try RawConnection(path: daemon.socketPath("nanhai"))
            _ = await sendUntilBlocked(hostile, frame: frame, maximum: 2_000)
            // Time for the daemon to take calls from it before the drain starts (nothing in the log
            // marks the moment: with this configuration its reads need not pause).
            try await Task.sleep(for: .milliseconds(500))
            // The connection stays open and unread while the daemon drains.
            #expect(await daemon.terminate(patience: .seconds(40)) == 0)
            #expect(daemon.log().contains("still draining after 1000 ms"))
            withExtendedLifetime(hostile) {}
        }
    }

    @Test("frames still arriving count against the tenant: many connections inside large frames hold its bound, not connections × frame; its own large calls all complete")
    func arrivingFramesCounted() async throws {
        let (frameBytes, tenantBound) = (1024 * 1024, 8 * 1024 * 1024)
        let configuration = Self.configuration([
            "max_frame_bytes": frameBytes, "max_queued_bytes_per_connection": frameBytes, "max_queued_bytes_per_tenant": tenantBound,
        ])
        try await withDaemon(configuration: configuration) { daemon in
            // 100 connections, each pushing one frame of 1 MiB but its last byte for 3 s (under
            // the 10 s frame deadline). Uncounted, the daemon held 100 MiB for them (800 MB for
            // 192 connections of 4 MiB frames with the default limits).
            let hostile = try (0..<100).map { _ in try RawConnection(path: daemon.socketPath("nanhai"), receiveTimeoutSeconds: 1) }
            let peak = daemon.peakResidentKiB()
            let partial = RawConnection.lengthPrefix(frameBytes) + [UInt8](repeating: 0, count: frameBytes - 1)
            let pushed = await pushRoundRobin(hostile, hostile.map { _ in partial }, for: .seconds(3))
            let growth = daemon.peakResidentKiB() - peak
            print("100 connections inside 1 MiB frames: \(pushed.reduce(0, +) >> 20) MiB taken by the kernel, peak RSS growth \(growth) KiB")
            #expect(growth < 40 * 1024, "peak RSS grew by \(growth) KiB for a tenant bound of \(tenantBound / 1024) KiB")
            // Another tenant is served meanwhile.
            let shunde = try await daemon.client("shunde")
            #expect(try await shunde.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest(), timeout: .seconds(30)).tenant == "shunde")
            await shunde.close()
            for connection in hostile { shutdown(connection.fd, Int32(SHUT_RDWR)) }

            // Nanhai's own large calls, more at once than its bound holds: each waits for room
            // to start arriving, none is stuck behind the others.
            let callers = try (0..<24).map { _ in try RawConnection(path: daemon.socketPath("nanhai"), receiveTimeoutSeconds: 30) }
            let large = RawConnection.request(callID: 1, method: "/foshan.subsidy.v1.Nowhere/Large", payload: [UInt8](repeating: 7, count: 900 * 1024))
            let bytes = RawConnection.lengthPrefix(large.serializedBytes().count) + large.serializedBytes()
            let sent = await pushRoundRobin(callers, callers.map { _ in bytes }, for: .seconds(30))
            #expect(sent.allSatisfy { $0 == bytes.count }, "\(sent.filter { $0 < bytes.count }.count) frames not taken")
            for caller in callers {
                let end = try await caller.receiveFrame()
                #expect(end?.callId == 1 && end?.status?.code == .unimplemented)
            }
        }
    }

    @Test("a district at its file limit, or any district with the disk below its reserve, is refused new records naming the key; reads, reviews, retries and the city's decisions go on; SIGHUP lifts it")
    func storageLimits() async throws {
        var configuration = Self.configuration(["max_district_file_bytes": 1_048_576])
        try await withDaemon(configuration: configuration) { daemon in
            let (nanhai, shunde, city) = (Bureau(try await daemon.client("nanhai")), Bureau(try await daemon.client("shunde")), Bureau(try await daemon.client("city")))
            let enterprise = TestData.uscc(20_000, area: 5)
            try await nanhai.register(enterprise)
            func application(_ n: Int) -> Foshan_Subsidy_V1_Application {
                TestData.benchmark(enterprise: enterprise, investedFen: 100_000_000, name: "数字化车间改造项目 第\(n)期 " + String(repeating: "智能制造", count: 40))
            }
            // Filing until the file reaches 1 MiB: every filing before the refusal is kept.
            var filed: [(id: String, requestID: String)] = []
            var refusal: SubsidyError?
            for n in 0..<2_000 where refusal == nil {
                do {
                    let record = try await nanhai.submit(application(n), requestID: "file-\(n)")
                    filed.append((record.id, "file-\(n)"))
                } catch {
                    refusal = error as? SubsidyError
                }
            }
            let limitRefusal = try #require(refusal)
            #expect(filed.count > 10, "the empty file must have room for some filings")
            #expect(limitRefusal.code == .resourceExhausted)
            #expect(
                limitRefusal.message.contains("nanhai's file holds") && limitRefusal.message.contains("(limits.max_district_file_bytes)"), "\(limitRefusal.message)")
            let registering = await #expect(throws: SubsidyError.self) { try await nanhai.register(TestData.uscc(20_001, area: 5)) }
            #expect(registering?.code == .resourceExhausted)
            // Every request that adds to the district's file: a change to an applicant (even to
            // what it already is: its reply carries the applicant's history) and an amendment.
            var rename = Foshan_Subsidy_V1_UpdateApplicantRequest()
            rename.requestId = "rename"
            rename.uscc = enterprise
            rename.name = "更名后的企业"
            let renaming = await #expect(throws: SubsidyError.self) {
                try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, rename)
            }
            #expect(renaming?.code == .resourceExhausted)
            var send = Foshan_Subsidy_V1_ReviewApplicationRequest()
            send.requestId = "return"
            send.applicationId = filed[2].id
            send.outcome = .return
            send.reason = "补充材料"
            #expect(try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.reviewApplication, send).record?.state == .returned)
            var amend = Foshan_Subsidy_V1_AmendApplicationRequest()
            amend.requestId = "amend"
            amend.applicationId = filed[2].id
            amend.application = application(2)
            amend.reason = "补充材料"
            let amending = await #expect(throws: SubsidyError.self) {
                try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, amend)
            }
            #expect(amending?.code == .resourceExhausted)
            // The operator is told, once for the four refusals of the same limit.
            #expect(ReloadTests.occurrences(of: "storage refusal: nanhai's file is at limits.max_district_file_bytes", in: daemon.log()) == 1, "\(daemon.log())")

            // What was made replays; reads, reviews and the city's decisions go on.
            let last = try #require(filed.last)
            #expect(try await nanhai.submit(application(filed.count - 1), requestID: last.requestID).id == last.id)
            try await nanhai.recommend(filed[0].id)
            #expect(try await city.approve(filed[0].id).state == .approved)
            var get = Foshan_Subsidy_V1_GetApplicationRequest()
            get.applicationId = filed[1].id
            #expect(try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.getApplication, get).record?.id == filed[1].id)
            // Another district files as before.
            let other = TestData.uscc(20_002, area: 6)
            try await shunde.register(other)
            _ = try await shunde.submit(TestData.benchmark(enterprise: other, investedFen: 100_000_000, name: "顺德 项目 1"))

            // A reserve larger than any disk's free space: every district's growth is refused.
            configuration.limits["max_district_file_bytes"] = 1 << 40
            configuration.limits["min_free_disk_bytes"] = 1 << 50
            _ = try configuration.write()
            kill(daemon.process.processIdentifier, SIGHUP)
            #expect(await eventually { daemon.log().contains("min_free_disk_bytes=\(1 << 50)") })
            let reserve = await #expect(throws: SubsidyError.self) {
                try await shunde.submit(TestData.benchmark(enterprise: other, investedFen: 100_000_000, name: "顺德 项目 2"))
            }
            #expect(reserve?.code == .resourceExhausted)
            #expect(reserve?.message.contains("below its reserve") == true && reserve?.message.contains("(limits.min_free_disk_bytes)") == true, "\(String(describing: reserve))")
            #expect(daemon.log().contains("storage refusal: the data directory's disk is below limits.min_free_disk_bytes"), "another limit has its own line: \(daemon.log())")
            try await nanhai.recommend(filed[1].id)
            #expect(try await city.approve(filed[1].id).state == .approved)

            // Lifted: nanhai files, amends and renames again.
            configuration.limits["min_free_disk_bytes"] = 0
            _ = try configuration.write()
            kill(daemon.process.processIdentifier, SIGHUP)
            #expect(await eventually { daemon.log().components(separatedBy: "reloaded").count == 3 })
            _ = try await nanhai.submit(application(filed.count + 1))
            #expect(try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.amendApplication, amend).record?.state == .submitted)
            #expect(try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.updateApplicant, rename).applicant?.name == "更名后的企业")
            _ = try await shunde.submit(TestData.benchmark(enterprise: other, investedFen: 100_000_000, name: "顺德 项目 2"))
        }
    }

    /// Whether this process may mount a small tmpfs (root, and a kernel that allows it here): the
    /// only way to fill a disk for real without filling the machine's.
    static let canMountTmpfs: Bool = {
        guard getuid() == 0 else { return false }
        let probe = DaemonProcess.makeTemporaryDirectory()
        defer { rmdir(probe) }
        guard mount("tmpfs", probe, "tmpfs", 0, "size=64k") == 0 else { return false }
        umount(probe)
        return true
    }()

    @Test(
        "a disk that really fills: the write that does not fit is RESOURCE_EXHAUSTED, not INTERNAL; what was made stays; the daemon serves on",
        .enabled(if: canMountTmpfs, "needs root to mount a small tmpfs as the data directory"))
    func diskFull() async throws {
        let configuration = Self.configuration()
        // The data directory on a 6 MiB file system: the started template, then some fifty
        // filings, then full.
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        #expect(mount("tmpfs", configuration.dataDirectory, "tmpfs", 0, "size=6m,mode=0700") == 0, "mount: \(String(cString: strerror(errno)))")
        defer {
            // The daemon's files are gone with the file system; the directories around it last.
            umount2(configuration.dataDirectory, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: configuration.baseDirectory)
        }
        try await withDaemon(configuration: configuration) { daemon in
            let nanhai = Bureau(try await daemon.client("nanhai"))
            let enterprise = TestData.uscc(30_000, area: 5)
            try await nanhai.register(enterprise)
            var filed: [String] = []
            var refusal: SubsidyError?
            for n in 0..<5_000 where refusal == nil {
                let application = TestData.benchmark(
                    enterprise: enterprise, investedFen: 100_000_000, name: "数字化车间改造项目 第\(n)期 " + String(repeating: "智能制造", count: 40))
                do {
                    filed.append(try await nanhai.submit(application, requestID: "fill-\(n)").id)
                } catch {
                    refusal = error as? SubsidyError
                }
            }
            let full = try #require(refusal)
            print("disk full after \(filed.count) filings: \(full)")
            #expect(filed.count > 10)
            #expect(full.code == .resourceExhausted, "\(full)")
            #expect(full.message.contains("disk is full"), "\(full.message)")
            // Every filing that was answered is there; the daemon still answers.
            var get = Foshan_Subsidy_V1_GetApplicationRequest()
            for id in [filed.first!, filed.last!] {
                get.applicationId = id
                #expect(try await nanhai.client.call(Foshan_Subsidy_V1_DistrictService.Method.getApplication, get).record?.id == id)
            }
            #expect(try await nanhai.client.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest()).tenant == "nanhai")
            #expect(!daemon.log().contains("Fatal error"))
        }
    }

    @Test("connections beyond max_connections_per_tenant get RESOURCE_EXHAUSTED; other tenants still connect")
    func perTenantConnectionLimit() async throws {
        try await withDaemon(configuration: Self.configuration(["max_connections_per_tenant": 3])) { daemon in
            var open: [RawConnection] = []
            var refusal: Foshan_Subsidy_V1_Frame?
            for _ in 0..<100 where refusal == nil {
                let raw = try RawConnection(path: daemon.socketPath("nanhai"))
                raw.send(RawConnection.request(callID: 1, method: Foshan_Subsidy_V1_Identity.Method.whoAmI.fullName, payload: []))
                let reply = try #require(try await raw.receiveFrame())
                if reply.callId == 0 { refusal = reply } else { open.append(raw) }
            }
            #expect(open.count == 3)
            let refused = try #require(refusal)
            #expect(refused.status?.code == .resourceExhausted)
            #expect(refused.status?.message.contains("tenant nanhai already has 3 connections open (max_connections_per_tenant)") == true)
            #expect(daemon.log().contains("refused connection"))
            // The city and the other districts are not affected.
            for tenant in ["city", "shunde"] {
                let client = try await daemon.client(tenant)
                #expect(try await client.call(Foshan_Subsidy_V1_Identity.Method.whoAmI, Foshan_Subsidy_V1_WhoAmIRequest()).tenant == tenant)
                await client.close()
            }
        }
    }
}

/// Writes `data[i]` to `connections[i]`, all at once without blocking, for at most `duration` or
/// until everything is written; returns the bytes each connection took.
func pushRoundRobin(_ connections: [RawConnection], _ data: [[UInt8]], for duration: Duration) async -> [Int] {
    for connection in connections { _ = fcntl(connection.fd, F_SETFL, fcntl(connection.fd, F_GETFL) | O_NONBLOCK) }
    var written = [Int](repeating: 0, count: connections.count)
    let end = ContinuousClock.now + duration
    while ContinuousClock.now < end {
        var progress = false
        for (index, connection) in connections.enumerated() where written[index] < data[index].count {
            let n = data[index][written[index]...].prefix(256 * 1024).withUnsafeBytes {
                send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if n > 0 { (written[index], progress) = (written[index] + n, true) }
        }
        if zip(written, data).allSatisfy({ $0 == $1.count }) { break }
        if !progress { try? await Task.sleep(for: .milliseconds(5)) }
    }
    for connection in connections { _ = fcntl(connection.fd, F_SETFL, fcntl(connection.fd, F_GETFL) & ~O_NONBLOCK) }
    return written
}

/// Call ids for `sendUntilBlocked`, never reused in the test process (so never on one connection).
private let nextCallID = Atomic<UInt64>(0)

/// Set once, read from another task.
private final class TurnFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Writes `frame` as fast as the daemon takes it, until `maximum` frames are written or it has
/// taken none for `idle`; returns how many were written whole.
func sendWhileTaken(_ raw: RawConnection, frame: Foshan_Subsidy_V1_Frame, maximum: Int, idle: Duration) async throws -> Int {
    var (sent, progress) = (0, ContinuousClock.now)
    while sent < maximum && ContinuousClock.now - progress < idle {
        let taken = await sendUntilBlocked(raw, frame: frame, maximum: maximum - sent)
        if taken > 0 { (sent, progress) = (sent + taken, ContinuousClock.now) }
        try await Task.sleep(for: .milliseconds(1))
    }
    return sent
}

/// Writes `frame` with increasing call ids, without blocking, until the socket will take no more
/// or `maximum` frames are written; returns how many were written whole.
func sendUntilBlocked(_ raw: RawConnection, frame: Foshan_Subsidy_V1_Frame, maximum: Int) async -> Int {
    let flags = fcntl(raw.fd, F_GETFL)
    _ = fcntl(raw.fd, F_SETFL, flags | O_NONBLOCK)
    defer { _ = fcntl(raw.fd, F_SETFL, flags) }
    var count = 0
    var pending: [UInt8] = []
    while count < maximum {
        if pending.isEmpty {
            var next = frame
            next.callId = nextCallID.add(1, ordering: .relaxed).newValue
            let body = next.serializedBytes()
            pending = RawConnection.lengthPrefix(body.count) + body
        }
        let n = pending.withUnsafeBytes { send(raw.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n > 0 {
            pending.removeFirst(n)
            if pending.isEmpty { count += 1 }
            continue
        }
        if n < 0 && errno == EAGAIN && partlyWritten(pending, of: frame) {
            // Half a frame would look like a slow-loris client; finish it if the daemon reads
            // within a second, else leave it to the frame deadline.
            if await descriptorReady(raw.fd, for: POLLOUT, timeout: .seconds(1)) { continue }
        }
        break
    }
    return count
}

private func partlyWritten(_ pending: [UInt8], of frame: Foshan_Subsidy_V1_Frame) -> Bool {
    !pending.isEmpty && pending.count < frame.serializedBytes().count + 4
}

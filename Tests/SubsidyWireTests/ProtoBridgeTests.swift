import SubsidyCore
import SubsidyTestRandom
import SubsidyWire
import Testing

@Suite("protobuf-c bridge")
struct ProtoBridgeTests {
    @Test("a frame with nested and repeated fields round-trips through protobuf-c")
    func roundTrip() throws {
        var frame = Foshan_Subsidy_V1_Frame()
        frame.callId = UInt64.max
        frame.kind = .end
        frame.method = "/foshan.subsidy.v1.DistrictService/SubmitApplication"
        frame.timeoutMs = 1500
        frame.metadata = [("a", "1"), ("区", "南海")].map { key, value in
            var entry = Foshan_Subsidy_V1_MetadataEntry()
            entry.key = key
            entry.value = value
            return entry
        }
        frame.payload = [0, 1, 2, 255]
        var status = Foshan_Subsidy_V1_Status()
        status.code = .resourceExhausted
        status.message = "CLOUD_VOUCHER per-provider cap exhausted"
        var cap = Foshan_Subsidy_V1_CapViolation()
        cap.capId = "CLOUD_VOUCHER.per_provider"
        cap.limit = 300_000_000
        cap.committed = 290_000_000
        cap.requested = -1
        status.capViolations = [cap]
        frame.status = status
        let decoded = try Foshan_Subsidy_V1_Frame(serializedBytes: frame.serializedBytes())
        #expect(decoded == frame)
    }

    @Test("an application with every kind of field round-trips, repeated strings included")
    func applicationRoundTrip() throws {
        var application = Foshan_Subsidy_V1_Application()
        application.measure = .clusterPilotFollowOn
        application.fundingYear = 2022
        application.servedEnterprises = ["91440604MA4UH8XX3N", "", "南海"]
        application.otherFundDeclared = true
        application.contractAmountFen = Int64.min
        #expect(try Foshan_Subsidy_V1_Application(serializedBytes: application.serializedBytes()) == application)
    }

    @Test("an embedded NUL is refused naming the field, never truncated")
    func embeddedNul() throws {
        // HealthCheckRequest { service = "ab\0c" }: field 1, wire type 2, length 4.
        let bytes: [UInt8] = [0x0a, 0x04, 0x61, 0x62, 0x00, 0x63]
        let error = try #require(throws: SubsidyError.self) { try Foshan_Subsidy_V1_HealthCheckRequest(serializedBytes: bytes) }
        #expect(error.code == .invalidArgument)
        #expect(error.details == [.field(path: "request.service", problem: "contains a NUL character at byte 2; text may not contain U+0000")])
    }

    @Test("invalid UTF-8 is refused naming the field", arguments: [[UInt8(0xff)], [0xc3], [0xed, 0xa0, 0x80], [0x61, 0xe4, 0xb8]])
    func invalidUTF8(text: [UInt8]) throws {
        let bytes: [UInt8] = [0x0a, UInt8(text.count)] + text
        let error = try #require(throws: SubsidyError.self) { try Foshan_Subsidy_V1_HealthCheckRequest(serializedBytes: bytes) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("request.service"))
    }

    @Test("generated text in every id of a list: refused exactly when it is not UTF-8, naming the id, else kept byte for byte")
    func generatedText() throws {
        var random = TestSeed.generator("ProtoBridge.generatedText")
        // Sequences at the edges of every range in the UTF-8 table, the near misses beside them,
        // lone lead and continuation bytes, and runs of eight ASCII bytes for the wide steps.
        let valid: [[UInt8]] = [
            [0x61], [0x7F], Array("12345678".utf8), Array("佛山".utf8), Array("é".utf8), Array("\u{1F600}".utf8),
            [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xEF, 0xBF, 0xBF],
            [0xF0, 0x90, 0x80, 0x80], [0xF3, 0xBF, 0xBF, 0xBF], [0xF4, 0x8F, 0xBF, 0xBF],
        ]
        let invalid: [[UInt8]] = [
            [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80], [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80],
            [0xE4, 0xB8], [0xF0, 0x9F, 0x98], [0xC3, 0x41],
            [0x80], [0xBF], [0xC2], [0xDF], [0xE0], [0xED], [0xEF], [0xF0], [0xF4], [0xF5], [0xFF],
        ]
        var refused = 0
        for _ in 0..<5_000 {
            var ids: [[UInt8]] = []
            for _ in 0..<(1 + Int(random.next() % 4)) {
                var id: [UInt8] = []
                for _ in 0..<Int(random.next() % 8) { id += random.pick(random.next() % 20 == 0 ? invalid : valid) }
                ids.append(id)
            }
            // ApproveApplicationsRequest.application_ids is field 2; every id is shorter than 128
            // bytes, so its length is one varint byte.
            let bytes: [UInt8] = ids.flatMap { id -> [UInt8] in [0x12, UInt8(id.count)] + id }
            if let bad = ids.firstIndex(where: { String(validating: $0, as: UTF8.self) == nil }) {
                refused += 1
                let error = try #require(throws: SubsidyError.self, "\(ids)") {
                    try Foshan_Subsidy_V1_ApproveApplicationsRequest(serializedBytes: bytes)
                }
                #expect(error.details == [.field(path: "request.application_ids[\(bad)]", problem: "is not valid UTF-8")], "\(ids)")
            } else {
                let request = try Foshan_Subsidy_V1_ApproveApplicationsRequest(serializedBytes: bytes)
                #expect(request.applicationIds.map { Array($0.utf8) } == ids)
            }
        }
        #expect(refused > 1_000 && refused < 4_000)
    }

    @Test("list entries and unknown fields are counted over the whole message before it is unpacked")
    func entriesCounted() throws {
        let limit = InputLimits.listEntriesPerMessage
        // application_ids (field 2), each empty: two bytes an entry.
        let ids = { (count: Int) -> [UInt8] in [UInt8](repeating: 0, count: 2 * count).enumerated().map { $0.offset % 2 == 0 ? 0x12 : 0 } }
        let full = try Foshan_Subsidy_V1_ApproveApplicationsRequest(serializedBytes: ids(limit), maximumEntries: limit)
        #expect(full.applicationIds.count == limit)
        let error = try #require(throws: SubsidyError.self) {
            try Foshan_Subsidy_V1_ApproveApplicationsRequest(serializedBytes: ids(limit + 1), maximumEntries: limit)
        }
        #expect(error.code == .invalidArgument)
        #expect(error.details == [.field(path: "request.application_ids", problem: "is past the \(limit) list entries one message may carry in all")])

        // Unknown fields spend the same budget: protobuf-c records each while it unpacks.
        let unknown = [UInt8](repeating: 0, count: 2 * (limit + 1)).enumerated().map { $0.offset % 2 == 0 ? UInt8(15 << 3) : 0 }
        #expect(throws: SubsidyError.invalidField("request.field 15", "is past the \(limit) list entries one message may carry in all")) {
            try Foshan_Subsidy_V1_ApproveApplicationsRequest(serializedBytes: unknown, maximumEntries: limit)
        }

        // Entries of nested lists add up: 10,000 served enterprises and 10,001 provincial ones.
        var application = Foshan_Subsidy_V1_Application()
        application.servedEnterprises = Array(repeating: "x", count: limit / 2)
        application.provincialVoucherEnterprises = Array(repeating: "y", count: limit / 2 + 1)
        var request = Foshan_Subsidy_V1_SubmitApplicationRequest()
        request.application = application
        let bytes = request.serializedBytes()
        let nested = try #require(throws: SubsidyError.self) {
            try Foshan_Subsidy_V1_SubmitApplicationRequest(serializedBytes: bytes, maximumEntries: limit)
        }
        #expect(nested.details == [.field(path: "application.provincial_voucher_enterprises", problem: "is past the \(limit) list entries one message may carry in all")])
        // What the daemon wrote itself (a stored reply, a page for a client) is not capped.
        #expect(try Foshan_Subsidy_V1_SubmitApplicationRequest(serializedBytes: bytes).application == application)
    }

    @Test("text inside nested and repeated messages is checked with its full path")
    func nestedPath() throws {
        // protobuf-c cannot even encode such a string, so the bytes are built by hand:
        // call_id = 1, metadata { key = "ok" }, metadata { key = "x\0y" }.
        let bytes: [UInt8] = [0x08, 0x01, 0x2a, 0x04, 0x0a, 0x02, 0x6f, 0x6b, 0x2a, 0x05, 0x0a, 0x03, 0x78, 0x00, 0x79]
        let error = try #require(throws: SubsidyError.self) { try Foshan_Subsidy_V1_Frame(serializedBytes: bytes, path: "frame") }
        #expect(error.message.hasPrefix("frame.metadata[1].key: contains a NUL"))
    }

    @Test("encoding text with a NUL is refused by the checked encoder rather than truncated")
    func encodeNul() throws {
        var request = Foshan_Subsidy_V1_HealthCheckRequest()
        request.service = "a\u{0}b"
        let error = try #require(throws: SubsidyError.self) { try request.checkedSerializedBytes() }
        #expect(error.code == .invalidArgument)
        request.service = "ab"
        #expect(try request.checkedSerializedBytes() == request.serializedBytes())
    }

    @Test("bytes that are not a message are INVALID_ARGUMENT", arguments: [
        [UInt8(0x0a), 0x05, 0x61],  // length runs past the end
        [0x08],  // varint missing
        [0x0b],  // group start
        [0x00, 0x01],  // field number 0
        [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],  // 11-byte varint
    ])
    func malformed(bytes: [UInt8]) throws {
        let error = try #require(throws: SubsidyError.self) { try Foshan_Subsidy_V1_Frame(serializedBytes: bytes, path: "frame") }
        #expect(error.code == .invalidArgument)
    }

    @Test("unknown fields are skipped, as protobuf-c does")
    func unknownFields() throws {
        // field 99 (varint) then service = "x"
        let bytes: [UInt8] = [0x98, 0x06, 0x01, 0x0a, 0x01, 0x78]
        #expect(try Foshan_Subsidy_V1_HealthCheckRequest(serializedBytes: bytes).service == "x")
    }

    @Test("status ⇄ SubsidyError keeps code, message and every detail")
    func statusMapping() {
        let error = SubsidyError(
            .resourceExhausted, "cap",
            details: [
                .field(path: "application.contract_amount_fen", problem: "must be > 0"),
                .capExhausted(capID: "CLOUD_VOUCHER.city", scope: "2022", limitFen: 2_000_000_000, committedFen: 1_999_999_999, requestedFen: 2),
                .precondition(subject: "state", problem: "is APPROVED"),
            ]
        )
        #expect(SubsidyError(Foshan_Subsidy_V1_Status(error)) == error)
    }

    @Test("a status cuts every long text between scalars and says how much it left out, and keeps at most 100 details")
    func statusBounded() {
        let limit = Foshan_Subsidy_V1_Status.maximumText
        // Each filler puts a different byte of a multi-byte scalar at the cut.
        for filler in ["a", "é", "佛", "\u{1F600}"] {
            for count in [limit / filler.utf8.count, limit, 1_000_000 / filler.utf8.count] {
                let text = String(repeating: filler, count: count)
                let error = SubsidyError(.invalidArgument, text, details: [.field(path: text, problem: text), .precondition(subject: "s", problem: text)])
                let status = Foshan_Subsidy_V1_Status(error)
                for field in [status.message, status.fieldViolations[0].field, status.fieldViolations[0].description, status.preconditionFailures[0].description] {
                    #expect(field.utf8.count <= limit, "\(filler) × \(count)")
                    if text.utf8.count <= limit {
                        #expect(field == text)
                    } else {
                        let kept = field.prefix { $0 != "…" }
                        #expect(text.hasPrefix(kept) && kept.utf8.count > limit - 64, "\(filler) × \(count)")
                        #expect(field.hasSuffix("… (\(text.utf8.count - kept.utf8.count) more bytes not shown)"), "\(field.suffix(60))")
                    }
                }
                // The cut status still encodes.
                #expect(status.serializedBytes().count < 5 * limit)
            }
        }
        let many = SubsidyError(.invalidArgument, "many", details: (0..<1_000).map { .field(path: "f\($0)", problem: "p") })
        #expect(Foshan_Subsidy_V1_Status(many).fieldViolations.count == Foshan_Subsidy_V1_Status.maximumDetails)
    }
}

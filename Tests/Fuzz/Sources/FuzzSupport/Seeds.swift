import SubsidyWire
#if canImport(Glibc)
import Glibc
#endif

/// The committed seed corpus (Tests/Fuzz/corpus/TARGET), written by `fuzz-TARGET --write-seeds DIR`.
///
/// The seeds are built here, with the real encoders, because each harness defines how its input
/// is laid out (a selector byte for the request type, two header bytes for the frame decoder).
public enum Seeds {
    /// A full application, as a bureau would file it with `subsidyctl submit --file`.
    public static let applicationJSON = """
        {
          "measure": "CLOUD_VOUCHER",
          "fundingYear": 2021,
          "enterpriseUscc": "91440604MA4UH8XX3N",
          "enterpriseLocality": "LOCAL",
          "projectName": "南海区 cloud ERP 上云",
          "contractNumber": "NH-2021-0042",
          "contractAmountFen": "120000000",
          "paidAmountFen": 100000000,
          "providerUscc": "91440605MA51X8QY2K",
          "investedAmountFen": "0",
          "constructionAmountFen": "0",
          "totalInvestmentFen": "0",
          "upperLevelSubsidyFen": "0",
          "upperLevelAwardTotalFen": "0",
          "previousYearServiceSpendFen": "0",
          "selectionDate": "2021-03-01",
          "selectionLevel": "MUNICIPAL",
          "inProvincialPool": true,
          "recognisedSecondaryNode": false,
          "pilotId": "",
          "servedEnterprises": ["91440604MA4UH8XX3N", "南海"],
          "provincialVoucherEnterprises": [],
          "otherFundDeclared": false,
          "otherFundReason": ""
        }
        """

    static func application() -> Foshan_Subsidy_V1_Application { try! Foshan_Subsidy_V1_Application(jsonText: applicationJSON) }

    /// Valid requests for a few methods: (method, request type, encoded request).
    static func requests() -> [(name: String, method: String, type: String, bytes: [UInt8])] {
        func make<M: ProtoMessage>(_ name: String, _ method: String, _: M.Type, _ json: String) -> (String, String, String, [UInt8]) {
            do {
                return (name, method, M.protoName, try M(jsonText: json).checkedSerializedBytes())
            } catch {
                propertyViolated("seed \(name) does not parse: \(error)")
            }
        }
        let district = "/foshan.subsidy.v1.DistrictService/"
        let city = "/foshan.subsidy.v1.CityService/"
        return [
            make("health-check", "/foshan.subsidy.v1.Health/Check", Foshan_Subsidy_V1_HealthCheckRequest.self, #"{"service": "foshan.subsidy.v1.DistrictService"}"#),
            make("whoami", "/foshan.subsidy.v1.Identity/WhoAmI", Foshan_Subsidy_V1_WhoAmIRequest.self, "{}"),
            make("submit", district + "SubmitApplication", Foshan_Subsidy_V1_SubmitApplicationRequest.self,
                 #"{"requestId": "0f3a-77", "application": \#(applicationJSON)}"#),
            make("amend", district + "AmendApplication", Foshan_Subsidy_V1_AmendApplicationRequest.self,
                 #"{"requestId": "a1", "applicationId": "NH-2021-000001", "application": \#(applicationJSON), "reason": "合同金额更正"}"#),
            make("get-application", district + "GetApplication", Foshan_Subsidy_V1_GetApplicationRequest.self, #"{"applicationId": "NH-2021-000001"}"#),
            make("list-applications", district + "ListApplications", Foshan_Subsidy_V1_ListApplicationsRequest.self,
                 #"{"fundingYear": 2021, "enterpriseUscc": "91440604MA4UH8XX3N", "pageSize": 50, "pageToken": "abc"}"#),
            make("register-applicant", district + "RegisterApplicant", Foshan_Subsidy_V1_RegisterApplicantRequest.self,
                 #"{"requestId": "r1", "applicant": {"uscc": "91440604MA4UH8XX3N", "name": "佛山市某某制造有限公司", "district": "nanhai", "locality": "LOCAL", "role": "INDUSTRIAL_ENTERPRISE"}}"#),
            make("review", district + "ReviewApplication", Foshan_Subsidy_V1_ReviewApplicationRequest.self,
                 #"{"requestId": "r2", "applicationId": "NH-2021-000001", "outcome": "RECOMMEND", "reason": "ok"}"#),
            make("quote", district + "Quote", Foshan_Subsidy_V1_QuoteRequest.self,
                 #"{"applicationId": "NH-2021-000001", "decisionDate": "2021-06-30", "caseAmountFen": "-9223372036854775808", "decisionDocument": "佛工信〔2021〕12号"}"#),
            make("approve", city + "ApproveApplication", Foshan_Subsidy_V1_ApproveApplicationRequest.self,
                 #"{"requestId": "c1", "applicationId": "NH-2021-000001", "decisionDate": "2021-06-30", "caseAmountFen": "9223372036854775807", "decisionDocument": "d", "reason": "r"}"#),
            make("get-quota", city + "GetQuota", Foshan_Subsidy_V1_GetQuotaRequest.self, #"{"fundingYear": 2021, "top": 10}"#),
            make("watch-events", city + "WatchEvents", Foshan_Subsidy_V1_WatchEventsRequest.self, #"{"afterSequence": "18446744073709551615"}"#),
            make("register-pool-member", city + "RegisterPoolMember", Foshan_Subsidy_V1_RegisterPoolMemberRequest.self,
                 #"{"requestId": "p1", "member": {"uscc": "91440605MA51X8QY2K", "name": "云服务商", "entryDate": "2020-01-01", "provincial": true, "source": "省资源池"}}"#),
            make("import-history", city + "ImportHistory", Foshan_Subsidy_V1_ImportHistoryRequest.self,
                 #"{"requestId": "h1", "awards": [{"measure": "POOL_ENTRY", "fundingYear": 2020, "district": "shunde", "enterpriseUscc": "91440606X", "amountFen": "5000000", "decisionDate": "2020-12-01"}, {"measure": 99, "fundingYear": -1}]}"#),
        ]
    }

    /// Hand-made protobuf bytes the encoders cannot produce: text protobuf-c would alter, bad
    /// wire types, truncation, unknown fields, deep nesting.
    static let hostileMessages: [(String, [UInt8])] = [
        ("empty", []),
        ("string-with-nul", [0x0a, 0x03, 0x61, 0x00, 0x62]),
        ("string-bad-utf8", [0x0a, 0x02, 0xc3, 0x28]),
        ("string-overlong-utf8", [0x0a, 0x02, 0xc0, 0x80]),
        ("string-surrogate-utf8", [0x0a, 0x03, 0xed, 0xa0, 0x80]),
        ("length-past-end", [0x0a, 0x7f, 0x61]),
        ("length-2gib", [0x0a, 0x80, 0x80, 0x80, 0x80, 0x08, 0x61]),
        ("truncated-varint", [0x08, 0xff, 0xff]),
        ("varint-11-bytes", [0x08] + [UInt8](repeating: 0xff, count: 10) + [0x01]),
        ("field-zero", [0x00, 0x01]),
        ("wire-type-3-group", [0x0b, 0x0c]),
        ("wire-type-6", [0x0e]),
        ("wrong-wire-type-string-as-varint", [0x08, 0x01, 0x10, 0x05, 0x18, 0x07]),
        ("wrong-wire-type-varint-as-bytes", [0x08, 0x01, 0x12, 0x01, 0x41, 0x1a, 0x00]),
        ("unknown-fields", [0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01, 0xa2, 0x06, 0x02, 0x68, 0x69, 0x0d, 1, 2, 3, 4, 0x09, 1, 2, 3, 4, 5, 6, 7, 8]),
        ("repeated-scalar-field", [0x08, 0x01, 0x08, 0x02, 0x08, 0x03]),
        ("nested-deep", nested(depth: 40)),
    ]

    /// Field 2 (a message in several requests) nested `depth` times.
    static func nested(depth: Int) -> [UInt8] {
        var bytes: [UInt8] = [0x0a, 0x01, 0x61]
        for _ in 0..<depth {
            var length = bytes.count
            var header: [UInt8] = [0x12]
            repeat {
                header.append(UInt8(length & 0x7f) | (length >= 0x80 ? 0x80 : 0))
                length >>= 7
            } while length > 0
            bytes = header + bytes
        }
        return bytes
    }

    static func frame(callID: UInt64, kind: Foshan_Subsidy_V1_FrameKind, method: String = "", payload: [UInt8] = [], status: Foshan_Subsidy_V1_Status? = nil) -> Foshan_Subsidy_V1_Frame {
        var frame = Foshan_Subsidy_V1_Frame()
        frame.callId = callID
        frame.kind = kind
        frame.method = method
        frame.payload = payload
        frame.status = status
        return frame
    }

    /// Envelopes: one REQUEST per seed request, CANCEL, an END with a detailed status, metadata.
    static func envelopes() -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        for (i, request) in requests().enumerated() {
            var frame = frame(callID: UInt64(i + 1), kind: .request, method: request.method, payload: request.bytes)
            frame.timeoutMs = 30_000
            if i == 0 {
                var entry = Foshan_Subsidy_V1_MetadataEntry()
                entry.key = "区"
                entry.value = "南海"
                frame.metadata = [entry]
            }
            out.append(("request-" + request.name, frame.serializedBytes()))
        }
        out.append(("cancel", frame(callID: 3, kind: .cancel).serializedBytes()))
        var status = Foshan_Subsidy_V1_Status()
        status.code = .invalidArgument
        status.message = "application.contract_amount_fen: must be positive"
        var violation = Foshan_Subsidy_V1_FieldViolation()
        violation.field = "application.contract_amount_fen"
        violation.description = "must be positive"
        status.fieldViolations = [violation]
        var cap = Foshan_Subsidy_V1_CapViolation()
        cap.capId = "CLOUD_VOUCHER.per_provider"
        cap.limit = 300_000_000
        cap.requested = -1
        status.capViolations = [cap]
        out.append(("end-with-status", frame(callID: 9, kind: .end, status: status).serializedBytes()))
        out.append(("unknown-kind", frame(callID: 1, kind: Foshan_Subsidy_V1_FrameKind(rawValue: 77), method: "/x/y").serializedBytes()))
        out.append(("request-unknown-method", frame(callID: 1, kind: .request, method: "/foshan.subsidy.v1.Nope/Nope", payload: [0x0a, 0x00]).serializedBytes()))
        // Frame.method (field 3) with NUL / bad UTF-8; a payload that is a message of the wrong type.
        out.append(("method-with-nul", [0x08, 0x01, 0x10, 0x01, 0x1a, 0x04, 0x2f, 0x61, 0x00, 0x62]))
        out.append(("method-bad-utf8", [0x08, 0x01, 0x10, 0x01, 0x1a, 0x02, 0x2f, 0xff]))
        out.append(("request-wrong-payload-type", frame(callID: 5, kind: .request, method: "/foshan.subsidy.v1.Health/Check", payload: application().serializedBytes()).serializedBytes()))
        for (name, bytes) in hostileMessages { out.append(("raw-" + name, bytes)) }
        return out
    }

    static func lengthPrefixed(_ body: [UInt8]) -> [UInt8] {
        let n = UInt32(body.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)] + body
    }

    /// Frame-decoder inputs: [maximum selector, read size, stream...] (see fuzz-frame-decoder).
    static func streams() -> [(String, [UInt8])] {
        let envelopes = envelopes()
        let health = lengthPrefixed(envelopes[0].1)
        let submit = lengthPrefixed(envelopes.first { $0.0 == "request-submit" }!.1)
        var out: [(String, [UInt8])] = [
            ("one-frame", [0, 0] + health),
            ("two-frames-one-read", [0, 0] + health + submit),
            ("byte-at-a-time", [0, 1] + health + submit),
            ("seven-byte-reads", [0, 7] + submit + health),
            ("truncated-body", [0, 0] + health.dropLast(3)),
            ("truncated-header", [0, 0, 0, 0, 1]),
            ("header-2gib", [0, 0, 0x80, 0, 0, 0]),
            ("header-uint32-max", [0, 1, 0xff, 0xff, 0xff, 0xff]),
            ("header-max-plus-one", [0, 0, 0x00, 0x40, 0x00, 0x01]),
            ("frame-then-2gib", [0, 3] + health + [0x80, 0, 0, 0]),
            ("empty-frame", [0, 0, 0, 0, 0, 0]),
            ("exactly-16-of-16", [4, 0, 0, 0, 0, 16] + [UInt8](repeating: 0x2a, count: 16)),
            ("17-of-16", [4, 0, 0, 0, 0, 17] + [UInt8](repeating: 0x2a, count: 17)),
            ("limit-zero-empty-frames", [1, 0] + [UInt8](repeating: 0, count: 12)),
            ("garbage-body", [0, 0, 0, 0, 0, 5, 0xff, 0xfe, 0x00, 0x0a, 0x80]),
        ]
        for (name, bytes) in envelopes.prefix(6) { out.append(("frame-" + name, [0, 0] + lengthPrefixed(bytes))) }
        return out
    }

    /// Request inputs: [type selector] + message bytes (see fuzz-requests).
    static func requestInputs() -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        for (i, type) in Requests.types.enumerated() {
            let short = String(type.protoName.split(separator: ".").last!)
            out.append(("\(i)-\(short)-empty", [UInt8(i)]))
            for (name, bytes) in hostileMessages where name != "empty" {
                out.append(("\(i)-\(short)-\(name)", [UInt8(i)] + bytes))
            }
        }
        for request in requests() {
            guard let i = Requests.types.firstIndex(where: { $0.protoName == request.type }) else {
                propertyViolated("\(request.type) is not a request type")
            }
            out.append(("\(i)-valid-\(request.name)", [UInt8(i)] + request.bytes))
        }
        return out
    }

    /// subsidyctl JSON files, valid and not.
    static func jsonInputs() -> [(String, [UInt8])] {
        let texts: [(String, String)] = [
            ("application-full", applicationJSON),
            ("application-empty", "{}"),
            ("application-snake-case", #"{"measure": 3, "funding_year": 2022, "enterprise_uscc": "91440604MA4UH8XX3N", "contract_amount_fen": 5000, "served_enterprises": ["a", "b"]}"#),
            ("application-nulls", #"{"measure": null, "servedEnterprises": null, "projectName": null}"#),
            ("unknown-field", #"{"measure": "POOL_ENTRY", "colour": "blue"}"#),
            ("unknown-enum-name", #"{"measure": "FREE_MONEY"}"#),
            ("enum-number-unknown", #"{"measure": 4096, "selectionLevel": -3}"#),
            ("nul-escape", #"{"projectName": "a\u0000b"}"#),
            ("surrogate-pair", #"{"projectName": "\ud83d\ude00 \u5357\u6d77"}"#),
            ("lone-surrogate", #"{"projectName": "\ud83d"}"#),
            ("bad-escape", #"{"projectName": "\x41"}"#),
            ("unicode-escape-plus-sign", #"{"projectName": "\u+041"}"#),
            ("unicode-escape-minus-sign", #"{"projectName": "\u-000"}"#),
            ("fraction", #"{"contractAmountFen": 1.5}"#),
            ("exponent", #"{"contractAmountFen": 1e9}"#),
            ("leading-zero", #"{"contractAmountFen": 0123}"#),
            ("int64-overflow", #"{"contractAmountFen": "9223372036854775808"}"#),
            ("int32-overflow", #"{"fundingYear": 2147483648}"#),
            ("negative-zero", #"{"contractAmountFen": -0}"#),
            ("duplicate-key", #"{"measure": 1, "measure": 2}"#),
            ("trailing-garbage", #"{} {}"#),
            ("trailing-comma", #"{"measure": 1,}"#),
            ("not-an-object", #"[1, 2, 3]"#),
            ("string-for-bool", #"{"inProvincialPool": "true"}"#),
            ("number-for-string", #"{"projectName": 42}"#),
            ("deep-array", String(repeating: "[", count: 100) + String(repeating: "]", count: 100)),
            ("deep-object", String(repeating: #"{"a":"#, count: 70) + "1" + String(repeating: "}", count: 70)),
            ("whitespace-only", " \n\t\r "),
            ("empty", ""),
            ("literals", #"[true, false, null, tru, nul]"#),
            ("unterminated-string", #"{"projectName": "abc"#),
            ("control-char", "{\"projectName\": \"a\u{01}b\"}"),
            ("bom", "\u{FEFF}{}"),
        ]
        var out = texts.map { ($0.0, Array($0.1.utf8)) }
        out.append(("bad-utf8-in-string", Array(#"{"projectName": ""#.utf8) + [0xc3, 0x28] + Array(#""}"#.utf8)))
        out.append(("raw-nul-in-string", Array(#"{"projectName": "a"#.utf8) + [0x00] + Array(#"b"}"#.utf8)))
        out.append(("bad-utf8-outside-string", [0x7b, 0xff, 0x7d]))
        return out
    }

    /// subsidyctl amount flag values (yuan), valid and not.
    static func amountInputs() -> [(String, [UInt8])] {
        let texts = [
            ("plain", "1200000"), ("grouped", "1,200,000"), ("grouped-decimals", "1,200,000.50"), ("cents", "0.05"),
            ("negative", "-5.00"), ("negative-zero", "-0"), ("int64-max", "92233720368547758.07"),
            ("int64-min", "-92233720368547758.08"), ("overflow", "92233720368547758.08"), ("three-decimals", "1.005"),
            ("point-only", "."), ("trailing-point", "5."), ("leading-point", ".5"), ("minus-only", "-"), ("empty", ""),
            ("bad-group", "1,20,000"), ("leading-comma", ",100"), ("trailing-comma", "100,"), ("four-digit-group", "1,2000"),
            ("comma-after-point", "1.0,0"), ("two-points", "1.2.3"), ("fullwidth-digits", "１２３"), ("arabic-indic", "١٢٣"),
            ("space", "1 000"), ("plus", "+5"), ("exponent", "1e5"), ("combining-mark", "5\u{0301}"), ("nul", "1\u{0}0"),
            ("yuan-sign", "¥100"), ("many-zeros", String(repeating: "0", count: 40) + "1"),
        ]
        var out = texts.map { ($0.0, Array($0.1.utf8)) }
        out.append(("bad-utf8", [0x31, 0xff, 0x30]))
        return out
    }

    /// Writes the seeds for `target` into `directory` (which must exist).
    public static func write(target: String, to directory: String) -> Never {
        let seeds: [(String, [UInt8])]
        switch target {
        case "frame-decoder": seeds = streams()
        case "envelope": seeds = envelopes()
        case "requests": seeds = requestInputs()
        case "json": seeds = jsonInputs()
        case "amounts": seeds = amountInputs()
        default: propertyViolated("no seeds for \(target)")
        }
        for (name, bytes) in seeds {
            let path = directory + "/" + name
            guard let file = fopen(path, "wb") else { propertyViolated("cannot write \(path)") }
            if !bytes.isEmpty { _ = fwrite(bytes, 1, bytes.count, file) }
            fclose(file)
        }
        print("wrote \(seeds.count) seeds to \(directory)")
        exit(0)
    }
}

/// Runs libFuzzer with `callback`, or writes the seed corpus for `target` when the arguments are
/// `--write-seeds DIR`.
public func fuzzMain(target: String, _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Never {
    let arguments = CommandLine.arguments
    if arguments.count == 3, arguments[1] == "--write-seeds" {
        Seeds.write(target: target, to: arguments[2])
    }
    runFuzzer(callback)
}

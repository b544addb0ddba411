import SubsidyCore
import SubsidyWire
import Testing

@Suite("proto3 JSON mapping")
struct JSONValueTests {
    @Test("an application from JSON: camelCase or snake_case names, int64 as string or number, enums by name")
    func applicationFromJSON() throws {
        let text = """
            {"measure": "CLOUD_VOUCHER", "fundingYear": 2022, "enterprise_uscc": "91440604MA4UH8XX3N",
             "contractAmountFen": "120000000000", "paid_amount_fen": 120000000000,
             "servedEnterprises": ["a", "b"], "otherFundDeclared": false, "projectName": "云上 \\u4f5b\\u5c71 \\ud83d\\ude00"}
            """
        let application = try Foshan_Subsidy_V1_Application(jsonText: text, path: "application")
        #expect(application.measure == .cloudVoucher)
        #expect(application.fundingYear == 2022)
        #expect(application.contractAmountFen == 120_000_000_000)
        #expect(application.paidAmountFen == 120_000_000_000)
        #expect(application.servedEnterprises == ["a", "b"])
        #expect(application.projectName == "云上 佛山 😀")
        let again = try Foshan_Subsidy_V1_Application(jsonText: application.jsonValue.serialized(), path: "application")
        #expect(again == application)
    }

    @Test("mistakes are INVALID_ARGUMENT naming the field", arguments: [
        (#"{"measure": "NOPE"}"#, "application.measure"),
        (#"{"contractAmountFen": 1.5}"#, "json"),
        (#"{"contractAmountFen": "12x"}"#, "application.contract_amount_fen"),
        (#"{"fundingYear": 99999999999}"#, "application.funding_year"),
        (#"{"colour": "red"}"#, "application.colour"),
        (#"{"servedEnterprises": [1]}"#, "application.served_enterprises[0]"),
        (#"{"projectName": "a\u0000b"}"#, "application.project_name"),
        (#"{"projectName": "a", "projectName": "b"}"#, "json"),
        (#"{"projectName": "a""#, "json"),
        (#"[1, 2"#, "json"),
    ])
    func mistakes(text: String, field: String) throws {
        let error = try #require(throws: SubsidyError.self) { try Foshan_Subsidy_V1_Application(jsonText: text, path: "application") }
        #expect(error.code == .invalidArgument)
        #expect(error.message.hasPrefix(field), "\(error.message)")
    }

    @Test("deep nesting is refused, not a stack overflow")
    func deepNesting() throws {
        let text = String(repeating: "[", count: 100_000)
        #expect(throws: SubsidyError.self) { try JSONValue.parse(text) }
    }

    @Test("bytes are read in the standard or URL-safe alphabet, padded or not", arguments: [
        ("+/8=", [0xfb, 0xff] as [UInt8]), ("-_8=", [0xfb, 0xff]), ("-_8", [0xfb, 0xff]), ("+/8", [0xfb, 0xff]),
        ("", []), ("AA==", [0]), ("AA", [0]), ("AAA=", [0, 0]), ("AAA", [0, 0]), ("AAAA", [0, 0, 0]),
    ])
    func bytesSpellings(_ text: String, _ bytes: [UInt8]) throws {
        #expect(try JSONValue.string(text).bytes(at: "set") == bytes)
    }

    @Test("bytes that are not base64 are INVALID_ARGUMENT naming the field", arguments: ["A", "AAAAA", "A===", "AA AA", "AA\nAA", "*AAA", "=AAA", "AA==AA==", "6L+Zé"])
    func bytesMistakes(_ text: String) throws {
        let error = try #require(throws: SubsidyError.self) { try JSONValue.string(text).bytes(at: "response.file_descriptor_set") }
        #expect(error.code == .invalidArgument)
        #expect(error.message == "response.file_descriptor_set: must be base64", "\(error.message)")
    }

    @Test("bytes fields are base64")
    func bytesBase64() throws {
        var response = Foshan_Subsidy_V1_GetFileDescriptorSetResponse()
        response.fileDescriptorSet = Array(0...255)
        let json = response.jsonValue.serialized()
        #expect(try Foshan_Subsidy_V1_GetFileDescriptorSetResponse(jsonText: json) == response)
    }
}

import NIOCore
import NIOEmbedded
import SubsidyCore
import SubsidyWire
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Replays the fuzz seed corpus (Tests/Fuzz/corpus) and every saved crash (Tests/Fuzz/regressions)
/// through the code paths of the five libFuzzer targets in Tests/Fuzz, without sanitizers, and
/// checks the same properties: bytes decode or are refused with INVALID_ARGUMENT (a
/// `SubsidyError`), never a trap, and what decodes round-trips through protobuf-c and JSON.
/// Each input's layout is the one its harness defines (see Tests/Fuzz/README.md).
@Suite("Fuzz corpus and regressions")
struct FuzzRegressionTests {
    @Test("frame decoder: bodies and errors match a reference parser", arguments: FuzzInput.all(for: "frame-decoder"))
    func frameDecoder(input: FuzzInput) throws {
        let data = input.bytes
        guard data.count >= 2 else { return }
        let maximumLengths = [FrameDecoder.defaultMaximumFrameLength, 0, 1, 4, 16, 64, 256, 4096]
        let maximum = maximumLengths[Int(data[0]) % maximumLengths.count]
        let chunk = Int(data[1] % 32)
        let stream = Array(data[2...])

        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maximumFrameLength: maximum)))
        var bodies: [[UInt8]] = []
        var failure: FrameError?
        func drain() throws {
            while let body = try channel.readInbound(as: ByteBuffer.self) {
                #expect(body.readableBytes <= maximum, "\(input): a body larger than the maximum")
                bodies.append(Array(body.readableBytesView))
                checkDecode(Foshan_Subsidy_V1_Frame.self, body.readableBytesView, path: "frame", input)
            }
        }
        func record(_ error: any Error) {
            #expect(error is FrameError, "\(input): the decoder threw \(error)")
            failure = error as? FrameError
        }
        var offset = 0
        let step = chunk == 0 ? max(stream.count, 1) : chunk
        while failure == nil, offset < stream.count {
            let end = min(offset + step, stream.count)
            do { try channel.writeInbound(ByteBuffer(bytes: stream[offset..<end])) } catch { record(error) }
            try drain()
            offset = end
        }
        if failure == nil {
            do { _ = try channel.finish() } catch { record(error) }
            try drain()
        } else {
            _ = try? channel.finish()
        }
        let expected = Self.referenceParse(stream, maximum: maximum)
        #expect(bodies == expected.bodies, "\(input)")
        #expect(failure == expected.failure, "\(input)")
    }

    @Test("envelope: Frame(serializedBytes:), then a REQUEST's payload as its method's type", arguments: FuzzInput.all(for: "envelope"))
    func envelope(input: FuzzInput) {
        guard let frame = checkDecode(Foshan_Subsidy_V1_Frame.self, input.bytes, path: "frame", input) else { return }
        if frame.kind == .request, let type = RequestType.forMethod(frame.method) {
            type.check(frame.payload, input)
        }
    }

    @Test("requests: byte 0 picks the request type, the rest is decoded as it", arguments: FuzzInput.all(for: "requests"))
    func requests(input: FuzzInput) {
        guard let selector = input.bytes.first else { return }
        RequestType.all[Int(selector) % RequestType.all.count].check(Array(input.bytes.dropFirst()), input)
    }

    @Test("json: JSONValue.parse and Application(jsonText:), as subsidyctl reads --file", arguments: FuzzInput.all(for: "json"))
    func json(input: FuzzInput) throws {
        let text = String(validating: input.bytes, as: UTF8.self) ?? String(decoding: input.bytes, as: UTF8.self)
        var value: JSONValue?
        do {
            value = try JSONValue.parse(text)
        } catch {
            #expect(error.code == .invalidArgument, "\(input): \(error)")
        }
        for pretty in [false, true] {
            guard let value else { break }
            do {
                #expect(try JSONValue.parse(value.serialized(pretty: pretty)) == value, "\(input): JSON re-parse changed the value")
            } catch {
                Issue.record("\(input): our own JSON does not parse: \(error)")
            }
        }
        let application: Foshan_Subsidy_V1_Application
        do {
            application = try Foshan_Subsidy_V1_Application(jsonText: text, path: "application")
        } catch {
            #expect(error.code == .invalidArgument, "\(input): \(error)")
            return
        }
        let encoded = try application.checkedSerializedBytes()
        #expect(checkDecode(Foshan_Subsidy_V1_Application.self, encoded, path: "application", input) == application, "\(input)")
    }

    @Test("amounts: subsidyctl's yuan flags through Money(parsing:)", arguments: FuzzInput.all(for: "amounts"))
    func amounts(input: FuzzInput) {
        let text = String(validating: input.bytes, as: UTF8.self) ?? String(decoding: input.bytes, as: UTF8.self)
        guard let money = try? Money(parsing: text) else { return }
        #expect((try? Money(parsing: money.description)) == money, "\(input): \(money.description) does not parse back")
    }

    @Test("the corpus and regressions directories are found and not empty")
    func corpusIsPresent() {
        for target in FuzzInput.targets {
            #expect(FuzzInput.files(in: FuzzInput.directory + "/corpus/" + target).count > 0, "no seeds for \(target)")
        }
    }

    @Test("an enum number the schema does not name survives the JSON mapping (found by fuzz-requests)")
    func unknownEnumNumberInJSON() throws {
        var request = Foshan_Subsidy_V1_ReviewApplicationRequest()
        request.outcome = Foshan_Subsidy_V1_ReviewOutcome(rawValue: 1_919_907)
        #expect(request.jsonValue.serialized() == #"{"outcome":1919907}"#)
        #expect(try Foshan_Subsidy_V1_ReviewApplicationRequest(jsonText: request.jsonValue.serialized()) == request)
        request.outcome = .recommend
        #expect(request.jsonValue.serialized() == #"{"outcome":"RECOMMEND"}"#)
    }

    @Test("a \\u escape is exactly four hex digits: no sign (found while writing fuzz-json)", arguments: [#""\u+041""#, #""\u-000""#, #""\u 041""#, #""\u004""#])
    func unicodeEscapeIsFourHexDigits(text: String) {
        #expect(throws: SubsidyError.self) { try JSONValue.parse(text) }
    }

    /// What a correct frame decoder produces for `stream`, read to its end.
    static func referenceParse(_ stream: [UInt8], maximum: Int) -> (bodies: [[UInt8]], failure: FrameError?) {
        var bodies: [[UInt8]] = []
        var offset = 0
        while offset < stream.count {
            let remaining = stream.count - offset
            guard remaining >= 4 else { return (bodies, .truncated(bufferedBytes: remaining)) }
            let length = stream[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            if length > maximum { return (bodies, .frameTooLarge(length: length, maximum: maximum)) }
            guard remaining - 4 >= length else { return (bodies, .truncated(bufferedBytes: remaining)) }
            bodies.append(Array(stream[(offset + 4)..<(offset + 4 + length)]))
            offset += 4 + length
        }
        return (bodies, nil)
    }
}

/// Decodes as the daemon does; refusals must be INVALID_ARGUMENT, and what decodes must re-encode
/// (checked: no U+0000), decode to the same value, re-encode to the same bytes, and survive JSON.
@discardableResult
private func checkDecode<M: ProtoMessage>(_: M.Type, _ bytes: some Collection<UInt8>, path: String, _ input: FuzzInput) -> M? {
    let message: M
    do {
        message = try M(serializedBytes: bytes, path: path)
    } catch {
        #expect(error.code == .invalidArgument, "\(input): \(M.protoName) refused with \(error)")
        return nil
    }
    do {
        let encoded = try message.checkedSerializedBytes()
        let again = try M(serializedBytes: encoded, path: path)
        #expect(again == message, "\(input): \(M.protoName) changed in a round trip")
        #expect(again.serializedBytes() == encoded, "\(input): \(M.protoName) encoding not stable")
        #expect(try M(jsonText: message.jsonValue.serialized(), path: path) == message, "\(input): \(M.protoName) JSON round trip")
    } catch {
        Issue.record("\(input): \(M.protoName) decoded but does not round-trip: \(error)")
    }
    return message
}

/// A request type from `allServiceMethods`, in the order fuzz-requests uses.
private struct RequestType: Sendable {
    let protoName: String
    let decode: @Sendable ([UInt8], FuzzInput) -> Void

    init<M: ProtoMessage>(_: M.Type) {
        protoName = M.protoName
        decode = { checkDecode(M.self, $0, path: "request", $1) }
    }

    func check(_ bytes: [UInt8], _ input: FuzzInput) { decode(bytes, input) }

    /// Distinct input types; services sorted by name, methods in declaration order.
    static let all: [RequestType] = {
        var seen: Set<String> = []
        var types: [RequestType] = []
        for service in allServiceMethods.keys.sorted() {
            for method in allServiceMethods[service] ?? [] {
                guard let type = (method as? any HasRequestType)?.requestType else { continue }
                if seen.insert(type.protoName).inserted { types.append(type) }
            }
        }
        return types
    }()

    static func forMethod(_ fullName: String) -> RequestType? {
        for methods in allServiceMethods.values {
            if let method = methods.first(where: { $0.fullName == fullName }) as? any HasRequestType { return method.requestType }
        }
        return nil
    }
}

private protocol HasRequestType {
    var requestType: RequestType { get }
}

extension UnaryMethod: HasRequestType {
    fileprivate var requestType: RequestType { RequestType(Input.self) }
}

extension ServerStreamingMethod: HasRequestType {
    fileprivate var requestType: RequestType { RequestType(Input.self) }
}

/// One file of Tests/Fuzz/corpus/TARGET or Tests/Fuzz/regressions/TARGET.
struct FuzzInput: Sendable, CustomTestStringConvertible {
    let path: String
    let bytes: [UInt8]

    var testDescription: String { String(path.dropFirst(FuzzInput.directory.count + 1)) }

    static let targets = ["frame-decoder", "envelope", "requests", "json", "amounts"]

    /// Tests/Fuzz, found from this file's path.
    static let directory: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(2)  // SubsidyWireTests/FuzzRegressionTests.swift
        return parts.joined(separator: "/") + "/Fuzz"
    }()

    static func all(for target: String) -> [FuzzInput] {
        (files(in: directory + "/corpus/" + target) + files(in: directory + "/regressions/" + target)).map { path in
            FuzzInput(path: path, bytes: read(path))
        }
    }

    /// Regular files in `directory` (none if it does not exist), sorted.
    static func files(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix("."), entry.pointee.d_type == UInt8(DT_REG) { names.append(directory + "/" + name) }
        }
        return names.sorted()
    }

    static func read(_ path: String) -> [UInt8] {
        guard let file = fopen(path, "rb") else { return [] }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes
    }
}

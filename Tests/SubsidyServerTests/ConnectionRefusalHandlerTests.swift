import NIOCore
import NIOEmbedded
import SubsidyCore
import SubsidyWire
import Testing

@testable import SubsidyServer

/// A connection refused at accept is told why once, on call 0, and closed; nothing it sends is
/// read.
@Suite("ConnectionRefusalHandler")
struct ConnectionRefusalHandlerTests {
    static let status = Foshan_Subsidy_V1_Status(SubsidyError(.resourceExhausted, "connection refused: the daemon already has 4 connections open (max_connections)"))

    @Test("installed on an open connection: one END on call 0 with the status, then closed")
    func refusesAtOnce() throws {
        let connection = try EmbeddedConnection(ConnectionRefusalHandler(status: Self.status))
        let sent = try connection.framesSent()
        #expect(sent.count == 1)
        let end = try #require(sent.first)
        #expect(end.callId == 0 && end.kind == .end)
        #expect(end.status == Self.status)
        #expect(!connection.isOpen)
    }

    @Test("installed before the connection is active: refuses when it becomes active, once")
    func refusesOnActivation() throws {
        let connection = try EmbeddedConnection(ConnectionRefusalHandler(status: Self.status), active: false)
        #expect(try connection.framesSent().isEmpty)
        try connection.activate()
        #expect(try connection.framesSent().map(\.status?.code) == [.resourceExhausted])
        #expect(!connection.isOpen)
    }

    @Test("a second activation does not send a second END")
    func refusesOnce() throws {
        let connection = try EmbeddedConnection(ConnectionRefusalHandler(status: Self.status))
        connection.channel.pipeline.fireChannelActive()
        #expect(try connection.framesSent().count == 1)
    }

    @Test("what the refused peer sends is discarded, not passed on")
    func readsNothing() throws {
        let connection = try EmbeddedConnection(ConnectionRefusalHandler(status: Self.status), active: false)
        connection.channel.pipeline.fireChannelRead(ByteBuffer(bytes: frameBytes()))
        #expect(try connection.passedOn().isEmpty)
    }
}

import NIOCore
import NIOEmbedded
import SubsidyCore
import SubsidyWire
import Testing

@testable import SubsidyServer

/// The slow-loris frame deadline and the idle timeout, on an embedded channel whose clock moves
/// only when the test says: each limit is checked one millisecond before it and at it.
@Suite("ConnectionTimeoutHandler")
struct ConnectionTimeoutHandlerTests {
    static let deadline = TimeAmount.milliseconds(1_500)
    static let idle = TimeAmount.seconds(10)

    static let stall = TimeAmount.seconds(3)

    private func connection(
        frameDeadline: TimeAmount = deadline, idleTimeout: TimeAmount = idle
    ) throws -> (EmbeddedConnection, ConnectionActivity) {
        let loop = EmbeddedConnection.syncedLoop()
        let activity = ConnectionActivity(now: loop.now)
        let handler = ConnectionTimeoutHandler(
            frameDeadline: frameDeadline, idleTimeout: idleTimeout, writeStall: Self.stall, activity: activity, logger: quietLogger
        )
        return (try EmbeddedConnection(handler, loop: loop), activity)
    }

    // MARK: frame deadline

    @Test("a frame not in full by frame_deadline: DEADLINE_EXCEEDED on call 0, then closed")
    func frameDeadlineFires() throws {
        let (connection, _) = try connection()
        let frame = frameBytes()
        try connection.send(Array(frame.prefix(6)))
        connection.advance(by: Self.deadline - .milliseconds(1))
        #expect(connection.isOpen)
        #expect(try connection.framesSent().isEmpty)

        connection.advance(by: .milliseconds(1))
        let sent = try connection.framesSent()
        #expect(sent.count == 1)
        let end = try #require(sent.first)
        #expect(end.callId == 0 && end.kind == .end)
        #expect(end.status?.code == .deadlineExceeded)
        #expect(end.status?.message.contains("1500 ms") == true, "\(end.status?.message ?? "")")
        #expect(end.status?.message.contains("(frame_deadline_ms)") == true)
        #expect(!connection.isOpen)
    }

    @Test("the bytes pass through unchanged, whatever the handler is tracking")
    func passesBytesThrough() throws {
        let (connection, _) = try connection()
        let bytes = frameBytes(callID: 1) + frameBytes(callID: 2) + Array(frameBytes(callID: 3).prefix(3))
        try connection.send(Array(bytes.prefix(5)))
        try connection.send(Array(bytes.dropFirst(5)))
        #expect(try connection.passedOn() == bytes)
    }

    @Test("a frame completed in time cancels its deadline")
    func completedFrameCancelsDeadline() throws {
        let (connection, _) = try connection()
        let frame = frameBytes()
        try connection.send(Array(frame.prefix(3)))
        connection.advance(by: Self.deadline - .milliseconds(1))
        try connection.send(Array(frame.dropFirst(3)))
        connection.advance(by: Self.deadline * 3)
        #expect(connection.isOpen)
        #expect(try connection.framesSent().isEmpty)
    }

    @Test("a frame split at every byte boundary, its halves a deadline apart less 1 ms, is accepted")
    func splitAtEveryByte() throws {
        let frame = frameBytes()
        for split in 1..<frame.count {
            let (connection, _) = try connection()
            try connection.send(Array(frame.prefix(split)))
            connection.advance(by: Self.deadline - .milliseconds(1))
            try connection.send(Array(frame.dropFirst(split)))
            connection.advance(by: Self.deadline)
            #expect(connection.isOpen, "split at \(split)")
            #expect(try connection.passedOn() == frame, "split at \(split)")
        }
    }

    @Test("each frame has its own deadline, from its own first byte")
    func deadlinePerFrame() throws {
        let (connection, _) = try connection()
        try connection.send(frameBytes(callID: 1))
        connection.advance(by: .milliseconds(1_000))
        // The second frame starts 1 s after the first completed: its deadline is 2.5 s from the
        // start, not 1.5 s.
        try connection.send([0, 0])
        connection.advance(by: Self.deadline - .milliseconds(1))
        #expect(connection.isOpen)
        connection.advance(by: .milliseconds(1))
        #expect(try connection.framesSent().map(\.status?.code) == [.deadlineExceeded])
        #expect(!connection.isOpen)
    }

    @Test("a zero-length frame is complete with its header")
    func emptyFrame() throws {
        let (connection, _) = try connection()
        try connection.send([0, 0, 0, 0])
        connection.advance(by: Self.deadline * 2)
        #expect(connection.isOpen)
        #expect(try connection.passedOn() == [0, 0, 0, 0])
    }

    @Test("a body length near 2 GiB does not stop the deadline (the decoder refuses it; this handler only times it)")
    func hugeDeclaredBody() throws {
        let (connection, _) = try connection()
        try connection.send([0x7f, 0xff, 0xff, 0xff, 1, 2, 3])
        connection.advance(by: Self.deadline)
        #expect(try connection.framesSent().map(\.status?.code) == [.deadlineExceeded])
    }

    // MARK: idle timeout

    @Test("a connection that sends nothing: UNAVAILABLE on call 0 at idle_timeout, then closed")
    func idleFires() throws {
        let (connection, _) = try connection()
        connection.advance(by: Self.idle - .milliseconds(1))
        #expect(connection.isOpen)
        #expect(try connection.framesSent().isEmpty)

        connection.advance(by: .milliseconds(1))
        let end = try #require(try connection.framesSent().first)
        #expect(end.callId == 0 && end.kind == .end)
        #expect(end.status?.code == .unavailable)
        #expect(end.status?.message.contains("idle for 10000 ms") == true, "\(end.status?.message ?? "")")
        #expect(end.status?.message.contains("(idle_timeout_ms)") == true)
        #expect(!connection.isOpen)
    }

    @Test("every read starts the idle period again")
    func readsPostponeIdle() throws {
        let (connection, _) = try connection()
        for n in 1...5 {
            connection.advance(by: .seconds(7))
            try connection.send(frameBytes(callID: UInt64(n)))
        }
        // 35 s in, never 10 s quiet.
        #expect(connection.isOpen)
        connection.advance(by: Self.idle - .milliseconds(1))
        #expect(connection.isOpen)
        connection.advance(by: .milliseconds(1))
        #expect(try connection.framesSent().map(\.status?.code) == [.unavailable])
        #expect(!connection.isOpen)
    }

    @Test("a connection with an open call is busy however long it is quiet; the idle period starts when the call ends")
    func openCallIsNotIdle() throws {
        let (connection, activity) = try connection()
        activity.callStarted(now: connection.now)
        connection.advance(by: Self.idle * 30)
        #expect(connection.isOpen)
        #expect(try connection.framesSent().isEmpty)

        activity.callEnded(now: connection.now)
        // The check that saw the call open is next due at most one idle period on; from the end
        // of the call the connection has a full idle period.
        connection.advance(by: Self.idle - .milliseconds(1))
        #expect(connection.isOpen)
        connection.advance(by: Self.idle)
        #expect(try connection.framesSent().map(\.status?.code) == [.unavailable])
    }

    @Test("inside a frame the idle timeout gives way to the frame deadline")
    func midFrameIsTheDeadlinesBusiness() throws {
        // An idle timeout shorter than the frame deadline: the connection is quiet mid-frame for
        // longer than the idle timeout, and is closed for the frame, not for idleness.
        let (connection, _) = try connection(frameDeadline: .seconds(5), idleTimeout: .seconds(1))
        try connection.send(Array(frameBytes().prefix(2)))
        connection.advance(by: .milliseconds(4_999))
        #expect(connection.isOpen)
        connection.advance(by: .milliseconds(1))
        #expect(try connection.framesSent().map(\.status?.code) == [.deadlineExceeded])
    }

    @Test("a handler added to a connection that becomes active later starts its idle timer then")
    func idleFromActivation() throws {
        let loop = EmbeddedConnection.syncedLoop()
        let activity = ConnectionActivity(now: loop.now)
        let handler = ConnectionTimeoutHandler(frameDeadline: Self.deadline, idleTimeout: Self.idle, activity: activity, logger: quietLogger)
        let connection = try EmbeddedConnection(handler, loop: loop, active: false)
        connection.advance(by: Self.idle * 2)
        #expect(try connection.framesSent().isEmpty)
        try connection.activate()
        connection.advance(by: Self.idle - .milliseconds(1))
        #expect(connection.isOpen)
        connection.advance(by: .milliseconds(1))
        #expect(try connection.framesSent().map(\.status?.code) == [.unavailable])
    }

    // MARK: one ending

    // MARK: write stall

    /// The channel made unwritable (or writable again), as when its client stops (or starts)
    /// taking replies and they fill (or leave) the socket and the channel's buffer.
    private func writable(_ writable: Bool, _ connection: EmbeddedConnection) {
        connection.channel.isWritable = writable
        connection.channel.pipeline.fireChannelWritabilityChanged()
    }

    @Test("a connection unwritable for the whole write stall: closed, with UNAVAILABLE on call 0 naming the key")
    func writeStallFires() throws {
        let (connection, activity) = try connection()
        // A busy connection (its calls wait to write) is never idle; the stall is what ends it.
        activity.callStarted()
        writable(false, connection)
        connection.advance(by: Self.stall - .milliseconds(1))
        #expect(connection.isOpen)
        connection.advance(by: .milliseconds(1))
        #expect(!connection.isOpen)
        let end = try #require(try connection.framesSent().first)
        #expect(end.callId == 0 && end.status?.code == .unavailable)
        #expect(end.status?.message.contains("taken none of its replies for 3000 ms (write_stall_timeout_ms)") == true, "\(end.status?.message ?? "")")
    }

    @Test("writable again before the stall runs out: kept; each stall is timed from its own start")
    func writeStallResets() throws {
        let (connection, activity) = try connection()
        activity.callStarted()
        for _ in 0..<3 {
            writable(false, connection)
            connection.advance(by: Self.stall - .milliseconds(1))
            writable(true, connection)
            connection.advance(by: .milliseconds(500))
        }
        #expect(connection.isOpen)
        #expect(try connection.framesSent().isEmpty)
        // A second unwritable report while already unwritable does not restart the clock.
        writable(false, connection)
        connection.advance(by: .seconds(2))
        writable(false, connection)
        connection.advance(by: .seconds(1))
        #expect(!connection.isOpen)
    }

    /// A busy connection holding two 1,000-byte replies, just reported unwritable (as NIO does,
    /// inside the write, before any flush); the reply, to write more.
    private func unwritableWithTwoReplies() throws -> (EmbeddedConnection, ByteBuffer) {
        let (connection, activity) = try connection()
        activity.callStarted()
        let reply = ByteBuffer(repeating: 7, count: 1_000)
        connection.channel.write(reply, promise: nil)
        connection.channel.write(reply, promise: nil)
        writable(false, connection)
        return (connection, reply)
    }

    @Test("a client that reads slowly — some bytes leave the channel's buffer each period — is kept; stuck, it is closed")
    func slowReaderKept() throws {
        let (connection, reply) = try unwritableWithTwoReplies()
        // The socket takes the buffered 2,000 bytes; 1,000 more wait (written before the
        // channel turned unwritable). Less is buffered than a period ago: progress.
        connection.advance(by: Self.stall - .milliseconds(500))
        connection.channel.flush()
        connection.channel.write(reply, promise: nil)
        connection.advance(by: .milliseconds(500))
        #expect(connection.isOpen)
        // No byte taken in the next whole period: stuck.
        connection.advance(by: Self.stall - .milliseconds(1))
        #expect(connection.isOpen)
        connection.advance(by: .milliseconds(1))
        #expect(!connection.isOpen)
    }

    @Test("what the flush after the unwritable report moves to the socket is not the client reading: taking nothing after it, the client is closed at the stall, not a period later")
    func stallTimedAfterTheFlush() throws {
        let (connection, _) = try unwritableWithTwoReplies()
        // Then the flush in the same turn.
        connection.channel.flush()
        connection.advance(by: Self.stall - .milliseconds(1))
        #expect(connection.isOpen)
        connection.advance(by: .milliseconds(1))
        #expect(!connection.isOpen, "closed at the stall")
    }

    @Test("one END however many limits are passed after the first")
    func closesOnce() throws {
        let (connection, _) = try connection(frameDeadline: .seconds(1), idleTimeout: .seconds(1))
        try connection.send([0, 0, 0, 9])
        connection.advance(by: .seconds(60))
        #expect(try connection.framesSent().count == 1)
    }

    @Test("a connection the peer closed, or a handler removed, has no timer left to fire")
    func timersEndWithTheConnection() throws {
        let (closed, _) = try connection()
        try closed.send([0, 0, 0, 9])
        try closed.channel.close().wait()
        closed.advance(by: Self.idle * 2)
        #expect(try closed.framesSent().isEmpty)

        let (removed, _) = try connection()
        try removed.send([0, 0, 0, 9])
        let handler = try removed.channel.pipeline.syncOperations.handler(type: ConnectionTimeoutHandler.self)
        try removed.channel.pipeline.syncOperations.removeHandler(handler).wait()
        removed.advance(by: Self.idle * 2)
        #expect(removed.isOpen)
        #expect(try removed.framesSent().isEmpty)
    }
}

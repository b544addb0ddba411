import SubsidyCore
import SubsidyWire

/// The records of one list reply, bounded by bytes as well as by count: a page stops before the
/// record that would take it past its budget (`ServerConfiguration.Limits.listPageBytes`), and
/// the caller returns a page token from the last record kept.
struct ReplyPage<Record: ProtoMessage> {
    let budget: Int
    private(set) var records: [Record] = []
    /// Encoded size of the records so far, as fields of the reply (tag and length included).
    private(set) var bytes = 0

    init(budget: Int) {
        self.budget = budget
    }

    /// Room left in a reply frame for the envelope, the page token and a status message.
    private static var envelopeAllowance: Int { 4 * 1024 }

    /// Adds `record` if it fits and returns true, or returns false: the page is full. The first
    /// record is always taken (a page must make progress) unless it alone could not be sent.
    /// - Parameter id: names the record if it is too large to send at all.
    mutating func add(_ record: Record, id: String) throws(SubsidyError) -> Bool {
        let size = record.serializedBytes().count
        // A length-delimited field: one tag byte, a varint length of at most five bytes, the body.
        let field = size + 6
        if records.isEmpty {
            guard field <= FrameDecoderDefaults.maximumReplyFrameLength - Self.envelopeAllowance else {
                throw SubsidyError(
                    .resourceExhausted,
                    "record \(id) is \(size) bytes encoded, more than one reply frame (\(FrameDecoderDefaults.maximumReplyFrameLength) bytes) can carry"
                )
            }
        } else if bytes + field > budget {
            return false
        }
        records.append(record)
        bytes += field
        return true
    }

    /// One page of `fetched` (read with one record more than `limit`, to know whether more
    /// follow), converted by `encode`, and the token of the next page if there is one: the key of
    /// the last record kept, when the page stopped before the end of what was read.
    static func page<Stored>(
        of fetched: [Stored], limit: Int, budget: Int, key: (Stored) -> String, _ encode: (Stored) -> Record
    ) throws(SubsidyError) -> (records: [Record], nextPageToken: String) {
        var page = ReplyPage(budget: budget)
        var lastKey = ""
        for stored in fetched.prefix(limit) {
            guard try page.add(encode(stored), id: key(stored)) else { break }
            lastKey = key(stored)
        }
        return (page.records, page.records.count < fetched.count ? lastKey : "")
    }
}

import SubsidyCore

/// One audit event: an action and named fields, stored as one line of JSON with every value
/// escaped, so no value a client chose — a reason holding a newline, `" by=city`, a quote — can
/// forge another field or another event. Fields keep the order they are given in, so the same
/// event always encodes to the same bytes (the chain hashes those bytes).
public struct AuditEvent: Sendable, Equatable {
    /// A field's value: text, or an integer (amounts in fen, uids, sequence numbers).
    public enum Value: Sendable, Equatable {
        case text(String)
        case integer(Int64)
    }

    public var action: String
    public var fields: [Field]

    /// One named value.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: Value
        public init(_ name: String, _ value: Value) {
            self.name = name
            self.value = value
        }
    }

    public init(_ action: String, _ fields: [Field]) {
        self.action = action
        self.fields = fields
    }

    /// `{"action":"…","name":value,…}` on one line.
    public var encoded: String {
        var text = "{\"action\":" + JSONString.quoted(action)
        for field in fields {
            text += "," + JSONString.quoted(field.name) + ":"
            switch field.value {
            case .text(let value): text += JSONString.quoted(value)
            case .integer(let value): text += String(value)
            }
        }
        return text + "}"
    }
}

extension AuditEvent.Field {
    /// A text field.
    public static func text(_ name: String, _ value: String) -> Self { .init(name, .text(value)) }
    /// An integer field.
    public static func integer(_ name: String, _ value: Int64) -> Self { .init(name, .integer(value)) }
    /// Who acted: `tenant` and `uid`, two fields.
    static func actor(_ actor: Actor) -> [Self] { [.text("tenant", actor.tenant), .integer("uid", Int64(actor.uid))] }
}

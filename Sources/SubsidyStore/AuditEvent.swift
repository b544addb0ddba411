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
        var text = "{\"action\":" + Self.quoted(action)
        for field in fields {
            text += "," + Self.quoted(field.name) + ":"
            switch field.value {
            case .text(let value): text += Self.quoted(value)
            case .integer(let value): text += String(value)
            }
        }
        return text + "}"
    }

    /// A JSON string literal: quotes, backslashes, every control character and the two Unicode
    /// line separators escaped, so the result never spans lines.
    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029 || scalar.value == 0x85:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
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

#!/usr/bin/env python3
"""Generates the Swift side of the protobuf-c bridge from a FileDescriptorSet.

For every message: a Swift struct with typed fields, the copy-out from the protobuf-c struct, the
fill-in of a protobuf-c struct (allocations owned by a ProtoArena), and the proto3 JSON mapping.
For every enum: an open RawRepresentable struct. For every service: typed method descriptors.
Also the C accessors that hand Swift each descriptor's address (taking it from Swift could copy).

Usage: gen_swift.py DESCRIPTOR_SET OUT_SWIFT_DIR OUT_C_DIR
"""
import base64
import sys
from google.protobuf import descriptor_pb2 as d

F = d.FieldDescriptorProto
PKG_C = "Foshan__Subsidy__V1__"
PKG_FN = "foshan__subsidy__v1__"
SWIFT_KEYWORDS = {"return", "internal", "default", "protocol", "extension", "class", "struct",
                  "enum", "func", "var", "let", "in", "is", "as", "self", "Type", "init", "case",
                  "public", "private", "static", "where", "switch", "repeat", "operator", "import"}


def camel_to_lower(name):
    # protoc-c's CamelToLower: an underscore before an upper-case letter that follows a lower-case one.
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and name[i - 1].islower():
            out += "_"
        out += ch.lower()
    return out


def lower_camel(snake):
    parts = snake.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def esc(name):
    return f"`{name}`" if name in SWIFT_KEYWORDS else name


def short(type_name):
    return type_name.rsplit(".", 1)[-1]


def enum_case_name(enum_name, value_name):
    prefix = camel_to_lower(enum_name).upper() + "_"
    n = value_name[len(prefix):] if value_name.startswith(prefix) and len(value_name) > len(prefix) else value_name
    return lower_camel(n.lower())


def comments(fd):
    out = {}
    for loc in fd.source_code_info.location:
        if loc.leading_comments:
            out[tuple(loc.path)] = loc.leading_comments
    return out


def doc(text, indent):
    if not text:
        return ""
    lines = [l.rstrip() for l in text.strip("\n").split("\n")]
    return "".join(f"{indent}///{(' ' + l.strip()) if l.strip() else ''}\n" for l in lines)


SCALARS = {
    F.TYPE_INT32: ("Int32", "0", "int32"), F.TYPE_SINT32: ("Int32", "0", "int32"),
    F.TYPE_SFIXED32: ("Int32", "0", "int32"), F.TYPE_INT64: ("Int64", "0", "int64"),
    F.TYPE_SINT64: ("Int64", "0", "int64"), F.TYPE_SFIXED64: ("Int64", "0", "int64"),
    F.TYPE_UINT32: ("UInt32", "0", "uint32"), F.TYPE_FIXED32: ("UInt32", "0", "uint32"),
    F.TYPE_UINT64: ("UInt64", "0", "uint64"), F.TYPE_FIXED64: ("UInt64", "0", "uint64"),
}


def swift_type(f):
    if f.type in SCALARS:
        t = SCALARS[f.type][0]
    elif f.type == F.TYPE_BOOL:
        t = "Bool"
    elif f.type == F.TYPE_STRING:
        t = "String"
    elif f.type == F.TYPE_BYTES:
        t = "[UInt8]"
    elif f.type == F.TYPE_ENUM:
        t = short(f.type_name)
    elif f.type == F.TYPE_MESSAGE:
        t = short(f.type_name)
    else:
        raise SystemExit(f"unsupported field type {f.type} in {f.name}")
    if f.label == F.LABEL_REPEATED:
        return f"[{t}]", "[]"
    if f.type == F.TYPE_MESSAGE:
        return f"{t}?", "nil"
    default = {"Bool": "false", "String": '""', "[UInt8]": "[]"}.get(t, "0" if f.type in SCALARS else f".init(rawValue: 0)")
    return t, default


def gen_enum(e, docs, path):
    name = e.name
    out = doc(docs.get(tuple(path), ""), "")
    out += f"public struct {name}: ProtoEnum {{\n    public var rawValue: Int32\n    public init(rawValue: Int32) {{ self.rawValue = rawValue }}\n\n"
    for i, v in enumerate(e.value):
        out += doc(docs.get(tuple(path + [2, i]), ""), "    ")
        out += f"    public static let {esc(enum_case_name(name, v.name))} = {name}(rawValue: {v.number})\n"
    out += "\n    public static let protoNames: [Int32: String] = [\n"
    for v in e.value:
        out += f'        {v.number}: "{v.name}",\n'
    out += "    ]\n}\n\n"
    return out


def gen_message(m, docs, path):
    name = m.name
    ctype = PKG_C + name
    fn = PKG_FN + camel_to_lower(name)
    if m.nested_type or m.enum_type or m.oneof_decl:
        raise SystemExit(f"{name}: nested types and oneofs are not supported by this generator; keep messages flat")
    out = doc(docs.get(tuple(path), ""), "")
    out += f"public struct {name}: ProtoMessage {{\n"
    for i, f in enumerate(m.field):
        t, default = swift_type(f)
        out += doc(docs.get(tuple(path + [2, i]), ""), "    ")
        out += f"    public var {esc(lower_camel(f.name))}: {t} = {default}\n"
    out += "\n    public init() {}\n\n"
    out += f'    public static let protoName = "foshan.subsidy.v1.{name}"\n'
    out += f"    public static var cDescriptor: UnsafePointer<ProtobufCMessageDescriptor> {{ subsidy_descriptor_{camel_to_lower(name)}() }}\n\n"
    # copy out of C
    out += "    public static func _copyOut(_ raw: UnsafeRawPointer) -> Self {\n"
    if m.field:
        out += f"        let c = raw.assumingMemoryBound(to: {ctype}.self).pointee\n"
    out += "        var m = Self()\n" if m.field else "        return Self()\n    }\n\n"
    for f in m.field:
        s = esc(lower_camel(f.name))
        cf = f.name
        rep = f.label == F.LABEL_REPEATED
        if f.type == F.TYPE_MESSAGE:
            out += f"        m.{s} = {'ProtoC.messages(c.n_' + cf + ', c.' + cf + ')' if rep else 'ProtoC.message(c.' + cf + ')'}\n"
        elif f.type == F.TYPE_STRING:
            out += f"        m.{s} = {'ProtoC.strings(c.n_' + cf + ', c.' + cf + ')' if rep else 'ProtoC.string(c.' + cf + ')'}\n"
        elif f.type == F.TYPE_BYTES:
            if rep:
                raise SystemExit("repeated bytes unsupported")
            out += f"        m.{s} = ProtoC.bytes(c.{cf})\n"
        elif f.type == F.TYPE_BOOL:
            out += f"        m.{s} = {'ProtoC.scalars(c.n_' + cf + ', c.' + cf + ').map { $0 != 0 }' if rep else 'c.' + cf + ' != 0'}\n"
        elif f.type == F.TYPE_ENUM:
            if rep:
                out += f"        m.{s} = ProtoC.scalars(c.n_{cf}, c.{cf}).map {{ .init(rawValue: Int32(truncatingIfNeeded: $0.rawValue)) }}\n"
            else:
                out += f"        m.{s} = .init(rawValue: Int32(truncatingIfNeeded: c.{cf}.rawValue))\n"
        else:
            out += f"        m.{s} = {'ProtoC.scalars(c.n_' + cf + ', c.' + cf + ')' if rep else 'c.' + cf}\n"
    if m.field:
        out += "        return m\n    }\n\n"
    # fill C
    out += "    public func _fill(_ arena: ProtoArena) -> UnsafeMutableRawPointer {\n"
    out += f"        let p = arena.allocate({ctype}.self)\n        {fn}__init(p)\n"
    for f in m.field:
        s = "self." + esc(lower_camel(f.name))
        cf = f.name
        rep = f.label == F.LABEL_REPEATED
        if f.type == F.TYPE_MESSAGE:
            ct = PKG_C + short(f.type_name)
            if rep:
                out += f"        (p.pointee.n_{cf}, p.pointee.{cf}) = arena.messages({s}, {ct}.self)\n"
            else:
                out += f"        p.pointee.{cf} = arena.message({s}, {ct}.self)\n"
        elif f.type == F.TYPE_STRING:
            out += f"        {'(p.pointee.n_' + cf + ', p.pointee.' + cf + ') = arena.strings(' + s + ')' if rep else 'p.pointee.' + cf + ' = arena.string(' + s + ')'}\n"
        elif f.type == F.TYPE_BYTES:
            out += f"        p.pointee.{cf} = arena.bytes({s})\n"
        elif f.type == F.TYPE_BOOL:
            out += f"        {'(p.pointee.n_' + cf + ', p.pointee.' + cf + ') = arena.scalars(' + s + '.map { $0 ? 1 : 0 })' if rep else 'p.pointee.' + cf + ' = ' + s + ' ? 1 : 0'}\n"
        elif f.type == F.TYPE_ENUM:
            ct = PKG_C + short(f.type_name)
            if rep:
                out += f"        (p.pointee.n_{cf}, p.pointee.{cf}) = arena.scalars({s}.map {{ {ct}(rawValue: .init(truncatingIfNeeded: $0.rawValue)) }})\n"
            else:
                out += f"        p.pointee.{cf} = {ct}(rawValue: .init(truncatingIfNeeded: {s}.rawValue))\n"
        else:
            out += f"        {'(p.pointee.n_' + cf + ', p.pointee.' + cf + ') = arena.scalars(' + s + ')' if rep else 'p.pointee.' + cf + ' = ' + s}\n"
    out += "        return UnsafeMutableRawPointer(p)\n    }\n\n"
    # JSON
    out += "    public init(json: JSONValue, path: String) throws(SubsidyError) {\n        self.init()\n"
    if not m.field:
        out += "        for (key, _) in try json.objectMembers(at: path) {\n"
        out += '            throw SubsidyError.invalidField(path + "." + key, "unknown field")\n        }\n    }\n\n'
        out += "    public var jsonValue: JSONValue { .object([]) }\n}\n\n"
        return out
    out += "        for (key, value) in try json.objectMembers(at: path) {\n            switch key {\n"
    for f in m.field:
        s = esc(lower_camel(f.name))
        fp = f'path + ".{f.name}"'
        rep = f.label == F.LABEL_REPEATED
        if f.type == F.TYPE_MESSAGE:
            conv = f"{short(f.type_name)}(json: $0, path: $1)" if rep else f"{short(f.type_name)}(json: value, path: {fp})"
        elif f.type == F.TYPE_STRING:
            conv = "$0.string(at: $1)" if rep else f"value.string(at: {fp})"
        elif f.type == F.TYPE_BYTES:
            conv = f"value.bytes(at: {fp})"
        elif f.type == F.TYPE_BOOL:
            conv = "$0.bool(at: $1)" if rep else f"value.bool(at: {fp})"
        elif f.type == F.TYPE_ENUM:
            conv = f"$0.enumValue({short(f.type_name)}.self, at: $1)" if rep else f"value.enumValue({short(f.type_name)}.self, at: {fp})"
        else:
            kind = SCALARS[f.type][2]
            conv = f"$0.{kind}(at: $1)" if rep else f"value.{kind}(at: {fp})"
        if rep:
            expr = f"try value.array(at: {fp}) {{ (v: JSONValue, p: String) throws(SubsidyError) in try {conv.replace('$0', 'v').replace('$1', 'p')} }}"
        else:
            expr = f"try {conv}"
        if f.type == F.TYPE_MESSAGE and not rep:
            expr = f"value.isNull ? nil : {expr}"
        keys = f'"{lower_camel(f.name)}"' + (f', "{f.name}"' if lower_camel(f.name) != f.name else "")
        out += f"            case {keys}: self.{s} = {expr}\n"
    out += '            default: throw SubsidyError.invalidField(path + "." + key, "unknown field")\n'
    out += "            }\n        }\n    }\n\n"
    out += "    public var jsonValue: JSONValue {\n        var members: [(String, JSONValue)] = []\n"
    for f in m.field:
        s = "self." + esc(lower_camel(f.name))
        key = lower_camel(f.name)
        rep = f.label == F.LABEL_REPEATED
        if f.type == F.TYPE_MESSAGE:
            conv = "$0.jsonValue"
        elif f.type == F.TYPE_STRING:
            conv = "JSONValue.string($0)"
        elif f.type == F.TYPE_BYTES:
            conv = "JSONValue.bytes($0)"
        elif f.type == F.TYPE_BOOL:
            conv = "JSONValue.bool($0)"
        elif f.type == F.TYPE_ENUM:
            conv = "JSONValue.enumValue($0)"
        elif SCALARS[f.type][0] in ("Int64", "UInt64"):
            conv = "JSONValue.int64String($0)"
        else:
            conv = "JSONValue.integer($0)"
        if rep:
            out += f'        if !{s}.isEmpty {{ members.append(("{key}", .array({s}.map {{ {conv} }}))) }}\n'
        elif f.type == F.TYPE_MESSAGE:
            out += f'        if let v = {s} {{ members.append(("{key}", v.jsonValue)) }}\n'
        else:
            dflt = {"Bool": "false", "String": '""', "[UInt8]": "[]"}.get(swift_type(f)[0], "0")
            cond = f"{s}.rawValue != 0" if f.type == F.TYPE_ENUM else f"{s} != {dflt}"
            out += f'        if {cond} {{ members.append(("{key}", {conv.replace("$0", s)})) }}\n'
    out += "        return .object(members)\n    }\n}\n\n"
    return out


def gen_services(fds):
    out = ""
    for fd in fds.file:
        for s in fd.service:
            full = f"{fd.package}.{s.name}"
            out += f"/// Method descriptors of `{full}`.\npublic enum {s.name}Methods {{\n"
            out += f'    public static let serviceName = "{full}"\n'
            names = []
            for m in s.method:
                if m.client_streaming:
                    raise SystemExit("client streaming is not part of this protocol")
                kind = "ServerStreamingMethod" if m.server_streaming else "UnaryMethod"
                v = lower_camel(camel_to_lower(m.name))
                names.append(v)
                out += f'    public static let {esc(v)} = {kind}<{short(m.input_type)}, {short(m.output_type)}>(fullName: "/{full}/{m.name}")\n'
            out += "    /// Every method, for routing and reflection.\n"
            out += "    public static let all: [any MethodDescriptor] = [" + ", ".join(esc(n) for n in names) + "]\n}\n\n"
    out += "/// Every service this protocol defines.\npublic let allServiceMethods: [String: [any MethodDescriptor]] = [\n"
    for fd in fds.file:
        for s in fd.service:
            out += f'    {s.name}Methods.serviceName: {s.name}Methods.all,\n'
    out += "]\n"
    return out


def main():
    src, swift_dir, c_dir = sys.argv[1:4]
    fds = d.FileDescriptorSet()
    with open(src, "rb") as fh:
        fds.ParseFromString(fh.read())
    header = "// Generated by Protos/codegen/gen_swift.py from Protos/foshan/subsidy/v1/*.proto. Do not edit.\n"
    sw = header + "// swiftlint:disable all\n\nimport CProtobufC\nimport SubsidyCore\nimport SubsidyProtoC\n\n"
    accessors_c = header + '#include "SubsidyProtoC.h"\n\n'
    accessors_h = ""
    for fd in fds.file:
        if not fd.package.startswith("foshan."):
            continue
        docs = comments(fd)
        sw += f"// MARK: - {fd.name}\n\n"
        for i, e in enumerate(fd.enum_type):
            sw += gen_enum(e, docs, [5, i])
        for i, m in enumerate(fd.message_type):
            sw += gen_message(m, docs, [4, i])
            lname = camel_to_lower(m.name)
            accessors_h += f"const ProtobufCMessageDescriptor *subsidy_descriptor_{lname}(void);\n"
            accessors_c += f"const ProtobufCMessageDescriptor *subsidy_descriptor_{lname}(void) {{ return &{PKG_FN}{lname}__descriptor; }}\n"
    # Reflection serves the set without source info, so the daemon's copy stays small.
    slim = d.FileDescriptorSet()
    slim.CopyFrom(fds)
    for f in slim.file:
        f.ClearField("source_code_info")
    blob = base64.b64encode(slim.SerializeToString(deterministic=True)).decode()
    services = header + "\n" + gen_services(fds)
    services += "\n/// The serialized `google.protobuf.FileDescriptorSet` of Protos/, served by Reflection.\n"
    services += f'public let protoFileDescriptorSetBase64 = "{blob}"\n'
    with open(f"{swift_dir}/Messages.swift", "w") as fh:
        fh.write(sw.rstrip() + "\n")
    with open(f"{swift_dir}/Services.swift", "w") as fh:
        fh.write(services)
    with open(f"{c_dir}/descriptors.c", "w") as fh:
        fh.write(accessors_c)
    with open(f"{c_dir}/include/subsidy_descriptors.h", "w") as fh:
        fh.write(header + "#pragma once\n#include <protobuf-c/protobuf-c.h>\n\n" + accessors_h)


if __name__ == "__main__":
    main()

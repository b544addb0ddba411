#!/usr/bin/env python3
"""Generates the Swift side of the protobuf-c bridge from a FileDescriptorSet.

Names follow swift-protobuf: a type is prefixed with its package (`foshan.subsidy.v1.Application`
is `Foshan_Subsidy_V1_Application`), so wire types never collide with the domain's. One file per
.proto, in the shape of swift-protobuf and grpc-swift-protobuf output:

- wire/<Proto>.pb.swift (SubsidyWire): for every message a Swift struct with typed fields, the
  copy-out from the protobuf-c struct, the fill-in of a protobuf-c struct (allocations owned by a
  ProtoArena) and the proto3 JSON mapping; for every enum an open RawRepresentable struct; for
  every service a namespace enum with its name and typed method descriptors.
- wire/DescriptorSet.swift: every service's methods and the FileDescriptorSet, for reflection.
- server/<Proto>.server.swift (SubsidyServer): per service a `ServiceProtocol` with one
  requirement per RPC and `registerMethods(with:roles:)`, which registers every one of them.
- client/<Proto>.client.swift (SubsidyClient): per service a `Client` with one typed method per RPC.
- c/descriptors.c, c/include/subsidy_descriptors.h: the C accessors that hand Swift each
  descriptor's address (taking it from Swift could copy).
- codegen/wire-renames.txt: the names before the prefix, for Protos/codegen/rename-wire-types.sh.

Usage: gen_swift.py DESCRIPTOR_SET OUT_DIR   (writes OUT_DIR/{wire,server,client,c,codegen})
"""
import base64
import os
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


def package_prefix(package):
    """swift-protobuf's prefix: each package component upper-camel-cased, joined and ended by `_`."""
    parts = []
    for component in package.split("."):
        parts.append("".join(w[:1].upper() + w[1:] for w in component.split("_")))
    return "_".join(parts) + "_" if package else ""


def swift_name(full_name):
    """The Swift type of a fully qualified proto name (`.foshan.subsidy.v1.Application`)."""
    package, _, name = full_name.lstrip(".").rpartition(".")
    return package_prefix(package) + name


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
    elif f.type in (F.TYPE_ENUM, F.TYPE_MESSAGE):
        t = swift_name(f.type_name)
    else:
        raise SystemExit(f"unsupported field type {f.type} in {f.name}")
    if f.label == F.LABEL_REPEATED:
        return f"[{t}]", "[]"
    if f.type == F.TYPE_MESSAGE:
        return f"{t}?", "nil"
    default = {"Bool": "false", "String": '""', "[UInt8]": "[]"}.get(t, "0" if f.type in SCALARS else f".init(rawValue: 0)")
    return t, default


def gen_enum(e, package, docs, path):
    name = swift_name(f"{package}.{e.name}")
    out = doc(docs.get(tuple(path), ""), "")
    out += f"public struct {name}: ProtoEnum {{\n    public var rawValue: Int32\n    public init(rawValue: Int32) {{ self.rawValue = rawValue }}\n\n"
    for i, v in enumerate(e.value):
        out += doc(docs.get(tuple(path + [2, i]), ""), "    ")
        out += f"    public static let {esc(enum_case_name(e.name, v.name))} = {name}(rawValue: {v.number})\n"
    out += "\n    public static let protoNames: [Int32: String] = [\n"
    for v in e.value:
        out += f'        {v.number}: "{v.name}",\n'
    out += "    ]\n}\n\n"
    return out


def gen_message(m, package, docs, path):
    name = swift_name(f"{package}.{m.name}")
    ctype = PKG_C + m.name
    fn = PKG_FN + camel_to_lower(m.name)
    if m.nested_type or m.enum_type or m.oneof_decl:
        raise SystemExit(f"{m.name}: nested types and oneofs are not supported by this generator; keep messages flat")
    out = doc(docs.get(tuple(path), ""), "")
    out += f"public struct {name}: ProtoMessage {{\n"
    for i, f in enumerate(m.field):
        t, default = swift_type(f)
        out += doc(docs.get(tuple(path + [2, i]), ""), "    ")
        out += f"    public var {esc(lower_camel(f.name))}: {t} = {default}\n"
    out += "\n    public init() {}\n\n"
    out += f'    public static let protoName = "{package}.{m.name}"\n'
    out += f"    public static var cDescriptor: UnsafePointer<ProtobufCMessageDescriptor> {{ subsidy_descriptor_{camel_to_lower(m.name)}() }}\n\n"
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
            conv = f"{swift_name(f.type_name)}(json: $0, path: $1)" if rep else f"{swift_name(f.type_name)}(json: value, path: {fp})"
        elif f.type == F.TYPE_STRING:
            conv = "$0.string(at: $1)" if rep else f"value.string(at: {fp})"
        elif f.type == F.TYPE_BYTES:
            conv = f"value.bytes(at: {fp})"
        elif f.type == F.TYPE_BOOL:
            conv = "$0.bool(at: $1)" if rep else f"value.bool(at: {fp})"
        elif f.type == F.TYPE_ENUM:
            conv = f"$0.enumValue({swift_name(f.type_name)}.self, at: $1)" if rep else f"value.enumValue({swift_name(f.type_name)}.self, at: {fp})"
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


HEADER = "// Generated by Protos/codegen/gen_swift.py from Protos/{proto}. Do not edit.\n"


def file_stem(proto_path):
    """`foshan/subsidy/v1/city.proto` → `City` (the generated files' names)."""
    base = proto_path.rsplit("/", 1)[-1].removesuffix(".proto")
    return "".join(w[:1].upper() + w[1:] for w in base.split("_"))


def method_property(m):
    """`WhoAmI` → `whoAmI`, `GetFileDescriptorSet` → `getFileDescriptorSet`."""
    return lower_camel(camel_to_lower(m.name))


def service_methods(fd, s):
    """(property name, method descriptor proto, input type, output type) per RPC, in proto order."""
    out = []
    for m in s.method:
        if m.client_streaming:
            raise SystemExit(f"{s.name}.{m.name}: client streaming is not part of this protocol")
        out.append((method_property(m), m, swift_name(m.input_type), swift_name(m.output_type)))
    return out


def gen_service_descriptors(fd, s, docs, path):
    full = f"{fd.package}.{s.name}"
    ns = swift_name(full)
    out = doc(docs.get(tuple(path), ""), "")
    out += f"/// `{full}`: its name and one descriptor per method. Servers conform to\n"
    out += f"/// `{ns}.ServiceProtocol` (SubsidyServer); clients call through `{ns}.Client` (SubsidyClient).\n"
    out += f"public enum {ns}: Sendable {{\n"
    out += f'    /// `{full}`\n    public static let serviceName = "{full}"\n\n'
    out += "    /// The method descriptors, named after the RPCs.\n    public enum Method: Sendable {\n"
    names = []
    for i, (prop, m, inp, outp) in enumerate(service_methods(fd, s)):
        kind = "ServerStreamingMethod" if m.server_streaming else "UnaryMethod"
        names.append(esc(prop))
        out += doc(docs.get(tuple(path + [2, i]), ""), "        ")
        out += f"        /// `/{full}/{m.name}`\n"
        out += f'        public static let {esc(prop)} = {kind}<{inp}, {outp}>(fullName: "/{full}/{m.name}")\n'
    out += "        /// Every method, in the order of the .proto, for routing and reflection.\n"
    out += "        public static let all: [any MethodDescriptor] = [" + ", ".join(names) + "]\n    }\n}\n\n"
    return out


def gen_service_protocol(fd, s, docs, path):
    full = f"{fd.package}.{s.name}"
    ns = swift_name(full)
    methods = service_methods(fd, s)
    out = f"extension {ns} {{\n"
    out += f"    /// The handlers of `{full}`, one requirement per RPC.\n    ///\n"
    out += "    /// A conforming type serves the whole service through ``registerMethods(with:roles:)``: a\n"
    out += "    /// method left out is a compile error, not an UNIMPLEMENTED at run time. Requests arrive\n"
    out += "    /// decoded and checked (text is UTF-8 without NUL); a thrown ``SubsidyError`` is the status.\n"
    out += "    public protocol ServiceProtocol: Sendable {\n"
    for i, (prop, m, inp, outp) in enumerate(methods):
        out += doc(docs.get(tuple(path + [2, i]), ""), "        ")
        out += f"        /// `/{full}/{m.name}`"
        if m.server_streaming:
            out += ": each message written to `writer` is one reply; returning ends the stream OK.\n"
            out += f"        func {esc(prop)}(_ request: {inp}, writer: ResponseStreamWriter<{outp}>, context: CallContext) async throws(SubsidyError)\n"
        else:
            out += "\n"
            out += f"        func {esc(prop)}(_ request: {inp}, context: CallContext) async throws(SubsidyError) -> {outp}\n"
    out += "    }\n}\n\n"
    out += f"extension {ns}.ServiceProtocol {{\n"
    out += f"    /// Registers every method of `{full}` with `router`, callable by tenants of `roles`.\n"
    out += "    public func registerMethods(with router: inout MethodRouter, roles: Set<TenantRole>) {\n"
    for prop, m, inp, outp in methods:
        if m.server_streaming:
            out += f"        router.register({ns}.Method.{esc(prop)}, roles: roles) {{ request, context, writer throws(SubsidyError) in\n"
            out += f"            try await self.{esc(prop)}(request, writer: writer, context: context)\n        }}\n"
        else:
            out += f"        router.register({ns}.Method.{esc(prop)}, roles: roles) {{ request, context throws(SubsidyError) in\n"
            out += f"            try await self.{esc(prop)}(request, context: context)\n        }}\n"
    out += "    }\n}\n\n"
    return out


def gen_client(fd, s, docs, path):
    full = f"{fd.package}.{s.name}"
    ns = swift_name(full)
    out = f"extension {ns} {{\n"
    out += f"    /// Typed calls of `{full}`, one method per RPC.\n    ///\n"
    out += "    /// The calls travel on one ``ClientConnection``. A non-OK status is thrown as a\n"
    out += "    /// ``SubsidyError``; `timeout` is the call's deadline, which the server enforces.\n"
    out += "    public struct Client: Sendable {\n"
    out += "        /// The connection the calls travel on (several clients may share it).\n"
    out += "        public let connection: ClientConnection\n\n"
    out += "        /// Calls the service over `connection`.\n"
    out += "        public init(wrapping connection: ClientConnection) {\n            self.connection = connection\n        }\n"
    for i, (prop, m, inp, outp) in enumerate(service_methods(fd, s)):
        out += "\n" + doc(docs.get(tuple(path + [2, i]), ""), "        ")
        out += f"        /// `/{full}/{m.name}`"
        if m.server_streaming:
            out += ": the stream ends when the server ends the call, throwing its status if not\n"
            out += "        /// OK. Cancelling the consuming task cancels the call.\n"
            out += f"        public func {esc(prop)}(\n"
            out += f"            _ request: {inp}, timeout: Duration? = nil, metadata: [String: String] = [:]\n"
            out += f"        ) -> AsyncThrowingStream<{outp}, any Error> {{\n"
            out += f"            connection.stream({ns}.Method.{esc(prop)}, request, timeout: timeout, metadata: metadata)\n        }}\n"
        else:
            out += "\n"
            out += f"        public func {esc(prop)}(\n"
            out += f"            _ request: {inp}, timeout: Duration? = nil, metadata: [String: String] = [:]\n"
            out += f"        ) async throws(SubsidyError) -> {outp} {{\n"
            out += f"            try await connection.call({ns}.Method.{esc(prop)}, request, timeout: timeout, metadata: metadata)\n        }}\n"
    out += "    }\n}\n\n"
    return out


def generate(fds):
    """Every generated file of `fds`, as {path relative to the output directory: text}."""
    files = {}
    accessors_c = HEADER.format(proto="foshan/subsidy/v1/*.proto") + '#include "SubsidyProtoC.h"\n\n'
    accessors_h = ""
    renames = []
    all_services = []
    for fd in fds.file:
        if not fd.package.startswith("foshan."):
            continue
        docs = comments(fd)
        stem = file_stem(fd.name)
        header = HEADER.format(proto=fd.name)
        sw = header + "// swiftlint:disable all\n\nimport CProtobufC\nimport SubsidyCore\nimport SubsidyProtoC\n\n"
        for i, e in enumerate(fd.enum_type):
            sw += gen_enum(e, fd.package, docs, [5, i])
            renames.append(("type", e.name, swift_name(f"{fd.package}.{e.name}")))
        for i, m in enumerate(fd.message_type):
            sw += gen_message(m, fd.package, docs, [4, i])
            renames.append(("type", m.name, swift_name(f"{fd.package}.{m.name}")))
            lname = camel_to_lower(m.name)
            accessors_h += f"const ProtobufCMessageDescriptor *subsidy_descriptor_{lname}(void);\n"
            accessors_c += f"const ProtobufCMessageDescriptor *subsidy_descriptor_{lname}(void) {{ return &{PKG_FN}{lname}__descriptor; }}\n"
        server = header + "\nimport SubsidyCore\nimport SubsidyWire\n\n"
        client = header + "\nimport SubsidyCore\nimport SubsidyWire\n\n"
        for i, s in enumerate(fd.service):
            sw += gen_service_descriptors(fd, s, docs, [6, i])
            server += gen_service_protocol(fd, s, docs, [6, i])
            client += gen_client(fd, s, docs, [6, i])
            ns = swift_name(f"{fd.package}.{s.name}")
            all_services.append(ns)
            renames.append(("service", s.name + "Methods", ns))
        files[f"wire/{stem}.pb.swift"] = sw.rstrip() + "\n"
        if fd.service:
            files[f"server/{stem}.server.swift"] = server.rstrip() + "\n"
            files[f"client/{stem}.client.swift"] = client.rstrip() + "\n"
    # Reflection serves the set without source info, so the daemon's copy stays small.
    slim = d.FileDescriptorSet()
    slim.CopyFrom(fds)
    for f in slim.file:
        f.ClearField("source_code_info")
    blob = base64.b64encode(slim.SerializeToString(deterministic=True)).decode()
    reflection = HEADER.format(proto="foshan/subsidy/v1/*.proto") + "\n"
    reflection += "/// Every service this protocol defines, by full name.\npublic let allServiceMethods: [String: [any MethodDescriptor]] = [\n"
    for ns in all_services:
        reflection += f"    {ns}.serviceName: {ns}.Method.all,\n"
    reflection += "]\n"
    reflection += "\n/// The serialized `google.protobuf.FileDescriptorSet` of Protos/, served by Reflection.\n"
    reflection += f'public let protoFileDescriptorSetBase64 = "{blob}"\n'
    files["wire/DescriptorSet.swift"] = reflection
    files["c/descriptors.c"] = accessors_c
    files["c/include/subsidy_descriptors.h"] = (HEADER.format(proto="foshan/subsidy/v1/*.proto")
                                                + "#pragma once\n#include <protobuf-c/protobuf-c.h>\n\n" + accessors_h)
    files["codegen/wire-renames.txt"] = (
        "# Generated by Protos/codegen/gen_swift.py. Do not edit. Read by rename-wire-types.sh.\n"
        "# kind old-name new-name: a `type` is a message or enum; a `service` was the old method table.\n"
        + "".join(f"{kind} {old} {new}\n" for kind, old, new in renames))
    return files


def main():
    src, out_dir = sys.argv[1:3]
    fds = d.FileDescriptorSet()
    with open(src, "rb") as fh:
        fds.ParseFromString(fh.read())
    for rel, text in generate(fds).items():
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()

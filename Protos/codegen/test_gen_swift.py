"""Tests of gen_swift.py: naming, one file per proto, and services that the generated server
protocols, registrations and client stubs cover method for method.

Run by Protos/generate.sh (and so by CI's `generate.sh --check`):
    python -m unittest discover -s Protos/codegen -p 'test_*.py'
The checks against the real protos need `protoc`; they are skipped where it is missing.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_swift  # noqa: E402
from google.protobuf import descriptor_pb2 as d  # noqa: E402

F = d.FieldDescriptorProto
PROTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def tiny_set():
    """One file with an enum, two messages and a service with a unary and a streaming method."""
    fds = d.FileDescriptorSet()
    fd = fds.file.add(name="foshan/subsidy/v1/snake_case.proto", package="foshan.subsidy.v1", syntax="proto3")
    e = fd.enum_type.add(name="Colour")
    e.value.add(name="COLOUR_UNSPECIFIED", number=0)
    e.value.add(name="COLOUR_DEEP_RED", number=1)
    m = fd.message_type.add(name="PaintRequest")
    m.field.add(name="colour", number=1, label=F.LABEL_OPTIONAL, type=F.TYPE_ENUM,
                type_name=".foshan.subsidy.v1.Colour", json_name="colour")
    m.field.add(name="request_id", number=2, label=F.LABEL_OPTIONAL, type=F.TYPE_STRING, json_name="requestId")
    r = fd.message_type.add(name="PaintResponse")
    r.field.add(name="request", number=1, label=F.LABEL_OPTIONAL, type=F.TYPE_MESSAGE,
                type_name=".foshan.subsidy.v1.PaintRequest", json_name="request")
    s = fd.service.add(name="Painter")
    s.method.add(name="Paint", input_type=".foshan.subsidy.v1.PaintRequest", output_type=".foshan.subsidy.v1.PaintResponse")
    s.method.add(name="WatchPaint", input_type=".foshan.subsidy.v1.PaintRequest",
                 output_type=".foshan.subsidy.v1.PaintResponse", server_streaming=True)
    s.method.add(name="WhoAmI", input_type=".foshan.subsidy.v1.PaintRequest", output_type=".foshan.subsidy.v1.PaintResponse")
    return fds


def real_set():
    """The FileDescriptorSet of Protos/, as generate.sh builds it, or None without protoc."""
    if shutil.which("protoc") is None:
        return None
    protos = []
    for dirpath, _, names in os.walk(os.path.join(PROTOS, "foshan")):
        protos += [os.path.relpath(os.path.join(dirpath, n), PROTOS) for n in names if n.endswith(".proto")]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(["protoc", "--include_source_info", f"--descriptor_set_out={out}", "-I.", *sorted(protos)],
                       cwd=PROTOS, check=True)
        fds = d.FileDescriptorSet()
        with open(out, "rb") as fh:
            fds.ParseFromString(fh.read())
        return fds


def protocol_requirements(server_text, namespace):
    """The requirement names declared in `namespace.ServiceProtocol`."""
    body = server_text.split(f"extension {namespace} {{", 1)[1].split("\n}\n", 1)[0]
    return re.findall(r"^        func (\w+)\(", body, re.M)


def registered(server_text, namespace):
    body = server_text.split(f"extension {namespace}.ServiceProtocol {{", 1)[1].split("\n}\n", 1)[0]
    return re.findall(rf"router\.register\({namespace}\.Method\.(\w+), roles: roles\)", body)


def client_methods(client_text, namespace):
    body = client_text.split(f"extension {namespace} {{", 1)[1].split("\n}\n", 1)[0]
    return re.findall(rf"connection\.(call|stream)\({namespace}\.Method\.(\w+), request", body)


class NamingTests(unittest.TestCase):
    def test_package_prefix_follows_swift_protobuf(self):
        self.assertEqual(gen_swift.package_prefix("foshan.subsidy.v1"), "Foshan_Subsidy_V1_")
        self.assertEqual(gen_swift.package_prefix("my_pkg.v2"), "MyPkg_V2_")
        self.assertEqual(gen_swift.package_prefix(""), "")
        self.assertEqual(gen_swift.swift_name(".foshan.subsidy.v1.Application"), "Foshan_Subsidy_V1_Application")

    def test_file_stem(self):
        self.assertEqual(gen_swift.file_stem("foshan/subsidy/v1/city.proto"), "City")
        self.assertEqual(gen_swift.file_stem("foshan/subsidy/v1/snake_case.proto"), "SnakeCase")

    def test_method_property(self):
        names = [gen_swift.method_property(m) for m in tiny_set().file[0].service[0].method]
        self.assertEqual(names, ["paint", "watchPaint", "whoAmI"])


class TinySetTests(unittest.TestCase):
    def setUp(self):
        self.files = gen_swift.generate(tiny_set())

    def test_one_file_per_proto_and_per_layer(self):
        self.assertEqual(sorted(self.files), [
            "c/descriptors.c", "c/include/subsidy_descriptors.h", "client/SnakeCase.client.swift",
            "codegen/wire-renames.txt", "server/SnakeCase.server.swift", "wire/DescriptorSet.swift",
            "wire/SnakeCase.pb.swift",
        ])

    def test_types_are_prefixed_and_keep_their_proto_names(self):
        wire = self.files["wire/SnakeCase.pb.swift"]
        self.assertIn("public struct Foshan_Subsidy_V1_Colour: ProtoEnum {", wire)
        self.assertIn("public static let deepRed = Foshan_Subsidy_V1_Colour(rawValue: 1)", wire)
        self.assertIn("public struct Foshan_Subsidy_V1_PaintRequest: ProtoMessage {", wire)
        self.assertIn("public var colour: Foshan_Subsidy_V1_Colour = .init(rawValue: 0)", wire)
        self.assertIn("public var request: Foshan_Subsidy_V1_PaintRequest? = nil", wire)
        self.assertIn('public static let protoName = "foshan.subsidy.v1.PaintRequest"', wire)
        # The C side keeps protobuf-c's names.
        self.assertIn("arena.allocate(Foshan__Subsidy__V1__PaintRequest.self)", wire)
        self.assertIn("subsidy_descriptor_paint_request()", wire)
        self.assertNotRegex(wire, r"\bstruct (Colour|PaintRequest)\b")

    def test_service_descriptors(self):
        wire = self.files["wire/SnakeCase.pb.swift"]
        self.assertIn("public enum Foshan_Subsidy_V1_Painter: Sendable {", wire)
        self.assertIn('public static let serviceName = "foshan.subsidy.v1.Painter"', wire)
        self.assertIn("public static let paint = UnaryMethod<Foshan_Subsidy_V1_PaintRequest, Foshan_Subsidy_V1_PaintResponse>"
                      '(fullName: "/foshan.subsidy.v1.Painter/Paint")', wire)
        self.assertIn("public static let watchPaint = ServerStreamingMethod<", wire)
        self.assertIn("public static let all: [any MethodDescriptor] = [paint, watchPaint, whoAmI]", wire)
        self.assertIn("Foshan_Subsidy_V1_Painter.serviceName: Foshan_Subsidy_V1_Painter.Method.all,",
                      self.files["wire/DescriptorSet.swift"])

    def test_server_protocol_and_registration(self):
        server = self.files["server/SnakeCase.server.swift"]
        ns = "Foshan_Subsidy_V1_Painter"
        self.assertEqual(protocol_requirements(server, ns), ["paint", "watchPaint", "whoAmI"])
        self.assertEqual(registered(server, ns), ["paint", "watchPaint", "whoAmI"])
        self.assertIn("func paint(_ request: Foshan_Subsidy_V1_PaintRequest, context: CallContext) "
                      "async throws(SubsidyError) -> Foshan_Subsidy_V1_PaintResponse", server)
        self.assertIn("func watchPaint(_ request: Foshan_Subsidy_V1_PaintRequest, writer: "
                      "ResponseStreamWriter<Foshan_Subsidy_V1_PaintResponse>, context: CallContext) async throws(SubsidyError)", server)
        self.assertIn("try await self.watchPaint(request, writer: writer, context: context)", server)

    def test_client_stubs(self):
        client = self.files["client/SnakeCase.client.swift"]
        ns = "Foshan_Subsidy_V1_Painter"
        self.assertEqual(client_methods(client, ns), [("call", "paint"), ("stream", "watchPaint"), ("call", "whoAmI")])
        self.assertIn(") -> AsyncThrowingStream<Foshan_Subsidy_V1_PaintResponse, any Error> {", client)
        self.assertIn("public init(wrapping connection: ClientConnection)", client)

    def test_rename_table(self):
        lines = [l for l in self.files["codegen/wire-renames.txt"].splitlines() if not l.startswith("#")]
        self.assertEqual(lines, [
            "type Colour Foshan_Subsidy_V1_Colour",
            "type PaintRequest Foshan_Subsidy_V1_PaintRequest",
            "type PaintResponse Foshan_Subsidy_V1_PaintResponse",
            "service PainterMethods Foshan_Subsidy_V1_Painter",
        ])

    def test_client_streaming_is_refused(self):
        fds = tiny_set()
        fds.file[0].service[0].method[0].client_streaming = True
        with self.assertRaises(SystemExit):
            gen_swift.generate(fds)


@unittest.skipIf(shutil.which("protoc") is None, "needs protoc")
class RealProtosTests(unittest.TestCase):
    """Every RPC of every service in Protos/ has a requirement, a registration and a client stub."""

    @classmethod
    def setUpClass(cls):
        cls.fds = real_set()
        cls.files = gen_swift.generate(cls.fds)

    def test_every_proto_has_its_file(self):
        for fd in self.fds.file:
            stem = gen_swift.file_stem(fd.name)
            self.assertIn(f"wire/{stem}.pb.swift", self.files)
            self.assertEqual(f"server/{stem}.server.swift" in self.files, bool(fd.service), fd.name)

    def test_every_message_and_enum_is_prefixed(self):
        for fd in self.fds.file:
            wire = self.files[f"wire/{gen_swift.file_stem(fd.name)}.pb.swift"]
            for m in fd.message_type:
                self.assertIn(f"public struct Foshan_Subsidy_V1_{m.name}: ProtoMessage {{", wire)
            for e in fd.enum_type:
                self.assertIn(f"public struct Foshan_Subsidy_V1_{e.name}: ProtoEnum {{", wire)

    def test_services_are_covered_method_for_method(self):
        count = 0
        for fd in self.fds.file:
            stem = gen_swift.file_stem(fd.name)
            for s in fd.service:
                ns = "Foshan_Subsidy_V1_" + s.name
                want = [gen_swift.method_property(m) for m in s.method]
                server = self.files[f"server/{stem}.server.swift"]
                client = self.files[f"client/{stem}.client.swift"]
                self.assertEqual(protocol_requirements(server, ns), want, s.name)
                self.assertEqual(registered(server, ns), want, s.name)
                self.assertEqual([name for _, name in client_methods(client, ns)], want, s.name)
                kinds = ["stream" if m.server_streaming else "call" for m in s.method]
                self.assertEqual([kind for kind, _ in client_methods(client, ns)], kinds, s.name)
                count += len(want)
        self.assertGreater(count, 0)


class RenameScriptTests(unittest.TestCase):
    """rename-wire-types.sh on files outside SubsidyServer (inside it, bare shared names stay)."""

    def rename(self, text):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rename-wire-types.sh")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "Use.swift")
            with open(path, "w") as fh:
                fh.write(text)
            run = subprocess.run(["bash", script, path], capture_output=True, text=True, check=True)
            with open(path) as fh:
                return fh.read(), run.stderr

    def test_wire_only_file(self):
        out, _ = self.rename(
            "import SubsidyWire\n"
            "let a = Application()  // a foshan.subsidy.v1.Frame in prose stays\n"
            "let f: [Frame] = [SubsidyWire.Frame()]\n"
            "let m = CityServiceMethods.approveApplication, n = HealthMethods.serviceName\n"
            "let d = FrameDecoder(), s = \"foshan.subsidy.v1.Status\"\n")
        self.assertEqual(out,
            "import SubsidyWire\n"
            "let a = Foshan_Subsidy_V1_Application()  // a foshan.subsidy.v1.Frame in prose stays\n"
            "let f: [Foshan_Subsidy_V1_Frame] = [Foshan_Subsidy_V1_Frame()]\n"
            "let m = Foshan_Subsidy_V1_CityService.Method.approveApplication, n = Foshan_Subsidy_V1_Health.serviceName\n"
            "let d = FrameDecoder(), s = \"foshan.subsidy.v1.Status\"\n")

    def test_shared_names_stay_where_they_may_be_the_domains(self):
        out, err = self.rename(
            "import SubsidyCore\nimport SubsidyWire\n"
            "let a = Application(), w = SubsidyWire.Application(), r = GetApplicationRequest()\n"
            "let x: WireApplication, y: CoreApplication\n")
        self.assertEqual(out,
            "import SubsidyCore\nimport SubsidyWire\n"
            "let a = Application(), w = Foshan_Subsidy_V1_Application(), r = Foshan_Subsidy_V1_GetApplicationRequest()\n"
            "let x: Foshan_Subsidy_V1_Application, y: Application\n")
        self.assertIn("Use.swift:3:", err)


if __name__ == "__main__":
    unittest.main()

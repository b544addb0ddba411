"""Interop: a Python client built only from Protos/ and Protos/README.md against the real subsidyd."""

from __future__ import annotations

import os
import signal
import socket
import struct
import time

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool

from conftest import DISTRICTS
from subsidy_client import Connection, RpcError, StatusCode, encode_frame

CHECK = "/foshan.subsidy.v1.Health/Check"
WATCH = "/foshan.subsidy.v1.Health/Watch"
WHOAMI = "/foshan.subsidy.v1.Identity/WhoAmI"
LIST_SERVICES = "/foshan.subsidy.v1.Reflection/ListServices"
GET_FDS = "/foshan.subsidy.v1.Reflection/GetFileDescriptorSet"
WAIT = 10.0  # seconds any single reply may take before a test gives up


def check(conn, pb, service: str = "", **kwargs):
    return conn.unary(CHECK, pb.health_pb2.HealthCheckRequest(service=service),
                      pb.health_pb2.HealthCheckResponse, wait=WAIT, **kwargs)


def read_frames_until_close(sock: socket.socket, pb, timeout: float = WAIT):
    """Reads whole frames until the server closes; returns (frames, closed)."""
    sock.settimeout(timeout)
    data = b""
    closed = False
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except socket.timeout:
        pass
    frames = []
    offset = 0
    while len(data) - offset >= 4:
        (n,) = struct.unpack_from(">I", data, offset)
        frames.append(pb.frame_pb2.Frame.FromString(data[offset + 4 : offset + 4 + n]))
        offset += 4 + n
    return frames, closed


# -- health and identity ------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["nanhai", "city"])
def test_health_check_serving(connect, pb, tenant):
    response = check(connect(tenant), pb)
    assert response.status == pb.health_pb2.SERVING_STATUS_SERVING


def test_health_check_named_and_unknown_service(connect, pb):
    conn = connect("shunde")
    assert check(conn, pb, "foshan.subsidy.v1.DistrictService").status == pb.health_pb2.SERVING_STATUS_SERVING
    assert check(conn, pb, "foshan.subsidy.v1.Nope").status == pb.health_pb2.SERVING_STATUS_SERVICE_UNKNOWN


@pytest.mark.parametrize("tenant", list(DISTRICTS) + ["city"])
def test_whoami_resolves_tenant_from_socket(connect, pb, tenant):
    ipb = pb.identity_pb2
    r = connect(tenant).unary(WHOAMI, ipb.WhoAmIRequest(), ipb.WhoAmIResponse, wait=WAIT)
    assert r.tenant == tenant
    assert r.role == (pb.types_pb2.CITY if tenant == "city" else pb.types_pb2.DISTRICT)
    assert r.uid == os.getuid()
    assert r.gid == os.getgid()
    assert r.pid == os.getpid()
    assert r.display_name  # e.g. 南海区 / 佛山市
    assert r.server_version.startswith("subsidyd ")


# -- errors -------------------------------------------------------------------------------------


def test_unknown_method_is_unimplemented(connect, pb):
    with pytest.raises(RpcError) as info:
        connect().unary("/foshan.subsidy.v1.Nope/Nothing", b"", pb.health_pb2.HealthCheckResponse, wait=WAIT)
    assert info.value.code == StatusCode.UNIMPLEMENTED == 12
    assert info.value.status.code == pb.status_pb2.UNIMPLEMENTED


def test_embedded_nul_is_invalid_argument_naming_the_field(connect, pb):
    # HealthCheckRequest{service = "a\0b"}: field 1, wire type 2, length 3. Built by hand because
    # a conforming encoder would be entitled to refuse it.
    payload = bytes([0x0A, 0x03]) + b"a\x00b"
    with pytest.raises(RpcError) as info:
        connect().unary(CHECK, payload, pb.health_pb2.HealthCheckResponse, wait=WAIT)
    error = info.value
    assert error.code == StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.status.field_violations] == ["request.service"]
    assert "NUL" in error.status.field_violations[0].description


def test_invalid_utf8_is_invalid_argument(connect, pb):
    payload = bytes([0x0A, 0x03, 0x61, 0xFF, 0xFE])  # service = b"a\xff\xfe"
    with pytest.raises(RpcError) as info:
        connect().unary(CHECK, payload, pb.health_pb2.HealthCheckResponse, wait=WAIT)
    assert info.value.code == StatusCode.INVALID_ARGUMENT
    assert [v.field for v in info.value.status.field_violations] == ["request.service"]


def test_unparsable_payload_is_invalid_argument(connect, pb):
    with pytest.raises(RpcError) as info:
        connect().unary(CHECK, b"\x0a\x05ab", pb.health_pb2.HealthCheckResponse, wait=WAIT)  # truncated
    assert info.value.code == StatusCode.INVALID_ARGUMENT
    assert [v.field for v in info.value.status.field_violations] == ["request"]


def test_errors_leave_the_connection_usable(connect, pb):
    conn = connect()
    with pytest.raises(RpcError):
        conn.unary("/nope", b"", pb.health_pb2.HealthCheckResponse, wait=WAIT)
    with pytest.raises(RpcError):
        conn.unary(CHECK, b"\x0a\x01\x00", pb.health_pb2.HealthCheckResponse, wait=WAIT)
    assert check(conn, pb).status == pb.health_pb2.SERVING_STATUS_SERVING


# -- multiplexing, cancel, deadlines, limits ----------------------------------------------------


def test_multiplexed_calls_and_cancel(connect, pb):
    hpb = pb.health_pb2
    conn = connect("gaoming")
    watch = conn.stream(WATCH, hpb.HealthCheckRequest(), hpb.HealthCheckResponse, wait=WAIT)
    assert next(watch).status == hpb.SERVING_STATUS_SERVING

    # A second call on the same connection is answered while the stream stays open.
    assert check(conn, pb).status == hpb.SERVING_STATUS_SERVING
    assert not watch.ended

    conn.cancel(watch.call_id)
    with pytest.raises(RpcError) as info:
        for _ in watch:
            pass
    assert info.value.code == StatusCode.CANCELLED
    assert info.value.call_id == watch.call_id
    # The connection goes on after a cancel.
    assert check(conn, pb).status == hpb.SERVING_STATUS_SERVING


def test_replies_are_routed_by_call_id(connect, pb):
    hpb, ipb = pb.health_pb2, pb.identity_pb2
    conn = connect("sanshui")
    # Several calls in flight before any reply is read, under chosen, non-sequential ids.
    calls = [
        conn.start(WHOAMI, ipb.WhoAmIRequest(), call_id=900),
        conn.start(CHECK, hpb.HealthCheckRequest(service="foshan.subsidy.v1.Nope"), call_id=17),
        conn.start(CHECK, hpb.HealthCheckRequest(), call_id=2**64 - 1),
    ]
    ends = [call.next_frame(WAIT) for call in calls]
    assert [f.call_id for f in ends] == [900, 17, 2**64 - 1]
    assert all(f.kind == pb.frame_pb2.FRAME_KIND_END and f.status.code == 0 for f in ends)
    assert ipb.WhoAmIResponse.FromString(ends[0].payload).tenant == "sanshui"
    assert hpb.HealthCheckResponse.FromString(ends[1].payload).status == hpb.SERVING_STATUS_SERVICE_UNKNOWN
    assert hpb.HealthCheckResponse.FromString(ends[2].payload).status == hpb.SERVING_STATUS_SERVING


def test_reusing_an_open_call_id_is_invalid_argument(connect, pb):
    hpb, fpb = pb.health_pb2, pb.frame_pb2
    conn = connect()
    watch = conn.stream(WATCH, hpb.HealthCheckRequest(), hpb.HealthCheckResponse, wait=WAIT)
    next(watch)
    conn.send_frame(fpb.Frame(call_id=watch.call_id, kind=fpb.FRAME_KIND_REQUEST, method=CHECK))
    refusal = watch.next_frame(WAIT)  # the refusal carries the (shared) call id
    assert refusal.kind == fpb.FRAME_KIND_END
    assert refusal.status.code == StatusCode.INVALID_ARGUMENT
    assert [v.field for v in refusal.status.field_violations] == ["frame.call_id"]
    # The original call is still open on the server: cancelling it still answers CANCELLED.
    conn.cancel(watch.call_id)
    end = watch.next_frame(WAIT)
    while end.kind != fpb.FRAME_KIND_END:
        end = watch.next_frame(WAIT)
    assert end.status.code == StatusCode.CANCELLED


def test_deadline_exceeded(connect, pb):
    hpb = pb.health_pb2
    started = time.monotonic()
    watch = connect().stream(WATCH, hpb.HealthCheckRequest(), hpb.HealthCheckResponse, timeout_ms=200, wait=WAIT)
    with pytest.raises(RpcError) as info:
        for _ in watch:
            pass
    assert info.value.code == StatusCode.DEADLINE_EXCEEDED
    assert not info.value.local
    assert 0.15 < time.monotonic() - started < WAIT


def test_concurrent_call_limit(connect, pb):
    hpb = pb.health_pb2
    conn = connect("chancheng")
    watches = [conn.stream(WATCH, hpb.HealthCheckRequest(), hpb.HealthCheckResponse, wait=WAIT) for _ in range(64)]
    for watch in watches:
        next(watch)
    with pytest.raises(RpcError) as info:
        check(conn, pb)
    assert info.value.code == StatusCode.RESOURCE_EXHAUSTED
    watches[0].cancel()
    with pytest.raises(RpcError):
        next(watches[0])
    # Ending one call frees its slot (the server removes it just after sending END).
    deadline = time.monotonic() + WAIT
    while True:
        try:
            assert check(conn, pb).status == hpb.SERVING_STATUS_SERVING
            break
        except RpcError as error:
            assert error.code == StatusCode.RESOURCE_EXHAUSTED and time.monotonic() < deadline
            time.sleep(0.02)


# -- reflection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["nanhai", "city"])
def test_reflection_lists_services(connect, pb, tenant):
    rpb = pb.reflection_pb2
    r = connect(tenant).unary(LIST_SERVICES, rpb.ListServicesRequest(), rpb.ListServicesResponse, wait=WAIT)
    names = {s.name for s in r.services}
    assert {
        "foshan.subsidy.v1.DistrictService",
        "foshan.subsidy.v1.CityService",
        "foshan.subsidy.v1.Health",
        "foshan.subsidy.v1.Reflection",
        "foshan.subsidy.v1.Identity",
    } <= names
    methods = {m.full_name: m for s in r.services for m in s.methods}
    assert methods[CHECK].allowed_for_caller and not methods[CHECK].server_streaming
    assert methods[WATCH].server_streaming
    assert methods[WATCH].input_type == ".foshan.subsidy.v1.HealthCheckRequest"
    assert methods[WATCH].output_type == ".foshan.subsidy.v1.HealthCheckResponse"
    assert methods[LIST_SERVICES].allowed_for_caller
    assert "/foshan.subsidy.v1.DistrictService/SubmitApplication" in methods


def test_reflection_file_descriptor_set(connect, pb):
    rpb = pb.reflection_pb2
    r = connect("city").unary(GET_FDS, rpb.GetFileDescriptorSetRequest(), rpb.GetFileDescriptorSetResponse, wait=WAIT)
    fds = descriptor_pb2.FileDescriptorSet.FromString(r.file_descriptor_set)
    files = {f.name for f in fds.file}
    assert "foshan/subsidy/v1/frame.proto" in files
    assert "foshan/subsidy/v1/district.proto" in files
    # Self-contained: a fresh pool accepts it (imports before importers) and knows the envelope.
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    frame = pool.FindMessageTypeByName("foshan.subsidy.v1.Frame")
    assert [f.name for f in frame.fields] == [f.name for f in pb.frame_pb2.Frame.DESCRIPTOR.fields]
    assert pool.FindServiceByName("foshan.subsidy.v1.Health").methods_by_name["Watch"]


# -- framing ------------------------------------------------------------------------------------


def test_byte_level_example_from_readme(daemon, pb):
    # The worked example of Protos/README.md, byte for byte.
    request = bytes.fromhex(
        "00000028 0801 1001 1a1f 2f666f7368616e2e737562736964792e76312e4865616c74682f436865636b 20e807"
    )
    frame = pb.frame_pb2.Frame(call_id=1, kind=pb.frame_pb2.FRAME_KIND_REQUEST, method=CHECK, timeout_ms=1000)
    assert encode_frame(frame) == request
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(WAIT)
        sock.connect(daemon.socket("nanhai"))
        sock.sendall(request)
        reply = sock.recv(4, socket.MSG_WAITALL)
        reply += sock.recv(struct.unpack(">I", reply)[0], socket.MSG_WAITALL)
    assert reply == bytes.fromhex("0000000a 0801 1003 3202 0801 3a00")


def test_oversize_length_closes_only_that_connection(daemon, connect, pb):
    other = connect("nanhai")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(daemon.socket("nanhai"))
        sock.sendall(struct.pack(">I", 2 * 1024 * 1024 * 1024))  # 2 GiB, and nothing after it
        frames, closed = read_frames_until_close(sock, pb)
    assert closed
    assert len(frames) == 1
    assert frames[0].call_id == 0 and frames[0].kind == pb.frame_pb2.FRAME_KIND_END
    assert frames[0].status.code == StatusCode.RESOURCE_EXHAUSTED
    # Everyone else is still served, on an existing and on a new connection.
    assert check(other, pb).status == pb.health_pb2.SERVING_STATUS_SERVING
    assert check(connect("nanhai"), pb).status == pb.health_pb2.SERVING_STATUS_SERVING


def test_undecodable_envelope_is_invalid_argument_on_call_zero(daemon, pb):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(daemon.socket("shunde"))
        sock.sendall(struct.pack(">I", 3) + b"\xff\xff\xff")
        frames, closed = read_frames_until_close(sock, pb)
    assert closed
    assert [(f.call_id, f.kind, f.status.code) for f in frames] == [
        (0, pb.frame_pb2.FRAME_KIND_END, StatusCode.INVALID_ARGUMENT)
    ]


def test_client_may_not_send_server_frame_kinds(daemon, pb):
    fpb = pb.frame_pb2
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(daemon.socket("shunde"))
        sock.sendall(encode_frame(fpb.Frame(call_id=3, kind=fpb.FRAME_KIND_END)))
        frames, closed = read_frames_until_close(sock, pb)
    assert closed
    assert [(f.call_id, f.status.code) for f in frames] == [(0, StatusCode.INVALID_ARGUMENT)]
    assert frames[0].status.field_violations[0].field == "frame.kind"


def test_undecodable_envelope_closes_connection_with_open_stream(connect, pb):
    hpb = pb.health_pb2
    conn = connect("shunde")
    watch = conn.stream(WATCH, hpb.HealthCheckRequest(), hpb.HealthCheckResponse, wait=WAIT)
    next(watch)
    conn.send_raw(struct.pack(">I", 3) + b"\xff\xff\xff")
    with pytest.raises(RpcError) as info:
        next(watch)
    assert info.value.code == StatusCode.INVALID_ARGUMENT  # the call-0 END, delivered to open calls
    assert conn.wait_closed(3), "server did not close the connection"


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another uid")
def test_unlisted_peer_is_closed_before_any_frame(daemon, pb):
    path = daemon.socket("gaoming")
    # Let the file system admit uid 65534 (socket rw, every parent searchable), so that only the
    # daemon's SO_PEERCRED check stands in its way; restored afterwards.
    modes = {path: os.stat(path).st_mode}
    parent = os.path.dirname(path)
    while parent != "/":
        modes[parent] = os.stat(parent).st_mode
        parent = os.path.dirname(parent)
    read_end, write_end = os.pipe()
    try:
        for p, mode in modes.items():
            os.chmod(p, 0o666 if p == path else (mode & 0o7777) | 0o001)
        pid = os.fork()
        if pid == 0:  # child: become nobody, connect, send a frame, report what came back
            result = b"?"
            try:
                os.setgid(65534)
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(WAIT)
                    sock.connect(path)
                    try:
                        sock.sendall(encode_frame(pb.frame_pb2.Frame(call_id=1, kind=1, method=CHECK)))
                        result = b"closed" if sock.recv(100) == b"" else b"answered"
                    except (BrokenPipeError, ConnectionResetError):
                        result = b"closed"
            except Exception as error:  # noqa: BLE001
                result = repr(error).encode()
            os.write(write_end, result)
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read_end, 200) == b"closed"
    finally:
        os.close(read_end)
        os.close(write_end)
        for p, mode in modes.items():
            os.chmod(p, mode & 0o7777)
    assert "refused peer not allowed on this socket" in daemon.log()


# -- shutdown -----------------------------------------------------------------------------------


def test_sigterm_drains_and_exits_zero(own_daemon, pb):
    hpb = pb.health_pb2
    conn = Connection(own_daemon.socket("city"))
    idle = Connection(own_daemon.socket("nanhai"))
    try:
        watch = conn.stream(WATCH, hpb.HealthCheckRequest(), hpb.HealthCheckResponse, wait=WAIT)
        assert next(watch).status == hpb.SERVING_STATUS_SERVING
        own_daemon.process.send_signal(signal.SIGTERM)
        # The stream reports NOT_SERVING and ends (OK), or is ended with UNAVAILABLE.
        seen = []
        try:
            for update in watch:
                seen.append(update.status)
        except RpcError as error:
            assert error.code == StatusCode.UNAVAILABLE, error
        assert seen in ([], [hpb.SERVING_STATUS_NOT_SERVING])
        assert own_daemon.terminate() == 0
        assert idle.wait_closed(WAIT) and conn.wait_closed(WAIT)
    finally:
        conn.close()
        idle.close()
    assert not os.path.exists(own_daemon.socket("city"))
    assert not os.path.exists(own_daemon.socket("nanhai"))


def test_call_id_is_free_once_its_end_arrived(connect, pb):
    conn = connect("city")
    refused = 0
    for _ in range(1000):
        try:
            check(conn, pb, call_id=5)
        except RpcError as error:
            assert error.code == StatusCode.INVALID_ARGUMENT
            refused += 1
    assert refused == 0, f"{refused} of 1000 immediate reuses refused"

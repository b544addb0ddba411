"""The wire layer of the subsidyd client, written from Protos/README.md alone.

It needs only the official ``protobuf`` runtime and the Python code that ``protoc --python_out``
generates from Protos/, which ``pip install Protos/python`` builds and installs as
``foshan.subsidy.v1`` (``SUBSIDY_PY_GEN`` or the ``gen_dir`` argument of :func:`load_generated`
points at another ``protoc --python_out`` directory instead). The typed, retrying client is in
:mod:`subsidy_client.client`; this module is the low level it is built on.

Wire summary (the README has the details): a Unix stream socket carries frames, each a 4-byte
big-endian unsigned length then one encoded ``foshan.subsidy.v1.Frame``. The client starts calls
with REQUEST frames under call ids it chooses, may CANCEL them, and receives MESSAGE frames
(server-streaming responses) and exactly one END frame per call, carrying the call's ``Status``.
Replies of different calls may interleave; a reader thread routes them by call id.

    from subsidy_client import Connection, load_generated
    pb = load_generated()
    with Connection("/tmp/d/sockets/district/nanhai.sock") as conn:
        reply = conn.unary("/foshan.subsidy.v1.Identity/WhoAmI",
                           pb.identity_pb2.WhoAmIRequest(), pb.identity_pb2.WhoAmIResponse)
        print(reply.tenant)
"""

from __future__ import annotations

import importlib
import os
import queue
import socket
import struct
import sys
import threading
import types
from typing import Dict, Iterable, Iterator, Mapping, Optional, Sequence, Tuple, Type, Union

__all__ = [
    "Call",
    "Connection",
    "DEFAULT_MAX_FRAME_LENGTH",
    "RpcError",
    "StatusCode",
    "StreamCall",
    "decode_frame_stream",
    "encode_frame",
    "load_generated",
]

#: Largest frame subsidyd accepts by default (and the largest this client accepts).
DEFAULT_MAX_FRAME_LENGTH = 4 * 1024 * 1024

_MODULES = ("status", "frame", "types", "health", "identity", "reflection", "district", "city", "admin", "programmes")
_generated: Optional[types.SimpleNamespace] = None


def load_generated(gen_dir: Optional[str] = None) -> types.SimpleNamespace:
    """The protoc-generated modules, as ``ns.frame_pb2``, ``ns.health_pb2`` ...

    Installed with this package (``pip install Protos/python`` generates them at build time), they
    are imported from ``foshan.subsidy.v1``. ``gen_dir`` (or ``SUBSIDY_PY_GEN``) names another
    directory given to ``protoc --python_out`` (it holds ``foshan/subsidy/v1``) to use instead; it
    must be given before the modules are first imported in this process.
    """
    global _generated
    if _generated is not None and gen_dir is None:
        return _generated
    directory = gen_dir or os.environ.get("SUBSIDY_PY_GEN")
    if directory:
        directory = os.path.abspath(directory)
        if not os.path.isfile(os.path.join(directory, "foshan", "subsidy", "v1", "frame_pb2.py")):
            raise ImportError(
                f"no generated code in {directory}: run Protos/python/generate.sh {directory} "
                "(or set SUBSIDY_PY_GEN to the directory you passed to protoc --python_out)"
            )
        if directory not in sys.path:
            sys.path.insert(0, directory)
    ns = types.SimpleNamespace()
    try:
        for name in _MODULES:
            setattr(ns, f"{name}_pb2", importlib.import_module(f"foshan.subsidy.v1.{name}_pb2"))
    except ImportError as error:
        raise ImportError(
            f"the generated foshan.subsidy.v1 modules are missing ({error}): install the package "
            "with `pip install Protos/python` (it runs protoc), or set SUBSIDY_PY_GEN"
        ) from error
    _generated = ns
    return ns


class StatusCode:
    """gRPC canonical status codes, as in status.proto."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    _names = {v: k for k, v in list(vars().items()) if isinstance(v, int)}

    @classmethod
    def name(cls, code: int) -> str:
        return cls._names.get(code, f"CODE_{code}")


class RpcError(Exception):
    """A call ended with a non-OK status.

    ``code`` is the canonical number, ``message`` the human text and ``status`` the whole
    ``foshan.subsidy.v1.Status`` (with ``field_violations``, ``cap_violations`` and
    ``precondition_failures``). Errors raised locally (lost connection, local wait expired) carry a
    synthesized Status and ``local=True``.
    """

    def __init__(self, code: int, message: str, status=None, *, call_id: int = 0, local: bool = False):
        super().__init__(f"{StatusCode.name(code)}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.call_id = call_id
        self.local = local

    @property
    def code_name(self) -> str:
        return StatusCode.name(self.code)

    @property
    def field_violations(self) -> Sequence:
        return list(self.status.field_violations) if self.status is not None else []


def encode_frame(frame) -> bytes:
    """One frame on the wire: 4-byte big-endian length, then the encoded ``Frame``."""
    body = frame.SerializeToString()
    return struct.pack(">I", len(body)) + body


def decode_frame_stream(data: bytes) -> Iterator[bytes]:
    """Splits bytes holding whole frames into frame bodies (for tests and examples)."""
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            raise ValueError("truncated length prefix")
        (length,) = struct.unpack_from(">I", data, offset)
        if len(data) - offset - 4 < length:
            raise ValueError("truncated frame")
        yield data[offset + 4 : offset + 4 + length]
        offset += 4 + length


class _Closed:
    """Sentinel delivered to open calls when the connection ends."""

    def __init__(self, reason: str):
        self.reason = reason


class Call:
    """An open call: its id and the queue its reply frames are delivered to."""

    def __init__(self, connection: "Connection", call_id: int, method: str):
        self.connection = connection
        self.call_id = call_id
        self.method = method
        self._frames: "queue.Queue[object]" = queue.Queue()
        #: The END frame's Status once the call has ended.
        self.status = None
        self.ended = False

    def _deliver(self, item) -> None:
        self._frames.put(item)

    def next_frame(self, timeout: Optional[float] = None):
        """The next MESSAGE or END frame of this call. Raises RpcError(UNAVAILABLE) if the
        connection closed first, or RpcError(DEADLINE_EXCEEDED, local=True) if ``timeout`` (seconds)
        passed."""
        try:
            item = self._frames.get(timeout=timeout)
        except queue.Empty:
            raise RpcError(
                StatusCode.DEADLINE_EXCEEDED,
                f"no reply to call {self.call_id} within {timeout} s (local wait)",
                self.connection._local_status(StatusCode.DEADLINE_EXCEEDED, "local wait expired"),
                call_id=self.call_id,
                local=True,
            ) from None
        if isinstance(item, _Closed):
            self.connection._forget(self.call_id)
            self.ended = True
            raise RpcError(
                StatusCode.UNAVAILABLE,
                item.reason,
                self.connection._local_status(StatusCode.UNAVAILABLE, item.reason),
                call_id=self.call_id,
                local=True,
            )
        pb = self.connection.pb
        if item.kind == pb.frame_pb2.FRAME_KIND_END:
            self.ended = True
            self.status = item.status
        return item

    def cancel(self) -> None:
        self.connection.cancel(self.call_id)

    def _raise_for(self, frame) -> None:
        status = frame.status
        if status.code != StatusCode.OK:
            raise RpcError(status.code, status.message, status, call_id=self.call_id)


class StreamCall(Call):
    """A server-streaming call: iterate it for the response messages. Iteration ends when the
    server ends the call with OK, and raises :class:`RpcError` for any other status (CANCELLED after
    :meth:`cancel`). ``wait`` bounds each wait for a frame, in seconds (None: forever)."""

    def __init__(self, connection, call_id, method, response_cls, wait: Optional[float]):
        super().__init__(connection, call_id, method)
        self.response_cls = response_cls
        self.wait = wait

    def __iter__(self):
        return self

    def __next__(self):
        if self.ended:
            raise StopIteration
        frame = self.next_frame(self.wait)
        pb = self.connection.pb
        if frame.kind == pb.frame_pb2.FRAME_KIND_MESSAGE:
            return self.response_cls.FromString(frame.payload)
        if frame.kind == pb.frame_pb2.FRAME_KIND_END:
            self.connection._forget(self.call_id)
            self._raise_for(frame)
            raise StopIteration
        raise RpcError(StatusCode.INTERNAL, f"unexpected frame kind {frame.kind} from the server",
                       call_id=self.call_id, local=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.ended:
            self.cancel()
        return False


class Connection:
    """One connection to a subsidyd socket, multiplexing any number of calls from any threads.

    A reader thread decodes reply frames and routes them to the open call with the same id; an END
    on call id 0 (a connection-level error the server sends just before closing) is delivered to
    every open call. Writes are serialized, so whole frames never interleave.
    """

    def __init__(
        self,
        path: str,
        *,
        gen_dir: Optional[str] = None,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
        connect_timeout: float = 10.0,
    ):
        self.pb = load_generated(gen_dir)
        self.path = path
        self.max_frame_length = max_frame_length
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(connect_timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.sock.settimeout(None)
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._calls: Dict[int, Call] = {}
        self._next_id = 1
        self._closed_reason: Optional[str] = None
        #: The Status of an END on call id 0, if the server sent one.
        self.connection_error = None
        #: Frames for call ids no open call had (e.g. replies to a call already forgotten).
        self.stray_frames = []
        self._reader = threading.Thread(target=self._read_loop, name=f"subsidy-reader {path}", daemon=True)
        self._reader.start()

    # -- context manager -----------------------------------------------------------------------

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def close(self) -> None:
        """Closes the socket; calls still open end with UNAVAILABLE."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._reader.join(timeout=5)

    @property
    def closed(self) -> bool:
        """True once the reader has seen the connection end."""
        return self._closed_reason is not None

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Waits for the server to close the connection; returns whether it did."""
        self._reader.join(timeout)
        return not self._reader.is_alive()

    # -- calls ---------------------------------------------------------------------------------

    def unary(
        self,
        method: str,
        request,
        response_cls,
        timeout_ms: int = 0,
        *,
        metadata: Optional[Union[Mapping[str, str], Iterable[Tuple[str, str]]]] = None,
        call_id: Optional[int] = None,
        wait: Optional[float] = None,
    ):
        """Calls a unary method and returns the decoded response.

        ``request`` is a message or already-encoded ``bytes``. ``timeout_ms`` is sent as the call's
        deadline, which the server enforces (DEADLINE_EXCEEDED). ``wait`` bounds the local wait in
        seconds (default: the deadline plus 5 s, or forever without one); when it expires the call
        is cancelled and RpcError(DEADLINE_EXCEEDED, local=True) raised.
        """
        call = self.start(method, request, timeout_ms, metadata=metadata, call_id=call_id)
        if wait is None and timeout_ms:
            wait = timeout_ms / 1000.0 + 5.0
        try:
            while True:
                frame = call.next_frame(wait)
                if frame.kind == self.pb.frame_pb2.FRAME_KIND_END:
                    break
                # A MESSAGE on a unary call would be a server bug; skip it rather than guess.
        except RpcError as error:
            if error.local and error.code == StatusCode.DEADLINE_EXCEEDED:
                self.cancel(call.call_id)
            self._forget(call.call_id)
            raise
        self._forget(call.call_id)
        call._raise_for(frame)
        return response_cls.FromString(frame.payload)

    def stream(
        self,
        method: str,
        request,
        response_cls,
        timeout_ms: int = 0,
        *,
        metadata: Optional[Union[Mapping[str, str], Iterable[Tuple[str, str]]]] = None,
        call_id: Optional[int] = None,
        wait: Optional[float] = None,
    ) -> StreamCall:
        """Starts a server-streaming call; iterate the result for responses. The REQUEST is sent
        before this returns, so ``.call_id`` is usable (e.g. for :meth:`cancel`) at once."""
        return self.start(method, request, timeout_ms, metadata=metadata, call_id=call_id,
                          stream_response=response_cls, wait=wait)

    def start(
        self,
        method: str,
        request,
        timeout_ms: int = 0,
        *,
        metadata=None,
        call_id: Optional[int] = None,
        stream_response=None,
        wait: Optional[float] = None,
    ) -> Call:
        """Sends a REQUEST frame and returns the open :class:`Call` (low level)."""
        payload = request if isinstance(request, (bytes, bytearray)) else request.SerializeToString()
        fpb = self.pb.frame_pb2
        with self._lock:
            if self._closed_reason is not None:
                raise RpcError(StatusCode.UNAVAILABLE, self._closed_reason,
                               self._local_status(StatusCode.UNAVAILABLE, self._closed_reason), local=True)
            if call_id is None:
                while self._next_id in self._calls or self._next_id == 0:
                    self._next_id = (self._next_id + 1) % (1 << 64)
                call_id = self._next_id
                self._next_id = (self._next_id + 1) % (1 << 64)
            elif call_id in self._calls:
                raise ValueError(f"call id {call_id} is already open on this connection")
            if stream_response is not None:
                call: Call = StreamCall(self, call_id, method, stream_response, wait)
            else:
                call = Call(self, call_id, method)
            self._calls[call_id] = call
        frame = fpb.Frame(call_id=call_id, kind=fpb.FRAME_KIND_REQUEST, method=method,
                          timeout_ms=timeout_ms, payload=bytes(payload))
        if metadata:
            items = metadata.items() if isinstance(metadata, Mapping) else metadata
            for key, value in items:
                frame.metadata.add(key=key, value=value)
        data = encode_frame(frame)
        if len(data) - 4 > self.max_frame_length:
            # The daemon would refuse it and close the connection while it is still being sent,
            # leaving only a lost connection to report (and retry): say it here, before sending.
            self._forget(call_id)
            reason = (f"request frame of {len(data) - 4} bytes exceeds the maximum {self.max_frame_length} "
                      f"(max_frame_length): send less per request")
            raise RpcError(StatusCode.RESOURCE_EXHAUSTED, reason,
                           self._local_status(StatusCode.RESOURCE_EXHAUSTED, reason), call_id=call_id, local=True)
        try:
            self.send_raw(data)
        except OSError as error:
            self._forget(call_id)
            raise RpcError(StatusCode.UNAVAILABLE, f"connection lost: {error}",
                           self._local_status(StatusCode.UNAVAILABLE, str(error)), call_id=call_id,
                           local=True) from error
        return call

    def cancel(self, call_id: int) -> None:
        """Sends CANCEL for ``call_id``. The server answers with END (CANCELLED) unless the call had
        already ended; the END is delivered to the call as usual."""
        fpb = self.pb.frame_pb2
        try:
            self.send_frame(fpb.Frame(call_id=call_id, kind=fpb.FRAME_KIND_CANCEL))
        except OSError:
            pass  # the connection is gone, and with it the call

    # -- raw access (tests, tools) -------------------------------------------------------------

    def send_frame(self, frame) -> None:
        self.send_raw(encode_frame(frame))

    def send_raw(self, data: bytes) -> None:
        """Writes bytes as they are: for hand-built frames."""
        with self._write_lock:
            self.sock.sendall(data)

    def register_call(self, call_id: int, method: str = "") -> Call:
        """Tracks ``call_id`` so replies to a hand-built REQUEST are routed to the returned Call."""
        with self._lock:
            call = Call(self, call_id, method)
            self._calls[call_id] = call
            return call

    # -- internals -----------------------------------------------------------------------------

    def _local_status(self, code: int, message: str):
        return self.pb.status_pb2.Status(code=code, message=message)

    def _forget(self, call_id: int) -> None:
        with self._lock:
            self._calls.pop(call_id, None)

    def _recv_exact(self, n: int) -> Optional[bytes]:
        chunks = []
        while n:
            try:
                chunk = self.sock.recv(min(n, 1 << 20))
            except OSError:
                return None
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read_loop(self) -> None:
        fpb = self.pb.frame_pb2
        reason = "connection closed by the server"
        try:
            while True:
                header = self._recv_exact(4)
                if header is None:
                    break
                (length,) = struct.unpack(">I", header)
                if length > self.max_frame_length:
                    reason = f"server sent a frame of {length} bytes (maximum {self.max_frame_length})"
                    break
                body = self._recv_exact(length)
                if body is None:
                    reason = "connection closed inside a frame"
                    break
                frame = fpb.Frame()
                try:
                    frame.ParseFromString(body)
                except Exception as error:  # noqa: BLE001 - a DecodeError, whatever the backend
                    reason = f"undecodable frame from the server: {error}"
                    break
                self._dispatch(frame)
        finally:
            with self._lock:
                if self.connection_error is not None:
                    reason = f"{StatusCode.name(self.connection_error.code)}: {self.connection_error.message}"
                self._closed_reason = reason
                calls = list(self._calls.values())
            for call in calls:
                call._deliver(_Closed(reason))
            try:
                self.sock.close()
            except OSError:
                pass

    def _dispatch(self, frame) -> None:
        fpb = self.pb.frame_pb2
        if frame.call_id == 0:
            # Connection-level error: every open call ends with it (a copy under its own id).
            with self._lock:
                self.connection_error = frame.status
                calls = list(self._calls.values())
            for call in calls:
                copy = fpb.Frame()
                copy.CopyFrom(frame)
                copy.call_id = call.call_id
                call._deliver(copy)
            return
        with self._lock:
            call = self._calls.get(frame.call_id)
        if call is None:
            self.stray_frames.append(frame)
            return
        call._deliver(frame)

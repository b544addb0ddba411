"""subsidyd client: the wire protocol of Protos/README.md over Unix sockets, in Python.

    from subsidy_client import Client, make_uscc
    with Client("/tmp/d/sockets/district/nanhai.sock") as nanhai:
        print(nanhai.identity.who_am_i().tenant)

- :class:`Client` — typed, one method per RPC, request ids and retries (:mod:`subsidy_client.client`);
- :class:`AsyncClient` — the same methods as coroutines (:mod:`subsidy_client.aio`);
- :class:`Connection` — the low-level multiplexed connection (:mod:`subsidy_client.connection`);
- :func:`make_uscc`, :func:`uscc_is_valid` — GB 32100 check characters (Protos/USCC.md);
- :class:`DevDaemon` — runs ``subsidyd --dev`` in a directory, for tests and examples.

The generated message modules are ``foshan.subsidy.v1.*_pb2``, installed with this package.
"""

from .connection import (
    DEFAULT_MAX_FRAME_LENGTH,
    Call,
    Connection,
    RpcError,
    StatusCode,
    StreamCall,
    decode_frame_stream,
    encode_frame,
    load_generated,
)
from .uscc import (
    USCC_ALPHABET,
    make_uscc,
    organisation_check_character,
    uscc_check_character,
    uscc_is_valid,
    uscc_problem,
)
from .client import Client, RetryPolicy, new_request_id
from .aio import AsyncClient
from .devdaemon import DISTRICTS, TENANTS, DevDaemon

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Call",
    "Client",
    "Connection",
    "DEFAULT_MAX_FRAME_LENGTH",
    "DISTRICTS",
    "DevDaemon",
    "RetryPolicy",
    "RpcError",
    "StatusCode",
    "StreamCall",
    "TENANTS",
    "USCC_ALPHABET",
    "decode_frame_stream",
    "encode_frame",
    "load_generated",
    "make_uscc",
    "new_request_id",
    "organisation_check_character",
    "uscc_check_character",
    "uscc_is_valid",
    "uscc_problem",
]

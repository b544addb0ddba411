"""The typed client: one method per RPC, request ids and retries (Protos/README.md §6).

    from subsidy_client import Client
    with Client("/tmp/d/sockets/district/nanhai.sock") as nanhai:
        print(nanhai.identity.who_am_i().tenant)
        record = nanhai.district.submit_application(application=app).record

Each service is an attribute (``health``, ``identity``, ``reflection``, ``district``, ``city``,
``programmes``, ``district_programmes``, ``calls``,
``admin``); each RPC a snake_case method taking the request message (or its fields as keyword
arguments) and returning the response message. Server-streaming RPCs return a
:class:`~subsidy_client.connection.StreamCall` to iterate.

**Request ids.** A mutating request (one with a ``request_id`` field) whose ``request_id`` is empty
gets a fresh UUID, written into the request object the caller passed, so it can be logged or
reused. Every retry sends the *identical* request with the *same* ``request_id``: the daemon then
returns the first outcome instead of acting twice (§6).

**Retries.** A unary call that ends ``UNAVAILABLE`` (including a lost connection, which is
reconnected), ``DEADLINE_EXCEEDED`` (server or local), or ``RESOURCE_EXHAUSTED`` *without*
cap violations (rate or call limits; a cap's refusal will not go away) is retried with exponential
backoff, up to :attr:`RetryPolicy.attempts` attempts in all. Streams are not retried.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import FrozenSet, Mapping, Optional, Type, TypeVar

from google.protobuf.message import Message

from .connection import DEFAULT_MAX_FRAME_LENGTH, Connection, RpcError, StatusCode, StreamCall, load_generated

pb = load_generated()
from foshan.subsidy.v1 import (  # noqa: E402  (generated; installed with this package)
    admin_pb2,
    city_pb2,
    district_pb2,
    health_pb2,
    identity_pb2,
    programmes_pb2,
    reflection_pb2,
)

__all__ = ["Client", "RetryPolicy", "new_request_id"]

PACKAGE = "foshan.subsidy.v1"
M = TypeVar("M", bound=Message)


def new_request_id() -> str:
    """A fresh request id: a random UUID (at most 128 bytes, as the daemon requires)."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class RetryPolicy:
    """When and how often a unary call is retried (same request, same ``request_id``)."""

    attempts: int = 5
    initial_backoff: float = 0.05
    max_backoff: float = 2.0
    multiplier: float = 2.0
    codes: FrozenSet[int] = field(
        default_factory=lambda: frozenset(
            {StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED, StatusCode.RESOURCE_EXHAUSTED}
        )
    )

    def retryable(self, error: RpcError) -> bool:
        if error.code not in self.codes:
            return False
        # A cap without headroom will not gain it by asking again, nor a request too large for a
        # frame (refused here, before sending) by being sent again.
        if error.code == StatusCode.RESOURCE_EXHAUSTED and error.status is not None and len(error.status.cap_violations):
            return False
        if error.code == StatusCode.RESOURCE_EXHAUSTED and error.local:
            return False
        return True

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based), with jitter."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        return base * (0.5 + random.random() / 2)


NO_RETRY = RetryPolicy(attempts=1)


class Client:
    """A connection to one tenant's socket, reopened when lost, with a typed stub per service.

    ``timeout_ms`` is every call's deadline unless a call passes its own (0: none); ``retry`` the
    default :class:`RetryPolicy`.
    """

    def __init__(
        self,
        socket_path: str,
        *,
        timeout_ms: int = 30_000,
        retry: RetryPolicy = RetryPolicy(),
        connect_timeout: float = 10.0,
        metadata: Optional[Mapping[str, str]] = None,
        max_frame_length: int = DEFAULT_MAX_FRAME_LENGTH,
    ):
        self.socket_path = socket_path
        #: The daemon's ``max_frame_bytes`` (4 MiB unless its configuration says otherwise): a
        #: request whose frame is longer is refused here, before it is sent.
        self.max_frame_length = max_frame_length
        #: Sent with every call; a call's own metadata wins key by key (e.g. ``{"x-today":
        #: "2023-06-01"}`` to a ``subsidyd --dev`` rehearsing a past day).
        self.metadata = dict(metadata or {})
        self.timeout_ms = timeout_ms
        self.retry = retry
        self.connect_timeout = connect_timeout
        self._conn: Optional[Connection] = None
        self._lock = threading.Lock()
        #: How many retries this client has made (for tests and logs).
        self.retries = 0
        self.health = HealthClient(self)
        self.identity = IdentityClient(self)
        self.reflection = ReflectionClient(self)
        self.district = DistrictClient(self)
        self.city = CityClient(self)
        self.admin = AdminClient(self)
        self.programmes = ProgrammesClient(self)
        self.district_programmes = DistrictProgrammesClient(self)
        self.calls = CallsClient(self)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    @property
    def connection(self) -> Connection:
        """The open connection (opened, or reopened after it was lost, on demand)."""
        with self._lock:
            if self._conn is None or self._conn.closed:
                if self._conn is not None:
                    self._conn.close()
                self._conn = Connection(self.socket_path, connect_timeout=self.connect_timeout, max_frame_length=self.max_frame_length)
            return self._conn

    # -- generic calls -------------------------------------------------------------------------

    def unary(
        self,
        method: str,
        request: Message,
        response_cls: Type[M],
        *,
        timeout_ms: Optional[int] = None,
        metadata=None,
        retry: Optional[RetryPolicy] = None,
    ) -> M:
        """Calls ``method`` (its full name), retrying per ``retry`` with the identical request."""
        if "request_id" in request.DESCRIPTOR.fields_by_name and not getattr(request, "request_id"):
            request.request_id = new_request_id()
        payload = request.SerializeToString()  # encoded once: every attempt sends the same bytes
        policy = retry or self.retry
        timeout = self.timeout_ms if timeout_ms is None else timeout_ms
        attempt = 1
        while True:
            try:
                try:
                    conn = self.connection
                except OSError as error:  # the socket is not there (yet): daemon restarting
                    raise RpcError(StatusCode.UNAVAILABLE, f"cannot connect to {self.socket_path}: {error}",
                                   local=True) from error
                return conn.unary(method, payload, response_cls, timeout_ms=timeout, metadata=self._metadata(metadata))
            except RpcError as error:
                if attempt >= policy.attempts or not policy.retryable(error):
                    raise
                time.sleep(policy.backoff(attempt))
                attempt += 1
                self.retries += 1

    def stream(self, method: str, request: Message, response_cls: Type[M], *, timeout_ms: int = 0,
               metadata=None, wait: Optional[float] = None) -> StreamCall:
        """Starts a server-streaming call (never retried); iterate the result, ``cancel()`` it."""
        return self.connection.stream(method, request, response_cls, timeout_ms, metadata=self._metadata(metadata), wait=wait)

    def _metadata(self, metadata):
        """The client's metadata with the call's own over it (a mapping or (key, value) pairs)."""
        if not self.metadata:
            return metadata
        merged = dict(self.metadata)
        if metadata:
            merged.update(metadata.items() if isinstance(metadata, Mapping) else metadata)
        return merged


def _request(cls: Type[M], request: Optional[M], fields: dict) -> M:
    if request is None:
        return cls(**fields)
    if fields:
        raise TypeError("pass a request message or its fields as keyword arguments, not both")
    if not isinstance(request, cls):
        raise TypeError(f"expected {cls.DESCRIPTOR.full_name}, got {type(request).__name__}")
    return request


class _Service:
    SERVICE = ""

    def __init__(self, client: Client):
        self._client = client

    def _unary(self, name: str, request_cls, request, fields, response_cls, timeout_ms, retry):
        return self._client.unary(
            f"/{PACKAGE}.{self.SERVICE}/{name}",
            _request(request_cls, request, fields),
            response_cls,
            timeout_ms=timeout_ms,
            retry=retry,
        )

    def _stream(self, name: str, request_cls, request, fields, response_cls, timeout_ms, wait):
        return self._client.stream(
            f"/{PACKAGE}.{self.SERVICE}/{name}",
            _request(request_cls, request, fields),
            response_cls,
            timeout_ms=timeout_ms or 0,
            wait=wait,
        )


# Each method: (request message or None, *, timeout_ms=None, retry=None, **request fields).
# tests/test_client.py checks that every RPC of every service in the protos has one, with its types.


class HealthClient(_Service):
    SERVICE = "Health"

    def check(self, request: Optional[health_pb2.HealthCheckRequest] = None, *, timeout_ms=None, retry=None,
              **fields) -> health_pb2.HealthCheckResponse:
        return self._unary("Check", health_pb2.HealthCheckRequest, request, fields,
                           health_pb2.HealthCheckResponse, timeout_ms, retry)

    def watch(self, request: Optional[health_pb2.HealthCheckRequest] = None, *, timeout_ms=None, wait=None,
              **fields) -> StreamCall:
        """Streams ``HealthCheckResponse``."""
        return self._stream("Watch", health_pb2.HealthCheckRequest, request, fields,
                            health_pb2.HealthCheckResponse, timeout_ms, wait)


class IdentityClient(_Service):
    SERVICE = "Identity"

    def who_am_i(self, request: Optional[identity_pb2.WhoAmIRequest] = None, *, timeout_ms=None, retry=None,
                 **fields) -> identity_pb2.WhoAmIResponse:
        return self._unary("WhoAmI", identity_pb2.WhoAmIRequest, request, fields,
                           identity_pb2.WhoAmIResponse, timeout_ms, retry)


class ReflectionClient(_Service):
    SERVICE = "Reflection"

    def list_services(self, request: Optional[reflection_pb2.ListServicesRequest] = None, *, timeout_ms=None,
                      retry=None, **fields) -> reflection_pb2.ListServicesResponse:
        return self._unary("ListServices", reflection_pb2.ListServicesRequest, request, fields,
                           reflection_pb2.ListServicesResponse, timeout_ms, retry)

    def get_file_descriptor_set(self, request: Optional[reflection_pb2.GetFileDescriptorSetRequest] = None, *,
                                timeout_ms=None, retry=None, **fields) -> reflection_pb2.GetFileDescriptorSetResponse:
        return self._unary("GetFileDescriptorSet", reflection_pb2.GetFileDescriptorSetRequest, request, fields,
                           reflection_pb2.GetFileDescriptorSetResponse, timeout_ms, retry)


class DistrictClient(_Service):
    """``DistrictService``: for a district's socket only (the district is the socket's tenant)."""

    SERVICE = "DistrictService"
    d = district_pb2

    def register_applicant(self, request: Optional[district_pb2.RegisterApplicantRequest] = None, *,
                           timeout_ms=None, retry=None, **fields) -> district_pb2.RegisterApplicantResponse:
        return self._unary("RegisterApplicant", self.d.RegisterApplicantRequest, request, fields,
                           self.d.RegisterApplicantResponse, timeout_ms, retry)

    def get_applicant(self, request: Optional[district_pb2.GetApplicantRequest] = None, *, timeout_ms=None,
                      retry=None, **fields) -> district_pb2.GetApplicantResponse:
        return self._unary("GetApplicant", self.d.GetApplicantRequest, request, fields,
                           self.d.GetApplicantResponse, timeout_ms, retry)

    def list_applicants(self, request: Optional[district_pb2.ListApplicantsRequest] = None, *, timeout_ms=None,
                        retry=None, **fields) -> district_pb2.ListApplicantsResponse:
        return self._unary("ListApplicants", self.d.ListApplicantsRequest, request, fields,
                           self.d.ListApplicantsResponse, timeout_ms, retry)

    def update_applicant(self, request: Optional[district_pb2.UpdateApplicantRequest] = None, *,
                         timeout_ms=None, retry=None, **fields) -> district_pb2.UpdateApplicantResponse:
        return self._unary("UpdateApplicant", self.d.UpdateApplicantRequest, request, fields,
                           self.d.UpdateApplicantResponse, timeout_ms, retry)

    def submit_application(self, request: Optional[district_pb2.SubmitApplicationRequest] = None, *,
                           timeout_ms=None, retry=None, **fields) -> district_pb2.SubmitApplicationResponse:
        return self._unary("SubmitApplication", self.d.SubmitApplicationRequest, request, fields,
                           self.d.SubmitApplicationResponse, timeout_ms, retry)

    def get_application(self, request: Optional[district_pb2.GetApplicationRequest] = None, *, timeout_ms=None,
                        retry=None, **fields) -> district_pb2.GetApplicationResponse:
        return self._unary("GetApplication", self.d.GetApplicationRequest, request, fields,
                           self.d.GetApplicationResponse, timeout_ms, retry)

    def list_applications(self, request: Optional[district_pb2.ListApplicationsRequest] = None, *,
                          timeout_ms=None, retry=None, **fields) -> district_pb2.ListApplicationsResponse:
        return self._unary("ListApplications", self.d.ListApplicationsRequest, request, fields,
                           self.d.ListApplicationsResponse, timeout_ms, retry)

    def amend_application(self, request: Optional[district_pb2.AmendApplicationRequest] = None, *,
                          timeout_ms=None, retry=None, **fields) -> district_pb2.AmendApplicationResponse:
        return self._unary("AmendApplication", self.d.AmendApplicationRequest, request, fields,
                           self.d.AmendApplicationResponse, timeout_ms, retry)

    def withdraw_application(self, request: Optional[district_pb2.WithdrawApplicationRequest] = None, *,
                             timeout_ms=None, retry=None, **fields) -> district_pb2.WithdrawApplicationResponse:
        return self._unary("WithdrawApplication", self.d.WithdrawApplicationRequest, request, fields,
                           self.d.WithdrawApplicationResponse, timeout_ms, retry)

    def review_application(self, request: Optional[district_pb2.ReviewApplicationRequest] = None, *,
                           timeout_ms=None, retry=None, **fields) -> district_pb2.ReviewApplicationResponse:
        return self._unary("ReviewApplication", self.d.ReviewApplicationRequest, request, fields,
                           self.d.ReviewApplicationResponse, timeout_ms, retry)

    def quote(self, request: Optional[district_pb2.QuoteRequest] = None, *, timeout_ms=None, retry=None,
              **fields) -> district_pb2.QuoteResponse:
        return self._unary("Quote", self.d.QuoteRequest, request, fields, self.d.QuoteResponse, timeout_ms, retry)


class CityClient(_Service):
    """``CityService``: for the city's socket only."""

    SERVICE = "CityService"
    c = city_pb2
    d = district_pb2

    def get_application(self, request: Optional[district_pb2.GetApplicationRequest] = None, *, timeout_ms=None,
                        retry=None, **fields) -> district_pb2.GetApplicationResponse:
        return self._unary("GetApplication", self.d.GetApplicationRequest, request, fields,
                           self.d.GetApplicationResponse, timeout_ms, retry)

    def list_applications(self, request: Optional[district_pb2.ListApplicationsRequest] = None, *,
                          timeout_ms=None, retry=None, **fields) -> district_pb2.ListApplicationsResponse:
        return self._unary("ListApplications", self.d.ListApplicationsRequest, request, fields,
                           self.d.ListApplicationsResponse, timeout_ms, retry)

    def get_applicant(self, request: Optional[district_pb2.GetApplicantRequest] = None, *, timeout_ms=None,
                      retry=None, **fields) -> district_pb2.GetApplicantResponse:
        """The registry, read-only, across districts."""
        return self._unary("GetApplicant", self.d.GetApplicantRequest, request, fields,
                           self.d.GetApplicantResponse, timeout_ms, retry)

    def approve_application(self, request: Optional[city_pb2.ApproveApplicationRequest] = None, *,
                            timeout_ms=None, retry=None, **fields) -> city_pb2.ApproveApplicationResponse:
        return self._unary("ApproveApplication", self.c.ApproveApplicationRequest, request, fields,
                           self.c.ApproveApplicationResponse, timeout_ms, retry)

    def approve_applications(self, request: Optional[city_pb2.ApproveApplicationsRequest] = None, *,
                             timeout_ms=None, retry=None, **fields) -> city_pb2.ApproveApplicationsResponse:
        """A committee's list in its order; ``plan_only=True`` commits nothing. Each application's
        refusal is in its outcome's ``status``, not raised."""
        return self._unary("ApproveApplications", self.c.ApproveApplicationsRequest, request, fields,
                           self.c.ApproveApplicationsResponse, timeout_ms, retry)

    def reject_application(self, request: Optional[city_pb2.DecideApplicationRequest] = None, *,
                           timeout_ms=None, retry=None, **fields) -> city_pb2.DecideApplicationResponse:
        return self._unary("RejectApplication", self.c.DecideApplicationRequest, request, fields,
                           self.c.DecideApplicationResponse, timeout_ms, retry)

    def publicize_application(self, request: Optional[city_pb2.DecideApplicationRequest] = None, *,
                              timeout_ms=None, retry=None, **fields) -> city_pb2.DecideApplicationResponse:
        return self._unary("PublicizeApplication", self.c.DecideApplicationRequest, request, fields,
                           self.c.DecideApplicationResponse, timeout_ms, retry)

    def disburse_application(self, request: Optional[city_pb2.DecideApplicationRequest] = None, *,
                             timeout_ms=None, retry=None, **fields) -> city_pb2.DecideApplicationResponse:
        return self._unary("DisburseApplication", self.c.DecideApplicationRequest, request, fields,
                           self.c.DecideApplicationResponse, timeout_ms, retry)

    def revoke_application(self, request: Optional[city_pb2.DecideApplicationRequest] = None, *,
                           timeout_ms=None, retry=None, **fields) -> city_pb2.DecideApplicationResponse:
        return self._unary("RevokeApplication", self.c.DecideApplicationRequest, request, fields,
                           self.c.DecideApplicationResponse, timeout_ms, retry)

    def record_recovery(self, request: Optional[city_pb2.DecideApplicationRequest] = None, *,
                        timeout_ms=None, retry=None, **fields) -> city_pb2.DecideApplicationResponse:
        """A clawback's money is back (decision_date, reason required): its caps are free again."""
        return self._unary("RecordRecovery", self.c.DecideApplicationRequest, request, fields,
                           self.c.DecideApplicationResponse, timeout_ms, retry)

    def quote(self, request: Optional[district_pb2.QuoteRequest] = None, *, timeout_ms=None, retry=None,
              **fields) -> district_pb2.QuoteResponse:
        return self._unary("Quote", self.d.QuoteRequest, request, fields, self.d.QuoteResponse, timeout_ms, retry)

    def get_quota(self, request: Optional[city_pb2.GetQuotaRequest] = None, *, timeout_ms=None, retry=None,
                  **fields) -> city_pb2.GetQuotaResponse:
        return self._unary("GetQuota", self.c.GetQuotaRequest, request, fields, self.c.GetQuotaResponse,
                           timeout_ms, retry)

    def watch_quota(self, request: Optional[city_pb2.GetQuotaRequest] = None, *, timeout_ms=None, wait=None,
                    **fields) -> StreamCall:
        """Streams ``GetQuotaResponse``: the snapshot at once, then after every change."""
        return self._stream("WatchQuota", self.c.GetQuotaRequest, request, fields, self.c.GetQuotaResponse,
                            timeout_ms, wait)

    def watch_events(self, request: Optional[city_pb2.WatchEventsRequest] = None, *, timeout_ms=None, wait=None,
                     **fields) -> StreamCall:
        """Streams ``LedgerEvent`` after ``after_sequence``."""
        from foshan.subsidy.v1 import types_pb2

        return self._stream("WatchEvents", self.c.WatchEventsRequest, request, fields, types_pb2.LedgerEvent,
                            timeout_ms, wait)

    def register_pool_member(self, request: Optional[city_pb2.RegisterPoolMemberRequest] = None, *,
                             timeout_ms=None, retry=None, **fields) -> city_pb2.RegisterPoolMemberResponse:
        return self._unary("RegisterPoolMember", self.c.RegisterPoolMemberRequest, request, fields,
                           self.c.RegisterPoolMemberResponse, timeout_ms, retry)

    def list_pool_members(self, request: Optional[city_pb2.ListPoolMembersRequest] = None, *, timeout_ms=None,
                          retry=None, **fields) -> city_pb2.ListPoolMembersResponse:
        return self._unary("ListPoolMembers", self.c.ListPoolMembersRequest, request, fields,
                           self.c.ListPoolMembersResponse, timeout_ms, retry)

    def import_history(self, request: Optional[city_pb2.ImportHistoryRequest] = None, *, timeout_ms=None,
                       retry=None, **fields) -> city_pb2.ImportHistoryResponse:
        return self._unary("ImportHistory", self.c.ImportHistoryRequest, request, fields,
                           self.c.ImportHistoryResponse, timeout_ms, retry)

    def verify_audit(self, request: Optional[city_pb2.VerifyAuditRequest] = None, *, timeout_ms=None, retry=None,
                     **fields) -> city_pb2.VerifyAuditResponse:
        return self._unary("VerifyAudit", self.c.VerifyAuditRequest, request, fields,
                           self.c.VerifyAuditResponse, timeout_ms, retry)


class AdminClient(_Service):
    """``Admin``: for the city's socket only."""

    SERVICE = "Admin"

    def backup(self, request: Optional[admin_pb2.BackupRequest] = None, *, timeout_ms=None, retry=None,
               **fields) -> admin_pb2.BackupResponse:
        # Not retried by default: a second Backup into a directory the first one filled is refused.
        return self._unary("Backup", admin_pb2.BackupRequest, request, fields, admin_pb2.BackupResponse,
                           timeout_ms, retry or NO_RETRY)

    def get_metrics(self, request: Optional[admin_pb2.GetMetricsRequest] = None, *, timeout_ms=None, retry=None,
                    **fields) -> admin_pb2.GetMetricsResponse:
        return self._unary("GetMetrics", admin_pb2.GetMetricsRequest, request, fields,
                           admin_pb2.GetMetricsResponse, timeout_ms, retry)


class ProgrammesClient(_Service):
    """The programmes in force (a district sees the city's and its own; the city every one)."""

    SERVICE = "Programmes"

    def list_programmes(self, request: Optional[programmes_pb2.ListProgrammesRequest] = None, *, timeout_ms=None,
                        retry=None, **fields) -> programmes_pb2.ListProgrammesResponse:
        return self._unary("ListProgrammes", programmes_pb2.ListProgrammesRequest, request, fields,
                           programmes_pb2.ListProgrammesResponse, timeout_ms, retry)


class DistrictProgrammesClient(_Service):
    """A district deciding its own programme's applications, against caps in its own store."""

    SERVICE = "DistrictProgrammes"

    def approve_application(self, request: Optional[city_pb2.ApproveApplicationRequest] = None, *,
                            timeout_ms=None, retry=None, **fields) -> city_pb2.ApproveApplicationResponse:
        return self._unary("ApproveApplication", city_pb2.ApproveApplicationRequest, request, fields,
                           city_pb2.ApproveApplicationResponse, timeout_ms, retry)

    def reject_application(self, request: Optional[city_pb2.DecideApplicationRequest] = None, *,
                           timeout_ms=None, retry=None, **fields) -> city_pb2.DecideApplicationResponse:
        return self._unary("RejectApplication", city_pb2.DecideApplicationRequest, request, fields,
                           city_pb2.DecideApplicationResponse, timeout_ms, retry)

    def publicize_application(self, request: Optional[city_pb2.DecideApplicationRequest] = None, *,
                              timeout_ms=None, retry=None, **fields) -> city_pb2.DecideApplicationResponse:
        return self._unary("PublicizeApplication", city_pb2.DecideApplicationRequest, request, fields,
                           city_pb2.DecideApplicationResponse, timeout_ms, retry)

    def disburse_application(self, request: Optional[city_pb2.DecideApplicationRequest] = None, *,
                             timeout_ms=None, retry=None, **fields) -> city_pb2.DecideApplicationResponse:
        return self._unary("DisburseApplication", city_pb2.DecideApplicationRequest, request, fields,
                           city_pb2.DecideApplicationResponse, timeout_ms, retry)

    def revoke_application(self, request: Optional[city_pb2.DecideApplicationRequest] = None, *,
                           timeout_ms=None, retry=None, **fields) -> city_pb2.DecideApplicationResponse:
        return self._unary("RevokeApplication", city_pb2.DecideApplicationRequest, request, fields,
                           city_pb2.DecideApplicationResponse, timeout_ms, retry)

    def record_recovery(self, request: Optional[city_pb2.DecideApplicationRequest] = None, *,
                        timeout_ms=None, retry=None, **fields) -> city_pb2.DecideApplicationResponse:
        """A clawback's money is back (decision_date, reason required): its caps are free again."""
        return self._unary("RecordRecovery", city_pb2.DecideApplicationRequest, request, fields,
                           city_pb2.DecideApplicationResponse, timeout_ms, retry)

    def register_catalogue_member(self, request: Optional[programmes_pb2.RegisterCatalogueMemberRequest] = None, *,
                                  timeout_ms=None, retry=None, **fields) -> programmes_pb2.RegisterCatalogueMemberResponse:
        return self._unary("RegisterCatalogueMember", programmes_pb2.RegisterCatalogueMemberRequest, request, fields,
                           programmes_pb2.RegisterCatalogueMemberResponse, timeout_ms, retry)

    def get_quota(self, request: Optional[city_pb2.GetQuotaRequest] = None, *, timeout_ms=None, retry=None,
                  **fields) -> city_pb2.GetQuotaResponse:
        return self._unary("GetQuota", city_pb2.GetQuotaRequest, request, fields, city_pb2.GetQuotaResponse,
                           timeout_ms, retry)


class CallsClient(_Service):
    """Calls for applications (申报批次): the city's for its programmes, a district's for its own."""

    SERVICE = "Calls"

    def open_call(self, request: Optional[programmes_pb2.OpenCallRequest] = None, *, timeout_ms=None, retry=None,
                  **fields) -> programmes_pb2.OpenCallResponse:
        return self._unary("OpenCall", programmes_pb2.OpenCallRequest, request, fields, programmes_pb2.OpenCallResponse,
                           timeout_ms, retry)

    def close_call(self, request: Optional[programmes_pb2.CloseCallRequest] = None, *, timeout_ms=None, retry=None,
                   **fields) -> programmes_pb2.CloseCallResponse:
        return self._unary("CloseCall", programmes_pb2.CloseCallRequest, request, fields, programmes_pb2.CloseCallResponse,
                           timeout_ms, retry)

    def list_calls(self, request: Optional[programmes_pb2.ListCallsRequest] = None, *, timeout_ms=None, retry=None,
                   **fields) -> programmes_pb2.ListCallsResponse:
        return self._unary("ListCalls", programmes_pb2.ListCallsRequest, request, fields, programmes_pb2.ListCallsResponse,
                           timeout_ms, retry)

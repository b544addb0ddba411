"""asyncio flavour of :class:`~subsidy_client.client.Client`: the same services and methods, as
coroutines. Each call runs the blocking client in a worker thread (``asyncio.to_thread``); the
connection multiplexes them, so concurrent awaits are concurrent calls on one socket.

    async with AsyncClient(path) as city:
        quota = await city.city.get_quota(funding_year=2022)
"""

from __future__ import annotations

import asyncio
import functools

from .client import Client

__all__ = ["AsyncClient"]


class _AsyncService:
    def __init__(self, service):
        self._service = service

    def __getattr__(self, name):
        method = getattr(self._service, name)
        if name.startswith("_") or not callable(method):
            return method
        if name.startswith("watch"):
            return method  # streams: iterate them in a thread, or use the sync client

        @functools.wraps(method)
        async def call(*args, **kwargs):
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


class AsyncClient:
    """Takes the same arguments as :class:`Client`."""

    def __init__(self, socket_path: str, **kwargs):
        self.sync = Client(socket_path, **kwargs)
        for name in ("health", "identity", "reflection", "district", "city", "admin", "programmes", "district_programmes", "calls"):
            setattr(self, name, _AsyncService(getattr(self.sync, name)))

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> bool:
        await self.aclose()
        return False

    async def aclose(self) -> None:
        await asyncio.to_thread(self.sync.close)

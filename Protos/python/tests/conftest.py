"""The package's own tests run against the real daemon: SUBSIDYD_BIN (default: the repository's
.build/debug/subsidyd), started with --dev (and --test-hooks, for the retry test's delay)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from subsidy_client import Client, DevDaemon

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    binary = os.environ.get("SUBSIDYD_BIN", str(REPO / ".build" / "debug" / "subsidyd"))
    if not os.access(binary, os.X_OK):
        pytest.fail(f"subsidyd binary not found at {binary} (set SUBSIDYD_BIN)")
    d = DevDaemon(binary, str(tmp_path_factory.mktemp("subsidyd")), args=["--test-hooks"], today="2023-12-31")
    yield d
    d.stop()


@pytest.fixture
def client(daemon):
    """client(tenant) -> Client on the shared daemon; closed after the test."""
    opened = []

    def _client(tenant: str = "nanhai", **kwargs) -> Client:
        c = Client(daemon.socket(tenant), **kwargs)
        opened.append(c)
        return c

    yield _client
    for c in opened:
        c.close()


_serial = itertools.count(1)


@pytest.fixture
def serial():
    """A fresh number per call, so tests sharing one daemon never share an enterprise."""
    return lambda: next(_serial)

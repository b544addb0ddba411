"""Fixtures for the Python interop tests: the real subsidyd binary, started with --dev.

The tests run on the installed client package: `pip install Protos/python` (it generates the
protobuf modules with protoc at install time; .ci/run installs it into .venv).

Environment:
  SUBSIDYD_BIN    the daemon binary (default: <repo>/.build/debug/subsidyd)
  SUBSIDY_PY_GEN  optional: another `protoc --python_out` directory for Protos/ to use instead of
                  the modules installed with the package
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

DISTRICTS = ("chancheng", "nanhai", "shunde", "gaoming", "sanshui")
TENANTS = DISTRICTS + ("city",)

try:
    import subsidy_client
except ImportError as error:  # pragma: no cover - a set-up error, said plainly
    raise ImportError(f"{error}: install the client package first: pip install {REPO / 'Protos' / 'python'}") from error

PB = subsidy_client.load_generated()

TODAY = "2023-12-31"


class Daemon:
    """One running `subsidyd --dev --data-dir DIR`."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.binary = os.environ.get("SUBSIDYD_BIN", str(REPO / ".build" / "debug" / "subsidyd"))
        if not os.access(self.binary, os.X_OK):
            pytest.fail(f"subsidyd binary not found at {self.binary} (set SUBSIDYD_BIN)")
        self.log_path = data_dir / "subsidyd.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            # The calendar pinned to the 2020 measures' last day: their filings are in force and
            # their decisions past, whatever year the tests run in.
            [self.binary, "--dev", "--data-dir", str(data_dir), "--today", TODAY],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def socket(self, tenant: str) -> str:
        if tenant == "city":
            return str(self.data_dir / "sockets" / "city.sock")
        return str(self.data_dir / "sockets" / "district" / f"{tenant}.sock")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(TENANTS)
        while pending:
            if self.process.poll() is not None:
                pytest.fail(f"subsidyd exited with {self.process.returncode} during start-up:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"subsidyd sockets not ready after {timeout} s ({pending} missing):\n{self.log()}")
            tenant = pending[0]
            if os.path.exists(self.socket(tenant)):
                try:
                    with subsidy_client.Connection(self.socket(tenant)) as conn:
                        conn.unary(
                            "/foshan.subsidy.v1.Health/Check",
                            PB.health_pb2.HealthCheckRequest(),
                            PB.health_pb2.HealthCheckResponse,
                            timeout_ms=5000,
                        )
                    pending.pop(0)
                    continue
                except (OSError, subsidy_client.RpcError):
                    pass
            time.sleep(0.05)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then the exit status (killing it if it does not exit in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"subsidyd did not exit within {timeout} s of SIGTERM:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def pb():
    return PB


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    """A daemon shared by the tests that leave it running."""
    d = Daemon(tmp_path_factory.mktemp("subsidyd"))
    yield d
    d.stop()


@pytest.fixture
def own_daemon(tmp_path):
    """A daemon for one test (e.g. one that stops it)."""
    d = Daemon(tmp_path)
    yield d
    d.stop()


@pytest.fixture
def connect(daemon):
    """connect(tenant) -> Connection to the shared daemon; closed after the test."""
    opened = []

    def _connect(tenant: str = "nanhai"):
        conn = subsidy_client.Connection(daemon.socket(tenant))
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()

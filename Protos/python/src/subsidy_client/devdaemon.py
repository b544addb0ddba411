"""Runs ``subsidyd --dev --data-dir DIR`` for tests and examples, and names its sockets."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Optional

from .connection import Connection, RpcError, load_generated

__all__ = ["DISTRICTS", "TENANTS", "DevDaemon", "dev_socket"]

DISTRICTS = ("chancheng", "nanhai", "shunde", "gaoming", "sanshui")
TENANTS = DISTRICTS + ("city",)


def dev_socket(data_dir: str, tenant: str) -> str:
    """The socket of ``tenant`` (a district id or ``city``) of a ``--dev`` daemon (Protos/README.md §1)."""
    if tenant == "city":
        return os.path.join(data_dir, "sockets", "city.sock")
    return os.path.join(data_dir, "sockets", "district", f"{tenant}.sock")


class DevDaemon:
    """A ``subsidyd --dev`` started in ``data_dir`` (a fresh temporary directory by default), ready
    once every tenant's socket answers ``Health.Check``. ``binary`` defaults to ``$SUBSIDYD_BIN``
    or ``subsidyd`` on ``PATH``. ``today`` (YYYY-MM-DD) pins its calendar (``--today``): every
    shipped programme has ended, so filing needs a day when one was in force. Use as a context
    manager, or call :meth:`stop`."""

    def __init__(self, binary: Optional[str] = None, data_dir: Optional[str] = None, *,
                 args=(), ready_timeout: float = 30.0, today: Optional[str] = None):
        self.binary = binary or os.environ.get("SUBSIDYD_BIN") or shutil.which("subsidyd") or "subsidyd"
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="subsidyd-dev.")
        self.log_path = os.path.join(self.data_dir, "subsidyd.log")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [self.binary, "--dev", "--data-dir", self.data_dir, *(("--today", today) if today else ()), *args],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def socket(self, tenant: str) -> str:
        return dev_socket(self.data_dir, tenant)

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def _wait_ready(self, timeout: float) -> None:
        pb = load_generated()
        deadline = time.monotonic() + timeout
        pending = list(TENANTS)
        while pending:
            if self.process.poll() is not None:
                raise RuntimeError(f"subsidyd exited with {self.process.returncode} during start-up:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"subsidyd sockets not ready after {timeout} s ({pending} missing):\n{self.log()}")
            path = self.socket(pending[0])
            if os.path.exists(path):
                try:
                    with Connection(path) as conn:
                        conn.unary("/foshan.subsidy.v1.Health/Check", pb.health_pb2.HealthCheckRequest(),
                                   pb.health_pb2.HealthCheckResponse, timeout_ms=5000)
                    pending.pop(0)
                    continue
                except (OSError, RpcError):
                    pass
            time.sleep(0.05)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then the exit status (SIGKILL if it has not exited within ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def stop(self) -> None:
        self.terminate()
        self._log.close()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "DevDaemon":
        return self

    def __exit__(self, *exc) -> bool:
        self.stop()
        return False

"""Shared fixtures: a client that runs the host as helios-matrix does (a subprocess,
`python -m helios_driver_host DRIVER`, one JSON object per line both ways), and the
reference servers' targets with a skip when a server's port is closed."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any
from urllib.parse import urlsplit

import pytest

# The services' self-signed certificate, which the HTTPS gateway presents.
CA_FILE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".services", "tls", "server.crt"
)
# The registry's default targets (specs/matrix.yaml), overridable as helios-matrix's are:
# the Silver ones through the HTTPS gateway.
TARGETS = {
    "postgresql": "postgres://test:test@127.0.0.1:5432/helios?sslmode=require",
    "mysql": "mysql://test:test@127.0.0.1:3306/helios?ssl-mode=required",
    "snowflake": "https://test:test@127.0.0.1:8443/helios/public"
    f"?account=local&warehouse=default&ca-file={os.path.normpath(CA_FILE)}",
    "pinecone": f"https://127.0.0.1:8443/pinecone?api_key=test_key&ca-file={os.path.normpath(CA_FILE)}",
    # The iridium emulator (scripts/services/iridium.sh), plain TCP.
    "sqlserver": "mssql://sa:Helios_test_1@127.0.0.1:1433/helios",
}
ANSWER_TIMEOUT = 60.0


def target(protocol: str) -> str:
    return os.environ.get(f"HELIOS_MATRIX_TARGET_{protocol.upper()}", TARGETS[protocol])


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def live(protocol: str) -> pytest.MarkDecorator:
    """Skips (with the reason) when the protocol's server does not listen; a test that
    runs against a listening server must pass."""
    parts = urlsplit(target(protocol))
    host, port = parts.hostname or "127.0.0.1", parts.port or 0
    return pytest.mark.skipif(
        not port_open(host, port),
        reason=f"no {protocol} server on {host}:{port} (start it: bash scripts/services.sh up)",
    )


class HostProcess:
    """One host process, spoken to line by line, with a cancel channel as helios-matrix
    hands it one (a pipe the host reads, named by HELIOS_DRIVER_HOST_CANCEL_FD)."""

    def __init__(self, driver: str) -> None:
        self.driver = driver
        cancel_r, cancel_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "helios_driver_host", driver],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(cancel_r,),
            env={**os.environ, "HELIOS_DRIVER_HOST_CANCEL_FD": str(cancel_r)},
        )
        os.close(cancel_r)
        self._cancels = os.fdopen(cancel_w, "wb", buffering=0)
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self.stderr: list[str] = []
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()
        self.last_id = 0
        self.hello = self.receive()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _drain(self, stream: IO[bytes]) -> None:
        for line in stream:
            self.stderr.append(line.decode("utf-8", errors="replace"))

    def receive(self, timeout: float = ANSWER_TIMEOUT) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            stderr = "".join(self.stderr)
            raise AssertionError(f"no answer within {timeout}s; stderr: {stderr}") from None
        if line is None:
            raise AssertionError(f"the host closed its output; stderr: {''.join(self.stderr)}")
        message: dict[str, Any] = json.loads(line)
        return message

    def send(self, op: str, **args: Any) -> int:
        self.last_id += 1
        self.send_line(json.dumps({"id": self.last_id, "op": op, **args}))
        return self.last_id

    def send_line(self, line: str) -> None:
        """One request line, as it is."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode("utf-8"))
        self.proc.stdin.flush()

    def cancel(self) -> int:
        """Sends `cancel` on the cancel channel; its id."""
        self.last_id += 1
        self._cancels.write(json.dumps({"id": self.last_id, "op": "cancel"}).encode() + b"\n")
        return self.last_id

    def request(self, op: str, **args: Any) -> dict[str, Any]:
        rid = self.send(op, **args)
        answer = self.receive()
        assert answer["id"] == rid, answer
        return answer

    def ok(self, op: str, **args: Any) -> dict[str, Any]:
        """A request that must succeed."""
        answer = self.request(op, **args)
        assert answer["ok"] is True, (op, args, answer, "".join(self.stderr))
        return answer

    def error(self, op: str, **args: Any) -> dict[str, Any]:
        """A request that must fail; its error object."""
        answer = self.request(op, **args)
        assert answer["ok"] is False, (op, args, answer)
        error: dict[str, Any] = answer["error"]
        return error

    def close(self) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError, BrokenPipeError, OSError):
                self.request("close")
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the host did not exit within 5 s of close") from None


@pytest.fixture
def spawn() -> Iterator[Callable[[str], HostProcess]]:
    """Starts hosts; every one still running at the end is closed (and must exit)."""
    started: list[HostProcess] = []

    def start(driver: str) -> HostProcess:
        host = HostProcess(driver)
        started.append(host)
        return host

    yield start
    for host in started:
        host.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)

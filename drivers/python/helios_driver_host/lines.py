"""The two ends of the protocol's pipes, as lines (docs/driver-host.md, Pipelining).

helios-matrix pipelines requests: while it checks one answer, the host already runs the
next request. Waking helios-matrix once per answer would cost more than many statements
do, so answers written while another request is waiting are held and written together:
when no request waits (the host would block reading), when `HELD` are held, and at the
latest `HOLD_AT_MOST` seconds after the first held one, by a thread of its own, so that an
answer never waits on a slow request after it."""

from __future__ import annotations

import threading
import time
from typing import BinaryIO

#: Answers held before they are written anyway.
HELD = 16
#: How long (seconds) an answer may be held while the host runs the requests after it.
HOLD_AT_MOST = 0.002


class Requests:
    """Request lines from the host's stdin; knows whether a whole one is waiting."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._start = 0

    def waiting(self) -> bool:
        """A whole request line has been read and not taken yet."""
        return self._buffer.find(b"\n", self._start) >= 0

    def readline(self) -> bytes:
        """The next line, newline included; at the end of input what is left (b"" when
        nothing is)."""
        while True:
            end = self._buffer.find(b"\n", self._start)
            if end >= 0:
                line = bytes(self._buffer[self._start : end + 1])
                self._start = end + 1
                return line
            del self._buffer[: self._start]
            self._start = 0
            chunk = self._stream.read1(65536)  # type: ignore[attr-defined]
            if not chunk:
                rest = bytes(self._buffer)
                self._buffer.clear()
                return rest
            self._buffer += chunk


class Answers:
    """Lines to the host's stdout, written whole and never interleaved; `lock` is held by
    whoever writes (the cancel thread holds it across a cancel and its answer)."""

    def __init__(self, stream: BinaryIO, lock: threading.Lock) -> None:
        self._stream = stream
        self.lock = lock
        self._held = bytearray()
        self._count = 0
        self._since = 0.0
        self._late = threading.Condition(lock)
        threading.Thread(target=self._write_late, name="answers", daemon=True).start()

    def write(self, line: bytes, hold: bool = False) -> None:
        """Writes `line` with whatever is held, or holds it too (`hold`: another request
        is waiting). The caller holds `lock`."""
        self._held += line
        self._count += 1
        if hold and self._count < HELD:
            if self._count == 1:
                self._since = time.monotonic()
                self._late.notify()
            return
        self._flush()

    def _flush(self) -> None:
        if not self._held:
            return
        data = bytes(self._held)
        self._held.clear()
        self._count = 0
        try:
            self._stream.write(data)
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            # helios-matrix is gone (or closed the pipe): nobody reads the answer.
            pass

    def _write_late(self) -> None:
        """Writes answers held longer than HOLD_AT_MOST."""
        with self._late:
            while True:
                while not self._held:
                    self._late.wait()
                due = self._since + HOLD_AT_MOST
                now = time.monotonic()
                if now < due:
                    self._late.wait(due - now)
                elif self._held:
                    self._flush()

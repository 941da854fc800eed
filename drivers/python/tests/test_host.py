"""The framing (docs/driver-host.md, Transport and Requests) with a fake adapter: the hello
line, ids, requests run in order on the thread that reads them, `cancel` on its channel
answered while a request runs, unknown ops, malformed lines, errors and their
classification, close and end of input."""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from typing import Any, BinaryIO, ClassVar

import pytest

from helios_driver_host.adapter import Adapter, Column, ErrorInfo, HostError, Rows
from helios_driver_host.host import Host, hello
from helios_driver_host.protocol import PROTOCOL
from helios_driver_host.values import Json


class Boom(Exception):
    """A driver exception the adapter does not classify."""


class DriverDbError(Exception):
    """A driver exception the adapter classifies as a server error."""


class FakeAdapter(Adapter):
    name = "fake"
    distribution = "pytest"  # any installed distribution: hello reports its version
    capabilities: ClassVar[tuple[str, ...]] = ("sql", "transactions", "cancel")

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.running = threading.Event()
        self.cancelled = threading.Event()
        self.closed = False
        self.fail_with = "kaput"
        self.threads: set[str] = set()

    def connect(self, target: str, autocommit: bool) -> None:
        self.calls.append(("connect", autocommit))
        if "refuse" in target:
            raise Boom(f"cannot reach {target}")

    def execute(self, sql: str, params: Json) -> int | None:
        self.calls.append(("execute", (sql, params)))
        self.threads.add(threading.current_thread().name)
        if sql == "boom":
            raise Boom(self.fail_with)
        if sql == "db":
            raise DriverDbError("duplicate key")
        if sql == "value":
            raise ValueError("bad value")
        return len(params)

    def query(self, sql: str, params: Json) -> Rows:
        self.calls.append(("query", sql))
        if sql == "slow":
            self.running.set()
            if not self.cancelled.wait(10):
                return Rows([], [])
            raise HostError("db", "canceling statement due to user request", sqlstate="57014")
        return Rows([Column("n", "integer", "int4")], [[1], [None]])

    def begin(self) -> None:
        self.calls.append(("begin", None))

    def cancel(self) -> None:
        self.calls.append(("cancel", threading.current_thread().name))
        self.cancelled.set()

    def close(self) -> None:
        self.closed = True

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        if isinstance(exc, DriverDbError):
            return ErrorInfo("db", str(exc), "23505", "1062")
        return None


class NoCancelAdapter(FakeAdapter):
    capabilities: ClassVar[tuple[str, ...]] = ("sql",)


class Running:
    """A Host on pipes, run in a thread (named `main`) as its process would run it; with a
    cancel channel unless `channel` is False."""

    def __init__(self, adapter: Adapter, channel: bool = True) -> None:
        in_r, self._in_w = os.pipe()
        self._out_r, out_w = os.pipe()
        self.adapter = adapter
        stdin: BinaryIO = os.fdopen(in_r, "rb")
        stdout: BinaryIO = os.fdopen(out_w, "wb", buffering=0)
        cancels: BinaryIO | None = None
        self._cancels: BinaryIO | None = None
        if channel:
            cancel_r, cancel_w = os.pipe()
            cancels = os.fdopen(cancel_r, "rb")
            self._cancels = os.fdopen(cancel_w, "wb", buffering=0)
        self.host = Host(adapter, stdin, stdout, cancels=cancels)
        self.exit_code: int | None = None
        self._writer = os.fdopen(self._in_w, "wb", buffering=0)
        self._lines: queue.Queue[bytes] = queue.Queue()
        self._reader = os.fdopen(self._out_r, "rb")
        threading.Thread(target=self._pump, daemon=True).start()
        self.thread = threading.Thread(target=self._run, name="main", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.exit_code = self.host.run()

    def _pump(self) -> None:
        for line in self._reader:
            self._lines.put(line)

    def write(self, raw: str) -> None:
        self._writer.write(raw.encode("utf-8"))

    def send(self, message: dict[str, Any]) -> None:
        self.write(json.dumps(message) + "\n")

    def send_cancel(self, message: dict[str, Any]) -> None:
        """A line on the cancel channel."""
        assert self._cancels is not None
        self._cancels.write(json.dumps(message).encode("utf-8") + b"\n")

    def line(self, timeout: float = 5) -> bytes:
        return self._lines.get(timeout=timeout)

    def receive(self, timeout: float = 5) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.line(timeout))
        return message

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        self.send(message)
        return self.receive()

    def end_input(self) -> None:
        self._writer.close()


@pytest.fixture
def running() -> Running:
    r = Running(FakeAdapter())
    hello = r.receive()
    assert hello["hello"] == "helios-matrix-driver-host"
    return r


def connect(r: Running, rid: int = 1, **extra: Any) -> None:
    answer = r.request({"id": rid, "op": "connect", "target": "fake://u:pw@h", **extra})
    assert answer == {"id": rid, "ok": True}


def test_hello_is_written_first_without_a_request() -> None:
    r = Running(FakeAdapter())
    line = r.line()
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    hello = json.loads(line)
    assert hello["hello"] == "helios-matrix-driver-host"
    # The version is the schema's, which helios-matrix generates from its own constant.
    assert hello["protocol"] == PROTOCOL
    assert hello["driver"] == "fake"
    assert hello["capabilities"] == ["sql", "transactions", "cancel"]
    assert hello["runtime"].startswith("CPython 3.")
    assert hello["driver_version"] not in ("", "unknown")


def test_a_capability_the_protocol_has_not_fails_before_any_hello() -> None:
    class Teleporting(FakeAdapter):
        capabilities: ClassVar[tuple[str, ...]] = ("sql", "teleport")

    with pytest.raises(
        ValueError, match=r"fake names capabilities the protocol has not: \['teleport'\]"
    ):
        hello(Teleporting())


def test_every_response_carries_its_requests_id(running: Running) -> None:
    connect(running, rid=7)
    assert running.request({"id": 8, "op": "execute", "sql": "x", "params": [1, 2]}) == {
        "id": 8,
        "ok": True,
        "rowcount": 2,
    }
    answer = running.request({"id": 9, "op": "query", "sql": "q", "params": []})
    assert answer == {
        "id": 9,
        "ok": True,
        "columns": [{"name": "n", "class": "integer", "native": "int4"}],
        "rows": [[1], [None]],
    }
    assert running.request({"id": 10, "op": "begin"}) == {"id": 10, "ok": True}


def test_requests_run_in_order_one_at_a_time(running: Running) -> None:
    connect(running)
    for i in range(2, 40):
        running.send({"id": i, "op": "execute", "sql": f"s{i}", "params": []})
    ids = [running.receive()["id"] for _ in range(2, 40)]
    assert ids == list(range(2, 40))
    executed = [args[0] for op, args in running.adapter.calls if op == "execute"]  # type: ignore[attr-defined]
    assert executed == [f"s{i}" for i in range(2, 40)]
    # No hand-off: each ran on the thread that read it.
    assert running.adapter.threads == {"main"}  # type: ignore[attr-defined]


def test_parameters_arrive_as_native_values(running: Running) -> None:
    connect(running)
    running.request(
        {
            "id": 2,
            "op": "execute",
            "sql": "p",
            "params": [None, True, 9, 0.5, "s", {"float": "NaN"}],
        }
    )
    (sql, params) = running.adapter.calls[-1][1]  # type: ignore[attr-defined]
    assert sql == "p"
    assert params[:5] == [None, True, 9, 0.5, "s"]
    assert params[5] != params[5]  # NaN
    running.request({"id": 3, "op": "execute", "sql": "n", "params": {"a": 1}})
    assert running.adapter.calls[-1][1] == ("n", {"a": 1})  # type: ignore[attr-defined]


def test_unknown_op_is_unsupported(running: Running) -> None:
    connect(running)
    answer = running.request({"id": 2, "op": "teleport"})
    assert answer["id"] == 2
    assert answer["ok"] is False
    assert answer["error"]["kind"] == "unsupported"
    assert "teleport" in answer["error"]["message"]


def test_an_op_the_driver_lacks_is_unsupported(running: Running) -> None:
    connect(running)
    answer = running.request({"id": 2, "op": "copy", "table": "t", "columns": ["a"], "rows": [[1]]})
    assert answer["error"]["kind"] == "unsupported"
    answer = running.request({"id": 3, "op": "vector", "operation": {"op": "list_indexes"}})
    assert answer["error"]["kind"] == "unsupported"


def test_a_request_before_connect_is_refused(running: Running) -> None:
    answer = running.request({"id": 1, "op": "query", "sql": "q", "params": []})
    assert answer["error"]["kind"] == "client"
    assert "connect" in answer["error"]["message"]


def test_malformed_lines_are_answered_and_the_session_goes_on(running: Running) -> None:
    running.write("this is not json\n")
    answer = running.receive()
    assert answer["id"] is None
    assert answer["error"]["kind"] == "client"
    running.write('{"op": "query"}\n')
    assert running.receive()["id"] is None
    running.write('{"id": 4}\n')
    answer = running.receive()
    assert answer["id"] == 4
    assert answer["error"]["kind"] == "client"
    running.write("\n")  # blank lines are nothing
    connect(running, rid=5)
    answer = running.request({"id": 6, "op": "query"})
    assert answer["error"]["kind"] == "client"
    assert "sql" in answer["error"]["message"]


def test_cancel_is_answered_while_the_previous_request_runs(running: Running) -> None:
    connect(running)
    running.send({"id": 2, "op": "query", "sql": "slow", "params": []})
    assert running.adapter.running.wait(5)  # type: ignore[attr-defined]
    started = time.monotonic()
    running.send_cancel({"id": 3, "op": "cancel"})
    first = running.receive()
    assert first == {"id": 3, "ok": True}
    assert time.monotonic() - started < 2
    second = running.receive()
    assert second["id"] == 2
    assert second["error"]["sqlstate"] == "57014"
    # The adapter's cancel ran on the cancel channel's thread, not the (busy) main one.
    cancels = [who for op, who in running.adapter.calls if op == "cancel"]  # type: ignore[attr-defined]
    assert cancels == ["cancels"]


def test_cancel_with_nothing_running_is_a_no_op(running: Running) -> None:
    running.send_cancel({"id": 1, "op": "cancel"})
    assert running.receive() == {"id": 1, "ok": True}
    connect(running, rid=2)
    running.send_cancel({"id": 3, "op": "cancel"})
    assert running.receive() == {"id": 3, "ok": True}
    # On stdin a cancel is read between requests: there is nothing to cancel.
    assert running.request({"id": 4, "op": "cancel"}) == {"id": 4, "ok": True}


def test_only_cancel_comes_on_the_cancel_channel(running: Running) -> None:
    connect(running)
    running.send_cancel({"id": 2, "op": "execute", "sql": "x", "params": []})
    answer = running.receive()
    assert answer["id"] == 2
    assert answer["error"]["kind"] == "client"
    assert "cancel channel" in answer["error"]["message"]
    assert ("execute", ("x", [])) not in running.adapter.calls  # type: ignore[attr-defined]


def test_a_host_without_a_cancel_channel_runs_requests() -> None:
    r = Running(FakeAdapter(), channel=False)
    r.receive()
    connect(r)
    assert r.request({"id": 2, "op": "execute", "sql": "x", "params": [1]})["rowcount"] == 1
    assert r.request({"id": 3, "op": "cancel"}) == {"id": 3, "ok": True}
    assert r.request({"id": 4, "op": "close"}) == {"id": 4, "ok": True}
    r.thread.join(5)
    assert r.exit_code == 0


def test_cancel_without_a_cancel_api_is_unsupported() -> None:
    r = Running(NoCancelAdapter())
    r.receive()
    r.send_cancel({"id": 1, "op": "cancel"})
    answer = r.receive()
    assert answer["id"] == 1
    assert answer["error"]["kind"] == "unsupported"
    assert r.request({"id": 2, "op": "cancel"})["error"]["kind"] == "unsupported"


def test_concurrent_answers_never_interleave(running: Running) -> None:
    connect(running)
    n = 300
    for i in range(n):
        running.send({"id": 2 + 2 * i, "op": "execute", "sql": "x", "params": []})
        running.send_cancel({"id": 3 + 2 * i, "op": "cancel"})
    seen = set()
    for _ in range(2 * n):
        line = running.line()
        seen.add(json.loads(line)["id"])  # each line is one whole JSON object
    assert seen == set(range(2, 2 + 2 * n))


def test_errors_are_classified(running: Running) -> None:
    connect(running)
    error = running.request({"id": 2, "op": "execute", "sql": "boom", "params": []})["error"]
    assert error == {
        "kind": "client",
        "message": "kaput",
        "sqlstate": None,
        "code": None,
        "exception": "tests.test_host.Boom",
    }
    error = running.request({"id": 3, "op": "execute", "sql": "db", "params": []})["error"]
    assert error == {
        "kind": "db",
        "message": "duplicate key",
        "sqlstate": "23505",
        "code": "1062",
        "exception": "tests.test_host.DriverDbError",
    }
    error = running.request({"id": 4, "op": "execute", "sql": "value", "params": []})["error"]
    assert error["kind"] == "client"
    assert error["exception"] == "ValueError"
    error = running.request({"id": 5, "op": "execute", "sql": "x", "params": [{"bytes": "AA=="}]})
    assert error["error"]["kind"] == "client"


def test_a_failed_connect_is_kind_connect_and_keeps_the_target_secret(running: Running) -> None:
    answer = running.request(
        {"id": 1, "op": "connect", "target": "fake://user:s3cret@refuse/db", "autocommit": False}
    )
    error = answer["error"]
    assert error["kind"] == "connect"
    assert error["exception"] == "tests.test_host.Boom"
    assert "s3cret" not in json.dumps(answer)
    assert "fake://" not in error["message"]


def test_only_connect_errors_hide_the_password() -> None:
    r = Running(FakeAdapter())
    r.receive()
    assert r.request({"id": 1, "op": "connect", "target": "fake://u:key@h"})["ok"] is True
    r.adapter.fail_with = "no key column in fake://u:key@h"  # type: ignore[attr-defined]
    error = r.request({"id": 2, "op": "execute", "sql": "boom", "params": []})["error"]
    # The URL is never shown; the password alone is a word like any other here.
    assert error["message"] == "no key column in ****"


def test_close_answers_then_ends_the_session() -> None:
    r = Running(FakeAdapter())
    r.receive()
    connect(r)
    assert r.request({"id": 2, "op": "close"}) == {"id": 2, "ok": True}
    r.thread.join(5)
    assert r.exit_code == 0
    assert r.adapter.closed  # type: ignore[attr-defined]


def test_end_of_input_closes_and_exits() -> None:
    r = Running(FakeAdapter())
    r.receive()
    connect(r)
    r.end_input()
    r.thread.join(5)
    assert not r.thread.is_alive()
    assert r.exit_code == 0
    assert r.adapter.closed  # type: ignore[attr-defined]


def test_close_before_connect_is_fine() -> None:
    r = Running(FakeAdapter())
    r.receive()
    assert r.request({"id": 1, "op": "close"}) == {"id": 1, "ok": True}
    r.thread.join(5)
    assert r.exit_code == 0
    assert not r.adapter.closed  # type: ignore[attr-defined]


def test_disconnect_closes_the_session_and_the_next_connect_gets_a_fresh_adapter() -> None:
    first = FakeAdapter()
    r = Running(first)
    assert r.receive()["reconnect"] is True
    connect(r)
    assert r.request({"id": 2, "op": "execute", "sql": "x", "params": []})["ok"] is True
    assert r.request({"id": 3, "op": "disconnect"}) == {"id": 3, "ok": True}
    assert first.closed
    assert r.thread.is_alive()  # the host stays for the next session
    # Nothing of the first session's adapter carries over.
    assert r.host.adapter is not first
    assert (
        r.request({"id": 4, "op": "execute", "sql": "x", "params": []})["error"]["kind"] == "client"
    )
    connect(r, rid=5)
    second = r.host.adapter
    assert second.calls == [("connect", True)]  # type: ignore[attr-defined]
    assert r.request({"id": 6, "op": "close"}) == {"id": 6, "ok": True}
    r.thread.join(5)
    assert r.exit_code == 0
    assert second.closed  # type: ignore[attr-defined]


def test_pipelined_requests_stop_at_the_first_that_ends_otherwise_than_expected(
    running: Running,
) -> None:
    connect(running)
    lines = [
        {"id": 2, "op": "execute", "sql": "a", "params": [], "expect": "ok"},
        {"id": 3, "op": "execute", "sql": "db", "params": [], "expect": "error", "pipelined": True},
        {
            "id": 4,
            "op": "execute",
            "sql": "boom",
            "params": [],
            "expect": "error",
            "pipelined": True,
        },
        {"id": 5, "op": "execute", "sql": "b", "params": [], "expect": "ok", "pipelined": True},
        {"id": 6, "op": "execute", "sql": "c", "params": [], "pipelined": True},
        # Not pipelined: it runs whatever came before it.
        {"id": 7, "op": "execute", "sql": "d", "params": [], "expect": "ok"},
    ]
    running.write("".join(json.dumps(line) + "\n" for line in lines))
    answers = [running.receive() for _ in lines]
    assert [a["id"] for a in answers] == [2, 3, 4, 5, 6, 7]
    # `boom` is a client error where a server error was expected: what follows is skipped.
    kinds = [a["error"]["kind"] if not a["ok"] else "ok" for a in answers]
    assert kinds == ["ok", "db", "client", "skipped", "skipped", "ok"]
    ran = [call[1][0] for call in running.adapter.calls if call[0] == "execute"]  # type: ignore[attr-defined]
    assert ran == ["a", "db", "boom", "d"]


def test_pipelining_flags_are_checked(running: Running) -> None:
    connect(running)
    answer = running.request({"id": 2, "op": "execute", "sql": "a", "params": [], "expect": "?"})
    assert answer["error"]["kind"] == "client"
    assert "`expect`" in answer["error"]["message"]
    # A malformed request counts as one that did not end as expected.
    answer = running.request(
        {"id": 3, "op": "execute", "sql": "b", "params": [], "expect": "ok", "pipelined": True}
    )
    assert answer["error"]["kind"] == "skipped"


def test_an_answer_held_behind_waiting_requests_is_not_held_by_a_slow_one(
    running: Running,
) -> None:
    connect(running)
    fast = {"id": 2, "op": "query", "sql": "q", "params": [], "expect": "ok"}
    slow = {"id": 3, "op": "query", "sql": "slow", "params": [], "pipelined": True}
    running.write(json.dumps(fast) + "\n" + json.dumps(slow) + "\n")
    # The slow query is running, and the fast one's answer, held while it waited behind
    # it, has come out anyway.
    assert running.receive(timeout=2)["id"] == 2
    assert running.adapter.running.is_set()  # type: ignore[attr-defined]
    running.send_cancel({"id": 4, "op": "cancel"})
    assert {running.receive()["id"], running.receive()["id"]} == {3, 4}

"""The protocol's framing (docs/driver-host.md, Transport): the hello line, then one JSON
request per line on the input and one JSON response per line on the output.

The main thread reads each request and runs it itself, one at a time, in order: no hand-off
to another thread stands between a request and its driver call. `cancel` comes on a channel
of its own (the descriptor `HELIOS_DRIVER_HOST_CANCEL_FD` names), read by a thread that
answers it at once, while the main thread may still be inside the request it cancels.
Responses go out through one locked writer, so that a cancel's answer and the main
thread's never interleave.

Requests may come pipelined (sent before the answer to the one before): each says how it
is expected to end, and a pipelined request runs only if every request since the last one
not pipelined ended so; otherwise it is answered `skipped`, not run. Answers to requests
run while others wait are written together (see `lines`)."""

from __future__ import annotations

import json
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from importlib import metadata
from typing import Any, BinaryIO

from .adapter import Adapter, ErrorInfo, HostError, qualified_name
from .lines import Answers, Requests
from .protocol import CAPABILITIES, GREETING, PROTOCOL
from .targets import parse
from .values import Json, decode_param

# One encoder for every line (json.dumps with arguments builds a new one per call), compact:
# a line is read by a program.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
# json.loads would detect the encoding of every line's bytes first: they are UTF-8.
_decode = json.JSONDecoder().decode


def driver_version(adapter: Adapter) -> str:
    try:
        return metadata.version(adapter.distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def hello(adapter: Adapter) -> dict[str, Json]:
    unknown = sorted(set(adapter.capabilities) - CAPABILITIES)
    if unknown:
        # helios-matrix would refuse the hello: say which names, and here.
        raise ValueError(f"{adapter.name} names capabilities the protocol has not: {unknown}")
    return {
        "hello": GREETING,
        "protocol": PROTOCOL,
        "driver": adapter.name,
        "driver_version": driver_version(adapter),
        "runtime": f"{platform.python_implementation()} {platform.python_version()}",
        "capabilities": list(adapter.capabilities),
        # After `disconnect`, this host takes another `connect` with a fresh adapter.
        "reconnect": True,
    }


def decode_params(params: Json) -> Any:
    """A list (positional styles) or an object (`:name`) of native values; absent is []."""
    if params is None:
        return []
    if isinstance(params, list):
        return [decode_param(v) for v in params]
    if isinstance(params, dict):
        return {str(k): decode_param(v) for k, v in params.items()}
    raise HostError("client", "`params` must be a list or an object")


def _arg(request: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = request.get(name)
    # bool is an int: an integer argument must not accept true/false.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise HostError("client", f"`{request.get('op')}` needs `{name}`")
    return value


def _line(message: dict[str, Json]) -> bytes:
    return (_encode(message) + "\n").encode("utf-8")


def _outcome(answer: dict[str, Json]) -> str:
    """What `expect` calls an answer: `ok`, `error` (the server refused), or neither."""
    if answer["ok"]:
        return "ok"
    error = answer.get("error")
    return "error" if isinstance(error, dict) and error.get("kind") == "db" else "other"


class Host:
    def __init__(
        self,
        adapter: Adapter,
        stdin: BinaryIO,
        stdout: BinaryIO,
        fresh: Callable[[], Adapter] | None = None,
        cancels: BinaryIO | None = None,
    ) -> None:
        self.adapter = adapter
        # Makes the adapter the next session starts with: nothing of a session's adapter
        # (its transaction flags, cursors, event loop) outlives `disconnect`.
        self._fresh = fresh or type(adapter)
        self._requests = Requests(stdin)
        # The cancel channel; without one (a host started by hand) nothing can be cancelled.
        self._cancels = cancels
        self._answers = Answers(stdout, threading.Lock())
        self._connected = False
        # A request since the last one not pipelined ended otherwise than its `expect`.
        self._broken = False
        # Strings that must never leave the host: the target URL and its password.
        self._secrets: list[str] = []

    # ---------------------------------------------------------------- output

    def send(self, message: dict[str, Json], hold: bool = False) -> None:
        """Writes one line (or holds it while another request waits: `hold`)."""
        with self._answers.lock:
            self._answers.write(_line(message), hold)

    def _scrub(self, text: str, password: bool = True) -> str:
        """`text` without the target URL and, unless `password` is False, its password.
        Answers scrub the password only when connecting: anywhere else it would also
        mask innocent words (a password `test` in `relation "test_data"`)."""
        for i, secret in enumerate(self._secrets):
            if i == 0 or password:
                text = text.replace(secret, "****")
        return text

    def _log(self, text: str) -> None:
        print(f"driver-host[{self.adapter.name}]: {self._scrub(text)}", file=sys.stderr, flush=True)

    # ---------------------------------------------------------------- main loop

    def run(self) -> int:
        self.send(hello(self.adapter))
        if self._cancels is not None:
            threading.Thread(target=self._read_cancels, name="cancels", daemon=True).start()
        while True:
            try:
                raw = self._requests.readline()
            except (OSError, ValueError) as e:
                self._log(f"reading requests failed: {e}")
                break
            if not raw:
                break
            request = self._parse(raw)
            if request is None:
                continue
            if request["op"] == "cancel":
                # On stdin a cancel is read only between requests: nothing to cancel.
                self._cancel(request)
                continue
            answer = self._pipelined(request)
            if request["op"] == "close":
                self.send(answer)
                return 0
            self.send(answer, hold=self._requests.waiting())
        # End of input: close quietly and exit, as after `close`.
        self._close_quietly()
        return 0

    def _read_cancels(self) -> None:
        """The cancel channel's thread: answers each `cancel` at once."""
        assert self._cancels is not None
        try:
            for raw in self._cancels:
                request = self._parse(raw)
                if request is None:
                    continue
                if request["op"] != "cancel":
                    self._reject(request["id"], f"`{request['op']}` on the cancel channel")
                    continue
                self._cancel(request)
        except (OSError, ValueError) as e:
            self._log(f"reading the cancel channel failed: {e}")

    def _parse(self, raw: bytes) -> dict[str, Any] | None:
        """A request line as a request; None for a blank line, or one already answered
        as malformed."""
        if not raw.strip():
            return None
        try:
            request = _decode(raw.decode("utf-8"))
        except ValueError as e:  # not JSON, or not UTF-8
            self._reject(None, f"a request is not JSON: {e}")
            return None
        if not isinstance(request, dict):
            self._reject(None, "a request must be a JSON object")
            return None
        rid = request.get("id")
        if not isinstance(rid, int) or isinstance(rid, bool):
            self._reject(None, "a request needs an integer `id`")
            return None
        if not isinstance(request.get("op"), str):
            self._reject(rid, "a request needs an `op`")
            return None
        return request

    def _reject(self, rid: int | None, message: str) -> None:
        self.send({"id": rid, "ok": False, "error": ErrorInfo("client", message).to_json()})

    def _cancel(self, request: dict[str, Any]) -> None:
        """Cancels the request in flight and answers, holding the writer meanwhile: the
        cancelled request's answer, which the cancel may release at once, comes after."""
        with self._answers.lock:
            try:
                if "cancel" not in self.adapter.capabilities:
                    raise HostError("unsupported", f"{self.adapter.name} has no cancel API")
                if self._connected:
                    self.adapter.cancel()
                answer: dict[str, Json] = {"id": request["id"], "ok": True}
            except Exception as e:
                answer = self._failure(request, e)
            self._answers.write(_line(answer))

    # ---------------------------------------------------------------- requests

    def _pipelined(self, request: dict[str, Any]) -> dict[str, Json]:
        """Runs a request unless it is pipelined behind one that did not end as expected;
        its answer."""
        pipelined = request.get("pipelined", False)
        expect = request.get("expect")
        if not isinstance(pipelined, bool) or expect not in (None, "ok", "error"):
            self._broken = True
            message = "`pipelined` must be a boolean and `expect` `ok` or `error`"
            return self._failure(request, HostError("client", message))
        if not pipelined:
            self._broken = False
        elif self._broken:
            message = "a request before it in its pipeline did not end as expected"
            return self._failure(request, HostError("skipped", message))
        answer = self._handle(request)
        if expect is not None and expect != _outcome(answer):
            self._broken = True
        return answer

    def _handle(self, request: dict[str, Any]) -> dict[str, Json]:
        try:
            results = self._dispatch(request)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt | SystemExit):
                raise
            return self._failure(request, e)
        return {"id": request["id"], "ok": True, **results}

    def _dispatch(self, request: dict[str, Any]) -> dict[str, Json]:
        op = request["op"]
        a = self.adapter
        if op == "connect":
            return self._connect(request)
        if op in ("close", "disconnect"):
            return self._end_session(reconnect=op == "disconnect")
        if op not in ("execute", "query", "fetch", "begin", "commit", "rollback", "copy", "vector"):
            raise HostError("unsupported", f"unknown op `{op}`")
        if not self._connected:
            raise HostError("client", f"`{op}` before `connect`")
        if op == "execute":
            sql = _arg(request, "sql", str)
            return {"rowcount": a.execute(sql, decode_params(request.get("params")))}
        if op == "query":
            sql = _arg(request, "sql", str)
            result = a.query(sql, decode_params(request.get("params")))
            return {"columns": [c.to_json() for c in result.columns], "rows": result.rows}
        if op == "fetch":
            sql = _arg(request, "sql", str)
            batch = _arg(request, "batch", int)
            max_batches = _arg(request, "max_batches", int)
            if batch < 1 or max_batches < 0:
                raise HostError("client", "`batch` must be at least 1 and `max_batches` at least 0")
            read = a.fetch(sql, decode_params(request.get("params")), batch, max_batches)
            return {"columns": [c.to_json() for c in read.columns], "batches": read.batches}
        if op == "begin":
            a.begin()
            return {}
        if op == "commit":
            a.commit()
            return {}
        if op == "rollback":
            a.rollback()
            return {}
        if op == "copy":
            table = _arg(request, "table", str)
            columns = _arg(request, "columns", list)
            rows = _arg(request, "rows", list)
            if not all(isinstance(row, list) for row in rows):
                raise HostError("client", "`copy` rows must be lists of values")
            decoded = [[decode_param(v) for v in row] for row in rows]
            return {"rowcount": a.copy(table, [str(c) for c in columns], decoded)}
        operation = _arg(request, "operation", dict)
        return {"answer": a.vector(operation)}

    def _connect(self, request: dict[str, Any]) -> dict[str, Json]:
        if self._connected:
            raise HostError("client", "already connected")
        target = _arg(request, "target", str)
        self._secrets = [target]
        password = parse(target).password
        if password:
            self._secrets.append(password)
        autocommit = request.get("autocommit", True)
        if not isinstance(autocommit, bool):
            raise HostError("client", "`autocommit` must be a boolean")
        self.adapter.connect(target, autocommit)
        self._connected = True
        return {}

    def _end_session(self, reconnect: bool) -> dict[str, Json]:
        """`close` and `disconnect`: the connection goes; after `disconnect` the next
        session starts from a fresh adapter."""
        if self._connected:
            self._connected = False
            self.adapter.close()
        if reconnect:
            self.adapter = self._fresh()
            self._secrets = []
        return {}

    def _failure(self, request: dict[str, Any], exc: BaseException) -> dict[str, Json]:
        op = request.get("op")
        if isinstance(exc, HostError):
            info = exc.info
        else:
            info = self.adapter.classify(exc) or ErrorInfo("client", str(exc))
            info.exception = info.exception or qualified_name(exc)
            info.message = info.message or info.exception
            # A driver failing to connect cannot connect, whatever its exception says.
            if op == "connect":
                info.kind = "connect"
            elif info.kind == "client":
                self._log(f"`{op}` failed:\n" + "".join(traceback.format_exception(exc)))
        info.message = self._scrub(info.message, password=op == "connect")
        return {"id": request["id"], "ok": False, "error": info.to_json()}

    def _close_quietly(self) -> None:
        if not self._connected:
            return
        self._connected = False
        try:
            self.adapter.close()
        except Exception as e:
            self._log(f"closing at end of input failed: {qualified_name(e)}: {e}")

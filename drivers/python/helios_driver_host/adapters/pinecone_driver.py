"""The official Pinecone SDK: no SQL, vector operations only.

The data plane (upsert, query, fetch, delete vectors, index stats) goes through the SDK's
index client (`pc.index(host=…)`, at the host the index's description gives). The control
plane (create, list, describe, delete index) goes over plain HTTP: the SDK does not parse
the emulator's index descriptions (they lack `spec`), and the protocol's answers for
those operations are the server's JSON anyway."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urljoin

import msgspec
from pinecone import Pinecone
from pinecone.errors.exceptions import ApiError, PineconeConnectionError, PineconeTimeoutError

from ..adapter import Adapter, ErrorInfo, HostError, qualified_name
from ..targets import parse
from ..values import Json

# The control-plane API version the requests name (the one the Rust executor speaks).
API_VERSION = "2024-07"
# Vectors per upsert request (Pinecone's recommended batch size).
UPSERT_BATCH = 100
# How long a new index may take to report itself ready, and how often to ask.
READY_TIMEOUT = 30.0
READY_POLL = 0.2
HTTP_TIMEOUT = 30.0


def unsuffixed(answer: dict[str, Json], suffix: str) -> dict[str, Json]:
    """An answer with a worker's index suffix taken off the names it reports; a listing
    keeps only the worker's own indexes."""
    indexes = answer.get("indexes")
    if isinstance(indexes, list):
        own = [n[: -len(suffix)] for n in indexes if isinstance(n, str) and n.endswith(suffix)]
        return {**answer, "indexes": own}
    described = answer.get("json")
    if isinstance(described, dict):
        name = described.get("name")
        if isinstance(name, str) and name.endswith(suffix):
            return {**answer, "json": {**described, "name": name[: -len(suffix)]}}
    return answer


def vector_values(spec: Json) -> list[float]:
    """A vector as the step gives it: a list of numbers, or `{"fill": x, "dim": n}`."""
    if isinstance(spec, dict) and set(spec) == {"fill", "dim"}:
        return [float(spec["fill"])] * int(spec["dim"])
    if isinstance(spec, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in spec
    ):
        return [float(v) for v in spec]
    raise HostError("client", "a vector must be a list of numbers or {fill, dim}")


def _arg(operation: dict[str, Any], name: str) -> Any:
    if name not in operation:
        raise HostError("client", f"`{operation.get('op')}` needs `{name}`")
    return operation[name]


def _without_nulls(value: Json) -> Json:
    """The SDK's answer objects have a field for everything the API may send; the ones
    the server did not send are None."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def wire_form(answer: object) -> Json:
    """An SDK answer as the API's JSON (camelCase, as the SDK's structs declare their
    wire names), without the SDK's own HTTP metadata."""
    data = msgspec.to_builtins(answer)
    if isinstance(data, dict):
        data.pop("responseInfo", None)
        data.pop("response_info", None)
    return _without_nulls(data)


class PineconeAdapter(Adapter):
    name = "pinecone"
    distribution = "pinecone"
    capabilities = ("vectors",)

    def __init__(self) -> None:
        self.base = ""
        self.api_key = ""
        self.pc: Pinecone | None = None
        self._indexes: dict[str, Any] = {}
        self.index_suffix = ""
        self.tls: ssl.SSLContext | None = None

    def connect(self, target: str, autocommit: bool) -> None:
        # `http://HOST:PORT[/PREFIX]`, the API key as the password or `?api_key=`.
        t = parse(target)
        if t.scheme not in ("http", "https"):
            raise HostError("client", f"a {t.scheme}:// target is not a Pinecone URL")
        port = f":{t.port}" if t.port else ""
        prefix = "".join("/" + quote(p) for p in t.path)
        self.base = f"{t.scheme}://{t.require_host()}{port}{prefix}"
        self.api_key = t.password or t.query.get("api_key") or "helios-matrix"
        # A worker's indexes carry its suffix on the server (`--jobs`, exec/workspace.rs).
        self.index_suffix = t.query.get("index-suffix", "")
        ca_file = t.ca_file()
        self.tls = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.pc = Pinecone(api_key=self.api_key, host=self.base, ssl_ca_certs=ca_file)

    # ------------------------------------------------------------ control plane (HTTP)

    def _http(self, method: str, path: str, body: Json = None) -> Json:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={
                "Api-Key": self.api_key,
                "X-Pinecone-Api-Version": API_VERSION,
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(
                request, timeout=HTTP_TIMEOUT, context=self.tls
            ) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            raise api_error(e.code, e.read().decode("utf-8", errors="replace"), e) from e
        return json.loads(text) if text.strip() else {}

    def _describe(self, name: str) -> dict[str, Any]:
        described = self._http("GET", f"/indexes/{quote(name, safe='')}")
        if not isinstance(described, dict):
            raise HostError("client", f"the description of index `{name}` is not an object")
        return described

    def _index(self, name: str) -> tuple[Any, str | None]:
        """The SDK's client for an index's data plane, and the index's metric."""
        described = self._describe(name)
        host = described.get("host")
        if not isinstance(host, str) or not host:
            raise HostError("client", f"index `{name}` has no host in its description")
        # A host without a scheme is Pinecone's usual form; the emulator gives a URL.
        url = host if "://" in host else urljoin(self.base + "/", host)
        if url not in self._indexes:
            assert self.pc is not None
            self._indexes[url] = self.pc.index(host=url)
        metric = described.get("metric")
        return self._indexes[url], metric if isinstance(metric, str) else None

    def _wait_ready(self, name: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            described = self._describe(name)
            status = described.get("status")
            # A description without the flag says nothing about readiness: keep waiting.
            if isinstance(status, dict) and status.get("ready") is True:
                return
            if time.monotonic() > deadline:
                raise HostError(
                    "client",
                    f"index `{name}` did not report `status.ready: true` within "
                    f"{READY_TIMEOUT:.0f}s; last description: {json.dumps(described)}",
                )
            time.sleep(READY_POLL)

    # ------------------------------------------------------------ operations

    def vector(self, operation: dict[str, Any]) -> dict[str, Json]:
        suffix = self.index_suffix
        if not suffix:
            return self._vector(operation)
        renamed = {
            k: v + suffix if k in ("name", "index") and isinstance(v, str) else v
            for k, v in operation.items()
        }
        return unsuffixed(self._vector(renamed), suffix)

    def _vector(self, operation: dict[str, Any]) -> dict[str, Json]:
        op = operation.get("op")
        if op == "create_index":
            name = _arg(operation, "name")
            self._http(
                "POST",
                "/indexes",
                {
                    "name": name,
                    "dimension": _arg(operation, "dimension"),
                    "metric": operation.get("metric") or "cosine",
                    "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}},
                },
            )
            self._wait_ready(name)
            return {"done": True}
        if op == "list_indexes":
            listed = self._http("GET", "/indexes")
            indexes = listed.get("indexes") if isinstance(listed, dict) else None
            if not isinstance(indexes, list):
                raise HostError("client", "`indexes` is not a list in the answer")
            return {"indexes": [i["name"] for i in indexes if isinstance(i, dict) and "name" in i]}
        if op == "describe_index":
            return {"json": self._describe(_arg(operation, "name"))}
        if op == "delete_index":
            self._http("DELETE", f"/indexes/{quote(_arg(operation, 'name'), safe='')}")
            self._indexes.clear()
            return {"done": True}
        if op in ("upsert", "vector_query", "fetch_vectors", "delete_vectors"):
            return self._data(op, operation)
        if op == "describe_index_stats":
            index, _ = self._index(_arg(operation, "index"))
            return {"json": wire_form(index.describe_index_stats())}
        raise HostError("unsupported", f"unknown vector operation `{op}`")

    def _data(self, op: str, operation: dict[str, Any]) -> dict[str, Json]:
        index, metric = self._index(_arg(operation, "index"))
        namespace = operation.get("namespace") or ""
        if op == "upsert":
            vectors = []
            for v in _arg(operation, "vectors"):
                if not isinstance(v, dict) or not isinstance(v.get("id"), str):
                    raise HostError("client", "an upserted vector needs a string `id`")
                record: dict[str, Any] = {"id": v["id"], "values": vector_values(v.get("values"))}
                if v.get("metadata") is not None:
                    record["metadata"] = v["metadata"]
                vectors.append(record)
            upserted = 0
            for start in range(0, len(vectors), UPSERT_BATCH):
                chunk = vectors[start : start + UPSERT_BATCH]
                # The count is the server's word; the number sent is not an answer.
                upserted += index.upsert(vectors=chunk, namespace=namespace).upserted_count
            return {"upserted": upserted}
        if op == "vector_query":
            kwargs: dict[str, Any] = {
                "top_k": _arg(operation, "top_k"),
                "namespace": namespace,
                "include_metadata": bool(operation.get("include_metadata", True)),
                "include_values": False,
            }
            if operation.get("vector") is not None:
                kwargs["vector"] = vector_values(operation["vector"])
            if operation.get("id") is not None:
                kwargs["id"] = operation["id"]
            if operation.get("filter") is not None:
                kwargs["filter"] = operation["filter"]
            answer = index.query(**kwargs)
            matches = []
            for m in answer.matches:
                match: dict[str, Json] = {"id": m.id, "score": m.score}
                if m.metadata is not None:
                    match["metadata"] = m.metadata
                matches.append(match)
            return {"matches": matches, "metric": metric}
        if op == "fetch_vectors":
            fetched = index.fetch(ids=list(_arg(operation, "ids")), namespace=namespace)
            return {"ids": sorted(fetched.vectors.keys())}
        # delete_vectors
        kwargs = {"namespace": namespace}
        if operation.get("ids"):
            kwargs["ids"] = list(operation["ids"])
        if operation.get("delete_all"):
            kwargs["delete_all"] = True
        if operation.get("filter") is not None:
            kwargs["filter"] = operation["filter"]
        index.delete(**kwargs)
        return {"done": True}

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        if isinstance(exc, ApiError):
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            code = exc.error_code or (error or {}).get("code") or str(exc.status_code)
            return ErrorInfo(
                "db",
                f"HTTP {exc.status_code}: {exc.message}",
                None,
                str(code),
                qualified_name(exc),
            )
        if isinstance(exc, PineconeConnectionError | PineconeTimeoutError | urllib.error.URLError):
            return ErrorInfo("connect", str(exc), None, None, qualified_name(exc))
        return None


def api_error(status: int, text: str, exc: BaseException) -> HostError:
    """A control-plane answer with an error status, as Pinecone's `{error: {code,
    message}}` says it."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    error = body.get("error", body) if isinstance(body, dict) else None
    code = message = None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
    return HostError(
        "db",
        f"HTTP {status}: {message if isinstance(message, str) else text.strip()}",
        code=str(code) if code is not None else str(status),
        exception=qualified_name(exc),
    )

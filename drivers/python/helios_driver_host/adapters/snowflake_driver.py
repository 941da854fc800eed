"""snowflake-connector-python: `?` (qmark) parameters, `conn.autocommit(…)`, `BEGIN` /
`conn.commit()` / `conn.rollback()`, `fetchmany` over the result, `executemany` (one
array-bound INSERT) for `copy`.

`cancel` takes the connector's own cancel path, the one `execute(timeout=…)` and Ctrl-C
take: an abort-request naming the running statement's request id. The public
`cursor.abort_query(sfqid)` needs the statement's query id, which a synchronous
`execute` only learns when the statement is over."""

from __future__ import annotations

from typing import Any

import snowflake.connector
from snowflake.connector import errors as sferrors
from snowflake.connector.constants import FIELD_ID_TO_NAME

from ..adapter import FULL_SQL, Column, ErrorInfo, HostError, qualified_name
from ..targets import parse, trust_ca_file
from .dbapi import DbapiAdapter

# The server's error numbers are below 200000 (001003: SQL compilation error, 100038:
# numeric value not recognized, …); the connector numbers its own failures above.
SERVER_ERRNOS = range(200000)
# The connection or session is gone: connection closed, session expired, session gone.
LOST_ERRNOS = frozenset({250002, 390111, 390112, 390114})
# The server answered with an HTTP error status (the connector's class per status).
HTTP_ERRORS = (
    sferrors.HttpError,
    sferrors.BadRequest,
    sferrors.ForbiddenError,
    sferrors.MethodNotAllowed,
    sferrors.RequestTimeoutError,
    sferrors.TooManyRequests,
    sferrors.InternalServerError,
    sferrors.BadGatewayError,
    sferrors.ServiceUnavailableError,
    sferrors.GatewayTimeoutError,
    sferrors.OtherHTTPRetryableError,
)
# Connector options a target may set in its query string (seconds). By default the
# connector retries a request the server answers with a 5xx status for ever.
TIMEOUT_OPTIONS = ("login_timeout", "network_timeout", "socket_timeout")


def snowflake_class(logical: str, scale: int | None) -> str:
    """A logical type's portable class (FIXED with a scale is a decimal)."""
    if logical == "FIXED":
        return "integer" if not scale else "decimal"
    if logical.startswith("TIMESTAMP"):
        return "timestamp"
    return {
        "DECFLOAT": "decimal",
        "REAL": "float",
        "TEXT": "text",
        "BOOLEAN": "boolean",
        "DATE": "date",
        "TIME": "time",
        "BINARY": "bytes",
        "VARIANT": "json",
        "OBJECT": "json",
        "MAP": "json",
        "ARRAY": "array",
        "VECTOR": "vector",
        "INTERVAL_YEAR_MONTH": "interval",
        "INTERVAL_DAY_TIME": "interval",
    }.get(logical, "other")


def snowflake_connect_args(target: str) -> dict[str, Any]:
    """`http(s)://USER:PASSWORD@HOST:PORT/DATABASE/SCHEMA?account=A&warehouse=W&role=R`."""
    t = parse(target)
    if t.scheme not in ("http", "https"):
        raise HostError("client", f"a {t.scheme}:// target is not a Snowflake URL")
    account = t.query.get("account")
    if not account:
        raise HostError("client", "the Snowflake target needs `?account=`")
    args: dict[str, Any] = {
        "user": t.user,
        "password": t.password,
        "account": account,
        "host": t.require_host(),
        "port": t.port or (443 if t.scheme == "https" else 80),
        "protocol": t.scheme,
        "database": t.path[0] if t.path else None,
        "schema": t.path[1] if len(t.path) > 1 else None,
        "warehouse": t.query.get("warehouse"),
        "role": t.query.get("role"),
        # The spec's SQL is compiled to `?` placeholders: qmark binds them server-side.
        "paramstyle": "qmark",
    }
    for option in TIMEOUT_OPTIONS:
        if option in t.query:
            try:
                args[option] = int(t.query[option])
            except ValueError:
                raise HostError("client", f"`{option}` must be a number of seconds") from None
    return {k: v for k, v in args.items() if v is not None}


class SnowflakeAdapter(DbapiAdapter):
    name = "snowflake-connector-python"
    distribution = "snowflake-connector-python"
    capabilities = FULL_SQL
    placeholder = "?"

    def __init__(self) -> None:
        super().__init__()
        self._sql: str | None = None

    def connect(self, target: str, autocommit: bool) -> None:
        # The connector's TLS reads REQUESTS_CA_BUNDLE when it opens a socket.
        trust_ca_file(parse(target))
        self.conn = snowflake.connector.connect(**snowflake_connect_args(target))
        self.conn.autocommit(autocommit)
        self.autocommit = autocommit

    def columns(self, cursor: Any) -> list[Column]:
        columns = []
        for d in cursor.description:
            logical = FIELD_ID_TO_NAME.get(d.type_code, f"type {d.type_code}")
            native = f"{logical}({d.precision},{d.scale})" if logical == "FIXED" else logical
            columns.append(Column(d.name, snowflake_class(logical, d.scale), native))
        return columns

    def run(self, cursor: Any, sql: str, params: Any) -> None:
        with self._lock:
            self._sql = sql
        cursor.execute(sql, params if params else None)

    def begin(self) -> None:
        # With autocommit off, the next DML opens the transaction (DB-API style).
        if self.autocommit:
            with self.conn.cursor() as cur:
                cur.execute("BEGIN")

    def cancel(self) -> None:
        with self._lock:
            cursor, sql = self.active, self._sql
        request_id = getattr(cursor, "_request_id", None)
        if cursor is None or sql is None or request_id is None:
            return
        self.conn._cancel_query(sql, request_id)

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        if not isinstance(exc, sferrors.Error):
            return None
        errno = exc.errno if isinstance(exc.errno, int) and exc.errno >= 0 else None
        sqlstate = exc.sqlstate if exc.sqlstate and exc.sqlstate != "n/a" else None
        conn = self.conn
        if errno in LOST_ERRNOS or conn is None or conn.is_closed():
            kind = "lost"
        elif isinstance(exc, HTTP_ERRORS) or (
            isinstance(exc, sferrors.DatabaseError) and errno in SERVER_ERRNOS
        ):
            kind = "db"  # the server's error: a SQL error, or an HTTP error status
        else:
            kind = "client"
        message = exc.raw_msg or str(exc)
        code = f"{errno:06d}" if errno is not None else None
        return ErrorInfo(kind, str(message), sqlstate, code, qualified_name(exc))

"""databricks-sql-connector: `databricks.sql.connect(server_hostname, http_path,
access_token)`, `:name` parameters (the connector's native binding), `fetchmany` over
the result, `executemany` for `copy`, `cursor.cancel()` (which the connector allows from
another thread) for `cancel`.

No transactions are declared: Databricks SQL warehouses run each statement on its own,
and there is no server here to show that the connector's transaction support works.

The connector speaks Thrift over HTTP, which no server reachable here speaks, so this
adapter is covered by a unit test of its calls (tests/test_databricks.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from databricks import sql as dbsql
from databricks.sql import exc as dbexc

from ..adapter import (
    Column,
    ErrorInfo,
    HostError,
    best_effort,
    named_binds,
    qualified_name,
    unsupported,
)
from ..targets import parse
from ..values import Json
from .dbapi import DbapiAdapter

# The connector's type names (`description[i][1]`) as the portable classes.
CLASSES = {
    "boolean": "boolean",
    "tinyint": "integer",
    "smallint": "integer",
    "int": "integer",
    "bigint": "integer",
    "float": "float",
    "double": "float",
    "decimal": "decimal",
    "string": "text",
    "varchar": "text",
    "char": "text",
    "binary": "bytes",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ntz": "timestamp",
    "interval": "interval",
    "array": "array",
    "map": "json",
    "struct": "json",
    "variant": "json",
}


def databricks_connect_args(target: str) -> dict[str, Any]:
    """`https://token:TOKEN@HOST[:PORT][/HTTP/PATH][?http_path=…|?warehouse=ID]`."""
    t = parse(target)
    if t.scheme not in ("http", "https", "databricks"):
        raise HostError("client", f"a {t.scheme}:// target is not a Databricks URL")
    if t.query.get("http_path"):
        http_path = t.query["http_path"]
    elif t.path:
        http_path = "/" + "/".join(t.path)
    else:
        http_path = f"/sql/1.0/warehouses/{t.query.get('warehouse', 'default')}"
    args: dict[str, Any] = {
        "server_hostname": t.require_host(),
        "http_path": http_path,
        "access_token": t.password or t.query.get("token"),
    }
    if t.port is not None:
        args["_port"] = t.port  # the connector's (underscored) keyword for the port
    return args


class DatabricksAdapter(DbapiAdapter):
    name = "databricks-sql-connector"
    distribution = "databricks-sql-connector"
    capabilities = ("sql", "sessions", "cursors", "cancel", "copy")

    def connect(self, target: str, autocommit: bool) -> None:
        if not autocommit:
            raise unsupported("databricks-sql-connector: no autocommit-off mode is declared")
        self.conn = dbsql.connect(**databricks_connect_args(target))

    def run(self, cursor: Any, sql: str, params: Any) -> None:
        if params and not isinstance(params, dict):
            raise HostError("client", "`:name` parameters: `params` must be an object")
        cursor.execute(sql, parameters=params or None)

    def columns(self, cursor: Any) -> list[Column]:
        return [
            Column(d[0], CLASSES.get(str(d[1]), "other"), str(d[1])) for d in cursor.description
        ]

    def begin(self) -> None:
        raise unsupported("databricks-sql-connector: transactions are not declared")

    def commit(self) -> None:
        raise unsupported("databricks-sql-connector: transactions are not declared")

    def rollback(self) -> None:
        raise unsupported("databricks-sql-connector: transactions are not declared")

    def copy_binds(
        self, rows: list[list[Json]], width: int
    ) -> tuple[list[str], Sequence[Sequence[Json] | dict[str, Json]]]:
        # The connector binds `:name` parameters only.
        return named_binds(rows, width)

    def cancel(self) -> None:
        with self._lock:
            cursor = self.active
        if cursor is not None:
            cursor.cancel()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            best_effort("close", conn.close)  # nothing to roll back: no transactions

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        if not isinstance(exc, dbexc.Error):
            return None
        context = exc.context if isinstance(exc.context, dict) else {}
        sqlstate = context.get("sql-state") or context.get("sqlstate") or context.get("sql_state")
        if isinstance(exc, dbexc.SessionAlreadyClosedError | dbexc.CursorAlreadyClosedError):
            kind = "lost"
        elif isinstance(exc, dbexc.RequestError):
            kind = "connect"  # the HTTP requests themselves failed
        elif isinstance(exc, dbexc.ServerOperationError | dbexc.DatabaseError):
            kind = "db"
        else:
            kind = "client"
        message = exc.message if isinstance(exc.message, str) else str(exc)
        return ErrorInfo(
            kind, message, str(sqlstate) if sqlstate else None, None, qualified_name(exc)
        )

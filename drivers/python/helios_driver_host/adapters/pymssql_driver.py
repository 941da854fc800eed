"""pymssql (DB-Library over its own FreeTDS): `%s` parameters (`%(name)s` with a map),
which pymssql quotes into the SQL text on the client (a plain SQL batch goes to the
server); its autocommit-off mode, which keeps a T-SQL transaction open (`BEGIN TRAN` after
connecting and after each `COMMIT TRAN`/`ROLLBACK TRAN`); `fetchmany` over the rows as
they arrive for `fetch`; `executemany` for `copy`.

helios-matrix doubles a literal `%` in SQL with parameters for a `%s` driver. pymssql
has no such escape: it replaces each `%s` and `%d` and leaves `%%` as it is, so the SQL
goes to pymssql with `%%` made `%` again, as its users write it.

Not declared:
- `cancel`: pymssql's `cancel()` is DB-Library's `dbcancel`, which discards the pending
  results of the last statement by reading them; it is not made to interrupt a statement
  another thread is waiting on.

Errors carry SQL Server's error number (`code`): pymssql raises its DB-API exceptions with
`(number, message)`, the message followed by DB-Library's own lines (`DB-Lib error message
20018, …`), which are cut off. An error with no server message before those lines is
DB-Library's own (connection refused, the connection lost), with its number."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pymssql
from pymssql import _mssql

from ..adapter import (
    Column,
    ErrorInfo,
    HostError,
    classes_from_values,
    qualified_name,
)
from ..targets import sqlserver_target
from .sqlserver import SqlServerAdapter

# pymssql's DB-API type codes (its STRING, BINARY, NUMBER, DATETIME and DECIMAL objects):
# the native name, and the class when no value says more. BINARY covers UNIQUEIDENTIFIER
# (a UUID value), NUMBER integers, floats and BIT (a bool value), DATETIME dates and times.
_TYPES: dict[int, tuple[str, str]] = {
    1: ("STRING", "text"),
    2: ("BINARY", "bytes"),
    3: ("NUMBER", "other"),
    4: ("DATETIME", "timestamp"),
    5: ("DECIMAL", "decimal"),
}
# The codes whose values tell their class apart.
_BY_VALUE = frozenset({2, 3, 4})

# DB-Library's numbers after which the connection is gone: SYBEREAD (read failed),
# SYBEWRIT (write failed), SYBESEOF (unexpected EOF), SYBEDDNE (DBPROCESS is dead).
LOST_DBLIB = frozenset({20004, 20006, 20017, 20047})

_DBLIB = re.compile(r"DB-Lib error message (\d+), severity \d+:\n([^\n]*)")


def pymssql_columns(description: Any, rows: Sequence[Sequence[object]]) -> list[Column]:
    values = classes_from_values(rows, len(description))
    columns = []
    for i, d in enumerate(description):
        native, cls = _TYPES.get(d[1], (f"type {d[1]}", "other"))
        if d[1] in _BY_VALUE and values[i] != "other":
            cls = values[i]
        columns.append(Column(d[0], cls, native))
    return columns


def _number_and_text(exc: BaseException) -> tuple[int | None, str]:
    """pymssql's `(number, message)`, from the exception or the one it was raised from
    (`raise OperationalError('Cannot commit transaction: …')` keeps it there)."""
    source = exc.__context__ if isinstance(exc.__context__, _mssql.MSSQLDatabaseException) else exc
    args: tuple[Any, ...] = source.args
    if len(args) == 1 and isinstance(args[0], tuple):
        args = args[0]  # connect: OperationalError(((number, message),))
    if len(args) >= 2 and isinstance(args[0], int):
        raw = args[1]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return args[0], text
    return None, str(args[0]) if args else str(exc)


def pymssql_error(exc: BaseException) -> ErrorInfo | None:
    if not isinstance(exc, pymssql.Error | _mssql.MSSQLException):
        return None
    number, text = _number_and_text(exc)
    server = text.split("DB-Lib error message", 1)[0].strip()
    name = qualified_name(exc)
    if number is not None and server:
        return ErrorInfo("db", server, None, str(number), name)
    found = _DBLIB.search(text)
    if found is not None:
        # DB-Library's own error; the exception's number may be a stale server message's.
        dblib = int(found[1])
        kind = "lost" if dblib in LOST_DBLIB else "client"
        return ErrorInfo(kind, found[2].strip(), None, str(dblib), name)
    closed = isinstance(exc, pymssql.InterfaceError) and "closed" in text.lower()
    return ErrorInfo("lost" if closed else "client", text.strip() or name, None, None, name)


def pymssql_connect_args(target: str, autocommit: bool) -> dict[str, Any]:
    t = sqlserver_target(target)
    args: dict[str, Any] = {
        "server": t.host,
        "port": str(t.port),
        "user": t.user,
        "password": t.password or "",
        "encryption": t.encryption,
        "autocommit": autocommit,
        "appname": "helios-matrix",
    }
    if t.database:
        args["database"] = t.database
    if t.tds_version:
        args["tds_version"] = t.tds_version
    return args


class PymssqlAdapter(SqlServerAdapter):
    name = "pymssql"
    distribution = "pymssql"
    capabilities = ("sql", "sessions", "transactions", "autocommit_off", "cursors", "copy")

    def connect(self, target: str, autocommit: bool) -> None:
        args = pymssql_connect_args(target, autocommit)
        try:
            self.conn = pymssql.connect(**args)
        except Exception as e:
            info = pymssql_error(e)
            if info is None:
                raise
            raise HostError(
                "connect", info.message, code=info.code, exception=info.exception
            ) from e
        self.autocommit = autocommit

    def run(self, cursor: Any, sql: str, params: Any) -> None:
        if not params:
            cursor.execute(sql)  # no substitution at all: `%` stays as written
        elif isinstance(params, dict):
            cursor.execute(sql.replace("%%", "%"), params)  # `%(name)s`
        else:
            cursor.execute(sql.replace("%%", "%"), tuple(params))

    def columns(self, cursor: Any) -> list[Column]:
        return pymssql_columns(cursor.description, [])

    def described(self, cursor: Any, rows: Sequence[Sequence[object]]) -> list[Column]:
        return pymssql_columns(cursor.description, rows)

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        return pymssql_error(exc)

"""PyMySQL: `%s` parameters, DB-API transactions (`conn.begin()`), an unbuffered
`SSCursor` for `fetch`, `executemany` for `copy`. PyMySQL has no API to cancel a running
statement (only a second connection's KILL QUERY, which is not the driver's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pymysql
import pymysql.cursors

from ..adapter import Column, ErrorInfo, HostError, qualified_name
from ..targets import parse
from .dbapi import DbapiAdapter
from .mysql_types import LOST_ERRNOS, mysql_type


@dataclass(frozen=True)
class MysqlTarget:
    host: str
    port: int
    user: str | None
    password: str | None = field(repr=False)
    database: str | None
    # TLS unless the target says `ssl-mode=disabled`; the certificate is not verified
    # (the reference server's is self-signed).
    tls: bool


def mysql_target(target: str) -> MysqlTarget:
    t = parse(target)
    if t.scheme not in ("mysql", "mariadb"):
        raise HostError("client", f"a {t.scheme}:// target is not a MySQL URL")
    mode = (t.query.get("ssl-mode") or t.query.get("ssl_mode") or "").lower()
    return MysqlTarget(
        t.require_host(), t.port or 3306, t.user, t.password, t.database(), mode != "disabled"
    )


def pymysql_tls(target: MysqlTarget) -> dict[str, Any]:
    # PyMySQL turns TLS on for a non-empty `ssl` dict; without a CA it verifies neither
    # the certificate nor the host name.
    return {"ssl": {"check_hostname": False}} if target.tls else {}


def pymysql_columns(cursor: Any) -> list[Column]:
    """Columns from the field packets, which carry the character set the DB-API
    description leaves out (bytes vs text)."""
    result = getattr(cursor, "_result", None)
    fields = getattr(result, "fields", None)
    columns = []
    for i, d in enumerate(cursor.description):
        charset = fields[i].charsetnr if fields is not None else None
        native, cls = mysql_type(d[1], charset)
        columns.append(Column(d[0], cls, native))
    return columns


def pymysql_error(exc: BaseException) -> ErrorInfo | None:
    if not isinstance(exc, pymysql.err.Error):
        return None
    # PyMySQL's errors are (errno, message); it does not keep the SQLSTATE.
    errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if errno in LOST_ERRNOS or isinstance(exc, pymysql.err.InterfaceError):
        kind = "lost"  # PyMySQL's InterfaceError: the connection is closed
    elif errno is None or errno == 0 or 2000 <= errno < 3000:
        kind = "client"  # 2000-2999 are the client library's numbers, not the server's
    else:
        kind = "db"
    code = str(errno) if errno else None
    return ErrorInfo(kind, message, None, code, qualified_name(exc))


class PymysqlAdapter(DbapiAdapter):
    name = "pymysql"
    distribution = "PyMySQL"
    capabilities = ("sql", "sessions", "transactions", "autocommit_off", "cursors", "copy")
    # PyMySQL's buffered cursor reads a result whole, and its `execute` drains any result
    # sets a statement left first.
    one_cursor = True

    def connect(self, target: str, autocommit: bool) -> None:
        t = mysql_target(target)
        self.conn = pymysql.connect(
            host=t.host,
            port=t.port,
            user=t.user,
            password=t.password or "",
            database=t.database,
            **pymysql_tls(t),
        )
        self.conn.autocommit(autocommit)
        self.autocommit = autocommit

    def columns(self, cursor: Any) -> list[Column]:
        return pymysql_columns(cursor)

    def stream_cursor(self) -> Any:
        return self.conn.cursor(pymysql.cursors.SSCursor)

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        return pymysql_error(exc)

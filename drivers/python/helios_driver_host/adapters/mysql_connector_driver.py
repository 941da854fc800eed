"""mysql-connector-python: `%s` parameters, DB-API transactions
(`conn.start_transaction()`), an unbuffered cursor for `fetch`, `executemany` for `copy`.
The connector has no API to cancel a running statement."""

from __future__ import annotations

from typing import Any

import mysql.connector
import mysql.connector.errors

from ..adapter import Column, ErrorInfo, qualified_name
from .dbapi import DbapiAdapter
from .mysql_types import LOST_ERRNOS, mysql_type
from .pymysql_driver import mysql_target


class MysqlConnectorAdapter(DbapiAdapter):
    name = "mysql-connector-python"
    distribution = "mysql-connector-python"
    capabilities = ("sql", "sessions", "transactions", "autocommit_off", "cursors", "copy")

    def connect(self, target: str, autocommit: bool) -> None:
        t = mysql_target(target)
        self.conn = mysql.connector.connect(
            host=t.host,
            port=t.port,
            user=t.user,
            password=t.password or "",
            database=t.database,
            # TLS without verifying the certificate (the reference server's is self-signed).
            ssl_disabled=not t.tls,
            ssl_verify_cert=False,
        )
        self.conn.autocommit = autocommit
        self.autocommit = autocommit

    def columns(self, cursor: Any) -> list[Column]:
        # The connector's description has two more fields than DB-API's: the column
        # flags and the character set number (63: binary).
        columns = []
        for d in cursor.description:
            charset = d[8] if len(d) > 8 else None
            native, cls = mysql_type(d[1], charset)
            columns.append(Column(d[0], cls, native))
        return columns

    def stream_cursor(self) -> Any:
        return self.conn.cursor(buffered=False)

    def end_stream(self, cursor: Any) -> None:
        # An unbuffered result must be read to its end before the connection takes
        # another statement ("Unread result found"): read what `fetch` left.
        try:
            if self.conn.unread_result:
                cursor.fetchall()
        finally:
            cursor.close()

    def begin(self) -> None:
        self.conn.start_transaction()

    def _alive(self) -> bool:
        try:
            return self.conn is not None and bool(self.conn.is_connected())
        except Exception:
            return False

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        if not isinstance(exc, mysql.connector.errors.Error):
            return None
        errno = exc.errno if isinstance(exc.errno, int) and exc.errno > 0 else None
        broken = isinstance(
            exc, mysql.connector.errors.OperationalError | mysql.connector.errors.InterfaceError
        )
        if errno in LOST_ERRNOS or (broken and not self._alive()):
            kind = "lost"
        elif errno is None or 2000 <= errno < 3000:
            kind = "client"  # the client library's numbers, not the server's
        else:
            kind = "db"
        message = exc.msg or str(exc)
        return ErrorInfo(
            kind, message, exc.sqlstate, str(errno) if errno else None, qualified_name(exc)
        )

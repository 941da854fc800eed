"""psycopg2: `%s` parameters, DB-API transactions, server-side (named) cursors for
`fetch`, COPY FROM STDIN for `copy`, `connection.cancel()` for `cancel`."""

from __future__ import annotations

import io
import itertools
from typing import Any

import psycopg2
import psycopg2.extensions

from ..adapter import FULL_SQL, Batches, Column, ErrorInfo, HostError, qualified_name, rowcount
from ..targets import parse
from ..values import Json, encode_float
from .dbapi import DbapiAdapter
from .pg_types import pg_type

# Query parameters of a target that are libpq connection parameters; others (such as
# helios-matrix's own `pooler`) are not for the driver.
LIBPQ_PARAMS = ("sslmode", "connect_timeout", "application_name", "options", "target_session_attrs")


def copy_text(value: Json) -> str:
    """One field of COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        encoded = encode_float(value)
        return encoded["float"] if isinstance(encoded, dict) else repr(value)
    text = str(value)
    for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return text


def pg_connect_args(target: str) -> dict[str, Any]:
    """libpq's keyword arguments from a `postgres://` target."""
    t = parse(target)
    if t.scheme not in ("postgres", "postgresql"):
        raise HostError("client", f"a {t.scheme}:// target is not a PostgreSQL URL")
    args: dict[str, Any] = {
        "host": t.require_host(),
        "port": t.port or 5432,
        "dbname": t.database() or t.user,
        "user": t.user,
        "password": t.password,
    }
    args.update({k: v for k, v in t.query.items() if k in LIBPQ_PARAMS})
    return {k: v for k, v in args.items() if v is not None}


class Psycopg2Adapter(DbapiAdapter):
    name = "psycopg2"
    distribution = "psycopg2-binary"
    capabilities = FULL_SQL

    def __init__(self) -> None:
        super().__init__()
        # True between an explicit BEGIN sent in autocommit mode and its COMMIT/ROLLBACK:
        # psycopg2's own commit() does nothing in autocommit mode.
        self.explicit = False
        self._cursor_names = itertools.count(1)

    def connect(self, target: str, autocommit: bool) -> None:
        self.conn = psycopg2.connect(**pg_connect_args(target))
        self.conn.autocommit = autocommit
        self.autocommit = autocommit

    def columns(self, cursor: Any) -> list[Column]:
        columns = []
        for d in cursor.description:
            native, cls = pg_type(d.type_code)
            columns.append(Column(d.name, cls, native))
        return columns

    def begin(self) -> None:
        # With autocommit off, DB-API opens the transaction with the next statement.
        if self.conn.autocommit:
            with self.conn.cursor() as cur:
                cur.execute("BEGIN")
            self.explicit = True

    def _end(self, command: str) -> None:
        if self.explicit:
            self.explicit = False
            with self.conn.cursor() as cur:
                cur.execute(command)
        elif command == "COMMIT":
            self.conn.commit()
        else:
            self.conn.rollback()

    def commit(self) -> None:
        self._end("COMMIT")

    def rollback(self) -> None:
        self._end("ROLLBACK")

    def fetch(self, sql: str, params: Json, batch: int, max_batches: int) -> Batches:
        conn = self.conn
        # A named cursor lives in a transaction. In autocommit mode psycopg2 refuses one
        # (unless WITH HOLD): open a transaction for it, or, inside an explicit BEGIN,
        # declare it WITH HOLD in the transaction that is open.
        own = conn.autocommit and not self.explicit
        if own:
            conn.autocommit = False
        ok = False
        try:
            cur = conn.cursor(
                name=f"helios_fetch_{next(self._cursor_names)}", withhold=self.explicit
            )
            self._track(cur)
            try:
                cur.execute(sql, params if params else None)
                read = self.read_cursor(cur, batch, max_batches)
            finally:
                self._track(None)
                if not cur.closed and conn.closed == 0:
                    cur.close()
            ok = True
            return read
        finally:
            if own and conn.closed == 0:
                if ok:
                    conn.commit()
                else:
                    conn.rollback()
                conn.autocommit = True

    def copy(self, table: str, columns: list[str], rows: list[list[Json]]) -> int | None:
        if any(len(r) != len(columns) for r in rows):
            raise HostError("client", f"a copy row does not have {len(columns)} values")
        data = io.StringIO("".join("\t".join(copy_text(v) for v in r) + "\n" for r in rows))
        with self.conn.cursor() as cur:
            self._track(cur)
            try:
                cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", data)
                return rowcount(cur.rowcount)
            finally:
                self._track(None)

    def cancel(self) -> None:
        # PQcancel on its own connection to the server: thread-safe, and harmless when
        # nothing runs.
        conn = self.conn
        if conn is not None and conn.closed == 0:
            conn.cancel()

    def close(self) -> None:
        self.explicit = False
        super().close()

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        return psycopg2_error(exc, self.conn is None or self.conn.closed != 0)


def psycopg2_error(exc: BaseException, gone: bool) -> ErrorInfo | None:
    """psycopg2's view of an exception; `gone`: the connection is closed now."""
    if not isinstance(exc, psycopg2.Error):
        return None
    diag = getattr(exc, "diag", None)
    message = (diag.message_primary if diag is not None else None) or str(exc).strip()
    if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError) and gone:
        kind = "lost"
    elif exc.pgcode is not None:
        kind = "db"  # the server's error, with its SQLSTATE
    else:
        kind = "client"
    return ErrorInfo(kind, message, exc.pgcode, None, qualified_name(exc))

"""SQLAlchemy 2 Core: an `Engine` on psycopg2 (`postgres://` targets) or PyMySQL
(`mysql://`), one `Connection`, `text()` statements with `:name` binds. The dialect's own
initialisation queries run as they do for SQLAlchemy's users.

Autocommit on is the `AUTOCOMMIT` isolation level; off is 2.0's "commit as you go".
`fetch` streams (`stream_results`, `yield_per`) and reads `partitions`; `copy` is an
executemany INSERT. SQLAlchemy has no API to cancel a running statement."""

from __future__ import annotations

from typing import Any

import sqlalchemy
import sqlalchemy.exc
from sqlalchemy.engine import URL, Connection, CursorResult
from sqlalchemy.pool import NullPool

from ..adapter import (
    Adapter,
    Batches,
    Column,
    ErrorInfo,
    HostError,
    Row,
    Rows,
    best_effort,
    classes_from_values,
    copy_insert,
    named_binds,
    qualified_name,
    rowcount,
)
from ..targets import parse
from ..values import Json, encode_row
from .pg_types import pg_type
from .psycopg2_driver import LIBPQ_PARAMS, psycopg2_error
from .pymysql_driver import mysql_target, pymysql_columns, pymysql_error, pymysql_tls


def named(params: Json) -> dict[str, Any]:
    if isinstance(params, dict):
        return params
    if not params:
        return {}
    raise HostError("client", "SQLAlchemy binds `:name` parameters: `params` must be an object")


class SqlalchemyAdapter(Adapter):
    name = "sqlalchemy"
    distribution = "SQLAlchemy"
    capabilities = ("sql", "sessions", "transactions", "autocommit_off", "cursors", "copy")

    def __init__(self) -> None:
        self.engine: sqlalchemy.Engine | None = None
        self.conn: Connection | None = None
        self.autocommit = True
        self.family = ""
        # True while an explicit `begin` has taken an autocommit connection out of
        # AUTOCOMMIT for one transaction.
        self.explicit = False

    def connect(self, target: str, autocommit: bool) -> None:
        t = parse(target)
        connect_args: dict[str, Any] = {}
        if t.scheme in ("postgres", "postgresql"):
            self.family = "postgresql"
            url = URL.create(
                "postgresql+psycopg2",
                username=t.user,
                password=t.password,
                host=t.require_host(),
                port=t.port or 5432,
                database=t.database(),
                query={k: v for k, v in t.query.items() if k in LIBPQ_PARAMS},
            )
        elif t.scheme in ("mysql", "mariadb"):
            self.family = "mysql"
            m = mysql_target(target)
            url = URL.create(
                "mysql+pymysql",
                username=m.user,
                password=m.password,
                host=m.host,
                port=m.port,
                database=m.database,
            )
            connect_args = pymysql_tls(m)
        else:
            raise HostError(
                "client", f"SQLAlchemy here drives postgres:// and mysql://, not {t.scheme}://"
            )
        # NullPool: the session's one connection is really closed on `close`.
        self.engine = sqlalchemy.create_engine(url, connect_args=connect_args, poolclass=NullPool)
        self.conn = self.engine.connect()
        self.autocommit = autocommit
        if autocommit:
            self.conn.execution_options(isolation_level="AUTOCOMMIT")

    def _conn(self) -> Connection:
        if self.conn is None:
            raise HostError("client", "not connected")
        return self.conn

    # ------------------------------------------------------------ results

    def described(self, result: CursorResult[Any]) -> list[Column] | None:
        """Columns from the DBAPI cursor's description, while the result has its cursor
        (SQLAlchemy lets it go once the rows are read)."""
        cursor = getattr(result, "cursor", None)
        description = getattr(cursor, "description", None)
        if not description:
            return None
        if self.family == "mysql":
            return pymysql_columns(cursor)
        columns = []
        for d in description:
            native, cls = pg_type(d[1])
            columns.append(Column(d[0], cls, native))
        return columns

    @staticmethod
    def from_values(result: CursorResult[Any], rows: list[tuple[Any, ...]]) -> list[Column]:
        """Without a description: each column's class from its first non-null value."""
        keys = list(result.keys())
        classes = classes_from_values(rows, len(keys))
        columns = []
        for i, (key, cls) in enumerate(zip(keys, classes, strict=True)):
            first = next((r[i] for r in rows if r[i] is not None), None)
            # No type name from the driver: say which Python type the class came from.
            native = f"python {type(first).__name__}" if first is not None else "unknown"
            columns.append(Column(key, cls, native))
        return columns

    # ------------------------------------------------------------ operations

    def execute(self, sql: str, params: Json) -> int | None:
        result = self._conn().execute(sqlalchemy.text(sql), named(params))
        try:
            return rowcount(result.rowcount)
        finally:
            result.close()

    def query(self, sql: str, params: Json) -> Rows:
        result = self._conn().execute(sqlalchemy.text(sql), named(params))
        if not result.returns_rows:
            result.close()
            return Rows([], [])
        described = self.described(result)
        rows = [tuple(r) for r in result.fetchall()]
        columns = described or self.from_values(result, rows)
        classes = [c.cls for c in columns]
        return Rows(columns, [encode_row(r, classes) for r in rows])

    def fetch(self, sql: str, params: Json, batch: int, max_batches: int) -> Batches:
        # psycopg2 streams through a named cursor, which lives in a transaction: in
        # autocommit mode open one for it, as `begin` does, and end it after.
        own = self.family == "postgresql" and self.autocommit and not self.explicit
        if own:
            self.begin()
        try:
            read = self._stream(sql, params, batch, max_batches)
        except BaseException:
            if own:
                self.rollback()
            raise
        if own:
            self.commit()
        return read

    def _stream(self, sql: str, params: Json, batch: int, max_batches: int) -> Batches:
        result = self._conn().execute(
            sqlalchemy.text(sql),
            named(params),
            execution_options={"stream_results": True, "yield_per": batch},
        )
        try:
            if not result.returns_rows:
                return Batches([], [])
            batches: list[list[Row]] = []
            # A server-side cursor describes its columns once the first rows are in.
            columns = self.described(result) or []
            for part in result.partitions(batch) if max_batches > 0 else ():
                rows = [tuple(r) for r in part]
                columns = columns or self.described(result) or self.from_values(result, rows)
                batches.append([encode_row(r, [c.cls for c in columns]) for r in rows])
                if len(batches) >= max_batches or len(rows) < batch:
                    break
            return Batches(columns or self.described(result) or [], batches)
        finally:
            result.close()

    def begin(self) -> None:
        conn = self._conn()
        if self.autocommit and not self.explicit:
            # End the AUTOCOMMIT connection's autobegun marker (nothing to commit at
            # the DBAPI level), then leave AUTOCOMMIT for one real transaction.
            conn.commit()
            conn.execution_options(isolation_level=conn.default_isolation_level)
            self.explicit = True
        elif conn.in_transaction():
            return  # "commit as you go" has opened one already, as in DB-API drivers
        conn.begin()

    def _back_to_autocommit(self) -> None:
        if self.explicit:
            self.explicit = False
            self._conn().execution_options(isolation_level="AUTOCOMMIT")

    def commit(self) -> None:
        self._conn().commit()
        self._back_to_autocommit()

    def rollback(self) -> None:
        self._conn().rollback()
        self._back_to_autocommit()

    def copy(self, table: str, columns: list[str], rows: list[list[Json]]) -> int | None:
        marks, bound = named_binds(rows, len(columns))
        sql = copy_insert(table, columns, rows, marks)
        if sql is None:
            return 0
        result = self._conn().execute(sqlalchemy.text(sql), bound)
        try:
            return rowcount(result.rowcount)
        finally:
            result.close()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        engine, self.engine = self.engine, None
        if conn is not None:
            best_effort("rollback on close", conn.rollback)
            best_effort("close", conn.close)
        if engine is not None:
            best_effort("engine dispose", engine.dispose)

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        if not isinstance(exc, sqlalchemy.exc.SQLAlchemyError):
            return None
        # What users catch is SQLAlchemy's exception; codes come from the DBAPI's.
        info: ErrorInfo | None = None
        orig = getattr(exc, "orig", None)
        if isinstance(orig, BaseException):
            info = self._dbapi_error(orig)
        if info is None:
            info = ErrorInfo("client", str(exc).split("\n")[0])
        if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
            info.kind = "lost"
        info.exception = qualified_name(exc)
        return info

    def _dbapi_error(self, orig: BaseException) -> ErrorInfo | None:
        if self.family == "mysql":
            return pymysql_error(orig)
        # Whether the connection is gone is SQLAlchemy's to say (connection_invalidated).
        return psycopg2_error(orig, gone=False)

"""asyncpg: `$n` parameters, prepared statements, an event loop of its own in the host's
main thread. asyncpg has no DB-API transaction mode: autocommit off is what its users do, a
`connection.transaction()` opened before the first statement and after each
commit/rollback. `cancel` cancels the running asyncio task, which asyncpg turns into a
server-side cancel request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import asyncpg
import asyncpg.exceptions
from asyncpg.transaction import Transaction

from ..adapter import (
    FULL_SQL,
    Adapter,
    Batches,
    Column,
    ErrorInfo,
    HostError,
    Row,
    Rows,
    best_effort,
    qualified_name,
)
from ..values import Json, encode_row
from .pg_types import pg_type
from .psycopg2_driver import pg_connect_args

T = TypeVar("T")

# Command tags that end in a row count (`INSERT 0 5`, `UPDATE 3`, `SELECT 2`, …).
COUNTED = frozenset({"INSERT", "UPDATE", "DELETE", "SELECT", "MERGE", "COPY", "FETCH", "MOVE"})

# asyncpg's close() sends Terminate and waits for the server to hang up, which PostgreSQL
# does at once. A server that never does (HeliosDB Nano 4.41.1) would hold the end of every
# session, so after this long the connection is dropped, as libpq's close always does.
CLOSE_GRACE_SECS = 0.5


def server_settings(options: str) -> dict[str, str]:
    """libpq's `options` (`-c search_path=w1,public -c work_mem=4MB`) as asyncpg's
    `server_settings`, which is how asyncpg sends the same start-up parameters."""
    settings: dict[str, str] = {}
    words = options.split()
    for i, word in enumerate(words):
        if word == "-c" and i + 1 < len(words):
            setting = words[i + 1]
        elif (word.startswith("-c") and len(word) > 2) or word.startswith("--"):
            setting = word[2:]
        else:
            continue
        key, sep, value = setting.partition("=")
        if not sep:
            raise HostError("client", f"cannot read libpq option {setting!r}: no `=`")
        settings[key.replace("-", "_")] = value
    return settings


def tag_count(status: str) -> int | None:
    """The row count of a command tag; None for commands that count nothing."""
    words = status.split()
    if len(words) >= 2 and words[0] in COUNTED and words[-1].isdigit():
        return int(words[-1])
    return None


def positional(params: Json) -> list[Any]:
    if not isinstance(params, list):
        raise HostError(
            "client", "asyncpg binds `$n` parameters by position: `params` must be a list"
        )
    return params


def columns_of(attributes: Sequence[Any]) -> list[Column]:
    columns = []
    for a in attributes:
        native, cls = pg_type(a.type.oid, a.type.name)
        if a.type.kind == "array":
            cls = "array"
        columns.append(Column(a.name, cls, native))
    return columns


class AsyncpgAdapter(Adapter):
    name = "asyncpg"
    distribution = "asyncpg"
    capabilities = FULL_SQL

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection[Any] | None = None
        self.autocommit = True
        # The open transaction: explicit (`begin`) or the one autocommit-off opened.
        self.tx: Transaction | None = None
        self._task: asyncio.Task[Any] | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ plumbing

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Runs one request's coroutine as a task that `cancel` can reach."""
        task = self.loop.create_task(coro)
        with self._lock:
            self._task = task
        try:
            return self.loop.run_until_complete(task)
        finally:
            with self._lock:
                self._task = None

    def cancel(self) -> None:
        with self._lock:
            task = self._task
        if task is not None:
            # The loop runs in the main thread: hand it the cancel.
            self.loop.call_soon_threadsafe(task.cancel)

    def _conn(self) -> asyncpg.Connection[Any]:
        if self.conn is None:
            raise HostError("client", "not connected")
        return self.conn

    async def _before_statement(self) -> None:
        if not self.autocommit and self.tx is None:
            await self._start()

    async def _start(self) -> None:
        tx = self._conn().transaction()
        await tx.start()
        self.tx = tx

    # ------------------------------------------------------------ operations

    def connect(self, target: str, autocommit: bool) -> None:
        args = pg_connect_args(target)
        kwargs: dict[str, Any] = {
            "host": args["host"],
            "port": args["port"],
            "user": args.get("user"),
            "password": args.get("password"),
            "database": args.get("dbname"),
        }
        if "sslmode" in args:
            kwargs["ssl"] = args["sslmode"]  # asyncpg takes libpq's sslmode names
        if "connect_timeout" in args:
            kwargs["timeout"] = float(args["connect_timeout"])
        if "options" in args:
            kwargs["server_settings"] = server_settings(args["options"])
        self.conn = self._run(asyncpg.connect(**kwargs))
        self.autocommit = autocommit

    def execute(self, sql: str, params: Json) -> int | None:
        async def run() -> int | None:
            await self._before_statement()
            return tag_count(await self._conn().execute(sql, *positional(params)))

        return self._run(run())

    def query(self, sql: str, params: Json) -> Rows:
        async def run() -> Rows:
            await self._before_statement()
            stmt = await self._conn().prepare(sql)
            records = await stmt.fetch(*positional(params))
            columns = columns_of(stmt.get_attributes())
            classes = [c.cls for c in columns]
            return Rows(columns, [encode_row(tuple(r), classes) for r in records])

        return self._run(run())

    def fetch(self, sql: str, params: Json, batch: int, max_batches: int) -> Batches:
        async def read() -> Batches:
            stmt = await self._conn().prepare(sql)
            columns = columns_of(stmt.get_attributes())
            classes = [c.cls for c in columns]
            cursor = await stmt.cursor(*positional(params))
            batches: list[list[Row]] = []
            while len(batches) < max_batches:
                records = await cursor.fetch(batch)
                if not records:
                    break
                batches.append([encode_row(tuple(r), classes) for r in records])
                if len(records) < batch:
                    break
            return Batches(columns, batches)

        async def run() -> Batches:
            await self._before_statement()
            if self.tx is not None:
                return await read()
            # A cursor lives in a transaction: open one for it in autocommit mode.
            async with self._conn().transaction():
                return await read()

        return self._run(run())

    def begin(self) -> None:
        # Inside a transaction already (autocommit off opened one, or an earlier
        # `begin`): nothing to do, as in DB-API drivers. A nested transaction() would be
        # a savepoint.
        if self.tx is None:
            self._run(self._start())

    def _end(self, commit: bool) -> None:
        tx, self.tx = self.tx, None
        if tx is not None:
            self._run(tx.commit() if commit else tx.rollback())

    def commit(self) -> None:
        self._end(True)

    def rollback(self) -> None:
        self._end(False)

    def copy(self, table: str, columns: list[str], rows: list[list[Json]]) -> int | None:
        schema, _, name = table.rpartition(".")

        async def run() -> int | None:
            await self._before_statement()
            status = await self._conn().copy_records_to_table(
                name, records=[tuple(r) for r in rows], columns=columns, schema_name=schema or None
            )
            return tag_count(status)

        return self._run(run())

    def close(self) -> None:
        conn, self.conn = self.conn, None
        tx, self.tx = self.tx, None
        if conn is not None:
            if tx is not None and not conn.is_closed():
                best_effort("rollback on close", lambda: self._run(tx.rollback()))
            best_effort("close", lambda: self._run(conn.close(timeout=CLOSE_GRACE_SECS)))
            if not conn.is_closed():
                conn.terminate()
        self.loop.close()

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        if isinstance(exc, asyncio.CancelledError):
            # What surfaces of a cancel: the task's CancelledError. asyncpg has had the
            # server cancel the statement (SQLSTATE 57014) by then.
            return ErrorInfo(
                "db",
                "the running statement was cancelled (asyncpg sent the server a cancel request)",
                "57014",
                None,
                qualified_name(exc),
            )
        gone = self.conn is None or self.conn.is_closed()
        sqlstate = getattr(exc, "sqlstate", None)
        if isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError | ConnectionError) or (
            isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError) and gone
        ):
            # The connection is gone: asyncpg says so, or the failure left it closed.
            return ErrorInfo("lost", str(exc), sqlstate, None, qualified_name(exc))
        if isinstance(exc, asyncpg.PostgresError):
            return ErrorInfo("db", str(exc), sqlstate, None, qualified_name(exc))
        return None

"""The DB-API 2.0 (PEP 249) path that most drivers share: a cursor per request (or one
for the session, where the driver's cursors allow it),
`execute`, `fetchall`/`fetchmany`, `executemany` for bulk loads, `commit`/`rollback` on
the connection. Each driver's adapter says how to make its cursors, how to pass its
parameters and what its columns are."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..adapter import (
    Adapter,
    Batches,
    Column,
    Row,
    Rows,
    best_effort,
    copy_insert,
    rowcount,
)
from ..values import Json, encode_row


def read_batches(
    fetchmany: Callable[[int], Sequence[Sequence[object]]],
    batch: int,
    max_batches: int,
    classes: Callable[[Sequence[Sequence[object]]], Sequence[str | None]],
    encode: Callable[[Sequence[object], Sequence[str | None]], Row] = encode_row,
) -> list[list[Row]]:
    """Up to `max_batches` batches of `batch` rows; a short or empty batch is the end.
    `classes` gives the columns' classes once the first rows are in, given those rows
    (some drivers know them only then, some only from the values); `encode` encodes a row
    by them."""
    batches: list[list[Row]] = []
    while len(batches) < max_batches:
        rows = fetchmany(batch)
        if not rows:
            break
        known = classes(rows)
        batches.append([encode(r, known) for r in rows])
        if len(rows) < batch:
            break
    return batches


class DbapiAdapter(Adapter):
    # The driver's positional placeholder, for the INSERT that `copy` runs.
    placeholder = "%s"
    # `execute` and `query` share one cursor for the session: for drivers whose cursors
    # hold nothing between statements and read what a statement left before the next one.
    # Making and closing a cursor costs more than a fast statement.
    one_cursor = False

    def __init__(self) -> None:
        self.conn: Any = None
        self.autocommit = True
        # The cursor running a request, for `cancel` (set and cleared by the main thread).
        self.active: Any = None
        self._lock = threading.Lock()
        self._cursor: Any = None

    # ------------------------------------------------------------ per-driver hooks

    def columns(self, cursor: Any) -> list[Column]:
        raise NotImplementedError

    def encode(self, row: Sequence[object], classes: Sequence[str | None]) -> Row:
        """A row's values in the protocol's encoding (values.py), by their columns' classes."""
        return encode_row(row, classes)

    def no_result(self, cursor: Any) -> Rows:
        """What a `query` whose statement returned no result set answers: no columns and
        no rows here."""
        return Rows([], [])

    def described(self, cursor: Any, rows: Sequence[Sequence[object]]) -> list[Column]:
        """The columns of an executed cursor whose first rows are `rows`: its `columns`,
        unless the driver's type codes leave a class to the values (pymssql's NUMBER)."""
        return self.columns(cursor)

    def run(self, cursor: Any, sql: str, params: Any) -> None:
        """Executes one statement; DB-API drivers take None for "no parameters", which
        also keeps `%` literal for the format-style ones."""
        cursor.execute(sql, params if params else None)

    def stream_cursor(self) -> Any:
        """The cursor `fetch` reads batch by batch (an unbuffered one where the driver
        has it)."""
        return self.conn.cursor()

    def end_stream(self, cursor: Any) -> None:
        cursor.close()

    # ------------------------------------------------------------ operations

    def _track(self, cursor: Any) -> None:
        with self._lock:
            self.active = cursor

    def _statement_cursor(self) -> Any:
        if not self.one_cursor:
            return self.conn.cursor()
        if self._cursor is None:
            self._cursor = self.conn.cursor()
        return self._cursor

    def _done_with(self, cur: Any) -> None:
        self._track(None)
        if not self.one_cursor:
            cur.close()

    def execute(self, sql: str, params: Json) -> int | None:
        cur = self._statement_cursor()
        self._track(cur)
        try:
            self.run(cur, sql, params)
            return rowcount(cur.rowcount)
        finally:
            self._done_with(cur)

    def query(self, sql: str, params: Json) -> Rows:
        cur = self._statement_cursor()
        self._track(cur)
        try:
            self.run(cur, sql, params)
            if cur.description is None:
                return self.no_result(cur)
            rows = cur.fetchall()
            columns = self.described(cur, rows)
        finally:
            self._done_with(cur)
        classes = [c.cls for c in columns]
        return Rows(columns, [self.encode(r, classes) for r in rows])

    def read_cursor(self, cur: Any, batch: int, max_batches: int) -> Batches:
        """Batches from an executed cursor, with its columns. Some cursors (a named
        PostgreSQL one) describe their columns only once the first rows are in."""
        columns: list[Column] = []

        def classes(rows: Sequence[Sequence[object]]) -> list[str | None]:
            if not columns and cur.description is not None:
                columns.extend(self.described(cur, rows))
            return [c.cls for c in columns]

        batches = read_batches(cur.fetchmany, batch, max_batches, classes, self.encode)
        classes([])
        return Batches(columns, batches)

    def fetch(self, sql: str, params: Json, batch: int, max_batches: int) -> Batches:
        cur = self.stream_cursor()
        self._track(cur)
        try:
            self.run(cur, sql, params)
            return self.read_cursor(cur, batch, max_batches)
        finally:
            self._track(None)
            self.end_stream(cur)

    def begin(self) -> None:
        self.conn.begin()

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def copy_binds(
        self, rows: list[list[Json]], width: int
    ) -> tuple[list[str], Sequence[Sequence[Json] | dict[str, Json]]]:
        """The INSERT's marks and the rows as the driver binds them (positionally here)."""
        return [self.placeholder] * width, rows

    def copy(self, table: str, columns: list[str], rows: list[list[Json]]) -> int | None:
        """A bulk load through `executemany` of one INSERT, the DB-API way."""
        marks, bound = self.copy_binds(rows, len(columns))
        sql = copy_insert(table, columns, rows, marks)
        if sql is None:
            return 0
        cur = self.conn.cursor()
        self._track(cur)
        try:
            cur.executemany(sql, bound)
            return rowcount(cur.rowcount)
        finally:
            self._track(None)
            cur.close()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            best_effort("rollback on close", conn.rollback)
            best_effort("close", conn.close)

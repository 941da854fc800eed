"""What a driver adapter implements, and the protocol's errors.

An adapter turns requests into calls of its driver's own API and the driver's answers
into protocol values. The host calls every method from its main thread, in request order,
except `cancel`, which it calls from the cancel channel's thread while the main thread may
be inside another call."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from .protocol import KINDS
from .values import Json


def qualified_name(exc: BaseException) -> str:
    """`psycopg2.errors.UniqueViolation`, `pymysql.err.IntegrityError`, `ValueError`."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


@dataclass
class ErrorInfo:
    """The protocol's error object (docs/driver-host.md, Errors)."""

    kind: str
    message: str
    sqlstate: str | None = None
    code: str | None = None
    exception: str | None = None

    def to_json(self) -> dict[str, Json]:
        return {
            "kind": self.kind,
            "message": self.message,
            "sqlstate": self.sqlstate,
            "code": self.code,
            "exception": self.exception,
        }


class HostError(Exception):
    """An error the host or an adapter raises itself, already classified."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        sqlstate: str | None = None,
        code: str | None = None,
        exception: str | None = None,
    ) -> None:
        super().__init__(message)
        assert kind in KINDS, kind
        self.info = ErrorInfo(kind, message, sqlstate, code, exception)


def unsupported(what: str) -> HostError:
    return HostError("unsupported", what)


@dataclass(frozen=True)
class Column:
    name: str
    cls: str
    native: str

    def to_json(self) -> dict[str, Json]:
        return {"name": self.name, "class": self.cls, "native": self.native}


Row = list[Json]


@dataclass
class Rows:
    """A query's answer: its columns and its rows, values already encoded."""

    columns: list[Column]
    rows: list[Row]


@dataclass
class Batches:
    """A fetch's answer."""

    columns: list[Column]
    batches: list[list[Row]]


def value_class(value: object) -> str:
    """The portable class of a value, for drivers that report no column types."""
    checks: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "boolean"),
        (int, "integer"),
        (float, "float"),
        (Decimal, "decimal"),
        (str, "text"),
        ((bytes, bytearray, memoryview), "bytes"),
        (dt.datetime, "timestamp"),
        (dt.date, "date"),
        (dt.time, "time"),
        (dt.timedelta, "interval"),
        (uuid.UUID, "uuid"),
        (dict, "json"),
        ((list, tuple), "array"),
    ]
    for types, cls in checks:
        if isinstance(value, types):
            return cls
    return "other"


def classes_from_values(rows: Sequence[Sequence[object]], width: int) -> list[str]:
    """Each column's class from its first non-null value (`other` when all are null)."""
    classes = []
    for i in range(width):
        first = next((r[i] for r in rows if r[i] is not None), None)
        classes.append("other" if first is None else value_class(first))
    return classes


# What a driver with every feature's API offers (docs/driver-host.md, hello).
FULL_SQL = ("sql", "sessions", "transactions", "autocommit_off", "cursors", "cancel", "copy")


class Adapter:
    """The base: every operation unsupported. `name`, `distribution` (whose installed
    version `hello` reports) and `capabilities` describe the driver."""

    name: ClassVar[str]
    distribution: ClassVar[str]
    capabilities: ClassVar[tuple[str, ...]]

    def connect(self, target: str, autocommit: bool) -> None:
        raise unsupported(f"{self.name} cannot connect")

    def execute(self, sql: str, params: Json) -> int | None:
        raise unsupported(f"{self.name} has no SQL")

    def query(self, sql: str, params: Json) -> Rows:
        raise unsupported(f"{self.name} has no SQL")

    def fetch(self, sql: str, params: Json, batch: int, max_batches: int) -> Batches:
        raise unsupported(f"{self.name} has no cursors")

    def begin(self) -> None:
        raise unsupported(f"{self.name} has no transactions")

    def commit(self) -> None:
        raise unsupported(f"{self.name} has no transactions")

    def rollback(self) -> None:
        raise unsupported(f"{self.name} has no transactions")

    def copy(self, table: str, columns: list[str], rows: list[list[Json]]) -> int | None:
        raise unsupported(f"{self.name} has no bulk copy")

    def vector(self, operation: dict[str, Any]) -> dict[str, Json]:
        raise unsupported(f"{self.name} has no vector operations")

    def cancel(self) -> None:
        """Cancels the call in flight, if any. Called from the cancel channel's thread."""
        raise unsupported(f"{self.name} has no cancel API")

    def close(self) -> None:
        """Rolls back anything open and closes the connection (nothing when not open)."""

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        """The driver's view of an exception; None leaves it to the host (`client`)."""
        return None


def best_effort(what: str, action: Callable[[], object]) -> None:
    """Runs a step of closing a session whose failure changes nothing (a connection that
    is gone has nothing to roll back): a failure is noted on stderr, not raised."""
    try:
        action()
    except Exception as e:
        print(f"driver-host: {what} failed: {qualified_name(e)}: {e}", file=sys.stderr, flush=True)


def copy_insert(
    table: str, columns: list[str], rows: list[list[Json]], marks: list[str]
) -> str | None:
    """The INSERT a `copy` runs once per row, with `marks` for its values; `None` when
    there are no rows. A row of the wrong width is an error before anything is sent."""
    if any(len(r) != len(columns) for r in rows):
        raise HostError("client", f"a copy row does not have {len(columns)} values")
    if not rows:
        return None
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marks)})"


def named_binds(rows: list[list[Json]], width: int) -> tuple[list[str], list[dict[str, Json]]]:
    """`:p0, :p1, …` marks and each row as a mapping to them: column names need not be
    valid bind names."""
    names = [f"p{i}" for i in range(width)]
    return [":" + n for n in names], [dict(zip(names, r, strict=True)) for r in rows]


def rowcount(n: int | None) -> int | None:
    """DB-API's -1 (and None) for "unknown" as the protocol's null."""
    return None if n is None or n < 0 else n

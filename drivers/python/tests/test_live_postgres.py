"""psycopg2, asyncpg and SQLAlchemy (on psycopg2) against the reference PostgreSQL, each
through a host process spoken to as helios-matrix speaks to it."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from helios_driver_host.protocol import PROTOCOL

from .conftest import HostProcess, live, target

pytestmark = live("postgresql")
DRIVERS = ["psycopg2", "asyncpg", "sqlalchemy"]
CANCEL_DRIVERS = ["psycopg2", "asyncpg"]
_names = itertools.count(1)


def sql_params(driver: str, sql: str, values: list[Any]) -> tuple[str, Any]:
    """`sql` written with `{}` for each parameter, in the driver's style."""
    if driver == "psycopg2":
        return sql.format(*["%s"] * len(values)), values
    if driver == "asyncpg":
        return sql.format(*[f"${i + 1}" for i in range(len(values))]), values
    names = [f"p{i + 1}" for i in range(len(values))]
    return sql.format(*[":" + n for n in names]), dict(zip(names, values, strict=True))


Spawn = Callable[[str], HostProcess]


def session(spawn: Spawn, driver: str, autocommit: bool = True) -> HostProcess:
    host = spawn(driver)
    host.ok("connect", target=target("postgresql"), autocommit=autocommit)
    return host


@pytest.fixture
def table(spawn: Spawn) -> Iterator[str]:
    """A fresh table of this test's own (the servers are shared), dropped afterwards."""
    name = f"hdh_pg_{os.getpid()}_{next(_names)}"
    admin = session(spawn, "psycopg2")
    admin.ok(
        "execute", sql=f"CREATE TABLE {name} (id int PRIMARY KEY, name text, f float8)", params=[]
    )
    yield name
    admin.ok("execute", sql=f"DROP TABLE IF EXISTS {name}", params=[])


def count(host: HostProcess, table: str) -> int:
    rows = host.ok("query", sql=f"SELECT count(*) AS n FROM {table}", params=[])["rows"]
    n: int = rows[0][0]
    return n


@pytest.mark.parametrize("driver", DRIVERS)
def test_hello_connect_close(spawn: Spawn, driver: str) -> None:
    host = spawn(driver)
    assert host.hello["driver"] == driver
    assert host.hello["protocol"] == PROTOCOL
    caps = set(host.hello["capabilities"])
    assert {"sql", "sessions", "transactions", "autocommit_off", "cursors", "copy"} <= caps
    assert ("cancel" in caps) == (driver in CANCEL_DRIVERS)
    host.ok("connect", target=target("postgresql"), autocommit=True)
    assert host.close() == 0


@pytest.mark.parametrize("driver", DRIVERS)
def test_query_with_parameters(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    # CAST, not `::`: SQLAlchemy's text() does not see a bind in `:p1::int4`.
    sql, params = sql_params(
        driver,
        "SELECT CAST({} AS int4) AS a, CAST({} AS text) AS b, 1.50::numeric(5,2) AS n, "
        "CAST({} AS int8) IS NULL AS z",
        [7, "x", None],
    )
    answer = host.ok("query", sql=sql, params=params)
    assert answer["columns"] == [
        {"name": "a", "class": "integer", "native": "int4"},
        {"name": "b", "class": "text", "native": "text"},
        {"name": "n", "class": "decimal", "native": "numeric"},
        {"name": "z", "class": "boolean", "native": "bool"},
    ]
    assert answer["rows"] == [[7, "x", {"decimal": "1.50"}, True]]
    # A literal % in SQL without parameters is sent as is.
    answer = host.ok(
        "query", sql="SELECT '100%' AS pct", params=[] if driver != "sqlalchemy" else {}
    )
    assert answer["rows"] == [["100%"]]


TYPES_SQL = (
    "SELECT 1::int2, 2::int4, 3::int8, 1.50::numeric(5,2), 0.5::float4, 0.25::float8, "
    "true, 'txt'::text, 'vc'::varchar(5), '\\x0aff'::bytea, DATE '2024-01-02', "
    "TIME '03:04:05.5', TIMESTAMP '2024-01-02 03:04:05', TIMESTAMPTZ '2024-01-02 03:04:05+00', "
    "INTERVAL '1 day 04:05:06', '123e4567-e89b-12d3-a456-426614174000'::uuid, "
    # Not '{"b":2}': SQLAlchemy's text() would take `:2` for a bind parameter.
    """'{"a": 1}'::json, '{"b":  2}'::jsonb, ARRAY[1, 2, 3], ARRAY['a b', 'c'], NULL::int4, """
    "'NaN'::float8, 'Infinity'::float8"
)


@pytest.mark.parametrize("driver", DRIVERS)
def test_common_types(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    host.ok("execute", sql="SET TIME ZONE 'UTC'", params=[])
    answer = host.ok("query", sql=TYPES_SQL, params=[])
    classes = [c["class"] for c in answer["columns"]]
    assert classes == [
        "integer", "integer", "integer", "decimal", "float", "float", "boolean", "text", "text",
        "bytes", "date", "time", "timestamp", "timestamp", "interval", "uuid", "json", "json",
        "array", "array", "integer", "float", "float",
    ]  # fmt: skip
    assert answer["rows"] == [
        [
            1, 2, 3, {"decimal": "1.50"}, 0.5, 0.25, True, "txt", "vc", {"bytes": "Cv8="},
            {"date": "2024-01-02"}, {"time": "03:04:05.5"}, {"timestamp": "2024-01-02 03:04:05"},
            {"timestamp": "2024-01-02 03:04:05+00"}, {"interval": "1 day 04:05:06"},
            {"uuid": "123e4567-e89b-12d3-a456-426614174000"}, {"json": '{"a": 1}'},
            {"json": '{"b": 2}'}, {"array": "{1,2,3}"}, {"array": '{"a b",c}'}, None,
            {"float": "NaN"}, {"float": "Infinity"},
        ]
    ]  # fmt: skip


EXCEPTIONS = {
    "psycopg2": ("psycopg2.errors.SyntaxError", "psycopg2.errors.UniqueViolation"),
    "asyncpg": (
        "asyncpg.exceptions.PostgresSyntaxError",
        "asyncpg.exceptions.UniqueViolationError",
    ),
    "sqlalchemy": ("sqlalchemy.exc.ProgrammingError", "sqlalchemy.exc.IntegrityError"),
}


@pytest.mark.parametrize("driver", DRIVERS)
def test_errors(spawn: Spawn, driver: str, table: str) -> None:
    host = session(spawn, driver)
    syntax, unique = EXCEPTIONS[driver]
    error = host.error("execute", sql="SELEC 1", params=[])
    assert error["kind"] == "db"
    assert error["sqlstate"] == "42601"
    assert error["exception"] == syntax
    assert 'syntax error at or near "SELEC"' in error["message"]
    sql, params = sql_params(driver, f"INSERT INTO {table} (id) VALUES ({{}})", [1])
    assert host.ok("execute", sql=sql, params=params)["rowcount"] == 1
    error = host.error("execute", sql=sql, params=params)
    assert (error["kind"], error["sqlstate"], error["exception"]) == ("db", "23505", unique)
    assert "duplicate key value violates unique constraint" in error["message"]
    if driver == "sqlalchemy":
        host.ok("rollback")  # SQLAlchemy wants the failed transaction rolled back
    # The session goes on after a server error.
    assert host.ok("query", sql="SELECT 1 AS one", params=[])["rows"] == [[1]]


@pytest.mark.parametrize("driver", DRIVERS)
def test_autocommit_off_rolls_back(spawn: Spawn, driver: str, table: str) -> None:
    writer = session(spawn, driver, autocommit=False)
    other = session(spawn, "psycopg2")
    insert, params = sql_params(
        driver, f"INSERT INTO {table} (id, name) VALUES ({{}}, {{}})", [1, "a"]
    )
    writer.ok("execute", sql=insert, params=params)
    assert count(writer, table) == 1
    assert count(other, table) == 0  # not committed: invisible to another session
    writer.ok("rollback")
    assert count(writer, table) == 0
    writer.ok("execute", sql=insert, params=params)
    writer.ok("commit")
    assert count(other, table) == 1
    writer.ok("commit")  # nothing open: a no-op
    writer.ok("rollback")


@pytest.mark.parametrize("driver", DRIVERS)
def test_begin_in_autocommit_mode(spawn: Spawn, driver: str, table: str) -> None:
    host = session(spawn, driver)
    other = session(spawn, "psycopg2")
    insert, params = sql_params(driver, f"INSERT INTO {table} (id) VALUES ({{}})", [1])
    host.ok("execute", sql=insert, params=params)
    assert count(other, table) == 1  # autocommit: visible at once
    host.ok("begin")
    insert, params = sql_params(driver, f"INSERT INTO {table} (id) VALUES ({{}})", [2])
    host.ok("execute", sql=insert, params=params)
    assert count(other, table) == 1
    # A cursor inside the explicit transaction sees its uncommitted row.
    read = host.ok(
        "fetch", sql=f"SELECT id FROM {table} ORDER BY id", params=[], batch=1, max_batches=5
    )
    assert read["batches"] == [[[1]], [[2]]]
    host.ok("rollback")
    assert count(host, table) == 1
    host.ok("begin")
    host.ok("execute", sql=insert, params=params)
    host.ok("commit")
    assert count(other, table) == 2
    # Back in autocommit mode after the transaction.
    insert, params = sql_params(driver, f"INSERT INTO {table} (id) VALUES ({{}})", [3])
    host.ok("execute", sql=insert, params=params)
    assert count(other, table) == 3


@pytest.mark.parametrize("autocommit", [True, False])
@pytest.mark.parametrize("driver", DRIVERS)
def test_fetch_in_batches(spawn: Spawn, driver: str, autocommit: bool) -> None:
    host = session(spawn, driver, autocommit=autocommit)
    sql, params = sql_params(
        driver, "SELECT g AS n, g * 3 AS v FROM generate_series(1, {}) g", [10]
    )
    answer = host.ok("fetch", sql=sql, params=params, batch=4, max_batches=10)
    assert [c["name"] for c in answer["columns"]] == ["n", "v"]
    assert [c["class"] for c in answer["columns"]] == ["integer", "integer"]
    assert [len(b) for b in answer["batches"]] == [4, 4, 2]
    assert answer["batches"][1][0] == [5, 15]
    answer = host.ok("fetch", sql=sql, params=params, batch=3, max_batches=2)
    assert [len(b) for b in answer["batches"]] == [3, 3]
    answer = host.ok("fetch", sql="SELECT 1 AS x WHERE false", params=[], batch=3, max_batches=2)
    assert answer["batches"] == []
    # The cursor's transaction is over (autocommit) or still ours (autocommit off), and
    # the session takes the next statement.
    assert host.ok("query", sql="SELECT 2 AS two", params=[])["rows"] == [[2]]


@pytest.mark.parametrize("driver", DRIVERS)
def test_copy(spawn: Spawn, driver: str, table: str) -> None:
    host = session(spawn, driver)
    rows = [[1, "plain", 0.5], [2, None, None], [3, "tab\there\nnew \\ line", -2.25]]
    rows += [[i, f"n{i}", float(i)] for i in range(10, 110)]
    answer = host.ok("copy", table=table, columns=["id", "name", "f"], rows=rows)
    assert answer["rowcount"] == 103
    got = host.ok(
        "query", sql=f"SELECT id, name, f FROM {table} WHERE id < 10 ORDER BY id", params=[]
    )
    assert got["rows"] == rows[:3]
    assert count(host, table) == 103


@pytest.mark.parametrize("driver", CANCEL_DRIVERS)
def test_cancel_a_running_query(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    started = time.monotonic()
    query = host.send("query", sql="SELECT pg_sleep(10)", params=[])
    time.sleep(0.5)
    cancel = host.cancel()
    first = host.receive(timeout=5)
    assert first == {"id": cancel, "ok": True}  # answered while the query runs
    answer = host.receive(timeout=8)
    assert answer["id"] == query
    assert answer["ok"] is False
    assert answer["error"]["kind"] == "db"
    assert answer["error"]["sqlstate"] == "57014"
    assert time.monotonic() - started < 5
    assert host.ok("query", sql="SELECT 1 AS still_alive", params=[])["rows"] == [[1]]


def test_sqlalchemy_has_no_cancel(spawn: Spawn) -> None:
    host = session(spawn, "sqlalchemy")
    assert host.error("cancel")["kind"] == "unsupported"


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_killed_connection_is_lost(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    pid = host.ok("query", sql="SELECT pg_backend_pid() AS pid", params=[])["rows"][0][0]
    killer = session(spawn, "psycopg2")
    killer.ok("query", sql="SELECT pg_terminate_backend(%s)", params=[pid])
    time.sleep(0.2)
    error = host.error("query", sql="SELECT 1", params=[])
    assert error["kind"] == "lost", error
    # Closing a lost session still answers and ends the process.
    assert host.request("close") == {"id": host.last_id, "ok": True}
    assert host.proc.wait(timeout=5) == 0

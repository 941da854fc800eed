"""pymssql and pyodbc (over FreeTDS's ODBC driver) against the sqlserver target: the
iridium emulator of `scripts/services.sh up`, or a SQL Server given with
HELIOS_MATRIX_TARGET_SQLSERVER. Where iridium is known to differ from SQL Server
(docs/sqlserver.md), a test checks what iridium does, so that a fix there shows up."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator

import pytest

from .conftest import HostProcess, live, target

pytestmark = live("sqlserver")
DRIVERS = ["pymssql", "pyodbc"]
_names = itertools.count(1)
Spawn = Callable[[str], HostProcess]


def session(spawn: Spawn, driver: str, autocommit: bool = True) -> HostProcess:
    host = spawn(driver)
    host.ok("connect", target=target("sqlserver"), autocommit=autocommit)
    return host


def on_iridium(host: HostProcess) -> bool:
    rows = host.ok("query", sql="SELECT @@VERSION AS v", params=[])["rows"]
    return "iridium" in str(rows[0][0])


def drop(name: str) -> str:
    # iridium has no DROP TABLE IF EXISTS.
    return f"IF OBJECT_ID('{name}') IS NOT NULL DROP TABLE {name}"


@pytest.fixture
def table(spawn: Spawn) -> Iterator[str]:
    """A fresh table of this test's own (the server is shared)."""
    name = f"hdh_ms_{os.getpid()}_{next(_names)}"
    admin = session(spawn, "pymssql")
    admin.ok("execute", sql=drop(name), params=[])
    admin.ok("execute", sql=f"CREATE TABLE {name} (id INT NOT NULL, name NVARCHAR(50))", params=[])
    yield name
    admin.ok("execute", sql=drop(name), params=[])


def count(host: HostProcess, table: str) -> int:
    rows = host.ok("query", sql=f"SELECT COUNT(*) AS n FROM {table}", params=[])["rows"]
    n: int = rows[0][0]
    return n


@pytest.mark.parametrize("driver", DRIVERS)
def test_hello_and_typed_values(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    assert host.hello["driver"] == driver
    answer = host.ok(
        "query",
        sql="SELECT 1 AS i, CAST(2 AS BIGINT) AS b, CAST(1.50 AS DECIMAL(5,2)) AS d, "
        "CAST(2.5 AS FLOAT) AS f, CAST(1 AS BIT) AS t, CAST(0x0AFF AS VARBINARY(4)) AS raw, "
        "N'héllo' AS s, CAST('6F9619FF-8B86-D011-B42D-00C04FC964FF' AS UNIQUEIDENTIFIER) AS g, "
        "CAST(NULL AS INT) AS z",
        params=[],
    )
    assert [c["name"] for c in answer["columns"]] == ["i", "b", "d", "f", "t", "raw", "s", "g", "z"]
    assert [c["class"] for c in answer["columns"][:8]] == [
        "integer",
        "integer",
        "decimal",
        "float",
        "boolean",
        "bytes",
        "text",
        "uuid",
    ]
    assert answer["rows"] == [
        [
            1,
            2,
            {"decimal": "1.50"},
            2.5,
            True,
            {"bytes": "Cv8="},
            "héllo",
            {"uuid": "6F9619FF-8B86-D011-B42D-00C04FC964FF"},  # SQL Server's text form
            None,
        ]
    ]
    # A literal % in SQL without parameters is sent as is.
    assert host.ok("query", sql="SELECT '100%' AS pct", params=[])["rows"] == [["100%"]]
    assert host.close() == 0


EXCEPTIONS = {
    "pymssql": ("pymssql.exceptions.ProgrammingError", "pymssql.exceptions.OperationalError"),
    "pyodbc": ("pyodbc.ProgrammingError", "pyodbc.DataError"),
}


@pytest.mark.parametrize("driver", DRIVERS)
def test_errors_carry_sql_servers_numbers(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    syntax, arithmetic = EXCEPTIONS[driver]
    error = host.error("execute", sql="SELEC 1", params=[])
    assert (error["kind"], error["code"], error["exception"]) == ("db", "102", syntax)
    assert error["message"].startswith("Incorrect syntax near")
    error = host.error("query", sql="SELECT * FROM hdh_no_such_table", params=[])
    assert (error["kind"], error["code"], error["exception"]) == ("db", "208", syntax)
    assert error["message"] == "Invalid object name 'hdh_no_such_table'."
    error = host.error("query", sql="SELECT 1 / 0 AS x", params=[])
    assert (error["kind"], error["code"], error["exception"]) == ("db", "8134", arithmetic)
    assert error["message"] == "Divide by zero error encountered."
    if driver == "pyodbc":
        assert error["sqlstate"] == "22012"  # FreeTDS's ODBC driver derives one
    # The session is still usable.
    assert host.ok("query", sql="SELECT 1 AS still_alive", params=[])["rows"] == [[1]]


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_wrong_password_cannot_connect(spawn: Spawn, driver: str) -> None:
    host = spawn(driver)
    url = target("sqlserver")
    password = url.split("@", 1)[0].rsplit(":", 1)[1]
    error = host.error("connect", target=url.replace(f":{password}@", ":wrong@"), autocommit=True)
    assert error["kind"] == "connect"
    assert "Login failed" in error["message"]
    assert "wrong" not in error["message"]


def test_pymssql_parameters(spawn: Spawn, table: str) -> None:
    host = session(spawn, "pymssql")
    sql = f"INSERT INTO {table} (id, name) VALUES (%s, %s)"
    host.ok("execute", sql=sql, params=[1, "O'Reilly 日本"])
    host.ok("execute", sql=sql, params=[2, None])
    answer = host.ok(
        "query", sql=f"SELECT id, name FROM {table} WHERE id >= %s ORDER BY id", params=[1]
    )
    assert answer["rows"] == [[1, "O'Reilly 日本"], [2, None]]
    # helios-matrix doubles a literal % when there are parameters; pymssql takes it single.
    answer = host.ok(
        "query", sql="SELECT '100%%' AS pct, 7 %% 3 AS m, %s AS x", params=[4611686018427387904]
    )
    assert answer["rows"] == [["100%", 1, 4611686018427387904]]
    # A parameter used twice is named: `%(name)s` with a map.
    answer = host.ok(
        "query",
        sql=f"SELECT id FROM {table} WHERE id = %(n)s OR id = %(n)s + 1 ORDER BY id",
        params={"n": 1},
    )
    assert answer["rows"] == [[1], [2]]


def test_pyodbc_parameters(spawn: Spawn, table: str) -> None:
    host = session(spawn, "pyodbc")
    insert = f"INSERT INTO {table} (id, name) VALUES (?, ?)"
    host.ok("execute", sql=insert, params=[1, "x"])
    if on_iridium(host):
        # FreeTDS's ODBC driver sends parameters as an RPC of sp_prepexec, which iridium
        # answers with a bare DONE: no result set, and nothing inserted. The query fails
        # with pyodbc's own error rather than reading as no rows.
        error = host.error("query", sql="SELECT ? AS x", params=[7])
        assert (error["kind"], error["message"], error["exception"]) == (
            "client",
            "No results.  Previous SQL was not a query.",
            "pyodbc.ProgrammingError",
        )
        assert count(host, table) == 0
    else:
        assert host.ok("query", sql="SELECT ? AS x", params=[7])["rows"] == [[7]]
        assert count(host, table) == 1


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_query_without_a_result_set_is_the_drivers_error(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    error = host.error("query", sql="CREATE TABLE #hdh_no_rows (id INT)", params=[])
    assert error["kind"] == "client"
    assert error["exception"] in ("pymssql.exceptions.OperationalError", "pyodbc.ProgrammingError")
    # An empty result set is rows, none of them.
    answer = host.ok("query", sql="SELECT id FROM #hdh_no_rows", params=[])
    assert (len(answer["columns"]), answer["rows"]) == (1, [])


@pytest.mark.parametrize("driver", DRIVERS)
def test_begin_commit_and_rollback(spawn: Spawn, driver: str, table: str) -> None:
    host = session(spawn, driver)
    host.ok("begin")
    host.ok("execute", sql=f"INSERT INTO {table} (id, name) VALUES (1, 'a')", params=[])
    assert host.ok("query", sql="SELECT @@TRANCOUNT AS n", params=[])["rows"] == [[1]]
    host.ok("rollback")
    assert count(host, table) == 0
    host.ok("begin")
    host.ok("execute", sql=f"INSERT INTO {table} (id, name) VALUES (2, 'b')", params=[])
    host.ok("commit")
    assert host.ok("query", sql="SELECT @@TRANCOUNT AS n", params=[])["rows"] == [[0]]
    assert count(host, table) == 1
    # Nothing open: no-ops.
    host.ok("commit")
    host.ok("rollback")


def test_pymssql_autocommit_off(spawn: Spawn, table: str) -> None:
    host = session(spawn, "pymssql", autocommit=False)
    host.ok("execute", sql=f"INSERT INTO {table} (id, name) VALUES (1, 'a')", params=[])
    host.ok("rollback")
    assert count(host, table) == 0
    host.ok("execute", sql=f"INSERT INTO {table} (id, name) VALUES (2, 'b')", params=[])
    host.ok("commit")
    other = session(spawn, "pymssql")
    assert count(other, table) == 1
    # Closing rolls back what is open.
    host.ok("execute", sql=f"INSERT INTO {table} (id, name) VALUES (3, 'c')", params=[])
    assert host.close() == 0
    assert count(other, table) == 1


def test_pyodbc_declines_autocommit_off(spawn: Spawn) -> None:
    host = spawn("pyodbc")
    assert "autocommit_off" not in host.hello["capabilities"]
    error = host.error("connect", target=target("sqlserver"), autocommit=False)
    assert error["kind"] == "unsupported"


@pytest.mark.parametrize("driver", DRIVERS)
def test_fetch_in_batches(spawn: Spawn, driver: str, table: str) -> None:
    host = session(spawn, driver)
    values = ", ".join(f"({i}, 'n{i}')" for i in range(1, 8))
    host.ok("execute", sql=f"INSERT INTO {table} (id, name) VALUES {values}", params=[])
    sql = f"SELECT id, name FROM {table} ORDER BY id"
    answer = host.ok("fetch", sql=sql, params=[], batch=3, max_batches=10)
    assert [c["class"] for c in answer["columns"]] == ["integer", "text"]
    assert [[row[0] for row in b] for b in answer["batches"]] == [[1, 2, 3], [4, 5, 6], [7]]
    # Stopping early leaves the session usable.
    answer = host.ok("fetch", sql=sql, params=[], batch=2, max_batches=1)
    assert answer["batches"] == [[[1, "n1"], [2, "n2"]]]
    assert count(host, table) == 7


def test_pymssql_copy(spawn: Spawn, table: str) -> None:
    host = session(spawn, "pymssql")
    rows = [[i, None if i % 3 == 0 else f"r{i}"] for i in range(1, 51)]
    answer = host.ok("copy", table=table, columns=["id", "name"], rows=rows)
    # iridium's DONE tokens carry no row count: pymssql reports -1, the protocol null.
    assert answer["rowcount"] in (50, None)
    got = host.ok("query", sql=f"SELECT id, name FROM {table} ORDER BY id", params=[])
    assert got["rows"] == rows


def test_pyodbc_cancels_a_running_query(spawn: Spawn) -> None:
    host = session(spawn, "pyodbc")
    if on_iridium(host):
        # No WAITFOR in iridium: a cross join it takes about half a second over, with
        # little memory. It reads the Attention only once the query is done.
        name = f"hdh_ms_{os.getpid()}_{next(_names)}"
        host.ok("execute", sql=drop(name), params=[])
        host.ok("execute", sql=f"CREATE TABLE {name} (x INT)", params=[])
        values = ", ".join(f"({i})" for i in range(100))
        host.ok("execute", sql=f"INSERT INTO {name} (x) VALUES {values}", params=[])
        slow = (
            f"SELECT COUNT(*) AS n FROM {name} a CROSS JOIN {name} b "
            f"CROSS JOIN (SELECT TOP 3 x FROM {name}) c"
        )
    else:
        name = ""
        slow = "WAITFOR DELAY '00:00:10'"
    try:
        started = time.monotonic()
        query = host.send("query", sql=slow, params=[])
        time.sleep(0.1)
        cancel = host.cancel()
        assert host.receive(timeout=5) == {"id": cancel, "ok": True}
        answer = host.receive(timeout=30)
        assert answer["id"] == query
        assert answer["ok"] is False, answer
        error = answer["error"]
        assert (error["kind"], error["sqlstate"], error["code"]) == ("db", "HY008", "3617")
        assert time.monotonic() - started < 10
        assert host.ok("query", sql="SELECT 1 AS still_alive", params=[])["rows"] == [[1]]
    finally:
        if name:
            host.ok("execute", sql=drop(name), params=[])


def test_pymssql_has_no_cancel(spawn: Spawn) -> None:
    host = session(spawn, "pymssql")
    assert "cancel" not in host.hello["capabilities"]
    assert host.error("cancel")["kind"] == "unsupported"

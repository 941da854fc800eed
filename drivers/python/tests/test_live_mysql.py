"""PyMySQL, mysql-connector-python and SQLAlchemy (on PyMySQL) against the reference
MariaDB, over TLS, each through a host process."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .conftest import HostProcess, live, target

pytestmark = live("mysql")
DRIVERS = ["pymysql", "mysql-connector-python", "sqlalchemy"]
_names = itertools.count(1)
Spawn = Callable[[str], HostProcess]


def sql_params(driver: str, sql: str, values: list[Any]) -> tuple[str, Any]:
    """`sql` written with `{}` for each parameter, in the driver's style."""
    if driver != "sqlalchemy":
        return sql.format(*["%s"] * len(values)), values
    names = [f"p{i + 1}" for i in range(len(values))]
    return sql.format(*[":" + n for n in names]), dict(zip(names, values, strict=True))


def session(spawn: Spawn, driver: str, autocommit: bool = True) -> HostProcess:
    host = spawn(driver)
    host.ok("connect", target=target("mysql"), autocommit=autocommit)
    return host


@pytest.fixture
def table(spawn: Spawn) -> Iterator[str]:
    """A fresh InnoDB table of this test's own (the servers are shared)."""
    name = f"hdh_my_{os.getpid()}_{next(_names)}"
    admin = session(spawn, "pymysql")
    admin.ok(
        "execute",
        sql=f"CREATE TABLE {name} (id INT PRIMARY KEY, name VARCHAR(100), f DOUBLE) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        params=[],
    )
    yield name
    admin.ok("execute", sql=f"DROP TABLE IF EXISTS {name}", params=[])


def count(host: HostProcess, table: str) -> int:
    rows = host.ok("query", sql=f"SELECT COUNT(*) AS n FROM {table}", params=[])["rows"]
    n: int = rows[0][0]
    return n


@pytest.mark.parametrize("driver", DRIVERS)
def test_hello_connect_over_tls(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    assert host.hello["driver"] == driver
    assert "cancel" not in host.hello["capabilities"]
    rows = host.ok("query", sql="SHOW SESSION STATUS LIKE 'Ssl_cipher'", params=[])["rows"]
    assert rows[0][1] != ""  # the session is encrypted
    assert host.close() == 0


@pytest.mark.parametrize("driver", DRIVERS)
def test_query_with_parameters_and_types(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    sql, params = sql_params(
        driver,
        "SELECT {} + 0 AS a, CAST({} AS CHAR) AS b, CAST(1.50 AS DECIMAL(5,2)) AS n, "
        "X'0AFF' AS raw, CAST('2024-01-02' AS DATE) AS d, CAST('03:04:05.5' AS TIME(1)) AS t, "
        "CAST('2024-01-02 03:04:05' AS DATETIME) AS ts, 2.5e0 AS f, 'héllo' AS s, NULL AS z",
        [7, "x"],
    )
    answer = host.ok("query", sql=sql, params=params)
    assert [(c["name"], c["class"]) for c in answer["columns"]] == [
        ("a", "integer"),
        ("b", "text"),
        ("n", "decimal"),
        ("raw", "bytes"),
        ("d", "date"),
        ("t", "time"),
        ("ts", "timestamp"),
        ("f", "float"),
        ("s", "text"),
        ("z", "other"),
    ]
    assert answer["columns"][2]["native"] == "NEWDECIMAL"
    assert answer["rows"] == [
        [
            7,
            "x",
            {"decimal": "1.50"},
            {"bytes": "Cv8="},
            {"date": "2024-01-02"},
            {"time": "03:04:05.5"},
            {"timestamp": "2024-01-02 03:04:05"},
            2.5,
            "héllo",
            None,
        ]
    ]
    # A literal % in SQL without parameters is sent as is.
    assert host.ok("query", sql="SELECT '100%' AS pct", params=[])["rows"] == [["100%"]]


EXCEPTIONS = {
    "pymysql": ("pymysql.err.ProgrammingError", "pymysql.err.IntegrityError", None),
    "mysql-connector-python": (
        "mysql.connector.errors.ProgrammingError",
        "mysql.connector.errors.IntegrityError",
        "23000",
    ),
    "sqlalchemy": ("sqlalchemy.exc.ProgrammingError", "sqlalchemy.exc.IntegrityError", None),
}


@pytest.mark.parametrize("driver", DRIVERS)
def test_errors(spawn: Spawn, driver: str, table: str) -> None:
    host = session(spawn, driver)
    syntax, unique, dup_state = EXCEPTIONS[driver]
    error = host.error("execute", sql="SELEC 1", params=[])
    assert (error["kind"], error["code"], error["exception"]) == ("db", "1064", syntax)
    assert "You have an error in your SQL syntax" in error["message"]
    sql, params = sql_params(driver, f"INSERT INTO {table} (id) VALUES ({{}})", [1])
    assert host.ok("execute", sql=sql, params=params)["rowcount"] == 1
    error = host.error("execute", sql=sql, params=params)
    assert (error["kind"], error["code"], error["sqlstate"], error["exception"]) == (
        "db",
        "1062",
        dup_state,
        unique,
    )
    assert "Duplicate entry" in error["message"]
    if driver == "sqlalchemy":
        host.ok("rollback")
    assert host.ok("query", sql="SELECT 1 AS one", params=[])["rows"] == [[1]]


@pytest.mark.parametrize("driver", DRIVERS)
def test_autocommit_off_rolls_back(spawn: Spawn, driver: str, table: str) -> None:
    writer = session(spawn, driver, autocommit=False)
    other = session(spawn, "pymysql")
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


@pytest.mark.parametrize("driver", DRIVERS)
def test_begin_in_autocommit_mode(spawn: Spawn, driver: str, table: str) -> None:
    host = session(spawn, driver)
    other = session(spawn, "pymysql")
    host.ok("begin")
    insert, params = sql_params(driver, f"INSERT INTO {table} (id) VALUES ({{}})", [1])
    host.ok("execute", sql=insert, params=params)
    assert count(other, table) == 0
    host.ok("rollback")
    assert count(host, table) == 0
    host.ok("begin")
    host.ok("execute", sql=insert, params=params)
    host.ok("commit")
    assert count(other, table) == 1
    insert, params = sql_params(driver, f"INSERT INTO {table} (id) VALUES ({{}})", [2])
    host.ok("execute", sql=insert, params=params)  # autocommit again
    assert count(other, table) == 2


@pytest.mark.parametrize("driver", DRIVERS)
def test_fetch_in_batches(spawn: Spawn, driver: str, table: str) -> None:
    host = session(spawn, driver)
    host.ok("copy", table=table, columns=["id", "f"], rows=[[i, i * 3.0] for i in range(1, 11)])
    sql, params = sql_params(
        driver, f"SELECT id, f FROM {table} WHERE id <= {{}} ORDER BY id", [10]
    )
    answer = host.ok("fetch", sql=sql, params=params, batch=4, max_batches=10)
    assert [(c["name"], c["class"]) for c in answer["columns"]] == [
        ("id", "integer"),
        ("f", "float"),
    ]
    assert [len(b) for b in answer["batches"]] == [4, 4, 2]
    assert answer["batches"][1][0] == [5, 15.0]
    # Stopping early leaves the unbuffered result in a state the next statement accepts.
    answer = host.ok("fetch", sql=sql, params=params, batch=3, max_batches=2)
    assert [len(b) for b in answer["batches"]] == [3, 3]
    assert host.ok("query", sql="SELECT 2 AS two", params=[])["rows"] == [[2]]


@pytest.mark.parametrize("driver", DRIVERS)
def test_copy(spawn: Spawn, driver: str, table: str) -> None:
    host = session(spawn, driver)
    rows = [[1, "plain", 0.5], [2, None, None], [3, "tab\there 'q' \\ 日本語", -2.25]]
    rows += [[i, f"n{i}", float(i)] for i in range(10, 110)]
    answer = host.ok("copy", table=table, columns=["id", "name", "f"], rows=rows)
    assert answer["rowcount"] == 103
    got = host.ok(
        "query", sql=f"SELECT id, name, f FROM {table} WHERE id < 10 ORDER BY id", params=[]
    )
    assert got["rows"] == rows[:3]
    assert count(host, table) == 103


@pytest.mark.parametrize("driver", DRIVERS)
def test_no_cancel_api(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    assert host.error("cancel")["kind"] == "unsupported"


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_killed_connection_is_lost(spawn: Spawn, driver: str) -> None:
    host = session(spawn, driver)
    conn_id = host.ok("query", sql="SELECT CONNECTION_ID() AS id", params=[])["rows"][0][0]
    killer = session(spawn, "pymysql")
    killer.ok("execute", sql=f"KILL CONNECTION {int(conn_id)}", params=[])
    time.sleep(0.2)
    error = host.error("query", sql="SELECT 1", params=[])
    assert error["kind"] == "lost", error
    # Closing a lost session still answers and ends the process.
    assert host.request("close") == {"id": host.last_id, "ok": True}
    assert host.proc.wait(timeout=5) == 0

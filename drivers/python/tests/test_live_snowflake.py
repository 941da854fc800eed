"""snowflake-connector-python against fakesnow (the Snowflake REST emulator), through a
host process. fakesnow answers abort-request without stopping anything, so `cancel` is
checked for its answer, not its effect."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from .conftest import HostProcess, live, target

pytestmark = live("snowflake")
DRIVER = "snowflake-connector-python"
_names = itertools.count(1)
Spawn = Callable[[str], HostProcess]


def session(spawn: Spawn, autocommit: bool = True) -> HostProcess:
    host = spawn(DRIVER)
    host.ok("connect", target=target("snowflake"), autocommit=autocommit)
    return host


@pytest.fixture
def table(spawn: Spawn) -> Iterator[str]:
    name = f"hdh_sf_{os.getpid()}_{next(_names)}"
    admin = session(spawn)
    admin.ok("execute", sql=f"CREATE TABLE {name} (id INT, name VARCHAR)", params=[])
    yield name
    admin.ok("execute", sql=f"DROP TABLE IF EXISTS {name}", params=[])


def count(host: HostProcess, table: str) -> int:
    rows = host.ok("query", sql=f"SELECT COUNT(*) AS n FROM {table}", params=[])["rows"]
    n: int = rows[0][0]
    return n


def test_hello_and_connect(spawn: Spawn) -> None:
    host = session(spawn)
    assert host.hello["driver"] == DRIVER
    assert host.hello["driver_version"].startswith("4.")
    assert {"sql", "transactions", "autocommit_off", "cursors", "cancel", "copy"} <= set(
        host.hello["capabilities"]
    )
    assert host.close() == 0


def test_query_with_qmark_parameters_and_types(spawn: Spawn) -> None:
    host = session(spawn)
    answer = host.ok(
        "query",
        sql="SELECT CAST(? AS INT) AS a, ? AS b, 1.50::NUMBER(5,2) AS c, 2.5::FLOAT AS d, "
        "TRUE AS e, '2024-01-02'::DATE AS f, '2024-01-02 03:04:05'::TIMESTAMP AS g, "
        "'03:04:05.5'::TIME AS h, TO_BINARY('0A00FF', 'HEX') AS i, PARSE_JSON('{\"a\":1}') AS j",
        params=[1, "x"],
    )
    assert [(c["name"], c["class"]) for c in answer["columns"]] == [
        ("A", "integer"),
        ("B", "text"),
        ("C", "decimal"),
        ("D", "float"),
        ("E", "boolean"),
        ("F", "date"),
        ("G", "timestamp"),
        ("H", "time"),
        ("I", "bytes"),
        ("J", "json"),
    ]
    assert answer["columns"][2]["native"] == "FIXED(5,2)"
    assert answer["rows"] == [
        [
            1,
            "x",
            {"decimal": "1.50"},
            2.5,
            True,
            {"date": "2024-01-02"},
            {"timestamp": "2024-01-02 03:04:05"},
            {"time": "03:04:05.5"},
            {"bytes": "CgD/"},
            {"json": '{"a":1}'},
        ]
    ]


def test_errors_carry_the_six_digit_code(spawn: Spawn) -> None:
    host = session(spawn)
    error = host.error("execute", sql="SELEC 1", params=[])
    assert error["kind"] == "db"
    assert error["code"] == "001003"
    assert error["sqlstate"] == "42000"
    assert error["exception"] == "snowflake.connector.errors.ProgrammingError"
    assert "Unexpected token" in error["message"]  # the server's own message
    error = host.error("query", sql="SELECT * FROM hdh_no_such_table", params=[])
    assert error["kind"] == "db"
    assert error["code"] == "002003"
    assert host.ok("query", sql="SELECT 1 AS one", params=[])["rows"] == [[1]]


def test_autocommit_off_rolls_back(spawn: Spawn, table: str) -> None:
    writer = session(spawn, autocommit=False)
    other = session(spawn)
    insert = f"INSERT INTO {table} (id, name) VALUES (?, ?)"
    assert writer.ok("execute", sql=insert, params=[1, "a"])["rowcount"] == 1
    assert count(other, table) == 0
    writer.ok("rollback")
    assert count(writer, table) == 0
    writer.ok("execute", sql=insert, params=[1, "a"])
    writer.ok("commit")
    assert count(other, table) == 1


def test_begin_in_autocommit_mode(spawn: Spawn, table: str) -> None:
    host = session(spawn)
    other = session(spawn)
    host.ok("begin")
    host.ok("execute", sql=f"INSERT INTO {table} (id) VALUES (?)", params=[1])
    assert count(other, table) == 0
    host.ok("commit")
    assert count(other, table) == 1


def test_fetch_and_copy(spawn: Spawn, table: str) -> None:
    host = session(spawn)
    rows = [[i, f"n{i}"] for i in range(1, 11)] + [[11, None]]
    assert host.ok("copy", table=table, columns=["id", "name"], rows=rows)["rowcount"] == 11
    answer = host.ok(
        "fetch", sql=f"SELECT id, name FROM {table} ORDER BY id", params=[], batch=4, max_batches=10
    )
    assert [c["name"] for c in answer["columns"]] == ["ID", "NAME"]
    assert [len(b) for b in answer["batches"]] == [4, 4, 3]
    assert answer["batches"][2][2] == [11, None]
    answer = host.ok(
        "fetch",
        sql=f"SELECT id FROM {table} WHERE id > ? ORDER BY id",
        params=[8],
        batch=2,
        max_batches=1,
    )
    assert answer["batches"] == [[[9], [10]]]


def test_cancel_is_answered(spawn: Spawn) -> None:
    host = session(spawn)
    assert host.request("cancel")["ok"] is True  # nothing running: nothing to do
    query = host.send("query", sql="SELECT COUNT(*) AS n FROM (SELECT 1)", params=[])
    cancel = host.cancel()
    answers = {a["id"]: a for a in (host.receive(), host.receive())}
    assert answers[cancel] == {"id": cancel, "ok": True}
    # fakesnow's abort-request stops nothing: the query completes.
    assert answers[query]["ok"] is True

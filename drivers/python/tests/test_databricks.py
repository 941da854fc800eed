"""databricks-sql-connector has no server here (it speaks Thrift over HTTP; the
emulator speaks the Statement Execution API): its adapter is checked against a stand-in
for `databricks.sql.connect`, for what it calls and how it encodes what comes back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import databricks.sql
import pytest

from helios_driver_host.adapter import HostError
from helios_driver_host.adapters.databricks_driver import DatabricksAdapter

TARGET = "https://token:dapi%2Fsecret@adb-1.example.net:8444/sql/1.0/warehouses/abc123"
ROWS = [
    (1, Decimal("1.50"), "a", dt.date(2024, 1, 2), True, None),
    (2, Decimal("-0.25"), "b", dt.date(2024, 1, 3), False, b"\x00"),
    (3, Decimal("10.00"), "c", dt.date(2024, 1, 4), None, b"\xff"),
]
DESCRIPTION = [
    ("id", "int", None, None, None, None, True),
    ("price", "decimal", None, None, 5, 2, True),
    ("name", "string", None, None, None, None, True),
    ("day", "date", None, None, None, None, True),
    ("flag", "boolean", None, None, None, None, True),
    ("raw", "binary", None, None, None, None, True),
]


class FakeCursor:
    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log
        self.description: list[tuple[Any, ...]] | None = None
        self.rowcount = -1
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, operation: str, parameters: Any = None) -> FakeCursor:
        self.log.append(("execute", (operation, parameters)))
        if operation.startswith("SELECT"):
            self.description = DESCRIPTION
            self._rows = list(ROWS)
        else:
            self.rowcount = 1
        return self

    def executemany(self, operation: str, seq: list[dict[str, Any]]) -> None:
        self.log.append(("executemany", (operation, seq)))
        self.rowcount = len(seq)

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        self.log.append(("fetchmany", size))
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def cancel(self) -> None:
        self.log.append(("cancel", None))

    def close(self) -> None:
        self.log.append(("close-cursor", None))


class FakeConnection:
    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.log)

    def close(self) -> None:
        self.log.append(("close", None))


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch) -> tuple[DatabricksAdapter, list[tuple[str, Any]]]:
    log: list[tuple[str, Any]] = []

    def connect(**kwargs: Any) -> FakeConnection:
        log.append(("connect", kwargs))
        return FakeConnection(log)

    monkeypatch.setattr(databricks.sql, "connect", connect)
    adapter = DatabricksAdapter()
    adapter.connect(TARGET, autocommit=True)
    return adapter, log


def test_connect_maps_the_target(connected: tuple[DatabricksAdapter, list[Any]]) -> None:
    _, log = connected
    assert log == [
        (
            "connect",
            {
                "server_hostname": "adb-1.example.net",
                "http_path": "/sql/1.0/warehouses/abc123",
                "access_token": "dapi/secret",
                "_port": 8444,
            },
        )
    ]


def test_connect_http_path_from_the_query(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(databricks.sql, "connect", lambda **kw: calls.append(kw))
    DatabricksAdapter().connect("http://token:t@h?http_path=/sql/x", autocommit=True)
    DatabricksAdapter().connect("http://token:t@h?warehouse=w1", autocommit=True)
    assert [c["http_path"] for c in calls] == ["/sql/x", "/sql/1.0/warehouses/w1"]
    assert "_port" not in calls[0]
    with pytest.raises(HostError) as e:
        DatabricksAdapter().connect("http://token:t@h", autocommit=False)
    assert e.value.info.kind == "unsupported"


def test_execute_binds_named_parameters(connected: tuple[DatabricksAdapter, list[Any]]) -> None:
    adapter, log = connected
    assert adapter.execute("INSERT INTO t VALUES (:id, :n)", {"id": 1, "n": "x"}) == 1
    assert ("execute", ("INSERT INTO t VALUES (:id, :n)", {"id": 1, "n": "x"})) in log
    adapter.execute("DELETE FROM t", [])
    assert ("execute", ("DELETE FROM t", None)) in log
    with pytest.raises(HostError, match="object"):
        adapter.execute("SELECT ?", [1])


def test_query_encodes_columns_and_values(connected: tuple[DatabricksAdapter, list[Any]]) -> None:
    adapter, _ = connected
    result = adapter.query("SELECT * FROM t", {})
    assert [(c.name, c.cls, c.native) for c in result.columns] == [
        ("id", "integer", "int"),
        ("price", "decimal", "decimal"),
        ("name", "text", "string"),
        ("day", "date", "date"),
        ("flag", "boolean", "boolean"),
        ("raw", "bytes", "binary"),
    ]
    assert result.rows[0] == [1, {"decimal": "1.50"}, "a", {"date": "2024-01-02"}, True, None]
    assert result.rows[2][-1] == {"bytes": "/w=="}


def test_fetch_reads_batches_with_fetchmany(connected: tuple[DatabricksAdapter, list[Any]]) -> None:
    adapter, log = connected
    read = adapter.fetch("SELECT * FROM t", {}, batch=2, max_batches=5)
    assert [len(b) for b in read.batches] == [2, 1]
    assert [b[0][0] for b in read.batches] == [1, 3]
    assert [size for op, size in log if op == "fetchmany"] == [2, 2]
    assert read.columns[1].cls == "decimal"
    one = adapter.fetch("SELECT * FROM t", {}, batch=2, max_batches=1)
    assert [len(b) for b in one.batches] == [2]


def test_copy_is_one_executemany(connected: tuple[DatabricksAdapter, list[Any]]) -> None:
    adapter, log = connected
    assert adapter.copy("t", ["id", "name"], [[1, "a"], [2, None]]) == 2
    assert (
        "executemany",
        (
            "INSERT INTO t (id, name) VALUES (:p0, :p1)",
            [{"p0": 1, "p1": "a"}, {"p0": 2, "p1": None}],
        ),
    ) in log


def test_cancel_and_close(connected: tuple[DatabricksAdapter, list[Any]]) -> None:
    adapter, log = connected
    adapter.cancel()  # nothing running: nothing to cancel
    assert ("cancel", None) not in log
    adapter.active = FakeCursor(log)
    adapter.cancel()
    assert ("cancel", None) in log
    with pytest.raises(HostError) as e:
        adapter.begin()
    assert e.value.info.kind == "unsupported"
    adapter.close()
    assert log[-1] == ("close", None)

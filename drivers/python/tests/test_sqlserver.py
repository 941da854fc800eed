"""Without a server: SQL Server targets, pymssql's and pyodbc's errors and column types,
their SQL and connection strings, and the T-SQL transactions both adapters send."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pymssql
import pyodbc
import pytest
from pymssql import _mssql

from helios_driver_host.adapter import HostError
from helios_driver_host.adapters import load
from helios_driver_host.adapters.pymssql_driver import (
    PymssqlAdapter,
    pymssql_columns,
    pymssql_connect_args,
    pymssql_error,
)
from helios_driver_host.adapters.pyodbc_driver import (
    PyodbcAdapter,
    freetds_driver,
    odbc_connection_string,
    odbc_value,
    pyodbc_column,
    pyodbc_error,
)
from helios_driver_host.targets import sqlserver_target

TARGET = "mssql://sa:Pa%3Bss@127.0.0.1:1433/helios"


def test_sqlserver_targets() -> None:
    t = sqlserver_target(TARGET)
    assert (t.host, t.port, t.user, t.password, t.database) == (
        "127.0.0.1",
        1433,
        "sa",
        "Pa;ss",
        "helios",
    )
    # No TLS unless asked for, as the tds executor reads the same URL.
    assert (t.encryption, t.tds_version) == ("off", None)
    assert "Pa;ss" not in repr(t)
    t = sqlserver_target("sqlserver://u:p@db.example:14330?encrypt=true&tds_version=7.4")
    assert (t.port, t.database, t.encryption, t.tds_version) == (14330, None, "require", "7.4")
    assert sqlserver_target("mssql://u:p@h/db?encrypt=no").encryption == "off"
    assert sqlserver_target("mssql://u:p@h/db?encrypt=request").encryption == "request"
    with pytest.raises(HostError, match="encrypt=maybe"):
        sqlserver_target("mssql://u:p@h/db?encrypt=maybe")
    with pytest.raises(HostError, match="unknown SQL Server target parameter"):
        sqlserver_target("mssql://u:p@h/db?sslmode=require")
    with pytest.raises(HostError, match="not a SQL Server URL"):
        sqlserver_target("postgres://u:p@h/db")


def test_pymssql_connect_arguments() -> None:
    args = pymssql_connect_args(TARGET, False)
    assert args == {
        "server": "127.0.0.1",
        "port": "1433",
        "user": "sa",
        "password": "Pa;ss",
        "database": "helios",
        "encryption": "off",
        "autocommit": False,
        "appname": "helios-matrix",
    }
    assert "database" not in pymssql_connect_args("mssql://sa:p@h", True)


# What pymssql appends to every server message.
DBLIB_TAIL = (
    b"DB-Lib error message 20018, severity 16:\n"
    b"General SQL Server error: Check messages from the SQL Server\n"
)


def test_pymssql_errors_carry_sql_servers_number() -> None:
    exc = pymssql.ProgrammingError(208, b"Invalid object name 'nope'." + DBLIB_TAIL)
    info = pymssql_error(exc)
    assert info is not None
    assert (info.kind, info.code, info.sqlstate, info.message, info.exception) == (
        "db",
        "208",
        None,
        "Invalid object name 'nope'.",
        "pymssql.exceptions.ProgrammingError",
    )
    # Connecting wraps (number, message) once more.
    login = pymssql_error(
        pymssql.OperationalError((18456, b"Login failed for user 'sa'." + DBLIB_TAIL))
    )
    assert login is not None
    assert (login.kind, login.code, login.message) == (
        "db",
        "18456",
        "Login failed for user 'sa'.",
    )


def test_pymssql_errors_raised_from_the_server_error_keep_its_number() -> None:
    try:
        try:
            raise _mssql.MSSQLDatabaseException((2627, b"Violation of PRIMARY KEY." + DBLIB_TAIL))
        except _mssql.MSSQLDatabaseException as inner:
            raise pymssql.OperationalError(f"Cannot commit transaction: {inner.args[0]}")  # noqa: B904
    except pymssql.OperationalError as outer:
        info = pymssql_error(outer)
    assert info is not None
    assert (info.kind, info.code, info.message, info.exception) == (
        "db",
        "2627",
        "Violation of PRIMARY KEY.",
        "pymssql.exceptions.OperationalError",
    )


def test_pymssql_db_library_errors_are_the_clients() -> None:
    # The number is a stale server message's; the text is DB-Library's alone.
    refused = pymssql_error(
        pymssql.OperationalError(
            (
                50000,
                b"DB-Lib error message 20009, severity 9:\nUnable to connect: TDS server is "
                b"unavailable or does not exist (127.0.0.1)\nNet-Lib error during Connection "
                b"refused (111)\n",
            )
        )
    )
    assert refused is not None
    assert (refused.kind, refused.code) == ("client", "20009")
    assert refused.message.startswith("Unable to connect: TDS server is unavailable")
    dead = pymssql_error(
        pymssql.OperationalError(
            20047, b"DB-Lib error message 20047, severity 9:\nDBPROCESS is dead or not enabled\n"
        )
    )
    assert dead is not None
    assert (dead.kind, dead.code, dead.message) == (
        "lost",
        "20047",
        "DBPROCESS is dead or not enabled",
    )
    closed = pymssql_error(pymssql.InterfaceError("Connection is closed."))
    assert closed is not None
    assert (closed.kind, closed.code) == ("lost", None)
    assert pymssql_error(ValueError("x")) is None


def test_pymssql_columns_take_the_values_where_its_type_codes_are_coarse() -> None:
    description = [
        ("i", 3),
        ("f", 3),
        ("b", 3),
        ("n", 3),
        ("s", 1),
        ("raw", 2),
        ("g", 2),
        ("d", 5),
        ("ts", 4),
        ("day", 4),
        ("never", 4),
    ]
    rows: list[tuple[object, ...]] = [
        (None, 1.5, True, None, "x", b"\x00", uuid.UUID(int=1), Decimal("1.50"), None, None, None),
        (
            7,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            dt.datetime(2024, 1, 2, 3, 4, 5),
            dt.date(2024, 1, 2),
            None,
        ),
    ]
    columns = pymssql_columns(description, rows)
    assert [(c.name, c.cls, c.native) for c in columns] == [
        ("i", "integer", "NUMBER"),
        ("f", "float", "NUMBER"),
        ("b", "boolean", "NUMBER"),
        ("n", "other", "NUMBER"),  # NULLs only: nothing says which number
        ("s", "text", "STRING"),
        ("raw", "bytes", "BINARY"),
        ("g", "uuid", "BINARY"),
        ("d", "decimal", "DECIMAL"),
        ("ts", "timestamp", "DATETIME"),
        ("day", "date", "DATETIME"),
        ("never", "timestamp", "DATETIME"),
    ]


class Recorder:
    """A DB-API connection and cursor that record the SQL they are given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.commits = 0
        self.rollbacks = 0
        self.closed = False

    def cursor(self) -> Recorder:
        return self

    def execute(self, sql: str, *params: Any) -> None:
        self.sent.append((sql, params))

    def close(self) -> None:
        self.closed = True

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1


def test_pymssql_undoes_the_percent_doubling_only_with_parameters() -> None:
    adapter = PymssqlAdapter()
    cursor = Recorder()
    adapter.run(cursor, "SELECT 7 %% 3, '100%%' WHERE x = %s", [1])
    adapter.run(cursor, "SELECT '100%'", [])
    adapter.run(cursor, "SELECT %(n)s + %(n)s, '5%%'", {"n": 2})
    assert cursor.sent == [
        ("SELECT 7 % 3, '100%' WHERE x = %s", ((1,),)),
        ("SELECT '100%'", ()),
        ("SELECT %(n)s + %(n)s, '5%'", ({"n": 2},)),
    ]


@pytest.mark.parametrize("driver", ["pymssql", "pyodbc"])
def test_guids_in_sql_servers_upper_case(driver: str) -> None:
    adapter = load(driver)
    assert isinstance(adapter, PymssqlAdapter | PyodbcAdapter)
    guid = uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff")
    assert adapter.encode([guid, None, "x", Decimal("1.50")], ["uuid", "integer", "text"]) == [
        {"uuid": "6F9619FF-8B86-D011-B42D-00C04FC964FF"},
        None,
        "x",
        {"decimal": "1.50"},
    ]


@pytest.mark.parametrize("driver", ["pymssql", "pyodbc"])
def test_begin_in_autocommit_mode_is_t_sql(driver: str) -> None:
    adapter = load(driver)
    assert isinstance(adapter, PymssqlAdapter | PyodbcAdapter)
    conn = Recorder()
    adapter.conn = conn
    adapter.autocommit = True
    # Nothing open: commit and rollback are no-ops, and the driver's own are not called
    # (FreeTDS's ODBC driver would send a transaction-manager request).
    adapter.commit()
    adapter.rollback()
    adapter.begin()
    adapter.commit()
    adapter.begin()
    adapter.rollback()
    assert [sql for sql, _ in conn.sent] == [
        "BEGIN TRANSACTION",
        "COMMIT TRANSACTION",
        "BEGIN TRANSACTION",
        "ROLLBACK TRANSACTION",
    ]
    assert (conn.commits, conn.rollbacks) == (0, 0)
    adapter.close()
    assert conn.closed
    assert conn.rollbacks == 0


def test_pymssql_autocommit_off_uses_its_own_transaction() -> None:
    adapter = PymssqlAdapter()
    conn = Recorder()
    adapter.conn = conn
    adapter.autocommit = False
    adapter.begin()  # pymssql has one open already
    adapter.commit()
    adapter.rollback()
    assert conn.sent == []
    assert (conn.commits, conn.rollbacks) == (1, 1)
    adapter.close()
    assert conn.rollbacks == 2


def test_pyodbc_errors_carry_the_native_error_number() -> None:
    exc = pyodbc.ProgrammingError(
        "42S02",
        "[42S02] [FreeTDS][SQL Server]Invalid object name 'no_such_table'. (208) (SQLExecDirectW)",
    )
    info = pyodbc_error(exc)
    assert info is not None
    assert (info.kind, info.code, info.sqlstate, info.message, info.exception) == (
        "db",
        "208",
        "42S02",
        "Invalid object name 'no_such_table'.",
        "pyodbc.ProgrammingError",
    )
    # Several diagnostic records: the first one's; a message with parentheses of its own.
    many = pyodbc_error(
        pyodbc.IntegrityError(
            "23000",
            "[23000] [FreeTDS][SQL Server]Violation of PRIMARY KEY constraint 'PK_t' (id). "
            "(2627) (SQLExecDirectW); [01000] [FreeTDS][SQL Server]The statement has been "
            "terminated. (3621)",
        )
    )
    assert many is not None
    assert (many.kind, many.code, many.message) == (
        "db",
        "2627",
        "Violation of PRIMARY KEY constraint 'PK_t' (id).",
    )


def test_pyodbc_errors_that_are_not_the_servers() -> None:
    cancelled = pyodbc_error(
        pyodbc.Error(
            "HY008", "[HY008] [FreeTDS][SQL Server]Operation was cancelled (0) (SQLExecDirectW)"
        )
    )
    assert cancelled is not None
    assert (cancelled.kind, cancelled.sqlstate, cancelled.code) == ("db", "HY008", "3617")
    assert cancelled.message == "Operation was cancelled"
    refused = pyodbc_error(
        pyodbc.OperationalError(
            "08S01",
            "[08S01] [FreeTDS][SQL Server]Unable to connect: Adaptive Server is unavailable or "
            "does not exist (20009) (SQLDriverConnect)",
        )
    )
    assert refused is not None
    assert (refused.kind, refused.sqlstate, refused.code) == ("lost", "08S01", "20009")
    timeout = pyodbc_error(
        pyodbc.OperationalError(
            "HYT00", "[HYT00] [FreeTDS][SQL Server]Query timeout expired (0) (SQLExecute)"
        )
    )
    assert timeout is not None
    assert (timeout.kind, timeout.code) == ("client", None)
    # pyodbc's own: one message, no SQLSTATE.
    own = pyodbc_error(pyodbc.ProgrammingError("No results.  Previous SQL was not a query."))
    assert own is not None
    assert (own.kind, own.sqlstate, own.code, own.message) == (
        "client",
        None,
        None,
        "No results.  Previous SQL was not a query.",
    )
    assert pyodbc_error(ValueError("x")) is None


def test_pyodbc_columns_from_the_python_types_it_converts_to() -> None:
    described = [
        ("i", int, "integer", "int"),
        ("d", Decimal, "decimal", "Decimal"),
        ("f", float, "float", "float"),
        ("b", bool, "boolean", "bool"),
        ("s", str, "text", "str"),
        ("raw", bytearray, "bytes", "bytearray"),
        ("ts", dt.datetime, "timestamp", "datetime"),
        ("day", dt.date, "date", "date"),
        ("t", dt.time, "time", "time"),
        ("g", uuid.UUID, "uuid", "UUID"),
        ("x", object, "other", "object"),
    ]
    for name, python_type, cls, native in described:
        column = pyodbc_column((name, python_type, None, 10, 10, 0, True))
        assert (column.name, column.cls, column.native) == (name, cls, native)


def test_pyodbc_finds_freetds_by_name_or_by_path() -> None:
    assert freetds_driver(["PostgreSQL", "FreeTDS"], []) == "{FreeTDS}"
    lib = "/usr/lib/x86_64-linux-gnu/odbc/libtdsodbc.so"
    assert freetds_driver([], [lib]) == lib
    with pytest.raises(HostError, match="apt-get install tdsodbc") as e:
        freetds_driver(["PostgreSQL"], [])
    assert e.value.info.kind == "connect"


def test_odbc_connection_strings_brace_what_would_end_a_value() -> None:
    assert odbc_value("plain") == "plain"
    assert odbc_value("a;b") == "{a;b}"
    assert odbc_value("x}y=") == "{x}}y=}"
    assert odbc_value(" lead") == "{ lead}"
    t = sqlserver_target(TARGET + "?tds_version=7.4")
    assert odbc_connection_string(t, "{FreeTDS}") == (
        "DRIVER={FreeTDS};SERVER=127.0.0.1;PORT=1433;UID=sa;PWD={Pa;ss};Encryption=off;"
        "APP=helios-matrix;DATABASE=helios;TDS_Version=7.4"
    )


def test_pyodbc_refuses_autocommit_off_before_connecting() -> None:
    with pytest.raises(HostError, match="autocommit off is not declared") as e:
        PyodbcAdapter().connect(TARGET, False)
    assert e.value.info.kind == "unsupported"
    assert "autocommit_off" not in PyodbcAdapter.capabilities
    assert "copy" not in PyodbcAdapter.capabilities
    assert "cancel" in PyodbcAdapter.capabilities
    assert "cancel" not in PymssqlAdapter.capabilities

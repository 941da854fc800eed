"""pyodbc over FreeTDS's ODBC driver (Debian's `tdsodbc`, through unixODBC): `?`
parameters, which pyodbc prepares and executes (FreeTDS sends them as an RPC of
`sp_prepexec`); `fetchmany` over the rows as they arrive for `fetch`; `cursor.cancel()`
(ODBC's SQLCancel, which may be called from another thread) for `cancel`. The session
runs in autocommit mode; `begin` is T-SQL's `BEGIN TRANSACTION` (sqlserver.py).

The driver is the one unixODBC knows as `FreeTDS` (tdsodbc registers it in
/etc/odbcinst.ini), else FreeTDS's library by its path.

Not declared, as no server here shows them working:
- `autocommit_off`: turning autocommit off makes FreeTDS's ODBC driver open and end
  transactions with TDS transaction-manager requests (packet 0x0E), which the iridium
  emulator never answers: the connection hangs.
- `copy`: `executemany` prepares its INSERT with `sp_prepexec` as every parameterised
  statement is, which iridium answers with a bare DONE: nothing is inserted, and no
  error says so (docs/sqlserver.md).

Parameters are no capability: against iridium every statement with parameters goes the
same way (a query has no result set, an INSERT inserts nothing), and a case with
parameters fails there with what the driver answered. iridium also reads a cancel's
Attention only once the running batch has ended: the request still fails with HY008,
after its full run.

Errors: pyodbc gives the SQLSTATE FreeTDS derives and a message
`[42S02] [FreeTDS][SQL Server]Invalid object name 't'. (208) (SQLExecDirectW)`, whose
number in parentheses is the native error: SQL Server's error number (`code`). A request
ended by `cancel` fails with HY008 and no number (SQL Server sends none); it is reported
under 3617, the number SQL Server records a cancelled request under, as the tds executor
reports it."""

from __future__ import annotations

import datetime as dt
import glob
import re
import uuid
from decimal import Decimal
from typing import Any

import pyodbc

from ..adapter import Column, ErrorInfo, HostError, qualified_name, unsupported
from ..targets import SqlServerTarget, sqlserver_target
from .sqlserver import SqlServerAdapter

# The Python type pyodbc converts a column to (`description[i][1]`) as the class; bool
# before int is not needed here: these are the exact types pyodbc names.
_CLASSES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "float",
    Decimal: "decimal",
    str: "text",
    bytes: "bytes",
    bytearray: "bytes",
    dt.datetime: "timestamp",
    dt.date: "date",
    dt.time: "time",
    uuid.UUID: "uuid",
}

# pyodbc's message for the first diagnostic record: `[STATE] text (native) (function)`,
# more records after it as `; [STATE] text (native)`.
_DIAGNOSTIC = re.compile(
    r"\[(?P<state>[0-9A-Z]{5})\] (?P<text>.*?) \((?P<native>-?\d+)\) \((?P<function>SQL\w+)\)",
    re.DOTALL,
)
# `[FreeTDS][SQL Server]`: who reports it, before the text.
_ORIGIN = re.compile(r"^(?:\[[^\]]*\])+")

# ODBC's SQLSTATE for "Operation canceled", and SQL Server's number for a request ended by
# an Attention (the tds executor reports the same).
CANCELLED_STATE = "HY008"
CANCELLED_CODE = "3617"

# unixODBC's name for FreeTDS's driver, and where Debian-like systems put its library.
DRIVER_NAME = "FreeTDS"
_LIBRARY_GLOBS = (
    "/usr/lib/*/odbc/libtdsodbc.so",
    "/usr/lib/odbc/libtdsodbc.so",
    "/usr/lib64/libtdsodbc.so",
    "/usr/local/lib/libtdsodbc.so",
)


def pyodbc_column(description: Any) -> Column:
    python_type = description[1]
    native = getattr(python_type, "__name__", str(python_type))
    return Column(description[0], _CLASSES.get(python_type, "other"), native)


def pyodbc_error(exc: BaseException) -> ErrorInfo | None:
    if not isinstance(exc, pyodbc.Error):
        return None
    name = qualified_name(exc)
    args = exc.args
    if len(args) >= 2 and isinstance(args[1], str):
        state: str | None = str(args[0])
        text = args[1]
    else:
        # pyodbc's own errors ("No results.  Previous SQL was not a query.") carry one
        # message and no SQLSTATE.
        state, text = None, str(args[0]) if args else str(exc)
    found = _DIAGNOSTIC.search(text)
    native: int | None = None
    if found is not None:
        state = found["state"]
        text = found["text"]
        native = int(found["native"])
    message = _ORIGIN.sub("", text).strip()
    if state is None:
        return ErrorInfo("client", message, None, None, name)
    if state == CANCELLED_STATE:
        return ErrorInfo("db", message, state, CANCELLED_CODE, name)
    if state.startswith("08"):
        # Connection exceptions: it could not connect, or the link broke.
        return ErrorInfo("lost", message, state, str(native) if native else None, name)
    if native is not None and native > 0 and not state.startswith(("HY", "IM")):
        return ErrorInfo("db", message, state, str(native), name)
    return ErrorInfo("client", message, state, str(native) if native else None, name)


def freetds_driver(installed: list[str], found: list[str]) -> str:
    """The ODBC connection string's DRIVER: `{FreeTDS}` when unixODBC has it registered,
    else the first library found; `installed` is pyodbc.drivers(), `found` the library
    paths that exist."""
    if DRIVER_NAME in installed:
        return "{" + DRIVER_NAME + "}"
    if found:
        return found[0]
    raise HostError(
        "connect",
        "FreeTDS's ODBC driver is not installed: unixODBC knows no `FreeTDS` driver and "
        "no libtdsodbc.so was found (Debian: apt-get install tdsodbc unixodbc)",
    )


def odbc_value(value: str) -> str:
    """A connection string attribute's value, braced when it holds what would end it."""
    if any(c in value for c in ";{}=") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def odbc_connection_string(t: SqlServerTarget, driver: str) -> str:
    parts = [
        ("DRIVER", driver),
        ("SERVER", t.host),
        ("PORT", str(t.port)),
        ("UID", t.user or ""),
        ("PWD", t.password or ""),
        ("Encryption", t.encryption),
        ("APP", "helios-matrix"),
    ]
    if t.database:
        parts.append(("DATABASE", t.database))
    if t.tds_version:
        parts.append(("TDS_Version", t.tds_version))
    return ";".join(f"{k}={v if k == 'DRIVER' else odbc_value(v)}" for k, v in parts)


class PyodbcAdapter(SqlServerAdapter):
    name = "pyodbc"
    distribution = "pyodbc"
    capabilities = ("sql", "sessions", "transactions", "cursors", "cancel")
    placeholder = "?"

    def connect(self, target: str, autocommit: bool) -> None:
        if not autocommit:
            raise unsupported(
                "pyodbc over FreeTDS's ODBC driver: autocommit off is not declared "
                "(its transaction-manager requests go unanswered by the iridium emulator)"
            )
        t = sqlserver_target(target)
        found = sorted(p for pattern in _LIBRARY_GLOBS for p in glob.glob(pattern))
        driver = freetds_driver(pyodbc.drivers(), found)
        # GUIDs as uuid.UUID rather than text.
        pyodbc.native_uuid = True
        try:
            self.conn = pyodbc.connect(odbc_connection_string(t, driver), autocommit=True)
        except pyodbc.Error as e:
            info = pyodbc_error(e)
            assert info is not None
            raise HostError(
                "connect",
                info.message,
                sqlstate=info.sqlstate,
                code=info.code,
                exception=info.exception,
            ) from e
        self.autocommit = True

    def run(self, cursor: Any, sql: str, params: Any) -> None:
        # pyodbc binds its arguments after the SQL; none at all is no parameters.
        if params:
            cursor.execute(sql, params)
        else:
            cursor.execute(sql)

    def columns(self, cursor: Any) -> list[Column]:
        return [pyodbc_column(d) for d in cursor.description]

    def cancel(self) -> None:
        with self._lock:
            cursor = self.active
        if cursor is not None:
            cursor.cancel()

    def classify(self, exc: BaseException) -> ErrorInfo | None:
        return pyodbc_error(exc)

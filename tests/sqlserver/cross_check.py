"""The independent client of the tds executor's cross-check (tests/live.rs,
`sqlserver_the_tds_executor_decodes_what_pymssql_decodes`): runs each statement of a SQL
file through pymssql and prints a transcript, which the Rust test compares line by line
with the one it writes from what the executor decodes for the same statements.

    .venv-drivers/bin/python tests/sqlserver/cross_check.py HOST PORT USER PASSWORD \
        tests/sqlserver/cross_check.sql

Input: one statement per line (UTF-8); blank lines and lines starting with `--` are
skipped. Each statement runs with `cursor.execute` on one autocommit connection.

Output (stdout, UTF-8), for each statement:
    COLUMNS name:class, ...      then
    ROW v | v | ...              one per row, then
    END
or `OK` when it returns no result set (row counts are not compared: iridium sends none,
pymssql's rowcount is -1), or `ERROR number message` for SQL Server's error (the message
without DB-Library's trailing lines), or `CLIENT ERROR ...` for anything else.

Classes: pymssql's description gives only a coarse type code per column (STRING, BINARY,
NUMBER, DATETIME, DECIMAL), but the Python type of each value follows the column's TDS
type: int for TINYINT to BIGINT, bool for BIT, float for FLOAT and REAL, bytes for
VARBINARY, UUID for UNIQUEIDENTIFIER. So NUMBER is told into `integer`, `bool` or `float`,
and BINARY into `bytes` or `uuid`, by the column's first non-NULL value; a column of
NULLs only stays `number` or `binary` (the Rust side says no more either). STRING is
`text`, DECIMAL `decimal` (MONEY too), DATETIME `datetime`. Not comparable through
pymssql: the integer's width (TINYINT and BIGINT are both int), CHAR against VARCHAR
against NVARCHAR (all STRING), REAL against FLOAT, MONEY against DECIMAL.

Values: NULL; integers in decimal digits; bools true/false; floats as Rust's `{:?}`
prints them (Python's repr with the exponent as `e16`, `e-10`); decimals as
`format(d, "f")` (the scale kept); text in double quotes with `\\` and `"` escaped; bytes
as `\\x` and lower-case hex; UUIDs in upper case, as SQL Server writes them; DATETIME as
`YYYY-MM-DD hh:mm:ss.mmm`.

Exit status: 0 when every statement was run (statement errors included), 1 when the
connection could not be made, 2 on a usage error.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pymssql

_CODES = {
    pymssql.STRING.value: "text",
    pymssql.BINARY.value: "binary",
    pymssql.NUMBER.value: "number",
    pymssql.DATETIME.value: "datetime",
    pymssql.DECIMAL.value: "decimal",
}


def value_class(value: object) -> str | None:
    """The class a NUMBER or BINARY value's Python type tells (bool before int: a bool
    is an int to Python)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, uuid.UUID):
        return "uuid"
    if isinstance(value, bytes):
        return "bytes"
    return None


def column_class(code: int, values: Sequence[object]) -> str:
    coarse = _CODES.get(code, f"code {code}")
    if coarse in ("number", "binary"):
        for v in values:
            if v is not None:
                return value_class(v) or f"{coarse} of {type(v).__name__}"
    return coarse


def render(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        mantissa, e, exponent = repr(value).partition("e")
        return f"{mantissa}e{int(exponent)}" if e else mantissa
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, uuid.UUID):
        return str(value).upper()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    return f"?{type(value).__name__}"


def server_error(exc: Exception) -> tuple[int, str] | None:
    """SQL Server's `(number, message)` from pymssql's exception, the message cut before
    DB-Library's own lines (`DB-Lib error message 20018, ...`)."""
    args = exc.args
    if len(args) >= 2 and isinstance(args[0], int):
        raw = args[1]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return args[0], text.split("DB-Lib error message", 1)[0].strip()
    return None


def run(cursor: Any, sql: str) -> list[str]:
    try:
        cursor.execute(sql)
        if cursor.description is None:
            return ["OK"]
        rows: list[tuple[object, ...]] = cursor.fetchall()
    except pymssql.Error as e:
        found = server_error(e)
        if found is None:
            return [f"CLIENT ERROR {type(e).__name__}: {e}"]
        return [f"ERROR {found[0]} {found[1]}"]
    columns = [
        f"{d[0]}:{column_class(d[1], [row[i] for row in rows])}"
        for i, d in enumerate(cursor.description)
    ]
    lines = ["COLUMNS " + ", ".join(columns)]
    lines += ["ROW " + " | ".join(render(v) for v in row) for row in rows]
    lines.append("END")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 6:
        print(f"usage: {argv[0]} HOST PORT USER PASSWORD FILE", file=sys.stderr)
        return 2
    host, port, user, password, path = argv[1:]
    with open(path, encoding="utf-8") as f:
        statements = [s for s in (line.strip() for line in f) if s and not s.startswith("--")]
    try:
        conn = pymssql.connect(
            server=host,
            port=port,
            user=user,
            password=password,
            database="helios",
            autocommit=True,
            # ENCRYPT_NOT_SUP, which iridium (plain TCP) needs.
            encryption="off",
        )
    except pymssql.Error as e:
        print(f"cross_check: cannot connect to {host}:{port}: {e}", file=sys.stderr)
        return 1
    out = sys.stdout
    with conn:
        cursor = conn.cursor()
        for sql in statements:
            for line in run(cursor, sql):
                out.write(line + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The baseline of `just bench`'s driver rows: the workload's statements issued by a plain
loop over one driver, as its users would write it, with no host in between.

    python -m helios_driver_host.bench psycopg2|pymysql TARGET WORKLOAD.sql

Each statement is one line ending in `;`. `BEGIN`/`COMMIT` become the driver's own
transaction calls; every SELECT's rows are fetched, as helios-matrix fetches them to
compare."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import psycopg2
import pymysql

from .adapters.psycopg2_driver import pg_connect_args
from .adapters.pymysql_driver import mysql_target, pymysql_tls


def connect(driver: str, target: str) -> Any:
    if driver == "psycopg2":
        conn = psycopg2.connect(**pg_connect_args(target))
        conn.autocommit = True
        return conn
    if driver == "pymysql":
        t = mysql_target(target)
        return pymysql.connect(
            host=t.host,
            port=t.port,
            user=t.user,
            password=t.password or "",
            database=t.database,
            autocommit=True,
            **pymysql_tls(t),
        )
    raise SystemExit(f"no baseline loop for driver {driver!r} (psycopg2, pymysql)")


def set_autocommit(conn: Any, driver: str, on: bool) -> None:
    # psycopg2 has a property, PyMySQL a method.
    if driver == "psycopg2":
        conn.autocommit = on
    else:
        conn.autocommit(on)


def run(driver: str, target: str, workload: Path) -> int:
    conn = connect(driver, target)
    statements = [s.strip().rstrip(";") for s in workload.read_text().splitlines() if s.strip()]
    fetched = 0
    with conn.cursor() as cur:
        for sql in statements:
            keyword = sql.split(None, 1)[0].upper()
            if keyword == "BEGIN":
                set_autocommit(conn, driver, False)
                continue
            if keyword == "COMMIT":
                conn.commit()
                set_autocommit(conn, driver, True)
                continue
            cur.execute(sql)
            if keyword == "SELECT":
                fetched += len(cur.fetchall())
    conn.close()
    return fetched


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    run(argv[1], argv[2], Path(argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

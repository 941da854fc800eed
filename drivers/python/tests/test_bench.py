"""The bench baseline loop issues the workload and fetches every SELECT's rows."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from helios_driver_host import bench

POSTGRES = "postgres://test:test@127.0.0.1:5432/helios?sslmode=require"
MYSQL = "mysql://test:test@127.0.0.1:3306/helios?ssl-mode=required"


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


WORKLOAD = """DROP TABLE IF EXISTS bench_loop_rows;
CREATE TABLE bench_loop_rows (id BIGINT PRIMARY KEY, name VARCHAR(40));
BEGIN;
INSERT INTO bench_loop_rows (id, name) VALUES (1, 'a');
INSERT INTO bench_loop_rows (id, name) VALUES (2, 'b');
COMMIT;
SELECT name FROM bench_loop_rows WHERE id = 1;
SELECT name FROM bench_loop_rows;
DROP TABLE bench_loop_rows;
"""


@pytest.mark.parametrize(
    ("driver", "target", "port"), [("psycopg2", POSTGRES, 5432), ("pymysql", MYSQL, 3306)]
)
def test_the_loop_runs_the_workload_and_reads_every_row(
    tmp_path: Path, driver: str, target: str, port: int
) -> None:
    if not listening(port):
        pytest.skip(f"nothing listens on 127.0.0.1:{port}")
    workload = tmp_path / "workload.sql"
    workload.write_text(WORKLOAD)
    assert bench.run(driver, target, workload) == 3


def test_an_unknown_driver_is_refused() -> None:
    with pytest.raises(SystemExit):
        bench.connect("nodriver", POSTGRES)

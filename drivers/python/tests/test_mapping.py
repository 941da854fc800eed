"""Without servers: how targets become each driver's connection arguments, how each
driver's exceptions are classified, and how its type codes become column classes."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg.exceptions
import mysql.connector.errors
import pymysql.err
import pytest
import snowflake.connector.errors
import sqlalchemy.exc
from pinecone.errors.exceptions import NotFoundError
from pinecone.models.vectors.responses import DescribeIndexStatsResponse

from helios_driver_host.adapter import HostError, qualified_name
from helios_driver_host.adapters import ADAPTERS, load
from helios_driver_host.adapters.asyncpg_driver import AsyncpgAdapter, server_settings, tag_count
from helios_driver_host.adapters.mysql_connector_driver import MysqlConnectorAdapter
from helios_driver_host.adapters.mysql_types import mysql_type
from helios_driver_host.adapters.pg_types import pg_type
from helios_driver_host.adapters.pinecone_driver import (
    PineconeAdapter,
    api_error,
    unsuffixed,
    wire_form,
)
from helios_driver_host.adapters.psycopg2_driver import copy_text, pg_connect_args
from helios_driver_host.adapters.pymysql_driver import mysql_target, pymysql_error
from helios_driver_host.adapters.snowflake_driver import (
    SnowflakeAdapter,
    snowflake_class,
    snowflake_connect_args,
)
from helios_driver_host.adapters.sqlalchemy_driver import SqlalchemyAdapter
from helios_driver_host.protocol import CAPABILITIES
from helios_driver_host.targets import parse, trust_ca_file


class Alive:
    """A stand-in connection that is still open."""

    def is_closed(self) -> bool:
        return False

    def is_connected(self) -> bool:
        return True


def test_every_registered_driver_loads_with_its_declared_capabilities() -> None:
    for name in ADAPTERS:
        adapter = load(name)
        assert adapter.name == name
        assert adapter.capabilities, name
        assert set(adapter.capabilities) <= CAPABILITIES, name
    assert load("pinecone").capabilities == ("vectors",)
    assert "cancel" not in load("pymysql").capabilities
    assert "cancel" not in load("sqlalchemy").capabilities
    assert "cancel" in load("psycopg2").capabilities


def test_target_parsing_unquotes_credentials() -> None:
    t = parse("postgres://us%40er:p%2Fss@127.0.0.1:5433/db?sslmode=require&pooler=transaction")
    assert (t.user, t.password, t.host, t.port, t.path) == (
        "us@er",
        "p/ss",
        "127.0.0.1",
        5433,
        ["db"],
    )
    assert t.query == {"sslmode": "require", "pooler": "transaction"}
    assert "p/ss" not in repr(t)
    with pytest.raises(HostError, match="not a valid URL") as e:
        parse("postgres://u:secret@h:notaport/db")
    assert "secret" not in str(e.value)


def test_a_ca_file_is_made_absolute_and_trusted_by_the_process(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = tmp_path / "server.crt"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    assert parse("https://127.0.0.1:8443/x").ca_file() is None
    assert trust_ca_file(parse("https://127.0.0.1:8443/x")) is None
    assert "SSL_CERT_FILE" not in os.environ
    t = parse("https://127.0.0.1:8443/pinecone?ca-file=server.crt&api_key=k")
    assert t.ca_file() == str(cert)
    assert trust_ca_file(t) == str(cert)
    assert os.environ["SSL_CERT_FILE"] == str(cert)
    assert os.environ["REQUESTS_CA_BUNDLE"] == str(cert)
    with pytest.raises(HostError, match="TLS: the CA file"):
        parse("https://127.0.0.1:8443/?ca-file=missing.crt").ca_file()


def test_postgres_targets_keep_only_libpq_parameters() -> None:
    args = pg_connect_args(
        "postgres://test:test@127.0.0.1:5432/helios?sslmode=require&pooler=transaction"
    )
    assert args == {
        "host": "127.0.0.1",
        "port": 5432,
        "dbname": "helios",
        "user": "test",
        "password": "test",
        "sslmode": "require",
    }
    with pytest.raises(HostError):
        pg_connect_args("mysql://u:p@h/db")


def test_mysql_targets_want_tls_unless_disabled() -> None:
    t = mysql_target("mysql://test:test@127.0.0.1:3306/helios?ssl-mode=required")
    assert (t.host, t.port, t.user, t.database, t.tls) == (
        "127.0.0.1",
        3306,
        "test",
        "helios",
        True,
    )
    assert not mysql_target("mysql://u:p@h/db?ssl-mode=DISABLED").tls


def test_snowflake_targets() -> None:
    args = snowflake_connect_args(
        "http://test:test@127.0.0.1:8443/helios/public?account=local&warehouse=default"
    )
    assert args == {
        "user": "test",
        "password": "test",
        "account": "local",
        "host": "127.0.0.1",
        "port": 8443,
        "protocol": "http",
        "database": "helios",
        "schema": "public",
        "warehouse": "default",
        "paramstyle": "qmark",
    }
    bounded = snowflake_connect_args("http://u:p@h:1/db?account=a&network_timeout=10")
    assert bounded["network_timeout"] == 10
    with pytest.raises(HostError, match="account"):
        snowflake_connect_args("http://u:p@h:1/db")


def test_copy_text_format_escapes() -> None:
    assert copy_text(None) == "\\N"
    assert copy_text(True) == "t"
    assert copy_text(3) == "3"
    assert copy_text(0.5) == "0.5"
    assert copy_text(float("nan")) == "NaN"
    assert copy_text("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"


def test_type_codes_as_classes() -> None:
    assert pg_type(23) == ("int4", "integer")
    assert pg_type(1700) == ("numeric", "decimal")
    assert pg_type(3802) == ("jsonb", "json")
    assert pg_type(1007) == ("_int4", "array")
    assert pg_type(1184) == ("timestamptz", "timestamp")
    assert pg_type(99999) == ("oid 99999", "other")
    assert pg_type(99999, "vector") == ("vector", "vector")
    assert mysql_type(1, 63) == ("TINY", "integer")  # TINYINT(1) is an integer
    assert mysql_type(246, 63) == ("NEWDECIMAL", "decimal")
    assert mysql_type(253, 45) == ("VAR_STRING", "text")
    assert mysql_type(253, 63) == ("VAR_STRING", "bytes")
    assert mysql_type(252, 63) == ("BLOB", "bytes")
    assert mysql_type(252, 45) == ("BLOB", "text")
    assert mysql_type(245, 63) == ("JSON", "json")
    assert mysql_type(11, 63) == ("TIME", "time")
    assert snowflake_class("FIXED", 0) == "integer"
    assert snowflake_class("FIXED", 2) == "decimal"
    assert snowflake_class("REAL", None) == "float"
    assert snowflake_class("TIMESTAMP_TZ", 9) == "timestamp"
    assert snowflake_class("VARIANT", None) == "json"
    assert snowflake_class("GEOGRAPHY", None) == "other"


def test_command_tags_as_row_counts() -> None:
    assert tag_count("INSERT 0 5") == 5
    assert tag_count("UPDATE 3") == 3
    assert tag_count("SELECT 0") == 0
    assert tag_count("COPY 1000") == 1000
    assert tag_count("CREATE TABLE") is None
    assert tag_count("BEGIN") is None


def test_pymysql_errors() -> None:
    info = pymysql_error(pymysql.err.IntegrityError(1062, "Duplicate entry '1' for key 'PRIMARY'"))
    assert info is not None
    assert (info.kind, info.code, info.sqlstate, info.exception) == (
        "db",
        "1062",
        None,
        "pymysql.err.IntegrityError",
    )
    assert info.message == "Duplicate entry '1' for key 'PRIMARY'"
    lost = pymysql_error(
        pymysql.err.OperationalError(2013, "Lost connection to server during query")
    )
    assert lost is not None
    assert lost.kind == "lost"
    closed = pymysql_error(pymysql.err.InterfaceError(0, ""))
    assert closed is not None
    assert closed.kind == "lost"
    refused = pymysql_error(pymysql.err.OperationalError(2003, "Can't connect"))
    assert refused is not None
    assert refused.kind == "client"
    assert pymysql_error(ValueError("x")) is None


def test_mysql_connector_errors() -> None:
    adapter = MysqlConnectorAdapter()
    adapter.conn = Alive()
    exc = mysql.connector.errors.IntegrityError(msg="Duplicate entry", errno=1062, sqlstate="23000")
    info = adapter.classify(exc)
    assert info is not None
    assert (info.kind, info.code, info.sqlstate, info.message, info.exception) == (
        "db",
        "1062",
        "23000",
        "Duplicate entry",
        "mysql.connector.errors.IntegrityError",
    )
    adapter.conn = None
    lost = adapter.classify(mysql.connector.errors.OperationalError(msg="gone", errno=2055))
    assert lost is not None
    assert lost.kind == "lost"


def test_snowflake_errors_carry_six_digit_codes() -> None:
    adapter = SnowflakeAdapter()
    adapter.conn = Alive()
    exc = snowflake.connector.errors.ProgrammingError(
        msg="SQL compilation error", errno=1003, sqlstate="42000"
    )
    info = adapter.classify(exc)
    assert info is not None
    assert (info.kind, info.code, info.sqlstate, info.message, info.exception) == (
        "db",
        "001003",
        "42000",
        "SQL compilation error",
        "snowflake.connector.errors.ProgrammingError",
    )
    http = adapter.classify(
        snowflake.connector.errors.InternalServerError(
            msg="HTTP 500: Internal Server Error", errno=500
        )
    )
    assert http is not None
    assert (http.kind, http.code, http.sqlstate) == ("db", "290500", None)
    client = adapter.classify(snowflake.connector.errors.InterfaceError(msg="no", errno=251001))
    assert client is not None
    assert client.kind == "client"
    adapter.conn = None
    lost = adapter.classify(snowflake.connector.errors.DatabaseError(msg="closed", errno=250002))
    assert lost is not None
    assert lost.kind == "lost"


def test_asyncpg_errors() -> None:
    adapter = AsyncpgAdapter()
    try:
        cancelled = adapter.classify(asyncio.CancelledError())
        assert cancelled is not None
        assert (cancelled.kind, cancelled.sqlstate, cancelled.exception) == (
            "db",
            "57014",
            "asyncio.exceptions.CancelledError",
        )
        adapter.conn = Alive()  # type: ignore[assignment]
        dup = adapter.classify(asyncpg.exceptions.UniqueViolationError("duplicate key value"))
        assert dup is not None
        assert (dup.kind, dup.sqlstate, dup.exception) == (
            "db",
            "23505",
            "asyncpg.exceptions.UniqueViolationError",
        )
        gone = adapter.classify(asyncpg.exceptions.ConnectionDoesNotExistError("closed"))
        assert gone is not None
        assert gone.kind == "lost"
    finally:
        adapter.conn = None
        adapter.loop.close()


def test_sqlalchemy_errors_name_sqlalchemys_exception_with_the_dbapis_codes() -> None:
    adapter = SqlalchemyAdapter()
    adapter.family = "mysql"
    orig = pymysql.err.IntegrityError(1062, "Duplicate entry")
    exc = sqlalchemy.exc.IntegrityError("INSERT …", {}, orig)
    info = adapter.classify(exc)
    assert info is not None
    assert (info.kind, info.code, info.message, info.exception) == (
        "db",
        "1062",
        "Duplicate entry",
        "sqlalchemy.exc.IntegrityError",
    )
    invalidated = sqlalchemy.exc.OperationalError(
        "SELECT 1", {}, pymysql.err.OperationalError(2013, "Lost"), connection_invalidated=True
    )
    lost = adapter.classify(invalidated)
    assert lost is not None
    assert lost.kind == "lost"


def test_pinecone_errors() -> None:
    adapter = PineconeAdapter()
    exc = NotFoundError("index 'x' not found", 404, {"error": {"code": "NOT_FOUND"}})
    info = adapter.classify(exc)
    assert info is not None
    assert (info.kind, info.code) == ("db", "NOT_FOUND")
    assert info.exception == qualified_name(exc)
    assert "404" in info.message
    raw = api_error(409, '{"error": {"code": "ALREADY_EXISTS", "message": "exists"}}', ValueError())
    assert (raw.info.kind, raw.info.code, raw.info.message) == (
        "db",
        "ALREADY_EXISTS",
        "HTTP 409: exists",
    )
    plain = api_error(500, "oops", ValueError())
    assert (plain.info.code, plain.info.message) == ("500", "HTTP 500: oops")


def test_pinecone_answers_in_wire_form() -> None:
    answer: Any = DescribeIndexStatsResponse(
        namespaces={}, dimension=4, index_fullness=0.0, total_vector_count=7
    )
    data = wire_form(answer)
    assert data["totalVectorCount"] == 7
    assert data["dimension"] == 4
    assert "responseInfo" not in data
    assert "response_info" not in data
    assert None not in data.values()


class KeysOnly:
    """A result that has lost its DBAPI cursor: names, no types."""

    def keys(self) -> list[str]:
        return ["n", "s", "z"]


def test_sqlalchemy_columns_from_values_without_a_description() -> None:
    result: Any = KeysOnly()
    columns = SqlalchemyAdapter.from_values(result, [(None, "a", None), (2, "b", None)])
    assert [(c.name, c.cls, c.native) for c in columns] == [
        ("n", "integer", "python int"),
        ("s", "text", "python str"),
        ("z", "other", "unknown"),
    ]


def test_libpq_options_become_asyncpg_server_settings() -> None:
    assert server_settings("-c search_path=helios_w1,public") == {"search_path": "helios_w1,public"}
    assert server_settings("-csearch_path=a --work-mem=4MB") == {
        "search_path": "a",
        "work_mem": "4MB",
    }
    with pytest.raises(HostError):
        server_settings("-c search_path")


def test_a_workers_index_suffix_comes_off_what_the_server_reports() -> None:
    listed = unsuffixed({"indexes": ["docs-w1", "docs-w2", "other"]}, "-w1")
    assert listed == {"indexes": ["docs"]}
    described = unsuffixed({"json": {"name": "docs-w1", "dimension": 3}}, "-w1")
    assert described == {"json": {"name": "docs", "dimension": 3}}
    assert unsuffixed({"upserted": 2}, "-w1") == {"upserted": 2}

"""One adapter per driver, each imported only when its driver is asked for (a host drives
one driver, and importing the others would only slow its start)."""

from __future__ import annotations

import importlib

from ..adapter import Adapter

# Driver name (as the registry's `drivers:` names it) → module and class.
ADAPTERS: dict[str, tuple[str, str]] = {
    "psycopg2": ("psycopg2_driver", "Psycopg2Adapter"),
    "asyncpg": ("asyncpg_driver", "AsyncpgAdapter"),
    "sqlalchemy": ("sqlalchemy_driver", "SqlalchemyAdapter"),
    "pymysql": ("pymysql_driver", "PymysqlAdapter"),
    "mysql-connector-python": ("mysql_connector_driver", "MysqlConnectorAdapter"),
    "snowflake-connector-python": ("snowflake_driver", "SnowflakeAdapter"),
    "pinecone": ("pinecone_driver", "PineconeAdapter"),
    "databricks-sql-connector": ("databricks_driver", "DatabricksAdapter"),
    "pymssql": ("pymssql_driver", "PymssqlAdapter"),
    "pyodbc": ("pyodbc_driver", "PyodbcAdapter"),
}


def load(driver: str) -> Adapter:
    """A new adapter for `driver`; KeyError for a driver this host does not drive."""
    module_name, class_name = ADAPTERS[driver]
    module = importlib.import_module(f"{__name__}.{module_name}")
    adapter: Adapter = getattr(module, class_name)()
    return adapter

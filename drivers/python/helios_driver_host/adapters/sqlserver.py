"""What the SQL Server drivers (pymssql, pyodbc over FreeTDS's ODBC driver) share: an
explicit `begin` in autocommit mode is T-SQL's `BEGIN TRANSACTION`, ended by `COMMIT
TRANSACTION` or `ROLLBACK TRANSACTION`, as these drivers' users write it (psycopg2's
adapter sends `BEGIN` the same way). With autocommit off each driver keeps its own
transaction, and `begin` has nothing to add.

A `query` whose statement returns no result set fails with the driver's own error for
fetching from it (pyodbc's `No results.  Previous SQL was not a query.`, pymssql's
`Statement not executed or executed statement has no resultset`), rather than reading as
no rows, which an expectation of no rows would pass: against the iridium emulator a
parameterised query through pyodbc returns no result set at all.

A UNIQUEIDENTIFIER is sent in SQL Server's own text form, upper case
(`6F9619FF-8B86-D011-B42D-00C04FC964FF`), as the tds executor reads it; Python's `UUID`
prints lower case."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from ..adapter import Row, Rows, best_effort
from ..values import encode
from .dbapi import DbapiAdapter

BEGIN = "BEGIN TRANSACTION"
COMMIT = "COMMIT TRANSACTION"
ROLLBACK = "ROLLBACK TRANSACTION"


class SqlServerAdapter(DbapiAdapter):
    def __init__(self) -> None:
        super().__init__()
        # True between a `begin` sent in autocommit mode and its COMMIT/ROLLBACK.
        self.explicit = False

    def encode(self, row: Sequence[object], classes: Sequence[str | None]) -> Row:
        return [
            {"uuid": str(v).upper()}
            if isinstance(v, uuid.UUID)
            else encode(v, classes[i] if i < len(classes) else None)
            for i, v in enumerate(row)
        ]

    def no_result(self, cursor: Any) -> Rows:
        cursor.fetchall()  # raises: there is nothing to fetch
        return super().no_result(cursor)

    def batch(self, sql: str) -> None:
        """One statement without parameters and without results."""
        cur: Any = self.conn.cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()

    def begin(self) -> None:
        if self.autocommit:
            self.batch(BEGIN)
            self.explicit = True

    def commit(self) -> None:
        if self.explicit:
            self.explicit = False
            self.batch(COMMIT)
        elif not self.autocommit:
            self.conn.commit()  # the driver's own transaction

    def rollback(self) -> None:
        if self.explicit:
            self.explicit = False
            self.batch(ROLLBACK)
        elif not self.autocommit:
            self.conn.rollback()

    def close(self) -> None:
        """Closing the connection rolls back what is open: SQL Server ends a session's
        transaction with the session."""
        self.explicit = False
        conn, self.conn = self.conn, None
        if conn is not None:
            if not self.autocommit:
                best_effort("rollback on close", conn.rollback)
            best_effort("close", conn.close)

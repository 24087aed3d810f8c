"""SQL Server (mssql+pyodbc). No SQL Server runs on our machines: this module's statements are
covered by tests that compile them with SQLAlchemy's mssql dialect, and the driver calls are
the few lines of `executemany`. It has not been run against a SQL Server.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

from turbodata.dialects.base import Dialect
from turbodata.types import Kind, SqlType

EXECUTEMANY_ROWS = 10_000
# deadlock victim, and Azure SQL's documented transient errors (throttling, failover, busy)
_TRANSIENT_ERRORS = (
    "1205",
    "40197",
    "40501",
    "40613",
    "49918",
    "49919",
    "49920",
    "4060",
    "10928",
    "10929",
    "233",
    "10053",
    "10054",
    "10060",
)  # pyodbc's fast_executemany holds a whole call's parameters in memory

_TYPES: dict[Kind, Callable[[SqlType], TypeEngine]] = {
    Kind.BOOLEAN: lambda t: mssql.BIT(),
    Kind.TINYINT: lambda t: mssql.TINYINT(),
    Kind.SMALLINT: lambda t: mssql.SMALLINT(),
    Kind.INTEGER: lambda t: mssql.INTEGER(),
    Kind.BIGINT: lambda t: mssql.BIGINT(),
    Kind.DECIMAL: lambda t: mssql.DECIMAL(t.precision, t.scale),
    Kind.FLOAT: lambda t: mssql.FLOAT(53),
    Kind.REAL: lambda t: mssql.REAL(),
    Kind.STRING: lambda t: mssql.NVARCHAR(t.length),  # None compiles to NVARCHAR(max)
    Kind.GUID: lambda t: mssql.UNIQUEIDENTIFIER(),
    Kind.DATETIME: lambda t: mssql.DATETIME2(precision=t.fraction),
    Kind.DATETIMEOFFSET: lambda t: mssql.DATETIMEOFFSET(precision=t.fraction),
    Kind.DATE: lambda t: mssql.DATE(),
    Kind.TIME: lambda t: mssql.TIME(precision=t.fraction),
}


class MSSQLDialect(Dialect):
    name = "mssql"
    default_schema = "dbo"
    max_identifier_length = 128

    def column_type(self, sql_type: SqlType) -> TypeEngine:
        return _TYPES[sql_type.kind](sql_type)

    add_column = "ADD"
    added_column_suffix = " NULL"
    alter_type = ""  # and no NULL/NOT NULL clause: our columns are nullable and stay so

    # A #temp table lives as long as the connection and is private to it.
    staging_name = "#turbodata_stage"

    def staging_table(self, target_name: str, columns: list[sa.Column]) -> sa.Table:
        return sa.Table(self.staging_name, sa.MetaData(), *columns)

    # upsert_from_staging: the base's UPDATE … FROM + INSERT … WHERE NOT EXISTS, on purpose:
    # MERGE has long-standing defects on SQL Server and is missing on some T-SQL engines.

    def is_transient(self, error: BaseException) -> bool:
        text = str(getattr(error, "orig", error))
        return any(f"({code})" in text or f" {code} " in text for code in _TRANSIENT_ERRORS) or (
            super().is_transient(error)
        )

    def executemany(self, conn: Connection, statement: str, rows: list[tuple]) -> None:
        cursor = conn.connection.driver_connection.cursor()
        cursor.fast_executemany = True
        for start in range(0, len(rows), EXECUTEMANY_ROWS):
            cursor.executemany(statement, rows[start : start + EXECUTEMANY_ROWS])

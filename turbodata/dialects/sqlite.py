"""SQLite, the embedded default: exact decimals as text, transactional DDL, executemany."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine import Dialect as SqlDialect
from sqlalchemy.types import TypeEngine

from turbodata.dialects.base import DeclaredType, Dialect, decimal_strings
from turbodata.types import Kind, SqlType

_TYPES: dict[Kind, Callable[[SqlType], str]] = {
    Kind.BOOLEAN: lambda t: "BOOLEAN",
    Kind.TINYINT: lambda t: "TINYINT",
    Kind.SMALLINT: lambda t: "SMALLINT",
    Kind.INTEGER: lambda t: "INTEGER",
    Kind.BIGINT: lambda t: "BIGINT",
    # SQLite has no exact decimal: NUMERIC affinity would keep only 15 digits, so decimals are
    # stored as text (the name contains TEXT, which gives TEXT affinity) and keep (p,s) visible.
    Kind.DECIMAL: lambda t: f"DECIMAL_TEXT({t.precision},{t.scale})",
    Kind.FLOAT: lambda t: "FLOAT",
    Kind.REAL: lambda t: "REAL",
    Kind.STRING: lambda t: f"VARCHAR({t.length})" if t.length else "TEXT",
    Kind.GUID: lambda t: "UUID",
    Kind.DATETIME: lambda t: f"DATETIME2({t.fraction})",
    Kind.DATETIMEOFFSET: lambda t: f"DATETIMEOFFSET({t.fraction})",
    Kind.DATE: lambda t: "DATE",
    Kind.TIME: lambda t: f"TIME({t.fraction})",
}


def _declared(name: str) -> Callable[..., DeclaredType]:
    def declared(*args: int) -> DeclaredType:
        return DeclaredType(f"{name}({','.join(map(str, args))})" if args else name)

    return declared


_REFLECTED_NAMES = {
    name: _declared(name)
    for name in ("DECIMAL_TEXT", "DATETIME2", "DATETIMEOFFSET", "TIME", "UUID", "TINYINT")
}


class SQLiteDialect(Dialect):
    name = "sqlite"
    max_identifier_length = 1024

    def configure_engine(self, engine: Engine) -> Engine:
        # pysqlite opens transactions only before DML, so CREATE/ALTER would commit on their
        # own. Take over BEGIN so DDL and data share one transaction (SQLAlchemy's recipe).
        @sa.event.listens_for(engine, "connect")
        def _no_implicit_transactions(
            dbapi_connection: sqlite3.Connection, _record: object
        ) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA busy_timeout = 60000")

        # SQLAlchemy's inspector reads our type names back (DECIMAL_TEXT(38,10), DATETIME2(7)
        # …) instead of guessing an affinity type; set on this engine's dialect only.
        engine.dialect.ischema_names = {**engine.dialect.ischema_names, **_REFLECTED_NAMES}

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def column_type(self, sql_type: SqlType) -> TypeEngine:
        return DeclaredType(_TYPES[sql_type.kind](sql_type))

    def widen_columns_sql(
        self,
        sql: SqlDialect,
        table: sa.Table,
        columns: list[sa.Column],
        old: dict[str, SqlType],
    ) -> list[str]:
        # SQLite has no ALTER COLUMN: rebuild the table with the wider declared types
        # (sqlite.org/lang_altertable.html, "making other kinds of table schema changes").
        # Lengths are not enforced by SQLite, but later runs reflect the declared types.
        prep = sql.identifier_preparer
        staging = sa.Table(
            f"_turbodata_rebuild_{table.name}", sa.MetaData(), *(c._copy() for c in table.columns)
        )
        names = ", ".join(prep.quote(c.name) for c in table.columns)
        return [
            str(sa.schema.CreateTable(staging).compile(dialect=sql)).strip(),
            f"INSERT INTO {prep.format_table(staging)} ({names}) "
            f"SELECT {names} FROM {prep.format_table(table)}",
            f"DROP TABLE {prep.format_table(table)}",
            f"ALTER TABLE {prep.format_table(staging)} RENAME TO {prep.quote(table.name)}",
        ]

    on_conflict_insert = staticmethod(sqlite_insert)

    def is_busy(self, error: BaseException) -> bool:
        # one writer at a time: "database is locked" once busy_timeout has passed
        return isinstance(error, sa.exc.OperationalError) and "locked" in str(error.orig)

    def python_values(self, array: pa.Array, sql_type: SqlType) -> list[object]:
        if sql_type.kind is Kind.DECIMAL:
            return decimal_strings(array)
        return array.to_pylist()

"""PostgreSQL: native types, DDL, and COPY FROM STDIN (psycopg 3, `pg_copy`) inside the load
transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

from turbodata.dialects.arrow_text import SEVENTH_DIGIT, decimal_strings, without_seventh_digit
from turbodata.dialects.base import Dialect
from turbodata.dialects.pg_copy import CopyStream
from turbodata.types.sql import Kind, SqlType

# serialization failure, deadlock, lock not available, admin/crash shutdown, cannot connect now
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03"})
MAX_FRACTION = 6

_TYPES: dict[Kind, Callable[[SqlType], TypeEngine]] = {
    Kind.BOOLEAN: lambda t: pg.BOOLEAN(),
    Kind.TINYINT: lambda t: pg.SMALLINT(),  # no 1-byte integer in PostgreSQL
    Kind.SMALLINT: lambda t: pg.SMALLINT(),
    Kind.INTEGER: lambda t: pg.INTEGER(),
    Kind.BIGINT: lambda t: pg.BIGINT(),
    Kind.DECIMAL: lambda t: pg.NUMERIC(t.precision, t.scale),
    Kind.FLOAT: lambda t: pg.DOUBLE_PRECISION(),
    Kind.REAL: lambda t: pg.REAL(),
    Kind.STRING: lambda t: pg.VARCHAR(t.length) if t.length else pg.TEXT(),
    Kind.GUID: lambda t: pg.UUID(),
    Kind.DATETIME: lambda t: pg.TIMESTAMP(precision=min(t.fraction, MAX_FRACTION)),
    Kind.DATETIMEOFFSET: lambda t: pg.TIMESTAMP(
        timezone=True, precision=min(t.fraction, MAX_FRACTION)
    ),
    Kind.DATE: lambda t: pg.DATE(),
    Kind.TIME: lambda t: pg.TIME(precision=min(t.fraction, MAX_FRACTION)),
}


class PostgreSQLDialect(Dialect):
    name = "postgresql"
    default_schema = "public"
    max_identifier_length = 63
    names_ignore_case = False

    def column_type(self, sql_type: SqlType) -> TypeEngine:
        return _TYPES[sql_type.kind](sql_type)

    def stored_type(self, sql_type: SqlType) -> SqlType:
        if sql_type.kind is Kind.TINYINT:
            return SqlType(Kind.SMALLINT)
        if sql_type.kind in (Kind.DATETIME, Kind.DATETIMEOFFSET, Kind.TIME):
            return SqlType(sql_type.kind, fraction=min(sql_type.fraction, MAX_FRACTION))
        return sql_type

    def staging_table(self, target_name: str, columns: list[sa.Column]) -> sa.Table:
        return sa.Table(
            self.staging_table_name(target_name),
            sa.MetaData(),
            *columns,
            prefixes=["TEMPORARY"],
            postgresql_on_commit="DROP",
        )

    on_conflict_insert = staticmethod(pg.insert)
    staged_key_index_from_rows = None  # hash joins and aggregates (see Dialect)
    key_after_first_load = True  # 0.75 s of 2.5 s at 300k rows (bench/hotspots.py #4)

    def conversion(self, quoted_column: str, old: SqlType) -> str:
        if old.kind is Kind.BOOLEAN:  # boolean has no cast to integers; BIT→INT keeps 0/1
            return f" USING CASE WHEN {quoted_column} THEN 1 WHEN NOT {quoted_column} THEN 0 END"
        return ""

    def is_transient(self, error: BaseException) -> bool:
        code = getattr(getattr(error, "orig", None), "sqlstate", None) or ""
        return code in _TRANSIENT_SQLSTATES or code.startswith("08") or super().is_transient(error)

    unstorable_text = ("\x00", "PostgreSQL text cannot hold NUL (0x00) characters")

    def python_values(self, array: pa.Array, sql_type: SqlType) -> list[object]:
        """Timestamps lose their 7th fraction digit (100 ns) here, truncated: the server would
        round it, and 23:59:59.9999999 would become the next day (9999-12-31 the year 10000).
        Decimals go as exact text, which COPY parses faster than Decimal objects."""
        if sql_type.kind in SEVENTH_DIGIT:  # PostgreSQL timestamps hold microseconds
            return without_seventh_digit(array, sql_type).to_pylist()
        if sql_type.kind is Kind.DECIMAL:
            return decimal_strings(array)
        return array.to_pylist()

    def insert_batch(
        self, conn: Connection, table: sa.Table, batch: pa.RecordBatch, types: Sequence[SqlType]
    ) -> int:
        """One batch, as `CopyStream` sends batches."""
        with self.bulk_insert(conn, types) as sink:
            return sink.write(table, batch)

    row_sink = CopyStream

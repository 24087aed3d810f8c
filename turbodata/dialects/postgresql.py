"""PostgreSQL: native types and COPY FROM STDIN (psycopg 3) inside the load transaction."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

import turbodata.dialects.pg_binary as pg_binary
from turbodata.dialects.arrow_text import (
    SEVENTH_DIGIT,
    decimal_strings,
    decimal_text,
    without_seventh_digit,
)
from turbodata.dialects.base import Dialect, driver_errors
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
        """COPY built in Arrow, no Python object per value: PostgreSQL's binary format
        (`pg_binary`) where every column type has one here and the connection speaks UTF-8,
        else the text format (`copy_text`). A slice with a value the binary form does not
        take exactly goes as text, in a COPY of its own. A batch with a column type
        `copy_text` does not know goes row by row."""
        if batch.num_rows == 0:
            return 0
        prep = conn.dialect.identifier_preparer
        names = ", ".join(prep.quote(name) for name in batch.schema.names)
        statement = f"COPY {prep.format_table(table)} ({names}) FROM STDIN"
        driver_connection = conn.connection.driver_connection
        columnar = all(_copyable(column.type) for column in batch.columns)
        binary = None
        if columnar and driver_connection.info.encoding == "utf-8":
            binary = pg_binary.encoders(table, batch.schema)
        stored = 0
        with driver_connection.cursor() as cursor, driver_errors(conn, statement):
            if not columnar:
                self._write_rows(cursor, statement, batch, types)
                stored = cursor.rowcount
            else:
                for as_binary, payloads in _copy_payloads(batch, types, binary):
                    options = "(FORMAT binary)" if as_binary else "(ENCODING 'UTF8')"
                    with cursor.copy(f"{statement} {options}") as copy:
                        for payload in payloads:
                            copy.write(payload)
                    stored += cursor.rowcount
            if stored != batch.num_rows:  # never a short load that looks complete
                raise RuntimeError(
                    f"COPY into {table.name} stored {stored} of {batch.num_rows} rows"
                )
        return batch.num_rows

    def _write_rows(
        self, cursor: Any, statement: str, batch: pa.RecordBatch, types: Sequence[SqlType]
    ) -> None:
        columns = [self.python_values(batch.column(i), t) for i, t in enumerate(types)]
        with cursor.copy(statement) as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)


# rows per COPY buffer: bounds the client's memory, and is large enough that Arrow's
# per-call costs do not show. Above the ~15k rows of the reader's 8 MB chunks of a 25-column
# table, so that such a batch is encoded in one piece (0.56 → 0.52 s CPU for 300k rows
# against 10k, bench/pg_encode.py), and no more than pg_binary's cached index arrays cover.
COPY_SLICE_ROWS = 16_384


def _copy_payloads(
    batch: pa.RecordBatch,
    types: Sequence[SqlType],
    binary: list[pg_binary.Encoder] | None,
) -> Iterator[tuple[bool, Iterator[bytes | memoryview]]]:
    """(binary?, the data of one COPY) for each run of slices that go in one format, built
    slice by slice as the COPY takes them. A binary run starts with the format's header and
    ends with its trailer."""
    slices = (
        batch.slice(start, COPY_SLICE_ROWS) for start in range(0, batch.num_rows, COPY_SLICE_ROWS)
    )
    if binary is None:
        yield False, (copy_text(part, types) for part in slices)
        return
    encoded = ((part, pg_binary.copy_rows(part, binary)) for part in slices)
    for as_binary, run in itertools.groupby(encoded, key=lambda pair: pair[1] is not None):
        if as_binary:
            yield True, _binary_run(body for _, body in run)
        else:
            yield False, (copy_text(part, types) for part, _ in run)


def _binary_run(bodies: Iterator[memoryview | None]) -> Iterator[bytes | memoryview]:
    yield pg_binary.HEADER
    for body in bodies:
        if body is not None:
            yield body
    yield pg_binary.TRAILER


# text COPY escapes, backslash first so that the escapes added after it are not doubled. A
# quote is plain data in the text format, but Arrow's CSV writer refuses it unquoted: it goes
# as its octal escape.
_COPY_ESCAPES = (
    ("\\", "\\\\"),
    ("\t", "\\t"),
    ("\n", "\\n"),
    ("\r", "\\r"),
    ('"', "\\042"),
)
_NEEDS_ESCAPE = r'[\\\t\n\r"]'
_COPY_FORMAT = pacsv.WriteOptions(
    include_header=False, delimiter="\t", null_string="\\N", quoting_style="none"
)


def _copyable(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_decimal(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
    )


def copy_text(batch: pa.RecordBatch, types: Sequence[SqlType]) -> memoryview:
    """The rows of `batch` as the data of `COPY … FROM STDIN` (text format, UTF-8): fields
    separated by tabs, `\\N` for NULL, one line per row, written by Arrow's CSV writer
    (no quoting) from escaped fields (`copy_field`).

    Design choice: the text format rather than CSV. Arrow writes CSV with less client CPU
    (about 1.4 against 2.9 µs/row on bench/columnar.py's table), but PostgreSQL parses the
    text format with about a quarter less server CPU (6.1 against 8.2 µs/row), and the server
    is the slower side of the COPY. NULL and '' need no quoting rule to stay apart, and the
    row path this replaces used the same format."""
    fields = [copy_field(batch.column(i), t) for i, t in enumerate(types)]
    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.Table.from_arrays(fields, names=batch.schema.names), sink, _COPY_FORMAT)
    return memoryview(sink.getvalue())


def copy_field(array: pa.Array, sql_type: SqlType) -> pa.Array:
    """One column, as the CSV writer turns it into its text COPY field: exact positional
    decimals, date/times cut to microseconds (`without_seventh_digit`), strings escaped;
    integers, floats (shortest round-trip text, Python's repr digits) and booleans
    ('true'/'false') as they are."""
    if pa.types.is_decimal(array.type):
        return decimal_text(array)
    if not pa.types.is_string(array.type):
        return array
    text = without_seventh_digit(array, sql_type)
    if pc.any(pc.match_substring_regex(text, _NEEDS_ESCAPE)).as_py():
        for character, escaped in _COPY_ESCAPES:
            text = pc.replace_substring(text, character, escaped)
    return text

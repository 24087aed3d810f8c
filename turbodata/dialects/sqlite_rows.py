"""SQLite's rows from Arrow batches: `executemany` fed per-column values `sqlite3` binds without
its adapter lookup, a keyed table's rows in key order."""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from turbodata.dialects.arrow_text import decimal_strings
from turbodata.dialects.base import RowStatement, driver_errors, insert_statement
from turbodata.read.values import offset_as_utc
from turbodata.types.sql import Kind, SqlType

INSERT_SLICE_ROWS = 10_000  # rows per executemany: bounds the Python objects alive at once
NULL = math.nan  # bound as NULL by SQLite, without the driver's adapter lookup for None
# below this many rows, Arrow kernels (null positions, bool cast, key sort, take) cost more
# per call than they save: small files' columns take plain Python
ARROW_FROM_ROWS = 1_000


def insert(
    conn: Connection, table: sa.Table, batch: pa.RecordBatch, types: Sequence[SqlType]
) -> int:
    """`executemany` on the driver's cursor, fed by an iterator over per-column lists of
    INSERT_SLICE_ROWS rows: no list of row tuples, and a tenth of the batch as Python
    objects at a time. Errors are raised as SQLAlchemy's, as through the connection.

    Rows of a table with a primary key go in ordered by that key (`key_order`)."""
    if batch.num_rows == 0:
        return 0
    statement = insert_statement(conn.dialect, table, batch.schema.names)
    order = key_order(table, batch)
    cursor = conn.connection.driver_connection.cursor()
    with contextlib.closing(cursor), driver_errors(conn, statement):
        for start in range(0, batch.num_rows, INSERT_SLICE_ROWS):
            if order is None:
                rows = batch.slice(start, INSERT_SLICE_ROWS)
            else:
                rows = batch.take(order.slice(start, INSERT_SLICE_ROWS))
            columns = [bind_values(rows.column(i), t) for i, t in enumerate(types)]
            cursor.executemany(statement, zip(*columns, strict=True))
            if cursor.rowcount != rows.num_rows:  # never a short insert that looks complete
                raise RuntimeError(
                    f"INSERT into {table.name} stored {cursor.rowcount} of {rows.num_rows} rows"
                )
    return batch.num_rows


def upsert(
    conn: Connection,
    statement: RowStatement,
    batches: Sequence[pa.RecordBatch],
    types: Sequence[SqlType],
) -> int:
    """`executemany` of one INSERT … ON CONFLICT per row (`base.on_conflict_rows_sql`), the
    values bound as `insert` binds them: rows touched (sqlite3 adds up each row's changes:
    inserted, or updated where newer)."""
    text, positions, constants = statement
    rows: list[tuple[object, ...]] = []
    for batch in batches:
        columns = [bind_values(batch.column(i), t) for i, t in enumerate(types)]
        for row in zip(*columns, strict=True):
            rows.append(
                tuple(c if p is None else row[p] for p, c in zip(positions, constants, strict=True))
            )
    cursor = conn.connection.driver_connection.cursor()
    with contextlib.closing(cursor), driver_errors(conn, text):
        cursor.executemany(text, rows)
        return cursor.rowcount


def bind_values(array: pa.Array, sql_type: SqlType) -> list[object]:
    """The column as values `sqlite3` binds without its adapter lookup: str, int, float.

    NULL is bound as float NaN, which SQLite stores as NULL (sqlite3_bind_double), and a
    boolean as the integer 0/1 it was stored as anyway. Why: the driver looks for an
    adapter for every value of another type, None and bool included, and that lookup
    formats an AttributeError each time (about 0.5 µs a value: a fifth of a snapshot's
    insert). The stored values are the same; a process that registered its own adapter
    for float keeps None, so that adapter never sees a NULL. A column of fewer than
    ARROW_FROM_ROWS values keeps its booleans (a kernel call costs more than it saves)."""
    large = len(array) >= ARROW_FROM_ROWS
    if sql_type.kind is Kind.DECIMAL:
        values = decimal_strings(array)
    elif sql_type.kind is Kind.DATETIMEOFFSET:
        values = _offsets_as_utc(array)
    elif large and pa.types.is_boolean(array.type):
        values = pc.cast(array, pa.int64()).to_pylist()
    else:
        values = array.to_pylist()
    if not array.null_count or (float, sqlite3.PrepareProtocol) in sqlite3.adapters:
        return values
    if not large:
        return [NULL if value is None else value for value in values]
    for position in pc.indices_nonzero(array.is_null()).to_pylist():
        values[position] = NULL
    return values


def _offsets_as_utc(array: pa.Array) -> list[object]:
    """DATETIMEOFFSET text at +00:00 (`values.offset_as_utc`): SQLite compares the text, so
    one instant with two offsets would be two keys, and ordered by its local time. Values
    at +00:00 already (all of a Synapse Link export's) are taken as they are."""
    values = array.to_pylist()
    other = pc.invert(pc.fill_null(pc.ends_with(array, "+00:00"), True))
    for position in pc.indices_nonzero(other).to_pylist():
        values[position] = offset_as_utc(values[position])
    return values


def key_order(table: sa.Table, batch: pa.RecordBatch) -> pa.Array | None:
    """The batch's row positions ordered by the table's primary key, or None (no key, a key
    the batch does not carry in full, or fewer than ARROW_FROM_ROWS rows).

    Why: SQLite stores a table's rows in rowid order, the order they went in. A later
    incremental folder is upserted in key order (`SQLiteDialect.upsert_in_key_order`): into
    a table in key order per batch, its updates visit the table's pages nearly in order;
    into one in file order, at random. Measured (bench/cli.py, 150k updates in random order
    onto 300k rows): 3.49 s against 4.33 s, for 0.2 s more on the 300k-row snapshot (the
    sort; session 7, bench/README.md). (Before the key became an index built after a first
    load, the sort also kept that index's inserts local.) Only the order in which rows go
    in changes: the same rows are stored, and nothing reads the rowids this gives (a keyed
    table's rows are found by key; staging tables, whose sequence column orders their rows,
    have no key). Arrow's byte order of text is SQLite's BINARY collation; where the two
    orders differ (decimals stored as text) the rows are stored as fast, not wrongly.
    """
    key = [column.name for column in table.primary_key.columns]
    if not key or not set(key) <= set(batch.schema.names) or batch.num_rows < ARROW_FROM_ROWS:
        return None
    return pc.sort_indices(batch, sort_keys=[(name, "ascending") for name in key])

"""SQLite's rows from Arrow batches: `executemany` fed per-column values `sqlite3` binds without
its adapter lookup."""

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
from turbodata.dialects.base import driver_errors, insert_statement
from turbodata.types.sql import Kind, SqlType

INSERT_SLICE_ROWS = 10_000  # rows per executemany: bounds the Python objects alive at once
NULL = math.nan  # bound as NULL by SQLite, without the driver's adapter lookup for None
# below this many rows, Arrow kernels (null positions, bool cast) cost more
# per call than they save: small files' columns take plain Python
ARROW_FROM_ROWS = 1_000


def insert(
    conn: Connection, table: sa.Table, batch: pa.RecordBatch, types: Sequence[SqlType]
) -> int:
    """`executemany` on the driver's cursor, fed by an iterator over per-column lists of
    INSERT_SLICE_ROWS rows: no list of row tuples, and a tenth of the batch as Python
    objects at a time. Errors are raised as SQLAlchemy's, as through the connection.

    Rows go in in file order: a keyed table gets its key index after a first load's rows
    (`SQLiteDialect.key_after_first_load`), and other keyed rows go through staging, so no
    insert here maintains a key index (sorting each batch by key for it, as before, cost
    more than it saved once the index was built after the rows)."""
    if batch.num_rows == 0:
        return 0
    statement = insert_statement(conn.dialect, table, batch.schema.names)
    cursor = conn.connection.driver_connection.cursor()
    with contextlib.closing(cursor), driver_errors(conn, statement):
        for start in range(0, batch.num_rows, INSERT_SLICE_ROWS):
            rows = batch.slice(start, INSERT_SLICE_ROWS)
            columns = [bind_values(rows.column(i), t) for i, t in enumerate(types)]
            cursor.executemany(statement, zip(*columns, strict=True))
            if cursor.rowcount != rows.num_rows:  # never a short insert that looks complete
                raise RuntimeError(
                    f"INSERT into {table.name} stored {cursor.rowcount} of {rows.num_rows} rows"
                )
    return batch.num_rows


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

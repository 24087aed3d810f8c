"""PostgreSQL's bulk path: batches sent through `COPY … FROM STDIN` (psycopg 3), one COPY kept
open while batch after batch goes to the same table in the same format.

Why one COPY for many batches: the server stores the rows of one batch while the client
reads, converts and encodes the next. A COPY per batch waited at its end for the server to
store every row before the next batch was encoded, so client and server took turns.

Formats: PostgreSQL's binary format (`pg_binary`) where every column type has one and the
connection speaks UTF-8; else the text format built in Arrow (`copy_text`). A slice with a
value the binary form does not take exactly goes as text, in a COPY of its own. A batch with
a column type `copy_text` does not know goes row by row.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter

import turbodata.dialects.pg_binary as pg_binary
from turbodata.dialects.arrow_text import decimal_text, without_seventh_digit
from turbodata.dialects.base import Dialect, RowSink, driver_errors
from turbodata.types.sql import SqlType

# rows per COPY buffer: bounds the client's memory, and is large enough that Arrow's
# per-call costs do not show. Above the ~15k rows of the reader's 8 MB chunks of a 25-column
# table, so that such a batch is encoded in one piece (0.56 → 0.52 s CPU for 300k rows
# against 10k, bench/pg_encode.py), and no more than pg_binary's cached index arrays cover.
COPY_SLICE_ROWS = 16_384

# pieces (of at most psycopg's 128 kB) waiting for the connection: what the client may run
# ahead of the server
QUEUED_PIECES = 64


@dataclass
class _OpenCopy:
    statement: str
    stack: contextlib.ExitStack
    cursor: Any  # psycopg's cursor
    copy: Any  # psycopg's Copy
    binary: bool
    rows: int = 0  # rows sent


class CopyStream(RowSink):
    """Batches into COPY statements: one COPY stays open while its table, columns and
    format stay the same. Another statement on the connection ends it first (psycopg holds
    the connection's lock for a whole COPY: a statement run inside one would wait forever).
    The rows a COPY stored are checked against the rows sent when it ends: never a short
    load that looks complete."""

    def __init__(self, dialect: Dialect, conn: sa.Connection, types: Sequence[SqlType]) -> None:
        super().__init__(dialect, conn, types)
        self._open: _OpenCopy | None = None
        sa.event.listen(conn, "before_cursor_execute", self._before_statement)

    def write(self, table: sa.Table, batch: pa.RecordBatch) -> int:
        if batch.num_rows == 0:
            return 0
        if not all(_copyable(column.type) for column in batch.columns):
            self.flush()
            self._write_rows(table, batch)
            return batch.num_rows
        binary = None
        if self.conn.connection.driver_connection.info.encoding == "utf-8":
            binary = pg_binary.encoders(table, batch.schema)
        for as_binary, slices in _copy_payloads(batch, self.types, binary):
            stream = self._copy(table, batch.schema.names, as_binary)
            for rows, payload in slices:
                with driver_errors(self.conn, stream.statement):
                    stream.copy.write(payload)
                stream.rows += rows
        return batch.num_rows

    def flush(self) -> None:
        stream, self._open = self._open, None
        if stream is None:
            return
        try:
            with driver_errors(self.conn, stream.statement):
                if stream.binary:
                    stream.copy.write(pg_binary.TRAILER)
                stream.stack.close()  # the COPY ends: the server has stored every row
            stored = stream.cursor.rowcount
        finally:
            stream.cursor.close()
        if stored != stream.rows:
            raise RuntimeError(f"{stream.statement} stored {stored} of {stream.rows} rows")

    def abort(self, error: BaseException) -> None:
        stream, self._open = self._open, None
        self._stop_listening()
        if stream is not None:
            # psycopg ends the COPY with the error (the server discards it); a second error
            # here (a broken connection) must not hide the first
            with contextlib.suppress(Exception):
                stream.stack.__exit__(type(error), error, error.__traceback__)
            with contextlib.suppress(Exception):
                stream.cursor.close()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._stop_listening()

    def _copy(self, table: sa.Table, names: Sequence[str], binary: bool) -> _OpenCopy:
        """The open COPY for these rows; the one open before ends if it is another."""
        options = "(FORMAT binary)" if binary else "(ENCODING 'UTF8')"
        statement = self._statement(table, names, options)
        if self._open is not None and self._open.statement == statement:
            return self._open
        self.flush()
        stack = contextlib.ExitStack()  # the COPY's context (its cursor is closed after it)
        with driver_errors(self.conn, statement):
            cursor = self.conn.connection.driver_connection.cursor()
            try:
                copy = stack.enter_context(cursor.copy(statement, writer=_BoundedWriter(cursor)))
            except BaseException:
                cursor.close()
                raise
            self._open = _OpenCopy(statement, stack, cursor, copy, binary)
            if binary:
                copy.write(pg_binary.HEADER)
        return self._open

    def _write_rows(self, table: sa.Table, batch: pa.RecordBatch) -> None:
        """Row by row (`copy.write_row`), for column types without a columnar form."""
        statement = self._statement(table, batch.schema.names)
        types = self.types
        columns = [self.dialect.python_values(batch.column(i), t) for i, t in enumerate(types)]
        with (
            driver_errors(self.conn, statement),
            self.conn.connection.driver_connection.cursor() as cursor,
        ):
            with cursor.copy(statement) as copy:
                for row in zip(*columns, strict=True):
                    copy.write_row(row)
            stored = cursor.rowcount
        if stored != batch.num_rows:
            raise RuntimeError(f"COPY into {table.name} stored {stored} of {batch.num_rows} rows")

    def _statement(self, table: sa.Table, names: Sequence[str], options: str = "") -> str:
        prep = self.conn.dialect.identifier_preparer
        columns = ", ".join(prep.quote(name) for name in names)
        return f"COPY {prep.format_table(table)} ({columns}) FROM STDIN {options}".rstrip()

    def _before_statement(self, *_args: object) -> None:
        if self._open is not None:
            self.flush()

    def _stop_listening(self) -> None:
        if sa.event.contains(self.conn, "before_cursor_execute", self._before_statement):
            sa.event.remove(self.conn, "before_cursor_execute", self._before_statement)


class _BoundedWriter(QueuedLibpqWriter):
    """psycopg's writer thread (the client goes on encoding while the connection sends),
    with a queue short enough to bound the memory it holds (psycopg's holds 128 MB)."""

    def __init__(self, cursor: Any) -> None:
        super().__init__(cursor)
        self._queue = queue.Queue(maxsize=QUEUED_PIECES)


def _copy_payloads(
    batch: pa.RecordBatch,
    types: Sequence[SqlType],
    binary: list[pg_binary.Encoder] | None,
) -> Iterator[tuple[bool, Iterator[tuple[int, bytes | memoryview]]]]:
    """(binary?, (rows, data) of each slice) for each run of slices that go in one format,
    built slice by slice as the COPY takes them."""
    slices = (
        batch.slice(start, COPY_SLICE_ROWS) for start in range(0, batch.num_rows, COPY_SLICE_ROWS)
    )
    if binary is None:
        yield False, ((part.num_rows, copy_text(part, types)) for part in slices)
        return
    encoded = ((part, pg_binary.copy_rows(part, binary)) for part in slices)
    for as_binary, run in itertools.groupby(encoded, key=lambda pair: pair[1] is not None):
        if as_binary:
            yield True, ((part.num_rows, body) for part, body in run if body is not None)
        else:
            yield False, ((part.num_rows, copy_text(part, types)) for part, _ in run)


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

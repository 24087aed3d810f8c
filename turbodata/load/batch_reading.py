"""Reading one batch: its column types and its files as typed chunks.

The type pass reads up to READ_ONCE_BYTES of the batch and keeps what it read for the load;
the rest is typed as it loads (`TypesFound.unfinished`, checked by `check_types_held` before
the batch commits). Each file goes through the reader and the value converter; in a large
file the next chunk is read and converted in a thread while the database takes this one
(`prefetch`). Rows the converter cannot load, and rows without a key, become rejects.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from turbodata.dialects.base import Dialect
from turbodata.lake.storage import Lake, VersionPinnedOpener
from turbodata.load import schema
from turbodata.load.again import How, NumbersOutgrowTypes, TypesNeedAllRows
from turbodata.load.changes import ChangeColumns
from turbodata.load.options import LoadOptions
from turbodata.model import DataFile, FileInfo, RowSource, TableBatch
from turbodata.read import arrow_memory
from turbodata.read.convert import (
    DeleteRows,
    TypedChunk,
    as_text,
    convert_chunk,
    convert_typed,
    plain_array,
)
from turbodata.read.prefetch import prefetched
from turbodata.read.reader import HeaderMismatch, RawChunk, RowReject, read_raw
from turbodata.summary import TableResult
from turbodata.types.batch import BatchTypes, TypePass, WidenedNumber, is_number
from turbodata.types.sql import Kind, SqlType

# A batch whose types depend on its data is read once. The type pass reads this much of it
# and keeps it for the load (at most about twice this in memory); the rest is typed while it
# loads, and when its rows need other types than the first ones, the batch is rolled back and
# loaded again after a type pass over all of it (`TypesNeedAllRows`).
READ_ONCE_BYTES = 16 << 20
# A file this large is read ahead in a thread (`prefetch`); a smaller one is one chunk, with
# nothing to overlap, and a thread per file cost more than reading it (2 ms per small file).
PREFETCH_FROM_BYTES = 1 << 20


@dataclass(frozen=True)
class TypesFound:
    """A batch's types, and what the type pass read of its files for the load."""

    types: BatchTypes
    started: dict[str, Iterator[RawChunk]] = field(default_factory=dict)
    # the type pass, when `types` are those of the first rows only: the load hands it the
    # rest, and the batch is loaded again when all of its rows need other types
    unfinished: TypePass | None = None


@dataclass(frozen=True)
class Reading:
    """How one batch's files are read: its column types, key and width rule."""

    batch: TableBatch
    types: list[SqlType]
    key: tuple[str, ...]
    exact_width: bool  # columns moved in this batch: every row must have the full width
    sized_numbers: bool = False  # number columns were sized by their values already
    # path → what is left to load of a file the type pass began: its chunks, then the rest
    started: dict[str, Iterator[RawChunk]] = field(default_factory=dict)
    unfinished: TypePass | None = None  # takes every chunk the type pass has not seen
    strict_numbers: frozenset[str] = frozenset()  # see `BatchTypes.strict_numbers`

    @functools.cached_property  # asked for every chunk: found once per batch
    def deletes(self) -> DeleteRows | None:
        """How the batch's delete rows are told apart, where it has a key and a delete
        column (a row of a table without a key deletes nothing)."""
        columns = ChangeColumns.find(self.batch.schema.column_names, self.key)
        if not self.key or columns.delete is None:
            return None
        ordering = {columns.delete, columns.version, columns.modified} - {None}
        return DeleteRows(columns.delete, frozenset({*columns.key, *ordering}))


@dataclass
class BatchReader:
    lake: Lake
    dialect: Dialect
    options: LoadOptions
    row_widths: dict[str, set[int]]  # table → the row widths its schemas allow
    # path → what opens it for every read of this run (`_opener`)
    _openers: dict[str, VersionPinnedOpener] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.options.lean_arrow_pool:
            arrow_memory.use_lean_pool()  # before the first chunk

    def types(
        self, batch: TableBatch, files: list[DataFile], exact_width: bool, how: How
    ) -> TypesFound:
        """The batch's column types, reading its files first when a type depends on the data.
        Of CSV files it reads up to READ_ONCE_BYTES and keeps what it read for the load; the
        types are then those of these first rows, and the type pass goes on while the rest
        loads (`TypesFound.unfinished`), unless `how` says to read everything first."""
        type_pass = TypePass(
            batch.schema,
            self.options.overrides,
            self.options.infer,
            widen_numbers=how.sized_numbers,
        )
        if not type_pass.needs_data:
            return TypesFound(type_pass.result())
        if batch.source is not None:
            for columns in _typed_as_text(batch, batch.source, files):
                type_pass.update(columns)
            return TypesFound(type_pass.result())
        if exact_width or not how.one_pass:
            for data_file in files:
                for raw in self.raw_chunks(batch, data_file, exact_width=False):
                    type_pass.update(raw.columns)
            return TypesFound(type_pass.result())
        return self._first_rows_types(batch, files, type_pass)

    def _first_rows_types(
        self, batch: TableBatch, files: list[DataFile], type_pass: TypePass
    ) -> TypesFound:
        started: dict[str, Iterator[RawChunk]] = {}
        kept_bytes = 0
        for data_file in files:
            chunks = iter(self.raw_chunks(batch, data_file, exact_width=False))
            kept: list[RawChunk] = []
            for raw in chunks:
                type_pass.update(raw.columns)
                kept.append(raw)
                kept_bytes += sum(column.nbytes for column in raw.columns)
                if kept_bytes >= READ_ONCE_BYTES:
                    started[data_file.info.path] = _then(kept, _typed_on(chunks, type_pass))
                    return TypesFound(type_pass.result(), started, unfinished=type_pass)
            started[data_file.info.path] = _then(kept, iter(()))
        return TypesFound(type_pass.result(), started)

    def file_chunks(
        self,
        result: TableResult,
        reading: Reading,
        data_file: DataFile,
        rejects: list[RowReject],
    ) -> Iterator[TypedChunk]:
        """Typed chunks of one file, the next one read ahead in a thread when the file is
        large; the rows it cannot load are added to `rejects`."""
        chunks = self._chunks(result, reading, data_file, rejects)
        return prefetched(chunks) if data_file.info.size >= PREFETCH_FROM_BYTES else chunks

    def _chunks(
        self,
        result: TableResult,
        reading: Reading,
        data_file: DataFile,
        rejects: list[RowReject],
    ) -> Iterator[TypedChunk]:
        names = reading.batch.schema.column_names
        if reading.batch.source is not None:
            yield from self._typed_chunks(result, reading, reading.batch.source, data_file, rejects)
            return
        raws = reading.started.pop(data_file.info.path, None)
        if raws is None:
            raws = self.raw_chunks(reading.batch, data_file, reading.exact_width)
            if reading.unfinished is not None:
                raws = _typed_on(raws, reading.unfinished)
        for raw in raws:
            if reading.exact_width and any(r.width for r in raw.rejects):
                raise schema.SchemaConflict(
                    f"columns of {reading.batch.table} were inserted, moved or removed in the"
                    f" middle in {reading.batch.batch_id}, and {data_file.info.path} has rows"
                    " of another width: their values cannot be bound to columns safely"
                )
            chunk = convert_chunk(
                raw,
                names,
                reading.types,
                keep_empty_strings=self.options.keep_empty_strings,
                unstorable_text=self.dialect.unstorable_text,
                strict_numbers=reading.strict_numbers,
                deletes=reading.deletes,
            )
            if not reading.sized_numbers and (outgrown := _outgrown_number(raw, chunk, reading)):
                raise NumbersOutgrowTypes(outgrown)
            chunk = _reject_missing_keys(chunk, reading.key)
            rejects += chunk.rejects
            result.rows_read += raw.num_rows + len(raw.rejects)
            yield chunk

    def _typed_chunks(
        self,
        result: TableResult,
        reading: Reading,
        source: RowSource,
        data_file: DataFile,
        rejects: list[RowReject],
    ) -> Iterator[TypedChunk]:
        """Delta and Parquet rows: already typed, so only converted to the carried types."""
        first_row = 1
        for typed in source.read(data_file):
            row_numbers = pa.array(range(first_row, first_row + typed.num_rows), pa.int64())
            first_row += typed.num_rows
            chunk = convert_typed(
                typed,
                row_numbers,
                reading.batch.schema.column_names,
                reading.types,
                keep_empty_strings=self.options.keep_empty_strings,
                unstorable_text=self.dialect.unstorable_text,
                strict_numbers=reading.strict_numbers,
                deletes=reading.deletes,
            )
            chunk = _reject_missing_keys(chunk, reading.key)
            rejects += chunk.rejects
            result.rows_read += typed.num_rows
            yield chunk

    def raw_chunks(
        self, batch: TableBatch, data_file: DataFile, exact_width: bool
    ) -> Iterator[RawChunk]:
        names = batch.schema.column_names
        widths = None if exact_width else self.row_widths.get(batch.table)
        try:
            yield from read_raw(
                self._opener(data_file),
                column_names=names,
                dialect=data_file.dialect,
                widths=widths,
            )
        except HeaderMismatch as error:
            raise HeaderMismatch(f"{data_file.info.path}: {error}") from None

    def _opener(self, data_file: DataFile) -> VersionPinnedOpener:
        """What opens the file for every read of this run (the type pass's and the load's):
        each the version the first one read."""
        path = data_file.info.path
        if path not in self._openers:
            self._openers[path] = VersionPinnedOpener(self.lake, data_file.info)
        return self._openers[path]

    def version_read(self, data_file: DataFile) -> FileInfo:
        """The version of the file its rows were read from, for the ledger: the listed one
        (`VersionPinnedOpener` reads no other), as the lake describes it when opened."""
        opener = self._openers.get(data_file.info.path)
        return opener.version if opener and opener.version else data_file.info


def check_types_held(first_rows: BatchTypes, all_rows: BatchTypes) -> None:
    """Raise `TypesNeedAllRows` when the batch's rows need other types than its first rows
    gave. A string that needs more length is not a reason: its column was widened before
    the rows went in, to the same length a type pass over all the rows finds."""
    for name, first in first_rows.types.items():
        every = all_rows.types[name]
        lengths_only = (
            first.kind is every.kind is Kind.STRING
            and first.length is not None
            and every.length is not None
        )
        if first != every and not lengths_only:
            raise TypesNeedAllRows(f"column {name!r} needs {every}, its first rows {first}")


def _then(kept: list[RawChunk], rest: Iterator[RawChunk]) -> Iterator[RawChunk]:
    """The kept chunks, each let go once loaded, then `rest`."""
    kept.reverse()
    while kept:
        yield kept.pop()
    yield from rest


def _typed_on(raws: Iterable[RawChunk], type_pass: TypePass) -> Iterator[RawChunk]:
    """`raws`, each handed to the type pass on its way to the load."""
    for raw in raws:
        type_pass.update(raw.columns)
        yield raw


def _outgrown_number(raw: RawChunk, chunk: TypedChunk, reading: Reading) -> str | None:
    """The first number column holding a rejected value that a wider type of the lattice
    would hold (a description for the log), or None."""
    names = reading.batch.schema.column_names
    index_of_row = {n: i for i, n in enumerate(raw.row_numbers.to_pylist())}
    for column, sql_type in zip(names, reading.types, strict=True):
        rows = [
            index_of_row[r.row]
            for r in chunk.rejects
            if r.column == column and r.row in index_of_row
        ]
        if not rows or not is_number(sql_type):
            continue
        sizing = WidenedNumber(sql_type)
        sizing.update(pc.take(raw.columns[names.index(column)], pa.array(rows)))
        if (wider := sizing.result()) != sql_type:
            return f"column {column!r} holds values that need {wider}, not {sql_type}"
    return None


def _typed_as_text(
    batch: TableBatch, source: RowSource, files: list[DataFile]
) -> Iterator[list[pa.Array]]:
    """Typed rows as one text array per column, for the type inference pass."""
    names = batch.schema.column_names
    for data_file in files:
        for typed in source.read(data_file):
            yield [as_text(plain_array(typed.column(name))) for name in names]


def _reject_missing_keys(chunk: TypedChunk, key: tuple[str, ...]) -> TypedChunk:
    if not key or chunk.batch.num_rows == 0:
        return chunk
    missing = pc.is_null(chunk.batch.column(key[0]))
    for name in key[1:]:
        missing = pc.or_(missing, pc.is_null(chunk.batch.column(name)))
    if not pc.any(missing).as_py():
        return chunk
    rows = pc.filter(chunk.row_numbers, missing).to_pylist()
    keyless = chunk.batch.filter(missing)
    # each row names the first key column it lacks
    empty = [keyless.column(name).is_null().to_pylist() for name in key]
    lacking = [key[flags.index(True)] for flags in zip(*empty, strict=True)]
    reason = f"no value for the key {', '.join(key)}"
    rejects = [RowReject(r, name, reason, "") for r, name in zip(rows, lacking, strict=True)]
    keep = pc.invert(missing)
    rejected = keyless if chunk.rejected is None else pa.concat_batches([chunk.rejected, keyless])
    return TypedChunk(
        chunk.batch.filter(keep),
        chunk.row_numbers.filter(keep),
        chunk.rejects + rejects,
        chunk.max_lengths,
        rejected,
    )

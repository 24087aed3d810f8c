"""Writing one batch into its table, in the batch's transaction.

The table is created or extended first (`apply_schema`, each statement kept in the ledger),
and a string column is widened before a longer value goes in. Then the rows are inserted as
they are (`insert_rows`), or staged and applied as changes by key (`apply_changes`, through
`changes.Staging`: upserts and deletes, or a snapshot replacing the table). Each file gets its
ledger row and its rejects when its last row is in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from turbodata.dialects.base import Dialect
from turbodata.ledger import records as ledger
from turbodata.load import schema
from turbodata.load.batch_reading import BatchReader, Reading
from turbodata.load.changes import (
    AppliedCounts,
    ChangeColumns,
    Staging,
    refuse_text_versions,
    upsert_unstaged,
)
from turbodata.load.options import LoadOptions
from turbodata.model import DataFile, LoadMode, TableBatch
from turbodata.read.convert import TypedChunk, rows_holding
from turbodata.read.reader import RowReject
from turbodata.summary import TableResult
from turbodata.types.sql import Kind, SqlType, string_type


@dataclass
class BatchWriter:
    conn: Connection
    dialect: Dialect
    reader: BatchReader
    options: LoadOptions
    result: TableResult
    run_id: str
    ledger_table: str  # how the ledger names the table
    report: Callable[[TableResult], None]  # progress, after each chunk
    table_types: dict[str, SqlType] = field(default_factory=dict)  # as the DDL so far left it
    # loaded files read again as they were, around a new file of their folder: their rejects
    # were recorded and reported by the run that loaded them, and are not again
    reread: frozenset[str] = frozenset()

    def apply_schema(
        self,
        wanted: dict[str, SqlType],
        existing: dict[str, SqlType] | None,
        key: tuple[str, ...],
        key_later: bool = False,
    ) -> schema.TablePlan:
        """Create the table, or add and widen its columns, as `wanted` needs. `key_later`:
        a new table gets its key when its first rows are in (`insert_rows`); a table that
        exists has its key still to come."""
        name = self.result.name
        sql = self.conn.dialect
        table_plan = schema.plan_table(
            sql, self.dialect, name, wanted, existing, self.options.db_schema, key, key_later
        )
        self._run_ddl(table_plan.statements)
        self.table_types = table_plan.types
        self.result.columns_created += (
            len(table_plan.types) if table_plan.created else len(table_plan.added)
        )
        return table_plan

    def _run_ddl(self, statements: list[str]) -> None:
        for statement in statements:
            self.conn.exec_driver_sql(statement)
        ledger.record_ddl(
            self.conn, run_id=self.run_id, table=self.ledger_table, statements=statements
        )
        self.result.ddl += statements

    def insert_rows(
        self,
        reading: Reading,
        files: list[DataFile],
        table_plan: schema.TablePlan,
        delete_column: str | None = None,
    ) -> None:
        """Every row as it is. A table created without its key gets it once the rows are in
        (a repeated key fails there as it would have failed an insert). `delete_column` (a
        keyed table this batch created, see `TableLoader._insert_keyed_rows`): the rows it
        marks deleted are removed after that."""
        result = self.result
        replaced = 0
        if not applies_changes(reading.batch.mode):
            replaced = self.conn.execute(sa.delete(table_plan.table)).rowcount
            result.rows_deleted += replaced
        add_key = table_plan.add_key  # the plans of widened columns after it do not carry it
        loaded, delete_rows, read_before = 0, 0, result.rows_read
        problems_before = len(result.problems)
        # strings at the table's lengths: a column an earlier batch widened is wider than
        # this batch's declared length (sent at that, pytds' bulk copy failed: found by review)
        names = reading.batch.schema.column_names
        sink_types = [
            _as_in_table(table_plan.types, n, t) for n, t in zip(names, reading.types, strict=True)
        ]
        with self.dialect.bulk_insert(self.conn, sink_types) as sink:
            for data_file in files:
                rows, rejects = 0, []
                for chunk in self.reader.file_chunks(result, reading, data_file, rejects):
                    widened = self._widen_strings(table_plan, chunk.max_lengths, bool(add_key))
                    if widened is not table_plan:  # the sink sends strings at the new length
                        table_plan = widened
                        sink.retype(_strings_as(widened.types, sink.types, chunk.batch))
                    inserted = sink.write(table_plan.table, chunk.batch)
                    rows += inserted
                    result.rows_inserted += inserted
                    delete_rows += _delete_rows(chunk.batch, delete_column)
                    self.report(result)
                sink.flush()  # the file's rows are in before its ledger row
                self._record_file(reading.batch, data_file, rows, rejects)
                loaded += rows
        if add_key:
            self._run_ddl([add_key])
        if delete_rows:
            flag = table_plan.table.c[delete_column]
            self.conn.execute(sa.delete(table_plan.table).where(flag == sa.true()))
            result.rows_inserted -= delete_rows
        read = result.rows_read - read_before
        rejected = result.problems[problems_before:]
        refuse_empty_snapshot(reading.batch, files, loaded, replaced, read, rejected)

    def apply_changes(
        self, reading: Reading, files: list[DataFile], table_plan: schema.TablePlan
    ) -> None:
        """The rows staged, one winner kept per key, then applied: upserts and deletes, or
        the snapshot replacing the table. A small batch of changes that needs no ranking and
        no delete goes into the table unstaged (`changes.upsert_unstaged`)."""
        result = self.result
        names = reading.batch.schema.column_names
        staged_types = {n: _unbounded(t) for n, t in zip(names, reading.types, strict=True)}
        columns = ChangeColumns.find(
            names,
            reading.key,
            in_commit_order=reading.batch.mode in (LoadMode.CHANGES, LoadMode.FEED),
            feed=reading.batch.mode is LoadMode.FEED,
        )
        if applies_changes(reading.batch.mode):  # a snapshot ranks only repeated keys
            refuse_text_versions(self.dialect, columns, staged_types)
        read_before, rejected_before = result.rows_read, result.rows_rejected
        problems_before = len(result.problems)
        small = self._read_small(reading, files)
        if small is not None:
            table_plan = self._widen_strings(table_plan, _longest(small))
            if self._upserted_unstaged(reading, table_plan, staged_types, columns, small):
                return
        staging = Staging(self.conn, self.dialect, table_plan.table, staged_types, columns)
        longest: dict[str, int] = {}
        staged = 0
        rejected_keys = RejectedKeys(staging.columns.key, self.dialect.unstorable_text)
        with self.dialect.bulk_insert(self.conn, staging.types) as sink:
            for index, data_file in enumerate(files):
                rows, rejects = 0, [] if small is None else small[index].rejects
                chunks = (
                    self.reader.file_chunks(result, reading, data_file, rejects)
                    if small is None
                    else small[index].chunks
                )
                for chunk in chunks:
                    rows += staging.add(sink, chunk.batch, index, chunk.row_numbers)
                    rejected_keys.add(chunk)
                    _note_lengths(longest, chunk)
                    self.report(result)
                sink.flush()  # the file's rows are staged before its ledger row
                self._record_file(reading.batch, data_file, rows, rejects)
                staged += rows
        self._widen_strings(table_plan, longest)
        changes = applies_changes(reading.batch.mode)
        staging.keep_winners(soft_delete=self.options.soft_delete and changes)
        if changes:
            counts = staging.apply(soft_delete=self.options.soft_delete)
        else:
            rejected = result.rows_rejected - rejected_before
            counts = staging.replace_all(
                soft_delete=self.options.soft_delete,
                rejected=rejected,
                rejected_keys=rejected_keys.table() if rejected else None,
            )
            read = result.rows_read - read_before
            # rows kept for rejects would have gone: all rejected still refuses the snapshot
            gone = counts.deleted + counts.kept
            rejected_lines = result.problems[problems_before:]
            refuse_empty_snapshot(reading.batch, files, staged, gone, read, rejected_lines)
            if counts.kept:
                result.problems.append(
                    f"{result.name}: {counts.kept} row(s) not in this snapshot were kept, not"
                    f" deleted: {rejected_keys.unknown} of its rejected rows have no key that"
                    " can be read, and such a row cannot be told from a deleted one (they go"
                    " with a snapshot that loads in full)"
                )
        staging.drop()
        _count(result, counts)

    def _upserted_unstaged(
        self,
        reading: Reading,
        table_plan: schema.TablePlan,
        types: dict[str, SqlType],
        columns: ChangeColumns,
        small: list[_ReadFile],
    ) -> bool:
        batches = [chunk.batch for file in small for chunk in file.chunks]
        counts = upsert_unstaged(self.conn, self.dialect, table_plan.table, batches, types, columns)
        if counts is None:
            return False
        for file in small:
            self._record_file(reading.batch, file.data_file, file.rows, file.rejects)
        _count(self.result, counts)
        return True

    def _read_small(self, reading: Reading, files: list[DataFile]) -> list[_ReadFile] | None:
        """The files' typed rows, read whole, where the batch applies changes, the dialect
        may upsert them unstaged and they are small enough for that; else None (they are
        read as they are staged)."""
        if not (self.dialect.unstaged_upsert_rows and applies_changes(reading.batch.mode)):
            return None
        if sum(f.info.size for f in files) > self.dialect.unstaged_upsert_bytes:
            return None
        read = []
        for data_file in files:
            rejects: list[RowReject] = []
            chunks = list(self.reader.file_chunks(self.result, reading, data_file, rejects))
            read.append(_ReadFile(data_file, chunks, rejects))
            self.report(self.result)
        return read

    def _widen_strings(
        self, table_plan: schema.TablePlan, max_lengths: dict[str, int], key_pending: bool = False
    ) -> schema.TablePlan:
        """Strings longer than their column: widen it before the rows go in (never truncate).
        `key_pending`: the table's key is added after these rows (`TablePlan.add_key`)."""
        longer = {
            name: string_type(length)
            for name, length in max_lengths.items()
            if (current := table_plan.types[name].length) is not None and length > current
        }
        if not longer:
            return table_plan
        return self.apply_schema(longer, table_plan.types, table_plan.key, key_pending)

    def _record_file(
        self, batch: TableBatch, data_file: DataFile, rows: int, rejects: list[RowReject]
    ) -> None:
        """The file's ledger row (of the version read) and its rejects, in the batch's
        transaction."""
        path = data_file.info.path
        ledger.record_file(
            self.conn,
            run_id=self.run_id,
            table=self.ledger_table,
            batch_id=batch.batch_id,
            info=self.reader.version_read(data_file),
            rows_loaded=rows,
            rows_rejected=len(rejects),
        )
        self.result.files_read += 1
        if path in self.reread:  # recorded and reported by the run that loaded it
            return
        ledger.record_rejects(
            self.conn, run_id=self.run_id, table=self.ledger_table, file=path, row_rejects=rejects
        )
        self.result.rows_rejected += len(rejects)
        self.result.problems += [reject_line(path, r) for r in rejects]


@dataclass
class _ReadFile:
    """One file of a small batch, read whole before its rows go anywhere."""

    data_file: DataFile
    chunks: list[TypedChunk]
    rejects: list[RowReject]

    @property
    def rows(self) -> int:
        return sum(chunk.batch.num_rows for chunk in self.chunks)


def _longest(read: list[_ReadFile]) -> dict[str, int]:
    longest: dict[str, int] = {}
    for file in read:
        for chunk in file.chunks:
            _note_lengths(longest, chunk)
    return longest


def _note_lengths(longest: dict[str, int], chunk: TypedChunk) -> None:
    """`longest` (column → longest string so far) updated with the chunk's."""
    for name, length in chunk.max_lengths.items():
        longest[name] = max(length, longest.get(name, 0))


def _count(result: TableResult, counts: AppliedCounts) -> None:
    result.rows_inserted += counts.inserted
    result.rows_updated += counts.updated
    result.rows_deleted += counts.deleted


class RejectedKeys:
    """The keys of a batch's rejected rows: a snapshot keeps those rows' last good version
    instead of taking them as deleted. A row rejected for a value has its key read (a key
    that is missing or no valid value names no row of the table); a row the reader
    rejected (of the wrong width, cut short, not text) has none that can be trusted."""

    def __init__(self, key: Sequence[str], unstorable: tuple[str, str] | None) -> None:
        self.key: list[str] = list(key)
        # text the database cannot store (PostgreSQL: NUL) names no row of the table
        self.unstorable = unstorable[0] if unstorable else ""
        self.batches: list[pa.RecordBatch] = []
        self.unknown = 0

    def add(self, chunk: TypedChunk) -> None:
        typed = 0
        if chunk.rejected is not None and chunk.rejected.num_rows:
            keys = chunk.rejected.select(self.key)
            storable = [self._storable(column) for column in keys.columns]
            self.batches.append(keys.filter(functools.reduce(pc.and_, storable)))
            typed = chunk.rejected.num_rows
        self.unknown += len(chunk.rejects) - typed

    def _storable(self, values: pa.Array) -> pa.Array:
        """Which values a key of the table can be: present, and text it can store."""
        present = pc.invert(pc.is_null(values))
        if not self.unstorable or not pa.types.is_string(values.type):
            return present
        held = set(rows_holding(values, self.unstorable))
        if not held:
            return present
        return pc.and_(present, pa.array([i not in held for i in range(len(values))]))

    def keeps_rows(self) -> bool:
        """Some rejected row names a row of the table, and none has a key that cannot be
        read: the snapshot keeps those rows and deletes only the others it lacks."""
        return not self.unknown and any(batch.num_rows for batch in self.batches)

    def table(self) -> pa.Table | None:
        """Every rejected row's key, or None when one cannot be read."""
        return None if self.unknown else pa.Table.from_batches(self.batches)


class IncompleteSnapshot(Exception):
    """A snapshot without one loadable row would empty a table that has rows: the batch is
    rolled back and the table fails (see `layouts._incomplete_snapshot` for the design)."""


def refuse_empty_snapshot(
    batch: TableBatch,
    files: Sequence[DataFile],
    loaded: int,
    deleted: int,
    read: int,
    rejected: Sequence[str] = (),
) -> None:
    """Design: a Delta version without any row is exempt: its log says atomically what the
    table holds, so it is a table that was emptied (the summary counts the deletes). One
    whose rows were all rejected is refused like any snapshot; the refusal rolls the batch
    back with its rejects, so the error names the first of them (`rejected`: their lines)."""
    if batch.version is not None and read == 0:
        return
    if loaded == 0 and deleted > 0:
        paths = ", ".join(f.info.path for f in files)
        why = ""
        if rejected:
            more = f"; {len(rejected) - 3} more" if len(rejected) > 3 else ""
            why = f" (its rows were rejected: {'; '.join(rejected[:3])}{more})"
        raise IncompleteSnapshot(
            f"the snapshot ({paths}) holds no row that loads{why}: it is taken as incomplete,"
            f" and the table's {deleted} rows are left as they are"
        )


def applies_changes(mode: LoadMode) -> bool:
    """Rows applied as changes (upserts, deletes), not replacing the table."""
    return mode in (LoadMode.APPEND, LoadMode.CHANGES, LoadMode.FEED)


def delete_column(reading: Reading) -> str | None:
    return ChangeColumns.find(reading.batch.schema.column_names, reading.key).delete


def boolean_deletes(reading: Reading) -> bool:
    """Whether the batch's delete column, if any, is boolean: what tells delete rows apart
    without staging (another type is left to staging's comparison with true)."""
    column = delete_column(reading)
    if column is None:
        return True
    names = reading.batch.schema.column_names
    return reading.types[names.index(column)].kind is Kind.BOOLEAN


def _strings_as(
    table_types: dict[str, SqlType], types: Sequence[SqlType], batch: pa.RecordBatch
) -> list[SqlType]:
    """`types` with each string column's type as the table now has it (widened)."""
    return [
        table_types[name] if sql_type.kind is Kind.STRING else sql_type
        for name, sql_type in zip(batch.schema.names, types, strict=True)
    ]


def _as_in_table(table_types: dict[str, SqlType], name: str, sql_type: SqlType) -> SqlType:
    """A string column's type as the table has it (as long or longer), else `sql_type`.
    Names compared ignoring case where they differ only so (SQL Server keeps a column's
    first spelling)."""
    in_table = table_types.get(name)
    if in_table is None:
        folded = name.casefold()
        in_table = next((t for n, t in table_types.items() if n.casefold() == folded), None)
    if sql_type.kind is Kind.STRING and in_table is not None and in_table.kind is Kind.STRING:
        return in_table
    return sql_type


def _unbounded(sql_type: SqlType) -> SqlType:
    """Staging columns take any string length; the target is widened before the apply."""
    return SqlType(Kind.STRING) if sql_type.kind is Kind.STRING else sql_type


def _delete_rows(batch: pa.RecordBatch, delete_column: str | None) -> int:
    """How many rows are marked deleted (`IsDelete` true)."""
    if delete_column is None or batch.num_rows == 0:
        return 0
    return pc.sum(pc.fill_null(pc.equal(batch.column(delete_column), True), False)).as_py() or 0


def reject_line(path: str, reject: RowReject) -> str:
    column = f", column {reject.column!r}" if reject.column else ""
    return f"{path}: row {reject.row}{column}: {reject.reason}"

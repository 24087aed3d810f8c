"""Loading one table: its batches in order, each in one transaction with its ledger rows.

A batch is the files of one table in one timestamp folder (or the one snapshot). Per batch:
reflect and extend the table (schema), stream every file through the reader and the value
converter (the next chunk is read and converted in a thread while the database takes this one:
`prefetch`), then either insert the rows (tables without a key, and keyed rows into the table
the batch created when every key comes once) or stage them and apply them as changes
(`changes.Staging`: upserts and deletes by key, or a snapshot replacing the table).
Transient database errors retry the whole batch; anything else fails the table, and the
table's later batches wait for the next run (they depend on this one).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from turbodata import ledger, schema
from turbodata.batch_types import (
    BatchTypes,
    TypePass,
    WidenedNumber,
    declared_types,
    is_number,
    keep_existing_guids,
    known_types,
)
from turbodata.changes import ChangeColumns, Staging
from turbodata.convert import TypedChunk, as_text, convert_chunk, convert_typed, plain_array
from turbodata.delta import versions
from turbodata.delta.sources import DeltaReadError
from turbodata.dialects.base import Dialect
from turbodata.lake import Lake
from turbodata.layouts import folder_time
from turbodata.model import DataFile, LoadMode, RowSource, TableBatch, TableSchema
from turbodata.ops import logs, telemetry
from turbodata.overrides import Overrides
from turbodata.prefetch import prefetched
from turbodata.reader import RawChunk, RowReject, read_raw
from turbodata.summary import TableResult
from turbodata.types import Kind, SqlType, string_type

log = logging.getLogger("turbodata")

DEFAULT_KEY = ("Id",)
# A batch whose types depend on its data is read once. The type pass reads this much of it
# and keeps it for the load (at most about twice this in memory); the rest is typed while it
# loads, and when its rows need other types than the first ones, the batch is rolled back and
# loaded again after a type pass over all of it (`_TypesNeedAllRows`).
READ_ONCE_BYTES = 16 << 20
# A file this large is read ahead in a thread (`prefetch`); a smaller one is one chunk, with
# nothing to overlap, and a thread per file cost more than reading it (2 ms per small file).
PREFETCH_FROM_BYTES = 1 << 20


@dataclass(frozen=True)
class LoadOptions:
    db_schema: str | None = None  # None: the connection's default (dbo, public, main)
    keys: Mapping[str, Sequence[str]] = field(default_factory=dict)  # table → key columns
    soft_delete: bool = False  # keep deleted rows, with IsDelete set
    keep_empty_strings: bool = False  # load `""` as '' instead of NULL in string columns
    retries: int = 3  # transient database errors: attempts after the first
    retry_wait: float = 1.0  # seconds before the first retry; doubles up to 30 s
    overrides: Overrides = field(default_factory=Overrides)  # pinned column types
    infer: bool = True  # narrow weakly typed columns from the data

    def key_for(self, table: str, names: Sequence[str]) -> tuple[str, ...]:
        """The configured key, else `Id` when the table has it; () for plain inserts."""
        if table in self.keys:
            return tuple(self.keys[table])
        lower = {n.lower(): n for n in names}
        return (
            tuple(lower[k.lower()] for k in DEFAULT_KEY)
            if all(k.lower() in lower for k in DEFAULT_KEY)
            else ()
        )


Progress = Callable[[TableResult], None]


@dataclass
class TableLoader:
    engine: Engine
    dialect: Dialect
    lake: Lake
    run_id: str
    options: LoadOptions
    min_widths: dict[str, int]
    progress: Progress | None = None
    between_batches: Callable[[], None] = lambda: None  # e.g. renew the run's lease
    # Tables to load again from their first file (`--reload`). Their history reads as empty,
    # and each of their batches first forgets the table's older file records and watermark in
    # the batch's own transaction: the first commit forgets and reloads together, so a run
    # stopped after it continues as an ordinary rerun. Forgetting up front instead would leave,
    # after a crash, a table whose later folders were dropped from the ledger but not reloaded.
    reload: frozenset[str] = frozenset()

    # ---------------------------------------------------------------------- the table

    def load(self, result: TableResult, batches: list[TableBatch]) -> None:
        started = time.monotonic()
        history = self._history(result.name)
        loaded, watermark = history.loaded, history.watermark
        result.watermark = watermark
        try:
            batches = self._resolve_versions(result, batches, watermark)
        except DeltaReadError as error:
            batches = []
            result.fail(str(error))
        if history.narrowest is not None and result.name in self.min_widths:
            # short rows are judged against every schema the table has had, also those of
            # folders that retention has removed since (lake-format.md 4.2)
            self.min_widths[result.name] = min(self.min_widths[result.name], history.narrowest)
        todo = [(batch, files_to_load(batch, loaded)) for batch in batches]
        todo = [
            (batch, files) for batch, files in todo if not (files and self._late(batch, watermark))
        ]
        shifted = _shifted_batches(batches)
        try:
            self._check_schema_changes([b for b, files in todo if files])
        except schema.SchemaConflict as conflict:
            todo = []  # nothing of this table changes in this run
            result.fail(str(conflict))
        for batch, files in todo:
            if not files:
                continue
            if reloaded := self._reload_would_duplicate(batch, files, loaded):
                result.fail(
                    f"{reloaded} changed after it was loaded: a table without a key cannot load"
                    " it again without duplicating rows (give it a key with --key)"
                )
                break
            for path in (f.info.path for f in files if f.info.path in loaded):
                log.warning("%s changed since it was loaded; loading it again", path)
            try:
                with (
                    logs.batch_event(log, self.run_id, result, batch.batch_id, len(files)),
                    telemetry.batch_span(result, batch.batch_id, len(files)),
                ):
                    self._with_retries(result, batch, files, batch.batch_id in shifted)
            except Exception as error:  # rolled back; the table's later batches depend on it
                log.exception("%s: batch %s failed", result.name, batch.batch_id)
                result.fail(f"{batch.batch_id}: {one_line(error)}")
                break
            if batch.mode is LoadMode.APPEND:
                result.watermark = later_folder(result.watermark, batch.batch_id)
            elif batch.version is not None:
                result.watermark = versions.as_watermark(batch.version)
            result.status = "loaded"
            self.between_batches()
        result.seconds = time.monotonic() - started
        with self.engine.begin() as conn:
            ledger.set_table_outcome(
                conn, self.ledger_name(result.name), self.run_id, result.status, result.error
            )

    def plan(self, result: TableResult, batches: list[TableBatch], count_rows: bool) -> None:
        """Dry run: the DDL, files (and rows) a load would take; changes nothing."""
        history = self._history(result.name)
        batches = self._resolve_versions(result, batches, history.watermark)
        todo = [(batch, files_to_load(batch, history.loaded)) for batch in batches]
        todo = [(batch, files) for batch, files in todo if files]
        plans = self._table_plans([batch for batch, _ in todo], declared_types)
        for (batch, files), table_plan in zip(todo, plans, strict=True):
            result.ddl += table_plan.statements
            result.files_read += len(files)
            if count_rows:
                result.rows_inserted += sum(self._count_rows(batch, f) for f in files)
            result.status = "planned"

    def _table_plans(
        self,
        batches: list[TableBatch],
        types_of: Callable[[TableSchema, Overrides], dict[str, SqlType]],
    ) -> Iterator[schema.TablePlan]:
        """The table's plan after each batch in turn (SchemaConflict where one cannot follow
        the one before), from the existing table; nothing is executed."""
        if not batches:
            return
        with self.engine.connect() as conn:
            types = schema.reflect(conn, self.dialect, batches[0].table, self.options.db_schema)
            for batch in batches:
                overrides = self.options.overrides
                wanted = types_of(batch.schema, overrides)
                wanted = keep_existing_guids(batch.schema, overrides, wanted, types)
                table_plan = schema.plan_table(
                    conn.dialect,
                    self.dialect,
                    batch.table,
                    wanted,
                    types,
                    self.options.db_schema,
                    self.options.key_for(batch.table, list(wanted)),
                )
                types = table_plan.types
                yield table_plan

    def _resolve_versions(
        self, result: TableResult, batches: list[TableBatch], watermark: str | None
    ) -> list[TableBatch]:
        """Delta tables (VERSIONED batches) as what they have to load after the version the
        ledger says was applied: nothing, their changes, or their whole snapshot (a full
        reconciliation, whose reason the summary gives)."""
        resolved = []
        for batch in batches:
            if batch.mode is not LoadMode.VERSIONED:
                resolved.append(batch)
                continue
            names = batch.schema.column_names
            what = batch.source.resolve(  # type: ignore[union-attr]
                versions.applied_version(watermark),
                keyed=bool(self.options.key_for(batch.table, names)),
                delete_column=any(n.lower() == "isdelete" for n in names),
            )
            if what is None:
                continue
            if what.note:
                log.warning("%s: %s", batch.table, what.note)
                result.problems.append(f"{batch.table}: {what.note}")
            batch_id = f"delta v{what.version}"
            resolved.append(
                replace(
                    batch,
                    batch_id=batch_id,
                    files=what.files,
                    mode=what.mode,
                    source=what.source,
                    version=what.version,
                )
            )
        return resolved

    def _late(self, batch: TableBatch, watermark: str | None) -> bool:
        """New files in a folder older than the last one applied: an abandoned folder whose
        model.json turned up after all. Synapse Link re-committed its rows into a later
        folder, and applying it now could bring back rows deleted since (a hard delete leaves
        no trace to compare with), so it is skipped."""
        if batch.mode is not LoadMode.APPEND or watermark is None:
            return False
        if later_folder(watermark, batch.batch_id) == batch.batch_id:
            return False
        log.warning(
            "%s: %s is older than the last applied folder %s: skipped",
            batch.table,
            batch.batch_id,
            watermark,
        )
        return True

    def _reload_would_duplicate(
        self, batch: TableBatch, files: list[DataFile], loaded: dict[str, str]
    ) -> str | None:
        """The first already-loaded file of a keyless append batch, if any."""
        if batch.mode is not LoadMode.APPEND or self.options.key_for(
            batch.table, batch.schema.column_names
        ):
            return None
        return next((f.info.path for f in files if f.info.path in loaded), None)

    def ledger_name(self, table: str) -> str:
        """How the ledger names a table: with its schema when one other than the connection's
        default is given, so one lake loaded into two schemas keeps two histories."""
        schema_name = self.options.db_schema
        if not schema_name or schema_name == self._default_schema:
            return table
        return f"{schema_name}.{table}"

    @functools.cached_property
    def _default_schema(self) -> str | None:
        with self.engine.connect() as conn:
            return sa.inspect(conn).default_schema_name

    def _history(self, table: str) -> ledger.TableHistory:
        """What the ledger knows of the table (nothing before the first run: a dry run)."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table(ledger.table_state.name):
                return ledger.TableHistory()
            history = ledger.history(conn, self.ledger_name(table))
        if table in self.reload:
            return ledger.TableHistory(narrowest=history.narrowest)
        return history

    def _check_schema_changes(self, batches: list[TableBatch]) -> None:
        """Raise SchemaConflict before anything loads when a batch's declared types cannot
        follow the table's (types inferred from data are checked when their batch loads)."""

        def known(table_schema: TableSchema, overrides: Overrides) -> dict[str, SqlType]:
            return known_types(table_schema, overrides, self.options.infer)

        for _ in self._table_plans(batches, known):
            pass

    def _with_retries(
        self, result: TableResult, batch: TableBatch, files: list[DataFile], exact_width: bool
    ) -> None:
        def attempt() -> None:
            before = _snapshot(result)
            how = _How()
            while True:
                try:
                    with self.engine.begin() as conn:
                        self._load_batch(conn, result, batch, files, exact_width, how)
                    return
                except _LoadAgain as again:  # rolled back: load the batch again, another way
                    log.info("%s: %s: %s", result.name, batch.batch_id, again)
                    _restore(result, before)
                    how = again.next_try(how)
                except BaseException:
                    _restore(result, before)
                    raise

        retrying = Retrying(
            stop=stop_after_attempt(self.options.retries + 1),
            wait=wait_exponential(multiplier=self.options.retry_wait, max=30),
            retry=retry_if_exception(self.dialect.is_transient),
            before_sleep=lambda state: log.warning(
                "%s: batch %s: transient error, retry %d of %d: %s",
                result.name,
                batch.batch_id,
                state.attempt_number,
                self.options.retries,
                one_line(state.outcome.exception()) if state.outcome else "",
            ),
            reraise=True,
        )
        retrying(attempt)

    # ---------------------------------------------------------------------- one batch

    def _load_batch(
        self,
        conn: Connection,
        result: TableResult,
        batch: TableBatch,
        files: list[DataFile],
        exact_width: bool,
        how: _How,
    ) -> None:
        if batch.table in self.reload or (
            batch.version is not None and batch.mode is LoadMode.SNAPSHOT
        ):  # a Delta snapshot replaces the table: the versions recorded before are history
            ledger.forget_table(conn, self.ledger_name(batch.table), except_run=self.run_id)
        existing = schema.reflect(conn, self.dialect, result.name, self.options.db_schema)
        found = self._types(batch, files, exact_width, how)
        wanted = found.types.reconciled(existing).types
        key = self.options.key_for(batch.table, list(wanted))
        table_plan = self._apply_schema(conn, result, wanted, existing, key)
        ledger.forget_files(conn, self.ledger_name(batch.table), [f.info.path for f in files])
        ledger.note_width(conn, self.ledger_name(batch.table), len(batch.schema.columns))
        reading = _Reading(
            batch,
            list(wanted.values()),
            key,
            exact_width,
            how.sized_numbers,
            found.started,
            found.unfinished,
        )
        if not key:
            self._insert_rows(conn, result, reading, files, table_plan)
        elif how.direct and table_plan.created and _boolean_deletes(reading):
            self._insert_keyed_rows(conn, result, reading, files, table_plan)
        else:
            self._apply_changes(conn, result, reading, files, table_plan)
        if found.unfinished is not None:
            _check_types_held(found.types, found.unfinished.result())
        if batch.mode is LoadMode.APPEND:
            name = self.ledger_name(batch.table)
            newest = later_folder(ledger.watermark(conn, name), batch.batch_id)
            ledger.set_watermark(conn, name, newest, self.run_id)
        elif batch.version is not None:
            versions.record_applied(conn, self.ledger_name(batch.table), batch.version, self.run_id)

    def _types(
        self, batch: TableBatch, files: list[DataFile], exact_width: bool, how: _How
    ) -> _TypesFound:
        """The batch's column types, reading its files first when a type depends on the data.
        Of CSV files it reads up to READ_ONCE_BYTES and keeps what it read for the load; the
        types are then those of these first rows, and the type pass goes on while the rest
        loads (`_TypesFound.unfinished`), unless `how` says to read everything first."""
        type_pass = TypePass(
            batch.schema,
            self.options.overrides,
            self.options.infer,
            widen_numbers=how.sized_numbers,
        )
        if not type_pass.needs_data:
            return _TypesFound(type_pass.result())
        if batch.source is not None:
            for columns in _typed_as_text(batch, batch.source, files):
                type_pass.update(columns)
            return _TypesFound(type_pass.result())
        if exact_width or not how.one_pass:
            for data_file in files:
                for raw in self._raw_chunks(batch, data_file, exact_width=False):
                    type_pass.update(raw.columns)
            return _TypesFound(type_pass.result())
        return self._first_rows_types(batch, files, type_pass)

    def _first_rows_types(
        self, batch: TableBatch, files: list[DataFile], type_pass: TypePass
    ) -> _TypesFound:
        started: dict[str, Iterator[RawChunk]] = {}
        kept_bytes = 0
        for data_file in files:
            chunks = iter(self._raw_chunks(batch, data_file, exact_width=False))
            kept: list[RawChunk] = []
            for raw in chunks:
                type_pass.update(raw.columns)
                kept.append(raw)
                kept_bytes += sum(column.nbytes for column in raw.columns)
                if kept_bytes >= READ_ONCE_BYTES:
                    started[data_file.info.path] = _then(kept, _typed_on(chunks, type_pass))
                    return _TypesFound(type_pass.result(), started, unfinished=type_pass)
            started[data_file.info.path] = _then(kept, iter(()))
        return _TypesFound(type_pass.result(), started)

    def _insert_rows(
        self,
        conn: Connection,
        result: TableResult,
        reading: _Reading,
        files: list[DataFile],
        table_plan: schema.TablePlan,
        delete_column: str | None = None,
    ) -> None:
        """Every row as it is. `delete_column` (a keyed table this batch created, see
        `_insert_keyed_rows`): the rows it marks deleted are removed after the insert."""
        replaced = 0
        if not _applies_changes(reading.batch.mode):
            replaced = conn.execute(sa.delete(table_plan.table)).rowcount
            result.rows_deleted += replaced
        loaded, delete_rows, read_before = 0, 0, result.rows_read
        for data_file in files:
            rows, rejects = 0, []
            for chunk in self._file_chunks(result, reading, data_file, rejects):
                table_plan = self._widen_strings(conn, result, table_plan, chunk.max_lengths)
                inserted = self.dialect.insert_batch(
                    conn, table_plan.table, chunk.batch, reading.types
                )
                rows += inserted
                result.rows_inserted += inserted
                delete_rows += _delete_rows(chunk.batch, delete_column)
                self._report(result)
            self._record_file(conn, result, reading.batch, data_file, rows, rejects)
            loaded += rows
        if delete_rows:
            flag = table_plan.table.c[delete_column]
            conn.execute(sa.delete(table_plan.table).where(flag == sa.true()))
            result.rows_inserted -= delete_rows
        read = result.rows_read - read_before
        _refuse_empty_snapshot(reading.batch, files, loaded, replaced, read)

    def _insert_keyed_rows(
        self,
        conn: Connection,
        result: TableResult,
        reading: _Reading,
        files: list[DataFile],
        table_plan: schema.TablePlan,
    ) -> None:
        """A keyed batch into the table it just created: with nothing to update, the rows go
        straight in, without staging, when every key comes once. The primary key is the
        check: a repeated key (also a delete row's) fails the insert, and the batch is rolled
        back and loaded again through staging, which keeps the winner of each key
        (`_RepeatedKeys`). Delete rows go in with the others, so the key check covers them,
        and are removed at the end: they have nothing to delete, and staging would not insert
        them either."""
        try:
            self._insert_rows(conn, result, reading, files, table_plan, _delete_column(reading))
        except sa.exc.IntegrityError as error:
            raise _RepeatedKeys(one_line(error)) from error

    def _apply_changes(
        self,
        conn: Connection,
        result: TableResult,
        reading: _Reading,
        files: list[DataFile],
        table_plan: schema.TablePlan,
    ) -> None:
        names = reading.batch.schema.column_names
        staged_types = {n: _unbounded(t) for n, t in zip(names, reading.types, strict=True)}
        staging = Staging(
            conn,
            self.dialect,
            table_plan.table,
            staged_types,
            ChangeColumns.find(names, reading.key),
        )
        longest: dict[str, int] = {}
        staged, read_before = 0, result.rows_read
        for index, data_file in enumerate(files):
            rows, rejects = 0, []
            for chunk in self._file_chunks(result, reading, data_file, rejects):
                rows += staging.add(chunk.batch, index, chunk.row_numbers)
                for name, length in chunk.max_lengths.items():
                    longest[name] = max(length, longest.get(name, 0))
                self._report(result)
            self._record_file(conn, result, reading.batch, data_file, rows, rejects)
            staged += rows
        self._widen_strings(conn, result, table_plan, longest)
        staging.keep_winners()
        if _applies_changes(reading.batch.mode):
            counts = staging.apply(soft_delete=self.options.soft_delete)
        else:
            counts = staging.replace_all(soft_delete=self.options.soft_delete)
            read = result.rows_read - read_before
            _refuse_empty_snapshot(reading.batch, files, staged, counts.deleted, read)
        staging.drop()
        result.rows_inserted += counts.inserted
        result.rows_updated += counts.updated
        result.rows_deleted += counts.deleted

    # ---------------------------------------------------------------------- files and rows

    def _chunks(
        self,
        result: TableResult,
        reading: _Reading,
        data_file: DataFile,
        rejects: list[RowReject],
    ) -> Iterator[TypedChunk]:
        """Typed chunks of one file; the rows it cannot load are added to `rejects`."""
        names = reading.batch.schema.column_names
        if reading.batch.source is not None:
            yield from self._typed_chunks(result, reading, reading.batch.source, data_file, rejects)
            return
        raws = reading.started.pop(data_file.info.path, None)
        if raws is None:
            raws = self._raw_chunks(reading.batch, data_file, reading.exact_width)
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
            )
            if not reading.sized_numbers and (outgrown := _outgrown_number(raw, chunk, reading)):
                raise _NumbersOutgrowTypes(outgrown)
            chunk = _reject_missing_keys(chunk, reading.key)
            rejects += chunk.rejects
            result.rows_read += raw.num_rows + len(raw.rejects)
            yield chunk

    def _file_chunks(
        self,
        result: TableResult,
        reading: _Reading,
        data_file: DataFile,
        rejects: list[RowReject],
    ) -> Iterator[TypedChunk]:
        """`_chunks`, the next one read ahead in a thread when the file is large."""
        chunks = self._chunks(result, reading, data_file, rejects)
        return prefetched(chunks) if data_file.info.size >= PREFETCH_FROM_BYTES else chunks

    def _typed_chunks(
        self,
        result: TableResult,
        reading: _Reading,
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
            )
            chunk = _reject_missing_keys(chunk, reading.key)
            rejects += chunk.rejects
            result.rows_read += typed.num_rows
            yield chunk

    def _raw_chunks(
        self, batch: TableBatch, data_file: DataFile, exact_width: bool
    ) -> Iterator[RawChunk]:
        names = batch.schema.column_names
        min_width = len(names) if exact_width else self.min_widths.get(batch.table)
        yield from read_raw(
            functools.partial(self.lake.open, data_file.info.path),
            column_names=names,
            dialect=data_file.dialect,
            min_width=min_width,
        )

    def _record_file(
        self,
        conn: Connection,
        result: TableResult,
        batch: TableBatch,
        data_file: DataFile,
        rows: int,
        rejects: list[RowReject],
    ) -> None:
        """The file's ledger row and its rejects, in the batch's transaction."""
        path = data_file.info.path
        ledger.record_rejects(
            conn,
            run_id=self.run_id,
            table=self.ledger_name(batch.table),
            file=path,
            row_rejects=rejects,
        )
        ledger.record_file(
            conn,
            run_id=self.run_id,
            table=self.ledger_name(batch.table),
            batch_id=batch.batch_id,
            info=data_file.info,
            rows_loaded=rows,
            rows_rejected=len(rejects),
        )
        result.files_read += 1
        result.rows_rejected += len(rejects)
        result.problems += [_reject_line(path, r) for r in rejects]

    def _count_rows(self, batch: TableBatch, data_file: DataFile) -> int:
        if batch.source is not None:
            return sum(typed.num_rows for typed in batch.source.read(data_file))
        return sum(raw.num_rows for raw in self._raw_chunks(batch, data_file, False))

    def _report(self, result: TableResult) -> None:
        if self.progress:
            self.progress(result)

    # ---------------------------------------------------------------------- schema

    def _apply_schema(
        self,
        conn: Connection,
        result: TableResult,
        wanted: dict[str, SqlType],
        existing: dict[str, SqlType] | None,
        key: tuple[str, ...],
    ) -> schema.TablePlan:
        table_plan = schema.plan_table(
            conn.dialect, self.dialect, result.name, wanted, existing, self.options.db_schema, key
        )
        schema.apply(conn, table_plan)
        ledger.record_ddl(
            conn,
            run_id=self.run_id,
            table=self.ledger_name(result.name),
            statements=table_plan.statements,
        )
        result.ddl += table_plan.statements
        result.columns_created += (
            len(table_plan.types) if table_plan.created else len(table_plan.added)
        )
        return table_plan

    def _widen_strings(
        self,
        conn: Connection,
        result: TableResult,
        table_plan: schema.TablePlan,
        max_lengths: dict[str, int],
    ) -> schema.TablePlan:
        """Strings longer than their column: widen it before the rows go in (never truncate)."""
        longer = {
            name: string_type(length)
            for name, length in max_lengths.items()
            if (current := table_plan.types[name].length) is not None and length > current
        }
        if not longer:
            return table_plan
        return self._apply_schema(conn, result, longer, table_plan.types, table_plan.key)


# -------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Reading:
    """How one batch's files are read: its column types, key and width rule."""

    batch: TableBatch
    types: list[SqlType]
    key: tuple[str, ...]
    exact_width: bool  # columns moved in this batch: every row must have the full width
    sized_numbers: bool = False  # number columns were sized by their values already
    # path → what is left to load of a file the type pass began: its chunks, then the rest
    started: dict[str, Iterator[RawChunk]] = field(default_factory=dict)
    unfinished: TypePass | None = None  # takes every chunk the type pass has not seen


@dataclass(frozen=True)
class _TypesFound:
    """A batch's types, and what the type pass read of its files for the load."""

    types: BatchTypes
    started: dict[str, Iterator[RawChunk]] = field(default_factory=dict)
    # the type pass, when `types` are those of the first rows only: the load hands it the
    # rest, and the batch is loaded again when all of its rows need other types
    unfinished: TypePass | None = None


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


def _check_types_held(first_rows: BatchTypes, all_rows: BatchTypes) -> None:
    """Raise `_TypesNeedAllRows` when the batch's rows need other types than its first rows
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
            raise _TypesNeedAllRows(f"column {name!r} needs {every}, its first rows {first}")


class IncompleteSnapshot(Exception):
    """A snapshot without one loadable row would empty a table that has rows: the batch is
    rolled back and the table fails (see `layouts._incomplete_snapshot` for the design)."""


def _refuse_empty_snapshot(
    batch: TableBatch, files: Sequence[DataFile], loaded: int, deleted: int, read: int
) -> None:
    """Design: a Delta version without any row is exempt: its log says atomically what the
    table holds, so it is a table that was emptied (the summary counts the deletes). One
    whose rows were all rejected is refused like any snapshot."""
    if batch.version is not None and read == 0:
        return
    if loaded == 0 and deleted > 0:
        paths = ", ".join(f.info.path for f in files)
        raise IncompleteSnapshot(
            f"the snapshot ({paths}) holds no row that loads: it is taken as incomplete, and"
            f" the table's {deleted} rows are left as they are"
        )


@dataclass(frozen=True)
class _How:
    """How a batch is loaded. Each way a try gives up is not taken again (`_LoadAgain`)."""

    sized_numbers: bool = False  # number columns sized by their values, not their metadata
    direct: bool = True  # keyed rows into a table the batch created go in without staging
    one_pass: bool = True  # types from the first rows, checked against the rest as it loads


class _LoadAgain(Exception):
    """The batch was rolled back and loads again another way (`next_try`)."""

    def next_try(self, how: _How) -> _How:
        raise NotImplementedError


class _NumbersOutgrowTypes(_LoadAgain):
    """A value needs a wider number type than its column's: load the batch again, widened."""

    def next_try(self, how: _How) -> _How:
        return replace(how, sized_numbers=True, one_pass=False)

    def __str__(self) -> str:
        return f"{super().__str__()}; widening"


class _TypesNeedAllRows(_LoadAgain):
    """The rows after the first ones need other types: load again after a full type pass."""

    def next_try(self, how: _How) -> _How:
        return replace(how, one_pass=False)

    def __str__(self) -> str:
        return f"{super().__str__()}; loading again after a type pass over every row"


class _RepeatedKeys(_LoadAgain):
    """A key came twice in a batch inserted without staging: load it again through staging."""

    def next_try(self, how: _How) -> _How:
        return replace(how, direct=False)

    def __str__(self) -> str:
        return f"a key comes more than once ({super().__str__()}); loading through staging"


def _outgrown_number(raw: RawChunk, chunk: TypedChunk, reading: _Reading) -> str | None:
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


def _shifted_batches(batches: list[TableBatch]) -> set[str]:
    """Batches whose columns moved against the previous batch's (lake-format.md section 8).

    Appending columns, dropping trailing ones and renaming keep every other column where it
    was, so values bind by position safely; a column inserted, moved or removed in the middle
    shifts the ones after it.
    """
    shifted, previous = set(), None
    for batch in batches:
        names = batch.schema.column_names
        if previous is not None:
            common = set(previous) & set(names)
            if any(previous.index(n) != names.index(n) for n in common):
                shifted.add(batch.batch_id)
                log.warning("%s: columns moved in %s", batch.table, batch.batch_id)
        previous = names
    return shifted


def later_folder(first: str | None, second: str) -> str:
    """The later of two timestamp folder names (by time, not by text)."""
    if first is None:
        return second
    first_time, second_time = folder_time(first), folder_time(second)
    if first_time is None or second_time is None:
        return max(first, second)
    return second if second_time > first_time else first


def files_to_load(batch: TableBatch, loaded: dict[str, str]) -> list[DataFile]:
    """New or changed files; a snapshot with anything new or changed reloads all its files.
    A resolved Delta batch loads all its files (its version, not its files, says what is
    new: see `TableLoader._resolve_versions`)."""
    if batch.version is not None:
        return list(batch.files)
    changed = [f for f in batch.files if loaded.get(f.info.path) != f.info.fingerprint]
    if changed and batch.mode is not LoadMode.APPEND:
        return list(batch.files)
    return changed


def _applies_changes(mode: LoadMode) -> bool:
    """Rows applied as changes (upserts, deletes), not replacing the table."""
    return mode in (LoadMode.APPEND, LoadMode.CHANGES)


def _typed_as_text(
    batch: TableBatch, source: RowSource, files: list[DataFile]
) -> Iterator[list[pa.Array]]:
    """Typed rows as one text array per column, for the type inference pass."""
    names = batch.schema.column_names
    for data_file in files:
        for typed in source.read(data_file):
            yield [as_text(plain_array(typed.column(name))) for name in names]


def _unbounded(sql_type: SqlType) -> SqlType:
    """Staging columns take any string length; the target is widened before the apply."""
    return SqlType(Kind.STRING) if sql_type.kind is Kind.STRING else sql_type


def _delete_column(reading: _Reading) -> str | None:
    return ChangeColumns.find(reading.batch.schema.column_names, reading.key).delete


def _boolean_deletes(reading: _Reading) -> bool:
    """Whether the batch's delete column, if any, is boolean: what tells delete rows apart
    without staging (another type is left to staging's comparison with true)."""
    delete_column = _delete_column(reading)
    if delete_column is None:
        return True
    names = reading.batch.schema.column_names
    return reading.types[names.index(delete_column)].kind is Kind.BOOLEAN


def _delete_rows(batch: pa.RecordBatch, delete_column: str | None) -> int:
    """How many rows are marked deleted (`IsDelete` true)."""
    if delete_column is None or batch.num_rows == 0:
        return 0
    return pc.sum(pc.fill_null(pc.equal(batch.column(delete_column), True), False)).as_py() or 0


def _reject_missing_keys(chunk: TypedChunk, key: tuple[str, ...]) -> TypedChunk:
    if not key or chunk.batch.num_rows == 0:
        return chunk
    missing = pc.is_null(chunk.batch.column(key[0]))
    for name in key[1:]:
        missing = pc.or_(missing, pc.is_null(chunk.batch.column(name)))
    if not pc.any(missing).as_py():
        return chunk
    rows = pc.filter(chunk.row_numbers, missing).to_pylist()
    rejects = [RowReject(r, key[0], f"no value for the key {', '.join(key)}", "") for r in rows]
    keep = pc.invert(missing)
    return TypedChunk(
        chunk.batch.filter(keep),
        chunk.row_numbers.filter(keep),
        chunk.rejects + rejects,
        chunk.max_lengths,
    )


def _reject_line(path: str, reject: RowReject) -> str:
    column = f", column {reject.column!r}" if reject.column else ""
    return f"{path}: row {reject.row}{column}: {reject.reason}"


def one_line(error: BaseException | None) -> str:
    """One line for the summary: the database's own message when there is one."""
    if isinstance(error, sa.exc.DBAPIError) and error.orig is not None:
        return str(error.orig).strip().splitlines()[0]
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


_COUNTERS = (
    "rows_read",
    "rows_inserted",
    "rows_updated",
    "rows_deleted",
    "rows_rejected",
    "files_read",
    "columns_created",
)


def _snapshot(result: TableResult) -> tuple[object, ...]:
    return (*(getattr(result, n) for n in _COUNTERS), list(result.ddl), list(result.problems))


def _restore(result: TableResult, snapshot: tuple[object, ...]) -> None:
    """Undo what a rolled-back batch added to the result."""
    *numbers, ddl, problems = snapshot
    for name, value in zip(_COUNTERS, numbers, strict=True):
        setattr(result, name, value)
    result.ddl, result.problems = ddl, problems  # type: ignore[assignment]

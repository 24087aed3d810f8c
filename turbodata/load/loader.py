"""Loading one table: its batches in order, each in one transaction with its ledger rows.

A batch is the files of one table in one timestamp folder (or the one snapshot). Per batch:
reflect the table, find the batch's types and read its files as typed chunks
(`batch_reading`), create or extend the table and write the rows (`batch_writing`): inserted
as they are (tables without a key, and keyed rows into the table the batch created when every
key comes once) or staged and applied as changes; then the table's watermark. A try that
finds the data needs another way is rolled back and tried again that way (`load_again`);
transient database errors retry the whole batch; anything else fails the table, and the
table's later batches wait for the next run (they depend on this one).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from turbodata.dialects.base import Dialect
from turbodata.errors import one_line
from turbodata.lake.delta.sources import DeltaReadError
from turbodata.lake.layouts import folder_time
from turbodata.lake.storage import Lake
from turbodata.ledger import records as ledger
from turbodata.load import schema
from turbodata.load.again import How, LoadAgain, RepeatedKeys
from turbodata.load.batch_reading import BatchReader, Reading, TypesFound, check_types_held
from turbodata.load.batch_writing import (
    BatchWriter,
    IncompleteSnapshot,
    RejectedKeys,
    applies_changes,
    boolean_deletes,
    delete_column,
    refuse_empty_snapshot,
    reject_line,
)
from turbodata.load.changes import ChangeColumns, VersionsAsText, refuse_text_versions
from turbodata.load.kept_options import KeptOptions
from turbodata.load.options import LoadOptions
from turbodata.metadata.overrides import Overrides
from turbodata.model import DataFile, LoadMode, TableBatch, TableSchema
from turbodata.ops import logs, telemetry
from turbodata.read.reader import RowReject
from turbodata.summary import Progress, TableResult
from turbodata.types.batch import (
    BatchTypes,
    declared_types,
    keep_existing_guids,
    keep_existing_inferred,
    known_types,
)
from turbodata.types.sql import Kind, SqlType

__all__ = ["LoadOptions", "TableLoader", "later_folder"]

log = logging.getLogger("turbodata")


@dataclass
class TableLoader:
    engine: Engine
    dialect: Dialect
    lake: Lake
    run_id: str
    options: LoadOptions
    row_widths: dict[str, set[int]]  # table → the row widths its schemas allow
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
        history = self._history(result, batches)
        loaded, watermark = history.loaded, history.watermark
        result.watermark = watermark
        if result.status == "failed":  # `_history` found it cannot load
            batches = []  # nothing of this table changes in this run
        try:
            batches = self._resolve_versions(result, batches, history)
        except DeltaReadError as error:
            batches = []
            result.fail(str(error))
        if result.name in self.row_widths:
            # short rows are judged against the schemas of this run's folders and every one
            # the table has had, also those whose folders retention has removed since
            self.row_widths[result.name] |= history.widths
        gone = ledger.gone_from_snapshot(batches, loaded)
        todo = self._work_to_do(result, batches, history, gone)
        table_columns = self._column_order(result.name)
        if todo and (refused := self._refused_options(result.name, todo, table_columns)):
            result.fail(refused)
            todo = []
        shifted = _shifted_batches(batches, table_columns)
        recorded_widths = set(history.widths)
        for batch, files in todo:
            if reloaded := self._reload_would_duplicate(batch, files, loaded):
                result.fail(_duplicating_reload(reloaded))
                break
            loaded_before = [f.info.path for f in files if f.info.path in loaded]
            for f in files:
                if loaded.get(f.info.path, f.info.fingerprint) != f.info.fingerprint:
                    log.warning("%s changed since it was loaded; loading it again", f.info.path)
            for path in gone:
                log.warning("%s was loaded and is no longer in the snapshot; reloading it", path)
            loaded_before += gone
            gone = []  # forgotten with this batch's commit
            unchanged = frozenset(f.info.path for f in files if _loaded_as(f, loaded))
            exact_width = batch.batch_id in shifted
            work = _Work(batch, files, exact_width, loaded_before, recorded_widths, unchanged)
            try:
                with (
                    logs.batch_event(log, self.run_id, result, batch.batch_id, len(files)),
                    telemetry.batch_span(result, batch.batch_id, len(files)),
                ):
                    self._with_retries(result, work)
            except Exception as error:  # rolled back; the table's later batches depend on it
                # on a terminal, the traceback with -v only (`logs.TextFormatter`); the
                # summary says why
                log.exception("%s: batch %s failed", result.name, batch.batch_id)
                result.fail(f"{batch.batch_id}: {one_line(error)}")
                break
            recorded_widths.add(len(batch.schema.columns))  # committed with the batch
            if batch.mode is LoadMode.APPEND:
                result.watermark = later_folder(result.watermark, batch.batch_id)
            elif batch.watermark is not None:
                result.watermark = batch.watermark
            result.status = "loaded"
            self.between_batches()
        result.seconds = time.monotonic() - started
        self._committed_types.pop(result.name, None)
        with self.engine.begin() as conn:
            ledger.set_table_outcome(
                conn, self.ledger_name(result.name), self.run_id, result.status, result.error
            )

    def plan(self, result: TableResult, batches: list[TableBatch], count_rows: bool) -> None:
        """Dry run: the DDL, files (and rows) a load would take, and the problems that would
        fail the table (the same checks as `load`); changes nothing."""
        history = self._history(result, batches, widths=False)  # creates no ledger table
        if result.status == "failed":
            return
        batches = self._resolve_versions(result, batches, history)
        gone = ledger.gone_from_snapshot(batches, history.loaded)
        todo = self._work_to_do(result, batches, history, gone)
        # reflected before the plans, whose connection stays open while they are made
        table_columns = self._column_order(result.name)
        existing = self._committed_types.get(result.name)
        if todo and (refused := self._refused_options(result.name, todo, table_columns)):
            result.fail(refused)
            return
        duplicated = None  # as `load`, the batches before one that would duplicate rows apply
        for index, (batch, files) in enumerate(todo):
            if duplicated := self._reload_would_duplicate(batch, files, history.loaded):
                todo = todo[:index]
                break
        shifted = _shifted_batches(batches, table_columns)
        held = self._rows_held(result.name) if count_rows and existing is not None else 0
        plans = self._table_plans([batch for batch, _ in todo], declared_types, dry_run=True)
        for (batch, files), table_plan in zip(todo, plans, strict=True):
            result.ddl += table_plan.statements
            result.files_read += len(files)
            before = _snapshot(result)
            dry = _DryBatch(batch, files, batch.batch_id in shifted, existing, held)
            try:
                existing, held = self._dry_batch(result, dry, table_plan, count_rows, history)
            except (VersionsAsText, IncompleteSnapshot) as refused:
                _restore(result, before)  # the run rolls the batch back with its rejects
                result.fail(f"{batch.batch_id}: {refused}")
                return
            result.status = "planned"
        if duplicated:
            result.fail(_duplicating_reload(duplicated))

    def _dry_batch(
        self,
        result: TableResult,
        dry: _DryBatch,
        table_plan: schema.TablePlan,
        count_rows: bool,
        history: ledger.TableHistory,
    ) -> tuple[dict[str, SqlType], int]:
        """One batch of a dry run: the table's types after it and the rows it would hold
        then; raises what the load would refuse the batch with."""
        batch, files = dry.batch, dry.files
        if not count_rows:
            self._refuse_versions(batch, table_plan.types, new_table=dry.existing is None)
            return table_plan.types, dry.held
        problems_before = len(result.problems)
        reread = {f.info.path for f in files if _loaded_as(f, history.loaded)}
        read = self._dry_read(result, batch, files, dry.exact_width, dry.existing, reread)
        types = {**table_plan.types, **read.types}  # the types the load would give the table
        self._refuse_versions(batch, types, new_table=dry.existing is None)
        rejected = result.problems[problems_before:]
        return types, _dry_held(batch, files, read, dry.held, rejected)

    @functools.cached_property
    def kept_options(self) -> KeptOptions:
        return KeptOptions(self.engine, self.options)

    def _refused_options(
        self,
        table: str,
        todo: list[tuple[TableBatch, list[DataFile]]],
        table_columns: list[str] | None,
    ) -> str | None:
        first, _files = todo[0]
        types = None if table_columns is None else self._committed_types.get(table)
        return self.kept_options.refusal(table, self.ledger_name(table), first, types)

    def _rows_held(self, table: str) -> int:
        with self.engine.connect() as conn:
            rows = sa.select(sa.func.count()).select_from(
                sa.table(table, schema=self.options.db_schema)
            )
            return conn.execute(rows).scalar_one()

    def _refuse_versions(
        self, batch: TableBatch, types: dict[str, SqlType], *, new_table: bool
    ) -> None:
        """Raise VersionsAsText where the load would refuse to rank the batch's changes by
        their version (as `BatchWriter.apply_changes` checks it). The first batch of a new
        table goes in directly, unranked, unless its delete column is not boolean."""
        if not applies_changes(batch.mode):
            return
        key = self.options.key_for(batch.table, list(types))
        feed = batch.mode is LoadMode.FEED
        columns = ChangeColumns.find(batch.schema.column_names, key, feed=feed)
        delete = types.get(columns.delete) if columns.delete else None
        if new_table and key and (delete is None or delete.kind is Kind.BOOLEAN):
            return
        refuse_text_versions(self.dialect, columns, types)

    def _dry_read(
        self,
        result: TableResult,
        batch: TableBatch,
        files: list[DataFile],
        exact_width: bool,
        existing: dict[str, SqlType] | None,
        reread: set[str],
    ) -> _DryRead:
        """Read and convert the batch's files as its load would, writing nothing: the rows
        that would load (as inserted) and those it would reject, with their lines (not those
        of `reread`, loaded files read again as they were, as `BatchWriter.reread`); the
        types the rows give the columns, from the table's `existing` types (as the batches
        before would leave them)."""
        how = How()
        while True:
            before = _snapshot(result)
            try:
                found = self.reader.types(batch, files, exact_width, how)
                reconciled = found.types.reconciled(existing)
                reading = self._reading(batch, exact_width, how, found, reconciled)
                key = reading.key
                loads, read_before = 0, result.rows_read
                rejected_keys = RejectedKeys(key, self.dialect.unstorable_text)
                for data_file in files:
                    rejects: list[RowReject] = []
                    for chunk in self.reader.file_chunks(result, reading, data_file, rejects):
                        loads += chunk.batch.num_rows
                        rejected_keys.add(chunk)
                    if data_file.info.path not in reread:
                        result.rows_rejected += len(rejects)
                        result.problems += [reject_line(data_file.info.path, r) for r in rejects]
                if found.unfinished is not None:
                    check_types_held(found.types, found.unfinished.result())
                result.rows_inserted += loads
                keeps = bool(key) and rejected_keys.keeps_rows()
                return _DryRead(loads, result.rows_read - read_before, reconciled.types, keeps)
            except LoadAgain as again:  # as the load: read again, another way
                _restore(result, before)
                how = again.next_try(how)

    def _work_to_do(
        self,
        result: TableResult,
        batches: list[TableBatch],
        history: ledger.TableHistory,
        gone: list[str],
    ) -> list[tuple[TableBatch, list[DataFile]]]:
        """The batches with files to load and their files, in order; none, with the table
        failed, where a check finds what must not load: files the metadata lists that are
        missing, another source than the table's, files late for folders applied already,
        columns replaced or types that cannot follow."""
        loaded, watermark = history.loaded, history.watermark
        todo = [
            (batch, ledger.files_to_load(batch, loaded, gone, keyed=self._keyed(batch)))
            for batch in batches
        ]
        if reason := _missing_files_problem(batches, watermark) or _other_source_problem(
            result.name, batches, watermark
        ):
            result.fail(reason)
            return []
        on_time: list[tuple[TableBatch, list[DataFile]]] = []
        late: list[tuple[TableBatch, list[DataFile]]] = []
        for batch, files in todo:
            if files:
                (late if self._late(batch, watermark) else on_time).append((batch, files))
        sizes = self._loaded_sizes(result.name, late, loaded)
        abandoned, applied = self._late_folders(late, loaded)
        if reason := _late_files_problem(
            result, late, loaded, sizes, watermark, abandoned, applied
        ):
            result.fail(reason)
            return []
        try:
            pending = {batch.batch_id for batch, _ in on_time}
            table_columns = self._column_order(result.name)
            layout = self._snapshot_layout(result.name, batches, pending)
            overrides = self.options.overrides
            _refuse_replaced_columns(batches, table_columns, pending, overrides, layout)
            self._check_schema_changes([batch for batch, _ in on_time])
        except schema.SchemaConflict as conflict:
            result.fail(str(conflict))
            return []
        return on_time

    def _table_plans(
        self,
        batches: list[TableBatch],
        types_of: Callable[[TableSchema, Overrides], dict[str, SqlType]],
        *,
        dry_run: bool = False,
    ) -> Iterator[schema.TablePlan]:
        """The table's plan after each batch in turn (SchemaConflict where one cannot follow
        the one before), from the existing table; nothing is executed. `dry_run`: types
        inferred from data, which a dry run does not read, are planned as the table has them."""
        if not batches:
            return
        with self.engine.connect() as conn:
            types = schema.reflect(conn, self.dialect, batches[0].table, self.options.db_schema)
            for batch in batches:
                overrides = self.options.overrides
                wanted = types_of(batch.schema, overrides)
                wanted = keep_existing_guids(batch.schema, overrides, wanted, types)
                if dry_run:
                    infer = self.options.infer
                    wanted = keep_existing_inferred(batch.schema, overrides, infer, wanted, types)
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
        self, result: TableResult, batches: list[TableBatch], history: ledger.TableHistory
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
                history.watermark,
                history.loaded,
                key=self.options.key_for(batch.table, names),
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
                    watermark=what.watermark,
                )
            )
        return resolved

    def _late(self, batch: TableBatch, watermark: str | None) -> bool:
        """New or changed files in a folder older than the last one applied (see
        `_late_files_problem`)."""
        if batch.mode is not LoadMode.APPEND or watermark is None:
            return False
        return later_folder(watermark, batch.batch_id) != batch.batch_id

    def _keyed(self, batch: TableBatch) -> bool:
        return bool(self.options.key_for(batch.table, batch.schema.column_names))

    def _reload_would_duplicate(
        self, batch: TableBatch, files: list[DataFile], loaded: dict[str, str]
    ) -> str | None:
        """The first already-loaded file of a keyless append batch that changed, if any."""
        if batch.mode is not LoadMode.APPEND or self.options.key_for(
            batch.table, batch.schema.column_names
        ):
            return None
        changed = (
            f.info
            for f in files
            if loaded.get(f.info.path, f.info.fingerprint) != f.info.fingerprint
        )
        return next((info.path for info in changed), None)

    @functools.cached_property
    def ledger_name(self) -> ledger.LedgerNames:
        return ledger.LedgerNames(self.engine, self.options.db_schema)

    @functools.cached_property
    def reader(self) -> BatchReader:
        return BatchReader(self.lake, self.dialect, self.options, self.row_widths)

    def _history(
        self, result: TableResult, batches: list[TableBatch], *, widths: bool = True
    ) -> ledger.TableHistory:
        """What the ledger knows of the table (nothing before the first run: a dry run).

        A table the ledger has files of but the database does not have (dropped by hand, to
        start over) is loaded again from its first file, as with `--reload`: left to its
        history, it read as up to date forever, or came back with a new folder's rows only.
        Not where files of its incremental folders that were loaded are gone from the lake
        (retention): it would come back without their rows, the run succeeding; it fails,
        and `--reload` loads what the lake has."""
        table = result.name
        with self.engine.connect() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table(ledger.table_state.name):
                return ledger.TableHistory()
            history = ledger.history(conn, self.ledger_name(table), widths=widths)
            dropped = bool(history.loaded) and not inspector.has_table(
                table, schema=self.options.db_schema
            )
        if dropped and table not in self.reload:
            if gone := _incremental_files_gone(batches, history.loaded):
                result.fail(
                    f"the database has no table {table} any more (dropped?), and {len(gone)}"
                    f" file(s) it was loaded from are gone from the lake ({gone[0]}…): loading"
                    " it again would leave their rows out (to load what the lake still has:"
                    f" turbodata migrate --reload {table})"
                )
                return history
            log.warning(
                "%s: %d file(s) of it were loaded, but the database has no such table any more:"
                " loading every file of it again",
                table,
                len(history.loaded),
            )
            self.reload = self.reload | {table}
        if table in self.reload:
            return ledger.TableHistory(widths=history.widths)
        return history

    def _loaded_sizes(
        self, table: str, late: list[tuple[TableBatch, list[DataFile]]], loaded: dict[str, str]
    ) -> dict[str, int]:
        """The ledger's size of each late file loaded before (`_late_files_problem`)."""
        paths = [f.info.path for _, files in late for f in files if f.info.path in loaded]
        if not paths:
            return {}
        with self.engine.connect() as conn:
            return ledger.loaded_sizes(conn, self.ledger_name(table), paths)

    def _late_folders(
        self, late: list[tuple[TableBatch, list[DataFile]]], loaded: dict[str, str]
    ) -> tuple[set[str], set[str]]:
        """Of the late folders this table never loaded from: those a run skipped as abandoned
        (the ledger's record), and of the others those other tables loaded from
        (`_late_files_problem`). The record comes first: a table loaded later (a new one, a
        --reload) applies an abandoned folder too, which made it count as applied for every
        other table, failing them (found by review)."""
        unknown = [batch.batch_id for batch, _ in late if not _loaded_from(batch, loaded)]
        if not unknown:
            return set(), set()
        with self.engine.connect() as conn:
            abandoned: set[str] = set()
            if sa.inspect(conn).has_table(ledger.abandoned.name):  # a dry run's older ledger
                abandoned = ledger.abandoned_folders(conn) & set(unknown)
                unknown = [folder for folder in unknown if folder not in abandoned]
            return abandoned, ledger.folders_loaded_from(conn, unknown) if unknown else set()

    def _check_schema_changes(self, batches: list[TableBatch]) -> None:
        """Raise SchemaConflict before anything loads when a batch's declared types cannot
        follow the table's (types inferred from data are checked when their batch loads)."""

        def known(table_schema: TableSchema, overrides: Overrides) -> dict[str, SqlType]:
            return known_types(table_schema, overrides, self.options.infer)

        for _ in self._table_plans(batches, known):
            pass

    def _with_retries(self, result: TableResult, work: _Work) -> None:
        batch = work.batch

        def attempt() -> None:
            before = _snapshot(result)
            how = How()
            while True:
                table_types = None
                try:
                    with self.engine.begin() as conn, self.dialect.whole_transaction(conn):
                        table_types = self._load_batch(conn, result, work, how)
                    self._committed_types[result.name] = table_types
                    return
                except LoadAgain as again:  # rolled back: load the batch again, another way
                    log.info("%s: %s: %s", result.name, batch.batch_id, again)
                    _restore(result, before)
                    self.kept_options.forget(self.ledger_name(batch.table))
                    how = again.next_try(how)
                except BaseException as error:
                    if table_types is not None and self._committed_after_all(work, error):
                        self._committed_types[result.name] = table_types
                        return
                    _restore(result, before)
                    self.kept_options.forget(self.ledger_name(batch.table))
                    raise

        # imported here: a rerun with nothing to load never retries (start-up, bench/README.md)
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

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

    def _committed_after_all(self, work: _Work, error: BaseException) -> bool:
        """Whether a batch whose COMMIT raised a transient error (the connection lost on the
        way back: the outcome unknown) did commit: the ledger then holds its files under
        this run, written in the batch's own transaction. Retried blindly, it failed on the
        ledger's key with a misleading error and counted nothing of what it had loaded
        (found by a fault-injection review). A batch without new files cannot be told this
        way: it is retried, as before."""
        paths = [f.info.path for f in work.files if f.info.path not in work.unchanged]
        if not paths or not self.dialect.is_transient(error):
            return False
        try:
            with self.engine.connect() as conn:
                recorded = ledger.files_recorded_by(
                    conn, self.ledger_name(work.batch.table), self.run_id, work.batch.batch_id
                )
        except sa.exc.SQLAlchemyError:  # still unreachable: retried as any transient error
            return False
        if not set(paths) <= recorded:
            return False
        log.warning(
            "%s: %s: the answer to its COMMIT was lost (%s), but the ledger shows the batch"
            " committed: not loaded again",
            work.batch.table,
            work.batch.batch_id,
            one_line(error),
        )
        return True

    # ---------------------------------------------------------------------- one batch

    def _load_batch(
        self, conn: Connection, result: TableResult, work: _Work, how: How
    ) -> dict[str, SqlType]:
        """Load one batch in `conn`'s transaction; the table's column types after it."""
        batch, files, exact_width = work.batch, work.files, work.exact_width
        if batch.table in self.reload or (
            batch.version is not None and batch.mode is LoadMode.SNAPSHOT
        ):  # a Delta snapshot replaces the table: the versions recorded before are history
            ledger.forget_table(conn, self.ledger_name(batch.table), except_run=self.run_id)
        existing = self._table_types(conn, result.name)
        found = self.reader.types(batch, files, exact_width, how)
        reconciled = found.types.reconciled(existing)
        wanted = reconciled.types
        key = self.options.key_for(batch.table, list(wanted))
        writer = BatchWriter(
            conn,
            self.dialect,
            self.reader,
            self.options,
            result,
            self.run_id,
            self.ledger_name(batch.table),
            self._report,
            reread=work.unchanged,
        )
        reading = self._reading(batch, exact_width, how, found, reconciled)
        direct = how.direct and existing is None and bool(key) and boolean_deletes(reading)
        key_later = direct and self.dialect.key_after_first_load
        table_plan = writer.apply_schema(wanted, existing, key, key_later)
        ledger.forget_files(conn, writer.ledger_table, work.loaded_before)
        if (width := len(batch.schema.columns)) not in work.recorded_widths:
            ledger.note_width(conn, writer.ledger_table, width)
        if batch.mode is LoadMode.SNAPSHOT and _bound_by_position(batch):
            ledger.note_layout(conn, writer.ledger_table, batch.schema.column_names)
        if not key:
            writer.insert_rows(reading, files, table_plan)
        elif direct:
            self._insert_keyed_rows(writer, reading, files, table_plan)
        else:
            writer.apply_changes(reading, files, table_plan)
        if found.unfinished is not None:
            check_types_held(found.types, found.unfinished.result())
        if batch.mode is LoadMode.APPEND:  # the table's watermark, as the ledger holds it
            newest = later_folder(result.watermark, batch.batch_id)
            ledger.set_watermark(conn, writer.ledger_table, newest, self.run_id)
        elif batch.watermark is not None:  # a Delta version: applied with its rows
            ledger.set_watermark(conn, writer.ledger_table, batch.watermark, self.run_id)
        # soft only where rows can be marked: without a key or IsDelete both delete alike
        soft = self.options.soft_delete and bool(key) and delete_column(reading) is not None
        self.kept_options.note(conn, writer.ledger_table, key, soft=soft)
        return writer.table_types

    def _reading(
        self,
        batch: TableBatch,
        exact_width: bool,
        how: How,
        found: TypesFound,
        reconciled: BatchTypes,
    ) -> Reading:
        """How the batch's files are read, with the types its load (or dry run) found."""
        return Reading(
            batch,
            list(reconciled.types.values()),
            self.options.key_for(batch.table, list(reconciled.types)),
            exact_width,
            how.sized_numbers,
            found.started,
            found.unfinished,
            reconciled.strict_numbers,
        )

    def _table_types(self, conn: Connection, table: str) -> dict[str, SqlType] | None:
        """The table's column types: as the batch before in this run left them, else
        reflected (None: no such table). Under the table's lease nothing else changes them,
        so a table is reflected once per run, not once per batch."""
        if table in self._committed_types:
            return self._committed_types.pop(table)
        return schema.reflect(conn, self.dialect, table, self.options.db_schema)

    def _snapshot_layout(
        self, table: str, batches: list[TableBatch], pending: set[str]
    ) -> list[str] | None:
        """The columns of the metadata the table's last snapshot loaded with, where a
        snapshot bound by position is to load."""
        if not any(
            b.mode is LoadMode.SNAPSHOT and b.batch_id in pending and _bound_by_position(b)
            for b in batches
        ):
            return None
        with self.engine.connect() as conn:
            return ledger.snapshot_layout(conn, self.ledger_name(table))

    def _column_order(self, table: str) -> list[str] | None:
        """The table's columns in the database, in order (None: no such table yet)."""
        with self.engine.connect() as conn:
            types = self._table_types(conn, table)
        self._committed_types[table] = types  # the first batch takes them without reflecting
        return None if types is None else list(types)

    @functools.cached_property
    def _committed_types(self) -> dict[str, dict[str, SqlType] | None]:
        # table → its types after its last committed batch in this run (None: no table yet)
        return {}

    def _insert_keyed_rows(
        self,
        writer: BatchWriter,
        reading: Reading,
        files: list[DataFile],
        table_plan: schema.TablePlan,
    ) -> None:
        """A keyed batch into the table it just created: with nothing to update, the rows go
        straight in, without staging, when every key comes once. The primary key is the
        check (where the dialect adds it after the rows, `key_after_first_load`, its index is
        built once instead of row by row): a repeated key (also a delete row's) fails, and
        the batch is rolled back and loaded again through staging, which keeps the winner of
        each key (`RepeatedKeys`). Delete rows go in with the others, so the key check covers
        them, and are removed at the end: they have nothing to delete, and staging would not
        insert them either."""
        try:
            writer.insert_rows(reading, files, table_plan, delete_column(reading))
        except sa.exc.IntegrityError as error:
            raise RepeatedKeys(one_line(error)) from error

    def _report(self, result: TableResult) -> None:
        if self.progress:
            self.progress(result)


# -------------------------------------------------------------------------------- helpers


def _incremental_files_gone(batches: list[TableBatch], loaded: dict[str, str]) -> list[str]:
    """The loaded files the lake no longer has, where the table loads from incremental
    folders (retention removed them, and their rows are nowhere else); none for snapshots
    and Delta tables, whose current files hold every row."""
    if batches and not any(batch.mode is LoadMode.APPEND for batch in batches):
        return []
    present = {data_file.info.path for batch in batches for data_file in batch.files}
    return sorted(path for path in loaded if path not in present)


def _duplicating_reload(path: str) -> str:
    return (
        f"{path} changed after it was loaded: a table without a key cannot load it again"
        " without duplicating rows (give it a key with --key)"
    )


def _missing_files_problem(batches: list[TableBatch], watermark: str | None) -> str | None:
    """Why the table waits, or None: a folder it has not applied yet whose metadata lists a
    file of the table that is not in the lake. A closed folder's model.json names files that
    were written; loading the rest would move the table past the folder, and the missing
    file's rows could never be applied after it (`_late_files_problem`)."""
    for batch in batches:
        applied = watermark is not None and later_folder(watermark, batch.batch_id) == watermark
        if batch.missing and not applied:
            return (
                f"{batch.batch_id}: its metadata lists {batch.missing[0]} for {batch.table},"
                " which is not in the lake: the table waits until the file is there (or the"
                " folder's model.json no longer lists it)"
            )
    return None


def _other_source_problem(
    table: str, batches: list[TableBatch], watermark: str | None
) -> str | None:
    """Why the table waits, or None: it was last loaded from something other than timestamp
    folders (a Delta table: its watermark is the version), and its rows now come from
    timestamp folders (the Delta folder is gone, the export's Delta option turned off). A
    folder name and a version have no order: every folder would be taken as one older than
    the last applied (skipped, for good), and applying all of them could bring back rows
    the Delta table had deleted since (a hard delete leaves no trace to compare with)."""
    if watermark is None or folder_time(watermark) is not None:
        return None
    folders = [b.batch_id for b in batches if b.mode is LoadMode.APPEND and folder_time(b.batch_id)]
    if not folders:
        return None
    return (
        f"{table} was last loaded from {watermark}, not from a timestamp folder, and its rows"
        f" now come from timestamp folders ({folders[0]} …): which of their changes the table"
        " holds already is unknown, so none is applied (to load it from the folders:"
        f" turbodata migrate --reload {table})"
    )


def _late_files_problem(
    result: TableResult,
    late: list[tuple[TableBatch, list[DataFile]]],
    loaded: dict[str, str],
    loaded_sizes: dict[str, int],
    watermark: str | None,
    abandoned: set[str],
    applied: set[str],
) -> str | None:
    """Why the table cannot load now, or None, for its files in folders older than the last
    one applied (`late`).

    A folder a run skipped as abandoned (`abandoned`, the ledger's record) is one whose
    model.json turned up after all: Synapse Link re-committed its rows into a later folder,
    and applying it now could bring back rows deleted since (a hard delete leaves no trace
    to compare with), so it is skipped, and the summary says so. Any other folder this table
    never loaded from was passed over before its files turned up (a copy finishing late; in
    a lake without a Changelog, a folder still being written): skipping them would lose
    their rows (found by review, twice: once for folders other tables loaded from, `applied`,
    once for folders no table did), so the table fails until it is reloaded. In a
    folder it did load from, a file added, or one whose size changed, holds rows that can no
    longer be applied in order, and skipping them would lose them: the table fails in the
    same way. A loaded file with another fingerprint but no other size (the lake copied to
    another store gives every file a new etag) is taken as the same file, and the summary
    says so. `loaded_sizes`: the size the ledger recorded for each late file it has loaded
    (an etag says nothing of it)."""
    for batch, files in late:
        if not _loaded_from(batch, loaded):
            if batch.batch_id in abandoned:
                _note(
                    result,
                    f"{batch.batch_id} is older than the last applied folder {watermark}"
                    " and a run skipped it as abandoned: skipped",
                )
                continue
            how = (
                "was applied (other tables loaded from it)"
                if batch.batch_id in applied
                else ("was passed over (it held no file of this table then)")
            )
            return (
                f"{files[0].info.path} turned up after {batch.batch_id} {how} and the table"
                f" was loaded up to {watermark}: its rows cannot be applied in order (reload"
                f" the table: turbodata migrate --reload {batch.table})"
            )
        changed = [f.info for f in files if loaded.get(f.info.path) != f.info.fingerprint]
        for info in changed:  # a changed file brings its folder's others (`files_to_load`)
            if loaded_sizes.get(info.path) != info.size:
                return (
                    f"{info.path} was added or changed after the table was loaded up to"
                    f" {watermark}: its rows cannot be applied in order (reload the table:"
                    f" turbodata migrate --reload {batch.table})"
                )
        _note(
            result,
            f"{batch.batch_id}: {len(changed)} file(s) loaded before have another"
            " fingerprint and the same size (the lake copied elsewhere?): not loaded again",
        )
    return None


def _loaded_from(batch: TableBatch, loaded: dict[str, str]) -> bool:
    """The table has a file loaded from the batch's folder."""
    prefix = batch.batch_id.rstrip("/") + "/"
    return any(path.startswith(prefix) for path in loaded)


def _note(result: TableResult, note: str) -> None:
    log.warning("%s: %s", result.name, note)
    result.problems.append(f"{result.name}: {note}")


@dataclass(frozen=True)
class _Work:
    """One batch to load: its files, and what the ledger already holds of them."""

    batch: TableBatch
    files: list[DataFile]
    exact_width: bool  # columns moved in this batch: every row must have the full width
    # paths an earlier run loaded that this batch loads again, or that are gone from its snapshot
    loaded_before: list[str]
    # the row widths the ledger holds for the table: committed (shared by its batches)
    recorded_widths: set[int]
    # loaded files read again as they were (their folder is ranked again around a new file)
    unchanged: frozenset[str] = frozenset()


def _loaded_as(data_file: DataFile, loaded: dict[str, str]) -> bool:
    """The file was loaded as it is now (same fingerprint): read again, it adds nothing."""
    return loaded.get(data_file.info.path) == data_file.info.fingerprint


@dataclass(frozen=True)
class _DryBatch:
    """One batch of a dry run, and the table as the batches before it would leave it."""

    batch: TableBatch
    files: list[DataFile]
    exact_width: bool
    existing: dict[str, SqlType] | None  # the table's types
    held: int  # the rows it holds


@dataclass(frozen=True)
class _DryRead:
    loads: int  # rows that would load
    read: int  # rows read
    types: dict[str, SqlType]  # the batch's column types, as its load would make them
    # some rejected row has a key the table may hold, none a key that cannot be read: a
    # snapshot keeps those keys' rows (`BatchWriter.apply_changes`)
    keeps_rejected_keys: bool = False


def _dry_held(
    batch: TableBatch, files: list[DataFile], read: _DryRead, held: int, rejected: list[str]
) -> int:
    """The rows the table would hold after a dry-read batch (`held`: before it); raise
    IncompleteSnapshot where the load would refuse the snapshot (no row loads, and rows
    would go). Where rejected rows keep keys, the run refuses only if other rows would go,
    which a dry run cannot tell without the table's keys: not refused here."""
    if batch.mode is not LoadMode.SNAPSHOT:
        return held + read.loads
    if not read.keeps_rejected_keys:
        refuse_empty_snapshot(batch, files, read.loads, held, read.read, rejected)
    return read.loads


def _shifted_batches(batches: list[TableBatch], table_columns: list[str] | None) -> set[str]:
    """Batches whose columns moved against the previous batch's (lake-format.md section 8),
    the first against the table's own columns (those of the folders loaded before, also
    when retention has removed them since).

    Appending columns and dropping trailing ones keep every other column where it was, so
    values bind by position safely; a column inserted, moved or removed in the middle shifts
    the ones after it. (A position whose column was replaced: `_refuse_replaced_columns`.)
    """
    shifted, previous = set(), table_columns
    for batch in batches:
        names = batch.schema.column_names
        if previous is not None and batch.source is None:  # typed rows bind by name
            common = set(previous) & set(names)
            if any(previous.index(n) != names.index(n) for n in common):
                shifted.add(batch.batch_id)
                log.warning("%s: columns moved in %s", batch.table, batch.batch_id)
        previous = names
    return shifted


def _refuse_replaced_columns(
    batches: list[TableBatch],
    table_columns: list[str] | None,
    pending: set[str],
    overrides: Overrides,
    snapshot_layout: list[str] | None = None,
) -> None:
    """A batch still to load whose metadata has a new column where the metadata before had
    one that is gone from it: `x` dropped at the end and `d` appended, or `x` renamed `d`.
    The metadata cannot tell the two apart, and rows written before the change have the same
    width: bound by position, their `x` values would load as `d`, silently. The table fails,
    unless the override file says `_renamed: {x: d}`.

    Before an incremental folder: the folder before it in the lake (`previous_columns`; none
    left by retention: not checked). Before a snapshot: the table's columns (its files keep
    the rows of every schema they were written with); for columns moved, the metadata its
    last snapshot loaded with (`snapshot_layout`: the table's order is not the metadata's
    once a column was inserted in the middle, found by review). Headerless CSV only: a
    header row names its columns, and typed files bind by name.
    """
    previous = table_columns
    for batch in batches:
        names = batch.schema.column_names
        before = batch.previous_columns if batch.mode is LoadMode.APPEND else previous
        if before is not None and batch.batch_id in pending and _bound_by_position(batch):
            moved_from = before if batch.mode is LoadMode.APPEND else snapshot_layout
            if moved_from is not None:
                _refuse_moved_columns(batch, list(moved_from), overrides)
            for position, old, new in _replaced(list(before), names):
                if not overrides.renamed(batch.table, old, new):
                    raise schema.SchemaConflict(
                        f"{batch.batch_id}: column {old!r} at position {position} is now"
                        f" {new!r}: {old!r} was renamed, or dropped and {new!r} appended."
                        " Rows written before the change have the same width, and their"
                        f" {old!r} values would load as {new!r}. Where {old!r} was renamed,"
                        f" or every row still to load was written with {new!r}, say so in"
                        " the override file (--types FILE), then run again:"
                        f" `{batch.table}: {{_renamed: {{{old}: {new}}}}}`"
                    )
        previous = names


def _refuse_moved_columns(batch: TableBatch, before: list[str], overrides: Overrides) -> None:
    """Columns that moved (reordered, or one removed in the middle and another appended)
    with the width kept: the batch loads only rows of its full width (`_shifted_batches`),
    and rows written before the change have that width too, so their values would load into
    the columns now at their positions, silently (found by review). The table fails, unless
    the override file says `_moved: [the moved columns]`."""
    names = batch.schema.column_names
    common = set(before) & set(names)
    moved = [n for n in names if n in common and before.index(n) != names.index(n)]
    if moved and len(before) == len(names) and not overrides.moved(batch.table, moved):
        listed = ", ".join(moved)
        raise schema.SchemaConflict(
            f"{batch.batch_id}: columns {listed} moved in the metadata, which has as many"
            " columns as before: rows written before the change have the same width, and"
            " their values would load into the columns now at their positions. Where every"
            " row still to load was written in the new order, say so in the override file"
            f" (--types FILE), then run again: `{batch.table}: {{_moved: [{listed}]}}`"
        )


def _bound_by_position(batch: TableBatch) -> bool:
    """The batch's values are bound to columns by their position in the metadata."""
    headerless = not all(data_file.dialect.header for data_file in batch.files)
    snapshot_or_folder = batch.mode in (LoadMode.APPEND, LoadMode.SNAPSHOT)
    return batch.source is None and snapshot_or_folder and headerless


def _replaced(previous: list[str], names: list[str]) -> list[tuple[int, str, str]]:
    """(position from 1, old, new) where `names` has a new column in place of one it lacks
    (names compared ignoring case, as a case-only rename is no new column)."""
    now, before = {n.casefold() for n in names}, {n.casefold() for n in previous}
    return [
        (position, old, new)
        for position, (old, new) in enumerate(zip(previous, names, strict=False), 1)
        if old.casefold() not in now and new.casefold() not in before
    ]


def later_folder(first: str | None, second: str) -> str:
    """The later of two timestamp folder names (by time, not by text)."""
    if first is None:
        return second
    first_time, second_time = folder_time(first), folder_time(second)
    if first_time is None or second_time is None:
        return max(first, second)
    return second if second_time > first_time else first


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

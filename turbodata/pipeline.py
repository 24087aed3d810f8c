"""One run: discover the lake, then load every table's batches in order, and summarise.

Tables are independent: a table that fails is rolled back batch by batch and reported, and the
others go on. Each batch (the files of one table in one folder) is one transaction holding its
DDL, rows, rejects and ledger rows, so a rerun loads exactly what is missing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from turbodata import dialects, layouts, ledger, schema
from turbodata.convert import convert_chunk
from turbodata.dialects.base import Dialect
from turbodata.lake import Lake, LakeLocation, as_lake
from turbodata.model import DataFile, LoadMode, TableBatch
from turbodata.reader import read_raw
from turbodata.types import SqlType, from_cdm, string_type

log = logging.getLogger("turbodata")

Progress = Callable[["TableResult"], None]


@dataclass
class TableResult:
    name: str
    status: str = "unchanged"  # loaded | unchanged | failed | planned
    rows_inserted: int = 0
    rows_rejected: int = 0
    files_read: int = 0
    columns_created: int = 0
    seconds: float = 0.0
    error: str | None = None
    ddl: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line each: file, row, column, reason


@dataclass
class RunSummary:
    run_id: str
    lake: str
    database: str
    started_at: datetime
    dry_run: bool = False
    finished_at: datetime | None = None
    tables: dict[str, TableResult] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Everything was loaded: no table failed, no row was rejected, nothing unresolved."""
        return not self.problems and all(
            t.status != "failed" and t.rows_rejected == 0 for t in self.tables.values()
        )

    @property
    def status(self) -> str:
        if self.ok:
            return "succeeded"
        if any(t.status == "failed" for t in self.tables.values()) or self.problems:
            return "failed"
        return "completed_with_rejects"

    def to_dict(self) -> dict[str, object]:
        finished = self.finished_at or datetime.now(UTC)
        return {
            "run_id": self.run_id,
            "status": self.status,
            "ok": self.ok,
            "dry_run": self.dry_run,
            "lake": self.lake,
            "database": self.database,
            "started_at": self.started_at.isoformat(),
            "finished_at": finished.isoformat(),
            "seconds": round((finished - self.started_at).total_seconds(), 3),
            "tables": {name: _table_dict(t) for name, t in self.tables.items()},
            "problems": self.problems,
        }


def _table_dict(result: TableResult) -> dict[str, object]:
    data = asdict(result)
    data.pop("name")
    data["seconds"] = round(result.seconds, 3)
    return data


# --------------------------------------------------------------------------- entry points


def connect(db: str | Engine) -> tuple[Engine, Dialect]:
    """An engine for a SQLAlchemy URL (or the given engine), set up by its dialect."""
    engine = sa.create_engine(db) if isinstance(db, str) else db
    dialect = dialects.for_engine(engine)
    if not getattr(engine, "_turbodata_configured", False):
        dialect.configure_engine(engine)
        engine._turbodata_configured = True  # type: ignore[attr-defined]
    return engine, dialect


def discover_tables(lake: LakeLocation) -> list[str]:
    """The tables a migration of this lake would touch, in load order."""
    return layouts.discover(as_lake(lake)).tables


def migrate(
    lake: LakeLocation,
    db: str | Engine,
    *,
    tables: Sequence[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    db_schema: str | None = None,
) -> RunSummary:
    """Load every table of `lake` (or only `tables`) into `db`.

    >>> summary = migrate("examples/lake", "sqlite:///demo.sqlite")  # doctest: +SKIP
    >>> summary.ok, summary.tables["account"].rows_inserted  # doctest: +SKIP
    """
    lake = as_lake(lake)
    engine, dialect = connect(db)
    summary = RunSummary(
        run_id=_new_run_id(),
        lake=lake.url,
        database=engine.url.render_as_string(hide_password=True),
        started_at=datetime.now(UTC),
        dry_run=dry_run,
    )
    plan = layouts.discover(lake)
    for note in plan.notes:
        log.info("%s", note)
    selected = _select(plan, tables, summary)
    loader = _Loader(engine, dialect, lake, summary.run_id, db_schema, plan.min_widths, progress)
    if not dry_run:
        with engine.begin() as conn:
            ledger.ensure(conn)
            ledger.start_run(conn, summary.run_id, summary.started_at)
    for table in selected:
        result = TableResult(table)
        summary.tables[table] = result
        for problem in plan.problems:
            if problem.table == table:
                result.status, result.error = "failed", problem.message
                result.problems.append(str(problem))
        if result.status != "failed":
            batches = [b for b in plan.batches if b.table == table]
            loader.plan_table(result, batches) if dry_run else loader.load_table(result, batches)
    summary.problems += [str(p) for p in plan.problems if p.table is None]
    summary.finished_at = datetime.now(UTC)
    if not dry_run:
        with engine.begin() as conn:
            ledger.finish_run(conn, summary.run_id, summary.status, json.dumps(summary.to_dict()))
    return summary


def _new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _select(plan: layouts.LakePlan, tables: Sequence[str] | None, summary: RunSummary) -> list[str]:
    if not tables:
        return plan.tables
    unknown = [t for t in tables if t not in plan.tables]
    summary.problems += [f"{t}: no such table in the lake" for t in unknown]
    return [t for t in plan.tables if t in tables]


# ------------------------------------------------------------------------------- loading


@dataclass
class _Loader:
    engine: Engine
    dialect: Dialect
    lake: Lake
    run_id: str
    db_schema: str | None
    min_widths: dict[str, int]
    progress: Progress | None

    def load_table(self, result: TableResult, batches: list[TableBatch]) -> None:
        started = time.monotonic()
        with self.engine.connect() as conn:
            loaded = (
                ledger.loaded_fingerprints(conn, result.name)
                if sa.inspect(conn).has_table(ledger.files.name)
                else {}
            )
        for batch in batches:
            files = _files_to_load(batch, loaded)
            if not files:
                continue
            counts_before = _counts(result)
            try:
                with self.engine.begin() as conn:
                    self._load_batch(conn, result, batch, files)
            except Exception as error:  # the batch rolled back; later batches depend on it
                _restore_counts(result, counts_before)
                result.status, result.error = "failed", f"{batch.batch_id}: {error}"
                result.problems.append(f"{result.name}: {result.error}")
                log.exception("%s: batch %s failed", result.name, batch.batch_id)
                break
            if result.status == "unchanged":
                result.status = "loaded"
        result.seconds = time.monotonic() - started

    def _load_batch(
        self, conn: Connection, result: TableResult, batch: TableBatch, files: list[DataFile]
    ) -> None:
        names = batch.schema.column_names
        declared = [from_cdm(c) for c in batch.schema.columns]
        existing = schema.reflect(conn, self.dialect, result.name, self.db_schema)
        wanted = dict(zip(names, declared, strict=True))
        table_plan = self._apply_schema(conn, result, wanted, existing)
        if batch.mode is not LoadMode.APPEND and not table_plan.created:
            conn.execute(sa.delete(table_plan.table))  # a snapshot replaces the table's rows
        ledger.forget_files(conn, [f.info.path for f in files])
        for data_file in files:
            table_plan = self._load_file(conn, result, batch, data_file, declared, table_plan)

    def _load_file(
        self,
        conn: Connection,
        result: TableResult,
        batch: TableBatch,
        data_file: DataFile,
        declared: list[SqlType],
        table_plan: schema.TablePlan,
    ) -> schema.TablePlan:
        path, names = data_file.info.path, batch.schema.column_names
        inserted, rejects = 0, []
        with self.lake.open(path) as stream:
            for raw in read_raw(
                stream,
                column_names=names,
                dialect=data_file.dialect,
                min_width=self.min_widths.get(batch.table),
            ):
                chunk = convert_chunk(raw, names, declared)
                table_plan = self._widen_strings(conn, result, table_plan, chunk.max_lengths)
                rows = self.dialect.insert_batch(conn, table_plan.table, chunk.batch, declared)
                inserted += rows
                result.rows_inserted += rows
                rejects += chunk.rejects
                if self.progress:
                    self.progress(result)
        ledger.record_rejects(
            conn, run_id=self.run_id, table=batch.table, file=path, row_rejects=rejects
        )
        ledger.record_file(
            conn,
            run_id=self.run_id,
            table=batch.table,
            batch_id=batch.batch_id,
            info=data_file.info,
            rows_loaded=inserted,
            rows_rejected=len(rejects),
        )
        result.rows_rejected += len(rejects)
        result.files_read += 1
        result.problems += [
            f"{path}: row {r.row}{f', column {r.column!r}' if r.column else ''}: {r.reason}"
            for r in rejects
        ]
        return table_plan

    def _apply_schema(
        self,
        conn: Connection,
        result: TableResult,
        wanted: dict[str, SqlType],
        existing: dict[str, SqlType] | None,
    ) -> schema.TablePlan:
        table_plan = schema.plan_table(
            conn.dialect, self.dialect, result.name, wanted, existing, self.db_schema
        )
        schema.apply(conn, table_plan)
        ledger.record_ddl(
            conn, run_id=self.run_id, table=result.name, statements=table_plan.statements
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
        widened = self._apply_schema(conn, result, longer, table_plan.types)
        return schema.TablePlan(widened.table, widened.types)

    def plan_table(self, result: TableResult, batches: list[TableBatch]) -> None:
        """Dry run: the DDL and files a load would take, changing nothing."""
        with self.engine.connect() as conn:
            loaded = (
                ledger.loaded_fingerprints(conn, result.name)
                if sa.inspect(conn).has_table(ledger.files.name)
                else {}
            )
            existing = schema.reflect(conn, self.dialect, result.name, self.db_schema)
            for batch in batches:
                files = _files_to_load(batch, loaded)
                if not files:
                    continue
                wanted = {c.name: from_cdm(c) for c in batch.schema.columns}
                table_plan = schema.plan_table(
                    conn.dialect, self.dialect, result.name, wanted, existing, self.db_schema
                )
                existing = table_plan.types
                result.ddl += table_plan.statements
                result.files_read += len(files)
                result.status = "planned"


_COUNTERS = ("rows_inserted", "rows_rejected", "files_read", "columns_created")


def _counts(result: TableResult) -> tuple[object, ...]:
    return (*(getattr(result, n) for n in _COUNTERS), list(result.ddl), list(result.problems))


def _restore_counts(result: TableResult, counts: tuple[object, ...]) -> None:
    """Undo what a rolled-back batch added to the result's counters."""
    *numbers, ddl, problems = counts
    for name, value in zip(_COUNTERS, numbers, strict=True):
        setattr(result, name, value)
    result.ddl, result.problems = ddl, problems  # type: ignore[assignment]


def _files_to_load(batch: TableBatch, loaded: dict[str, str]) -> list[DataFile]:
    """New or changed files; a snapshot with anything new or changed reloads all its files."""
    changed = [f for f in batch.files if loaded.get(f.info.path) != f.info.fingerprint]
    for data_file in changed:
        if data_file.info.path in loaded:
            log.warning("%s changed since it was loaded; loading it again", data_file.info.path)
    if changed and batch.mode is not LoadMode.APPEND:
        return list(batch.files)
    return changed

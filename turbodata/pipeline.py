"""One run: discover the lake, take the leases, load each table, summarise.

Tables are independent: one that fails is reported and the others go on (`loader`). A run
that finds nothing to load, or is stopped by a signal, never ends `succeeded`. A run takes the
database's lease only for a moment (ledger tables, its start recorded), then each table's own
lease while it loads it (`turbodata.ledger.lease`): runs on different tables load together, up to
`jobs` tables of one run load at once. A table the ledger shows has no file to load (a rerun's
usual case) takes no lease and does not go through the loader (`_nothing_new`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from turbodata import dialects, preflight
from turbodata.database_url import DatabaseUrlError, create_engine
from turbodata.dialects.base import Dialect
from turbodata.errors import one_line
from turbodata.lake import layouts
from turbodata.lake.storage import Lake, LakeLocation
from turbodata.ledger import lease
from turbodata.ledger import records as ledger
from turbodata.load.options import LoadOptions
from turbodata.model import LoadMode, TableBatch
from turbodata.ops import logs, telemetry
from turbodata.ops.gc_pacing import fewer_full_collections
from turbodata.secrets import mask_secrets, redact_data
from turbodata.settings import open_lake
from turbodata.summary import Progress, RunSummary, TableResult

if TYPE_CHECKING:
    from turbodata.load.loader import TableLoader

log = logging.getLogger("turbodata")

# tables at once by default. bench/parallel.py (PostgreSQL, 2 cores, two sessions): 1.16-1.25x
# with 2, 1.08-1.27x with 4 at 1.5x the memory; client and server share the two cores
DEFAULT_JOBS = 2
LEASE_WAIT_ENV = "TURBODATA_LEASE_WAIT_SECONDS"
DEFAULT_LEASE_WAIT_SECONDS = 5.0  # how long a table held by another run is waited for
# The database lease is held only for a moment by each run starting (its ledger tables and
# its start recorded): runs on different tables started together (a Data Factory ForEach,
# parallel Durable activities) queue for it one after the other. Five seconds was too little
# for the last of three on a busy machine (it exited `blocked`); a run held by a live run of
# an older turbodata, which held it for a whole run, waits this long and says so first.
DATABASE_LEASE_WAIT_SECONDS = 15.0
# A table's lease is renewed between batches once this long has passed since it was taken or
# last renewed, not after every batch: each renewal is a commit (an fsync on SQLite), which
# was a third of a small batch's cost. Its TTL (lease.DEFAULT_TTL, 30 min) must outlast the
# longest batch plus this.
LEASE_RENEW_SECONDS = 60.0


class DatabaseNotFound(LookupError):
    """A SQLite file that does not exist where only reading makes sense (`status`)."""


class RunNotStarted(RuntimeError):
    """The database could not be reached, or refused or dropped the run's start (its ledger
    tables, its lease, its row): the database's own message, before any table loaded."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"the run could not start: {one_line(error)}; nothing was loaded")


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C (or SIGTERM, which the CLI turns into this too).

    It is a KeyboardInterrupt, so callers that stop on one still do. The run is recorded as
    `interrupted` in `_turbodata_runs`; `committed` is what the ledger holds of it (table →
    files, rows loaded), which is the truth even where a stop during a commit left the
    summary's counters behind."""

    def __init__(self, summary: RunSummary) -> None:
        super().__init__(f"run {summary.run_id} interrupted")
        self.summary = summary
        self.committed: dict[str, tuple[int, int]] = {}


def connect(db: str | Engine) -> tuple[Engine, Dialect]:
    """An engine for a SQLAlchemy URL (or the given engine), set up by its dialect."""
    engine = create_engine(db) if isinstance(db, str) else db
    try:
        dialect = dialects.for_engine(engine)
    except ValueError as error:
        raise DatabaseUrlError(str(error)) from None
    if engine not in _configured:
        dialect.configure_engine(engine)
        _configured.add(engine)
    return engine, dialect


_configured: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines set up by their dialect


def connect_existing(db: str | Engine) -> tuple[Engine, Dialect]:
    """`connect`, for reading only: a SQLite file that does not exist raises DatabaseNotFound
    instead of being created empty (a mistyped path would otherwise look like "no tables")."""
    engine, dialect = connect(db)
    path = sqlite_file(engine)
    if path is not None and not path.is_file():
        where = "its folder does not exist" if not path.parent.is_dir() else "no such file"
        raise DatabaseNotFound(f"database {path} does not exist ({where}); check --db")
    return engine, dialect


def sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite engine (None for other databases and in-memory SQLite)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename: the path up to its query
        return Path(database[len("file:") :].partition("?")[0])
    return Path(database)


def _no_sqlite_file_yet(engine: Engine) -> bool:
    """A SQLite engine whose file does not exist: connecting would create it."""
    path = sqlite_file(engine)
    return path is not None and not path.exists()


def _loading_engine(engine: Engine) -> Engine:
    """The engine, once it is clear a SQLite file can be created where it is meant to be."""
    path = sqlite_file(engine)
    if path is not None and not path.parent.is_dir():
        raise DatabaseNotFound(f"folder {path.parent} does not exist: create it, or fix --db")
    return engine


def _planning_engine(engine: Engine) -> Engine:
    """The engine a dry run plans against: a SQLite file that does not exist yet is planned
    as the empty database it would be (in memory), so `plan` creates no file; where its
    folder does not exist, the dry run fails as the run would (found by review)."""
    if _no_sqlite_file_yet(engine):
        _loading_engine(engine)
        return connect(sa.create_engine("sqlite://"))[0]
    return engine


def display_url(engine: Engine) -> str:
    """The engine's URL fit for summaries and the ledger: every password masked, including
    those inside `odbc_connect=` and other query parameters."""
    return mask_secrets(engine.url.render_as_string(hide_password=True))


def discover_tables(lake: LakeLocation) -> list[str]:
    """The tables a migration of this lake would touch, in load order."""
    return layouts.discover(open_lake(lake)).tables


def migrate(
    lake: LakeLocation,
    db: str | Engine,
    *,
    tables: Sequence[str] | None = None,
    dry_run: bool = False,
    count_rows: bool = True,
    keys: Mapping[str, Sequence[str]] | None = None,
    soft_delete: bool = False,
    db_schema: str | None = None,
    progress: Progress | None = None,
    options: LoadOptions | None = None,
    reload: Sequence[str] = (),
    jobs: int = DEFAULT_JOBS,
    lease_wait: float | None = None,
    rejects_since: datetime | None = None,
) -> RunSummary:
    """Load every table of `lake` (or only `tables`) into `db`; see README for examples.

    Tables with an `Id` column (or a key in `keys`) are upserted and deleted by key; others
    are appended. `dry_run` plans the DDL and counts the rows, changing nothing (not even
    creating a SQLite file). `reload` names tables whose files are all loaded again, e.g.
    after their metadata was fixed. A run stopped by Ctrl-C raises `RunInterrupted`.
    `rejects_since`: this run is an attempt of a run retried since then, whose earlier
    attempts' rejected rows count in this run's summary.

    `jobs` tables load at once, each in its own thread with its own connection from the
    engine's pool (`jobs` is capped at what the pool has connections for, logged). Design
    choice for SQLite, which has one writer at a time: `jobs` is capped at 1 there (logged),
    since parallel tables would only queue on the file's write lock. With `jobs` > 1, Ctrl-C
    stops each table after the batch it is in. A table another run is loading is waited for
    `lease_wait` seconds (None: $TURBODATA_LEASE_WAIT_SECONDS, else 5), then fails naming that
    run; the run's other tables go on. A run whose every table was held so is `blocked`. A
    table with nothing new to load is not waited for: it is `unchanged` whoever holds it.
    """
    if options is not None and (keys or soft_delete or db_schema):
        raise TypeError("give keys, soft_delete and db_schema inside `options`, not beside it")
    options = options or LoadOptions(
        db_schema=db_schema, keys=dict(keys or {}), soft_delete=soft_delete
    )
    lake = open_lake(lake)
    engine, dialect = connect(db)
    summary = RunSummary(
        run_id=_new_run_id(),
        lake=lake.url,
        database=display_url(engine),
        started_at=datetime.now(UTC),
        dry_run=dry_run,
    )
    jobs = _effective_jobs(dialect, jobs, engine)
    work = _Work(jobs, lease_wait_seconds(lease_wait), rejects_since)
    try:
        with _run_event(summary), fewer_full_collections():
            _plan_and_load(
                summary, lake, engine, dialect, tables, count_rows, progress, options, reload, work
            )
    finally:
        if isinstance(db, str):
            # an engine this run made: its connections close with the run. SQLite folds its
            # write-ahead log back into the file only when the last connection closes; a
            # process that exits with them open leaves its last transactions in `<file>-wal`
            # alone, and a copy of the database file without it lacks them
            engine.dispose()
    return summary


@dataclasses.dataclass(frozen=True)
class _Work:
    """How a run shares the database (tables at once, the wait for a busy table), and since
    when earlier attempts of it count (`rejects_since`)."""

    jobs: int
    lease_wait: float
    rejects_since: datetime | None = None


def lease_wait_seconds(given: float | None = None) -> float:
    """The wait for a table another run holds: `given`, else $TURBODATA_LEASE_WAIT_SECONDS,
    else DEFAULT_LEASE_WAIT_SECONDS. A setting that is not a number >= 0 is an error, never
    silently the default."""
    if given is not None:
        return max(float(given), 0.0)
    text = os.environ.get(LEASE_WAIT_ENV, "").strip()
    if not text:
        return DEFAULT_LEASE_WAIT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also NaN
        raise ValueError(f"{LEASE_WAIT_ENV}={text!r}: give a number of seconds, 0 or more")
    return seconds


# connections a table's load may hold at once: its batch's, and what it reads beside it
CONNECTIONS_PER_TABLE = 2


def _effective_jobs(dialect: Dialect, jobs: int, engine: Engine) -> int:
    """`jobs`, or fewer: 1 on a database of one writer, and as many as the engine's pool
    has connections for. Beyond that, the tables waiting for a connection failed after the
    pool's timeout ("QueuePool limit … reached", found by review)."""
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, not {jobs}")
    if jobs > 1 and dialect.single_writer:
        log.info("%s has one writer at a time: loading one table at a time", dialect.title)
        return 1
    capacity = _pool_capacity(engine)
    if capacity is not None and jobs * CONNECTIONS_PER_TABLE > capacity:
        fitting = max(1, capacity // CONNECTIONS_PER_TABLE)
        log.warning(
            "%d tables at once may hold %d connections, and the engine's pool has %d: loading"
            " %d at a time (a larger pool: create_engine(…, pool_size=…, max_overflow=…))",
            jobs,
            jobs * CONNECTIONS_PER_TABLE,
            capacity,
            fitting,
        )
        return fitting
    return jobs


def _pool_capacity(engine: Engine) -> int | None:
    """How many connections the engine's pool gives out at once (None: no limit)."""
    pool = engine.pool
    if not isinstance(pool, sa.pool.QueuePool):
        return None
    overflow = pool._max_overflow  # no public accessor; -1: unlimited
    return None if overflow < 0 else pool.size() + overflow


def _plan_and_load(
    summary: RunSummary,
    lake: Lake,
    engine: Engine,
    dialect: Dialect,
    tables: Sequence[str] | None,
    count_rows: bool,
    progress: Progress | None,
    options: LoadOptions,
    reload: Sequence[str],
    work: _Work,
) -> None:
    """The run after its summary exists: plan, check, then load (or only plan)."""
    dry_run = summary.dry_run
    engine = _planning_engine(engine) if dry_run else _loading_engine(engine)
    plan = layouts.discover(lake)
    summary.warnings += plan.warnings
    for note in plan.notes:
        logs.log_plan_note(log, summary.run_id, note, warning=note in plan.warnings)
    summary.problems += preflight.problems(lake, plan, engine, options, tables, reload)
    if summary.problems:  # a typo in an option, or nothing to load: load nothing, say why
        summary.finished_at = datetime.now(UTC)
        if not dry_run:
            _record_refused_run(engine, summary)
        return
    if progress is not None and work.jobs > 1 and not dry_run:
        progress = _serialized(progress)

    def new_loader() -> TableLoader:
        # Imported here: the load path (pyarrow among it) costs a tenth of a second of
        # start-up that a rerun with nothing new does not need.
        from turbodata.load.loader import TableLoader

        return TableLoader(
            engine,
            dialect,
            lake,
            summary.run_id,
            options,
            plan.row_widths,
            progress,
            reload=frozenset(reload),
        )

    if dry_run:
        loader = new_loader()
        ledger_name = ledger.LedgerNames(engine, options.db_schema)
        plan_emptying = functools.partial(_plan_emptying, engine, options.db_schema, count_rows)
        _emptied_snapshots(
            engine, plan, tables, summary, ledger_name, reload, options, plan_emptying
        )
        _run_tables(plan, tables, summary, lambda r, b: loader.plan(r, b, count_rows))
        summary.finished_at = datetime.now(UTC)
        return
    try:
        _start_run(engine, dialect, summary, plan.abandoned)
    except lease.LeaseHeld as held:
        summary.blocked = True
        summary.problems.append(str(held))
        summary.finished_at = datetime.now(UTC)
        return
    except sa.exc.DBAPIError as error:
        raise RunNotStarted(error) from error
    leases = _TableLeases(
        engine, dialect, new_loader, ledger.LedgerNames(engine, options.db_schema), work
    )
    leases.nothing_new, leases.last_runs = _nothing_new(
        engine, plan, tables, leases.ledger_name, frozenset(reload), options.db_schema
    )
    _emptied_snapshots(
        engine,
        plan,
        tables,
        summary,
        leases.ledger_name,
        reload,
        options,
        functools.partial(leases.empty, schema=options.db_schema),
    )
    _load(engine, plan, tables, summary, leases)


def _emptied_snapshots(
    engine: Engine,
    plan: layouts.LakePlan,
    tables: Sequence[str] | None,
    summary: RunSummary,
    ledger_name: Callable[[str], str],
    reload: Sequence[str],
    options: LoadOptions,
    empty: Callable[[TableResult], None],
) -> None:
    """The snapshot tables loaded before whose metadata now lists no data file: the table
    still holds the rows of a snapshot the lake no longer has. Never emptied on that alone
    (a listing without files is no proof of an empty table), never left quietly: the table
    fails, unless `--reload` asks for it as the lake has it, which is empty (`empty`: done,
    or in a dry run planned). Not even then while `<table>/` holds CSVs: the source has rows
    its metadata does not list yet."""
    for table, first_loaded in _dataless_loaded(engine, plan, tables, ledger_name).items():
        if first_loaded is None:
            if table in reload or tables:  # named: not a success that loaded nothing
                asked = f"--reload {table}" if table in reload else f"{table} (named)"
                summary.tables[table] = TableResult(table)
                summary.tables[table].fail(
                    f"{asked}: its metadata lists no file and this database never loaded it:"
                    " nothing to load" + (" or to empty" if table in reload else "")
                )
            continue
        result = summary.tables.setdefault(table, TableResult(table))
        if table in reload and (live := plan.unlisted_csvs.get(table)):
            result.fail(
                f"--reload {table}: its metadata lists no file, but {table}/ holds {live} CSV"
                " file(s) (the export may still be writing them): it is not emptied, its"
                f" rows are kept ({first_loaded} was loaded)"
            )
            continue
        if table in reload and not options.soft_delete:
            empty(result)
            continue
        result.fail(
            f"the lake has no snapshot of {table} any more (its metadata lists no file;"
            f" {first_loaded} was loaded): its rows are kept, not emptied (if it is"
            f" empty in the source: turbodata migrate --reload {table}, without"
            " --soft-delete, empties it)"
        )


def tables_to_run(db: Engine, plan: layouts.LakePlan) -> list[str]:
    """The tables a run over the whole lake judges, for a caller that runs them one by one
    (a Durable run, Data Factory's ForEach): those with files, then those whose metadata
    lists no file but this database loaded before (each of their runs fails, naming why: left
    out, the whole run succeeded while the table kept rows the lake no longer has)."""
    if _no_sqlite_file_yet(db):  # nothing loaded yet, and no file made here
        return list(plan.tables)
    loaded = _dataless_loaded(db, plan, None, ledger.LedgerNames(db, None))
    return [*plan.tables, *(table for table, first in loaded.items() if first is not None)]


def _dataless_loaded(
    engine: Engine,
    plan: layouts.LakePlan,
    tables: Sequence[str] | None,
    ledger_name: Callable[[str], str],
) -> dict[str, str | None]:
    """The selected tables whose metadata lists no data file, each with the first file it
    was loaded from before (None: never loaded, or no ledger yet, in a dry run)."""
    dataless = [t for t in plan.dataless if tables is None or t in tables]
    if not dataless:
        return {}
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(ledger.files.name):
            return dict.fromkeys(dataless)
        first = ledger.first_loaded_files(conn, [ledger_name(t) for t in dataless])
    return {table: first.get(ledger_name(table)) for table in dataless}


def _plan_emptying(
    engine: Engine, schema: str | None, count_rows: bool, result: TableResult
) -> None:
    """What `--reload` of a table whose metadata lists no file would do, in a dry run."""
    table = sa.table(result.name, schema=schema)
    result.status = "planned"
    result.ddl.append(str(sa.delete(table).compile(dialect=engine.dialect)))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(result.name, schema=schema):
                result.fail(f"could not be emptied: the database has no table {result.name}")
            elif count_rows:
                count = sa.select(sa.func.count()).select_from(table)
                result.rows_deleted = conn.execute(count).scalar_one()
    except sa.exc.DBAPIError as error:  # the run would fail this table, not the others
        result.fail(f"could not be emptied: {one_line(error)}")


def _nothing_new(
    engine: Engine,
    plan: layouts.LakePlan,
    tables: Sequence[str] | None,
    ledger_name: Callable[[str], str],
    reload: frozenset[str],
    db_schema: str | None,
) -> tuple[dict[str, ledger.TableHistory], dict[str, str]]:
    """The selected tables with no file to load, each with its history, from one read of
    every table's history, and each table's last run then (ledger name → run id). Such a
    table takes no lease and skips the loader; its outcome is recorded with the run's end.
    Left to the loader, which decides under the table's lease: tables to reload, tables the
    database does not have (dropped), Delta tables (their versions say what is new), tables
    whose batches differ in columns (the loader warns when columns moved), and tables
    without a recorded outcome yet."""
    selected = _select(plan, tables)
    named = [ledger_name(table) for table in selected] if tables else None
    with engine.connect() as conn:
        histories = ledger.histories(conn, named)
        # any case: a catalog that folds names (Babelfish's) must not make tables look dropped
        present = {name.lower() for name in sa.inspect(conn).get_table_names(schema=db_schema)}
    batches_of = _batches_by_table(plan)
    found = {}
    for table in selected:
        history = histories.get(ledger_name(table))
        batches = batches_of.get(table, [])
        if (
            history is not None
            and history.last_run_id is not None
            and table not in reload
            and table.lower() in present
            and all(batch.mode is not LoadMode.VERSIONED for batch in batches)
            and len({tuple(batch.schema.column_names) for batch in batches}) <= 1
            and not ledger.gone_from_snapshot(batches, history.loaded)
            and not any(batch.missing for batch in batches)  # the loader judges them
            and not any(ledger.files_to_load(batch, history.loaded) for batch in batches)
        ):
            found[table] = history
    last_runs = {name: h.last_run_id for name, h in histories.items() if h.last_run_id}
    return found, last_runs


def _batches_by_table(plan: layouts.LakePlan) -> dict[str, list[TableBatch]]:
    """The plan's batches of each table, in plan order."""
    batches: dict[str, list[TableBatch]] = {}
    for batch in plan.batches:
        batches.setdefault(batch.table, []).append(batch)
    return batches


def _start_run(
    engine: Engine, dialect: Dialect, summary: RunSummary, abandoned: Sequence[str]
) -> None:
    """Under the database lease (a moment): the ledger tables, the run's start, and the
    folders its plan skipped as abandoned."""
    _create_lease_table(engine)
    run_id = summary.run_id
    lease.acquire_waiting(engine, run_id, DATABASE_LEASE_WAIT_SECONDS, is_busy=dialect.is_busy)
    try:
        with engine.begin() as conn:
            ledger.ensure(conn)  # a future migration of the ledger belongs here too
            ledger.start_run(conn, run_id, summary.started_at)
            ledger.note_abandoned(conn, abandoned, run_id)
    finally:
        lease.release(engine, run_id)


def _create_lease_table(engine: Engine) -> None:
    """The lease table, created by whichever of two starting runs gets there first."""
    try:
        with engine.begin() as conn:
            ledger.lease.create(conn, checkfirst=True)
    except sa.exc.DBAPIError:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(ledger.lease.name):
                raise


def _serialized(progress: Progress) -> Progress:
    """The progress callback, called by one table's thread at a time."""
    lock = threading.Lock()

    def report(result: TableResult) -> None:
        with lock:
            progress(result)

    return report


class _StopRequested(KeyboardInterrupt):
    """Raised in a table's thread between batches once the run was interrupted."""


@dataclasses.dataclass
class _TableLeases:
    """Loads a table under its own lease: waited for, renewed between batches once
    LEASE_RENEW_SECONDS have passed since it was taken or renewed, released."""

    engine: Engine
    dialect: Dialect
    new_loader: Callable[[], TableLoader]  # built when the first table has something to load
    ledger_name: Callable[[str], str]
    work: _Work
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    # tables with no file to load (`_nothing_new`): no lease, no loader
    nothing_new: dict[str, ledger.TableHistory] = dataclasses.field(default_factory=dict)
    # each table's last run when this run began (ledger name → run id): its end records an
    # outcome only where no run wrote one since
    last_runs: dict[str, str] = dataclasses.field(default_factory=dict)
    _loader: TableLoader | None = None
    _building: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def loader(self) -> TableLoader:
        with self._building:  # one loader for all table threads: its caches are shared
            if self._loader is None:
                self._loader = self.new_loader()
            return self._loader

    def load(self, result: TableResult, batches: list[TableBatch]) -> None:
        if (history := self.nothing_new.get(result.name)) is not None:
            result.watermark = history.watermark  # as the loader says it: status `unchanged`
            return
        run_id, name = self.loader.run_id, lease.table_lease(self.ledger_name(result.name))
        if not self._acquire(result, run_id, name):
            return

        renewed = time.monotonic()

        def between_batches() -> None:
            nonlocal renewed
            if self.stop.is_set():
                raise _StopRequested("run interrupted")
            if time.monotonic() - renewed >= LEASE_RENEW_SECONDS:
                lease.renew(self.engine, run_id, name=name)
                renewed = time.monotonic()

        try:
            dataclasses.replace(self.loader, between_batches=between_batches).load(result, batches)
        except lease.LeaseHeld as lost:  # another run took over an expired lease
            result.fail(f"stopped: {lost}")
        finally:
            lease.release(self.engine, run_id, name)

    def empty(self, result: TableResult, schema: str | None) -> None:
        """Empty the table and forget the files loaded into it, in one transaction under its
        lease (`--reload` of a snapshot table whose metadata lists no file)."""
        run_id, ledger_name = self.loader.run_id, self.ledger_name(result.name)
        name = lease.table_lease(ledger_name)
        if not self._acquire(result, run_id, name):
            return
        try:
            with self.engine.begin() as conn:
                deleted = conn.execute(sa.delete(sa.table(result.name, schema=schema))).rowcount
                ledger.forget_table(conn, ledger_name, except_run=run_id)
                ledger.set_table_outcome(conn, ledger_name, run_id, "loaded", None)
            result.status, result.rows_deleted = "loaded", deleted
            log.warning("%s: emptied (--reload, and its metadata lists no file)", result.name)
        except Exception as error:  # rolled back: this table fails, the others still load
            log.exception("%s: could not be emptied", result.name)
            result.fail(f"could not be emptied: {one_line(error)}")
        finally:
            lease.release(self.engine, run_id, name)

    def _acquire(self, result: TableResult, run_id: str, name: str) -> bool:
        """Take the table's lease, waiting for another run; False (the table failed) when
        it stays held."""
        try:
            lease.acquire_waiting(
                self.engine,
                run_id,
                self.work.lease_wait,
                is_busy=self.dialect.is_busy,
                name=name,
                table=result.name,
                database_wait=DATABASE_LEASE_WAIT_SECONDS,
            )
        except lease.LeaseHeld as held:
            result.blocked_by = held.holder
            result.fail(str(held))
            return False
        return True


def _load(
    engine: Engine,
    plan: layouts.LakePlan,
    tables: Sequence[str] | None,
    summary: RunSummary,
    leases: _TableLeases,
) -> None:
    """Load the tables, each under its lease, and record the run, however it ends: a signal
    is recorded as `interrupted`, any other escaping error as a problem (`failed`), never
    `succeeded` on the strength of the tables finished before it."""
    interrupted: RunInterrupted | None = None
    stopped: BaseException | None = None
    try:
        _run_tables(plan, tables, summary, leases.load, leases.work.jobs, leases.stop)
        _note_blocked(summary)
        if leases.work.rejects_since is not None:
            _rejected_by_earlier_attempts(engine, summary, leases, leases.work.rejects_since)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM in the CLI
        summary.interrupted = True
        stopped = interrupted = RunInterrupted(summary)
        raise interrupted from stop
    except BaseException as error:
        summary.problems.append(f"run stopped: {type(error).__name__}: {one_line(error)}")
        stopped = error
        raise
    finally:
        summary.finished_at = datetime.now(UTC)
        try:
            _record_end(engine, summary, leases, interrupted)
        except Exception:
            if stopped is None:
                raise
            # the error that stopped the run is the one to report; this one goes to the log
            log.exception("run %s: its end could not be recorded", summary.run_id)


def _rejected_by_earlier_attempts(
    engine: Engine, summary: RunSummary, leases: _TableLeases, since: datetime
) -> None:
    """A run that retries one (a Durable table activity's next attempt, a Data Factory
    activity's retry) finds the batches an earlier attempt committed already applied: the
    rows that attempt rejected count in this run too, so that a retry never answers
    `succeeded` for rows that were rejected."""
    with engine.connect() as conn:
        for result in summary.tables.values():
            earlier = ledger.rejected_since(
                conn, leases.ledger_name(result.name), since, summary.run_id
            )
            if not earlier:
                continue
            rows = sum(earlier.values())
            result.rejected_by_earlier_attempts += rows
            result.problems.append(
                f"{result.name}: {rows} row(s) rejected by an earlier attempt since"
                f" {since.isoformat()} (run {', '.join(sorted(earlier))}); `turbodata"
                " rejects` shows them"
            )


def _record_end(
    engine: Engine,
    summary: RunSummary,
    leases: _TableLeases,
    interrupted: RunInterrupted | None,
) -> None:
    """Record how the run ended (and the outcome of the tables the loader did not record:
    interrupted, or with nothing new), then release the lease, also when recording fails
    (else the lease would stay held until it expires)."""
    # ledger name → (the last run its state row had when this run read it, status, error)
    outcomes: dict[str, tuple[str, str, str | None]] = {}
    try:
        with engine.begin() as conn:
            for result in summary.tables.values():
                name = leases.ledger_name(result.name)
                seen = leases.last_runs.get(name)
                if result.status == "interrupted":  # the loader did not get to record it
                    ledger.set_table_outcome(conn, name, summary.run_id, "interrupted", None)
                elif result.status == "failed" and not result.blocked_by:
                    # failed before the loader recorded it (a lake problem, its files gone, an
                    # error, its lease lost between batches): `status` and the report showed
                    # it loaded and up to date, or `loading`
                    outcomes[name] = (seen or "", "failed", result.error)
                elif result.status == "unchanged" and result.name in leases.nothing_new:
                    outcomes[name] = (seen or "", "unchanged", None)
            ledger.set_outcomes_if_unchanged(conn, summary.run_id, outcomes)
            stored = json.dumps(redact_data(summary.to_dict()))
            ledger.finish_run(conn, summary.run_id, summary.status, stored)
            if interrupted:
                interrupted.committed = ledger.loaded_by_run(conn, summary.run_id)
    except BaseException:
        with contextlib.suppress(Exception):  # the recording error is the one to report
            lease.release(engine, summary.run_id, None)
        raise
    lease.release(engine, summary.run_id, None)


def _record_refused_run(engine: Engine, summary: RunSummary) -> None:
    """A run its checks stopped before it loaded anything (metadata that cannot be read, every
    table's files gone), in the ledger of a database that has one: left out, `runs` and the
    report showed the run before it as the last. A database without a ledger is left as it
    is (a mistyped lake creates no SQLite file), and an error recording it goes to the log:
    the problems that stopped the run are what it reports."""
    if _no_sqlite_file_yet(engine):
        return
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(ledger.runs.name):
                return
        with engine.begin() as conn:
            ledger.start_run(conn, summary.run_id, summary.started_at)
            stored = json.dumps(redact_data(summary.to_dict()))
            ledger.finish_run(conn, summary.run_id, summary.status, stored)
    except sa.exc.SQLAlchemyError:
        log.exception("run %s: its end could not be recorded", summary.run_id)


def _loading(state: dict[str, object]) -> bool:
    return state["last_status"] == ledger.LOADING and state["last_run_id"] is not None


def _note_blocked(summary: RunSummary) -> None:
    """A run whose every table another run held did nothing: `blocked`, its tables' messages
    among its problems (as when the database lease itself was held)."""
    results = list(summary.tables.values())
    if results and all(result.blocked_by for result in results):
        summary.blocked = True
        summary.problems += [result.error or "" for result in results]
        summary.tables.clear()


def _run_tables(
    plan: layouts.LakePlan,
    tables: Sequence[str] | None,
    summary: RunSummary,
    load: Callable[[TableResult, list[TableBatch]], None],
    jobs: int = 1,
    stop: threading.Event | None = None,
) -> None:
    selected = _select(plan, tables)
    tables_plan = _TablesPlan(plan, _batches_by_table(plan))
    if jobs <= 1 or len(selected) <= 1:
        for table in selected:
            _run_one(tables_plan, summary, load, table)
    else:
        _run_in_parallel(tables_plan, summary, load, selected, jobs, stop or threading.Event())
    summary.problems += [str(p) for p in plan.problems if p.table is None]


@dataclasses.dataclass(frozen=True)
class _TablesPlan:
    """The plan, with its batches grouped by table (once, not once per table)."""

    plan: layouts.LakePlan
    batches_of: dict[str, list[TableBatch]]


def _run_one(
    plan: _TablesPlan,
    summary: RunSummary,
    load: Callable[[TableResult, list[TableBatch]], None],
    table: str,
) -> None:
    result = TableResult(table)
    summary.tables[table] = result
    batches = plan.batches_of.get(table, [])
    with telemetry.table_span(table) as span:
        try:
            _run_table(plan.plan, result, batches, load)
        finally:
            _log_table_event(summary, result)
            telemetry.finish_table(span, result)
            if not summary.dry_run:
                telemetry.record_table(result, _newest_folder(batches))


def _newest_folder(batches: list[TableBatch]) -> str | None:
    """The table's newest timestamp folder in the lake (incremental layouts), for its lag."""
    folders = [b.batch_id for b in batches if b.mode is LoadMode.APPEND]
    return max(folders, key=lambda f: layouts.folder_time(f) or datetime.min, default=None)


def _run_in_parallel(
    plan: _TablesPlan,
    summary: RunSummary,
    load: Callable[[TableResult, list[TableBatch]], None],
    selected: list[str],
    jobs: int,
    stop: threading.Event,
) -> None:
    """Up to `jobs` tables at once. Ctrl-C (in the main thread) stops each running table after
    its batch in flight and starts no other; the summary lists the tables in plan order."""
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="turbodata-table")
    # each table's thread starts in a copy of this context: its span's parent is the run's
    futures = [
        pool.submit(contextvars.copy_context().run, _run_one, plan, summary, load, table)
        for table in selected
    ]
    try:
        for future in futures:
            future.exception()  # waits; a table's own error is in its result already
    except KeyboardInterrupt:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        ordered = {t: summary.tables[t] for t in selected if t in summary.tables}
        summary.tables.clear()
        summary.tables.update(ordered)
    escaped = [f.exception() for f in futures if f.exception() is not None]
    if escaped:
        raise escaped[0]


def _run_table(
    plan: layouts.LakePlan,
    result: TableResult,
    batches: list[TableBatch],
    load: Callable[[TableResult, list[TableBatch]], None],
) -> None:
    table = result.name
    for problem in plan.problems:
        if problem.table == table:
            result.fail(problem.message)
    if result.status == "failed":
        return
    try:
        load(result, list(batches))
    except Exception as error:  # this table failed; the others go on
        log.exception("%s failed", table)  # on a terminal, the traceback with -v only
        result.fail(one_line(error))
    except BaseException:  # Ctrl-C: the batch in flight rolled back, earlier ones stay
        result.status, result.error = "interrupted", "run interrupted"
        raise


def _log_table_event(summary: RunSummary, result: TableResult) -> None:
    """The `table_finished` event: a log record whose fields say what the table's run did
    (`--log-format json` writes them as JSON fields; see `turbodata.ops.logs`)."""
    fields = {
        "event": "table_finished",
        "run_id": summary.run_id,
        "dry_run": summary.dry_run,
        "table": result.name,
        "status": result.status,
        "files": result.files_read,
        "rows_read": result.rows_read,
        "rows_inserted": result.rows_inserted,
        "rows_updated": result.rows_updated,
        "rows_deleted": result.rows_deleted,
        "rows_rejected": result.rows_rejected,
        "ddl": len(result.ddl),
        "seconds": round(result.seconds, 3),
        "watermark": result.watermark,
        "error": result.error,
    }
    log.info(
        "%s %s: %s, %d files, %d inserted, %d updated, %d deleted, %d rejected, %d DDL, %.2f s",
        summary.run_id,
        result.name,
        result.status,
        result.files_read,
        result.rows_inserted,
        result.rows_updated,
        result.rows_deleted,
        result.rows_rejected,
        len(result.ddl),
        result.seconds,
        extra=redact_data(fields),  # extra= fields skip the record's redaction (ops/logs.py)
    )


@contextlib.contextmanager
def _run_event(summary: RunSummary) -> Iterator[None]:
    """Log the `run_finished` event however the run ends. An error escaping the run (the
    database unreachable before any table) makes it `failed` (`interrupted` for a signal) in
    the event even where the summary holds no problem yet: a log must not say `succeeded`."""
    escaped: BaseException | None = None
    with telemetry.run_span(
        summary.run_id, summary.lake, summary.database, summary.dry_run
    ) as span:
        try:
            yield
        except BaseException as error:
            escaped = error
            raise
        finally:
            status, error_line = _log_run_event(summary, escaped)
            telemetry.finish_run(span, status, error_line or next(iter(summary.problems), None))


def _log_run_event(summary: RunSummary, escaped: BaseException | None) -> tuple[str, str | None]:
    """Log the event; the run's status and its masked error (that of `escaped`), if any."""
    # as `RunSummary.to_dict` says them, without building that dict (a copy of every table)
    status, ok = summary.status, summary.ok
    finished = summary.finished_at or datetime.now(UTC)
    seconds = round((finished - summary.started_at).total_seconds(), 3)
    if escaped is not None and ok:
        status, ok = ("interrupted" if isinstance(escaped, KeyboardInterrupt) else "failed"), False
    totals = {
        counter: sum(getattr(t, counter) for t in summary.tables.values())
        for counter in ("rows_inserted", "rows_updated", "rows_deleted", "rows_rejected")
    }
    fields = {
        "event": "run_finished",
        "run_id": summary.run_id,
        "status": status,
        "ok": ok,
        "dry_run": summary.dry_run,
        "lake": mask_secrets(summary.lake),
        "database": mask_secrets(summary.database),
        "tables": len(summary.tables),
        "tables_failed": sorted(n for n, t in summary.tables.items() if t.status == "failed"),
        **totals,
        "problems": len(summary.problems),
        "error": None if escaped is None else mask_secrets(one_line(escaped)),
        "seconds": seconds,
    }
    log.info("run %s %s in %.2f s", summary.run_id, status, seconds, extra=fields)
    return status, fields["error"]


def _new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _select(plan: layouts.LakePlan, tables: Sequence[str] | None) -> list[str]:
    if not tables:
        return plan.tables
    return [t for t in plan.tables if t in tables]


def status(db: str | Engine, db_schema: str | None = None) -> list[dict[str, object]]:
    """Per loaded table: last applied batch, rows now in the table, rows rejected from the
    files as loaded now, last run and its error. A table `loading` by a run whose process
    has ended shows `killed` (`ledger.killed_runs`). A SQLite file that does not exist
    raises DatabaseNotFound (nothing is created)."""
    engine, _ = connect_existing(db)
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(ledger.table_state.name):
            return []
        rejected = ledger.rejected_counts(conn)
        inspector = sa.inspect(conn)
        default = inspector.default_schema_name
        other_schemas = {f"{n}." for n in inspector.get_schema_names() if n != default}
        prefix = f"{db_schema}." if db_schema and db_schema != default else ""
        states = ledger.table_states(conn)
        loading_runs = [s["last_run_id"] for s in states.values() if _loading(s)]
        killed = ledger.killed_runs(conn, loading_runs) if loading_runs else set()
        out = []
        for name, state in states.items():
            # the ledger names tables of a schema other than the default `schema.table`
            if prefix and not name.startswith(prefix):
                continue
            if not prefix and any(name.startswith(other) for other in other_schemas):
                continue
            table = name[len(prefix) :]
            target = sa.table(table, schema=db_schema)
            exists = sa.inspect(conn).has_table(table, schema=db_schema)
            count = sa.select(sa.func.count()).select_from(target)
            rows = conn.execute(count).scalar_one() if exists else None
            out.append(
                {
                    "table": table,
                    "last_applied": state["watermark"],
                    "rows": rows,
                    "rejected": rejected.get(name, 0),
                    "last_run": state["last_run_id"],
                    "last_status": ledger.KILLED
                    if state["last_run_id"] in killed and _loading(state)
                    else state["last_status"],
                    # masked again: ledgers written before errors were masked when stored
                    "last_error": redact_data(state["last_error"]),
                    "updated_at": state["updated_at"],
                }
            )
        return out

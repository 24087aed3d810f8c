"""One run: discover the lake, take the database's lease, load each table, summarise.

Tables are independent: one that fails is reported and the others go on (`loader`).
"""

from __future__ import annotations

import json
import logging
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from turbodata import dialects, layouts, lease, ledger
from turbodata.dialects.base import Dialect
from turbodata.lake import LakeLocation, as_lake
from turbodata.loader import LoadOptions, Progress, TableLoader, one_line
from turbodata.model import TableBatch
from turbodata.summary import RunSummary, TableResult

log = logging.getLogger("turbodata")


def connect(db: str | Engine) -> tuple[Engine, Dialect]:
    """An engine for a SQLAlchemy URL (or the given engine), set up by its dialect."""
    engine = sa.create_engine(db) if isinstance(db, str) else db
    dialect = dialects.for_engine(engine)
    if engine not in _configured:
        dialect.configure_engine(engine)
        _configured.add(engine)
    return engine, dialect


_configured: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines set up by their dialect


def discover_tables(lake: LakeLocation) -> list[str]:
    """The tables a migration of this lake would touch, in load order."""
    return layouts.discover(as_lake(lake)).tables


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
) -> RunSummary:
    """Load every table of `lake` (or only `tables`) into `db`; see README for examples.

    Tables with an `Id` column (or a key in `keys`) are upserted and deleted by key; others
    are appended. `dry_run` plans the DDL and counts the rows, changing nothing.
    """
    if options is not None and (keys or soft_delete or db_schema):
        raise TypeError("give keys, soft_delete and db_schema inside `options`, not beside it")
    options = options or LoadOptions(
        db_schema=db_schema, keys=dict(keys or {}), soft_delete=soft_delete
    )
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
    summary.problems += options.overrides.unused(_columns_by_table(plan))
    if summary.problems:  # a typo in the override file: load nothing rather than guess
        summary.finished_at = datetime.now(UTC)
        return summary
    loader = TableLoader(engine, dialect, lake, summary.run_id, options, plan.min_widths, progress)
    if dry_run:
        _run_tables(plan, tables, summary, lambda r, b: loader.plan(r, b, count_rows))
        summary.finished_at = datetime.now(UTC)
        return summary
    with engine.begin() as conn:
        ledger.ensure(conn)
    try:
        lease.acquire(engine, summary.run_id, is_busy=dialect.is_busy)
    except lease.LeaseHeld as held:
        summary.blocked = True
        summary.problems.append(str(held))
        summary.finished_at = datetime.now(UTC)
        return summary
    loader.between_batches = lambda: lease.renew(engine, summary.run_id)
    try:
        with engine.begin() as conn:
            ledger.start_run(conn, summary.run_id, summary.started_at)
        _run_tables(plan, tables, summary, loader.load)
    except lease.LeaseHeld as lost:  # another run took over an expired lease: stop here
        summary.problems.append(f"run stopped: {lost}")
    finally:
        summary.finished_at = datetime.now(UTC)
        with engine.begin() as conn:
            ledger.finish_run(conn, summary.run_id, summary.status, json.dumps(summary.to_dict()))
        lease.release(engine, summary.run_id)
    return summary


def _run_tables(
    plan: layouts.LakePlan,
    tables: Sequence[str] | None,
    summary: RunSummary,
    load: Callable[[TableResult, list[TableBatch]], None],
) -> None:
    for table in _select(plan, tables, summary):
        result = TableResult(table)
        summary.tables[table] = result
        for problem in plan.problems:
            if problem.table == table:
                result.fail(problem.message)
        if result.status == "failed":
            continue
        try:
            load(result, [b for b in plan.batches if b.table == table])
        except lease.LeaseHeld:
            raise
        except Exception as error:  # this table failed; the others go on
            log.exception("%s failed", table)
            result.fail(one_line(error))
    summary.problems += [str(p) for p in plan.problems if p.table is None]


def _columns_by_table(plan: layouts.LakePlan) -> dict[str, set[str]]:
    columns: dict[str, set[str]] = {}
    for batch in plan.batches:
        columns.setdefault(batch.table, set()).update(batch.schema.column_names)
    return columns


def _new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _select(plan: layouts.LakePlan, tables: Sequence[str] | None, summary: RunSummary) -> list[str]:
    if not tables:
        return plan.tables
    unknown = [t for t in tables if t not in plan.tables]
    summary.problems += [f"{t}: no such table in the lake" for t in unknown]
    return [t for t in plan.tables if t in tables]


def status(db: str | Engine, db_schema: str | None = None) -> list[dict[str, object]]:
    """Per loaded table: last applied batch, rows now in the table, last run and its error."""
    engine, _ = connect(db)
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(ledger.table_state.name):
            return []
        inspector = sa.inspect(conn)
        default = inspector.default_schema_name
        other_schemas = {f"{n}." for n in inspector.get_schema_names() if n != default}
        prefix = f"{db_schema}." if db_schema and db_schema != default else ""
        out = []
        for name, state in ledger.table_states(conn).items():
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
                    "last_run": state["last_run_id"],
                    "last_status": state["last_status"],
                    "last_error": state["last_error"],
                    "updated_at": state["updated_at"],
                }
            )
        return out

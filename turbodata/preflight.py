"""What must stop a run before it touches anything: nothing found in the lake, or an option
(`--table`, the override file, `--key`, `--schema`, `--reload`) naming something that is not
there. A typo should not load the wrong thing, nor report success for loading nothing; each
problem is one line that names the closest existing name."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from turbodata import dialects
from turbodata.lake import layouts
from turbodata.lake.storage import Lake
from turbodata.load.options import LoadOptions
from turbodata.model import LoadMode
from turbodata.secrets import mask_secrets


def problems(
    lake: Lake,
    plan: layouts.LakePlan,
    engine: Engine,
    options: LoadOptions,
    tables: Sequence[str] | None,
    reload: Sequence[str],
) -> list[str]:
    """What must stop a run before it touches anything: nothing found in the lake, or an
    option (`--table`, override file, `--key`, `--schema`, `--reload`) naming something that
    isn't there. A typo should not load the wrong thing, nor report success for loading
    nothing."""
    if not plan.tables and not set(reload) & set(plan.dataless):  # --reload empties those
        return why_nothing_found(lake, plan)
    known = plan.known_tables
    return [
        *[
            f"--table {t}: no such table in the lake{_closest(t, known)}"
            for t in tables or ()
            if t not in known
        ],
        *options.overrides.unused(_columns_by_table(plan)),
        *_key_problems(plan, options),
        *_reload_problems(plan, options, reload),
        *[
            f"--reload {t}: not among the tables this run loads (--table): name it there too"
            for t in reload
            if tables and t in known and t not in tables
        ],
        *_schema_problems(engine, options.db_schema),
    ]


def why_nothing_found(lake: Lake, plan: layouts.LakePlan) -> list[str]:
    """Why a plan has no table: its own problems (an unreadable model.json), if any; the
    tables it found whose metadata lists no file; else what the lake's root holds."""
    if plan.problems:
        return [str(p) for p in plan.problems]
    if plan.dataless:
        return _only_dataless(lake, plan)
    return _nothing_found(lake, plan)


def _only_dataless(lake: Lake, plan: layouts.LakePlan) -> list[str]:
    names = ", ".join(plan.dataless[:8]) + (" …" if len(plan.dataless) > 8 else "")
    return [
        f"nothing to load in {mask_secrets(lake.url)}: the metadata lists no data file of"
        f" its {len(plan.dataless)} table(s) ({names}); a table loaded before keeps its rows"
        " (--reload TABLE empties it)",
        *[f"lake: {warning}" for warning in plan.warnings],
    ]


def _nothing_found(lake: Lake, plan: layouts.LakePlan) -> list[str]:
    root = lake.list_dir("")
    found = [f"{name}/" for name in root.folders] + [f.path for f in root.files]
    shown = ", ".join(found[:8]) + (f" and {len(found) - 8} more" if len(found) > 8 else "")
    problems = [
        f"nothing to load in {mask_secrets(lake.url)}: no table found (layout {plan.layout!r})."
        " The lake root should hold Synapse Link timestamp folders, a model.json,"
        f" a *.manifest.cdm.json or <Entity>.cdm.json documents; it holds {shown or 'nothing'}"
    ]
    if any(f.path.lower().endswith(".csv") for f in root.files):
        problems.append(
            "lake: CSV files are read only with their metadata: point --lake at the folder that"
            " holds model.json or the timestamp folders"
        )
    problems += [f"lake: {hint}" for hint in _lakes_below(lake, root.folders)]
    return problems + [f"lake: {note}" for note in plan.notes]


def _lakes_below(lake: Lake, folders: list[str], limit: int = 20) -> list[str]:
    """'did you mean' lines for sub-folders that look like a lake root (a few, listed once)."""
    hints = []
    for folder in folders[:limit]:
        listing = lake.list_dir(folder)
        names = {f.path.rsplit("/", 1)[-1] for f in listing.files}
        if "model.json" in names or any(layouts.folder_time(n) for n in listing.folders):
            shown = mask_secrets(f"{lake.url}/{folder}")
            hints.append(f"{folder}/ looks like a lake: did you mean --lake {shown}?")
    return hints


def _key_problems(plan: layouts.LakePlan, options: LoadOptions) -> list[str]:
    columns = _columns_by_table(plan)
    problems = []
    for table, key in options.keys.items():
        if table not in plan.tables:
            problems.append(
                f"--key {table}: no such table in the lake{_closest(table, plan.tables)}"
            )
            continue
        for column in key:
            if table in columns and column not in columns[table]:
                problems.append(
                    f"--key {table}: {column!r} is not a column of {table}"
                    f"{_closest(column, columns[table])}"
                )
    return problems


def _reload_problems(
    plan: layouts.LakePlan, options: LoadOptions, reload: Sequence[str]
) -> list[str]:
    columns = _columns_by_table(plan)
    problems = []
    known = plan.known_tables
    for table in reload:
        if table not in known:
            problems.append(f"--reload {table}: no such table in the lake{_closest(table, known)}")
            continue
        appended = any(b.table == table and b.mode is LoadMode.APPEND for b in plan.batches)
        if appended and not options.key_for(table, sorted(columns.get(table, ()))):
            problems.append(
                f"--reload {table}: the table has no key, so loading its files again would"
                " duplicate its rows; give it a key with --key, or drop the table to start over"
            )
    return problems


def _schema_problems(engine: Engine, db_schema: str | None) -> list[str]:
    if not db_schema:
        return []
    dialect = dialects.for_engine(engine)
    if dialect.fixed_schemas is not None:
        if db_schema in dialect.fixed_schemas:
            return []
        return [f"--schema {db_schema}: {dialect.title} has no schemas; leave --schema out"]
    with engine.connect() as conn:
        known = sa.inspect(conn).get_schema_names()
    if db_schema in known:
        return []
    return [
        f"--schema {db_schema}: no such schema in the database (it has {', '.join(known)});"
        f" create it first (CREATE SCHEMA {db_schema}) or fix the name"
    ]


def _closest(name: str, candidates: Sequence[str] | set[str] | dict[str, object]) -> str:
    """'; did you mean X?' for the closest candidate (case ignored), else the choices."""
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    if close:
        return f"; did you mean {by_lower[close[0]]}?"
    names = sorted(by_lower.values())
    listed = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f" (it has {listed})"


def _columns_by_table(plan: layouts.LakePlan) -> dict[str, set[str]]:
    columns: dict[str, set[str]] = {}
    for batch in plan.batches:
        columns.setdefault(batch.table, set()).update(batch.schema.column_names)
    return columns

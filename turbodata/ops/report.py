"""The run report: one static HTML page about what turbodata did to a database.

It shows, from the ledger (`turbodata.ledger.records`): per table its status and how far it is
behind the lake, the rows each of the last runs wrote (an inline SVG bar chart), the rejected rows
grouped by reason with sample rows, and the last runs with their status.

Design choices:

- The page is self-contained: inline CSS and SVG, no script, no external asset, so it can be
  mailed, archived as a build artifact or opened offline, and shows no more than it holds.
- Every text that comes from the database or the lake is passed through
  `secrets.mask_secrets` and then `html.escape` (`_text`), table names and rejected rows
  included. CSS classes are only ever chosen from fixed tables, never built from data.
- Lag needs the lake: the ledger knows the last folder applied to each table, not the folders
  the lake holds. With `lake=` the report lists the lake's closed timestamp folders per table
  (`layouts.discover`, which reads each folder's model.json) and counts those later than the
  table's watermark; tables the lake has but the database never loaded are listed too.
  Without it, lag says "not checked". Tables the lake holds whole (snapshots, option sets)
  have no watermark, so no lag either.
- Rejects are streamed and grouped in Python (reasons quote the rejected value, so quoted
  values are replaced by `…` to group), keeping only counts and a few samples, so a database
  with millions of rejects does not need them in memory.

Read queries `ledger/records.py` lacks (the runs, streamed rejects) are here: `recent_runs` and
`reject_groups`; `turbodata runs` reads the runs with `recent_runs` too.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from turbodata import __version__
from turbodata.lake import layouts
from turbodata.lake.storage import LakeLocation
from turbodata.ledger import records as ledger
from turbodata.model import LoadMode
from turbodata.pipeline import connect_existing, display_url, status
from turbodata.secrets import mask_secrets
from turbodata.settings import open_lake

RUNS_SHOWN = 20
SAMPLES_PER_GROUP = 3
RAW_TEXT_SHOWN = 300  # characters of a rejected row shown as a sample
# a quoted value inside a reason, as Python's repr() writes it ('x', "it's")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")

# status -> CSS class; anything not listed is shown neutral
_STATUS_CLASS = {
    "loaded": "ok",
    "unchanged": "ok",
    "succeeded": "ok",
    "up to date": "ok",
    "completed_with_rejects": "warn",
    "interrupted": "warn",
    "killed": "warn",
    "blocked": "warn",
    "not loaded yet": "warn",
    "failed": "bad",
    "running": "info",
    "loading": "info",
}


@dataclass(frozen=True)
class TableLine:
    """One table's row of the report."""

    name: str
    status: str
    last_applied: str | None
    rows: int | None
    rejected: int
    last_run: str | None
    last_error: str | None
    newest: str | None = None  # the lake's newest closed folder holding the table
    folders_behind: int | None = None  # None: no lag known (see lag_note)
    lag: timedelta | None = None
    lag_note: str = "not checked"  # why there is no lag, when folders_behind is None
    # the lake's folder that stops every run's plan, newer than the table's watermark: it
    # and every later folder wait (a table "up to date" with the folders before it is not)
    held_at: str | None = None


@dataclass(frozen=True)
class RunLine:
    run_id: str
    status: str
    started_at: datetime | str
    seconds: float | None
    rows_read: int  # data rows read from the files (loaded, collapsed or rejected)
    rows_written: int  # inserted + updated + deleted
    rows_rejected: int
    tables_failed: list[str]
    problems: list[str]
    # as stored; while running, the run's process (`ledger.start_run`); {} for runs recorded
    # by versions that kept none
    summary: dict[str, object] = field(default_factory=dict)


@dataclass
class RejectGroup:
    table: str
    column: str | None
    reason: str  # with quoted values replaced by …
    count: int = 0
    last_run: str = ""
    samples: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class ReportData:
    database: str  # masked
    db_schema: str | None
    generated_at: datetime
    tables: list[TableLine]
    runs: list[RunLine]  # newest first
    rejects: list[RejectGroup]
    lake: str | None = None  # masked; None when lag was not checked
    lake_problems: list[str] = field(default_factory=list)  # what stops loading from the lake


@dataclass(frozen=True)
class LakeView:
    """What the lake holds, for the lag: per incremental table its closed timestamp folders,
    oldest first; the tables loaded whole (snapshots, option sets: a watermark does not apply);
    the problems that stop a run's plan (a folder that cannot be read stops it there)."""

    folders: dict[str, list[str]]
    loaded_whole: frozenset[str]
    problems: list[str]
    stopped_at: str | None = None  # the folder that stops the plan (`LakePlan.stopped_at`)


# ------------------------------------------------------------------------------- public API


def render_report(
    engine_or_url: str | Engine,
    db_schema: str | None = None,
    *,
    lake: LakeLocation | None = None,
    now: datetime | None = None,
) -> str:
    """The report of the database `engine_or_url` (schema `db_schema`) as one HTML page.

    `lake` (optional) is read to show how far each table is behind it. A SQLite file that does
    not exist raises `pipeline.DatabaseNotFound` (nothing is created)."""
    return render(collect(engine_or_url, db_schema, lake=lake, now=now))


def write_report(
    db: str | Engine,
    out_path: str | os.PathLike[str],
    db_schema: str | None = None,
    *,
    lake: LakeLocation | None = None,
) -> Path:
    """Write the report to `out_path` (atomically: a reader never sees half a page). The file
    gets the mode a new file would get (mkstemp's own temporary file is private)."""
    page = render_report(db, db_schema, lake=lake)
    target = Path(out_path)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(page)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    current = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(current)
    return current


def collect(
    db: str | Engine,
    db_schema: str | None = None,
    *,
    lake: LakeLocation | None = None,
    now: datetime | None = None,
    runs_shown: int = RUNS_SHOWN,
) -> ReportData:
    """Everything the report shows, read from the ledger (and the lake, when given)."""
    engine, _ = connect_existing(db)
    lines = [_table_line(row) for row in status(engine, db_schema)]
    opened = open_lake(lake) if lake is not None else None
    view = read_lake(opened) if opened is not None else None
    if view is not None:
        lines = with_lag(lines, view)
    with engine.connect() as conn:
        has_ledger = sa.inspect(conn).has_table(ledger.runs.name)
        runs = recent_runs(conn, runs_shown) if has_ledger else []
        names = _ledger_names(conn, db_schema, [line.name for line in lines])
        rejects = reject_groups(conn, names) if has_ledger else []
    return ReportData(
        database=display_url(engine),
        db_schema=db_schema,
        generated_at=now or datetime.now(UTC),
        tables=lines,
        runs=runs,
        rejects=rejects,
        lake=mask_secrets(opened.url) if opened is not None else None,
        lake_problems=view.problems if view is not None else [],
    )


# ------------------------------------------------------------------------------ reading


def _table_line(row: Mapping[str, object]) -> TableLine:
    return TableLine(
        name=str(row["table"]),
        status=str(row["last_status"] or "unknown"),
        last_applied=_optional_str(row["last_applied"]),
        rows=row["rows"] if isinstance(row["rows"], int) else None,
        rejected=int(row["rejected"] or 0),  # type: ignore[call-overload]
        last_run=_optional_str(row["last_run"]),
        last_error=_optional_str(row["last_error"]),
    )


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def read_lake(lake: LakeLocation) -> LakeView:
    """The lake as a run would plan it (`layouts.discover`, which reads each folder's
    model.json)."""
    plan = layouts.discover(open_lake(lake))
    folders: dict[str, list[str]] = {}
    for batch in plan.batches:
        if batch.mode is LoadMode.APPEND:  # the batches that move a table's watermark
            folders.setdefault(batch.table, []).append(batch.batch_id)
    whole = frozenset(b.table for b in plan.batches if b.mode is not LoadMode.APPEND)
    problems = [str(problem) for problem in plan.problems]
    return LakeView(folders, whole - set(folders), problems, plan.stopped_at)


def with_lag(lines: list[TableLine], lake: LakeView) -> list[TableLine]:
    """The lines with their lag behind the lake, plus lines for its tables never loaded."""
    known = {line.name for line in lines}
    in_lake = [*lake.folders, *sorted(lake.loaded_whole)]
    never_loaded = [
        TableLine(name, "not loaded yet", None, None, 0, None, None)
        for name in in_lake
        if name not in known
    ]
    return [_lag(line, lake) for line in [*lines, *never_loaded]]


def _lag(line: TableLine, lake: LakeView) -> TableLine:
    """The line with its lag behind the lake's folders of the table. A table loaded whole,
    or one the lake no longer has, gets a note instead: "up to date" would be a guess."""
    if line.name in lake.loaded_whole:
        return replace(line, lag_note="loaded whole: no folders to lag behind")
    applied = layouts.folder_time(line.last_applied) if line.last_applied else None
    if lake.stopped_at:  # every run stops there (an applied folder too): none gets past it
        line = replace(line, held_at=lake.stopped_at)  # (it was "up to date": found by review)
    folders = lake.folders.get(line.name)
    if not folders:
        return replace(line, lag_note="not in the lake" if not line.held_at else "held")
    times = [t for t in map(layouts.folder_time, folders) if t is not None]
    pending = [t for t in times if applied is None or t > applied]
    lag = max(pending) - applied if pending and applied is not None else None
    return replace(line, newest=folders[-1], folders_behind=len(pending), lag=lag)


def recent_runs(conn: Connection, limit: int = RUNS_SHOWN) -> list[RunLine]:
    """The last `limit` runs of `_turbodata_runs`, newest first, with totals from their
    stored summaries (a run still going, or one that died, has no totals: zeros). A run
    recorded `running` whose process has ended is shown `killed` (`ledger.seen_status`)."""
    query = sa.select(ledger.runs).order_by(ledger.runs.c.started_at.desc()).limit(limit)
    return [_run_line(row) for row in conn.execute(query).mappings()]


def _run_line(row: Mapping[str, object]) -> RunLine:
    summary = _summary(row["summary"])
    tables: dict[str, dict[str, object]] = summary.get("tables") or {}  # type: ignore[assignment]
    written = sum(
        int(t.get(k) or 0)  # type: ignore[call-overload]
        for t in tables.values()
        for k in ("rows_inserted", "rows_updated", "rows_deleted")
    )
    read = sum(int(t.get("rows_read") or 0) for t in tables.values())  # type: ignore[call-overload]
    rejected = sum(int(t.get("rows_rejected") or 0) for t in tables.values())  # type: ignore[call-overload]
    seconds = summary.get("seconds")
    return RunLine(
        run_id=str(row["run_id"]),
        status=ledger.seen_status(str(row["status"]), row["summary"]),
        started_at=row["started_at"],  # type: ignore[arg-type]
        seconds=float(seconds) if isinstance(seconds, int | float) else None,
        rows_read=read,
        rows_written=written,
        rows_rejected=rejected,
        tables_failed=sorted(n for n, t in tables.items() if t.get("status") == "failed"),
        problems=[str(p) for p in summary.get("problems") or []],  # type: ignore[union-attr]
        summary=summary,
    )


def _summary(stored: object) -> dict[str, object]:
    try:
        summary = json.loads(str(stored)) if stored else {}
    except ValueError:
        return {}
    return summary if isinstance(summary, dict) else {}


def _ledger_names(conn: Connection, db_schema: str | None, tables: Iterable[str]) -> set[str]:
    """How the ledger names these tables: `schema.table` for a schema other than the default
    (as `loader.TableLoader.ledger_name` does)."""
    default = sa.inspect(conn).default_schema_name
    prefix = f"{db_schema}." if db_schema and db_schema != default else ""
    return {prefix + name for name in tables}


def reject_groups(conn: Connection, table_names: set[str]) -> list[RejectGroup]:
    """The rejects of these (ledger-named) tables grouped by table, column and reason, the
    largest group first; each keeps the newest run it was seen in and a few sample rows."""
    groups: dict[tuple[str, str | None, str], RejectGroup] = {}
    query = sa.select(ledger.rejects).order_by(ledger.rejects.c.id)
    result = conn.execution_options(yield_per=1000).execute(query).mappings()
    for reject in result:
        table = str(reject["table_name"])
        if table not in table_names:
            continue
        column = _optional_str(reject["column_name"])
        reason = _QUOTED.sub("'…'", str(reject["reason"]))
        group = groups.setdefault((table, column, reason), RejectGroup(table, column, reason))
        group.count += 1
        group.last_run = str(reject["run_id"])
        if len(group.samples) < SAMPLES_PER_GROUP:
            group.samples.append(dict(reject))
    return sorted(groups.values(), key=lambda g: (-g.count, g.table, g.column or "", g.reason))


# ---------------------------------------------------------------------------- rendering


def _text(value: object) -> str:
    """Any value as HTML text: secrets masked, markup escaped."""
    return html.escape(mask_secrets("" if value is None else str(value)), quote=True)


def _badge(status: str) -> str:
    css = _STATUS_CLASS.get(status, "info")
    return f'<span class="badge {css}">{_text(status)}</span>'


def render(data: ReportData) -> str:
    """The HTML page for `data`."""
    generated = f"{data.generated_at:%Y-%m-%d %H:%M:%S %Z}".strip()
    schema = f" · schema {_text(data.db_schema)}" if data.db_schema else ""
    lake = f" · lake {_text(data.lake)}" if data.lake else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>turbodata report</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>turbodata report</h1>
<p class="meta">database {_text(data.database)}{schema}{lake} · generated {_text(generated)}
 · turbodata {_text(__version__)}</p>
</header>
{_overview(data)}
{_tables_section(data)}
{_chart_section(data.runs)}
{_rejects_section(data.rejects)}
{_runs_section(data.runs)}
</body>
</html>
"""


def _overview(data: ReportData) -> str:
    failed = sum(1 for t in data.tables if t.status == "failed")
    behind = sum(1 for t in data.tables if t.folders_behind or t.held_at)
    rejected = sum(g.count for g in data.rejects)
    last = _badge(data.runs[0].status) if data.runs else "none yet"
    cards = [
        ("Tables", str(len(data.tables)), ""),
        ("Failed tables", str(failed), "bad" if failed else ""),
        ("Behind the lake", str(behind) if data.lake else "not checked", "warn" if behind else ""),
        ("Rejects recorded", str(rejected), "warn" if rejected else ""),
    ]
    html_cards = "".join(
        f'<div class="card {css}"><div class="label">{label}</div>'
        f'<div class="value">{_text(value)}</div></div>'
        for label, value, css in cards
    )
    return (
        f'<section id="overview"><div class="cards">{html_cards}'
        f'<div class="card"><div class="label">Last run</div><div class="value">{last}</div>'
        "</div></div></section>"
    )


def _tables_section(data: ReportData) -> str:
    problems = _lake_problems(data.lake_problems)
    if not data.tables:
        empty = '<p class="empty">No table loaded yet.</p>'
        return _section("tables", "Tables", empty + problems)
    head = (
        "<tr><th>Table</th><th>Status</th><th>Last applied folder</th><th>Newest in lake</th>"
        '<th>Lag</th><th class="num">Rows</th><th class="num">Rejected</th>'
        "<th>Last error</th></tr>"
    )
    body = "".join(_table_row(line, data.lake is not None) for line in data.tables)
    note = (
        "Lag: the lake's closed folders holding the table that are newer than its last applied"
        " folder, and how much newer the newest is."
        if data.lake
        else "Lag not checked: give the lake (turbodata report --lake) to compare with it."
    )
    table = (
        f'<div class="scroll"><table id="tables-table"><thead>{head}</thead>'
        f"<tbody>{body}</tbody></table></div>"
    )
    return _section("tables", "Tables", f'{table}{problems}<p class="note">{note}</p>')


def _lake_problems(problems: list[str]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{_text(problem)}</li>" for problem in problems)
    return f'<div id="lake-problems" class="error"><p>In the lake:</p><ul>{items}</ul></div>'


def _table_row(line: TableLine, lake_read: bool) -> str:
    if line.rows is not None:
        rows = f"{line.rows:,}"
    else:  # a table the ledger knows but the database lacks is worth a word
        rows = "—" if line.status == "not loaded yet" else "missing"
    cells = [
        f'<td class="name">{_text(line.name)}</td>',
        f"<td>{_badge(line.status)}</td>",
        f'<td class="folder">{_text(line.last_applied or "—")}</td>',
        f'<td class="folder">{_text(line.newest or "—")}</td>',
        f"<td>{_lag_cell(line, lake_read)}</td>",
        f'<td class="num">{_text(rows)}</td>',
        f'<td class="num">{line.rejected:,}</td>',
        f'<td class="error">{_text(line.last_error or "")}</td>',
    ]
    return f"<tr>{''.join(cells)}</tr>"


def _lag_cell(line: TableLine, lake_read: bool) -> str:
    if lake_read and line.held_at:
        behind = f"{line.folders_behind} folder(s) behind, " if line.folders_behind else ""
        held = f"{behind}held at {line.held_at}: it and every later folder wait (see the lake)"
        return f'<span class="badge warn">{_text(held)}</span>'
    if not lake_read or line.folders_behind is None:
        return f'<span class="muted">{_text(line.lag_note)}</span>'
    if line.folders_behind == 0:
        return _badge("up to date")
    folders = f"{line.folders_behind} folder{'s' if line.folders_behind != 1 else ''} behind"
    lag = f", {_duration(line.lag)}" if line.lag is not None else ""
    return f'<span class="badge warn">{_text(folders + lag)}</span>'


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min"]
    shown = [p for p in parts if p]
    return " ".join(shown[:2]) if days or hours else shown[-1]


# the chart's geometry, in SVG user units (pixels at 100 % zoom)
_PLOT_HEIGHT = 160
_SLOT = 56  # horizontal space per run
_BAR = 26
_LEFT, _TOP, _BOTTOM = 56, 12, 40


def _chart_section(runs: list[RunLine]) -> str:
    if not runs:
        return _section("chart", "Rows per run", '<p class="empty">No run yet.</p>')
    shown = list(reversed(runs))  # oldest left
    top = max((r.rows_written + r.rows_rejected for r in shown), default=0)
    width = _LEFT + _SLOT * len(shown) + 12
    height = _TOP + _PLOT_HEIGHT + _BOTTOM
    base = _TOP + _PLOT_HEIGHT
    bars = "".join(_bar_group(i, run, top, base) for i, run in enumerate(shown))
    axis = (
        f'<line class="axis" x1="{_LEFT - 4}" y1="{base}" x2="{width - 8}" y2="{base}"/>'
        f'<text class="tick" x="{_LEFT - 8}" y="{base + 4}" text-anchor="end">0</text>'
        f'<text class="tick" x="{_LEFT - 8}" y="{_TOP + 8}" text-anchor="end">{top:,}</text>'
    )
    svg = (
        f'<svg id="rows-chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>Rows written and rejected in the last {len(shown)} runs</title>"
        f"{axis}{bars}</svg>"
    )
    legend = (
        '<p class="legend"><span class="swatch rows"></span>rows written (inserted + updated'
        ' + deleted) <span class="swatch rejected"></span>rows rejected · oldest run left</p>'
    )
    return _section("chart", "Rows per run", svg + legend)


def _bar_group(index: int, run: RunLine, top: int, base: int) -> str:
    x = _LEFT + index * _SLOT + (_SLOT - _BAR) / 2
    written = _scaled(run.rows_written, top)
    rejected = _scaled(run.rows_rejected, top)
    tip = _text(
        f"{run.run_id} ({run.status}): {run.rows_written:,} written, {run.rows_rejected:,} rejected"
    )
    day, time = _day_and_time(run.started_at)
    middle = f"{x + _BAR / 2:.1f}"
    return (
        f'<g class="run" data-run="{_text(run.run_id)}"><title>{tip}</title>'
        f'<rect class="bar rows" x="{x:.1f}" y="{base - written:.2f}" width="{_BAR}" '
        f'height="{written:.2f}" data-value="{run.rows_written}"/>'
        f'<rect class="bar rejected" x="{x:.1f}" y="{base - written - rejected:.2f}" '
        f'width="{_BAR}" height="{rejected:.2f}" data-value="{run.rows_rejected}"/>'
        f'<text class="tick" x="{middle}" y="{base + 14}" text-anchor="middle">{_text(time)}'
        f'<tspan x="{middle}" dy="12">{_text(day)}</tspan></text></g>'
    )


def _scaled(value: int, top: int) -> float:
    return _PLOT_HEIGHT * value / top if top else 0.0


def _day_and_time(moment: datetime | str) -> tuple[str, str]:
    """A run's start for the chart's axis: ("12-04", "16:39")."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment[:10], ""
    return f"{moment:%m-%d}", f"{moment:%H:%M}"


def _rejects_section(groups: list[RejectGroup]) -> str:
    if not groups:
        return _section("rejects", "Rejects by reason", '<p class="empty">No rejected row.</p>')
    blocks = "".join(_reject_group(group) for group in groups)
    note = "All rows: <code>turbodata rejects --db … --run RUN_ID</code>."
    return _section("rejects", "Rejects by reason", f'{blocks}<p class="note">{note}</p>')


def _reject_group(group: RejectGroup) -> str:
    column = f", column {_text(group.column)}" if group.column else ""
    samples = "".join(
        f'<tr><td class="mono">{_text(s["file"])}</td><td class="num">{_text(s["row_number"])}'
        f'</td><td>{_text(s["reason"])}</td><td class="raw">'
        f"<code>{_text(_shorten(str(s['raw_text'] or '')))}</code></td></tr>"
        for s in group.samples
    )
    return (
        f'<div class="reject-group"><h3><span class="count">{group.count:,}</span> '
        f'<span class="reason">{_text(group.reason)}</span></h3>'
        f'<p class="where">table <span class="name">{_text(group.table)}</span>{column}'
        f' · last seen in run <span class="mono">{_text(group.last_run)}</span></p>'
        '<table class="samples"><thead><tr><th>File</th><th class="num">Row</th><th>Reason</th>'
        f"<th>Row as read</th></tr></thead><tbody>{samples}</tbody></table></div>"
    )


def _shorten(text: str) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= RAW_TEXT_SHOWN else text[:RAW_TEXT_SHOWN] + "…"


def _runs_section(runs: list[RunLine]) -> str:
    if not runs:
        return _section("runs", "Last runs", '<p class="empty">No run yet.</p>')
    head = (
        '<tr><th>Run</th><th>Started</th><th class="num">Seconds</th><th>Status</th>'
        '<th class="num">Rows read/s</th><th class="num">Rows written</th>'
        '<th class="num">Rejected</th><th>Problems</th></tr>'
    )
    body = "".join(_run_row(run) for run in runs)
    return _section(
        "runs",
        "Last runs",
        f'<table id="runs-table"><thead>{head}</thead><tbody>{body}</tbody></table>',
    )


def _run_row(run: RunLine) -> str:
    failed = [f"table {name} failed" for name in run.tables_failed]
    problems = "".join(f"<li>{_text(p)}</li>" for p in [*failed, *run.problems][:5])
    seconds = f"{run.seconds:,.1f}" if run.seconds is not None else "—"
    rate = f"{run.rows_read / run.seconds:,.0f}" if run.seconds and run.rows_read else "—"
    started = run.started_at if isinstance(run.started_at, str) else f"{run.started_at:%F %T}"
    return (
        f'<tr><td class="mono">{_text(run.run_id)}</td><td>{_text(started)}</td>'
        f'<td class="num">{seconds}</td><td>{_badge(run.status)}</td><td class="num">{rate}</td>'
        f'<td class="num">{run.rows_written:,}</td><td class="num">{run.rows_rejected:,}</td>'
        f'<td class="error"><ul>{problems}</ul></td></tr>'
    )


def _section(anchor: str, title: str, content: str) -> str:
    return f'<section id="{anchor}"><h2>{title}</h2>{content}</section>'


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2430;
background:#f6f7f9}
h1{margin:0 0 4px;font-size:22px}h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:0}
.meta,.note,.where,.legend{color:#5b6472;font-size:12.5px}
section{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:14px 16px;
margin:14px 0}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #dde1e7;border-radius:6px;
padding:8px 14px;min-width:120px}.card .label{font-size:12px;color:#5b6472}
.card .value{font-size:20px;font-weight:600}.card.bad .value{color:#b42318}
.card.warn .value{color:#a15c07}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;
border-bottom:1px solid #eceef2;vertical-align:top}th{font-size:12px;color:#5b6472}
.folder{white-space:nowrap}.scroll{overflow-x:auto}
#tables-table .name{max-width:260px;overflow-wrap:anywhere}
.num{text-align:right;font-variant-numeric:tabular-nums}.mono,code{font-family:ui-monospace,
Consolas,monospace;font-size:12px}.name{font-weight:600}.error{color:#b42318;max-width:360px}
.error ul{margin:0;padding-left:16px}.muted,.empty{color:#8a93a1}
.badge{display:inline-block;white-space:nowrap;padding:1px 8px;border-radius:10px;font-size:12px;
background:#e8ecf2}
.badge.ok{background:#dcf5e3;color:#146c2e}.badge.warn{background:#fdf0d5;color:#8a4b00}
.badge.bad{background:#fde2e0;color:#b42318}.badge.info{background:#e3edfb;color:#1f4e9c}
.reject-group{border-top:1px solid #eceef2;padding:8px 0}.count{color:#a15c07}
.raw code{white-space:pre-wrap;word-break:break-all}
svg .bar.rows{fill:#3b6fd8}svg .bar.rejected{fill:#d9822b}svg .axis{stroke:#8a93a1}
svg .tick{font-size:10px;fill:#5b6472}
.swatch{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
.swatch.rows{background:#3b6fd8}.swatch.rejected{background:#d9822b}
"""

"""The Functions app's contract, kept free of `azure.functions` so it can be tested plainly.

`function_app.py` only turns HTTP/timer/Durable calls into calls of this module:

- `parse_migrate_request(body)` validates `{"tables": [...]?, "dry_run": bool?, "lake": str?}`
  and raises `RequestError` naming the offending field (HTTP 400);
- `run_migration(request)` loads settings from the environment, runs
  `turbodata.pipeline.migrate` and answers `(status, summary)`: 200 when everything loaded,
  500 otherwise — always a JSON object (Data Factory rejects anything else), with every
  registered secret masked;
- `table_status()` is `GET /api/status`: `turbodata status --json`'s objects for the
  configured database; `error_body(exc)` the 500 answer when it cannot be read;
- `list_tables`, `fan_out_plan`, `migrate_one_table`, `table_failed`, `failed_part` and
  `combine` are the Durable activities' and orchestrator's halves: one activity per table,
  at most `parallel_tables()` at once, a failed table retried (`table_attempts()`), the
  orchestrator merges their summaries. A lake where nothing is found is an error there too
  (`NothingToLoad`, naming what the lake's root holds), and a run of no table never succeeds.

`run_migration` answers 409 when the whole request was blocked: another run held the
database lease longer than `pipeline.DATABASE_LEASE_WAIT_SECONDS`, or held every requested
table longer than `TURBODATA_LEASE_WAIT_SECONDS`.

`lake` in a request must be an `abfs://`/`az://` URL: a Functions host has no lake folder,
and a caller holding a function key must not make the app read arbitrary local paths. Its
host must be an Azure storage endpoint of a configured account
(`Settings.check_requested_lake`): the app sends its storage token there.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from turbodata.secrets import mask_secrets, redact_data
from turbodata.settings import AZURE_LAKE_SCHEMES, WEB_SCHEMES, Settings

log = logging.getLogger("turbodata.functions")

MAX_PROBLEMS = 100  # per table and per run in a response; the ledger keeps every reject
# How many table activities a Durable run has running at once, unless TURBODATA_PARALLEL_TABLES
# says otherwise. Tables have leases of their own (turbodata.ledger.lease), so activities on
# different tables load together. 1 by default because the right number is the database's (its
# log write rate, DTU/vCore limits; SQLite has one writer): the deployment sets it
# (infra/main.bicep).
PARALLEL_TABLES = 1
PARALLEL_TABLES_ENV = "TURBODATA_PARALLEL_TABLES"
# Attempts of a table's activity (a failed or blocked table is tried again, the others not),
# unless TURBODATA_TABLE_ATTEMPTS says otherwise; the first retry after TABLE_RETRY_SECONDS.
TABLE_ATTEMPTS = 1
TABLE_ATTEMPTS_ENV = "TURBODATA_TABLE_ATTEMPTS"
TABLE_RETRY_SECONDS = 60
FIELDS = ("tables", "dry_run", "lake", "rejects_since")
CLOCK_SKEW = timedelta(minutes=5)  # how far a caller's clock may run ahead of this one's
MAX_BODY_BYTES = 64 * 1024  # a request names tables and a lake: far below this
MAX_DEPTH = 8  # the request is 2 levels deep; the JSON parser recurses once per level
# strings (skipped whole, escapes included) and the brackets outside them
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class RequestError(ValueError):
    """A request body the API does not accept (HTTP 400)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        return {"ok": False, "status": "invalid_request", "field": self.field, "error": str(self)}


class MigrationFailed(RuntimeError):
    """A run that did not load everything (fails timer invocations and orchestrations)."""

    def __init__(self, summary: Mapping[str, Any]) -> None:
        tables = summary.get("tables") or {}
        bad = [n for n, t in tables.items() if _not_clean(t)]
        details = [f"tables not loaded cleanly: {', '.join(bad)}"] if bad else []
        errors = [f"{n}: {t['error']}" for n, t in tables.items() if t.get("error")]
        # the real error first; else the lines of the tables that are not clean (rows an
        # earlier attempt rejected say so only there: found by review)
        lines = [p for n in bad for p in tables[n].get("problems") or []]
        details += [*errors, *(summary.get("problems") or []), *lines][:3]
        detail = "; ".join(details) or summary.get("error") or "see the summary"
        super().__init__(f"migration {summary.get('status', 'failed')}: {detail}")
        self.summary = summary


def _not_clean(table: Mapping[str, Any]) -> bool:
    return bool(
        table.get("status") == "failed"
        or table.get("rows_rejected")
        or table.get("rejected_by_earlier_attempts")
    )


class NothingToLoad(RuntimeError):
    """A lake where a run finds no table: `problems` are the lines `pipeline.migrate` reports
    for it (what the lake's root holds, or why its metadata could not be read). Fails
    `GET /api/tables` (500) and a Durable run, as the synchronous run fails."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = [mask_secrets(p) for p in problems] or ["nothing to load: no table found"]
        super().__init__("; ".join(self.problems[:3]))


@dataclass(frozen=True)
class MigrateRequest:
    tables: tuple[str, ...] | None = None  # None: the configured list, else every table
    dry_run: bool = False
    lake: str | None = None  # None: TURBODATA_LAKE
    # ISO 8601 with its offset: a retry's, since when earlier attempts' rejects count
    rejects_since: str | None = None

    def to_dict(self) -> dict[str, Any]:
        tables = list(self.tables) if self.tables is not None else None
        data = {"tables": tables, "dry_run": self.dry_run, "lake": self.lake}
        return data | ({"rejects_since": self.rejects_since} if self.rejects_since else {})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> MigrateRequest:
        """A request from an already validated dict (Durable inputs), validated again."""
        return parse_migrate_request(json.dumps(dict(data or {})).encode())


def parse_migrate_request(body: bytes | str | None) -> MigrateRequest:
    """The request in an HTTP body; an empty body means all defaults.

    Every body that is not a small JSON object of known fields is a `RequestError` (HTTP 400):
    over `MAX_BODY_BYTES`, not UTF-8, nested deeper than `MAX_DEPTH`, a key given twice (JSON
    lets the last one win silently; a caller sending `dry_run` twice cannot know which), or
    `NaN`/`Infinity`, which are not JSON.
    """
    data = _json_object(body)
    if data is None:
        return MigrateRequest()
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise RequestError(unknown[0], f"unknown field (accepted: {', '.join(FIELDS)})")
    return MigrateRequest(
        tables=_tables(data.get("tables")),
        dry_run=_dry_run(data.get("dry_run", False)),
        lake=_lake(data.get("lake")),
        rejects_since=_moment(data.get("rejects_since")),
    )


def _json_object(body: bytes | str | None) -> dict[str, Any] | None:
    """The body's JSON object, None for an empty body; a `RequestError` for anything else."""
    raw = body.encode() if isinstance(body, str) else (body or b"")
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(None, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(None, f"the body is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        return None
    if _nesting_depth(text) > MAX_DEPTH:
        raise RequestError(None, f"the body is nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise RequestError(None, f"the body is not valid JSON ({exc.msg} at {exc.pos})") from None
    except RecursionError:  # the depth check counts brackets; this is only a safety net
        raise RequestError(None, "the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise RequestError(None, "the body must be a JSON object")
    return data


def _nesting_depth(text: str) -> int:
    """The deepest nesting of `[`/`{` outside strings (before the parser recurses into it)."""
    depth = deepest = 0
    for token in _STRUCTURE.findall(text):
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise RequestError(key, "given more than once")
        data[key] = value
    return data


def _no_constant(name: str) -> Any:
    raise RequestError(None, f"the body is not valid JSON ({name} is not a JSON value)")


def _tables(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise RequestError("tables", "must be a list of table names, or null for all tables")
    if not value:
        raise RequestError("tables", "must name at least one table; omit it for all tables")
    if not all(isinstance(t, str) and t.strip() for t in value):
        raise RequestError("tables", "every entry must be a non-empty string")
    return tuple(dict.fromkeys(t.strip() for t in value))


def _dry_run(value: Any) -> bool:
    if not isinstance(value, bool):
        raise RequestError("dry_run", "must be true or false")
    return value


def _moment(value: Any) -> str | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise RequestError("rejects_since", "must be an ISO 8601 time with its offset")
    if moment > datetime.now(UTC) + CLOCK_SKEW:  # a retry would not count the rejects of
        # the attempts before it, and succeed over them (found by review)
        raise RequestError("rejects_since", f"{value} is in the future")
    return value


def _lake(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.lower().startswith(AZURE_LAKE_SCHEMES + WEB_SCHEMES):
        raise RequestError("lake", "must be an abfs://, abfss:// or az:// URL")
    from turbodata.lake.azure import AzureLakeError, AzureLocation

    try:
        AzureLocation.parse(value)
        load_settings().check_requested_lake(value)
    except AzureLakeError as exc:
        raise RequestError("lake", str(exc)) from None
    return value


# ------------------------------------------------------------------------------------------
# Running


def load_settings() -> Settings:
    """Settings for one invocation (tests replace this)."""
    return Settings.from_env()


def run_migration(request: MigrateRequest) -> tuple[int, dict[str, Any]]:
    """Run one migration: (HTTP status, JSON-ready summary with secrets masked)."""
    from turbodata import pipeline
    from turbodata.load.options import LoadOptions
    from turbodata.metadata.override_file import load_overrides
    from turbodata.metadata.overrides import Overrides

    engine = None
    try:
        settings = load_settings()
        lake = settings.open_lake(request.lake)
        engine = settings.create_engine()
        tables = request.tables or settings.tables or None
        since = datetime.fromisoformat(request.rejects_since) if request.rejects_since else None
        types = load_overrides(settings.types_file) if settings.types_file else Overrides()
        summary = pipeline.migrate(
            lake,
            engine,
            tables=tables,
            dry_run=request.dry_run,
            rejects_since=since,
            # a Function is billed by its memory: freed Arrow pages returned at once
            options=LoadOptions(
                overrides=types, soft_delete=settings.soft_deletes, lean_arrow_pool=True
            ),
        )
        body = _bounded(summary.to_dict())
    except Exception as exc:
        log.exception("migration could not run")
        body = error_summary(exc, request.tables or ())
    finally:
        if engine is not None:
            engine.dispose()
    body = redact_data(body)
    return _http_status(body), body


def _http_status(body: Mapping[str, Any]) -> int:
    """200 all loaded; 409 nothing done because other runs held what it needed; else 500."""
    if body.get("ok"):
        return 200
    return 409 if body.get("status") == "blocked" else 500


def table_status() -> list[dict[str, Any]]:
    """Per loaded table, what `turbodata status --json` prints (`pipeline.status`), for the
    database the app's settings configure; masked, datetimes as `status --json` writes them."""
    from turbodata import pipeline

    engine = load_settings().create_engine()
    try:
        rows = pipeline.status(engine)
    finally:
        engine.dispose()
    return [redact_data(json.loads(json.dumps(row, default=str))) for row in rows]


def error_body(exc: BaseException) -> dict[str, Any]:
    """The JSON object answering a read that failed: `ok` false and one masked line."""
    return {"ok": False, "error": error_line(exc)}


def error_line(exc: BaseException) -> str:
    """The error as one masked line led by its type, with its cause where it has no text
    of its own (a driver's bare `TimeoutError` from a refused connection, `one_line`)."""
    from turbodata.errors import one_line

    line, name = one_line(exc), type(exc).__name__
    return mask_secrets(line if line.startswith(name) else f"{name}: {line}")


def error_summary(exc: BaseException, tables: Sequence[str] = ()) -> dict[str, Any]:
    """A summary-shaped body for a run that could not start (bad settings, vault, lake, a
    lake where nothing is found: its problem lines as the run's)."""
    message = error_line(exc)
    return {
        "run_id": None,
        "status": "failed",
        "ok": False,
        "error": message,
        "tables": {t: _failed_table(message) for t in tables},
        "problems": list(exc.problems) if isinstance(exc, NothingToLoad) else [message],
    }


def _failed_table(message: str) -> dict[str, Any]:
    return {
        "status": "failed",
        "rows_inserted": 0,
        "rows_rejected": 0,
        "files_read": 0,
        "columns_created": 0,
        "seconds": 0.0,
        "error": message,
    }


def _bounded(summary: dict[str, Any]) -> dict[str, Any]:
    """At most MAX_PROBLEMS problem (and warning) lines per list (a response must stay
    small)."""
    lists = [summary, *summary.get("tables", {}).values()]
    for holder in lists:
        for name in ("problems", "warnings"):
            lines = holder.get(name) or []
            if len(lines) > MAX_PROBLEMS:
                holder[f"{name}_omitted"] = len(lines) - MAX_PROBLEMS
                holder[name] = lines[:MAX_PROBLEMS]
    return summary


def run_scheduled(past_due: bool) -> dict[str, Any]:
    """The timer's run: log past-due schedules and the summary; raise when not all loaded."""
    if past_due:
        log.warning("scheduled migration is past due (a run was missed or late); running now")
    status, body = run_migration(MigrateRequest())
    line = json.dumps(body, default=str)
    if status == 200:
        log.info("scheduled migration %s: %s", body.get("status"), line)
        return body
    log.error("scheduled migration %s: %s", body.get("status"), line)
    raise MigrationFailed(body)


# ------------------------------------------------------------------------------------------
# Durable Functions halves


def list_tables(request: MigrateRequest) -> list[str]:
    """The tables a Durable run fans out over: the request's, the configured, or all.

    A lake where nothing is found (no table in its root, an unreadable model.json) raises
    `NothingToLoad` with the lines the synchronous run fails with, not an empty list: a run
    over no table would load nothing and succeed. (Named tables are checked by their runs.)
    All: `pipeline.tables_to_run`, which asks the database's ledger."""
    if request.tables:
        return list(request.tables)
    settings = load_settings()
    if settings.tables:
        return list(settings.tables)
    from turbodata import pipeline, preflight
    from turbodata.lake import layouts

    lake = settings.open_lake(request.lake)
    plan = layouts.discover(lake)
    engine = settings.create_engine()
    try:
        tables = pipeline.tables_to_run(engine, plan)
    finally:
        engine.dispose()
    if not tables:
        raise NothingToLoad(preflight.why_nothing_found(lake, plan))
    return tables


def parallel_tables() -> int:
    """How many table activities a Durable run has running at once."""
    return _whole_number(PARALLEL_TABLES_ENV, PARALLEL_TABLES)


def table_attempts() -> int:
    """How often a Durable run tries a table before it reports it failed."""
    return _whole_number(TABLE_ATTEMPTS_ENV, TABLE_ATTEMPTS)


def _whole_number(variable: str, default: int) -> int:
    """A setting of 1 or more; anything else is an error, never silently the default."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return max(default, 1)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{variable}={text!r}: give a whole number, 1 or more")
    return int(text)


def fan_out_plan(request: MigrateRequest) -> dict[str, Any]:
    """The `list_tables` activity's answer: the tables, and how to fan out over them. Read
    in an activity, not in the orchestrator: its history then holds them, so a setting
    changed while a run is in flight cannot change the run's replay."""
    return {
        "tables": list_tables(request),
        "parallel_tables": parallel_tables(),
        "table_attempts": table_attempts(),
        "retry_seconds": TABLE_RETRY_SECONDS,
    }


def table_groups(tables: Sequence[str], size: int | None = None) -> list[list[str]]:
    """The tables in groups of `size` (default `parallel_tables()`), in order.

    Design choice: the orchestrator runs groups, not a sliding window (task_any over the
    running tables): the Durable Python SDK lists a retried activity's action again in every
    new task_any/task_all built over it, which a host replaying schema V1 would schedule again.
    A group waits for its slowest table; the next group then starts."""
    size = size or parallel_tables()
    return [list(tables[i : i + size]) for i in range(0, len(tables), size)]


class TableFailed(RuntimeError):
    """A table's activity that did not load its table (failed, or blocked by another run):
    raised so that the orchestrator's retry policy runs it again."""


def migrate_one_table(request: MigrateRequest, table: str) -> dict[str, Any]:
    """One table's migration summary (never raises)."""
    one = dataclasses.replace(request, tables=(table,))
    return run_migration(one)[1]


def table_failed(summary: Mapping[str, Any], table: str) -> bool:
    """Whether a table's run is worth another attempt: it was blocked, the table failed, or
    the run failed before it got to the table. Rows rejected are the data's (another attempt
    finds them applied, and counts them: `rejects_since`); a problem of the run's own (a
    folder's unreadable model.json) fails the run, not a table that loaded."""
    if summary.get("status") == "blocked":
        return True
    result = (summary.get("tables") or {}).get(table)
    if result is None:
        return summary.get("status") == "failed"
    return result.get("status") == "failed"


def failure_line(summary: Mapping[str, Any]) -> str:
    """A failed table's summary as one line for TableFailed (masked, bounded)."""
    return mask_secrets(str(MigrationFailed(summary)))[:2000]


def failed_part(table: str, reason: str, attempts: int) -> dict[str, Any]:
    """The per-table summary of a table whose every attempt failed (its activity's error)."""
    first_line = reason.strip().splitlines()[0] if reason.strip() else "activity failed"
    message = mask_secrets(f"{first_line} (after {attempts} attempt{'s' * (attempts > 1)})")
    return {
        "run_id": None,
        "status": "failed",
        "ok": False,
        "tables": {table: _failed_table(message)},
        "problems": [f"{table}: {message}"],
    }


def combine(summaries: Sequence[Mapping[str, Any]], run_id: str) -> dict[str, Any]:
    """One summary from the per-table summaries of a Durable run (deterministic)."""
    tables: dict[str, Any] = {}
    problems: list[str] = []
    warnings: list[str] = []
    for part in summaries:
        tables.update(part.get("tables") or {})
        problems += [p for p in part.get("problems") or [] if p not in problems]
        warnings += [w for w in part.get("warnings") or [] if w not in warnings]
    if not summaries:  # loaded nothing: never `succeeded` (list_tables raises before this)
        problems.append("nothing to load: the run had no table")
    ok = bool(summaries) and all(part.get("ok") for part in summaries)
    failed = any(t.get("status") == "failed" for t in tables.values())
    started = [p["started_at"] for p in summaries if p.get("started_at")]
    finished = [p["finished_at"] for p in summaries if p.get("finished_at")]
    # the first part of a run that started (a failed_part has no lake, database, dry_run)
    first = next((p for p in summaries if p.get("run_id")), summaries[0] if summaries else {})
    combined = {
        "run_id": run_id,
        "status": "succeeded"
        if ok
        else ("failed" if failed or problems else "completed_with_rejects"),
        "ok": ok,
        "dry_run": bool(first.get("dry_run", False)),
        "lake": first.get("lake"),
        "database": first.get("database"),
        "started_at": min(started) if started else None,
        "finished_at": max(finished) if finished else None,
        "seconds": _seconds(min(started), max(finished)) if started and finished else 0.0,
        "tables": tables,
        "problems": problems,
        "warnings": warnings,
        "run_ids": [p.get("run_id") for p in summaries if p.get("run_id")],
    }
    return _bounded(combined)  # capped as a run's own answer is, saying how many were left out


# Durable keeps a custom status of at most 16 KB of JSON in UTF-16: a larger one fails the
# orchestration, or (older extensions) leaves it Running for good
MAX_STATUS_BYTES = 15_000
STATUS_ERROR_CHARS = 400  # of a table's error in the custom status (the output has it whole)
_CLEAN = ("loaded", "unchanged", "planned")


def compact(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary as a Durable run's custom status: without problem lines and DDL, each
    table's status, counts and error (cut), and a count of the tables per status. Where that
    is over MAX_STATUS_BYTES, the run ids are left out, then tables, those that loaded
    cleanly first (`tables_omitted` says how many). Before, every table was in it: a run of
    about 50 tables went over the limit (found by review)."""
    keep = ("status", "rows_inserted", "rows_rejected", "rejected_by_earlier_attempts")
    every = summary.get("tables") or {}
    tables = {name: _status_entry(table, keep) for name, table in every.items()}
    head = {k: v for k, v in summary.items() if k not in ("tables", "problems", "warnings")}
    head["problem_count"] = len(summary.get("problems") or [])
    head["tables_by_status"] = dict(Counter(str(t.get("status")) for t in every.values()))
    status = {**head, "tables": tables}
    size = _utf16_bytes(status)
    if size > MAX_STATUS_BYTES:
        size -= _utf16_bytes(status.pop("run_ids", None))
    # the clean tables last, so that they go first; sizes counted per table (measured once)
    order = sorted(tables, key=lambda name: _is_clean(every[name]))
    while order and size > MAX_STATUS_BYTES:
        name = order.pop()
        size -= _utf16_bytes({name: tables.pop(name)})
        status["tables_omitted"] = len(every) - len(tables)
    while order and _utf16_bytes(status) > MAX_STATUS_BYTES:  # what the counts left out
        del tables[order.pop()]
        status["tables_omitted"] = len(every) - len(tables)
    return status


def _status_entry(table: Mapping[str, Any], keep: Sequence[str]) -> dict[str, Any]:
    entry = {k: table.get(k) for k in keep}
    error = table.get("error")
    entry["error"] = error[:STATUS_ERROR_CHARS] if isinstance(error, str) else error
    return entry


def _is_clean(table: Mapping[str, Any]) -> bool:
    rejected = table.get("rows_rejected") or table.get("rejected_by_earlier_attempts")
    return table.get("status") in _CLEAN and not rejected


def _utf16_bytes(value: Any) -> int:
    return len(json.dumps(value, default=str).encode("utf-16-le"))


def _seconds(start: str, end: str) -> float:
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(delta.total_seconds(), 3)

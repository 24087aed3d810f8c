"""`turbodata migrate|plan|status|runs|rejects|report`: the Python API's functions, from a shell.

Exit status: 0 when everything loaded, 1 when a table failed, a row was rejected, nothing was
found to load, or the database or lake could not be reached (one line per problem on stderr),
2 for bad usage (arguments, settings, a database URL or file that does not exist), 3 when
another run is loading the same database, 130 when stopped by Ctrl-C (143: SIGTERM), 141
when stdout was closed early (`| head`). Errors are one line; `-v` adds the traceback.
`--log-format json` makes stderr JSON lines (log records, events and error lines alike).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

from turbodata import __version__
from turbodata.ops import logs
from turbodata.ops.gc_pacing import fewer_full_collections
from turbodata.secrets import (
    install_log_redaction,
    mask_secrets,
    redact_data,
    register_embedded_secrets,
)
from turbodata.settings import Settings, warn_unknown_settings
from turbodata.summary import RunSummary, TableResult

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from turbodata.lake.storage import Lake
    from turbodata.metadata.overrides import Overrides
    from turbodata.ops.report import RunLine
    from turbodata.pipeline import RunInterrupted

# Design: the modules that load SQLAlchemy, pyarrow and the Azure SDK are imported inside the
# commands that use them, so `--version`, `--help` and a mistyped argument answer at once.
# Hence these two mirror pipeline.DEFAULT_JOBS and ops.report.RUNS_SHOWN (a test holds them
# equal): the parser needs them for every command.
DEFAULT_JOBS = 2
RUNS_SHOWN = 20
MAX_PROBLEM_LINES = 50  # per table, on stderr; all of them are in _turbodata_rejects
MAX_PROGRESS_TABLES = 4  # tables on the progress line (the latest to report)
EXIT_SIGINT, EXIT_SIGTERM, EXIT_SIGPIPE = 130, 143, 141

log = logging.getLogger("turbodata")

# A mistake the person running the command can fix in the command or the settings: exit 2.
# (module, class): a class counts once its module is loaded (it cannot be raised before).
USAGE_ERRORS = (
    ("turbodata.settings", "SettingsError"),
    ("turbodata.secrets", "SecretError"),
    ("turbodata.metadata.overrides", "OverrideError"),
    ("turbodata.database_url", "DatabaseUrlError"),
    ("turbodata.pipeline", "DatabaseNotFound"),
    ("argparse", "ArgumentTypeError"),
)
# The database or the lake cannot be reached or read (the lake's own errors are ValueErrors or
# the Azure SDK's AzureError): exit 1. Design: the Azure SDK is imported only by runs that use
# Azure (an abfs:// lake, Key Vault), and SQLAlchemy only by commands that use a database.
RUNTIME_ERRORS = (
    ("turbodata.pipeline", "RunNotStarted"),
    ("sqlalchemy.exc", "DBAPIError"),
    ("builtins", "OSError"),
    ("builtins", "ValueError"),
    ("azure.core.exceptions", "AzureError"),
)
RUN_INTERRUPTED = (("turbodata.pipeline", "RunInterrupted"),)  # before KeyboardInterrupt


def _loaded(classes: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    """The classes whose modules are loaded (the others cannot have been raised)."""
    return tuple(
        getattr(sys.modules[module], name) for module, name in classes if module in sys.modules
    )


def one_line(error: BaseException | None) -> str:
    """One line for the person running the command: the database's own message when there
    is one (`loader.one_line`, once SQLAlchemy is loaded: only then can a database fail)."""
    if "sqlalchemy" in sys.modules:
        from turbodata.errors import one_line as database_line

        return database_line(error)
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the batch in flight rolls back, the run is recorded."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    install_log_redaction()
    global _logs
    _logs = logs.configure(args.log_format, args.verbose)
    _configure_telemetry()
    try:
        with _signals_as_interrupts(), fewer_full_collections():
            return _run(args.command, args)
    finally:
        _logs.close()
        _logs = None


def process_main() -> int:
    """`main` as a process's entry point (`turbodata`, `python -m turbodata`). Design: what
    the run built is left out of the garbage collections Python runs while it shuts down
    (`gc.freeze`): they walked every object left, up to a second after the 300-table lake
    (bench/README.md), to free memory the process was about to give back anyway. Exit
    handlers (telemetry's flush) still run."""
    code = main()
    gc.freeze()
    return code


def _configure_telemetry() -> None:
    """Application Insights when its connection string is set. Design choice: a failure to set
    it up is shown as an error but does not stop the command; the data still loads, and the
    ledger, `turbodata status` and the logs on stderr still say what happened."""
    try:
        from turbodata.ops import telemetry

        telemetry.configure()
    except Exception as error:
        _stderr(logging.ERROR, f"error: telemetry not sent: {one_line(error)}")


# the logging `main` set up: with JSON logs, the CLI's own stderr lines are log records too
_logs: logs.LogSetup | None = None


def _run(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """The command's exit status; every error a person can act on as one line on stderr."""
    try:
        code = command(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
        return code
    except _loaded(RUN_INTERRUPTED) as stop:
        _error(_interrupted_line(stop), args.verbose)
        return EXIT_SIGTERM if isinstance(stop.__cause__, _Terminated) else EXIT_SIGINT
    except KeyboardInterrupt as stop:
        _error("interrupted; `turbodata status` shows what is loaded", args.verbose)
        return EXIT_SIGTERM if isinstance(stop, _Terminated) else EXIT_SIGINT
    except BrokenPipeError:  # `turbodata status | head`: the reader has gone, so go quietly
        _silence_stdout()
        return EXIT_SIGPIPE
    except _loaded(USAGE_ERRORS) as error:
        _error(one_line(error), args.verbose)
        return 2
    except _loaded(RUNTIME_ERRORS) as error:
        _error(one_line(error), args.verbose)
        return 1


def _error(line: str, verbose: bool) -> None:
    if verbose:
        log.debug("details", exc_info=True)
    _stderr(logging.ERROR, f"error: {line}")


def _stderr(level: int, line: str) -> None:
    """A line for the person running the command: printed, or logged with JSON logs (so
    stderr stays one JSON object per line). Masked either way."""
    if _logs is not None and _logs.structured:
        log.log(level, "%s", mask_secrets(line.removeprefix("error: ")))
    else:
        print(mask_secrets(line), file=sys.stderr)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _interrupted_line(stop: RunInterrupted) -> str:
    committed = [
        f"{table} ({files} files, {rows:,} rows)" for table, (files, rows) in stop.committed.items()
    ]
    done = "committed " + ", ".join(committed) if committed else "nothing was committed"
    return (
        f"run {stop.summary.run_id} interrupted: {done}; what was not committed was rolled back."
        " Run the same command again to continue."
    )


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt even when the shell started us ignoring SIGINT (a
    background job), and SIGTERM raises `_Terminated`, so a stopped run is recorded."""
    saved = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated),
    }
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


def _raise_terminated(number: int, frame: FrameType | None) -> None:
    raise _Terminated()


HELP_FORMAT = argparse.RawDescriptionHelpFormatter
LOG_HELP = "stderr as text (default) or JSON lines, with one event per table and run"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turbodata", description=__doc__, formatter_class=HELP_FORMAT
    )
    parser.add_argument("--version", action="version", version=f"turbodata {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what is skipped, and error tracebacks"
    )
    parser.add_argument("--log-format", choices=logs.LOG_FORMATS, default="text", help=LOG_HELP)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    # -v and --log-format after the command too; SUPPRESS keeps one given before the command
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log what is skipped, and error tracebacks",
    )
    common.add_argument(
        "--log-format", choices=logs.LOG_FORMATS, default=argparse.SUPPRESS, help=LOG_HELP
    )

    def command(name: str, summary: str, example: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=f"example:\n  {example}",
            formatter_class=HELP_FORMAT,
            parents=[common],
        )

    run = command(
        "migrate",
        "Load the lake into the database (only what is new since the last run).",
        "turbodata migrate --lake examples/lake --db sqlite:///out/demo.sqlite",
    )
    _add_target_arguments(run)
    run.add_argument("--dry-run", action="store_true", help="plan and count rows, change nothing")
    run.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="TABLE=COL[,COL]",
        help="upsert TABLE by these columns (default: Id when the table has it)",
    )
    run.add_argument(
        "--soft-delete", action="store_true", help="keep deleted rows, with IsDelete set"
    )
    run.add_argument(
        "--reload",
        action="append",
        default=[],
        metavar="TABLE",
        help="load all of TABLE's files again, e.g. after its metadata was fixed (repeatable)",
    )
    run.add_argument(
        "--jobs",
        type=_positive,
        default=DEFAULT_JOBS,
        metavar="N",
        help=f"load up to N tables at once (default {DEFAULT_JOBS}; SQLite: always 1, it has"
        " one writer at a time)",
    )
    run.set_defaults(command=_migrate)

    plan = command(
        "plan",
        "Print the DDL and files a migrate would apply; changes nothing.",
        "turbodata plan --lake examples/lake --db sqlite:///out/demo.sqlite --table account",
    )
    _add_target_arguments(plan)
    plan.set_defaults(command=_plan)

    state = command(
        "status",
        "Per table: last applied folder, rows, rows rejected, last run.",
        "turbodata status --db sqlite:///out/demo.sqlite",
    )
    _add_database_arguments(state)
    state.add_argument("--schema", dest="db_schema", help="database schema of the tables")
    state.set_defaults(command=_status)

    runs = command(
        "runs",
        "Per run, newest first: its id, start, seconds, status and row counts.",
        "turbodata runs --db sqlite:///out/demo.sqlite --limit 5",
    )
    _add_database_arguments(runs)
    runs.add_argument(
        "--limit",
        type=_positive,
        default=RUNS_SHOWN,
        metavar="N",
        help=f"the last N runs (default: {RUNS_SHOWN})",
    )
    runs.set_defaults(command=_runs)

    rejects = command(
        "rejects",
        "List the rows that were not loaded, and why.",
        "turbodata rejects --db sqlite:///out/mini.sqlite --run 20250101T000000Z-0a1b2c3d",
    )
    _add_database_arguments(rejects)
    rejects.add_argument("--run", help="only this run id")
    rejects.set_defaults(command=_rejects)

    report = command(
        "report",
        "Write one static HTML page: tables and their lag, rows per run, rejects, last runs.",
        "turbodata report --db sqlite:///out/demo.sqlite --lake examples/lake --out report.html",
    )
    report.add_argument(
        "--db", help="SQLAlchemy URL of the database (default: the TURBODATA_* settings)"
    )
    report.add_argument("--out", required=True, metavar="FILE", help="HTML file to write")
    report.add_argument(
        "--lake", help="lake to measure each table's lag against (default: $TURBODATA_LAKE)"
    )
    report.add_argument("--schema", dest="db_schema", help="database schema of the tables")
    report.set_defaults(command=_report)
    return parser


def _add_database_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        help="SQLAlchemy URL of the target database (default: the TURBODATA_DATABASE_* /"
        " TURBODATA_SQL_* settings, as for migrate)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lake", help="lake folder, or abfs://container/path (default: $TURBODATA_LAKE)"
    )
    parser.add_argument(
        "--db",
        help="SQLAlchemy URL, e.g. sqlite:///out.sqlite (default: the TURBODATA_DATABASE_* /"
        " TURBODATA_SQL_* settings, secrets from Key Vault)",
    )
    parser.add_argument(
        "--table", action="append", dest="tables", metavar="NAME", help="only this table"
    )
    parser.add_argument("--schema", dest="db_schema", help="database schema for the tables")
    parser.add_argument(
        "--types", metavar="FILE", help="YAML/JSON file pinning column types (table → column)"
    )
    parser.add_argument(
        "--no-infer", action="store_true", help="never narrow weakly typed columns from data"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def migrate(*args: Any, **kwargs: Any) -> RunSummary:
    """`pipeline.migrate`, imported when a command runs it."""
    from turbodata.pipeline import migrate as run

    return run(*args, **kwargs)


def _overrides(path: str | None) -> Overrides:
    """The override file's types (YAML is read, and imported, only when there is one)."""
    from turbodata.metadata.overrides import Overrides

    if not path:
        return Overrides()
    from turbodata.metadata.override_file import load_overrides

    return load_overrides(path)


def _migrate(args: argparse.Namespace, dry_run: bool = False) -> int:
    from turbodata.load.options import LoadOptions

    structured = _logs is not None and _logs.structured
    progress = _Progress() if sys.stderr.isatty() and not (args.json or structured) else None
    try:
        overrides = _overrides(args.types)
        keys = _keys(getattr(args, "key", []))
    except (OSError, ValueError) as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    options = LoadOptions(
        db_schema=args.db_schema,
        keys=keys,
        soft_delete=getattr(args, "soft_delete", False),
        overrides=overrides,
        infer=not args.no_infer,
        lean_arrow_pool=True,  # freed Arrow pages go back to the system at once
    )
    lake, db = _target(args)
    summary = migrate(
        lake,
        db,
        tables=args.tables,
        dry_run=dry_run or args.dry_run,
        count_rows=not dry_run,
        progress=progress,
        options=options,
        reload=getattr(args, "reload", []),
        jobs=getattr(args, "jobs", 1),
    )
    if not isinstance(db, str):  # made from the settings here: closed here (see migrate)
        db.dispose()
    if progress:
        progress.done()
    if args.json:
        print(json.dumps(redact_data(summary.to_dict()), indent=2))
    else:
        _print_summary(summary)
    _print_problems(summary)
    if summary.blocked:
        return 3
    return 0 if summary.ok else 1


def _target(args: argparse.Namespace) -> tuple[Lake | str, Engine | str]:
    """The lake and database from the arguments, or from the environment's settings (Key
    Vault secrets, Entra sign-in, Azure storage) where an argument is missing or needs them."""
    register_embedded_secrets(args.db)  # a password typed into --db is masked in the logs
    lake_url = bool(args.lake) and "://" in args.lake  # opened with the Azure settings
    if args.lake and args.db and not lake_url:
        warn_unknown_settings(os.environ)  # what Settings.from_env warns of otherwise
        return args.lake, args.db
    settings = Settings.from_env()
    return settings.open_lake(args.lake), args.db or settings.create_engine()


def _keys(specs: list[str]) -> dict[str, list[str]]:
    keys = {}
    for spec in specs:
        table, _, columns = spec.partition("=")
        if not table or not columns:
            raise ValueError(f"--key wants TABLE=COLUMN[,COLUMN], not {spec!r}")
        keys[table] = columns.split(",")
    return keys


def _database(args: argparse.Namespace) -> Engine | str:
    """--db, else the database the TURBODATA_* settings configure (as `migrate` reads them)."""
    register_embedded_secrets(args.db)
    return args.db or Settings.from_env().create_engine()


def _status(args: argparse.Namespace) -> int:
    from turbodata.pipeline import status

    rows = status(_database(args), args.db_schema)
    if not rows:
        _stderr(logging.WARNING, "no table loaded into this database (schema) yet")
    if args.json:
        for row in rows:
            print(json.dumps(row, default=str))
        return 0
    header = ("table", "last applied", "rows", "rejected", "last run", "status", "last error")
    lines = [header] + [
        (
            str(r["table"]),
            str(r["last_applied"] or "-"),
            "-" if r["rows"] is None else f"{r['rows']:,}",
            f"{r['rejected']:,}",
            str(r["last_run"] or "-"),
            str(r["last_status"] or "-"),
            str(r["last_error"] or ""),
        )
        for r in rows
    ]
    _print_columns(lines, right_aligned={2, 3})
    return 0


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return number


def _runs(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from turbodata.ledger import records as ledger
    from turbodata.ops.report import recent_runs
    from turbodata.pipeline import connect_existing

    engine, _ = connect_existing(_database(args))
    with engine.connect() as conn:
        has_runs = sa.inspect(conn).has_table(ledger.runs.name)
        runs = recent_runs(conn, args.limit) if has_runs else []
    if not runs:
        _stderr(logging.WARNING, "no run recorded in this database yet")
        return 0
    if args.json:
        for run in runs:
            print(json.dumps(redact_data(_run_json(run)), default=str))
        return 0
    header = ("run", "started (UTC)", "seconds", "status", "read", "written", "rejected", "failed")
    lines = [header] + [
        (
            run.run_id,
            _moment(run.started_at),
            "-" if run.seconds is None else f"{run.seconds:.2f}",
            run.status,
            f"{run.rows_read:,}",
            f"{run.rows_written:,}",
            f"{run.rows_rejected:,}",
            ", ".join(run.tables_failed),
        )
        for run in runs
    ]
    _print_columns(lines, right_aligned={2, 4, 5, 6})
    return 0


def _run_json(run: RunLine) -> dict[str, object]:
    """A run's line for `runs --json`: the ledger's columns, the totals, the stored summary
    (written when a run ends; until then the process running it: its host and pid)."""
    return {
        "run_id": run.run_id,
        "started_at": _iso(run.started_at),
        "status": run.status,
        "seconds": run.seconds,
        "rows_read": run.rows_read,
        "rows_written": run.rows_written,
        "rows_rejected": run.rows_rejected,
        "tables_failed": run.tables_failed,
        "summary": run.summary or None,
    }


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _moment(value: object) -> str:
    """A start time in UTC (the ledger writes UTC; SQLite gives it back without a zone)."""
    if not isinstance(value, datetime):
        return str(value)
    utc = value.astimezone(UTC) if value.tzinfo else value
    return utc.strftime("%Y-%m-%d %H:%M:%S")


def _plan(args: argparse.Namespace) -> int:
    return _migrate(args, dry_run=True)


def _rejects(args: argparse.Namespace) -> int:
    from turbodata.ledger import records as ledger
    from turbodata.pipeline import connect_existing

    engine, _ = connect_existing(_database(args))
    with engine.connect() as conn:
        rows = ledger.list_rejects(conn, args.run) if _has_ledger(conn) else []
        if args.run and not rows and not ledger.run_exists(conn, args.run):
            _stderr(logging.WARNING, f"no run {args.run} in this database (see turbodata runs)")
            return 1
    for row in rows:
        if args.json:
            print(json.dumps(row, default=str))
        else:
            column = f", column {row['column_name']!r}" if row["column_name"] else ""
            print(
                f"{row['run_id']} {row['table_name']}: {row['file']}, row {row['row_number']}"
                f"{column}: {row['reason']}"
            )
    return 0


def _report(args: argparse.Namespace) -> int:
    from turbodata.ops.report import write_report

    lake = None
    if args.lake or os.environ.get("TURBODATA_LAKE"):
        lake = Settings.from_env().open_lake(args.lake)
    path = write_report(_database(args), args.out, args.db_schema, lake=lake)
    _stderr(logging.INFO, f"wrote {path}")
    return 0


def _has_ledger(conn: object) -> bool:
    import sqlalchemy as sa

    from turbodata.ledger import records as ledger

    return sa.inspect(conn).has_table(ledger.rejects.name)


def _print_summary(summary: RunSummary) -> None:
    if summary.tables:
        _print_tables(summary)
    print(f"run {summary.run_id}: {summary.status}")


def _print_tables(summary: RunSummary) -> None:
    header = (
        "table",
        "status",
        "inserted",
        "updated",
        "deleted",
        "rejected",
        "files",
        "columns",
        "seconds",
    )
    lines = [header] + [
        (
            name,
            t.status,
            f"{t.rows_inserted:,}",
            f"{t.rows_updated:,}",
            f"{t.rows_deleted:,}",
            f"{t.rows_rejected:,}",
            str(t.files_read),
            str(t.columns_created),
            f"{t.seconds:.2f}",
        )
        for name, t in summary.tables.items()
    ]
    _print_columns(lines, right_aligned=set(range(2, len(header))))
    for name, t in summary.tables.items():
        for statement in t.ddl if summary.dry_run else []:
            print(f"{name}: {statement}")


def _print_columns(lines: list[tuple[str, ...]], right_aligned: set[int]) -> None:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        cells = [
            cell.rjust(width) if i in right_aligned else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def _print_problems(summary: RunSummary) -> None:
    for problem in summary.problems:
        _stderr(logging.ERROR, f"error: {problem}")
    for table in summary.tables.values():
        # the table's own lines (why it failed, rows kept) always; its reject lines, which
        # start with their file's path, up to MAX_PROBLEM_LINES (found by review: the cap
        # once cut the error of a table with many rejects)
        own = [line for line in table.problems if line.startswith(f"{table.name}: ")]
        rejects = [line for line in table.problems if line not in own]
        for line in rejects[:MAX_PROBLEM_LINES]:
            _stderr(logging.ERROR, f"error: {line}")
        if (hidden := len(rejects) - MAX_PROBLEM_LINES) > 0:
            where = "--json lists them" if summary.dry_run else "see `turbodata rejects`"
            more = f"{hidden} more rejected row(s); {where}"  # a dry run records none
            _stderr(logging.ERROR, f"error: {table.name}: {more}")
        for line in own:
            _stderr(logging.ERROR, f"error: {line}")


class _Progress:
    """One self-overwriting line on a terminal: per table (with --jobs, the latest few to
    report, newest first), the files and rows read so far."""

    def __init__(self) -> None:
        self._tables: dict[str, str] = {}

    def __call__(self, result: TableResult) -> None:
        self._tables.pop(result.name, None)
        self._tables[result.name] = (
            f"{result.name}: {result.files_read} files, {result.rows_read:,} rows read"
        )
        while len(self._tables) > MAX_PROGRESS_TABLES:
            self._tables.pop(next(iter(self._tables)))
        line = " | ".join(reversed(self._tables.values()))
        width = shutil.get_terminal_size().columns - 1
        sys.stderr.write(f"\r{line[:width]}\033[K")
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(process_main())

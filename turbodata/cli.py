"""`turbodata migrate|plan|rejects`: the same functions as the Python API, from a shell.

Exit status: 0 when everything loaded, 1 when a table failed or a row was rejected (one line
per problem on stderr), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from turbodata import __version__, ledger
from turbodata.pipeline import connect, migrate
from turbodata.summary import RunSummary, TableResult

MAX_PROBLEM_LINES = 50  # per table, on stderr; all of them are in _turbodata_rejects


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return args.command(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="turbodata", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"turbodata {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is skipped")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("migrate", help="load the lake into the database")
    _add_target_arguments(run)
    run.add_argument("--dry-run", action="store_true", help="plan only, change nothing")
    run.set_defaults(command=_migrate)

    plan = commands.add_parser("plan", help="print the DDL and files a migrate would apply")
    _add_target_arguments(plan)
    plan.set_defaults(command=_plan)

    rejects = commands.add_parser("rejects", help="list rows that were not loaded, and why")
    rejects.add_argument("--db", required=True, help="SQLAlchemy URL of the target database")
    rejects.add_argument("--run", help="only this run id")
    rejects.add_argument("--json", action="store_true", help="one JSON object per line")
    rejects.set_defaults(command=_rejects)
    return parser


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lake", required=True, help="lake folder, or abfs://container/path")
    parser.add_argument("--db", required=True, help="SQLAlchemy URL, e.g. sqlite:///out.sqlite")
    parser.add_argument(
        "--table", action="append", dest="tables", metavar="NAME", help="only this table"
    )
    parser.add_argument("--schema", dest="db_schema", help="database schema for the tables")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def _migrate(args: argparse.Namespace, dry_run: bool = False) -> int:
    progress = _Progress() if sys.stderr.isatty() and not args.json else None
    summary = migrate(
        args.lake,
        args.db,
        tables=args.tables,
        dry_run=dry_run or args.dry_run,
        progress=progress,
        db_schema=args.db_schema,
    )
    if progress:
        progress.done()
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        _print_summary(summary)
    _print_problems(summary)
    return 0 if summary.ok else 1


def _plan(args: argparse.Namespace) -> int:
    return _migrate(args, dry_run=True)


def _rejects(args: argparse.Namespace) -> int:
    engine, _ = connect(args.db)
    with engine.connect() as conn:
        rows = ledger.list_rejects(conn, args.run) if _has_ledger(conn) else []
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


def _has_ledger(conn: object) -> bool:
    import sqlalchemy as sa

    return sa.inspect(conn).has_table(ledger.rejects.name)


def _print_summary(summary: RunSummary) -> None:
    header = ("table", "status", "rows", "rejected", "files", "columns", "seconds")
    lines = [header] + [
        (
            name,
            t.status,
            f"{t.rows_inserted:,}",
            f"{t.rows_rejected:,}",
            str(t.files_read),
            str(t.columns_created),
            f"{t.seconds:.2f}",
        )
        for name, t in summary.tables.items()
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print(
            "  ".join(
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    for name, t in summary.tables.items():
        for statement in t.ddl if summary.dry_run else []:
            print(f"{name}: {statement}")
    print(f"run {summary.run_id}: {summary.status}")


def _print_problems(summary: RunSummary) -> None:
    for problem in summary.problems:
        print(f"error: {problem}", file=sys.stderr)
    for table in summary.tables.values():
        for line in table.problems[:MAX_PROBLEM_LINES]:
            print(f"error: {line}", file=sys.stderr)
        hidden = len(table.problems) - MAX_PROBLEM_LINES
        if hidden > 0:
            print(f"error: {table.name}: {hidden} more; see `turbodata rejects`", file=sys.stderr)


class _Progress:
    """One self-overwriting line on a terminal: table, files, rows."""

    def __call__(self, result: TableResult) -> None:
        sys.stderr.write(
            f"\r{result.name}: {result.files_read} files, {result.rows_inserted:,} rows\033[K"
        )
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end load throughput: `turbodata.migrate` into SQLite and PostgreSQL, with baselines.

    .venv/bin/python bench/load.py [--rows 100000] [--repeat 3] [--targets sqlite,postgresql]
                                    [--variants a,b] [--breakdown] [--profile pg-migrate]

Data: the lake of `bench/data.py` (first folder N new rows, second folder N/2 rows updating
every second Id, 1% of them deletes). Each run is a fresh child process and a fresh database
(a new SQLite file; a new PostgreSQL database on a throwaway cluster started as the test suite
does, `tests/servers/postgres.py`, with `CHECKPOINT` before each run outside the timing).
Timing covers the load itself: from the first byte read to the last COMMIT.

  sqlite-executemany  baseline: csv.reader → `sqlite3.executemany` of the raw string tuples
                      ('' → None) into an untyped table, one transaction
  sqlite-migrate      migrate(first folder): `account` has an Id, so rows are staged, reduced
                      to one per key and upserted (the path every Synapse Link table takes)
  sqlite-append       the same with keys={"account": ()}: plain inserts, no staging
  sqlite-incremental  after an untimed load of the first folder, migrate(second folder)
  pg-copy             baseline (performance.md's anchor): `COPY … FROM STDIN (FORMAT csv)` of
                      the raw file bytes in 1 MB writes with psycopg into a typed table of the
                      same column types, no primary key
  pg-migrate, pg-append, pg-incremental   as for SQLite

Ratio = variant rows/s ÷ its target's baseline rows/s in the same session (the incremental
rows/s count the second folder's rows against the baseline's first-folder rows/s).
`--breakdown` runs each turbodata variant once more with timers around the loader's stages and
prints exclusive seconds and µs per row per stage.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

from common import (
    Runs,
    add_repo_paths,
    benchmark_parser,
    child_report,
    environment,
    profile,
    reset_peak_rss,
    rss_kb,
    run_child,
    run_rounds,
    table,
)
from data import FOLDERS, PARTITION, TABLE, ensure_lake

add_repo_paths()

SQLITE_VARIANTS = ("sqlite-executemany", "sqlite-migrate", "sqlite-append", "sqlite-incremental")
PG_VARIANTS = ("pg-copy", "pg-migrate", "pg-append", "pg-incremental")
BASELINES = {"sqlite": "sqlite-executemany", "pg": "pg-copy"}
COPY_BLOCK = 1 << 20


# ------------------------------------------------------------------------------ the variants


def lake_view(workdir: Path, lake_root: Path, folders: int) -> Path:
    """A lake holding the first `folders` timestamp folders (hard links, else copies)."""
    view = workdir / "lake"
    for name in FOLDERS[:folders]:
        for relative in ("model.json", PARTITION):
            source, target = lake_root / name / relative, view / name / relative
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
    return view


def engine_for(spec: dict[str, Any]) -> Any:
    import sqlalchemy as sa

    return sa.create_engine(spec["db"])


def declared_types(model: Path) -> dict[str, Any]:
    from turbodata.metadata.model_json import parse_model_json
    from turbodata.types.sql import from_cdm

    schema = parse_model_json(model.read_bytes(), "model.json").tables[TABLE]
    return {c.name: from_cdm(c) for c in schema.columns}


def sqlite_executemany(spec: dict[str, Any]) -> Callable[[], int]:
    path = Path(spec["db"].removeprefix("sqlite:///"))
    width = len(declared_types(Path(spec["model"])))
    conn = sqlite3.connect(path, isolation_level=None)
    columns = ", ".join(f"c{i}" for i in range(width))
    conn.execute(f"CREATE TABLE raw ({columns})")
    insert = f"INSERT INTO raw VALUES ({', '.join('?' * width)})"

    def work() -> int:
        conn.execute("BEGIN")
        with Path(spec["csv0"]).open(encoding="utf-8", newline="") as stream:
            rows = (tuple(v if v != "" else None for v in row) for row in csv.reader(stream))
            cursor = conn.executemany(insert, rows)
        conn.execute("COMMIT")
        return cursor.rowcount

    return work


def pg_copy(spec: dict[str, Any]) -> Callable[[], int]:
    import psycopg
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from turbodata.dialects.postgresql import PostgreSQLDialect
    from turbodata.load.schema import table_object

    types = declared_types(Path(spec["model"]))
    target = table_object(PostgreSQLDialect(), "account_copy", types, None)
    ddl = str(sa.schema.CreateTable(target).compile(dialect=postgresql.dialect()))
    conn = psycopg.connect(spec["conninfo"])
    conn.execute(ddl)
    conn.commit()

    def work() -> int:
        with conn.cursor() as cursor, Path(spec["csv0"]).open("rb") as stream:
            with cursor.copy("COPY account_copy FROM STDIN (FORMAT csv)") as copy:
                while block := stream.read(COPY_BLOCK):
                    copy.write(block)
            rows = cursor.rowcount
        conn.commit()
        conn.close()
        return rows

    return work


def turbodata_load(spec: dict[str, Any]) -> Callable[[], int]:
    """migrate() of the first folder (migrate/append), or of the second (incremental)."""
    from turbodata import migrate

    variant = spec["variant"]
    workdir, lake_root = Path(spec["workdir"]), Path(spec["lake"])
    keys = {TABLE: ()} if variant.endswith("-append") else None
    engine = engine_for(spec)
    if variant.endswith("-incremental"):
        first = migrate(lake_view(workdir, lake_root, 1), engine)
        check(first.to_dict(), spec["rows"], 0, 0, "setup")
        view = lake_view(workdir, lake_root, 2)
        expected = (0, spec["update_rows"] * 99 // 100, spec["update_rows"] // 100)
    else:
        view = lake_view(workdir, lake_root, 1)
        expected = (spec["rows"], 0, 0)

    def work() -> int:
        summary = migrate(view, engine, keys=keys)
        check(summary.to_dict(), *expected, variant)
        engine.dispose()
        return sum(expected)

    return work


def check(summary: dict[str, Any], inserted: int, updated: int, deleted: int, what: str) -> None:
    """The run did what the data says (a benchmark of a failing load measures nothing)."""
    result = summary["tables"][TABLE]
    got = (result["rows_inserted"], result["rows_updated"], result["rows_deleted"])
    if summary["status"] != "succeeded" or got != (inserted, updated, deleted):
        problems = (summary["problems"] + result["problems"])[:5]
        raise RuntimeError(
            f"{what}: status {summary['status']}, inserted/updated/deleted {got}, expected "
            f"{(inserted, updated, deleted)}; {problems}"
        )


def prepare(spec: dict[str, Any]) -> Callable[[], int]:
    """Untimed setup of a variant; returns the timed work (which returns the rows it loaded)."""
    variant = spec["variant"]
    if variant == "sqlite-executemany":
        return sqlite_executemany(spec)
    if variant == "pg-copy":
        return pg_copy(spec)
    return turbodata_load(spec)


def file_bytes(spec: dict[str, Any]) -> int:
    name = "csv1" if spec["variant"].endswith("-incremental") else "csv0"
    return Path(spec[name]).stat().st_size


# ------------------------------------------------------------------------------ breakdown


class Stages:
    """Exclusive wall time per stage; a stage called inside another is shown as `outer/inner`.

    Wraps functions by name; names that no longer exist in turbodata are skipped and listed.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.missing: list[str] = []
        self.sql: dict[str, float] = {}  # statement start → seconds
        self._stack: list[list[Any]] = []  # [path, started, time spent in nested stages]

    def _enter(self, label: str) -> None:
        path = f"{self._stack[-1][0]}/{label}" if self._stack else label
        self._stack.append([path, time.perf_counter(), 0.0])

    def _leave(self) -> None:
        path, started, nested = self._stack.pop()
        elapsed = time.perf_counter() - started
        self.seconds[path] = self.seconds.get(path, 0.0) + elapsed - nested
        self.calls[path] = self.calls.get(path, 0) + 1
        if self._stack:
            self._stack[-1][2] += elapsed

    def wrap(self, owner: Any, name: str, label: str, *, generator: bool = False) -> None:
        original = vars(owner).get(name)
        if original is None:  # inherited (wrapped on the base) or gone from the code
            if not hasattr(owner, name):
                self.missing.append(f"{getattr(owner, '__name__', owner)}.{name}")
            return
        stages = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            stages._enter(label)
            try:
                return original(*args, **kwargs)
            finally:
                stages._leave()

        def timed_generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = original(*args, **kwargs)
            while True:
                stages._enter(label)
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    stages._leave()
                yield item

        setattr(owner, name, timed_generator if generator else timed)

    def install(self) -> None:
        import sqlalchemy.engine.base as sa_base

        from turbodata.dialects import base, postgresql, sqlite
        from turbodata.load import batch_reading, batch_writing, changes

        self.wrap(batch_reading, "read_raw", "read_raw (CSV → string chunks)", generator=True)
        self.wrap(batch_reading, "convert_chunk", "convert_chunk (text → typed Arrow)")
        self.wrap(batch_reading.BatchReader, "types", "types (type pass over the first rows)")
        self.wrap(batch_reading.TypePass, "update", "type pass: one chunk")
        self.wrap(batch_writing.BatchWriter, "_widen_strings", "widen strings")
        self.wrap(batch_writing.BatchWriter, "_record_file", "ledger: record file")
        for dialect in (base.Dialect, sqlite.SQLiteDialect, postgresql.PostgreSQLDialect):
            self.wrap(dialect, "insert_batch", "insert_batch (driver: executemany / COPY)")
            self.wrap(dialect, "python_values", "python_values (Arrow → Python)")
            self.wrap(dialect, "upsert_from_staging", "upsert (INSERT … ON CONFLICT)")
        self.wrap(changes.Staging, "__init__", "staging: create temp table")
        self.wrap(changes.Staging, "keep_winners", "staging: index + keep winners")
        self.wrap(changes.Staging, "_apply_deletes", "apply: deletes")
        self.wrap(changes.Staging, "_count_new", "apply: count new rows")
        self.wrap(changes.Staging, "drop", "staging: drop")
        self.wrap(sa_base.Connection, "_commit_impl", "COMMIT")

    def time_sql(self) -> None:
        """Per SQL statement (first words), through SQLAlchemy's cursor events; the COPY of
        PostgreSQL's insert_batch runs on the raw driver cursor and is not seen here."""
        import sqlalchemy as sa

        started: list[float] = []

        def before(*_args: Any) -> None:
            started.append(time.perf_counter())

        def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            words = " ".join(statement.split())[:70]
            elapsed = time.perf_counter() - started.pop()
            self.sql[words] = self.sql.get(words, 0.0) + elapsed

        sa.event.listen(sa.engine.Engine, "before_cursor_execute", before)
        sa.event.listen(sa.engine.Engine, "after_cursor_execute", after)

    def report(self, total: float, rows: int) -> list[list[Any]]:
        accounted = sum(self.seconds.values())
        items = sorted(self.seconds.items(), key=lambda item: -item[1])
        items.append(("other (discovery, schema, ledger, lease, SQLAlchemy)", total - accounted))
        return [[path, seconds, self.calls.get(path, 1)] for path, seconds in items]


def breakdown_table(variant: str, report: dict[str, Any]) -> str:
    rows, total = report["rows"], report["seconds"]
    lines = [
        f"**{variant}**: {rows:,} rows in {total:.2f} s ({rows / total:,.0f} rows/s, "
        f"{total / rows * 1e6:.1f} µs/row); exclusive time per stage",
        "",
        "| Stage | Calls | s | µs/row | Share |",
        "|---|---:|---:|---:|---:|",
    ]
    for path, seconds, calls in report["stages"]:
        if seconds >= 0.0005 or path.startswith("other"):
            lines.append(
                f"| {path} | {calls} | {seconds:.3f} | {seconds / rows * 1e6:.1f} "
                f"| {seconds / total:.0%} |"
            )
    if report.get("sql"):
        lines += [
            "",
            "Slowest SQL statements (wall time of the driver call, inside the stages above):",
        ]
        lines += ["", "| Statement | s | µs/row |", "|---|---:|---:|"]
        for statement, seconds in report["sql"]:
            cell = statement.replace("|", "\\|")
            lines.append(f"| `{cell}` | {seconds:.3f} | {seconds / rows * 1e6:.1f} |")
    if report.get("missing"):
        lines.append(f"\n(not instrumented, gone from the code: {', '.join(report['missing'])})")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ processes


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(spec: dict[str, Any]) -> None:
    import pyarrow.compute  # noqa: F401  (imports are not part of the measurement)
    import sqlalchemy  # noqa: F401

    import turbodata.pipeline  # noqa: F401

    stages = Stages() if spec.get("breakdown") else None
    if stages:
        stages.install()
        stages.time_sql()
    work = prepare(spec)
    if stages:  # the incremental variant's first load is setup
        stages.seconds.clear()
        stages.calls.clear()
        stages.sql.clear()
    start_rss, cpu = rss_kb(), cpu_seconds()
    reset_peak_rss()
    started = time.perf_counter()
    rows = work()
    seconds = time.perf_counter() - started
    extra: dict[str, Any] = {"cpu_seconds": cpu_seconds() - cpu}
    if stages:
        extra["stages"] = stages.report(seconds, rows)
        extra["missing"] = stages.missing
        extra["sql"] = sorted(stages.sql.items(), key=lambda item: -item[1])[:8]
    child_report(seconds, rows, file_bytes(spec), start_rss, **extra)


class Databases:
    """A fresh database per run: a SQLite file, or a database on the throwaway cluster."""

    def __init__(self, workdir: Path, postgres: Any | None) -> None:
        self.workdir, self.postgres = workdir, postgres
        self.numbers = count(1)
        self.current: str | None = None

    def fresh(self, spec: dict[str, Any]) -> None:
        self.cleanup()
        number = next(self.numbers)
        run_dir = self.workdir / f"run-{number}"
        run_dir.mkdir()
        spec["workdir"] = str(run_dir)
        if spec["variant"].startswith("sqlite"):
            spec["db"] = f"sqlite:///{run_dir / 'target.sqlite'}"
            return
        name = f"bench_{number}"
        self.postgres.create_database(name)
        self.current = name
        spec["db"] = self.postgres.url(name)
        spec["conninfo"] = (
            f"host={self.postgres.host} port={self.postgres.port} "
            f"user={self.postgres.user} dbname={name}"
        )
        with self.postgres.connect() as conn:
            conn.execute("CHECKPOINT")

    def cleanup(self) -> None:
        if self.current:
            self.postgres.drop_database(self.current)
            self.current = None
        for run_dir in self.workdir.glob("run-*"):
            shutil.rmtree(run_dir, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(needed: bool) -> Iterator[Any]:
    if not needed:
        yield None
        return
    from servers.postgres import PostgresServer

    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


def cpu_table(runs: dict[str, Runs]) -> str:
    lines = ["| Variant | Client CPU s (median) | Client CPU ÷ wall |", "|---|---:|---:|"]
    for name, r in runs.items():
        cpu, wall = r.median("cpu_seconds"), r.median("seconds")
        lines.append(f"| {name} | {cpu:.2f} | {cpu / wall:.0%} |")
    return "\n".join(lines)


def main() -> None:
    parser = benchmark_parser(__doc__, 100_000, "rows of the first folder")
    parser.add_argument("--targets", default="sqlite,postgresql", help="sqlite, postgresql")
    parser.add_argument("--variants", default="", help="comma-separated (default: all)")
    parser.add_argument("--breakdown", action="store_true", help="time the loader's stages")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    targets = {t.strip() for t in args.targets.split(",") if t.strip()}
    known = (SQLITE_VARIANTS if "sqlite" in targets else ()) + (
        PG_VARIANTS if "postgresql" in targets else ()
    )
    variants = [v for v in args.variants.split(",") if v] or list(known)
    if args.profile:
        variants = [args.profile]
    unknown = set(variants) - set(SQLITE_VARIANTS + PG_VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    if not args.profile:  # every target measured gets its baseline in the same session
        needed = sorted({BASELINES[v.split("-")[0]] for v in variants})
        variants = list(dict.fromkeys([*needed, *variants]))
        variants.sort(key=lambda v: (not v.startswith("sqlite"), v not in BASELINES.values()))
    baseline_of = {v: BASELINES[v.split("-")[0]] for v in variants}

    lake = ensure_lake(args.rows, args.seed, args.data)
    spec_base = {
        "lake": str(lake.root),
        "csv0": str(lake.csv(0)),
        "csv1": str(lake.csv(1)),
        "model": str(lake.root / FOLDERS[0] / "model.json"),
        "rows": lake.rows,
        "update_rows": lake.update_rows,
    }
    print(
        f"# load: {lake.rows:,} rows ({lake.csv(0).stat().st_size / 1e6:.1f} MB) first folder, "
        f"{lake.update_rows:,} rows ({lake.csv(1).stat().st_size / 1e6:.1f} MB) second folder"
    )
    print(f"environment: {environment()}")
    workdir = Path(tempfile.mkdtemp(prefix="turbodata-bench-load-"))
    needs_pg = any(v.startswith("pg") for v in variants)
    try:
        with postgres_server(needs_pg) as server:
            if server:
                with server.connect() as conn:
                    version = conn.execute("SHOW server_version").fetchone()
                print(f"PostgreSQL {version[0] if version else '?'} on port {server.port}")
            print()
            databases = Databases(workdir, server)
            specs = [{**spec_base, "variant": v} for v in variants]
            if args.profile:
                spec = specs[0]
                databases.fresh(spec)
                print(profile(prepare(spec)))
                databases.cleanup()
                return
            runs = run_rounds(Path(__file__), specs, args.repeat, before_each=databases.fresh)
            databases.cleanup()
            print(table(runs, baseline_of))
            print()
            print(cpu_table(runs))
            print(f"\nload average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
            if args.breakdown:
                for spec in specs:
                    if spec["variant"] in BASELINES.values():
                        continue
                    databases.fresh(spec)
                    report = run_child(Path(__file__), {**spec, "breakdown": True})
                    databases.cleanup()
                    print()
                    print(breakdown_table(spec["variant"], report))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
    sys.stdout.flush()

"""Parallel tables: `migrate --jobs N` of 20 tables into PostgreSQL, rows/s and speed-up.

    .venv/bin/python bench/parallel.py [--rows 50000] [--tables 20] [--jobs 1,2,4] [--repeat 2]

The lake holds `--tables` tables (`account_00` …) of `--rows` rows each, one timestamp folder,
every table's CSV the first folder of bench/data.py's `account` (hard links to one file).
Each run loads it into a fresh database of a throwaway PostgreSQL cluster (as the test suite
starts one, tests/servers/postgres.py) in a child process that times `migrate(jobs=N)` only.
Speed-up is rows/s ÷ the rows/s of `--jobs 1` measured in the same session. Client CPU ÷ wall
says how busy the client was: on a machine where client and server share the cores, what is
left of the cores is the server's (see README: the database is the ceiling).
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # bench/ is not a package: its modules are imported by path
import data

common.add_repo_paths()

_database_numbers = itertools.count(1)


def build_lake(base: Path, rows: int, tables: int, seed: int) -> Path:
    """The lake of `tables` tables, each `rows` rows (one CSV, hard-linked)."""
    from tests.lakebuilder import entity, model_json

    source = data.ensure_lake(rows, seed, base)
    root = base / f"parallel-{rows}-{tables}-s{seed}"
    folder = root / data.FOLDERS[0]
    names = [f"account_{i:02d}" for i in range(tables)]
    for name in names:
        target = folder / name / "2025.csv"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source.csv(0), target)
            except OSError:
                shutil.copyfile(source.csv(0), target)
    entities = [entity(n, data.COLUMNS, [f"{data.FOLDERS[0]}/{n}/2025.csv"]) for n in names]
    (folder / "model.json").write_text(model_json(entities), encoding="utf-8")
    return root


def child(spec: dict[str, Any]) -> None:
    """One timed `migrate(jobs=N)` into an empty database; prints the report line."""
    from turbodata.lake.storage import LocalLake
    from turbodata.pipeline import migrate

    start_rss = common.rss_kb()
    common.reset_peak_rss()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    summary = migrate(LocalLake(Path(spec["lake"])), spec["db"], jobs=spec["jobs"])
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    inserted = sum(t.rows_inserted for t in summary.tables.values())
    if not summary.ok or inserted != spec["rows"]:
        raise SystemExit(f"not loaded cleanly ({inserted} rows): {summary.to_dict()}")
    common.child_report(seconds, inserted, spec["bytes"], start_rss, cpu_seconds=cpu)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = common.benchmark_parser(__doc__ or "", 50_000, "rows per table")
    parser.add_argument("--tables", type=int, default=20)
    parser.add_argument("--jobs", default="1,2,4", help="comma-separated --jobs values")
    parser.set_defaults(repeat=2)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    from servers.postgres import PostgresServer

    lake = build_lake(args.data, args.rows, args.tables, args.seed)
    nbytes = sum(p.stat().st_size for p in lake.rglob("*.csv"))
    with PostgresServer() as server:
        specs = [
            {
                "variant": f"pg-jobs-{jobs}",
                "jobs": int(jobs),
                "lake": str(lake),
                "rows": args.rows * args.tables,
                "bytes": nbytes,
            }
            for jobs in args.jobs.split(",")
        ]

        def fresh_database(spec: dict[str, Any]) -> None:
            name = f"bench_parallel_{next(_database_numbers)}"
            server.create_database(name)
            spec["db"] = server.url(name)

        runs = common.run_rounds(Path(__file__), specs, args.repeat, before_each=fresh_database)
    baseline = specs[0]["variant"]
    print(f"\n{args.tables} tables × {args.rows:,} rows into PostgreSQL; {common.environment()}\n")
    print(common.table(runs, {s["variant"]: baseline for s in specs}))
    print("\n| Variant | Speed-up vs --jobs 1 | Client CPU ÷ wall |\n|---|---:|---:|")
    for name, variant in runs.items():
        speed_up = variant.rows_per_s / runs[baseline].rows_per_s
        busy = variant.median("cpu_seconds") / variant.median("seconds")
        print(f"| {name} | {speed_up:.2f} | {busy:.2f} |")


if __name__ == "__main__":
    main()

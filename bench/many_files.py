"""Many small files: a Synapse Link lake of T tables × F closed timestamp folders into SQLite.

    .venv/bin/python bench/many_files.py                      # 300 tables × 4 folders × 3 rows
    .venv/bin/python bench/many_files.py --tables 50 --repeat 1
    .venv/bin/python bench/many_files.py --profile first       # cProfile of a first run, in-process
    .venv/bin/python bench/many_files.py --profile rerun --profiler pyinstrument
    .venv/bin/python bench/many_files.py --breakdown first     # ms per file by stage, in-process

The lake (`ensure_lake`) is the Synapse Link incremental layout: F closed timestamp folders,
each with its model.json listing every table, one CSV partition per table and folder of R
rows keyed by `Id`, and a `Changelog/changelog.info` naming an (F+1)th folder still being
written (so the F folders are closed). Folder 0 inserts R new Ids per table; every later
folder updates the first Id of the previous folder (newer `versionnumber`) and inserts R-1
new Ids. The same parameters always give the same bytes; a lake already generated with them
is reused.

What is timed (whole CLI process, `python -m turbodata migrate`, start-up included, as a user
waits for it): a **first run** into a fresh SQLite file, then a **rerun** with nothing new on
the same file. Runs repeat `--repeat` times (fresh file each round); medians are printed with
ms per file and the load average. `--profile first|rerun` instead runs that case once
in-process (`turbodata.cli.main`) under cProfile (or pyinstrument, if installed) and prints the
top functions.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import DEFAULT_DATA, add_repo_paths, environment, profile

add_repo_paths()

from tests.lakebuilder import attribute, entity, model_json  # noqa: E402

GENERATOR_VERSION = 1
FIRST_FOLDER_DAY = 1  # folder k is 2025-01-(1+k)T00.00.00Z
COLUMNS = [
    attribute("Id", "guid"),
    attribute("SinkCreatedOn", "dateTime"),
    attribute("SinkModifiedOn", "dateTime"),
    attribute("name", "string", 100),
    attribute("statecode", "int32"),
    attribute("revenue", "decimal", precision=38, scale=10),
    attribute("createdon", "dateTime"),
    attribute("versionnumber", "int64"),
    attribute("IsDelete", "boolean"),
]


def folder_name(index: int) -> str:
    return f"2025-01-{FIRST_FOLDER_DAY + index:02d}T00.00.00Z"


def table_name(index: int) -> str:
    return f"table{index:04d}"


def _guid(table: int, n: int) -> str:
    h = hashlib.blake2b(f"{table}:{n}".encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _row(table: int, folder: int, n: int) -> str:
    """One upsert row of `table`'s entity number `n`, as written in `folder`."""
    day = FIRST_FOLDER_DAY + folder
    fields = [
        _guid(table, n),
        f'"1/{FIRST_FOLDER_DAY}/2025 9:{n % 60:02d}:00 AM"',
        f'"1/{day}/2025 10:{n % 60:02d}:00 AM"',
        f'"Name {table} {n} v{folder}"',
        str(n % 2),
        f"{n * 1000 + table}.{folder:010d}",
        f'"2024-12-{1 + n % 28:02d}T08:00:00.0000000Z"',
        str(1_000_000 + folder * 10_000 + n),
        "",  # IsDelete: empty on upserts
    ]
    return ",".join(fields)


def partition_rows(table: int, folder: int, rows: int) -> list[str]:
    """Folder 0: entities 0..rows-1. Folder k > 0: the first entity of folder k-1 again
    (an update), then rows-1 new entities."""
    first_new = 0 if folder == 0 else rows + (folder - 1) * (rows - 1)
    lines = []
    if folder > 0:
        previous_first = 0 if folder == 1 else rows + (folder - 2) * (rows - 1)
        lines.append(_row(table, folder, previous_first))
    lines += [_row(table, folder, first_new + i) for i in range(rows - len(lines))]
    return lines


def write_lake(root: Path, tables: int, folders: int, rows: int) -> None:
    names = [table_name(t) for t in range(tables)]
    for folder in range(folders):
        name = folder_name(folder)
        for t, table in enumerate(names):
            path = root / name / table / "2025.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(("\n".join(partition_rows(t, folder, rows)) + "\n").encode())
        entities = [entity(table, COLUMNS, [f"{name}/{table}/2025.csv"]) for table in names]
        (root / name / "model.json").write_text(model_json(entities), encoding="utf-8")
    (root / folder_name(folders)).mkdir(exist_ok=True)  # the folder being written
    changelog = root / "Changelog" / "changelog.info"
    changelog.parent.mkdir(exist_ok=True)
    changelog.write_text(folder_name(folders), encoding="utf-8")


def ensure_lake(root: Path, tables: int = 300, folders: int = 4, rows: int = 3) -> Path:
    """The lake of `tables` × `folders` files of `rows` rows under `root` (reused when
    already generated with the same parameters); its root."""
    lake = root / f"many-{tables}x{folders}x{rows}"
    stamp = lake / "bench-params.json"
    params = {"tables": tables, "folders": folders, "rows": rows, "version": GENERATOR_VERSION}
    if stamp.exists() and json.loads(stamp.read_text()) == params:
        return lake
    if lake.exists():
        shutil.rmtree(lake)
    started = time.perf_counter()
    write_lake(lake, tables, folders, rows)
    stamp.write_text(json.dumps(params))
    print(
        f"generated {tables} × {folders} files into {lake} in "
        f"{time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return lake


# ------------------------------------------------------------------ measuring


def migrate_args(lake: Path, db: Path) -> list[str]:
    return ["migrate", "--lake", str(lake), "--db", f"sqlite:///{db}", "--json"]


def run_cli(lake: Path, db: Path) -> float:
    """Wall seconds of one `python -m turbodata migrate` process; fails loudly if it did."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "turbodata", *migrate_args(lake, db)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"migrate failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds


def measure(lake: Path, files: int, repeat: int) -> None:
    first: list[float] = []
    rerun: list[float] = []
    with tempfile.TemporaryDirectory(prefix="many-files-") as scratch:
        for round_number in range(1, repeat + 1):
            db = Path(scratch) / f"round{round_number}.sqlite"
            first.append(run_cli(lake, db))
            rerun.append(run_cli(lake, db))
            print(
                f"  round {round_number}/{repeat}: first {first[-1]:6.2f} s, "
                f"rerun {rerun[-1]:5.2f} s, load {os.getloadavg()[0]:.2f}",
                file=sys.stderr,
                flush=True,
            )
            db.unlink()
    print(f"{files} files; {environment()}")
    print("| Case | n | Median s (min–max) | ms per file |")
    print("|---|---:|---:|---:|")
    for case, seconds in (("first run", first), ("rerun, nothing new", rerun)):
        median = statistics.median(seconds)
        print(
            f"| {case} | {len(seconds)} | {median:.2f} ({min(seconds):.2f}–{max(seconds):.2f})"
            f" | {median / files * 1000:.1f} |"
        )


def profile_in_process(lake: Path, case: str, profiler: str, top: int, sort: str) -> None:
    """One first run (or a rerun, after an unprofiled first run) under the profiler."""
    from turbodata import cli

    with tempfile.TemporaryDirectory(prefix="many-files-") as scratch:
        db = Path(scratch) / "profiled.sqlite"
        args = migrate_args(lake, db)
        if case == "rerun":
            _quiet(lambda: cli.main(args))

        def work() -> None:
            code = _quiet(lambda: cli.main(args))
            if code != 0:
                raise RuntimeError(f"migrate exited {code}")

        if profiler == "pyinstrument":
            from pyinstrument import Profiler

            with Profiler(interval=0.0005) as pyinstrument:
                work()
            print(pyinstrument.output_text(unicode=True, color=False, show_all=False))
        else:
            print(profile(work, top=top, sort=sort))


# the stages a run's time is split into (`--breakdown`): (module, owner, function, label)
STAGES = [
    ("turbodata.lake.layouts", None, "discover", "plan: discover the lake (list, model.json)"),
    ("turbodata.preflight", None, "problems", "plan: preflight checks"),
    ("turbodata.pipeline", None, "_start_run", "run: start (ledger tables, run row)"),
    ("turbodata.pipeline", None, "_nothing_new", "run: tables with nothing new (one ledger read)"),
    ("turbodata.pipeline", None, "_record_end", "run: end (summary row)"),
    ("turbodata.ledger.lease", None, "acquire_waiting", "lease: acquire"),
    ("turbodata.ledger.lease", None, "renew", "lease: renew"),
    ("turbodata.ledger.lease", None, "release", "lease: release"),
    ("turbodata.load.loader", "TableLoader", "_history", "table: ledger history"),
    ("turbodata.load.loader", "TableLoader", "_check_schema_changes", "table: schema check"),
    ("turbodata.ledger.records", None, "set_table_outcome", "table: outcome"),
    ("turbodata.load.schema", None, "reflect", "schema: reflect"),
    ("turbodata.load.schema", None, "plan_table", "schema: plan"),
    ("turbodata.load.schema", None, "apply", "schema: DDL"),
    ("turbodata.ledger.records", None, "record_ddl", "ledger: DDL rows"),
    ("turbodata.load.batch_reading", "BatchReader", "types", "batch: infer types"),
    ("turbodata.load.batch_reading", None, "read_raw", "batch: read CSV"),
    ("turbodata.load.batch_reading", None, "convert_chunk", "batch: convert values"),
    ("turbodata.dialects.base", "Dialect", "insert_batch", "batch: insert rows"),
    ("turbodata.load.batch_writing", None, "upsert_unstaged", "unstaged: count + upsert"),
    ("turbodata.load.batch_writing", "BatchWriter", "_read_small", "unstaged: read whole"),
    ("turbodata.load.changes", "Staging", "__init__", "staging: create"),
    ("turbodata.load.changes", "Staging", "add", "staging: add rows"),
    ("turbodata.load.changes", "Staging", "keep_winners", "staging: keep winners"),
    ("turbodata.load.changes", "Staging", "apply", "staging: apply"),
    ("turbodata.load.changes", "Staging", "drop", "staging: drop"),
    ("turbodata.ledger.records", None, "forget_files", "ledger: forget files"),
    ("turbodata.ledger.records", None, "note_width", "ledger: note width"),
    (
        "turbodata.load.batch_writing",
        "BatchWriter",
        "_record_file",
        "ledger: record file + rejects",
    ),
    ("turbodata.ledger.records", None, "set_watermark", "ledger: watermark"),
    ("turbodata.ledger.records", None, "watermark", "ledger: read watermark"),
    ("sqlalchemy.engine.base", "Connection", "_begin_impl", "BEGIN"),
    ("sqlalchemy.engine.base", "Connection", "_commit_impl", "COMMIT"),
]


def breakdown(lake: Path, case: str, files: int) -> None:
    """One run in-process with timers around its stages: ms per file by stage."""
    import importlib

    from load import Stages

    from turbodata import cli

    stages = Stages()
    generators = {"read_raw"}
    with tempfile.TemporaryDirectory(prefix="many-files-") as scratch:
        args = migrate_args(lake, Path(scratch) / "breakdown.sqlite")
        if case == "rerun":
            _quiet(lambda: cli.main(args))
        for module_name, owner_name, function, label in STAGES:
            module = importlib.import_module(module_name)
            owner = getattr(module, owner_name) if owner_name else module
            stages.wrap(owner, function, label, generator=function in generators)
        started = time.perf_counter()
        code = _quiet(lambda: cli.main(args))
        total = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"migrate exited {code}")
    print(f"{case}: {files} files in {total:.2f} s in-process; {environment()}")
    print("| Stage (a/b: b inside a) | calls | s | ms per file |")
    print("|---|---:|---:|---:|")
    for path, seconds, calls in stages.report(total, 0):
        print(f"| {path} | {calls} | {seconds:.2f} | {seconds / files * 1000:.2f} |")
    if stages.missing:
        print(f"not found (renamed?): {', '.join(stages.missing)}")


def _quiet(call: Callable[[], int]) -> int:
    """Run `call()` with stdout discarded (migrate --json prints the summary)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return call()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--folders", type=int, default=4)
    parser.add_argument("--rows", type=int, default=3, help="rows per file")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (first run + rerun)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="generated data cache")
    parser.add_argument("--profile", choices=("first", "rerun"), help="profile in-process")
    parser.add_argument(
        "--breakdown", choices=("first", "rerun"), help="time per stage, in-process"
    )
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument"), default="cprofile")
    parser.add_argument("--top", type=int, default=40, help="functions listed by cProfile")
    parser.add_argument("--sort", default="tottime", help="cProfile order (tottime, cumulative)")
    args = parser.parse_args()
    lake = ensure_lake(args.data, args.tables, args.folders, args.rows)
    if args.breakdown:
        breakdown(lake, args.breakdown, args.tables * args.folders)
    elif args.profile:
        profile_in_process(lake, args.profile, args.profiler, args.top, args.sort)
    else:
        measure(lake, args.tables * args.folders, args.repeat)


if __name__ == "__main__":
    main()

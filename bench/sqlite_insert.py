"""SQLite's `insert_batch` alone, in-process: the batches a snapshot load hands it, replayed.

    .venv/bin/python bench/sqlite_insert.py [--rows 300000] [--repeat 5] [--tree DIR]

First (once per lake) the classic snapshot lake (`bench/classic.py`) is migrated into a scratch
SQLite file with `SQLiteDialect.insert_batch` wrapped, which saves every batch it is handed
(Arrow IPC) and the column types and key (JSON), under --data. Then each run creates a fresh
SQLite file through turbodata's own engine set-up (`pipeline.connect`: the connect hook's
pragmas), creates the keyed table as a first load does, and times one transaction of
`insert_batch` over every saved batch plus its COMMIT, reporting CPU and wall seconds, how
much of it was `python_values`, and the peak RSS growth of the process.

`--tree DIR` imports turbodata from another source tree (e.g. `git archive main | tar -x -C
/tmp/td-before`), so the same saved batches compare two versions of the dialect; run it
with each tree, alternating, and compare medians (the runs are in-process, not children).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None, help="generated data cache")
    parser.add_argument("--tree", type=Path, default=None, help="turbodata tree to import")
    return parser.parse_args()


def capture(lake: Path, out: Path) -> None:
    """Migrate `lake` into a scratch file, saving what `insert_batch` is handed."""
    import pyarrow as pa

    import turbodata
    from turbodata.dialects.sqlite import SQLiteDialect

    original = SQLiteDialect.insert_batch
    saved: dict[str, object] = {}
    writer: list[pa.RecordBatchStreamWriter] = []

    def recording(self, conn, table, batch, types):  # type: ignore[no-untyped-def]
        if not writer:
            writer.append(pa.ipc.new_stream(str(out / "batches.arrow"), batch.schema))
            saved["table"] = table.name
            saved["key"] = [c.name for c in table.primary_key.columns]
            saved["types"] = [
                [t.kind.name, t.length, t.precision, t.scale, t.fraction] for t in types
            ]
        writer[0].write_batch(batch)
        return original(self, conn, table, batch, types)

    SQLiteDialect.insert_batch = recording  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as scratch:
        turbodata.migrate(str(lake), f"sqlite:///{scratch}/capture.sqlite")
    SQLiteDialect.insert_batch = original  # type: ignore[method-assign]
    writer[0].close()
    (out / "table.json").write_text(json.dumps(saved))


def load_saved(out: Path) -> tuple[str, list[str], list[object], list[object]]:
    import pyarrow as pa

    from turbodata.types.sql import Kind, SqlType

    saved = json.loads((out / "table.json").read_text())
    types = [
        SqlType(Kind[kind], length, precision=precision, scale=scale, fraction=fraction)
        for kind, length, precision, scale, fraction in saved["types"]
    ]
    with pa.ipc.open_stream(str(out / "batches.arrow")) as reader:
        batches = list(reader)
    return saved["table"], saved["key"], types, batches


def _value_conversion(dialect_class: type) -> tuple[object, str]:
    """Where the tree converts a column to the values sqlite3 binds: `sqlite_rows.bind_values`
    (this tree), or the dialect's `python_values` (trees before it)."""
    try:
        from turbodata.dialects import sqlite_rows
    except ImportError:
        return dialect_class, "python_values"
    return sqlite_rows, "bind_values"


def one_run(name: str, key: list[str], types: list[object], batches: list[object]) -> dict:
    from turbodata import pipeline
    from turbodata.load import schema
    from turbodata.types.sql import Kind, SqlType

    spent = {"python_values": 0.0}
    owner, attribute = _value_conversion(type(pipeline.connect("sqlite://")[1]))
    original = getattr(owner, attribute)

    def timed(*args):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return original(*args)
        finally:
            spent["python_values"] += time.perf_counter() - started

    with tempfile.TemporaryDirectory() as scratch:
        engine, dialect = pipeline.connect(f"sqlite:///{scratch}/target.sqlite")
        names = batches[0].schema.names
        # unbounded strings: no widening (SQLite does not enforce lengths anyway)
        wanted = {
            n: SqlType(Kind.STRING) if t.kind is Kind.STRING else t
            for n, t in zip(names, types, strict=True)
        }
        with engine.begin() as conn:
            plan = schema.plan_table(conn.dialect, dialect, name, wanted, None, None, key)
            for statement in plan.statements:
                conn.exec_driver_sql(statement)
        setattr(owner, attribute, timed)
        rss_before = _rss_kb()
        wall, cpu = time.perf_counter(), time.process_time()
        with engine.begin() as conn:
            for batch in batches:
                dialect.insert_batch(conn, plan.table, batch, types)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        setattr(owner, attribute, original)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar()
        engine.dispose()
    return {
        "wall": wall,
        "cpu": cpu,
        "python_values": spent["python_values"],
        "rows": rows,
        "rss_growth_mb": (_peak_kb() - rss_before) / 1024,
    }


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    args = parse_args()
    sys.path.insert(0, str(BENCH))
    from common import DEFAULT_DATA

    tree = (args.tree or BENCH.parent).resolve()
    sys.path.insert(0, str(tree))
    import turbodata

    print(f"turbodata from {Path(turbodata.__file__).parent}")
    from classic import ensure_classic_lake

    data = args.data or DEFAULT_DATA
    lake = ensure_classic_lake(args.rows, args.seed, data)
    out = data / f"sqlite-insert-{args.rows}-s{args.seed}"
    if not (out / "table.json").exists():
        out.mkdir(parents=True, exist_ok=True)
        capture(lake.root, out)
    name, key, types, batches = load_saved(out)
    rows = sum(b.num_rows for b in batches)
    print(f"{rows:,} rows in {len(batches)} batches × {len(types)} columns, key {key}")
    runs = []
    for number in range(args.repeat):
        run = one_run(name, key, types, batches)
        assert run["rows"] == rows, run
        runs.append(run)
        print(
            f"run {number + 1}: insert_batch {run['wall']:.2f} s wall, {run['cpu']:.2f} s CPU"
            f" (python_values {run['python_values']:.2f} s), RSS +{run['rss_growth_mb']:.0f} MB"
        )
    for what in ("wall", "cpu", "python_values"):
        values = [r[what] for r in runs]
        spread = f"{min(values):.2f}–{max(values):.2f}"
        print(f"median {what}: {statistics.median(values):.2f} s ({spread})")


if __name__ == "__main__":
    main()

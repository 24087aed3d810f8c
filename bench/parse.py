"""Parsing throughput: turbodata's reader and value conversion against plain CSV parsers.

    .venv/bin/python bench/parse.py [--rows 200000] [--repeat 3] [--per-column]
                                     [--profile read_raw+convert] [--variants a,b]

All variants read the first folder's CSV of the generated lake (`bench/data.py`); each run is
a fresh child process, so its peak RSS is its own. Variants:

  arrow-strings     baseline: pyarrow `csv.open_csv`, every column a string, the reader's own
                    options (1 MB blocks, newlines_in_values, one thread); batches discarded
  csv-module        Python `csv.reader` (newline=""), strings only; rows discarded
  read_raw          turbodata.read.reader.read_raw, fast path: 50k-row chunks of string columns
  read_raw+convert  read_raw then convert.convert_chunk: typed Arrow batches (what migrate does
                    before the database)
  exact             read_raw on the same rows with the first row one column short, so the
                    whole file goes through the exact (Python) path
  exact+convert     the exact path then convert_chunk

Ratios are rows/s ÷ the `arrow-strings` rows/s of the same session.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    add_repo_paths,
    benchmark_parser,
    child_report,
    environment,
    profile,
    reset_peak_rss,
    rss_kb,
    run_rounds,
    table,
)
from data import FOLDERS, TABLE, ensure_lake, ensure_short_file

add_repo_paths()

VARIANTS = ("arrow-strings", "csv-module", "read_raw", "read_raw+convert", "exact", "exact+convert")
BASELINE = "arrow-strings"


def schema(model_path: Path) -> tuple[list[str], list[Any]]:
    """Column names and declared SqlTypes of the lake's table, as the loader computes them."""
    from turbodata.metadata.model_json import parse_model_json
    from turbodata.types.sql import from_cdm

    table_schema = parse_model_json(model_path.read_bytes(), "model.json").tables[TABLE]
    return table_schema.column_names, [from_cdm(c) for c in table_schema.columns]


def arrow_strings(path: Path, names: list[str]) -> int:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from turbodata.read.reader import READ_BLOCK

    columns = [f"c{i}" for i in range(len(names))]
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            column_names=columns, block_size=READ_BLOCK, use_threads=False
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        ),
    )
    return sum(batch.num_rows for batch in reader)


def csv_module(path: Path, names: list[str]) -> int:
    rows = 0
    with path.open(encoding="utf-8", newline="") as stream:
        for _row in csv.reader(stream):
            rows += 1
    return rows


def turbodata_reader(path: Path, names: list[str], types: list[Any], *, convert: bool) -> int:
    from turbodata.model import CsvDialect
    from turbodata.read.convert import convert_chunk
    from turbodata.read.reader import read_raw

    rows = 0
    for raw in read_raw(
        lambda: path.open("rb"), column_names=names, dialect=CsvDialect(), min_width=len(names) - 1
    ):
        if raw.rejects:
            raise RuntimeError(f"unexpected rejects: {raw.rejects[:3]}")
        if convert:
            typed = convert_chunk(raw, names, types)
            if typed.rejects:
                raise RuntimeError(f"unexpected rejects: {typed.rejects[:3]}")
            rows += typed.batch.num_rows
        else:
            rows += raw.num_rows
    return rows


def work_for(spec: dict[str, Any]) -> tuple[Callable[[], int], Path]:
    """The measured work of a variant, and the file it reads."""
    lake_csv, short_csv = Path(spec["csv"]), Path(spec["short_csv"])
    names, types = schema(Path(spec["model"]))
    variant = spec["variant"]
    path = short_csv if variant.startswith("exact") else lake_csv
    convert = variant.endswith("+convert")
    works: dict[str, Callable[[], int]] = {
        "arrow-strings": lambda: arrow_strings(path, names),
        "csv-module": lambda: csv_module(path, names),
    }
    work = works.get(variant) or (lambda: turbodata_reader(path, names, types, convert=convert))
    return work, path


def child(spec: dict[str, Any]) -> None:
    import pyarrow
    import pyarrow.compute
    import pyarrow.csv  # noqa: F401

    import turbodata.read.convert  # noqa: F401

    work, path = work_for(spec)
    start_rss = rss_kb()
    reset_peak_rss()
    started = time.perf_counter()
    rows = work()
    seconds = time.perf_counter() - started
    if rows != spec["rows"]:
        raise RuntimeError(f"{spec['variant']}: read {rows} rows, expected {spec['rows']}")
    child_report(seconds, rows, path.stat().st_size, start_rss)


def per_column(spec: dict[str, Any]) -> str:
    """In-process: time `convert_column` per column over the whole file (fast reader path)."""
    from turbodata.model import CsvDialect
    from turbodata.read.reader import read_raw
    from turbodata.read.values import convert_column

    names, types = schema(Path(spec["model"]))
    spent = dict.fromkeys(names, 0.0)
    rows = 0
    read_seconds = 0.0
    csv_path = Path(spec["csv"])
    chunks = read_raw(lambda: csv_path.open("rb"), column_names=names, dialect=CsvDialect())
    while True:
        started = time.perf_counter()
        raw = next(chunks, None)
        read_seconds += time.perf_counter() - started
        if raw is None:
            break
        rows += raw.num_rows
        for name, sql_type, values in zip(names, types, raw.columns, strict=True):
            started = time.perf_counter()
            convert_column(values, sql_type)
            spent[name] += time.perf_counter() - started
    total = sum(spent.values())
    lines = [
        f"convert_column per column over {rows:,} rows (in-process, one pass); "
        f"read_raw itself: {read_seconds:.2f} s = {read_seconds / rows * 1e6:.2f} µs/row",
        "",
        "| Column | Type | s | µs/row | Share of conversion |",
        "|---|---|---:|---:|---:|",
    ]
    for (name, seconds), sql_type in sorted(
        zip(spent.items(), types, strict=True), key=lambda item: -item[0][1]
    ):
        lines.append(
            f"| {name} | {sql_type} | {seconds:.3f} | {seconds / rows * 1e6:.2f} "
            f"| {seconds / total:.0%} |"
        )
    lines.append(f"| **all** | | {total:.3f} | {total / rows * 1e6:.2f} | 100% |")
    return "\n".join(lines)


def main() -> None:
    parser = benchmark_parser(__doc__, 200_000, "rows in the parsed file")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--per-column", action="store_true", help="convert_column per column")
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    lake = ensure_lake(args.rows, args.seed, args.data)
    spec_base = {
        "csv": str(lake.csv(0)),
        "short_csv": str(ensure_short_file(lake, args.seed)),
        "model": str(lake.root / FOLDERS[0] / "model.json"),
        "rows": lake.rows,
    }
    print(f"# parse: {lake.rows:,} rows, {lake.csv(0).stat().st_size / 1e6:.1f} MB")
    print(f"environment: {environment()}\n")

    if args.profile:
        work, _ = work_for({**spec_base, "variant": args.profile})
        print(profile(work))
        return

    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    if BASELINE not in variants:
        variants.insert(0, BASELINE)
    runs = run_rounds(Path(__file__), [{**spec_base, "variant": v} for v in variants], args.repeat)
    print(table(runs, dict.fromkeys(variants, BASELINE)))
    print(f"\nload average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.per_column:
        print()
        print(per_column(spec_base))


if __name__ == "__main__":
    main()
    sys.stdout.flush()

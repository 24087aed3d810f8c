"""PostgreSQL's binary COPY encoding (`pg_binary.copy_rows`) alone, in-process: the client CPU
`insert_batch` spends turning the bench lake's typed rows into COPY data, in slices of
`pg_copy.COPY_SLICE_ROWS` as it sends them; each column's encoder timed on its own. No server.

    nice -n 10 .venv/bin/python bench/pg_encode.py [--rows 300000] [--repeat 5]

The rows are the snapshot scenario's lake (bench/classic.py): read_raw + convert_chunk with
the declared types, outside the timing, in its batches, sliced as insert_batch slices them.
Printed: the median and min of `--repeat` runs (process CPU time), whole and per column, in
seconds and µs/row. Compare trees by running this file from each of them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from classic import ensure_classic_lake
from common import DEFAULT_DATA, add_repo_paths, environment
from data import TABLE

add_repo_paths()

import pyarrow as pa  # noqa: E402

from turbodata.dialects import pg_binary, pg_copy, postgresql  # noqa: E402
from turbodata.load.schema import table_object  # noqa: E402
from turbodata.metadata.model_json import parse_model_json  # noqa: E402
from turbodata.model import CsvDialect  # noqa: E402
from turbodata.read.arrow_memory import use_lean_pool  # noqa: E402
from turbodata.read.convert import convert_chunk  # noqa: E402
from turbodata.read.reader import read_raw  # noqa: E402
from turbodata.types.sql import from_cdm  # noqa: E402


def typed_rows(rows: int) -> tuple[list[pa.RecordBatch], list[pg_binary.Encoder]]:
    lake = ensure_classic_lake(rows, base=DEFAULT_DATA)
    model = parse_model_json(lake.model.read_bytes(), "model.json")
    schema = model.tables[TABLE]
    names, types = schema.column_names, [from_cdm(c) for c in schema.columns]
    raws = read_raw(lambda: lake.csv.open("rb"), column_names=names, dialect=CsvDialect())
    batches = [convert_chunk(raw, names, types).batch for raw in raws]
    dialect = postgresql.PostgreSQLDialect()
    stored = {n: dialect.stored_type(t) for n, t in zip(names, types, strict=True)}
    table = table_object(dialect, TABLE, stored, None)
    encoders = pg_binary.encoders(table, batches[0].schema)
    if encoders is None:
        raise SystemExit("no binary form for this table")
    return batches, encoders


def slices(batches: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
    """Each batch in COPY slices, as insert_batch sends it."""
    step = pg_copy.COPY_SLICE_ROWS
    return [
        batch.slice(start, step) for batch in batches for start in range(0, batch.num_rows, step)
    ]


def timed(work: Callable[[], object], repeat: int) -> tuple[float, float]:
    seconds = []
    for _ in range(repeat):
        start = time.process_time()
        work()
        seconds.append(time.process_time() - start)
    return statistics.median(seconds), min(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--pool",
        choices=["default", "lean"],
        default="default",
        help="lean: the CLI's use_lean_pool first (jemalloc, decay 0), which doubles this"
        " figure here; in the CLI the encoding thread did not fault more with it",
    )
    args = parser.parse_args()
    if args.pool == "lean":
        use_lean_pool()
    batches, encoders = typed_rows(args.rows)
    parts = slices(batches)
    batch = batches[0]
    rows = sum(part.num_rows for part in parts)
    shape = f"{rows:,} rows × {batch.num_columns} in {len(batches)} batches, {len(parts)} slices"
    print(f"# pg_encode: {shape}; {environment()}\n")

    def whole() -> None:
        for part in parts:
            if pg_binary.copy_rows(part, encoders) is None:
                raise SystemExit("a slice went as text")

    median, low = timed(whole, args.repeat)
    per_row = 1e6 / rows
    print(f"copy_rows, all columns: {median:.3f} s (min {low:.3f}), {median * per_row:.2f} µs/row")
    print("\n| Column | Arrow type | median s | µs/row |\n|---|---|---:|---:|")
    for index, encode in enumerate(encoders):
        columns = [part.column(index) for part in parts]
        median, _ = timed(lambda: [encode(column) for column in columns], args.repeat)  # noqa: B023
        field = batch.schema.field(index)
        print(f"| {field.name} | {field.type} | {median:.3f} | {median * per_row:.2f} |")


if __name__ == "__main__":
    main()

"""Rows per second of each SQL Server driver path into a live server, labelled with the engine.

    .venv/bin/python bench/bench_mssql.py 'mssql://user:password@host:1433/database'
        [--rows 50000] [--batch 20000] [--repeat 3] [--paths bulk,insert,migrate]

A URL without a driver runs every installed driver (mssql-python, pytds, pyodbc: see
tests/servers/mssql_urls.py). Paths, each into a fresh table in a schema of the benchmark's
own (dropped afterwards), timed from the first batch to the COMMIT:

  bulk     the dialect's load path: TDS bulk copy into a landing table, the landed rows
           checked, then INSERT … SELECT (falls back to INSERT when the check fails: then the
           line says `fell back`)
  insert   the INSERT path alone (pyodbc fast_executemany, executemany otherwise)
  migrate  `turbodata migrate` of a generated incremental lake (one folder, keyed rows: the
           staging, ranking and upsert every Synapse Link table takes), rows read / second

Rows: Id GUID, a DECIMAL(38,10), a DATETIME2(7) text, NVARCHAR(100), NVARCHAR(MAX) (~60
characters), BIGINT, BIT. The median of `--repeat` runs is printed.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.biglake import write_big_lake
from tests.servers.mssql_urls import driver_urls
from turbodata import migrate
from turbodata.dialects import for_engine
from turbodata.load.loader import LoadOptions
from turbodata.load.schema import plan_table
from turbodata.pipeline import connect
from turbodata.types.sql import Kind, SqlType, arrow_type, string_type

TYPES = {
    "Id": SqlType(Kind.GUID),
    "amount": SqlType(Kind.DECIMAL, precision=38, scale=10),
    "modifiedon": SqlType(Kind.DATETIME),
    "name": string_type(100),
    "notes": string_type(None),
    "versionnumber": SqlType(Kind.BIGINT),
    "flag": SqlType(Kind.BOOLEAN),
}


def batch(start: int, rows: int) -> pa.RecordBatch:
    numbers = range(start, start + rows)
    values = {
        "Id": [str(uuid.UUID(int=n + 1)) for n in numbers],
        "amount": [Decimal(f"{n}.{n % 10_000_000_000:010d}") for n in numbers],
        "modifiedon": [f"2025-01-01 10:{n % 60:02d}:00.{n % 10_000_000:07d}" for n in numbers],
        "name": [f"name {n}" for n in numbers],
        "notes": [f'a note with, commas and "quotes" for row {n}' for n in numbers],
        "versionnumber": list(numbers),
        "flag": [n % 2 == 0 for n in numbers],
    }
    arrays = [pa.array(values[n], arrow_type(t)) for n, t in TYPES.items()]
    return pa.RecordBatch.from_arrays(arrays, names=list(TYPES))


def engine_label(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        version = str(conn.exec_driver_sql("SELECT @@VERSION").scalar())
    return " ".join(version.split())[:120]


def run_path(url: str, path: str, rows: int, batch_rows: int) -> tuple[float, str]:
    """Seconds for one run of `path`, and a note (e.g. that bulk copy fell back)."""
    engine, dialect = connect(url)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA [{schema}]")
    try:
        if path == "migrate":
            return run_migrate(url, schema, rows), ""
        batches = [batch(s, min(batch_rows, rows - s)) for s in range(0, rows, batch_rows)]
        if path == "insert":
            dialect._bulk_distrusted.add(engine.dialect.driver)  # type: ignore[attr-defined]
        notes = Notes()
        logging.getLogger("turbodata").addHandler(notes)
        started = time.perf_counter()
        with engine.begin() as conn:
            table = create_table(conn, schema)
            for b in batches:
                dialect.insert_batch(conn, table, b, list(TYPES.values()))
        seconds = time.perf_counter() - started
        logging.getLogger("turbodata").removeHandler(notes)
        with engine.connect() as conn:
            count = conn.exec_driver_sql(f"SELECT COUNT(*) FROM [{schema}].[bench]").scalar()
        assert count == rows, f"{count} rows loaded for {rows}"
        return seconds, "fell back to INSERT: " + notes.first if notes.first else ""
    finally:
        drop_schema(engine, schema)
        engine.dispose()


def run_migrate(url: str, schema: str, rows: int) -> float:
    with tempfile.TemporaryDirectory() as lake:
        write_big_lake(Path(lake), 1, rows)
        started = time.perf_counter()
        summary = migrate(Path(lake), url, options=LoadOptions(db_schema=schema))
        seconds = time.perf_counter() - started
        assert summary.ok, summary.to_dict()
        return seconds


class Notes(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.first = self.first or record.getMessage()


def create_table(conn: sa.Connection, schema: str) -> sa.Table:
    plan = plan_table(conn.dialect, for_engine(conn), "bench", TYPES, None, schema=schema)
    for statement in plan.statements:
        conn.exec_driver_sql(statement)
    return plan.table


def drop_schema(engine: sa.Engine, schema: str) -> None:
    with engine.begin() as conn:
        for table in sa.inspect(conn).get_table_names(schema=schema):
            conn.exec_driver_sql(f"DROP TABLE [{schema}].[{table}]")
        conn.exec_driver_sql(f"DROP SCHEMA [{schema}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="mssql://user:password@host:port/database (or mssql+DRIVER)")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=20_000, help="rows per insert_batch call")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--paths", default="bulk,insert,migrate")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("turbodata").setLevel(logging.WARNING)  # to note a bulk copy fell back
    urls = driver_urls(args.url)
    engine = sa.create_engine(urls[0])
    print(f"engine: {engine_label(engine)}")
    engine.dispose()
    print(f"{'driver':<12} {'path':<8} {'rows':>8} {'rows/s':>10}  runs (s)")
    for url in urls:
        driver = sa.engine.make_url(url).get_driver_name()
        for path in args.paths.split(","):
            runs = [run_path(url, path, args.rows, args.batch) for _ in range(args.repeat)]
            seconds = [s for s, _ in runs]
            note = next((n for _, n in runs if n), "")
            rate = args.rows / statistics.median(seconds)
            times = " ".join(f"{s:.2f}" for s in seconds)
            print(f"{driver:<12} {path:<8} {args.rows:>8} {rate:>10,.0f}  {times}  {note}")


if __name__ == "__main__":
    main()

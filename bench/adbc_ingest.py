"""ADBC's bulk ingest (`adbc_driver_postgresql`, `cursor.adbc_ingest`) against turbodata's
binary COPY (`PostgreSQLDialect.insert_batch`), on the same typed batches of the bench lake.

    .venv/bin/python -m pip install adbc-driver-postgresql   # not a turbodata dependency
    .venv/bin/python bench/adbc_ingest.py [--rows 200000] [--repeat 3]

The batches are read and converted once (read_raw + convert_chunk), outside the timing. Each
variant loads all of them in one transaction, round-robin `--repeat` times:
- turbodata: `insert_batch` into the table turbodata creates (uuid, numeric(p,s), timestamp,
  varchar(n), …);
- ADBC into that same table (mode "append");
- ADBC into a table it creates from the Arrow schema (mode "create_append"): the column
  types it chose are printed, since they are what a load through it would store.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from common import DEFAULT_DATA, add_repo_paths, environment
from data import FOLDERS, TABLE, ensure_lake

add_repo_paths()

import pyarrow as pa  # noqa: E402

from turbodata.load.schema import table_object  # noqa: E402
from turbodata.metadata.model_json import parse_model_json  # noqa: E402
from turbodata.model import CsvDialect  # noqa: E402
from turbodata.pipeline import connect  # noqa: E402
from turbodata.read.convert import convert_chunk  # noqa: E402
from turbodata.read.reader import read_raw  # noqa: E402
from turbodata.types.sql import SqlType, from_cdm  # noqa: E402


def typed_batches(rows: int, seed: int) -> tuple[list[pa.RecordBatch], list[str], list[SqlType]]:
    lake = ensure_lake(rows, seed, DEFAULT_DATA)
    model = parse_model_json((lake.root / FOLDERS[0] / "model.json").read_bytes(), "model.json")
    schema = model.tables[TABLE]
    names, types = schema.column_names, [from_cdm(c) for c in schema.columns]
    raws = read_raw(lambda: lake.csv(0).open("rb"), column_names=names, dialect=CsvDialect())
    return [convert_chunk(raw, names, types).batch for raw in raws], names, types


def main() -> None:
    import adbc_driver_postgresql.dbapi as adbc
    from servers.postgres import PostgresServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    batches, names, types = typed_batches(args.rows, args.seed)
    rows = sum(b.num_rows for b in batches)
    print(f"# ADBC ingest: {rows:,} rows, {len(batches)} batches; {environment()}\n")

    with PostgresServer() as server:
        server.create_database("adbc")
        engine, dialect = connect(server.url("adbc"))
        target = table_object(dialect, "typed", dict(zip(names, types, strict=True)), None)
        uri = f"postgresql://{server.user}@{server.host}:{server.port}/adbc"
        adbc_conn = adbc.connect(uri)

        def fresh() -> None:
            with engine.begin() as conn:
                target.drop(conn, checkfirst=True)
                target.create(conn)
                conn.exec_driver_sql('DROP TABLE IF EXISTS "adbc_own"')

        def turbodata_copy() -> None:
            with engine.begin() as conn:
                for batch in batches:
                    dialect.insert_batch(conn, target, batch, types)

        def adbc_ingest(table: str, mode: str) -> Callable[[], None]:
            def ingest() -> None:
                with adbc_conn.cursor() as cursor:
                    for batch in batches:
                        cursor.adbc_ingest(table, batch, mode=mode)
                adbc_conn.commit()

            return ingest

        variants = {
            "turbodata binary COPY into its table": turbodata_copy,
            "ADBC into turbodata's table": adbc_ingest("typed", "append"),
            "ADBC into a table it creates": adbc_ingest("adbc_own", "create_append"),
        }
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        failed: dict[str, str] = {}
        for _ in range(args.repeat):
            for name, load in variants.items():
                if name in failed:
                    continue
                fresh()
                started = time.perf_counter()
                try:
                    load()
                except Exception as error:  # what ADBC says about turbodata's column types
                    adbc_conn.rollback()
                    failed[name] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
                    continue
                seconds[name].append(time.perf_counter() - started)
        with engine.connect() as conn:
            chosen = conn.exec_driver_sql(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = 'adbc_own' ORDER BY ordinal_position"
            ).all()
        adbc_conn.close()
        engine.dispose()

    print("| Variant | Median s | µs/row |\n|---|---:|---:|")
    for name, runs in seconds.items():
        if name in failed:
            print(f"| {name} | failed: {failed[name]} | |")
        else:
            median = statistics.median(runs)
            print(f"| {name} | {median:.2f} | {median / rows * 1e6:.2f} |")
    print("\nColumn types ADBC created:", ", ".join(f"{n} {t}" for n, t in chosen))
    print(f"\nload average after: {environment().rsplit('load average ', 1)[1]}")


if __name__ == "__main__":
    main()

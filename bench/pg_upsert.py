"""PostgreSQL's side of an incremental folder: how long the server takes to apply staged
changes, in the statement turbodata sends and in the other SQL forms that could replace it,
against `COPY … (FORMAT csv)` of the same file into an empty table (the incremental target's
baseline, bench/cli.py). No turbodata code is timed but the statement it builds.

    .venv/bin/python bench/pg_upsert.py [--rows 300000] [--repeat 2]

Set-up (not timed): `turbodata migrate` loads the bench lake's first folder into one
database and its second folder (the updates, as a first load) into another; the second's
rows, minus those marking a delete, are copied into a staging table beside the first's.
Each variant then starts from a fresh copy of the loaded table (primary key built, as after
a first load) and a fresh staging table, after a CHECKPOINT, and runs in one transaction.

- turbodata: `on_conflict_upsert` with the table's real newer condition (versionnumber, then
  SinkModifiedOn), as `Staging.apply` sends it; and the same in key order;
- update+insert: `UPDATE … FROM staging` then `INSERT … WHERE NOT EXISTS` (the portable form);
- merge: one `MERGE` (PostgreSQL 15+).

If the fastest form alone takes longer than the whole run may (the baseline / 0.6), no client
change reaches issue 11's incremental target on this design.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import DEFAULT_DATA, add_repo_paths, environment
from data import FOLDERS, PARTITION, TABLE, ensure_lake

add_repo_paths()

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.dialects import postgresql as pg  # noqa: E402

from turbodata.dialects.base import on_conflict_upsert  # noqa: E402
from turbodata.load.changes import ChangeColumns, newer_condition  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ChangeColumns(
    key=("Id",), version="versionnumber", modified="SinkModifiedOn", delete="IsDelete"
)


def migrate(lake_root: Path, folder: str, url: str, scratch: Path) -> None:
    """`turbodata migrate` of one folder of the bench lake into `url`."""
    view = scratch / folder.replace(":", "_")
    for relative in ("model.json", PARTITION):
        (view / folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lake_root / folder / relative, view / folder / relative)
    command = [sys.executable, "-m", "turbodata", "migrate", "--lake", str(view), "--db", url]
    subprocess.run(command, check=True, cwd=scratch, capture_output=True)


def copy_table(source: psycopg.Connection, target: psycopg.Connection, into: str) -> None:
    out_sql, in_sql = (
        f"COPY {TABLE} TO STDOUT (FORMAT binary)",
        f"COPY {into} FROM STDIN (FORMAT binary)",
    )
    with source.cursor().copy(out_sql) as out, target.cursor().copy(in_sql) as into_copy:
        for block in out:
            into_copy.write(block)
    target.commit()


def turbodata_upsert(in_key_order: bool) -> Callable[[sa.Connection], int]:
    def run(conn: sa.Connection) -> int:
        meta = sa.MetaData()
        target = sa.Table(TABLE, meta, autoload_with=conn)
        staging = sa.Table("stage", meta, autoload_with=conn, prefixes=["TEMPORARY"])
        names = [c.name for c in target.columns]
        newer = newer_condition(COLUMNS)
        return on_conflict_upsert(
            pg.insert, conn, target, staging, names, COLUMNS.key, newer,
            in_key_order=in_key_order,
        )  # fmt: skip

    return run


def sql_forms(columns: list[str]) -> dict[str, list[str]]:
    quoted = [f'"{c}"' for c in columns]
    sets = ", ".join(f"{c} = s.{c}" for c in quoted if c != '"Id"')
    newer = 't."versionnumber" < s."versionnumber"'
    return {
        "update+insert": [
            f'UPDATE {TABLE} t SET {sets} FROM stage s WHERE t."Id" = s."Id" AND {newer}',
            f"INSERT INTO {TABLE} SELECT * FROM stage s"
            f' WHERE NOT EXISTS (SELECT 1 FROM {TABLE} t WHERE t."Id" = s."Id")',
        ],
        "merge": [
            f'MERGE INTO {TABLE} t USING stage s ON t."Id" = s."Id"'
            f" WHEN MATCHED AND {newer} THEN UPDATE SET {sets}"
            f" WHEN NOT MATCHED THEN INSERT VALUES ({', '.join('s.' + c for c in quoted)})"
        ],
    }


def fresh_tables(conn: sa.Connection) -> None:
    for statement in (
        f"DROP TABLE IF EXISTS {TABLE}",
        f"CREATE TABLE {TABLE} AS SELECT * FROM loaded",
        f'ALTER TABLE {TABLE} ADD PRIMARY KEY ("Id")',
        "DROP TABLE IF EXISTS stage",
        "CREATE TEMPORARY TABLE stage AS SELECT * FROM changes",
        "ANALYZE stage",
    ):
        conn.exec_driver_sql(statement)
    conn.commit()
    conn.exec_driver_sql("CHECKPOINT")
    conn.commit()


def main() -> None:
    from servers.postgres import PostgresServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    lake = ensure_lake(args.rows, args.seed, DEFAULT_DATA, random_updates=True)
    print(f"# PostgreSQL upsert forms: {lake.update_rows:,} changes onto {lake.rows:,} rows")
    print(f"# {environment()}\n")
    server = PostgresServer().start()
    scratch = Path(tempfile.mkdtemp(prefix="pg-upsert-"))
    try:
        conninfo = f"host=127.0.0.1 port={server.port} user=postgres dbname="
        with psycopg.connect(conninfo + "postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE base")
            admin.execute("CREATE DATABASE updates")
        url = f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/"
        migrate(lake.root, FOLDERS[0], url + "base", scratch)
        migrate(lake.root, FOLDERS[1], url + "updates", scratch)
        with (
            psycopg.connect(conninfo + "updates") as updates,
            psycopg.connect(conninfo + "base") as base,
        ):
            base.execute(f"CREATE TABLE changes (LIKE {TABLE})")
            base.execute(f"CREATE TABLE raw_copy (LIKE {TABLE})")
            copy_table(updates, base, "changes")
            base.execute('DELETE FROM changes WHERE "IsDelete"')
            base.execute(f"ALTER TABLE {TABLE} RENAME TO loaded")
            base.commit()
        engine = sa.create_engine(url + "base")
        with engine.connect() as conn:
            fresh_tables(conn)
            columns = [c.name for c in sa.Table(TABLE, sa.MetaData(), autoload_with=conn).c]
        variants: dict[str, Callable[[sa.Connection], int]] = {
            "turbodata (ON CONFLICT)": turbodata_upsert(in_key_order=False),
            "turbodata, in key order": turbodata_upsert(in_key_order=True),
        }
        for name, statements in sql_forms(columns).items():
            variants[name] = lambda conn, s=statements: sum(
                conn.exec_driver_sql(one).rowcount for one in s
            )
        times: dict[str, list[float]] = {name: [] for name in variants}
        baseline: list[float] = []
        csv = lake.csv(1)
        for _ in range(args.repeat):
            with engine.connect() as conn:
                for name, run in variants.items():
                    fresh_tables(conn)
                    started = time.perf_counter()
                    touched = run(conn)
                    conn.commit()
                    times[name].append(time.perf_counter() - started)
                    if touched != lake.update_rows - lake.update_rows // 100:
                        raise SystemExit(f"{name}: {touched} rows touched")
            with psycopg.connect(conninfo + "base") as raw:
                raw.execute("TRUNCATE raw_copy")
                raw.commit()
                raw.execute("CHECKPOINT")
                started = time.perf_counter()
                with raw.cursor().copy("COPY raw_copy FROM STDIN (FORMAT csv)") as copy:
                    copy.write(csv.read_bytes())
                raw.commit()
                baseline.append(time.perf_counter() - started)
        engine.dispose()
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    copy_s = statistics.median(baseline)
    print(f"COPY csv of the same {lake.update_rows:,} rows into an empty table: {copy_s:.2f} s")
    print(f"the whole incremental run may take {copy_s / 0.6:.2f} s for the 0.6x target\n")
    print("| apply form | median s | min s | of the 0.6x budget |")
    print("|---|---:|---:|---:|")
    for name, seconds in times.items():
        share = statistics.median(seconds) / (copy_s / 0.6)
        print(f"| {name} | {statistics.median(seconds):.2f} | {min(seconds):.2f} | {share:.0%} |")


if __name__ == "__main__":
    main()

"""Delta table vs CSV lake into one database: turbodata's Delta path, its CSV path, and (on
PostgreSQL) a bare COPY of the same CSV rows. Rows/s, ratio to COPY (or to the CSV path),
peak RSS; each variant in a fresh child process.

    python bench/delta.py --rows 1000000 --db postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python bench/delta.py --rows 1000000 --postgres  # a private server (tests/servers)
    python bench/delta.py --rows 100000            # SQLite in the work folder, no COPY

The database's tables are dropped before each variant.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SCHEMA = pa.schema(
    [
        ("Id", pa.string()),
        ("versionnumber", pa.int64()),
        ("name", pa.string()),
        ("amount", pa.decimal128(38, 4)),
        ("createdon", pa.timestamp("us", tz="UTC")),
    ]
)
VARIANTS = ("delta", "csv", "copy")


def generate(work: Path, rows: int) -> None:
    """`delta/deltalake/account_partitioned` and `csv/` (model.json + account/1.csv)."""
    from deltalake import write_deltalake

    from tests.lakebuilder import LakeBuilder, attribute, entity, model_json

    if (work / "done").exists() and (work / "done").read_text() == str(rows):
        return
    ids = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(rows)]
    table = pa.table(
        {
            "Id": ids,
            "versionnumber": pa.array(range(rows), pa.int64()),
            "name": [f"account {i}" for i in range(rows)],
            "amount": pa.array([i * 10**4 + 1234 for i in range(rows)], pa.int64()).cast(
                pa.decimal128(38, 4)
            ),
            "createdon": pa.array(
                [1_700_000_000_000_000 + i for i in range(rows)], pa.timestamp("us", tz="UTC")
            ),
        },
        schema=SCHEMA,
    )
    write_deltalake(
        str(work / "delta" / "deltalake" / "account_partitioned"), table, mode="overwrite"
    )
    attributes = [
        attribute("Id"),
        attribute("versionnumber", "int64"),
        attribute("name"),
        attribute("amount", "decimal", precision=38, scale=4),
        attribute("createdon", "dateTime"),
    ]
    builder = LakeBuilder(work / "csv")
    builder.write("model.json", model_json([entity("account", attributes, ["account/1.csv"])]))
    import pyarrow.csv as pcsv

    (work / "csv" / "account").mkdir(parents=True, exist_ok=True)
    options = pcsv.WriteOptions(include_header=False)
    pcsv.write_csv(table, str(work / "csv" / "account" / "1.csv"), options)
    (work / "done").write_text(str(rows))


def child(variant: str, work: Path, db: str) -> None:
    from bench.common import peak_rss_kb, reset_peak_rss
    from turbodata import migrate

    reset_peak_rss()  # ru_maxrss survives exec: the parent's generated table would count
    started = time.perf_counter()
    if variant == "copy":
        rows = _copy(work / "csv" / "account" / "1.csv", db)
    else:
        summary = migrate(work / variant, db)
        assert summary.ok, summary.to_dict()
        rows = summary.tables["account"].rows_inserted
    seconds = time.perf_counter() - started
    peak = peak_rss_kb()
    print(json.dumps({"variant": variant, "rows": rows, "seconds": seconds, "peak_kb": peak}))


def _copy(csv_file: Path, db: str) -> int:
    engine = sa.create_engine(db)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            'CREATE TABLE account ("Id" uuid, versionnumber bigint, name text,'
            " amount numeric(38,4), createdon timestamp)"
        )
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy("COPY account FROM STDIN (FORMAT csv)") as copy, csv_file.open("rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        return conn.exec_driver_sql("SELECT COUNT(*) FROM account").scalar_one()


def drop_all(db: str) -> None:
    engine = sa.create_engine(db)
    meta = sa.MetaData()
    meta.reflect(engine)
    meta.drop_all(engine)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/turbodata-bench-delta"))
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: SQLite in --work)")
    parser.add_argument("--postgres", action="store_true", help="start a private PostgreSQL")
    parser.add_argument("--child", choices=(*VARIANTS, "generate"))
    args = parser.parse_args()
    db = args.db or f"sqlite:///{args.work / 'bench.sqlite'}"
    if args.child == "generate":
        generate(args.work, args.rows)
        return
    if args.child:
        child(args.child, args.work, db)
        return
    # in a child too: ru_maxrss is inherited by the children started after it grew
    generating = ["--child", "generate", "--rows", str(args.rows), "--work", str(args.work)]
    subprocess.run([sys.executable, __file__, *generating], check=True)
    if args.postgres:
        sys.path.insert(0, str(REPO / "tests"))
        from servers.postgres import PostgresServer

        with PostgresServer() as server:
            server.create_database("bench")
            compare(args.rows, args.work, server.url("bench"))
        return
    compare(args.rows, args.work, db)


def compare(rows: int, work: Path, db: str) -> None:
    """Each variant in a child process, then the table of rates."""
    variants = [v for v in VARIANTS if v != "copy" or db.startswith("postgresql")]
    results = {}
    for variant in variants:
        drop_all(db)
        command = [
            sys.executable,
            __file__,
            "--child",
            variant,
            "--work",
            str(work),
            "--db",
            db,
        ]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
    baseline = results["copy" if "copy" in results else "csv"]
    print(f"{rows:,} rows into {db.split('://')[0]}")
    print("variant   rows/s      ratio   peak RSS")
    for variant, r in results.items():
        rate = r["rows"] / r["seconds"]
        ratio = r["seconds"] / baseline["seconds"]
        print(f"{variant:8} {rate:10,.0f}  {ratio:6.2f}x  {r['peak_kb'] / 1024:7.0f} MB")


if __name__ == "__main__":
    main()

"""`Dialect.insert_batch` alone, on the typed chunks of the bench lake: the row path it
replaced (Arrow → Python lists → `copy.write_row` / `executemany`) against the columnar path.

    .venv/bin/python bench/columnar.py [--rows 200000] [--repeat 3] [--targets sqlite,postgresql]

Each variant loads every chunk (read_raw + convert_chunk, outside the timing) into an empty
table in one transaction, `--repeat` times round-robin; printed per row: wall and client CPU
(user + system of this process; for PostgreSQL the rest of the wall time is the server). After
the runs, the tables each variant left are compared (PostgreSQL: md5 of every row as text;
SQLite: every value quoted with its storage class), so a fast wrong variant cannot pass.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import DEFAULT_DATA, add_repo_paths, environment
from data import FOLDERS, TABLE, ensure_lake

add_repo_paths()

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from turbodata.convert import convert_chunk  # noqa: E402
from turbodata.dialects.base import (  # noqa: E402
    SEVENTH_DIGIT,
    Dialect,
    decimal_text,
    insert_statement,
    without_seventh_digit,
)
from turbodata.metadata import parse_model_json  # noqa: E402
from turbodata.model import CsvDialect  # noqa: E402
from turbodata.pipeline import connect  # noqa: E402
from turbodata.reader import read_raw  # noqa: E402
from turbodata.schema import table_object  # noqa: E402
from turbodata.types import Kind, SqlType, from_cdm  # noqa: E402

Insert = Callable[[sa.Connection, sa.Table, pa.RecordBatch, list[SqlType]], object]


def row_values(dialect: Dialect, array: pa.Array, sql_type: SqlType) -> list[object]:
    """The values the row path handed the driver (decimals as exact text)."""
    if sql_type.kind is Kind.DECIMAL:
        return decimal_text(array).to_pylist()
    if dialect.name == "postgresql" and sql_type.kind in SEVENTH_DIGIT:
        return without_seventh_digit(array, sql_type).to_pylist()
    return array.to_pylist()


def row_path(dialect: Dialect) -> Insert:
    """The insert_batch the columnar path replaced."""

    def insert(conn: sa.Connection, table: sa.Table, batch: pa.RecordBatch, types: list) -> None:
        columns = [row_values(dialect, batch.column(i), t) for i, t in enumerate(types)]
        if dialect.name != "postgresql":
            statement = insert_statement(conn.dialect, table, batch.schema.names)
            conn.exec_driver_sql(statement, list(zip(*columns, strict=True)))
            return
        names = ", ".join(f'"{n}"' for n in batch.schema.names)
        with (
            conn.connection.driver_connection.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy,
        ):
            for row in zip(*columns, strict=True):
                copy.write_row(row)

    return insert


def csv_path(quoting: str) -> Insert:
    """PostgreSQL candidate (a): `pyarrow.csv.write_csv` into `COPY … (FORMAT csv)`, NULL
    unquoted-empty. "all_valid": every column cast to text in Arrow and quoted; "needed":
    numbers and booleans as Arrow types (unquoted), strings quoted (Arrow quotes every string)."""

    def insert(conn: sa.Connection, table: sa.Table, batch: pa.RecordBatch, types: list) -> None:
        columns = []
        for column, sql_type in zip(batch.columns, types, strict=True):
            if sql_type.kind is Kind.DECIMAL:
                column = decimal_text(column)
            column = without_seventh_digit(column, sql_type)
            columns.append(pc.cast(column, pa.string()) if quoting == "all_valid" else column)
        sink = io.BytesIO()
        pacsv.write_csv(
            pa.Table.from_arrays(columns, names=batch.schema.names),
            sink,
            pacsv.WriteOptions(include_header=False, quoting_style=quoting),
        )
        names = ", ".join(f'"{n}"' for n in batch.schema.names)
        with (
            conn.connection.driver_connection.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT csv)') as copy,
        ):
            copy.write(sink.getvalue())

    return insert


def stored(conn: sa.Connection, dialect: Dialect, table: sa.Table) -> str:
    if dialect.name == "postgresql":
        sql = f'SELECT md5(string_agg(t::text, \'|\' ORDER BY "Id")) FROM "{table.name}" t'
        return str(conn.exec_driver_sql(sql).scalar())
    fields = ", ".join(f'quote("{c.name}"), typeof("{c.name}")' for c in table.columns)
    rows = conn.exec_driver_sql(f'SELECT {fields} FROM "{table.name}" ORDER BY "Id"').all()
    return str(hash(tuple(tuple(r) for r in rows)))


def experiment(url: str, chunks: list, types: list[SqlType], repeat: int) -> str:
    engine, dialect = connect(url)
    names = chunks[0].schema.names
    variants: dict[str, Insert] = {"row path (before)": row_path(dialect)}
    if dialect.name == "postgresql":
        variants["write_csv, all quoted → COPY csv"] = csv_path("all_valid")
        variants["write_csv, strings quoted → COPY csv"] = csv_path("needed")
    variants["columnar insert_batch (now)"] = dialect.insert_batch
    tables = {
        label: table_object(dialect, f"v{n}", dict(zip(names, types, strict=True)), None)
        for n, label in enumerate(variants)
    }
    rows = sum(c.num_rows for c in chunks)
    walls: dict[str, list[float]] = {label: [] for label in variants}
    cpus: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(repeat):
        for label, insert in variants.items():
            table = tables[label]
            with engine.begin() as conn:
                table.drop(conn, checkfirst=True)
                table.create(conn)
            started, cpu = time.perf_counter(), time.process_time()
            with engine.begin() as conn:
                for chunk in chunks:
                    insert(conn, table, chunk, types)
            walls[label].append(time.perf_counter() - started)
            cpus[label].append(time.process_time() - cpu)
    with engine.connect() as conn:
        digests = {label: stored(conn, dialect, tables[label]) for label in variants}
    engine.dispose()
    base = statistics.median(walls["row path (before)"])
    out = [
        f"**insert_batch, {dialect.name}**, {rows:,} rows, {len(chunks)} chunks, medians of "
        f"{repeat}",
        "",
        "| Variant | Median s (min–max) | wall µs/row | client CPU µs/row | vs before |",
        "|---|---:|---:|---:|---:|",
    ]
    for label in variants:
        median = statistics.median(walls[label])
        out.append(
            f"| {label} | {median:.2f} ({min(walls[label]):.2f}–{max(walls[label]):.2f}) "
            f"| {median / rows * 1e6:.2f} | {statistics.median(cpus[label]) / rows * 1e6:.2f} "
            f"| {base / median:.1f}× |"
        )
    same = len(set(digests.values())) == 1
    out.append(
        f"\nidentical tables after every variant: {'yes' if same else 'NO: ' + str(digests)}"
    )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--targets", default="sqlite,postgresql")
    args = parser.parse_args()
    targets = {t.strip() for t in args.targets.split(",")}

    lake = ensure_lake(args.rows, args.seed, args.data)
    model = parse_model_json((lake.root / FOLDERS[0] / "model.json").read_bytes(), "model.json")
    schema = model.tables[TABLE]
    names, types = schema.column_names, [from_cdm(c) for c in schema.columns]
    raws = read_raw(lambda: lake.csv(0).open("rb"), column_names=names, dialect=CsvDialect())
    chunks = [convert_chunk(raw, names, types).batch for raw in raws]
    print(f"# columnar: {lake.rows:,} rows; {environment()}\n")
    if "sqlite" in targets:
        with tempfile.TemporaryDirectory() as tmp:
            print(experiment(f"sqlite:///{tmp}/c.sqlite", chunks, types, args.repeat))
    if "postgresql" in targets:
        from servers.postgres import PostgresServer

        with PostgresServer() as server:
            server.create_database("columnar")
            print()
            print(experiment(server.url("columnar"), chunks, types, args.repeat))
    print(f"\nload average after: {environment().rsplit('load average ', 1)[1]}")


if __name__ == "__main__":
    main()

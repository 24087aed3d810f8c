"""`Dialect.insert_batch` alone, on the typed chunks of the bench lake: the row path it
replaced (Arrow → Python lists → `copy.write_row` / `executemany`) against the columnar path.
PostgreSQL also: COPY in the text format built in Arrow (`copy_text`, the path before binary
COPY), psycopg's own binary COPY (`write_row` of Python values with `set_types`), and the
binary COPY built in Arrow (`pg_binary`, what insert_batch does now); printed with the
server's CPU (its processes' user + system time, from /proc) beside the client's.

    .venv/bin/python bench/columnar.py [--rows 200000] [--repeat 3] [--targets sqlite,postgresql]

Each variant loads every chunk (read_raw + convert_chunk, outside the timing) into an empty
table in one transaction, `--repeat` times round-robin; printed per row: wall and client CPU
(user + system of this process; for PostgreSQL the rest of the wall time is the server). After
the runs, the tables each variant left are compared (PostgreSQL: md5 of every row as text;
SQLite: every value quoted with its storage class), so a fast wrong variant cannot pass.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import io
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from common import DEFAULT_DATA, add_repo_paths, environment
from data import FOLDERS, TABLE, ensure_lake

add_repo_paths()

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from turbodata.dialects import pg_binary  # noqa: E402
from turbodata.dialects.arrow_text import (  # noqa: E402
    SEVENTH_DIGIT,
    decimal_text,
    without_seventh_digit,
)
from turbodata.dialects.base import Dialect, insert_statement  # noqa: E402
from turbodata.load.schema import table_object  # noqa: E402
from turbodata.metadata.model_json import parse_model_json  # noqa: E402
from turbodata.model import CsvDialect  # noqa: E402
from turbodata.pipeline import connect  # noqa: E402
from turbodata.read.convert import convert_chunk  # noqa: E402
from turbodata.read.reader import read_raw  # noqa: E402
from turbodata.types.sql import Kind, SqlType, from_cdm  # noqa: E402

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


@contextmanager
def text_copy() -> Iterator[None]:
    """insert_batch as it was before binary COPY: no column gets a binary encoder."""
    real = pg_binary.encoders
    pg_binary.encoders = lambda *_: None  # type: ignore[assignment]
    try:
        yield
    finally:
        pg_binary.encoders = real


def text_insert_batch(dialect: Dialect) -> Insert:
    def insert(conn: sa.Connection, table: sa.Table, batch: pa.RecordBatch, types: list) -> None:
        with text_copy():
            dialect.insert_batch(conn, table, batch, types)

    return insert


_PG_TYPE_NAMES = {
    Kind.BOOLEAN: "bool",
    Kind.INTEGER: "int4",
    Kind.BIGINT: "int8",
    Kind.DECIMAL: "numeric",
    Kind.FLOAT: "float8",
    Kind.STRING: "text",
    Kind.GUID: "uuid",
    Kind.DATETIME: "timestamp",
    Kind.DATETIMEOFFSET: "timestamptz",
    Kind.DATE: "date",
    Kind.TIME: "time",
}
_FROM_TEXT: dict[Kind, Callable[[str], object]] = {
    Kind.GUID: uuid.UUID,
    Kind.DATETIME: datetime.datetime.fromisoformat,
    Kind.DATETIMEOFFSET: datetime.datetime.fromisoformat,
    Kind.DATE: datetime.date.fromisoformat,
    Kind.TIME: datetime.time.fromisoformat,
}


def psycopg_binary(
    conn: sa.Connection, table: sa.Table, batch: pa.RecordBatch, types: list
) -> None:
    """psycopg's own binary COPY: Python values (datetime, UUID, Decimal) from the Arrow
    columns, `set_types`, `write_row`."""
    columns = []
    for column, sql_type in zip(batch.columns, types, strict=True):
        values = without_seventh_digit(column, sql_type).to_pylist()
        parse = _FROM_TEXT.get(sql_type.kind)
        columns.append(values if parse is None else [v if v is None else parse(v) for v in values])
    names = ", ".join(f'"{n}"' for n in batch.schema.names)
    with (
        conn.connection.driver_connection.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN (FORMAT binary)') as copy,
    ):
        copy.set_types([_PG_TYPE_NAMES[t.kind] for t in types])
        for row in zip(*columns, strict=True):
            copy.write_row(row)


_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(postmaster: int | None) -> float:
    """User + system CPU of the cluster's postmaster (with the backends it has reaped) and
    of its live children; 0 without a server."""
    if postmaster is None:
        return 0.0
    total = 0
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            stat = Path(path).read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(Path(path).parent.name) == postmaster or int(fields[1]) == postmaster:
            total += sum(int(f) for f in fields[11:15])
    return total / _TICKS


def stored(conn: sa.Connection, dialect: Dialect, table: sa.Table) -> str:
    if dialect.name == "postgresql":
        sql = f'SELECT md5(string_agg(t::text, \'|\' ORDER BY "Id")) FROM "{table.name}" t'
        return str(conn.exec_driver_sql(sql).scalar())
    fields = ", ".join(f'quote("{c.name}"), typeof("{c.name}")' for c in table.columns)
    rows = conn.exec_driver_sql(f'SELECT {fields} FROM "{table.name}" ORDER BY "Id"').all()
    return str(hash(tuple(tuple(r) for r in rows)))


def experiment(
    url: str, chunks: list, types: list[SqlType], repeat: int, postmaster: int | None = None
) -> str:
    engine, dialect = connect(url)
    names = chunks[0].schema.names
    variants: dict[str, Insert] = {"row path (before)": row_path(dialect)}
    if dialect.name == "postgresql":
        variants["write_csv, all quoted → COPY csv"] = csv_path("all_valid")
        variants["write_csv, strings quoted → COPY csv"] = csv_path("needed")
        variants["text COPY built in Arrow (copy_text)"] = text_insert_batch(dialect)
        variants["psycopg binary COPY (set_types, write_row)"] = psycopg_binary
    variants["columnar insert_batch (now)"] = dialect.insert_batch
    tables = {
        label: table_object(dialect, f"v{n}", dict(zip(names, types, strict=True)), None)
        for n, label in enumerate(variants)
    }
    rows = sum(c.num_rows for c in chunks)
    walls: dict[str, list[float]] = {label: [] for label in variants}
    cpus: dict[str, list[float]] = {label: [] for label in variants}
    servers: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(repeat):
        for label, insert in variants.items():
            table = tables[label]
            with engine.begin() as conn:
                table.drop(conn, checkfirst=True)
                table.create(conn)
            started, cpu, server = (
                time.perf_counter(),
                time.process_time(),
                server_cpu_seconds(postmaster),
            )
            with engine.begin() as conn:
                for chunk in chunks:
                    insert(conn, table, chunk, types)
            walls[label].append(time.perf_counter() - started)
            cpus[label].append(time.process_time() - cpu)
            servers[label].append(server_cpu_seconds(postmaster) - server)
    with engine.connect() as conn:
        digests = {label: stored(conn, dialect, tables[label]) for label in variants}
    engine.dispose()
    base = statistics.median(walls["row path (before)"])
    out = [
        f"**insert_batch, {dialect.name}**, {rows:,} rows, {len(chunks)} chunks, medians of "
        f"{repeat}",
        "",
        "| Variant | Median s (min–max) | wall µs/row | client CPU µs/row | server CPU µs/row"
        " | vs before |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label in variants:
        median = statistics.median(walls[label])
        out.append(
            f"| {label} | {median:.2f} ({min(walls[label]):.2f}–{max(walls[label]):.2f}) "
            f"| {median / rows * 1e6:.2f} | {statistics.median(cpus[label]) / rows * 1e6:.2f} "
            f"| {statistics.median(servers[label]) / rows * 1e6:.2f} | {base / median:.1f}× |"
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
            postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
            print(experiment(server.url("columnar"), chunks, types, args.repeat, postmaster))
    print(f"\nload average after: {environment().rsplit('load average ', 1)[1]}")


if __name__ == "__main__":
    main()

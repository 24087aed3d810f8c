"""Prototypes of fixes for the hot spots `load.py --breakdown` shows, measured on real chunks.

    .venv/bin/python bench/hotspots.py [--rows 100000] [--repeat 3] [--targets sqlite,postgresql]

Nothing here changes turbodata: each experiment times turbodata's current code against a
candidate replacement written here, on the typed chunks of the first folder (read_raw +
convert_chunk), and checks that both leave the same rows behind.

1. COPY serialisation (PostgreSQL): `PostgreSQLDialect.insert_batch` (Arrow → Python lists →
   psycopg `write_row`, text COPY) against the same with decimals passed as exact text instead
   of `Decimal` objects, and against casting each column to text in Arrow and writing the batch
   with `pyarrow.csv.write_csv` into `COPY … (FORMAT csv)`.
2. Reducing the staged rows to one per key (SQLite, PostgreSQL): `Staging.keep_winners` against
   (a) a duplicate-key check, then nothing when there is none, and (b) the same window ranking
   over only the key and ordering columns, deleting the losers (`IN rank > 1`).
3. The type-inference pass: a second full `read_raw` of the file against reading only the
   columns inferred (`include_columns`).
4. The primary key of a first load (PostgreSQL): `insert_batch` into the table created with
   its primary key (the index maintained row by row, on a random GUID) against the same
   into the table without it, then `ALTER TABLE … ADD PRIMARY KEY` (one sorted build).
5. The reader's scan for a quote inside an unquoted field (`_FastInput.read`, on every block
   of every read): the regex `[^edges]"[^edges]`, which Python's `re` tries at every byte,
   against `bytes.translate` (every byte that is not an edge → `a`) then `find(b'a"a')`.
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import DEFAULT_DATA, add_repo_paths, environment
from data import FOLDERS, TABLE, ensure_lake

add_repo_paths()

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from turbodata.dialects.arrow_text import decimal_strings  # noqa: E402
from turbodata.load.changes import SEQUENCE, ChangeColumns, Staging  # noqa: E402
from turbodata.load.schema import table_object  # noqa: E402
from turbodata.metadata.model_json import parse_model_json  # noqa: E402
from turbodata.model import CsvDialect  # noqa: E402
from turbodata.pipeline import connect  # noqa: E402
from turbodata.read.convert import TypedChunk, convert_chunk  # noqa: E402
from turbodata.read.reader import READ_BLOCK, read_raw  # noqa: E402
from turbodata.types.sql import Kind, SqlType, from_cdm  # noqa: E402

CPU: list[float] = []  # client CPU seconds of the runs `timed` last measured


def timed(work: Callable[[], object], repeat: int, reset: Callable[[], None]) -> list[float]:
    times = []
    CPU.clear()
    for _ in range(repeat):
        reset()
        started, cpu = time.perf_counter(), time.process_time()
        work()
        times.append(time.perf_counter() - started)
        CPU.append(time.process_time() - cpu)
    return times


def line(label: str, times: list[float], rows: int, base: float | None = None) -> str:
    median = statistics.median(times)
    ratio = f"{base / median:.1f}× faster" if base else "current"
    cpu = f"{statistics.median(CPU) / rows * 1e6:.2f}" if CPU else "—"
    return (
        f"| {label} | {median:.3f} ({min(times):.3f}–{max(times):.3f}) "
        f"| {median / rows * 1e6:.2f} | {cpu} | {ratio} |"
    )


HEADER = (
    "| Variant | Median s (min–max) | µs/row | client CPU µs/row | vs current |\n"
    "|---|---:|---:|---:|---:|"
)


def typed_chunks(csv_path: Path, names: list[str], types: list[SqlType]) -> list[TypedChunk]:
    return [
        convert_chunk(raw, names, types)
        for raw in read_raw(lambda: csv_path.open("rb"), column_names=names, dialect=CsvDialect())
    ]


# ----------------------------------------------------------------------- 1. COPY serialisation


def arrow_csv(batch: pa.RecordBatch) -> bytes:
    """The batch as CSV for `COPY … (FORMAT csv)`: NULL unquoted-empty, every value quoted."""
    columns = [pc.cast(column, pa.string()) for column in batch.columns]
    table = pa.Table.from_arrays(columns, names=batch.schema.names)
    sink = io.BytesIO()
    pacsv.write_csv(
        table, sink, pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
    )
    return sink.getvalue()


def copy_experiment(url: str, chunks: list[TypedChunk], types: list[SqlType], repeat: int) -> str:
    engine, dialect = connect(url)
    names = chunks[0].batch.schema.names
    staged = dict(zip([*names, SEQUENCE], [*types, SqlType(Kind.BIGINT)], strict=True))
    target = table_object(dialect, "copy_target", staged, None)
    batches = [c.batch.append_column(SEQUENCE, pc.cast(c.row_numbers, pa.int64())) for c in chunks]
    rows = sum(b.num_rows for b in batches)
    with engine.begin() as conn:
        target.create(conn)

    def reset() -> None:
        with engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE copy_target"))

    def current() -> None:
        with engine.begin() as conn:
            for batch in batches:
                dialect.insert_batch(conn, target, batch, list(staged.values()))

    class DecimalText(type(dialect)):  # type: ignore[misc]
        """The dialect with decimals sent as exact text, as SQLiteDialect already does."""

        def python_values(self, array: pa.Array, sql_type: SqlType) -> list[object]:
            if sql_type.kind is Kind.DECIMAL:
                return decimal_strings(array)
            return super().python_values(array, sql_type)

    decimal_text = DecimalText()

    def current_decimal_text() -> None:
        with engine.begin() as conn:
            for batch in batches:
                decimal_text.insert_batch(conn, target, batch, list(staged.values()))

    def arrow() -> None:
        with engine.begin() as conn:
            quoted = ", ".join(f'"{n}"' for n in staged)
            raw = conn.connection.driver_connection
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY copy_target ({quoted}) FROM STDIN (FORMAT csv)") as copy,
            ):
                for batch in batches:
                    copy.write(arrow_csv(batch))

    digest = sa.text(
        f"SELECT md5(string_agg(t::text, '|' ORDER BY {SEQUENCE})), count(*) FROM copy_target t"
    )
    results = {}
    out = [f"**1. COPY serialisation**, PostgreSQL, {rows:,} typed rows", "", HEADER]
    base = None
    for label, work in (
        (
            "insert_batch now (binary COPY built in Arrow; it was python_values + write_row)",
            current,
        ),
        (
            "same, decimals as text (decimal_strings) instead of Decimal objects",
            current_decimal_text,
        ),
        (
            "Arrow cast to text + pyarrow.csv.write_csv + copy.write (not exact: the server"
            " rounds the 7th fraction digit that turbodata cuts)",
            arrow,
        ),
    ):
        times = timed(work, repeat, reset)
        with engine.connect() as conn:
            results[label] = tuple(conn.execute(digest).one())
        out.append(line(label, times, rows, base))
        base = base or statistics.median(times)
    first = next(iter(results.values()))
    differing = [label for label, digest in results.items() if digest != first]
    out.append(
        "\nsame rows in the table (md5 of every row as text): "
        + ("yes" if not differing else f"NO, these differ from the first: {differing}")
    )
    engine.dispose()
    return "\n".join(out)


# ----------------------------------------------------------------------- 2. keep_winners


def narrow_delete(staging: Staging) -> sa.Delete:
    """keep_winners' ranking over only the columns it orders by; deletes the losers."""
    s, c = staging.table, staging.columns
    key = [s.c[k] for k in c.key]
    needed = [*key, s.c[SEQUENCE], *(s.c[n] for n in (c.version, c.modified, c.delete) if n)]
    extra = []
    if c.version:
        extra.append(sa.func.max(s.c[c.version]).over(partition_by=key).label("newest"))
    rows = sa.select(*needed, *extra).subquery("rows")

    def desc_nulls_last(column: Any) -> list[Any]:
        return [sa.case((column.is_(None), 0), else_=1).desc(), column.desc()]

    order: list[Any] = []
    if c.version:
        order += desc_nulls_last(sa.func.coalesce(rows.c[c.version], rows.c.newest))
    if c.modified:
        order += desc_nulls_last(rows.c[c.modified])
    if c.delete:
        order.append(sa.case((rows.c[c.delete] == sa.true(), 1), else_=0).desc())
    order.append(rows.c[SEQUENCE].desc())
    rank = sa.func.row_number().over(partition_by=[rows.c[k] for k in c.key], order_by=order)
    ranked = sa.select(rows.c[SEQUENCE].label("seq"), rank.label("rank")).subquery("ranked")
    losers = sa.select(ranked.c.seq).where(ranked.c.rank > 1)
    return sa.delete(s).where(s.c[SEQUENCE].in_(losers))


def has_duplicate_keys(staging: Staging) -> sa.Select:
    key = [staging.table.c[k] for k in staging.columns.key]
    return (
        sa.select(sa.literal(1))
        .select_from(staging.table)
        .group_by(*key)
        .having(sa.func.count() > 1)
        .limit(1)
    )


def winners_experiment(
    url: str, chunks: list[TypedChunk], names: list[str], types: list[SqlType], repeat: int
) -> str:
    engine, dialect = connect(url)
    staged_types = {
        n: SqlType(Kind.STRING) if t.kind is Kind.STRING else t
        for n, t in zip(names, types, strict=True)
    }
    target = table_object(dialect, TABLE, dict(zip(names, types, strict=True)), None, ("Id",))
    rows = sum(c.batch.num_rows for c in chunks)
    keys = pa.chunked_array([c.batch.column("Id") for c in chunks])
    checks = []
    for _ in range(repeat):
        started = time.perf_counter()
        arrow_unique = pc.count_distinct(keys).as_py() == len(keys)
        checks.append(time.perf_counter() - started)
    arrow_check = statistics.median(checks)
    out = [
        f"**2. keep_winners**, {engine.dialect.name}, {rows:,} staged rows, every key unique",
        "",
        HEADER,
    ]
    base = None
    counts = {}
    with engine.connect() as conn:
        outer = conn.begin()
        target.create(conn)
        staging = Staging(conn, dialect, target, staged_types, ChangeColumns.find(names, ("Id",)))
        with dialect.bulk_insert(conn, staging.types) as sink:
            for index, chunk in enumerate(chunks):
                staging.add(sink, chunk.batch, index, chunk.row_numbers)
        index_name = f"{staging.table.name.lstrip('#')}_key"
        key_index = sa.Index(index_name, *(staging.table.c[k] for k in staging.columns.key))

        def variants() -> list[tuple[str, Callable[[], object]]]:
            def create_index() -> None:
                conn.execute(sa.schema.CreateIndex(key_index))

            return [
                ("current: Staging.keep_winners (index + NOT IN window)", staging.keep_winners),
                (
                    "index + duplicate check (GROUP BY … HAVING count(*) > 1 LIMIT 1)",
                    lambda: (create_index(), conn.execute(has_duplicate_keys(staging)).first()),
                ),
                (
                    "index + narrow window ranking, DELETE … IN (rank > 1)",
                    lambda: (create_index(), conn.execute(narrow_delete(staging))),
                ),
            ]

        for label, work in variants():
            times = []
            CPU.clear()
            for _ in range(repeat):
                savepoint = conn.begin_nested()
                started, cpu = time.perf_counter(), time.process_time()
                work()
                times.append(time.perf_counter() - started)
                CPU.append(time.process_time() - cpu)
                counts[label] = conn.execute(
                    sa.select(sa.func.count()).select_from(staging.table)
                ).scalar_one()
                savepoint.rollback()
            out.append(line(label, times, rows, base))
            base = base or statistics.median(times)
        outer.rollback()
    out.append(
        f"| Arrow check while staging: pc.count_distinct(keys) == len(keys) → {arrow_unique} "
        f"| {arrow_check:.3f} | {arrow_check / rows * 1e6:.2f} | | |"
    )
    out.append(f"\nrows left in staging per variant: {sorted(set(counts.values()))}")
    engine.dispose()
    return "\n".join(out)


# ----------------------------------------------------------------------- 3. inference pass


def inference_experiment(csv_path: Path, names: list[str], inferred: list[str], repeat: int) -> str:
    def full() -> int:
        chunks = read_raw(lambda: csv_path.open("rb"), column_names=names, dialect=CsvDialect())
        return sum(c.num_rows for c in chunks)

    def narrow() -> int:
        reader = pacsv.open_csv(
            csv_path,
            read_options=pacsv.ReadOptions(
                column_names=names, block_size=READ_BLOCK, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(inferred, pa.string()),
                include_columns=inferred,
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                null_values=[""],
            ),
        )
        return sum(b.num_rows for b in reader)

    rows = full()
    out = [
        f"**3. Type-inference pass** over {rows:,} rows; inferred columns: {', '.join(inferred)}",
        "",
        HEADER,
    ]
    base = None
    for label, work in (
        ("current: read_raw of every column", full),
        ("pyarrow open_csv, include_columns = inferred only", narrow),
    ):
        times = timed(work, repeat, lambda: None)
        out.append(line(label, times, rows, base))
        base = base or statistics.median(times)
    out.append("| single pass (infer from the chunks the load reads anyway) | 0 | 0 | 0 | — |")
    return "\n".join(out)


# ----------------------------------------------------------------------- 4. primary key


def primary_key_experiment(
    url: str, chunks: list[TypedChunk], names: list[str], types: list[SqlType], repeat: int
) -> str:
    engine, dialect = connect(url)
    columns = dict(zip(names, types, strict=True))
    keyed = table_object(dialect, "pk_during", columns, None, key=["Id"])
    unkeyed = table_object(dialect, "pk_after", columns, None)
    rows = sum(c.batch.num_rows for c in chunks)

    def fresh(table: sa.Table) -> Callable[[], None]:
        def reset() -> None:
            with engine.begin() as conn:
                table.drop(conn, checkfirst=True)
                table.create(conn)

        return reset

    def load(table: sa.Table, key_after: bool) -> None:
        with engine.begin() as conn:
            for chunk in chunks:
                dialect.insert_batch(conn, table, chunk.batch, types)
            if key_after:
                conn.execute(sa.text(f'ALTER TABLE "{table.name}" ADD PRIMARY KEY ("Id")'))

    digest = 'SELECT md5(string_agg(t::text, \'|\' ORDER BY "Id")), count(*) FROM "{}" t'
    out = [f"**4. Primary key of a first load**, PostgreSQL, {rows:,} rows", "", HEADER]
    base = None
    for label, table, after in (
        ("current: COPY into the table with its primary key", keyed, False),
        ("COPY into the table without it, then ADD PRIMARY KEY", unkeyed, True),
    ):
        times = timed(lambda t=table, a=after: load(t, a), repeat, fresh(table))
        out.append(line(label, times, rows, base))
        base = base or statistics.median(times)
    with engine.connect() as conn:
        same = len(
            {tuple(conn.execute(sa.text(digest.format(t.name))).one()) for t in (keyed, unkeyed)}
        )
    out.append(f"\nsame rows in both tables: {'yes' if same == 1 else 'NO'}")
    engine.dispose()
    return "\n".join(out)


# ----------------------------------------------------------------------- 5. quote scan

_EDGES = b'",\r\n'
_LITERAL_QUOTE = re.compile(
    b"[^" + re.escape(_EDGES) + b"]" + b'"' + b"[^" + re.escape(_EDGES) + b"]"
)
_AS_PLAIN = bytes(c if c in _EDGES else ord("a") for c in range(256))


def quote_scan_experiment(csv_path: Path, rows: int, repeat: int) -> str:
    data = csv_path.read_bytes()
    blocks = [data[start : start + READ_BLOCK] for start in range(0, len(data), READ_BLOCK)]

    def regex() -> int:
        return sum(1 for block in blocks if _LITERAL_QUOTE.search(block))

    def translated() -> int:
        return sum(1 for block in blocks if block.translate(_AS_PLAIN).find(b'a"a') >= 0)

    if regex() != translated():
        raise AssertionError("the two scans disagree")
    out = [f"**5. Quote scan of the reader**, {len(data):,} bytes", "", HEADER]
    base = None
    for label, work in (
        ('current: re.search([^edges]"[^edges]) per block', regex),
        ("bytes.translate + find(b'a\"a') per block", translated),
    ):
        times = timed(work, repeat, lambda: None)
        out.append(line(label, times, rows, base))
        base = base or statistics.median(times)
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
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
    print(f"# hotspots: {lake.rows:,} rows; {environment()}\n")
    chunks = typed_chunks(lake.csv(0), names, types)

    inferred = [c.name for c in schema.columns if c.cdm_type.value == "string" and not c.max_length]
    print(inference_experiment(lake.csv(0), names, inferred, args.repeat))
    print()
    print(quote_scan_experiment(lake.csv(0), lake.rows, args.repeat))
    if "sqlite" in targets:
        with tempfile.TemporaryDirectory() as tmp:
            print()
            print(
                winners_experiment(f"sqlite:///{tmp}/w.sqlite", chunks, names, types, args.repeat)
            )
    if "postgresql" in targets:
        from servers.postgres import PostgresServer

        with PostgresServer() as server:
            server.create_database("hotspots")
            url = server.url("hotspots")
            print()
            print(winners_experiment(url, chunks, names, types, args.repeat))
            print()
            print(copy_experiment(url, chunks, types, args.repeat))
            print()
            print(primary_key_experiment(url, chunks, names, types, args.repeat))


if __name__ == "__main__":
    main()

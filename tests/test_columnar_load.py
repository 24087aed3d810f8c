"""The columnar insert path (Arrow → COPY text / executemany) stores exactly what the row path
did: every Kind, nasty values, '' against NULL, the 7th fraction digit, COPY's escapes."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from turbodata.dialects import pg_copy
from turbodata.dialects.arrow_text import SEVENTH_DIGIT, decimal_text, without_seventh_digit
from turbodata.dialects.base import Dialect, insert_statement
from turbodata.load.schema import table_object
from turbodata.pipeline import connect
from turbodata.read.values import convert_column, offset_as_utc
from turbodata.types.sql import Kind, SqlType, arrow_type

NASTY_TEXT = [
    "",
    None,
    'a"b',
    "a,b",
    "x\ny",
    "x\r\ny",
    "\r",
    "\\",
    "\\.",
    "a\n\\.\nb",
    "a\r\n\\.\r\nb",
    "\\.\n",
    "\t",
    "tab\tin",
    "\\N",
    "N",
    "NULL",
    " spaced ",
    "'single'",
    '""',
    "\\\\n",
    "\\042",
    "😀 non-BMP 𝄞",
    "ßüé 中文",
]
DATETIMES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999", "2022-06-13T17:29:39.7677699Z"]
OFFSETS = ["2022-06-13T17:29:39.7677699+05:30", "9999-12-31T23:59:59.9999999Z", "0001-01-01T00:00Z"]

TYPES = {
    "seq": SqlType(Kind.BIGINT),
    "b": SqlType(Kind.BOOLEAN),
    "t": SqlType(Kind.TINYINT),
    "si": SqlType(Kind.SMALLINT),
    "i": SqlType(Kind.INTEGER),
    "bi": SqlType(Kind.BIGINT),
    "d": SqlType(Kind.DECIMAL, precision=38, scale=10),
    "d0": SqlType(Kind.DECIMAL, precision=38, scale=0),
    "d38": SqlType(Kind.DECIMAL, precision=38, scale=38),
    "f": SqlType(Kind.FLOAT),
    "r": SqlType(Kind.REAL),
    "s": SqlType(Kind.STRING),
    "s40": SqlType(Kind.STRING, 40),
    "g": SqlType(Kind.GUID),
    "dt": SqlType(Kind.DATETIME),
    "dto": SqlType(Kind.DATETIMEOFFSET),
    "da": SqlType(Kind.DATE),
    "tm": SqlType(Kind.TIME),
}
FIXED = {
    "b": [True, False, None],
    "t": [0, 255, None],
    "si": [-(2**15), 2**15 - 1, None],
    "i": [-(2**31), 2**31 - 1, 0],
    "bi": [-(2**63), 2**63 - 1, None],
    "d": ["0", "0.0000000001", "-0.0000001", "9" * 28 + "." + "9" * 10, "-1.5", None],
    "d0": ["9" * 38, "-" + "9" * 38, "0", None],
    "d38": ["0." + "0" * 37 + "1", "-0." + "9" * 38, "0", None],
    "f": [0.1, -0.0, 1.7976931348623157e308, 5e-324, 1 / 3, 1e-7, 1e16, 123456789.125, None],
    "r": [0.1, 3.4028234663852886e38, 1.401298464324817e-45, 16777217.0, -0.0, None],
    "s": NASTY_TEXT,
    "s40": NASTY_TEXT[::-1],
    "g": ["00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", None],
    "dt": [*DATETIMES, None],
    "dto": [*OFFSETS, None],
    "da": ["0001-01-01", "9999-12-31", None],
    "tm": ["23:59:59.9999999", "00:00:00", "12:34:56.1234567", None],
}


def random_value(rng: random.Random, name: str) -> object:
    """Mostly the nasty values, sometimes a random one of the same column."""
    if rng.random() < 0.5 or name in ("b", "g", "da", "dt", "dto", "tm"):
        return rng.choice(FIXED[name])
    if name in ("s", "s40"):
        return "".join(rng.choice("ab,\"'\\\t\r\n.Nß😀 ") for _ in range(rng.randint(0, 12)))
    if name in ("f", "r"):
        return rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-30, 30)
    if name.startswith("d"):
        scale = TYPES[name].scale or 0
        unscaled = rng.randint(-(10**38) + 1, 10**38 - 1) // 10 ** rng.randint(0, 37)
        return str(Decimal(unscaled).scaleb(-scale))
    low, high = {"t": (0, 255), "si": (-(2**15), 2**15 - 1), "i": (-(2**31), 2**31 - 1)}.get(
        name, (-(2**63), 2**63 - 1)
    )
    return rng.randint(low, high)


def nasty_batch(rows: int) -> pa.RecordBatch:
    """Every nasty value of each column at least once, then random rows; typed as the loader
    types them (date/times, GUIDs and decimals through convert_column)."""
    rng = random.Random(7)
    columns: dict[str, list[object]] = {"seq": list(range(rows))}
    for name, fixed in FIXED.items():
        columns[name] = [
            fixed[n] if n < len(fixed) else random_value(rng, name) for n in range(rows)
        ]
    arrays = []
    for name, sql_type in TYPES.items():
        values = columns[name]
        if sql_type.kind in (Kind.GUID, Kind.DATETIME, Kind.DATETIMEOFFSET, Kind.DATE, Kind.TIME):
            converted = convert_column(pa.array(values, pa.string()), sql_type)
            assert not converted.errors, (name, converted.errors)
            arrays.append(converted.array)
        elif sql_type.kind is Kind.DECIMAL:
            arrays.append(
                pa.array([None if v is None else Decimal(v) for v in values], arrow_type(sql_type))
            )
        else:
            arrays.append(pa.array(values, arrow_type(sql_type)))
    return pa.RecordBatch.from_arrays(arrays, names=list(TYPES))


def row_path_values(dialect: Dialect, array: pa.Array, sql_type: SqlType) -> list[object]:
    """What the row-by-row path handed the driver before the columnar path."""
    if sql_type.kind is Kind.DECIMAL:
        return [None if v is None else format(v, "f") for v in array.to_pylist()]
    if dialect.name == "postgresql" and sql_type.kind in SEVENTH_DIGIT:
        return without_seventh_digit(array, sql_type).to_pylist()
    if dialect.name == "sqlite" and sql_type.kind is Kind.DATETIMEOFFSET:  # stored at +00:00
        return [None if v is None else offset_as_utc(v) for v in array.to_pylist()]
    return array.to_pylist()


def insert_row_by_row(
    conn: sa.Connection, dialect: Dialect, table: sa.Table, batch: pa.RecordBatch
) -> None:
    types = list(TYPES.values())
    columns = [row_path_values(dialect, batch.column(i), t) for i, t in enumerate(types)]
    rows = list(zip(*columns, strict=True))
    if dialect.name != "postgresql":
        conn.exec_driver_sql(insert_statement(conn.dialect, table, batch.schema.names), rows)
        return
    names = ", ".join(f'"{n}"' for n in batch.schema.names)
    with (
        conn.connection.driver_connection.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row(row)


def stored_rows(conn: sa.Connection, dialect: Dialect, table: str) -> list[tuple[Any, ...]]:
    """Every stored value as the database's own text (and SQLite's storage class)."""
    if dialect.name == "postgresql":
        sql = f'SELECT t::text FROM "{table}" t ORDER BY seq'
    else:
        fields = ", ".join(f'quote("{n}"), typeof("{n}")' for n in TYPES)
        sql = f'SELECT {fields} FROM "{table}" ORDER BY seq'
    return [tuple(row) for row in conn.exec_driver_sql(sql)]


@pytest.mark.parametrize("rows", [len(NASTY_TEXT), 25_000])
def test_the_columnar_path_stores_what_the_row_path_stored(db_url: str, rows: int) -> None:
    engine, dialect = connect(db_url)
    batch = nasty_batch(rows)
    columnar = table_object(dialect, "columnar", TYPES, None)
    row_by_row = table_object(dialect, "row_by_row", TYPES, None)
    try:
        with engine.begin() as conn:
            columnar.create(conn)
            row_by_row.create(conn)
            assert dialect.insert_batch(conn, columnar, batch, list(TYPES.values())) == rows
            insert_row_by_row(conn, dialect, row_by_row, batch)
        with engine.connect() as conn:
            expected = stored_rows(conn, dialect, "row_by_row")
            assert len(expected) == rows
            assert stored_rows(conn, dialect, "columnar") == expected
            text = conn.execute(sa.select(columnar.c.s).order_by(columnar.c.seq)).scalars().all()
            stamps = (
                conn.execute(sa.select(sa.cast(columnar.c.dt, sa.String)).order_by(columnar.c.seq))
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert text[: len(NASTY_TEXT)] == NASTY_TEXT  # '' is not NULL, `\.` ends nothing
    cut = "9999-12-31 23:59:59.999999" + ("" if dialect.name == "postgresql" else "9")
    assert stamps[1] == cut  # truncated, never rounded into year 10000


def test_a_copy_that_stores_fewer_rows_than_the_batch_fails(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_copy_text = pg_copy.copy_text

    def without_last_line(batch: pa.RecordBatch, types: list[SqlType]) -> memoryview:
        text = real_copy_text(batch, types)
        return text[: bytes(text)[:-1].rfind(b"\n") + 1]

    monkeypatch.setattr(pg_copy, "copy_text", without_last_line)
    engine, dialect = connect(postgres_url)
    table = table_object(dialect, "short", TYPES, None)
    try:
        with engine.begin() as conn:
            table.create(conn)
            with pytest.raises(
                RuntimeError, match=f"stored {len(NASTY_TEXT) - 1} of {len(NASTY_TEXT)} rows"
            ):
                dialect.insert_batch(
                    conn, table, nasty_batch(len(NASTY_TEXT)), list(TYPES.values())
                )
    finally:
        engine.dispose()


def test_a_column_type_copy_text_does_not_know_goes_row_by_row(postgres_url: str) -> None:
    engine, dialect = connect(postgres_url)
    types = {"seq": SqlType(Kind.BIGINT), "s": SqlType(Kind.STRING)}
    table = table_object(dialect, "large", types, None)
    batch = pa.RecordBatch.from_arrays(
        [pa.array([1, 2, 3]), pa.array(["", None, "a\tb\\"], pa.large_string())], names=["seq", "s"]
    )
    try:
        with engine.begin() as conn:
            table.create(conn)
            assert dialect.insert_batch(conn, table, batch, list(types.values())) == 3
            stored = conn.execute(sa.select(table.c.s).order_by(table.c.seq)).scalars().all()
    finally:
        engine.dispose()
    assert stored == ["", None, "a\tb\\"]


@pytest.mark.parametrize("scale", [0, 1, 6, 7, 10, 20, 24, 37, 38])
def test_decimal_text_is_the_exact_positional_text_of_every_value(scale: int) -> None:
    rng = random.Random(scale)
    values = [Decimal(0).scaleb(-scale), None]
    for _ in range(5000):
        unscaled = rng.randint(-(10**38) + 1, 10**38 - 1) // 10 ** rng.randint(0, 38)
        values.append(Decimal(unscaled).scaleb(-scale))
    array = pa.array(values, pa.decimal128(38, scale))
    expected = [None if v is None else format(v, "f") for v in array.to_pylist()]
    assert decimal_text(array).to_pylist() == expected


def test_a_failing_insert_raises_sqlalchemys_error_with_the_drivers_own(db_url: str) -> None:
    """COPY and executemany run on the driver's cursor; their errors still arrive as
    SQLAlchemy's, with the driver's error as `.orig` (what `is_transient` and the loader's
    fallback to staging read)."""
    engine, dialect = connect(db_url)
    types = {"seq": SqlType(Kind.BIGINT), "s": SqlType(Kind.STRING)}
    table = table_object(dialect, "keyed", types, None, key=["seq"])
    batch = pa.RecordBatch.from_arrays([pa.array([1, 1]), pa.array(["a", "b"])], names=["seq", "s"])
    try:
        with engine.begin() as conn:
            table.create(conn)
            with pytest.raises(sa.exc.IntegrityError, match=r"(?i)unique|duplicate") as raised:
                dialect.insert_batch(conn, table, batch, list(types.values()))
            assert isinstance(raised.value.orig, conn.dialect.dbapi.IntegrityError)
            conn.rollback()
    finally:
        engine.dispose()

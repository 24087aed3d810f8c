"""PostgreSQL's binary COPY (`turbodata.dialects.pg_binary`) stores exactly what the text COPY
stores: every Kind, NULLs, '' against NULL, non-ASCII, extremes, the 7th fraction digit, a
column precision below 6, huge and tiny decimals; a value or type it does not encode goes as
text."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pytest
import sqlalchemy as sa

from tests.test_columnar_load import TYPES as COLUMNAR_TYPES
from turbodata.dialects import pg_binary, pg_copy, postgresql
from turbodata.load.schema import table_object
from turbodata.pipeline import connect
from turbodata.read.values import convert_column
from turbodata.types.sql import Kind, SqlType, arrow_type

TEXT = ["", None, "a\tb", "x\ny\r\n", "\\", "\\N", "NULL", "😀 non-BMP 𝄞", "ßüé 中文", " "]
STAMPS = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.9999999",
    "2024-02-29T12:34:56.0000005",
    "1999-12-31T23:59:59.9999995",
    "2000-01-01T00:00:00",
    "1969-12-31T23:59:59.999",
]
ZONED = [
    "2022-06-13T17:29:39.7677699+05:30",
    "9999-12-31T23:59:59.9999999Z",
    "0001-01-01T14:00Z",
    "2000-01-01T00:00:00-14:00",
    "0001-01-02T00:00:00.5+14:00",
]
# the types the columnar test covers, but REAL (a batch with REAL goes as text COPY), and more
# precisions and scales
TYPES = {n: t for n, t in COLUMNAR_TYPES.items() if t.kind is not Kind.REAL} | {
    "d5": SqlType(Kind.DECIMAL, precision=9, scale=5),
    "d4": SqlType(Kind.DECIMAL, precision=4, scale=4),
    "dt3": SqlType(Kind.DATETIME, fraction=3),
    "dt0": SqlType(Kind.DATETIME, fraction=0),
    "dto2": SqlType(Kind.DATETIMEOFFSET, fraction=2),
    "tm1": SqlType(Kind.TIME, fraction=1),
}
FIXED: dict[str, list[object]] = {
    "b": [True, False, None],
    "t": [0, 255, None],
    "si": [-(2**15), 2**15 - 1, None, 0],
    "i": [-(2**31), 2**31 - 1, 0, None, -1],
    "bi": [-(2**63), 2**63 - 1, None, -1, 0],
    "d": ["0", "0.0000000001", "-0.0000001", "9" * 28 + "." + "9" * 10, "-1.5", None, "10000"],
    "d0": ["9" * 38, "-" + "9" * 38, "0", None, "10000", "-1"],
    "d38": ["0." + "0" * 37 + "1", "-0." + "9" * 38, "0", None, "0.0001"],
    "d5": ["9999.99999", "-0.00001", "0", None, "1234.5"],
    "d4": ["0.9999", "-0.0001", "0", None, "0.1"],
    "f": [0.1, -0.0, 1.7976931348623157e308, 5e-324, -5e-324, 1 / 3, 1e16, None, 2.0**-1074],
    "s": TEXT,
    "s40": TEXT[::-1],
    "g": ["00000000-0000-0000-0000-000000000000", "{FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF}", None],
    "dt": [*STAMPS, None],
    "dt3": [*STAMPS, None],
    "dt0": [*STAMPS, None],
    "dto": [*ZONED, None],
    "dto2": [*ZONED, None],
    "da": ["0001-01-01", "9999-12-31", "2000-01-01", "1999-12-31", "2024-02-29", None],
    "tm": ["23:59:59.9999999", "00:00:00", "12:34:56.1234567", None, "0:00:00.0000005"],
    "tm1": ["23:59:59.95", "00:00:00.05", "12:34:56.1234567", None],
}
_CONVERTED = (Kind.GUID, Kind.DATETIME, Kind.DATETIMEOFFSET, Kind.DATE, Kind.TIME)


def random_value(rng: random.Random, name: str) -> object:
    """Mostly the fixed values, sometimes a random one of the same column."""
    sql_type = TYPES[name]
    if rng.random() < 0.4 or sql_type.kind in (*_CONVERTED, Kind.BOOLEAN):
        if sql_type.kind is Kind.GUID and rng.random() < 0.5:
            return "".join(rng.choice("0123456789abcdefABCDEF-") for _ in range(36))
        return rng.choice(FIXED[name])
    if sql_type.kind is Kind.STRING:
        return "".join(rng.choice("ab,\"'\\\t\r\n.Nß😀 ") for _ in range(rng.randint(0, 12)))
    if sql_type.kind is Kind.FLOAT:
        return rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-300, 300)
    if sql_type.kind is Kind.DECIMAL:
        precision, scale = sql_type.precision or 38, sql_type.scale or 0
        unscaled = rng.randint(-(10**precision) + 1, 10**precision - 1)
        return str(Decimal(unscaled // 10 ** rng.randint(0, precision)).scaleb(-scale))
    bits = {Kind.TINYINT: 8, Kind.SMALLINT: 15, Kind.INTEGER: 31}.get(sql_type.kind, 63)
    low = 0 if sql_type.kind is Kind.TINYINT else -(2**bits)
    return rng.randint(low, 2**bits - 1)


def typed_batch(types: dict[str, SqlType], rows: int, seed: int = 7) -> pa.RecordBatch:
    """Every fixed value of each column, then random rows; typed as the loader types them
    (date/times and GUIDs through convert_column)."""
    rng = random.Random(seed)
    arrays = []
    for name, sql_type in types.items():
        if name == "seq":
            arrays.append(pa.array(range(rows), pa.int64()))
            continue
        fixed = FIXED[name]
        values = [fixed[n] if n < len(fixed) else random_value(rng, name) for n in range(rows)]
        if sql_type.kind in _CONVERTED:
            converted = convert_column(pa.array(values, pa.string()), sql_type)
            arrays.append(converted.array)  # a random GUID that is not one: NULL
        elif sql_type.kind is Kind.DECIMAL:
            decimals = [None if v is None else Decimal(str(v)) for v in values]
            arrays.append(pa.array(decimals, arrow_type(sql_type)))
        else:
            arrays.append(pa.array(values, arrow_type(sql_type)))
    return pa.RecordBatch.from_arrays(arrays, names=list(types))


@pytest.fixture()
def pg(postgres_url: str) -> Iterator[tuple[sa.Engine, postgresql.PostgreSQLDialect]]:
    engine, dialect = connect(postgres_url)
    try:
        yield engine, dialect
    finally:
        engine.dispose()


def load(
    pg: tuple[sa.Engine, postgresql.PostgreSQLDialect],
    name: str,
    types: dict[str, SqlType],
    batch: pa.RecordBatch,
) -> list[str]:
    """`batch` loaded by insert_batch into a new table; every row as PostgreSQL's text."""
    return load_batches(pg, name, types, [batch])


class Formats:
    """Records the format of every COPY the dialect runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, binary: bool = True) -> None:
        self.used: list[str] = []
        real_copy_rows = pg_binary.copy_rows
        real_copy_text = pg_copy.copy_text

        def copy_rows(*args: object) -> memoryview | None:
            body = real_copy_rows(*args) if binary else None  # type: ignore[arg-type]
            self.used.append("binary" if body is not None else "text")
            return body

        def copy_text(*args: object) -> memoryview:
            if not self.used or self.used[-1] != "text":
                self.used.append("text")
            return real_copy_text(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(pg_binary, "copy_rows", copy_rows)
        monkeypatch.setattr(pg_copy, "copy_text", copy_text)


@pytest.mark.parametrize("rows", [40, 25_000])
def test_binary_copy_stores_what_text_copy_stores(
    pg: tuple[sa.Engine, postgresql.PostgreSQLDialect], monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    batch = typed_batch(TYPES, rows)
    with monkeypatch.context() as patch:
        as_text = Formats(patch, binary=False)
        expected = load(pg, "as_text", TYPES, batch)
    as_binary = Formats(monkeypatch)
    stored = load(pg, "as_binary", TYPES, batch)
    assert set(as_text.used) == {"text"}
    assert set(as_binary.used) == {"binary"}
    assert len(expected) == rows
    assert stored == expected


def test_the_values_binary_copy_stores_are_the_ones_given(
    pg: tuple[sa.Engine, postgresql.PostgreSQLDialect],
) -> None:
    """Not only the same as text: the right values (read back as Python values)."""
    names = ("seq", "si", "bi", "d", "d4", "f", "s", "g", "dto", "da", "tm", "dt", "dt3")
    types = {n: TYPES[n] for n in names}
    batch = typed_batch(types, 5)
    engine = pg[0]
    load(pg, "values", types, batch)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT si, bi, d, d4, f, s, g::text, dto AT TIME ZONE 'UTC', da, tm, dt::text,"
            " dt3::text"
            ' FROM "values" ORDER BY seq'
        ).all()
    assert [r[0] for r in rows[:4]] == [-(2**15), 2**15 - 1, None, 0]
    assert rows[0][1] == -(2**63) and rows[1][1] == 2**63 - 1
    assert rows[3][2] == Decimal("9" * 28 + "." + "9" * 10)
    assert rows[2][2] == Decimal("-0.0000001000")
    assert rows[1][3] == Decimal("-0.0001")
    assert rows[2][4] == 1.7976931348623157e308 and rows[3][4] == 5e-324
    assert rows[1][4] == 0.0 and str(rows[1][4]) == "-0.0"
    assert [r[5] for r in rows[:4]] == TEXT[:4]
    assert rows[1][6] == "ffffffff-ffff-ffff-ffff-ffffffffffff"
    assert str(rows[0][7]) == "2022-06-13 11:59:39.767769"
    assert str(rows[3][7]) == "2000-01-01 14:00:00"
    assert str(rows[0][8]) == "0001-01-01" and str(rows[4][8]) == "2024-02-29"
    assert str(rows[0][9]) == "23:59:59.999999" and str(rows[4][9]) == "00:00:00"
    assert rows[1][10] == "9999-12-31 23:59:59.999999"  # cut, never rounded into 10000
    assert rows[0][11] == "0001-01-01 00:00:00" and rows[4][11] == "2000-01-01 00:00:00"
    assert rows[2][11] is None  # `.0000005` in a datetime(3): a reject, never rounded


def test_a_slice_with_a_value_binary_does_not_take_goes_as_text(
    pg: tuple[sa.Engine, postgresql.PostgreSQLDialect], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middle slice's timestamp is not canonical text (10 characters, no time): that
    slice goes in a text COPY of its own, and the server reads it as text always did."""
    types = {"seq": TYPES["seq"], "dt": TYPES["dt"], "s": TYPES["s"]}
    rows = 3 * pg_copy.COPY_SLICE_ROWS
    batch = typed_batch(types, rows)
    stamps = batch.column(1).to_pylist()
    odd_row = pg_copy.COPY_SLICE_ROWS + 17
    stamps[odd_row] = "2024-02-29"
    batch = batch.set_column(1, "dt", pa.array(stamps, pa.string()))
    formats = Formats(monkeypatch)
    stored = load(pg, "mixed", types, batch)
    assert formats.used == ["binary", "text", "binary"]
    assert len(stored) == rows
    assert stored[odd_row] == f'({odd_row},"2024-02-29 00:00:00",{stored[odd_row].split(",", 2)[2]}'
    with monkeypatch.context() as patch:
        Formats(patch, binary=False)
        assert load(pg, "mixed_text", types, batch) == stored


def test_a_column_type_without_a_binary_form_sends_the_batch_as_text(
    pg: tuple[sa.Engine, postgresql.PostgreSQLDialect], monkeypatch: pytest.MonkeyPatch
) -> None:
    """REAL: float8 → float4 in the client could round apart from the server's reading of
    the shortest text of the double."""
    types = {"seq": TYPES["seq"], "r": SqlType(Kind.REAL), "i": TYPES["i"]}
    batch = pa.RecordBatch.from_arrays(
        [pa.array([1, 2]), pa.array([0.1, 3.4028234663852886e38]), pa.array([1, None])],
        names=list(types),
    )
    formats = Formats(monkeypatch)
    assert load(pg, "real", types, batch) == ["(1,0.1,1)", "(2,3.4028235e+38,)"]
    assert formats.used == ["text"]


def test_an_integer_beyond_the_column_fails_as_with_text(
    pg: tuple[sa.Engine, postgresql.PostgreSQLDialect],
) -> None:
    """A value the column cannot hold never wraps around in binary: it goes as text and the
    server refuses it."""
    engine, dialect = pg
    table = table_object(dialect, "narrow", {"seq": SqlType(Kind.SMALLINT)}, None)
    batch = pa.RecordBatch.from_arrays([pa.array([1, 2**15])], names=["seq"])
    with engine.begin() as conn:
        table.create(conn)
        with pytest.raises(sa.exc.DataError, match="out of range"):
            dialect.insert_batch(conn, table, batch, [SqlType(Kind.INTEGER)])
        conn.rollback()


def test_the_binary_rows_are_the_documented_wire_form() -> None:
    """Independent of the server: one row, field by field."""
    table = table_object(
        postgresql.PostgreSQLDialect(),
        "wire",
        {"i": SqlType(Kind.INTEGER), "d": SqlType(Kind.DECIMAL, precision=9, scale=5)},
        None,
    )
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([-2, None]),
            pa.array([Decimal("-1234.5"), Decimal("0.00001")], pa.decimal128(9, 5)),
        ],
        names=["i", "d"],
    )
    encoders = pg_binary.encoders(table, batch.schema)
    assert encoders is not None
    body = bytes(pg_binary.copy_rows(batch, encoders) or b"")
    numeric_head = b"\x00\x00\x00\x0e\x00\x03\x00\x00"  # length 14, 3 digits, weight 0
    first = b"\x00\x02" + b"\x00\x00\x00\x04\xff\xff\xff\xfe" + numeric_head
    first += b"\x40\x00\x00\x05" + b"\x04\xd2\x13\x88\x00\x00"  # -, scale 5; 1234 5000 0000
    second = b"\x00\x02" + b"\xff\xff\xff\xff" + numeric_head
    second += b"\x00\x00\x00\x05" + b"\x00\x00\x00\x00\x03\xe8"  # 0 0000 1000
    assert body == first + second


@pytest.mark.parametrize("value", [123_456, -99_999, 10**20])
def test_a_decimal_beyond_its_precision_fails_as_with_text(
    pg: tuple[sa.Engine, postgresql.PostgreSQLDialect], value: int
) -> None:
    """An Arrow decimal can hold more digits than its type says; binary never drops them:
    the value goes as text and the server refuses it."""
    engine, dialect = pg
    sql_type = SqlType(Kind.DECIMAL, precision=4, scale=0)
    table = table_object(dialect, "small", {"d": sql_type}, None)
    digits = pa.array([Decimal(1), Decimal(value)], pa.decimal128(38, 0))
    batch = pa.RecordBatch.from_arrays([digits.view(pa.decimal128(4, 0))], names=["d"])
    with engine.begin() as conn:
        table.create(conn)
        with pytest.raises(sa.exc.DataError, match="numeric field overflow"):
            dialect.insert_batch(conn, table, batch, [sql_type])
        conn.rollback()


def test_a_connection_not_speaking_utf8_gets_text_copy(
    pg: tuple[sa.Engine, postgresql.PostgreSQLDialect], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Binary text fields are read in the connection's client encoding; the text COPY names
    UTF-8 itself. With LATIN1 as client encoding, binary would store 'ß' as 'ÃŸ'."""
    engine, dialect = pg
    types = {"seq": TYPES["seq"], "s": TYPES["s"]}
    table = table_object(dialect, "latin", types, None)
    batch = pa.RecordBatch.from_arrays(
        [pa.array([1, 2]), pa.array(["ßüé 中文", "😀"])], names=list(types)
    )
    formats = Formats(monkeypatch)
    with engine.begin() as conn:
        table.create(conn)
        conn.exec_driver_sql("SET client_encoding TO 'LATIN1'")
        assert conn.connection.driver_connection.info.encoding != "utf-8"
        dialect.insert_batch(conn, table, batch, list(types.values()))
        conn.exec_driver_sql("SET client_encoding TO 'UTF8'")
        stored = conn.execute(sa.select(table.c.s).order_by(table.c.seq)).scalars().all()
    assert formats.used == ["text"]
    assert stored == ["ßüé 中文", "😀"]


# Decimal slices that each take another path of the NUMERIC encoder: every value below 1 (no
# integer group: weight -1), zeros only, one integer group, values at and beyond 2**64
# unscaled (long division first, then uint64), the largest 38 digits, and negatives.
DECIMAL_SLICES = {
    "d": [
        ["0.0000000001", "-0.5", "0.9999999999", None],
        ["0", None, "-0"],
        ["1", "-9999.9999999999", "42.1"],
        ["1844674407.3709551615", "-1844674407.3709551616", "1844674407.3709551617"],
        ["9" * 28 + "." + "9" * 10, "-" + "9" * 28 + ".0000000001", "0.0000000001"],
        ["123456789012345678.9", "-1", None, "0.1"],
    ],
    "d0": [["0", None], ["9999", "-10000"], ["18446744073709551616", "-1"], ["9" * 38, "1"]],
    "d5": [["0.00001", "-0.99999"], ["9999.99999", "-1234.5", None]],
    "d4": [["0.0001", "-0.9999", None], ["0", "0"]],
}


@pytest.mark.parametrize("name", list(DECIMAL_SLICES))
def test_each_decimal_slice_stores_what_text_stores(
    pg: tuple[sa.Engine, postgresql.PostgreSQLDialect], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Each slice a batch of its own, so each gets the digit groups its own values need."""
    types = {"seq": TYPES["seq"], name: TYPES[name]}
    batches = []
    for values in DECIMAL_SLICES[name]:
        start = sum(batch.num_rows for batch in batches)
        decimals = [None if v is None else Decimal(v) for v in values]
        seq = pa.array(range(start, start + len(values)), pa.int64())
        batches.append(
            pa.RecordBatch.from_arrays(
                [seq, pa.array(decimals, arrow_type(TYPES[name]))], names=list(types)
            )
        )
    with monkeypatch.context() as patch:
        Formats(patch, binary=False)
        expected_rows = load_batches(pg, f"{name}_text", types, batches)
    formats = Formats(monkeypatch)
    assert load_batches(pg, f"{name}_binary", types, batches) == expected_rows
    assert formats.used == ["binary"] * len(batches)
    values = [v for slice_values in DECIMAL_SLICES[name] for v in slice_values]
    expected = [None if v is None else Decimal(v) for v in values]
    engine = pg[0]
    with engine.connect() as conn:
        numbers = conn.exec_driver_sql(f'SELECT {name} FROM "{name}_binary" ORDER BY seq')
        assert numbers.scalars().all() == expected


def load_batches(
    pg: tuple[sa.Engine, postgresql.PostgreSQLDialect],
    name: str,
    types: dict[str, SqlType],
    batches: list[pa.RecordBatch],
) -> list[str]:
    """`load`, one insert_batch per batch."""
    engine, dialect = pg
    stored = {n: dialect.stored_type(t) for n, t in types.items()}
    table = table_object(dialect, name, stored, None)
    with engine.begin() as conn:
        table.create(conn)
        for batch in batches:
            assert dialect.insert_batch(conn, table, batch, list(types.values())) == len(batch)
    with engine.connect() as conn:
        sql = f'SELECT stored_row::text FROM "{name}" stored_row ORDER BY seq'
        return list(conn.exec_driver_sql(sql).scalars())


def test_a_numeric_gets_the_digit_groups_its_values_need() -> None:
    """0.5 in NUMERIC(38, 10): the three fraction groups only, weight -1 (the precision's 7
    integer groups of zeros are not built or sent); 2**64 in NUMERIC(38, 0): five groups."""
    types = {"d": SqlType(Kind.DECIMAL, precision=38, scale=10), "d0": TYPES["d0"]}
    table = table_object(postgresql.PostgreSQLDialect(), "groups", types, None)
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([Decimal("0.5")], arrow_type(types["d"])),
            pa.array([Decimal(2**64)], arrow_type(types["d0"])),
        ],
        names=list(types),
    )
    encoders = pg_binary.encoders(table, batch.schema)
    assert encoders is not None
    body = bytes(pg_binary.copy_rows(batch, encoders) or b"")
    half = b"\x00\x00\x00\x0e" + b"\x00\x03\xff\xff\x00\x00\x00\x0a"  # 3 digits, weight -1
    half += b"\x13\x88\x00\x00\x00\x00"  # 5000 0000 0000
    big = b"\x00\x00\x00\x12" + b"\x00\x05\x00\x04\x00\x00\x00\x00"  # 5 digits, weight 4
    big += b"\x07\x34\x1a\x58\x02\xe1\x03\xbb\x06\x50"  # 1844 6744 0737 0955 1616
    assert body == b"\x00\x02" + half + big


def test_slices_of_any_length_are_encoded_alike() -> None:
    """The index arrays the encoders gather with are cached for more rows than a slice has
    and read in part: a slice of any length (1, 7, 9,999, 16,385, 30,000 rows, in this
    order) gets the bytes its rows get as part of one whole batch. No decimal column: its
    digit groups depend on the slice's values."""
    types = {n: t for n, t in TYPES.items() if t.kind is not Kind.DECIMAL}
    batch = typed_batch(types, 56_392)
    table = table_object(postgresql.PostgreSQLDialect(), "lengths", types, None)
    encoders = pg_binary.encoders(table, batch.schema)
    assert encoders is not None
    bounds = [0, 1, 8, 10_007, 26_392, 56_392]
    parts = [
        bytes(pg_binary.copy_rows(batch.slice(start, stop - start), encoders) or b"")
        for start, stop in itertools.pairwise(bounds)
    ]
    assert all(parts)
    assert b"".join(parts) == bytes(pg_binary.copy_rows(batch, encoders) or b"")

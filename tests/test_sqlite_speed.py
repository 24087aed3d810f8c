"""SQLite's fast insert path: rows of a keyed table go in ordered by key, NULLs and booleans
are bound as values the driver needs no adapter for (NaN, 0/1); what is stored is exactly
what the plain `executemany` of the Arrow values in file order stored, for every Kind."""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from tests.test_columnar_load import TYPES, insert_row_by_row, nasty_batch
from turbodata.dialects import sqlite_rows
from turbodata.dialects.sqlite import SQLiteDialect
from turbodata.dialects.sqlite_rows import INSERT_SLICE_ROWS
from turbodata.load.schema import table_object
from turbodata.pipeline import connect
from turbodata.types.sql import Kind, SqlType

TEXT = SqlType(Kind.STRING)


def stored(conn: sa.Connection, table: str, order: str) -> list[tuple[Any, ...]]:
    """Every value as SQLite's storage class and exact value (REAL compared as its bits)."""
    fields = ", ".join(f'typeof("{n}"), "{n}"' for n in TYPES)
    return [tuple(r) for r in conn.exec_driver_sql(f'SELECT {fields} FROM "{table}" {order}')]


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[tuple[sa.Engine, SQLiteDialect]]:
    engine, dialect = connect(sqlite_url)
    assert isinstance(dialect, SQLiteDialect)
    yield engine, dialect
    engine.dispose()


@pytest.mark.parametrize("rows", [25, 25_000])
def test_a_keyed_table_stores_what_the_plain_executemany_stored(
    sqlite_engine: tuple[sa.Engine, SQLiteDialect], rows: int
) -> None:
    """Nasty values of every Kind (NULLs, extremes, unicode, 38-digit decimals, 7-digit
    fractions), a key in random order, more rows than one executemany slice."""
    engine, dialect = sqlite_engine
    batch = nasty_batch(rows)
    keyed = table_object(dialect, "keyed", TYPES, None, key=["seq"])
    plain = table_object(dialect, "plain", TYPES, None)
    shuffled = batch.take(pa.array([(n * 7919) % rows for n in range(rows)]))  # 7919: prime
    with engine.begin() as conn:
        keyed.create(conn)
        plain.create(conn)
        assert dialect.insert_batch(conn, keyed, shuffled, list(TYPES.values())) == rows
        insert_row_by_row(conn, dialect, plain, shuffled)  # list(zip(to_pylist…)), file order
    with engine.connect() as conn:
        expected = stored(conn, "plain", "ORDER BY seq")
        assert len(expected) == rows
        assert stored(conn, "keyed", "ORDER BY seq") == expected
        nulls = conn.exec_driver_sql('SELECT count(*) FROM keyed WHERE "s" IS NULL').scalar()
        assert nulls == sum(v is None for v in batch.column("s").to_pylist()) > 0


def test_rows_of_a_keyed_table_go_in_by_key_within_each_batch(
    sqlite_engine: tuple[sa.Engine, SQLiteDialect],
) -> None:
    engine, dialect = sqlite_engine
    rows = 2 * INSERT_SLICE_ROWS + 17
    keys = [f"{(n * 7919) % rows:08d}-guid" for n in range(rows)]  # not in key order
    types = {"Id": SqlType(Kind.GUID), "n": SqlType(Kind.INTEGER)}
    table = table_object(dialect, "keyed_order", types, None, key=["Id"])
    batch = pa.RecordBatch.from_pydict({"Id": keys, "n": list(range(rows))})
    with engine.begin() as conn:
        table.create(conn)
        dialect.insert_batch(conn, table, batch, list(types.values()))
    with engine.connect() as conn:
        by_rowid = conn.exec_driver_sql('SELECT "Id", n FROM keyed_order ORDER BY rowid').all()
    assert [tuple(r) for r in by_rowid] == sorted(zip(keys, range(rows), strict=True))


def test_rows_of_a_table_without_a_key_go_in_in_batch_order(
    sqlite_engine: tuple[sa.Engine, SQLiteDialect],
) -> None:
    """Staging tables (whose sequence column ranks repeated keys) and keyless tables."""
    engine, dialect = sqlite_engine
    types = {"Id": SqlType(Kind.GUID), "n": SqlType(Kind.INTEGER)}
    table = table_object(dialect, "no_key", types, None)
    keys = ["c", "a", "b", "a"]
    batch = pa.RecordBatch.from_pydict({"Id": keys, "n": [1, 2, 3, 4]})
    with engine.begin() as conn:
        table.create(conn)
        dialect.insert_batch(conn, table, batch, list(types.values()))
    with engine.connect() as conn:
        by_rowid = conn.exec_driver_sql('SELECT "Id", n FROM no_key ORDER BY rowid').all()
    assert [tuple(r) for r in by_rowid] == [("c", 1), ("a", 2), ("b", 3), ("a", 4)]


def test_a_repeated_key_still_fails_the_insert(
    sqlite_engine: tuple[sa.Engine, SQLiteDialect],
) -> None:
    """What sends a first load to staging (`RepeatedKeys`) is unchanged by the ordering."""
    engine, dialect = sqlite_engine
    types = {"Id": SqlType(Kind.GUID), "n": SqlType(Kind.INTEGER)}
    table = table_object(dialect, "repeated", types, None, key=["Id"])
    batch = pa.RecordBatch.from_pydict({"Id": ["b", "a", "b"], "n": [1, 2, 3]})
    with engine.begin() as conn:
        table.create(conn)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        dialect.insert_batch(conn, table, batch, list(types.values()))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM repeated").scalar() == 0


@pytest.mark.parametrize("rows", [3, 3_000])
def test_nulls_are_bound_without_the_drivers_adapter_lookup(rows: int) -> None:
    """Small columns (a small file's) take a Python pass, large ones Arrow kernels."""
    flags = SQLiteDialect().python_values(
        pa.array([True, None, False] * (rows // 3), pa.bool_()), SqlType(Kind.BOOLEAN)
    )
    text = SQLiteDialect().python_values(pa.array(["a", None, "b"] * (rows // 3)), TEXT)
    assert len(flags) == len(text) == rows
    assert flags[0] == 1 and math.isnan(flags[1]) and flags[2] == 0  # type: ignore[arg-type]
    assert text[0] == "a" and math.isnan(text[1]) and text[2] == "b"  # type: ignore[arg-type]
    assert {type(v) for v in text} == {str, float}
    if rows >= sqlite_rows.ARROW_FROM_ROWS:  # booleans as exact ints, no adapter lookup
        assert {type(v) for v in flags} == {int, float}


def test_a_float_adapter_registered_by_the_process_never_sees_a_null(
    sqlite_engine: tuple[sa.Engine, SQLiteDialect], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sqlite3.adapters, (float, sqlite3.PrepareProtocol), lambda v: "adapted")
    for rows in (2, 2_000):
        values = SQLiteDialect().python_values(pa.array(["a", None] * (rows // 2)), TEXT)
        assert values[:2] == ["a", None] and None in values[-2:]


def test_key_order_needs_the_whole_key_in_the_batch() -> None:
    types = {"a": SqlType(Kind.INTEGER), "b": SqlType(Kind.INTEGER)}
    keyed = table_object(SQLiteDialect(), "two_keys", types, None, key=["a", "b"])
    rows = 1_500
    batch = pa.RecordBatch.from_pydict({"a": [n % 7 for n in range(rows)], "b": list(range(rows))})
    order = sqlite_rows.key_order(keyed, batch)
    assert order is not None
    pairs = [(n % 7, n) for n in range(rows)]
    assert [pairs[i] for i in order.to_pylist()] == sorted(pairs)
    assert sqlite_rows.key_order(keyed, batch.select(["a"])) is None
    assert sqlite_rows.key_order(table_object(SQLiteDialect(), "k", types, None), batch) is None
    assert sqlite_rows.key_order(keyed, batch.slice(0, 10)) is None  # a small file's batch


def test_the_connection_pragmas_are_in_effect(tmp_path: Path) -> None:
    engine, _ = connect(f"sqlite:///{tmp_path / 'new.sqlite'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (a TEXT)")
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in (
                    "journal_mode",
                    "synchronous",
                    "busy_timeout",
                    "cache_size",
                    "page_size",
                )
            }
    finally:
        engine.dispose()
    # the page cache stays the 2 MB default: 32 MB made a keyed snapshot ≤4% faster
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,  # NORMAL
        "busy_timeout": 60_000,
        "cache_size": -2000,
        "page_size": 16384,  # a file turbodata creates
    }


def test_a_database_made_before_keeps_its_page_size_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with contextlib.closing(sqlite3.connect(path)) as old:  # SQLite's default 4 KiB pages
        old.execute("CREATE TABLE t (a TEXT)")
        old.execute("INSERT INTO t VALUES ('kept')")
        old.commit()
    engine, _ = connect(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES ('added')")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert [r[0] for r in conn.exec_driver_sql("SELECT a FROM t")] == ["kept", "added"]
    finally:
        engine.dispose()

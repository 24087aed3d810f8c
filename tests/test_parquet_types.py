"""Parquet columns whose Arrow type the compute kernels or the text parser once refused:
float16, and timestamps in a zone other than UTC; end to end on SQLite."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from turbodata import migrate

STAMPS = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 7, 1, 12, 30, tzinfo=UTC)]


def test_float16_and_zoned_timestamps_load_as_real_and_utc_datetime(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "acc").mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "Id": ["a", "b"],
                "half": pa.array([0.5, -65504.0], pa.float16()),
                "berlin": pa.array(STAMPS, pa.timestamp("us", tz="Europe/Berlin")),
                "india": pa.array(STAMPS, pa.timestamp("ms", tz="+05:30")),
                "utc": pa.array(STAMPS, pa.timestamp("us", tz="UTC")),
            }
        ),
        lake / "acc" / "part-0.parquet",
    )
    target = tmp_path / "target.sqlite"

    summary = migrate(lake, f"sqlite:///{target}")

    assert summary.ok, summary.to_dict()
    assert summary.tables["acc"].rows_inserted == 2
    assert summary.tables["acc"].rows_rejected == 0
    with sqlite3.connect(target) as db:
        rows = db.execute("SELECT Id, half, berlin, india, utc FROM acc ORDER BY Id").fetchall()
    assert rows == [
        ("a", 0.5, *["2024-01-01 00:00:00.0000000"] * 3),
        ("b", -65504.0, *["2024-07-01 12:30:00.0000000"] * 3),
    ]


def two_files(folder: Path, first: dict[str, object], second: dict[str, object]) -> None:
    """A table folder of two Parquet files, `part-0` and `part-1`, of these columns."""
    folder.mkdir(parents=True)
    pq.write_table(pa.table(first), folder / "part-0.parquet")
    pq.write_table(pa.table(second), folder / "part-1.parquet")


def test_a_decimal_column_floating_point_in_another_file_fails_the_table(tmp_path: Path) -> None:
    """Arrow's permissive unification would make the column a double and round the decimal
    (12345678901234567890.12 → 1.2345678901234567e+19): the table fails instead, naming the
    file; a decimal widened by another file's decimal, or an integer, still loads."""
    from decimal import Decimal

    lake = tmp_path / "lake"
    exact = pa.array([Decimal("12345678901234567890.12")], pa.decimal128(22, 2))
    for table, other in (("mixed", pa.array([1.5])), ("wider", pa.array([Decimal("1.5")]))):
        two_files(lake / table, {"Id": ["a"], "amount": exact}, {"Id": ["b"], "amount": other})
    target = tmp_path / "target.sqlite"

    summary = migrate(lake, f"sqlite:///{target}")

    mixed = summary.tables["mixed"]
    assert mixed.status == "failed" and not summary.ok
    assert "'amount' is decimal128(22, 2) in mixed/part-0.parquet" in mixed.error
    assert summary.tables["wider"].status == "loaded"
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT amount FROM wider ORDER BY Id").fetchall() == [
            ("12345678901234567890.12",),
            ("1.50",),
        ]
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'mixed'").fetchall() == []


def test_a_uint64_value_beyond_int64_beside_an_int64_file_fails_naming_column_and_file(
    tmp_path: Path,
) -> None:
    """uint64 in one file and int64 in another unify as int64: a value above 2**63 - 1 fails
    the table, naming the column, the file that holds it and both types (it said only
    "Integer value … not in range"); the same types with values that fit load."""
    lake = tmp_path / "lake"
    for table, big in (("beyond", 2**63 + 5), ("fits", 2**63 - 1)):
        signed, unsigned = pa.array([-3], pa.int64()), pa.array([big], pa.uint64())
        two_files(lake / table, {"Id": ["a"], "v": signed}, {"Id": ["b"], "v": unsigned})
    target = tmp_path / "target.sqlite"

    summary = migrate(lake, f"sqlite:///{target}")

    beyond = summary.tables["beyond"]
    assert beyond.status == "failed" and not summary.ok
    assert "column 'v' is uint64 in Parquet file beyond/part-1.parquet and int64" in beyond.error
    assert summary.tables["fits"].status == "loaded"
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT v FROM fits ORDER BY Id").fetchall() == [(-3,), (2**63 - 1,)]
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'beyond'").fetchall() == []


def test_files_spelling_a_column_differently_by_case_fail_the_table(
    tmp_path: Path, db_url: str
) -> None:
    """`Name` in one file and `name` in another loaded on PostgreSQL as two columns, each
    holding part of the values, and the run succeeded; SQLite refused with a bare "duplicate
    column name". Now the table fails on both, naming a file of each spelling; a file holding
    both spellings is left to the database (here: PostgreSQL keeps both, as the file does)."""
    lake = tmp_path / "lake"
    (lake / "split").mkdir(parents=True)
    (lake / "own").mkdir(parents=True)
    pq.write_table(pa.table({"Id": ["a"], "Name": ["x"]}), lake / "split" / "part-0.parquet")
    pq.write_table(pa.table({"Id": ["b"], "name": ["y"]}), lake / "split" / "part-1.parquet")
    pq.write_table(
        pa.table({"Id": ["c"], "Name": ["x"], "name": ["y"]}), lake / "own" / "p.parquet"
    )

    summary = migrate(lake, db_url)

    split = summary.tables["split"]
    assert split.status == "failed" and not summary.ok
    assert "('Name' in split/part-0.parquet, 'name' in split/part-1.parquet)" in split.error
    assert "differently by case" in split.error
    own = summary.tables["own"]
    assert (own.status == "loaded") is db_url.startswith("postgresql"), own.error


def test_a_partition_folder_spelling_a_file_column_otherwise_by_case_fails_the_table(
    tmp_path: Path, db_url: str
) -> None:
    """`Region=eu/` over files with a `region` column: SQLite said only "duplicate column
    name", PostgreSQL made two columns. The table fails naming the folder (found by review)."""
    for region in ("eu", "us"):
        folder = tmp_path / "lake" / "sales" / f"Region={region}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"Id": ["a"], "region": ["x"]}), folder / "part-0.parquet")

    summary = migrate(tmp_path / "lake", db_url)

    sales = summary.tables["sales"]
    assert sales.status == "failed" and not summary.ok
    assert "sales/Region=eu/part-0.parquet has the partition folder 'Region'" in sales.error
    assert "spell it 'region'" in sales.error


def test_files_encoding_one_text_column_differently_load_as_one_table(tmp_path: Path) -> None:
    """A dictionary column in one file and large_string (or string_view) in another failed the
    table on the schema merge: how a writer encodes a column says nothing of its values."""
    folder = tmp_path / "lake" / "item"
    folder.mkdir(parents=True)
    text = pa.array(["x", "y", "x"]).dictionary_encode()
    pq.write_table(pa.table({"Id": ["a", "b", "c"], "s": text}), folder / "part-0.parquet")
    large = pa.array(["z"], pa.large_string())
    pq.write_table(pa.table({"Id": ["d"], "s": large}), folder / "part-1.parquet")
    target = tmp_path / "target.sqlite"

    summary = migrate(tmp_path / "lake", f"sqlite:///{target}")

    assert summary.ok, summary.to_dict()
    with sqlite3.connect(target) as db:
        rows = db.execute("SELECT Id, s FROM item ORDER BY Id").fetchall()
    assert rows == [("a", "x"), ("b", "y"), ("c", "x"), ("d", "z")]


def test_a_column_without_a_value_in_any_file_comes_once_a_file_has_values(
    tmp_path: Path,
) -> None:
    """Arrow's `null` type (pandas writes an all-empty column so) failed the whole table,
    naming the column unsupported (found by review); made text, it then refused a later
    file's numbers for good (found by the session's review). It has no type to give until a
    file has values: the column is added then."""
    lake = tmp_path / "lake"
    (lake / "acc").mkdir(parents=True)
    empty = pa.array([None, None], pa.null())
    pq.write_table(pa.table({"Id": ["a", "b"], "amount": empty}), lake / "acc" / "part-0.parquet")
    target = tmp_path / "target.sqlite"

    first = migrate(lake, f"sqlite:///{target}")

    assert first.ok, first.to_dict()
    pq.write_table(pa.table({"Id": ["c"], "amount": [12.5]}), lake / "acc" / "part-1.parquet")
    second = migrate(lake, f"sqlite:///{target}")
    assert second.ok, second.to_dict()
    with sqlite3.connect(target) as db:
        rows = db.execute("SELECT Id, amount FROM acc ORDER BY Id").fetchall()
    assert rows == [("a", None), ("b", None), ("c", 12.5)]

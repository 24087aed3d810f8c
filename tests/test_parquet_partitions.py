"""Parquet `name=value` partition folders: int64 only when no two folders can become the
same number, else text (a leading zero keeps a code's text, as in `types.inference`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.dbcheck import fetch
from tests.lakebuilder import one_account_lake
from turbodata import migrate
from turbodata.lake.delta.parquet import folder_schema
from turbodata.lake.storage import LocalLake

INT64_MAX = str(2**63 - 1)
INT64_MIN = str(-(2**63))


def partition_type(tmp_path: Path, values: list[str]) -> pa.DataType:
    """The type `folder_schema` gives column `p` of a folder with one file per value."""
    paths = []
    for number, value in enumerate(values):
        path = f"t/p={value}/part-{number}.parquet"
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"Id": [str(number)]}), tmp_path / path)
        paths.append(path)
    lake = LocalLake(tmp_path)
    infos = [info for path in paths if (info := lake.stat(path))]  # as the listing gives them
    schema, partitions = folder_schema("t", lake, "t", infos)
    assert partitions == ("p",)
    return schema.field("p").type


@pytest.mark.parametrize(
    "values",
    [
        ["1", "2", "2024"],
        ["0", "-7", "42"],
        [INT64_MAX, INT64_MIN],
        ["7", "__HIVE_DEFAULT_PARTITION__"],  # NULL aside
    ],
)
def test_whole_numbers_written_as_they_print_are_int64(tmp_path: Path, values: list[str]) -> None:
    assert partition_type(tmp_path, values) == pa.int64()


@pytest.mark.parametrize(
    "values",
    [
        ["007", "0042", "7"],  # 007 and 7 would be one value
        ["007"],  # a code with a leading zero is text even alone
        ["00"],
        ["-0", "0"],  # -0 and 0 would be one value
        ["+7", "7"],
        ["-07"],
        [str(2**63)],  # beyond int64
        [str(-(2**63) - 1)],
        ["1e3"],
        ["1.0"],
        [" 7"],
        ["٣"],  # a non-ASCII digit
        ["2024", "x"],
    ],
)
def test_anything_else_is_text(tmp_path: Path, values: list[str]) -> None:
    assert partition_type(tmp_path, values) == pa.string()


def test_folders_with_leading_zeros_load_as_distinct_text_values(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for code, row_id in [("007", "a"), ("0042", "b"), ("7", "c")]:
        folder = lake / "acc" / f"region={code}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"Id": [row_id], "name": ["x"]}), folder / "part-0.parquet")
    target = tmp_path / "target.sqlite"

    summary = migrate(lake, f"sqlite:///{target}")

    assert summary.ok, summary.to_dict()
    with sqlite3.connect(target) as db:
        rows = db.execute("SELECT Id, region, typeof(region) FROM acc ORDER BY Id").fetchall()
    assert rows == [("a", "007", "text"), ("b", "0042", "text"), ("c", "7", "text")]


def test_folders_of_whole_numbers_up_to_int64_load_as_integers(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for code, row_id in [(INT64_MIN, "a"), ("0", "b"), (INT64_MAX, "c")]:
        folder = lake / "acc" / f"region={code}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"Id": [row_id]}), folder / "part-0.parquet")
    target = tmp_path / "target.sqlite"

    summary = migrate(lake, f"sqlite:///{target}")

    assert summary.ok, summary.to_dict()
    with sqlite3.connect(target) as db:
        rows = db.execute("SELECT Id, region, typeof(region) FROM acc ORDER BY Id").fetchall()
    assert rows == [
        ("a", -(2**63), "integer"),
        ("b", 0, "integer"),
        ("c", 2**63 - 1, "integer"),
    ]


def stored(db_url: str, table: str, *columns: str) -> list[tuple]:
    rows = fetch(db_url, table)
    return sorted(tuple(r[c] for c in columns) for r in rows)


def test_partition_values_are_url_decoded_as_writers_encode_them(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    table = pa.table({"code": ["1", "2", "3", "4"], "city": ["a/b", "x y", "50%", "ü=é"]})
    pq.write_to_dataset(table, str(lake / "things"), partition_cols=["city"])

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert stored(db_url, "things", "code", "city") == [
        ("1", "a/b"),
        ("2", "x y"),
        ("3", "50%"),
        ("4", "ü=é"),
    ]


def test_files_under_hidden_names_are_not_the_tables(tmp_path: Path, db_url: str) -> None:
    """`_temporary/` of a write in progress, `_SUCCESS`, `.crc` copies: Spark and pyarrow
    skip them, and loading them would duplicate rows."""
    folder = tmp_path / "lake" / "things"
    table = pa.table({"code": ["a", "b"], "n": [1, 2]})  # no key: every copy would load
    for path in ("part-0.parquet", "_temporary/0/part-0.parquet", ".part-1.parquet"):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / path)
    (folder / "_SUCCESS").write_text("")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert stored(db_url, "things", "code", "n") == [("a", 1), ("b", 2)]


def test_a_column_some_files_hold_takes_its_folder_value_where_a_file_lacks_it(
    tmp_path: Path, db_url: str
) -> None:
    folder = tmp_path / "lake" / "things"
    (folder / "year=2024").mkdir(parents=True)
    (folder / "year=2023").mkdir(parents=True)
    pq.write_table(pa.table({"Id": ["a"], "year": [2024]}), folder / "year=2024" / "p0.parquet")
    pq.write_table(pa.table({"Id": ["b"]}), folder / "year=2023" / "p1.parquet")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert stored(db_url, "things", "Id", "year") == [("a", 2024), ("b", 2023)]


def test_a_partition_folder_whose_name_starts_with_an_underscore_is_data(
    tmp_path: Path, db_url: str
) -> None:
    """Spark hides `_temporary`, not `_year=2024` (a partition column named `_year`)."""
    folder = tmp_path / "lake" / "things"
    for year in (2023, 2024):
        (folder / f"_year={year}").mkdir(parents=True)
        pq.write_table(pa.table({"code": [str(year)]}), folder / f"_year={year}" / "p.parquet")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    assert stored(db_url, "things", "code", "_year") == [("2023", 2023), ("2024", 2024)]


def test_a_parquet_folder_holding_a_csv_file_fails_instead_of_vanishing(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    for table in ("things", "other"):
        (lake / table).mkdir(parents=True)
        pq.write_table(pa.table({"code": ["a"]}), lake / table / "p0.parquet")
    (lake / "things" / "export_report.csv").write_text("a,b\n")

    summary = migrate(lake, db_url)

    assert not summary.ok
    assert "holds Parquet and CSV files" in (summary.tables["things"].error or "")
    assert summary.tables["other"].status == "loaded"


def test_parquet_files_in_a_csv_tables_folder_are_left_with_a_warning(
    tmp_path: Path, db_url: str
) -> None:
    lake = one_account_lake(tmp_path / "lake")
    pq.write_table(pa.table({"x": [1]}), lake.root / "account" / "extract.parquet")

    summary = migrate(lake.root, db_url)

    assert summary.ok, summary.to_dict()
    assert summary.tables["account"].rows_inserted == 1
    assert any("Parquet files are not read" in w for w in summary.warnings)

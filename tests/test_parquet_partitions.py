"""Parquet `name=value` partition folders: int64 only when no two folders can become the
same number, else text (a leading zero keeps a code's text, as in `types.inference`)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from turbodata import migrate
from turbodata.lake.delta.parquet import folder_schema
from turbodata.lake.storage import LocalLake
from turbodata.model import FileInfo

INT64_MAX = str(2**63 - 1)
INT64_MIN = str(-(2**63))


def partition_type(tmp_path: Path, values: list[str]) -> pa.DataType:
    """The type `folder_schema` gives column `p` of a folder with one file per value."""
    infos = []
    for number, value in enumerate(values):
        path = f"t/p={value}/part-{number}.parquet"
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"Id": [str(number)]}), tmp_path / path)
        infos.append(FileInfo(path, (tmp_path / path).stat().st_size, datetime.now(UTC)))
    schema, partitions = folder_schema("t", LocalLake(tmp_path), "t", infos)
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

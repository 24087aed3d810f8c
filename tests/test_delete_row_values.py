"""A delete row applies by its key, delete column and ordering columns alone: a bad value in
any other of its columns is NULL, not a reject that would keep the deleted row in the table
for good (found by review). A bad value in a column the delete needs still rejects it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata import migrate
from turbodata.load.loader import LoadOptions
from turbodata.read.convert import DeleteRows, convert_chunk
from turbodata.read.reader import RawChunk
from turbodata.types.sql import Kind, SqlType

COLUMNS = [
    attribute("Id", "guid"),
    attribute("SinkModifiedOn", "dateTime"),
    attribute("name", "string", 20),
    attribute("n", "int32"),
    attribute("seen", "dateTime"),
    attribute("versionnumber", "int64"),
    attribute("IsDelete", "boolean"),
]
ONE, TWO = "10000000-0000-0000-0000-000000000001", "10000000-0000-0000-0000-000000000002"
FIRST = f"{ONE},1/1/2025 10:00:00 AM,a,1,2025-01-01,1,\n{TWO},1/1/2025 10:00:00 AM,b,2,,1,\n"


def lake_of(root: Path, second: str) -> Path:
    lake = LakeBuilder(root)
    lake.folder("2025-01-01T10.00.00Z", {"t": COLUMNS}, {"t/1.csv": FIRST})
    lake.folder("2025-01-01T10.05.00Z", {"t": COLUMNS}, {"t/1.csv": second})
    return root


def rows(db_url: str) -> dict[str, tuple]:
    return {str(r["Id"]): (r["name"], r["n"], r["IsDelete"]) for r in fetch(db_url, "t")}


@pytest.mark.parametrize(
    "bad_values",
    ["toolongforthecolumnname,1.5,2025-02-30", ",99999999999,", ",abc,not a date"],
    ids=["text-int-date", "int-out-of-range", "words"],
)
def test_a_delete_row_with_bad_values_elsewhere_deletes_its_row(
    tmp_path: Path, db_url: str, bad_values: str
) -> None:
    second = f"{ONE},1/1/2025 10:05:00 AM,{bad_values},2,True\n"
    summary = migrate(lake_of(tmp_path / "lake", second), db_url)
    table = summary.tables["t"]
    assert summary.ok, summary.tables["t"].problems
    assert (table.rows_deleted, table.rows_rejected) == (1, 0)
    assert rows(db_url).keys() == {TWO}


def test_soft_delete_marks_the_row_and_keeps_its_values(tmp_path: Path, db_url: str) -> None:
    second = f"{ONE},1/1/2025 10:05:00 AM,,1.5,,2,True\n"
    summary = migrate(
        lake_of(tmp_path / "lake", second), db_url, options=LoadOptions(soft_delete=True)
    )
    assert summary.ok and summary.tables["t"].rows_rejected == 0
    assert rows(db_url)[ONE] == ("a", 1, True)  # marked; n stays 1, never NULL nor 1.5


@pytest.mark.parametrize(
    "second",
    [
        f"{ONE},1/1/2025 10:05:00 AM,,1.5,,v2,True\n",  # versionnumber orders the delete
        f"{ONE},yesterday,,,,2,True\n",  # SinkModifiedOn too
        "not-a-guid,1/1/2025 10:05:00 AM,,1.5,,2,True\n",  # the key
    ],
    ids=["version", "modified", "key"],
)
def test_a_bad_value_the_delete_needs_still_rejects_it(
    tmp_path: Path, db_url: str, second: str
) -> None:
    summary = migrate(lake_of(tmp_path / "lake", second), db_url)
    table = summary.tables["t"]
    assert summary.status == "completed_with_rejects"
    assert (table.rows_deleted, table.rows_rejected) == (0, 1)
    assert rows(db_url).keys() == {ONE, TWO}


def test_an_upsert_row_with_a_bad_value_is_still_rejected(tmp_path: Path, db_url: str) -> None:
    second = f"{ONE},1/1/2025 10:05:00 AM,x,1.5,,2,\n{TWO},1/1/2025 10:05:00 AM,y,1.5,,2,False\n"
    summary = migrate(lake_of(tmp_path / "lake", second), db_url)
    assert summary.tables["t"].rows_rejected == 2
    assert rows(db_url) == {ONE: ("a", 1, None), TWO: ("b", 2, None)}


def test_a_keyed_snapshot_drops_its_delete_row_with_bad_values(tmp_path: Path, db_url: str):
    lake = LakeBuilder(tmp_path / "lake")
    text = f"{ONE},1/1/2025 10:00:00 AM,a,1.5,,1,True\n{TWO},1/1/2025 10:00:00 AM,b,2,,1,\n"
    lake.write("t/1.csv", text)
    lake.write("model.json", model_json([entity("t", COLUMNS, ["t/1.csv"])]))
    summary = migrate(lake.root, db_url)
    assert summary.ok and summary.tables["t"].rows_rejected == 0
    assert rows(db_url) == {TWO: ("b", 2, None)}


# ---------------------------------------------------------------- the converter's rule alone

TEXT_DELETE = [SqlType(Kind.GUID), SqlType(Kind.INTEGER), SqlType(Kind.STRING, 10)]
NAMES = ["Id", "n", "IsDelete"]


def chunk_of(*rows: tuple[str, str, str]) -> RawChunk:
    columns = [pa.array([r[i] for r in rows], pa.string()) for i in range(3)]
    numbers = pa.array(range(1, len(rows) + 1), pa.int64())
    return RawChunk(columns, numbers, [])


@pytest.mark.parametrize(
    ("flag", "spared"),
    [("true", True), (" TRUE ", True), ("1", True), ("\ttrue", False), ("false", False)],
)
def test_a_text_delete_column_marks_as_sql_reads_it(flag: str, spared: bool) -> None:
    """SQL's lower(trim(…)) in ('true', '1'): spaces only; a row the staged delete would not
    read as a delete keeps its reject (its NULLed value would otherwise be upserted)."""
    deletes = DeleteRows("IsDelete", frozenset({"Id", "IsDelete"}))
    chunk = convert_chunk(chunk_of((ONE, "1.5", flag)), NAMES, TEXT_DELETE, deletes=deletes)
    assert (chunk.batch.num_rows, len(chunk.rejects)) == ((1, 0) if spared else (0, 1))
    if spared:
        assert chunk.batch.column("n").to_pylist() == [None]


def test_without_delete_rows_every_bad_value_rejects() -> None:
    chunk = convert_chunk(chunk_of((ONE, "1.5", "true")), NAMES, TEXT_DELETE)
    assert (chunk.batch.num_rows, [r.column for r in chunk.rejects]) == (0, ["n"])

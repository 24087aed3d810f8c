"""Per-file cost: discovery groups a folder's CSVs by folder once, instead of looking through
every file of the folder for each table; the planned files are the same."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.lakebuilder import LakeBuilder, attribute
from turbodata.lake.layouts import csvs_by_folder, discover
from turbodata.lake.storage import LocalLake
from turbodata.model import FileInfo

COLUMNS = [attribute("Id", "guid"), attribute("name", "string", 20)]
ROW = "00000000-0000-0000-0000-000000000001,a\n"


def info(path: str) -> FileInfo:
    return FileInfo(path, 1, datetime(2025, 1, 1, tzinfo=UTC), None)


def test_csvs_are_grouped_by_the_folder_directly_holding_them() -> None:
    paths = ["f/a/1.csv", "f/a/2.csv", "f/a/deeper/3.csv", "f/b/1.csv", "f/a/notes.txt", "x.csv"]
    grouped = csvs_by_folder({p: info(p) for p in paths})
    assert {k: [i.path for i in v] for k, v in grouped.items()} == {
        "f/a": ["f/a/1.csv", "f/a/2.csv"],
        "f/a/deeper": ["f/a/deeper/3.csv"],
        "f/b": ["f/b/1.csv"],
        "": ["x.csv"],
    }


def test_each_table_gets_its_own_unlisted_csvs_and_no_others(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    folder = "2025-01-01T00.00.00Z"
    tables = {name: COLUMNS for name in ("a", "b", "c")}
    files = {f"{t}/{n}.csv": ROW for t in tables for n in ("2025", "2026")}
    files["a/deeper/2027.csv"] = ROW  # not directly in a/: never a's
    lake.folder(folder, tables, files, model=False)
    lake.folder(folder, tables, {"a/2025.csv": ROW})  # model.json lists only a/2025.csv
    plan = discover(LocalLake(lake.root))
    planned = {b.table: [f.info.path for f in b.files] for b in plan.batches}
    assert planned == {t: [f"{folder}/{t}/2025.csv", f"{folder}/{t}/2026.csv"] for t in "abc"}

"""Layout discovery: timestamp folders, in-progress and unfinished folders, file resolution."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata.lake import LocalLake
from turbodata.layouts import discover, folder_time, resolve_location
from turbodata.model import FileInfo, LoadMode

COLUMNS = [attribute("Id", "guid"), attribute("n", "int64")]
ROW = "00000000-0000-0000-0000-000000000001,1\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2024-05-01T10.15.00Z", datetime(2024, 5, 1, 10, 15)),
        ("2024-05-01T10:15:00Z", datetime(2024, 5, 1, 10, 15)),
        ("2024-05-01T10:15:00.250Z", datetime(2024, 5, 1, 10, 15, 0, 250000)),
        ("2024-05-01T10.15.00.1234567Z", datetime(2024, 5, 1, 10, 15, 0, 123456)),
        ("2024-02-30T10.15.00Z", None),
        ("Changelog", None),
        ("archive", None),
        ("2024-05-01", None),
    ],
)
def test_folder_names_with_dots_colons_and_milliseconds(name: str, expected: datetime | None):
    assert folder_time(name) == expected


def test_folders_are_ordered_by_time_not_by_name(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    lake.folder("2024-05-01T10.15.00Z", {"t": COLUMNS}, {"t/2024.csv": ROW})
    lake.folder("2024-05-01T09:59:00.500Z", {"t": COLUMNS}, {"t/2024.csv": ROW})
    plan = discover(LocalLake(tmp_path))
    assert [b.batch_id for b in plan.batches] == [
        "2024-05-01T09:59:00.500Z",
        "2024-05-01T10.15.00Z",
    ]
    assert plan.layout == "incremental"


def test_in_progress_and_unfinished_folders_are_not_read(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    lake.folder("2024-05-01T10.00.00Z", {"t": COLUMNS}, {"t/2024.csv": ROW})
    lake.folder("2024-05-01T10.15.00Z", {"t": COLUMNS}, {"t/2024.csv": ROW}, model=False)
    lake.folder("2024-05-01T10.30.00Z", {"t": COLUMNS}, {"t/2024.csv": ROW})
    lake.write("2024-05-01T10.30.00Z/model.json", "")  # 0 bytes: still being written
    lake.folder("2024-05-01T10.45.00Z", {"t": COLUMNS}, {"t/2024.csv": ROW})
    lake.changelog("2024-05-01T10.45.00Z\n")
    lake.folder("archive", {}, {"t/2024.csv": ROW}, model=False)
    lake.write("2024-05-01T10.00.00Z/OptionsetMetadata/OptionsetMetadata.csv", "a,b\n")

    plan = discover(LocalLake(tmp_path))

    assert [b.batch_id for b in plan.batches] == ["2024-05-01T10.00.00Z"]
    assert any("10.45.00Z: in progress" in n for n in plan.notes)
    assert any("10.15.00Z: no model.json yet" in n for n in plan.notes)
    assert plan.tables == ["t"]


def test_folder_model_json_that_omits_a_table_falls_back_to_the_trickle_feed_model(
    tmp_path: Path,
) -> None:
    lake = LakeBuilder(tmp_path)
    lake.folder("2024-05-01T10.00.00Z", {"other": COLUMNS}, {"t/2024.csv": ROW})
    lake.write(
        "2024-05-01T10.00.00Z/Microsoft.Athena.TrickleFeedService/t-model.json",
        model_json([entity("t", COLUMNS)]),
    )
    [batch] = discover(LocalLake(tmp_path)).batches
    assert batch.table == "t" and batch.schema.column_names == ["Id", "n"]


def test_entities_whose_initial_sync_is_not_completed_are_skipped(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    lake.write(
        "2024-05-01T10.00.00Z/model.json",
        model_json(
            [
                entity(
                    "t",
                    COLUMNS,
                    ["2024-05-01T10.00.00Z/t/2024.csv"],
                    {"Athena:InitialSyncState": "InProgress"},
                )
            ]
        ),
    )
    lake.write("2024-05-01T10.00.00Z/t/2024.csv", ROW)
    plan = discover(LocalLake(tmp_path))
    assert plan.batches == []
    assert any("initial sync not completed" in n for n in plan.notes)


def test_unlisted_csvs_in_an_incremental_folder_are_loaded_and_missing_ones_noted(
    tmp_path: Path,
) -> None:
    lake = LakeBuilder(tmp_path)
    lake.write(
        "2024-05-01T10.00.00Z/model.json",
        model_json(
            [
                entity(
                    "t",
                    COLUMNS,
                    ["2024-05-01T10.00.00Z/t/2024.csv", "2024-05-01T10.00.00Z/t/gone.csv"],
                )
            ]
        ),
    )
    lake.write("2024-05-01T10.00.00Z/t/2024.csv", ROW)
    lake.write("2024-05-01T10.00.00Z/t/2024_001.csv", ROW)
    [batch] = discover(LocalLake(tmp_path)).batches
    assert [f.info.path for f in batch.files] == [
        "2024-05-01T10.00.00Z/t/2024.csv",
        "2024-05-01T10.00.00Z/t/2024_001.csv",
    ]
    assert batch.mode is LoadMode.APPEND


def test_classic_layout_reads_listed_snapshots_only(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    lake.write("model.json", model_json([entity("t", COLUMNS, ["t/Snapshot/2024_123.csv"])]))
    lake.write("t/Snapshot/2024_123.csv", ROW)
    lake.write("t/2024.csv", ROW)  # the live file, rewritten while we read: never read
    plan = discover(LocalLake(tmp_path))
    [batch] = plan.batches
    assert plan.layout == "model.json"
    assert [f.info.path for f in batch.files] == ["t/Snapshot/2024_123.csv"]
    assert batch.mode is LoadMode.SNAPSHOT


def _info(path: str) -> FileInfo:
    return FileInfo(path, 1, datetime(2024, 1, 1))


@pytest.mark.parametrize(
    "location",
    [
        "dataverse-env-org/2024-05-01T10.00.00Z/account/2024.csv",  # container first
        "other-container/exports/2024-05-01T10.00.00Z/account/2024.csv",  # lake below the root
        "2024-05-01T10.00.00Z/account/2024.csv",
        "C:/exports\\2024-05-01T10.00.00Z\\account\\2024.csv",
    ],
)
def test_locations_resolve_by_their_longest_existing_suffix(location: str) -> None:
    files = {p: _info(p) for p in ["2024-05-01T10.00.00Z/account/2024.csv", "account/2024.csv"]}
    assert resolve_location(location, files).path == "2024-05-01T10.00.00Z/account/2024.csv"


def test_a_location_naming_no_existing_file_resolves_to_nothing() -> None:
    assert resolve_location("c/2024-05-01T10.00.00Z/account/gone.csv", {}) is None

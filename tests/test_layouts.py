"""Layout discovery: timestamp folders, in-progress, unfinished and abandoned folders,
option-set metadata, file resolution."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata.lake.layouts import (
    OPTIONSET_TABLES,
    LakePlan,
    discover,
    folder_time,
    resolve_location,
)
from turbodata.lake.storage import LocalLake
from turbodata.model import CdmType, FileInfo, LoadMode, TableBatch

COLUMNS = [attribute("Id", "guid"), attribute("n", "int64")]
ROW = "00000000-0000-0000-0000-000000000001,1\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2024-05-01T10.15.00Z", datetime(2024, 5, 1, 10, 15)),
        ("2024-05-01T10:15:00Z", datetime(2024, 5, 1, 10, 15)),
        ("2024-05-01T10:15:00.250Z", datetime(2024, 5, 1, 10, 15, 0, 250000)),
        ("2024-05-01T10.15.00.1234567Z", datetime(2024, 5, 1, 10, 15, 0, 123456)),
        ("2024-05-01T10.15.00", datetime(2024, 5, 1, 10, 15)),
        ("2024-05-01T12:15:00+02:00", datetime(2024, 5, 1, 10, 15)),  # offsets: as UTC
        ("2024-05-01T08.15.00-0200", datetime(2024, 5, 1, 10, 15)),
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


def test_a_closed_folder_newer_than_the_changelogs_is_skipped_with_a_warning(
    tmp_path: Path,
) -> None:
    """Synapse Link starts a folder after moving the changelog on: a closed folder newer than
    the one it names means a stale changelog. Its rows wait (loading them would put them
    before the named folder's), and the warning says why."""
    lake = LakeBuilder(tmp_path)
    lake.folder("2024-05-01T10.00.00Z", {"t": COLUMNS}, {"t/2024.csv": ROW})
    lake.folder("2024-05-01T10.15.00Z", {"t": COLUMNS}, {"t/2024.csv": ROW})
    lake.folder("2024-05-01T10.30.00Z", {"t": COLUMNS}, {"t/2024.csv": ROW})
    lake.changelog("2024-05-01T10.15.00Z\n")

    plan = discover(LocalLake(tmp_path), now=datetime(2024, 5, 1, 12, 0))

    assert [b.batch_id for b in plan.batches] == ["2024-05-01T10.00.00Z"]
    assert any("10.15.00Z: in progress" in n for n in plan.notes)
    [stale] = [w for w in plan.warnings if "stale changelog" in w]
    assert stale.startswith("2024-05-01T10.30.00Z: is newer than 2024-05-01T10.15.00Z")


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

    plan = discover(LocalLake(tmp_path), now=datetime(2024, 5, 1, 12, 0))

    assert [(b.table, b.batch_id) for b in plan.batches] == [
        ("t", "2024-05-01T10.00.00Z"),
        ("OptionsetMetadata", "2024-05-01T10.00.00Z"),  # never a data table
    ]
    assert any("10.45.00Z: in progress" in n for n in plan.notes)
    assert any("10.15.00Z: no model.json" in n and "abandoned" in n for n in plan.notes)
    assert any("10.30.00Z: no model.json" in n and "abandoned" in n for n in plan.notes)
    assert plan.tables == ["t", "OptionsetMetadata"]


# ---------------------------------------------------------------------- settle delay

FOLDERS = ("2024-05-01T10.00.00Z", "2024-05-01T10.15.00Z", "2024-05-01T10.30.00Z")


def _gap_lake(root: Path, in_progress: str = "2024-05-01T10.45.00Z") -> LocalLake:
    """10.00 and 10.30 closed, 10.15 without model.json, `in_progress` named in the Changelog."""
    lake = LakeBuilder(root)
    for name in FOLDERS:
        lake.folder(name, {"t": COLUMNS}, {"t/2024.csv": ROW}, model=name != FOLDERS[1])
    lake.changelog(in_progress)
    return LocalLake(root)


def test_a_folder_without_model_json_whose_next_folder_just_started_stops_the_plan(
    tmp_path: Path,
) -> None:
    # 10.30 (the folder after 10.15) started 10 minutes ago: 10.15 may still be closing
    plan = discover(_gap_lake(tmp_path), now=datetime(2024, 5, 1, 10, 40))

    assert [b.batch_id for b in plan.batches] == ["2024-05-01T10.00.00Z"]
    assert any("waiting for model.json in 2024-05-01T10.15.00Z" in n for n in plan.notes)
    assert not any("abandoned" in n for n in plan.notes)


def test_a_folder_without_model_json_past_the_settle_delay_is_abandoned_and_skipped(
    tmp_path: Path,
) -> None:
    plan = discover(_gap_lake(tmp_path), now=datetime(2024, 5, 1, 10, 46))

    assert [b.batch_id for b in plan.batches] == ["2024-05-01T10.00.00Z", "2024-05-01T10.30.00Z"]
    [note] = [n for n in plan.notes if "10.15.00Z" in n]
    assert "abandoned" in note and "16 min" in note
    assert not any("waiting" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("settle", "now", "waits"),
    [
        (timedelta(minutes=5), datetime(2024, 5, 1, 10, 34, 59), True),
        (timedelta(minutes=5), datetime(2024, 5, 1, 10, 35), False),  # exactly the delay
        (timedelta(hours=2), datetime(2024, 5, 1, 12, 29), True),
        (timedelta(0), datetime(2024, 5, 1, 10, 30), False),
        # aware times are compared as UTC: 12:40+02:00 is 10:40Z
        (
            timedelta(minutes=15),
            datetime(2024, 5, 1, 12, 40, tzinfo=timezone(timedelta(hours=2))),
            True,
        ),
        (timedelta(minutes=15), datetime(2024, 5, 1, 10, 46, tzinfo=UTC), False),
    ],
)
def test_the_settle_delay_is_measured_from_the_start_of_the_next_folder(
    tmp_path: Path, settle: timedelta, now: datetime, waits: bool
) -> None:
    plan = discover(_gap_lake(tmp_path), settle=settle, now=now)
    loaded = [b.batch_id for b in plan.batches]
    assert loaded == (list(FOLDERS[:1]) if waits else [FOLDERS[0], FOLDERS[2]]), plan.notes


def test_the_next_folder_of_the_last_closed_one_is_the_in_progress_folder(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    lake.folder(FOLDERS[0], {"t": COLUMNS}, {"t/2024.csv": ROW})
    lake.folder(FOLDERS[1], {"t": COLUMNS}, {"t/2024.csv": ROW}, model=False)
    lake.changelog("2024-05-01T10.30.00Z")  # named, but no such folder listed yet

    soon = discover(LocalLake(tmp_path), now=datetime(2024, 5, 1, 10, 31))
    late = discover(LocalLake(tmp_path), now=datetime(2024, 5, 1, 11, 0))

    assert [b.batch_id for b in soon.batches] == [FOLDERS[0]]
    assert any("waiting for model.json in 2024-05-01T10.15.00Z" in n for n in soon.notes)
    assert [b.batch_id for b in late.batches] == [FOLDERS[0]]
    assert any("10.15.00Z" in n and "abandoned" in n for n in late.notes)


def test_a_folder_without_model_json_and_no_later_folder_waits(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    lake.folder(FOLDERS[0], {"t": COLUMNS}, {"t/2024.csv": ROW})
    lake.folder(FOLDERS[1], {"t": COLUMNS}, {"t/2024.csv": ROW}, model=False)
    lake.changelog("")  # nothing named: nothing tells when 10.15 ended
    plan = discover(LocalLake(tmp_path), now=datetime(2030, 1, 1))
    assert [b.batch_id for b in plan.batches] == [FOLDERS[0]]
    assert any("waiting for model.json in 2024-05-01T10.15.00Z" in n for n in plan.notes)


def test_without_a_changelog_a_folder_without_model_json_uses_the_root_model(
    tmp_path: Path,
) -> None:
    lake = LakeBuilder(tmp_path)
    lake.write("model.json", model_json([entity("t", COLUMNS)]))
    lake.folder(FOLDERS[0], {"t": COLUMNS}, {"t/2024.csv": ROW}, model=False)
    lake.folder(FOLDERS[1], {"t": COLUMNS}, {"t/2024.csv": ROW})
    plan = discover(LocalLake(tmp_path), now=datetime(2024, 5, 1, 10, 16))
    assert [b.batch_id for b in plan.batches] == list(FOLDERS[:2])
    assert any("using the root model.json" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("now", "waits"),
    [(datetime(2024, 5, 1, 10, 40), True), (datetime(2024, 5, 1, 11, 0), False)],
)
def test_without_a_changelog_or_root_model_a_folder_without_model_json_stops_the_plan(
    tmp_path: Path, now: datetime, waits: bool
) -> None:
    # it was skipped: the next folder moved the watermark past it, and once its model.json
    # was written it was late, never loaded (found by review)
    lake = LakeBuilder(tmp_path)
    for name in FOLDERS:
        lake.folder(name, {"t": COLUMNS}, {"t/2024.csv": ROW}, model=name != FOLDERS[1])

    plan = discover(LocalLake(tmp_path), now=now)

    assert [b.batch_id for b in plan.batches] == [FOLDERS[0]]
    if waits:  # 10.30 started 10 minutes ago: 10.15 may still be closing
        assert plan.problems == []
        assert any("waiting for model.json in 2024-05-01T10.15.00Z" in n for n in plan.notes)
    else:
        [problem] = plan.problems
        assert problem.message.startswith("2024-05-01T10.15.00Z has no model.json")
        assert "every later folder are left unloaded" in problem.message


# ---------------------------------------------------------------------- option-set metadata

OPTIONSET_ROWS = {
    "OptionsetMetadata": '"account","industrycode",1,False,1033,"Accounting"\n',
    "GlobalOptionsetMetadata": '"new_region",1,False,1033,"North","new_region","account"\n',
    "StateMetadata": '"account",0,False,1033,"Active"\n',
    "StatusMetadata": '"account",0,1,False,1033,"Active"\n',
    "TargetMetadata": '"contact","parentcustomerid","account","accountid"\n',
}
FIXED_COLUMNS = {
    "OptionsetMetadata": [
        "EntityName",
        "OptionSetName",
        "Option",
        "IsUserLocalizedLabel",
        "LocalizedLabelLanguageCode",
        "LocalizedLabel",
    ],
    "GlobalOptionsetMetadata": [
        "OptionSetName",
        "Option",
        "IsUserLocalizedLabel",
        "LocalizedLabelLanguageCode",
        "LocalizedLabel",
        "GlobalOptionSetName",
        "EntityName",
        "ExternalValue",
    ],
    "StateMetadata": [
        "EntityName",
        "State",
        "IsUserLocalizedLabel",
        "LocalizedLabelLanguageCode",
        "LocalizedLabel",
    ],
    "StatusMetadata": [
        "EntityName",
        "State",
        "Status",
        "IsUserLocalizedLabel",
        "LocalizedLabelLanguageCode",
        "LocalizedLabel",
    ],
    "TargetMetadata": ["EntityName", "AttributeName", "ReferencedEntity", "ReferencedAttribute"],
}


def _optionsets(lake: LakeBuilder, base: str, tables=OPTIONSET_TABLES) -> None:
    for table in tables:
        prefix = f"{base}/" if base else ""
        lake.write(f"{prefix}OptionsetMetadata/{table}.csv", OPTIONSET_ROWS[table])


def _optionset_batches(plan: LakePlan) -> list[TableBatch]:
    return [b for b in plan.batches if b.table in OPTIONSET_TABLES]


def test_option_sets_come_from_the_newest_processed_folder_as_full_refresh_tables(
    tmp_path: Path,
) -> None:
    lake = LakeBuilder(tmp_path)
    for name in FOLDERS:
        lake.folder(name, {"t": COLUMNS}, {"t/2024.csv": ROW})
        _optionsets(lake, name)
    lake.write(f"{FOLDERS[2]}/model.json", "")  # in progress: its copy is not read
    lake.changelog(FOLDERS[2])

    plan = discover(LocalLake(tmp_path))

    optionsets = _optionset_batches(plan)
    assert [b.table for b in optionsets] == list(OPTIONSET_TABLES)
    assert plan.tables == ["t", *OPTIONSET_TABLES]  # after the data tables, in a fixed order
    assert plan.batches[-5:] == optionsets
    for batch in optionsets:
        assert batch.mode is LoadMode.FULL_REFRESH
        assert batch.batch_id == FOLDERS[1]
        assert [f.info.path for f in batch.files] == [
            f"{FOLDERS[1]}/OptionsetMetadata/{batch.table}.csv"
        ]
        assert batch.schema.column_names == FIXED_COLUMNS[batch.table]
        assert batch.schema.name == batch.table
    assert [b.batch_id for b in plan.batches if b.table == "t"] == list(FOLDERS[:2])
    assert any(f"from {FOLDERS[1]}/OptionsetMetadata" in n for n in plan.notes)


def test_fixed_option_set_schemas_type_codes_as_integers_and_labels_as_unbounded_strings(
    tmp_path: Path,
) -> None:
    lake = LakeBuilder(tmp_path)
    lake.folder(FOLDERS[0], {"t": COLUMNS}, {"t/2024.csv": ROW})
    _optionsets(lake, FOLDERS[0])
    plan = discover(LocalLake(tmp_path))
    types = {(b.table, c.name): c for b in _optionset_batches(plan) for c in b.schema.columns}
    for (table, name), column in types.items():
        if name in ("Option", "State", "Status", "LocalizedLabelLanguageCode"):
            assert column.cdm_type is CdmType.INT64, (table, name)
        elif name == "IsUserLocalizedLabel":
            assert column.cdm_type is CdmType.BOOLEAN, (table, name)
        else:
            assert column.cdm_type is CdmType.STRING, (table, name)
            assert column.max_length is None, (table, name)


def test_global_option_sets_accept_rows_without_the_fno_external_value(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    lake.folder(FOLDERS[0], {"t": COLUMNS}, {"t/2024.csv": ROW})
    _optionsets(lake, FOLDERS[0])
    plan = discover(LocalLake(tmp_path))
    widths = {b.table: len(b.schema.columns) for b in _optionset_batches(plan)}
    assert widths["GlobalOptionsetMetadata"] == 8
    assert min(plan.row_widths["GlobalOptionsetMetadata"]) == 7  # ExternalValue may be missing
    for table in ("OptionsetMetadata", "StateMetadata", "StatusMetadata", "TargetMetadata"):
        assert min(plan.row_widths[table]) == widths[table]


def test_option_sets_after_a_waiting_folder_are_not_read(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    for name in FOLDERS:
        lake.folder(name, {"t": COLUMNS}, {"t/2024.csv": ROW}, model=name != FOLDERS[1])
        _optionsets(lake, name)
    lake.changelog("2024-05-01T10.45.00Z")

    waiting = discover(LocalLake(tmp_path), now=datetime(2024, 5, 1, 10, 40))
    later = discover(LocalLake(tmp_path), now=datetime(2024, 5, 1, 11, 0))

    assert {b.batch_id for b in _optionset_batches(waiting)} == {FOLDERS[0]}
    assert {b.batch_id for b in _optionset_batches(later)} == {FOLDERS[2]}


def test_a_newest_folder_without_an_option_set_copy_falls_back_to_the_previous_copy(
    tmp_path: Path,
) -> None:
    lake = LakeBuilder(tmp_path)
    lake.folder(FOLDERS[0], {"t": COLUMNS}, {"t/2024.csv": ROW})
    _optionsets(lake, FOLDERS[0], ["StateMetadata", "TargetMetadata"])
    lake.folder(FOLDERS[1], {"t": COLUMNS}, {"t/2024.csv": ROW})
    plan = discover(LocalLake(tmp_path))
    assert [(b.table, b.batch_id) for b in _optionset_batches(plan)] == [
        ("StateMetadata", FOLDERS[0]),
        ("TargetMetadata", FOLDERS[0]),
    ]


def test_a_model_json_entity_describes_an_option_set_table_instead_of_the_fixed_list(
    tmp_path: Path,
) -> None:
    state = [
        attribute("EntityName", "string", 64),
        attribute("State", "int64"),
        attribute("IsUserLocalizedLabel", "boolean"),
        attribute("LocalizedLabelLanguageCode", "int64"),
        attribute("LocalizedLabel", "string", 200),
    ]
    target = [attribute(n, "string", 100) for n in FIXED_COLUMNS["TargetMetadata"][:3]]
    folder = FOLDERS[0]
    lake = LakeBuilder(tmp_path)
    lake.write("model.json", model_json([entity("TargetMetadata", target)]))
    lake.write(
        f"{folder}/model.json",
        model_json(
            [
                entity("t", COLUMNS, [f"{folder}/t/2024.csv"]),
                # listed with a partition: still an option-set table, never a data table
                entity("StateMetadata", state, [f"{folder}/OptionsetMetadata/StateMetadata.csv"]),
                entity("GlobalOptionsetMetadata", state),  # no ExternalValue: no short rows
            ]
        ),
    )
    lake.write(f"{folder}/t/2024.csv", ROW)
    _optionsets(lake, folder)

    plan = discover(LocalLake(tmp_path))

    batches = {b.table: b for b in _optionset_batches(plan)}
    assert list(batches) == list(OPTIONSET_TABLES) and plan.problems == []
    assert [b.table for b in plan.batches].count("StateMetadata") == 1
    state_columns = batches["StateMetadata"].schema.columns
    assert [c.name for c in state_columns] == FIXED_COLUMNS["StateMetadata"]
    assert state_columns[-1].max_length == 200  # from the folder's model.json
    assert batches["StateMetadata"].mode is LoadMode.FULL_REFRESH
    # not in the folder's model.json: the root model.json's entity
    assert batches["TargetMetadata"].schema.column_names == FIXED_COLUMNS["TargetMetadata"][:3]
    assert min(plan.row_widths["TargetMetadata"]) == 3
    assert min(plan.row_widths["GlobalOptionsetMetadata"]) == 5
    assert batches["OptionsetMetadata"].schema.column_names == FIXED_COLUMNS["OptionsetMetadata"]


def test_classic_layout_loads_the_root_option_set_copy_as_one_snapshot(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    global_attributes = [attribute(n) for n in FIXED_COLUMNS["GlobalOptionsetMetadata"][:7]]
    lake.write(
        "model.json",
        model_json(
            [
                entity("t", COLUMNS, ["t/Snapshot/2024_123.csv"]),
                entity(
                    "GlobalOptionsetMetadata",
                    global_attributes,
                    ["OptionsetMetadata/GlobalOptionsetMetadata.csv"],
                ),
            ]
        ),
    )
    lake.write("t/Snapshot/2024_123.csv", ROW)
    _optionsets(lake, "")

    plan = discover(LocalLake(tmp_path))

    assert plan.layout == "model.json" and plan.problems == []
    assert plan.tables == ["t", *OPTIONSET_TABLES]
    [data] = [b for b in plan.batches if b.table == "t"]
    assert data.mode is LoadMode.SNAPSHOT
    optionsets = _optionset_batches(plan)
    assert len(optionsets) == 5
    for batch in optionsets:
        assert (batch.batch_id, batch.mode) == ("snapshot", LoadMode.FULL_REFRESH)
        assert [f.info.path for f in batch.files] == [f"OptionsetMetadata/{batch.table}.csv"]
    by_table = {b.table: b for b in optionsets}
    assert (
        by_table["GlobalOptionsetMetadata"].schema.column_names
        == (FIXED_COLUMNS["GlobalOptionsetMetadata"][:7])
    )
    assert min(plan.row_widths["GlobalOptionsetMetadata"]) == 7
    assert by_table["StatusMetadata"].schema.column_names == FIXED_COLUMNS["StatusMetadata"]


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


@pytest.mark.parametrize("own", ['{"name": "cdm", "entities": [', "missing"])
def test_a_folder_trickle_feed_model_cut_short_is_a_problem_not_the_root_copy(
    tmp_path: Path, own: str
) -> None:
    """The folder's own `t-model.json` cut short (being written) fell back to the root's
    copy with a warning, which may type the folder's columns otherwise (found by review). It
    is the table's problem now; with no folder copy at all, the root's is taken as before."""
    lake = LakeBuilder(tmp_path)
    lake.folder("2024-05-01T10.00.00Z", {"other": COLUMNS}, {"t/2024.csv": ROW})
    trickle = "Microsoft.Athena.TrickleFeedService/t-model.json"
    lake.write(trickle, model_json([entity("t", COLUMNS)]))  # the root's copy
    if own != "missing":
        lake.write(f"2024-05-01T10.00.00Z/{trickle}", own)

    plan = discover(LocalLake(tmp_path))

    if own == "missing":
        [batch] = plan.batches
        assert batch.table == "t" and batch.schema.column_names == ["Id", "n"]
    else:
        assert plan.batches == []
        [problem] = [p for p in plan.problems if p.table == "t"]
        assert f"2024-05-01T10.00.00Z/{trickle} does not describe t" in str(problem)


def test_a_snapshot_whose_initial_sync_is_not_completed_is_skipped(tmp_path: Path) -> None:
    """A root model.json's table mid-sync is an incomplete snapshot: the next one is whole."""
    lake = LakeBuilder(tmp_path)
    in_progress = {"Athena:InitialSyncState": "InProgress"}
    lake.write("model.json", model_json([entity("t", COLUMNS, ["t/2024.csv"], in_progress)]))
    lake.write("t/2024.csv", ROW)
    plan = discover(LocalLake(tmp_path))
    assert plan.batches == []
    assert any("initial sync not completed" in n for n in plan.notes)


def test_an_incremental_folder_whose_initial_sync_is_not_completed_loads_its_rows(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A closed folder's rows are changes like any others; skipped, they were lost for good,
    the folder's model.json never changing again, the run succeeding (found by review)."""
    from turbodata import migrate

    lake = LakeBuilder(tmp_path / "lake")
    second = "00000000-0000-0000-0000-000000000002,2\n"
    for folder, state, row in (
        ("2024-05-01T10.00.00Z", "InProgress", ROW),
        ("2024-05-01T11.00.00Z", "completed", second),
    ):
        lake.write(f"{folder}/t/2024.csv", row)
        notes = {"Athena:InitialSyncState": state}
        lake.write(f"{folder}/model.json", model_json([entity("t", COLUMNS, [], notes)]))

    summary = migrate(lake.root, sqlite_url)

    assert summary.ok and summary.tables["t"].rows_inserted == 2
    assert any("2024-05-01T10.00.00Z/t: initial sync not completed" in w for w in summary.warnings)
    assert len(fetch(sqlite_url, "t")) == 2


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
    assert [m.rsplit("/", 3)[-3:] for m in batch.missing] == [
        ["2024-05-01T10.00.00Z", "t", "gone.csv"]
    ]  # the loader holds the table while it is missing


def test_csvs_no_table_takes_in_an_incremental_folder_are_named_in_a_warning(
    tmp_path: Path,
) -> None:
    """A CSV below a table's folder or beside the table folders is no partition of the
    export: not loaded, and never left without a word."""
    lake = LakeBuilder(tmp_path)
    lake.folder("2024-05-01T10.00.00Z", {"t": COLUMNS}, {"t/2024.csv": ROW})
    lake.write("2024-05-01T10.00.00Z/t/retry/2024.csv", ROW)
    lake.write("2024-05-01T10.00.00Z/t.csv", ROW)
    lake.write("2024-05-01T10.00.00Z/OptionsetMetadata/StateMetadata.csv", "")
    plan = discover(LocalLake(tmp_path))
    [batch] = plan.batches
    assert [f.info.path for f in batch.files] == ["2024-05-01T10.00.00Z/t/2024.csv"]
    [warning] = [w for w in plan.warnings if "no table" in w]
    assert "2024-05-01T10.00.00Z/t.csv" in warning
    assert "2024-05-01T10.00.00Z/t/retry/2024.csv" in warning
    assert "StateMetadata" not in warning


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


def test_a_manifest_that_cannot_be_read_is_a_plan_problem_not_a_crash(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    lake.write(
        "default.manifest.cdm.json",
        '{"manifestName": "default", "subManifests": [{"manifestName": "B",'
        ' "definition": "B/B.manifest.cdm.json"}]}',
    )
    lake.write("B/B.manifest.cdm.json", '{"manifestName": "B", "entit')  # cut short

    plan = discover(LocalLake(tmp_path))

    assert plan.batches == []
    [problem] = plan.problems
    assert problem.table is None  # fails the run: no table of a half-read manifest loads
    assert "sub-manifest B/B.manifest.cdm.json: invalid or truncated JSON" in problem.message


def test_tables_whose_names_differ_only_in_case_are_refused_not_loaded_out_of_order(
    tmp_path: Path,
) -> None:
    lake = LakeBuilder(tmp_path)
    lake.folder("2024-05-01T10.00.00Z", {"account": COLUMNS}, {"account/2024.csv": ROW})
    lake.folder("2024-05-01T10.15.00Z", {"Account": COLUMNS}, {"Account/2024.csv": ROW})
    lake.folder("2024-05-01T10.30.00Z", {"account": COLUMNS}, {"account/2024.csv": ROW})

    plan = discover(LocalLake(tmp_path))

    # one table on SQL Server and SQLite; each name would load with its own history
    assert plan.batches == []
    assert sorted((p.table, "differ only in case" in p.message) for p in plan.problems) == [
        ("Account", True),
        ("account", True),
    ]


# -- one table, declared twice ---------------------------------------------------------------


def _entity_document(name: str) -> str:
    attributes = [{"name": "Id", "dataFormat": "Guid"}, {"name": "name", "dataFormat": "String"}]
    return json.dumps(
        {
            "jsonSchemaSemanticVersion": "1.0.0",
            "definitions": [{"entityName": name, "hasAttributes": attributes}],
        }
    )


def _manifest(name: str, entities: list[str], subs: tuple[str, ...] = ()) -> str:
    declared = [
        {
            "type": "LocalEntity",
            "entityName": e,
            "entityPath": f"{e}.cdm.json/{e}",
            "dataPartitions": [{"location": f"{e}/1.csv"}],
        }
        for e in entities
    ]
    manifest = {"jsonSchemaSemanticVersion": "1.0.0", "manifestName": name, "entities": declared}
    manifest["subManifests"] = [{"manifestName": s, "definition": s} for s in subs]
    return json.dumps(manifest)


@pytest.mark.parametrize("second", ["account", "Account"])
def test_an_entity_declared_twice_in_model_json_fails_instead_of_losing_a_file(
    tmp_path: Path, second: str
):
    lake = LakeBuilder(tmp_path)
    lake.write("account/2024.csv", ROW)
    lake.write(f"{second}/2025.csv", ROW.replace("1,1", "2,2"))
    lake.write(
        "model.json",
        model_json(
            [
                entity("account", COLUMNS, ["account/2024.csv"]),
                entity(second, COLUMNS, [f"{second}/2025.csv"]),
            ]
        ),
    )

    plan = discover(LocalLake(tmp_path))

    assert plan.batches == []  # loading either declaration alone drops the other's rows
    assert [p.table for p in plan.problems] == ["account"]
    assert "entity declared more than once" in plan.problems[0].message


def test_two_entity_documents_of_one_name_fail_instead_of_replacing_each_other(tmp_path: Path):
    """F&O exports of two environments under one --lake: each snapshot would replace the
    table with its own, in turn."""
    lake = LakeBuilder(tmp_path)
    for env in ("env1", "env2"):
        lake.write(f"{env}/Tables/AR/CustTable.cdm.json", _entity_document("CustTable"))
        lake.write(f"{env}/Tables/AR/CustTable/CUSTTABLE_00001.csv", ROW)

    plan = discover(LocalLake(tmp_path))

    assert plan.batches == []
    assert [p.table for p in plan.problems] == ["CustTable"]
    assert "declared by 2 documents" in plan.problems[0].message


def test_every_root_manifest_is_read(tmp_path: Path):
    lake = LakeBuilder(tmp_path)
    for name in ("Alpha", "Beta"):
        lake.write(f"{name}.cdm.json", _entity_document(name))
        lake.write(f"{name}/1.csv", ROW)
    lake.write("a.manifest.cdm.json", _manifest("a", ["Alpha"]))
    lake.write("b.manifest.cdm.json", _manifest("b", ["Beta"]))

    plan = discover(LocalLake(tmp_path))

    assert sorted(b.table for b in plan.batches) == ["Alpha", "Beta"] and plan.problems == []


def test_a_sub_manifest_two_root_manifests_reach_is_read_once(tmp_path: Path):
    lake = LakeBuilder(tmp_path)
    for name in ("Alpha", "Beta", "sub/Shared"):
        lake.write(f"{name}.cdm.json", _entity_document(name.rpartition("/")[2]))
        lake.write(f"{name}/1.csv", ROW)
    lake.write("sub/shared.manifest.cdm.json", _manifest("shared", ["Shared"]))
    lake.write("a.manifest.cdm.json", _manifest("a", ["Alpha"], ("sub/shared.manifest.cdm.json",)))
    lake.write("b.manifest.cdm.json", _manifest("b", ["Beta"], ("sub/shared.manifest.cdm.json",)))
    lake.write("c.manifest.cdm.json", _manifest("c", [], ("b.manifest.cdm.json",)))  # a root too

    plan = discover(LocalLake(tmp_path))

    assert sorted(b.table for b in plan.batches) == ["Alpha", "Beta", "Shared"]
    assert plan.problems == []


def test_a_change_feed_manifest_declares_a_table_of_its_own(tmp_path: Path):
    """F&O: `ChangeFeed/` declares the tables `Tables/` does, as entity documents do."""
    lake = LakeBuilder(tmp_path)
    for folder in ("Tables", "ChangeFeed"):
        lake.write(f"{folder}/CustTable.cdm.json", _entity_document("CustTable"))
        lake.write(f"{folder}/CustTable/1.csv", ROW)
        lake.write(f"{folder}/{folder}.manifest.cdm.json", _manifest(folder, ["CustTable"]))
    subs = ("Tables/Tables.manifest.cdm.json", "ChangeFeed/ChangeFeed.manifest.cdm.json")
    lake.write("default.manifest.cdm.json", _manifest("default", [], subs))

    plan = discover(LocalLake(tmp_path))

    tables = {b.table: [f.info.path for f in b.files] for b in plan.batches}
    assert tables == {
        "CustTable": ["Tables/CustTable/1.csv"],
        "CustTable_ChangeFeed": ["ChangeFeed/CustTable/1.csv"],
    }
    assert plan.problems == []


def test_a_root_manifest_half_read_adds_none_of_its_tables_beside_another(tmp_path: Path):
    lake = LakeBuilder(tmp_path)
    for name in ("Alpha", "Beta"):
        lake.write(f"{name}.cdm.json", _entity_document(name))
        lake.write(f"{name}/1.csv", ROW)
    lake.write("a.manifest.cdm.json", _manifest("a", ["Alpha"], ("sub/cut.manifest.cdm.json",)))
    lake.write("sub/cut.manifest.cdm.json", '{"manifestName": "cut", "entit')  # rewritten
    lake.write("b.manifest.cdm.json", _manifest("b", ["Beta"]))

    plan = discover(LocalLake(tmp_path))

    assert [b.table for b in plan.batches] == ["Beta"]
    [problem] = plan.problems
    assert problem.table is None and problem.file == "a.manifest.cdm.json"


# -- each listed or located file goes to its own table only --------------------------------


def test_a_listed_partition_that_is_gone_never_matches_another_file_by_a_shorter_suffix(
    tmp_path: Path,
) -> None:
    lake = LakeBuilder(tmp_path)
    lake.write("account/Snapshot/2024_2.csv", ROW)
    lake.write("Snapshot/2024_1.csv", ROW.replace("1,1", "3,3"))  # another file at the root
    listed = ["account/Snapshot/2024_2.csv", "account/Snapshot/2024_1.csv"]  # _1 is gone
    lake.write("model.json", model_json([entity("account", COLUMNS, listed)]))

    plan = discover(LocalLake(tmp_path))

    assert plan.batches == []  # an incomplete snapshot holds the table as it is
    assert [p.table for p in plan.problems] == ["account"]
    assert any(
        "not found: dataverse-test-org/account/Snapshot/2024_1.csv" in w for w in plan.warnings
    )


def test_a_root_model_json_entity_listing_no_file_never_reads_the_live_files(
    tmp_path: Path,
) -> None:
    """lake-format.md 6.1: a classic lake's `<table>/` CSVs are appended to while read; only
    the snapshots model.json lists are whole."""
    lake = LakeBuilder(tmp_path)
    lake.write("account/2024.csv", ROW + "00000000-0000-0000-0000-000000000002,")  # mid-write
    lake.write("model.json", model_json([entity("account", COLUMNS, [])]))

    plan = discover(LocalLake(tmp_path))

    assert plan.batches == [] and plan.dataless == ["account"]
    assert any("1 CSV file(s) in account/ are not read" in w for w in plan.warnings)


def test_a_nested_entity_documents_files_load_into_its_own_table_only(tmp_path: Path) -> None:
    lake = LakeBuilder(tmp_path)
    outer = "Tables/GL/GeneralJournalEntry"
    lake.write(f"{outer}.cdm.json", _entity_document("GeneralJournalEntry"))
    lake.write(f"{outer}/GENERALJOURNALENTRY_00001.csv", ROW)
    lake.write(f"{outer}/Sub/SubTable.cdm.json", _entity_document("SubTable"))
    lake.write(f"{outer}/Sub/SubTable/SUBTABLE_00001.csv", ROW)

    plan = discover(LocalLake(tmp_path))

    files = {b.table: [f.info.path for f in b.files] for b in plan.batches}
    assert files == {
        "GeneralJournalEntry": [f"{outer}/GENERALJOURNALENTRY_00001.csv"],
        "SubTable": [f"{outer}/Sub/SubTable/SUBTABLE_00001.csv"],
    }


def test_url_locations_and_pattern_matches_of_one_entity_each_resolve(tmp_path: Path) -> None:
    """A URL carries the container above the lake root, a pattern's match is a lake path:
    one count of leading segments to drop would miss one or the other."""
    lake = LakeBuilder(tmp_path)
    lake.write("T.cdm.json", _entity_document("T"))
    lake.write("T/a.csv", ROW)
    lake.write("T/extra/b.csv", ROW.replace("1,1", "2,2"))
    declared = {
        "type": "LocalEntity",
        "entityName": "T",
        "entityPath": "T.cdm.json/T",
        "dataPartitions": [{"location": "https://acct.dfs.core.windows.net/container/T/a.csv"}],
        "dataPartitionPatterns": [{"name": "p", "rootLocation": "T/extra", "globPattern": "*.csv"}],
    }
    lake.write("default.manifest.cdm.json", json.dumps({"entities": [declared]}))

    plan = discover(LocalLake(tmp_path))

    assert plan.problems == []
    assert sorted(f.info.path for b in plan.batches for f in b.files) == [
        "T/a.csv",
        "T/extra/b.csv",
    ]


def test_a_file_two_tables_claim_loads_into_neither(tmp_path: Path, sqlite_url: str) -> None:
    """Two entities listing one partition (or a manifest pattern `Account*.csv` matching
    `AccountExt_001.csv`): its rows loaded into both tables, the run succeeding."""
    from turbodata import migrate

    columns = [attribute("Id", "guid"), attribute("name", "string", 10)]
    lake = LakeBuilder(tmp_path / "lake")
    lake.write("shared/1.csv", "10000000-0000-0000-0000-000000000001,x\n")
    lake.write("c/1.csv", "10000000-0000-0000-0000-000000000002,y\n")
    listed = {"a": ["shared/1.csv"], "b": ["shared/1.csv"], "c": ["c/1.csv"]}
    lake.write("model.json", model_json([entity(t, columns, f) for t, f in listed.items()]))

    summary = migrate(lake.root, sqlite_url)

    assert {t: r.status for t, r in summary.tables.items()} == {
        "a": "failed",
        "b": "failed",
        "c": "loaded",
    }
    assert "shared/1.csv is claimed by the metadata of a and of b" in summary.tables["a"].error


def test_csvs_no_entity_document_owns_fail_their_table(tmp_path: Path, sqlite_url: str) -> None:
    """F&O entity documents: `VendTable.cdm.json` missing (being rewritten or copied) left
    `VendTable/`'s rows out without a word while `CustTable` loaded."""
    from turbodata import migrate

    def document(name: str) -> str:
        attributes = [{"name": "RECID", "dataFormat": "Int64"}, {"name": "NAME"}]
        return json.dumps({"definitions": [{"entityName": name, "hasAttributes": attributes}]})

    lake = LakeBuilder(tmp_path / "lake")
    lake.write("Tables/Cust/CustTable.cdm.json", document("CustTable"))
    lake.write("Tables/Cust/CustTable/CUSTTABLE_00001.csv", "1,a\n")
    lake.write("Tables/Vend/VendTable/VENDTABLE_00001.csv", "7,v\n8,w\n")

    summary = migrate(lake.root, sqlite_url)

    assert summary.tables["CustTable"].status == "loaded"
    vend = summary.tables["VendTable"]
    assert vend.status == "failed" and not summary.ok
    assert "Tables/Vend/VendTable holds 1 CSV file(s) but no entity document" in vend.error


def test_a_table_only_a_root_manifest_declares_beside_model_json_fails(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The CDM SDK can write both formats: model.json is read, and `contact`, declared by the
    manifest alone, was left out without a word."""
    from turbodata import migrate

    columns = [attribute("Id", "int64"), attribute("v")]
    lake = LakeBuilder(tmp_path / "lake")
    lake.write("account/1.csv", "1,a\n")
    lake.write("contact/1.csv", "5,c\n")
    lake.write("model.json", model_json([entity("account", columns, ["account/1.csv"])]))
    attributes = [{"name": "Id", "dataFormat": "Int64"}, {"name": "v"}]
    document = {"definitions": [{"entityName": "contact", "hasAttributes": attributes}]}
    lake.write("contact.cdm.json", json.dumps(document))
    declared = {"entityName": "contact", "entityPath": "contact.cdm.json/contact"}
    partitions = {"dataPartitions": [{"location": "contact/1.csv"}]}
    entities = [{"type": "LocalEntity", **declared, **partitions}]
    lake.write("default.manifest.cdm.json", json.dumps({"entities": entities}))

    summary = migrate(lake.root, sqlite_url)

    assert summary.tables["account"].status == "loaded"
    contact = summary.tables["contact"]
    assert contact.status == "failed" and "declared by default.manifest.cdm.json" in contact.error


def test_a_table_only_a_manifest_no_root_manifest_reaches_declares_fails(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The root manifest reaches `ChangeFeed/` only: `Tables/Tables.manifest.cdm.json` and
    its CustTable were never read, without a word."""
    from turbodata import migrate

    def document(name: str) -> str:
        attributes = [{"name": "RECID", "dataFormat": "Int64"}, {"name": "NAME"}]
        return json.dumps({"definitions": [{"entityName": name, "hasAttributes": attributes}]})

    def declared(name: str) -> dict:
        pattern = {"name": name, "rootLocation": name, "globPattern": "*.csv"}
        path = f"{name}.cdm.json/{name}"
        return {"entityName": name, "entityPath": path, "dataPartitionPatterns": [pattern]}

    lake = LakeBuilder(tmp_path / "lake")
    lake.write("Tables/CustTable.cdm.json", document("CustTable"))
    lake.write("Tables/CustTable/CUSTTABLE_00001.csv", "1,a\n")
    lake.write("Tables/Tables.manifest.cdm.json", json.dumps({"entities": [declared("CustTable")]}))
    lake.write("VendTable.cdm.json", document("VendTable"))
    lake.write("VendTable/VENDTABLE_00001.csv", "7,v\n")
    lake.write("root.manifest.cdm.json", json.dumps({"entities": [declared("VendTable")]}))

    summary = migrate(lake.root, sqlite_url)

    assert summary.tables["VendTable"].status == "loaded"
    cust = summary.tables["CustTable"]
    assert cust.status == "failed" and not summary.ok
    assert "declared by Tables/Tables.manifest.cdm.json only" in cust.error
    assert "no root manifest reaches" in cust.error


def test_a_manifest_pattern_matching_nothing_reads_no_other_file_of_its_folder(
    tmp_path: Path, sqlite_url: str
) -> None:
    """`/fulldata*.csv` matching nothing for a moment (the export rewrites the file): the
    table fell back to every CSV in `Account/`, replacing its rows with a file the manifest
    never declared, the run succeeding (found by review). It keeps its rows now."""
    from turbodata import migrate

    def declared(name: str, glob: str) -> dict:
        pattern = {"name": "p", "rootLocation": name, "globPattern": glob}
        path = f"{name}.cdm.json/{name}"
        return {"entityName": name, "entityPath": path, "dataPartitionPatterns": [pattern]}

    lake = LakeBuilder(tmp_path / "lake")
    for name in ("Account", "Contact"):
        lake.write(f"{name}.cdm.json", _entity_document(name))
    lake.write("Account/fulldata1.csv", ROW)
    lake.write("Account/notes.csv", "00000000-0000-0000-0000-000000000009,notes\n")
    lake.write("Contact/fulldata1.csv", ROW)
    entities = [declared("Account", "/fulldata*.csv"), declared("Contact", "/fulldata*.csv")]
    lake.write("default.manifest.cdm.json", json.dumps({"entities": entities}))
    assert migrate(lake.root, sqlite_url).ok
    (lake.root / "Account/fulldata1.csv").unlink()

    summary = migrate(lake.root, sqlite_url)

    assert summary.tables["Contact"].status == "unchanged"
    assert not summary.ok and summary.tables["Account"].status == "failed", summary.to_dict()
    assert [(str(r["Id"]), r["name"]) for r in fetch(sqlite_url, "Account")] == [
        ("00000000-0000-0000-0000-000000000001", "1")
    ]


def test_a_gone_partition_is_never_matched_to_another_file_by_a_shorter_suffix(
    tmp_path: Path,
) -> None:
    """`…/org/account/Snapshot/2020_1.csv` removed by retention matched a root
    `Snapshot/2020_1.csv` by dropping one segment more than the model's other tables need,
    and its rows loaded as `account` (found by review)."""
    lake = LakeBuilder(tmp_path)
    entities = [
        entity("account", COLUMNS, ["account/Snapshot/2020_1.csv"]),
        entity("contact", COLUMNS, ["contact/Snapshot/2020_1.csv"]),
    ]
    lake.write("model.json", model_json(entities))
    lake.write("contact/Snapshot/2020_1.csv", ROW)
    lake.write("Snapshot/2020_1.csv", ROW)  # another export's file at the root

    plan = discover(LocalLake(tmp_path))

    assert [f.info.path for b in plan.batches for f in b.files] == ["contact/Snapshot/2020_1.csv"]
    assert any(p.table == "account" for p in plan.problems), plan.problems


# -- manifests that cannot tell their tables (found by review) -------------------------------


@pytest.mark.parametrize("sub", ["{}", "[]", "null", '{"imports": []}'])
def test_a_sub_manifest_that_is_json_but_no_manifest_stops_the_run(
    tmp_path: Path, sub: str
) -> None:
    """Its tables dropped out of the run without a word; invalid JSON already stopped it."""
    lake = LakeBuilder(tmp_path)
    lake.write("A.cdm.json", _entity_document("A"))
    lake.write("A/1.csv", ROW)
    lake.write(
        "default.manifest.cdm.json", _manifest("default", ["A"], ("Sales/sales.manifest.cdm.json",))
    )
    lake.write("Sales/sales.manifest.cdm.json", sub)

    plan = discover(LocalLake(tmp_path))

    assert plan.batches == []
    [problem] = plan.problems
    assert problem.table is None and "sub-manifest Sales/sales.manifest.cdm.json" in problem.message
    assert "not a manifest" in problem.message


def test_an_unread_manifest_that_cannot_be_read_is_a_problem(tmp_path: Path) -> None:
    """`Tables/Tables.manifest.cdm.json` that no root manifest reaches is read to find tables
    only it declares; cut short, it said nothing and the run succeeded."""
    lake = LakeBuilder(tmp_path)
    lake.write("A.cdm.json", _entity_document("A"))
    lake.write("A/1.csv", ROW)
    lake.write("default.manifest.cdm.json", _manifest("default", ["A"]))
    lake.write("Tables/Tables.manifest.cdm.json", '{"manifestName": "Tables", "entit')

    plan = discover(LocalLake(tmp_path))

    assert [b.table for b in plan.batches] == ["A"]
    [problem] = plan.problems
    assert problem.file == "Tables/Tables.manifest.cdm.json" and "no root manifest" in str(problem)


def test_a_named_group_written_as_the_cdm_sdks_write_it_matches(tmp_path: Path) -> None:
    """`(?<year>…)` is a named group for the .NET/Java/TypeScript SDKs; Python refused it and
    the table was left out with a warning. An invalid expression fails its table."""
    lake = LakeBuilder(tmp_path)
    for name in ("A", "B"):
        lake.write(f"{name}.cdm.json", _entity_document(name))
        lake.write(f"{name}/2024/1.csv", ROW)
    lake.write("C.cdm.json", _entity_document("C"))  # its root is not in the lake
    regexes = {"A": r"/(?<year>\d{4})/.*\.csv", "B": r"/(\d{4}/.*\.csv", "C": r".*\.csv"}
    entities = [
        {
            "entityName": name,
            "entityPath": f"{name}.cdm.json/{name}",
            "dataPartitionPatterns": [{"rootLocation": name, "regularExpression": regex}],
        }
        for name, regex in regexes.items()
    ]
    lake.write("default.manifest.cdm.json", json.dumps({"entities": entities}))

    plan = discover(LocalLake(tmp_path))

    assert [f.info.path for b in plan.batches for f in b.files] == ["A/2024/1.csv"]
    [problem] = plan.problems
    assert problem.table == "B" and "invalid regularExpression" in problem.message
    assert "C: no data files" in plan.warnings  # a note alone, it went unseen


def test_change_feed_csvs_without_their_document_fail_the_change_feed_table(
    tmp_path: Path,
) -> None:
    """`ChangeFeed/CustTable/` without `ChangeFeed/CustTable.cdm.json` failed `CustTable`,
    whose own document and files were whole."""
    lake = LakeBuilder(tmp_path)
    lake.write("Tables/CustTable.cdm.json", _entity_document("CustTable"))
    lake.write("Tables/CustTable/1.csv", ROW)
    lake.write("ChangeFeed/CustTable/1.csv", ROW)

    plan = discover(LocalLake(tmp_path))

    assert [b.table for b in plan.batches] == ["CustTable"]
    assert [p.table for p in plan.problems] == ["CustTable_ChangeFeed"]


def test_a_manifest_entity_without_partitions_reads_no_folder_at_the_lake_root(
    tmp_path: Path,
) -> None:
    """`Sales/sales.manifest.cdm.json` declaring `Orders` with no partition took the CSVs
    of a root `Orders/` (not its own folder): a stray file replaced the table's rows, the
    run succeeding (found by review). Such an entity has no data, and the plan says so."""
    lake = LakeBuilder(tmp_path)
    lake.write("Sales/Orders.cdm.json", _entity_document("Orders"))
    lake.write("Sales/Orders/part1.csv", ROW)
    lake.write("Orders/old.csv", "00000000-0000-0000-0000-000000000099,stale\n")
    declared = {"entityName": "Orders", "entityPath": "Orders.cdm.json/Orders"}
    lake.write("Sales/sales.manifest.cdm.json", json.dumps({"entities": [declared]}))
    subs = [{"manifestName": "sales", "definition": "Sales/sales.manifest.cdm.json"}]
    lake.write("default.manifest.cdm.json", json.dumps({"entities": [], "subManifests": subs}))

    plan = discover(LocalLake(tmp_path))

    assert [f.info.path for b in plan.batches for f in b.files] == []
    assert "Orders: its manifest declares no partition or pattern: no file" in plan.warnings


def test_a_root_change_feed_manifest_declares_change_feed_tables(tmp_path: Path) -> None:
    """A root `ChangeFeed.manifest.cdm.json` declaring `CustTable` loaded the change rows
    into `CustTable` itself, and `Tables/`'s `CustTable` (no root manifest reaches it) was
    taken as that table and left out without a word (found by review)."""

    def declared(name: str, folder: str) -> dict:
        pattern = {"name": "p", "rootLocation": f"{folder}/{name}", "globPattern": "*.csv"}
        path = f"{folder}/{name}.cdm.json/{name}"
        return {"entityName": name, "entityPath": path, "dataPartitionPatterns": [pattern]}

    lake = LakeBuilder(tmp_path)
    for folder in ("ChangeFeed", "Tables"):
        lake.write(f"{folder}/CustTable.cdm.json", _entity_document("CustTable"))
        lake.write(f"{folder}/CustTable/1.csv", ROW)
    entities = [declared("CustTable", "ChangeFeed")]
    lake.write("ChangeFeed.manifest.cdm.json", json.dumps({"entities": entities}))
    tables = {"entities": [declared("CustTable", "Tables")]}
    lake.write("Tables/Tables.manifest.cdm.json", json.dumps(tables).replace("Tables/", ""))

    plan = discover(LocalLake(tmp_path))

    assert [b.table for b in plan.batches] == ["CustTable_ChangeFeed"]
    [problem] = plan.problems
    assert problem.table == "CustTable" and "Tables/Tables.manifest.cdm.json only" in str(problem)


def test_an_empty_manifest_as_the_cdm_sdk_writes_it_declares_nothing(tmp_path: Path) -> None:
    """The SDK leaves empty lists out: a manifest of no entity yet has neither `entities` nor
    `subManifests`. Taken as no manifest, it failed the run (found by the session's review)."""
    empty = json.dumps({"manifestName": "Sales", "jsonSchemaSemanticVersion": "1.0.0"})
    lake = LakeBuilder(tmp_path)
    lake.write("A.cdm.json", _entity_document("A"))
    lake.write("A/1.csv", ROW)
    subs = ("Sales/Sales.manifest.cdm.json",)
    lake.write("default.manifest.cdm.json", _manifest("default", ["A"], subs))
    lake.write("Sales/Sales.manifest.cdm.json", empty)
    lake.write("Other/Other.manifest.cdm.json", empty)  # reached by no root manifest

    plan = discover(LocalLake(tmp_path))

    assert [b.table for b in plan.batches] == ["A"] and plan.problems == []

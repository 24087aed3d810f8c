"""Option-set metadata (lake-format.md section 9) migrated end to end as full-refresh tables.

On SQLite and PostgreSQL: the sample lake's five tables hold exactly the newest completed
folder's copy; F&O's extra ExternalValue column loads; a rerun changes nothing; a newer
folder's copy replaces the tables (rows removed upstream disappear, relabelled rows change).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

from tests.dbcheck import comparable_rows, fetch
from tests.lakebuilder import LakeBuilder, attribute
from turbodata import migrate
from turbodata.lake.layouts import OPTIONSET_TABLES

NEW_FOLDER = "2025-02-03T13.15.00Z"  # after the sample lake's in-progress 12.15 folder


def assert_table_equals(db_url: str, table: str, expected: list[dict[str, object]]) -> None:
    got, want = comparable_rows(fetch(db_url, table), expected, microseconds=False)
    assert got == want, table


def render(make_lake: ModuleType, table: str, rows: list[tuple[object, ...]]) -> bytes:
    """An option-set CSV as Synapse Link writes it (headerless, strings quoted)."""
    columns = make_lake.OPTIONSET_SCHEMAS[table]
    names = [c.name for c in columns]
    lines = [
        make_lake.render_row(columns, dict(zip(names, row, strict=True)), len(columns)) + "\n"
        for row in rows
    ]
    return "".join(lines).encode()


def as_values(make_lake: ModuleType, table: str, rows: list[tuple[object, ...]]) -> list[dict]:
    columns = make_lake.OPTIONSET_SCHEMAS[table]
    return [
        {c.name: make_lake.expected_value(c, v) for c, v in zip(columns, row, strict=True)}
        for row in rows
    ]


# ---------------------------------------------------------------------------- sample lake


def test_sample_lake_option_sets_equal_the_newest_completed_folder_copy(
    db_url: str, example_lake: Path, make_lake: ModuleType
) -> None:
    expected = make_lake.expected_optionset_rows()

    summary = migrate(example_lake, db_url)

    assert summary.ok, summary.to_dict()
    assert list(expected) == list(OPTIONSET_TABLES)
    for table, rows in expected.items():
        result = summary.tables[table]
        assert (result.status, result.rows_inserted, result.rows_rejected) == (
            "loaded",
            len(rows),
            0,
        ), table
        assert result.files_read == 1, table
        assert_table_equals(db_url, table, rows)

    local = fetch(db_url, "OptionsetMetadata")
    labels = {r["LocalizedLabel"] for r in local}
    assert {'Consulting, "Advisory" & Services', "Contabilità", "Brokers & Agents"} <= labels
    assert "Brokers" not in labels  # the older folders' label: only the newest copy is loaded
    by_language: dict[int, int] = {}
    for row in local:
        code = int(row["LocalizedLabelLanguageCode"])
        by_language[code] = by_language.get(code, 0) + 1
    assert set(by_language) == set(make_lake.LANGUAGES)
    assert len(set(by_language.values())) == 1  # one row per option and language
    global_rows = fetch(db_url, "GlobalOptionsetMetadata")
    assert 'Asia "Pacifico"' in {r["LocalizedLabel"] for r in global_rows}
    # Dataverse writes 7 values; the F&O-only ExternalValue column is there, and NULL
    assert global_rows and all(r["ExternalValue"] is None for r in global_rows)


def test_rerun_loads_no_option_set_file_and_changes_nothing(
    db_url: str, example_lake: Path
) -> None:
    migrate(example_lake, db_url)
    before = {t: fetch(db_url, t) for t in OPTIONSET_TABLES}

    summary = migrate(example_lake, db_url)

    assert summary.ok
    for table in OPTIONSET_TABLES:
        result = summary.tables[table]
        assert (result.status, result.files_read, result.rows_inserted) == ("unchanged", 0, 0)
        assert result.rows_deleted == 0
    assert {t: fetch(db_url, t) for t in OPTIONSET_TABLES} == before


def test_a_newer_folder_copy_replaces_the_option_set_tables(
    db_url: str, example_lake: Path, make_lake: ModuleType, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(example_lake, lake)
    migrate(lake, db_url)
    data_before = {t: fetch(db_url, t) for t in make_lake.TABLES}

    # the next folder closes: same schema, no data changes, a new option-set copy in which
    # one label changed and one row is gone
    newest = make_lake.COMPLETED_FOLDERS[-1]
    rows = make_lake.optionset_rows(newest)
    local = list(rows["OptionsetMetadata"])
    relabel = next(i for i, r in enumerate(local) if r[1:3] == ("industrycode", 1) and r[4] == 1033)
    local[relabel] = (*local[relabel][:5], 'Accounting, "Audit" & Tax — ✓')
    removed = next(r for r in local if r[1:3] == ("preferredcontactmethodcode", 4) and r[4] == 1040)
    local.remove(removed)
    rows["OptionsetMetadata"] = local
    (lake / NEW_FOLDER / "OptionsetMetadata").mkdir(parents=True)
    shutil.copyfile(lake / "model.json", lake / NEW_FOLDER / "model.json")
    for table, table_rows in rows.items():
        (lake / NEW_FOLDER / "OptionsetMetadata" / f"{table}.csv").write_bytes(
            render(make_lake, table, table_rows)
        )
    # Synapse Link moved on: 12.15 never got its model.json and is abandoned
    (lake / "Changelog" / "changelog.info").write_text("2025-02-03T14.15.00Z")

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    result = summary.tables["OptionsetMetadata"]
    old_count = len(make_lake.expected_optionset_rows()["OptionsetMetadata"])
    assert (result.rows_deleted, result.rows_inserted) == (old_count, old_count - 1)
    for table, table_rows in rows.items():
        assert summary.tables[table].files_read == 1, table
        assert_table_equals(db_url, table, as_values(make_lake, table, table_rows))
    labels = {r["LocalizedLabel"] for r in fetch(db_url, "OptionsetMetadata")}
    assert 'Accounting, "Audit" & Tax — ✓' in labels and "Accounting" not in labels
    keys = {
        (r["OptionSetName"], int(r["Option"]), int(r["LocalizedLabelLanguageCode"]))
        for r in fetch(db_url, "OptionsetMetadata")
    }
    assert (removed[1], removed[2], removed[4]) not in keys
    assert (removed[1], removed[2], 1033) in keys
    assert {t: fetch(db_url, t) for t in make_lake.TABLES} == data_before

    again = migrate(lake, db_url)
    assert all(again.tables[t].files_read == 0 for t in OPTIONSET_TABLES)
    assert_table_equals(
        db_url, "OptionsetMetadata", as_values(make_lake, "OptionsetMetadata", local)
    )


def test_a_newer_folder_with_some_option_set_files_keeps_the_others_planned(
    example_lake: Path, tmp_path: Path
) -> None:
    """Each option-set table is taken from the newest folder holding its file: a folder with
    `OptionsetMetadata.csv` alone took the other four tables out of the plan (found by
    review)."""
    from turbodata.lake.layouts import discover
    from turbodata.lake.storage import LocalLake

    lake = tmp_path / "lake"
    shutil.copytree(example_lake, lake)
    before = {
        b.table: b.batch_id
        for b in discover(LocalLake(lake)).batches
        if b.table in OPTIONSET_TABLES
    }
    (lake / NEW_FOLDER / "OptionsetMetadata").mkdir(parents=True)
    shutil.copyfile(lake / "model.json", lake / NEW_FOLDER / "model.json")
    newest = before["OptionsetMetadata"]
    shutil.copyfile(
        lake / newest / "OptionsetMetadata" / "OptionsetMetadata.csv",
        lake / NEW_FOLDER / "OptionsetMetadata" / "OptionsetMetadata.csv",
    )
    (lake / "Changelog" / "changelog.info").write_text("2025-02-03T14.15.00Z")

    after = {
        b.table: b.batch_id
        for b in discover(LocalLake(lake)).batches
        if b.table in OPTIONSET_TABLES
    }

    assert set(after) == set(OPTIONSET_TABLES) == set(before)
    assert after == {**before, "OptionsetMetadata": NEW_FOLDER}


# ---------------------------------------------------------------------------- F&O


def test_fno_global_option_sets_with_external_value_load(db_url: str, tmp_path: Path) -> None:
    folder = "2024-05-01T10.00.00Z"
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("n", "int64")]
    lake.folder(folder, {"t": columns}, {"t/2024.csv": "00000000-0000-0000-0000-000000000001,1\n"})
    lake.write(
        f"{folder}/OptionsetMetadata/GlobalOptionsetMetadata.csv",
        '"AssetStatus",0,False,1033,"Open","AssetStatus","AssetTable","Open"\n'
        '"AssetStatus",1,False,1033,"Closed, ""final""","AssetStatus","AssetTable","Closed"\n'
        '"AssetStatus",1,True,1031,"Geschlossen","AssetStatus","AssetTable",\n',
    )
    lake.changelog("2024-05-01T10.15.00Z")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.ok, summary.to_dict()
    result = summary.tables["GlobalOptionsetMetadata"]
    assert (result.rows_inserted, result.rows_rejected) == (3, 0)
    names = (
        "OptionSetName",
        "Option",
        "IsUserLocalizedLabel",
        "LocalizedLabelLanguageCode",
        "LocalizedLabel",
        "GlobalOptionSetName",
        "EntityName",
        "ExternalValue",
    )
    expected = [
        dict(zip(names, row, strict=True))
        for row in (
            ("AssetStatus", 0, False, 1033, "Open", "AssetStatus", "AssetTable", "Open"),
            (
                "AssetStatus",
                1,
                False,
                1033,
                'Closed, "final"',
                "AssetStatus",
                "AssetTable",
                "Closed",
            ),
            ("AssetStatus", 1, True, 1031, "Geschlossen", "AssetStatus", "AssetTable", None),
        )
    ]
    assert_table_equals(db_url, "GlobalOptionsetMetadata", expected)

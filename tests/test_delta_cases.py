"""Delta cases beyond the merge: Fabric's `Tables/`, deletion vectors, compaction, a table
without key, a re-created table, soft deletes, dry runs; on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from deltalake import DeltaTable, write_deltalake

from tests.dbcheck import fetch
from tests.test_delta_load import FIRST, SCHEMA, assert_table, merge, row, write
from turbodata import migrate
from turbodata.lake import layouts
from turbodata.lake.storage import LocalLake
from turbodata.ledger import records as ledger
from turbodata.load.loader import LoadOptions


def synapse(lake: Path) -> Path:
    return lake / "deltalake" / "account_partitioned"


def test_fabric_lakehouse_tables_with_and_without_schema_folders(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write(lake / "Tables" / "account", FIRST, cdf=False)
    write(lake / "Tables" / "dbo" / "contact", FIRST, cdf=False)

    plan = layouts.discover(LocalLake(lake))

    assert plan.layout == "delta"
    assert sorted(b.table for b in plan.batches) == ["account", "contact"]


def test_a_delete_with_deletion_vectors_is_reconciled_exactly(tmp_path: Path, db_url: str) -> None:
    lake = tmp_path / "lake"
    write_deltalake(
        str(synapse(lake)),
        pa.Table.from_pylist(FIRST, schema=SCHEMA),
        configuration={"delta.enableDeletionVectors": "true"},
    )
    migrate(lake, db_url)
    DeltaTable(str(synapse(lake))).delete("Id = 'a'")
    write_deltalake(
        str(synapse(lake)),
        pa.Table.from_pylist([row("d", 6, "Delta")], schema=SCHEMA),
        mode="append",
    )

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert summary.tables["account"].rows_deleted == 1
    assert_table(db_url, "account", [*FIRST[1:], row("d", 6, "Delta")])


def test_compaction_changes_no_row_and_needs_no_reconciliation(tmp_path: Path, db_url: str) -> None:
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST[:1], cdf=False)
    write(synapse(lake), FIRST[1:], cdf=False)
    migrate(lake, db_url)
    DeltaTable(str(synapse(lake))).optimize.compact()

    summary = migrate(lake, db_url)

    result = summary.tables["account"]
    assert summary.ok, summary.to_dict()
    assert (result.rows_read, result.rows_deleted, result.problems) == (0, 0, [])
    assert result.watermark.startswith("delta:2 id=")
    assert_table(db_url, "account", FIRST)


def test_an_append_compacted_away_before_the_next_run_is_reconciled(
    tmp_path: Path, db_url: str
) -> None:
    """Without the change feed an appended version is read from its added files; compacted
    since, they are no longer part of the table (the table failed on every run after)."""
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST[:1], cdf=False)
    migrate(lake, db_url)
    write(synapse(lake), FIRST[1:2], cdf=False)
    DeltaTable(str(synapse(lake))).optimize.compact()

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert any("no longer part of version" in p for p in summary.tables["account"].problems)
    assert_table(db_url, "account", FIRST[:2])


@pytest.mark.parametrize("cdf", [False, True], ids=["files", "change-feed"])
def test_a_table_with_mapped_column_names_is_reconciled_at_each_new_version(
    tmp_path: Path, db_url: str, cdf: bool
) -> None:
    """Columns stored under physical names: read from the added files they came back NULL
    (the row then rejected for its key, the version recorded as applied); delta-rs's change
    feed refuses such tables."""
    lake = tmp_path / "lake"
    mapped = {"delta.columnMapping.mode": "name", "delta.minReaderVersion": "2"}
    mapped["delta.minWriterVersion"] = "5"
    if cdf:
        mapped["delta.enableChangeDataFeed"] = "true"
    first = pa.Table.from_pylist(FIRST[:1], schema=SCHEMA)
    write_deltalake(str(synapse(lake)), first, configuration=mapped)
    assert migrate(lake, db_url).ok
    more = pa.Table.from_pylist(FIRST[1:], schema=SCHEMA)
    write_deltalake(str(synapse(lake)), more, mode="append")

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert any("physical names" in p for p in summary.tables["account"].problems)
    assert_table(db_url, "account", FIRST)


@pytest.mark.parametrize("cdf", [False, True], ids=["files", "change-feed"])
def test_versions_in_partitions_whose_names_the_log_url_encodes_apply_as_changes(
    tmp_path: Path, db_url: str, cdf: bool
) -> None:
    """The log URL-encodes the names of such files' folders once more than the disk: they
    were taken as vacuumed, and every new version reloaded the whole table."""
    lake = tmp_path / "lake"
    odd = {"PartitionId": "2024 05:1 ü%"}
    write(synapse(lake), [row("a", 1, "Alpha", **odd)], cdf=cdf)
    assert migrate(lake, db_url).ok
    write(synapse(lake), [row("b", 2, "Beta", **odd)], cdf=cdf)

    summary = migrate(lake, db_url)

    result = summary.tables["account"]
    assert summary.ok, summary.to_dict()
    if cdf:  # delta-rs cannot read such change data: reconciled, and said so (not "vacuumed")
        assert [p for p in result.problems if "URL-encoded" in p] == result.problems != []
    else:
        assert (result.problems, result.rows_read) == ([], 1)  # the new row only, no reload
    assert_table(db_url, "account", [row("a", 1, "Alpha", **odd), row("b", 2, "Beta", **odd)])


def test_a_table_without_key_is_reloaded_whole_at_each_new_version(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    keyless = pa.schema([("code", pa.string()), ("label", pa.string())])
    path = lake / "deltalake" / "codes_partitioned"
    write_deltalake(str(path), pa.Table.from_pylist([{"code": "a", "label": "A"}], schema=keyless))
    migrate(lake, db_url)
    write_deltalake(
        str(path),
        pa.Table.from_pylist([{"code": "b", "label": "B"}], schema=keyless),
        mode="append",
    )

    summary = migrate(lake, db_url)
    again = migrate(lake, db_url)

    assert any("has no key" in p for p in summary.tables["codes"].problems)
    assert sorted(r["code"] for r in fetch(db_url, "codes")) == ["a", "b"]
    assert again.tables["codes"].status == "unchanged"


def test_a_re_created_table_whose_version_went_back_is_reconciled(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST, cdf=True)
    merge(synapse(lake), [row("b", 5, "Beta v5")])
    migrate(lake, db_url)
    _recreate(synapse(lake))
    write(synapse(lake), [row("z", 1, "Zeta")], cdf=True)

    summary = migrate(lake, db_url)

    assert any("re-created" in p for p in summary.tables["account"].problems)
    assert_table(db_url, "account", [row("z", 1, "Zeta")])


def _recreate(table: Path) -> None:
    for path in sorted(table.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()


RECREATED = [row("x", 1, "Ex"), row("y", 1, "Why")]


def _recreate_at_version_one(table: Path) -> None:
    """The table dropped and written again: versions 0 and 1 of RECREATED's rows."""
    _recreate(table)
    for new_row in RECREATED:
        write(table, [new_row], cdf=True)


def test_a_re_created_table_that_reached_the_applied_version_again_is_reconciled(
    tmp_path: Path, db_url: str
) -> None:
    """Its versions say nothing of the old table's rows: without its id, version 1 of the new
    table would pass for the version applied (its row never loaded, the old rows kept)."""
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST, cdf=True)
    write(synapse(lake), [row("d", 4, "Delta")], cdf=True)
    assert migrate(lake, db_url).ok  # versions 0 and 1 applied
    _recreate_at_version_one(synapse(lake))

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert any("re-created" in p for p in summary.tables["account"].problems)
    assert_table(db_url, "account", RECREATED)
    assert migrate(lake, db_url).tables["account"].status == "unchanged"


def _as_an_earlier_turbodata_recorded_it(db_url: str, watermark: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.update(ledger.table_state).values(watermark=watermark))
    engine.dispose()


def test_a_version_recorded_without_the_table_id_goes_on_from_its_commit_file(
    tmp_path: Path, db_url: str
) -> None:
    """After an upgrade, a table whose applied commit file is the one the ledger recorded is
    the same table: its next version applies as changes, no full reload."""
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST, cdf=True)
    assert migrate(lake, db_url).ok
    _as_an_earlier_turbodata_recorded_it(db_url, "delta:0")
    write(synapse(lake), [row("d", 4, "Delta")], cdf=True)

    summary = migrate(lake, db_url)

    result = summary.tables["account"]
    assert summary.ok, summary.to_dict()
    assert (result.problems, result.rows_read) == ([], 1)
    assert result.watermark.startswith("delta:1 id=")
    assert_table(db_url, "account", [*FIRST, row("d", 4, "Delta")])


def test_a_table_re_created_under_a_version_recorded_without_its_id_is_reconciled(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST, cdf=True)
    write(synapse(lake), [row("d", 4, "Delta")], cdf=True)
    assert migrate(lake, db_url).ok
    _as_an_earlier_turbodata_recorded_it(db_url, "delta:1")
    _recreate_at_version_one(synapse(lake))

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert any("was rewritten or is gone" in p for p in summary.tables["account"].problems)
    assert_table(db_url, "account", RECREATED)


def test_soft_delete_keeps_a_row_deleted_in_the_change_feed_with_isdelete_set(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST, cdf=True)
    options = LoadOptions(soft_delete=True)
    migrate(lake, db_url, options=options)
    DeltaTable(str(synapse(lake))).delete("Id = 'c'")

    summary = migrate(lake, db_url, options=options)

    assert summary.tables["account"].rows_deleted == 1
    flags = {r["Id"]: bool(r["IsDelete"]) for r in fetch(db_url, "account")}
    assert flags == {"a": False, "b": False, "c": True}


def test_a_dry_run_counts_what_the_next_version_would_load_and_changes_nothing(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST, cdf=True)
    migrate(lake, db_url)
    merge(synapse(lake), [row("b", 5, "Beta v5"), row("d", 6, "Delta")])

    plan = migrate(lake, db_url, dry_run=True)

    assert plan.tables["account"].status == "planned"
    assert plan.tables["account"].rows_inserted == 2  # the change rows, pre-images dropped
    assert_table(db_url, "account", FIRST)


def test_a_merge_from_before_the_change_feed_was_enabled_is_reconciled_not_replayed(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST, cdf=False)
    migrate(lake, db_url)
    merge(synapse(lake), [row("b", 5, "Beta v5")])  # rewrites a file, no change data
    DeltaTable(str(synapse(lake))).alter.set_table_properties(
        {"delta.enableChangeDataFeed": "true"}
    )

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert any("full reconciliation" in p for p in summary.tables["account"].problems)
    assert_table(db_url, "account", [FIRST[0], row("b", 5, "Beta v5"), FIRST[2]])


def test_a_delta_version_that_empties_the_table_empties_it(tmp_path: Path, db_url: str) -> None:
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST, cdf=False)
    migrate(lake, db_url)
    DeltaTable(str(synapse(lake))).delete()

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert summary.tables["account"].rows_deleted == 3
    assert fetch(db_url, "account") == []


def test_a_delta_snapshot_whose_rows_are_all_rejected_leaves_the_table_as_it_is(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST, cdf=False)
    migrate(lake, db_url)
    write(synapse(lake), [{**r, "Id": None} for r in FIRST], cdf=False, mode="overwrite")

    summary = migrate(lake, db_url)

    assert summary.tables["account"].status == "failed"
    assert "incomplete" in (summary.tables["account"].error or "")
    assert_table(db_url, "account", FIRST)


def test_a_delta_snapshot_with_a_keyless_row_deletes_what_it_dropped_for_good(
    tmp_path: Path, db_url: str
) -> None:
    """A row without its key names no row of the table: the full reconciliation still takes
    the row the version dropped as deleted, so later versions, applied as changes, never
    leave it behind (it used to stay while every later run succeeded)."""
    lake = tmp_path / "lake"
    write(synapse(lake), FIRST, cdf=False)
    migrate(lake, db_url)
    write(synapse(lake), [*FIRST[:2], {**FIRST[2], "Id": None}], cdf=False, mode="overwrite")

    summary = migrate(lake, db_url)  # c is gone; its replacement lacks a key

    account = summary.tables["account"]
    assert (account.rows_rejected, account.rows_deleted) == (1, 1)
    assert_table(db_url, "account", FIRST[:2])
    write(synapse(lake), [row("d", 1, "Delta")], cdf=False)
    assert migrate(lake, db_url).ok
    assert_table(db_url, "account", [*FIRST[:2], row("d", 1, "Delta")])


def test_a_delta_key_turned_text_keeps_codes_apart_from_the_number_key(
    tmp_path: Path, db_url: str
) -> None:
    """`Id` was int64 (a BIGINT key); overwritten as strings, `007` and `+7` were read as 7 and
    merged with it, the run succeeding. As from a CSV folder, they are rejects now."""
    table = tmp_path / "lake" / "deltalake" / "item_partitioned"
    write_deltalake(table, pa.table({"Id": pa.array([1], pa.int64()), "v": ["one"]}))
    assert migrate(tmp_path / "lake", db_url).ok
    codes = pa.table({"Id": ["7", "007", "+7", "1E+1"], "v": ["seven", "oh", "plus", "ten"]})
    write_deltalake(table, codes, mode="overwrite", schema_mode="overwrite")

    summary = migrate(tmp_path / "lake", db_url)

    assert summary.tables["item"].rows_rejected == 3
    assert sorted((r["Id"], r["v"]) for r in fetch(db_url, "item")) == [(7, "seven")]
    rejected = [r["column_name"] for r in fetch(db_url, "_turbodata_rejects")]
    assert rejected == ["Id"] * 3

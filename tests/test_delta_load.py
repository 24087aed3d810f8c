"""Delta tables (Synapse Link's `deltalake/<table>_partitioned`) loaded and kept in step.

Each test writes a real Delta table with `deltalake.write_deltalake`, loads it with
`turbodata.migrate`, and compares the target table row for row with the expected state, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from tests.dbcheck import comparable_rows, fetch
from turbodata import migrate
from turbodata.lake import layouts
from turbodata.lake.storage import LocalLake

SCHEMA = pa.schema(
    [
        ("Id", pa.string()),
        ("versionnumber", pa.int64()),
        ("name", pa.string()),
        ("amount", pa.decimal128(38, 4)),
        ("createdon", pa.timestamp("us", tz="UTC")),
        ("IsDelete", pa.bool_()),
        ("PartitionId", pa.string()),
    ]
)


def row(key: str, version: int, name: str, amount: str | None = "1.5000", **more: object) -> dict:
    return {
        "Id": key,
        "versionnumber": version,
        "name": name,
        "amount": Decimal(amount) if amount is not None else None,
        "createdon": datetime(2024, 5, 1, 10, 15, 0, 123456, tzinfo=UTC),
        "IsDelete": None,
        "PartitionId": "2024-05",
        **more,
    }


def expected(rows: list[dict]) -> list[dict]:
    """Rows as the target holds them: timestamps as 7-digit UTC text."""
    out = []
    for r in rows:
        stamp = r["createdon"]
        text = stamp.strftime("%Y-%m-%d %H:%M:%S.%f") + "0" if stamp else None
        out.append({**r, "createdon": text})
    return out


def write(path: Path, rows: list[dict], *, cdf: bool, mode: str = "append") -> None:
    config = {"delta.enableChangeDataFeed": "true"} if cdf else None
    write_deltalake(
        str(path),
        pa.Table.from_pylist(rows, schema=SCHEMA),
        mode=mode,  # type: ignore[arg-type]
        partition_by=["PartitionId"],
        configuration=config,
    )


def merge(path: Path, rows: list[dict], delete_ids: tuple[str, ...] = ()) -> None:
    table = DeltaTable(str(path))
    source = pa.Table.from_pylist(rows, schema=SCHEMA)
    (
        table.merge(source, "t.Id = s.Id", source_alias="s", target_alias="t")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    if delete_ids:
        quoted = ", ".join(f"'{key}'" for key in delete_ids)
        DeltaTable(str(path)).delete(f"Id IN ({quoted})")


def assert_table(db_url: str, table: str, rows: list[dict]) -> None:
    got, want = comparable_rows(
        fetch(db_url, table), expected(rows), microseconds=db_url.startswith("postgresql")
    )
    assert got == want


@pytest.fixture()
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    (root / "deltalake").mkdir(parents=True)
    return root


def account(lake: Path) -> Path:
    return lake / "deltalake" / "account_partitioned"


FIRST = [row("a", 1, "Alpha"), row("b", 2, "Beta", None), row("c", 3, "Gamma", "-12.3456")]


def test_a_synapse_link_delta_folder_is_planned_as_its_dataverse_table(lake: Path) -> None:
    write(account(lake), FIRST, cdf=True)

    plan = layouts.discover(LocalLake(lake))

    assert plan.layout == "delta"
    assert [b.table for b in plan.batches] == ["account"]
    assert plan.batches[0].schema.column_names == SCHEMA.names


@pytest.mark.parametrize("cdf", [True, False], ids=["cdf", "no-cdf"])
def test_first_load_is_the_snapshot_and_a_rerun_does_nothing(
    lake: Path, db_url: str, cdf: bool
) -> None:
    write(account(lake), FIRST, cdf=cdf)

    first = migrate(lake, db_url)
    again = migrate(lake, db_url)

    assert first.ok, first.to_dict()
    assert first.tables["account"].rows_inserted == 3
    assert first.tables["account"].watermark.startswith("delta:0 id=")
    assert_table(db_url, "account", FIRST)
    assert again.tables["account"].status == "unchanged"
    assert again.tables["account"].files_read == 0
    assert_table(db_url, "account", FIRST)


def test_a_merge_that_updates_inserts_and_deletes_applies_only_the_change_feed(
    lake: Path, db_url: str
) -> None:
    write(account(lake), FIRST, cdf=True)
    migrate(lake, db_url)
    merge(account(lake), [row("b", 5, "Beta v5", "2.0000"), row("d", 6, "Delta")], ("c",))

    summary = migrate(lake, db_url)

    result = summary.tables["account"]
    assert summary.ok, summary.to_dict()
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 1, 1)
    assert result.files_read == 2  # the commit files of versions 1 and 2
    assert result.watermark.startswith("delta:2 id=")
    assert not result.problems  # no full reconciliation
    want = [FIRST[0], row("b", 5, "Beta v5", "2.0000"), row("d", 6, "Delta")]
    assert_table(db_url, "account", want)


def test_without_change_feed_appends_are_applied_as_upserts(lake: Path, db_url: str) -> None:
    write(account(lake), FIRST, cdf=False)
    migrate(lake, db_url)
    write(account(lake), [row("d", 6, "Delta")], cdf=False)

    summary = migrate(lake, db_url)

    result = summary.tables["account"]
    assert (result.rows_read, result.rows_inserted, result.rows_updated) == (1, 1, 0)
    assert not result.problems
    assert_table(db_url, "account", [*FIRST, row("d", 6, "Delta")])


def test_without_change_feed_a_merge_is_a_full_reconciliation_said_in_the_summary(
    lake: Path, db_url: str
) -> None:
    write(account(lake), FIRST, cdf=False)
    migrate(lake, db_url)
    merge(account(lake), [row("b", 5, "Beta v5")], ("c",))

    summary = migrate(lake, db_url)

    result = summary.tables["account"]
    assert summary.ok, summary.to_dict()
    assert result.rows_deleted == 1
    assert any("full reconciliation at version 2" in p for p in result.problems)
    assert_table(db_url, "account", [FIRST[0], row("b", 5, "Beta v5")])


def test_a_dataverse_soft_delete_row_deletes_its_key(lake: Path, db_url: str) -> None:
    write(account(lake), FIRST, cdf=True)
    migrate(lake, db_url)
    merge(account(lake), [row("a", 9, "Alpha", IsDelete=True)])

    summary = migrate(lake, db_url)

    assert summary.tables["account"].rows_deleted == 1
    assert_table(db_url, "account", FIRST[1:])


def test_versions_whose_history_was_vacuumed_fall_back_to_full_reconciliation(
    lake: Path, db_url: str
) -> None:
    write(account(lake), FIRST, cdf=True)
    migrate(lake, db_url)
    merge(account(lake), [row("b", 5, "Beta v5")], ("c",))
    table = DeltaTable(str(account(lake)))
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    for change_file in (account(lake) / "_change_data").rglob("*.parquet"):
        change_file.unlink()  # what a vacuum past the change feed's retention leaves

    summary = migrate(lake, db_url)

    result = summary.tables["account"]
    assert summary.ok, summary.to_dict()
    assert any("vacuumed" in p and "full reconciliation" in p for p in result.problems)
    assert_table(db_url, "account", [FIRST[0], row("b", 5, "Beta v5")])


def test_a_log_cleaned_up_after_a_checkpoint_falls_back_to_full_reconciliation(
    lake: Path, db_url: str
) -> None:
    write(account(lake), FIRST, cdf=True)
    migrate(lake, db_url)
    merge(account(lake), [row("b", 5, "Beta v5")])
    write(account(lake), [row("d", 6, "Delta")], cdf=True)
    DeltaTable(str(account(lake))).create_checkpoint()
    (account(lake) / "_delta_log" / f"{1:020d}.json").unlink()

    summary = migrate(lake, db_url)

    result = summary.tables["account"]
    assert summary.ok, summary.to_dict()
    assert any("no longer reaches back to version 1" in p for p in result.problems)
    assert_table(
        db_url, "account", [FIRST[0], row("b", 5, "Beta v5"), FIRST[2], row("d", 6, "Delta")]
    )

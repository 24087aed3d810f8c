"""Bad Delta input: a clear error naming table, version and file; nothing half-applied, and
the ledger keeps the last version applied, so a later run picks up from there."""

from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable

from tests.dbcheck import fetch
from tests.test_delta_load import FIRST, assert_table, row, write
from turbodata import migrate


def table_folder(lake: Path) -> Path:
    return lake / "deltalake" / "account_partitioned"


def watermark(db_url: str) -> str | None:
    states = {r["table_name"]: r["watermark"] for r in fetch(db_url, "_turbodata_tables")}
    return states.get("account")


def test_a_missing_data_file_fails_the_table_naming_it_and_changes_nothing(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write(table_folder(lake), FIRST, cdf=False)
    migrate(lake, db_url)
    write(table_folder(lake), [row("d", 6, "Delta")], cdf=False)
    added = DeltaTable(str(table_folder(lake))).file_uris()
    newest = max((Path(p) for p in added), key=lambda p: p.stat().st_mtime)
    newest.unlink()

    summary = migrate(lake, db_url)

    result = summary.tables["account"]
    assert result.status == "failed"
    assert "account: version 1: data file" in (result.error or "")
    assert newest.name in (result.error or "")
    assert_table(db_url, "account", FIRST)
    assert watermark(db_url).startswith("delta:0 id=")


def test_a_damaged_log_is_a_problem_naming_the_table_and_its_log(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write(table_folder(lake), FIRST, cdf=True)
    migrate(lake, db_url)
    write(table_folder(lake), [row("d", 6, "Delta")], cdf=True)
    commit = table_folder(lake) / "_delta_log" / f"{1:020d}.json"
    commit.write_text('{"add": {"path": "x.parquet", "partitionVal')  # cut mid-write

    summary = migrate(lake, db_url)

    assert not summary.ok
    lines = summary.problems + [p for t in summary.tables.values() for p in t.problems]
    damaged = "deltalake/account_partitioned/_delta_log/00000000000000000001.json"
    assert any(f"account: version 1: the log file {damaged}" in line for line in lines), lines
    assert_table(db_url, "account", FIRST)
    assert watermark(db_url).startswith("delta:0 id=")


def test_after_a_failed_version_the_next_run_picks_up_where_the_ledger_says(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write(table_folder(lake), FIRST, cdf=True)
    migrate(lake, db_url)
    write(table_folder(lake), [row("d", 6, "Delta")], cdf=True)
    change_files = list((table_folder(lake)).glob("PartitionId=*/*.parquet"))
    hidden = {p: p.with_suffix(".hidden") for p in change_files}
    for path, aside in hidden.items():
        path.rename(aside)

    failed = migrate(lake, db_url)
    for path, aside in hidden.items():
        aside.rename(path)
    repaired = migrate(lake, db_url)

    assert failed.tables["account"].status == "failed"
    assert repaired.ok, repaired.to_dict()
    assert_table(db_url, "account", [*FIRST, row("d", 6, "Delta")])
    assert watermark(db_url).startswith("delta:1 id=")


def test_a_damaged_parquet_file_fails_its_table_naming_the_file(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    (lake / "contact").mkdir(parents=True)
    (lake / "contact" / "a.parquet").write_bytes(b"PAR1 cut short")

    summary = migrate(lake, db_url)

    assert summary.tables["contact"].status == "failed"
    assert "contact: Parquet file contact/a.parquet cannot be read" in (
        summary.tables["contact"].error or ""
    )

"""kill -9 in the middle of loading a Delta version, then a rerun: exactly the table's state,
the version recorded once (see tests/test_crash_and_concurrency.py for the CSV path)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from tests.dbcheck import fetch, scalar
from tests.killing import committed_files, kill_inside_a_write, start_cli
from tests.test_delta_load import SCHEMA
from turbodata import migrate

ROWS = 600_000


def rows(count: int, version: int) -> pa.Table:
    return pa.table(
        {
            "Id": [f"k{i:07d}" for i in range(count)],
            "versionnumber": pa.array([version] * count, pa.int64()),
            "name": [f"name {i} v{version}" for i in range(count)],
            "amount": pa.array([None] * count, pa.decimal128(38, 4)),
            "createdon": pa.array([None] * count, pa.timestamp("us", tz="UTC")),
            "IsDelete": pa.array([None] * count, pa.bool_()),
            "PartitionId": ["2024"] * count,
        },
        schema=SCHEMA,
    )


def names(version: int) -> str:
    """MIN(name) || '|' || MAX(name) of the table at `version` (text order)."""
    every = [f"name {i} v{version}" for i in range(ROWS)]
    return f"{min(every)}|{max(every)}"


def state(db_url: str) -> tuple[object, ...]:
    """Row count, keys, versions and names of the table, as aggregates (600,000 rows)."""
    return (
        scalar(db_url, "SELECT COUNT(*) FROM account"),
        scalar(db_url, 'SELECT COUNT(DISTINCT "Id") FROM account'),
        scalar(db_url, "SELECT SUM(versionnumber) FROM account"),
        scalar(db_url, "SELECT MIN(name) || '|' || MAX(name) FROM account"),
    )


def kill_mid_load(lake: Path, db_url: str, committed_before: int) -> None:
    died_with = kill_inside_a_write(start_cli(lake, db_url), db_url, at_least=committed_before)
    assert died_with == committed_before


@pytest.mark.slow
def test_kill_9_during_the_first_load_then_rerun_is_exact(tmp_path: Path, db_url: str) -> None:
    lake = tmp_path / "lake"
    write_deltalake(str(lake / "deltalake" / "account_partitioned"), rows(ROWS, 1))

    kill_mid_load(lake, db_url, committed_before=0)
    assert committed_files(db_url) == 0
    rerun = migrate(lake, db_url)

    assert rerun.ok, rerun.to_dict()
    assert state(db_url) == (ROWS, ROWS, ROWS, names(1))


@pytest.mark.slow
def test_kill_9_while_applying_a_new_version_then_rerun_applies_it_once(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    path = lake / "deltalake" / "account_partitioned"
    write_deltalake(str(path), rows(ROWS, 1), configuration={"delta.enableChangeDataFeed": "true"})
    assert migrate(lake, db_url).ok
    source = rows(ROWS, 2)
    DeltaTable(str(path)).merge(
        source, "t.Id = s.Id", source_alias="s", target_alias="t"
    ).when_matched_update_all().execute()

    kill_mid_load(lake, db_url, committed_before=1)
    assert state(db_url)[2] == ROWS  # still version 1 everywhere: nothing half-applied
    rerun = migrate(lake, db_url)

    assert rerun.ok, rerun.to_dict()
    assert rerun.tables["account"].rows_updated == ROWS
    assert state(db_url) == (ROWS, ROWS, 2 * ROWS, names(2))
    states = {r["table_name"]: r["watermark"] for r in fetch(db_url, "_turbodata_tables")}
    assert states["account"].startswith("delta:1 id=")

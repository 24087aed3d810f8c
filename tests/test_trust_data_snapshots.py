"""Issue 9, item 3: an empty or wholly missing snapshot is incomplete, not "no rows".

The table is not applied (nothing deleted), it is failed in the summary with a one-line reason
naming the file, and the run exits non-zero.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.dbcheck import fetch, table_names
from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata import migrate
from turbodata.cli import main

WITH_ID = [attribute("Id", "guid"), attribute("name", "string", 20)]
WITHOUT_ID = [attribute("code", "int64"), attribute("name", "string", 20)]
PARTITION = "account/Snapshot/2025_1.csv"
TWO_ROWS = {
    "keyed": "00000000-0000-0000-0000-000000000001,a\n00000000-0000-0000-0000-000000000002,b\n",
    "keyless": "1,a\n2,b\n",
}


def snapshot_lake(tmp_path: Path, kind: str) -> LakeBuilder:
    """A root model.json lake of one `account` table with one listed partition of 2 rows."""
    lake = LakeBuilder(tmp_path / "lake")
    attributes = WITH_ID if kind == "keyed" else WITHOUT_ID
    lake.write("model.json", model_json([entity("account", attributes, [PARTITION])]))
    lake.write(PARTITION, TWO_ROWS[kind])
    return lake


def names_in(db_url: str, table: str) -> list[str]:
    return sorted(str(row["name"]) for row in fetch(db_url, table))


def cli_exit_code(lake: LakeBuilder, db_url: str, capsys: pytest.CaptureFixture[str]) -> int:
    code = main(["migrate", "--lake", str(lake.root), "--db", db_url])
    capsys.readouterr()
    return code


@pytest.mark.parametrize("kind", ["keyed", "keyless"])
def test_a_zero_byte_snapshot_partition_fails_the_table_and_deletes_nothing(
    sqlite_url: str, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = snapshot_lake(tmp_path, kind)
    assert migrate(lake.root, sqlite_url).ok
    lake.write(PARTITION, b"")  # truncated while the exporter rewrites it

    summary = migrate(lake.root, sqlite_url)

    account = summary.tables["account"]
    assert (account.status, account.rows_deleted) == ("failed", 0)
    assert f"partition {PARTITION} is empty (0 bytes" in account.error
    assert summary.status == "failed" and not summary.ok
    assert names_in(sqlite_url, "account") == ["a", "b"]
    assert cli_exit_code(lake, sqlite_url, capsys) == 1
    assert names_in(sqlite_url, "account") == ["a", "b"]


def test_once_the_rewritten_partition_is_back_the_snapshot_loads(
    sqlite_url: str, tmp_path: Path
) -> None:
    lake = snapshot_lake(tmp_path, "keyed")
    migrate(lake.root, sqlite_url)
    lake.write(PARTITION, b"")
    migrate(lake.root, sqlite_url)
    lake.write(PARTITION, "00000000-0000-0000-0000-000000000001,a2\n")

    summary = migrate(lake.root, sqlite_url)

    assert summary.ok and summary.tables["account"].rows_deleted == 1
    assert names_in(sqlite_url, "account") == ["a2"]


@pytest.mark.parametrize("kind", ["keyed", "keyless"])
def test_a_snapshot_without_a_single_row_never_empties_the_table(
    sqlite_url: str, tmp_path: Path, kind: str
) -> None:
    lake = snapshot_lake(tmp_path, kind)
    migrate(lake.root, sqlite_url)
    lake.write(PARTITION, "\n")  # has bytes, holds no row

    summary = migrate(lake.root, sqlite_url)

    account = summary.tables["account"]
    assert account.status == "failed" and summary.status == "failed"
    assert "holds no row that loads" in account.error and PARTITION in account.error
    assert account.rows_deleted == 0
    assert names_in(sqlite_url, "account") == ["a", "b"]


def test_a_table_whose_listed_partitions_are_all_missing_is_failed_in_the_summary(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = snapshot_lake(tmp_path, "keyed")
    migrate(lake.root, sqlite_url)
    os.remove(lake.root / PARTITION)

    summary = migrate(lake.root, sqlite_url)

    account = summary.tables["account"]
    assert account.status == "failed"
    assert f"{PARTITION} not found (1 of 1 missing)" in account.error
    assert summary.status == "failed"
    assert names_in(sqlite_url, "account") == ["a", "b"]
    assert cli_exit_code(lake, sqlite_url, capsys) == 1


def test_a_zero_byte_option_set_file_leaves_its_table_as_it_is(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = snapshot_lake(tmp_path, "keyed")
    state_file = "OptionsetMetadata/StateMetadata.csv"
    lake.write(state_file, "account,0,1,1033,Active\naccount,1,1,1033,Inactive\n")
    assert migrate(lake.root, sqlite_url).ok
    lake.write(state_file, b"")

    summary = migrate(lake.root, sqlite_url)

    state = summary.tables["StateMetadata"]
    assert state.status == "failed" and f"partition {state_file} is empty" in state.error
    assert summary.tables["account"].status == "unchanged"
    labels = sorted(str(row["LocalizedLabel"]) for row in fetch(sqlite_url, "StateMetadata"))
    assert labels == ["Active", "Inactive"]
    assert cli_exit_code(lake, sqlite_url, capsys) == 1


@pytest.mark.parametrize(
    "folder",
    [
        "cdm-modeljson-schema/examples/OrdersProducts",
        "cdm-objectmodel-testdata/modeljson-cds-resolved-traits",
        "cdm-objectmodel-testdata/modeljson-reference-entities",
    ],
)
def test_metadata_only_samples_fail_each_table_whose_partitions_are_all_missing(
    fixtures_root: Path, sqlite_url: str, folder: str
) -> None:
    """These model.json samples list partitions that are not in the sample: every table's
    snapshot is wholly missing, which is incomplete, not a table without rows."""
    summary = migrate(fixtures_root / folder, sqlite_url)

    assert summary.status == "failed" and summary.tables
    for result in summary.tables.values():
        assert result.status == "failed" and "missing): the snapshot is incomplete" in result.error
    assert {t for t in table_names(sqlite_url) if not t.startswith("_turbodata_")} == set()


def test_a_rejected_row_in_a_snapshot_keeps_its_last_version_and_the_rest_applies(
    db_url: str, tmp_path: Path
) -> None:
    """A rejected row is not staged: its key (read from the row) keeps the table's last good
    version instead of being taken as deleted; the other absent keys go. A row whose key
    cannot be read (one of the wrong width) could be any absent row: then none of them goes,
    and the table's problems say so, until a snapshot loads in full."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [*WITH_ID, attribute("amount", "decimal", precision=10, scale=2)]
    guid = "00000000-0000-0000-0000-00000000000{}".format
    lake.write("model.json", model_json([entity("account", columns, [PARTITION])]))
    lake.write(PARTITION, "".join(f"{guid(n)},{c},{n}.50\n" for n, c in enumerate("abcd", 1)))
    assert migrate(lake.root, db_url).ok
    lake.write(PARTITION, f"{guid(1)},a2,1.50\n{guid(2)},b2,2.5.0\n{guid(4)},d,4.50\n")

    summary = migrate(lake.root, db_url)  # 2 is bad, 3 is gone

    account = summary.tables["account"]
    assert (account.rows_rejected, account.rows_deleted, account.rows_updated) == (1, 1, 2)
    assert not summary.ok and not any("were kept" in p for p in account.problems)
    assert names_in(db_url, "account") == ["a2", "b", "d"]  # b's last good version stays
    lake.write(PARTITION, f"{guid(1)},a2,1.50\n{guid(2)},b2\n")  # a row cut short

    summary = migrate(lake.root, db_url)

    account = summary.tables["account"]
    assert account.rows_deleted == 0 and names_in(db_url, "account") == ["a2", "b", "d"]
    assert any("2 row(s) not in this snapshot were kept" in p for p in account.problems)
    lake.write(PARTITION, f"{guid(1)},a2,1.50\n{guid(2)},b2,2.60\n")  # fixed at the source

    summary = migrate(lake.root, db_url)

    assert summary.ok and summary.tables["account"].rows_deleted == 1
    assert names_in(db_url, "account") == ["a2", "b2"]


@pytest.mark.parametrize("soft_delete", [False, True])
@pytest.mark.parametrize("rejected", ["a2,oops,2,", "a2,1"], ids=["bad value", "cut short"])
def test_a_delete_row_of_a_snapshot_removes_its_key_though_an_older_row_of_it_was_rejected(
    db_url: str, tmp_path: Path, soft_delete: bool, rejected: str
) -> None:
    """An append-only snapshot grows by an update of 1 that is rejected (a bad value: its key
    is known; or cut short: no key can be trusted) and then a delete of 1, which loads: the
    delete is 1's newest change, so 1 goes. A rejected row ranks below every row that loads,
    as in a batch of changes; with a known key it kept 1 for good (found by review)."""
    from turbodata.load.options import LoadOptions

    lake = LakeBuilder(tmp_path / "lake")
    columns = [
        *WITH_ID,
        attribute("qty", "int64"),
        attribute("versionnumber", "int64"),
        attribute("IsDelete", "boolean"),
    ]
    guid = "00000000-0000-0000-0000-00000000000{}".format
    options = LoadOptions(soft_delete=soft_delete)
    lake.write("model.json", model_json([entity("account", columns, [PARTITION])]))
    first = f"{guid(1)},a,1,1,\n{guid(2)},b,1,1,\n{guid(3)},c,1,1,\n"
    lake.write(PARTITION, first)
    assert migrate(lake.root, db_url, options=options).ok
    lake.write(PARTITION, f"{first}{guid(1)},{rejected}\n{guid(1)},,,3,True\n")

    summary = migrate(lake.root, db_url, options=options)

    account = summary.tables["account"]
    assert (account.status, account.rows_rejected, account.rows_deleted) == ("loaded", 1, 1)
    live = [r for r in fetch(db_url, "account") if not (soft_delete and r["IsDelete"])]
    assert sorted(r["name"] for r in live) == ["b", "c"]
    assert migrate(lake.root, db_url, options=options).tables["account"].status == "unchanged"


def test_a_snapshot_row_whose_key_the_database_cannot_store_names_no_row(
    db_url: str, tmp_path: Path
) -> None:
    """PostgreSQL stores no NUL in text: a key holding one is rejected with its row, and is
    no key of the table, so it is not staged (it failed the whole snapshot every run)."""
    from turbodata.load.options import LoadOptions

    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("code", "string", 20), attribute("name", "string", 20)]
    lake.write("model.json", model_json([entity("account", columns, [PARTITION])]))
    lake.write(PARTITION, "k1,a\nk2,b\nk3,c\n")
    options = LoadOptions(keys={"account": ["code"]})
    assert migrate(lake.root, db_url, options=options).ok
    lake.write(PARTITION, "k1,a2\nk2\x00x,b2\n")

    account = migrate(lake.root, db_url, options=options).tables["account"]

    assert account.status == "loaded", account.error
    if db_url.startswith("postgresql"):
        assert (account.rows_rejected, account.rows_deleted) == (1, 2)
        assert names_in(db_url, "account") == ["a2"]
    else:  # SQLite stores the NUL: an ordinary key
        assert names_in(db_url, "account") == ["a2", "b2"]


def test_a_snapshot_with_a_decimal_versionnumber_ranks_only_repeated_keys(
    db_url: str, tmp_path: Path
) -> None:
    """A snapshot replaces the table whatever the versions: only a key it repeats is ranked
    by version, which SQLite cannot do for a decimal kept as text (the table fails then);
    PostgreSQL ranks the numbers."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [*WITH_ID, attribute("versionnumber", "decimal", precision=20, scale=0)]
    guid = "00000000-0000-0000-0000-00000000000{}".format
    lake.write("model.json", model_json([entity("account", columns, [PARTITION])]))
    lake.write(PARTITION, f"{guid(1)},a,9\n{guid(2)},b,9\n")
    assert migrate(lake.root, db_url).ok
    lake.write(PARTITION, f"{guid(1)},a2,10\n{guid(2)},b,9\n")

    changed = migrate(lake.root, db_url)

    assert changed.ok, changed.to_dict()
    assert names_in(db_url, "account") == ["a2", "b"]
    lake.write(PARTITION, f"{guid(1)},a3,10\n{guid(1)},a9,9\n{guid(2)},b,9\n")  # 1 twice

    repeated = migrate(lake.root, db_url)

    if db_url.startswith("sqlite"):
        assert repeated.tables["account"].status == "failed"
        assert "would rank below '9'" in repeated.tables["account"].error
        assert names_in(db_url, "account") == ["a2", "b"]
    else:
        assert repeated.ok and names_in(db_url, "account") == ["a3", "b"]

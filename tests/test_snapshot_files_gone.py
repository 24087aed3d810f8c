"""A snapshot table (a Parquet folder, a classic model.json entity) whose lake lost a file it
was loaded from: the table is loaded again and no longer holds that file's rows.

The snapshot is the table's whole content, so rows only the removed file had are gone from
the source; keeping them and reporting the table `unchanged` would show a state the lake does
not have. The rerun after it has nothing new (the ledger forgot the file with the reload).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.dbcheck import fetch
from tests.lakebuilder import (
    ACCOUNT_ID,
    LakeBuilder,
    attribute,
    entity,
    model_json,
    one_account_lake,
)
from turbodata import LoadOptions, migrate
from turbodata.lake.storage import LocalLake

SCHEMA = pa.schema([("Id", pa.string()), ("name", pa.string())])
GUID = "00000000-0000-0000-0000-000000000001"


def parquet(folder: Path, name: str, rows: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([{"Id": k, "name": n} for k, n in rows], SCHEMA)
    pq.write_table(table, folder / name)


def stored(db_url: str, table: str) -> list[tuple[str, str]]:
    return sorted((str(r["Id"]), r["name"]) for r in fetch(db_url, table))


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "keyless"])
def test_a_parquet_file_removed_from_the_folder_takes_its_rows_from_the_table(
    tmp_path: Path, db_url: str, keyed: bool
) -> None:
    lake, folder = tmp_path / "lake", tmp_path / "lake" / "account"
    parquet(folder, "part-0.parquet", [("a", "A")])
    parquet(folder, "part-1.parquet", [("b", "B")])
    options = LoadOptions(keys={} if keyed else {"account": ()})
    assert migrate(lake, db_url, options=options).ok
    (folder / "part-1.parquet").unlink()

    summary = migrate(lake, db_url, options=options)

    assert summary.ok, summary.to_dict()
    assert summary.tables["account"].status == "loaded"
    # a keyless table is replaced whole: its 2 rows out, the snapshot's 1 row in
    assert summary.tables["account"].rows_deleted == (1 if keyed else 2)
    assert stored(db_url, "account") == [("a", "A")]
    again = migrate(lake, db_url, options=options)
    assert again.tables["account"].status == "unchanged"
    assert stored(db_url, "account") == [("a", "A")]


def test_a_parquet_table_folder_emptied_of_files_fails_and_keeps_its_rows(
    tmp_path: Path, db_url: str
) -> None:
    """A folder without Parquet files was no table: the run succeeded without a word, the
    table keeping rows the lake no longer has. It fails now, as a model.json entity listing
    no file does, and `--reload` empties it."""
    lake = tmp_path / "lake"
    parquet(lake / "account", "part-0.parquet", [("a", "A")])
    parquet(lake / "contact", "part-0.parquet", [("c", "C")])
    assert migrate(lake, db_url).ok
    (lake / "account" / "part-0.parquet").unlink()

    summary = migrate(lake, db_url)
    emptied = migrate(lake, db_url, reload=["account"])

    account = summary.tables["account"]
    assert not summary.ok and account.status == "failed"
    assert "no snapshot of account any more" in (account.error or "")
    assert summary.tables["contact"].status == "unchanged"
    assert emptied.ok and emptied.tables["account"].rows_deleted == 1
    assert stored(db_url, "account") == [] and stored(db_url, "contact") == [("c", "C")]


def test_an_entity_taken_out_of_a_classic_export_leaves_no_table_behind(
    tmp_path: Path, sqlite_url: str
) -> None:
    """model.json stops listing `contact` and its CSV goes: an empty folder of a lake without
    Parquet tables is no table (the emptied Parquet folder's rule is for Parquet lakes)."""
    columns = [attribute("Id", "guid"), attribute("name", "string", 20)]
    lake = LakeBuilder(tmp_path / "lake")
    lake.write("account/2024.csv", "10000000-0000-0000-0000-000000000001,a\n")
    lake.write("contact/2024.csv", "10000000-0000-0000-0000-000000000002,c\n")
    files = {"account": ["account/2024.csv"], "contact": ["contact/2024.csv"]}
    lake.write("model.json", model_json([entity(t, columns, f) for t, f in files.items()]))
    assert migrate(lake.root, sqlite_url).ok
    lake.write("model.json", model_json([entity("account", columns, files["account"])]))
    (lake.root / "contact" / "2024.csv").unlink()

    summary = migrate(lake.root, sqlite_url)

    assert summary.ok and list(summary.tables) == ["account"], summary.to_dict()


def test_a_partition_dropped_from_a_classic_model_json_takes_its_rows_from_the_table(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    attributes = [attribute("Id", "guid"), attribute("name", "string", 50)]
    first, second = (f"00000000-0000-0000-0000-00000000000{n}" for n in (1, 2))
    lake.write("account/2024.csv", f"{first},A\n")
    lake.write("account/2025.csv", f"{second},B\n")
    both = ["account/2024.csv", "account/2025.csv"]
    lake.write("model.json", model_json([entity("account", attributes, both)]))
    assert migrate(lake.root, db_url).ok
    lake.write("model.json", model_json([entity("account", attributes, both[:1])]))
    (lake.root / "account" / "2025.csv").unlink()

    summary = migrate(lake.root, db_url)

    assert summary.ok, summary.to_dict()
    assert (summary.tables["account"].status, summary.tables["account"].rows_deleted) == (
        "loaded",
        1,
    )
    assert stored(db_url, "account") == [(first, "A")]
    assert migrate(lake.root, db_url).tables["account"].status == "unchanged"


GUID = "00000000-0000-0000-0000-000000000001"


def account_left_without_files(tmp_path: Path, db_url: str) -> LakeBuilder:
    """A classic lake of `account` and `contact` (one row each, keyed by GUID), loaded, then
    `account`'s file gone and its entity listing no file."""
    lake = LakeBuilder(tmp_path / "lake")
    attributes = [attribute("Id", "guid"), attribute("name", "string", 50)]
    lake.write("account/2024.csv", f"{GUID},A\n")
    lake.write("contact/2024.csv", f"{GUID},C\n")
    contact = entity("contact", attributes, ["contact/2024.csv"])
    lake.write(
        "model.json", model_json([entity("account", attributes, ["account/2024.csv"]), contact])
    )
    assert migrate(lake.root, db_url).ok
    (lake.root / "account" / "2024.csv").unlink()
    lake.write("model.json", model_json([entity("account", attributes, []), contact]))
    return lake


def test_a_classic_entity_left_without_any_file_fails_and_keeps_its_rows(
    tmp_path: Path, db_url: str
) -> None:
    lake = account_left_without_files(tmp_path, db_url)

    summary = migrate(lake.root, db_url)

    # no file listed is no proof of an empty table, and keeping its rows must not look fine
    assert not summary.ok
    account = summary.tables["account"]
    assert account.status == "failed" and "no snapshot of account any more" in account.error
    assert "turbodata migrate --reload account" in account.error
    assert stored(db_url, "account") == [(GUID, "A")]
    assert summary.tables["contact"].status == "unchanged"

    # the source really is empty: --reload takes the table as the lake has it
    reloaded = migrate(lake.root, db_url, reload=["account"])

    assert reloaded.ok, reloaded.to_dict()
    assert (reloaded.tables["account"].status, reloaded.tables["account"].rows_deleted) == (
        "loaded",
        1,
    )
    assert stored(db_url, "account") == []
    assert migrate(lake.root, db_url).ok  # forgotten with its rows: nothing to fail any more


def test_a_dry_run_says_what_happens_to_a_table_left_without_any_file(
    tmp_path: Path, db_url: str
) -> None:
    lake = account_left_without_files(tmp_path, db_url)

    kept = migrate(lake.root, db_url, dry_run=True).tables["account"]
    emptied = migrate(lake.root, db_url, dry_run=True, reload=["account"]).tables["account"]

    # the dry run shows the failure the run would have, and what --reload would do
    assert kept.status == "failed" and "no snapshot of account any more" in kept.error
    assert (emptied.status, emptied.rows_deleted) == ("planned", 1)
    assert [s.split() for s in emptied.ddl] == [["DELETE", "FROM", "account"]]
    assert stored(db_url, "account") == [(GUID, "A")]  # a dry run changes nothing


@pytest.mark.parametrize("unlisted", ["account/2025.csv", "account/Snapshot/2025_2.csv"])
def test_reload_never_empties_a_table_whose_folder_holds_csvs_its_metadata_does_not_list(
    tmp_path: Path, db_url: str, unlisted: str
) -> None:
    lake = account_left_without_files(tmp_path, db_url)
    lake.write(unlisted, f"{GUID},A2\n")  # a live file, or a snapshot not listed yet

    planned = migrate(lake.root, db_url, dry_run=True, reload=["account"]).tables["account"]
    reloaded = migrate(lake.root, db_url, reload=["account"])

    account = reloaded.tables["account"]
    assert not reloaded.ok and account.status == "failed", reloaded.to_dict()
    assert "account/ holds 1 CSV file(s)" in account.error and "not emptied" in account.error
    assert (account.rows_deleted, planned.status, planned.ddl) == (0, "failed", [])
    assert stored(db_url, "account") == [(GUID, "A")]
    assert reloaded.tables["contact"].status == "unchanged"


def test_reload_empties_the_only_table_of_a_lake_when_its_metadata_lists_no_file(
    tmp_path: Path, db_url: str
) -> None:
    lake = one_account_lake(tmp_path / "lake")
    assert migrate(lake.root, db_url).ok
    (lake.root / "account" / "2024.csv").unlink()
    attributes = [attribute("Id", "guid"), attribute("name", "string", 50)]
    lake.write("model.json", model_json([entity("account", attributes, [])]))
    assert not migrate(lake.root, db_url).ok  # the lake has no file: nothing to load

    planned = migrate(lake.root, db_url, dry_run=True, reload=["account"])
    reloaded = migrate(lake.root, db_url, reload=["account"])

    # the way out that the failure names works when the table is the lake's only one
    assert planned.tables["account"].status == "planned", planned.to_dict()
    assert reloaded.ok, reloaded.to_dict()
    assert reloaded.tables["account"].rows_deleted == 1
    assert stored(db_url, "account") == []


def test_a_table_that_cannot_be_emptied_fails_alone(tmp_path: Path, sqlite_url: str) -> None:
    lake = account_left_without_files(tmp_path, sqlite_url)
    lake.write("contact/2024.csv", f"{GUID},C2\n")
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql('DROP TABLE "account"')  # dropped by hand: DELETE fails
    engine.dispose()

    planned = migrate(lake.root, sqlite_url, reload=["account"], dry_run=True)
    uncounted = migrate(
        lake.root, sqlite_url, reload=["account"], dry_run=True, count_rows=False
    )  # as the CLI's `plan`
    summary = migrate(lake.root, sqlite_url, reload=["account"])

    for dry in (planned, uncounted):
        assert dry.tables["account"].status == "failed"  # as the run says, and the dry
        assert "could not be emptied" in dry.tables["account"].error  # run goes on too
        assert dry.tables["contact"].status == "planned"
    assert summary.tables["account"].status == "failed"
    assert "could not be emptied" in summary.tables["account"].error
    assert summary.tables["contact"].status == "loaded"  # the run went on
    assert stored(sqlite_url, "contact") == [(GUID, "C2")]


def test_reload_of_a_table_never_loaded_and_without_files_is_no_success(
    tmp_path: Path, sqlite_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    attributes = [attribute("Id", "guid"), attribute("name", "string", 50)]
    lake.write("model.json", model_json([entity("account", attributes, [])]))

    for summary in (
        migrate(lake.root, sqlite_url, reload=["account"], dry_run=True),
        migrate(lake.root, sqlite_url, reload=["account"]),
    ):
        assert not summary.ok, summary.to_dict()
        assert "never loaded it" in summary.tables["account"].error


def test_a_table_named_alone_that_lists_no_file_and_was_never_loaded_is_no_success(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The run loaded nothing it was asked for: it ended `succeeded` with no table (found by
    review). The whole lake's run only warns: tables not exported yet are ordinary."""
    lake = LakeBuilder(tmp_path / "lake")
    attributes = [attribute("Id", "guid"), attribute("name", "string", 50)]
    lake.write("account/2024.csv", f"{GUID},A\n")
    contact = entity("contact", attributes, [])
    lake.write(
        "model.json", model_json([entity("account", attributes, ["account/2024.csv"]), contact])
    )

    named = migrate(lake.root, sqlite_url, tables=["contact"])

    assert not named.ok and named.tables["contact"].status == "failed", named.to_dict()
    assert "contact (named): its metadata lists no file" in named.tables["contact"].error
    whole = migrate(lake.root, sqlite_url)
    assert whole.ok and list(whole.tables) == ["account"], whole.to_dict()


def _manifest_lake(root: Path) -> LakeBuilder:
    """A root manifest naming two sub-manifests, each declaring one table (T, U)."""
    lake = LakeBuilder(root)
    subs = [{"manifestName": n, "definition": f"{n}/{n}.manifest.cdm.json"} for n in ("t", "u")]
    lake.write("default.manifest.cdm.json", json.dumps({"subManifests": subs}))
    for name, table in (("t", "T"), ("u", "U")):
        partitions = [{"location": f"{table}/1.csv"}]
        declared = {"entityName": table, "entityPath": f"{table}.cdm.json/{table}"}
        entities = [{"type": "LocalEntity", **declared, "dataPartitions": partitions}]
        lake.write(f"{name}/{name}.manifest.cdm.json", json.dumps({"entities": entities}))
        attributes = [{"name": "Id", "dataFormat": "String"}, {"name": "name"}]
        document = {"definitions": [{"entityName": table, "hasAttributes": attributes}]}
        lake.write(f"{name}/{table}.cdm.json", json.dumps(document))
        lake.write(f"{name}/{table}/1.csv", "k1,old\n")
    return lake


def test_a_sub_manifest_gone_from_the_lake_fails_the_run_instead_of_leaving_its_tables_stale(
    tmp_path: Path, sqlite_url: str
) -> None:
    lake = _manifest_lake(tmp_path / "lake")
    assert migrate(lake.root, sqlite_url).ok
    lake.write("t/T/1.csv", "k1,new\n")
    (lake.root / "t/t.manifest.cdm.json").unlink()  # the root manifest still names it
    lake.write("u/U/1.csv", "k1,new\n")

    summary = migrate(lake.root, sqlite_url)

    assert not summary.ok and summary.status == "failed"
    assert any("t/t.manifest.cdm.json: not found" in p for p in summary.problems)
    assert stored(sqlite_url, "T") == [("k1", "old")]  # as it was, and said so
    assert stored(sqlite_url, "U") == [("k1", "new")]  # the other sub-manifest's table loads


def test_a_lake_whose_only_table_lists_no_file_says_so_not_that_no_table_was_found(
    tmp_path: Path, sqlite_url: str
) -> None:
    lake = one_account_lake(tmp_path / "lake")
    assert migrate(lake.root, sqlite_url).ok
    columns = [attribute("Id", "guid"), attribute("name", "string", 50)]
    lake.write("model.json", model_json([entity("account", columns, [])]))  # CSV still there

    summary = migrate(lake.root, sqlite_url)

    assert not summary.ok
    first, *rest = summary.problems
    assert "lists no data file of its 1 table(s) (account)" in first
    assert "no table found" not in first
    assert any("1 CSV file(s) in account/ are not read" in line for line in rest)
    assert stored(sqlite_url, "account") == [(ACCOUNT_ID, "A")]


def test_a_local_file_rewritten_between_two_opens_of_one_read_loads_nothing_of_it(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSV reader opens a file again where its fast path gives up (here: a short row);
    a file rewritten in between loaded rows of both versions (found by review). Every open
    of one read is held to the first one's size and time."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("name", "string", 20)]
    data = "2025-01-01T00.00.00Z/t/2025.csv"
    rows = [f"00000000-0000-0000-0000-{n:012d}" for n in range(600)]  # past the tiny-file size

    def version(name: str) -> str:
        return "".join(f"{key},{name}\n" for key in rows) + "short\n"

    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/2025.csv": version("old")})
    first_open, opens = LocalLake.open, {"n": 0}

    def rewritten_second(self: LocalLake, path: str, **kwargs: object) -> object:
        if path == data:
            opens["n"] += 1
            if opens["n"] == 2:  # a writer rewrites it between the two opens
                lake.write(data, version("newer"))
        return first_open(self, path, **kwargs)

    monkeypatch.setattr(LocalLake, "open", rewritten_second)

    summary = migrate(lake.root, db_url)

    assert opens["n"] == 2 and not summary.ok
    assert f"{data} changed since this run listed it" in summary.tables["t"].error
    monkeypatch.undo()
    assert migrate(lake.root, db_url).tables["t"].rows_rejected == 1
    assert {r["name"] for r in fetch(db_url, "t")} == {"newer"}


def test_a_snapshot_file_found_empty_when_it_is_read_fails_its_table(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listed with rows, empty when opened: being rewritten (ADLS creates a file empty, then
    appends). Read as the version found, its rows were deleted from the table while the run
    succeeded; the plan refuses a listed empty file, and the read now does the same (found
    by review)."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("n", "int32")]
    lake.write("model.json", model_json([entity("a", columns, ["a/1.csv", "a/2.csv"])]))
    lake.write("a/1.csv", f"{GUID[:-1]}1,1\n")
    lake.write("a/2.csv", f"{GUID[:-1]}2,2\n{GUID[:-1]}3,3\n")
    assert migrate(lake.root, db_url).ok
    lake.write("a/1.csv", f"{GUID[:-1]}1,10\n")  # a new snapshot
    first_open = LocalLake.open

    def emptied(self: LocalLake, path: str, **kwargs: object) -> object:
        if path == "a/2.csv":
            (lake.root / path).write_bytes(b"")  # created again, not written yet
        return first_open(self, path, **kwargs)

    monkeypatch.setattr(LocalLake, "open", emptied)

    summary = migrate(lake.root, db_url)

    assert not summary.ok
    assert "a/2.csv changed since this run listed it" in summary.tables["a"].error
    assert len(fetch(db_url, "a")) == 3  # left as it was


def cut_short_when_opened(lake: LakeBuilder, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before its first open, `path` loses all but its first row: a rewrite in progress
    (ADLS creates, appends, flushes) between the run's listing and its read."""
    first_open = LocalLake.open

    def cut(self: LocalLake, name: str, **kwargs: object) -> object:
        if name == path:
            monkeypatch.setattr(LocalLake, "open", first_open)
            full = (lake.root / name).read_bytes()
            (lake.root / name).write_bytes(full[: full.index(b"\n") + 1])
        return first_open(self, name, **kwargs)

    monkeypatch.setattr(LocalLake, "open", cut)


def test_a_snapshot_file_cut_short_after_the_listing_fails_its_table(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: a file cut short (not empty) was loaded as it stood, and the rows it
    lacked were deleted from the table while the run succeeded. It is held to its listed
    version now: the table fails and keeps its rows; the next run loads the new snapshot."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("n", "int32")]
    lake.write("model.json", model_json([entity("a", columns, ["a/1.csv"])]))
    rows = [f"{GUID[:-1]}{i},{i}\n" for i in range(1, 6)]
    lake.write("a/1.csv", "".join(rows[:4]))
    assert migrate(lake.root, db_url).ok
    lake.write("a/1.csv", "".join(rows))  # the new snapshot, listed whole …
    cut_short_when_opened(lake, "a/1.csv", monkeypatch)  # … and being rewritten when read

    summary = migrate(lake.root, db_url)

    assert not summary.ok and summary.tables["a"].rows_deleted == 0
    assert "a/1.csv changed since this run listed it" in summary.tables["a"].error
    assert len(fetch(db_url, "a")) == 4  # left as it was
    lake.write("a/1.csv", "".join(rows))  # the rewrite completes
    assert migrate(lake.root, db_url).ok
    assert sorted(r["n"] for r in fetch(db_url, "a")) == [1, 2, 3, 4, 5]


def test_an_incremental_file_cut_short_after_the_listing_loads_once_whole(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyless table's file cut short between listing and read loaded part of its rows and
    succeeded; once the file was whole again, every run failed (a keyless table cannot read
    a changed file again without duplicating rows), and the other rows never loaded."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("note", "string", 20), attribute("n", "int32")]
    content = "".join(f"note {i},{i}\n" for i in range(10))
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/2025.csv": content})
    lake.folder("2025-01-02T00.00.00Z", {"t": columns}, {"t/2025.csv": "later,99\n"})
    path = "2025-01-01T00.00.00Z/t/2025.csv"
    cut_short_when_opened(lake, path, monkeypatch)

    refused = migrate(lake.root, sqlite_url)

    assert (
        not refused.ok and f"{path} changed since this run listed it" in refused.tables["t"].error
    )
    lake.write(path, content)  # whole again
    assert migrate(lake.root, sqlite_url).ok
    assert sorted(r["n"] for r in fetch(sqlite_url, "t")) == [*range(10), 99]
    assert migrate(lake.root, sqlite_url).ok

"""An existing table is loaded the way it was: with the same key, and, once its deletes were
applied soft (rows kept, marked in IsDelete), never by a run that would delete rows for good
(a timer or HTTP run without soft delete after CLI runs with it deleted the rows the operator
kept; found by review). Soft after hard is fine (nothing kept is lost); a table dropped is
loaded from its first file as the run says."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata import migrate
from turbodata.load.loader import LoadOptions
from turbodata.settings import Settings, SettingsError

COLUMNS = [
    attribute("Id", "guid"),
    attribute("name", "string", 20),
    attribute("versionnumber", "int64"),
    attribute("IsDelete", "boolean"),
]
ONE, TWO = "10000000-0000-0000-0000-000000000001", "10000000-0000-0000-0000-000000000002"
SOFT, HARD = LoadOptions(soft_delete=True), LoadOptions()


def folders(root: Path, *contents: str) -> Path:
    lake = LakeBuilder(root)
    for minute, text in enumerate(contents):
        lake.folder(f"2025-01-01T10.{minute:02d}.00Z", {"t": COLUMNS}, {"t/1.csv": text})
    return root


def rows(db_url: str) -> dict[str, tuple]:
    return {str(r["Id"]): (r["name"], bool(r["IsDelete"])) for r in fetch(db_url, "t")}


def test_a_run_without_soft_delete_is_refused_after_runs_with_it(tmp_path: Path, db_url: str):
    root = folders(tmp_path / "lake", f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n")
    assert migrate(root, db_url, options=SOFT).ok
    folders(root, f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n", f"{TWO},,2,True\n")
    for dry_run in (True, False):
        refused = migrate(root, db_url, options=HARD, dry_run=dry_run)
        assert refused.tables["t"].status == "failed" and not refused.ok
        assert "applied with soft delete" in refused.tables["t"].error
        assert "--soft-delete" in refused.tables["t"].error
    assert rows(db_url) == {ONE: ("a", True), TWO: ("b", False)}  # nothing went
    assert migrate(root, db_url, options=SOFT).ok
    assert rows(db_url) == {ONE: ("a", True), TWO: ("b", True)}


def test_soft_delete_may_follow_hard_deletes_and_is_then_kept(tmp_path: Path, db_url: str):
    root = folders(tmp_path / "lake", f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n")
    assert migrate(root, db_url, options=HARD).ok
    assert rows(db_url) == {TWO: ("b", False)}
    folders(root, f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n", f"{TWO},,2,True\n")
    assert migrate(root, db_url, options=SOFT).ok
    assert rows(db_url) == {TWO: ("b", True)}
    folders(root, f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n", f"{TWO},,2,True\n", "")
    assert migrate(root, db_url, options=HARD).tables["t"].status == "failed"


def test_only_a_table_started_over_takes_hard_deletes(tmp_path: Path, db_url: str):
    """`--reload` replays the lake's files into the table as it is: rows marked by deletes
    whose files retention removed would stay marked in a hard table, so it is refused too;
    a dropped table loads from its first file, as this run says."""
    root = folders(tmp_path / "lake", f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n")
    assert migrate(root, db_url, options=SOFT).ok
    reload = migrate(root, db_url, options=HARD, reload=["t"])
    assert reload.tables["t"].status == "failed" and "drop the table" in reload.tables["t"].error
    drop_table(db_url, "t")
    assert migrate(root, db_url, options=HARD).ok
    assert rows(db_url) == {TWO: ("b", False)}
    folders(root, f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n", f"{TWO},,2,True\n")
    assert migrate(root, db_url, options=HARD).ok  # hard from now on
    assert rows(db_url) == {}


def drop_table(db_url: str, table: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP TABLE "{table}"')
    engine.dispose()


def test_a_refused_table_leaves_the_others_loading(tmp_path: Path, sqlite_url: str) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    first = {"t/1.csv": f"{ONE},a,1,\n", "u/1.csv": f"{ONE},a,1,\n"}
    lake.folder("2025-01-01T10.00.00Z", {"t": COLUMNS, "u": COLUMNS}, first)
    assert migrate(lake.root, sqlite_url, options=SOFT, tables=["t"]).ok
    later = {"t/1.csv": f"{TWO},b,1,\n", "u/1.csv": f"{TWO},b,1,\n"}
    lake.folder("2025-01-01T10.01.00Z", {"t": COLUMNS, "u": COLUMNS}, later)
    summary = migrate(lake.root, sqlite_url, options=HARD)
    assert summary.tables["t"].status == "failed" and summary.tables["u"].status == "loaded"


# ---------------------------------------------------------------- the Functions app's setting


@pytest.mark.parametrize(("text", "soft"), [(None, False), ("true", True), ("FALSE", False)])
def test_the_functions_app_takes_soft_delete_from_its_setting(
    text: str | None, soft: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from turbodata import http_api

    root = folders(tmp_path / "lake", f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n")
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    settings = Settings(lake=str(root), database_url=db, soft_delete=text)
    monkeypatch.setattr(http_api, "load_settings", lambda: settings)
    status, body = http_api.run_migration(http_api.MigrateRequest())
    assert status == 200, body
    assert rows(db) == ({ONE: ("a", True), TWO: ("b", False)} if soft else {TWO: ("b", False)})


def test_a_soft_delete_setting_that_is_no_boolean_is_refused() -> None:
    with pytest.raises(SettingsError, match="TURBODATA_SOFT_DELETE='maybe': give true or false"):
        Settings(database_url="sqlite://", soft_delete="maybe")


def test_a_table_without_isdelete_is_never_held_to_soft_delete(tmp_path: Path, db_url: str):
    """Without IsDelete nothing can be marked: soft and hard delete alike, so a soft run
    records nothing that refuses a later run (found by review: a snapshot was stuck between
    the two modes' refusals)."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("name", "string", 20)]
    lake.write("t/1.csv", f"{ONE},a\n{TWO},b\n")
    lake.write("model.json", model_json([entity("t", columns, ["t/1.csv"])]))
    assert migrate(lake.root, db_url, options=SOFT).ok
    lake.write("t/1.csv", f"{TWO},b\n")  # ONE vanished from the snapshot
    summary = migrate(lake.root, db_url, options=HARD)
    assert summary.ok, summary.tables["t"].error
    assert [str(r["Id"]) for r in fetch(db_url, "t")] == [TWO]


# ---------------------------------------------------------------- the key, the same way


@pytest.mark.parametrize(
    ("first", "then"),
    [({"t": ["name"]}, {}), ({}, {"t": ["name"]})],
    ids=["by --key, then by Id", "by Id, then by --key"],
)
def test_a_run_keying_a_table_otherwise_is_refused(
    tmp_path: Path, db_url: str, first: dict, then: dict
) -> None:
    """One run keyed by `--key`, the next (a Functions run) by Id: rows were matched on other
    columns, a snapshot without a key emptied the table, or the database refused with its
    own words (found by review)."""
    root = folders(tmp_path / "lake", f"{ONE},a,1,\n{TWO},b,1,\n")
    assert migrate(root, db_url, options=LoadOptions(keys=first)).ok
    folders(root, f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},c,2,\n")
    for dry_run in (True, False):
        refused = migrate(root, db_url, options=LoadOptions(keys=then), dry_run=dry_run)
        error = refused.tables["t"].error or ""
        assert refused.tables["t"].status == "failed", refused.to_dict()
        assert "keys it by" in error and "drop the table" in error, error
    assert rows(db_url) == {ONE: ("a", False), TWO: ("b", False)}
    assert migrate(root, db_url, options=LoadOptions(keys=first)).ok  # the same key: loads
    assert rows(db_url)[ONE] == ("c", False)


def test_a_table_keyed_by_id_loads_as_ever_when_nothing_changes(tmp_path: Path, db_url: str):
    root = folders(tmp_path / "lake", f"{ONE},a,1,\n")
    for _ in range(2):
        assert migrate(root, db_url).ok
        folders(root, f"{ONE},a,1,\n", f"{TWO},b,1,\n")
    assert rows(db_url) == {ONE: ("a", False), TWO: ("b", False)}


def test_a_table_soft_deleted_before_the_ledger_kept_it_is_known_by_its_marks(
    tmp_path: Path, db_url: str
) -> None:
    """A table an older turbodata loaded with soft delete has no row in the ledger saying so:
    rows marked deleted tell, and a hard run is refused (found by review)."""
    root = folders(tmp_path / "lake", f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n")
    assert migrate(root, db_url, options=SOFT).ok
    forget_load_options(db_url)  # as a ledger of 0.1.0
    folders(root, f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n", f"{TWO},,2,True\n")
    refused = migrate(root, db_url, options=HARD)
    assert refused.tables["t"].status == "failed", refused.to_dict()
    assert "applied with soft delete" in refused.tables["t"].error
    assert rows(db_url) == {ONE: ("a", True), TWO: ("b", False)}


def test_a_table_hard_deleted_before_the_ledger_kept_it_loads_on(tmp_path: Path, db_url: str):
    root = folders(tmp_path / "lake", f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n")
    assert migrate(root, db_url, options=HARD).ok
    forget_load_options(db_url)
    folders(root, f"{ONE},a,1,\n{TWO},b,1,\n", f"{ONE},,2,True\n", f"{TWO},,2,True\n")
    assert migrate(root, db_url, options=HARD).ok
    assert rows(db_url) == {}


def forget_load_options(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM _turbodata_load_options")
    engine.dispose()

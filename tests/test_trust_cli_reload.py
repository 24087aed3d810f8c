"""`migrate --reload TABLE`: after a metadata fix, rows rejected earlier load; a reload stopped
half-way leaves nothing half-forgotten; `status` counts the rejects per table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata import migrate
from turbodata.cli import main
from turbodata.load.loader import TableLoader
from turbodata.pipeline import RunInterrupted

TICKET = [attribute("Id", "guid"), attribute("title", "string", 50)]
WIDER = [*TICKET, attribute("priority", "int32")]
FIRST, SECOND = "2025-01-01T00.00.00Z", "2025-01-02T00.00.00Z"


def ticket_id(n: int) -> str:
    return f"10000000-0000-0000-0000-{n:012d}"


def drifted_lake(root: Path) -> Path:
    """Two folders; the second's rows have a third value its model.json does not declare."""
    lake = LakeBuilder(root)
    lake.folder(FIRST, {"ticket": TICKET}, {"ticket/a.csv": f"{ticket_id(1)},one\n"})
    lake.folder(
        SECOND,
        {"ticket": TICKET},
        {"ticket/a.csv": f"{ticket_id(1)},one again,1\n{ticket_id(2)},two,2\n"},
    )
    return root


def fix_metadata(lake: Path) -> None:
    (lake / SECOND / "model.json").write_text(model_json([entity("ticket", WIDER)]))


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def status_of(capsys: pytest.CaptureFixture[str], db_url: str) -> dict:
    code, out = cli(capsys, "status", "--db", db_url, "--json")
    assert code == 0
    return {row["table"]: row for row in map(json.loads, out.splitlines())}


def test_reload_loads_rows_rejected_before_a_metadata_fix(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = drifted_lake(tmp_path / "lake")
    migrate_args = ("migrate", "--lake", str(lake), "--db", db_url, "--json")
    code, out = cli(capsys, *migrate_args)
    assert code == 1 and json.loads(out)["tables"]["ticket"]["rows_rejected"] == 2
    assert status_of(capsys, db_url)["ticket"]["rejected"] == 2
    code, out = cli(capsys, "status", "--db", db_url)
    assert out.splitlines()[0].split()[:4] == ["table", "last", "applied", "rows"]
    assert "rejected" in out.splitlines()[0]

    fix_metadata(lake)
    code, out = cli(capsys, *migrate_args)
    unchanged = json.loads(out)["tables"]["ticket"]
    assert code == 0 and unchanged["status"] == "unchanged" and unchanged["files_read"] == 0

    code, out = cli(capsys, *migrate_args, "--reload", "ticket")

    reloaded = json.loads(out)["tables"]["ticket"]
    assert code == 0, out
    assert reloaded["files_read"] == 2 and reloaded["rows_rejected"] == 0
    rows = {str(r["Id"]): (r["title"], r["priority"]) for r in fetch(db_url, "ticket")}
    assert rows == {ticket_id(1): ("one again", 1), ticket_id(2): ("two", 2)}
    assert status_of(capsys, db_url)["ticket"]["rejected"] == 0
    assert status_of(capsys, db_url)["ticket"]["last_applied"] == SECOND
    files = fetch(db_url, "_turbodata_files")
    assert len(files) == 2 and {f["rows_rejected"] for f in files} == {0}

    code, out = cli(capsys, *migrate_args)  # the reload is done: nothing more to load
    assert code == 0 and json.loads(out)["tables"]["ticket"]["files_read"] == 0


def test_a_reload_stopped_after_its_first_batch_continues_with_a_plain_rerun(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = drifted_lake(tmp_path / "lake")
    migrate(lake, sqlite_url)
    fix_metadata(lake)
    real_load_batch = TableLoader._load_batch

    def stop_at_the_second_folder(self, conn, result, work, *args):
        if work.batch.batch_id == SECOND:
            raise KeyboardInterrupt
        return real_load_batch(self, conn, result, work, *args)

    monkeypatch.setattr(TableLoader, "_load_batch", stop_at_the_second_folder)
    with pytest.raises(RunInterrupted):
        migrate(lake, sqlite_url, reload=["ticket"])
    monkeypatch.undo()

    # the first folder was reloaded and the older records forgotten with it, so the second
    # folder is neither "already loaded" nor "older than the watermark"
    [recorded] = fetch(sqlite_url, "_turbodata_files")
    assert recorded["path"].startswith(FIRST)
    [state] = fetch(sqlite_url, "_turbodata_tables")
    assert state["watermark"] == FIRST
    rerun = migrate(lake, sqlite_url)
    assert rerun.ok and rerun.tables["ticket"].files_read == 1
    assert {str(r["Id"]): r["priority"] for r in fetch(sqlite_url, "ticket")} == {
        ticket_id(1): 1,
        ticket_id(2): 2,
    }


def test_a_failed_first_batch_of_a_reload_forgets_nothing(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = drifted_lake(tmp_path / "lake")
    migrate(lake, sqlite_url)
    before = fetch(sqlite_url, "_turbodata_files")

    def fail(self, conn, result, batch, *args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(TableLoader, "_load_batch", fail)
    summary = migrate(lake, sqlite_url, reload=["ticket"])
    assert summary.status == "failed" and "disk full" in summary.tables["ticket"].error
    assert fetch(sqlite_url, "_turbodata_files") == before  # rolled back with the batch


def test_reload_refuses_a_keyless_appended_table_and_an_unknown_table(
    tmp_path: Path, sqlite_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(FIRST, {"log": [attribute("line", "string", 20)]}, {"log/a.csv": "x\n"})
    assert migrate(lake.root, sqlite_url).ok

    keyless = migrate(lake.root, sqlite_url, reload=["log"])
    typo = migrate(lake.root, sqlite_url, reload=["lgo"])

    assert keyless.status == "failed" and "would duplicate its rows" in keyless.problems[0]
    assert typo.problems == ["--reload lgo: no such table in the lake; did you mean log?"]
    assert [r["line"] for r in fetch(sqlite_url, "log")] == ["x"]


def test_reload_of_a_table_the_run_does_not_load_is_refused(
    tmp_path: Path, sqlite_url: str
) -> None:
    """`--reload account --table contact` reloaded nothing and succeeded, saying nothing."""
    lake = LakeBuilder(tmp_path / "lake")
    keyed = [attribute("Id", "guid"), attribute("line", "string", 20)]
    rows = {"account/a.csv": f"{ticket_id(1)},x\n", "contact/a.csv": f"{ticket_id(2)},y\n"}
    lake.folder(FIRST, {"account": keyed, "contact": keyed}, rows)
    assert migrate(lake.root, sqlite_url).ok

    summary = migrate(lake.root, sqlite_url, tables=["contact"], reload=["account"])

    assert summary.status == "failed" and not summary.tables
    assert summary.problems == [
        "--reload account: not among the tables this run loads (--table): name it there too"
    ]


def drop_tables(db_url: str, *names: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        for name in names:
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
    engine.dispose()


def test_a_table_dropped_by_hand_is_loaded_again_from_its_first_file(
    tmp_path: Path, db_url: str
) -> None:
    """The ledger still had their files: the tables read as up to date for good, and with a
    new folder a keyless table came back holding that folder's rows alone. "Drop the table
    to start over" (the keyless --reload refusal's advice) works now."""
    keyed = [attribute("Id", "guid"), attribute("name", "string", 20)]
    keyless = [attribute("code", "string", 20), attribute("name", "string", 20)]
    columns = {"account": keyed, "log": keyless}
    lake = LakeBuilder(tmp_path / "lake")
    first = {"account/1.csv": f"{ticket_id(1)},a\n", "log/1.csv": "x,y\n"}
    lake.folder("2025-01-01T00.00.00Z", columns, first)
    assert migrate(lake.root, db_url).ok
    drop_tables(db_url, "account", "log")

    again = migrate(lake.root, db_url)

    assert again.ok and again.tables["log"].status == "loaded"
    assert [(r["code"], r["name"]) for r in fetch(db_url, "log")] == [("x", "y")]
    assert [r["name"] for r in fetch(db_url, "account")] == ["a"]
    drop_tables(db_url, "log")
    later = {"account/1.csv": f"{ticket_id(2)},b\n", "log/1.csv": "x2,y2\n"}
    lake.folder("2025-01-02T00.00.00Z", columns, later)

    assert migrate(lake.root, db_url).ok
    assert sorted((r["code"], r["name"]) for r in fetch(db_url, "log")) == [
        ("x", "y"),
        ("x2", "y2"),
    ]
    assert migrate(lake.root, db_url).tables["log"].status == "unchanged"


def test_a_dropped_table_whose_loaded_folders_retention_removed_fails_until_reload(
    tmp_path: Path, db_url: str
) -> None:
    """Loaded again from what the lake still has, it came back without the removed folder's
    rows and the run succeeded (found by review). It fails; `--reload` is the user's call."""
    import shutil

    columns = {"account": [attribute("Id", "guid"), attribute("name", "string", 20)]}
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(FIRST, columns, {"account/1.csv": f"{ticket_id(1)},a\n"})
    lake.folder(SECOND, columns, {"account/1.csv": f"{ticket_id(2)},b\n"})
    assert migrate(lake.root, db_url).ok
    drop_tables(db_url, "account")
    shutil.rmtree(lake.root / FIRST)  # retention

    summary = migrate(lake.root, db_url)
    planned = migrate(lake.root, db_url, dry_run=True)
    reloaded = migrate(lake.root, db_url, reload=["account"])

    for run in (summary, planned):
        account = run.tables["account"]
        assert not run.ok and account.status == "failed"
        assert "1 file(s) it was loaded from are gone from the lake" in (account.error or "")
    assert reloaded.ok and [r["name"] for r in fetch(db_url, "account")] == ["b"]

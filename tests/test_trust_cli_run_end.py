"""However a run ends, `_turbodata_runs` says so: an error escaping the run is `failed`, never
`succeeded` on the strength of the tables finished before it, and a failure to record the end
never hides the error that stopped the run."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute
from turbodata import migrate
from turbodata.ledger import records as ledger
from turbodata.load.loader import TableLoader
from turbodata.pipeline import RunInterrupted, status

COLUMNS = [attribute("Id", "guid"), attribute("title", "string", 20)]


def two_table_lake(root: Path) -> Path:
    row = "10000000-0000-0000-0000-000000000001,x\n"
    LakeBuilder(root).folder(
        "2025-01-01T00.00.00Z", {"a": COLUMNS, "b": COLUMNS}, {"a/1.csv": row, "b/1.csv": row}
    )
    return root


def stop_at_table_b(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    real_load = TableLoader.load

    def load(self, result, batches):
        if result.name == "b":
            raise error
        return real_load(self, result, batches)

    monkeypatch.setattr(TableLoader, "load", load)


def test_an_error_escaping_the_run_is_recorded_as_failed(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = two_table_lake(tmp_path / "lake")
    stop_at_table_b(monkeypatch, SystemExit("worker shutting down"))

    with pytest.raises(SystemExit):
        migrate(lake, sqlite_url)

    [run] = fetch(sqlite_url, "_turbodata_runs")
    summary = json.loads(run["summary"])
    assert run["status"] == "failed" and summary["ok"] is False
    assert summary["problems"] == ["run stopped: SystemExit: worker shutting down"]
    assert not fetch(sqlite_url, "_turbodata_lease")


def test_a_failure_to_record_the_end_does_not_hide_the_interruption(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = two_table_lake(tmp_path / "lake")
    stop_at_table_b(monkeypatch, KeyboardInterrupt())

    def unreachable(*args: object) -> None:
        raise OSError("database gone")

    monkeypatch.setattr(ledger, "finish_run", unreachable)

    with pytest.raises(RunInterrupted) as stopped:
        migrate(lake, sqlite_url)

    assert stopped.value.summary.status == "interrupted"
    assert stopped.value.summary.tables["a"].status == "loaded"


def test_a_failure_to_record_the_end_still_releases_the_lease(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else the next run would find the tables held until the lease expires (30 min)."""
    lake = two_table_lake(tmp_path / "lake")

    def unreachable(*args: object) -> None:
        raise OSError("database gone")

    with monkeypatch.context() as patched:
        patched.setattr(ledger, "finish_run", unreachable)
        with pytest.raises(OSError, match="database gone"):
            migrate(lake, sqlite_url)

    assert fetch(sqlite_url, "_turbodata_lease") == []
    rerun = migrate(lake, sqlite_url, lease_wait=0)
    assert not rerun.blocked and rerun.ok, rerun.to_dict()


def file_alone(database: Path, into: Path) -> sqlite3.Connection:
    """The SQLite database file copied without its `-wal` and `-shm` companions, as a user
    copies or uploads a finished database: what that copy holds."""
    into.mkdir()
    shutil.copyfile(database, into / database.name)
    return sqlite3.connect(into / database.name)


def assert_holds_the_whole_run(copy: sqlite3.Connection, rows: int) -> None:
    assert copy.execute('SELECT count(*) FROM "a"').fetchone() == (rows,)
    assert copy.execute("SELECT status FROM _turbodata_runs").fetchall() == [("succeeded",)]
    assert copy.execute("SELECT count(*) FROM _turbodata_lease").fetchone() == (0,)


def test_the_database_file_alone_holds_the_finished_run(tmp_path: Path) -> None:
    """An engine the run made is closed with it: SQLite moves the write-ahead log into the
    file when its last connection closes. Left open, the copy lacked the run's end."""
    lake, database = two_table_lake(tmp_path / "lake"), tmp_path / "out.sqlite"

    assert migrate(lake, f"sqlite:///{database}").ok

    assert not database.with_name("out.sqlite-wal").exists()
    assert_holds_the_whole_run(file_alone(database, tmp_path / "copy"), rows=1)


def test_the_database_file_alone_holds_what_the_cli_loaded(tmp_path: Path) -> None:
    lake, database = two_table_lake(tmp_path / "lake"), tmp_path / "out.sqlite"
    command = [sys.executable, "-m", "turbodata", "migrate", "--lake", str(lake)]

    done = subprocess.run(
        [*command, "--db", f"sqlite:///{database}"], capture_output=True, text=True, check=False
    )

    assert done.returncode == 0, done.stderr
    assert_holds_the_whole_run(file_alone(database, tmp_path / "copy"), rows=1)


def test_a_table_failed_by_a_lake_problem_is_recorded_as_failed(
    tmp_path: Path, sqlite_url: str
) -> None:
    """Its failure never reached the loader, which records outcomes: `status` and the
    report showed the table loaded, and up to date."""
    lake = LakeBuilder(tmp_path / "lake")
    row = "10000000-0000-0000-0000-00000000000{},x\n".format
    lake.folder("2025-01-01T00.00.00Z", {"a": COLUMNS}, {"a/1.csv": row(1)})
    assert migrate(lake.root, sqlite_url).ok
    later = {"a/1.csv": row(2), "b/1.csv": row(3)}  # a's CSV, but no metadata of a
    lake.folder("2025-01-02T00.00.00Z", {"b": COLUMNS}, later)

    summary = migrate(lake.root, sqlite_url)

    assert summary.tables["a"].status == "failed"
    states = {row["table"]: row for row in status(sqlite_url)}
    assert states["a"]["last_status"] == "failed" and states["a"]["last_run"] == summary.run_id
    assert "no metadata for this table" in states["a"]["last_error"]


def test_a_run_its_checks_stopped_is_in_the_ledger(tmp_path: Path, sqlite_url: str) -> None:
    """model.json cut short while the export rewrote it: the run loaded nothing and failed,
    but `runs` showed the run before it as the last one."""
    lake = two_table_lake(tmp_path / "lake")
    assert migrate(lake, sqlite_url).ok
    for model in lake.rglob("model.json"):
        model.write_text('{"name": "cdm", "entities": [')

    summary = migrate(lake, sqlite_url)

    assert summary.status == "failed"
    last = fetch(sqlite_url, "_turbodata_runs")[-1]
    assert (last["run_id"], last["status"]) == (summary.run_id, "failed")
    assert json.loads(last["summary"])["problems"] == summary.problems


def test_a_run_its_checks_stopped_creates_no_database(tmp_path: Path) -> None:
    database, lake = tmp_path / "out.sqlite", tmp_path / "empty-lake"
    lake.mkdir()

    summary = migrate(lake, f"sqlite:///{database}")

    assert summary.status == "failed" and not database.exists()


def test_a_failure_recorded_at_the_end_never_overwrites_a_later_runs_outcome(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run X fails `a` and releases its lease; run Y loads `a` before X ends. X's end wrote
    `a` back to failed, with X's error (found by review)."""
    from turbodata import pipeline

    lake = two_table_lake(tmp_path / "lake")
    assert migrate(lake, sqlite_url).ok
    LakeBuilder(lake).folder(
        "2025-01-02T00.00.00Z",
        {"a": COLUMNS, "b": COLUMNS},
        {"a/1.csv": "10000000-0000-0000-0000-000000000003,y\n", "b/1.csv": ""},
    )
    failing = {"a": True}
    real_retries, real_end = TableLoader._with_retries, pipeline._record_end

    def with_retries(self, result, work):
        if failing.get(result.name):
            raise RuntimeError("connection reset")
        return real_retries(self, result, work)

    later: list[str] = []

    def record_end(engine, summary, leases, interrupted):
        failing.clear()
        monkeypatch.setattr(pipeline, "_record_end", real_end)  # for run Y
        later.append(migrate(lake, sqlite_url, tables=["a"]).run_id)  # run Y
        return real_end(engine, summary, leases, interrupted)

    monkeypatch.setattr(TableLoader, "_with_retries", with_retries)
    monkeypatch.setattr(pipeline, "_record_end", record_end)

    run_x = migrate(lake, sqlite_url)

    assert run_x.tables["a"].status == "failed"
    states = {row["table"]: row for row in status(sqlite_url)}
    assert (states["a"]["last_status"], states["a"]["last_run"]) == ("loaded", later[0])

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
from turbodata.pipeline import RunInterrupted

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

"""A run stopped by Ctrl-C or SIGTERM is recorded as `interrupted`, says so in one line, exits
130 (143), and a rerun continues to exactly the content of an uninterrupted load."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.biglake import write_big_lake
from tests.dbcheck import fetch
from tests.killing import committed_files, start_cli, wait_for
from tests.reference import final_state
from tests.test_crash_and_concurrency import table_state
from turbodata import migrate

FOLDERS, ROWS = 6, 40_000


@pytest.fixture(scope="module")
def big_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("interrupt") / "lake"
    batches = write_big_lake(root, FOLDERS, ROWS)
    expected = {k: (r["name"], r["versionnumber"]) for k, r in final_state(batches).items()}
    return root, expected


@pytest.mark.parametrize(
    ("sent", "exit_status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["int", "term"]
)
def test_a_signal_mid_load_is_recorded_as_interrupted_and_a_rerun_continues(
    big_lake: tuple[Path, dict], sqlite_url: str, sent: signal.Signals, exit_status: int
) -> None:
    lake, expected = big_lake
    process = start_cli(lake, sqlite_url)
    wait_for(lambda: committed_files(sqlite_url) >= 1 or process.poll() is not None)
    assert process.poll() is None, "the load finished before it could be stopped: make it bigger"

    process.send_signal(sent)
    _, err = process.communicate(timeout=60)

    assert process.returncode == exit_status, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("error: run ") and "Run the same command again to continue." in err
    [run] = fetch(sqlite_url, "_turbodata_runs")
    assert run["status"] == "interrupted" and run["finished_at"] is not None
    recorded = json.loads(run["summary"])
    assert recorded["ok"] is False and recorded["status"] == "interrupted"
    [state] = fetch(sqlite_url, "_turbodata_tables")
    assert state["last_status"] == "interrupted"
    committed = committed_files(sqlite_url)
    assert 1 <= committed < FOLDERS
    loaded = sum(r["rows_loaded"] for r in fetch(sqlite_url, "_turbodata_files"))
    assert f" interrupted: committed t ({committed} files, {loaded:,} rows); " in err
    assert not fetch(sqlite_url, "_turbodata_lease")  # released: the rerun is not blocked

    rerun = migrate(lake, sqlite_url)

    assert rerun.ok, rerun.to_dict()
    assert rerun.tables["t"].files_read == FOLDERS - committed
    assert table_state(sqlite_url) == expected
    paths = [r["path"] for r in fetch(sqlite_url, "_turbodata_files")]
    assert len(paths) == len(set(paths)) == FOLDERS


def test_verbose_shows_the_traceback_of_an_interrupted_run(
    big_lake: tuple[Path, dict], sqlite_url: str
) -> None:
    lake, _ = big_lake
    process = start_cli(lake, sqlite_url, "-v")
    wait_for(lambda: committed_files(sqlite_url) >= 1 or process.poll() is not None)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" in err and "KeyboardInterrupt" in err

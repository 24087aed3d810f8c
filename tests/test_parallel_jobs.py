"""`migrate(jobs=N)` / `turbodata migrate --jobs N`: several tables of one run at once."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.dbcheck import fetch
from tests.slow_batches.delay import slowed
from tests.test_parallel_leases import (
    FOLDERS,
    REPO,
    TABLES,
    Expected,
    assert_exact,
    files_of,
    load_window,
    wait_for,
    write_tables_lake,
)
from turbodata.load.loader import TableLoader
from turbodata.pipeline import RunInterrupted, migrate
from turbodata.summary import TableResult


@pytest.fixture(scope="module")
def lake_of_three(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    root = tmp_path_factory.mktemp("jobs") / "lake"
    return root, write_tables_lake(root, TABLES, FOLDERS, 4_000)


def test_jobs_load_tables_of_one_run_at_the_same_time(
    lake_of_three: tuple[Path, Expected], postgres_url: str
) -> None:
    lake, expected = lake_of_three
    reported: dict[str, set[int]] = {}

    def progress(result: TableResult) -> None:
        reported.setdefault(result.name, set()).add(threading.get_ident())

    summary = migrate(lake, postgres_url, jobs=3, progress=progress)

    assert summary.ok, summary.to_dict()
    assert list(summary.tables) == list(TABLES)  # in plan order, whichever finished first
    assert_exact(postgres_url, expected)
    windows = {t: load_window(postgres_url, t) for t in TABLES}
    assert {run for _, _, run in windows.values()} == {summary.run_id}
    alpha_from, alpha_to, _ = windows["alpha"]
    beta_from, beta_to, _ = windows["beta"]
    assert alpha_from < beta_to and beta_from < alpha_to  # loaded together
    assert len(set.union(*reported.values())) > 1  # by several threads
    assert not fetch(postgres_url, "_turbodata_lease")  # every lease released


def test_sqlite_loads_one_table_at_a_time_whatever_jobs_says(
    lake_of_three: tuple[Path, Expected], sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    lake, expected = lake_of_three
    with caplog.at_level(logging.INFO, logger="turbodata"):
        summary = migrate(lake, sqlite_url, jobs=4)

    assert summary.ok
    assert "SQLite has one writer at a time" in caplog.text
    assert_exact(sqlite_url, expected)
    windows = sorted(load_window(sqlite_url, t)[:2] for t in TABLES)
    assert all(end < start for (_, end), (start, _) in itertools.pairwise(windows))


def test_ctrl_c_stops_every_table_after_its_batch_and_a_rerun_finishes_exactly(
    lake_of_three: tuple[Path, Expected], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, expected = lake_of_three
    # each batch 0.3 s longer, so the run is still loading when the signal lands
    monkeypatch.setattr(TableLoader, "_with_retries", slowed(TableLoader._with_retries, 0.3))

    def interrupt_once_loading() -> None:
        wait_for(lambda: files_of(postgres_url, "alpha") >= 1)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_loading, daemon=True).start()
    # Python leaves SIGINT ignored when its parent did (a background job of a script, as CI
    # may start it): Ctrl-C here must raise KeyboardInterrupt as it does on a terminal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(RunInterrupted) as stopped:
            migrate(lake, postgres_url, jobs=3)
    finally:
        signal.signal(signal.SIGINT, previous)

    summary = stopped.value.summary
    assert summary.status == "interrupted"
    (run,) = [r for r in fetch(postgres_url, "_turbodata_runs") if r["run_id"] == summary.run_id]
    assert run["status"] == "interrupted"
    assert not fetch(postgres_url, "_turbodata_lease")
    assert sum(files_of(postgres_url, t) for t in TABLES) < FOLDERS * len(TABLES)

    monkeypatch.undo()
    rerun = migrate(lake, postgres_url, jobs=3)
    assert rerun.ok, rerun.to_dict()
    assert_exact(postgres_url, expected)


def test_jobs_must_be_a_positive_number(lake_of_three: tuple[Path, Expected]) -> None:
    lake, _ = lake_of_three
    done = subprocess.run(
        [sys.executable, "-m", "turbodata", "migrate", "--lake", str(lake), "--jobs", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "--jobs: not a positive whole number: '0'" in done.stderr
    with pytest.raises(ValueError, match="jobs must be 1 or more"):
        migrate(lake, "sqlite://", jobs=0)


def test_jobs_are_capped_at_what_the_engines_pool_has_connections_for(
    lake_of_three: tuple[Path, Expected],
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """17 tables at once from a pool of 5 + 10: the ones left waiting for a connection
    failed after the pool's timeout (found by review). They load a few at a time now."""
    import sqlalchemy as sa

    lake, expected = lake_of_three
    # one connection, given up on after 0.1 s; each batch holds it 0.25 s
    small = sa.create_engine(postgres_url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    monkeypatch.setattr(TableLoader, "_load_batch", slowed(TableLoader._load_batch, 0.25))
    try:
        with caplog.at_level(logging.WARNING, logger="turbodata"):
            summary = migrate(lake, small, jobs=17)
    finally:
        small.dispose()

    assert summary.ok, summary.to_dict()
    assert_exact(postgres_url, expected)
    assert any(
        "17 tables at once may hold 34 connections, and the engine's pool has 1: loading 1"
        in r.getMessage()
        for r in caplog.records
    )

"""Kill a `turbodata migrate` process with SIGKILL at a known point, for the crash tests.

A kill timed by `sleep` alone is a race: on a fast machine the load commits before the kill,
and the test no longer tests what it says (CI failed that way once). `kill_inside_a_write`
freezes the process with SIGSTOP first, lets a COMMIT already on its way land, and kills only
when the database shows the process still inside a write transaction and no file
committed while it was frozen; otherwise it lets the process go on and tries again.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from tests.dbcheck import scalar

REPO = Path(__file__).resolve().parents[1]
SETTLE = 0.3  # seconds for a COMMIT sent just before SIGSTOP to land in the database
INSIDE = 0.3  # a write transaction seen open this long is a batch's, not a ledger write's

_OTHERS_WRITING = """
SELECT COUNT(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL
"""


def start_cli(lake: Path, db_url: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "turbodata", "migrate", "--lake", str(lake), "--db", db_url, *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def committed_files(db_url: str) -> int:
    try:
        return int(scalar(db_url, "SELECT COUNT(*) FROM _turbodata_files") or 0)
    except sa.exc.DBAPIError:  # not created yet, or SQLite busy with the writer
        return -1


def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def someone_is_writing(db_url: str) -> bool:
    """Whether another connection holds an open write transaction in the database."""
    if db_url.startswith("sqlite"):
        return _sqlite_write_lock_is_held(sa.make_url(db_url).database or "")
    return int(scalar(db_url, _OTHERS_WRITING) or 0) > 0


def _sqlite_write_lock_is_held(path: str) -> bool:
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:  # "database is locked": a writer holds it
        return "locked" in str(error)
    else:
        probe.execute("ROLLBACK")
        return False
    finally:
        probe.close()


def kill_inside_a_write(
    process: subprocess.Popen,
    db_url: str,
    at_least: int = 0,
    timeout: float = 120.0,
    *,
    committed: Callable[[], int] | None = None,
    writing: Callable[[], bool] | None = None,
) -> int:
    """SIGKILL `process` inside a write transaction that has been open for a while, once at
    least `at_least` files are committed; return how many were committed when it died (none
    of the killed transaction's files among them). `committed` and `writing` count the
    committed files and see an open write transaction where `committed_files` and
    `someone_is_writing` do not know how (another database, files in one schema)."""
    committed = committed or (lambda: committed_files(db_url))
    writing = writing or (lambda: someone_is_writing(db_url))
    deadline = time.monotonic() + timeout
    open_since: float | None = None
    while time.monotonic() < deadline:
        assert process.poll() is None, "the load finished before it could be killed"
        seen = committed()
        if seen < at_least or not writing():
            open_since = None
        elif open_since is None:
            open_since = time.monotonic()
        elif time.monotonic() - open_since >= INSIDE:
            process.send_signal(signal.SIGSTOP)
            time.sleep(SETTLE)
            if committed() == seen and writing():
                process.send_signal(signal.SIGKILL)
                process.wait()
                return seen
            process.send_signal(signal.SIGCONT)  # it committed meanwhile: go on watching
            open_since = None
        time.sleep(0.02)
    raise AssertionError(f"never saw the load inside a transaction after {at_least} files")

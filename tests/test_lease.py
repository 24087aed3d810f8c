"""The run lease on SQLite, with two real processes: a second `migrate` started while the first
holds the database's write lock says which run it waits for, then exits 3 `blocked`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.biglake import write_big_lake

REPO = Path(__file__).resolve().parents[1]
FIRST_RUN = "20260101T000000Z-first"

# A run in the middle of a batch: it holds the lease and SQLite's write lock for `hold`
# seconds, then commits and keeps the lease (between batches) until it is killed.
HOLDER = f"""
import sys, time
from turbodata.ledger import lease
from turbodata.ledger import records as ledger
from turbodata.pipeline import connect
engine, _ = connect(sys.argv[1])
with engine.begin() as conn:
    ledger.ensure(conn)
lease.acquire(engine, "{FIRST_RUN}")
with engine.begin() as conn:
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
print("committed", flush=True)
time.sleep(120)
"""


def test_a_second_migrate_says_whom_it_waits_for_then_exits_blocked(tmp_path: Path) -> None:
    write_big_lake(tmp_path / "lake", 1, 10)
    db_url = f"sqlite:///{tmp_path / 'target.sqlite'}"
    first = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url, "6"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "holding"
        started = time.monotonic()
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "turbodata",
                "migrate",
                "--lake",
                str(tmp_path / "lake"),
                "--db",
                db_url,
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        waited = time.monotonic() - started
    finally:
        first.kill()
        first.wait()

    assert f"waiting: another run ({FIRST_RUN}, pid {first.pid} on" in second.stderr
    assert f"another run ({FIRST_RUN}) is loading this database" in second.stderr
    assert second.returncode == 3, second.stderr
    assert waited < 30  # stopped once the batch committed, not after a lock timeout


def test_the_lease_expiry_is_shown_in_utc_whatever_form_the_driver_returns() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from turbodata.ledger.lease import LeaseHeld

    plus_two = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert "until 2026-01-02 03:04:05 UTC" in str(LeaseHeld("r", plus_two))
    assert "until 2026-01-02 03:04:05 UTC" in str(LeaseHeld("r", datetime(2026, 1, 2, 3, 4, 5)))
    assert "until 2026-01-02 03:04:05 UTC" in str(
        LeaseHeld("r", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    )
    text = "2026-01-02 03:04:05.0000000 +00:00"
    assert f"until {text}" in str(LeaseHeld("r", text))


def test_the_live_holder_is_found_whatever_lease_row_comes_first(tmp_path: Path) -> None:
    """This run's own table lease came first: the other live run's was never seen, and the
    waiting run gave up after a minute instead of waiting for it (found by review)."""
    import os
    import sqlite3

    import sqlalchemy as sa

    from turbodata.dialects.sqlite import other_live_lease_holder
    from turbodata.ledger import records as ledger
    from turbodata.ledger.process import this_host

    path = tmp_path / "target.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    ledger.lease.create(engine)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        here, now = this_host(), ledger.now()
        with engine.begin() as conn:
            conn.execute(
                sa.insert(ledger.lease),
                [
                    {
                        "name": "table:a",
                        "holder": "me",
                        "host": here,
                        "pid": os.getpid(),
                        "expires_at": now,
                    },
                    {
                        "name": "table:b",
                        "holder": "them",
                        "host": here,
                        "pid": other.pid,
                        "expires_at": now,
                    },
                ],
            )
        with sqlite3.connect(path) as raw:
            assert other_live_lease_holder(raw) == f"them, pid {other.pid} on {here}"
    finally:
        other.kill()
        other.wait()
        engine.dispose()


def test_a_lock_no_run_holds_ends_the_wait_as_a_database_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raised raw from the BEGIN event, it was no busy database to the loader and escaped the
    CLI as a traceback, without a summary (found by review)."""
    import sqlite3

    import sqlalchemy as sa

    from turbodata.dialects import sqlite as sqlite_dialect
    from turbodata.pipeline import connect

    monkeypatch.setattr(sqlite_dialect, "LOCK_WAIT_SECONDS", 0.5)
    path = tmp_path / "target.sqlite"
    engine, dialect = connect(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a writer that holds no run's lease
    try:
        with pytest.raises(sa.exc.OperationalError) as raised, engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert dialect.is_busy(raised.value)
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()


def test_a_lease_lost_between_batches_leaves_the_table_failed_not_loading(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loader records `loading` with each batch's watermark and the outcome after its
    last batch; a lease lost between batches failed the table in the summary, while the
    ledger (`status`, the report) kept `loading` with no error (found by review)."""
    from tests.lakebuilder import LakeBuilder, attribute
    from turbodata import migrate, pipeline
    from turbodata.ledger import lease as lease_module
    from turbodata.pipeline import status

    columns = [attribute("Id", "guid"), attribute("n", "int64")]
    lake = LakeBuilder(tmp_path / "lake")
    for minute, n in ((0, 1), (5, 2)):
        row = f"00000000-0000-0000-0000-00000000000{n},{n}\n"
        lake.folder(f"2025-01-01T00.{minute:02d}.00Z", {"t": columns}, {"t/1.csv": row})

    def lost(*_args: object, **_kwargs: object) -> None:
        raise lease_module.LeaseHeld("another run took over an expired lease", None)

    monkeypatch.setattr(pipeline, "LEASE_RENEW_SECONDS", 0.0)
    monkeypatch.setattr(lease_module, "renew", lost)

    summary = migrate(lake.root, db_url)

    assert summary.tables["t"].status == "failed" and "stopped:" in summary.tables["t"].error
    [row] = [r for r in status(db_url) if r["table"] == "t"]
    assert row["last_status"] == "failed" and "took over an expired lease" in row["last_error"]
    assert row["last_applied"] == "2025-01-01T00.00.00Z"  # the first batch committed

"""Exactly once under crashes, one run at a time, and retries of transient errors — for real:
the CLI runs as a subprocess and is killed with SIGKILL in the middle of a load."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.biglake import write_big_lake
from tests.dbcheck import fetch
from tests.killing import REPO, committed_files, kill_inside_a_write, start_cli, wait_for
from tests.reference import final_state
from turbodata import migrate
from turbodata.dialects.base import Dialect, RowSink
from turbodata.load.loader import LoadOptions
from turbodata.ops.report import RunLine, recent_runs
from turbodata.pipeline import status

FOLDERS, ROWS = 6, 60_000


@pytest.fixture(scope="module")
def big_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("big") / "lake"
    batches = write_big_lake(root, FOLDERS, ROWS)
    expected = {k: (r["name"], r["versionnumber"]) for k, r in final_state(batches).items()}
    return root, expected


def table_state(db_url: str) -> dict:
    return {str(r["Id"]): (r["name"], r["versionnumber"]) for r in fetch(db_url, "t")}


def runs_shown(db_url: str) -> list[RunLine]:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        runs = recent_runs(conn)
    engine.dispose()
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_batches", [0, 2])
def test_sigkill_mid_load_then_rerun_equals_an_uninterrupted_load(
    big_lake: tuple[Path, dict], db_url: str, kill_after_batches: int
) -> None:
    lake, expected = big_lake
    process = start_cli(lake, db_url)
    died_with = kill_inside_a_write(process, db_url, at_least=kill_after_batches)
    done_before = committed_files(db_url)
    assert done_before == died_with < FOLDERS
    killed = [r["run_id"] for r in fetch(db_url, "_turbodata_runs") if r["status"] == "running"]
    if done_before:  # the killed run's batches show as such: not the run before's `loaded`,
        [state] = status(db_url)  # nor `loading` for ever
        assert (state["last_run"], state["last_status"]) == (killed[-1], "killed")
    newest, *_ = runs_shown(db_url)
    assert (newest.run_id, newest.status) == (killed[-1], "killed")

    rerun = migrate(lake, db_url)

    assert rerun.ok, rerun.to_dict()
    assert status(db_url)[0]["last_status"] == "loaded"
    assert rerun.tables["t"].files_read == FOLDERS - max(done_before, 0)
    assert table_state(db_url) == expected
    paths = [r["path"] for r in fetch(db_url, "_turbodata_files")]
    assert len(paths) == len(set(paths)) == FOLDERS


@pytest.mark.slow
def test_a_second_run_started_during_a_load_does_not_load(
    big_lake: tuple[Path, dict], db_url: str
) -> None:
    lake, expected = big_lake
    first = start_cli(lake, db_url)
    wait_for(lambda: committed_files(db_url) >= 1 or first.poll() is not None)

    second = migrate(lake, db_url, lease_wait=0)  # the table is held: don't wait for it

    if second.blocked:
        assert second.status == "blocked" and not second.tables
        assert "is loading this database" in second.problems[0]
    else:  # SQLite: the second waited for the writer's lock until the first had released its
        # lease (its process may still be exiting), and found everything loaded
        assert db_url.startswith("sqlite"), "PostgreSQL must answer at once: blocked"
        assert all(t.files_read == 0 for t in second.tables.values())
    first.communicate(timeout=300)
    assert first.returncode == 0
    assert table_state(db_url) == expected


def test_the_cli_exits_3_with_a_clear_message_while_another_run_holds_the_lease(
    tmp_path: Path, sqlite_url: str
) -> None:
    from turbodata.ledger import lease
    from turbodata.ledger import records as ledger
    from turbodata.pipeline import connect

    write_big_lake(tmp_path / "lake", 1, 10)
    engine, _ = connect(sqlite_url)
    with engine.begin() as conn:
        ledger.ensure(conn)
    lease.acquire(engine, "20260101T000000Z-other")  # this live process holds it

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "turbodata",
            "migrate",
            "--lake",
            str(tmp_path / "lake"),
            "--db",
            sqlite_url,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 3
    assert "waiting up to 15 s for another run (20260101T000000Z-other)" in done.stderr  # first
    assert "another run (20260101T000000Z-other) is loading this database" in done.stderr
    lease.release(engine, "20260101T000000Z-other")
    assert migrate(tmp_path / "lake", sqlite_url).ok


@pytest.mark.parametrize("holder", ["this", "older version", "other namespace"])
def test_a_lease_left_by_a_crashed_process_does_not_block(
    tmp_path: Path, sqlite_url: str, holder: str
):
    """Taken at once only from a process of this host's PID namespace and boot (or of an
    older turbodata, whose lease names the host alone): a pid in another namespace (another
    container with the same host name) may be a live run's."""
    from turbodata.ledger import lease
    from turbodata.ledger.process import this_host
    from turbodata.pipeline import connect

    same_namespace = holder != "other namespace"
    host = {
        "this": this_host(),
        "older version": os.uname().nodename,
        "other namespace": f"{os.uname().nodename} (pidns 1, boot 0)",
    }[holder]

    engine, _ = connect(sqlite_url)
    with engine.begin() as conn:
        from turbodata.ledger import records as ledger

        ledger.ensure(conn)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(ledger.lease).values(
                name="migrate",
                holder="crashed-run",
                host=host,
                pid=dead.pid,
                expires_at=ledger.now() + lease.DEFAULT_TTL,
            )
        )
    if not same_namespace:  # held until it expires
        with pytest.raises(lease.LeaseHeld, match="crashed-run"):
            lease.acquire(engine, "new-run")
        return
    lease.acquire(engine, "new-run")  # the holder's process is gone: taken over
    with pytest.raises(lease.LeaseHeld, match="new-run"):
        lease.acquire(engine, "third-run")


class FlakyDialect:
    """Wraps a dialect: the first `failures` batches written raise a dropped-connection
    error."""

    def __init__(self, inner: Dialect, failures: int, transient: bool) -> None:
        self.inner, self.failures, self.transient = inner, failures, transient

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    @contextlib.contextmanager
    def bulk_insert(self, conn, types):
        with self.inner.bulk_insert(conn, types) as sink:
            yield FlakySink(self, sink)


class FlakySink:
    def __init__(self, dialect: FlakyDialect, inner: RowSink) -> None:
        self.dialect, self.inner = dialect, inner

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def write(self, *args, **kwargs):
        if self.dialect.failures:
            self.dialect.failures -= 1
            error = sa.exc.OperationalError("INSERT", {}, Exception("connection reset by peer"))
            error.connection_invalidated = self.dialect.transient
            raise error
        return self.inner.write(*args, **kwargs)


@pytest.mark.parametrize("transient", [True, False])
def test_transient_errors_are_retried_and_logged_permanent_ones_are_not(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog, transient: bool
) -> None:
    from turbodata import pipeline
    from turbodata.lake.storage import LocalLake
    from turbodata.load.loader import TableLoader

    write_big_lake(tmp_path / "lake", 1, 10)
    real_connect = pipeline.connect

    def flaky_connect(db):
        engine, dialect = real_connect(db)
        return engine, FlakyDialect(dialect, failures=2, transient=transient)

    monkeypatch.setattr(pipeline, "connect", flaky_connect)
    caplog.set_level(logging.WARNING, logger="turbodata")
    options = LoadOptions(retry_wait=0.01)

    summary = pipeline.migrate(LocalLake(tmp_path / "lake"), sqlite_url, options=options)

    assert TableLoader  # the loader retries whole batches, never half of one
    if transient:
        assert summary.ok and summary.tables["t"].rows_inserted == 10
        retries = [r for r in caplog.records if "transient error, retry" in r.getMessage()]
        assert len(retries) == 2
    else:
        assert summary.tables["t"].status == "failed"
        assert "connection reset by peer" in summary.tables["t"].error
        assert not [r for r in caplog.records if "retry" in r.getMessage()]


def test_a_refused_connection_is_not_mistaken_for_a_busy_database() -> None:
    from turbodata.ledger import lease
    from turbodata.pipeline import connect

    engine, dialect = connect("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(sa.exc.OperationalError):
        lease.acquire(engine, "run", is_busy=dialect.is_busy)
    busy = sa.exc.OperationalError("BEGIN", {}, Exception("database is locked"))
    assert connect("sqlite://")[1].is_busy(busy) and not dialect.is_busy(busy)


def test_a_commit_whose_answer_is_lost_is_not_loaded_again(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """The connection dropped after the server committed a batch, before its answer came
    back: the retry loaded the batch again, failed on the ledger's file key ("duplicate
    key") and counted nothing, while the rows were in (found by a fault-injection review).
    The ledger now says the batch committed: the run goes on, with the counts of a clean one."""
    from turbodata import pipeline
    from turbodata.lake.storage import LocalLake
    from turbodata.load.loader import TableLoader

    write_big_lake(tmp_path / "lake", 2, 10)
    clean = pipeline.migrate(LocalLake(tmp_path / "lake"), f"sqlite:///{tmp_path / 'clean.db'}")
    real_connect, real_load_batch = pipeline.connect, TableLoader._load_batch
    pending = {"batch": False, "lost": 0}

    def load_batch(self, *args, **kwargs):
        types = real_load_batch(self, *args, **kwargs)
        pending["batch"] = pending["lost"] == 0  # the first batch's COMMIT comes next
        return types

    def connect_losing_a_commit(db):
        engine, dialect = real_connect(db)
        commit = engine.dialect.do_commit

        def do_commit(dbapi_connection) -> None:
            commit(dbapi_connection)  # committed on the server …
            if pending["batch"]:  # … and the answer lost
                pending["batch"], pending["lost"] = False, pending["lost"] + 1
                error = sa.exc.OperationalError(
                    "COMMIT", {}, Exception("server closed the connection unexpectedly")
                )
                error.connection_invalidated = True
                raise error

        monkeypatch.setattr(engine.dialect, "do_commit", do_commit)
        return engine, dialect

    monkeypatch.setattr(TableLoader, "_load_batch", load_batch)
    monkeypatch.setattr(pipeline, "connect", connect_losing_a_commit)
    caplog.set_level(logging.WARNING, logger="turbodata")

    summary = pipeline.migrate(
        LocalLake(tmp_path / "lake"), db_url, options=LoadOptions(retry_wait=0.01)
    )

    assert pending["lost"] == 1
    assert summary.ok, summary.to_dict()
    counts = ("rows_read", "rows_inserted", "rows_updated", "rows_deleted", "files_read")
    got, want = summary.tables["t"], clean.tables["t"]
    assert [getattr(got, c) for c in counts] == [getattr(want, c) for c in counts]
    assert any("the ledger shows the batch committed" in r.getMessage() for r in caplog.records)
    assert table_state(db_url) == table_state(f"sqlite:///{tmp_path / 'clean.db'}")
    paths = [r["path"] for r in fetch(db_url, "_turbodata_files")]
    assert len(paths) == len(set(paths)) == 2

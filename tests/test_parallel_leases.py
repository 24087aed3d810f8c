"""Leases per table, for real: CLI processes on one database (PostgreSQL, and SQLite where it
applies) load different tables together, never the same table twice, and a worker killed with
SIGKILL leaves nothing a rerun cannot finish exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.biglake import COLUMNS
from tests.dbcheck import fetch, scalar
from tests.killing import wait_for
from tests.lakebuilder import LakeBuilder
from tests.reference import final_state
from turbodata.ledger import lease
from turbodata.ledger import records as ledger
from turbodata.pipeline import connect, lease_wait_seconds, migrate

REPO = Path(__file__).resolve().parents[1]
TABLES = ("alpha", "beta", "gamma")
FOLDERS, ROWS = 5, 20_000

Expected = dict[str, dict[str, tuple[object, object]]]


def write_tables_lake(root: Path, tables: tuple[str, ...], folders: int, rows: int) -> Expected:
    """Timestamp folders of upserts and deletes, the same shape for every table (as
    tests.biglake), with per table the state a load must end in: Id → (name, versionnumber)."""
    builder = LakeBuilder(root)
    changes: dict[str, list[list[dict]]] = {t: [] for t in tables}
    for f in range(folders):
        files = {}
        for table in tables:
            lines, batch = _folder_rows(f, rows)
            changes[table].append(batch)
            files[f"{table}/2025.csv"] = "".join(lines)
        builder.folder(f"2025-01-01T1{f}.00.00Z", dict.fromkeys(tables, COLUMNS), files)
    return {
        t: {k: (r["name"], r["versionnumber"]) for k, r in final_state(changes[t]).items()}
        for t in tables
    }


def _folder_rows(folder: int, rows: int) -> tuple[list[str], list[dict]]:
    lines, batch = [], []
    for i in range(rows):
        n = folder * rows // 2 + i
        delete = i % 97 == 0 and folder > 0
        row = {
            "Id": f"00000000-0000-0000-0000-{n:012d}",
            "name": None if delete else f"name {n} v{folder}",
            "versionnumber": None if delete else folder * 1_000_000 + i,
            "SinkModifiedOn": f"2025-01-01 0{folder + 1}:00:00.0000000",
            "IsDelete": True if delete else None,
        }
        batch.append(row)
        stamp = f'"1/1/2025 {folder + 1}:00:00 AM"'
        if delete:
            lines.append(f"{row['Id']},{stamp},,,,,True\n")
        else:
            lines.append(
                f'{row["Id"]},{stamp},"{row["name"]}",{n}.{i:010d},"a note",'
                f"{row['versionnumber']},\n"
            )
    return lines, batch


@pytest.fixture(scope="module")
def tables_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    root = tmp_path_factory.mktemp("parallel") / "lake"
    return root, write_tables_lake(root, TABLES, FOLDERS, ROWS)


def start_cli(
    lake: Path, db_url: str, *args: str, wait: float = 0.0, batch_seconds: float = 0.0
) -> subprocess.Popen:
    """`batch_seconds`: each batch takes that much longer (tests/slow_batches), so the run is
    still loading when the test starts another."""
    env = {**os.environ, "TURBODATA_LEASE_WAIT_SECONDS": str(wait)}
    if batch_seconds:
        env["TURBODATA_TEST_BATCH_SECONDS"] = str(batch_seconds)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests" / "slow_batches"), str(REPO)])
    command = [sys.executable, "-m", "turbodata", "migrate", "--lake", str(lake), "--db", db_url]
    return subprocess.Popen(
        [*command, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    _, err = process.communicate(timeout=600)
    return process.returncode, err


def files_of(db_url: str, table: str) -> int:
    try:
        sql = f"SELECT COUNT(*) FROM _turbodata_files WHERE table_name = '{table}'"
        return int(scalar(db_url, sql) or 0)
    except sa.exc.DBAPIError:  # not created yet
        return 0


def state_of(db_url: str, table: str) -> dict[str, tuple[object, object]]:
    return {str(r["Id"]): (r["name"], r["versionnumber"]) for r in fetch(db_url, table)}


def load_window(db_url: str, table: str) -> tuple[datetime, datetime, str]:
    """When the run that loaded `table` committed its first and its last file, by the
    ledger's own clock (each commit stamps loaded_at), and that run's id."""
    rows = [r for r in fetch(db_url, "_turbodata_files") if r["table_name"] == table]
    (run_id,) = {r["run_id"] for r in rows}
    stamps = sorted(_aware(r["loaded_at"]) for r in rows)
    return stamps[0], stamps[-1], run_id


def _aware(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=ledger.now().tzinfo)


def assert_exact(db_url: str, expected: Expected, tables: tuple[str, ...] = TABLES) -> None:
    for table in tables:
        assert state_of(db_url, table) == expected[table], table
        paths = [r["path"] for r in fetch(db_url, "_turbodata_files") if r["table_name"] == table]
        assert len(paths) == len(set(paths)) == FOLDERS, table


# -- processes on one PostgreSQL database -------------------------------------------------------


@pytest.mark.slow
def test_two_processes_on_disjoint_tables_load_at_the_same_time(
    tables_lake: tuple[Path, Expected], postgres_url: str
) -> None:
    lake, expected = tables_lake
    first = start_cli(lake, postgres_url, "--table", "alpha")
    second = start_cli(lake, postgres_url, "--table", "beta")

    assert [finish(first)[0], finish(second)[0]] == [0, 0]

    alpha_from, alpha_to, alpha_run = load_window(postgres_url, "alpha")
    beta_from, beta_to, beta_run = load_window(postgres_url, "beta")
    assert alpha_run != beta_run
    # each committed a file while the other was between its first and its last commit
    assert alpha_from < beta_to and beta_from < alpha_to, (alpha_from, alpha_to, beta_from)
    assert_exact(postgres_url, expected, ("alpha", "beta"))


@pytest.mark.slow
def test_a_second_run_on_the_same_table_fails_it_naming_the_holder(
    tables_lake: tuple[Path, Expected], postgres_url: str
) -> None:
    lake, expected = tables_lake
    first = start_cli(lake, postgres_url, "--table", "alpha", batch_seconds=1.0)
    wait_for(lambda: files_of(postgres_url, "alpha") >= 1 or first.poll() is not None)
    assert first.poll() is None, "the first run finished before the second started"

    second = start_cli(lake, postgres_url, "--table", "alpha", wait=0.5)
    code, err = finish(second)

    assert finish(first)[0] == 0
    holder = load_window(postgres_url, "alpha")[2]
    assert code == 3, err  # blocked: its only table was held
    assert f"another run ({holder}) is loading this database's table alpha" in err
    assert_exact(postgres_url, expected, ("alpha",))  # every file loaded once, by the first


@pytest.mark.slow
def test_a_second_run_on_the_same_table_waits_for_it_when_told_to(
    tables_lake: tuple[Path, Expected], postgres_url: str
) -> None:
    lake, expected = tables_lake
    first = start_cli(lake, postgres_url, "--table", "alpha")
    wait_for(lambda: files_of(postgres_url, "alpha") >= 1 or first.poll() is not None)
    assert first.poll() is None, "the first run finished before the second started"

    second = start_cli(lake, postgres_url, "--table", "alpha", "--json", wait=300)

    assert finish(first)[0] == 0
    code, err = finish(second)
    assert code == 0, err  # it waited for the lease, then found every file loaded
    load_window(postgres_url, "alpha")  # asserts that one run loaded all of it
    assert_exact(postgres_url, expected, ("alpha",))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["one of three processes", "a process with --jobs 3"])
def test_sigkill_of_a_parallel_worker_then_rerun_is_exact(
    tables_lake: tuple[Path, Expected], postgres_url: str, how: str
) -> None:
    lake, expected = tables_lake
    if how == "a process with --jobs 3":
        workers = {"all": start_cli(lake, postgres_url, "--jobs", "3")}
        victim = "all"
    else:
        workers = {t: start_cli(lake, postgres_url, "--table", t) for t in TABLES}
        victim = "beta"
    wait_for(lambda: files_of(postgres_url, "beta") >= 1 or workers[victim].poll() is not None)
    if workers[victim].poll() is not None:
        code, err = finish(workers[victim])
        raise AssertionError(f"the load ended (exit {code}) before it could be killed:\n{err}")
    workers[victim].send_signal(signal.SIGKILL)
    workers[victim].wait()
    assert files_of(postgres_url, "beta") < FOLDERS
    for name, process in workers.items():
        if name != victim:
            code, err = finish(process)
            assert code == 0, err

    rerun = migrate(lake, postgres_url, jobs=2, lease_wait=0)  # the dead worker's leases
    # are taken over at once: its process is gone

    assert rerun.ok, rerun.to_dict()
    assert_exact(postgres_url, expected)


# -- in one process: leases held by another run ----------------------------------------------


def hold(db_url: str, name: str, holder: str = "20260101T000000Z-other") -> None:
    """A live run (this process) holding the lease `name`."""
    engine, _ = connect(db_url)
    with engine.begin() as conn:
        ledger.ensure(conn)
    lease.acquire(engine, holder, name=name)
    engine.dispose()


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    root = tmp_path_factory.mktemp("small") / "lake"
    return root, write_tables_lake(root, ("alpha", "beta"), FOLDERS, 50)


def test_a_held_table_fails_naming_its_holder_and_the_others_load(
    small_lake: tuple[Path, Expected], db_url: str
) -> None:
    lake, expected = small_lake
    hold(db_url, lease.table_lease("alpha"))

    started = time.monotonic()
    summary = migrate(lake, db_url, lease_wait=0.6)

    assert time.monotonic() - started >= 0.5  # it waited for the table before giving up
    assert summary.status == "failed" and not summary.blocked
    alpha = summary.tables["alpha"]
    assert alpha.status == "failed" and alpha.files_read == 0
    assert "another run (20260101T000000Z-other) is loading this database's table alpha" in (
        alpha.error or ""
    )
    assert summary.tables["beta"].status == "loaded"
    assert state_of(db_url, "beta") == expected["beta"]
    assert "alpha" not in {r["table_name"] for r in fetch(db_url, "_turbodata_tables")}
    assert [r["holder"] for r in fetch(db_url, "_turbodata_lease")] == ["20260101T000000Z-other"]


def test_a_run_whose_every_table_is_held_is_blocked(
    small_lake: tuple[Path, Expected], db_url: str
) -> None:
    lake, _ = small_lake
    for table in ("alpha", "beta"):
        hold(db_url, lease.table_lease(table))

    summary = migrate(lake, db_url, lease_wait=0)

    assert summary.status == "blocked" and not summary.tables
    assert len(summary.problems) == 2
    assert all("(20260101T000000Z-other)" in p for p in summary.problems)
    (run,) = [r for r in fetch(db_url, "_turbodata_runs") if r["run_id"] == summary.run_id]
    assert run["status"] == "blocked"


@pytest.mark.slow
def test_a_run_waits_for_a_database_lease_held_longer_than_a_few_seconds(
    small_lake: tuple[Path, Expected], db_url: str
) -> None:
    """Runs started together queue for the database lease; one that took six seconds (a
    busy database) must not make the next one exit `blocked` (the wait was 5 s)."""
    lake, expected = small_lake
    hold(db_url, lease.DATABASE)
    engine, _ = connect(db_url)
    releaser = threading.Timer(6.0, lease.release, (engine, "20260101T000000Z-other"))
    releaser.start()
    try:
        started = time.monotonic()
        summary = migrate(lake, db_url)
    finally:
        releaser.join()
        engine.dispose()

    assert time.monotonic() - started >= 6.0
    assert summary.ok and not summary.blocked, summary.to_dict()
    assert_exact(db_url, expected, ("alpha", "beta"))


def test_no_table_lease_is_taken_while_another_run_holds_the_database_lease(
    small_lake: tuple[Path, Expected], db_url: str
) -> None:
    """A run of an older turbodata holds the database lease for its whole run; a sweep holds
    it while removing leftovers: a table lease waits for it."""
    engine, _ = connect(db_url)
    hold(db_url, lease.DATABASE)
    with pytest.raises(lease.LeaseHeld, match=r"\(20260101T000000Z-other\) is loading this"):
        lease.acquire(engine, "new-run", name=lease.table_lease("alpha"), table="alpha")
    lease.release(engine, "20260101T000000Z-other")
    lease.acquire(engine, "new-run", name=lease.table_lease("alpha"), table="alpha")
    with pytest.raises(lease.LeaseHeld, match=r"\(new-run\) is loading this database's table"):
        lease.acquire(engine, "third-run", name=lease.table_lease("alpha"), table="alpha")
    lease.acquire(engine, "third-run", name=lease.table_lease("beta"), table="beta")
    engine.dispose()


def test_a_table_lease_with_no_wait_still_waits_out_another_runs_start(db_url: str) -> None:
    """A run holds the database lease for a moment at its start: a table lease refused by it
    waits up to `database_wait`, however short the wait for held tables; a table another
    run holds is still not waited for."""
    hold(db_url, lease.DATABASE)  # another run, starting
    engine, _ = connect(db_url)
    alpha, beta = lease.table_lease("alpha"), lease.table_lease("beta")
    releaser = threading.Timer(1.0, lease.release, (engine, "20260101T000000Z-other"))
    try:
        with pytest.raises(lease.LeaseHeld, match=r"is loading this database;"):
            lease.acquire_waiting(engine, "new-run", 0, name=alpha, table="alpha")
        releaser.start()
        started = time.monotonic()
        lease.acquire_waiting(engine, "new-run", 0, name=alpha, table="alpha", database_wait=10)
        assert time.monotonic() - started >= 0.9  # it waited for the other run's start
        hold(db_url, beta, holder="20260101T000000Z-third")
        started = time.monotonic()
        with pytest.raises(lease.LeaseHeld, match="table beta"):
            lease.acquire_waiting(engine, "new-run", 0, name=beta, table="beta", database_wait=10)
        assert time.monotonic() - started < 5  # not the 10 s it would wait for the database
    finally:
        releaser.cancel()
        engine.dispose()


def test_runs_started_together_with_no_wait_do_not_block_each_other(
    small_lake: tuple[Path, Expected], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CI failure: three `migrate --table X` processes with TURBODATA_LEASE_WAIT_SECONDS=0;
    one took its table lease while another was starting, under the database lease, and exited
    `blocked`. Staged here: another run starts just before this run's first table lease."""
    lake, expected = small_lake
    engine, _ = connect(db_url)
    real_acquire_waiting = lease.acquire_waiting
    releasers: list[threading.Timer] = []

    def another_run_starts_first(*args: object, **kwargs: object) -> None:
        if kwargs.get("table") is not None and not releasers:  # a table lease
            lease.acquire(engine, "20260101T000000Z-other")  # the database lease, a moment
            releasers.append(
                threading.Timer(1.0, lease.release, (engine, "20260101T000000Z-other"))
            )
            releasers[0].start()
        real_acquire_waiting(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lease, "acquire_waiting", another_run_starts_first)
    try:
        summary = migrate(lake, db_url, lease_wait=0, jobs=1)  # one table at a time: the stage
    finally:
        for releaser in releasers:
            releaser.join()
        engine.dispose()

    assert releasers, "no table lease was taken"
    assert summary.ok and not summary.blocked, summary.to_dict()
    assert_exact(db_url, expected, ("alpha", "beta"))


def test_an_expired_table_lease_is_taken_over(db_url: str) -> None:
    engine, _ = connect(db_url)
    with engine.begin() as conn:
        ledger.ensure(conn)
        conn.execute(
            sa.insert(ledger.lease).values(
                name=lease.table_lease("alpha"),
                holder="other-host-run",
                host="another-host",
                pid=1,
                expires_at=ledger.now() - timedelta(seconds=1),
            )
        )
    lease.acquire(engine, "new-run", name=lease.table_lease("alpha"))
    assert [r["holder"] for r in fetch(db_url, "_turbodata_lease")] == ["new-run"]
    engine.dispose()


def test_long_table_names_get_distinct_leases_that_fit() -> None:
    long_a, long_b = "a" * 100 + "x", "a" * 100 + "y"
    names = {lease.table_lease(long_a), lease.table_lease(long_b)}
    assert len(names) == 2 and all(len(n) <= 64 for n in names)
    assert lease.table_lease("account") == "table:account"


def test_the_wait_comes_from_the_argument_the_setting_or_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TURBODATA_LEASE_WAIT_SECONDS", raising=False)
    assert lease_wait_seconds() == 5.0
    monkeypatch.setenv("TURBODATA_LEASE_WAIT_SECONDS", "12.5")
    assert lease_wait_seconds() == 12.5 and lease_wait_seconds(1) == 1
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv("TURBODATA_LEASE_WAIT_SECONDS", bad)
        with pytest.raises(ValueError, match="TURBODATA_LEASE_WAIT_SECONDS"):
            lease_wait_seconds()

"""A run whose process died without recording its end (SIGKILL, out of memory, a crash) is
shown `killed` by `runs`, `status` and the report, not `running` for ever; a run whose
process lives, or runs on another host, stays `running`. The ledger row itself is not
changed: what is shown is judged when it is read."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.killing import REPO
from turbodata.cli import main
from turbodata.ledger import records as ledger
from turbodata.ops.report import recent_runs
from turbodata.pipeline import status

# a run's start and its first applied folder, recorded by a process of its own that then
# waits for a line on stdin and exits (a kill that leaves the ledger as SIGKILL does)
RECORD_A_RUN = """
import sys
from datetime import UTC, datetime
import sqlalchemy as sa
from turbodata.ledger import records as ledger
engine = sa.create_engine(sys.argv[1])
with engine.begin() as conn:
    ledger.ensure(conn)
    ledger.start_run(conn, sys.argv[2], datetime.now(UTC))
    ledger.set_watermark(conn, "t", "2025-01-01T00.00.00Z", sys.argv[2])
engine.dispose()
print("recorded", flush=True)
sys.stdin.readline()
"""


def record_a_run(db_url: str, run_id: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", RECORD_A_RUN, db_url, run_id],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "recorded\n"
    return process


def shown(db_url: str) -> tuple[str, str]:
    """(the run's status in `runs`, the table's status in `status`)."""
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        [run] = recent_runs(conn)
    engine.dispose()
    [table] = status(db_url)
    return run.status, str(table["last_status"])


def stored_status(db_url: str) -> str:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        value = conn.execute(sa.select(ledger.runs.c.status)).scalar_one()
    engine.dispose()
    return str(value)


def test_a_run_whose_process_died_shows_killed(db_url: str) -> None:
    process = record_a_run(db_url, "20261207T000000Z-deadbeef")
    process.kill()  # SIGKILL: nothing more is recorded
    process.wait()

    assert shown(db_url) == ("killed", "killed")
    assert stored_status(db_url) == "running"  # judged when read, not rewritten


def test_a_run_whose_process_lives_shows_running(db_url: str) -> None:
    process = record_a_run(db_url, "20261207T000000Z-a11ve000")
    try:
        assert shown(db_url) == ("running", "loading")
    finally:
        process.communicate("\n")
    assert shown(db_url) == ("killed", "killed")  # it ended without recording an end


@pytest.mark.parametrize(
    "host",
    [
        "another-host (pidns 1, boot 0000)",
        # this host's name alone, as a container without /proc records it: another
        # container of the same name may be running it (found by review)
        socket.gethostname(),
    ],
)
def test_a_run_of_another_host_stays_running(sqlite_url: str, host: str) -> None:
    """Whether another host's process lives is not known here: it may still be loading."""
    process = record_a_run(sqlite_url, "20261207T000000Z-e15ewe7e")
    process.kill()
    process.wait()
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        stored = json.loads(conn.execute(sa.select(ledger.runs.c.summary)).scalar_one())
        stored["process"]["host"] = host
        conn.execute(sa.update(ledger.runs).values(summary=json.dumps(stored)))
    engine.dispose()

    assert shown(sqlite_url) == ("running", "loading")


def test_runs_and_the_report_show_a_killed_run(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    process = record_a_run(sqlite_url, "20261207T000000Z-0dead000")
    process.kill()
    process.wait()
    capsys.readouterr()

    assert main(["runs", "--db", sqlite_url, "--json"]) == 0
    [run] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert run["status"] == "killed" and run["summary"]["process"]["pid"] == process.pid

    out = tmp_path / "report.html"
    assert main(["report", "--db", sqlite_url, "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count('"badge warn">killed<') == 3  # the last run's card, the table, the run
    assert ">running<" not in page and ">loading<" not in page


def test_a_finished_run_keeps_its_own_summary(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        ledger.ensure(conn)
        ledger.start_run(conn, "20261207T000000Z-f1n15hed", datetime.now(UTC))
        ledger.finish_run(conn, "20261207T000000Z-f1n15hed", "succeeded", '{"tables": {}}')
    with engine.connect() as conn:
        [run] = recent_runs(conn)
    engine.dispose()
    assert (run.status, run.summary) == ("succeeded", {"tables": {}})

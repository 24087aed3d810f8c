"""The Durable orchestrator's fan-out over tables: a concurrency limit from the settings, one
summary, a failed table retried (call_activity_with_retry) without redoing the others; and the
HTTP 409 of a request whose every table another run holds.

The orchestrator runs with the real Durable SDK, replayed as `durable_replay` does, one history
event per episode, so that this stand-in host can also play a retry's events the way the
Durable extension writes them (TaskFailed, TimerCreated, TimerFired, TaskScheduled again).
The migrations are real: examples/lake (copied) into SQLite or PostgreSQL.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import durable_replay
import pytest
import sqlalchemy as sa

from tests.dbcheck import run_ended_as
from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata import http_api
from turbodata.lake.layouts import OPTIONSET_TABLES
from turbodata.ledger import lease
from turbodata.ledger import records as ledger
from turbodata.pipeline import connect
from turbodata.settings import Settings

TIMER_CREATED, TIMER_FIRED = 10, 11
SAMPLE_TABLES = ["account", "contact", *OPTIONSET_TABLES]
Index = dict[str, Any]


@dataclass
class Replay:
    outcome: durable_replay.Outcome
    attempts: dict[str, int] = field(default_factory=dict)  # table → activity runs
    most_in_flight: int = 0  # table activities started and not finished, at most


@dataclass
class _Work:
    task_id: int
    name: str
    task_input: Any
    attempt: int
    attempts: int
    scheduled: bool = True  # False: a retry, whose TaskScheduled comes with its result


def replay(
    handle: Callable[[str], str],
    orchestration_input: Any,
    activities: Mapping[str, Callable[[Any], Any]],
    instance_id: str = "inst-7",
) -> Replay:
    """Run the orchestration to its end, delivering one outcome per episode (as a host may)."""
    history = [
        durable_replay._event(durable_replay.ORCHESTRATOR_STARTED),
        durable_replay._event(
            durable_replay.EXECUTION_STARTED,
            Name="o",
            Version="",
            Input=json.dumps(orchestration_input),
        ),
    ]
    result = Replay(durable_replay.Outcome("Running"))
    queue: deque[_Work | tuple[str, _Work]] = deque()
    next_id = seen = in_flight = 0
    for result.outcome.episodes in range(1, 500):
        state = durable_replay.episode(
            handle, history, orchestration_input, instance_id, result.outcome
        )
        if state is None:
            return result
        history.append(durable_replay._event(durable_replay.ORCHESTRATOR_COMPLETED))
        actions = [a for group in state["actions"] for a in group][seen:]
        seen += len(actions)
        for action in actions:
            retry = action.get("retryOptions") or {}
            work = _Work(
                next_id,
                action["functionName"],
                json.loads(action["input"]),
                1,
                int(retry.get("maxNumberOfAttempts", 1)),
            )
            history.append(
                durable_replay._event(
                    durable_replay.TASK_SCHEDULED, EventId=next_id, Name=work.name
                )
            )
            next_id += 1
            queue.append(work)
            in_flight += work.name == "migrate_table"
        result.most_in_flight = max(result.most_in_flight, in_flight)
        if not queue:
            raise AssertionError("the orchestrator is waiting but scheduled nothing new")
        history.append(durable_replay._event(durable_replay.ORCHESTRATOR_STARTED))
        item = queue.popleft()
        if isinstance(item, tuple):  # the retry timer of a failed attempt
            _, work = item
            history += _timer(next_id)
            next_id += 1
            if work.attempt < work.attempts:
                queue.appendleft(
                    _Work(
                        next_id, work.name, work.task_input, work.attempt + 1, work.attempts, False
                    )
                )
                next_id += 1
            else:
                in_flight -= work.name == "migrate_table"
            continue
        if not item.scheduled:
            history.append(
                durable_replay._event(
                    durable_replay.TASK_SCHEDULED, EventId=item.task_id, Name=item.name
                )
            )
        event = _run(item, activities, result)
        history.append(event)
        failed = event["EventType"] == durable_replay.TASK_FAILED
        if failed and item.attempts > 1:
            queue.appendleft(("timer", item))
        else:
            in_flight -= item.name == "migrate_table"
    raise AssertionError("the orchestration did not finish in 500 episodes")


def _run(work: _Work, activities: Mapping[str, Callable[[Any], Any]], result: Replay) -> dict:
    result.outcome.activity_calls.append((work.name, work.task_input))
    if work.name == "migrate_table":
        table = work.task_input["table"]
        result.attempts[table] = result.attempts.get(table, 0) + 1
    return durable_replay._complete(work.task_id, activities[work.name], work.task_input)


def _timer(timer_id: int) -> list[dict[str, Any]]:
    fire_at = datetime.now(UTC).isoformat()
    return [
        durable_replay._event(TIMER_CREATED, EventId=timer_id, FireAt=fire_at),
        durable_replay._event(TIMER_FIRED, TimerId=timer_id, FireAt=fire_at),
    ]


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def app_db(db_url: str, lake_copy: Path, use_settings: Callable[[Settings], None]) -> str:
    use_settings(Settings(lake=str(lake_copy), database_url=db_url))
    return db_url


def orchestrate(index: Index, acts: Mapping[str, Callable[[Any], Any]] | None = None) -> Replay:
    handle = index["migrate_orchestrator"].get_user_function()
    real = {n: index[n].get_user_function() for n in ("list_tables", "migrate_table")}
    return replay(handle, http_api.MigrateRequest().to_dict(), {**real, **(acts or {})})


def row_counts(db_url: str, tables: list[str]) -> dict[str, int]:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        counts = {
            t: conn.execute(sa.select(sa.func.count()).select_from(sa.table(t))).scalar_one()
            for t in tables
        }
    engine.dispose()
    return counts


# -- fan-out, limit, fan-in ----------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 3])
def test_the_orchestrator_keeps_at_most_the_configured_tables_running(
    functions_index: Index, app_db: str, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    monkeypatch.setenv("TURBODATA_PARALLEL_TABLES", str(limit))

    run = orchestrate(functions_index)

    assert run.outcome.runtime_status == "Completed", run.outcome.error
    assert run.most_in_flight == limit  # the window is filled, never overfilled
    assert run.attempts == dict.fromkeys(SAMPLE_TABLES, 1)
    summary = run.outcome.output
    assert summary["ok"] is True and list(summary["tables"]) == SAMPLE_TABLES
    assert len(summary["run_ids"]) == len(SAMPLE_TABLES)
    counts = row_counts(app_db, ["account", "contact"])
    assert counts == {t: summary["tables"][t]["rows_inserted"] for t in counts}


def test_a_failed_table_is_retried_and_the_others_are_not_redone(
    functions_index: Index, app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURBODATA_PARALLEL_TABLES", "2")
    monkeypatch.setenv("TURBODATA_TABLE_ATTEMPTS", "3")
    real = functions_index["migrate_table"].get_user_function()
    failures = {"contact": 2}  # its first two attempts meet a table held by another run

    def flaky(work: dict[str, Any]) -> dict[str, Any]:
        if failures.get(work["table"]):
            failures[work["table"]] -= 1
            raise http_api.TableFailed("another run (x) is loading this database's table contact")
        return real(work)

    run = orchestrate(functions_index, {"migrate_table": flaky})

    assert run.outcome.runtime_status == "Completed", run.outcome.error
    assert run.attempts == {**dict.fromkeys(SAMPLE_TABLES, 1), "contact": 3}
    assert run.outcome.output["tables"]["contact"]["status"] == "loaded"
    assert run.most_in_flight == 2


def test_a_table_failing_every_attempt_fails_the_run_and_only_that_table(
    functions_index: Index, app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURBODATA_PARALLEL_TABLES", "4")
    monkeypatch.setenv("TURBODATA_TABLE_ATTEMPTS", "2")
    hold_table(app_db, "contact")  # a live run holds it for the whole orchestration
    monkeypatch.setenv("TURBODATA_LEASE_WAIT_SECONDS", "0")

    run = orchestrate(functions_index)

    assert run.outcome.runtime_status == "Failed"
    assert run.attempts == {**dict.fromkeys(SAMPLE_TABLES, 1), "contact": 2}
    status = run.outcome.custom_status
    assert status["ok"] is False and status["status"] == "failed"
    assert status["tables"]["account"]["status"] == "loaded"
    contact = status["tables"]["contact"]
    assert contact["status"] == "failed"
    assert "another run (20260101T000000Z-holder)" in contact["error"]
    assert "after 2 attempts" in contact["error"]
    assert "contact" in run.outcome.error


def hold_table(db_url: str, table: str) -> None:
    engine, _ = connect(db_url)
    with engine.begin() as conn:
        ledger.ensure(conn)
    lease.acquire(engine, "20260101T000000Z-holder", name=lease.table_lease(table), table=table)
    engine.dispose()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TURBODATA_PARALLEL_TABLES", "0"), ("TURBODATA_TABLE_ATTEMPTS", "many")],
)
def test_a_bad_fan_out_setting_is_an_error_not_a_default(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        http_api.fan_out_plan(http_api.MigrateRequest(tables=("account",)))


def test_a_snapshot_table_whose_files_are_gone_fails_the_fanned_out_run_too(
    functions_index: Index,
    tmp_path: Path,
    db_url: str,
    use_settings: Callable[[Settings], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`account` was loaded; its metadata then lists no file. A run over the whole lake fails
    it (its rows are kept); the Durable run and Data Factory's ForEach (`GET /api/tables`)
    left it out and succeeded."""
    monkeypatch.setenv("TURBODATA_TABLE_ATTEMPTS", "1")
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("name", "string", 20)]
    lake.write("account/2024.csv", "10000000-0000-0000-0000-000000000001,a\n")
    lake.write("contact/2024.csv", "10000000-0000-0000-0000-000000000002,c\n")
    listed = {"account": ["account/2024.csv"], "contact": ["contact/2024.csv"]}
    lake.write("model.json", model_json([entity(t, columns, f) for t, f in listed.items()]))
    use_settings(Settings(lake=str(lake.root), database_url=db_url))
    assert orchestrate(functions_index).outcome.output["ok"] is True
    listed["account"] = []
    lake.write("model.json", model_json([entity(t, columns, f) for t, f in listed.items()]))
    (lake.root / "account" / "2024.csv").unlink()

    run = orchestrate(functions_index)

    assert http_api.list_tables(http_api.MigrateRequest()) == ["contact", "account"]
    assert run.outcome.runtime_status == "Failed" and "account" in run.outcome.error
    status = run.outcome.custom_status
    assert status["ok"] is False and status["tables"]["account"]["status"] == "failed"
    assert "the lake has no snapshot of account" in status["tables"]["account"]["error"]
    assert status["tables"]["contact"]["status"] == "unchanged"
    assert row_counts(db_url, ["account"]) == {"account": 1}  # kept, not emptied


def test_listing_the_tables_creates_no_sqlite_file(
    tmp_path: Path, use_settings: Callable[[Settings], None]
) -> None:
    lake, database = LakeBuilder(tmp_path / "lake"), tmp_path / "out.sqlite"
    columns = [attribute("Id", "guid")]
    lake.write("account/1.csv", "10000000-0000-0000-0000-000000000001\n")
    listed = [entity("account", columns, ["account/1.csv"]), entity("contact", columns, [])]
    lake.write("model.json", model_json(listed))
    use_settings(Settings(lake=str(lake.root), database_url=f"sqlite:///{database}"))

    assert http_api.list_tables(http_api.MigrateRequest()) == ["account"]
    assert not database.exists()


# -- HTTP: 409 when the whole request is blocked -------------------------------------------------


def test_migrate_answers_409_naming_the_holder_when_every_table_is_held(
    functions_index: Index, app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURBODATA_LEASE_WAIT_SECONDS", "0")
    hold_table(app_db, "account")
    request = func.HttpRequest(
        method="POST", url="/api/migrate", body=b'{"tables": ["account"]}', headers={}
    )

    response = functions_index["migrate"].get_user_function()(request)

    assert response.status_code == 409
    body = json.loads(response.get_body())
    assert body["status"] == "blocked" and body["ok"] is False
    assert (
        "another run (20260101T000000Z-holder) is loading this database's table account"
        in (body["problems"][0])
    )
    other = func.HttpRequest(
        method="POST", url="/api/migrate", body=b'{"tables": ["contact"]}', headers={}
    )
    assert functions_index["migrate"].get_user_function()(other).status_code == 200


def test_a_retried_table_keeps_the_rows_its_failed_attempt_rejected(
    functions_index: Index, app_db: str, lake_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt commits a batch with a rejected row, then fails; the retry finds
    that batch applied. The run must not end `Completed`: Data Factory would go green over
    rows that were rejected."""
    monkeypatch.setenv("TURBODATA_TABLE_ATTEMPTS", "2")
    first_csv = sorted(lake_copy.glob("*/account/*.csv"))[0]
    first_csv.write_bytes(b"not-a-guid" + first_csv.read_bytes()[36:])
    real = functions_index["migrate_table"].get_user_function()
    failing = {"account": 1}

    def fails_after_loading(work: dict[str, Any]) -> dict[str, Any]:
        summary = real(work)
        if failing.get(work["table"]):  # its first batch committed, a later one failed
            failing[work["table"]] -= 1
            run_ended_as(app_db, summary["run_id"], "failed")
            raise http_api.TableFailed("a later batch failed (a dropped connection)")
        return summary

    run = orchestrate(functions_index, {"migrate_table": fails_after_loading})

    assert run.attempts["account"] == 2
    assert run.outcome.runtime_status == "Failed", run.outcome.output
    status = run.outcome.custom_status
    assert status["status"] == "completed_with_rejects" and status["ok"] is False
    assert status["tables"]["account"]["rejected_by_earlier_attempts"] == 1
    assert "account: 1 row(s) rejected by an earlier attempt" in str(run.outcome.error)


def test_a_problem_of_the_run_fails_it_without_failing_the_tables_that_loaded(
    functions_index: Index, app_db: str, lake_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder's model.json that cannot be read is a problem of the run (its folder is not
    loaded): the orchestration fails, but the tables keep what they loaded, as the
    synchronous run reports them, and none is tried again for it."""
    monkeypatch.setenv("TURBODATA_TABLE_ATTEMPTS", "2")
    model = lake_copy / "2025-02-03T10.15.00Z" / "model.json"
    model.write_bytes(model.read_bytes()[:100])

    run = orchestrate(functions_index)

    assert run.outcome.runtime_status == "Failed"
    assert run.attempts == dict.fromkeys(SAMPLE_TABLES, 1)
    tables = run.outcome.custom_status["tables"]
    assert tables["account"]["status"] == "loaded" and tables["account"]["rows_inserted"] > 0
    assert run.outcome.custom_status["problem_count"] > 0

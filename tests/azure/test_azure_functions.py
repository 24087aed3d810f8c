"""function_app.py in-process: the index the host loads, the HTTP contract, Durable, the timer.

The migrations are real: examples/lake (copied) into a SQLite file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock

import azure.durable_functions as df
import azure.functions as func
import durable_replay
import pytest
import sqlalchemy as sa
from azure.functions.timer import TimerRequest

from tests.lakebuilder import LakeBuilder, attribute
from turbodata import http_api
from turbodata.lake.layouts import OPTIONSET_TABLES
from turbodata.settings import Settings

Index = dict[str, Any]


def post(index: Index, name: str, body: bytes | str | dict[str, Any]) -> func.HttpResponse:
    data = (
        body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body))
    )
    data = data.encode() if isinstance(data, str) else data
    req = func.HttpRequest(method="POST", url=f"/api/{name}", body=data, headers={})
    return index[name].get_user_function()(req)


def body_of(resp: func.HttpResponse) -> dict[str, Any]:
    content_type = resp.headers.get("Content-Type") or resp.mimetype
    assert content_type.startswith("application/json")
    body = json.loads(resp.get_body())
    assert isinstance(body, dict), "Data Factory needs a JSON object"
    return body


def row_counts(db_file: Path) -> dict[str, int]:
    if not db_file.exists():
        return {}
    engine = sa.create_engine(f"sqlite:///{db_file}")
    with engine.connect() as conn:
        names = [n for n in sa.inspect(conn).get_table_names() if not n.startswith("_turbodata")]
        counts = {
            n: conn.execute(sa.text(f'SELECT COUNT(*) FROM "{n}"')).scalar_one() for n in names
        }
    engine.dispose()
    return counts


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "target.sqlite"


@pytest.fixture
def local_run(lake_copy: Path, db_file: Path, use_settings: Callable[[Settings], None]) -> Settings:
    settings = Settings(lake=str(lake_copy), database_url=f"sqlite:///{db_file}")
    use_settings(settings)
    return settings


# lakes where nothing is found, and what the answers must say of them
NOTHING_FOUND = {
    "README.txt": "it holds README.txt",  # the root holds no table
    "model.json": "model.json: invalid or truncated JSON",  # the plan's problem, table None
}


@pytest.fixture(params=sorted(NOTHING_FOUND))
def nothing_found(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    db_file: Path,
    use_settings: Callable[[Settings], None],
) -> str:
    """The app's lake holds only `request.param` (README.txt, or a model.json cut short):
    returns what the answers must say of it."""
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / request.param).write_text(
        '{"name": "cdm", "entities": [' if ".json" in request.param else "notes"
    )
    use_settings(Settings(lake=str(lake), database_url=f"sqlite:///{db_file}"))
    return NOTHING_FOUND[request.param]


# -- what the host indexes --------------------------------------------------------------------


def test_http_functions_routes_methods_and_auth(functions_index: Index) -> None:
    routes = {}
    for name in ("migrate", "migrations", "tables"):
        trigger = functions_index[name].get_trigger()
        assert trigger.auth_level == func.AuthLevel.FUNCTION
        routes[name] = (trigger.route, [str(m.value) for m in trigger.methods])
    assert routes == {
        "migrate": ("migrate", ["POST"]),
        "migrations": ("migrations", ["POST"]),
        "tables": ("tables", ["GET"]),
    }


def test_timer_durable_and_activity_functions_are_indexed(functions_index: Index) -> None:
    timer = functions_index["scheduled_migration"].get_trigger()
    assert timer.schedule == "%TURBODATA_SCHEDULE%"
    kinds = {n: f.get_trigger().get_binding_name() for n, f in functions_index.items()}
    assert kinds["migrate_orchestrator"] == "orchestrationTrigger"
    assert kinds["list_tables"] == kinds["migrate_table"] == "activityTrigger"
    bindings = [b.get_dict_repr()["type"] for b in functions_index["migrations"].get_bindings()]
    assert "durableClient" in bindings


# the sample lake's data tables, then its option-set tables (turbodata.lake.layouts)
SAMPLE_TABLES = ["account", "contact", *OPTIONSET_TABLES]


# -- POST /api/migrate ------------------------------------------------------------------------


def test_migrate_loads_everything_and_answers_200(
    functions_index: Index, local_run: Settings, db_file: Path
) -> None:
    resp = post(functions_index, "migrate", {})
    body = body_of(resp)
    assert resp.status_code == 200, body
    assert body["ok"] is True and body["status"] == "succeeded"
    assert set(body["tables"]) == set(SAMPLE_TABLES)
    assert row_counts(db_file) == {n: t["rows_inserted"] for n, t in body["tables"].items()}
    assert all(t["rows_inserted"] > 0 for t in body["tables"].values())


def test_empty_body_means_defaults(functions_index: Index, local_run: Settings) -> None:
    assert post(functions_index, "migrate", b"").status_code == 200


def test_tables_and_dry_run_are_honoured(
    functions_index: Index, local_run: Settings, db_file: Path
) -> None:
    resp = post(functions_index, "migrate", {"tables": ["contact"], "dry_run": True})
    body = body_of(resp)
    assert resp.status_code == 200, body
    assert list(body["tables"]) == ["contact"]
    assert body["dry_run"] is True
    assert row_counts(db_file) == {}
    resp = post(functions_index, "migrate", {"tables": ["contact"]})
    assert resp.status_code == 200
    assert set(row_counts(db_file)) == {"contact"}


def test_configured_table_list_is_the_default(
    functions_index: Index, lake_copy: Path, db_file: Path, use_settings: Any
) -> None:
    use_settings(
        Settings(lake=str(lake_copy), database_url=f"sqlite:///{db_file}", tables=("account",))
    )
    assert list(body_of(post(functions_index, "migrate", {}))["tables"]) == ["account"]


def test_unknown_table_is_a_500_json_object(functions_index: Index, local_run: Settings) -> None:
    resp = post(functions_index, "migrate", {"tables": ["nosuchtable"]})
    body = body_of(resp)
    assert resp.status_code == 500
    assert body["ok"] is False
    assert any("nosuchtable" in p for p in body["problems"])


def test_rejected_rows_are_a_500_with_the_summary(
    functions_index: Index, local_run: Settings, lake_copy: Path
) -> None:
    csv = sorted(lake_copy.glob("2025-*/account/*.csv"))[0]
    lines = csv.read_text().splitlines(keepends=True)
    bad = lines[0].split(",")
    bad[0] = '"not-a-guid"'  # the Id column is a guid
    csv.write_text(",".join(bad) + "".join(lines[1:]))
    resp = post(functions_index, "migrate", {"tables": ["account"]})
    body = body_of(resp)
    assert resp.status_code == 500, body
    assert body["tables"]["account"]["rows_rejected"] >= 1
    assert body["ok"] is False


def test_an_override_file_in_the_settings_releases_a_replaced_column(
    functions_index: Index, tmp_path: Path, db_file: Path, use_settings: Any
) -> None:
    """TURBODATA_TYPES is the Functions app's `--types`: a table refused for a column that
    took another's place loads once the file says `_renamed`; a broken file is a 500 naming
    its line."""
    lake = LakeBuilder(tmp_path / "lake")
    key = "00000000-0000-0000-0000-000000000001"
    old, new = [attribute("Id", "guid"), attribute("x")], [attribute("Id", "guid"), attribute("d")]
    lake.folder("2025-01-01T00.00.00Z", {"t": old}, {"t/1.csv": f"{key},x1\n"})
    lake.folder("2025-01-01T00.05.00Z", {"t": new}, {"t/1.csv": f"{key},d1\n"})
    settings = Settings(lake=str(lake.root), database_url=f"sqlite:///{db_file}")
    use_settings(settings)
    refused = body_of(post(functions_index, "migrate", {}))
    assert "column 'x' at position 2 is now 'd'" in refused["tables"]["t"]["error"]

    types = tmp_path / "types.yaml"
    types.write_text("t:\n  _renamed: [x]\n")
    use_settings(dataclasses.replace(settings, types_file=str(types)))
    broken = post(functions_index, "migrate", {})
    assert broken.status_code == 500 and "types.yaml, line 2" in body_of(broken)["error"]

    types.write_text("t: {_renamed: {x: d}}\n")
    loaded = post(functions_index, "migrate", {})
    assert loaded.status_code == 200, body_of(loaded)
    engine = sa.create_engine(f"sqlite:///{db_file}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql('SELECT "x", "d" FROM t').all() == [(None, "d1")]
    engine.dispose()


def test_settings_problems_are_a_500_json_object(functions_index: Index, use_settings: Any) -> None:
    use_settings(Settings(database_url="sqlite://"))
    resp = post(functions_index, "migrate", {})
    body = body_of(resp)
    assert resp.status_code == 500
    assert "TURBODATA_LAKE" in body["error"]
    assert body["ok"] is False and body["status"] == "failed"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'"tables"', None),
        ({"table": ["account"]}, "table"),
        ({"tables": "account"}, "tables"),
        ({"tables": []}, "tables"),
        ({"tables": ["account", 7]}, "tables"),
        ({"tables": [""]}, "tables"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"dry_run": 1}, "dry_run"),
        ({"lake": "/etc"}, "lake"),
        ({"lake": 5}, "lake"),
        ({"lake": "abfs://c/p?sig=x"}, "lake"),
        # a retry would not count the rejects of the attempts before it (found by review)
        ({"rejects_since": "2999-01-01T00:00:00+00:00"}, "rejects_since"),
    ],
)
def test_invalid_requests_get_400_naming_the_field(
    functions_index: Index,
    local_run: Settings,
    db_file: Path,
    start: Callable[..., Any],
    payload: Any,
    field: str | None,
) -> None:
    started, start_new = start(payload)
    for resp in (post(functions_index, "migrate", payload), started):
        body = body_of(resp)
        assert resp.status_code == 400
        assert body["field"] == field
        assert body["ok"] is False
        if field:
            assert field in body["error"]
    assert not db_file.exists()  # nothing ran
    start_new.assert_not_awaited()


def test_query_parameters_get_400_not_a_run_that_ignores_them(
    functions_index: Index, local_run: Settings, db_file: Path, start: Callable[..., Any]
) -> None:
    """`POST /api/migrate?dry_run=true&tables=contact` loaded every table for real, and the
    GET endpoints ignored `?lake=` (found by review). `code` is the function key."""
    started, start_new = start({}, {"dry_run": "true"})
    assert body_of(started)["field"] == "dry_run" and started.status_code == 400
    start_new.assert_not_awaited()  # no orchestration started
    calls = {
        "migrate": ("POST", {"dry_run": "true", "tables": "contact", "code": "k"}),
        "tables": ("GET", {"lake": "abfs://other@acct.dfs.core.windows.net/x"}),
        "status": ("GET", {"table": "account"}),
    }
    for name, (method, params) in calls.items():
        req = func.HttpRequest(method=method, url=f"/api/{name}", body=b"{}", params=params)
        answer = functions_index[name].get_user_function()(req)
        body = body_of(answer)
        assert (
            answer.status_code == 400
            and body["status"] == "invalid_request"
            and body["field"] in ("dry_run", "lake", "table")
        )
        assert "query parameters are not read" in body["error"]
    assert not db_file.exists()  # nothing ran
    req = func.HttpRequest(method="GET", url="/api/tables", body=b"", params={"code": "k"})
    assert functions_index["tables"].get_user_function()(req).status_code == 200


# -- GET /api/tables --------------------------------------------------------------------------


def test_tables_lists_what_a_run_would_load(functions_index: Index, local_run: Settings) -> None:
    req = func.HttpRequest(method="GET", url="/api/tables", body=b"")
    resp = functions_index["tables"].get_user_function()(req)
    assert resp.status_code == 200
    assert body_of(resp) == {"tables": SAMPLE_TABLES}


def test_tables_of_a_lake_where_nothing_is_found_is_a_500_saying_why(
    functions_index: Index, nothing_found: str
) -> None:
    """Not `{"tables": []}`: Data Factory's ForEach would loop over nothing and succeed."""
    req = func.HttpRequest(method="GET", url="/api/tables", body=b"")
    resp = functions_index["tables"].get_user_function()(req)
    body = body_of(resp)
    assert resp.status_code == 500, body
    assert body["ok"] is False and body["status"] == "failed" and body["tables"] == {}
    assert nothing_found in body["error"]
    assert body["problems"] == body_of(post(functions_index, "migrate", {}))["problems"]


# -- Durable: starter, orchestrator, activities -----------------------------------------------

CLIENT_BINDING = json.dumps(
    {
        "taskHubName": "TurbodataHub",
        "creationUrls": {
            "createNewInstancePostUri": "http://localhost:7071/runtime/webhooks/durabletask/orchestrators/{functionName}[/{instanceId}]?code=K",
            "createAndWaitOnNewInstancePostUri": "http://localhost:7071/runtime/webhooks/durabletask/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=K",
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID?taskHub=TurbodataHub&connection=Storage&code=K",
            "sendEventPostUri": "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID/raiseEvent/{eventName}?taskHub=TurbodataHub&connection=Storage&code=K",
            "terminatePostUri": "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID/terminate?reason={text}&taskHub=TurbodataHub&connection=Storage&code=K",
            "rewindPostUri": "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID/rewind?reason={text}&taskHub=TurbodataHub&connection=Storage&code=K",
            "purgeHistoryDeleteUri": "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID?taskHub=TurbodataHub&connection=Storage&code=K",
            "restartPostUri": "http://localhost:7071/runtime/webhooks/durabletask/instances/INSTANCEID/restart?taskHub=TurbodataHub&connection=Storage&code=K",
        },
        "baseUrl": "http://localhost:7071/runtime/webhooks/durabletask",
        "requiredQueryStringParameters": "code=K",
        "rpcBaseUrl": None,
        "httpBaseUrl": "",
        "maxGrpcMessageSizeInBytes": 0,
        "grpcHttpClientTimeout": "00:01:40",
    }
)


@pytest.fixture
def start(functions_index: Index, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Call the Durable starter as the host would: the client binding arrives as JSON.

    Only `start_new` (an HTTP call to the Durable extension) is replaced; the response is
    built by the real `DurableOrchestrationClient`.
    """
    start_new = AsyncMock(return_value="abc123")
    monkeypatch.setattr(df.DurableOrchestrationClient, "start_new", start_new)

    def call(
        payload: Any, params: dict[str, str] | None = None
    ) -> tuple[func.HttpResponse, AsyncMock]:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        url = "http://localhost:7071/api/migrations"
        req = func.HttpRequest(method="POST", url=url, body=data, params=params)
        starter = functions_index["migrations"].get_user_function()
        return asyncio.run(starter(req, client=CLIENT_BINDING)), start_new

    return call


def test_starter_answers_202_with_the_status_url(start: Callable[..., Any]) -> None:
    resp, start_new = start({"tables": ["account"], "dry_run": True})
    body = body_of(resp)
    assert resp.status_code == 202
    assert body["id"] == "abc123"
    assert body["statusQueryGetUri"].startswith(
        "http://localhost:7071/runtime/webhooks/durabletask/instances/abc123?"
    )
    assert resp.headers["Location"] == body["statusQueryGetUri"]
    start_new.assert_awaited_once_with(
        "migrate_orchestrator",
        client_input={"tables": ["account"], "dry_run": True, "lake": None},
    )


def activities(index: Index) -> dict[str, Callable[[Any], Any]]:
    return {name: index[name].get_user_function() for name in ("list_tables", "migrate_table")}


def orchestrate(index: Index, request: dict[str, Any], acts: dict[str, Any] | None = None) -> Any:
    handle = index["migrate_orchestrator"].get_user_function()
    return durable_replay.run(handle, request, acts or activities(index), "inst-42")


def test_orchestrator_fans_out_one_activity_per_table(
    functions_index: Index, local_run: Settings, db_file: Path
) -> None:
    request = http_api.MigrateRequest().to_dict()
    outcome = orchestrate(functions_index, request)
    assert outcome.runtime_status == "Completed", outcome.error
    assert outcome.activity_calls[0] == ("list_tables", request)
    table_calls = outcome.activity_calls[1:]
    assert [(name, work["table"]) for name, work in table_calls] == [
        ("migrate_table", t) for t in SAMPLE_TABLES
    ]
    for _, work in table_calls:  # each attempt counts the rejects of the ones before it
        since = datetime.fromisoformat(work["request"].pop("rejects_since"))
        assert since.tzinfo is not None and work["request"] == request
    summary = outcome.output
    assert summary["ok"] is True and summary["run_id"] == "inst-42"
    assert len(summary["run_ids"]) == len(SAMPLE_TABLES)
    assert row_counts(db_file) == {n: t["rows_inserted"] for n, t in summary["tables"].items()}
    assert outcome.custom_status["ok"] is True


def test_table_activities_run_in_groups_of_parallel_tables(
    functions_index: Index, local_run: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One table at a time by default (the database lease); together when allowed."""
    request = http_api.MigrateRequest().to_dict()
    one_by_one = orchestrate(functions_index, request)
    monkeypatch.setattr(http_api, "PARALLEL_TABLES", 4)
    together = orchestrate(functions_index, request)
    assert one_by_one.runtime_status == together.runtime_status == "Completed"
    # episodes: list_tables, then one per group of table activities, then the end
    groups_of_four = -(-len(SAMPLE_TABLES) // 4)
    assert (one_by_one.episodes, together.episodes) == (
        len(SAMPLE_TABLES) + 2,
        groups_of_four + 2,
    )
    assert http_api.table_groups(["a", "b", "c", "d", "e"]) == [["a", "b", "c", "d"], ["e"]]


def test_orchestration_fails_visibly_when_a_table_fails(
    functions_index: Index, local_run: Settings
) -> None:
    request = http_api.MigrateRequest(tables=("account", "nosuchtable")).to_dict()
    outcome = orchestrate(functions_index, request)
    assert outcome.runtime_status == "Failed"
    assert "nosuchtable" in outcome.error
    assert outcome.custom_status["ok"] is False
    assert outcome.custom_status["tables"]["account"]["status"] == "loaded"


def test_orchestration_fails_when_nothing_is_found_as_the_synchronous_run_does(
    functions_index: Index, nothing_found: str, db_file: Path
) -> None:
    request = http_api.MigrateRequest().to_dict()
    outcome = orchestrate(functions_index, request)
    assert outcome.runtime_status == "Failed", outcome.output
    assert outcome.activity_calls == [("list_tables", request)]
    assert row_counts(db_file) == {}
    resp = post(functions_index, "migrate", {})
    assert resp.status_code == 500
    (problem,) = body_of(resp)["problems"]
    assert nothing_found in problem and problem in outcome.error


def test_orchestration_of_no_table_fails(functions_index: Index, local_run: Settings) -> None:
    """However the plan came to list no table (a history replayed), loading nothing is not
    a success."""
    plan = {"tables": [], "parallel_tables": 1, "table_attempts": 1, "retry_seconds": 60}
    acts = {**activities(functions_index), "list_tables": lambda request: plan}
    outcome = orchestrate(functions_index, http_api.MigrateRequest().to_dict(), acts)
    assert outcome.runtime_status == "Failed", outcome.output
    assert "nothing to load" in outcome.error
    assert outcome.custom_status["ok"] is False
    assert outcome.custom_status["status"] == "failed"


def test_orchestration_fails_when_an_activity_crashes(
    functions_index: Index, local_run: Settings
) -> None:
    def crash(work: Any) -> Any:
        raise RuntimeError("worker died")

    acts = {**activities(functions_index), "migrate_table": crash}
    outcome = orchestrate(functions_index, http_api.MigrateRequest().to_dict(), acts)
    assert outcome.runtime_status == "Failed"
    assert "worker died" in outcome.error


# -- the timer --------------------------------------------------------------------------------


def test_timer_runs_and_logs_the_summary_and_past_due(
    functions_index: Index, local_run: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    timer = functions_index["scheduled_migration"].get_user_function()
    with caplog.at_level(logging.INFO):
        timer(TimerRequest(past_due=True))
    messages = [r.getMessage() for r in caplog.records]
    assert any("past due" in m for m in messages)
    (line,) = [m for m in messages if m.startswith("scheduled migration succeeded")]
    assert json.loads(line.split(": ", 1)[1])["ok"] is True


def test_timer_on_time_does_not_claim_past_due(
    functions_index: Index, local_run: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        functions_index["scheduled_migration"].get_user_function()(TimerRequest(past_due=False))
    assert not any("past due" in r.getMessage() for r in caplog.records)


def test_timer_fails_the_invocation_when_a_table_fails(
    functions_index: Index,
    lake_copy: Path,
    db_file: Path,
    use_settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    use_settings(
        Settings(lake=str(lake_copy), database_url=f"sqlite:///{db_file}", tables=("nosuchtable",))
    )
    with (
        caplog.at_level(logging.INFO),
        pytest.raises(http_api.MigrationFailed, match="nosuchtable"),
    ):
        functions_index["scheduled_migration"].get_user_function()(TimerRequest())
    assert any(
        r.levelno == logging.ERROR and "scheduled migration failed" in r.getMessage()
        for r in caplog.records
    )

"""turbodata as an Azure Functions app (Python v2 programming model). Triggers only.

- `POST /api/migrate` (function key): one synchronous run. Body
  `{"tables": [...]?, "dry_run": bool?, "lake": "abfs://..."?}`; answers the run summary as a
  JSON object, 200 when everything loaded, 500 when not, 409 when nothing was done because
  other runs held the database or every requested table (Data Factory's ForEach calls it per
  table: see infra/adf-pipeline-foreach.json), 400 naming the bad field (every body that is
  not a small JSON object of these fields, each given once, is a 400).
  HTTP calls are cut at 230 s by Azure's load balancer: use it for short runs and reruns.
- `POST /api/migrations` (function key): starts a Durable run (same body) and answers 202
  with `statusQueryGetUri`. The orchestrator fans out one activity per table, at most
  `TURBODATA_PARALLEL_TABLES` at once (in groups of that many: the next group starts when a
  group has finished), and fans in one summary. A table that fails (or that another run
  holds) is tried again after 60 s, up to `TURBODATA_TABLE_ATTEMPTS` attempts in all, without
  redoing the others. A run that did not load everything ends Failed (poll with
  `&returnInternalServerErrorOnFailure=true` to get a 500), its summary in `customStatus`; a
  clean run's summary is the `output`. A lake where nothing is found fails the run at once,
  the `list_tables` activity's error saying what the lake's root holds (no `customStatus`).
- `GET /api/tables` (function key): `{"tables": [...]}`, what a run would load; a lake where
  nothing is found is a 500 summary whose `problems` say what its root holds (as
  `POST /api/migrate`'s), so Data Factory's ForEach fails rather than loop over no table.
- `GET /api/status` (function key): `{"tables": [...]}`, per loaded table the object
  `turbodata status --json` prints; 500 with `{"ok": false, "error": ...}` when the database
  cannot be read.
- Timer `%TURBODATA_SCHEDULE%` (NCRONTAB app setting): the same run; logs its summary, logs
  past-due runs, and fails the invocation when a table did not load.

With APPLICATIONINSIGHTS_CONNECTION_STRING set, traces, metrics and logs go to Application
Insights (`turbodata.ops.telemetry`); with host.json's `"telemetryMode": "OpenTelemetry"` and the
app setting PYTHON_ENABLE_OPENTELEMETRY=true the worker makes the invocation the current span, so
it is the parent of each run's `turbodata.run` span.

Everything else lives in `turbodata.http_api`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import UTC
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.Task import TaskBase

from turbodata import http_api
from turbodata.http_api import MigrateRequest, RequestError
from turbodata.ops import telemetry

log = logging.getLogger("function_app")
try:  # once per worker process; a failure is logged, the functions still load the data
    telemetry.configure()
except Exception:
    log.exception("telemetry to Application Insights could not be set up")
app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

ORCHESTRATOR = "migrate_orchestrator"


def _json(body: dict[str, Any], status: int) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str), status_code=status, mimetype="application/json"
    )


def _refused_query(req: func.HttpRequest) -> func.HttpResponse | None:
    """A 400 for a query parameter other than `code` (the function key): the API reads its
    body only, and `POST /api/migrate?dry_run=true` ran a real load (found by review)."""
    extra = sorted(set(req.params) - {"code"})
    if not extra:
        return None
    message = "query parameters are not read: give fields in the JSON body (GET takes none)"
    return _json(RequestError(extra[0], message).to_dict(), 400)


def _parse(req: func.HttpRequest) -> MigrateRequest | func.HttpResponse:
    """The request in the body, or the JSON answer to send instead: 400 for a bad body or a
    query parameter, 500 when the app itself cannot check it (its settings): never a
    non-JSON error page."""
    if refused := _refused_query(req):
        return refused
    try:
        return http_api.parse_migrate_request(req.get_body())
    except RequestError as exc:
        return _json(exc.to_dict(), 400)
    except Exception as exc:
        log.exception("could not check the request")
        return _json(http_api.error_summary(exc), 500)


@app.function_name("migrate")
@app.route(route="migrate", methods=["POST"])
def migrate_http(req: func.HttpRequest) -> func.HttpResponse:
    request = _parse(req)
    if isinstance(request, func.HttpResponse):
        return request
    status, body = http_api.run_migration(request)
    return _json(body, status)


@app.function_name("tables")
@app.route(route="tables", methods=["GET"])
def tables_http(req: func.HttpRequest) -> func.HttpResponse:
    if refused := _refused_query(req):
        return refused
    try:
        tables = http_api.list_tables(MigrateRequest())
    except Exception as exc:
        log.exception("could not list the tables")
        return _json(http_api.error_summary(exc), 500)
    return _json({"tables": tables}, 200)


@app.function_name("status")
@app.route(route="status", methods=["GET"])
def status_http(req: func.HttpRequest) -> func.HttpResponse:
    if refused := _refused_query(req):
        return refused
    try:
        tables = http_api.table_status()
    except Exception as exc:
        log.exception("could not read the status")
        return _json(http_api.error_body(exc), 500)
    return _json({"tables": tables}, 200)


@app.function_name("migrations")
@app.route(route="migrations", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_migration(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    request = _parse(req)
    if isinstance(request, func.HttpResponse):
        return request
    instance_id = await client.start_new(ORCHESTRATOR, client_input=request.to_dict())
    log.info("started Durable migration %s", instance_id)
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR, input_type=dict)
def migrate_orchestrator(context: df.DurableOrchestrationContext) -> Any:
    request = context.get_input() or {}
    plan = yield context.call_activity(list_tables, request, expected_type=dict)
    # a table's next attempt finds what the one before committed: its rejects count too
    started = context.current_utc_datetime.replace(tzinfo=UTC).isoformat()
    request = {**request, "rejects_since": request.get("rejects_since") or started}
    parts: dict[str, dict[str, Any]] = {}
    for group in http_api.table_groups(plan["tables"], plan["parallel_tables"]):
        tasks = {t: _table_activity(context, plan, request, t) for t in group}
        try:
            yield context.task_all(list(tasks.values()))
        except Exception:  # a table failed every attempt: the group's others still run
            for task in tasks.values():
                if not task.is_completed:
                    with contextlib.suppress(Exception):
                        yield task
        parts.update({t: _part(task, t, plan["table_attempts"]) for t, task in tasks.items()})
    results = [parts[t] for t in plan["tables"]]
    summary = http_api.combine(results, run_id=context.instance_id)
    context.set_custom_status(http_api.compact(summary))
    if not summary["ok"]:
        raise http_api.MigrationFailed(summary)
    return summary


def _table_activity(
    context: df.DurableOrchestrationContext,
    plan: dict[str, Any],
    request: dict[str, Any],
    table: str,
) -> TaskBase:
    work = {"request": request, "table": table}
    attempts = plan["table_attempts"]
    if attempts <= 1:
        return context.call_activity(migrate_table, work, expected_type=dict)
    retry = df.RetryOptions(plan["retry_seconds"] * 1000, attempts)
    return context.call_activity_with_retry(migrate_table, retry, work, expected_type=dict)


def _part(task: TaskBase, table: str, attempts: int) -> dict[str, Any]:
    """A finished table activity's summary; for one that failed every attempt, a failed
    table built from its error (the activity's own summary is in the ledger's runs)."""
    if isinstance(task.result, Exception):
        return http_api.failed_part(table, str(task.result), attempts)
    return task.result


@app.activity_trigger(input_name="request", activity="list_tables")
def list_tables(request: dict[str, Any]) -> dict[str, Any]:
    return http_api.fan_out_plan(MigrateRequest.from_dict(request))


@app.activity_trigger(input_name="work", activity="migrate_table")
def migrate_table(work: dict[str, Any]) -> dict[str, Any]:
    """One table; raises TableFailed when it did not load, so that the retry policy runs it
    again (its summary then is in the error and in the ledger)."""
    summary = http_api.migrate_one_table(MigrateRequest.from_dict(work["request"]), work["table"])
    if http_api.table_failed(summary, work["table"]):
        raise http_api.TableFailed(http_api.failure_line(summary))
    return summary


@app.function_name("scheduled_migration")
@app.timer_trigger(schedule="%TURBODATA_SCHEDULE%", arg_name="timer", run_on_startup=False)
def scheduled_migration(timer: func.TimerRequest) -> None:
    http_api.run_scheduled(past_due=timer.past_due)

"""Every bad HTTP body is a 400 with a JSON object, through both HTTP starters; nothing runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock

import azure.durable_functions as df
import azure.functions as func
import pytest
from test_azure_functions import CLIENT_BINDING

from turbodata import http_api
from turbodata.settings import Settings

Index = dict[str, Any]

BAD_BODIES: dict[str, tuple[bytes, str | None]] = {
    "deep arrays": (b'{"tables": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None),
    "deep objects": (b'{"x": ' * 50_000 + b"1" + b"}" * 50_000, None),
    "deep, unclosed": (b"[" * 100_000, None),
    "a key twice": (b'{"dry_run": true, "dry_run": false}', "dry_run"),
    "a key twice, escaped": (b'{"tables": ["a"], "\\u0074ables": ["b"]}', "tables"),
    "too large": (json.dumps({"tables": ["t" * 100] * 1_000}).encode(), None),
    "not UTF-8": (b'{"tables": ["caf\xe9"]}', None),
    "NaN": (b'{"dry_run": NaN}', None),
    "a number": (b"7", None),
    "null": (b"null", None),
}


@pytest.fixture
def no_run(
    tmp_path: Path, use_settings: Callable[[Settings], None], monkeypatch: pytest.MonkeyPatch
) -> Iterator[AsyncMock]:
    """Settings whose database must stay untouched, and a Durable start that must not happen."""
    db_file = tmp_path / "target.sqlite"
    use_settings(Settings(lake=str(tmp_path), database_url=f"sqlite:///{db_file}"))
    start_new = AsyncMock(return_value="abc123")
    monkeypatch.setattr(df.DurableOrchestrationClient, "start_new", start_new)
    yield start_new
    start_new.assert_not_awaited()
    assert not db_file.exists()


def answers(index: Index, body: bytes) -> list[func.HttpResponse]:
    """What POST /api/migrate and POST /api/migrations answer to `body`."""
    migrate = index["migrate"].get_user_function()
    starter = index["migrations"].get_user_function()
    req = func.HttpRequest(method="POST", url="http://localhost:7071/api/migrate", body=body)
    return [migrate(req), asyncio.run(starter(req, client=CLIENT_BINDING))]


@pytest.mark.parametrize("name", BAD_BODIES)
def test_bad_bodies_get_a_400_json_object(
    functions_index: Index, no_run: AsyncMock, name: str
) -> None:
    body, field = BAD_BODIES[name]
    for resp in answers(functions_index, body):
        assert resp.status_code == 400
        assert resp.mimetype == "application/json"
        answer = json.loads(resp.get_body())
        assert isinstance(answer, dict)
        assert answer["ok"] is False and answer["status"] == "invalid_request"
        assert answer["field"] == field
        assert len(answer["error"]) < 200  # one line, not the body echoed back


def test_a_body_within_the_limits_is_accepted() -> None:
    tables = [f"table_{i}" for i in range(500)]
    request = http_api.parse_migrate_request(json.dumps({"tables": tables, "dry_run": True}))
    assert request.tables == tuple(tables) and request.dry_run is True
    nested = b'{"tables": ["a"], "lake": null, "dry_run": false}'
    assert http_api.parse_migrate_request(nested).tables == ("a",)
    assert http_api.parse_migrate_request('{"tables": ["caf\\u00e9", "x\\"]["]}').tables == (
        "café",
        'x"][',
    )


def test_settings_that_fail_while_checking_the_lake_are_a_500_json_object(
    functions_index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> Settings:
        raise RuntimeError("the app settings cannot be read")

    monkeypatch.setattr(http_api, "load_settings", broken)
    migrate = functions_index["migrate"].get_user_function()
    req = func.HttpRequest(
        method="POST",
        url="/api/migrate",
        body=b'{"lake": "abfs://raw@acct.dfs.core.windows.net/x"}',
    )
    resp = migrate(req)
    assert resp.status_code == 500
    assert "cannot be read" in json.loads(resp.get_body())["error"]


def test_a_durable_runs_summary_keeps_each_tables_plan_warnings_once() -> None:
    part = {"run_id": "r1", "ok": True, "tables": {}, "problems": [], "warnings": ["w: stray"]}
    other = {**part, "run_id": "r2", "warnings": ["w: stray", "w: stale changelog"]}

    combined = http_api.combine([part, other], "run")

    assert combined["ok"] and combined["warnings"] == ["w: stray", "w: stale changelog"]
    assert "warnings" not in http_api.compact(combined)
    many = {**part, "warnings": [f"w{n}" for n in range(http_api.MAX_PROBLEMS + 7)]}
    capped = http_api.combine([many], "run")
    assert len(capped["warnings"]) == http_api.MAX_PROBLEMS and capped["warnings_omitted"] == 7


def test_a_durable_runs_custom_status_stays_under_durables_limit_with_hundreds_of_tables() -> None:
    """Durable keeps at most 16 KB (UTF-16) of custom status; with every table in it, a run
    of about 50 tables went over (found by review): Durable fails such an orchestration,
    or leaves it Running. Failed and rejecting tables are the ones kept."""

    def table(status: str, rejected: int = 0, error: str | None = None) -> dict:
        return {"status": status, "rows_inserted": 3, "rows_rejected": rejected, "error": error}

    tables = {f"msdyn_customerassetattribute_{n:03d}": table("loaded") for n in range(300)}
    tables |= {
        "msdyn_failing": table("failed", error="x" * 5_000),
        "new_rejecting": table("loaded", 2),
    }
    part = {"run_id": "r", "ok": False, "tables": tables, "problems": ["p"], "warnings": []}
    combined = http_api.combine([part] * 1, "run")
    combined["run_ids"] = [f"20260101T000000Z-{n:08x}" for n in range(300)]

    status = http_api.compact(combined)

    size = len(json.dumps(status).encode("utf-16-le"))
    assert size <= http_api.MAX_STATUS_BYTES < 16 * 1024
    assert status["ok"] is False and status["problem_count"] == 1
    assert status["tables_by_status"] == {"loaded": 301, "failed": 1}
    assert status["tables"]["msdyn_failing"]["error"] == "x" * http_api.STATUS_ERROR_CHARS
    assert status["tables"]["new_rejecting"]["rows_rejected"] == 2
    assert status["tables_omitted"] == 302 - len(status["tables"]) > 0
    assert "run_ids" not in status
    small = http_api.compact(http_api.combine([{**part, "tables": {"a": table("loaded")}}], "r"))
    assert small["tables"]["a"]["status"] == "loaded" and "tables_omitted" not in small
    assert small["run_ids"] == ["r"]


def refused_connection() -> TimeoutError:
    """What pytds raises for a refused connection: a bare TimeoutError from the OSError."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as refused:
            raise TimeoutError() from refused
    except TimeoutError as bare:
        return bare


def test_an_error_without_text_is_answered_with_its_cause() -> None:
    cause = "TimeoutError (ConnectionRefusedError: [Errno 111] Connection refused)"
    summary = http_api.error_summary(refused_connection(), ["account"])
    assert summary["error"] == cause and summary["problems"] == [cause]
    assert summary["tables"]["account"]["error"] == cause
    assert http_api.error_body(refused_connection())["error"] == cause  # not doubled
    assert str(http_api.MigrationFailed(summary)).endswith(f"account: {cause}; {cause}")


def test_a_run_failed_only_by_an_earlier_attempts_rejects_names_its_table_and_why() -> None:
    line = "account: 1 row(s) rejected by an earlier attempt since …; `turbodata rejects`"
    account = {"status": "unchanged", "rows_rejected": 0, "rejected_by_earlier_attempts": 1}
    summary = {
        "status": "completed_with_rejects",
        "tables": {"account": {**account, "problems": [line]}, "contact": {"status": "loaded"}},
        "problems": [],
    }
    message = str(http_api.MigrationFailed(summary))
    not_clean = "migration completed_with_rejects: tables not loaded cleanly: account"
    assert message == f"{not_clean}; {line}"

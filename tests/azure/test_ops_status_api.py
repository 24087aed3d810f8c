"""`GET /api/status` in-process: what `turbodata status --json` prints, as one JSON object."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from turbodata.cli import main
from turbodata.settings import Settings

Index = dict[str, Any]
SECRET = "Status-Api-Secret-4412"


def get_status(index: Index) -> func.HttpResponse:
    req = func.HttpRequest(method="GET", url="/api/status", body=b"")
    return index["status"].get_user_function()(req)


def body_of(resp: func.HttpResponse) -> dict[str, Any]:
    assert (resp.headers.get("Content-Type") or resp.mimetype).startswith("application/json")
    body = json.loads(resp.get_body())
    assert isinstance(body, dict)
    return body


def test_status_is_a_get_route_behind_the_function_key(functions_index: Index) -> None:
    trigger = functions_index["status"].get_trigger()
    assert trigger.auth_level == func.AuthLevel.FUNCTION
    assert (trigger.route, [str(m.value) for m in trigger.methods]) == ("status", ["GET"])


def test_status_answers_the_cli_status_json_objects(
    functions_index: Index,
    lake_copy: Path,
    tmp_path: Path,
    use_settings: Callable[[Settings], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = f"sqlite:///{tmp_path / 'target.sqlite'}"
    assert main(["migrate", "--lake", str(lake_copy), "--db", db, "--table", "account"]) == 0
    capsys.readouterr()
    assert main(["status", "--db", db, "--json"]) == 0
    cli_rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    use_settings(Settings(lake=str(lake_copy), database_url=db))

    resp = get_status(functions_index)

    body = body_of(resp)
    assert resp.status_code == 200, body
    assert body == {"tables": cli_rows}
    [account] = body["tables"]
    assert account["table"] == "account" and account["rows"] > 0
    assert account["last_status"] == "loaded"


def test_a_database_never_loaded_answers_no_tables(
    functions_index: Index, tmp_path: Path, use_settings: Callable[[Settings], None]
) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    use_settings(Settings(database_url=f"sqlite:///{empty}"))

    resp = get_status(functions_index)

    assert resp.status_code == 200
    assert body_of(resp) == {"tables": []}


@pytest.mark.parametrize(
    "database_url",
    [
        f"postgresql+psycopg://loader:{SECRET}@127.0.0.1:1/turbodata",  # nothing listens
        "sqlite:///{tmp}/missing.sqlite",  # never created by a read
    ],
)
def test_a_database_that_cannot_be_read_is_a_500_with_one_masked_line(
    functions_index: Index,
    tmp_path: Path,
    use_settings: Callable[[Settings], None],
    database_url: str,
) -> None:
    use_settings(Settings(database_url=database_url.format(tmp=tmp_path)))

    resp = get_status(functions_index)

    body = body_of(resp)
    assert resp.status_code == 500
    assert body["ok"] is False
    assert body["error"] and "\n" not in body["error"]
    assert SECRET not in resp.get_body().decode()
    assert not (tmp_path / "missing.sqlite").exists()


def test_settings_without_a_database_are_a_500_naming_the_setting(
    functions_index: Index, use_settings: Callable[[Settings], None]
) -> None:
    use_settings(Settings())

    body = body_of(get_status(functions_index))

    assert body["ok"] is False and "TURBODATA_DATABASE_URL" in body["error"]

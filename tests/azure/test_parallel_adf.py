"""infra/adf-pipeline-foreach.json: GET /api/tables, then a ForEach calling POST /api/migrate per
table; checked as tests/azure/test_azure_adf.py checks the Durable pipeline, and the bodies it
would send run real migrations through the Functions app."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from adf_expressions import Scope, evaluate
from test_azure_adf import activities_by_name, http_routes, value

from turbodata.http_api import FIELDS, parse_migrate_request
from turbodata.settings import Settings

INFRA = Path(__file__).resolve().parents[2] / "infra"
Activity = dict[str, Any]


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    return json.loads((INFRA / "adf-pipeline-foreach.json").read_text())


@pytest.fixture(scope="module")
def activities(pipeline: dict[str, Any]) -> dict[str, Activity]:
    return activities_by_name(pipeline)


def test_it_lists_the_tables_then_loads_them_in_a_bounded_parallel_foreach(
    pipeline: dict[str, Any], activities: dict[str, Activity]
) -> None:
    assert pipeline["properties"]["parameters"] == {
        "tables": {"type": "Array", "defaultValue": []},
        "dryRun": {"type": "Bool", "defaultValue": False},
    }
    top = [a["name"] for a in pipeline["properties"]["activities"]]
    assert top == ["ListTables", "LoadEachTable"]
    loop = activities["LoadEachTable"]
    assert loop["type"] == "ForEach"
    assert loop["dependsOn"] == [{"activity": "ListTables", "dependencyConditions": ["Succeeded"]}]
    props = loop["typeProperties"]
    assert props["isSequential"] is False
    assert isinstance(props["batchCount"], int) and 2 <= props["batchCount"] <= 50  # ADF's limit
    assert [a["name"] for a in props["activities"]] == ["MigrateTable"]


def test_function_calls_name_existing_routes_and_methods(
    activities: dict[str, Activity], functions_index: dict[str, Any]
) -> None:
    routes = http_routes(functions_index)
    linked = json.loads((INFRA / "adf-linked-service.json").read_text())
    calls = {n: a for n, a in activities.items() if a["type"] == "AzureFunctionActivity"}
    assert {
        n: (a["typeProperties"]["functionName"], a["typeProperties"]["method"])
        for n, a in calls.items()
    } == {"ListTables": ("tables", "GET"), "MigrateTable": ("migrate", "POST")}
    for call in calls.values():
        props = call["typeProperties"]
        assert props["method"] in routes[value(props["functionName"])]
        assert ("body" in props) == (props["method"] == "POST")
        assert call["linkedServiceName"]["referenceName"] == linked["name"]
        assert call["policy"]["retry"] >= 1  # a 409 (table held) or a 500 is tried again


@pytest.mark.parametrize("parameter", [[], ["contact"]])
def test_the_loop_runs_over_the_listed_tables_unless_the_pipeline_names_some(
    activities: dict[str, Activity], parameter: list[str]
) -> None:
    items = value(activities["LoadEachTable"]["typeProperties"]["items"])
    listed = {"ListTables": {"tables": ["account", "contact"]}}
    scope = Scope(parameters={"tables": parameter, "dryRun": False}, outputs=listed)
    assert evaluate(items, scope) == (parameter or ["account", "contact"])


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("table", ["account", "msdyn_customerasset", "GlobalOptionsetMetadata"])
def test_each_iteration_asks_the_app_for_exactly_its_table(
    activities: dict[str, Activity], dry_run: bool, table: str
) -> None:
    body = value(activities["MigrateTable"]["typeProperties"]["body"])
    payload = evaluate(body, Scope(parameters={"tables": [], "dryRun": dry_run}, item=table))
    assert isinstance(payload, dict) and set(payload) <= set(FIELDS)
    request = parse_migrate_request(json.dumps(payload))
    assert request.tables == (table,) and request.dry_run is dry_run
    # a retry of the activity counts the rows an earlier attempt rejected since the trigger
    assert request.rejects_since == Scope().trigger_time


def test_what_the_pipeline_sends_loads_each_table_through_the_app(
    activities: dict[str, Activity],
    functions_index: dict[str, Any],
    lake_copy: Path,
    tmp_path: Path,
    use_settings: Callable[[Settings], None],
) -> None:
    """ListTables' answer feeds the loop; every iteration's body gets 200 from /api/migrate."""
    use_settings(Settings(lake=str(lake_copy), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    listing = functions_index["tables"].get_user_function()(
        func.HttpRequest(method="GET", url="/api/tables", body=b"", headers={})
    )
    assert listing.status_code == 200
    outputs = {"ListTables": json.loads(listing.get_body())}
    parameters = {"tables": [], "dryRun": False}
    items = evaluate(
        value(activities["LoadEachTable"]["typeProperties"]["items"]),
        Scope(parameters=parameters, outputs=outputs),
    )
    assert "account" in items and "contact" in items
    body = value(activities["MigrateTable"]["typeProperties"]["body"])
    for table in items:
        payload = json.dumps(evaluate(body, Scope(parameters=parameters, item=table)))
        request = func.HttpRequest(
            method="POST", url="/api/migrate", body=payload.encode(), headers={}
        )
        answer = functions_index["migrate"].get_user_function()(request)
        summary = json.loads(answer.get_body())
        assert answer.status_code == 200, summary
        assert list(summary["tables"]) == [table]


def test_dependencies_and_expressions_reference_existing_activities(
    pipeline: dict[str, Any], activities: dict[str, Activity]
) -> None:
    import re

    referenced = set(re.findall(r"activity\('([^']+)'\)", json.dumps(pipeline)))
    assert referenced == {"ListTables"}
    inner = activities["LoadEachTable"]["typeProperties"]["activities"]
    assert all(not a.get("dependsOn") for a in inner)

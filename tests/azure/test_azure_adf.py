"""infra/adf-pipeline.json: its structure, and that what it calls exists in function_app.py.

The expressions are evaluated (a checker for the subset used) so the request bodies the
pipeline would send are validated by the Functions app's own request parser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from adf_expressions import Scope, evaluate

from turbodata.http_api import FIELDS, parse_migrate_request

INFRA = Path(__file__).resolve().parents[2] / "infra"
STATUS_URI = (
    "https://app.azurewebsites.net/runtime/webhooks/durabletask/instances/abc"
    "?taskHub=TurbodataHub&connection=Storage&code=K"
)
Activity = dict[str, Any]


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    return json.loads((INFRA / "adf-pipeline.json").read_text())


@pytest.fixture(scope="module")
def activities(pipeline: dict[str, Any]) -> dict[str, Activity]:
    return activities_by_name(pipeline)


def activities_by_name(pipeline: dict[str, Any]) -> dict[str, Activity]:
    """Every activity of the pipeline, nested ones too, by its (unique) name."""
    found: dict[str, Activity] = {}
    for activity in walk(pipeline["properties"]["activities"]):
        assert activity["name"] not in found, f"duplicate activity name {activity['name']}"
        found[activity["name"]] = activity
    return found


def walk(activities: list[Activity]) -> Iterator[Activity]:
    for activity in activities:
        yield activity
        props = activity.get("typeProperties", {})
        for key in ("activities", "ifTrueActivities", "ifFalseActivities"):
            yield from walk(props.get(key, []))


def value(node: Any) -> Any:
    return node["value"] if isinstance(node, dict) and node.get("type") == "Expression" else node


def http_routes(functions_index: dict[str, Any]) -> dict[str, set[str]]:
    routes = {}
    for function in functions_index.values():
        trigger = function.get_trigger()
        if trigger.get_binding_name() == "httpTrigger":
            routes[trigger.route] = {str(m.value) for m in trigger.methods}
    return routes


def test_parameters_and_loops(pipeline: dict[str, Any], activities: dict[str, Activity]) -> None:
    params = pipeline["properties"]["parameters"]
    assert params["tables"] == {"type": "Array", "defaultValue": []}
    assert params["dryRun"] == {"type": "Bool", "defaultValue": False}
    for loop in (a for a in activities.values() if a["type"] == "ForEach"):
        assert 1 <= loop["typeProperties"].get("batchCount", 20) <= 50  # bounded, ADF's limit


def test_function_calls_name_existing_routes_and_methods(
    activities: dict[str, Activity], functions_index: dict[str, Any]
) -> None:
    routes = http_routes(functions_index)
    calls = [a for a in activities.values() if a["type"] == "AzureFunctionActivity"]
    assert {a["typeProperties"]["functionName"] for a in calls} == {"migrations"}
    linked = json.loads((INFRA / "adf-linked-service.json").read_text())
    for call in calls:
        props = call["typeProperties"]
        route = value(props["functionName"]).split("?", 1)[0]
        assert route in routes, f"{call['name']} calls /api/{route}, which function_app lacks"
        assert props["method"] in routes[route]
        assert ("body" in props) == (props["method"] in ("POST", "PUT"))
        assert call["linkedServiceName"]["referenceName"] == linked["name"]
    assert linked["properties"]["type"] == "AzureFunction"
    key = linked["properties"]["typeProperties"]["functionKey"]
    assert key["type"] == "AzureKeyVaultSecret"  # no key in the file


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize("tables", [[], ["account"], ["account", "contact"]])
def test_request_bodies_are_accepted_by_the_app(
    activities: dict[str, Activity], dry_run: bool, tables: list[str]
) -> None:
    bodies = [
        a["typeProperties"]["body"]
        for a in activities.values()
        if a["type"] == "AzureFunctionActivity" and "body" in a["typeProperties"]
    ]
    assert bodies
    for body in bodies:
        payload = evaluate(value(body), Scope(parameters={"tables": tables, "dryRun": dry_run}))
        assert isinstance(payload, dict) and set(payload) <= set(FIELDS)
        request = parse_migrate_request(json.dumps(payload))
        assert request.tables == (tuple(tables) or None)  # empty: the app's default list
        assert request.dry_run is dry_run


def test_poller_makes_a_failed_run_fail_the_pipeline(activities: dict[str, Activity]) -> None:
    poll = activities["WaitForMigration"]
    assert poll["type"] == "WebActivity"
    assert poll["typeProperties"]["method"] == "GET"
    start = {"StartMigration": {"id": "abc", "statusQueryGetUri": STATUS_URI}}
    url = evaluate(value(poll["typeProperties"]["url"]), Scope(outputs=start))
    query = parse_qs(urlsplit(url).query)
    assert query["returnInternalServerErrorOnFailure"] == ["true"]
    assert query["code"] == ["K"]  # the status URL's own key survives
    check = activities["CheckRuntimeStatus"]
    assert check["type"] == "IfCondition"
    expression = value(check["typeProperties"]["expression"])
    for status, ok in (("Completed", True), ("Failed", False), ("Terminated", False)):
        outputs = {"WaitForMigration": {"runtimeStatus": status}}
        assert evaluate(expression, Scope(outputs=outputs)) is ok
    assert [a["type"] for a in check["typeProperties"]["ifFalseActivities"]] == ["Fail"]


def test_the_durable_management_key_stays_out_of_the_run_history(
    activities: dict[str, Activity],
) -> None:
    """The starter's 202 answer holds URLs with the Durable system key (`code=`: it can
    terminate, purge or rewind any instance), and the poller's input is such a URL: their
    output and input are kept secure, out of the pipeline's run history (found by review)."""
    assert activities["StartMigration"]["policy"]["secureOutput"] is True
    assert activities["WaitForMigration"]["policy"]["secureInput"] is True


def test_dependencies_point_at_earlier_siblings(pipeline: dict[str, Any]) -> None:
    def check(level: list[Activity]) -> None:
        seen: set[str] = set()
        for activity in level:
            for dep in activity.get("dependsOn", []):
                assert dep["activity"] in seen, f"{activity['name']} depends on {dep['activity']}"
                assert dep["dependencyConditions"] == ["Succeeded"]
            seen.add(activity["name"])
            props = activity.get("typeProperties", {})
            for key in ("activities", "ifTrueActivities", "ifFalseActivities"):
                check(props.get(key, []))

    check(pipeline["properties"]["activities"])


def test_expressions_only_reference_existing_activities(
    pipeline: dict[str, Any], activities: dict[str, Activity]
) -> None:
    import re

    text = json.dumps(pipeline)
    referenced = set(re.findall(r"activity\('([^']+)'\)", text))
    assert referenced and referenced <= set(activities)

"""The release path: .github/workflows/deploy.yml and CHANGELOG.md.

The workflow must only run for version tags, sign in to Azure by OIDC with no stored secret,
wait for the approval of an environment, and deploy infra and code. Its version check is run
here for real, with bash, against the repository's pyproject.toml and CHANGELOG.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "deploy.yml"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def step_named(workflow: dict[Any, Any], job: str, words: str) -> dict[str, Any]:
    return next(s for s in steps(workflow, job) if words in s.get("name", ""))


def test_it_runs_only_for_version_tags(workflow: dict[Any, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers == {"push": {"tags": ["v*"]}}


def test_no_stored_secret_is_used(workflow: dict[Any, Any]) -> None:
    text = WORKFLOW.read_text()
    assert "secrets." not in text
    assert not re.search(r"(?i)client-secret|publish-profile|creds:|password", text)
    login = next(s for s in steps(workflow, "deploy") if s.get("uses", "").startswith("azure/"))
    assert login["uses"].startswith("azure/login@")
    assert login["with"] == {
        "client-id": "${{ vars.AZURE_CLIENT_ID }}",
        "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
        "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}",
    }


def test_only_the_deploy_job_may_ask_for_an_oidc_token(workflow: dict[Any, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    deploy = workflow["jobs"]["deploy"]
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    assert "permissions" not in workflow["jobs"]["check"]


def test_deployment_waits_for_the_checks_and_an_approved_environment(
    workflow: dict[Any, Any],
) -> None:
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "check"
    assert deploy["environment"] == "production"
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert any(s.get("run") == "./scripts/test" for s in steps(workflow, "check"))


def test_it_deploys_the_infrastructure_then_the_code_then_the_function_key(
    workflow: dict[Any, Any],
) -> None:
    runs = [s.get("run", "") for s in steps(workflow, "deploy")]
    infra = next(i for i, r in enumerate(runs) if "--template-file infra/main.bicep" in r)
    code = next(i for i, r in enumerate(runs) if "config-zip" in r)
    key = next(i for i, r in enumerate(runs) if "--template-file infra/function-key.bicep" in r)
    assert infra < code < key
    assert "az deployment group create" in runs[infra]
    package = next(r for r in runs if "zip -r app.zip" in r)
    for part in ("function_app.py", "host.json", "requirements.txt", "turbodata"):
        assert part in package


def test_every_action_is_pinned_to_a_version(workflow: dict[Any, Any]) -> None:
    for job in workflow["jobs"]:
        for step in steps(workflow, job):
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@(v\d+|[0-9a-f]{40})", step["uses"]), step


def run_version_check(workflow: dict[Any, Any], tag: str) -> subprocess.CompletedProcess[str]:
    script = step_named(workflow, "check", "tag is the package version")["run"]
    environment = {**os.environ, "GITHUB_REF_NAME": tag}
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_version_check_passes_for_the_package_version(workflow: dict[Any, Any]) -> None:
    done = run_version_check(workflow, f"v{VERSION}")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_version_check_refuses_another_tag(workflow: dict[Any, Any]) -> None:
    done = run_version_check(workflow, "v99.0.0")
    assert done.returncode == 1
    assert f"tag v99.0.0 is not v{VERSION}" in done.stdout


def test_the_changelog_has_unreleased_and_the_current_version() -> None:
    headings = re.findall(r"(?m)^## \[([^\]]+)\]", (REPO / "CHANGELOG.md").read_text())
    assert headings[0] == "Unreleased"
    assert VERSION in headings

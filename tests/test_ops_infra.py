"""infra/*.bicep, checked without a Bicep compiler (none can be installed here).

What can be checked from the text: brackets and strings balance; every setting the app reads
(`turbodata.settings.ENVIRONMENT`) is set by the Bicep or listed as optional in
docs/deploy.md, and no app setting is a name the app does not know; the role definition ids
are the built-in roles they are named after, assigned on the scopes the docs promise, and
nothing broader; no key or secret value in the main template; Data Factory gets every
pipeline and the linked services they reference; what a deployer must pass is documented.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from turbodata.settings import ENVIRONMENT

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
MAIN = INFRA / "main.bicep"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Azure's built-in roles: the same id in every tenant (learn.microsoft.com built-in roles).
BUILT_IN_ROLES = {
    "storageBlobDataReader": ("Storage Blob Data Reader", "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"),
    "storageBlobDataOwner": ("Storage Blob Data Owner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"),
    "storageQueueDataContributor": (
        "Storage Queue Data Contributor",
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    ),
    "storageTableDataContributor": (
        "Storage Table Data Contributor",
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    ),
    "keyVaultSecretsUser": ("Key Vault Secrets User", "4633458b-17de-408a-b874-0445c86b69e6"),
    "monitoringMetricsPublisher": (
        "Monitoring Metrics Publisher",
        "3913510d-42f4-4e42-8a64-420c390055eb",
    ),
}
TOO_BROAD = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
}
# role assignments of main.bicep: (scope, role) as the docs describe them
EXPECTED_ASSIGNMENTS = {
    ("hostStorage", "storageBlobDataOwner", "identity"),
    ("hostStorage", "storageQueueDataContributor", "identity"),
    ("hostStorage", "storageTableDataContributor", "identity"),
    ("vault", "keyVaultSecretsUser", "identity"),
    ("vault", "keyVaultSecretsUser", "factory"),
    ("appInsights", "monitoringMetricsPublisher", "identity"),
}


# ------------------------------------------------------------------------- Bicep reading


def code_only(text: str) -> str:
    """The Bicep text with comments removed and every string literal emptied to ''."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            assert end >= 0, "unclosed /* comment"
            i = end + 2
        elif text[i] == "'":
            i = _string_end(text, i)
            out.append("''")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    """The index after the string literal starting at `start` (a ' quote)."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == "'":
            return i + 1
        else:
            i += 1
    raise AssertionError(f"unterminated string at offset {start}")


def uncommented(text: str) -> str:
    return re.sub(r"(?m)^\s*//.*$|\s//[^'\n]*$", "", text)


def block(text: str, header: str) -> str:
    """The text between the braces that follow `header` (a regular expression)."""
    match = re.search(header, text)
    assert match, f"{header!r} not found"
    start = text.index("{", match.end())
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i]
    raise AssertionError(f"unbalanced braces after {header!r}")


def resources(text: str, type_name: str) -> dict[str, str]:
    """Symbolic name -> body of every resource of `type_name` (any API version)."""
    pattern = rf"resource (\w+) '{re.escape(type_name)}@[\d-]+(?:-preview)?' ="
    return {name: block(text, rf"resource {name} '") for name in re.findall(pattern, text)}


def params(text: str) -> dict[str, str | None]:
    """Parameter name -> default expression (None when the deployer must give it)."""
    found = {}
    for name, rest in re.findall(r"(?m)^param (\w+) \w+(.*)$", text):
        default = rest.partition("=")[2].strip()
        found[name] = default or None
    return found


@pytest.fixture(scope="module")
def main() -> str:
    return uncommented(MAIN.read_text())


@pytest.fixture(scope="module")
def deploy_doc() -> str:
    return (REPO / "docs" / "deploy.md").read_text()


# ------------------------------------------------------------------------------ the tests


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_brackets_and_strings_balance(path: Path) -> None:
    code = code_only(path.read_text())
    for opening, closing in ("{}", "[]", "()"):
        depth = 0
        for line_number, line in enumerate(code.splitlines(), 1):
            depth += line.count(opening) - line.count(closing)
            assert depth >= 0, f"{path.name}:{line_number}: unexpected {closing}"
        assert depth == 0, f"{path.name}: {opening} not closed"


def test_infra_has_the_templates_the_docs_name() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in BICEP_FILES}
    assert names == {"main.bicep", "function-key.bicep", "modules/lake-reader.bicep"}


def test_every_setting_the_app_reads_is_set_or_documented_optional(
    main: str, deploy_doc: str
) -> None:
    app_settings = set(re.findall(r"(?m)^\s*(\w+):", block(main, r"resource appSettings ")))
    optional = set(re.findall(r"`(TURBODATA_\w+)`", _section(deploy_doc, "Optional settings")))

    missing = set(ENVIRONMENT.values()) - app_settings - optional
    assert not missing, f"set these in main.bicep or list them as optional: {sorted(missing)}"
    assert not (app_settings & optional), "a setting is both set and listed as optional"
    unknown = {s for s in app_settings if s.startswith("TURBODATA_")} - set(ENVIRONMENT.values())
    assert not unknown, f"the app does not read {sorted(unknown)}"
    assert {
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "AZURE_CLIENT_ID",
    } <= app_settings
    # Flex Consumption takes the runtime from functionAppConfig and refuses these settings
    assert not app_settings & {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"}


def _section(markdown: str, title: str) -> str:
    match = re.search(rf"(?ms)^#+ {re.escape(title)}\n(.*?)(?=^#+ |\Z)", markdown)
    assert match, f"section {title!r} not found"
    return match.group(1)


def test_role_ids_are_the_built_in_roles_they_are_named_after(main: str) -> None:
    table = dict(re.findall(r"(\w+): '([0-9a-f-]{36})'", block(main, r"var roles =")))
    assert table == {name: role_id for name, (_, role_id) in BUILT_IN_ROLES.items()}


def test_no_broader_role_is_assigned_anywhere() -> None:
    for path in BICEP_FILES:
        text = path.read_text().lower()
        for name, role_id in TOO_BROAD.items():
            assert role_id not in text, f"{path.name} assigns {name}"


def test_roles_are_assigned_on_the_narrowest_scope(main: str) -> None:
    found = set()
    for name, body in resources(main, "Microsoft.Authorization/roleAssignments").items():
        scope = re.search(r"scope: (\w+)", body)
        role = re.search(r"roleDefinitions', roles\.(\w+)\)", body)
        principal = re.search(r"principalId: (\w+)\.", body)
        assert scope and role and principal, name
        found.add((scope.group(1), role.group(1), principal.group(1)))
    assert found == EXPECTED_ASSIGNMENTS

    lake = block(main, r"module lakeReader ")
    assert "roleDefinitionId: roles.storageBlobDataReader" in lake
    assert "principalId: identity.properties.principalId" in lake
    module = (INFRA / "modules" / "lake-reader.bicep").read_text()
    assert re.search(r"resource reader '[^']+' = \{[^}]*scope: container", module, re.S)


def test_the_app_runs_as_the_user_assigned_identity_without_keys(main: str) -> None:
    app = block(main, r"resource functionApp ")
    assert "type: 'UserAssigned'" in app and "'${identity.id}'" in app
    assert "type: 'UserAssignedIdentity'" in app  # the deployment container, too
    assert "runtime: { name: 'python'" in app
    plan = block(main, r"resource plan ")
    assert "tier: 'FlexConsumption'" in plan and "name: 'FC1'" in plan
    assert "allowSharedKeyAccess: false" in block(main, r"resource hostStorage ")
    assert "enableRbacAuthorization: true" in block(main, r"resource vault ")
    assert "workspace.id" in block(main, r"resource appInsights ")
    settings = block(main, r"resource appSettings ")
    assert "AZURE_CLIENT_ID: identity.properties.clientId" in settings
    assert "AzureWebJobsStorage__clientId: identity.properties.clientId" in settings
    for leak in ("listKeys", "AccountKey", "@secure", "SharedAccessSignature", "password"):
        assert leak.lower() not in main.lower(), leak


def test_data_factory_gets_every_pipeline_and_the_linked_services_they_use(main: str) -> None:
    pipelines = sorted(p.name for p in INFRA.glob("adf-pipeline*.json"))
    loaded = re.findall(r"loadJsonContent\('([^']+)'\)", main)
    assert set(pipelines) <= set(loaded)
    linked = json.loads((INFRA / "adf-linked-service.json").read_text())
    assert "adf-linked-service.json" in loaded
    vault_reference = linked["properties"]["typeProperties"]["functionKey"]["store"]
    assert f"name: '{vault_reference['referenceName']}'" in main
    for name in pipelines:
        pipeline = json.loads((INFRA / name).read_text())
        references = re.findall(r'"referenceName": "(\w+)"', json.dumps(pipeline, indent=1))
        assert set(references) <= {linked["name"], vault_reference["referenceName"]}, name


def test_the_function_key_secret_is_the_one_data_factory_reads() -> None:
    linked = json.loads((INFRA / "adf-linked-service.json").read_text())
    secret = linked["properties"]["typeProperties"]["functionKey"]["secretName"]
    defaults = params((INFRA / "function-key.bicep").read_text())
    assert defaults["secretName"] == f"'{secret}'"


def test_what_a_deployer_must_give_is_documented_and_passed_by_the_workflow(
    main: str, deploy_doc: str
) -> None:
    required = sorted(name for name, default in params(main).items() if default is None)
    assert required == ["lakeContainerName", "lakeStorageAccountName", "sqlDatabase", "sqlServer"]
    workflow = (REPO / ".github" / "workflows" / "deploy.yml").read_text()
    for name in required:
        assert f"`{name}`" in deploy_doc, name
        assert f"{name}=" in workflow, name
    for output in re.findall(r"(?m)^output (\w+) ", main):
        assert f"`{output}`" in deploy_doc, output


def test_the_security_doc_lists_exactly_the_roles_the_templates_assign() -> None:
    security = (REPO / "docs" / "security.md").read_text()
    rows = re.findall(r"(?m)^\| ([^|]+?) \| ", _section(security, "Roles"))
    listed = set(rows) - {"Role", "---"}
    assert listed == {display_name for display_name, _ in BUILT_IN_ROLES.values()}

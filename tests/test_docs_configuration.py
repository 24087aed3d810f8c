"""docs/configuration.md and local.settings.json.example are generated from the settings object
(`infra/settings_doc.py`) and current; every setting is described; no page, example or message
names a `TURBODATA_*` setting the app does not know."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from turbodata import http_api, pipeline
from turbodata.settings import ENVIRONMENT, PLATFORM_SETTING_DOCS, SETTING_DOCS, TOOLING, Settings

REPO = Path(__file__).resolve().parents[1]
# a whole TURBODATA_ name, not a prefix such as `TURBODATA_DATABASE_*`
SETTING_NAME = re.compile(r"TURBODATA_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_*])")
# TURBODATA_ variables that are not app settings, and who reads them
NOT_APP_SETTINGS = {"TURBODATA_FIXTURES": "the test suite: where the fixture corpus is"}
NOT_FROM_ENVIRONMENT = {"credential", "key_vault_options"}  # injected by tests or a program


@pytest.fixture(scope="module")
def settings_doc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_doc", REPO / "infra/settings_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_current(settings_doc: ModuleType) -> None:
    for path, text in settings_doc.generated_files().items():
        assert path.read_text() == text, f"{path.name} is stale: run python infra/settings_doc.py"


def test_check_reports_a_stale_page(
    settings_doc: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text(settings_doc.render_markdown().replace("TURBODATA_SQL_DRIVER", "DRIVER"))
    monkeypatch.setattr(settings_doc, "CONFIGURATION_MD", stale)
    monkeypatch.setattr(settings_doc, "LOCAL_SETTINGS_EXAMPLE", tmp_path / "local.settings.json")

    assert settings_doc.main(["--check"]) == 1
    assert "configuration.md is out of date" in capsys.readouterr().out
    assert settings_doc.main([]) == 0  # rewrites it
    assert settings_doc.main(["--check"]) == 0


def test_every_environment_field_is_a_documented_setting() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)} - NOT_FROM_ENVIRONMENT
    assert set(ENVIRONMENT) == fields
    for name, doc in SETTING_DOCS.items():
        assert doc.variable.startswith("TURBODATA_"), name
        assert len(doc.meaning.split()) >= 5, f"{doc.variable} needs a description"
    for doc in PLATFORM_SETTING_DOCS:
        assert len(doc.meaning.split()) >= 3, doc.variable


def test_page_describes_every_setting_with_its_default(settings_doc: ModuleType) -> None:
    page = (REPO / "docs/configuration.md").read_text()
    for doc in (*SETTING_DOCS.values(), *PLATFORM_SETTING_DOCS):
        assert f"### `{doc.variable}`" in page
    assert "Default: `ODBC Driver 18 for SQL Server`." in page
    assert "`core.windows.net,core.chinacloudapi.cn,core.usgovcloudapi.net`" in page


def test_defaults_have_one_source() -> None:
    """A default is written in SETTING_DOCS only where the dataclass does not hold it."""
    for f in dataclasses.fields(Settings):
        if f.name in SETTING_DOCS and f.default:
            assert SETTING_DOCS[f.name].default is None, f"{f.name}: the dataclass says it"


@pytest.mark.parametrize(
    ("name", "in_code"),
    [
        ("lease_wait_seconds", pipeline.DEFAULT_LEASE_WAIT_SECONDS),
        ("parallel_tables", http_api.PARALLEL_TABLES),
        ("table_attempts", http_api.TABLE_ATTEMPTS),
    ],
)
def test_defaults_read_where_they_act_match_the_code(name: str, in_code: float) -> None:
    documented = SETTING_DOCS[name].default or ""
    assert float(documented.split()[0]) == in_code


def _named_settings(path: Path) -> set[str]:
    return set(SETTING_NAME.findall(path.read_text())) - set(NOT_APP_SETTINGS)


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "local.settings.json.example",
        *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md")),
        "function_app.py",
        *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "turbodata").rglob("*.py")),
    ],
)
def test_every_named_setting_is_known(path: str) -> None:
    unknown = _named_settings(REPO / path) - {*ENVIRONMENT.values(), *TOOLING}
    assert not unknown, f"{path} names settings the app does not read: {sorted(unknown)}"


def test_the_name_pattern_finds_settings_and_skips_prefixes() -> None:
    text = "`TURBODATA_LAKE`, TURBODATA_DATABASE_* and TURBODATA_* settings; $TURBODATA_TABLE."
    assert SETTING_NAME.findall(text) == ["TURBODATA_LAKE", "TURBODATA_TABLE"]


def test_json_descriptions_drop_markup_but_keep_code(settings_doc: ModuleType) -> None:
    text = "**Names** the `*_SECRET` vault, *Key Vault Secrets User*, schedule `0 0 2 * * *`."
    expected = "Names the *_SECRET vault, Key Vault Secrets User, schedule 0 0 2 * * *."
    assert settings_doc.plain(text) == expected

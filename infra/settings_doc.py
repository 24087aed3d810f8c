"""Write docs/configuration.md and local.settings.json.example from turbodata.settings.

Each setting is described once, in `turbodata.settings.SETTING_DOCS` (and
`PLATFORM_SETTING_DOCS` for the settings the Functions host and the Azure SDK read). Defaults
come from the `Settings` dataclass where it has one; whether a setting is a list, a secret
value or a Key Vault secret's name comes from the code (`LIST_VALUED`, `SECRET_VALUED`, the
`_SECRET` suffix), so the pages cannot drift from what the code does:

    .venv/bin/python infra/settings_doc.py          # rewrite both files
    .venv/bin/python infra/settings_doc.py --check  # exit 1 if either is out of date
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere: import the checkout's turbodata

from turbodata.settings import (  # noqa: E402
    LIST_VALUED,
    PLATFORM_SETTING_DOCS,
    SECRET_VALUED,
    SETTING_DOCS,
    SettingDoc,
    Settings,
)

WIDTH = 96  # the Markdown's line length
CONFIGURATION_MD = REPO / "docs" / "configuration.md"
LOCAL_SETTINGS_EXAMPLE = REPO / "local.settings.json.example"
GENERATED = (
    "<!-- Generated from turbodata/settings.py by `python infra/settings_doc.py`: "
    "edit the descriptions there, not here. -->"
)
INTRO = """\
# Configuration reference

The CLI and the Functions app read one `Settings` object (`turbodata.settings`) from the
environment:

- **In Azure** the Function App's *app settings* are the environment. `infra/main.bicep` sets
  the ones a deployment needs ([deploy.md](deploy.md)); the others below are optional.
- **Locally** the Functions host (`func start`) reads `local.settings.json`: copy
  `local.settings.json.example` (generated from the same descriptions as this page) and keep
  the copy out of git (it is ignored). The CLI reads the shell's environment; its `--lake` and
  `--db` options replace `TURBODATA_LAKE` and the database settings.

An empty value means unset. A `TURBODATA_*` name that is not listed here is ignored with a
warning (a typo), but for the variables of turbodata's own scripts and tests
(`TURBODATA_ROOT`, `TURBODATA_ARTIFACTS`, `TURBODATA_FIXTURES`, `TURBODATA_PG_BINDIR`,
`TURBODATA_MSSQL_URL`). Contradictions (two databases, a server without a database, a `*_SECRET`
without `TURBODATA_KEY_VAULT_URL`) stop the app with an error naming the settings.

**The database** is exactly one of: `TURBODATA_SQL_SERVER` + `TURBODATA_SQL_DATABASE` (Entra
token from the app's identity, no password anywhere), `TURBODATA_DATABASE_URL_SECRET`, or
`TURBODATA_DATABASE_URL` (with `TURBODATA_DATABASE_PASSWORD_SECRET` for its password).

**Secrets.** No setting holds a secret value in plain text. Either a setting *names* a secret
(the `*_SECRET` settings): the app reads it from the Key Vault at `TURBODATA_KEY_VAULT_URL` with
its identity (`DefaultAzureCredential`; the identity needs *Key Vault Secrets User*). Or a
setting whose value is secret is an App Service **Key Vault reference**,
`@Microsoft.KeyVault(SecretUri=https://VAULT.vault.azure.net/secrets/NAME/)`, that the platform
resolves before the app starts; a reference left unresolved (it arrives as text) is an error
naming the setting. Every secret the app reads, and every password inside a URL, is masked as
`***` in logs, summaries and HTTP answers ([security.md](security.md)).
"""


def default_text(name: str, doc: SettingDoc) -> str:
    """What an unset setting means: the dataclass default, else the documented one."""
    value = next(f for f in dataclasses.fields(Settings) if f.name == name).default
    if isinstance(value, tuple):
        value = ",".join(value)
    if value:
        return f"`{value}`"
    return doc.default or "unset"


def notes(name: str, doc: SettingDoc) -> list[str]:
    """What the code does with the setting's value, beyond its meaning."""
    found = []
    if name in LIST_VALUED:
        found.append("A comma-separated list; spaces around entries and empty entries are ignored.")
    if name in SECRET_VALUED:
        found.append(
            "**May hold a secret** (a password or account key): in Azure, give it as a Key Vault "
            "reference. The password or key is masked wherever the app shows the value."
        )
    if doc.variable.endswith("_SECRET"):
        found.append(
            "**Names a Key Vault secret** (the name, not the value) in the vault at "
            "`TURBODATA_KEY_VAULT_URL`."
        )
    return found


def wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(
        text,
        width=WIDTH,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def setting_section(doc: SettingDoc, details: list[str]) -> str:
    lines = [f"### `{doc.variable}`", "", wrap(doc.meaning), ""]
    lines += [wrap(f"- {line}", indent="  ") for line in details]
    return "\n".join(lines).rstrip() + "\n"


def kinds(name: str, doc: SettingDoc) -> str:
    """The summary table's short form of `notes`."""
    found = [
        kind
        for kind, applies in (
            ("list", name in LIST_VALUED),
            ("may hold a secret", name in SECRET_VALUED),
            ("Key Vault secret name", doc.variable.endswith("_SECRET")),
        )
        if applies
    ]
    return ", ".join(found)


def summary_table() -> list[str]:
    rows = ["| Setting | Default | Kind |", "|---|---|---|"]
    for name, doc in SETTING_DOCS.items():
        link = f"[`{doc.variable}`](#{doc.variable.lower()})"  # GitHub's heading anchor
        rows.append(f"| {link} | {default_text(name, doc)} | {kinds(name, doc)} |")
    return [*rows, ""]


def render_markdown() -> str:
    sections = [GENERATED, "", INTRO, "## turbodata settings", "", *summary_table()]
    for name, doc in SETTING_DOCS.items():
        details = [f"Default: {default_text(name, doc)}.", *notes(name, doc)]
        sections.append(setting_section(doc, details))
    sections += ["## Platform settings", "", "Read by the Functions host or the Azure SDK.", ""]
    sections += [setting_section(doc, []) for doc in PLATFORM_SETTING_DOCS]
    return "\n".join(sections).rstrip() + "\n"


def plain(markdown: str) -> str:
    """Markdown without code and emphasis marks, for the JSON file's strings (a `*` inside
    a code span, as in `0 0 2 * * *`, is text and stays)."""
    parts = re.split(r"(`[^`]*`)", markdown)
    return "".join(p[1:-1] if p.startswith("`") else p.replace("*", "") for p in parts)


def render_local_settings() -> str:
    values: dict[str, str] = {}
    documentation = {
        "_": "Copy to local.settings.json (git-ignored). In Azure these are app settings. An "
        "empty value means unset. No value here may ever be a secret: name Key Vault secrets "
        "instead, or use a Key Vault reference @Microsoft.KeyVault(SecretUri=...) as the app "
        "setting's value in Azure. Generated by infra/settings_doc.py; docs/configuration.md "
        "has the same text.",
    }
    for name, doc in SETTING_DOCS.items():
        values[doc.variable] = doc.example or ""
        text = " ".join([doc.meaning, f"Default: {default_text(name, doc)}.", *notes(name, doc)])
        documentation[doc.variable] = plain(text)
    for doc in PLATFORM_SETTING_DOCS:
        if doc.example is not None:
            values[doc.variable] = doc.example
            documentation[doc.variable] = plain(doc.meaning)
    example = {"IsEncrypted": False, "Values": values, "SettingsDocumentation": documentation}
    return json.dumps(example, indent=2, ensure_ascii=False) + "\n"


def generated_files() -> dict[Path, str]:
    return {CONFIGURATION_MD: render_markdown(), LOCAL_SETTINGS_EXAMPLE: render_local_settings()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    files = generated_files()
    if args.check:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
        for path in stale:
            print(f"{path.name} is out of date: run python infra/settings_doc.py")
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""host.json, local.settings.json.example and requirements.txt: present, consistent, no secrets."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from turbodata.settings import ENVIRONMENT, Settings

REPO = Path(__file__).resolve().parents[2]


def test_host_json_has_timeout_logging_and_the_durable_bundle() -> None:
    host = json.loads((REPO / "host.json").read_text())
    assert host["version"] == "2.0"
    hours, minutes, seconds = (int(x) for x in host["functionTimeout"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds > 0  # Flex Consumption / Premium allow 1 h
    assert host["logging"]["logLevel"]["default"] == "Information"
    bundle = host["extensionBundle"]
    assert bundle["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert bundle["version"].startswith("[4.")  # Durable for Python v2 needs bundle 4.x
    durable = host["extensions"]["durableTask"]
    assert durable["maxConcurrentActivityFunctions"] >= 1
    assert host["extensions"]["http"]["routePrefix"] == "api"


def test_local_settings_example_documents_every_setting_without_secrets() -> None:
    example = json.loads((REPO / "local.settings.json.example").read_text())
    values, docs = example["Values"], example["SettingsDocumentation"]
    assert set(ENVIRONMENT.values()) <= set(values)
    assert set(values) <= set(docs), "every value needs a line of documentation"
    for name, text in values.items():
        assert not re.search(r"(?i)(accountkey|password|pwd|sig|secret)=", text), name
    Settings.from_env(values)  # the example is a valid configuration


def test_requirements_pin_every_runtime_dependency_compatibly() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [
        Requirement(r)
        for r in project["dependencies"] + project["optional-dependencies"]["functions"]
    ]
    lines = (REPO / "requirements.txt").read_text().splitlines()
    assert lines[0].startswith("# Generated from pyproject.toml")
    pinned = {}
    for line in lines:
        if line and not line.startswith("#"):
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            pinned[req.name.lower()] = (req, spec.version)
    assert set(pinned) == {r.name.lower() for r in wanted}
    for req in wanted:
        pin, version = pinned[req.name.lower()]
        assert req.specifier.contains(version), f"{pin} does not satisfy {req}"
        assert pin.extras == req.extras

"""tests/browser/chromium.py: a browser found is used as it is; a missing one is installed
once with apt-get (after an update when the first try fails); no way to install fails."""

from __future__ import annotations

import pytest

from tests.browser import chromium


@pytest.fixture()
def machine(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """A machine without Chromium whose commands are recorded, not run."""
    state: dict[str, object] = {"installed": False, "commands": [], "fail_first_install": False}

    def run(command: list[str]) -> int:
        commands = state["commands"]
        assert isinstance(commands, list)
        commands.append(command)
        if command[-1] == "chromium":
            if state["fail_first_install"] and len(commands) == 1:
                return 100
            state["installed"] = True
        return 0

    def which(name: str) -> str | None:
        if name == "apt-get":
            return "/usr/bin/apt-get"
        return "/usr/bin/chromium" if name == "chromium" and state["installed"] else None

    monkeypatch.delenv("TURBODATA_CHROMIUM", raising=False)
    monkeypatch.setattr(chromium, "DEBIAN_CHROMIUM", chromium.Path("/nonexistent/chromium"))
    monkeypatch.setattr(chromium.shutil, "which", which)
    monkeypatch.setattr(chromium, "_run", run)
    monkeypatch.setattr(chromium.os, "geteuid", lambda: 0)
    return state


def test_a_missing_browser_is_installed_with_apt_get(machine: dict[str, object]) -> None:
    assert chromium.ensure_chromium() == "/usr/bin/chromium"
    assert machine["commands"] == [["apt-get", "install", "-y", "chromium"]]
    assert chromium.ensure_chromium() == "/usr/bin/chromium"  # found now: nothing runs again
    assert len(machine["commands"]) == 1  # type: ignore[arg-type]


def test_a_failed_install_updates_the_package_list_and_tries_again(
    machine: dict[str, object],
) -> None:
    machine["fail_first_install"] = True
    assert chromium.ensure_chromium() == "/usr/bin/chromium"
    assert machine["commands"] == [
        ["apt-get", "install", "-y", "chromium"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "chromium"],
    ]


def test_without_root_or_sudo_it_fails_saying_what_to_run(
    machine: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chromium.os, "geteuid", lambda: 1000)
    with pytest.raises(chromium.ChromiumNotAvailable, match="sudo apt-get install -y chromium"):
        chromium.ensure_chromium()
    assert machine["commands"] == []


def test_a_configured_browser_that_is_not_there_is_an_error(
    machine: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURBODATA_CHROMIUM", "/nonexistent/chrome")
    with pytest.raises(chromium.ChromiumNotAvailable, match="TURBODATA_CHROMIUM"):
        chromium.ensure_chromium()
    assert machine["commands"] == []

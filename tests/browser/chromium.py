"""Finding a Chromium-family browser, installing Debian's `chromium` when there is none.

`ensure_chromium()` is idempotent and quick once a browser is there: it looks at
$TURBODATA_CHROMIUM, then /usr/bin/chromium and the usual names on PATH (Google Chrome counts:
GitHub's Ubuntu runners have it, and Ubuntu's `chromium` package is only a snap shim). When
none is found it runs `apt-get install -y chromium` as root (the CI here), or through
passwordless sudo, with one `apt-get update` and a retry when the package list is stale.
Anything else fails the test with the command to run: a browser test is never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
NAMES_ON_PATH = ("chromium", "google-chrome", "google-chrome-stable", "chromium-browser")
INSTALL_TIMEOUT = 900  # seconds; the package and its libraries are ~100 MB


class ChromiumNotAvailable(RuntimeError):
    """No browser, and none could be installed; the message says what to run."""


def find_chromium() -> str | None:
    configured = os.environ.get("TURBODATA_CHROMIUM")
    if configured:
        if not os.access(configured, os.X_OK):
            raise ChromiumNotAvailable(f"TURBODATA_CHROMIUM={configured} is not an executable")
        return configured
    if os.access(DEBIAN_CHROMIUM, os.X_OK):
        return str(DEBIAN_CHROMIUM)
    for name in NAMES_ON_PATH:
        if found := shutil.which(name):
            return found
    return None


def ensure_chromium() -> str:
    """The path of a Chromium-family browser, installed first if needed."""
    if found := find_chromium():
        return found
    apt = _apt_command()
    print("no Chromium found: installing Debian's chromium package", flush=True)
    if _run([*apt, "install", "-y", "chromium"]) != 0:
        _run([*apt, "update"])  # a stale or missing package list is the usual cause
        _run([*apt, "install", "-y", "chromium"])
    if found := find_chromium():
        return found
    raise ChromiumNotAvailable(
        "installing chromium failed; run 'apt-get install -y chromium' as root, or set "
        "TURBODATA_CHROMIUM to a Chromium or Chrome executable"
    )


def _apt_command() -> list[str]:
    if not shutil.which("apt-get"):
        raise ChromiumNotAvailable(
            "no Chromium found and no apt-get to install it: set TURBODATA_CHROMIUM to a "
            "Chromium or Chrome executable"
        )
    if os.geteuid() == 0:
        return ["apt-get"]
    if shutil.which("sudo") and _run(["sudo", "-n", "true"]) == 0:
        return ["sudo", "-n", "apt-get"]
    raise ChromiumNotAvailable(
        "no Chromium found, and installing it needs root: run 'sudo apt-get install -y "
        "chromium' (or set TURBODATA_CHROMIUM)"
    )


def _run(command: list[str]) -> int:
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        command, env=environment, timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL, check=False
    )
    return done.returncode

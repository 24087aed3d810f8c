"""Write requirements.txt for the Functions host from pyproject.toml.

The Functions host installs `requirements.txt` (it does not read pyproject.toml). This pins
turbodata's runtime dependencies and the `functions` extra to the versions installed in the
current environment (the ones the test suite ran with):

    .venv/bin/python infra/requirements.py          # rewrite requirements.txt
    .venv/bin/python infra/requirements.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
HEADER = """\
# Generated from pyproject.toml by `python infra/requirements.py` — do not edit by hand.
# What the Azure Functions host installs: turbodata's runtime dependencies plus the
# `functions` extra, pinned to the versions the test suite ran with. The app deploys the
# turbodata/ package folder next to function_app.py, so turbodata itself is not listed.
"""


def requirements(pyproject: Path = REPO / "pyproject.toml") -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["functions"]
    return [Requirement(r) for r in wanted]


def render(reqs: list[Requirement]) -> str:
    lines = []
    for req in sorted(reqs, key=lambda r: r.name.lower()):
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        lines.append(f"{req.name}{extras}=={version(req.name)}")
    return HEADER + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    target = REPO / "requirements.txt"
    text = render(requirements())
    if args.check:
        current = target.read_text() if target.exists() else ""
        if current != text:
            print("requirements.txt is out of date: run python infra/requirements.py")
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

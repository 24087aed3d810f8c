"""The console examples of the README and the docs/ pages run as written and print what the
pages show, so the two cannot drift apart; bench/README's flags exist.

Every ```console block (and every ```sh block that builds a lake under `out/`) of the pages in
DOCUMENTS runs, page after page in that order (later pages continue with the `out/mini` lake
that docs/rejects.md builds), in one scratch folder that links `examples/` and `.venv/`, the way
a reader runs them from the repository root. Outputs are compared line by line, after blanking what
changes from run to run (run ids, seconds) and collapsing column padding; a `...` line
stands for any lines. The `--json` example, trimmed in the README, is compared key by key.
`./scripts/demo` runs the command it prints (the venv it would set up is this one). Where the
`sqlite3` shell is not installed, a stand-in prints `-header -column` output the same way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
SECONDS = re.compile(r" \d+\.\d\d$")  # the last column of a run's table
DEMO = "./scripts/demo"
DEMO_COMMAND = "turbodata migrate --lake examples/lake --db sqlite:///out/demo.sqlite"
VOLATILE_KEYS = {"run_id", "started_at", "finished_at", "seconds", "lake", "ddl"}
# the pages whose examples run, in the order a reader follows them
DOCUMENTS = (
    "README.md",
    "docs/rejects.md",
    "docs/database.md",
    "docs/reruns.md",
    "docs/troubleshooting.md",
    "docs/monitoring.md",
)


@dataclass
class Step:
    command: str
    expected: list[str]
    page: str = ""


def readme_blocks(path: Path) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w+)\n(.*?)^```", path.read_text(), re.S | re.M)


def console_steps(body: str) -> list[Step]:
    steps: list[Step] = []
    continued = False
    for line in body.splitlines():
        if continued:
            steps[-1].command += "\n" + line
        elif line.startswith("$ "):
            steps.append(Step(line[2:], []))
        else:
            steps[-1].expected.append(line)
        continued = line.endswith("\\")
    return steps


def builds_a_lake(language: str, body: str) -> bool:
    return language == "sh" and "mkdir -p out/" in body


def runnable_blocks() -> list[list[Step]]:
    """The console blocks and the sh blocks that build a lake, page by page in DOCUMENTS."""
    blocks = []
    for page in DOCUMENTS:
        for language, body in readme_blocks(REPO / page):
            if language == "console":
                steps = console_steps(body)
            elif builds_a_lake(language, body):
                steps = [Step(body, [])]  # its output is not shown
            else:
                continue
            for step in steps:
                step.page = page
            blocks.append(steps)
    return blocks


SQLITE3_STAND_IN = """\
import sqlite3, sys
database, query = [a for a in sys.argv[1:] if not a.startswith("-")]
cursor = sqlite3.connect(database).execute(query)
rows = [[("" if v is None else str(v)) for v in row] for row in cursor]
header = [d[0] for d in cursor.description]
widths = [max(len(v) for v in column) for column in zip(header, *rows, strict=True)]
for line in [header, ["-" * w for w in widths], *rows]:
    print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))
"""


def tool_path(scratch: Path) -> str:
    """PATH for the steps: this venv's Python first, and `sqlite3` (a stand-in if missing)."""
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    if shutil.which("sqlite3", path=path):
        return path
    tools = scratch / "tools"
    tools.mkdir()
    stand_in = tools / "sqlite3"
    stand_in.write_text(f"#!{sys.executable}\n{SQLITE3_STAND_IN}")
    stand_in.chmod(0o755)
    return f"{tools}:{path}"


def run_step(step: Step, cwd: Path, last_status: int, path: str) -> tuple[str, int]:
    command = step.command
    if command == DEMO:
        command = f"mkdir -p out && echo '==> {DEMO_COMMAND}' && .venv/bin/{DEMO_COMMAND}"
    # `( exit N )` restores the previous step's status, for `echo $?`
    script = f"( exit {last_status} ); {command}"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": path, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    return done.stdout, done.returncode


def normal(line: str) -> str:
    line = SECONDS.sub(" S", RUN_ID.sub("RUN", line.rstrip()))
    return re.sub(r"\s+", " ", line).strip()


def lines_match(expected: list[str], actual: list[str]) -> bool:
    """Line by line; a `...` line matches any run of lines (also none)."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(lines_match(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and lines_match(expected[1:], actual[1:])


def scalar_pairs(value: object) -> set[tuple[str, str]]:
    """(key, JSON of the value) for every scalar anywhere in a JSON document."""
    pairs = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                pairs |= scalar_pairs(item)
            else:
                pairs.add((key, json.dumps(item)))
    elif isinstance(value, list):
        for item in value:
            pairs |= scalar_pairs(item)
    return pairs


def assert_json_like(expected: list[str], output: str) -> None:
    actual = json.loads(output)
    shown = re.findall(r'"(\w+)": (\d+|true|false|null|"[^"]*"|\[|\{)', "\n".join(expected))
    actual_pairs = scalar_pairs(actual)
    actual_keys = {key for key, _ in actual_pairs} | set(_container_keys(actual))
    for key, value in shown:
        assert key in actual_keys, key
        if key not in VOLATILE_KEYS and value not in ("[", "{"):
            assert (key, value) in actual_pairs, (key, value)


def _container_keys(value: object) -> list[str]:
    if isinstance(value, dict):
        keys = list(value)
        for item in value.values():
            keys += _container_keys(item)
        return keys
    return []


def test_the_console_examples_print_what_the_pages_show(tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(REPO / "examples")
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    path = tool_path(tmp_path)
    last_status = 0
    compared = 0
    for steps in runnable_blocks():
        for step in steps:
            output, last_status = run_step(step, tmp_path, last_status, path)
            if not step.expected:
                continue
            compared += 1
            if step.expected[0].lstrip().startswith("{"):
                assert_json_like(step.expected, output)
                continue
            want = [normal(line) for line in step.expected]
            got = [normal(line) for line in output.splitlines()]
            assert lines_match(want, got), (
                f"{step.page} step `{step.command}` printed:\n{output}\n{step.page} shows:\n"
                + "\n".join(step.expected)
            )
    assert compared >= 30  # every block with output was compared


def test_every_page_with_examples_has_them_run() -> None:
    """A console example or a lake-building block on a page outside DOCUMENTS would never
    be compared with what the CLI prints."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    with_examples = {
        page.relative_to(REPO).as_posix()
        for page in pages
        for language, body in readme_blocks(page)
        if language == "console" or builds_a_lake(language, body)
    }
    assert with_examples == set(DOCUMENTS)


def test_bench_readme_names_only_flags_the_scripts_take() -> None:
    text = (REPO / "bench" / "README.md").read_text()
    commands = [
        line.split("#")[0].split()
        for language, body in readme_blocks(REPO / "bench" / "README.md")
        if language == "sh"
        for line in body.splitlines()
        if "bench/" in line
    ]
    data_sentence = re.search(r"`data.py` takes (.*?)\(", text, re.S)
    assert data_sentence, "bench/README no longer says which flags data.py takes"
    data_flags = re.findall(r"`(--[\w-]+)", data_sentence.group(1))
    commands.append(["python", "bench/data.py", *data_flags])
    for command in commands:
        script = REPO / next(part for part in command if part.startswith("bench/"))
        helped = subprocess.run(
            [sys.executable, str(script), "--help"], capture_output=True, text=True, check=True
        ).stdout
        for flag in (part for part in command if part.startswith("--")):
            assert re.search(rf"{flag}\b", helped), f"{script.name} has no {flag}"

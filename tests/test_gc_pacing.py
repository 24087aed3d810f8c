"""Full garbage collections are rarer while a run loads, and Python's own pacing is back
after it, whatever runs overlap in the process (`ops.gc_pacing`)."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from turbodata import migrate
from turbodata.ops.gc_pacing import FULL_COLLECTION_THRESHOLD, fewer_full_collections
from turbodata.summary import TableResult


@pytest.fixture(autouse=True)
def pythons_pacing() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def test_a_run_loads_with_fewer_full_collections_then_restores_the_pacing(
    example_lake: Path, sqlite_url: str
) -> None:
    during: set[tuple[int, int, int]] = set()

    def progress(result: TableResult) -> None:
        during.add(gc.get_threshold())

    summary = migrate(example_lake, sqlite_url, progress=progress)

    assert summary.ok
    assert during == {(700, 10, FULL_COLLECTION_THRESHOLD)}
    assert gc.get_threshold() == (700, 10, 10)


def test_overlapping_runs_keep_the_pacing_until_the_last_one_ends() -> None:
    first_inside, first_may_end = threading.Event(), threading.Event()
    seen: dict[str, tuple[int, int, int]] = {}

    def first() -> None:
        with fewer_full_collections():
            first_inside.set()
            first_may_end.wait(10)
            seen["first, after the second ended"] = gc.get_threshold()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_inside.wait(10)
    with fewer_full_collections():
        seen["second"] = gc.get_threshold()
    first_may_end.set()
    thread.join(10)

    raised = (700, 10, FULL_COLLECTION_THRESHOLD)
    assert seen == {"second": raised, "first, after the second ended": raised}
    assert gc.get_threshold() == (700, 10, 10)


def test_a_failed_run_restores_the_pacing_too() -> None:
    with pytest.raises(RuntimeError), fewer_full_collections():
        raise RuntimeError("the load failed")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_is_left_as_it_is() -> None:
    gc.set_threshold(700, 10, 500)
    with fewer_full_collections():
        assert gc.get_threshold() == (700, 10, 500)
    assert gc.get_threshold() == (700, 10, 500)


def test_the_process_entry_point_leaves_the_run_out_of_the_shutdown_collections(
    example_lake: Path, sqlite_url: str, repo_root: Path
) -> None:
    """`turbodata` and `python -m turbodata` end with `gc.freeze()`; `main`, which tests and
    programs call in their own process, does not."""
    script = (
        "import gc, sys\n"
        "from turbodata import cli\n"
        f"args = ['migrate', '--lake', {str(example_lake)!r}, '--db', {sqlite_url!r}]\n"
        "code = cli.main(args)\n"
        "after_main = gc.get_freeze_count()\n"
        "sys.argv = ['turbodata', *args]\n"
        "code2 = cli.process_main()\n"
        "print('RESULT', code, after_main, code2, gc.get_freeze_count() > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo_root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split() == ["RESULT", "0", "0", "0", "True"]
    entry = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry == {"turbodata": "turbodata.cli:process_main"}
    assert "process_main()" in (repo_root / "turbodata" / "__main__.py").read_text()

"""Start-up: `import turbodata`, `turbodata --version` and `--help` load neither SQLAlchemy nor
pyarrow (nor the pipeline); the public API is still there, loaded on first use."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import turbodata
from tests.lakebuilder import attribute, entity, model_json
from turbodata import cli, pipeline, summary
from turbodata.load import options
from turbodata.ops import report

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("sqlalchemy", "pyarrow", "deltalake", "turbodata.pipeline", "turbodata.load.loader")

RUN_CLI = """
import runpy
sys.argv = ["turbodata", *sys.argv[1:]]
try:
    runpy.run_module("turbodata", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
"""


def heavy_modules_after(code: str, *args: str) -> list[str]:
    """The heavy modules loaded once `code` ran in a fresh interpreter (given `args`)."""
    report = (
        f"print(sorted(m for m in sys.modules if m in {HEAVY!r} or m.split('.')[0] in {HEAVY!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}\n{report}", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def test_importing_the_package_loads_no_heavy_module() -> None:
    assert heavy_modules_after("import turbodata") == []


@pytest.mark.parametrize(
    "args", [("--version",), ("--help",), ("migrate", "--help"), ("runs", "--help")]
)
def test_the_cli_answers_version_and_help_without_heavy_modules(args: tuple[str, ...]) -> None:
    assert heavy_modules_after(RUN_CLI, *args) == []


def test_the_check_sees_a_heavy_module_when_one_is_loaded() -> None:
    assert "sqlalchemy" in heavy_modules_after("import sqlalchemy\n" + RUN_CLI, "--version")
    assert "turbodata.pipeline" in heavy_modules_after("from turbodata import migrate")


def test_the_public_api_is_the_pipelines() -> None:
    assert turbodata.migrate is pipeline.migrate
    assert turbodata.discover_tables is pipeline.discover_tables
    assert turbodata.RunSummary is summary.RunSummary
    assert turbodata.LoadOptions is options.LoadOptions
    assert set(turbodata.__all__) <= set(dir(turbodata))
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        turbodata.nothing_here  # noqa: B018


def test_the_cli_defaults_are_those_of_the_modules_it_does_not_import_at_start() -> None:
    assert cli.DEFAULT_JOBS == pipeline.DEFAULT_JOBS
    assert cli.RUNS_SHOWN == report.RUNS_SHOWN


def modules_loaded_by_cli(
    *args: str,
    watched: tuple[str, ...] = (
        "turbodata.dialects.",
        "deltalake",
        "pyarrow.parquet",
        "pyarrow.dataset",
        "tenacity",
    ),
) -> list[str]:
    """The dialect, Delta, Parquet and retry modules (or `watched`) a CLI run in a fresh
    interpreter loaded."""
    code = RUN_CLI + "\nprint(sorted(m for m in sys.modules if m.startswith(WATCHED)))"
    program = f"import sys\nWATCHED = {watched!r}\n{code}"
    done = subprocess.run(
        [sys.executable, "-c", program, *args], capture_output=True, text=True, cwd=REPO, check=True
    )
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def test_a_csv_lake_into_sqlite_loads_neither_other_databases_nor_delta_lake(
    tmp_path: Path,
) -> None:
    """Only the target's dialect module is imported, deltalake, Parquet and Arrow's datasets
    (36 ms) only for lakes that have them, and the retry library only when a batch loads (a
    rerun with nothing new)."""
    args = ("migrate", "--lake", str(REPO / "examples" / "lake"), "--db", f"sqlite:///{tmp_path}/o")
    first = modules_loaded_by_cli(*args)
    assert "turbodata.dialects.sqlite" in first and "tenacity" in first  # it did load
    others = ("postgresql", "mssql", "deltalake", "parquet", "dataset")
    assert not [m for m in first if any(other in m for other in others)]
    again = modules_loaded_by_cli(*args)
    assert "turbodata.dialects.sqlite" in again and "tenacity" not in again


ARROW_READERS = ("pyarrow.compute", "pyarrow.csv")


def test_a_rerun_with_nothing_new_imports_no_load_path(tmp_path: Path) -> None:
    """A rerun with nothing new decides from the lake's listing and the ledger: the loader,
    the readers, Arrow (its memory pool is set when the first file is read) and YAML are
    never imported (a first run imports them), nor the Delta table readers on a lake without
    Delta tables."""
    lake = tmp_path / "lake"
    (lake / "account").mkdir(parents=True)
    columns = [attribute("Id", "guid"), attribute("name", "string", 100)]
    (lake / "model.json").write_text(model_json([entity("account", columns, ["account/1.csv"])]))
    (lake / "account" / "1.csv").write_text("11111111-1111-1111-1111-111111111111,a\n")
    args = ("migrate", "--lake", str(lake), "--db", f"sqlite:///{tmp_path}/o")
    load_path = ("turbodata.load.", "turbodata.lake.delta.", "tenacity", "yaml", "pyarrow")

    first = modules_loaded_by_cli(*args, watched=load_path)
    assert {"turbodata.load.loader", *ARROW_READERS} <= set(first)
    again = modules_loaded_by_cli(*args, watched=load_path)
    assert again == ["turbodata.lake.delta.discovery", "turbodata.load.options"]

"""Nothing found is not success: a lake where no layout is recognised, or whose metadata
cannot be read, says what was looked for and found and exits non-zero; `plan`, `--dry-run`
and `status` never create a database file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute
from turbodata import migrate
from turbodata.cli import main

TICKET = [attribute("Id", "guid"), attribute("title", "string", 50)]
ROW = "10000000-0000-0000-0000-000000000001,first\n"


def ticket_lake(root: Path) -> Path:
    LakeBuilder(root).folder("2025-01-01T00.00.00Z", {"ticket": TICKET}, {"ticket/2025.csv": ROW})
    return root


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_folder_of_csv_files_without_metadata_is_not_a_success(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    table_folder = ticket_lake(tmp_path / "lake") / "2025-01-01T00.00.00Z" / "ticket"

    code, out, err = run(capsys, "migrate", "--lake", str(table_folder), "--db", sqlite_url)

    assert code == 1
    assert out.strip().endswith(": failed")
    assert f"error: nothing to load in {table_folder}: no table found" in err
    assert "it holds 2025.csv" in err and "model.json" in err
    assert "point --lake at the folder that holds model.json" in err


def test_the_parent_folder_of_a_lake_suggests_the_lake(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ticket_lake(tmp_path / "lake")

    code, _, err = run(capsys, "migrate", "--lake", str(tmp_path), "--db", sqlite_url)

    assert code == 1
    assert f"did you mean --lake {tmp_path}/lake?" in err


def test_unreadable_metadata_is_reported_and_fails_the_run(tmp_path: Path, sqlite_url: str) -> None:
    lake = ticket_lake(tmp_path / "lake")
    (lake / "2025-01-01T00.00.00Z" / "model.json").write_text('{"name": "cdm", "entities": [')

    summary = migrate(lake, sqlite_url)

    assert not summary.ok and summary.status == "failed"
    assert any("2025-01-01T00.00.00Z/model.json" in p for p in summary.problems), summary.problems
    assert not summary.tables


def test_an_empty_folder_is_not_a_success(tmp_path: Path, sqlite_url: str) -> None:
    summary = migrate(tmp_path, sqlite_url)
    assert summary.status == "failed"
    assert "it holds nothing" in summary.problems[0]


@pytest.mark.parametrize("command", [["plan"], ["migrate", "--dry-run"]])
def test_plan_and_dry_run_create_no_database_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    lake = ticket_lake(tmp_path / "lake")
    target = tmp_path / "new.sqlite"

    code, out, _ = run(capsys, *command, "--lake", str(lake), "--db", f"sqlite:///{target}")

    assert code == 0
    assert 'CREATE TABLE "ticket"' in out and "planned" in out
    assert not target.exists()


def test_plan_of_an_existing_database_shows_only_what_is_new(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = ticket_lake(tmp_path / "lake")
    assert migrate(lake, sqlite_url).ok

    code, out, _ = run(capsys, "plan", "--lake", str(lake), "--db", sqlite_url)

    assert code == 0 and "CREATE TABLE" not in out
    assert len(fetch(sqlite_url, "_turbodata_runs")) == 1  # a plan is not a run


@pytest.mark.parametrize("command", ["status", "rejects"])
@pytest.mark.parametrize("where", ["typo.sqlite", "no-such-folder/out.sqlite"])
def test_status_and_rejects_of_a_missing_sqlite_file_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, where: str
) -> None:
    target = tmp_path / where

    code, out, err = run(capsys, command, "--db", f"sqlite:///{target}")

    assert code == 2 and out == ""
    assert err.startswith(f"error: database {target} does not exist") and err.count("\n") == 1
    assert not target.exists()
    assert target.parent == tmp_path or not target.parent.exists()


def test_status_of_a_database_without_loads_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()

    code, _, err = run(capsys, "status", "--db", f"sqlite:///{empty}")

    assert code == 0
    assert err == "no table loaded into this database (schema) yet\n"

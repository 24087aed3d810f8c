"""Issue 9, item 2: an incremental folder that cannot be read stops the plan there, loudly.

Skipping it let later folders move the watermark past it, and once repaired it was "older
than the last applied folder: skipped" for good.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.dbcheck import fetch, run_ended_as
from tests.lakebuilder import LakeBuilder, attribute
from turbodata import LoadOptions, migrate
from turbodata.cli import main
from turbodata.lake.layouts import discover
from turbodata.lake.storage import LocalLake

ACCOUNT = [attribute("Id", "guid"), attribute("name", "string", 20)]
FOLDERS = ("2025-01-01T00.00.00Z", "2025-01-01T01.00.00Z", "2025-01-01T02.00.00Z")
BROKEN = FOLDERS[1]


def row(number: int) -> str:
    return f"00000000-0000-0000-0000-{number:012d},name{number}\n"


def three_folder_lake(tmp_path: Path) -> LakeBuilder:
    """Folder i holds account row i (1-based); no Changelog."""
    lake = LakeBuilder(tmp_path / "lake")
    for number, name in enumerate(FOLDERS, start=1):
        lake.folder(name, {"account": ACCOUNT}, {"account/2025.csv": row(number)})
    return lake


def names_in(db_url: str) -> list[str]:
    return sorted(str(r["name"]) for r in fetch(db_url, "account"))


def run_cli(lake: LakeBuilder, db_url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["migrate", "--lake", str(lake.root), "--db", db_url])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "broken_model",
    [
        '{"name": "cdm", "entities": [{"name": "acc',  # truncated
        '{"name": "cdm", "version": "1.0"}',  # valid JSON, no entities
        "\ufeffnot json at all",
    ],
)
def test_an_unreadable_model_json_stops_the_plan_at_its_folder_as_a_problem(
    tmp_path: Path, broken_model: str
) -> None:
    lake = three_folder_lake(tmp_path)
    lake.write(f"{BROKEN}/model.json", broken_model)

    plan = discover(LocalLake(lake.root))

    assert [b.batch_id for b in plan.batches] == [FOLDERS[0]]
    [problem] = plan.problems
    assert problem.table is None
    assert str(problem).startswith(f"{BROKEN}/model.json: ")
    assert f"folder {BROKEN} and every later folder are left unloaded" in str(problem)


def test_with_a_changelog_a_model_json_still_being_written_waits_without_a_problem(
    tmp_path: Path,
) -> None:
    lake = three_folder_lake(tmp_path)
    lake.write(f"{BROKEN}/model.json", '{"entities": [')
    lake.changelog("2025-01-01T03.00.00Z")

    waiting = discover(LocalLake(lake.root), now=datetime(2025, 1, 1, 2, 5))
    settled = discover(LocalLake(lake.root), now=datetime(2025, 1, 1, 3, 0))

    assert [b.batch_id for b in waiting.batches] == [FOLDERS[0]]
    assert waiting.problems == [] and any("waiting for" in n for n in waiting.notes)
    assert [b.batch_id for b in settled.batches] == [FOLDERS[0]]
    assert [str(p).split(":")[0] for p in settled.problems] == [f"{BROKEN}/model.json"]


def test_a_repaired_model_json_loads_its_folder_on_the_next_run(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = three_folder_lake(tmp_path)
    good_model = (lake.root / BROKEN / "model.json").read_text()
    lake.write(f"{BROKEN}/model.json", good_model[: len(good_model) // 2])  # truncated

    code, err = run_cli(lake, sqlite_url, capsys)

    assert code != 0
    assert f"{BROKEN}/model.json: invalid or truncated JSON" in err
    assert names_in(sqlite_url) == ["name1"]  # the later folder waits too

    lake.write(f"{BROKEN}/model.json", good_model)
    summary = migrate(lake.root, sqlite_url)

    assert summary.ok, summary.to_dict()
    assert names_in(sqlite_url) == ["name1", "name2", "name3"]
    assert summary.tables["account"].watermark == FOLDERS[2]


@pytest.fixture()
def unlistable(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Folders (absolute paths) that os.walk cannot list, as without read permission (the
    tests may run as root, where chmod would not stop it)."""
    refused: set[str] = set()
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str] = ".") -> Iterator[os.DirEntry[str]]:
        if os.fspath(path) in refused:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    yield refused


def test_a_table_folder_that_cannot_be_listed_stops_the_plan_until_it_can(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], unlistable: set[str]
) -> None:
    lake = three_folder_lake(tmp_path)
    unlistable.add(str(lake.root / BROKEN / "account"))

    code, err = run_cli(lake, sqlite_url, capsys)

    assert code != 0
    assert f"{BROKEN} cannot be listed" in err and "Permission denied" in err
    assert names_in(sqlite_url) == ["name1"]

    unlistable.clear()
    summary = migrate(lake.root, sqlite_url)

    assert summary.ok, summary.to_dict()
    assert names_in(sqlite_url) == ["name1", "name2", "name3"]


def test_local_lake_listing_raises_for_a_folder_it_cannot_read(
    tmp_path: Path, unlistable: set[str]
) -> None:
    lake = LakeBuilder(tmp_path)
    lake.write("a/b/file.csv", "1\n")
    unlistable.add(str(tmp_path / "a" / "b"))

    with pytest.raises(PermissionError):
        list(LocalLake(tmp_path).iter_files("a"))


def test_a_folder_entity_without_attributes_fails_its_table_with_the_reason(
    tmp_path: Path,
) -> None:
    lake = three_folder_lake(tmp_path)
    lake.folder(BROKEN, {"account": []}, {"account/2025.csv": row(2)})

    plan = discover(LocalLake(lake.root))

    assert [p.message for p in plan.problems] == [f"{BROKEN}/model.json: no attributes declared"]
    assert plan.problems[0].table == "account"


@pytest.mark.parametrize(
    ("declared", "flag"),
    [
        ("string", " TRUE "),
        ("unclassified", "True"),
        ("int64", "1"),
        ("decimal", "1"),
        ("double", "1"),
    ],
)
@pytest.mark.parametrize("soft", [False, True], ids=["delete", "soft-delete"])
def test_a_delete_column_that_is_not_boolean_still_deletes(
    tmp_path: Path, db_url: str, declared: str, flag: str, soft: bool
) -> None:
    """`IsDelete` declared text or a number, or left to the data while no row had a delete yet
    (then created as text): its marked rows delete their key, or with soft delete mark it,
    as a boolean column's do (on SQLite they were applied as updates, on PostgreSQL the table
    failed on `text = boolean`)."""
    columns = [
        attribute("Id", "guid"),
        attribute("name", "string", 20),
        attribute("versionnumber", "int64"),
        attribute("IsDelete", declared),
    ]
    one, two = (f"00000000-0000-0000-0000-00000000000{n}" for n in (1, 2))
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(
        "2025-01-01T00.00.00Z", {"acc": columns}, {"acc/2025.csv": f"{one},a,1,\n{two},b,1,\n"}
    )
    lake.folder("2025-01-02T00.00.00Z", {"acc": columns}, {"acc/2025.csv": f"{one},,2,{flag}\n"})

    summary = migrate(lake.root, db_url, options=LoadOptions(soft_delete=soft))

    assert summary.ok, summary.to_dict()
    assert summary.tables["acc"].rows_deleted == 1
    kept = sorted(str(r["Id"]) for r in fetch(db_url, "acc"))
    assert kept == ([one, two] if soft else [two])


def test_a_retried_run_counts_the_rows_its_earlier_attempts_rejected(
    tmp_path: Path, db_url: str
) -> None:
    """A retry (a Durable table activity's next attempt, a Data Factory retry) finds the
    batch an earlier attempt committed already applied: without `rejects_since` it answered
    `succeeded`, and the pipeline went green over rows that were rejected."""
    columns = [attribute("Id", "guid"), attribute("name", "string", 20)]
    good = "00000000-0000-0000-0000-000000000001"
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(
        "2025-01-01T00.00.00Z", {"acc": columns}, {"acc/2025.csv": f"{good},a\nnot-a-guid,b\n"}
    )
    since = datetime.now(UTC).astimezone(timezone(timedelta(hours=5)))  # any offset
    first = migrate(lake.root, db_url)  # the attempt that committed the rejected row, then
    run_ended_as(db_url, first.run_id, "failed")  # failed in a later batch (as a killed one would)
    lake.folder("2025-01-02T00.00.00Z", {"acc": columns}, {"acc/2025.csv": f"{good},c\n"})

    retried = migrate(lake.root, db_url, rejects_since=since)
    plain = migrate(lake.root, db_url)
    later = migrate(lake.root, db_url, rejects_since=datetime.now(UTC))

    assert retried.status == "completed_with_rejects" and not retried.ok
    assert retried.tables["acc"].rows_rejected == 0  # none of its own
    assert retried.tables["acc"].rejected_by_earlier_attempts == 1
    assert any(first.run_id in p for p in retried.tables["acc"].problems)
    assert plain.ok and later.ok  # no retry, or none since: a run judges its own rows


def test_a_retry_counts_rejects_of_an_attempt_that_ended_with_rejects(
    tmp_path: Path, db_url: str
) -> None:
    """Its answer (500 completed_with_rejects) is what makes Data Factory retry, or never
    reached the caller (a call cut at 230 s): the retry finds nothing new, and a 200 would
    turn the activity green over rejected rows (it did; found by review)."""
    columns = [attribute("Id", "guid"), attribute("name", "string", 20)]
    lake = LakeBuilder(tmp_path / "lake")
    rows = "00000000-0000-0000-0000-000000000001,a\nnot-a-guid,b\n"
    lake.folder("2025-01-01T00.00.00Z", {"acc": columns}, {"acc/2025.csv": rows})
    since = datetime.now(UTC)
    assert migrate(lake.root, db_url).status == "completed_with_rejects"

    retry = migrate(lake.root, db_url, rejects_since=since)

    assert not retry.ok and retry.status == "completed_with_rejects", retry.to_dict()
    assert retry.tables["acc"].rejected_by_earlier_attempts == 1
    later = migrate(lake.root, db_url, rejects_since=datetime.now(UTC))
    assert later.ok  # an attempt of a later run: the rejects were answered for


def test_a_column_renamed_by_case_only_fails_clearly_where_names_ignore_case(
    tmp_path: Path, db_url: str
) -> None:
    """`name` in one folder, `Name` in the next: one column to SQLite and SQL Server, which
    cannot add it (a raw "duplicate column name" before); PostgreSQL keeps two columns."""

    def columns(name: str) -> list[dict[str, object]]:
        return [attribute("Id", "guid"), attribute(name, "string", 20)]

    one = "00000000-0000-0000-0000-000000000001"
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"acc": columns("name")}, {"acc/2025.csv": f"{one},a\n"})
    lake.folder("2025-01-02T00.00.00Z", {"acc": columns("Name")}, {"acc/2025.csv": f"{one},b\n"})

    summary = migrate(lake.root, db_url)

    if db_url.startswith("sqlite"):
        assert summary.tables["acc"].status == "failed"
        assert "differs from the table's column 'name' only in case" in summary.tables["acc"].error
    else:
        assert summary.ok, summary.to_dict()

"""What the CLI prints for a table's problems: reject lines capped, the table's own lines
(why it failed) always, and no traceback without -v, in a run as in a plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata.cli import MAX_PROBLEM_LINES, main

COLUMNS = [
    attribute("Id", "guid"),
    attribute("n", "int32"),
    attribute("versionnumber", "int64"),
    attribute("IsDelete", "boolean"),
]


def key(i: int) -> str:
    return f"{i:08d}-0000-0000-0000-000000000000"


def many_rejects_then_a_failure(root: Path, rejected: int) -> Path:
    """Folder 1: 10 good rows and `rejected` bad ones; folder 2's metadata makes the version
    a decimal, which SQLite refuses (the table fails there)."""
    lake = LakeBuilder(root)
    good = "".join(f"{key(i)},{i},1,\n" for i in range(1, 11))
    bad = "".join(f"{key(i)},x,1,\n" for i in range(11, 11 + rejected))
    lake.folder("2025-01-01T00.00.00Z", {"t": COLUMNS}, {"t/1.csv": good + bad})
    decimal_version = [dict(c) for c in COLUMNS]
    decimal_version[2]["dataType"] = "decimal"
    lake.folder("2025-01-02T00.00.00Z", {"t": decimal_version}, {"t/1.csv": f"{key(1)},5,2,\n"})
    return root


def test_a_failed_table_says_why_however_many_rows_were_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = many_rejects_then_a_failure(tmp_path / "lake", MAX_PROBLEM_LINES + 10)
    code = main(["migrate", "--lake", str(lake), "--db", f"sqlite:///{tmp_path / 'db.sqlite'}"])
    err = capsys.readouterr().err
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert sum(": row " in line for line in lines) == MAX_PROBLEM_LINES
    assert "error: t: 10 more rejected row(s); see `turbodata rejects`" in lines
    assert lines[-1].startswith("error: t: 2025-01-02T00.00.00Z: ")
    assert "versionnumber" in lines[-1] and "Traceback" not in err


def test_a_dry_run_says_where_its_rejects_beyond_the_cap_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = many_rejects_then_a_failure(tmp_path / "lake", MAX_PROBLEM_LINES + 10)
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    code = main(["migrate", "--dry-run", "--lake", str(lake), "--db", db])
    err = capsys.readouterr().err
    assert code == 1 and "error: t: 10 more rejected row(s); --json lists them" in err
    code = main(["migrate", "--dry-run", "--lake", str(lake), "--db", db, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert sum(": row " in line for line in out["tables"]["t"]["problems"]) == 60


def test_a_table_failing_in_a_dry_run_prints_no_traceback_without_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dry run reads the header row, which names the columns in another order."""
    lake = LakeBuilder(tmp_path / "lake")
    described = entity("t", [attribute("Id", "guid"), attribute("a"), attribute("b")], ["t/1.csv"])
    described["partitions"][0]["fileFormatSettings"]["columnHeaders"] = True  # type: ignore[index]
    lake.write("model.json", model_json([described]))
    lake.write("t/1.csv", f"Id,b,a\n{key(1)},x,y\n")
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    for verbose in ([], ["-v"]):
        code = main([*verbose, "migrate", "--dry-run", "--lake", str(lake.root), "--db", db])
        err = capsys.readouterr().err
        assert code == 1 and "error: t: " in err and "header" in err
        assert ("Traceback" in err) is bool(verbose), err

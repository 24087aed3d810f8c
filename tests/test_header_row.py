"""A partition whose metadata says it has a header row (`columnHeaders`): the header is
compared with the metadata's columns, never skipped blind, because the file states its own
column order and values bound by position would land in the wrong columns."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata import migrate

COLUMNS = [
    attribute("Id", "guid"),
    attribute("first", "string", 20),
    attribute("last", "string", 20),
]
ROW = "00000000-0000-0000-0000-000000000001,Alice,Smith\n"


def lake_with_header(root: Path, header: str, rows: str = ROW) -> Path:
    lake = LakeBuilder(root)
    lake.write("contact/part1.csv", header + "\n" + rows)
    contact = entity("contact", COLUMNS, ["contact/part1.csv"])
    contact["partitions"][0]["fileFormatSettings"]["columnHeaders"] = True
    lake.write("model.json", model_json([contact]))
    return root


@pytest.mark.parametrize("size", ["tiny", "large"])  # the exact path, and pyarrow's
def test_a_header_in_another_order_fails_the_table_naming_the_file(
    tmp_path: Path, size: str
) -> None:
    rows = ROW * (1 if size == "tiny" else 400)  # 20 kB: past the tiny-file limit
    rows = rows.replace("0001,", "{:04d},")
    rows = "".join(line.format(i) + "\n" for i, line in enumerate(rows.splitlines()))
    lake = lake_with_header(tmp_path / "lake", "Id,last,first", rows)
    target = tmp_path / "t.sqlite"

    summary = migrate(lake, f"sqlite:///{target}")

    contact = summary.tables["contact"]
    assert contact.status == "failed" and not summary.ok
    assert "contact/part1.csv: its header row names the columns Id, last, first" in contact.error
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'contact'").fetchall() == []


def test_a_header_naming_the_columns_in_another_case_or_spacing_loads(tmp_path: Path) -> None:
    lake = lake_with_header(tmp_path / "lake", "ID, First ,LAST")
    target = tmp_path / "t.sqlite"

    summary = migrate(lake, f"sqlite:///{target}")

    assert summary.ok, summary.to_dict()
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT first, last FROM contact").fetchall() == [("Alice", "Smith")]


@pytest.mark.parametrize(
    ("header", "fits"),
    [
        (["Id", "first", "last"], True),
        (["\ufeffid", " FIRST ", "Last"], True),  # a BOM, spaces and case aside
        (["Id", "first", "last", ""], True),  # a trailing delimiter names no column
        (["Id", "first"], True),  # a file written before `last` was appended
        (["Id", "last", "first"], False),
        (["Id", "", "last"], False),
        (["Id", "first", "last", "extra"], False),
    ],
)
def test_which_header_rows_name_the_metadatas_columns(header: list[str], fits: bool) -> None:
    from turbodata.read.reader import HeaderMismatch, check_header

    try:
        check_header(header, ["Id", "first", "last"])
    except HeaderMismatch:
        assert not fits
    else:
        assert fits


@pytest.mark.parametrize("size", ["tiny", "large"])
def test_a_header_naming_two_columns_equal_but_for_case_loads(tmp_path: Path, size: str) -> None:
    """The metadata's `Name` and `name` are columns `Name` and `name_2`: the header that
    names them as the metadata does failed the table (found by review)."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("Name", "string", 20), attribute("name")]
    rows = "".join(
        f"00000000-0000-0000-0000-{i:012d},A{i},b{i}\n" for i in range(1 if size == "tiny" else 400)
    )
    lake.write("contact/part1.csv", "Id,Name,name\n" + rows)
    contact = entity("contact", columns, ["contact/part1.csv"])
    contact["partitions"][0]["fileFormatSettings"]["columnHeaders"] = True
    lake.write("model.json", model_json([contact]))
    target = tmp_path / "t.sqlite"

    summary = migrate(lake.root, f"sqlite:///{target}")

    assert summary.ok, summary.to_dict()
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT Name, name_2 FROM contact LIMIT 1").fetchall() == [("A0", "b0")]


def test_a_failed_batch_shows_no_traceback_without_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/troubleshooting.md: `-v` adds the traceback; every failed batch printed one."""
    from turbodata.cli import main

    lake = lake_with_header(tmp_path / "lake", "Id,last,first")
    db = f"sqlite:///{tmp_path / 't.sqlite'}"
    assert main(["migrate", "--lake", str(lake), "--db", db]) == 1
    quiet = capsys.readouterr().err
    assert "its header row names the columns Id, last, first" in quiet
    assert "Traceback" not in quiet
    assert main(["-v", "migrate", "--lake", str(lake), "--db", db]) == 1
    assert "Traceback" in capsys.readouterr().err

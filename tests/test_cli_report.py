"""`turbodata report` from a shell: the page it writes, and a mistyped database."""

from __future__ import annotations

from pathlib import Path

import pytest

from turbodata.cli import main

EXAMPLE_LAKE = Path(__file__).resolve().parents[1] / "examples" / "lake"


def test_report_writes_a_page_naming_every_loaded_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    assert main(["migrate", "--lake", str(EXAMPLE_LAKE), "--db", db, "--json"]) == 0
    capsys.readouterr()
    out = tmp_path / "report.html"

    code = main(["report", "--db", db, "--lake", str(EXAMPLE_LAKE), "--out", str(out)])

    assert code == 0
    assert f"wrote {out}" in capsys.readouterr().err
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") or page.startswith("<!doctype html>")
    assert "account" in page and "succeeded" in page


def test_report_on_a_missing_database_creates_nothing_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    code = main(["report", "--db", f"sqlite:///{tmp_path / 'typo.sqlite'}", "--out", str(out)])

    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []

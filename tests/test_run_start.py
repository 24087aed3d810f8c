"""A database that refuses the run's start (its ledger tables, its lease, its row) fails the
run with the database's own message, said to come from the run's start, before any table:
it printed the bare message ("cannot execute CREATE TABLE in a read-only transaction"),
saying neither that the run had not started nor that nothing was loaded (found by review)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest

from turbodata.cli import main

EXAMPLE_LAKE = Path(__file__).resolve().parents[1] / "examples" / "lake"


def read_only(db_url: str, tmp_path: Path) -> str:
    """A URL of the same database whose every transaction is read-only."""
    if db_url.startswith("sqlite"):
        path = tmp_path / "read-only.sqlite"
        sqlite3.connect(path).close()  # exists, empty
        return f"sqlite:///file:{path}?mode=ro&uri=true"
    options = quote("-c default_transaction_read_only=on")
    return f"{db_url}{'&' if '?' in db_url else '?'}options={options}"


def test_a_run_the_database_refuses_to_start_says_so(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["migrate", "--lake", str(EXAMPLE_LAKE), "--db", read_only(db_url, tmp_path)])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: the run could not start: ")
    assert "read-only" in err or "readonly" in err  # the database's own words
    assert err.endswith("; nothing was loaded\n") and err.count("\n") == 1

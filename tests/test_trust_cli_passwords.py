"""No database password in a run's summary, in `_turbodata_runs.summary`, or in what the CLI
prints: neither in the URL's user part nor inside `odbc_connect=...PWD=...`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import sqlalchemy as sa

from tests.dbcheck import fetch
from turbodata import migrate
from turbodata.cli import main
from turbodata.pipeline import display_url
from turbodata.secrets import forget_secrets
from turbodata.summary import RunSummary

SECRET = "Planted-Secret-42"


def odbc_url(base: str) -> str:
    """`base` with an odbc_connect payload holding the password (SQLite ignores it)."""
    payload = quote_plus(f"DRIVER={{ODBC Driver 18 for SQL Server}};UID=loader;PWD={SECRET}")
    return f"{base}?odbc_connect={payload}"


def assert_no_secret(text: str) -> None:
    assert SECRET not in text and quote_plus(SECRET) not in text, text


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> None:
    """The library must mask by itself, without the CLI having registered the password."""
    forget_secrets()


@pytest.mark.filterwarnings("ignore:Query string argument")
def test_the_run_ledger_and_the_summary_hold_no_odbc_password(
    example_lake: Path, sqlite_url: str
) -> None:
    url = odbc_url(sqlite_url)

    summary = migrate(example_lake, url, tables=["account"])

    assert summary.ok
    assert_no_secret(summary.database)
    assert_no_secret(json.dumps(summary.to_dict()))
    [run] = fetch(sqlite_url, "_turbodata_runs")
    assert_no_secret(run["summary"])
    assert json.loads(run["summary"])["database"].startswith(sqlite_url + "?odbc_connect=")


def test_a_password_in_the_user_part_stays_out_of_the_ledger(
    example_lake: Path, postgres_url: str
) -> None:
    url = postgres_url.replace("://postgres@", f"://postgres:{SECRET}@")

    summary = migrate(example_lake, url, tables=["account"])

    assert summary.ok, summary.problems
    [run] = fetch(postgres_url, "_turbodata_runs")
    assert_no_secret(run["summary"])
    assert "postgres:***@" in json.loads(run["summary"])["database"]


@pytest.mark.filterwarnings("ignore:Query string argument")
@pytest.mark.parametrize("output", [[], ["--json"]])
def test_the_cli_prints_no_password(
    example_lake: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str], output: list[str]
) -> None:
    args = ["migrate", "--lake", str(example_lake), "--db", odbc_url(sqlite_url), *output]
    assert main([*args, "--table", "nope"]) == 1
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert_no_secret(out + err)


def test_display_url_masks_an_odbc_connection_string() -> None:
    engine = sa.create_engine(odbc_url("mssql+pyodbc://"))
    shown = display_url(engine)
    assert_no_secret(shown)
    assert "UID%3Dloader" in shown  # the rest stays readable


def test_a_summary_given_a_clear_password_masks_it_when_turned_into_data() -> None:
    summary = RunSummary(
        run_id="r",
        lake=f"abfs://c@acct.dfs.core.windows.net/x?sig={SECRET}",
        database=odbc_url("mssql+pyodbc://"),
        started_at=datetime.now(UTC),
    )
    assert_no_secret(json.dumps(summary.to_dict()))

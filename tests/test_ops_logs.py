"""Logs: `--log-format text|json`, the per-table and per-run events, and no secret in them."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from turbodata import migrate
from turbodata.cli import main
from turbodata.ops.logs import JsonFormatter

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_LAKE = REPO / "examples" / "lake"
DB_PASSWORD = "Planted-Db-Password-9135"
ACCOUNT_KEY = "UGxhbnRlZEFjY291bnRLZXk5MTM1"  # base64, like a real key
STORAGE = (
    "DefaultEndpointsProtocol=https;AccountName=lakeacct;"
    f"AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net"
)
TABLE_FIELDS = {
    "run_id",
    "table",
    "status",
    "files",
    "rows_inserted",
    "rows_updated",
    "rows_deleted",
    "rows_rejected",
    "ddl",
    "seconds",
    "watermark",
}


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line of `text` as a JSON object (fails on any line that is not one)."""
    return [json.loads(line) for line in text.splitlines()]


def events(records: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [r for r in records if r.get("event") == name]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'demo.sqlite'}"


# -- the formatter -----------------------------------------------------------------------------


def test_json_formatter_masks_secrets_in_structured_fields() -> None:
    """`extra=` fields are set after the record factory masked the message: the formatter
    must mask them itself."""
    record = logging.getLogger("turbodata.test").makeRecord(
        "turbodata.test",
        logging.INFO,
        __file__,
        1,
        "connecting to %s",
        (f"postgresql://loader:{DB_PASSWORD}@db/prod",),
        None,
        extra={"database": f"postgresql://loader:{DB_PASSWORD}@db/prod", "storage": STORAGE},
    )

    line = JsonFormatter().format(record)

    assert DB_PASSWORD not in line and ACCOUNT_KEY not in line
    entry = json.loads(line)
    assert entry["database"] == "postgresql://loader:***@db/prod"
    assert entry["message"] == "connecting to postgresql://loader:***@db/prod"
    assert {"time", "level", "logger"} <= set(entry) and entry["level"] == "INFO"


# -- the events --------------------------------------------------------------------------------


def logged_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """The records that carry an event, as their attributes."""
    return [vars(r) for r in caplog.records if hasattr(r, "event")]


def test_a_run_logs_one_event_per_table_and_one_for_the_run(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="turbodata")

    summary = migrate(EXAMPLE_LAKE, db)

    records = logged_events(caplog)
    tables = events(records, "table_finished")
    assert [t["table"] for t in tables] == list(summary.tables)
    [account] = [t for t in tables if t["table"] == "account"]
    result = summary.tables["account"]
    assert account["run_id"] == summary.run_id and account["status"] == "loaded"
    assert (account["files"], account["rows_inserted"], account["rows_updated"]) == (
        result.files_read,
        result.rows_inserted,
        result.rows_updated,
    )
    assert account["ddl"] == len(result.ddl) and account["watermark"] == result.watermark
    [run] = events(records, "run_finished")
    assert run["status"] == "succeeded" and run["tables"] == len(summary.tables)
    assert run["rows_inserted"] == sum(t.rows_inserted for t in summary.tables.values())


def test_a_failed_table_is_logged_as_failed(
    db: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from turbodata.load.loader import TableLoader

    def broken(self: TableLoader, result: object, batches: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(TableLoader, "load", broken)
    caplog.set_level(logging.INFO, logger="turbodata")

    summary = migrate(EXAMPLE_LAKE, db, tables=["account"])

    assert summary.status == "failed"
    [table] = events(logged_events(caplog), "table_finished")
    assert table["status"] == "failed" and table["error"] == "disk on fire"
    [run] = events(logged_events(caplog), "run_finished")
    assert run["status"] == "failed" and run["tables_failed"] == ["account"]


def test_a_run_stopped_by_an_error_is_never_logged_as_succeeded(
    db: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error escapes before any table ran, so the summary has no problem to show."""
    from turbodata.ledger import records as ledger

    def unreachable(conn: object) -> None:
        raise OSError("database went away")

    monkeypatch.setattr(ledger, "ensure", unreachable)
    caplog.set_level(logging.INFO, logger="turbodata")

    with pytest.raises(OSError, match="went away"):
        migrate(EXAMPLE_LAKE, db)

    [run] = events(logged_events(caplog), "run_finished")
    assert run["status"] == "failed" and run["ok"] is False
    assert run["error"] == "database went away"


# -- the CLI -----------------------------------------------------------------------------------


@pytest.mark.parametrize("position", ["before", "after"])
def test_log_format_json_makes_stderr_json_lines_with_the_events(
    db: str, position: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["migrate", "--lake", str(EXAMPLE_LAKE), "--db", db]
    option = ["--log-format", "json"]
    argv = option + command if position == "before" else command + option

    assert main(argv) == 0

    records = json_lines(capsys.readouterr().err)
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    tables = events(records, "table_finished")
    assert {t["table"] for t in tables} >= {"account", "contact"}
    assert all(set(t) >= TABLE_FIELDS for t in tables)
    [run] = events(records, "run_finished")
    assert run["status"] == "succeeded" and run["run_id"] == tables[0]["run_id"]


def test_text_stays_the_default_and_quiet_on_a_clean_run(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--lake", str(EXAMPLE_LAKE), "--db", db]) == 0

    captured = capsys.readouterr()
    assert captured.err == ""
    assert "succeeded" in captured.out


def test_json_logs_carry_the_cli_error_lines_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--log-format", "json", "status", "--db", f"sqlite:///{tmp_path / 'no.sqlite'}"])

    assert code == 2
    [record] = json_lines(capsys.readouterr().err)
    assert record["level"] == "ERROR" and "does not exist" in str(record["message"])


def test_the_cli_leaves_the_process_logging_as_it_found_it(db: str) -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)

    main(["--log-format", "json", "-v", "migrate", "--lake", str(EXAMPLE_LAKE), "--db", db])

    assert root.level == level and root.handlers == handlers


# -- no secret in any log ----------------------------------------------------------------------


def turbodata(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """`turbodata ARGV` as a process, with only these TURBODATA_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TURBODATA_")}
    return subprocess.run(
        [sys.executable, "-m", "turbodata", *argv],
        env={**clean, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_in_logs_of_a_real_migrate(postgres_url: str, log_format: str) -> None:
    """A password in TURBODATA_DATABASE_URL and an AccountKey in the storage connection string,
    through a verbose migrate, `runs`, `status` and a migrate whose database is unreachable."""
    url = postgres_url.replace("://postgres@", f"://postgres:{DB_PASSWORD}@")
    unreachable = url.rsplit("@", 1)[0] + "@127.0.0.1:1/nowhere"
    settings = {"TURBODATA_DATABASE_URL": url, "TURBODATA_STORAGE_CONNECTION_STRING": STORAGE}
    logging_options = ["-v", "--log-format", log_format]

    runs = [
        turbodata(settings, *logging_options, "migrate", "--lake", str(EXAMPLE_LAKE)),
        turbodata(settings, *logging_options, "runs", "--json"),
        turbodata(settings, *logging_options, "status", "--json"),
        turbodata(
            {**settings, "TURBODATA_DATABASE_URL": unreachable},
            *logging_options,
            "migrate",
            "--lake",
            str(EXAMPLE_LAKE),
        ),
    ]

    assert [r.returncode for r in runs] == [0, 0, 0, 1], [r.stderr[-2000:] for r in runs]
    for result in runs:
        for secret in (DB_PASSWORD, ACCOUNT_KEY):
            assert secret not in result.stdout and secret not in result.stderr
    if log_format == "json":
        [loaded] = events(json_lines(runs[0].stderr), "run_finished")
        assert loaded["database"] == url.replace(DB_PASSWORD, "***")
        unreachable_run = json_lines(runs[-1].stderr)
        [failed] = events(unreachable_run, "run_finished")
        assert failed["status"] == "failed" and failed["ok"] is False
        assert any(r["level"] == "ERROR" for r in unreachable_run)
    else:
        assert "account: loaded" in runs[0].stderr  # -v shows the events as text

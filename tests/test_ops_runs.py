"""`turbodata runs`: what each run did, newest first, read from `_turbodata_runs`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from turbodata.cli import main

EXAMPLE_LAKE = Path(__file__).resolve().parents[1] / "examples" / "lake"
SECRET = "Runs-Secret-8731"


def migrate(db: str, *tables: str) -> None:
    selected = [arg for table in tables for arg in ("--table", table)]
    assert main(["migrate", "--lake", str(EXAMPLE_LAKE), "--db", db, "--json", *selected]) == 0


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'demo.sqlite'}"


def test_runs_lists_each_run_newest_first_with_its_counts(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(db, "account")
    migrate(db, "contact")
    [first, second] = [json.loads(line) for line in _stored_summaries(db)]
    capsys.readouterr()

    assert main(["runs", "--db", db]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "run",
        "started",
        "(UTC)",
        "seconds",
        "status",
        "read",
        "written",
        "rejected",
        "failed",
    ]
    newest, oldest = lines[1].split(), lines[2].split()
    assert len(lines) == 3
    assert newest[0] == second["run_id"] and oldest[0] == first["run_id"]
    contact = second["tables"]["contact"]
    written = contact["rows_inserted"] + contact["rows_updated"] + contact["rows_deleted"]
    assert newest[4:] == ["succeeded", f"{contact['rows_read']:,}", f"{written:,}", "0"]
    assert newest[3] == f"{second['seconds']:.2f}"
    started = datetime.fromisoformat(second["started_at"]).astimezone(UTC)
    assert " ".join(newest[1:3]) == f"{started:%Y-%m-%d %H:%M:%S}"


def test_runs_json_is_one_object_per_run_with_the_stored_summary(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(db, "account")
    migrate(db, "contact")
    migrate(db, "account")  # nothing new: a run that loads nothing is listed too
    stored = [json.loads(line) for line in _stored_summaries(db)]
    capsys.readouterr()

    assert main(["runs", "--db", db, "--json", "--limit", "2"]) == 0

    runs = json_lines(capsys.readouterr().out)
    assert [r["summary"] for r in runs] == [stored[2], stored[1]]
    assert [r["run_id"] for r in runs] == [stored[2]["run_id"], stored[1]["run_id"]]
    assert runs[1]["status"] == "succeeded" and runs[1]["rows_rejected"] == 0
    contact = stored[1]["tables"]["contact"]
    written = contact["rows_inserted"] + contact["rows_updated"] + contact["rows_deleted"]
    assert runs[1]["rows_written"] == written


def test_a_run_still_going_is_listed_without_a_summary(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(db, "account")
    engine = sa.create_engine(db)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO _turbodata_runs (run_id, started_at, status)"
                " VALUES ('20991231T000000Z-feedbeef', '2099-12-31 00:00:00', 'running')"
            )
        )
    engine.dispose()
    capsys.readouterr()

    assert main(["runs", "--db", db, "--json"]) == 0

    running, finished = json_lines(capsys.readouterr().out)
    assert running["run_id"] == "20991231T000000Z-feedbeef"
    assert running["status"] == "running" and running["summary"] is None
    assert running["seconds"] is None
    assert finished["status"] == "succeeded"


def test_runs_masks_a_secret_even_in_an_old_stored_summary(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Summaries are masked when stored; one stored by an older version may not be."""
    migrate(db, "account")
    engine = sa.create_engine(db)
    with engine.begin() as conn:
        summary = json.loads(conn.execute(sa.text("SELECT summary FROM _turbodata_runs")).scalar())
        summary["database"] = f"postgresql://loader:{SECRET}@db.example/prod"
        conn.execute(sa.text("UPDATE _turbodata_runs SET summary = :s"), {"s": json.dumps(summary)})
    engine.dispose()
    capsys.readouterr()

    assert main(["runs", "--db", db, "--json"]) == 0

    out = capsys.readouterr().out
    assert SECRET not in out
    assert json_lines(out)[0]["summary"]["database"] == "postgresql://loader:***@db.example/prod"


def test_a_database_without_runs_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.sqlite"
    sa.create_engine(f"sqlite:///{empty}").connect().close()  # an existing, empty file

    assert main(["runs", "--db", f"sqlite:///{empty}"]) == 0

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no run recorded in this database yet" in captured.err


def test_a_missing_database_is_not_created_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["runs", "--db", f"sqlite:///{tmp_path / 'typo.sqlite'}"])

    assert code == 2
    assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_database_comes_from_the_settings_without_db(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(db, "account")
    capsys.readouterr()
    monkeypatch.setenv("TURBODATA_DATABASE_URL", db)

    assert main(["runs", "--json"]) == 0

    [run] = json_lines(capsys.readouterr().out)
    assert run["status"] == "succeeded"


@pytest.mark.parametrize("limit", ["0", "-1", "many"])
def test_a_limit_that_is_not_a_positive_number_is_a_usage_error(
    db: str, limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["runs", "--db", db, "--limit", limit])
    assert stop.value.code == 2
    assert "positive" in capsys.readouterr().err


def _stored_summaries(db: str) -> list[str]:
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        query = sa.text("SELECT summary FROM _turbodata_runs ORDER BY started_at")
        summaries = list(conn.execute(query).scalars())
    engine.dispose()
    return summaries

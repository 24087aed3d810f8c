"""The HTML run report's content without a browser: escaping, secrets, edge cases.

The ledger rows are written directly (as a load would) where a case is awkward to produce
with a real lake: a failed run whose stored summary holds an unmasked password, reasons and
table names with markup.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.lakebuilder import LakeBuilder, attribute
from turbodata.ledger import records as ledger
from turbodata.ops.report import SAMPLES_PER_GROUP, collect, render_report, write_report
from turbodata.pipeline import DatabaseNotFound, migrate

SCRIPT_TABLE = "acc<script>alert(1)</script>"
PASSWORD = "Sup3r-Secret-pw"


def ledger_db(tmp_path: Path) -> sa.Engine:
    """A database with turbodata's ledger and a table whose name and rejects hold markup."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    started = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    summary = {
        "status": "failed",
        "database": f"postgresql://loader:{PASSWORD}@db.example/dw",
        "seconds": 1.5,
        "tables": {SCRIPT_TABLE: {"status": "failed", "rows_inserted": 0, "rows_rejected": 1}},
        "problems": [f"run stopped: could not connect to postgresql://loader:{PASSWORD}@db/dw"],
    }
    with engine.begin() as conn:
        ledger.ensure(conn)
        sa.Table(SCRIPT_TABLE, sa.MetaData(), sa.Column("Id", sa.Integer)).create(conn)
        ledger.start_run(conn, "run-1", started)
        ledger.finish_run(conn, "run-1", "failed", json.dumps(summary))
        ledger.set_table_outcome(conn, SCRIPT_TABLE, "run-1", "failed", "<b>boom</b>")
        conn.execute(
            sa.insert(ledger.rejects),
            [
                {
                    "run_id": "run-1",
                    "table_name": SCRIPT_TABLE,
                    "file": "f/<x>.csv",
                    "row_number": n,
                    "column_name": "c<i>",
                    "reason": f"not a number: '<script>{n}</script>'",
                    "raw_text": f"<script>alert({n})</script>",
                }
                for n in range(1, 6)
            ],
        )
    return engine


def test_markup_from_the_database_is_shown_as_text(tmp_path: Path) -> None:
    page = render_report(ledger_db(tmp_path))

    assert "<script>" not in page and "<b>boom" not in page and "<i>" not in page
    assert "acc&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;boom&lt;/b&gt;" in page
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page
    assert page.count("<script") == 0 and page.count("<img") == 0


def test_no_password_is_shown_even_if_a_stored_summary_held_one(tmp_path: Path) -> None:
    page = render_report(ledger_db(tmp_path))
    assert PASSWORD not in page
    assert "postgresql://loader:***@db/dw" in page  # the problem is still readable


def test_rejects_are_grouped_with_a_few_samples(tmp_path: Path) -> None:
    data = collect(ledger_db(tmp_path))
    [group] = data.rejects
    assert (group.table, group.column, group.count) == (SCRIPT_TABLE, "c<i>", 5)
    assert group.reason == "not a number: '…'"
    assert [s["row_number"] for s in group.samples] == list(range(1, SAMPLES_PER_GROUP + 1))


def test_a_failed_run_shows_its_failed_tables_and_problems(tmp_path: Path) -> None:
    [run] = collect(ledger_db(tmp_path)).runs
    assert (run.status, run.tables_failed, run.rows_rejected) == ("failed", [SCRIPT_TABLE], 1)
    assert run.problems == [
        f"run stopped: could not connect to postgresql://loader:{PASSWORD}@db/dw"
    ]
    page = render_report(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert 'class="badge bad">failed</span>' in page


def test_without_a_lake_lag_is_not_checked(tmp_path: Path) -> None:
    page = render_report(ledger_db(tmp_path))
    assert "not checked" in page and "turbodata report --lake" in page


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(DatabaseNotFound):
        render_report(f"sqlite:///{missing}")
    assert not missing.exists()


def test_a_database_without_ledger_says_nothing_was_loaded(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    sa.create_engine(f"sqlite:///{path}").connect().close()  # creates the empty file
    page = render_report(f"sqlite:///{path}")
    assert "No table loaded yet." in page and "No run yet." in page


def test_write_report_replaces_the_file_whole(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("old")
    written = write_report(ledger_db(tmp_path), out)
    assert written == out and out.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == []
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # readable as any new file is


COLUMNS = [attribute("Id", "guid"), attribute("name", "string")]
ROW = '00000000-0000-0000-0000-000000000001,"a"\n'


def loaded_account_lake(tmp_path: Path) -> tuple[LakeBuilder, str]:
    """A lake of one timestamp folder with table `account`, loaded into a SQLite file."""
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"account": COLUMNS}, {"account/1.csv": ROW})
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(lake.root, db)
    return lake, db


def test_the_lake_adds_tables_it_has_that_were_never_loaded(tmp_path: Path) -> None:
    lake, db = loaded_account_lake(tmp_path)
    lake.folder("2025-01-02T00.00.00Z", {"lead": COLUMNS}, {"lead/1.csv": ROW})

    lines = {line.name: line for line in collect(db, lake=lake.root).tables}

    assert (lines["account"].folders_behind, lines["account"].lag) == (0, None)
    assert (lines["lead"].status, lines["lead"].folders_behind) == ("not loaded yet", 1)


def test_problems_that_stop_the_plan_are_shown_and_lag_is_not_guessed(tmp_path: Path) -> None:
    lake, db = loaded_account_lake(tmp_path)
    lake.write("2025-01-02T00.00.00Z/model.json", "{not json")  # a run stops at this folder
    lake.write("2025-01-02T00.00.00Z/account/1.csv", ROW)

    data = collect(db, lake=lake.root)
    page = render_report(db, lake=lake.root)

    assert len(data.lake_problems) == 1 and "2025-01-02T00.00.00Z" in data.lake_problems[0]
    assert 'id="lake-problems"' in page and "2025-01-02T00.00.00Z and every later" in page
    # up to date with the folders before it, the table is held: it was shown "up to date",
    # and "Behind the lake" counted 0 (found by review)
    [account] = [t for t in data.tables if t.name == "account"]
    assert account.held_at == "2025-01-02T00.00.00Z"
    assert "held at 2025-01-02T00.00.00Z" in page and "up to date" not in page
    assert 'Behind the lake</div><div class="value">1<' in page


def test_a_table_the_lake_no_longer_has_has_no_lag_rather_than_up_to_date(
    tmp_path: Path,
) -> None:
    _, db = loaded_account_lake(tmp_path)
    other = LakeBuilder(tmp_path / "other")  # a lake without the account table
    other.folder("2025-01-01T00.00.00Z", {"lead": COLUMNS}, {"lead/1.csv": ROW})

    [account] = [t for t in collect(db, lake=other.root).tables if t.name == "account"]

    assert (account.folders_behind, account.newest) == (None, None)
    assert "not in the lake" in render_report(db, lake=other.root)


def test_tables_loaded_whole_have_no_lag(tmp_path: Path, example_lake: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(example_lake, db)

    lines = {line.name: line for line in collect(db, lake=example_lake).tables}

    option_sets = [line for name, line in lines.items() if name.endswith("Metadata")]
    assert option_sets and all(line.folders_behind is None for line in option_sets)
    assert {line.lag_note for line in option_sets} == {"loaded whole: no folders to lag behind"}
    assert (lines["account"].folders_behind, lines["contact"].folders_behind) == (0, 0)


def test_a_stop_at_an_applied_folder_holds_every_table_in_the_report(tmp_path: Path) -> None:
    """An applied folder's model.json cut short stops every run there: the tables showed
    "not in the lake" and "Behind the lake" 0 while newer folders waited (found by the
    session's review)."""
    lake, db = loaded_account_lake(tmp_path)
    lake.folder("2025-01-02T00.00.00Z", {"account": COLUMNS}, {"account/1.csv": ROW})
    lake.write("2025-01-01T00.00.00Z/model.json", "{cut")

    [account] = [t for t in collect(db, lake=lake.root).tables if t.name == "account"]
    page = render_report(db, lake=lake.root)

    assert account.held_at == "2025-01-01T00.00.00Z"
    assert "held at 2025-01-01T00.00.00Z" in page and "not in the lake" not in page
    assert 'Behind the lake</div><div class="value">1<' in page

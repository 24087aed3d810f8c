"""A small batch of changes upserted straight into its table (`changes.upsert_unstaged`,
SQLite): the same rows, values and counts as through a staging table, which it skips only
where staging would rank nothing and delete nothing; and nothing of it stays when the batch
fails."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.dbcheck import fetch
from tests.test_changes import ChangeLake, guid, row
from turbodata import migrate
from turbodata.dialects import sqlite_rows
from turbodata.dialects.sqlite import SQLiteDialect
from turbodata.load.loader import LoadOptions
from turbodata.summary import RunSummary


@pytest.fixture()
def statements() -> Iterator[list[str]]:
    """Every statement SQLAlchemy sends while the test runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def staged(statements: list[str]) -> int:
    return sum(s.startswith("CREATE TEMPORARY TABLE") for s in statements)


def mixed_lake(root: Path) -> ChangeLake:
    """Inserts, then one folder of every kind of change a row can meet, each key once."""
    lake = ChangeLake(root)
    lake.folder([row(n, 10, 1, f"first {n}") for n in range(1, 7)])
    lake.folder(
        [
            row(1, 11, 2, "newer version"),
            row(2, 9, 2, "older version: ignored"),
            row(3, 10, 1, "the same change read again"),  # same version and Sink date
            row(4, None, 3, "no version, later Sink date"),
            row(5, 10, 9, "equal version, later Sink date: ignored"),
            row(7, 1, 2, "new key"),
        ]
    )
    return lake


def table_and_counts(db_url: str, summary: RunSummary) -> tuple[list[tuple], tuple[int, int, int]]:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            'SELECT *, typeof("versionnumber"), typeof("SinkModifiedOn") FROM t ORDER BY "Id"'
        ).all()
    engine.dispose()
    t = summary.tables["t"]
    return [tuple(r) for r in rows], (t.rows_inserted, t.rows_updated, t.rows_deleted)


@pytest.mark.parametrize("soft_delete", [False, True], ids=["hard", "soft"])
def test_a_small_folder_upserted_unstaged_ends_as_staging_would_leave_it(
    tmp_path: Path, statements: list[str], monkeypatch: pytest.MonkeyPatch, soft_delete: bool
) -> None:
    lake = mixed_lake(tmp_path / "lake")
    options = LoadOptions(soft_delete=soft_delete)
    unstaged_url = f"sqlite:///{tmp_path / 'unstaged.sqlite'}"
    unstaged = migrate(lake.root, unstaged_url, options=options)
    assert unstaged.ok, unstaged.to_dict()
    assert staged(statements) == 0  # neither folder was staged

    monkeypatch.setattr(SQLiteDialect, "unstaged_upsert_rows", 0)
    staged_url = f"sqlite:///{tmp_path / 'staged.sqlite'}"
    through_staging = migrate(lake.root, staged_url, options=options)
    assert staged(statements) == 1  # the second folder (the first goes into an empty table)

    assert table_and_counts(unstaged_url, unstaged) == table_and_counts(staged_url, through_staging)
    names = {str(r["Id"]): r["name"] for r in fetch(unstaged_url, "t")}
    assert names[guid(1)] == "newer version" and names[guid(2)] == "first 2"
    assert names[guid(3)] == "the same change read again" and names[guid(5)] == "first 5"
    assert names[guid(4)] == "no version, later Sink date" and names[guid(7)] == "new key"
    assert unstaged.tables["t"].rows_updated == 3  # 1, 3 (rewritten) and 4
    assert unstaged.tables["t"].rows_inserted == 7


@pytest.mark.parametrize(
    "second",
    [
        pytest.param([row(1, 11, 2, "a"), row(1, 12, 3, "b")], id="a key twice"),
        pytest.param([row(1, 11, 2, "a"), row(2, 11, 2, delete=True)], id="a delete row"),
    ],
)
def test_a_small_folder_that_needs_ranking_or_deletes_is_staged(
    tmp_path: Path, db_url: str, statements: list[str], second: list[dict]
) -> None:
    lake = ChangeLake(tmp_path / "lake")
    lake.folder([row(n, 10, 1, f"first {n}") for n in (1, 2)])
    lake.folder(second)

    summary = migrate(lake.root, db_url)

    assert summary.ok, summary.to_dict()
    if db_url.startswith("sqlite"):
        assert staged(statements) == 1
    loaded = {str(r["Id"]): (r["name"], r["versionnumber"]) for r in fetch(db_url, "t")}
    assert loaded == lake.expected()


def test_an_unstaged_upsert_that_fails_leaves_nothing_and_the_rerun_loads_it_once(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = mixed_lake(tmp_path / "lake")
    real_upsert = sqlite_rows.upsert

    def upsert_then_fail(*args, **kwargs) -> int:
        real_upsert(*args, **kwargs)  # the rows are in the table, uncommitted
        raise sa.exc.OperationalError("UPSERT", None, Exception("disk I/O error"))

    monkeypatch.setattr(sqlite_rows, "upsert", upsert_then_fail)
    failed = migrate(lake.root, sqlite_url)
    assert failed.tables["t"].status == "failed" and "disk I/O error" in failed.tables["t"].error
    assert {str(r["Id"]): r["name"] for r in fetch(sqlite_url, "t")} == {
        guid(n): f"first {n}" for n in range(1, 7)
    }
    assert len(fetch(sqlite_url, "_turbodata_files")) == 1  # the second folder's: rolled back

    monkeypatch.setattr(sqlite_rows, "upsert", real_upsert)
    rerun = migrate(lake.root, sqlite_url)

    assert rerun.ok and rerun.tables["t"].files_read == 1
    assert (rerun.tables["t"].rows_inserted, rerun.tables["t"].rows_updated) == (1, 3)
    assert len(fetch(sqlite_url, "t")) == 7


@pytest.fixture()
def sqlite_999_parameters() -> Iterator[None]:
    """SQLite before 3.32 (Ubuntu 20.04's 3.31, Debian 10) binds at most 999 parameters."""

    def limit(dbapi_connection: object, _record: object) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

    sa.event.listen(sa.engine.Engine, "connect", limit)
    yield
    sa.event.remove(sa.engine.Engine, "connect", limit)


@pytest.mark.usefixtures("sqlite_999_parameters")
def test_a_thousand_keys_are_counted_in_slices_an_older_sqlite_binds(
    tmp_path: Path, statements: list[str]
) -> None:
    lake = ChangeLake(tmp_path / "lake")
    lake.folder([row(1, 1, 1, "first")])
    lake.folder([row(n, 2, 2, f"r{n}") for n in range(1, 1001)])  # 1,000 rows, keys once

    summary = migrate(lake.root, f"sqlite:///{tmp_path / 'db.sqlite'}")

    assert summary.ok, summary.tables["t"].error  # was: "too many SQL variables"
    assert staged(statements) == 0
    assert (summary.tables["t"].rows_inserted, summary.tables["t"].rows_updated) == (1000, 1)


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([row(n, 2, 2, f"r{n}") for n in range(1, 1002)], id="1,001 rows"),
        pytest.param([row(1, 2, 2, "x" * 50), row(2, 2, 2, "y" * (1 << 20))], id="over 1 MB"),
    ],
)
def test_a_batch_over_the_limits_is_staged(
    tmp_path: Path, statements: list[str], rows: list[dict]
) -> None:
    lake = ChangeLake(tmp_path / "lake")
    lake.folder([row(1, 1, 1, "first")])
    lake.folder(rows)

    summary = migrate(lake.root, f"sqlite:///{tmp_path / 'db.sqlite'}")

    assert summary.ok, summary.to_dict()
    assert staged(statements) == 1
    assert summary.tables["t"].rows_updated == 1

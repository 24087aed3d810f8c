"""Issue 11: a keyed batch into the table it creates goes in without staging when every key
comes once; a repeated key (also a delete row's) rolls it back and loads it through staging.
Either way the table, the counts and the ledger are what staging alone gives."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.dbcheck import fetch, scalar
from tests.test_changes import ChangeLake, guid, loaded, row
from turbodata import migrate
from turbodata.dialects.sqlite import SQLiteDialect
from turbodata.load.changes import Staging
from turbodata.load.loader import LoadOptions

STAGING_LOG = "loading through staging"


@pytest.fixture()
def lake(tmp_path: Path) -> ChangeLake:
    return ChangeLake(tmp_path / "lake")


@pytest.fixture()
def stagings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The target of every staging table made; small batches of changes are staged on SQLite
    too (they go in unstaged: test_unstaged_upsert.py)."""
    monkeypatch.setattr(SQLiteDialect, "unstaged_upsert_rows", 0)
    made: list[str] = []
    original = Staging.__init__

    def recording(self: Staging, *args: object, **kwargs: object) -> None:
        made.append(args[2].name)  # type: ignore[attr-defined]  # (conn, dialect, target, ...)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Staging, "__init__", recording)
    return made


def test_unique_keys_of_a_first_load_go_in_without_staging(
    lake: ChangeLake, db_url: str, stagings: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    lake.folder([row(1, 1, 1, "a"), row(2, 1, 1, "b")], [row(3, 2, 2, "c")])
    lake.folder([row(1, 2, 6, "a2")])
    with caplog.at_level(logging.INFO, logger="turbodata"):
        summary = migrate(lake.root, db_url)
    assert summary.ok, summary.to_dict()
    assert loaded(db_url) == lake.expected()
    assert stagings == ["t"]  # the second folder updates: staged; the first was not
    assert STAGING_LOG not in caplog.text
    t = summary.tables["t"]
    assert (t.rows_inserted, t.rows_updated, t.rows_deleted) == (3, 1, 0)
    assert scalar(db_url, "SELECT sum(rows_loaded) FROM _turbodata_files") == 4


def test_a_repeated_key_in_a_first_load_falls_back_to_staging(
    lake: ChangeLake, db_url: str, stagings: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    lake.folder([row(1, 1, 1, "old"), row(2, 1, 1, "b")], [row(1, 2, 2, "new")])
    with caplog.at_level(logging.INFO, logger="turbodata"):
        summary = migrate(lake.root, db_url)
    assert summary.ok, summary.to_dict()
    assert loaded(db_url) == lake.expected() == {guid(1): ("new", 2), guid(2): ("b", 1)}
    assert STAGING_LOG in caplog.text and stagings == ["t"]
    t = summary.tables["t"]
    assert (t.rows_read, t.rows_inserted, t.rows_updated, t.rows_deleted) == (3, 2, 0, 0)
    assert scalar(db_url, "SELECT count(*) FROM _turbodata_files") == 2  # once, not twice


def test_a_delete_row_of_a_key_created_in_the_same_first_batch_wins(
    lake: ChangeLake, db_url: str, stagings: list[str]
) -> None:
    lake.folder([row(1, 1, 1, "created"), row(2, 1, 1, "kept")], [row(1, None, 4, delete=True)])
    summary = migrate(lake.root, db_url)
    assert summary.ok, summary.to_dict()
    assert loaded(db_url) == lake.expected() == {guid(2): ("kept", 1)}
    assert stagings == ["t"]  # the delete row's key repeats: staged


@pytest.mark.parametrize("soft_delete", [False, True])
def test_a_lone_delete_row_in_a_first_load_is_not_inserted(
    lake: ChangeLake, db_url: str, stagings: list[str], soft_delete: bool
) -> None:
    lake.folder([row(1, 1, 1, "a")], [row(9, None, 2, delete=True)])
    summary = migrate(lake.root, db_url, options=LoadOptions(soft_delete=soft_delete))
    assert summary.ok, summary.to_dict()
    assert [str(r["Id"]) for r in fetch(db_url, "t")] == [guid(1)]
    assert stagings == []
    t = summary.tables["t"]
    assert (t.rows_inserted, t.rows_updated, t.rows_deleted) == (1, 0, 0)


@pytest.mark.parametrize("longer_name", [False, True])
def test_the_table_gets_its_key_after_the_rows(
    lake: ChangeLake, db_url: str, longer_name: bool
) -> None:
    """The table is created without its key, the rows go in, then the key is added (one index
    build), also when a column was widened on the way (a name longer than its declared 50):
    PostgreSQL's primary key; SQLite, which cannot add a primary key to a table, a unique
    index (a widening rebuilds its table, which must not build the index early)."""
    second = "b" * (80 if longer_name else 1)
    lake.folder([row(1, 1, 1, "a")], [row(2, 1, 1, second)])
    summary = migrate(lake.root, db_url)
    assert summary.ok, summary.to_dict()
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            if db_url.startswith("postgresql"):
                assert inspector.get_pk_constraint("t")["constrained_columns"] == ["Id"]
            else:
                [index] = inspector.get_indexes("t")
                assert (index["name"], index["column_names"]) == ("_turbodata_key_t", ["Id"])
                assert index["unique"]
    finally:
        engine.dispose()
    ddl = [r["statement"] for r in fetch(db_url, "_turbodata_ddl")]
    assert ddl == summary.tables["t"].ddl
    assert ddl[0].startswith("CREATE TABLE") and "PRIMARY KEY" not in ddl[0]
    assert bool(ddl[1:-1]) == longer_name  # SQLite widens by rebuilding the table
    if db_url.startswith("postgresql"):
        assert ddl[-1] == 'ALTER TABLE "t" ADD PRIMARY KEY ("Id")'
    else:
        assert ddl[-1] == 'CREATE UNIQUE INDEX _turbodata_key_t ON "t" ("Id")'
    lake.folder([row(2, 2, 9, "updated")])  # an upsert needs the key
    assert migrate(lake.root, db_url).ok
    assert loaded(db_url) == lake.expected()


@pytest.mark.parametrize("declared_key", [False, True])
def test_sqlite_keeps_the_key_index_when_a_later_run_widens_the_table(
    lake: ChangeLake, sqlite_url: str, declared_key: bool
) -> None:
    """A widening rebuilds a SQLite table, and dropping the old table drops its index: the
    rebuilt table gets it again, so a repeated key is still refused and upserts still work.
    A table created with a declared primary key (turbodata before 2026-12-06) gets it too."""
    lake.folder([row(1, 1, 1, "a"), row(2, 1, 1, "b")])
    assert migrate(lake.root, sqlite_url).ok
    if declared_key:
        redeclare_the_key(sqlite_url)
    lake.folder([row(2, 2, 2, "b" * 80)])  # longer than the declared 50: a rebuild
    lake.folder([row(1, 3, 3, "a3"), row(3, 1, 3, "c")])
    summary = migrate(lake.root, sqlite_url)
    assert summary.ok, summary.to_dict()
    assert loaded(sqlite_url) == lake.expected()
    assert any("_turbodata_rebuild_t" in s for s in summary.tables["t"].ddl)
    engine = sa.create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert [i["name"] for i in sa.inspect(conn).get_indexes("t")] == ["_turbodata_key_t"]
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.exec_driver_sql(f"INSERT INTO t (\"Id\") VALUES ('{guid(3)}')")
    finally:
        engine.dispose()


def redeclare_the_key(sqlite_url: str) -> None:
    """Turn the table's key index into a declared PRIMARY KEY, as turbodata made it before."""
    engine = sa.create_engine(sqlite_url)
    try:
        with engine.begin() as conn:
            create = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 't'")
            keyed = create.scalar_one().rstrip().removesuffix(")") + ', PRIMARY KEY ("Id"))'
            conn.exec_driver_sql("ALTER TABLE t RENAME TO old_t")
            conn.exec_driver_sql("DROP INDEX _turbodata_key_t")
            conn.exec_driver_sql(keyed)
            conn.exec_driver_sql("INSERT INTO t SELECT * FROM old_t")
            conn.exec_driver_sql("DROP TABLE old_t")
            assert sa.inspect(conn).get_pk_constraint("t")["constrained_columns"] == ["Id"]
    finally:
        engine.dispose()

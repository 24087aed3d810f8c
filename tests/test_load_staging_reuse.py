"""Issue 11, per-file cost: the batches of a table in one run share one staging Table object
(SQLite, PostgreSQL), so its statements are compiled once per table; a batch rolled back and
tried again takes the same name without colliding; SQL Server keeps a name per batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute
from turbodata import migrate
from turbodata.dialects import for_name
from turbodata.dialects.base import Dialect
from turbodata.dialects.mssql import MSSQLDialect
from turbodata.dialects.sqlite import SQLiteDialect
from turbodata.load import changes, schema
from turbodata.load.loader import LoadOptions
from turbodata.types.sql import Kind, SqlType

COLUMNS = [
    attribute("Id", "guid"),
    attribute("amount", "int64"),
    attribute("versionnumber", "int64"),
]
FOLDERS = ["2025-01-01T00.00.00Z", "2025-01-02T00.00.00Z", "2025-01-03T00.00.00Z"]


def key(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def write_lake(root: Path) -> None:
    """Three folders of `t`: each updates key 1 (newer version) and adds one key."""
    lake = LakeBuilder(root)
    for index, folder in enumerate(FOLDERS):
        rows = [f"{key(1)},{index},{index + 1}", f"{key(index + 2)},{100 + index},1"]
        lake.folder(folder, {"t": COLUMNS}, {"t/part.csv": "\n".join(rows) + "\n"})


# key → (amount, versionnumber) once the three folders are loaded
LOADED = {key(1): (2, 3), key(2): (100, 1), key(3): (101, 1), key(4): (102, 1)}


def loaded(db_url: str) -> dict[str, tuple[int, int]]:
    return {str(r["Id"]).lower(): (r["amount"], r["versionnumber"]) for r in fetch(db_url, "t")}


def staging_statements(lake: Path, url: str) -> list[tuple[str, str]]:
    """(SQLAlchemy's cache outcome, statement) of every staging statement a migrate runs."""
    seen: list[tuple[str, str]] = []

    def record(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "_turbodata_stage" in statement and context is not None and context.compiled:
            seen.append((context._get_cache_stats().split()[0], statement))

    event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        summary = migrate(lake, url)
    finally:
        event.remove(sa.engine.Engine, "before_cursor_execute", record)
    assert summary.ok, summary.to_dict()
    return seen


@pytest.fixture()
def always_staged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small batches staged on SQLite too (they go in unstaged: test_unstaged_upsert.py)."""
    monkeypatch.setattr(SQLiteDialect, "unstaged_upsert_rows", 0)


@pytest.mark.usefixtures("always_staged")
def test_later_batches_of_a_table_reuse_the_compiled_staging_statements(
    tmp_path: Path, db_url: str
) -> None:
    write_lake(tmp_path / "lake")
    seen = staging_statements(tmp_path / "lake", db_url)
    # the first folder goes into the table it creates without staging; the second compiles
    # the staging statements, the third finds every one of them in the cache
    assert seen, "the later folders go through staging"
    first_compiled = {statement for outcome, statement in seen if outcome == "generated"}
    reused = [statement for outcome, statement in seen if outcome == "cached"]
    assert first_compiled and set(reused) == first_compiled
    assert loaded(db_url) == LOADED


@pytest.mark.usefixtures("always_staged")
def test_a_batch_rolled_back_after_staging_loads_again_under_the_same_name(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transient error after the staging table was created rolls the batch back; the retry
    creates the same staging table again, which a leftover would make fail."""
    write_lake(tmp_path / "lake")
    names: list[str] = []
    original = changes.Staging.keep_winners

    def fail_once(self: changes.Staging, **options: bool) -> None:
        names.append(self.table.name)
        if len(names) == 1:
            dropped = Exception("server closed the connection unexpectedly")
            raise sa.exc.OperationalError("SELECT 1", {}, dropped, connection_invalidated=True)
        original(self, **options)

    monkeypatch.setattr(changes.Staging, "keep_winners", fail_once)
    summary = migrate(tmp_path / "lake", db_url, options=LoadOptions(retry_wait=0.01))
    assert summary.ok, summary.to_dict()
    assert len(names) == 3 and len(set(names)) == 1  # folder 2 twice, folder 3 once
    assert sorted(r["amount"] for r in fetch(db_url, "t")) == [2, 100, 101, 102]


def test_sql_server_takes_a_new_staging_table_for_every_batch() -> None:
    dialect = MSSQLDialect()
    target = sa.Table("t", sa.MetaData(), sa.Column("Id", sa.Integer, primary_key=True))
    types = (("Id", SqlType(Kind.INTEGER)),)
    sql = sa.create_engine("mssql+pytds://").dialect
    first, _ = changes.staging_table(dialect, sql, target, types)
    second, _ = changes.staging_table(dialect, sql, target, types)
    assert first is not second and first.name != second.name


@pytest.mark.parametrize("index_from_rows", [Dialect.staged_key_index_from_rows, 1, None])
def test_the_staged_key_is_indexed_only_for_many_rows_and_the_winners_are_the_same(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, index_from_rows: int | None
) -> None:
    dialect = type(for_name(sa.make_url(db_url).get_backend_name()))
    monkeypatch.setattr(dialect, "staged_key_index_from_rows", index_from_rows)
    write_lake(tmp_path / "lake")
    repeated = [f"{key(1)},10,10", f"{key(1)},9,9", f"{key(5)},50,1", f"{key(5)},51,1"]
    LakeBuilder(tmp_path / "lake").folder(
        "2025-01-04T00.00.00Z", {"t": COLUMNS}, {"t/part.csv": "\n".join(repeated) + "\n"}
    )
    seen = staging_statements(tmp_path / "lake", db_url)
    indexed = any(s.lstrip().upper().startswith("CREATE INDEX") for _, s in seen)
    assert indexed == (index_from_rows == 1)  # the lake stages 4 rows
    # the newest version wins; of equal versions, the later row
    assert loaded(db_url) == {**LOADED, key(1): (10, 10), key(5): (51, 1)}


def test_a_table_is_reflected_once_per_run_not_once_per_batch(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its later batches start from the types the batch before left (under the table's lease
    nothing else changes them); the schema check before the load reflects it once."""
    write_lake(tmp_path / "lake")
    reflected: list[str] = []
    original = schema.reflect

    def counting(conn, dialect, name, db_schema):  # type: ignore[no-untyped-def]
        reflected.append(name)
        return original(conn, dialect, name, db_schema)

    monkeypatch.setattr(schema, "reflect", counting)
    summary = migrate(tmp_path / "lake", db_url)
    assert summary.ok, summary.to_dict()
    assert reflected.count("t") == 2  # the schema check, then the first batch
    assert sorted(r["amount"] for r in fetch(db_url, "t")) == [2, 100, 101, 102]

"""How the database runs the staged change statements: on SQLite, applying a folder's deletes
finds the table's rows by their key from the staged delete rows, instead of testing every
row of the table (which made 1,500 deletes onto 300,000 rows cost 0.4 s; bench/README.md), and
the upsert takes the staged rows in key order."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from turbodata.dialects.base import Dialect, _on_conflict_statement
from turbodata.dialects.postgresql import PostgreSQLDialect
from turbodata.dialects.sqlite import SQLiteDialect
from turbodata.load.changes import ChangeColumns, _delete_statement, strictly_newer

COLUMNS = ChangeColumns(("Id",), "versionnumber", "SinkModifiedOn", "IsDelete")


def tables(metadata: sa.MetaData, key: tuple[str, ...]) -> tuple[sa.Table, sa.Table]:
    def columns(primary: bool) -> list[sa.Column]:
        keys = [sa.Column(k, sa.String(36), primary_key=primary) for k in key]
        rest = [
            sa.Column("versionnumber", sa.BigInteger),
            sa.Column("SinkModifiedOn", sa.DateTime),
            sa.Column("IsDelete", sa.Boolean),
        ]
        return [*keys, *rest]

    target = sa.Table("account", metadata, *columns(True))
    staging = sa.Table("stage", metadata, *columns(False), prefixes=["TEMPORARY"])
    return target, staging


def plan(statement: sa.Executable, metadata: sa.MetaData, indexed: bool = True) -> list[str]:
    """SQLite's plan; `indexed`: the staged key is indexed (from 10,000 staged rows)."""
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        metadata.create_all(conn)
        if indexed:
            stage_key = sa.Index("stage_key", metadata.tables["stage"].c.Id)
            conn.execute(sa.schema.CreateIndex(stage_key))
        sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
        return [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]


@pytest.mark.parametrize("indexed", [True, False], ids=["staged key indexed", "few rows"])
def test_deletes_find_the_tables_rows_by_key_on_sqlite(indexed: bool) -> None:
    for soft in (False, True):
        metadata = sa.MetaData()
        target, staging = tables(metadata, ("Id",))
        steps = plan(_delete_statement(target, staging, COLUMNS, soft), metadata, indexed)
        assert any(s.startswith("SEARCH account USING") for s in steps), steps
        assert not any(s.startswith("SCAN account") for s in steps), steps


def test_the_plan_check_sees_a_scan_of_the_table() -> None:
    metadata = sa.MetaData()
    target, staging = tables(metadata, ("Id",))
    matches = staging.c.Id == target.c.Id
    correlated = sa.delete(target).where(sa.exists().where(matches, staging.c.IsDelete))
    assert "SCAN account" in plan(correlated, metadata)


def upsert_sql(dialect: Dialect) -> str:
    metadata = sa.MetaData()
    target, staging = tables(metadata, ("Id",))
    names = [c.name for c in target.columns]
    statement = _on_conflict_statement(
        dialect.on_conflict_insert,
        target,
        staging,
        tuple(names),
        ("Id",),
        strictly_newer(COLUMNS),
        (),
        dialect.upsert_in_key_order,
    )
    return str(statement.compile(dialect=sa.create_engine(f"{dialect.name}://").dialect))


def test_sqlite_upserts_the_staged_rows_in_key_order_and_postgresql_as_they_come() -> None:
    """SQLite stores a table by rowid: rows in key order visit its key index and its pages in
    order (bench/cli.py's incremental folder: 3.8 → 3.4 s)."""
    assert 'ORDER BY stage."Id" ON CONFLICT ("Id") DO UPDATE' in upsert_sql(SQLiteDialect())
    assert "ORDER BY" not in upsert_sql(PostgreSQLDialect())

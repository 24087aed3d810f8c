"""Per-file cost: a table's later batches plan with the Table object built for its first."""

from __future__ import annotations

import sqlalchemy as sa

from turbodata.dialects.postgresql import PostgreSQLDialect
from turbodata.dialects.sqlite import SQLiteDialect
from turbodata.load import schema
from turbodata.types.sql import Kind, SqlType

TYPES = {"Id": SqlType(Kind.GUID), "name": SqlType(Kind.STRING, length=20)}


def test_the_same_table_is_built_once_and_another_shape_anew() -> None:
    dialect = SQLiteDialect()
    first = schema.table_object(dialect, "account", dict(TYPES), None, ("Id",))
    assert schema.table_object(dialect, "account", dict(TYPES), None, ["Id"]) is first
    wider = {**TYPES, "name": SqlType(Kind.STRING, length=40)}
    other = schema.table_object(dialect, "account", wider, None, ("Id",))
    assert other is not first
    assert str(other.c["name"].type) == "VARCHAR(40)"
    assert [c.name for c in first.primary_key] == ["Id"]


def test_a_planned_table_without_changes_reuses_the_table_and_plans_nothing() -> None:
    dialect, sql = SQLiteDialect(), sa.create_engine("sqlite://").dialect
    created = schema.plan_table(sql, dialect, "account", dict(TYPES), None, None, ("Id",))
    again = schema.plan_table(sql, dialect, "account", dict(TYPES), created.types, None, ("Id",))
    assert again.table is created.table
    assert (again.statements, again.created) == ([], False)


def test_a_table_planned_with_its_key_later_leaves_the_cached_table_its_key() -> None:
    """The key added after a first load is compiled from a Table of its own: SQLAlchemy's
    AddConstraint would drop it from the CREATE TABLE of the cached one, which the next plan
    (a batch loaded through staging, or another run) uses."""
    dialect = PostgreSQLDialect()
    sql = sa.create_engine("postgresql+psycopg://").dialect
    later = schema.plan_table(sql, dialect, "t", dict(TYPES), None, None, ("Id",), key_later=True)
    assert "PRIMARY KEY" not in later.statements[0]
    assert later.add_key == 'ALTER TABLE "t" ADD PRIMARY KEY ("Id")'
    assert [c.name for c in later.table.primary_key] == ["Id"]  # upserts need it
    now = schema.plan_table(sql, dialect, "t", dict(TYPES), None, None, ("Id",))
    assert 'PRIMARY KEY ("Id")' in now.statements[0] and now.add_key is None

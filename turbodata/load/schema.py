"""Reflect a target table, compare it with what a batch needs, and plan the DDL.

Only additive changes are planned: CREATE TABLE, one ADD per new column (NULL-able), and
widening along `types.widen`. A column that vanished from the metadata stays. An incompatible
change raises `SchemaConflict` before anything is changed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Dialect as SqlDialect

from turbodata.dialects.base import ColumnRefused, Dialect
from turbodata.types.sql import IncompatibleType, SqlType, widen


class SchemaConflict(Exception):
    """The batch's schema cannot be applied to the existing table without losing data."""


@dataclass
class TablePlan:
    """The target table as it will be after `statements` run."""

    table: sa.Table
    types: dict[str, SqlType]  # every column of the table, in table order
    key: tuple[str, ...] = ()  # primary key columns
    created: bool = False
    added: list[str] = field(default_factory=list)
    widened: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    # a table created without its primary key (`key_later`): the statement that adds it once
    # the first rows are in (an index built once, not maintained row by row)
    add_key: str | None = None


def table_object(
    dialect: Dialect,
    name: str,
    types: dict[str, SqlType],
    schema: str | None,
    key: Sequence[str] = (),
) -> sa.Table:
    """A SQLAlchemy Table for `types`: the key columns form the primary key, every other
    column is NULL-able (delete rows are mostly empty; `isNullable` is unreliable).

    Design: the same inputs give the same Table object (kept for the process, bounded), as
    every batch of a table plans it again and building it cost more than a small file's
    rows; nothing changes a Table once it is built here.
    """
    return _table_object(dialect, name, tuple(types.items()), schema, tuple(key))


@functools.lru_cache(maxsize=1024)
def _table_object(
    dialect: Dialect,
    name: str,
    types: tuple[tuple[str, SqlType], ...],
    schema: str | None,
    key: tuple[str, ...],
    key_constraint: bool = True,  # False: the key columns NOT NULL, without the constraint
) -> sa.Table:
    dialect.check_identifier(name)
    columns = []
    for column_name, sql_type in types:
        dialect.check_identifier(column_name)
        in_key = column_name in key
        columns.append(
            sa.Column(
                column_name,
                dialect.column_type(sql_type),
                nullable=not in_key,
                primary_key=in_key and key_constraint,
                # a key holds the lake's values: never IDENTITY (SQL Server refuses explicit
                # values there, found by review) nor SERIAL (a sequence nobody uses)
                autoincrement=False,
                quote=True,
            )
        )
    quoted_schema = sa.sql.quoted_name(schema, quote=True) if schema else None
    return sa.Table(name, sa.MetaData(), *columns, schema=quoted_schema, quote=True)


@functools.lru_cache(maxsize=1024)
def _create_then_key(
    sql: SqlDialect,
    dialect: Dialect,
    name: str,
    types: tuple[tuple[str, SqlType], ...],
    schema: str | None,
    key: tuple[str, ...],
) -> tuple[str, str]:
    """CREATE TABLE without the key, and the statement that adds it (`Dialect.add_key_sql`).
    Kept per table: a run plans a table for every batch (a SQLite keyed table always takes
    this path)."""
    created = _table_object(dialect, name, types, schema, key, key_constraint=False)
    create = str(sa.schema.CreateTable(created).compile(dialect=sql)).strip()
    return create, dialect.add_key_sql(sql, _table_object(dialect, name, types, schema, key))


def reflect(
    conn: Connection, dialect: Dialect, name: str, schema: str | None
) -> dict[str, SqlType] | None:
    """The table's current column types, or None when it does not exist."""
    if not sa.inspect(conn).has_table(name, schema=schema):
        return None
    try:
        return dialect.reflect_types(conn, name, schema)
    except ColumnRefused as refused:
        raise SchemaConflict(str(refused)) from None


def plan_table(
    sql: SqlDialect,
    dialect: Dialect,
    name: str,
    wanted: dict[str, SqlType],
    existing: dict[str, SqlType] | None,
    schema: str | None = None,
    key: Sequence[str] = (),
    key_later: bool = False,
) -> TablePlan:
    """What must change so the table holds every column of `wanted` at its type.

    `existing` is the reflected table (`reflect`), None when it does not exist. Pure: the
    statements are compiled for `sql` (SQLAlchemy's dialect) and nothing is executed.
    `key_later`: a new table is created without its key (`TablePlan.add_key`); for a table
    that exists, its key is still to come (a first load's rows are going in).
    """
    wanted = {column: dialect.stored_type(t) for column, t in wanted.items()}
    if existing is None:
        table = table_object(dialect, name, wanted, schema, key)
        if key and (key_later or not dialect.key_in_create_table):
            create, add_key = _create_then_key(
                sql, dialect, name, tuple(wanted.items()), schema, tuple(key)
            )
            if key_later:
                statements, later = [create], add_key
            else:
                statements, later = [create, add_key], None
            return TablePlan(
                table, dict(wanted), tuple(key), created=True, statements=statements, add_key=later
            )
        create = str(sa.schema.CreateTable(table).compile(dialect=sql)).strip()
        return TablePlan(table, dict(wanted), tuple(key), created=True, statements=[create])
    merged = dict(existing)
    added, widened = [], []
    for column, sql_type in wanted.items():
        if column not in existing:
            _refuse_case_twin(dialect, column, existing)
            merged[column] = sql_type
            added.append(column)
            continue
        try:
            merged[column] = widen(existing[column], sql_type)
        except IncompatibleType as error:
            raise SchemaConflict(
                f"column {column!r} is {existing[column]} in the database but the metadata now"
                f" says {sql_type}: {error}"
            ) from error
        if merged[column] != existing[column]:
            widened.append(column)
    table = table_object(dialect, name, merged, schema, key)
    statements = [dialect.add_column_sql(sql, table, table.c[column]) for column in added]
    if widened:
        columns = [table.c[c] for c in widened]
        statements += dialect.widen_columns_sql(sql, table, columns, existing, merged, key_later)
    return TablePlan(table, merged, tuple(key), added=added, widened=widened, statements=statements)


def _refuse_case_twin(dialect: Dialect, column: str, existing: dict[str, SqlType]) -> None:
    """A new column whose name differs from one the table has only in case (the metadata
    renamed `name` to `Name`): one column to the database, which cannot add it."""
    if not dialect.names_ignore_case:
        return
    twin = next((name for name in existing if name.lower() == column.lower()), None)
    if twin is not None:
        raise SchemaConflict(
            f"column {column!r} differs from the table's column {twin!r} only in case, which"
            f" {dialect.title} takes for one name: the metadata renamed it (rename the table's"
            " column to match, or name the column back in the metadata)"
        )


def apply(conn: Connection, plan: TablePlan) -> None:
    for statement in plan.statements:
        conn.exec_driver_sql(statement)

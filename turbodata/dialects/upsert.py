"""`INSERT … ON CONFLICT (key) DO UPDATE … WHERE newer`, shared by SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from turbodata.dialects.base import Newer


def on_conflict_upsert(
    insert: Callable[[sa.Table], sa.Insert],
    conn: Connection,
    target: sa.Table,
    staging: sa.Table,
    names: Sequence[str],
    key: Sequence[str],
    newer: Newer,
) -> int:
    """One statement; needs a unique constraint on `key` (the table's primary key)."""
    # `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join
    rows = sa.select(*(staging.c[n] for n in names)).where(sa.true())
    statement = insert(target).from_select(list(names), rows)
    updates = {n: statement.excluded[n] for n in names if n not in key}
    if updates:
        statement = statement.on_conflict_do_update(
            index_elements=list(key), set_=updates, where=newer(statement.excluded, target.c)
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(key))
    return conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount

"""SQLite, the embedded default: exact decimals as text, transactional DDL, executemany."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine import Dialect as SqlDialect
from sqlalchemy.types import TypeEngine

from turbodata.dialects.base import DeclaredType, Dialect, Newer, on_conflict_rows_sql
from turbodata.types.sql import INTEGER_ORDER, Kind, SqlType

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

LOCK_WAIT_SECONDS = 60.0  # the longest wait for a writer that holds no run's lease
_CHECK_EVERY_MS = 1000  # how often a waiting BEGIN looks at who holds the lock
PAGE_SIZE = 16384  # bytes per page of a database file turbodata creates

_TYPES: dict[Kind, Callable[[SqlType], str]] = {
    Kind.BOOLEAN: lambda t: "BOOLEAN",
    Kind.TINYINT: lambda t: "TINYINT",
    Kind.SMALLINT: lambda t: "SMALLINT",
    Kind.INTEGER: lambda t: "INTEGER",
    Kind.BIGINT: lambda t: "BIGINT",
    # SQLite has no exact decimal: NUMERIC affinity would keep only 15 digits, so decimals are
    # stored as text (the name contains TEXT, which gives TEXT affinity) and keep (p,s) visible.
    Kind.DECIMAL: lambda t: f"DECIMAL_TEXT({t.precision},{t.scale})",
    Kind.FLOAT: lambda t: "FLOAT",
    Kind.REAL: lambda t: "REAL",
    Kind.STRING: lambda t: f"VARCHAR({t.length})" if t.length else "TEXT",
    Kind.GUID: lambda t: "UUID",
    Kind.DATETIME: lambda t: f"DATETIME2({t.fraction})",
    Kind.DATETIMEOFFSET: lambda t: f"DATETIMEOFFSET({t.fraction})",
    Kind.DATE: lambda t: "DATE",
    Kind.TIME: lambda t: f"TIME({t.fraction})",
}


def _declared(name: str) -> Callable[..., DeclaredType]:
    def declared(*args: int) -> DeclaredType:
        return DeclaredType(f"{name}({','.join(map(str, args))})" if args else name)

    return declared


_REFLECTED_NAMES = {
    name: _declared(name)
    for name in ("DECIMAL_TEXT", "DATETIME2", "DATETIMEOFFSET", "TIME", "UUID", "TINYINT")
}


class SQLiteDialect(Dialect):
    name = "sqlite"
    title = "SQLite"
    max_identifier_length = 1024
    single_writer = True
    fixed_schemas = ("main",)  # answered without opening (and so creating) the file
    decimals_as_text = True  # DECIMAL_TEXT: exact digits, no numeric order

    def configure_engine(self, engine: Engine) -> Engine:
        # pysqlite opens transactions only before DML, so CREATE/ALTER would commit on their
        # own. Take over BEGIN so DDL and data share one transaction (SQLAlchemy's recipe).
        @sa.event.listens_for(engine, "connect")
        def _no_implicit_transactions(
            dbapi_connection: sqlite3.Connection, _record: object
        ) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT_SECONDS * 1000)}")
            # A database file turbodata creates gets 16 KiB pages (SQLite's default is 4 KiB;
            # the pragma does nothing to a file that has pages already). Loading is bulk
            # work: fewer, fuller pages made a 300k-row snapshot 3–12% and an incremental
            # folder about 20% faster here (bench/README.md, session 15), for a larger file
            # when it holds many tiny tables (a page or two each).
            dbapi_connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            # Write-ahead log: a commit appends to the -wal file and syncs once, instead of a
            # rollback journal synced twice (10.8 ms → 0.03 ms per commit here, most of a small
            # file's cost). With synchronous=NORMAL a commit survives a killed process; a power
            # cut can lose the last commits, never half of one, and the ledger commits with
            # its rows, so those files simply load again. The -wal and -shm files live beside
            # the database while it is open (sqlite.org/wal.html: not for network shares).
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")

        # SQLAlchemy's inspector reads our type names back (DECIMAL_TEXT(38,10), DATETIME2(7)
        # …) instead of guessing an affinity type; set on this engine's dialect only.
        engine.dialect.ischema_names = {**engine.dialect.ischema_names, **_REFLECTED_NAMES}

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            begin_immediate(conn.connection.driver_connection)

        return engine

    def column_type(self, sql_type: SqlType) -> TypeEngine:
        return DeclaredType(_TYPES[sql_type.kind](sql_type))

    def widen_columns_sql(
        self,
        sql: SqlDialect,
        table: sa.Table,
        columns: list[sa.Column],
        old: dict[str, SqlType],
        new: dict[str, SqlType],
        key_pending: bool = False,
    ) -> list[str]:
        # SQLite has no ALTER COLUMN: rebuild the table with the wider declared types
        # (sqlite.org/lang_altertable.html, "making other kinds of table schema changes").
        # Lengths are not enforced by SQLite, but later runs reflect the declared types.
        # DROP TABLE drops the key's index with it: it is built again on the new table,
        # unless the key is still to come (`key_pending`: a first load's rows are going in).
        prep = sql.identifier_preparer
        rebuilt = sa.Table(
            f"_turbodata_rebuild_{table.name}",
            sa.MetaData(),
            *(_without_key(column) for column in table.columns),
            schema=table.schema,
        )
        names = ", ".join(prep.quote(c.name) for c in table.columns)
        values = ", ".join(
            _at_scale(prep.quote(c.name), old.get(c.name), new.get(c.name)) for c in table.columns
        )
        statements = [
            str(sa.schema.CreateTable(rebuilt).compile(dialect=sql)).strip(),
            f"INSERT INTO {prep.format_table(rebuilt)} ({names}) "
            f"SELECT {values} FROM {prep.format_table(table)}",
            f"DROP TABLE {prep.format_table(table)}",
            f"ALTER TABLE {prep.format_table(rebuilt)} RENAME TO {prep.quote(table.name)}",
        ]
        if table.primary_key.columns and not key_pending:
            statements.append(self.add_key_sql(sql, table))
        return statements

    on_conflict_insert = staticmethod(sqlite_insert)
    upsert_in_key_order = True

    # SQLite cannot add a primary key to a table, so a key is a unique index, always added
    # after CREATE TABLE, and after the rows on a first load: one index build instead of a
    # B-tree insert per row in random key order (GUIDs), 0.86 against 1.56 s for 300k rows
    # (bench/README.md, session 7). ON CONFLICT takes a unique index as it takes a key.
    key_after_first_load = True
    key_in_create_table = False

    def add_key_sql(self, sql: SqlDialect, table: sa.Table) -> str:
        # written out: an sa.Index would join the Table object (or a copy of it, which cost
        # 1 ms per new table: 0.3 s of the 300-table lake)
        prep = sql.identifier_preparer
        index = prep.quote(key_index_name(table.name))
        if table.schema:  # SQLite names the index's schema, not the table's
            index = f"{prep.quote_schema(table.schema)}.{index}"
        columns = ", ".join(prep.quote(column.name) for column in table.primary_key.columns)
        return f"CREATE UNIQUE INDEX {index} ON {prep.quote(table.name)} ({columns})"

    def is_busy(self, error: BaseException) -> bool:
        # one writer at a time: "database is locked" once busy_timeout has passed
        return isinstance(error, sa.exc.OperationalError) and "locked" in str(error.orig)

    def python_values(self, array: pa.Array, sql_type: SqlType) -> list[object]:
        return sqlite_rows().bind_values(array, sql_type)

    def insert_batch(
        self, conn: Connection, table: sa.Table, batch: pa.RecordBatch, types: Sequence[SqlType]
    ) -> int:
        """`executemany` on the driver's cursor (`sqlite_rows.insert`)."""
        return sqlite_rows().insert(conn, table, batch, types)

    # a small file's changes skip the staging table (text keys compare byte for byte)
    unstaged_upsert_rows = 1_000

    def upsert_rows(
        self,
        conn: Connection,
        target: sa.Table,
        batches: Sequence[pa.RecordBatch],
        types: Sequence[SqlType],
        key: Sequence[str],
        newer: Newer,
        absent: Sequence[str] = (),
    ) -> int:
        """`executemany` of INSERT … ON CONFLICT on the driver's cursor (`sqlite_rows`)."""
        names = tuple(batches[0].schema.names)
        statement = on_conflict_rows_sql(
            self.on_conflict_insert, conn.dialect, target, names, tuple(key), newer, tuple(absent)
        )
        return sqlite_rows().upsert(conn, statement, batches, types)


def _at_scale(quoted: str, old: SqlType | None, new: SqlType | None) -> str:
    """A column's values for the rebuilt table: a decimal widened to more fraction digits, or
    an integer column become a decimal, as text at the new scale (`2.00` → `2.0000`, 2 →
    `2.00`), the one form every later value takes; else as they are. Why: decimals are
    stored as text, and `2.00` beside `2.0000` would be two keys (and two rows) of one
    number. Written with text functions only: exact whatever the digits."""
    if new is None or old is None or new.kind is not Kind.DECIMAL or not new.scale:
        return quoted
    if old.kind not in (*INTEGER_ORDER, Kind.DECIMAL) or old == new:
        return quoted
    text, zeros = f"CAST({quoted} AS TEXT)", "0" * new.scale
    digits = f"length({text}) - instr({text}, '.')"  # fraction digits it has
    return (
        f"CASE WHEN instr({text}, '.') = 0 THEN {text} || '.{zeros}'"
        f" ELSE {text} || substr('{zeros}', 1, {new.scale} - ({digits})) END"
    )


def sqlite_rows() -> ModuleType:
    """The Arrow side of loading rows, imported when rows are loaded: a run that loads none (a
    rerun with nothing new, `status`) starts without Arrow's compute functions."""
    from turbodata.dialects import sqlite_rows

    return sqlite_rows


def begin_immediate(dbapi_connection: sqlite3.Connection) -> None:
    """`BEGIN IMMEDIATE`, saying so when it has to wait for another run.

    SQLite has one writer at a time: a second `migrate` waits for the first run's batch to
    commit before it can even read its lease (then it exits `blocked`). Design choice: it
    waits, and says on stderr which run (pid, host) it waits for, rather than failing while
    the lock is held: the lock alone cannot tell a run's long batch from a short write (a
    `status` call), and waiting is what the lock is for. A lock held by no live run's lease
    is waited for at most LOCK_WAIT_SECONDS, as before.
    """
    dbapi_connection.execute(f"PRAGMA busy_timeout = {_CHECK_EVERY_MS}")
    started, announced, holder = time.monotonic(), False, None
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                with contextlib.suppress(sqlite3.OperationalError):  # the writer may be
                    # committing or spilling its cache: keep who was seen last
                    holder = other_live_lease_holder(dbapi_connection)
                if holder is None and time.monotonic() - started >= LOCK_WAIT_SECONDS:
                    # as SQLAlchemy raises the driver's errors: raw, from this event, it was
                    # no busy database to `is_busy` and escaped the CLI as a traceback
                    raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, error) from error
                if holder is not None and not announced:
                    log.warning(
                        "waiting: another run (%s) is loading this database and holds its"
                        " lock (SQLite has one writer); waiting for it to commit its batch",
                        holder,
                    )
                    announced = True
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(LOCK_WAIT_SECONDS * 1000)}")


def other_live_lease_holder(dbapi_connection: sqlite3.Connection) -> str | None:
    """Who holds this database's run lease, when it is another process that still runs (or
    another host's unexpired lease); None otherwise. Raises sqlite3.OperationalError when the
    database cannot be read at this moment."""
    from turbodata.ledger import records as ledger  # only when waiting for another run
    from turbodata.ledger.process import has_ended, this_host

    try:
        rows = dbapi_connection.execute(
            f'SELECT holder, host, pid, expires_at FROM "{ledger.lease.name}"'
        ).fetchall()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):  # no ledger yet
            return None
        raise
    # every lease row: the first one may be this run's own table lease (found by review)
    for holder, host, pid, expires_at in rows:
        if (host, pid) == (this_host(), os.getpid()) or has_ended(host, pid):
            continue
        if host != this_host() and _expired(expires_at):
            continue
        return f"{holder}, pid {pid} on {host}"
    return None


def _expired(expires_at: object) -> bool:
    try:
        moment = datetime.fromisoformat(str(expires_at))
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment < datetime.now(UTC)


def key_index_name(table_name: str) -> str:
    """The unique index that is a table's key in SQLite (index and table names share one
    namespace; `_turbodata_` names are turbodata's own)."""
    return f"_turbodata_key_{table_name}"


def _without_key(column: sa.Column) -> sa.Column:
    """A copy of `column` that CREATE TABLE does not declare part of a primary key (key
    columns stay NOT NULL)."""
    copy = column._copy()
    copy.primary_key = False
    return copy

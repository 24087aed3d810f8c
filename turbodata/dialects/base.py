"""What every target database provides: DDL types, reflection, DDL quirks and the bulk path.

A new database is one new module overriding `Dialect`; the pipeline never branches on the
database. The base implements everything with SQLAlchemy Core so that a dialect only overrides
what its database does differently.
"""

from __future__ import annotations

import contextlib
import functools
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine import Dialect as SqlDialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine, UserDefinedType

from turbodata.types.sql import Kind, SqlType

if TYPE_CHECKING:  # Arrow is imported where rows are loaded, not by a run that loads none
    import pyarrow as pa

# "the incoming row is newer than the table's": (incoming columns, existing columns) → condition
Newer = Callable[[sa.ColumnCollection, sa.ColumnCollection], ColumnElement[bool]]
# a column set to NULL is written NULL, never bound as None: mssql-python asks the server the
# type of a NULL parameter, which Babelfish fails on an UPDATE, rolling the transaction back
# without an error reaching the caller (ledger.records._merge_table_state)
NULL = sa.null()


class DeclaredType(UserDefinedType):
    """A column type spelled exactly as given (for types SQLAlchemy has no class for)."""

    cache_ok = True

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def get_col_spec(self, **_kw: object) -> str:
        return self.spec


class RowSink:
    """Batches into their tables, in order, through the dialect's bulk path (`bulk_insert`).

    This one inserts each batch when it is written (`Dialect.insert_batch`). A dialect's own
    sink may send many batches as one stream (PostgreSQL's COPY): its `flush` is when they
    are all in and checked. Design: such a stream is a state of the connection, so its sink
    ends it before any other statement runs on the connection (DDL, the ledger); callers
    still flush where it matters to them (a file's end), to say so."""

    def __init__(self, dialect: Dialect, conn: Connection, types: Sequence[SqlType]) -> None:
        self.dialect, self.conn, self.types = dialect, conn, types

    def write(self, table: sa.Table, batch: pa.RecordBatch) -> int:
        """Send `batch`'s rows (columns named and ordered like `table`'s); how many."""
        return self.dialect.insert_batch(self.conn, table, batch, self.types)

    def retype(self, types: Sequence[SqlType]) -> None:
        """The columns' types from the next write on: a string column was widened for
        values longer than it was declared (a bulk copy sends them at the wider length)."""
        self.types = list(types)

    def flush(self) -> None:
        """Every row written so far is in the table."""

    def abort(self, error: BaseException) -> None:
        """Stop after `error`: what is held back is dropped (the transaction rolls back)."""

    def close(self) -> None:
        """The end: `flush`, and let go of the connection."""
        self.flush()


class Dialect:
    """The shared base. Subclasses set `name` to SQLAlchemy's dialect name."""

    name = ""
    title = "the database"  # in messages
    default_schema: str | None = None
    max_identifier_length = 128
    single_writer = False  # one writer at a time: a run loads its tables one after another
    # whether column names differing only in case are one column (SQLite, SQL Server), or two
    # (PostgreSQL's quoted names)
    names_ignore_case = True
    # the only schemas there are, when they are known without connecting (None: ask the server)
    fixed_schemas: tuple[str, ...] | None = None

    def configure_engine(self, engine: Engine) -> Engine:
        """Adjust a freshly created engine (driver options, transactional DDL)."""
        return engine

    # -- types ----------------------------------------------------------------------------

    # characters the database cannot store in text, and the reason given when a value has one
    unstorable_text: tuple[str, str] | None = None
    # decimals are stored as text, which compares as text ('10' < '9'), not as numbers
    decimals_as_text = False

    def column_type(self, sql_type: SqlType) -> TypeEngine:
        raise NotImplementedError

    def stored_type(self, sql_type: SqlType) -> SqlType:
        """What the database really stores for `sql_type` (what reflection will say)."""
        return sql_type

    def reflect_types(self, conn: Connection, table: str, schema: str | None) -> dict[str, SqlType]:
        """Column name → SqlType of an existing table, in table order (SQLAlchemy's inspector)."""
        columns = sa.inspect(conn).get_columns(table, schema=schema)
        return {
            c["name"]: parse_declared(str(c["type"].compile(dialect=conn.dialect)))
            or SqlType(Kind.STRING)
            for c in columns
        }

    # -- DDL ------------------------------------------------------------------------------

    def check_identifier(self, name: str) -> None:
        if len(name) > self.max_identifier_length:
            raise ValueError(
                f"name longer than {self.max_identifier_length} characters allowed by "
                f"{self.name}: {name!r}"
            )

    # `ALTER TABLE t {add_column} c type{added_column_suffix}`
    add_column = "ADD COLUMN"
    added_column_suffix = ""
    # `ALTER TABLE t ALTER COLUMN c {alter_type}type`
    alter_type = "TYPE "

    def add_column_sql(self, sql: SqlDialect, table: sa.Table, column: sa.Column) -> str:
        prep = sql.identifier_preparer
        return (
            f"ALTER TABLE {prep.format_table(table)} {self.add_column} {prep.quote(column.name)}"
            f" {column.type.compile(dialect=sql)}{self.added_column_suffix}"
        )

    def widen_columns_sql(
        self,
        sql: SqlDialect,
        table: sa.Table,
        columns: list[sa.Column],
        old: dict[str, SqlType],
        new: dict[str, SqlType],
        key_pending: bool = False,
    ) -> list[str]:
        """Statements giving `columns` (already holding their wider types) their new type;
        `old` holds their current types, `new` the table's after. `key_pending`: the table was
        created without its key, which `add_key_sql` adds once the first load's rows are in."""
        prep = sql.identifier_preparer
        return [
            f"ALTER TABLE {prep.format_table(table)} ALTER COLUMN {prep.quote(column.name)} "
            f"{self.alter_type}{column.type.compile(dialect=sql)}"
            f"{self.conversion(prep.quote(column.name), old[column.name])}"
            for column in columns
        ]

    def conversion(self, quoted_column: str, old: SqlType) -> str:
        """What a widening ALTER adds to convert values of the `old` type, if anything."""
        return ""

    # -- staging and upserts ----------------------------------------------------------------

    staging_name = "_turbodata_stage"

    def staging_table_name(self, target_name: str) -> str:
        """A name for one batch's staging table that no other batch, table or run uses: a
        staging table a failure left behind in a pooled session never collides."""
        slug = re.sub(r"[^A-Za-z0-9_]", "_", target_name)[:40]
        return f"{self.staging_name}_{slug}_{uuid.uuid4().hex[:12]}"

    # Whether a table a batch creates and fills with keyed rows gets its key after the rows
    # (`add_key_sql`: one index build instead of one index insert per row).
    key_after_first_load = False

    # Whether CREATE TABLE declares the key; False: `add_key_sql` adds it right after.
    key_in_create_table = True

    def add_key_sql(self, sql: SqlDialect, table: sa.Table) -> str:
        """The statement that gives `table` (whose Table object has its primary key) its key
        once it was created without it: ALTER TABLE … ADD PRIMARY KEY. Compiled from a copy:
        SQLAlchemy's AddConstraint marks the constraint as not part of CREATE TABLE, and the
        Table object serves later statements."""
        own = table.to_metadata(sa.MetaData())
        return str(sa.schema.AddConstraint(own.primary_key).compile(dialect=sql)).strip()

    # Whether a staging table is gone when its transaction ends, committed or rolled back
    # (a temporary table created in the transaction): then one Table object, its name
    # included, can serve every batch of a table in a run, and SQLAlchemy compiles each
    # staging statement once per table instead of once per batch (`changes.staging_table`).
    staging_ends_with_transaction = True

    # From how many staged rows the staging table's key is indexed before the winners are
    # kept and the rows applied (fewer are ranked faster without: an index is a statement
    # and a structure more); None: never. SQLite joins by nested loops, so a large batch
    # needs the index; PostgreSQL hashes, and the index cost it 0.2 of 3.5 s at 150,000
    # staged rows.
    staged_key_index_from_rows: int | None = 10_000
    # Whether an index may hold a text column without a length (staged text is unbounded).
    # SQL Server refuses an index on NVARCHAR(max) (Msg 1919): such a staged key is ranked
    # without one, slower but the same rows.
    indexes_unbounded_text = True

    def key_spelling_checks(
        self, staging: sa.Table, target: sa.Table, key: Sequence[str]
    ) -> tuple[sa.Select, sa.Select] | None:
        """Queries that find a key the database compares as equal to another spelled
        differently: staged twice (ranking would keep one), and staged and in the table (an
        upsert would update the other). None here: text compares byte for byte."""
        return None

    def staging_table(self, target_name: str, columns: list[sa.Column]) -> sa.Table:
        """A temporary table for one batch of one table."""
        name = self.staging_table_name(target_name)
        return sa.Table(name, sa.MetaData(), *columns, prefixes=["TEMPORARY"])

    def create_staging_sql(self, sql: SqlDialect, staging: sa.Table) -> list[str]:
        return [str(sa.schema.CreateTable(staging).compile(dialect=sql)).strip()]

    def drop_staging_sql(self, sql: SqlDialect, staging: sa.Table) -> str:
        return f"DROP TABLE {sql.identifier_preparer.format_table(staging)}"

    # `insert()` with `on_conflict_do_update` (SQLAlchemy's sqlite/postgresql dialects), or
    # None for the portable UPDATE + INSERT form
    on_conflict_insert: Callable[[sa.Table], Any] | None = None
    # Whether the staged rows are upserted in key order: where the table is stored by rowid
    # (SQLite), rows in key order visit its key index and its pages in order, not at random
    # (3.8 → 3.4 s for 150k updates onto 300k rows, bench/cli.py's incremental folder).
    upsert_in_key_order = False

    def upsert_from_staging(
        self,
        conn: Connection,
        target: sa.Table,
        staging: sa.Table,
        names: Sequence[str],
        key: Sequence[str],
        newer: Newer,
        absent: Sequence[str] = (),
    ) -> int:
        """Update the rows the staged rows are newer than, insert the new ones; rows touched.
        `absent`: the table's columns the batch does not have (vanished from the metadata),
        set to NULL by an update.

        One `INSERT … ON CONFLICT (key) DO UPDATE … WHERE newer` where the database has it
        (it needs the key as primary key), else the portable form: `UPDATE … FROM staging`
        then `INSERT … SELECT … WHERE NOT EXISTS`, in the caller's transaction (no MERGE: see
        the SQL Server module).
        """
        if self.on_conflict_insert is not None:
            return on_conflict_upsert(
                self.on_conflict_insert,
                conn,
                target,
                staging,
                names,
                key,
                newer,
                absent,
                in_key_order=self.upsert_in_key_order,
            )
        matches = sa.and_(*(staging.c[k] == target.c[k] for k in key))
        values = {n: staging.c[n] for n in names if n not in key} | dict.fromkeys(absent, NULL)
        updated = 0
        if values:
            update = sa.update(target).values(values).where(matches, newer(staging.c, target.c))
            updated = conn.execute(update).rowcount
        new_rows = sa.select(*(staging.c[n] for n in names)).where(~sa.exists().where(matches))
        insert = sa.insert(target).from_select(list(names), new_rows)
        inserted = conn.execute(insert.execution_options(preserve_rowcount=True)).rowcount
        return updated + inserted

    # Up to how many rows a batch of changes goes straight into its table, unstaged, when no
    # row marks a delete and each key comes once (`changes.upsert_unstaged`, `upsert_rows`);
    # 0: never. Only where keys that differ as driver values differ to the database (text
    # compared byte for byte) and where `on_conflict_insert` is set.
    unstaged_upsert_rows = 0
    # … and whose files hold at most this many bytes in all (they are read whole first)
    unstaged_upsert_bytes = 1 << 20

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
        """`upsert_from_staging` of rows not staged (columns named and ordered as `types`,
        each key once): rows touched."""
        raise NotImplementedError(f"{type(self).__name__} stages every upsert")

    @contextlib.contextmanager
    def whole_transaction(self, conn: Connection) -> Iterator[None]:
        """Around a batch's work in its transaction: where the server can roll a transaction
        back without the driver saying so, a check that the one ending is the one that began
        (raising `TransactionLost`). Here: nothing to check."""
        yield

    def sweep_leftovers(self, engine: Engine) -> None:
        """Remove what a killed run left in the database (called under the run's lease)."""

    # -- errors ---------------------------------------------------------------------------

    def is_transient(self, error: BaseException) -> bool:
        """Worth retrying: a dropped connection, a deadlock, a busy database."""
        dropped = isinstance(error, sa.exc.DBAPIError) and bool(error.connection_invalidated)
        return dropped or self.is_busy(error)

    def is_busy(self, error: BaseException) -> bool:
        """Another connection holds the lock this one waited for until it gave up."""
        return False

    # -- loading --------------------------------------------------------------------------

    def insert_batch(
        self, conn: Connection, table: sa.Table, batch: pa.RecordBatch, types: Sequence[SqlType]
    ) -> int:
        """Insert every row of `batch` (columns named and ordered like `table`'s)."""
        if batch.num_rows == 0:
            return 0
        statement = insert_statement(conn.dialect, table, batch.schema.names)
        columns = [self.python_values(batch.column(i), t) for i, t in enumerate(types)]
        self.executemany(conn, statement, list(zip(*columns, strict=True)))
        return batch.num_rows

    row_sink: type[RowSink] = RowSink

    @contextlib.contextmanager
    def bulk_insert(self, conn: Connection, types: Sequence[SqlType]) -> Iterator[RowSink]:
        """A `RowSink` for many batches in `conn`'s transaction: on leaving the block
        without an error every row is in (and checked); with an error, nothing more is sent
        and the error goes on as it was."""
        sink = self.row_sink(self, conn, types)
        try:
            yield sink
        except BaseException as error:
            sink.abort(error)
            raise
        sink.close()

    def executemany(self, conn: Connection, statement: str, rows: list[tuple]) -> None:
        conn.exec_driver_sql(statement, rows)

    def python_values(self, array: pa.Array, sql_type: SqlType) -> list[object]:
        """One column as Python values the driver accepts."""
        return array.to_pylist()


class ColumnRefused(ValueError):
    """A column of an existing table that would alter the values loaded into it (a column
    created by someone else, of a type turbodata never creates); says how to change it."""


class TransactionLost(RuntimeError):
    """The server rolled a batch's transaction back, and the driver went on in a new one
    without an error: committing would store only what came after."""


@contextlib.contextmanager
def driver_errors(conn: Connection, statement: str) -> Iterator[None]:
    """The driver's own errors, raised where rows go through its cursor (COPY, executemany,
    bulk copy), as SQLAlchemy's (`IntegrityError`, `OperationalError`, … with `.orig`), as
    every other statement raises them: the loader and `is_transient` see one kind of error."""
    try:
        yield
    except Exception as error:
        dbapi = conn.dialect.dbapi  # the driver's module (None for a dialect without one)
        if dbapi is None or not isinstance(error, dbapi.Error):
            raise
        raise sa.exc.DBAPIError.instance(
            statement, None, error, dbapi.Error, dialect=conn.dialect
        ) from error


def on_conflict_upsert(
    insert: Callable[[sa.Table], Any],
    conn: Connection,
    target: sa.Table,
    staging: sa.Table,
    names: Sequence[str],
    key: Sequence[str],
    newer: Newer,
    absent: Sequence[str] = (),
    *,
    in_key_order: bool = False,
) -> int:
    """One statement; needs a unique constraint on `key` (the table's primary key)."""
    statement = _on_conflict_statement(
        insert, target, staging, tuple(names), tuple(key), newer, tuple(absent), in_key_order
    )
    return conn.execute(statement).rowcount


@functools.lru_cache(maxsize=256)  # built once per staging table (see changes.staging_table)
def _on_conflict_statement(
    insert: Callable[[sa.Table], Any],
    target: sa.Table,
    staging: sa.Table,
    names: tuple[str, ...],
    key: tuple[str, ...],
    newer: Newer,
    absent: tuple[str, ...],
    in_key_order: bool,
) -> Any:
    # `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join
    rows = sa.select(*(staging.c[n] for n in names)).where(sa.true())
    if in_key_order:
        rows = rows.order_by(*(staging.c[k] for k in key))
    statement = insert(target).from_select(list(names), rows)
    statement = _on_conflict(statement, target, names, key, newer, absent)
    return statement.execution_options(preserve_rowcount=True)


def _on_conflict(
    statement: Any,
    target: sa.Table,
    names: tuple[str, ...],
    key: tuple[str, ...],
    newer: Newer,
    absent: tuple[str, ...],
) -> Any:
    """`statement` (an INSERT) updating the row of its key where it is newer, else nothing;
    `absent` columns set to NULL by the update."""
    updates = {n: statement.excluded[n] for n in names if n not in key} | dict.fromkeys(
        absent, NULL
    )
    if not updates:
        return statement.on_conflict_do_nothing(index_elements=list(key))
    return statement.on_conflict_do_update(
        index_elements=list(key), set_=updates, where=newer(statement.excluded, target.c)
    )


@functools.lru_cache(maxsize=256)  # one per target table and columns
def on_conflict_rows_sql(
    insert: Callable[[sa.Table], Any],
    sql: SqlDialect,
    target: sa.Table,
    names: tuple[str, ...],
    key: tuple[str, ...],
    newer: Newer,
    absent: tuple[str, ...],
) -> RowStatement:
    """`_on_conflict_statement` for one row of parameters, compiled."""
    columns = {f"_turbodata_{i}": i for i in range(len(names))}  # bind name → position
    values = {
        n: sa.bindparam(f"_turbodata_{i}", None, type_=target.c[n].type)
        for i, n in enumerate(names)
    }
    statement = _on_conflict(insert(target).values(values), target, names, key, newer, absent)
    compiled = statement.compile(dialect=sql, compile_kwargs={"render_postcompile": True})
    order = compiled.positiontup or []
    positions = tuple(columns.get(p) for p in order)
    constants = tuple(None if p in columns else compiled.params[p] for p in order)
    if sorted(p for p in positions if p is not None) != list(range(len(names))):
        raise AssertionError("the upsert does not bind each column once")
    return RowStatement(compiled.string, positions, constants)


class RowStatement(NamedTuple):
    """A statement run once per row: its text, and for each parameter the position of its
    value in the row, or None and the constant it binds (a condition's constants, an IN
    list's values each)."""

    text: str
    positions: tuple[int | None, ...]
    constants: tuple[object, ...]


def insert_statement(sql: SqlDialect, table: sa.Table, names: Sequence[str]) -> str:
    """An INSERT of `names`, parameters in that order, in the given SQL dialect.

    Compiled once per table, columns and types: a table's batches each build a new Table
    object, and a compile per file was a tenth of a small file's cost (bench/README.md)."""
    types = tuple(repr(table.c[name].type) for name in names)
    key = (sql, table.schema, table.name, tuple(names), types)
    if (found := _compiled_inserts.get(key)) is None:
        if len(_compiled_inserts) >= 512:  # a few MB at most: 500 columns take ~50 KB
            _compiled_inserts.clear()
        statement = sa.insert(table).compile(dialect=sql, column_keys=list(names))
        if list(statement.positiontup or names) != list(names):
            raise AssertionError("the driver's parameter order differs from the batch's")
        found = _compiled_inserts[key] = statement.string
    return found


# (SQL dialect, schema, table, column names, their types) → the INSERT's text
_compiled_inserts: dict[tuple[object, ...], str] = {}


_DECLARED = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(?:\(\s*(\w+)\s*(?:,\s*(\d+)\s*)?\))?\s*$"
)

_KIND_BY_NAME = {
    "BIT": Kind.BOOLEAN,
    "BOOLEAN": Kind.BOOLEAN,
    "TINYINT": Kind.TINYINT,
    "SMALLINT": Kind.SMALLINT,
    "INT": Kind.INTEGER,
    "INTEGER": Kind.INTEGER,
    "BIGINT": Kind.BIGINT,
    "DECIMAL": Kind.DECIMAL,
    "NUMERIC": Kind.DECIMAL,
    "DECIMAL_TEXT": Kind.DECIMAL,
    "FLOAT": Kind.FLOAT,
    "DOUBLE PRECISION": Kind.FLOAT,
    "DOUBLE": Kind.FLOAT,
    "REAL": Kind.REAL,
    "UNIQUEIDENTIFIER": Kind.GUID,
    "UUID": Kind.GUID,
    "DATETIME2": Kind.DATETIME,
    "DATETIME": Kind.DATETIME,
    "TIMESTAMP": Kind.DATETIME,
    "TIMESTAMP WITHOUT TIME ZONE": Kind.DATETIME,
    "DATETIMEOFFSET": Kind.DATETIMEOFFSET,
    "TIMESTAMP WITH TIME ZONE": Kind.DATETIMEOFFSET,
    "DATE": Kind.DATE,
    "TIME": Kind.TIME,
    "TIME WITHOUT TIME ZONE": Kind.TIME,
}
_STRING_NAMES = {
    "NVARCHAR",
    "VARCHAR",
    "CHARACTER VARYING",
    "TEXT",
    "NTEXT",
    "CLOB",
    "CHAR",
    "NCHAR",
    "CHARACTER",
}


_COLLATION = re.compile(r"\s+COLLATE\s+\S+$", re.IGNORECASE)
_ZONE_SUFFIX = re.compile(r"^(\w+)\s*\((\d+)\)\s+(WITH(?:OUT)? TIME ZONE)$", re.IGNORECASE)


def parse_declared(spec: str) -> SqlType | None:
    """SqlType from a compiled/declared type such as `NVARCHAR(40)`, `NUMERIC(38, 6)`,
    `TIMESTAMP(6) WITH TIME ZONE`."""
    spec = _COLLATION.sub("", spec.strip())  # NVARCHAR(10) COLLATE Latin1_General_CI_AS
    match = _DECLARED.match(_ZONE_SUFFIX.sub(r"\1 \3(\2)", spec))
    if not match:
        return None
    name, first, second = match.group(1).upper().strip(), match.group(2), match.group(3)
    if name in _STRING_NAMES:
        length = int(first) if first and first.isdigit() and int(first) > 0 else None
        return SqlType(Kind.STRING, length)
    kind = _KIND_BY_NAME.get(name)
    if kind is None:
        return None
    if kind is Kind.DECIMAL:
        return SqlType(kind, precision=int(first or 38), scale=int(second or 0))
    if kind in (Kind.DATETIME, Kind.DATETIMEOFFSET, Kind.TIME) and first and first.isdigit():
        return SqlType(kind, fraction=int(first))
    return SqlType(kind)

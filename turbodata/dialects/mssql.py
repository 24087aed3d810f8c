"""SQL Server and Azure SQL (`mssql+mssqlpython`, `mssql+pyodbc`, `mssql+pytds`).

What differs between the drivers lives in `mssql_drivers`; this module holds the T-SQL and
the transaction rules, the same for every driver:

- `SET XACT_ABORT ON` for every session: any error ends the whole transaction, as the server
  documents for it, so no half-applied batch can be committed. A ROLLBACK after such an error
  finds no transaction (error 3903) and is ignored, so the error the user sees is the failed
  statement's, never the ROLLBACK's.
- Rows reach a table through a *landing* table: bulk copy where the driver has it, then a
  check of what really landed (row count and every column's non-NULL count against the batch:
  a driver's own count is never trusted), then one `INSERT … SELECT` inside the load's
  transaction. Bulk copy that uses a connection of its own (mssql-python) lands in a real
  table `_turbodata_land_<table>_<random>`, created, emptied and dropped by a separate
  autocommit session so it is committed and visible to the bulk channel (a `##global`
  temporary table would vanish with its session by itself, but Babelfish has none); one that
  a killed run left behind is dropped by the next run, once it holds the lease. Wrong rows are
  never applied: on a mismatch the batch is loaded again by INSERT, with a warning.
- Timezone-aware datetimes (ledger, lease) are sent as naive UTC, which the server converts
  to DATETIMEOFFSET +00:00, whatever a driver does with `tzinfo`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine import Dialect as SqlDialect
from sqlalchemy.types import TypeEngine

from turbodata.dialects.arrow_text import without_seventh_digit
from turbodata.dialects.base import ColumnRefused, Dialect, TransactionLost, driver_errors
from turbodata.dialects.mssql_drivers import (
    EXECUTEMANY_ROWS,
    SQL_WLONGVARCHAR,
    SQL_WVARCHAR,
    Driver,
    error_number,
    for_driver_name,
    has_parameter_arrays,
    nulls_in,
)
from turbodata.errors import one_line
from turbodata.types.sql import Kind, SqlType

__all__ = ["EXECUTEMANY_ROWS", "MSSQLDialect"]

log = logging.getLogger(__name__)

NO_TRANSACTION = 3903  # "ROLLBACK has no corresponding BEGIN TRANSACTION"
NOTHING_TO_COMMIT = 3902  # "COMMIT has no corresponding BEGIN TRANSACTION"
LOGIN_FAILED = 18456
# deadlock victim, lock timeout, and Azure SQL's documented transient errors (throttling,
# failover, database busy or not yet available)
TRANSIENT_ERRORS = frozenset(
    {1205, 1222, 40197, 40501, 40613, 49918, 49919, 49920, 4060, 4221, 10928, 10929, 233}
)
_TRANSIENT_SOCKET = re.compile(r"\b(10053|10054|10060)\b|Communication link failure")
_LANDINGS = "turbodata_landings"
# a real table's name prefix: the landing of a bulk copy that opens its own connection
LANDING_PREFIX = "_turbodata_land_"
BATCH_MARKER = "#turbodata_batch"  # a batch's transaction is whole (`whole_transaction`)
TEXT_WIDTH = 100  # landing columns for decimals, date/times and GUIDs as text
_INTEGERS = (
    Kind.TINYINT,
    Kind.SMALLINT,
    Kind.INTEGER,
    Kind.BIGINT,
)  # conn.info key: the landing tables of a DBAPI connection

_TYPES: dict[Kind, Callable[[SqlType], TypeEngine]] = {
    Kind.BOOLEAN: lambda t: mssql.BIT(),
    Kind.TINYINT: lambda t: mssql.TINYINT(),
    Kind.SMALLINT: lambda t: mssql.SMALLINT(),
    Kind.INTEGER: lambda t: mssql.INTEGER(),
    Kind.BIGINT: lambda t: mssql.BIGINT(),
    Kind.DECIMAL: lambda t: mssql.DECIMAL(t.precision, t.scale),
    Kind.FLOAT: lambda t: mssql.FLOAT(53),
    Kind.REAL: lambda t: mssql.REAL(),
    Kind.STRING: lambda t: mssql.NVARCHAR(t.length),  # None compiles to NVARCHAR(max)
    Kind.GUID: lambda t: mssql.UNIQUEIDENTIFIER(),
    Kind.DATETIME: lambda t: mssql.DATETIME2(precision=t.fraction),
    Kind.DATETIMEOFFSET: lambda t: mssql.DATETIMEOFFSET(precision=t.fraction),
    Kind.DATE: lambda t: mssql.DATE(),
    Kind.TIME: lambda t: mssql.TIME(precision=t.fraction),
}


class MSSQLDialect(Dialect):
    name = "mssql"
    default_schema = "dbo"
    max_identifier_length = 128

    def __init__(self) -> None:
        self._drivers: dict[str, Driver] = {}
        self._bulk_distrusted: set[str] = set()  # drivers whose bulk copy delivered wrong rows

    def configure_engine(self, engine: Engine) -> Engine:
        _keep_the_failed_statements_error(engine)
        _commit_of_reads_only(engine)
        if engine.dialect.driver == "pyodbc":
            sa.event.listen(engine, "do_setinputsizes", _long_text_for_other_odbc_drivers)
        sa.event.listen(engine, "connect", _abort_transaction_on_error)
        _bind_aware_datetimes_as_utc(engine)
        sa.event.listen(engine, "commit", _keep_session_landings)
        sa.event.listen(engine, "rollback", _forget_landings)
        sa.event.listen(engine, "handle_error", _name_the_failed_login(engine.url))
        sa.event.listen(engine, "first_connect", _note_babelfish(engine.dialect))
        return engine

    def widen_columns_sql(
        self,
        sql: SqlDialect,
        table: sa.Table,
        columns: list[sa.Column],
        old: dict[str, SqlType],
        new: dict[str, SqlType],
        key_pending: bool = False,
    ) -> list[str]:
        """A primary key's column is widened with its key dropped and added again: SQL
        Server refuses ALTER COLUMN on a column of a PRIMARY KEY constraint, and the column
        keeps NOT NULL, which ALTER COLUMN drops unless it says so (under ANSI_NULL_DFLT_ON,
        the sessions' default). Babelfish refuses NULL and NOT NULL in ALTER COLUMN and keeps
        the column's NOT NULL: there the clause is left out (`_note_babelfish`)."""
        key = {column.name for column in table.primary_key.columns}
        if key_pending or not key & {column.name for column in columns}:
            return super().widen_columns_sql(sql, table, columns, old, new, key_pending)
        prep = sql.identifier_preparer
        name = prep.format_table(table)
        not_null = "" if getattr(sql, BABELFISH, False) else " NOT NULL"
        return [
            _drop_primary_key_sql(name),
            *(
                f"ALTER TABLE {name} ALTER COLUMN {prep.quote(column.name)} "
                f"{column.type.compile(dialect=sql)}{not_null if column.name in key else ''}"
                for column in columns
            ),
            self.add_key_sql(sql, table),
        ]

    def driver(self, conn: Connection) -> Driver:
        name = conn.dialect.driver
        if name not in self._drivers:
            self._drivers[name] = for_driver_name(name)
        return self._drivers[name]

    def column_type(self, sql_type: SqlType) -> TypeEngine:
        return _TYPES[sql_type.kind](sql_type)

    add_column = "ADD"
    added_column_suffix = " NULL"
    # no NULL/NOT NULL clause: SQL Server keeps a column nullable when ALTER COLUMN omits it
    # only under ANSI_NULL_DFLT_ON (the default for ODBC/TDS sessions); our columns are all
    # nullable. (Babelfish rejects the clause, SQL Server accepts both.)
    alter_type = ""

    # A #temp table lives as long as the session and is private to it; named per batch.
    staging_name = "#turbodata_stage"

    # it outlives its transaction: a name per batch, so one a failed batch left in a pooled
    # session is never taken again
    staging_ends_with_transaction = False
    indexes_unbounded_text = False  # NVARCHAR(max) cannot be an index key (Msg 1919)

    def staging_table(self, target_name: str, columns: list[sa.Column]) -> sa.Table:
        """A #temp table lives in tempdb and its text columns would take tempdb's collation,
        the server's default: where the database's differs, comparing staged keys with the
        table's fails (Msg 468) or, case-sensitive against case-insensitive, ranks keys the
        table holds as one apart. COLLATE DATABASE_DEFAULT gives them the database's."""
        return sa.Table(
            self.staging_table_name(target_name),
            sa.MetaData(),
            *(_in_database_collation(column) for column in columns),
        )

    def key_spelling_checks(
        self, staging: sa.Table, target: sa.Table, key: Sequence[str]
    ) -> tuple[sa.Select, sa.Select] | None:
        """Text keys compare under the column's collation, and `=` ignores trailing spaces
        under every collation: 'abc', 'ABC' and 'abc ' are one key to a case-insensitive
        database, though the source holds three rows. Finds such a key by its bytes."""
        text = [k for k in key if isinstance(staging.c[k].type, sa.String)]
        if not text:
            return None
        staged = [staging.c[k] for k in key]
        twice = sa.or_(
            *(sa.func.min(_bytes(staging.c[k])) != sa.func.max(_bytes(staging.c[k])) for k in text)
        )
        in_table = sa.or_(*(_bytes(staging.c[k]) != _bytes(target.c[k]) for k in text))
        matches = sa.and_(*(staging.c[k] == target.c[k] for k in key))
        return (
            sa.select(*staged).group_by(*staged).having(twice).limit(1),
            sa.select(*staged).where(matches, in_table).limit(1),
        )

    def reflect_types(self, conn: Connection, table: str, schema: str | None) -> dict[str, SqlType]:
        """From INFORMATION_SCHEMA.COLUMNS (SQL Server's documented view): names as declared
        (Babelfish's sys.columns, which SQLAlchemy's inspector reads, lower-cases them) and no
        collation in the way of a type's length."""
        rows = conn.execute(
            _COLUMNS_QUERY,
            {
                "table": table,
                "schema": schema or conn.exec_driver_sql("SELECT SCHEMA_NAME()").scalar(),
            },
        ).all()
        for name, data_type, length, *_ in rows:
            _refuse_non_unicode(table, name, data_type, length)
        keeps_six = _fractions_capped_at_six(conn)
        return {row[0]: _reflected_type(*row[1:], keeps_six) for row in rows}

    def sweep_leftovers(self, engine: Engine) -> None:
        """Drop landing tables a killed run left behind; called by the run that holds the
        lease, so no other run is using them."""
        with engine.begin() as conn:
            names = conn.execute(
                _LEFTOVERS_QUERY, {"prefix": LANDING_PREFIX.replace("_", "!_") + "%"}
            ).scalars()
            for name in list(names):
                log.info("dropping %s, left behind by an interrupted run", name)
                conn.exec_driver_sql(f"DROP TABLE {quote(name)}")

    @contextlib.contextmanager
    def whole_transaction(self, conn: Connection) -> Iterator[None]:
        """A temporary table created when the batch's transaction begins and dropped before
        it commits: one rolled back meanwhile took it along, and the drop fails. Why:
        mssql-python asks the server the type of a NULL parameter
        (`sp_describe_undeclared_parameters`); where that fails (Babelfish, on an UPDATE
        naming its table's columns), XACT_ABORT rolled the transaction back, the driver went
        on in a new one without an error, and the commit stored only the rest of the batch
        (found by the live suite). turbodata binds no such NULL any more; this makes any
        other path to it fail the batch instead of losing its first part."""
        conn.exec_driver_sql(f"CREATE TABLE {BATCH_MARKER} (n INT)")
        yield
        try:
            conn.exec_driver_sql(f"DROP TABLE {BATCH_MARKER}")
        except sa.exc.DBAPIError as error:
            if error.connection_invalidated:  # a dropped connection: transient, as it is
                raise
            raise TransactionLost(
                "the server rolled this batch's transaction back without an error reaching"
                f" turbodata (its marker table is gone: {one_line(error)}): nothing of the"
                " batch is committed"
            ) from error

    # upsert_from_staging: the base's UPDATE … FROM + INSERT … WHERE NOT EXISTS, on purpose:
    # MERGE has long-standing defects on SQL Server and is missing on some T-SQL engines.

    def is_transient(self, error: BaseException) -> bool:
        if error_number(error) in TRANSIENT_ERRORS:
            return True
        text = str(getattr(error, "orig", error))
        return bool(_TRANSIENT_SOCKET.search(text)) or super().is_transient(error)

    # -- loading --------------------------------------------------------------------------

    def insert_batch(
        self, conn: Connection, table: sa.Table, batch: pa.RecordBatch, types: Sequence[SqlType]
    ) -> int:
        if batch.num_rows == 0:
            return 0
        if _fractions_capped_at_six(conn):
            columns = [
                without_seventh_digit(c, t) for c, t in zip(batch.columns, types, strict=True)
            ]
            batch = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
        driver = self.driver(conn)
        if driver.has_bulk_copy() and driver.name not in self._bulk_distrusted:
            problem = self._bulk_insert(conn, driver, table, batch, types)
            if problem is None:
                return batch.num_rows
            self._bulk_distrusted.add(driver.name)
            log.warning(
                "bulk copy through %s into %s cannot be trusted (%s): nothing of it was"
                " applied; loading by INSERT instead from now on",
                driver.name,
                table.name,
                problem,
            )
        statement = insert_sql(table, batch.schema.names, types, driver.placeholder)
        columns = [driver.python_values(batch.column(i), t) for i, t in enumerate(types)]
        rows = list(zip(*columns, strict=True))
        with driver_errors(conn, statement):
            driver.executemany(conn.connection.driver_connection, statement, rows, types)
        return batch.num_rows

    def _bulk_insert(
        self,
        conn: Connection,
        driver: Driver,
        table: sa.Table,
        batch: pa.RecordBatch,
        types: Sequence[SqlType],
    ) -> str | None:
        """Bulk copy `batch` into a landing table, check it, move it into `table`; None when
        done, else why the landed rows were wrong (then nothing was moved)."""
        landing = _landing_for(conn, driver, table, batch.schema.names, types)
        try:
            problem = self._land_and_move(conn, driver, landing, table, batch, types)
        except BaseException:
            # the error may have ended the transaction and the landing table with it: the
            # error is what the caller must see, not a failed TRUNCATE after it (a landing
            # table left with rows is caught by the next batch's count check, then swept)
            with contextlib.suppress(Exception):
                landing.empty(conn)
            raise
        landing.empty(conn)
        return problem

    def _land_and_move(
        self,
        conn: Connection,
        driver: Driver,
        landing: _Landing,
        table: sa.Table,
        batch: pa.RecordBatch,
        types: Sequence[SqlType],
    ) -> str | None:
        try:
            driver.bulk_copy(
                landing.owner(conn).connection.driver_connection,
                landing.name,
                landing.landed_columns,
                batch,
                types,
            )
        except Exception as error:
            if not landing.own_session:
                # on the load's own connection: under XACT_ABORT the server may have rolled
                # back the batch's transaction with it, and rows INSERTed now would commit
                # in a new one without the earlier files' rows (found by review). The batch
                # fails, and rolls back; a deadlock is retried with it.
                raise
            # on a session of its own: nothing of the batch's transaction was touched, and the
            # INSERT path takes over (mssql-python's bulk copy on Babelfish)
            return f"bulk copy failed: {' '.join(str(error).split())[:300]}"
        problem = _landed_problem(conn, landing, batch)
        if problem is None:
            moved = conn.exec_driver_sql(landing.move_sql(table)).rowcount
            if moved not in (-1, batch.num_rows):
                raise RuntimeError(
                    f"{moved} rows moved from {landing.name} into {table.name} for "
                    f"{batch.num_rows} checked: the load is stopped"
                )
        return problem


_COLUMNS_QUERY = sa.text(
    "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION,"
    " NUMERIC_SCALE, DATETIME_PRECISION FROM INFORMATION_SCHEMA.COLUMNS"
    " WHERE TABLE_SCHEMA = :schema AND TABLE_NAME = :table ORDER BY ORDINAL_POSITION"
).bindparams(sa.bindparam("schema", type_=sa.Unicode), sa.bindparam("table", type_=sa.Unicode))

_LEFTOVERS_QUERY = sa.text(
    "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = SCHEMA_NAME()"
    " AND TABLE_NAME LIKE :prefix ESCAPE '!'"
).bindparams(sa.bindparam("prefix", type_=sa.Unicode))

_KIND_OF_DATA_TYPE = {
    "bit": Kind.BOOLEAN,
    "tinyint": Kind.TINYINT,
    "smallint": Kind.SMALLINT,
    "int": Kind.INTEGER,
    "bigint": Kind.BIGINT,
    "decimal": Kind.DECIMAL,
    "numeric": Kind.DECIMAL,
    "float": Kind.FLOAT,
    "real": Kind.REAL,
    "uniqueidentifier": Kind.GUID,
    "datetime2": Kind.DATETIME,
    "datetime": Kind.DATETIME,
    "smalldatetime": Kind.DATETIME,
    "datetimeoffset": Kind.DATETIMEOFFSET,
    "date": Kind.DATE,
    "time": Kind.TIME,
}


def _bytes(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.cast(column, mssql.VARBINARY("max"))


def _in_database_collation(column: sa.Column) -> sa.Column:
    if not isinstance(column.type, sa.String):
        return column
    text = mssql.NVARCHAR(column.type.length, collation="DATABASE_DEFAULT")
    return sa.Column(column.name, text, quote=column.name.quote, nullable=column.nullable)


# text types turbodata never creates (it creates NVARCHAR): VARCHAR, CHAR and TEXT store text
# outside the column's code page as '?', CHAR and NCHAR pad values with spaces
_ALTERING_TEXT = frozenset({"varchar", "char", "text", "nchar"})


def _refuse_non_unicode(table: str, column: str, data_type: str, length: int | None) -> None:
    """A table created by someone else with such a column took non-Latin text as '?' with
    the run succeeding (found by review): the table fails, saying how to change it."""
    if data_type.lower() not in _ALTERING_TEXT:
        return
    size = "MAX" if length is None or length < 0 or length > 4000 else str(length)
    declared = f"{data_type.upper()}({'MAX' if length is None or length < 0 else length})"
    raise ColumnRefused(
        f"column {column!r} of {table} is {declared}, which stores text outside its code page"
        " as '?' (CHAR and NCHAR pad values with spaces): make it NVARCHAR, e.g."
        f" ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} NVARCHAR({size}),"
        " then run again"
    )


def _reflected_type(
    data_type: str,
    length: int | None,
    precision: int | None,
    scale: int | None,
    fraction: int | None,
    keeps_six: bool,
) -> SqlType:
    kind = _KIND_OF_DATA_TYPE.get(data_type.lower(), Kind.STRING)
    if kind is Kind.STRING:
        return SqlType(kind, length if length and length > 0 else None)
    if kind is Kind.DECIMAL:
        return SqlType(kind, precision=precision or 18, scale=scale or 0)
    if kind in (Kind.DATETIME, Kind.DATETIMEOFFSET, Kind.TIME) and fraction is not None:
        if keeps_six and fraction == 6:
            fraction = 7  # Babelfish stores DATETIME2(7) as 6 digits: treat as declared
        return SqlType(kind, fraction=fraction)
    return SqlType(kind)


# whether the server is Babelfish: a connection's `info` key, and an attribute of an engine's
# SQLAlchemy dialect (`_note_babelfish`)
BABELFISH = "turbodata_babelfish"
# Babelfish answers 1; SQL Server, which has no such property, NULL. (Not @@VERSION: Babelfish
# lets an administrator set it to SQL Server's text.) Cast: ODBC drivers do not read sql_variant
_IS_BABELFISH = "SELECT CAST(SERVERPROPERTY('Babelfish') AS INT)"


def _fractions_capped_at_six(conn: Connection) -> bool:
    """Babelfish for PostgreSQL keeps at most 6 fractional digits of a second (SQL Server
    7): there a reflected 6 is what a declared 7 became, not a narrower column, and values
    lose their 7th digit cut, not rounded by the server."""
    info = conn.info
    if BABELFISH not in info:
        info[BABELFISH] = is_babelfish(conn)
    return bool(info[BABELFISH])


def _note_babelfish(sql: SqlDialect) -> Callable[..., None]:
    """At an engine's first connection, note on its SQLAlchemy dialect whether the server is
    Babelfish: DDL is compiled from the dialect alone (`widen_columns_sql`)."""

    def note(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(_IS_BABELFISH)
            setattr(sql, BABELFISH, cursor.fetchone()[0] == 1)
        finally:
            cursor.close()

    return note


def _drop_primary_key_sql(table: str) -> str:
    """Drop the table's primary key, whatever SQL Server named it (`PK__t__3214EC07…`)."""
    literal = table.replace("'", "''")
    return (
        "DECLARE @turbodata_pk nvarchar(max) = (SELECT QUOTENAME(name) FROM sys.key_constraints"
        f" WHERE type = 'PK' AND parent_object_id = OBJECT_ID(N'{literal}'));"
        f" DECLARE @turbodata_drop nvarchar(max) = N'ALTER TABLE {literal} DROP CONSTRAINT '"
        " + @turbodata_pk; EXEC sp_executesql @turbodata_drop"
    )


def is_babelfish(conn: Connection) -> bool:
    """Whether the server is Babelfish for PostgreSQL (`_IS_BABELFISH`)."""
    return conn.exec_driver_sql(_IS_BABELFISH).scalar() == 1


def quote(name: str) -> str:
    """A T-SQL identifier in brackets, always (names from the lake may be reserved words)."""
    return "[" + name.replace("]", "]]") + "]"


class _Landing:
    """A landing table for batches of one shape: where bulk copy writes, emptied after each
    batch. Its columns have the types values travel as (`landing_type`): text for decimals,
    date/times and GUIDs, which the move into the table converts with CAST on the server,
    exactly (a bulk copy into such columns is not converted on every engine: Babelfish
    stored text sent for a UNIQUEIDENTIFIER as garbage). `session` is the separate autocommit
    session that owns a real landing table (for a driver whose bulk copy opens its own
    channel), or None: a `#temp` landing of the load's own session, used through whichever
    transaction's connection loads next."""

    def __init__(
        self,
        name: str,
        columns: list[str],
        types: Sequence[SqlType],
        session: Connection | None,
    ) -> None:
        self.name, self.columns, self.types = name, columns, list(types)
        self.session = session

    @property
    def own_session(self) -> bool:
        return self.session is not None

    def owner(self, conn: Connection) -> Connection:
        return self.session or conn

    def quoted(self, name: str) -> str:
        return quote(name)

    @property
    def landed_columns(self) -> list[str]:
        """The landing's own column names, by position (c1, c2, …): plain lower-case ASCII,
        so a driver that maps bulk-copy columns by name finds them on every engine
        (Babelfish's catalog lower-cases names: 'Id' was "not found")."""
        return [f"c{i}" for i in range(1, len(self.columns) + 1)]

    def run(self, conn: Connection, sql: str) -> None:
        """A statement on the landing, committed at once when it has a session of its own."""
        if self.session is None:
            conn.exec_driver_sql(sql)
            return
        with self.session.begin():
            self.session.exec_driver_sql(sql)

    def move_sql(self, table: sa.Table) -> str:
        sql = mssql.dialect()
        names = ", ".join(self.quoted(c) for c in self.columns)
        values = ", ".join(
            f"CAST({self.quoted(landed)} AS {table.c[c].type.compile(dialect=sql)})"
            if travels_as_text(t)
            else self.quoted(landed)
            for c, landed, t in zip(self.columns, self.landed_columns, self.types, strict=True)
        )
        target = sql.identifier_preparer.format_table(table)
        return f"INSERT INTO {target} ({names}) SELECT {values} FROM {self.quoted(self.name)}"

    @property
    def number_positions(self) -> list[int]:
        """The columns that land as numbers (not text): their range is checked too."""
        kinds = (Kind.FLOAT, Kind.REAL, *_INTEGERS)
        return [i for i, t in enumerate(self.types) if t.kind in kinds]

    def check_sql(self) -> str:
        """Rows, each column's non-NULL values, and each number column's MIN and MAX."""
        landed = self.landed_columns
        counts = [f"COUNT({self.quoted(c)})" for c in landed]
        ranges = [
            f"MIN({self.quoted(landed[i])}), MAX({self.quoted(landed[i])})"
            for i in self.number_positions
        ]
        return f"SELECT COUNT(*), {', '.join(counts + ranges)} FROM {self.quoted(self.name)}"

    def empty(self, conn: Connection) -> None:
        self.run(conn, f"TRUNCATE TABLE {self.quoted(self.name)}")

    def close(self) -> None:
        """Drop a landing of its own session (one that fails is left to the next run's sweep)."""
        if self.session is None:
            return
        try:
            self.run(self.session, f"DROP TABLE {self.quoted(self.name)}")
        except sa.exc.DBAPIError as error:
            log.warning("could not drop %s (the next run drops it): %s", self.name, error)
        finally:
            self.session.close()


def landing_type(sql_type: SqlType) -> TypeEngine:
    """The type a value has in a landing table: what it travels as."""
    kind = sql_type.kind
    if kind in (Kind.BOOLEAN, Kind.FLOAT, Kind.REAL) or kind in _INTEGERS:
        return mssql.BIT() if kind is Kind.BOOLEAN else _TYPES[kind](sql_type)
    if kind is Kind.STRING:
        return mssql.NVARCHAR(sql_type.length)
    return mssql.NVARCHAR(TEXT_WIDTH)


def travels_as_text(sql_type: SqlType) -> bool:
    """Decimals, date/times and GUIDs: sent as text, converted by the server."""
    return sql_type.kind not in (Kind.BOOLEAN, Kind.FLOAT, Kind.REAL, Kind.STRING, *_INTEGERS)


def _landing_for(
    conn: Connection,
    driver: Driver,
    table: sa.Table,
    names: Sequence[str],
    types: Sequence[SqlType],
) -> _Landing:
    """The landing table for rows of `names` and `types` in this transaction, created (and,
    for its own session, committed) on first use."""
    landings: dict[tuple, _Landing] = conn.info.setdefault(_LANDINGS, {})
    # one landing per shape of rows (batches of any table with that shape reuse it)
    key = tuple(zip(names, types, strict=True))
    if key in landings:
        return landings[key]
    slug = re.sub(r"[^A-Za-z0-9_]", "_", table.name.lstrip("#"))[:40]
    if driver.bulk_uses_own_connection:
        name = f"{LANDING_PREFIX}{slug}_{uuid.uuid4().hex[:12]}"
        # a session of its own, committing each statement (its table must be visible to the
        # bulk channel before the load's transaction ends)
        landing = _Landing(name, list(names), types, conn.engine.connect())
    else:
        landing = _Landing(f"#turbodata_land_{slug}_{uuid.uuid4().hex[:12]}", names, types, None)
    columns = [
        sa.Column(c, landing_type(t)) for c, t in zip(landing.landed_columns, types, strict=True)
    ]
    create = sa.schema.CreateTable(sa.Table(landing.name, sa.MetaData(), *columns))
    try:
        landing.run(conn, str(create.compile(dialect=conn.dialect)).strip())
    except BaseException:
        if landing.session is not None:
            landing.session.close()
        raise
    landings[key] = landing
    return landing


def _landed_problem(conn: Connection, landing: _Landing, batch: pa.RecordBatch) -> str | None:
    """What differs between the landed rows and the batch: row count, a column's count of
    non-NULL values (mssql-python on Babelfish lands all but one column as NULL while
    reporting every row copied), or a number column's smallest or largest value (a REAL
    sent as an 8-byte float landed as garbage, every value non-NULL)."""
    landed = list(conn.exec_driver_sql(landing.check_sql()).one())
    if landed[0] != batch.num_rows:
        return f"{landed[0]} rows arrived for {batch.num_rows} sent"
    width = len(landing.columns)
    counts, ranges = landed[1 : width + 1], landed[width + 1 :]
    for name, count, column in zip(landing.columns, counts, batch.columns, strict=True):
        expected = batch.num_rows - nulls_in(column)
        if count != expected:
            return f"column {name}: {count} values arrived for {expected} sent"
    for index, position in enumerate(landing.number_positions):
        arrived = tuple(ranges[2 * index : 2 * index + 2])
        sent = _number_range(batch.column(position), landing.types[position])
        if arrived != sent:
            return (
                f"column {landing.columns[position]}: values from {arrived[0]} to"
                f" {arrived[1]} arrived for {sent[0]} to {sent[1]} sent"
            )
    return None


def _number_range(values: pa.Array, sql_type: SqlType) -> tuple[object, object]:
    """(smallest, largest) of a batch's number column as the column stores them (a REAL's
    values at single precision)."""
    if sql_type.kind is Kind.REAL:
        values = pc.cast(values, pa.float32())
    extremes = pc.min_max(values).as_py()
    return extremes["min"], extremes["max"]


def _keep_session_landings(conn: Connection) -> None:
    """A transaction commits: landings owned by a session of their own are dropped with it;
    `#temp` landings stay for the session's next batches."""
    landings: dict[tuple, _Landing] = conn.info.get(_LANDINGS, {})
    for key, landing in list(landings.items()):
        if landing.own_session:
            landing.close()
            del landings[key]


def _forget_landings(conn: Connection) -> None:
    """A transaction rolls back: a `#temp` landing created in it no longer exists."""
    for landing in conn.info.pop(_LANDINGS, {}).values():
        landing.close()


def insert_sql(
    table: sa.Table, names: Sequence[str], types: Sequence[SqlType], placeholder: str
) -> str:
    """An INSERT whose text parameters the server converts with CAST: a decimal, date/time
    or GUID travels as NVARCHAR text (exact), and engines differ on implicit conversions
    (Babelfish refuses NVARCHAR into DATETIMEOFFSET)."""
    sql = mssql.dialect()
    values = ", ".join(
        f"CAST({placeholder} AS {table.c[n].type.compile(dialect=sql)})"
        if travels_as_text(t)
        else placeholder
        for n, t in zip(names, types, strict=True)
    )
    target = sql.identifier_preparer.format_table(table)
    return f"INSERT INTO {target} ({', '.join(map(quote, names))}) VALUES ({values})"


def _keep_the_failed_statements_error(engine: Engine) -> None:
    """A ROLLBACK that finds no transaction (error 3903: XACT_ABORT, or the server ended it)
    is not an error: raising it would hide the failed statement's own error."""
    rollback = engine.dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        except Exception as error:
            if error_number(error) != NO_TRANSACTION and "transaction block" not in str(error):
                raise
            log.debug("ROLLBACK found no transaction (the server had ended it): %s", error)

    engine.dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def _commit_of_reads_only(engine: Engine) -> None:
    """A COMMIT that finds no transaction (error 3902) ends a transaction that only read:
    over ODBC's implicit transactions, Babelfish opens none for a SELECT, and FreeTDS then
    fails the COMMIT. It is not a lost write: every statement that wrote opened the
    transaction, and an error that ended it was raised by that statement (XACT_ABORT)."""
    commit = engine.dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        except Exception as error:
            if error_number(error) != NOTHING_TO_COMMIT:
                raise
            log.debug("COMMIT found no transaction (nothing had opened one): %s", error)

    engine.dialect.do_commit = do_commit  # type: ignore[method-assign]


def _long_text_for_other_odbc_drivers(
    inputsizes: dict, cursor: Any, statement: str, parameters: Any, context: Any
) -> None:
    """SQLAlchemy binds unbounded text for pyodbc as (NVARCHAR, size 0): NVARCHAR(MAX) to
    Microsoft's driver; FreeTDS refuses it ("Invalid string or buffer length (0)") and
    takes the long NVARCHAR type."""
    if has_parameter_arrays(cursor.connection):
        return
    for parameter, size in inputsizes.items():
        if isinstance(size, tuple) and size[:2] == (SQL_WVARCHAR, 0):
            inputsizes[parameter] = (SQL_WLONGVARCHAR, 0, 0)


def _abort_transaction_on_error(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET XACT_ABORT ON")
    finally:
        cursor.close()


def _bind_aware_datetimes_as_utc(engine: Engine) -> None:
    """Every aware datetime parameter (ledger, lease) is bound as the naive UTC datetime all
    drivers send the same way; the server converts it to DATETIMEOFFSET +00:00. (Drivers
    differ on tzinfo: pyodbc's dialect sends text, which Babelfish refuses for a
    DATETIMEOFFSET column; others drop or reject the zone.) Set on this engine's dialect."""
    engine.dialect.colspecs = {  # type: ignore[misc]
        **engine.dialect.colspecs,
        sa.DateTime: _UtcDateTime,
        mssql.DATETIMEOFFSET: _UtcDateTimeOffset,
    }


class _UtcDateTime(sa.DateTime):
    def bind_processor(self, dialect: Any) -> Callable[[object], object]:
        return _as_utc


class _UtcDateTimeOffset(mssql.DATETIMEOFFSET):
    def bind_processor(self, dialect: Any) -> Callable[[object], object]:
        return _as_utc


def _as_utc(value: object) -> object:
    """An aware datetime as naive UTC; anything else unchanged."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class LoginFailed(Exception):
    """The server refused the sign-in; says where and how, never with the password."""


_PASSWORD_IN_TEXT = re.compile(r"(?i)\b(pwd|password)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)")


def _name_the_failed_login(url: sa.URL) -> Callable[[Any], None]:
    where, how = sign_in_of(url)

    def handle_error(context: Any) -> None:
        error = context.original_exception
        text = str(error)
        if error_number(error) != LOGIN_FAILED and "login failed" not in text.lower():
            return
        said = _PASSWORD_IN_TEXT.sub(r"\1=***", text.strip().splitlines()[0] if text else "")
        raise sa.exc.OperationalError(
            None, None, LoginFailed(f"sign-in to {where} failed, using {how}: {said}")
        ) from error

    return handle_error


def sign_in_of(url: sa.URL) -> tuple[str, str]:
    """(server and database, authentication mode) of a SQL Server URL, for messages."""
    query = {k.lower(): v for k, v in url.query.items()}
    odbc = {
        k.strip().lower(): v.strip().strip("{}")
        for k, _, v in (
            part.partition("=") for part in str(query.get("odbc_connect", "")).split(";") if part
        )
    }
    server = url.host or odbc.get("server", "?")
    port = url.port or odbc.get("port")
    database = url.database or odbc.get("database", "")
    where = f"server {server}{f':{port}' if port else ''}" + (
        f", database {database}" if database else ""
    )
    user = url.username or odbc.get("uid") or odbc.get("user id")
    mode = query.get("authentication") or odbc.get("authentication")
    if mode:
        how = f"Entra ID authentication {mode}" + (f" (identity {user})" if user else "")
    elif user:
        how = f"SQL authentication as user {user!r}"
    elif odbc.get("trusted_connection", "").lower() == "yes":
        how = "Windows integrated authentication"
    else:
        how = "no user in the URL (an Entra access token, when the app supplies one)"
    return where, how

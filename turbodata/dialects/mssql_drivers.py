"""What differs between SQL Server's Python drivers, each in one small class.

The mssql dialect picks one from the URL's driver name (`mssql+pyodbc`, `mssql+mssqlpython`,
`mssql+pytds`); nothing outside this module knows which driver runs. A driver class says how
rows reach a staging table (bulk copy where the driver has it, else a batched INSERT), how its
parameters are spelled, and how to read a server error number from its exceptions.

Values travel as the server's own text where a driver's binding is not exact: decimals as
positional text (38-digit `Decimal` parameters fail in mssql-python and arrive corrupted
through pytds; the server converts text exactly), date/time values as the reader's canonical
text (the 7th fractional digit of DATETIME2(7) survives; a Python datetime has 6).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from turbodata.dialects.arrow_text import decimal_strings
from turbodata.types.sql import Kind, SqlType

# a bulk copy on its own connection that waits on a lock the load's transaction holds would
# wait for ever (no server sees that deadlock): it fails after this long and the batch
# goes by INSERT instead
BULK_COPY_TIMEOUT = 300
EXECUTEMANY_ROWS = 10_000  # pyodbc's fast_executemany holds a whole call's parameters in memory

_NUMBER_IN_TEXT = re.compile(
    r"\((\d{3,5})\)|\b[Ee]rror (?:number )?:?\s*(\d{3,5})\b|\bMsg (\d{3,5})"
)


def error_number(error: BaseException) -> int | None:
    """The server's error number carried by a driver exception (or SQLAlchemy's wrapper)."""
    original = getattr(error, "orig", None) or error
    for attribute in ("number", "msg_no", "sql_error_number"):
        value = getattr(original, attribute, None)
        if isinstance(value, int):
            return value
    for text in (*map(str, getattr(original, "args", ())), str(original)):
        match = _NUMBER_IN_TEXT.search(text)
        if match:
            return int(next(group for group in match.groups() if group))
    return None


class Driver:
    """The DB-API driver under SQLAlchemy's mssql dialect. Subclasses set `name` to
    SQLAlchemy's driver name and override what their driver does differently."""

    name: ClassVar[str] = ""
    # how the hot INSERT spells a positional parameter
    placeholder: ClassVar[str] = "?"
    # bulk copy opens a connection of its own: the staging table must be visible to other
    # sessions (a ##global temporary table), and created outside the load's transaction
    bulk_uses_own_connection: ClassVar[bool] = False

    def python_values(self, array: pa.Array, sql_type: SqlType) -> list[object]:
        """One column as parameters the driver binds exactly."""
        if sql_type.kind is Kind.DECIMAL:
            return decimal_strings(array)
        return array.to_pylist()

    def executemany(
        self,
        dbapi_connection: Any,
        statement: str,
        rows: list[tuple],
        types: Sequence[SqlType],
    ) -> None:
        cursor = dbapi_connection.cursor()
        try:
            self.type_parameters(cursor, rows, types)
            for start in range(0, len(rows), EXECUTEMANY_ROWS):
                cursor.executemany(statement, rows[start : start + EXECUTEMANY_ROWS])
        finally:
            cursor.close()

    def type_parameters(self, cursor: Any, rows: list[tuple], types: Sequence[SqlType]) -> None:
        """Declare each parameter's type where the driver would guess it from a sample."""

    def has_bulk_copy(self) -> bool:
        return False

    def bulk_copy(
        self,
        dbapi_connection: Any,
        table_name: str,
        columns: Sequence[str],
        batch: pa.RecordBatch,
        types: Sequence[SqlType],
    ) -> int:
        """Load `batch` into `table_name`'s `columns` (one per batch column, in order) by TDS
        bulk copy; the driver's own row count (which the caller never trusts)."""
        raise NotImplementedError(f"{self.name or 'this driver'} has no bulk copy")


class PyodbcDriver(Driver):
    """pyodbc: `fast_executemany` (parameter arrays) over Microsoft's ODBC driver; plain
    executemany over other ODBC drivers (FreeTDS crashes the process on parameter arrays).
    Parameters are typed as declared (`setinputsizes`); text over 4,000 UTF-16 units is
    (NVARCHAR, size 0), NVARCHAR(MAX), to Microsoft's driver, while FreeTDS refuses that
    ("Invalid string or buffer length") and takes the long NVARCHAR type."""

    name = "pyodbc"

    def executemany(
        self,
        dbapi_connection: Any,
        statement: str,
        rows: list[tuple],
        types: Sequence[SqlType],
    ) -> None:
        cursor = dbapi_connection.cursor()
        microsoft = has_parameter_arrays(dbapi_connection)
        cursor.fast_executemany = microsoft
        long_text = SQL_WVARCHAR if microsoft else SQL_WLONGVARCHAR
        cursor.setinputsizes(odbc_input_sizes(rows, types, long_text=long_text))
        for start in range(0, len(rows), EXECUTEMANY_ROWS):
            cursor.executemany(statement, rows[start : start + EXECUTEMANY_ROWS])


SQL_DRIVER_NAME = 6  # SQLGetInfo: the ODBC driver's file name


def has_parameter_arrays(dbapi_connection: Any) -> bool:
    """Microsoft's ODBC driver (libmsodbcsql…, msodbcsql….dll) handles fast_executemany."""
    getinfo = getattr(dbapi_connection, "getinfo", None)
    name = str(getinfo(SQL_DRIVER_NAME)) if getinfo else ""
    return "msodbcsql" in name.lower()


class MssqlPythonDriver(Driver):
    """Microsoft's mssql-python: `cursor.bulkcopy_arrow` (Arrow buffers straight into TDS)
    where the installed version has it, else `cursor.bulkcopy` with row tuples. Both open a
    connection of their own."""

    name = "mssqlpython"
    bulk_uses_own_connection = True

    def type_parameters(self, cursor: Any, rows: list[tuple], types: Sequence[SqlType]) -> None:
        """Its executemany types a column from a sample value: an ASCII sample makes it
        VARCHAR, and later non-Latin text arrives as '?'. Text over 4,000 UTF-16 units is
        the long NVARCHAR type (a sized NVARCHAR says "Invalid precision value")."""
        cursor.setinputsizes(odbc_input_sizes(rows, types, long_text=SQL_WLONGVARCHAR))

    def has_bulk_copy(self) -> bool:
        from mssql_python import Cursor

        return hasattr(Cursor, "bulkcopy_arrow") or hasattr(Cursor, "bulkcopy")

    def bulk_copy(
        self,
        dbapi_connection: Any,
        table_name: str,
        columns: Sequence[str],
        batch: pa.RecordBatch,
        types: Sequence[SqlType],
    ) -> int:
        text_batch = _as_server_text(batch, types)
        mappings = list(columns)
        cursor = dbapi_connection.cursor()
        try:
            if hasattr(cursor, "bulkcopy_arrow"):
                result = cursor.bulkcopy_arrow(
                    table_name,
                    text_batch,
                    column_mappings=mappings,
                    keep_nulls=True,
                    timeout=BULK_COPY_TIMEOUT,
                )
            else:
                rows = list(zip(*(c.to_pylist() for c in text_batch.columns), strict=True))
                result = cursor.bulkcopy(
                    table_name,
                    rows,
                    column_mappings=mappings,
                    keep_nulls=True,
                    timeout=BULK_COPY_TIMEOUT,
                )
        finally:
            cursor.close()
        return int(result.get("rows_copied", -1))


class PytdsDriver(Driver):
    """python-tds (`mssql+pytds`, the sqlalchemy-pytds package): pure Python TDS.
    Parameters are `%s`, never `?`; bulk copy is `cursor.copy_to` on the load's own
    connection, with every column's wire type given explicitly."""

    name = "pytds"
    placeholder = "%s"

    def has_bulk_copy(self) -> bool:
        return True

    def bulk_copy(
        self,
        dbapi_connection: Any,
        table_name: str,
        columns: Sequence[str],
        batch: pa.RecordBatch,
        types: Sequence[SqlType],
    ) -> int:
        from pytds import tds_base, tds_types

        wire_columns = [
            tds_base.Column(name=name, type=_tds_wire_type(tds_types, t))
            for name, t in zip(columns, types, strict=True)
        ]
        values = [self.python_values(batch.column(i), t) for i, t in enumerate(types)]
        rows = zip(*values, strict=True)
        cursor = dbapi_connection.cursor()
        try:
            cursor.copy_to(
                table_or_view=table_name, columns=wire_columns, data=rows, keep_nulls=True
            )
            return int(cursor.rowcount)
        finally:
            cursor.close()


_INTEGER_KINDS = (Kind.TINYINT, Kind.SMALLINT, Kind.INTEGER, Kind.BIGINT)
_NUMBER_WIRE_TYPES = {  # pytds.tds_types class names
    Kind.TINYINT: "TinyIntType",
    Kind.SMALLINT: "SmallIntType",
    Kind.INTEGER: "IntType",
    Kind.BIGINT: "BigIntType",
    Kind.REAL: "RealType",
    Kind.FLOAT: "FloatType",
}
# ODBC's SQL type codes (sql.h, sqlucode.h), the same in pyodbc and mssql-python
SQL_BIT, SQL_BIGINT, SQL_DOUBLE, SQL_WVARCHAR, SQL_WLONGVARCHAR = -7, -5, 8, -9, -10


def odbc_input_sizes(
    rows: list[tuple], types: Sequence[SqlType], *, long_text: int
) -> list[tuple[int, int, int]]:
    """(SQL type, size, digits) of every parameter of an ODBC driver's INSERT: numbers and
    bits as such, everything else NVARCHAR text as long as the column's longest value; from
    4,000 UTF-16 units `long_text` (the driver's way to say NVARCHAR(MAX), size 0 for
    SQL_WVARCHAR). Exactly 4,000 as SQL_WVARCHAR failed with FreeTDS ("Invalid string or
    buffer length (0)", on every run: found by review). A column holding a NUL character is
    long text too: mssql-python cut a sized NVARCHAR value at its NUL without an error
    (found by review; the long type sends it whole)."""
    sizes: list[tuple[int, int, int]] = []
    for index, sql_type in enumerate(types):
        if sql_type.kind is Kind.BOOLEAN:
            sizes.append((SQL_BIT, 1, 0))
        elif sql_type.kind in _INTEGER_KINDS:
            sizes.append((SQL_BIGINT, 19, 0))
        elif sql_type.kind in (Kind.FLOAT, Kind.REAL):
            sizes.append((SQL_DOUBLE, 53, 0))
        else:
            longest = max((_utf16_length(row[index]) for row in rows), default=1)
            if any(_holds_nul(row[index]) for row in rows):
                longest = max(longest, 4001)  # mssql-python cut at a NUL up to 4,000 too
            if longest < 4000:
                sizes.append((SQL_WVARCHAR, max(longest, 1), 0))
            else:
                sizes.append((long_text, 0 if long_text == SQL_WVARCHAR else longest, 0))
    return sizes


def _holds_nul(value: object) -> bool:
    return isinstance(value, str) and "\x00" in value


def _utf16_length(value: object) -> int:
    if not isinstance(value, str):
        return 1
    return len(value) + sum(1 for c in value if ord(c) > 0xFFFF)


def _tds_wire_type(tds_types: Any, sql_type: SqlType) -> Any:
    """How a column travels in pytds' bulk copy: numbers and bits natively, each as the
    landing column's own type (`mssql.landing_type`), the rest as Unicode text the server
    converts (exact for decimals, date/time and GUIDs). The wire type is the column's: an
    8-byte float sent into a REAL column landed as garbage on Babelfish, every row "copied"."""
    kind = sql_type.kind
    if kind is Kind.BOOLEAN:
        return tds_types.BitType()
    if kind in _NUMBER_WIRE_TYPES:
        return getattr(tds_types, _NUMBER_WIRE_TYPES[kind])()
    if kind is Kind.STRING:
        if sql_type.length is None or sql_type.length > 4000:
            return tds_types.NVarCharMaxType()
        return tds_types.NVarCharType(size=sql_type.length)
    return tds_types.NVarCharType(size=100)  # as the landing table's text columns


def _as_server_text(batch: pa.RecordBatch, types: Sequence[SqlType]) -> pa.RecordBatch:
    """Decimals as positional text, so the server converts them exactly."""
    columns = [
        pa.array(decimal_strings(column), pa.string()) if t.kind is Kind.DECIMAL else column
        for column, t in zip(batch.columns, types, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


DRIVERS: dict[str, type[Driver]] = {
    d.name: d for d in (PyodbcDriver, MssqlPythonDriver, PytdsDriver)
}


def for_driver_name(name: str | None) -> Driver:
    """The class for SQLAlchemy's driver name (`engine.dialect.driver`); an unknown driver
    gets the plain DB-API behaviour (qmark parameters, executemany, no bulk copy)."""
    return DRIVERS.get(name or "", Driver)()


def nulls_in(array: pa.Array) -> int:
    return int(pc.sum(pc.is_null(array)).as_py() or 0)

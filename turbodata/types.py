"""Target column types: what a CDM type becomes in SQL, and how a loaded value is carried.

`SqlType` is database-neutral; each dialect turns it into its own DDL type
(`turbodata.dialects`). The mapping follows lake-format.md section 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from turbodata.model import CdmType, Column

MAX_DECIMAL_PRECISION = 38
DEFAULT_DECIMAL = (38, 10)  # Dataverse Decimal has 10 fraction digits, Money 4
MAX_BOUNDED_STRING = 4000  # longer declared lengths become unbounded (NVARCHAR(MAX))
FRACTION_DIGITS = 7  # .NET ticks: 100 ns


class Kind(StrEnum):
    BOOLEAN = "boolean"
    TINYINT = "tinyint"  # 0..255, CDM Byte
    SMALLINT = "smallint"
    INTEGER = "integer"
    BIGINT = "bigint"
    DECIMAL = "decimal"
    FLOAT = "float"  # double precision
    REAL = "real"  # single precision
    STRING = "string"
    GUID = "guid"
    DATETIME = "datetime"  # no zone, UTC by convention
    DATETIMEOFFSET = "datetimeoffset"
    DATE = "date"
    TIME = "time"


INTEGER_RANGES: dict[Kind, tuple[int, int]] = {
    Kind.TINYINT: (0, 255),
    Kind.SMALLINT: (-(2**15), 2**15 - 1),
    Kind.INTEGER: (-(2**31), 2**31 - 1),
    Kind.BIGINT: (-(2**63), 2**63 - 1),
}


@dataclass(frozen=True)
class SqlType:
    """A database-neutral column type."""

    kind: Kind
    length: int | None = None  # STRING: characters; None = unbounded (MAX)
    precision: int | None = None  # DECIMAL
    scale: int | None = None  # DECIMAL
    fraction: int = FRACTION_DIGITS  # DATETIME, DATETIMEOFFSET, TIME: fractional digits

    def __str__(self) -> str:
        if self.kind is Kind.STRING:
            return f"string({self.length if self.length else 'max'})"
        if self.kind is Kind.DECIMAL:
            return f"decimal({self.precision},{self.scale})"
        if self.kind in (Kind.DATETIME, Kind.DATETIMEOFFSET, Kind.TIME):
            return f"{self.kind.value}({self.fraction})"
        return self.kind.value


def string_type(max_length: int | None) -> SqlType:
    """NVARCHAR(n) for 1 <= n <= 4000, else unbounded (-1, 0, 9999, missing, > 4000)."""
    if max_length is None or max_length < 1 or max_length > MAX_BOUNDED_STRING:
        return SqlType(Kind.STRING, None)
    return SqlType(Kind.STRING, max_length)


def decimal_type(precision: int | None, scale: int | None) -> SqlType:
    """DECIMAL(p,s) clamped to 1..38 and 0..p; DECIMAL(38,10) when the trait is missing."""
    if precision is None:
        precision, scale = DEFAULT_DECIMAL
    precision = min(max(int(precision), 1), MAX_DECIMAL_PRECISION)
    scale = min(max(int(scale or 0), 0), precision)
    return SqlType(Kind.DECIMAL, precision=precision, scale=scale)


_SIMPLE: dict[CdmType, SqlType] = {
    CdmType.INT64: SqlType(Kind.BIGINT),
    CdmType.INT32: SqlType(Kind.INTEGER),
    CdmType.INT16: SqlType(Kind.SMALLINT),
    CdmType.BYTE: SqlType(Kind.TINYINT),
    CdmType.DOUBLE: SqlType(Kind.FLOAT),
    CdmType.FLOAT: SqlType(Kind.REAL),
    CdmType.BOOLEAN: SqlType(Kind.BOOLEAN),
    CdmType.GUID: SqlType(Kind.GUID),
    CdmType.DATETIME: SqlType(Kind.DATETIME),
    CdmType.DATETIMEOFFSET: SqlType(Kind.DATETIMEOFFSET),
    CdmType.DATE: SqlType(Kind.DATE),
    CdmType.TIME: SqlType(Kind.TIME),
}


def from_cdm(column: Column) -> SqlType:
    """The declared type of a column, before anything the data says."""
    if column.cdm_type in _SIMPLE:
        return _SIMPLE[column.cdm_type]
    if column.cdm_type is CdmType.DECIMAL:
        return decimal_type(column.precision, column.scale)
    if column.cdm_type in (CdmType.STRING, CdmType.CHAR):
        return string_type(column.max_length)
    # json, binary (text encoding unknown), unclassified: unbounded text
    return SqlType(Kind.STRING, None)


def arrow_type(sql_type: SqlType) -> pa.DataType:
    """How values of this type travel from the reader to the loader.

    Date/time values travel as canonical text ("2025-02-03 09:52:15.1234567", offsets as
    "+00:00"): Arrow's nanosecond timestamps cannot hold 0001-01-01 or 9999-12-31, and
    microseconds would drop the 7th fractional digit DATETIME2(7) keeps.
    """
    kind = sql_type.kind
    if kind is Kind.BOOLEAN:
        return pa.bool_()
    if kind in INTEGER_RANGES:
        return pa.int64()
    if kind is Kind.DECIMAL:
        return pa.decimal128(sql_type.precision or 38, sql_type.scale or 0)
    if kind in (Kind.FLOAT, Kind.REAL):
        return pa.float64()
    return pa.string()

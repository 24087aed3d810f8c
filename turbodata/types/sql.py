"""Target column types: what a CDM type becomes in SQL, and how a loaded value is carried.

`SqlType` is database-neutral; each dialect turns it into its own DDL type
(`turbodata.dialects`). The mapping follows lake-format.md section 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from turbodata.model import CdmType, Column

if TYPE_CHECKING:
    import pyarrow as pa

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
    import pyarrow as pa  # here: the types are needed without Arrow (a rerun, a plan)

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


class IncompatibleType(ValueError):
    """A column's new type cannot hold every value of its old type (a breaking change)."""


INTEGER_ORDER = (Kind.TINYINT, Kind.SMALLINT, Kind.INTEGER, Kind.BIGINT)
INTEGER_DIGITS = {Kind.TINYINT: 3, Kind.SMALLINT: 5, Kind.INTEGER: 10, Kind.BIGINT: 19}
TIMESTAMP_KINDS = (Kind.DATETIME, Kind.DATETIMEOFFSET, Kind.TIME)


def widen(old: SqlType, new: SqlType) -> SqlType:
    """The narrowest type holding every value of both, along the widening lattice only:

    TINYINT → SMALLINT → INTEGER → BIGINT → DECIMAL(38,0); DECIMAL(p,s) keeping every integer
    and fraction digit; STRING(n) → STRING(m > n) → STRING(max); REAL → FLOAT; a longer time
    fraction; BOOLEAN → an integer type (only reachable when the metadata declares it).
    Anything else raises IncompatibleType.
    """
    if old == new:
        return old
    for merge in (_widen_same_kind, _widen_numeric, _widen_boolean):
        merged = merge(old, new)
        if merged is not None:
            return merged
    raise IncompatibleType(f"{old} cannot become {new} without losing data")


def _widen_same_kind(old: SqlType, new: SqlType) -> SqlType | None:
    if old.kind is not new.kind:
        return None
    if old.kind is Kind.STRING:
        longest = None if old.length is None or new.length is None else max(old.length, new.length)
        return SqlType(Kind.STRING, longest)
    if old.kind in TIMESTAMP_KINDS:
        return SqlType(old.kind, fraction=max(old.fraction, new.fraction))
    if old.kind is Kind.DECIMAL:
        return _decimal_holding(old, new)
    return old


def _widen_numeric(old: SqlType, new: SqlType) -> SqlType | None:
    kinds = {old.kind, new.kind}
    if kinds <= set(INTEGER_ORDER):
        return max(old, new, key=lambda t: INTEGER_ORDER.index(t.kind))
    if kinds == {Kind.REAL, Kind.FLOAT}:
        return SqlType(Kind.FLOAT)
    if kinds <= {*INTEGER_ORDER, Kind.DECIMAL}:
        return _decimal_holding(old, new)
    return None


def _widen_boolean(old: SqlType, new: SqlType) -> SqlType | None:
    if old.kind is Kind.BOOLEAN and new.kind in INTEGER_ORDER:
        return new
    return None


def _as_decimal(t: SqlType) -> tuple[int, int]:
    """(integer digits, fraction digits) a numeric type can hold."""
    if t.kind is Kind.DECIMAL:
        return (t.precision or 38) - (t.scale or 0), t.scale or 0
    return INTEGER_DIGITS[t.kind], 0


def _decimal_holding(old: SqlType, new: SqlType) -> SqlType:
    (old_int, old_frac), (new_int, new_frac) = _as_decimal(old), _as_decimal(new)
    integer_digits, scale = max(old_int, new_int), max(old_frac, new_frac)
    if integer_digits + scale > MAX_DECIMAL_PRECISION:
        raise IncompatibleType(
            f"{old} and {new} together need decimal({integer_digits + scale},{scale}),"
            f" more than {MAX_DECIMAL_PRECISION} digits"
        )
    return SqlType(Kind.DECIMAL, precision=integer_digits + scale, scale=scale)

"""The narrowest correct SQL type of a column, from its values (issue 3, "Minimal types").

Used where the metadata is weak: `unclassified` (and unknown) types, strings without a declared
length, and CSVs whose metadata carries no types. `TypeInference` looks at a column chunk by
chunk with pyarrow.compute and keeps only a few counters, so memory stays bounded however large
the file.

Candidates, narrowest first; the first one every non-null value fits is the result:

1. BOOLEAN: `True`/`False` in any (ASCII) case, mixed with `1`/`0` at most. A column of only
   `0`/`1` is an integer column (TINYINT).
2. Integers: TINYINT (0..255) -> SMALLINT -> INTEGER -> BIGINT by the observed min and max.
3. DECIMAL(p,s): integer digits and *significant* fraction digits seen (`1.50` needs one
   fraction digit; `DECIMAL(2,1)` holds its value exactly), p <= 38. Integers past BIGINT land
   here as DECIMAL(n,0). Numbers mixed with decimals are one DECIMAL holding both, which is
   narrower than folding the per-value types with `types.widen` (that widens a TINYINT to its
   full 3 digits, for example).
4. GUID: 8-4-4-4-12 hex digits, braces allowed, any case.
5. DATE: every value a bare `yyyy-mm-dd`. Midnight timestamps (`2025-02-15T00:00:00.0000000`,
   F&O date-only fields) stay DATETIME: a later batch can carry a time of day, and DATE cannot
   widen to DATETIME along the lattice.
6. DATETIME / DATETIMEOFFSET with the significant fraction digits seen (0..7). Any value with an
   explicit `+hh:mm`/`-hh:mm` offset (even `+00:00`) makes the column DATETIMEOFFSET, because a
   DATETIME would drop that offset; `Z` and no zone mean UTC and give DATETIME. Dates mixed with
   timestamps are DATETIME (a date is its midnight).
7. Otherwise STRING with the longest value in characters (<= 4000 -> string(n), else max).

Numbers are only recognised in the form .NET's invariant culture writes them: an optional `-`,
no leading zero (`0`, `0.5`, `-0.5` are fine; `007`, `01234`, `00.5` are not: postal codes and
codes keep their text), no `+` (phone numbers such as `+4930123456`), no exponent, digits on both
sides of a `.`. Anything else stays a string, which is always exact. FLOAT/REAL are never
inferred: decimal text stays exact. TIME is not inferred either (`12:30` stays text).

Every inferred type is accepted by `values.convert_column` for every non-null value of the
column; date/time candidates are confirmed with `convert_column` itself so the two never differ.
"" counts as null, as in `convert_column` for every non-string kind. An empty or all-null column
is the fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from turbodata.model import CdmType, Column
from turbodata.read.values import GUID_TEXT, INVARIANT_INTEGER, INVARIANT_NUMBER, convert_column
from turbodata.types.sql import (
    INTEGER_RANGES,
    MAX_DECIMAL_PRECISION,
    Kind,
    SqlType,
    decimal_type,
    string_type,
)

_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_ISO = _DATE + r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?"
_US = r"[0-9]{1,2}/[0-9]{1,2}/[0-9]{4} [0-9]{1,2}:[0-9]{2}:[0-9]{2} [AaPp][Mm]"
_OFFSET = r"[+-][0-9]{2}:[0-9]{2}$"
_BOOL_WORDS = pa.array(["true", "false"])
_BOOL_ALL = pa.array(["true", "false", "1", "0"])
_INT64_DIGITS = 18  # every integer of at most 18 digits fits int64
_BIGINT_LIMITS = ("9223372036854775807", "9223372036854775808")  # |max|, |min| (19 digits)
_DATETIME = SqlType(Kind.DATETIME)


TYPED_FILE_STRING = "string (Delta/Parquet)"
"""`Column.declared_type` of a Delta/Parquet string column: a typed file has no GUID type, so
Dataverse's GUIDs (`Id`, lookups) arrive as such strings (see `batch_types.GuidOrString`)."""


def is_typed_file_string(column: Column) -> bool:
    return column.cdm_type is CdmType.STRING and column.declared_type == TYPED_FILE_STRING


def all_guids(values: pa.Array) -> bool:
    """Whether every value (text, no nulls) is a GUID in a form `convert_column` accepts."""
    return _all(_full(values, GUID_TEXT))


def needs_inference(column: Column) -> bool:
    """Whether the metadata leaves this column's type to the data.

    True for `unclassified` (unknown types are normalised to it) and for strings/chars without
    a declared length. `json` and `binary` stay unbounded text: their values are documents or
    encoded bytes, and a number-looking JSON value must not turn the column numeric.
    """
    if column.cdm_type is CdmType.UNCLASSIFIED:
        return True
    if column.cdm_type in (CdmType.STRING, CdmType.CHAR):
        return column.max_length is None or column.max_length < 1
    return False


def _full(values: pa.Array, pattern: str) -> pa.Array:
    return pc.match_substring_regex(values, f"^(?:{pattern})$")


def _all(mask: pa.Array) -> bool:
    return bool(pc.all(mask).as_py()) if len(mask) else True


def _max(values: pa.Array, default: int = 0) -> int:
    found = pc.max(values).as_py() if len(values) else None
    return default if found is None else int(found)


def number_digits(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Per number (in the form `INVARIANT_NUMBER` matches): its integer digits and its significant
    fraction digits, the precision and scale a DECIMAL needs to hold it exactly."""
    body = pc.ascii_ltrim(values, "-0")  # "-0.50" -> ".50", "0" -> ""; no other leading 0
    point = pc.find_substring(body, ".")
    has_point = pc.greater_equal(point, 0)
    whole = pc.if_else(has_point, point, pc.utf8_length(body))
    fraction = pc.subtract(pc.utf8_length(pc.ascii_rtrim(body, "0")), pc.add(point, 1))
    return whole, pc.if_else(has_point, fraction, 0)


@dataclass
class _Numbers:
    """What the number-shaped values need: integer range, digits, fraction digits."""

    low: int | None = None
    high: int | None = None
    beyond_bigint: bool = False
    integer_digits: int = 0
    fraction_digits: int = 0

    def update_integers(self, values: pa.Array) -> None:
        digits = pc.utf8_length(pc.ascii_ltrim(values, "-"))
        negative = pc.starts_with(values, "-")
        limit = pc.if_else(negative, _BIGINT_LIMITS[1], _BIGINT_LIMITS[0])
        at_limit_length = pc.and_(
            pc.equal(digits, 19), pc.less_equal(pc.ascii_ltrim(values, "-"), limit)
        )
        fits = pc.or_(pc.less_equal(digits, _INT64_DIGITS), at_limit_length)
        fitting = pc.cast(pc.filter(values, fits), pa.int64())
        if len(fitting) < len(values):
            self.beyond_bigint = True
        if len(fitting):
            low, high = (s.as_py() for s in pc.min_max(fitting).values())
            self.low = low if self.low is None else min(self.low, low)
            self.high = high if self.high is None else max(self.high, high)

    def update_digits(self, values: pa.Array) -> None:
        whole, fraction = number_digits(values)
        self.integer_digits = max(self.integer_digits, _max(whole))
        self.fraction_digits = max(self.fraction_digits, _max(fraction))

    def integer_type(self) -> SqlType | None:
        if self.beyond_bigint or self.low is None or self.high is None:
            return None
        for kind, (lo, hi) in INTEGER_RANGES.items():
            if lo <= self.low and self.high <= hi:
                return SqlType(kind)
        return None

    def decimal_type(self) -> SqlType | None:
        precision = max(self.integer_digits + self.fraction_digits, 1)
        if precision > MAX_DECIMAL_PRECISION:
            return None
        return decimal_type(precision, self.fraction_digits)


@dataclass
class _Stamps:
    """What the date/time-shaped values need: date only, offsets, fraction digits."""

    dates_only: bool = True
    offsets: bool = False
    fraction: int = 0

    def update(self, values: pa.Array) -> bool:
        """Take a chunk; False when some value is not a date/time `convert_column` accepts."""
        iso = _full(values, _ISO)
        if not _all(pc.or_(iso, _full(values, _US))):
            return False
        if convert_column(values, _DATETIME).errors:  # Feb 30, 25:00, offset past 14:00, ...
            return False
        self.dates_only = self.dates_only and _all(_full(values, _DATE))
        self.offsets = self.offsets or bool(
            pc.any(pc.match_substring_regex(values, _OFFSET)).as_py()
        )
        digits = pc.struct_field(pc.extract_regex(values, r"\.(?P<f>[0-9]+)"), [0])
        significant = pc.utf8_length(pc.ascii_rtrim(digits, "0"))
        self.fraction = max(self.fraction, _max(pc.if_else(pc.is_valid(digits), significant, 0)))
        return True

    def result(self) -> SqlType:
        if self.dates_only:
            return SqlType(Kind.DATE)
        kind = Kind.DATETIMEOFFSET if self.offsets else Kind.DATETIME
        return SqlType(kind, fraction=self.fraction)


class TypeInference:
    """Accumulates what a column's values allow, chunk by chunk (bounded memory)."""

    def __init__(self, fallback: SqlType) -> None:
        self.fallback = fallback  # the type of an empty or all-null column
        self.count = 0  # non-null, non-empty values seen
        self.max_length = 0  # characters
        self.boolean = self.integer = self.number = self.guid = self.stamp = True  # still possible
        self.boolean_words = False  # a True/False seen (not only 0/1)
        self.numbers = _Numbers()
        self.stamps = _Stamps()

    def update(self, values: pa.Array | pa.ChunkedArray) -> None:
        """Take one chunk of the column's text; nulls and "" are ignored."""
        chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        for chunk in chunks:
            self._update_chunk(present_text(chunk))

    def result(self) -> SqlType:
        """The narrowest type that holds every value seen so far."""
        if not self.count:
            return self.fallback
        candidates = (
            SqlType(Kind.BOOLEAN) if self.boolean and self.boolean_words else None,
            self.numbers.integer_type() if self.integer else None,
            self.numbers.decimal_type() if self.number else None,
            SqlType(Kind.GUID) if self.guid else None,
            self.stamps.result() if self.stamp else None,
        )
        return next((c for c in candidates if c is not None), string_type(self.max_length))

    def _update_chunk(self, values: pa.Array) -> None:
        if not len(values):
            return
        self.count += len(values)
        self.max_length = max(self.max_length, _max(pc.utf8_length(values)))
        if self.boolean:
            self._update_boolean(values)
        if self.number:
            self._update_numbers(values)
        if self.guid:
            self.guid = all_guids(values)
        if self.stamp:
            self.stamp = self.stamps.update(values)

    def _update_boolean(self, values: pa.Array) -> None:
        lower = pc.ascii_lower(values)  # ASCII only, like values._parse_bool ("falſe" is text)
        self.boolean = _all(pc.is_in(lower, value_set=_BOOL_ALL))
        if self.boolean and not self.boolean_words:
            self.boolean_words = bool(pc.any(pc.is_in(lower, value_set=_BOOL_WORDS)).as_py())

    def _update_numbers(self, values: pa.Array) -> None:
        self.number = _all(_full(values, INVARIANT_NUMBER))
        if not self.number:
            self.integer = False
            return
        self.numbers.update_digits(values)
        if self.integer:
            self.integer = _all(_full(values, INVARIANT_INTEGER))
        if self.integer:
            self.numbers.update_integers(values)


def present_text(values: pa.Array) -> pa.Array:
    """The chunk as text without nulls and empty strings (both load as NULL)."""
    if values.type != pa.string():
        values = pc.cast(values, pa.string())
    values = pc.drop_null(values)
    return pc.filter(values, pc.not_equal(values, ""))


def infer_type(values: pa.Array | pa.ChunkedArray, fallback: SqlType) -> SqlType:
    """One-shot inference over a whole column."""
    inference = TypeInference(fallback)
    inference.update(values)
    return inference.result()

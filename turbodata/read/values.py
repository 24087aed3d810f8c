"""Text -> typed Arrow values for one column of a lake CSV chunk (lake-format.md 4.4-4.7).

Two paths that must agree:

- `parse_value` is the exact per-value parser and the authority; it raises ValueError with the
  reason.
- `convert_column` handles the common forms with pyarrow.compute. Whatever the vectorised path
  leaves null (odd forms, bad values, rows an Arrow cast refused) goes through the per-value
  parser. So the fast path may be narrower than the scalar one, but it may never differ from it.

Decisions on inputs the spec leaves open (the tests pin each one):

- Non-string kinds: "" and null are NULL. Anything else that does not parse is an error and is
  never NULL: spaces around a value, " ", thousands separators, non-ASCII digits.
- Integers: an optional sign (`+`/`-`), then ASCII digits, with leading zeros allowed.
- Decimal: `.5`, `5.`, `+5`, `-0` (-> 0) and exponents (`1E+2`, `125E-2`) are accepted when the
  value is exact. Trailing zeros beyond the scale are fine. A non-zero digit beyond the scale,
  or too many integer digits, is an error. Values are never rounded.
- Float/real: the decimal grammar. NaN and Infinity in any case are errors, not NULL, because
  NULL would be silent loss. Overflow is also an error: `1e400`, and for REAL any value that
  would round to infinity in single precision (`3.4028235E+38`, .NET's float.MaxValue, is fine).
  Rounding, and underflow to 0, are what the type does.
- Date/time: ISO `yyyy-mm-dd[(T| )hh:mm[:ss[.f{1,7}]][Z|+hh:mm|-hh:mm]]`, or US
  `M/d/yyyy h:mm:ss AM|PM` with an hour of 0..12 (0 PM -> 12, 12 AM -> 0, any case of AM/PM).
  An offset may go up to 14:00. More than 7 fraction digits is an error.
  DATETIME converts to UTC. DATE is a DATETIME that is midnight in UTC.
  DATETIMEOFFSET keeps the offset given; no zone and `Z` become `+00:00`, and its UTC instant
  must still fall within years 0001..9999. TIME takes a bare 24 h `H:MM[:SS[.f{1,7}]]`.
  The canonical text always has 7 fraction digits; a non-zero digit beyond the column's
  `SqlType.fraction` is an error, as beyond a decimal's scale (the database would round
  it: PostgreSQL's timestamp(0) takes `9999-12-31T23:59:59.5` into year 10000).
- GUID: 8-4-4-4-12 hex digits, in braces or not, in any case. Nothing else is accepted.
- STRING: `max_length` counts UTF-16 code units, as SQL Server's NVARCHAR(n) does (an emoji
  is 2): a column widened to it holds the value on every target (PostgreSQL and SQLite
  count code points, never more).
- A reason quotes the raw value, cut at 120 characters.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from turbodata.types.sql import FRACTION_DIGITS, INTEGER_RANGES, Kind, SqlType, arrow_type


@dataclass(frozen=True)
class Converted:
    array: pa.Array  # of type arrow_type(sql_type); bad rows are null here
    errors: dict[int, str]  # row index within the input -> reason
    max_length: int | None  # STRING only: longest value in characters (None when no values)


# Patterns shared by RE2 (Arrow) and Python `re`: ASCII classes only, matched in full.
_INT = r"[+-]?[0-9]+"
_PLAIN = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)"
_NUMBER = _PLAIN + r"(?:[eE][+-]?[0-9]+)?"
_ARROW_DECIMAL_DIGITS = 38  # see _fast_decimal
_HEX_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# numbers as .NET's invariant culture writes them (no leading zero, sign, or exponent): what
# type inference takes as a number (`types.inference`), and all an inferred column accepts.
# Not `-0` (nor `-0.0`): stored as 0, the text would change, and in a key merge with `0`
INVARIANT_INTEGER = r"0|-?[1-9][0-9]*"
INVARIANT_NUMBER = r"0(?:\.[0-9]+)?|-?[1-9][0-9]*(?:\.[0-9]+)?|-0\.[0-9]*[1-9][0-9]*"
GUID_TEXT = rf"\{{{_HEX_GUID}\}}|{_HEX_GUID}"  # the forms `convert_column` takes as a GUID
# |x| must stay below: REAL from 2**128 - 2**103 on rounds to infinity (FLT_MAX + half an ulp)
FLOAT_LIMITS = {Kind.FLOAT: math.inf, Kind.REAL: 2.0**128 - 2.0**103}
_BOOL_WORDS = {"true": True, "1": True, "false": False, "0": False}
_MAX_OFFSET = 14 * 60  # minutes; SQL Server DATETIMEOFFSET range

# ------------------------------------------------------------------------------------------
# Scalar parsers: text (non-empty) -> Python value; raise ValueError(detail)


def _signed_int(text: str) -> int:
    """Integer of a sign-and-digits text, immune to the int-from-str digit limit."""
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 40:
        raise ValueError("too many digits")
    value = int(digits or "0")
    return -value if text.startswith("-") else value


def _parse_int(text: str, sql_type: SqlType) -> int:
    if not re.fullmatch(_INT, text):
        raise ValueError("not an integer")
    lo, hi = INTEGER_RANGES[sql_type.kind]
    value = _signed_int(text)
    if not lo <= value <= hi:
        raise ValueError(f"out of range {lo}..{hi}")
    return value


def _parse_decimal(text: str, sql_type: SqlType) -> Decimal:
    if not re.fullmatch(_NUMBER, text):
        raise ValueError("not a decimal number")
    precision, scale = sql_type.precision or 38, sql_type.scale or 0
    mantissa, _, exp = text.lower().partition("e")
    whole, _, frac = mantissa.lstrip("+-").partition(".")
    significant = (whole + frac).lstrip("0")
    digits = significant.rstrip("0")
    exponent = _signed_int(exp or "0") - len(frac) + len(significant) - len(digits)
    if digits and -exponent > scale:
        raise ValueError(f"more than {scale} fraction digits")
    if digits and len(digits) + exponent > precision - scale:
        raise ValueError(f"more than {precision - scale} integer digits")
    unscaled = int(digits or "0") * 10 ** (exponent + scale if digits else 0)
    negative = text.startswith("-") and unscaled != 0
    return Decimal((int(negative), tuple(int(d) for d in str(unscaled)), -scale))


def _parse_float(text: str, sql_type: SqlType) -> float:
    if not re.fullmatch(_NUMBER, text):
        raise ValueError("not a number; NaN and Infinity are rejected")
    value = float(text)
    if not abs(value) < FLOAT_LIMITS[sql_type.kind]:
        raise ValueError("out of range")
    return value


def _parse_bool(text: str, sql_type: SqlType) -> bool:
    value = _BOOL_WORDS.get(text.lower()) if text.isascii() else None
    if value is None:
        raise ValueError("expected True, False, 1 or 0")
    return value


def _parse_guid(text: str, sql_type: SqlType) -> str:
    if not re.fullmatch(GUID_TEXT, text):
        raise ValueError("expected 8-4-4-4-12 hex digits, optionally in braces")
    return text.strip("{}").lower()


def _parse_string(text: str, sql_type: SqlType) -> str:
    return text


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?",
    re.ASCII,
)
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) ([AaPp][Mm])", re.ASCII)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?", re.ASCII)


def _ticks(fraction: str | None) -> int:
    """100 ns units of a fraction's digits ('5' -> 5000000); more than 7 digits is an error."""
    if fraction and len(fraction) > 7:
        raise ValueError("more than 7 fraction digits")
    return int((fraction or "").ljust(7, "0"))


def _offset_minutes(zone: str | None) -> int | None:
    if zone is None:
        return None
    if zone == "Z":
        return 0
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    total = hours * 60 + minutes
    if minutes > 59 or total > _MAX_OFFSET:
        raise ValueError("offset beyond +-14:00")
    return -total if zone[0] == "-" else total


def _moment(text: str) -> tuple[datetime, int, int | None]:
    """(local time to the second, 100 ns ticks, offset in minutes or None)."""
    if m := _ISO.fullmatch(text):
        y, mo, d, h, mi, s, fraction, zone = m.groups()
        stamp = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
        return stamp, _ticks(fraction), _offset_minutes(zone)
    if m := _US.fullmatch(text):
        mo, d, y, h, mi, s, half = m.groups()
        if int(h) > 12:
            raise ValueError("hour above 12 with AM/PM")
        hour = int(h) % 12 + (12 if half.upper() == "PM" else 0)  # 0 PM -> 12 like .NET
        return datetime(int(y), int(mo), int(d), hour, int(mi), int(s)), 0, None
    raise ValueError("unrecognised date/time format")


def _utc(stamp: datetime, offset: int | None) -> datetime:
    try:
        return stamp - timedelta(minutes=offset or 0)
    except OverflowError:
        raise ValueError("outside years 0001..9999 in UTC") from None


def _clock_text(stamp: datetime, ticks: int) -> str:
    return f"{stamp:%H:%M:%S}.{ticks:07d}"


def _date_text(stamp: datetime) -> str:
    return f"{stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d}"  # %Y does not pad on Linux


def _within_fraction(ticks: int, sql_type: SqlType) -> int:
    """`ticks`, where the column keeps every non-zero digit of them (`SqlType.fraction`)."""
    if ticks % 10 ** (FRACTION_DIGITS - sql_type.fraction):
        raise ValueError(f"more than {sql_type.fraction} fraction digits of a second")
    return ticks


def _parse_datetime(text: str, sql_type: SqlType) -> str:
    stamp, ticks, offset = _moment(text)
    _within_fraction(ticks, sql_type)
    utc = _utc(stamp, offset)
    return f"{_date_text(utc)} {_clock_text(utc, ticks)}"


def _parse_datetimeoffset(text: str, sql_type: SqlType) -> str:
    stamp, ticks, offset = _moment(text)
    _within_fraction(ticks, sql_type)
    _utc(stamp, offset)  # the instant itself must be representable
    sign, minutes = ("-", -offset) if offset and offset < 0 else ("+", offset or 0)
    zone = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{_date_text(stamp)} {_clock_text(stamp, ticks)}{zone}"


def offset_as_utc(text: str) -> str:
    """A DATETIMEOFFSET's canonical text at offset +00:00: the same instant, for a database
    that compares the text (SQLite), where `…02:00:00+02:00` and `…00:00:00+00:00` are one
    instant that SQL Server and PostgreSQL compare as equal."""
    stamp, ticks, offset = _moment(text)
    utc = _utc(stamp, offset)
    return f"{_date_text(utc)} {_clock_text(utc, ticks)}+00:00"


def _parse_date(text: str, sql_type: SqlType) -> str:
    stamp, ticks, offset = _moment(text)
    utc = _utc(stamp, offset)
    if ticks or utc.time() != datetime.min.time():
        raise ValueError("has a time of day (UTC)")
    return _date_text(utc)


def _parse_time(text: str, sql_type: SqlType) -> str:
    m = _CLOCK.fullmatch(text)
    if not m:
        raise ValueError("expected H:MM[:SS[.fffffff]]")
    h, mi, s, fraction = m.groups()
    stamp = datetime(1, 1, 1, int(h), int(mi), int(s or 0))
    return _clock_text(stamp, _within_fraction(_ticks(fraction), sql_type))


Parser = Callable[[str, SqlType], object]
_PARSERS: dict[Kind, Parser] = {
    Kind.BOOLEAN: _parse_bool,
    **dict.fromkeys(INTEGER_RANGES, _parse_int),
    Kind.DECIMAL: _parse_decimal,
    Kind.FLOAT: _parse_float,
    Kind.REAL: _parse_float,
    Kind.STRING: _parse_string,
    Kind.GUID: _parse_guid,
    Kind.DATETIME: _parse_datetime,
    Kind.DATETIMEOFFSET: _parse_datetimeoffset,
    Kind.DATE: _parse_date,
    Kind.TIME: _parse_time,
}


def _show(text: str) -> str:
    return repr(text) if len(text) <= 120 else repr(text[:120]) + "..."


def parse_value(text: str | None, sql_type: SqlType, *, keep_empty_strings: bool = False) -> object:
    """The Python value `convert_column` holds for `text`; ValueError(reason) when it is bad."""
    if text is None or (text == "" and not (keep_empty_strings and sql_type.kind is Kind.STRING)):
        return None
    try:
        return _PARSERS[sql_type.kind](text, sql_type)
    except ValueError as exc:
        article = "an" if str(sql_type)[:1].lower() in "aeiou" else "a"
        raise ValueError(f"not {article} {sql_type}: {_show(text)} ({exc})") from None


# ------------------------------------------------------------------------------------------
# Vectorised converters: string array (no "" unless kept) -> typed array; rows they leave null
# while the input is not null go to `parse_value`.


def _keep(values: pa.Array, mask: pa.Array) -> pa.Array:
    """values where mask is true, null elsewhere (and where mask is null)."""
    if pa.types.is_string(values.type) and values.offset == 0:
        return _masked_text(values, mask)
    return pc.if_else(mask, values, pa.scalar(None, values.type))


def _masked_text(values: pa.Array, mask: pa.Array) -> pa.Array:
    """`_keep` for text without copying it: the same offsets and characters under a new
    validity bitmap (`if_else` copies every string, a tenth of a snapshot's conversion). The
    characters of a row made null stay in the data buffer, as Arrow allows."""
    valid = pc.and_(pc.is_valid(values), pc.fill_null(mask, False))  # a new array: offset 0
    _validity, offsets, data = values.buffers()
    return pa.Array.from_buffers(values.type, len(values), [valid.buffers()[1], offsets, data])


def _matching(values: pa.Array, pattern: str) -> pa.Array:
    return _keep(values, pc.match_substring_regex(values, f"^(?:{pattern})$"))


def _cast_or_null(values: pa.Array, target: pa.DataType) -> pa.Array:
    """Cast; if Arrow refuses, bisect so only the refused rows (in small runs) become null."""
    try:
        return pc.cast(values, target)
    except (pa.ArrowInvalid, OverflowError):
        if len(values) <= 16:
            return pa.nulls(len(values), target)
        half = len(values) // 2
        return pa.concat_arrays(
            [
                _cast_or_null(values.slice(0, half), target),
                _cast_or_null(values.slice(half), target),
            ]
        )


def _fast_int(values: pa.Array, sql_type: SqlType) -> pa.Array:
    out = _cast_or_null(pc.ascii_ltrim(_matching(values, _INT), "+"), pa.int64())
    lo, hi = INTEGER_RANGES[sql_type.kind]
    low, high = pc.min_max(out).values()
    if low.is_valid and (low.as_py() < lo or high.as_py() > hi):
        out = _keep(out, pc.and_(pc.greater_equal(out, lo), pc.less_equal(out, hi)))
    return out


def _fast_decimal(values: pa.Array, sql_type: SqlType) -> pa.Array:
    # pyarrow 26's string->decimal cast wraps around silently instead of failing when the text
    # has more than 38 digits ("1.5" + 60 zeros -> 0.00; apache/arrow GH-49817) or when scaling
    # up overflows 128 bits ("19960521300000" into decimal(36,31) -> 23494.7...). So only plain
    # numbers of at most 38 digits (after leading zeros) whose integer part fits p - s go to it.
    body = pc.ascii_ltrim(_matching(values, _PLAIN), "+-0")
    point = pc.find_substring(body, ".")
    digits = pc.subtract(pc.binary_length(body), pc.if_else(pc.less(point, 0), 0, 1))
    whole = pc.if_else(pc.less(point, 0), pc.binary_length(body), point)
    fits = pc.less_equal(whole, (sql_type.precision or 38) - (sql_type.scale or 0))
    safe = pc.and_(pc.less_equal(digits, _ARROW_DECIMAL_DIGITS), fits)
    return _cast_or_null(_keep(values, safe), arrow_type(sql_type))


def _fast_float(values: pa.Array, sql_type: SqlType) -> pa.Array:
    out = _cast_or_null(_matching(values, _NUMBER), pa.float64())
    return _keep(out, pc.less(pc.abs(out), FLOAT_LIMITS[sql_type.kind]))


def _fast_bool(values: pa.Array, sql_type: SqlType) -> pa.Array:
    position = pc.index_in(pc.ascii_lower(values), value_set=pa.array(list(_BOOL_WORDS)))
    return pc.less(position, 2)  # "true", "1" come first


def _fast_guid(values: pa.Array, sql_type: SqlType) -> pa.Array:
    return pc.ascii_lower(pc.ascii_trim(_matching(values, GUID_TEXT), "{}"))


def _fast_string(values: pa.Array, sql_type: SqlType) -> pa.Array:
    return values


# Date/time fast path. Only UTC forms are handled here (no zone, Z, +-00:00); RE2 patterns gate
# what the cheap kernels below may assume (ASCII, fixed positions). Other offsets, 1-digit ISO
# hours, hour 0 with AM/PM and every error go to the scalar parser.
_YEAR = r"(?:\d{3}[1-9]|\d{2}[1-9]0|\d[1-9]00|[1-9]000)"  # 0001..9999
_HMS = r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
_ISO_FAST = (
    rf"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    rf"(?:[T ]{_HMS}(?:\.\d{{1,7}})?(?:Z|[+-]00:00)?)?"
)
_US_FAST = (
    rf"(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/{_YEAR} "
    r"(?:0?\d|1[0-2]):[0-5]\d:[0-5]\d [AaPp][Mm]"
)
_US_FORMAT = "%m/%d/%Y %I:%M:%S %p"
_TIME_FAST = rf"{_HMS}(?:\.\d{{1,7}})?"
_MIDNIGHT = " 00:00:00.0000000"


def _join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def _slice(values: pa.Array, start: int, stop: int = 64) -> pa.Array:
    """Byte slice of ASCII text (binary_slice is much faster than utf8_slice_codeunits)."""
    return pc.binary_slice(values.view(pa.binary()), start, stop).view(pa.string())


def _fraction(rest: pa.Array) -> pa.Array:
    """'.12' / '.1200000Z' / '+00:00' / '' -> '1200000' / '0000000' (trailing zeros are noise)."""
    return pc.utf8_rpad(pc.ascii_ltrim(pc.ascii_rtrim(rest, "Z+-:0"), "."), 7, "0")


def _iso_text(values: pa.Array) -> pa.Array:
    date = _slice(values, 0, 10)
    date = _keep(date, pc.is_valid(_cast_or_null(date, pa.date32())))  # Feb 30, Apr 31, ...
    hms = _slice(values, 11, 19)
    hms = pc.if_else(pc.equal(hms, ""), "00:00:00", hms)  # date only: midnight
    return _join(_join(date, hms, sep=" "), _fraction(_slice(values, 19)), sep=".")


def _us_text(values: pa.Array) -> pa.Array:
    stamp = pc.strptime(values, format=_US_FORMAT, unit="s", error_is_null=True)  # 0 PM: null
    month = pc.cast(pc.ascii_rtrim(_slice(values, 0, 2), "/"), pa.int8())
    stamp = _keep(stamp, pc.equal(pc.month(stamp), month))  # strptime rolls Feb 30 into March
    return _join(pc.cast(stamp, pa.string()), "0000000", sep=".")


def _fast_stamp(values: pa.Array) -> pa.Array:
    """'YYYY-MM-DD HH:MM:SS.fffffff' of the common UTC forms; null for anything else.

    The form of the first value is tried first: each row matches one form's pattern at
    most, so the order changes no value, but a column in the US form (Synapse Link's CSV)
    then skips the ISO pattern over every row (a quarter of its conversion)."""
    if _first_in_us_form(values):
        text = _us_text(_matching(values, _US_FAST))
        if text.null_count > values.null_count:  # not all US: try ISO on the others
            text = pc.coalesce(text, _iso_text(_matching(_keep(values, text.is_null()), _ISO_FAST)))
        return text
    iso = pc.fill_null(pc.match_substring_regex(values, f"^(?:{_ISO_FAST})$"), False)
    if not pc.any(iso).as_py():  # a column in the US form (Synapse Link's CSV): no ISO work
        return _us_text(_matching(values, _US_FAST))
    text = _iso_text(_keep(values, iso))
    if text.null_count > values.null_count:  # not all ISO: try the US form on the others
        text = pc.coalesce(text, _us_text(_matching(_keep(values, pc.invert(iso)), _US_FAST)))
    return text


def _first_in_us_form(values: pa.Array) -> bool:
    """The first non-null value looks like the US form ('1/17/2025 …', not '2025-…')."""
    for position in range(min(len(values), 64)):
        if values[position].is_valid:
            return "/" in values[position].as_py()[:3]
    return False


def _fast_datetime(values: pa.Array, sql_type: SqlType) -> pa.Array:
    return _fast_stamp(values)


def _fast_datetimeoffset(values: pa.Array, sql_type: SqlType) -> pa.Array:
    return _join(_fast_stamp(values), "+00:00")


def _fast_date(values: pa.Array, sql_type: SqlType) -> pa.Array:
    text = _fast_stamp(values)
    return _keep(_slice(text, 0, 10), pc.ends_with(text, _MIDNIGHT))


def _fast_time(values: pa.Array, sql_type: SqlType) -> pa.Array:
    clock = _matching(values, _TIME_FAST)
    return _join(_slice(clock, 0, 8), _fraction(_slice(clock, 8)), sep=".")


# where the fraction digits start in a fast path's canonical text
_CLOCK_START = {Kind.DATETIME: 20, Kind.DATETIMEOFFSET: 20, Kind.TIME: 9}


def _fraction_kept(text: pa.Array, sql_type: SqlType) -> pa.Array:
    """Which values have no non-zero fraction digit beyond the column's (`_within_fraction`)."""
    start = _CLOCK_START[sql_type.kind] + sql_type.fraction
    dropped = _slice(text, start, _CLOCK_START[sql_type.kind] + FRACTION_DIGITS)
    return pc.equal(dropped, "0" * (FRACTION_DIGITS - sql_type.fraction))


_FAST: dict[Kind, Callable[[pa.Array, SqlType], pa.Array]] = {
    Kind.BOOLEAN: _fast_bool,
    **dict.fromkeys(INTEGER_RANGES, _fast_int),
    Kind.DECIMAL: _fast_decimal,
    Kind.FLOAT: _fast_float,
    Kind.REAL: _fast_float,
    Kind.STRING: _fast_string,
    Kind.GUID: _fast_guid,
    Kind.DATETIME: _fast_datetime,
    Kind.DATETIMEOFFSET: _fast_datetimeoffset,
    Kind.DATE: _fast_date,
    Kind.TIME: _fast_time,
}


def _as_strings(values: pa.Array | pa.ChunkedArray, keep_empty: bool) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        values = pc.cast(values, pa.string())
    if keep_empty:
        return values
    return _keep(values, pc.greater(pc.binary_length(values), 0))


def _resolve(
    values: pa.Array, fast: pa.Array, sql_type: SqlType, keep_empty: bool
) -> tuple[pa.Array, dict[int, str]]:
    """Fill the rows the fast path left null (input not null) with `parse_value`."""
    pending = pc.and_(pc.is_valid(values), pc.is_null(fast))
    rows = pc.indices_nonzero(pending).to_pylist()
    if not rows:
        return fast, {}
    parsed: list[object] = []
    errors: dict[int, str] = {}
    for row, text in zip(rows, pc.take(values, rows).to_pylist(), strict=True):
        try:
            parsed.append(parse_value(text, sql_type, keep_empty_strings=keep_empty))
        except ValueError as exc:
            parsed.append(None)
            errors[row] = str(exc)
    return pc.replace_with_mask(fast, pending, pa.array(parsed, type=fast.type)), errors


def utf16_max_length(strings: pa.Array) -> int | None:
    """The longest value in UTF-16 code units (NVARCHAR's measure); None when all null.

    A character outside the BMP takes 2 units (and 4 UTF-8 bytes: 3 more than its 1
    character), so only values at least 3 bytes longer than their characters can hold one:
    only those are searched for such characters (the search over every value cost a tenth of
    a snapshot's conversion)."""
    characters = pc.utf8_length(strings)
    longest = pc.max(characters).as_py()
    extra_bytes = pc.subtract(pc.binary_length(strings), characters)
    may_be_astral = pc.greater_equal(extra_bytes, 3)
    if not pc.any(may_be_astral).as_py():
        return longest
    candidates = pc.filter(strings, may_be_astral)
    astral = pc.count_substring_regex(candidates, r"[\x{10000}-\x{10FFFF}]")  # 2 units each
    return max(longest, pc.max(pc.add(pc.utf8_length(candidates), astral)).as_py())


def convert_column(
    values: pa.Array | pa.ChunkedArray, sql_type: SqlType, *, keep_empty_strings: bool = False
) -> Converted:
    """Convert one string column to `arrow_type(sql_type)`; bad rows are null and reported."""
    keep_empty = keep_empty_strings and sql_type.kind is Kind.STRING
    strings = _as_strings(values, keep_empty)
    fast = _FAST[sql_type.kind](strings, sql_type)
    if sql_type.kind in _CLOCK_START and sql_type.fraction < FRACTION_DIGITS:
        fast = _keep(fast, _fraction_kept(fast, sql_type))  # the others: the parser's error
    array, errors = _resolve(strings, fast, sql_type, keep_empty)
    max_length = utf16_max_length(array) if sql_type.kind is Kind.STRING else None
    return Converted(array.cast(arrow_type(sql_type)), errors, max_length)


def convert_values(
    values: pa.Array | pa.ChunkedArray, sql_type: SqlType, *, keep_empty_strings: bool = False
) -> Converted:
    """`convert_column` by `parse_value` alone, value by value: the same result (the parser is
    the authority the vectorised path agrees with), cheaper for a handful of rows, where each
    of the vectorised path's 10 to 30 compute calls per column costs more than parsing."""
    if sql_type.kind is Kind.STRING:  # text is taken as it is: nothing to parse
        return convert_column(values, sql_type, keep_empty_strings=keep_empty_strings)
    parsed: list[object] = []
    errors: dict[int, str] = {}
    for row, text in enumerate(_as_strings(values, keep_empty=True).to_pylist()):
        try:
            parsed.append(parse_value(text, sql_type))
        except ValueError as exc:
            parsed.append(None)
            errors[row] = str(exc)
    array = pa.array(parsed, type=_fast_type(sql_type))
    return Converted(array.cast(arrow_type(sql_type)), errors, None)


@functools.lru_cache
def _fast_type(sql_type: SqlType) -> pa.DataType:
    """The Arrow type the vectorised converter of `sql_type` gives (before the final cast)."""
    return _FAST[sql_type.kind](pa.array([], pa.string()), sql_type).type

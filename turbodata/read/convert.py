"""A chunk of string columns (CSV), or of typed columns (Delta, Parquet), → the typed Arrow
record batch the loader inserts, and the rows that do not convert."""

from __future__ import annotations

import csv
import functools
import io
import re
import struct
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from turbodata.read.reader import RawChunk, RowReject
from turbodata.read.values import (
    FLOAT_LIMITS,
    INVARIANT_INTEGER,
    INVARIANT_NUMBER,
    convert_column,
    convert_values,
    utf16_max_length,
)
from turbodata.types.sql import INTEGER_RANGES, Kind, SqlType, arrow_type

# A chunk this short (a small file's) is converted value by value: the vectorised path's fixed
# cost per column was most of a 3-row file's 3 ms of conversion.
PER_VALUE_ROWS = 32

_INTEGER_KINDS = frozenset(INTEGER_RANGES)
_NUMBER_KINDS = _INTEGER_KINDS | {Kind.DECIMAL, Kind.FLOAT, Kind.REAL}


@dataclass
class TypedChunk:
    batch: pa.RecordBatch  # the good rows only, columns named and typed
    row_numbers: pa.Array  # file row number of each good row
    rejects: list[RowReject]  # irregular rows from the reader, then unparsable values
    max_lengths: dict[str, int]  # string columns: the longest value in characters
    # the rows rejected for a value, typed as far as they convert (a bad value is NULL)
    rejected: pa.RecordBatch | None = None


def convert_chunk(
    raw: RawChunk,
    names: Sequence[str],
    types: Sequence[SqlType],
    *,
    keep_empty_strings: bool = False,
    unstorable_text: tuple[str, str] | None = None,
    strict_numbers: Collection[str] = (),
    deletes: DeleteRows | None = None,
) -> TypedChunk:
    """`unstorable_text`: (characters, reason) the target cannot store in a string column.
    `strict_numbers`: number columns that take numbers in invariant form only (`_odd_numbers`).
    `deletes`: how the batch's delete rows are told apart (see `DeleteRows`)."""
    arrays, problems, max_lengths = [], Problems(), {}
    convert = convert_values if raw.num_rows <= PER_VALUE_ROWS else convert_column
    for name, sql_type, values in zip(names, types, raw.columns, strict=True):
        if name in strict_numbers:
            problems.add(name, _odd_numbers(values, sql_type), ODD_NUMBER)
        converted = convert(values, sql_type, keep_empty_strings=keep_empty_strings)
        arrays.append(converted.array)
        for index, reason in converted.errors.items():
            problems.add(name, [index], reason)
        if sql_type.kind is Kind.STRING and unstorable_text:
            characters, reason = unstorable_text
            problems.add(name, rows_holding(converted.array, characters), reason)
        if sql_type.kind is Kind.STRING and converted.max_length:
            max_lengths[name] = converted.max_length
    arrays = _spare_delete_rows(arrays, names, types, problems, deletes)
    batch = pa.RecordBatch.from_arrays(arrays, names=list(names))
    rejects = list(raw.rejects)
    if not problems.rows:
        return TypedChunk(batch, raw.row_numbers, rejects, max_lengths)
    row_numbers = raw.row_numbers.to_pylist()
    for index, (column, reason) in problems.first_by_row():
        rejects.append(RowReject(row_numbers[index], column, reason, _row_text(raw, index)))
    return _split(batch, raw.row_numbers, rejects, max_lengths, problems)


@dataclass(frozen=True)
class DeleteRows:
    """A keyed batch's delete rows: those whose `column` marks a delete (as
    `changes._deletes` reads its `form`: boolean true, the number 1, or the text "true" or
    "1"). A delete applies by the `needed` columns alone (the key, the delete column and the
    columns that order changes), so a bad value in any other column of a delete row is set
    NULL instead of rejecting the row: rejected, its delete never applied and the row it
    deletes stayed in the table for good (found by review; the Delta change feed's delete
    rows keep only those columns, `lake.delta.sources._as_change_rows`)."""

    column: str
    needed: frozenset[str]


class Problems:
    """Each row's bad values: (column, reason) in the order found; the first is the
    row's reject."""

    def __init__(self) -> None:
        self.rows: dict[int, list[tuple[str, str]]] = {}

    def add(self, column: str, indices: Iterable[int], reason: str) -> None:
        for index in indices:
            self.rows.setdefault(index, []).append((column, reason))

    def first_by_row(self) -> list[tuple[int, tuple[str, str]]]:
        return [(index, found[0]) for index, found in sorted(self.rows.items())]


def _spare_delete_rows(
    arrays: list[pa.Array],
    names: Sequence[str],
    types: Sequence[SqlType],
    problems: Problems,
    deletes: DeleteRows | None,
) -> list[pa.Array]:
    """The delete rows whose bad values are all in columns a delete does not need: those
    values NULL, and the rows no longer problems."""
    if deletes is None or not problems.rows or deletes.column not in names:
        return arrays
    position = names.index(deletes.column)
    candidates = [
        index
        for index, found in problems.rows.items()
        if all(column not in deletes.needed for column, _ in found)
    ]
    if not candidates:
        return arrays
    marks = marks_delete(pc.take(arrays[position], candidates), types[position])
    spared = [i for i, mark in zip(candidates, marks.to_pylist(), strict=True) if mark]
    cleared: dict[str, list[int]] = {}
    for index in spared:
        for column, _ in problems.rows.pop(index):
            cleared.setdefault(column, []).append(index)
    out = list(arrays)
    for column, indices in cleared.items():
        at = names.index(column)
        mask = pc.is_in(pa.array(range(len(out[at])), pa.int64()), pa.array(indices, pa.int64()))
        out[at] = pc.if_else(mask, pa.scalar(None, out[at].type), out[at])
    return out


def marks_delete(values: pa.Array, sql_type: SqlType) -> pa.Array:
    """Which converted values of a delete column mark a delete (NULL: no)."""
    if sql_type.kind is Kind.BOOLEAN:
        marks = values
    elif sql_type.kind in _NUMBER_KINDS:
        marks = pc.equal(pc.cast(values, pa.float64()), 1.0)
    else:
        # as SQL's lower(trim(…)): spaces only, and no other character lowered into these
        text = pc.ascii_lower(pc.utf8_trim(pc.cast(values, pa.string()), " "))
        marks = pc.is_in(text, pa.array(["true", "1"]))
    return pc.fill_null(marks, False)


def _split(
    batch: pa.RecordBatch,
    row_numbers: pa.Array,
    rejects: list[RowReject],
    max_lengths: dict[str, int],
    problems: Problems,
) -> TypedChunk:
    keep = pa.array([i not in problems.rows for i in range(batch.num_rows)])
    good, bad = batch.filter(keep), batch.filter(pc.invert(keep))
    return TypedChunk(good, row_numbers.filter(keep), rejects, max_lengths, bad)


ODD_NUMBER = (
    "not a number in invariant form (no leading zero, + or exponent), which the column's"
    " inferred type takes; pin the column's type in the override file to load it"
)


def _odd_numbers(values: pa.Array, sql_type: SqlType) -> list[int]:
    """Rows whose value a number column inferred from invariant numbers must not read as a
    number: `007` (a code) or `+5` would be stored as 7 and 5, changed without a word, and
    two codes could land on one key."""
    pattern = INVARIANT_NUMBER if sql_type.kind is Kind.DECIMAL else INVARIANT_INTEGER
    present = pc.and_(pc.is_valid(values), pc.not_equal(values, ""))
    plain = pc.match_substring_regex(values, f"^(?:{pattern})$")
    return pc.indices_nonzero(pc.fill_null(pc.and_(present, pc.invert(plain)), False)).to_pylist()


def rows_holding(strings: pa.Array, characters: str) -> list[int]:
    """Rows whose value holds any of `characters`.

    The column's bytes are searched first, as one buffer: nearly always none is there, and
    that search costs a tenth of the per-value regex on short strings (0.7 against 12 ms for
    300,000 values). A character's UTF-8 bytes are in the buffer wherever a value holds it,
    so "not in the buffer" is exact; where the bytes are found (maybe in a NULL row's
    leftover characters) the regex finds the rows."""
    data = _string_data(strings)
    if data is not None and _byte_pattern(characters).search(data) is None:
        return []
    pattern = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in characters) + "]"
    found = pc.fill_null(pc.match_substring_regex(strings, pattern), False)
    return pc.indices_nonzero(found).to_pylist()


@functools.lru_cache(maxsize=8)
def _byte_pattern(characters: str) -> re.Pattern[bytes]:
    return re.compile(b"|".join(re.escape(c.encode("utf-8")) for c in characters))


def _string_data(strings: pa.Array) -> memoryview | None:
    """The bytes of a string array's values, back to back (None for another type)."""
    if strings.type != pa.string() or len(strings) == 0:
        return None
    _validity, offsets, data = strings.buffers()
    if data is None:
        return None
    start = struct.unpack_from("<i", offsets, strings.offset * 4)[0]
    end = struct.unpack_from("<i", offsets, (strings.offset + len(strings)) * 4)[0]
    return memoryview(data)[start:end]


def _row_text(raw: RawChunk, index: int) -> str:
    """The row as CSV text again (quoted where needed), for the rejects table."""
    out = io.StringIO()
    values = [column[index].as_py() for column in raw.columns]
    csv.writer(out, lineterminator="").writerow(["" if v is None else v for v in values])
    return out.getvalue()


# ---------------------------------------------------------------- typed rows (Delta, Parquet)


def convert_typed(
    batch: pa.RecordBatch,
    row_numbers: pa.Array,
    names: Sequence[str],
    types: Sequence[SqlType],
    *,
    keep_empty_strings: bool = False,
    unstorable_text: tuple[str, str] | None = None,
    strict_numbers: Collection[str] = (),
    deletes: DeleteRows | None = None,
) -> TypedChunk:
    """Typed columns (by name) → `arrow_type` of each column's SQL type, exactly.

    Numbers, booleans and strings whose Arrow type the SQL type holds are cast directly
    (decimals keep every digit: a cast that would drop one fails and falls back). Everything
    else — timestamps, dates, times, GUIDs, and values a narrower pinned or existing column
    cannot hold — goes through its text form and the CSV path's parser, so both paths give
    the same canonical values and the same per-row rejects. An empty string is NULL unless
    `keep_empty_strings`, the CSV path's rule for `""`, so both exports give the same rows
    (a typed file tells '' from NULL, but the CSV export cannot be told apart by default).
    `strict_numbers`: as `convert_chunk`'s, for string columns (`007` in a column the table
    has as a number is a reject, as from a CSV file, not the number 7). `deletes`: as
    `convert_chunk`'s.
    """
    arrays, problems, max_lengths = [], Problems(), {}
    for name, sql_type in zip(names, types, strict=True):
        values = plain_array(batch.column(name))
        if not keep_empty_strings and pa.types.is_string(values.type):
            values = _empty_as_null(values)
        if name in strict_numbers and pa.types.is_string(values.type):
            problems.add(name, _odd_numbers(values, sql_type), ODD_NUMBER)
        array, errors = _typed_column(values, sql_type)
        arrays.append(array)
        for index, reason in errors.items():
            problems.add(name, [index], reason)
        if sql_type.kind is Kind.STRING:
            if unstorable_text:
                problems.add(name, rows_holding(array, unstorable_text[0]), unstorable_text[1])
            if length := utf16_max_length(array):
                max_lengths[name] = length
    arrays = _spare_delete_rows(arrays, names, types, problems, deletes)
    typed = pa.RecordBatch.from_arrays(arrays, names=list(names))
    if not problems.rows:
        return TypedChunk(typed, row_numbers, [], max_lengths)
    numbers = row_numbers.to_pylist()
    rejects = [
        RowReject(numbers[index], column, reason, _typed_row_text(batch, names, index))
        for index, (column, reason) in problems.first_by_row()
    ]
    return _split(typed, row_numbers, rejects, max_lengths, problems)


def plain_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Dictionary and view arrays as their plain equivalent; float16 as float32 (every half
    float is a float32 exactly, and Arrow's compute kernels have none for float16)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_string_view(values.type) or pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if pa.types.is_float16(values.type):
        values = values.cast(pa.float32())
    return values


def _empty_as_null(strings: pa.Array) -> pa.Array:
    empty = pc.equal(strings, "")
    return pc.if_else(empty, pa.scalar(None, strings.type), strings)


def _typed_column(values: pa.Array, sql_type: SqlType) -> tuple[pa.Array, dict[int, str]]:
    if _casts_exactly(values, sql_type):
        try:
            return values.cast(arrow_type(sql_type), safe=True), {}
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # a decimal digit or a value out of range: the parser says which rows
    if sql_type.kind in (Kind.FLOAT, Kind.REAL) and pa.types.is_floating(values.type):
        values = values.cast(pa.float64())  # a float4's own text would parse as another double
    converted = convert_column(as_text(values), sql_type, keep_empty_strings=True)
    return converted.array, converted.errors


def _casts_exactly(values: pa.Array, sql_type: SqlType) -> bool:
    arrow, kind = values.type, sql_type.kind
    if pa.types.is_integer(arrow) and kind in _INTEGER_KINDS:
        low, high = INTEGER_RANGES[kind]
        bounds = pc.min_max(values)
        smallest, largest = bounds["min"].as_py(), bounds["max"].as_py()
        return smallest is None or (low <= smallest and largest <= high)
    if kind in (Kind.FLOAT, Kind.REAL) and pa.types.is_floating(arrow):
        # NaN and ±Infinity (and, for REAL, a double beyond float4) go by the parser, which
        # rejects them as on the CSV path: a cast would load them (SQLite stores NaN as NULL)
        return pc.all(pc.less(pc.abs(values), FLOAT_LIMITS[kind])).as_py() is not False
    if kind is Kind.DECIMAL and pa.types.is_decimal(arrow):
        return _holds_every_decimal(arrow, sql_type)
    return (
        (kind is Kind.DECIMAL and pa.types.is_integer(arrow))
        or (kind is Kind.BOOLEAN and pa.types.is_boolean(arrow))
        or (kind is Kind.STRING and pa.types.is_string(arrow))
    )


def _holds_every_decimal(arrow: pa.Decimal128Type, sql_type: SqlType) -> bool:
    """The column's decimal type holds every value of `arrow` (as many integer digits and
    fraction digits, or more). Only then is Arrow's cast taken: pyarrow 26 scales a
    decimal(38,0) of 36 digits to decimal(38,4) without noticing the overflow, and stores
    garbage (found by review); any other goes by the parser, which rejects what cannot fit."""
    target = arrow_type(sql_type)
    return arrow.scale <= target.scale and (
        arrow.precision - arrow.scale <= target.precision - target.scale
    )


def as_text(values: pa.Array) -> pa.Array:
    """Values as the text the CSV parser reads (timestamps as ISO with their zone).

    Nanosecond times keep 7 fraction digits when the last two are zeros (every value a
    100 ns tick holds); any other keeps all 9, which the parser rejects as more precise
    than the column: never rounded silently.

    A timestamp in another zone (`Europe/Berlin`, `+05:30`, even `Etc/UTC`) is written as its
    UTC instant, ending in `Z` as a UTC timestamp's does (a Parquet timestamp stores the
    instant; the zone only names how to show it). Arrow's local text would not do: its offset
    `+0100` is no ISO form the parser takes, it cuts an offset's seconds (Berlin's 1850
    `+00:53:28` shows as `+0053`), and near year 9999 it can show year 10000.
    """
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_boolean(values.type):
        return pc.if_else(values, "true", "false")
    if pa.types.is_timestamp(values.type) and values.type.tz not in (None, "UTC"):
        values = values.cast(pa.timestamp(values.type.unit, "UTC"))
    text = values.cast(pa.string())
    if getattr(values.type, "unit", None) == "ns":
        text = pc.replace_substring_regex(text, r"(\.\d{7})00(\D|$)", r"\1\2")
    return text


def _typed_row_text(batch: pa.RecordBatch, names: Sequence[str], index: int) -> str:
    out = io.StringIO()
    # the text form, not as_py(): nanosecond times have no Python datetime
    values = [as_text(plain_array(batch.column(name)).slice(index, 1))[0].as_py() for name in names]
    csv.writer(out, lineterminator="").writerow(["" if v is None else v for v in values])
    return out.getvalue()

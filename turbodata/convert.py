"""A chunk of string columns → a typed Arrow record batch, and the rows that do not parse."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from turbodata.reader import RawChunk, RowReject
from turbodata.types import Kind, SqlType
from turbodata.values import convert_column


@dataclass
class TypedChunk:
    batch: pa.RecordBatch  # the good rows only, columns named and typed
    row_numbers: pa.Array  # file row number of each good row
    rejects: list[RowReject]  # irregular rows from the reader, then unparsable values
    max_lengths: dict[str, int]  # string columns: the longest value in characters


def convert_chunk(
    raw: RawChunk,
    names: Sequence[str],
    types: Sequence[SqlType],
    *,
    keep_empty_strings: bool = False,
    unstorable_text: tuple[str, str] | None = None,
) -> TypedChunk:
    """`unstorable_text`: (characters, reason) the target cannot store in a string column."""
    arrays, bad_rows, max_lengths = [], {}, {}
    for name, sql_type, values in zip(names, types, raw.columns, strict=True):
        converted = convert_column(values, sql_type, keep_empty_strings=keep_empty_strings)
        arrays.append(converted.array)
        for index, reason in converted.errors.items():
            bad_rows.setdefault(index, (name, reason))
        if sql_type.kind is Kind.STRING and unstorable_text:
            for index in _unstorable(converted.array, unstorable_text[0]):
                bad_rows.setdefault(index, (name, unstorable_text[1]))
        if sql_type.kind is Kind.STRING and converted.max_length:
            max_lengths[name] = converted.max_length
    batch = pa.RecordBatch.from_arrays(arrays, names=list(names))
    rejects = list(raw.rejects)
    if not bad_rows:
        return TypedChunk(batch, raw.row_numbers, rejects, max_lengths)
    row_numbers = raw.row_numbers.to_pylist()
    for index, (column, reason) in sorted(bad_rows.items()):
        rejects.append(RowReject(row_numbers[index], column, reason, _row_text(raw, index)))
    keep = pa.array([i not in bad_rows for i in range(batch.num_rows)])
    return TypedChunk(batch.filter(keep), raw.row_numbers.filter(keep), rejects, max_lengths)


def _unstorable(strings: pa.Array, characters: str) -> list[int]:
    """Rows whose value holds any of `characters`."""
    pattern = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in characters) + "]"
    found = pc.fill_null(pc.match_substring_regex(strings, pattern), False)
    return pc.indices_nonzero(found).to_pylist()


def _row_text(raw: RawChunk, index: int) -> str:
    """The row as CSV text again (quoted where needed), for the rejects table."""
    out = io.StringIO()
    values = [column[index].as_py() for column in raw.columns]
    csv.writer(out, lineterminator="").writerow(["" if v is None else v for v in values])
    return out.getvalue()

"""Issue 11, per-file cost: a small file's chunk (at most `convert.PER_VALUE_ROWS` rows) is
converted value by value by the exact parser, with the same values, errors and rejects as
the vectorised path gives the same rows."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests import test_values as cases
from turbodata.read import convert
from turbodata.read.convert import convert_chunk
from turbodata.read.reader import RawChunk
from turbodata.read.values import convert_column, convert_values

TABLES = [
    cases.BOOLEAN_CASES,
    [(text, expected) for _, text, expected in cases.INTEGER_CASES],
    [(text, expected) for _, text, expected in cases.DECIMAL_CASES],
    [(text, expected) for _, text, expected in cases.FLOAT_CASES],
    cases.GUID_CASES,
    cases.STRING_CASES,
    cases.DATETIME_CASES,
    cases.DATETIMEOFFSET_CASES,
    cases.DATE_CASES,
    cases.TIME_CASES,
]
# every case text of tests/test_values.py, tried as every type
TEXTS = sorted({text for table in TABLES for text, _ in table if text is not None})
TEXTS += ["", " ", None]


@pytest.mark.parametrize("sql_type", cases.ALL_TYPES, ids=str)
@pytest.mark.parametrize("keep_empty_strings", [False, True])
def test_value_by_value_converts_exactly_as_the_vectorised_path(
    sql_type: cases.SqlType, keep_empty_strings: bool
) -> None:
    texts = pa.array(TEXTS, pa.string())
    per_value = convert_values(texts, sql_type, keep_empty_strings=keep_empty_strings)
    vectorised = convert_column(texts, sql_type, keep_empty_strings=keep_empty_strings)
    assert per_value.array.type == vectorised.array.type
    assert per_value.array.to_pylist() == vectorised.array.to_pylist()
    assert per_value.errors == vectorised.errors
    assert per_value.max_length == vectorised.max_length


def test_a_small_chunk_converts_to_the_same_typed_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"c{i}" for i in range(len(cases.ALL_TYPES))]
    rows = [
        ["1", "255", "-7", "2147483647", "9223372036854775807", "1.5", "3.4028235E+38", "é",
         cases.LOWER_GUID, "2/3/2025 9:52:15 AM", "2020-01-01T00:15:00+02:00", "2025-02-15",
         "09:30:00.5", "12.345678", "999.99", "12", "0.1"],
        ["yes", "256", "", "x", None, "NaN", "1e39", "", "nope", "2/30/2025 9:52:15 AM",
         "2020-01-01", "2025-02-15T10:00:00Z", "25:00", "1.0000001", "1000", "1.5", "1"],
        [None] * len(names),
    ]  # fmt: skip
    raw = RawChunk(
        columns=[pa.array(list(column), pa.string()) for column in zip(*rows, strict=True)],
        row_numbers=pa.array([4, 5, 6], pa.int64()),
    )
    small = convert_chunk(raw, names, cases.ALL_TYPES, unstorable_text=("é", "no é here"))
    monkeypatch.setattr(convert, "PER_VALUE_ROWS", 0)
    vectorised = convert_chunk(raw, names, cases.ALL_TYPES, unstorable_text=("é", "no é here"))
    assert small.batch.equals(vectorised.batch)
    assert small.row_numbers.equals(vectorised.row_numbers)
    assert small.rejects == vectorised.rejects
    assert len(small.rejects) == 2
    assert small.max_lengths == vectorised.max_lengths

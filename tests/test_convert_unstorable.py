"""Text a target cannot store (PostgreSQL: NUL) is found in every row that holds it, by the
converter's byte search of the whole column first and its per-value regex after."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from turbodata.read.convert import convert_chunk, rows_holding
from turbodata.read.reader import RawChunk
from turbodata.read.values import _masked_text
from turbodata.types.sql import Kind, SqlType

NUL = "\x00"
values = st.lists(
    st.one_of(st.none(), st.text(alphabet=st.sampled_from(["a", "é", "€", "😀", NUL, "\n"]))),
    max_size=40,
)


def holding(python_values: list[str | None], characters: str) -> list[int]:
    return [
        i for i, v in enumerate(python_values) if v is not None and any(c in v for c in characters)
    ]


@settings(max_examples=300, deadline=None)
@given(values, st.integers(0, 40), st.integers(0, 40), st.sampled_from([NUL, "€", NUL + "😀"]))
def test_every_row_holding_a_character_is_found(
    python_values: list[str | None], start: int, length: int, characters: str
) -> None:
    sliced = python_values[start : start + length]
    array = pa.array(python_values, pa.string()).slice(start, length)  # offsets not at 0
    assert rows_holding(array, characters) == holding(sliced, characters)


def test_the_characters_of_a_row_made_null_are_not_its_value() -> None:
    # the converter nulls a row's value and leaves its bytes in the buffer (`_masked_text`)
    array = _masked_text(pa.array(["a\x00b", "ok", "c"]), pa.array([False, True, True]))
    assert array.to_pylist() == [None, "ok", "c"]
    assert rows_holding(array, NUL) == []
    assert rows_holding(pa.array(["x", "y\x00"]), NUL) == [1]


def test_a_column_of_nulls_or_of_another_type_holds_nothing() -> None:
    assert rows_holding(pa.array([None, None], pa.string()), NUL) == []
    assert rows_holding(pa.array([], pa.string()), NUL) == []
    assert rows_holding(pa.array(["a\x00", None], pa.large_string()), NUL) == [0]


def test_a_chunk_rejects_the_rows_holding_nul_with_their_column() -> None:
    rows = 5_000  # the vectorised converter's size, not the per-value one
    names = ["Id", "name"]
    text = [f"row {i}" for i in range(rows)]
    text[1234] = "before \x00 after"
    raw = RawChunk(
        columns=[pa.array([str(i) for i in range(rows)]), pa.array(text)],
        row_numbers=pc.add(pa.array(range(rows), pa.int64()), 1),
    )
    chunk = convert_chunk(
        raw,
        names,
        [SqlType(Kind.INTEGER), SqlType(Kind.STRING, 100)],
        unstorable_text=(NUL, "cannot hold NUL"),
    )
    assert chunk.batch.num_rows == rows - 1
    assert [(r.row, r.column, r.reason) for r in chunk.rejects] == [
        (1235, "name", "cannot hold NUL")
    ]

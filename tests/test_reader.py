"""CSV reading: lake-format.md section 10, items 10-13 and 16, on both reader paths."""

from __future__ import annotations

import io

import pytest

from turbodata.model import CsvDialect
from turbodata.read.reader import RawChunk, read_raw

NAMES = ["a", "b", "c"]


DEFAULT = CsvDialect()


def read(data: bytes, *, names=NAMES, dialect=DEFAULT, min_width=None, chunk_rows=50_000):
    chunks = list(
        read_raw(
            lambda: io.BytesIO(data),
            column_names=names,
            dialect=dialect,
            min_width=min_width,
            chunk_rows=chunk_rows,
        )
    )
    return chunks


def rows(chunks: list[RawChunk]) -> list[tuple]:
    out = []
    for chunk in chunks:
        columns = [c.to_pylist() for c in chunk.columns]
        out += list(zip(chunk.row_numbers.to_pylist(), *columns, strict=True))
    return out


def rejects(chunks: list[RawChunk]):
    return [r for chunk in chunks for r in chunk.rejects]


def test_quoted_fields_keep_quotes_commas_newlines_tabs_and_spaces():
    data = (
        b'1,"say ""hi"", then go",x\n'
        b'2,"line1\nline2\r\nline3\rline4",y\n'
        b'3,"\ttab and  spaces  ",z\n'
        b'4,"caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80",w\n'
    )
    assert rows(read(data)) == [
        (1, "1", 'say "hi", then go', "x"),
        (2, "2", "line1\nline2\r\nline3\rline4", "y"),
        (3, "3", "\ttab and  spaces  ", "z"),
        (4, "4", "café 中文 😀", "w"),
    ]


def test_empty_unquoted_is_null_and_quoted_empty_is_empty_string():
    assert rows(read(b'1,,""\n')) == [(1, "1", None, "")]


def test_trailing_delimiter_blank_lines_and_last_line_without_newline():
    data = b"1,a,\n\n\n2,b,\r\n3,c,"
    assert rows(read(data)) == [(1, "1", "a", None), (2, "2", "b", None), (3, "3", "c", None)]


def test_a_line_that_is_only_quotes_is_a_short_row_not_a_blank_line():
    chunks = read(b'1,a,b\n""\n', names=NAMES)
    assert rows(chunks) == [(1, "1", "a", "b")]
    assert [(r.row, r.reason.split(",")[0]) for r in rejects(chunks)] == [(2, "row has 1 values")]


def test_empty_file_and_header_only_file_without_newline_have_no_rows():
    assert rows(read(b"")) == []
    header = CsvDialect(header=True)
    assert rows(read(b"a,b,c", dialect=header)) == []
    assert rows(read(b"a,b,c\n1,2,3\n", dialect=header)) == [(1, "1", "2", "3")]


def test_utf8_bom_at_the_start_is_not_data():
    assert rows(read(b"\xef\xbb\xbf1,2,3\n")) == [(1, "1", "2", "3")]


def test_short_rows_of_appended_columns_are_padded_with_nulls_in_file_order():
    data = b"1,a\n2,b\n3,c,new\n4,d,newer\n"
    chunks = read(data, min_width=2)
    assert rows(chunks) == [
        (1, "1", "a", None),
        (2, "2", "b", None),
        (3, "3", "c", "new"),
        (4, "4", "d", "newer"),
    ]
    assert rejects(chunks) == []


def test_rows_narrower_than_the_oldest_schema_or_an_earlier_row_are_rejected():
    data = b"1,a,x\n2\n3,b,y\n4,c"  # 4 is a truncated last row (interrupted write)
    chunks = read(data, min_width=2)
    assert rows(chunks) == [(1, "1", "a", "x"), (3, "3", "b", "y")]
    found = [(r.row, r.raw) for r in rejects(chunks)]
    assert found == [(2, "2\n"), (4, "4,c")]
    assert "truncated or misaligned" in rejects(chunks)[1].reason


def test_a_row_wider_than_the_schema_is_rejected_with_its_text():
    chunks = read(b"1,a,x\n2,b,y,extra\n3,c,z\n")
    assert rows(chunks) == [(1, "1", "a", "x"), (3, "3", "c", "z")]
    [reject] = rejects(chunks)
    assert (reject.row, reject.column, reject.raw) == (2, None, "2,b,y,extra\n")
    assert reject.reason == "row has 4 values, the schema has 3"


def test_invalid_utf8_rejects_the_row_naming_the_column():
    chunks = read(b"1,ok,x\n2,bad \xff byte,y\n3,fine,z\n")
    assert rows(chunks) == [(1, "1", "ok", "x"), (3, "3", "fine", "z")]
    [reject] = rejects(chunks)
    assert (reject.row, reject.column, reject.reason) == (2, "b", "invalid UTF-8")
    assert reject.raw == "2,bad \ufffd byte,y\n"


@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_fallback_after_many_regular_rows_resumes_without_duplicates(chunk_rows):
    regular = b"".join(b'%d,"v%d\nmore",x\n' % (i, i) for i in range(1, 2001))
    chunks = read(regular + b"2001,a,b,WIDE\n2002,b,y\n", chunk_rows=chunk_rows)
    got = rows(chunks)
    assert [r[0] for r in got] == [*range(1, 2001), 2002]
    assert got[1999] == (2000, "2000", "v2000\nmore", "x")
    assert got[2000] == (2002, "2002", "b", "y")
    assert [r.row for r in rejects(chunks)] == [2001]


def test_chunks_are_bounded_and_row_numbers_continue_across_chunks():
    data = b"".join(b"%d,a,b\n" % i for i in range(1, 251))
    chunks = read(data, chunk_rows=100)
    assert all(chunk.num_rows <= 100 + 2000 for chunk in chunks)  # whole pyarrow blocks
    assert [r[0] for r in rows(chunks)] == list(range(1, 251))


def test_semicolon_delimiter_and_quote_style_none():
    dialect = CsvDialect(delimiter=";", quote_char=None)
    assert rows(read(b'1;"a";x\n2;;y\n', dialect=dialect)) == [
        (1, "1", '"a"', "x"),
        (2, "2", None, "y"),
    ]


def test_a_quote_inside_an_unquoted_field_is_a_literal_character():
    assert rows(read(b'1,ab"c,x\n2,d,y\n')) == [(1, "1", 'ab"c', "x"), (2, "2", "d", "y")]


@pytest.mark.parametrize("chunk_rows", [1, 3, 50_000])
def test_a_file_ending_inside_a_quoted_field_rejects_its_truncated_last_row(chunk_rows):
    data = b'1,"a",x\n2,"b\nc",y\n3,"this note was cut in the mid'
    chunks = read(data, chunk_rows=chunk_rows)
    assert rows(chunks) == [(1, "1", "a", "x"), (2, "2", "b\nc", "y")]
    [reject] = rejects(chunks)
    assert (reject.row, reject.raw) == (3, '3,"this note was cut in the mid')
    assert reject.reason == "the file ends inside a quoted field (truncated row)"


def test_a_literal_quote_in_an_unquoted_field_with_odd_count_still_reads_exactly():
    assert rows(read(b'1,ab"c,x\n2,"d",y\n')) == [(1, "1", 'ab"c', "x"), (2, "2", "d", "y")]


def test_a_literal_quote_cannot_hide_a_truncated_last_row_from_the_parity_check():
    chunks = read(b'a,5" screen,1\nb,2,"hel')
    assert rows(chunks) == [(1, "a", '5" screen', "1")]
    assert [(r.row, r.reason) for r in rejects(chunks)] == [
        (2, "the file ends inside a quoted field (truncated row)")
    ]

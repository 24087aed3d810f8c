"""Issue 11: a tiny file is read by the exact path alone, in the caller's thread, and gives
the same chunks, rows, row numbers and rejects as pyarrow's fast path on every input; chunks
are bounded in bytes as well as rows; the fast path finds a file that ends inside a quoted
field from its last bytes, whatever quotes came before and wherever its reads split them."""

from __future__ import annotations

import io
import random
import threading
from dataclasses import astuple

import pytest

from turbodata.model import CsvDialect
from turbodata.read import reader
from turbodata.read.reader import READ_BLOCK, read_raw

NAMES = ["a", "b", "c"]
HEADER = CsvDialect(header=True)

# (bytes, dialect, min_width): every irregular case of tests/test_reader.py and more
NASTY: list[tuple[bytes, CsvDialect, int | None]] = [
    (b'1,"say ""hi"", then go",x\n2,"line1\nline2\r\nline3\rline4",y\n', CsvDialect(), None),
    (b'3,"\ttab and  spaces  ",z\n4,"caf\xc3\xa9 \xf0\x9f\x98\x80",w\n', CsvDialect(), None),
    (b'1,,""\n', CsvDialect(), None),
    (b"1,a,\n\n\n2,b,\r\n3,c,", CsvDialect(), None),
    (b'1,a,b\n""\n', CsvDialect(), None),
    (b"", CsvDialect(), None),
    (b"a,b,c", HEADER, None),
    (b"a,b,c\n1,2,3\n", HEADER, None),
    (b'"a\n",b,c\r\n1,2,3\r\n', HEADER, None),  # a quoted line break in the header
    (b'" A ",b\n1,2,3\n', HEADER, None),  # an older file's header names the first columns
    (b"a,c,b\n1,2,3\n", HEADER, None),  # names in another order: refused by both paths
    (b"a,b,c,\n1,2,3\n", HEADER, None),  # a trailing delimiter in the header only
    (b"\xef\xbb\xbf1,2,3\n", CsvDialect(), None),
    (b"\xef\xbb\xbfa,b,c\n1,2,3\n", HEADER, None),
    (b"1,a\n2,b\n3,c,new\n4,d,newer\n", CsvDialect(), 2),
    (b"1,a,x\n2\n3,b,y\n4,c", CsvDialect(), 2),
    (b"1,a,x\n2,b,y,extra\n3,c,z\n", CsvDialect(), None),
    (b"1,ok,x\n2,bad \xff byte,y\n3,fine,z\n", CsvDialect(), None),
    (b"1,ok,x\n2,cut \xe2\x82,y\n", CsvDialect(), None),
    (b'1;"a";x\n2;;y\n', CsvDialect(delimiter=";", quote_char=None), None),
    (b'1;"a;b";x\n2;;y\n', CsvDialect(delimiter=";"), None),
    (b"1\ta\tb\n2\t\t\n", CsvDialect(delimiter="\t"), None),
    (b'1,ab"c,x\n2,d,y\n', CsvDialect(), None),
    (b'1,"a",x\n2,"b\nc",y\n3,"this note was cut in the mid', CsvDialect(), None),
    (b'1,ab"c,x\n2,"d",y\n', CsvDialect(), None),
    (b'a,5" screen,1\nb,2,"hel', CsvDialect(), None),
    (b'1,"a"b,c\n2,"x""y"z,w\n', CsvDialect(), None),
    (b"1,a,b\r2,c,d\r\r3,e,f\r", CsvDialect(), None),
    (b'1,"cr\r\nlf",x\r\n2,"\r",y\r\n', CsvDialect(), None),
    (b"1,a,b\n   \n2,c,d\n", CsvDialect(), None),
    (b"1,\x00nul,b\n", CsvDialect(), None),
    (b'1,"",""\n2," ",\n', CsvDialect(), None),
    (b"1,a,b\n2,c", CsvDialect(), None),
    (b'1,"unterminated\n', CsvDialect(), None),
    (b"1,caf\xe9,x\n2,\x80,y\n", CsvDialect(encoding="windows-1252"), None),
    ("1,é,x\n2,ü,y\n".encode("utf-16"), CsvDialect(encoding="utf-16"), None),
    (b"1,a,b\n" * 300, CsvDialect(), None),
    (b'x,"a",', CsvDialect(), None),  # pyarrow alone reads the last field as '', not NULL
    (b'x,"a",\n', CsvDialect(), None),
    (b'x,"a",""', CsvDialect(), None),
]


def chunks_of(
    data: bytes, dialect: CsvDialect, min_width: int | None, **sizes: int
) -> list[tuple[list[int], list[list[str | None]], list[tuple[object, ...]]]]:
    """Every chunk as (row numbers, columns, rejects)."""
    return [
        (
            chunk.row_numbers.to_pylist(),
            [column.to_pylist() for column in chunk.columns],
            [astuple(reject) for reject in chunk.rejects],
        )
        for chunk in read_raw(
            lambda: io.BytesIO(data),
            column_names=NAMES,
            dialect=dialect,
            min_width=min_width,
            **sizes,
        )
    ]


def both_paths(
    monkeypatch: pytest.MonkeyPatch, data: bytes, dialect: CsvDialect, min_width: int | None
) -> tuple[list[object], list[object]]:
    """(as a tiny file, through pyarrow's fast path); a header that does not name the
    columns as the error's text, which both paths must raise alike."""

    def outcome() -> list[object]:
        try:
            return list(chunks_of(data, dialect, min_width))
        except reader.HeaderMismatch as error:
            return [str(error)]

    monkeypatch.setattr(reader, "TINY_FILE_BYTES", len(data))
    tiny = outcome()
    monkeypatch.setattr(reader, "TINY_FILE_BYTES", -1)
    fast = outcome()
    return tiny, fast


@pytest.mark.parametrize(("data", "dialect", "min_width"), NASTY)
def test_a_tiny_file_reads_exactly_as_the_fast_path_reads_it(
    monkeypatch: pytest.MonkeyPatch, data: bytes, dialect: CsvDialect, min_width: int | None
) -> None:
    tiny, fast = both_paths(monkeypatch, data, dialect, min_width)
    assert tiny == fast


PIECES = ["1", "abc", "", '"q"', '"a,b"', '"x\ny"', '"x\r\ny"', '"say ""hi"""', 'in"side']
PIECES += ["café", "\udcff", '"open', "😀", " ", '""']
ENDINGS = ["\n", "\r\n", "\r"]


def random_file(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randrange(0, 6)):
        width = rng.choice([3, 3, 3, 1, 2, 4])
        line = ",".join(rng.choice(PIECES) for _ in range(width))
        lines.append(line + rng.choice(ENDINGS) * rng.choice([1, 1, 1, 2]))
    text = "".join(lines)
    if lines and rng.random() < 0.3:
        text = text.rstrip("\r\n")
    return text.encode("utf-8", "surrogateescape")


def test_random_tiny_files_read_exactly_as_the_fast_path_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(20261205)
    for case in range(400):
        data = random_file(rng)
        dialect = rng.choice([CsvDialect(), HEADER])
        if dialect is HEADER and rng.random() < 0.7:  # a header naming the columns
            header = rng.choice(["a,b,c", '"a","B",c', "a,b", " a ,b, c"]) + rng.choice(ENDINGS)
            data = header.encode() + data
        min_width = rng.choice([None, 2])
        tiny, fast = both_paths(monkeypatch, data, dialect, min_width)
        assert tiny == fast, f"case {case}: {data!r}"


CHARACTERS = ["a", "b", " ", '"', '""', ",", "\n", "\r", "é"]


def test_random_quoting_reads_exactly_as_the_fast_path_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Character by character: lone, doubled and literal quotes, open quoted fields at the
    end, line breaks anywhere. The fast path decides from the file's last bytes whether it
    may end inside a quoted field (`reader._may_end_inside_quotes`); a wrong "no" would load
    a truncated last row that the exact path rejects."""
    rng = random.Random(20261206)
    for case in range(3000):
        data = "".join(rng.choice(CHARACTERS) for _ in range(rng.randrange(1, 16))).encode()
        dialect = rng.choice([CsvDialect(), CsvDialect(), HEADER])
        min_width = rng.choice([None, 2])
        tiny, fast = both_paths(monkeypatch, data, dialect, min_width)
        assert tiny == fast, f"case {case}: {data!r}"


@pytest.mark.parametrize("closed", [True, False])
def test_a_last_field_longer_than_the_bytes_kept_is_still_judged_right(closed: bool) -> None:
    """The fast path keeps only its last two reads; a quoted last value reaching further back
    sends the file's last rows to the exact path, which finds whether the quote was closed."""
    long_value = ("line " + "v" * 70 + ' ""quoted""\n') * 40_000  # 3.4 MB, past two reads
    data = b"1,a,b\n" + b'2,c,"' + long_value.encode() + (b'"\n' if closed else b"")
    assert len(long_value) > 2 * READ_BLOCK
    chunks = chunks_of(data, CsvDialect(), None)
    rows = [list(zip(*columns, strict=True)) for _, columns, _ in chunks]
    rejects = [reject for _, _, chunk_rejects in chunks for reject in chunk_rejects]
    expected_value = long_value.replace('""', '"')
    if closed:
        assert [row for part in rows for row in part] == [
            ("1", "a", "b"),
            ("2", "c", expected_value),
        ]
        assert rejects == []
    else:
        assert [row for part in rows for row in part] == [("1", "a", "b")]
        assert [(row, reason) for row, _, reason, *_ in rejects] == [
            (2, "the file ends inside a quoted field (truncated row)")
        ]


class _ThreadRecording(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.threads: set[int] = set()

    def read(self, size: int | None = -1) -> bytes:
        self.threads.add(threading.get_ident())
        return super().read(size)


def test_a_tiny_file_is_opened_once_and_read_only_in_the_callers_thread() -> None:
    streams: list[_ThreadRecording] = []

    def opener() -> _ThreadRecording:
        streams.append(_ThreadRecording(b"1,a\n2,b,y\n3,c,z\n"))
        return streams[-1]

    chunks = list(read_raw(opener, column_names=NAMES, dialect=CsvDialect(), min_width=2))
    assert [chunk.row_numbers.to_pylist() for chunk in chunks] == [[1, 2, 3]]
    assert len(streams) == 1
    assert streams[0].threads == {threading.get_ident()}
    assert streams[0].closed


def test_a_file_past_the_tiny_size_stays_on_the_fast_path_across_its_first_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bytes read to size the file are handed to pyarrow as whole blocks with what
    follows them (a short block made rows straddle three blocks and pyarrow give up)."""
    row = b'%d,"' + b"w" * 700 + b'",x\n'
    data = b"".join(row % n for n in range(1, 4000))  # about 2.8 read blocks

    def no_exact_path(*args: object) -> None:
        raise AssertionError("the exact path read a regular file")

    monkeypatch.setattr(reader, "_exact_chunks", no_exact_path)
    rows = sum(len(numbers) for numbers, _, _ in chunks_of(data, CsvDialect(), None))
    assert rows == 3999


def test_a_literal_quote_across_two_reads_still_exposes_a_truncated_last_row() -> None:
    """`5" screen` with `5"` ending pyarrow's first block of the file: the file's quote count
    is even only because of it (which fooled a quote count once, and a scan across reads had
    to catch it), and the truncated last row must still be rejected."""
    literal = b'b,5" screen,1\n'
    filler_rows = b"".join(b"%d,name,x\n" % n for n in range(1, 200_000))
    before = READ_BLOCK - len(b"b,5") - 1  # `5"` are the first block's last two bytes
    filler = filler_rows[:before]
    filler = filler[: filler.rfind(b"\n") + 1]
    pad = b"p,%s,x\n" % (b"z" * (before - len(filler) - 5))
    data = filler + pad + literal + b'c,2,"hel'
    assert data[READ_BLOCK - 2 : READ_BLOCK + 1] == b'5" '
    chunks = chunks_of(data, CsvDialect(), None)
    rejects = [reject for _, _, chunk_rejects in chunks for reject in chunk_rejects]
    assert [(row, reason) for row, _, reason, *_ in rejects] == [
        (filler.count(b"\n") + 3, "the file ends inside a quoted field (truncated row)")
    ]
    last_rows = chunks[-1][1]
    assert [column[-1] for column in last_rows] == ["b", '5" screen', "1"]


@pytest.mark.parametrize("fast", [True, False])
def test_chunks_are_bounded_in_bytes_as_well_as_rows(
    monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    wide = b"%d," + b"v" * 2000 + b",x\n"
    data = b"".join(wide % n for n in range(1, 3001))  # 6 MB in 3,000 rows
    if not fast:
        data += b"3001,a,b,WIDE\n"  # the exact path takes over from the first row
    chunks = chunks_of(data, CsvDialect(), None, chunk_bytes=1 << 20)
    sizes = [
        sum(len(value or "") for column in columns for value in column) for _, columns, _ in chunks
    ]
    assert len(chunks) > 4
    assert max(sizes) <= (1 << 20) + 2 * READ_BLOCK
    numbers = [number for chunk_numbers, _, _ in chunks for number in chunk_numbers]
    assert numbers == list(range(1, 3001))


@pytest.mark.parametrize("blocks", [1, 2])
def test_a_crlf_inside_a_value_split_by_a_read_block_keeps_both_bytes(blocks: int) -> None:
    """An embedded CRLF whose CR is a read block's last byte and LF the next one's first:
    pyarrow's parser kept the CR alone (the value changed, no reject)."""
    rows = b"".join(b'%08d-0000-0000-0000-000000000000,"abc",%d,\n' % (n, n) for n in range(80_000))
    at = blocks * READ_BLOCK - 1  # the CR's offset in the file
    cut = rows.rfind(b"\n", 0, at - 100) + 1
    head = b'99999999-0000-0000-0000-000000000000,"'
    pad = b"y" * (at - cut - len(head))
    data = rows[:cut] + head + pad + b'\r\nsecond line",1,\n' + rows[cut:]
    assert data[at : at + 2] == b"\r\n"
    chunks = read_raw(
        lambda: io.BytesIO(data), column_names=["Id", "memo", "v", "d"], dialect=CsvDialect()
    )
    values = [v for chunk in chunks for v in chunk.columns[1].to_pylist() if v and v[0] == "y"]
    assert values == [(pad + b"\r\nsecond line").decode()]

"""Issue 9, item 1: the reader's fallback from the fast to the exact path loses no row.

pyarrow reads ahead on a background thread; the exact path used to seek the same stream back
to 0 while that thread was still reading it, and silently lost up to a block of rows.
"""

from __future__ import annotations

import csv
import io
import random
import threading
import time

import pytest

from turbodata.model import CsvDialect
from turbodata.read.reader import READ_BLOCK, RawChunk, read_raw

NAMES = ["a", "b", "c"]


def read_all(data: bytes, opener=None) -> tuple[list[tuple], list[tuple[int, str]]]:
    """(rows as (row number, *values)), (rejects as (row number, reason))."""
    chunks: list[RawChunk] = list(
        read_raw(opener or (lambda: io.BytesIO(data)), column_names=NAMES, dialect=CsvDialect())
    )
    rows = []
    for chunk in chunks:
        columns = [column.to_pylist() for column in chunk.columns]
        rows += list(zip(chunk.row_numbers.to_pylist(), *columns, strict=True))
    rejects = [(r.row, r.reason) for chunk in chunks for r in chunk.rejects]
    return rows, rejects


def csv_module_reading(data: bytes) -> tuple[list[tuple], list[int]]:
    """What a plain `csv` reading says: the 3-value valid UTF-8 rows, and the other rows'
    numbers (the generated files have no quoted empty strings, so "" is NULL)."""
    text = io.StringIO(data.decode("utf-8", "surrogateescape"), newline="")
    rows, rejected = [], []
    limit = csv.field_size_limit(4 * READ_BLOCK)
    try:
        for number, fields in enumerate(csv.reader(text), start=1):
            undecodable = any("\udc80" <= ch <= "\udcff" for field in fields for ch in field)
            if len(fields) != len(NAMES) or undecodable:
                rejected.append(number)
            else:
                rows.append((number, *(field or None for field in fields)))
    finally:
        csv.field_size_limit(limit)
    return rows, rejected


def issue_file(rows: int, irregular_row: int, irregular: bytes) -> bytes:
    lines = [b"%d,name%d,v%d\n" % (i, i, i) for i in range(1, rows + 1)]
    lines[irregular_row - 1] = irregular
    return b"".join(lines)


@pytest.fixture(scope="module")
def issue_files() -> dict[str, bytes]:
    row = 150_000
    return {
        "bad UTF-8": issue_file(400_000, row, b"%d,name%d,caf\xe9\n" % (row, row)),
        "4 values": issue_file(400_000, row, b"%d,name%d,v%d,extra\n" % (row, row, row)),
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bad UTF-8", "4 values"])
def test_the_issue_reproduction_loses_no_row_in_five_reads(issue_files, kind):
    data = issue_files[kind]
    for _ in range(5):
        rows, rejects = read_all(data)
        assert len(rows) == 399_999
        assert [row for row, _reason in rejects] == [150_000]
        assert rows[0] == (1, "1", "name1", "v1")
        assert rows[149_999] == (150_001, "150001", "name150001", "v150001")


class _SlowInBackground(io.BytesIO):
    """Reads from any thread but the test's own take a while: pyarrow's read-ahead is then
    surely inside `read()` when the fast path gives up."""

    def __init__(self, data: bytes, delay: float = 0.05) -> None:
        super().__init__(data)
        self.owner, self.delay = threading.current_thread(), delay

    def read(self, size: int | None = -1) -> bytes:
        if threading.current_thread() is not self.owner:
            time.sleep(self.delay)
        return super().read(size)


def test_a_read_ahead_still_running_at_the_fallback_takes_no_row_from_the_exact_path():
    rows = 3 * READ_BLOCK // 20  # three blocks or so of ~20-byte rows
    data = issue_file(rows, 10, b"10,bad \xff,x\n")
    streams: list[_SlowInBackground] = []

    def opener() -> io.BytesIO:
        streams.append(_SlowInBackground(data))
        return streams[-1]

    got, rejects = read_all(data, opener)
    assert len(got) == rows - 1
    assert rejects == [(10, "invalid UTF-8")]
    assert len(streams) == 2  # the exact path read a stream of its own
    assert all(stream.closed for stream in streams)


# ------------------------------------------------------------------------ randomized


def _value(rng: random.Random) -> bytes:
    kind = rng.choice(["plain", "plain", "plain", "empty", "quote", "newline", "comma", "utf8"])
    text = {
        "plain": f"v{rng.randrange(10**6)}",
        "empty": "",
        "quote": f'say "hi" {rng.randrange(100)}',
        "newline": rng.choice(["two\nlines", "cr\rlf\r\nmix"]),
        "comma": "a, b",
        "utf8": "café 中文 😀",
    }[kind]
    if kind in ("plain", "empty", "utf8"):
        return text.encode()
    return b'"' + text.replace('"', '""').encode() + b'"'


def _irregular_row(rng: random.Random, number: int) -> bytes:
    kind = rng.choice(["bad utf8", "too wide", "too short", "huge field"])
    if kind == "bad utf8":
        return b"%d,caf\xe9,x" % number
    if kind == "too wide":
        return b"%d,a,b,extra" % number
    if kind == "too short":
        return b"%d,a" % number
    return b'%d,"%s",x' % (number, b"h" * (READ_BLOCK + rng.randrange(1000)))


def _random_file(rng: random.Random) -> bytes:
    rows = rng.choice([1, 7, 2_000, 30_000, 60_000, 90_000])
    irregular = {rng.randrange(1, rows + 1) for _ in range(rng.choice([0, 1, 1, 2, 3]))}
    newline = rng.choice([b"\n", b"\r\n"])
    lines = []
    for number in range(1, rows + 1):
        if number in irregular:
            lines.append(_irregular_row(rng, number))
        else:
            lines.append(b"%d,%s,%s" % (number, _value(rng), _value(rng)))
    ending = newline if rng.random() < 0.8 else b""
    return newline.join(lines) + ending


def test_random_files_read_like_the_csv_module_row_for_row():
    rng = random.Random(20261204)
    started = time.monotonic()
    for case in range(12):
        data = _random_file(rng)
        expected_rows, expected_rejects = csv_module_reading(data)
        delay = rng.choice([0, 0.002, 0.02])  # how long a background read takes
        rows, rejects = read_all(
            data, lambda data=data, delay=delay: _SlowInBackground(data, delay)
        )
        assert [row for row, _reason in rejects] == expected_rejects, f"case {case}"
        assert rows == expected_rows, f"case {case}"
    assert time.monotonic() - started < 60  # bounded: a few seconds on an idle machine

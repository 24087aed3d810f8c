"""Issue 11, flat memory: `arrow_memory.use_lean_pool` makes jemalloc, returning freed pages
at once, the pool every Arrow allocation of a load comes from (the CSV parser's too)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow as pa
import pytest

from turbodata.arrow_memory import use_lean_pool
from turbodata.model import CsvDialect
from turbodata.reader import read_raw
from turbodata.types import Kind, SqlType
from turbodata.values import convert_column


@pytest.fixture()
def default_pool() -> Iterator[None]:
    before = pa.default_memory_pool()
    yield
    pa.set_memory_pool(before)


def test_the_lean_pool_takes_the_reader_and_the_converter_allocations(default_pool: None) -> None:
    try:
        jemalloc = pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow has no jemalloc (its default pool is kept)")
    assert use_lean_pool() == "jemalloc"
    assert pa.default_memory_pool().backend_name == "jemalloc"
    before = jemalloc.bytes_allocated()
    data = b"".join(b'%d,"2025-01-0%dT10:00:00Z",x\n' % (n, n % 9 + 1) for n in range(20_000))
    [chunk] = read_raw(
        lambda: io.BytesIO(data), column_names=["n", "at", "x"], dialect=CsvDialect()
    )
    converted = convert_column(chunk.columns[1], SqlType(Kind.DATETIME))
    assert jemalloc.bytes_allocated() - before >= chunk.columns[0].nbytes + converted.array.nbytes
    assert converted.array[0].as_py() == "2025-01-01 10:00:00.0000000"

"""Issue 11, flat memory: `arrow_memory.use_lean_pool` makes jemalloc, returning freed pages
at once, the pool every Arrow allocation of a load comes from (the CSV parser's too)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from tests.lakebuilder import LakeBuilder, attribute
from turbodata import cli, http_api
from turbodata.model import CsvDialect
from turbodata.read import arrow_memory
from turbodata.read.arrow_memory import use_lean_pool
from turbodata.read.reader import read_raw
from turbodata.read.values import convert_column
from turbodata.types.sql import Kind, SqlType


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


def test_the_cli_and_the_http_api_load_with_the_lean_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_pool: None
) -> None:
    """Both entry points that load set the pool before the first chunk is read."""
    calls: list[str] = []
    original = arrow_memory.use_lean_pool

    def recording() -> str:
        calls.append("pool")
        return original()

    monkeypatch.setattr(arrow_memory, "use_lean_pool", recording)
    LakeBuilder(tmp_path / "lake").folder(
        "2025-01-01T00.00.00Z",
        {"t": [attribute("Id", "guid"), attribute("n", "int64")]},
        {"t/1.csv": "00000000-0000-0000-0000-000000000001,1\n"},
    )
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert cli.main(["migrate", "--lake", str(tmp_path / "lake"), "--db", db]) == 0
    assert calls == ["pool"]
    monkeypatch.setenv("TURBODATA_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("TURBODATA_DATABASE_URL", f"sqlite:///{tmp_path / 'api.sqlite'}")
    status, body = http_api.run_migration(http_api.MigrateRequest())
    assert status == 200, body
    assert calls == ["pool", "pool"]

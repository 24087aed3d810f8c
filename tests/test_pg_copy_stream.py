"""PostgreSQL's `CopyStream`: many batches through one COPY, on a real server. What must hold:
every row in and checked when the stream ends; a statement run while a COPY is open ends it
first (psycopg holds the connection's lock for a whole COPY: it would wait forever); an
error, ours or the server's, arrives as it was, and leaves nothing behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest
import sqlalchemy as sa

from turbodata.dialects import pg_copy
from turbodata.dialects.postgresql import PostgreSQLDialect
from turbodata.load.schema import table_object
from turbodata.pipeline import connect
from turbodata.types.sql import Kind, SqlType

PG = tuple[sa.Engine, PostgreSQLDialect, sa.Table]
TYPES = {"id": SqlType(Kind.BIGINT), "name": SqlType(Kind.STRING), "n": SqlType(Kind.SMALLINT)}


def batch(first: int, rows: int, n: int = 1) -> pa.RecordBatch:
    ids = list(range(first, first + rows))
    return pa.RecordBatch.from_arrays(
        [pa.array(ids, pa.int64()), pa.array([f"row {i}" for i in ids]), pa.array([n] * rows)],
        names=list(TYPES),
    )


@pytest.fixture()
def pg(postgres_url: str) -> Iterator[PG]:
    engine, dialect = connect(postgres_url)
    table = table_object(dialect, "streamed", TYPES, None)
    with engine.begin() as conn:
        table.drop(conn, checkfirst=True)
        table.create(conn)
    try:
        yield engine, dialect, table  # type: ignore[misc]
    finally:
        engine.dispose()


@pytest.fixture()
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The COPY statements the stream opens."""
    opened: list[str] = []
    real_open = pg_copy.CopyStream._copy

    def recording(self: pg_copy.CopyStream, *args: object) -> object:
        before = self._open
        stream = real_open(self, *args)  # type: ignore[arg-type]
        if stream is not before:
            opened.append(stream.statement)
        return stream

    monkeypatch.setattr(pg_copy.CopyStream, "_copy", recording)
    return opened


def stored_ids(engine: sa.Engine, table: sa.Table) -> list[int]:
    with engine.connect() as conn:
        return conn.execute(sa.select(table.c.id).order_by(table.c.id)).scalars().all()


def test_batches_into_one_table_go_through_one_copy(pg: PG, copies: list[str]) -> None:
    engine, dialect, table = pg
    with engine.begin() as conn, dialect.bulk_insert(conn, list(TYPES.values())) as sink:
        for first in range(0, 50_000, 10_000):
            assert sink.write(table, batch(first, 10_000)) == 10_000
    assert len(copies) == 1 and "FORMAT binary" in copies[0]
    assert stored_ids(engine, table) == list(range(50_000))


def test_a_flush_ends_the_copy_and_the_next_batch_opens_another(pg: PG, copies: list[str]) -> None:
    engine, dialect, table = pg
    with engine.begin() as conn, dialect.bulk_insert(conn, list(TYPES.values())) as sink:
        sink.write(table, batch(0, 3))
        sink.flush()
        sink.write(table, batch(3, 3))
    assert len(copies) == 2
    assert stored_ids(engine, table) == list(range(6))


def test_a_statement_while_a_copy_is_open_ends_the_copy_first(pg: PG) -> None:
    """Without it the statement waits forever for psycopg's lock: it runs in a thread here,
    so that the test fails instead of hanging."""
    engine, dialect, table = pg
    counted: list[int] = []
    with engine.begin() as conn, dialect.bulk_insert(conn, list(TYPES.values())) as sink:
        sink.write(table, batch(0, 1000))

        def count() -> None:
            counted.append(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar())

        statement = threading.Thread(target=count, daemon=True)
        statement.start()
        statement.join(timeout=30)
        assert counted == [1000], "the statement did not run: the COPY was still open"
        sink.write(table, batch(1000, 10))
    assert stored_ids(engine, table) == list(range(1010))


def test_an_error_in_the_block_ends_the_copy_and_arrives_as_it_was(pg: PG) -> None:
    engine, dialect, table = pg

    class Ours(Exception):
        pass

    with (
        pytest.raises(Ours, match="while the COPY was open"),
        engine.begin() as conn,
        dialect.bulk_insert(conn, list(TYPES.values())) as sink,
    ):
        sink.write(table, batch(0, 1000))
        raise Ours("while the COPY was open")
    assert stored_ids(engine, table) == []
    with engine.begin() as conn:  # the pool's connection is usable again
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1


def test_the_servers_error_in_a_stream_arrives_as_sqlalchemys_and_nothing_stays(pg: PG) -> None:
    """A value the binary form does not take (beyond SMALLINT) goes as text in a COPY of its
    own; the server refuses it. The rows sent before it in the stream are rolled back."""
    engine, dialect, table = pg
    with (
        pytest.raises(sa.exc.DataError, match="smallint") as raised,
        engine.begin() as conn,
        dialect.bulk_insert(conn, list(TYPES.values())) as sink,
    ):
        sink.write(table, batch(0, 1000))
        sink.write(table, batch(1000, 10, n=70_000))
    assert raised.value.orig is not None  # the driver's own error, as every statement's
    assert stored_ids(engine, table) == []


def test_a_stream_that_stores_fewer_rows_than_it_sent_fails(
    pg: PG, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, dialect, table = pg
    real_payloads = pg_copy._copy_payloads

    def one_row_short(*args: object) -> Iterator[object]:
        for binary, slices in real_payloads(*args):  # type: ignore[arg-type]
            yield binary, ((rows + 1, payload) for rows, payload in slices)

    monkeypatch.setattr(pg_copy, "_copy_payloads", one_row_short)
    with (
        pytest.raises(RuntimeError, match="stored 2000 of 2002 rows"),
        engine.begin() as conn,
        dialect.bulk_insert(conn, list(TYPES.values())) as sink,
    ):
        sink.write(table, batch(0, 1000))
        sink.write(table, batch(1000, 1000))
    assert stored_ids(engine, table) == []

"""turbodata.read.prefetch: the next chunk is produced in a thread while this one is loaded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbcheck import fetch
from tests.test_load_read_once import write_lake
from turbodata import migrate
from turbodata.load import batch_reading
from turbodata.read.prefetch import prefetched


def test_items_arrive_in_order_and_are_produced_in_another_thread() -> None:
    producers: set[str] = set()

    def numbers() -> Iterator[int]:
        for n in range(1000):
            producers.add(threading.current_thread().name)
            yield n

    assert list(prefetched(numbers())) == list(range(1000))
    assert producers == {"turbodata-prefetch"}


def test_the_next_item_is_produced_while_the_caller_works_on_this_one() -> None:
    def slow() -> Iterator[int]:
        for n in range(4):
            time.sleep(0.2)
            yield n

    started = time.monotonic()
    for _ in prefetched(slow()):
        time.sleep(0.2)  # the caller's own work, overlapping the next item's
    assert time.monotonic() - started < 4 * 0.4 - 0.3


def test_an_error_while_producing_is_raised_at_its_item_with_the_items_before() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("row 3 is bad")

    got = []
    with pytest.raises(ValueError, match="row 3 is bad") as raised:
        for item in prefetched(failing()):
            got.append(item)
    assert got == [1, 2]
    assert "failing" in str(raised.traceback[-1])  # the producer's own frame


def test_stopping_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()
    produced: list[int] = []

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                produced.append(n)
                yield n
                n += 1
        finally:
            closed.set()

    before = threading.active_count()
    with pytest.raises(RuntimeError):
        for item in prefetched(endless()):
            if item == 3:
                raise RuntimeError("the database refused the batch")
    assert closed.wait(2)
    assert threading.active_count() == before
    assert len(produced) <= 6  # one ahead, not the whole source


@pytest.mark.parametrize(
    ("prefetch_from", "read_ahead"), [(batch_reading.PREFETCH_FROM_BYTES, 0), (1, 2)]
)
def test_the_loader_reads_ahead_only_in_files_large_enough_to_have_a_next_chunk(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefetch_from: int,
    read_ahead: int,
) -> None:
    """A small file is one chunk: a thread to read it ahead would only cost its start-up."""
    monkeypatch.setattr(batch_reading, "PREFETCH_FROM_BYTES", prefetch_from)
    threads: list[str] = []
    original = batch_reading.prefetched

    def counting(items: Iterator[object]) -> Iterator[object]:
        threads.append("prefetch")
        return original(items)

    monkeypatch.setattr(batch_reading, "prefetched", counting)
    write_lake(tmp_path / "lake")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    summary = migrate(tmp_path / "lake", url)
    assert summary.ok, summary.to_dict()
    assert len(threads) == read_ahead
    assert sorted(r["amount"] for r in fetch(url, "t")) == list(range(1, 40))

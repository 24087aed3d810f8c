"""Python's full garbage collections, made rarer while a run loads.

A run keeps what it builds once per table (SQLAlchemy Table objects, compiled statements,
planned DDL) for the rest of the run, so the objects that live long grow with the tables.
Every full collection walks all of them: loading the 300-table × 4-folder lake of
bench/many_files.py into SQLite took 6 full collections costing 0.7 s of CPU, a tenth of
the run, and reclaimed almost nothing (garbage in cycles is young and goes in the young
generations' collections, which stay as they are). With a tenth as many full collections
(gen2 threshold 100 instead of 10) the run had none.

Process-wide: the runs that overlap in one process (threads of a Functions host) share it;
the first to start raises the threshold and the last to finish restores it.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

FULL_COLLECTION_THRESHOLD = 100  # young-generation collections between full ones (Python: 10)

_lock = threading.Lock()
_runs = 0
_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def fewer_full_collections() -> Iterator[None]:
    """Inside the block, full collections need FULL_COLLECTION_THRESHOLD generation-1
    collections instead of Python's threshold (left as it is if it is already higher)."""
    _start()
    try:
        yield
    finally:
        _finish()


def _start() -> None:
    global _runs, _saved
    with _lock:
        _runs += 1
        if _runs == 1:
            _saved = gc.get_threshold()
            young, middle, full = _saved
            gc.set_threshold(young, middle, max(full, FULL_COLLECTION_THRESHOLD))


def _finish() -> None:
    global _runs, _saved
    with _lock:
        _runs -= 1
        if _runs == 0 and _saved is not None:
            gc.set_threshold(*_saved)
            _saved = None

"""Work on the next item of an iterator while the caller handles this one.

The loader reads and converts a file's next chunk (pyarrow's parser and compute kernels
release the GIL) while the database driver ingests the current one (psycopg's COPY and the
sqlite3 module release it while they wait or step). One item is read ahead at most, so memory
stays at two chunks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterator[T], name: str = "turbodata-prefetch") -> Iterator[T]:
    """`items`, produced one ahead in a thread. An error raised while producing is raised
    here, at the item where it happened, with its own traceback. When the caller stops early
    (an error of its own, or closing the generator), the thread stops after the item it is on
    and `items` is closed in the thread that ran it."""
    ready: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(ready, item, stop):
                    return
            _put(ready, _DONE, stop)
        except BaseException as error:  # handed to the caller, raised there
            _put(ready, _Failed(error), stop)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()  # a producer waiting to hand over an item sees it within 0.05 s
        worker.join()


def _put(ready: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Hand `item` over, unless the caller stopped; whether it was handed over."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False

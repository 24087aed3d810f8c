"""Arrow's memory pool for a load: jemalloc, handing freed pages back to the system at once.

A load allocates and frees a chunk's buffers over and over (parse, convert, insert). pyarrow's
default pool (mimalloc on Linux wheels) keeps freed pages for reuse, and so does jemalloc with
its default decay of a second: measured on the 25-column snapshot into SQLite (whole CLI,
peak RSS), mimalloc 310-326 MB, jemalloc 273-280 MB, jemalloc with decay 0 251-253 MB, at the
same speed. Call `use_lean_pool` once at start, before the first chunk is read.
"""

from __future__ import annotations

import pyarrow as pa


def use_lean_pool() -> str:
    """Make jemalloc with immediate decay pyarrow's default pool, where pyarrow has it (the
    Windows wheels do not: their default pool is kept). The backend in use, for the log."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.default_memory_pool().backend_name
    pa.jemalloc_set_decay_ms(0)
    pa.set_memory_pool(pool)
    return pool.backend_name

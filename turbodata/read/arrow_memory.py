"""Arrow's memory pool for a load: jemalloc, handing freed pages back to the system soon.

A load allocates and frees a chunk's buffers over and over (parse, convert, insert). pyarrow's
default pool (mimalloc on Linux wheels) keeps freed pages for reuse: measured on the
25-column snapshot into SQLite (whole CLI, peak RSS), mimalloc 310-326 MB, jemalloc with its
default decay of a second 273-280 MB, with decay 0 251-253 MB. Decay 0 has a price the
snapshot into SQLite hid (its insert is the bottleneck): every chunk's buffers fault in fresh
pages, and reading and converting 300k rows took 2.3 s of CPU against 1.77 s with a decay of
100 ms and 1.72 s with 1 s, for 25-30 MB more peak RSS (bench/README.md, session 5). 100 ms
keeps the speed and returns what a finished chunk freed before the next few chunks.
`LoadOptions.lean_arrow_pool` calls `use_lean_pool` before the first chunk is read.
"""

from __future__ import annotations

import pyarrow as pa

DECAY_MS = 100  # how long jemalloc keeps freed pages before returning them


def use_lean_pool() -> str:
    """Make jemalloc with a short decay pyarrow's default pool, where pyarrow has it (the
    Windows wheels do not: their default pool is kept). The backend in use, for the log.
    Once per process: a pool already jemalloc is kept as it is (every table's reader asks)."""
    if pa.default_memory_pool().backend_name == "jemalloc":
        return "jemalloc"
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.default_memory_pool().backend_name
    pa.jemalloc_set_decay_ms(DECAY_MS)
    pa.set_memory_pool(pool)
    return pool.backend_name

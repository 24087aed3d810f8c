"""Put on PYTHONPATH of a `turbodata` child process by tests that need a run to still be
loading a moment later (a second run meeting its lease): every batch then takes at least
TURBODATA_TEST_BATCH_SECONDS more, after its commit. Loading has become fast enough that a
small lake finishes before another process starts."""

from __future__ import annotations

import os

if seconds := float(os.environ.get("TURBODATA_TEST_BATCH_SECONDS", "0")):
    from tests.slow_batches.delay import slow_down

    slow_down(seconds)

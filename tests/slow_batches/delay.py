"""Batches that take longer: for tests that must meet a run while it is still loading."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from turbodata.load.loader import TableLoader


def slowed(load_batch: Callable[..., Any], seconds: float) -> Callable[..., Any]:
    @functools.wraps(load_batch)
    def slower(*args: Any, **kwargs: Any) -> Any:
        result = load_batch(*args, **kwargs)
        time.sleep(seconds)  # after the commit: the batch counts, the run goes on
        return result

    return slower


def slow_down(seconds: float) -> None:
    TableLoader._with_retries = slowed(TableLoader._with_retries, seconds)  # type: ignore[method-assign]

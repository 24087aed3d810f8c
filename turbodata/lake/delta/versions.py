"""The Delta version the ledger records as applied, in the table's watermark.

Design: a Delta table's watermark is `delta:<version> id=<table id>` (e.g. `delta:12
id=5f1d…`), written in the transaction that applies the version's rows, so the version and its
rows commit together (exactly once). The id is the table's `metaData.id`: a table dropped and
written again under the same folder starts again at version 0 with a new id, and its versions
say nothing about the old table's rows. Any other watermark (a timestamp folder from the days
the table was exported as CSV; `delta:<version>` of a turbodata that did not record the id)
leaves the table's id unknown, and the next load is a full reconciliation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

PREFIX = "delta:"
_ID = " id="
_LONGEST_ID = 64  # a longer id is recorded as its SHA-1 (the ledger's watermark has 128)


@dataclass(frozen=True)
class Applied:
    """What the ledger says was applied of a Delta table."""

    version: int
    table_id: str | None  # None: recorded without the table's id


def as_watermark(version: int, table_id: str) -> str:
    return f"{PREFIX}{version}{_ID}{recorded_id(table_id)}"


def recorded_id(table_id: str) -> str:
    if len(table_id) <= _LONGEST_ID:
        return table_id
    return hashlib.sha1(table_id.encode("utf-8"), usedforsecurity=False).hexdigest()


def applied(watermark: str | None) -> Applied | None:
    """The version (and table id) a watermark records, or None (never loaded, or from CSV)."""
    if watermark is None or not watermark.startswith(PREFIX):
        return None
    digits, _, table_id = watermark[len(PREFIX) :].partition(_ID)
    return Applied(int(digits), table_id or None) if digits.isdigit() else None

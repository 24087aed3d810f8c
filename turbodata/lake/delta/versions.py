"""The Delta version the ledger records as applied, in the table's watermark.

Design: a Delta table's watermark is `delta:<version>` (e.g. `delta:12`), written with
`ledger.set_watermark` in the transaction that applies the version's rows, so the version and
its rows commit together (exactly once). Any other watermark (a timestamp folder from the
days the table was exported as CSV) reads as "no version applied": the first Delta load is
then a full reconciliation of the table.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from turbodata.ledger import records as ledger

PREFIX = "delta:"


def as_watermark(version: int) -> str:
    return f"{PREFIX}{version}"


def applied_version(watermark: str | None) -> int | None:
    """The version a watermark records, or None (never loaded, or loaded from CSV)."""
    if watermark is None or not watermark.startswith(PREFIX):
        return None
    digits = watermark[len(PREFIX) :]
    return int(digits) if digits.isdigit() else None


def record_applied(conn: Connection, table: str, version: int, run_id: str) -> None:
    """Record `version` as applied, in the transaction that applied it."""
    ledger.set_watermark(conn, table, as_watermark(version), run_id)

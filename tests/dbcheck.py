"""Reading a target table back in a database-neutral form, for comparisons in tests.

SQLite returns text and integers, PostgreSQL returns uuid/datetime/Decimal objects, and
PostgreSQL keeps microseconds where the lake has 100 ns ticks; `canonical` maps both to the
representation the sample lake's `expected_rows()` uses.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa


def fetch(url: str, table: str) -> list[dict[str, object]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(table)
            result = conn.exec_driver_sql(f"SELECT * FROM {quoted}")
            return [dict(row) for row in result.mappings()]
    finally:
        engine.dispose()


def scalar(url: str, sql: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(sql).scalar()
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def run_ended_as(url: str, run_id: str, status: str) -> None:
    """Record in the ledger that run `run_id` ended with `status` (as a failed attempt)."""
    from turbodata.ledger import records as ledger

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        runs = ledger.runs
        conn.execute(sa.update(runs).where(runs.c.run_id == run_id).values(status=status))
    engine.dispose()


def canonical(value: object, like: object) -> object:
    """`value` as read from a database, in the type and form of the expected value `like`."""
    if value is None or like is None:
        return value
    if isinstance(like, bool):
        return bool(value)
    if isinstance(like, Decimal):
        return Decimal(str(value))
    if isinstance(like, int):
        return int(value)  # type: ignore[call-overload]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return _datetime_text(value, like)
    return value


def _datetime_text(value: datetime, like: object) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S.%f") + "0"  # microseconds → 7 digits
    if value.tzinfo is not None and str(like)[-6] in "+-":
        offset = value.strftime("%z")
        text += f"{offset[:3]}:{offset[3:]}"
    return text


def micro(expected: object) -> object:
    """Expected datetime text cut to microseconds, as turbodata sends it to PostgreSQL."""
    if not isinstance(expected, str) or len(expected) < 27 or expected[19] != ".":
        return expected
    return expected[:26] + "0" + expected[27:]


def comparable_rows(
    actual: list[dict[str, object]],
    expected: list[dict[str, object]],
    *,
    microseconds: bool,
) -> tuple[list[tuple], list[tuple]]:
    """Both row lists as sorted tuples over the expected columns, values made comparable."""
    columns = list(expected[0]) if expected else sorted(actual[0]) if actual else []
    examples = {c: next((r[c] for r in expected if r.get(c) is not None), None) for c in columns}

    def expected_value(value: object) -> object:
        return micro(value) if microseconds else value

    got = sorted(tuple(repr(canonical(row.get(c), examples[c])) for c in columns) for row in actual)
    want = sorted(tuple(repr(expected_value(row.get(c))) for c in columns) for row in expected)
    return got, want

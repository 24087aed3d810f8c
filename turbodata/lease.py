"""One run at a time per database: a lease row in the ledger with an expiry.

A run that crashed keeps its lease only until it expires, so it never blocks for ever. The
lease is renewed between batches; make `ttl` longer than the longest batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from turbodata import ledger

LEASE_NAME = "migrate"
DEFAULT_TTL = timedelta(minutes=30)


class LeaseHeld(Exception):
    """Another run is loading this database."""

    def __init__(self, holder: str, expires_at: datetime | None) -> None:
        until = f" until {expires_at:%Y-%m-%d %H:%M:%S} UTC" if expires_at else ""
        super().__init__(f"another run ({holder}) is loading this database; its lease holds{until}")
        self.holder = holder


def acquire(engine: Engine, holder: str, ttl: timedelta = DEFAULT_TTL) -> None:
    """Take the lease, or raise LeaseHeld naming the run that has it."""
    try:
        with engine.begin() as conn:
            if _take_over(conn, holder, ttl):
                return
            conn.execute(
                sa.insert(ledger.lease).values(
                    name=LEASE_NAME, holder=holder, expires_at=ledger.now() + ttl
                )
            )
    except sa.exc.IntegrityError:  # inserted by a run that started at the same moment
        pass
    except sa.exc.OperationalError as error:  # SQLite: another run holds the write lock
        raise LeaseHeld("unknown, the database is busy", None) from error
    else:
        return
    with engine.connect() as conn:
        row = conn.execute(sa.select(ledger.lease).where(ledger.lease.c.name == LEASE_NAME)).one()
    raise LeaseHeld(row.holder, row.expires_at)


def _take_over(conn: sa.Connection, holder: str, ttl: timedelta) -> bool:
    """Renew our lease or take an expired one; False when there is none or it is alive."""
    lease = ledger.lease
    free = sa.or_(lease.c.holder == holder, lease.c.expires_at < ledger.now())
    statement = (
        sa.update(lease)
        .where(lease.c.name == LEASE_NAME, free)
        .values(holder=holder, expires_at=ledger.now() + ttl)
    )
    return conn.execute(statement).rowcount == 1


def renew(engine: Engine, holder: str, ttl: timedelta = DEFAULT_TTL) -> None:
    with engine.begin() as conn:
        if not _take_over(conn, holder, ttl):
            raise LeaseHeld("another run took over an expired lease", None)


def release(engine: Engine, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.delete(ledger.lease).where(
                ledger.lease.c.name == LEASE_NAME, ledger.lease.c.holder == holder
            )
        )

"""One run at a time per database: a lease row in the ledger with an expiry.

A run that crashed keeps its lease only until it expires, or, on the same host, only while
its process lives, so it never blocks for ever. The lease is renewed between batches; make
`ttl` longer than the longest batch.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from turbodata import dialects, ledger

log = logging.getLogger(__name__)

LEASE_NAME = "migrate"
DEFAULT_TTL = timedelta(minutes=30)


class LeaseHeld(Exception):
    """Another run is loading this database."""

    def __init__(self, holder: str, expires_at: datetime | str | None) -> None:
        until = f" until {_utc_text(expires_at)}" if expires_at else ""
        super().__init__(
            f"another run ({holder}) is loading this database; its lease holds{until}."
            " Try again later."
        )
        self.holder = holder


def acquire(
    engine: Engine,
    holder: str,
    ttl: timedelta = DEFAULT_TTL,
    is_busy: Callable[[BaseException], bool] = lambda _error: False,
) -> None:
    """Take the lease, or raise LeaseHeld naming the run that has it. `is_busy` (the
    dialect's) tells a database busy with another writer from a real error. Once the lease is
    taken, what a killed run left behind (the dialect knows what) is removed."""
    try:
        _take(engine, holder, ttl)
    except sa.exc.IntegrityError:  # inserted by a run that started at the same moment
        pass
    except sa.exc.OperationalError as error:
        if not is_busy(error):
            raise
        raise LeaseHeld("unknown: the database is busy with another writer", None) from error
    else:
        _sweep(engine)
        return
    row = _current(engine)
    raise LeaseHeld(row.holder if row else "unknown", row.expires_at if row else None)


def _sweep(engine: Engine) -> None:
    """Leftovers never stop a run: a sweep that fails is said, and tried again next run."""
    try:
        dialects.for_engine(engine).sweep_leftovers(engine)
    except sa.exc.DBAPIError as error:
        log.warning("could not remove what an interrupted run left behind: %s", error)


def _take(engine: Engine, holder: str, ttl: timedelta) -> None:
    with engine.begin() as conn:
        if _take_over(conn, holder, ttl) or _take_from_dead_process(conn, holder, ttl):
            return
        conn.execute(sa.insert(ledger.lease).values(name=LEASE_NAME, **_mine(holder, ttl)))


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


def _mine(holder: str, ttl: timedelta) -> dict[str, object]:
    return {
        "holder": holder,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "expires_at": ledger.now() + ttl,
    }


def _take_over(conn: Connection, holder: str, ttl: timedelta) -> bool:
    """Renew our lease or take an expired one; False when there is none or it is alive."""
    lease = ledger.lease
    free = sa.or_(lease.c.holder == holder, lease.c.expires_at < ledger.now())
    statement = sa.update(lease).where(lease.c.name == LEASE_NAME, free).values(_mine(holder, ttl))
    return conn.execute(statement).rowcount == 1


def _take_from_dead_process(conn: Connection, holder: str, ttl: timedelta) -> bool:
    """A lease whose holder was a process on this host that no longer runs (a crash)."""
    lease = ledger.lease
    row = conn.execute(sa.select(lease).where(lease.c.name == LEASE_NAME)).one_or_none()
    if row is None or row.host != socket.gethostname() or _alive(row.pid):
        return False
    statement = (
        sa.update(lease)
        .where(lease.c.name == LEASE_NAME, lease.c.holder == row.holder)
        .values(_mine(holder, ttl))
    )
    return conn.execute(statement).rowcount == 1


def _utc_text(moment: datetime | str) -> str:
    """A stored expiry for a message: drivers return DATETIMEOFFSET aware, naive (SQLite) or,
    some, as text."""
    if not isinstance(moment, datetime):
        return str(moment)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _current(engine: Engine) -> sa.Row | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(ledger.lease).where(ledger.lease.c.name == LEASE_NAME)
        ).one_or_none()

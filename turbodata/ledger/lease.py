"""Who may write what: lease rows in the ledger, each with an expiry.

Two kinds of lease (design choice: tables are independent, so runs on different tables of one
database load together; two runs on the same table never do):

- the *database* lease (`DATABASE`, the row older versions held for a whole run) is held only
  for a moment: while the ledger tables are created (or ever migrated) and a run's start is
  recorded. Its holder also removes what killed runs left behind (`sweep_leftovers`), but only
  when no other run holds any lease at that moment;
- a *table* lease (`table_lease`) for as long as a run loads that table. It is not taken while
  another run holds the database lease, so a table lease never starts during a sweep.

A run that crashed keeps its leases only until they expire, or, on the same host, only while
its process lives, so it never blocks for ever. A table lease is renewed between batches; make
`ttl` longer than the longest batch. `acquire_waiting` waits a while for a lease before it
gives up with LeaseHeld, which names the run holding it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from turbodata import dialects
from turbodata.ledger import records as ledger
from turbodata.ledger.process import has_ended, this_host

log = logging.getLogger(__name__)

LEASE_NAME = DATABASE = "migrate"
TABLE_PREFIX = "table:"
DEFAULT_TTL = timedelta(minutes=30)
POLL_SECONDS = 0.25  # between two attempts of acquire_waiting

# Statements built once and executed with parameters (SQLAlchemy's compiled cache then serves
# them without building a statement per call): a lease is taken and given up per table.
_lease = ledger.lease
_NAME, _HOLDER, _NOW = sa.bindparam("_name"), sa.bindparam("_holder"), sa.bindparam("_now")
_live_database_lease = sa.select(_lease).where(
    _lease.c.name == DATABASE, _lease.c.holder != _HOLDER, _lease.c.expires_at >= _NOW
)
_live_leases_of_others = sa.select(_lease).where(
    _lease.c.holder != _HOLDER, _lease.c.expires_at >= _NOW
)
_named_lease = sa.select(_lease).where(_lease.c.name == _NAME)
_insert_lease = sa.insert(_lease)
_take_ours_or_expired = sa.update(_lease).where(
    _lease.c.name == _NAME, sa.or_(_lease.c.holder == _HOLDER, _lease.c.expires_at < _NOW)
)
_take_held_by = sa.update(_lease).where(_lease.c.name == _NAME, _lease.c.holder == _HOLDER)
_release_named = sa.delete(_lease).where(_lease.c.holder == _HOLDER, _lease.c.name == _NAME)
_release_all = sa.delete(_lease).where(_lease.c.holder == _HOLDER)


class LeaseHeld(Exception):
    """Another run holds the lease: it is loading this database, or this table of it."""

    def __init__(
        self, holder: str, expires_at: datetime | str | None, table: str | None = None
    ) -> None:
        until = f" until {_utc_text(expires_at)}" if expires_at else ""
        self.what = f"this database's table {table}" if table else "this database"
        super().__init__(
            f"another run ({holder}) is loading {self.what}; its lease holds{until}."
            " Try again later."
        )
        self.holder = holder
        self.table = table


def table_lease(table: str) -> str:
    """The lease name of a table (as the ledger names it); a long name is hashed to fit the
    lease column (64), so two tables never share a lease."""
    name = f"{TABLE_PREFIX}{table}"
    if len(name) <= ledger.lease.c.name.type.length:
        return name
    return f"{TABLE_PREFIX}{hashlib.sha256(table.encode()).hexdigest()[:56]}"


def acquire(
    engine: Engine,
    holder: str,
    ttl: timedelta = DEFAULT_TTL,
    is_busy: Callable[[BaseException], bool] = lambda _error: False,
    name: str = DATABASE,
    table: str | None = None,
) -> None:
    """Take the lease `name` (the database's by default), or raise LeaseHeld naming the run
    that has it. `is_busy` (the dialect's) tells a database busy with another writer from a
    real error. Once the database lease is taken, what a killed run left behind (the dialect
    knows what) is removed, when no other run holds a lease."""
    try:
        _take(engine, holder, ttl, name, table)
    except sa.exc.IntegrityError:  # inserted by a run that started at the same moment
        pass
    except sa.exc.OperationalError as error:
        if not is_busy(error):
            raise
        raise LeaseHeld("unknown: the database is busy with another writer", None) from error
    else:
        if name == DATABASE and not _others_hold_leases(engine, holder):
            _sweep(engine)
        return
    row = _current(engine, name)
    raise LeaseHeld(row.holder if row else "unknown", row.expires_at if row else None, table)


def acquire_waiting(
    engine: Engine,
    holder: str,
    wait_seconds: float,
    ttl: timedelta = DEFAULT_TTL,
    is_busy: Callable[[BaseException], bool] = lambda _error: False,
    name: str = DATABASE,
    table: str | None = None,
    database_wait: float = 0.0,
) -> None:
    """`acquire`, tried again for up to `wait_seconds` while another run holds the lease.
    A table's lease refused because another run holds the database lease (or the database
    is busy with another writer) is tried again for up to `database_wait` seconds, however
    short `wait_seconds` is: a run holds the database lease for a moment at its start, and
    runs started together must not fail each other's tables (with a wait of 0, one did, at
    random)."""
    started = time.monotonic()
    announced = False
    while True:
        try:
            acquire(engine, holder, ttl, is_busy, name, table)
            return
        except LeaseHeld as held:
            by_database_lease = name != DATABASE and held.table is None
            waited = max(wait_seconds, database_wait if by_database_lease else 0.0, 0.0)
            if time.monotonic() + POLL_SECONDS > started + waited:
                raise
            if not announced:  # a warning: a terminal shows it (text logs start at WARNING)
                log.warning(
                    "waiting up to %.0f s for another run (%s), loading %s",
                    waited,
                    held.holder,
                    held.what,
                )
                announced = True
        time.sleep(POLL_SECONDS)


def _sweep(engine: Engine) -> None:
    """Leftovers never stop a run: a sweep that fails is said, and tried again next run."""
    try:
        dialects.for_engine(engine).sweep_leftovers(engine)
    except sa.exc.DBAPIError as error:
        log.warning("could not remove what an interrupted run left behind: %s", error)


def _take(engine: Engine, holder: str, ttl: timedelta, name: str, table: str | None) -> None:
    with engine.begin() as conn:
        if name != DATABASE:
            _refuse_during_database_lease(conn, holder)
        if _take_over(conn, holder, ttl, name) or _take_from_dead_process(conn, holder, ttl, name):
            return
        conn.execute(_insert_lease, {"name": name, **_mine(holder, ttl)})


def _refuse_during_database_lease(conn: Connection, holder: str) -> None:
    """A table lease waits while another live run holds the database lease (it may be
    sweeping, or be an older turbodata that holds it for its whole run)."""
    row = conn.execute(
        _live_database_lease, {"_holder": holder, "_now": ledger.now()}
    ).one_or_none()
    if row is not None and not has_ended(row.host, row.pid):
        raise LeaseHeld(row.holder, row.expires_at)


def _others_hold_leases(engine: Engine, holder: str) -> bool:
    """Whether another run holds an unexpired lease whose process may still run."""
    with engine.connect() as conn:
        rows = conn.execute(_live_leases_of_others, {"_holder": holder, "_now": ledger.now()}).all()
    return any(not has_ended(row.host, row.pid) for row in rows)


def renew(engine: Engine, holder: str, ttl: timedelta = DEFAULT_TTL, name: str = DATABASE) -> None:
    with engine.begin() as conn:
        if not _take_over(conn, holder, ttl, name):
            raise LeaseHeld("another run took over an expired lease", None)


def release(engine: Engine, holder: str, name: str | None = DATABASE) -> None:
    """Give up the lease `name`, or, with None, every lease `holder` has."""
    with engine.begin() as conn:
        if name is None:
            conn.execute(_release_all, {"_holder": holder})
        else:
            conn.execute(_release_named, {"_holder": holder, "_name": name})


def _mine(holder: str, ttl: timedelta) -> dict[str, object]:
    return {
        "holder": holder,
        "host": this_host(),
        "pid": os.getpid(),
        "expires_at": ledger.now() + ttl,
    }


def _take_over(conn: Connection, holder: str, ttl: timedelta, name: str) -> bool:
    """Renew our lease or take an expired one; False when there is none or it is alive."""
    where = {"_name": name, "_holder": holder, "_now": ledger.now()}
    return conn.execute(_take_ours_or_expired, {**where, **_mine(holder, ttl)}).rowcount == 1


def _take_from_dead_process(conn: Connection, holder: str, ttl: timedelta, name: str) -> bool:
    """A lease whose holder was a process on this host that no longer runs (a crash)."""
    row = conn.execute(_named_lease, {"_name": name}).one_or_none()
    if row is None or not has_ended(row.host, row.pid):
        return False
    where = {"_name": name, "_holder": row.holder}
    return conn.execute(_take_held_by, {**where, **_mine(holder, ttl)}).rowcount == 1


def _utc_text(moment: datetime | str) -> str:
    """A stored expiry for a message: drivers return DATETIMEOFFSET aware, naive (SQLite) or,
    some, as text."""
    if not isinstance(moment, datetime):
        return str(moment)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _current(engine: Engine, name: str = DATABASE) -> sa.Row | None:
    with engine.connect() as conn:
        return conn.execute(_named_lease, {"_name": name}).one_or_none()

"""This process as a lease names it (`host`, `pid`), and whether the process a lease names has
ended: what lets a run take a crashed run's lease at once instead of waiting for it to expire.

A pid names one process only within one PID namespace of one boot, so `this_host` is the host
name with both: two containers that share a host name (host networking, one `--hostname`)
are two hosts here, and neither takes the other's lease as a dead process's (found by review:
a run took a live run's table lease, and both loaded the table). Where Linux does not say,
the host name alone; a lease of another host is only taken when it expires."""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from pathlib import Path

HOST_LENGTH = 255  # `ledger.records.lease.c.host`


@functools.cache
def this_host() -> str:
    parts = []
    with contextlib.suppress(OSError):
        parts.append(f"pidns {os.stat('/proc/self/ns/pid').st_ino}")
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        parts.append(f"boot {boot[:8]}")
    name = socket.gethostname()
    return (f"{name} ({', '.join(parts)})" if parts else name)[:HOST_LENGTH]


def has_ended(host: str, pid: int, *, bare_name_is_here: bool = True) -> bool:
    """The process named `host`, `pid` is known to have ended: it ran here (same host, PID
    namespace and boot) and no process has its pid. Another host's process: not known. A
    lease of an older turbodata names the host alone: judged as that version did, unless
    `bare_name_is_here` is False (a record this version wrote where /proc said nothing:
    another container of that name may be running it)."""
    here = host == this_host() or (bare_name_is_here and host == socket.gethostname())
    return here and pid != os.getpid() and not _runs(pid)


def _runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True

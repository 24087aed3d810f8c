"""A throwaway PostgreSQL cluster for the test suite.

`PostgresServer` runs `initdb` into a fresh temporary directory, starts the server with
`pg_ctl` on 127.0.0.1 (a free port, a private unix-socket directory, fsync off) with trust
authentication for the superuser `postgres`, and removes everything again on `stop()` (also
registered with atexit as a safety net).

`initdb` and `postgres` refuse to run as root. When the tests run as root (as CI does), the
cluster is owned by and run as an unprivileged system user: `postgres` (created by Debian's and
Ubuntu's packages) or, if that does not exist, a system user `turbodata-pg` created with
useradd. Commands are run through `runuser -u USER --` (or `setpriv` where runuser is missing).

The server binaries are looked up in $TURBODATA_PG_BINDIR, `pg_config --bindir`,
/usr/lib/postgresql/<newest>/bin, then PATH (resolving symlinks; /usr/local/bin may hold
wrappers). ./scripts/test installs them when missing.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

__all__ = ["PostgresNotAvailable", "PostgresServer", "find_bindir"]

SUPERUSER = "postgres"
FALLBACK_SYSTEM_USER = "turbodata-pg"
_NEEDED = ("initdb", "pg_ctl", "postgres")
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresNotAvailable(RuntimeError):
    """The server binaries are missing, or the cluster could not be started."""


def _has_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in _NEEDED)


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin: newest version first.
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None when not installed."""
    candidates: list[Path] = []
    if env_dir := os.environ.get("TURBODATA_PG_BINDIR"):
        candidates.append(Path(env_dir))
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    )
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for candidate in candidates:
        if _has_binaries(candidate):
            return candidate.resolve()
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _world_traversable(path: Path) -> bool:
    """Whether every directory from / down to `path` can be entered by any user."""
    for part in (path, *path.parents):
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _ensure_system_user() -> str:
    """Name of an unprivileged user to own and run the cluster when we are root."""
    for name in (SUPERUSER, FALLBACK_SYSTEM_USER):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    useradd = shutil.which("useradd")
    if useradd is None:
        raise PostgresNotAvailable(
            "running as root, but there is neither a 'postgres' user nor useradd to create "
            f"'{FALLBACK_SYSTEM_USER}'; initdb refuses to run as root"
        )
    subprocess.run(
        [
            useradd,
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_SYSTEM_USER,
        ],
        check=True,
        capture_output=True,
    )
    return FALLBACK_SYSTEM_USER


class PostgresServer:
    """One throwaway PostgreSQL cluster. Use `start()`/`stop()` or a `with` block."""

    def __init__(self, bindir: Path | None = None, *, start_timeout: float = 60.0) -> None:
        self.bindir = bindir
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.user = SUPERUSER
        self.os_user: str | None = None  # the unprivileged user running it when we are root
        self._tmp: Path | None = None
        self._running = False
        self._prefix: list[str] = []

    # -- paths -------------------------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("server not started")
        return self._tmp

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        if self._running:
            return self
        bindir = self.bindir or find_bindir()
        if bindir is None:
            raise PostgresNotAvailable(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in "
                "$TURBODATA_PG_BINDIR, `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH. "
                "Run ./scripts/test, which installs them (apt-get install postgresql)."
            )
        self.bindir = bindir
        atexit.register(self.stop)
        try:
            self._make_dirs()
            self._initdb()
            self._start_server()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory. Safe to call twice."""
        if self._tmp is None:
            return
        if self._running or (self.data_dir / "postmaster.pid").exists():
            result = self._pg_ctl("stop", "-m", "fast", "-w", "-t", "30", check=False)
            if result.returncode != 0:
                self._kill_postmaster()
        self._running = False
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- use ---------------------------------------------------------------------------------

    def url(self, dbname: str = "postgres", *, driver: str = "postgresql+psycopg") -> str:
        """SQLAlchemy URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5433/test_1."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def conninfo(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname=postgres"

    def connect(self, dbname: str = "postgres", *, autocommit: bool = True) -> psycopg.Connection:
        """A psycopg connection as the superuser (autocommit by default, for admin statements)."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=dbname,
            autocommit=autocommit,
            connect_timeout=10,
        )

    def create_database(self, name: str) -> None:
        _check_db_name(name)
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop the database, disconnecting anything still connected to it."""
        _check_db_name(name)
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- internals ---------------------------------------------------------------------------

    def _make_dirs(self) -> None:
        as_root = os.geteuid() == 0
        parent = Path(tempfile.gettempdir())
        if as_root and not _world_traversable(parent):
            parent = Path("/tmp")
        self._tmp = Path(tempfile.mkdtemp(prefix="turbodata-pg-", dir=parent))
        self.socket_dir.mkdir()
        if as_root:
            self.os_user = _ensure_system_user()
            entry = pwd.getpwnam(self.os_user)
            for path in (self._tmp, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self._prefix = self._switch_user_prefix(self.os_user)

    @staticmethod
    def _switch_user_prefix(user: str) -> list[str]:
        if runuser := shutil.which("runuser"):
            return [runuser, "-u", user, "--"]
        if setpriv := shutil.which("setpriv"):
            entry = pwd.getpwnam(user)
            return [
                setpriv,
                f"--reuid={entry.pw_uid}",
                f"--regid={entry.pw_gid}",
                "--init-groups",
                "--",
            ]
        raise PostgresNotAvailable(
            f"running as root without runuser or setpriv to run the server as '{user}'"
        )

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        env["LANG"] = "C"
        if self.os_user is not None:
            env["HOME"] = str(self.base_dir)
        return env

    def _run(
        self, args: Sequence[str], *, check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [*self._prefix, *args]
        result = subprocess.run(
            cmd,
            cwd=self.base_dir,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=timeout or self.start_timeout + 30,
            check=False,
        )
        if check and result.returncode != 0:
            raise PostgresNotAvailable(
                f"command failed ({result.returncode}): {shlex.join(cmd)}\n"
                f"{result.stdout}{result.stderr}\nserver log:\n{self.log_tail()}"
            )
        return result

    def _bin(self, name: str) -> str:
        assert self.bindir is not None
        return str(self.bindir / name)

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), *args], check=check)

    def _initdb(self) -> None:
        self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )

    def _start_server(self) -> None:
        last_error: PostgresNotAvailable | None = None
        for _attempt in range(3):  # the free port can be taken between probing and binding
            self.port = _free_port()
            options = [
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-k",
                str(self.socket_dir),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=100",
            ]
            try:
                self._pg_ctl(
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(int(self.start_timeout)),
                    "-o",
                    shlex.join(options),
                    "start",
                )
            except PostgresNotAvailable as exc:
                last_error = exc
                self._pg_ctl("stop", "-m", "immediate", "-w", check=False)
                continue
            self._running = True
            return
        assert last_error is not None
        raise last_error

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with self.connect() as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresNotAvailable(
                        f"server on port {self.port} did not accept connections: {exc}\n"
                        f"server log:\n{self.log_tail()}"
                    ) from exc
                time.sleep(0.1)

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)
            for _ in range(50):
                time.sleep(0.1)
                os.kill(pid, 0)  # raises once the process is gone
            os.kill(pid, signal.SIGKILL)


def _check_db_name(name: str) -> None:
    if not _DB_NAME.fullmatch(name):
        raise ValueError(f"unexpected database name {name!r}")

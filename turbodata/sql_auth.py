"""SQL Server / Azure SQL without a password: Entra access tokens handed to pyodbc.

Microsoft's ODBC driver accepts a token through the pre-connect attribute
`SQL_COPT_SS_ACCESS_TOKEN` (1256): the token's UTF-16-LE bytes prefixed by their length as a
4-byte little-endian integer. A SQLAlchemy `do_connect` listener puts a fresh token there for
every new DBAPI connection and removes anything that would make the driver try another
authentication (UID, PWD, Trusted_Connection, Authentication). Tokens are cached and fetched
again `refresh_margin` seconds before they expire; a pooled connection keeps the session it
opened with, so only new connections need a valid token.

The token comes from the app's credential (`DefaultAzureCredential`: managed identity in
Azure, `az login` locally) for the scope `https://database.windows.net/.default`.
Not tested against a real SQL Server (none can run where this was written): the packing, the
refresh and the connect arguments are tested with a fake credential and a fake `pyodbc.connect`.
"""

from __future__ import annotations

import re
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

SQL_COPT_SS_ACCESS_TOKEN = 1256
SQL_SCOPE = "https://database.windows.net/.default"
DEFAULT_DRIVER = "ODBC Driver 18 for SQL Server"
REFRESH_MARGIN_SECONDS = 300.0

# connection-string keywords that select another kind of authentication
_CONFLICTING = re.compile(
    r"(?i)(?:^|;)\s*(?:uid|user id|user|pwd|password|trusted_connection|authentication)\s*="
    r"\s*(?:\{(?:[^}]|\}\})*\}|[^;]*)"
)


def token_struct(token: str) -> bytes:
    """The bytes pyodbc passes for SQL_COPT_SS_ACCESS_TOKEN."""
    raw = token.encode("utf-16-le")
    return struct.pack("<I", len(raw)) + raw


class TokenCache:
    """An access token for one scope, fetched again shortly before it expires. Thread-safe."""

    def __init__(
        self,
        credential: Any,
        scope: str = SQL_SCOPE,
        *,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_on - self._margin:
                access = self._credential.get_token(self._scope)
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token


def strip_credentials(connection_string: str) -> str:
    """An ODBC connection string without user, password or authentication-mode keywords."""
    stripped = _CONFLICTING.sub("", connection_string).strip().strip(";")
    return re.sub(r";{2,}", ";", stripped)


def odbc_connection_string(server: str, database: str, driver: str = DEFAULT_DRIVER) -> str:
    """Driver, server and database for an encrypted Azure SQL connection (no credentials)."""
    host = server if server.startswith("tcp:") or "," in server else f"tcp:{server},1433"
    return (
        f"Driver={{{driver}}};Server={host};Database={{{database}}};"
        "Encrypt=yes;TrustServerCertificate=no;Connection Timeout=30"
    )


def install_token_auth(engine: Engine, tokens: TokenCache) -> None:
    """Give every new DBAPI connection of `engine` a current token and no password."""

    @event.listens_for(engine, "do_connect")
    def _provide_token(
        dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]
    ) -> None:
        if cargs and isinstance(cargs[0], str):
            cargs[0] = strip_credentials(cargs[0])
        for key in list(cparams):
            if key.lower() in {"uid", "user", "pwd", "password", "trusted_connection"}:
                del cparams[key]
        attrs = dict(cparams.get("attrs_before") or {})
        attrs[SQL_COPT_SS_ACCESS_TOKEN] = token_struct(tokens.token())
        cparams["attrs_before"] = attrs


def create_token_engine(
    server: str,
    database: str,
    credential: Any,
    *,
    driver: str = DEFAULT_DRIVER,
    tokens: TokenCache | None = None,
    **engine_options: Any,
) -> Engine:
    """A `mssql+pyodbc` engine that signs in with Entra tokens from `credential`.

    `tokens` replaces the default cache (tests give it a controllable clock).
    """
    url = URL.create(
        "mssql+pyodbc",
        query={"odbc_connect": odbc_connection_string(server, database, driver)},
    )
    engine = sqlalchemy.create_engine(url, pool_pre_ping=True, **engine_options)
    install_token_auth(engine, tokens or TokenCache(credential))
    return engine

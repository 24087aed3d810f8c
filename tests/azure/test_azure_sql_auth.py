"""Entra token auth for SQL Server, without a SQL Server: packing, refresh, connect arguments.

No SQL Server can run here, so nothing in this file proves a server accepts the token; it
proves what pyodbc is handed. The engines get a stand-in DBAPI module (SQLAlchemy's `module=`)
whose `connect` records its arguments, so the unixODBC runtime is not needed either.
"""

from __future__ import annotations

import struct
import time
from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from turbodata import sql_auth
from turbodata.sql_auth import SQL_COPT_SS_ACCESS_TOKEN, TokenCache, create_token_engine


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedCredential:
    """Issues token-1, token-2, ... each valid for `lifetime` seconds from the clock's now.

    With the default `Clock()` the tokens expire in 1970 for a cache on the real clock; tests
    that use the default cache build it with `Clock(time.time())`.
    """

    def __init__(self, clock: Clock, lifetime: float = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"token-{len(self.scopes)}", int(self.clock() + self.lifetime))


def test_token_struct_is_length_prefixed_utf16le() -> None:
    packed = sql_auth.token_struct("eyJ0ü")
    (length,) = struct.unpack("<I", packed[:4])
    assert length == len(packed) - 4 == 10
    assert packed[4:].decode("utf-16-le") == "eyJ0ü"
    assert packed[4:6] == b"e\x00"


def test_token_is_cached_until_shortly_before_expiry() -> None:
    clock = Clock()
    credential = ScriptedCredential(clock, lifetime=3600)
    cache = TokenCache(credential, refresh_margin=300, clock=clock)
    assert cache.token() == "token-1"
    clock.now += 3299  # 301 s left: still good
    assert cache.token() == "token-1"
    clock.now += 1  # 300 s left: inside the margin, refreshed
    assert cache.token() == "token-2"
    assert cache.token() == "token-2"
    assert credential.scopes == [("https://database.windows.net/.default",)] * 2


def test_expired_token_is_replaced() -> None:
    clock = Clock()
    credential = ScriptedCredential(clock, lifetime=60)  # shorter than the margin
    cache = TokenCache(credential, refresh_margin=300, clock=clock)
    assert cache.token() == "token-1"
    assert cache.token() == "token-2"  # never served once it is inside the margin


def test_strip_credentials_removes_every_other_authentication() -> None:
    cs = (
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:s,1433;UID=me;PWD={p;w}}x};"
        "Trusted_Connection=Yes;Authentication=ActiveDirectoryPassword;Database=d"
    )
    assert sql_auth.strip_credentials(cs) == (
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:s,1433;Database=d"
    )


class ConnectCalled(Exception):
    pass


Calls = list[tuple[tuple[Any, ...], dict[str, Any]]]


@pytest.fixture
def fake_pyodbc() -> SimpleNamespace:
    calls: Calls = []

    def connect(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        raise ConnectCalled

    return SimpleNamespace(
        connect=connect,
        calls=calls,
        paramstyle="qmark",
        version="5.5.0",
        Error=type("Error", (Exception,), {}),
        Cursor=type("Cursor", (), {"nextset": None}),
    )


def test_engine_hands_pyodbc_the_token_and_no_password(fake_pyodbc: SimpleNamespace) -> None:
    clock = Clock(time.time())
    credential = ScriptedCredential(clock)
    engine = create_token_engine(
        "myserver.database.windows.net", "dw", credential, module=fake_pyodbc
    )  # the default cache, on the real clock
    with pytest.raises(ConnectCalled):
        engine.connect()
    ((args, kwargs),) = fake_pyodbc.calls
    connection_string = args[0]
    assert "Server=tcp:myserver.database.windows.net,1433" in connection_string
    assert "Database={dw}" in connection_string
    for keyword in ("UID=", "PWD=", "Trusted_Connection", "Authentication="):
        assert keyword.lower() not in connection_string.lower()
    assert kwargs["attrs_before"] == {SQL_COPT_SS_ACCESS_TOKEN: sql_auth.token_struct("token-1")}


def test_event_strips_uid_pwd_from_a_url_configured_engine(fake_pyodbc: SimpleNamespace) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        "mssql+pyodbc://someone:NotUsedAtAll@srv/db?driver=ODBC+Driver+18+for+SQL+Server",
        module=fake_pyodbc,
    )
    sql_auth.install_token_auth(engine, TokenCache(ScriptedCredential(Clock())))
    with pytest.raises(ConnectCalled):
        engine.connect()
    ((args, kwargs),) = fake_pyodbc.calls
    assert "NotUsedAtAll" not in args[0]
    assert "someone" not in args[0]
    assert "Trusted_Connection" not in args[0]
    assert set(kwargs["attrs_before"]) == {SQL_COPT_SS_ACCESS_TOKEN}


def test_each_new_connection_gets_the_current_token(fake_pyodbc: SimpleNamespace) -> None:
    clock = Clock()
    credential = ScriptedCredential(clock, lifetime=3600)
    tokens = TokenCache(credential, clock=clock)
    engine = create_token_engine("srv", "db", credential, tokens=tokens, module=fake_pyodbc)
    for _ in range(2):
        with pytest.raises(ConnectCalled):
            engine.connect()
    clock.now += 3500
    with pytest.raises(ConnectCalled):
        engine.connect()
    tokens = [kw["attrs_before"][SQL_COPT_SS_ACCESS_TOKEN] for _, kw in fake_pyodbc.calls]
    assert tokens == [sql_auth.token_struct(t) for t in ("token-1", "token-1", "token-2")]

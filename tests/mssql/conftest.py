"""The live SQL Server suite: runs only against a server given by URL.

    TURBODATA_MSSQL_URL='mssql://user:password@host:1433/database' ./scripts/test-mssql
    ./scripts/test-mssql 'mssql+pytds://user:password@host:1433/database'

A URL without a driver (`mssql://`) is run through every driver installed here: mssql-python,
pytds, and pyodbc (Microsoft's ODBC Driver 18 when installed, else FreeTDS). Several URLs may
be given, separated by spaces. Without a URL nothing here is collected: the main suite neither
runs nor lists these tests. Each test works in a schema of its own, dropped afterwards; the
ledger tables are shared in the database's default schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.servers.mssql_urls import driver_urls

URLS = [u for text in os.environ.get("TURBODATA_MSSQL_URL", "").split() for u in driver_urls(text)]

if not URLS:
    collect_ignore_glob = ["test_*.py"]


def _label(url: str) -> str:
    return sa.engine.make_url(url).get_driver_name()


@pytest.fixture(params=URLS, ids=_label, scope="session")
def mssql_url(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def babelfish(mssql_url: str) -> bool:
    """Babelfish for PostgreSQL rather than SQL Server (its differences are named where a
    test meets them)."""
    from turbodata.dialects.mssql import is_babelfish
    from turbodata.pipeline import connect

    engine = connect(mssql_url)[0]  # set up as turbodata's (a bare engine's ROLLBACK fails)
    try:
        with engine.connect() as conn:
            return is_babelfish(conn)
    finally:
        engine.dispose()


@pytest.fixture()
def engine(mssql_url: str) -> Iterator[sa.Engine]:
    from turbodata.pipeline import connect

    engine, _ = connect(mssql_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def schema(engine: sa.Engine) -> Iterator[str]:
    """A schema of the test's own; its tables and the schema are dropped afterwards. A lease
    left by an earlier test that failed is removed first, so one failure does not block
    every later test."""
    from turbodata.ledger import records as ledger

    name = f"td_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        ledger.ensure(conn)
        conn.execute(sa.delete(ledger.lease))
        conn.exec_driver_sql(f"CREATE SCHEMA [{name}]")
    yield name
    drop_schema(engine, name)


def drop_schema(engine: sa.Engine, name: str) -> None:
    with engine.begin() as conn:
        tables = sa.inspect(conn).get_table_names(schema=name)
        for table in tables:
            conn.exec_driver_sql(f"DROP TABLE [{name}].[{table}]")
        conn.exec_driver_sql(f"DROP SCHEMA [{name}]")

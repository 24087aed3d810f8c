"""The throwaway PostgreSQL server really runs, and each test gets its own fresh database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from servers.postgres import PostgresServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def test_server_runs_and_reports_its_version(postgres_server: PostgresServer) -> None:
    with postgres_server.connect() as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
        listen = conn.execute("SHOW listen_addresses").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
    assert version is not None and int(version[0]) >= 120000
    assert listen == ("127.0.0.1",)
    assert fsync == ("off",)
    assert postgres_server.data_dir.is_dir()
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to an unprivileged user
        assert postgres_server.os_user is not None
        assert postgres_server.data_dir.stat().st_uid != 0


def test_postgres_url_is_a_fresh_database_for_writes_and_reads(postgres_url: str) -> None:
    url = make_url(postgres_url)
    assert url.drivername == "postgresql+psycopg"
    assert url.username == "postgres"
    assert url.host == "127.0.0.1"
    assert url.database is not None and url.database.startswith("test_")

    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            tables = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
            assert tables == 0
            conn.execute(text("CREATE TABLE probe (id integer PRIMARY KEY, label text)"))
            conn.execute(text("INSERT INTO probe VALUES (1, 'città, \"quoted\" 🚀')"))
        with engine.connect() as conn:
            label = conn.execute(text("SELECT label FROM probe WHERE id = 1")).scalar_one()
            db_name = conn.execute(text("SELECT current_database()")).scalar_one()
        assert label == 'città, "quoted" 🚀'
        assert db_name == url.database
    finally:
        engine.dispose()


def test_databases_are_isolated(
    postgres_server: PostgresServer, postgres_url: str, request: pytest.FixtureRequest
) -> None:
    first = make_url(postgres_url).database
    assert first is not None
    with postgres_server.connect(first) as conn:
        conn.execute("CREATE TABLE only_in_first (x int)")
    second = f"{first}_second"
    postgres_server.create_database(second)
    request.addfinalizer(lambda: postgres_server.drop_database(second))
    with postgres_server.connect(second) as conn:
        found = conn.execute("SELECT to_regclass('only_in_first')").fetchone()
    assert found == (None,)


_seen_databases: list[str] = []


@pytest.mark.parametrize("round_", [1, 2])
def test_databases_are_not_reused_between_tests(postgres_url: str, round_: int) -> None:
    name = make_url(postgres_url).database
    assert name not in _seen_databases
    _seen_databases.append(name or "")
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            # Would fail in round 2 if the database of round 1 had been handed out again.
            conn.execute(text("CREATE TABLE marker (x int)"))
    finally:
        engine.dispose()


def test_sqlite_url_points_into_tmp_path(sqlite_url: str, tmp_path: Path) -> None:
    assert sqlite_url == f"sqlite:///{tmp_path / 'target.sqlite'}"


def test_db_url_is_parametrized_over_both_backends(
    db_url: str, request: pytest.FixtureRequest
) -> None:
    backend = request.node.callspec.params["db_url"]
    assert make_url(db_url).get_backend_name() == backend
    assert (request.node.get_closest_marker("postgres") is not None) == (backend == "postgresql")
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x integer)"))
            conn.execute(text("INSERT INTO t VALUES (42)"))
            assert conn.execute(text("SELECT x FROM t")).scalar_one() == 42
    finally:
        engine.dispose()


def test_server_stops_and_cleans_up() -> None:
    server = PostgresServer()
    with server:
        base = server.base_dir
        with server.connect() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not base.exists()
    server.stop()  # idempotent

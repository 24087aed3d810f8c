"""Shared fixtures: repository paths, target databases (SQLite, a real PostgreSQL), sample lake.

Database fixtures, all function scoped unless noted:
- `sqlite_url`: `sqlite:///<tmp_path>/target.sqlite` (the file does not exist yet).
- `postgres_url`: a fresh, empty database `test_<n>` on the session's PostgreSQL server as a
  SQLAlchemy URL `postgresql+psycopg://postgres@127.0.0.1:<port>/test_<n>`; dropped afterwards
  (open connections are terminated, so a leaked engine does not break the drop).
- `db_url`: parametrized with ids `sqlite` and `postgresql`; one of the two above. Use it for
  integration tests that must pass on both.
- `postgres_server` (session): the running `servers.postgres.PostgresServer`. Started lazily
  the first time a test needs it; never skipped: missing binaries fail the test with a hint.

Tests that use PostgreSQL get the `postgres` marker automatically (`-m "not postgres"`).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

_TESTS_DIR = Path(__file__).resolve().parent
if str(_TESTS_DIR) not in sys.path:  # `servers` lives next to this file
    sys.path.insert(0, str(_TESTS_DIR))

from servers.postgres import PostgresNotAvailable, PostgresServer  # noqa: E402

REPO_ROOT = _TESTS_DIR.parent
_POSTGRES_FIXTURES = frozenset({"postgres_server", "postgres_url"})
_db_numbers = itertools.count(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        uses_pg = bool(fixtures & _POSTGRES_FIXTURES) or (
            callspec is not None and callspec.params.get("db_url") == "postgresql"
        )
        if uses_pg:
            item.add_marker(pytest.mark.postgres)


# -- paths -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "real"
VENDORED_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "real"  # a copy, for clones without it


@pytest.fixture(scope="session")
def fixtures_root() -> Path:
    """$TURBODATA_FIXTURES, else shared/fixtures/real beside the repository, else the copy in
    tests/fixtures/real (test_vendored_fixtures checks the copy still matches)."""
    configured = os.environ.get("TURBODATA_FIXTURES")
    candidates = [Path(configured)] if configured else [SHARED_FIXTURES, VENDORED_FIXTURES]
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    pytest.fail(f"fixture corpus not found at {candidates[0]}", pytrace=False)


# -- the sample lake -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def make_lake() -> ModuleType:
    """examples/make_lake.py as a module (expected_rows(), folder names, schemas)."""
    return load_make_lake()


@pytest.fixture(scope="session")
def example_lake(repo_root: Path) -> Path:
    """The committed sample lake, examples/lake (read-only: copy it before changing it)."""
    return repo_root / "examples" / "lake"


@pytest.fixture()
def example_lake_expected(make_lake: ModuleType) -> dict[str, list[dict[str, object]]]:
    """make_lake.expected_rows(): every row written to the completed folders, as values."""
    return make_lake.expected_rows()


def load_make_lake() -> ModuleType:
    name = "make_lake"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "examples" / "make_lake.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# -- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
    except PostgresNotAvailable as exc:
        pytest.fail(
            f"could not start the test PostgreSQL server: {exc}\n"
            "Run the tests through ./scripts/test, which installs PostgreSQL when missing.",
            pytrace=False,
        )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"test_{next(_db_numbers)}"
    postgres_server.create_database(name)
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'target.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(fixture)

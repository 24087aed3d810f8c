"""One module per target database; `for_engine` picks the one for a SQLAlchemy engine."""

from __future__ import annotations

from sqlalchemy.engine import Connection, Engine

from turbodata.dialects.base import Dialect
from turbodata.dialects.mssql import MSSQLDialect
from turbodata.dialects.postgresql import PostgreSQLDialect
from turbodata.dialects.sqlite import SQLiteDialect

DIALECTS: dict[str, type[Dialect]] = {
    d.name: d for d in (SQLiteDialect, PostgreSQLDialect, MSSQLDialect)
}


def for_name(name: str) -> Dialect:
    try:
        return DIALECTS[name]()
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise ValueError(f"unsupported database {name!r}; supported: {known}") from None


def for_engine(engine: Engine | Connection) -> Dialect:
    return for_name(engine.dialect.name)

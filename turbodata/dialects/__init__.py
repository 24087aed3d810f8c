"""One module per target database; `for_engine` picks the one for a SQLAlchemy engine and
imports only that one (a run into SQLite never loads the PostgreSQL or SQL Server modules)."""

from __future__ import annotations

import importlib

from sqlalchemy.engine import Connection, Engine

from turbodata.dialects.base import Dialect

# SQLAlchemy's name of a database → the module and class of its dialect
DIALECTS: dict[str, str] = {
    "sqlite": "turbodata.dialects.sqlite:SQLiteDialect",
    "postgresql": "turbodata.dialects.postgresql:PostgreSQLDialect",
    "mssql": "turbodata.dialects.mssql:MSSQLDialect",
}


def for_name(name: str) -> Dialect:
    try:
        module, _, class_name = DIALECTS[name].partition(":")
    except KeyError:
        known = ", ".join(sorted(DIALECTS))
        raise ValueError(f"unsupported database {name!r}; supported: {known}") from None
    dialect_class: type[Dialect] = getattr(importlib.import_module(module), class_name)
    return dialect_class()


def for_engine(engine: Engine | Connection) -> Dialect:
    return for_name(engine.dialect.name)

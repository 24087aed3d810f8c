"""A SQLAlchemy engine from a database URL, with an error that says what is wrong with the URL
(a mistyped scheme, no driver, not a URL), whether the URL came from `--db` or the settings."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from turbodata.secrets import mask_secrets

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# what `--db` usually starts with, for suggestions when a scheme is mistyped
KNOWN_SCHEMES = (
    "sqlite",
    "postgresql",
    "postgresql+psycopg",
    "mssql",
    "mssql+mssqlpython",
    "mssql+pyodbc",
    "mssql+pytds",
)


class DatabaseUrlError(ValueError):
    """A database URL that SQLAlchemy cannot use (unknown scheme, malformed); says why."""


def create_engine(url: str, **options: Any) -> Engine:
    """`sqlalchemy.create_engine(url)`, its URL errors as `DatabaseUrlError` (URL masked)."""
    import sqlalchemy as sa

    from turbodata import dialects

    try:
        return sa.create_engine(url, **options)
    except sa.exc.NoSuchModuleError:
        scheme = url.partition("://")[0]
        close = difflib.get_close_matches(scheme.lower(), KNOWN_SCHEMES, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}://?" if close else "use " + ", ".join(KNOWN_SCHEMES)
        raise DatabaseUrlError(f"unknown database URL scheme {scheme!r}: {hint}") from None
    except ImportError as missing:  # a database turbodata has no driver (or dialect) for
        supported = ", ".join(sorted(dialects.DIALECTS))
        raise DatabaseUrlError(
            f"cannot use {url.partition('://')[0]!r} URLs: {missing};"
            f" turbodata loads into {supported}"
        ) from None
    except sa.exc.ArgumentError:
        raise DatabaseUrlError(
            f"not a database URL: {mask_secrets(url)!r} (e.g. sqlite:///out.sqlite,"
            " postgresql+psycopg://user@host/db)"
        ) from None

"""An error as one line, for summaries, logs and problems."""

from __future__ import annotations

import sys


def first_line(error: BaseException) -> str:
    """The error's first line, or its type's name when it has no text."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def one_line(error: BaseException | None) -> str:
    """One line for the summary: the database's own message when there is one.

    SQLAlchemy is looked up, not imported: an error can only be one of its DBAPIErrors once it
    is loaded, and what prints a summary (`--version`, `--help`) loads no SQLAlchemy."""
    sqlalchemy = sys.modules.get("sqlalchemy")
    if sqlalchemy is not None and isinstance(error, sqlalchemy.exc.DBAPIError) and error.orig:
        return first_line(error.orig)
    return first_line(error) if error is not None else "None"

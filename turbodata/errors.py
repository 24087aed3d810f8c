"""An error as one line, for summaries, logs and problems."""

from __future__ import annotations

import sys


def first_line(error: BaseException) -> str:
    """The error's first line; without text, its type's name and the first line of the
    error it came from (a driver's bare `TimeoutError` from a refused connection)."""
    text = str(error).strip()
    if text:
        return text.splitlines()[0]
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if cause is None or cause is error:
        return type(error).__name__
    said, name = first_line(cause), type(cause).__name__
    return f"{type(error).__name__} ({said if said.startswith(name) else f'{name}: {said}'})"


def one_line(error: BaseException | None) -> str:
    """One line for the summary: the database's own message when there is one.

    SQLAlchemy is looked up, not imported: an error can only be one of its DBAPIErrors once it
    is loaded, and what prints a summary (`--version`, `--help`) loads no SQLAlchemy."""
    sqlalchemy = sys.modules.get("sqlalchemy")
    if sqlalchemy is not None and isinstance(error, sqlalchemy.exc.DBAPIError) and error.orig:
        return first_line(error.orig)
    return first_line(error) if error is not None else "None"

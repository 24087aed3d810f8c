"""An error as one line: the database's own message when there is one, never a second error."""

from __future__ import annotations

import sqlalchemy as sa

from turbodata.errors import first_line, one_line


def test_a_database_error_says_the_drivers_first_line() -> None:
    error = sa.exc.OperationalError("SELECT 1", {}, Exception("deadlock found\nmore detail"))
    assert one_line(error) == "deadlock found"


def test_a_database_error_without_a_message_names_the_drivers_error() -> None:
    class DriverError(Exception):
        pass

    assert one_line(sa.exc.OperationalError("SELECT 1", {}, DriverError("  "))) == "DriverError"


def test_other_errors_say_their_first_line_or_their_type() -> None:
    assert one_line(ValueError("bad value\nat row 3")) == "bad value"
    assert first_line(KeyError()) == "KeyError"
    assert one_line(None) == "None"

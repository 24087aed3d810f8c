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


def test_an_error_without_text_says_the_error_it_came_from() -> None:
    """pytds raises a bare TimeoutError from a refused connection: the line said only
    `TimeoutError`, the cause showing with -v alone (found by review)."""

    def raised(raise_it: object) -> BaseException:
        try:
            raise_it()  # type: ignore[operator]
        except BaseException as error:
            return error
        raise AssertionError("nothing raised")

    def refused() -> None:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as error:
            raise TimeoutError from error

    def bare_in_bare() -> None:
        try:
            raise KeyError
        except KeyError:
            raise TimeoutError  # noqa: B904 - the context is what the test looks at

    def suppressed() -> None:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError:
            raise TimeoutError from None

    assert first_line(raised(refused)) == (
        "TimeoutError (ConnectionRefusedError: [Errno 111] Connection refused)"
    )
    assert first_line(raised(bare_in_bare)) == "TimeoutError (KeyError)"
    assert first_line(raised(suppressed)) == "TimeoutError"
    assert one_line(raised(refused)).startswith("TimeoutError (ConnectionRefusedError")

"""SQL Server's driver seam without a server: the driver chosen from the URL, how each one is
given its rows, the check of what a bulk copy landed, errors that name the failed statement,
and datetimes that do not depend on a driver's tzinfo handling.

The live counterpart, against a real T-SQL server, is tests/mssql/ (./scripts/test-mssql URL).
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pyarrow as pa
import pytest
import sqlalchemy as sa

from turbodata.dialects import for_name
from turbodata.dialects import mssql as mssql_module
from turbodata.dialects.mssql_drivers import (
    MssqlPythonDriver,
    PyodbcDriver,
    PytdsDriver,
    error_number,
    for_driver_name,
)
from turbodata.load.schema import table_object
from turbodata.types.sql import Kind, SqlType, arrow_type, string_type

DECIMAL_38_10 = SqlType(Kind.DECIMAL, precision=38, scale=10)
TYPES = {
    "Id": SqlType(Kind.GUID),
    "amount": DECIMAL_38_10,
    "modifiedon": SqlType(Kind.DATETIME),
    "flag": SqlType(Kind.BOOLEAN),
    "title": string_type(None),
}
ROW = (
    "6f1b1c2e-0000-4000-8000-000000000001",
    Decimal("-1234567890123456789012345678.0000000001"),
    "2022-06-13 17:29:39.7677699",
    True,
    "x" * 5000 + "\U0001f600",
)


def a_batch(rows: int = 3) -> pa.RecordBatch:
    arrays = [
        pa.array([value] * rows, arrow_type(sql_type))
        for value, sql_type in zip(ROW, TYPES.values(), strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=list(TYPES))


def test_the_driver_class_comes_from_the_urls_driver_name() -> None:
    assert isinstance(for_driver_name("mssqlpython"), MssqlPythonDriver)
    assert isinstance(for_driver_name("pyodbc"), PyodbcDriver)
    assert isinstance(for_driver_name("pytds"), PytdsDriver)
    for url, driver in [
        ("mssql+mssqlpython://h/db", "mssqlpython"),
        ("mssql+pyodbc://h/db", "pyodbc"),
        ("mssql+pytds://h/db", "pytds"),
    ]:
        engine = sa.create_mock_engine(url, executor=None)
        assert engine.dialect.driver == driver


@pytest.mark.parametrize(
    ("driver", "placeholder"), [("pyodbc", "?"), ("mssqlpython", "?"), ("pytds", "%s")]
)
def test_insert_parameters_are_spelled_in_the_drivers_own_style(
    driver: str, placeholder: str
) -> None:
    dialect = for_name("mssql")
    table = table_object(dialect, "account", TYPES, "dbo")
    cursor = RecordingCursor()
    conn = fake_connection(driver, cursor)
    dialect._bulk_distrusted.add(driver)  # the INSERT path, whatever the driver has

    assert dialect.insert_batch(conn, table, a_batch(), list(TYPES.values())) == 3

    [(sql, rows)] = cursor.calls
    p = placeholder
    assert sql == (
        "INSERT INTO [dbo].[account] ([Id], [amount], [modifiedon], [flag], [title]) VALUES"
        f" (CAST({p} AS UNIQUEIDENTIFIER), CAST({p} AS DECIMAL(38, 10)),"
        f" CAST({p} AS DATETIME2(7)), {p}, {p})"
    )  # text the server converts: exact, and no implicit conversion relied upon
    assert len(rows) == 3


@pytest.mark.parametrize("driver", ["mssqlpython", "pyodbc"])
def test_odbc_drivers_are_told_every_text_parameter_is_nvarchar(driver: str) -> None:
    """mssql-python's executemany types a column from a sample: an ASCII first value made the
    column VARCHAR and non-Latin text in later rows arrived as '?'."""
    import mssql_python

    dialect = for_name("mssql")
    table = table_object(dialect, "account", TYPES, "dbo")
    cursor = RecordingCursor()
    dialect._bulk_distrusted.add(driver)
    dialect.insert_batch(fake_connection(driver, cursor), table, a_batch(), list(TYPES.values()))
    assert cursor.input_sizes == [
        (mssql_python.SQL_WVARCHAR, 36, 0),
        (mssql_python.SQL_WVARCHAR, 40, 0),  # the decimal, as exact text
        (mssql_python.SQL_WVARCHAR, 27, 0),
        (mssql_python.SQL_BIT, 1, 0),
        (mssql_python.SQL_WLONGVARCHAR, 5002, 0),  # the non-BMP character counts twice
    ]


@pytest.mark.parametrize("own_session", [False, True], ids=["own connection", "own session"])
def test_a_failed_bulk_copy_falls_back_to_insert_only_on_a_session_of_its_own(
    own_session: bool,
) -> None:
    """On the load's own connection the error may have rolled back the batch's transaction
    (XACT_ABORT): INSERTs after it would commit without the earlier files' rows."""
    from types import SimpleNamespace

    from turbodata.dialects.mssql import _Landing
    from turbodata.dialects.mssql_drivers import Driver

    class Failing(Driver):
        def bulk_copy(self, *args: object) -> int:
            raise RuntimeError("bulk load failed on the server")

    connection = SimpleNamespace(connection=SimpleNamespace(driver_connection=object()))
    session = connection if own_session else None
    landing = _Landing("#land", ["a"], [string_type(5)], session)  # type: ignore[arg-type]
    batch = pa.RecordBatch.from_pydict({"a": ["x"]})
    land = functools.partial(
        for_name("mssql")._land_and_move, connection, Failing(), landing, None, batch
    )

    if own_session:
        assert land([string_type(5)]) == "bulk copy failed: bulk load failed on the server"
    else:
        with pytest.raises(RuntimeError, match="bulk load failed"):
            land([string_type(5)])


def test_text_of_exactly_4000_utf16_units_is_bound_as_long_text() -> None:
    """Bound as SQL_WVARCHAR of 4,000, FreeTDS failed the INSERT ("Invalid string or buffer
    length (0)") on every run."""
    import mssql_python

    from turbodata.dialects.mssql_drivers import odbc_input_sizes

    long_text = mssql_python.SQL_WLONGVARCHAR
    sizes = [
        odbc_input_sizes([(text,)], [string_type(None)], long_text=long_text)[0][:2]
        for text in ("x" * 3999, "x" * 4000, "\U0001f600" * 2000)
    ]
    assert sizes == [(mssql_python.SQL_WVARCHAR, 3999), (long_text, 4000), (long_text, 4000)]


def test_text_holding_a_nul_character_is_bound_as_long_text() -> None:
    """mssql-python cut a value bound as a sized SQL_WVARCHAR at its NUL, without an error:
    `fo\x00ur` stored as `fo` (found by review on Babelfish; a client-side cut)."""
    import mssql_python

    from turbodata.dialects.mssql_drivers import odbc_input_sizes

    long_text = mssql_python.SQL_WLONGVARCHAR
    rows = [("plain",), ("fo\x00ur",), (None,)]
    # as long text of more than 4,000 units: at 4,000 or fewer it was still cut
    assert odbc_input_sizes(rows, [string_type(10)], long_text=long_text)[0][:2] == (
        long_text,
        4001,
    )
    plain = odbc_input_sizes(rows[::2], [string_type(10)], long_text=long_text)[0]
    assert plain[:2] == (mssql_python.SQL_WVARCHAR, 5)


def test_values_travel_exactly_to_every_driver() -> None:
    """The 7th fractional digit of DATETIME2(7) (Babelfish keeps 6: provable only here and on
    SQL Server), 38 decimal digits, text over 4,000 characters with a non-BMP character."""
    batch = a_batch(1)
    for driver in (PyodbcDriver(), MssqlPythonDriver(), PytdsDriver()):
        values = tuple(
            driver.python_values(batch.column(i), t)[0] for i, t in enumerate(TYPES.values())
        )
        assert values[2] == "2022-06-13 17:29:39.7677699", driver.name
        assert Decimal(values[1]) == ROW[1], driver.name
        assert values[4] == ROW[4] and values[3] is True and values[0] == ROW[0]
    # text, never Decimal: drivers' decimal binding is not exact (38 digits)
    assert PyodbcDriver().python_values(batch.column(1), DECIMAL_38_10) == [
        "-1234567890123456789012345678.0000000001"
    ]
    assert MssqlPythonDriver().python_values(batch.column(1), DECIMAL_38_10) == [
        "-1234567890123456789012345678.0000000001"
    ]
    assert PytdsDriver().python_values(batch.column(1), DECIMAL_38_10)[0] == str(ROW[1])


def test_tiny_decimals_never_travel_in_scientific_notation() -> None:
    array = pa.array([Decimal("0.0000001000")], pa.decimal128(38, 10))
    assert MssqlPythonDriver().python_values(array, DECIMAL_38_10) == ["0.0000001000"]


def test_pytds_bulk_copy_declares_every_column_type() -> None:
    pytds_types = pytest.importorskip("pytds.tds_types")
    from turbodata.dialects.mssql_drivers import _tds_wire_type

    assert isinstance(_tds_wire_type(pytds_types, string_type(None)), pytds_types.NVarCharMaxType)
    assert isinstance(_tds_wire_type(pytds_types, string_type(4001)), pytds_types.NVarCharMaxType)
    assert isinstance(_tds_wire_type(pytds_types, SqlType(Kind.BIGINT)), pytds_types.BigIntType)
    assert isinstance(_tds_wire_type(pytds_types, SqlType(Kind.TINYINT)), pytds_types.TinyIntType)
    # the landing column's own type: an 8-byte float into REAL landed garbage (Babelfish)
    assert isinstance(_tds_wire_type(pytds_types, SqlType(Kind.REAL)), pytds_types.RealType)
    assert isinstance(_tds_wire_type(pytds_types, SqlType(Kind.FLOAT)), pytds_types.FloatType)
    assert isinstance(_tds_wire_type(pytds_types, SqlType(Kind.BOOLEAN)), pytds_types.BitType)
    # decimals and date/time as text the server converts exactly
    assert isinstance(_tds_wire_type(pytds_types, DECIMAL_38_10), pytds_types.NVarCharType)


@pytest.mark.parametrize(
    ("error", "number"),
    [
        (
            Exception(
                "42000",
                "[42000] [FreeTDS][SQL Server]Transaction (Process ID 5) was"
                " deadlocked ... (1205) (SQLExecDirectW)",
            ),
            1205,
        ),
        (SimpleNamespace(number=3903, args=()), 3903),
        (Exception("Msg 40613, Level 17: Database is not currently available"), 40613),
        (Exception("nothing to see"), None),
    ],
)
def test_the_servers_error_number_is_read_from_every_drivers_exception(
    error: object, number: int | None
) -> None:
    assert error_number(error) == number  # type: ignore[arg-type]


def test_deadlocks_and_azure_throttling_are_transient_a_syntax_error_is_not() -> None:
    dialect = for_name("mssql")
    assert dialect.is_transient(Exception("... deadlocked ... (1205) (SQLExecDirectW)"))
    assert dialect.is_transient(SimpleNamespace(number=40501, args=()))  # type: ignore[arg-type]
    assert not dialect.is_transient(Exception("Incorrect syntax near 'x'. (102)"))


class NoTransaction(Exception):
    """What the server answers a ROLLBACK after it has ended the transaction itself."""

    def __init__(self) -> None:
        super().__init__("25000", "[25000] ROLLBACK can only be used in transaction blocks (3903)")


def test_a_failed_statement_is_the_error_seen_not_the_rollback_after_it() -> None:
    """SQLAlchemy rolls back after a failed statement; on SQL Server with XACT_ABORT (and on
    Babelfish) the server already ended the transaction and the ROLLBACK fails with 3903,
    which used to replace the real error."""
    engine = sa.create_engine("sqlite://")

    def rollback_that_finds_no_transaction(_dbapi_connection: object) -> None:
        raise NoTransaction()

    engine.dialect.do_rollback = rollback_that_finds_no_transaction  # type: ignore[method-assign]
    mssql_module._keep_the_failed_statements_error(engine)

    with (
        pytest.raises(sa.exc.OperationalError, match="no such table: missing"),
        engine.begin() as conn,
    ):
        conn.exec_driver_sql("SELECT * FROM missing")


def test_a_rollback_that_fails_for_another_reason_is_not_hidden() -> None:
    engine = sa.create_engine("sqlite://")

    def rollback_on_a_dead_link(_dbapi_connection: object) -> None:
        raise OSError("08S01 Communication link failure")

    engine.dialect.do_rollback = rollback_on_a_dead_link  # type: ignore[method-assign]
    mssql_module._keep_the_failed_statements_error(engine)
    with pytest.raises(OSError, match="Communication link failure"):
        engine.dialect.do_rollback(object())


@pytest.mark.parametrize("driver", ["pyodbc", "mssqlpython", "pytds"])
def test_aware_datetimes_reach_every_driver_as_naive_utc(driver: str) -> None:
    """pyodbc's dialect turned them into text, which Babelfish refuses for DATETIMEOFFSET."""
    from turbodata.ledger import records as ledger

    engine = sa.create_engine(f"mssql+{driver}://u:p@h/db?driver=FreeTDS")
    for_name("mssql").configure_engine(engine)
    plus_two = datetime(2026, 1, 2, 5, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    update = sa.update(ledger.lease).values(expires_at=plus_two, host="h")
    compiled = update.compile(dialect=engine.dialect)
    bound = {
        name: compiled._bind_processors.get(name, lambda v: v)(value)
        for name, value in compiled.construct_params().items()
    }
    assert bound["expires_at"] == datetime(2026, 1, 2, 3, 4, 5, 123456)
    assert bound["host"] == "h"


# -- bulk copy: what landed is checked before anything is applied --------------------------


class RecordingCursor:
    def __init__(self) -> None:
        self.fast_executemany = False
        self.calls: list[tuple[str, list[tuple]]] = []
        self.input_sizes: list[tuple[int, int, int]] = []

    def setinputsizes(self, sizes: list[tuple[int, int, int]]) -> None:
        self.input_sizes = sizes

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        self.calls.append((sql, rows))

    def close(self) -> None:
        pass


class LandingConnection:
    """Stands in for the load's SQLAlchemy connection: answers the landing table's counts
    with `landed`, records every statement."""

    def __init__(self, driver: str, cursor: RecordingCursor, landed: list[int]) -> None:
        self.dialect = sa.create_mock_engine(f"mssql+{driver}://", executor=None).dialect
        self.connection = SimpleNamespace(driver_connection=SimpleNamespace(cursor=lambda: cursor))
        self.info: dict = {"turbodata_babelfish": False}
        self.landed = landed
        self.sql: list[str] = []

    def execute(self, statement: object) -> None:
        self.sql.append(str(statement.compile(dialect=self.dialect)).strip())  # type: ignore[attr-defined]

    def exec_driver_sql(self, sql: str) -> SimpleNamespace:
        self.sql.append(sql)
        return SimpleNamespace(rowcount=self.landed[0], one=lambda: self.landed)


class FakeBulkDriver(PytdsDriver):
    """pytds' seam (bulk copy on the load's own connection), recording what it was given."""

    def __init__(self) -> None:
        self.copied: list[str] = []

    def bulk_copy(self, dbapi_connection, table_name, columns, batch, types) -> int:  # type: ignore[override]
        self.copied.append(table_name)
        return batch.num_rows  # what a driver claims: never trusted


def load_through_fake_bulk(landed: list[int]) -> tuple[LandingConnection, RecordingCursor]:
    dialect = for_name("mssql")
    dialect._drivers["pytds"] = FakeBulkDriver()
    table = table_object(dialect, "account", TYPES, "dbo")
    cursor = RecordingCursor()
    conn = LandingConnection("pytds", cursor, landed)
    assert dialect.insert_batch(conn, table, a_batch(), list(TYPES.values())) == 3  # type: ignore[arg-type]
    return conn, cursor


def test_rows_that_landed_whole_are_moved_into_the_table_in_the_loads_transaction() -> None:
    conn, cursor = load_through_fake_bulk(landed=[3, 3, 3, 3, 3, 3])

    create, count, move, empty = conn.sql
    assert create.startswith("CREATE TABLE [#turbodata_land_account_")
    landing = create.split("[")[1].split("]")[0]
    assert count == (
        "SELECT COUNT(*), COUNT([c1]), COUNT([c2]), COUNT([c3]), COUNT([c4]),"
        f" COUNT([c5]) FROM [{landing}]"
    )
    # decimals, date/times and GUIDs land as text and are converted by the server, exactly
    assert create.split("(", 1)[1].split() == [
        "c1", "NVARCHAR(100)", "NULL,",
        "c2", "NVARCHAR(100)", "NULL,",
        "c3", "NVARCHAR(100)", "NULL,",
        "c4", "BIT", "NULL,",
        "c5", "NVARCHAR(max)", "NULL", ")",
    ]  # fmt: skip
    assert move == (
        "INSERT INTO [dbo].[account] ([Id], [amount], [modifiedon], [flag], [title])"
        " SELECT CAST([c1] AS UNIQUEIDENTIFIER), CAST([c2] AS DECIMAL(38, 10)),"
        f" CAST([c3] AS DATETIME2(7)), [c4], [c5] FROM [{landing}]"
    )
    assert empty == f"TRUNCATE TABLE [{landing}]"
    assert cursor.calls == []


def test_a_bulk_copy_that_lost_values_is_never_applied_the_rows_are_inserted_instead(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """mssql-python on Babelfish: every row 'copied', all but one column NULL."""
    with caplog.at_level(logging.WARNING):
        conn, cursor = load_through_fake_bulk(landed=[3, 3, 0, 0, 0, 0])

    assert not any(s.startswith("INSERT INTO [dbo].[account]") and "SELECT" in s for s in conn.sql)
    assert conn.sql[-1].startswith("TRUNCATE TABLE [#turbodata_land_account_")
    [(sql, rows)] = cursor.calls
    assert sql.startswith("INSERT INTO [dbo].[account]") and len(rows) == 3
    assert "column amount: 0 values arrived for 3 sent" in caplog.text
    assert "loading by INSERT instead" in caplog.text


def test_a_bulk_copy_that_lost_rows_is_never_applied() -> None:
    conn, cursor = load_through_fake_bulk(landed=[2, 2, 2, 2, 2, 2])
    assert len(cursor.calls) == 1
    assert not any("SELECT [Id]" in s for s in conn.sql)


def fake_connection(driver: str, cursor: RecordingCursor) -> SimpleNamespace:
    return SimpleNamespace(
        dialect=sa.create_mock_engine(f"mssql+{driver}://", executor=None).dialect,
        connection=SimpleNamespace(driver_connection=SimpleNamespace(cursor=lambda: cursor)),
        info={"turbodata_babelfish": False},
    )


# -- signing in ------------------------------------------------------------------------------


def login_failure_seen(url: str, driver_error: Exception) -> str:
    """What the person sees when the server refuses the sign-in through `url`."""
    handler = mssql_module._name_the_failed_login(sa.engine.make_url(url))
    with pytest.raises(sa.exc.OperationalError) as raised:
        handler(SimpleNamespace(original_exception=driver_error))
    from turbodata.errors import one_line

    return one_line(raised.value)


def test_a_failed_login_names_server_database_and_mode_never_the_password() -> None:
    said = login_failure_seen(
        "mssql+mssqlpython://loader:S3cret!pw@sql.example.net:1433/lakedb",
        Exception("28000", "[28000] Login failed for user 'loader'. (18456); PWD=S3cret!pw;"),
    )
    assert said.startswith(
        "sign-in to server sql.example.net:1433, database lakedb failed, using SQL"
        " authentication as user 'loader': "
    )
    assert "Login failed for user 'loader'" in said
    assert "S3cret" not in said


def test_a_failed_entra_login_says_which_identity_and_mode() -> None:
    said = login_failure_seen(
        "mssql+mssqlpython://11111111-2222-3333-4444-555555555555@sql.example.net/lakedb"
        "?authentication=ActiveDirectoryMSI",
        Exception("Login failed for user '<token-identified principal>'."),
    )
    assert "using Entra ID authentication ActiveDirectoryMSI (identity 11111111-" in said
    odbc = (
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BFreeTDS%7D%3BSERVER%3Dhost%3BPORT%3D1433"
        "%3BDATABASE%3Ddb%3BUID%3Dsa%3BPWD%3D%7Bp%3Bw%7D"
    )
    said = login_failure_seen(odbc, Exception("Login failed for user 'sa'. (18456)"))
    assert said.startswith("sign-in to server host:1433, database db failed, using SQL")
    assert "p;w" not in said


def test_other_errors_pass_through_unchanged() -> None:
    handler = mssql_module._name_the_failed_login(sa.engine.make_url("mssql+pytds://u:p@h/db"))
    assert handler(SimpleNamespace(original_exception=Exception("Deadlock (1205)"))) is None


def test_managed_identity_urls_reach_mssql_python_as_its_connection_string() -> None:
    """The README's URLs for Azure SQL with a managed identity (no password anywhere)."""
    system = sa.engine.make_url(
        "mssql+mssqlpython://@myserver.database.windows.net:1433/lakedb"
        "?authentication=ActiveDirectoryMSI"
    )
    user_assigned = sa.engine.make_url(
        "mssql+mssqlpython://11111111-2222-3333-4444-555555555555@myserver.database.windows.net"
        ":1433/lakedb?authentication=ActiveDirectoryMSI"
    )
    dialect = sa.create_mock_engine(system, executor=None).dialect
    assert dialect.create_connect_args(system)[0] == (
        "Server=myserver.database.windows.net,1433;Database=lakedb;"
        "Authentication=ActiveDirectoryMSI",
    )
    assert dialect.create_connect_args(user_assigned)[0] == (
        "Server=myserver.database.windows.net,1433;Database=lakedb;"
        "UID=11111111-2222-3333-4444-555555555555;authentication=ActiveDirectoryMSI",
    )


# -- reflection -------------------------------------------------------------------------------


def test_a_collation_does_not_hide_a_reflected_length() -> None:
    """SQLAlchemy's reflected NVARCHAR carries the column's collation on SQL Server."""
    from turbodata.dialects.base import parse_declared

    assert parse_declared("NVARCHAR(10) COLLATE SQL_Latin1_General_CP1_CI_AS") == string_type(10)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (("nvarchar", 10, None, None, None), string_type(10)),
        (("nvarchar", -1, None, None, None), string_type(None)),
        (("decimal", None, 38, 10, None), DECIMAL_38_10),
        (("datetime2", None, None, None, 7), SqlType(Kind.DATETIME, fraction=7)),
        (("datetimeoffset", None, None, None, 3), SqlType(Kind.DATETIMEOFFSET, fraction=3)),
        (("uniqueidentifier", None, None, None, None), SqlType(Kind.GUID)),
        (("bit", None, None, None, None), SqlType(Kind.BOOLEAN)),
        (("real", None, 24, None, None), SqlType(Kind.REAL)),
    ],
)
def test_information_schema_rows_become_the_types_that_were_declared(
    row: tuple, expected: SqlType
) -> None:
    assert mssql_module._reflected_type(*row, keeps_six=False) == expected


def test_babelfish_six_digit_fractions_read_as_the_declared_seven() -> None:
    """Babelfish stores DATETIME2(7) with 6 digits and reports 6: read as 7, so every run
    does not ALTER the column again; SQL Server's 6 stays 6."""
    six = ("datetime2", None, None, None, 6)
    assert mssql_module._reflected_type(*six, keeps_six=True) == SqlType(Kind.DATETIME, fraction=7)
    assert mssql_module._reflected_type(*six, keeps_six=False) == SqlType(Kind.DATETIME, fraction=6)


def test_fast_executemany_only_over_microsofts_odbc_driver() -> None:
    """FreeTDS crashes the process (a segmentation fault) on pyodbc's parameter arrays."""
    from turbodata.dialects.mssql_drivers import has_parameter_arrays

    def odbc(driver_file: str) -> SimpleNamespace:
        return SimpleNamespace(getinfo=lambda _code: driver_file)

    assert has_parameter_arrays(odbc("libmsodbcsql-18.5.so.1.1"))
    assert not has_parameter_arrays(odbc("libtdsodbc.so"))
    cursor = RecordingCursor()
    connection = SimpleNamespace(cursor=lambda: cursor, getinfo=lambda _code: "libtdsodbc.so")
    PyodbcDriver().executemany(connection, "INSERT", [("a",)], [string_type(10)])
    assert cursor.fast_executemany is False and cursor.calls == [("INSERT", [("a",)])]


def test_a_commit_that_finds_no_transaction_after_reads_is_not_an_error() -> None:
    """FreeTDS over Babelfish: a transaction that only read opened none (3902)."""
    engine = sa.create_engine("sqlite://")

    def commit_without_transaction(_dbapi_connection: object) -> None:
        raise Exception("25000", "COMMIT can only be used in transaction blocks (3902)")

    engine.dialect.do_commit = commit_without_transaction  # type: ignore[method-assign]
    mssql_module._commit_of_reads_only(engine)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1

    def commit_that_fails(_dbapi_connection: object) -> None:
        raise Exception("40001", "deadlock victim (1205)")

    engine.dialect.do_commit = commit_that_fails  # type: ignore[method-assign]
    mssql_module._commit_of_reads_only(engine)
    with pytest.raises(Exception, match="1205"), engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")


def test_unbounded_text_reaches_freetds_as_the_long_nvarchar_type() -> None:
    """SQLAlchemy's (NVARCHAR, 0) means NVARCHAR(MAX) to Microsoft's driver; FreeTDS answers
    "Invalid string or buffer length (0)" for text over 4,000 characters."""
    sizes = {"summary": (-9, 0, 0), "status": (-9, 32, 0), "n": (-5, 0, 0), "f": 8}
    freetds = SimpleNamespace(connection=SimpleNamespace(getinfo=lambda _c: "libtdsodbc.so"))
    mssql_module._long_text_for_other_odbc_drivers(sizes, freetds, "", (), None)
    assert sizes == {"summary": (-10, 0, 0), "status": (-9, 32, 0), "n": (-5, 0, 0), "f": 8}
    sizes = {"summary": (-9, 0, 0)}
    microsoft = SimpleNamespace(
        connection=SimpleNamespace(getinfo=lambda _c: "libmsodbcsql-18.5.so.1.1")
    )
    mssql_module._long_text_for_other_odbc_drivers(sizes, microsoft, "", (), None)
    assert sizes == {"summary": (-9, 0, 0)}

"""SQL Server: the T-SQL our code emits, compiled by SQLAlchemy's mssql dialect, and the
pyodbc calls behind the dialect's seam, recorded by a fake cursor.

No SQL Server can run on our machines: none of this has run against a SQL Server.
"""

from __future__ import annotations

import re
from decimal import Decimal
from types import SimpleNamespace

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mssql as sa_mssql

from turbodata.dialects import for_engine, for_name
from turbodata.dialects.mssql import EXECUTEMANY_ROWS
from turbodata.load.schema import plan_table, table_object
from turbodata.types.sql import Kind, SqlType, arrow_type, string_type

TSQL = sa_mssql.pyodbc.dialect(paramstyle="qmark")  # pyodbc's parameter style
MSSQL = for_name("mssql")

ALL_TYPES = {
    "Id": SqlType(Kind.GUID),
    "name": string_type(100),
    "description": string_type(None),
    "revenue": SqlType(Kind.DECIMAL, precision=38, scale=4),
    "flag": SqlType(Kind.BOOLEAN),
    "tiny": SqlType(Kind.TINYINT),
    "small": SqlType(Kind.SMALLINT),
    "number": SqlType(Kind.INTEGER),
    "versionnumber": SqlType(Kind.BIGINT),
    "ratio": SqlType(Kind.FLOAT),
    "single": SqlType(Kind.REAL),
    "modifiedon": SqlType(Kind.DATETIME),
    "createdon": SqlType(Kind.DATETIMEOFFSET),
    "day": SqlType(Kind.DATE),
    "clock": SqlType(Kind.TIME),
    "partition": SqlType(Kind.BIGINT),
    "order": string_type(10),
}


def test_create_table_uses_sql_server_types_and_bracket_quoting() -> None:
    plan = plan_table(TSQL, MSSQL, "account", ALL_TYPES, None, schema="dbo")
    [create] = plan.statements
    assert create.splitlines()[0] == "CREATE TABLE [dbo].[account] ("
    body = [line.strip().rstrip(",") for line in create.splitlines()[1:-1]]
    assert body == [
        "[Id] UNIQUEIDENTIFIER NULL",
        "[name] NVARCHAR(100) NULL",
        "[description] NVARCHAR(max) NULL",
        "[revenue] DECIMAL(38, 4) NULL",
        "[flag] BIT NULL",
        "[tiny] TINYINT NULL",
        "[small] SMALLINT NULL",
        "[number] INTEGER NULL",
        "[versionnumber] BIGINT NULL",
        "[ratio] FLOAT(53) NULL",
        "[single] REAL NULL",
        "[modifiedon] DATETIME2(7) NULL",
        "[createdon] DATETIMEOFFSET(7) NULL",
        "[day] DATE NULL",
        "[clock] TIME(7) NULL",
        "[partition] BIGINT NULL",
        "[order] NVARCHAR(10) NULL",
    ]


def test_new_columns_are_added_one_per_statement_as_nullable() -> None:
    existing = {"Id": SqlType(Kind.GUID)}
    wanted = {**existing, "tier": string_type(20), "score": SqlType(Kind.INTEGER)}
    plan = plan_table(TSQL, MSSQL, "account", wanted, existing, schema="dbo")
    assert plan.statements == [
        "ALTER TABLE [dbo].[account] ADD [tier] NVARCHAR(20) NULL",
        "ALTER TABLE [dbo].[account] ADD [score] INTEGER NULL",
    ]
    assert plan.added == ["tier", "score"]


def test_widening_alters_the_column_without_a_null_clause() -> None:
    existing = {"name": string_type(20), "n": SqlType(Kind.INTEGER)}
    wanted = {"name": string_type(4001), "n": SqlType(Kind.BIGINT)}
    plan = plan_table(TSQL, MSSQL, "account", wanted, existing)
    assert plan.statements == [
        "ALTER TABLE [account] ALTER COLUMN [name] NVARCHAR(max)",
        "ALTER TABLE [account] ALTER COLUMN [n] BIGINT",
    ]


def test_a_key_column_is_widened_with_its_primary_key_dropped_and_added_again() -> None:
    """SQL Server refuses ALTER COLUMN on a PRIMARY KEY constraint's column (its documented
    rule; Babelfish allows it), and without NOT NULL the column would turn nullable, which no
    primary key takes. Its constraint's name is the server's (PK__t__…): found at run time."""
    existing = {"code": string_type(20), "n": SqlType(Kind.INTEGER), "v": string_type(5)}
    wanted = {"code": string_type(40), "n": SqlType(Kind.BIGINT), "v": string_type(9)}
    plan = plan_table(TSQL, MSSQL, "it's", wanted, existing, "dbo", key=("code", "n"))
    drop, *alters, add = plan.statements
    assert drop == (
        "DECLARE @turbodata_pk nvarchar(max) = (SELECT QUOTENAME(name) FROM sys.key_constraints"
        " WHERE type = 'PK' AND parent_object_id = OBJECT_ID(N'[dbo].[it''s]'));"
        " DECLARE @turbodata_drop nvarchar(max) = N'ALTER TABLE [dbo].[it''s] DROP CONSTRAINT '"
        " + @turbodata_pk; EXEC sp_executesql @turbodata_drop"
    )
    assert alters == [
        "ALTER TABLE [dbo].[it's] ALTER COLUMN [code] NVARCHAR(40) NOT NULL",
        "ALTER TABLE [dbo].[it's] ALTER COLUMN [n] BIGINT NOT NULL",
        "ALTER TABLE [dbo].[it's] ALTER COLUMN [v] NVARCHAR(9)",
    ]
    assert add == "ALTER TABLE [dbo].[it's] ADD PRIMARY KEY ([code], [n])"


def test_names_longer_than_128_characters_are_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="longer than 128 characters"):
        table_object(MSSQL, "t" * 129, {"Id": SqlType(Kind.GUID)}, None)
    with pytest.raises(ValueError, match=r"x{129}"):
        table_object(MSSQL, "t", {"x" * 129: SqlType(Kind.GUID)}, None)


class RecordingCursor:
    def __init__(self) -> None:
        self.fast_executemany = False
        self.calls: list[tuple[str, list[tuple], bool]] = []

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        self.calls.append((sql, rows, self.fast_executemany))

    def setinputsizes(self, sizes: list[tuple[int, int, int]]) -> None:
        self.sizes = sizes


def test_bulk_insert_goes_through_pyodbc_fast_executemany_in_bounded_calls() -> None:
    types = [
        SqlType(Kind.GUID),
        SqlType(Kind.DECIMAL, precision=38, scale=10),
        SqlType(Kind.DATETIME),
    ]
    names = ["Id", "amount", "modifiedon"]
    table = table_object(MSSQL, "account", dict(zip(names, types, strict=True)), "dbo")
    rows = EXECUTEMANY_ROWS + 5
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(["00000000-0000-0000-0000-000000000001"] * rows),
            pa.array([Decimal("-155964930194440774.6023022513")] * rows, arrow_type(types[1])),
            pa.array(["2022-06-13 17:29:39.7677699"] * rows),
        ],
        names=names,
    )
    cursor = RecordingCursor()
    conn = SimpleNamespace(
        dialect=TSQL,
        connection=SimpleNamespace(
            driver_connection=SimpleNamespace(
                cursor=lambda: cursor, getinfo=lambda _code: "libmsodbcsql-18.5.so.1.1"
            )
        ),
        info={"turbodata_babelfish": False},
    )

    assert MSSQL.insert_batch(conn, table, batch, types) == rows

    assert [len(r) for _, r, _ in cursor.calls] == [EXECUTEMANY_ROWS, 5]
    sql, first_rows, fast = cursor.calls[0]
    assert sql == (
        "INSERT INTO [dbo].[account] ([Id], [amount], [modifiedon]) VALUES"
        " (CAST(? AS UNIQUEIDENTIFIER), CAST(? AS DECIMAL(38, 10)), CAST(? AS DATETIME2(7)))"
    )
    assert fast is True
    assert first_rows[0] == (
        "00000000-0000-0000-0000-000000000001",
        "-155964930194440774.6023022513",  # exact text: never through float or Decimal binding
        "2022-06-13 17:29:39.7677699",  # text keeps the 7th digit DATETIME2(7) stores
    )


def test_the_dialect_is_chosen_from_the_engine_url() -> None:
    engine = sa.create_mock_engine("mssql+pyodbc://", executor=None)  # nothing connects
    assert type(for_engine(engine)).__name__ == "MSSQLDialect"


class RecordingConnection:
    """Compiles every statement it is given with the mssql dialect and keeps the T-SQL."""

    dialect = TSQL

    def __init__(self) -> None:
        self.sql: list[str] = []

    def execute(self, statement, *args):
        compiled = statement.compile(dialect=TSQL, compile_kwargs={"literal_binds": True})
        self.sql.append(" ".join(str(compiled).split()))
        # a repeated key for the ranking; no key spelled two ways (the check is by bytes)
        first = None if "VARBINARY" in self.sql[-1] else ("repeated",)
        return SimpleNamespace(rowcount=0, scalar_one=lambda: 0, first=lambda: first)

    def exec_driver_sql(self, sql: str, *args):
        self.sql.append(" ".join(sql.split()))


def test_a_staged_text_key_is_not_indexed_sql_server_refuses_nvarchar_max_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from turbodata.load.changes import ChangeColumns, Staging

    monkeypatch.setattr(type(for_name("mssql")), "staged_key_index_from_rows", 0)
    types = {"code": string_type(None), "name": string_type(None)}  # staged text: unbounded
    target = table_object(MSSQL, "codes", types, "dbo", key=["code"])
    conn = RecordingConnection()

    Staging(conn, MSSQL, target, types, ChangeColumns.find(list(types), ["code"])).keep_winners()

    assert conn.sql[0].startswith("CREATE TABLE") and "NVARCHAR(max)" in conn.sql[0]
    assert not any(s.startswith("CREATE INDEX") for s in conn.sql)  # Msg 1919 on SQL Server
    # 'abc' and 'ABC ' are one key to SQL Server: two spellings are looked for by their bytes
    assert "HAVING min(CAST(" in conn.sql[1] and "AS VARBINARY(max))) != max(CAST(" in conn.sql[1]


def test_change_rows_are_staged_in_a_temp_table_and_applied_without_merge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from turbodata.load.changes import ChangeColumns, Staging

    # the staged key's index, compiled too
    monkeypatch.setattr(type(for_name("mssql")), "staged_key_index_from_rows", 0)

    types = {
        "Id": SqlType(Kind.GUID),
        "name": string_type(None),
        "versionnumber": SqlType(Kind.BIGINT),
        "SinkModifiedOn": SqlType(Kind.DATETIME),
        "IsDelete": SqlType(Kind.BOOLEAN),
    }
    target = table_object(MSSQL, "account", types, "dbo", key=["Id"])
    conn = RecordingConnection()
    columns = ChangeColumns.find(list(types), ["Id"])

    staging = Staging(conn, MSSQL, target, types, columns)
    staging.may_delete = True  # as once a row with IsDelete set is staged
    staging.keep_winners()
    staging.apply(soft_delete=False)
    staging.drop()

    # named per table and batch, so one left behind by a failure never collides
    name = staging.table.name
    assert re.fullmatch(r"#turbodata_stage_account_[0-9a-f]{12}", name)
    assert Staging(conn, MSSQL, target, types, columns).table.name != name
    statements = [s.replace(name.lstrip("#"), "turbodata_stage") for s in conn.sql[:-1]]
    create, index, repeated, winners, delete, drop_deletes, count, update, insert, drop = statements
    assert create.startswith("CREATE TABLE [#turbodata_stage] ( [Id] UNIQUEIDENTIFIER")
    # tempdb's collation is the server's: staged text compares under the database's
    assert "[name] NVARCHAR(max) COLLATE DATABASE_DEFAULT NULL" in create
    assert create.count("COLLATE") == 1
    assert index == "CREATE INDEX turbodata_stage_key ON [#turbodata_stage] ([Id])"
    assert repeated == (
        "SELECT TOP 1 [#turbodata_stage].[Id] FROM [#turbodata_stage] "
        "GROUP BY [#turbodata_stage].[Id] HAVING count(*) > 1"
    )
    assert winners.startswith("DELETE FROM [#turbodata_stage] WHERE ([#turbodata_stage]")
    assert "row_number() OVER (PARTITION BY rows.[Id] ORDER BY" in winners
    assert "max(" in winners and "OVER (PARTITION BY [#turbodata_stage].[Id])" in winners
    assert delete.startswith(
        "DELETE FROM [dbo].[account] WHERE [dbo].[account].[Id] IN (SELECT [#turbodata_stage]"
        ".[Id] FROM [#turbodata_stage] WHERE [#turbodata_stage].[IsDelete] = 1) AND (EXISTS "
        "(SELECT * FROM [#turbodata_stage] WHERE [#turbodata_stage].[Id] = [dbo].[account].[Id] "
        "AND [#turbodata_stage].[IsDelete] = 1 AND NOT ([dbo].[account].[versionnumber] IS NOT "
        "NULL"
    )  # a delete never removes a row newer than itself
    assert drop_deletes == "DELETE FROM [#turbodata_stage] WHERE [#turbodata_stage].[IsDelete] = 1"
    assert count.startswith("SELECT count(*) AS count_1 FROM [#turbodata_stage] WHERE NOT")
    assert update.startswith(
        "UPDATE [dbo].[account] SET [name]=[#turbodata_stage].[name], "
        "[versionnumber]=[#turbodata_stage].[versionnumber]"
    )
    assert "FROM [dbo].[account], [#turbodata_stage] WHERE [#turbodata_stage].[Id] = " in update
    assert "[#turbodata_stage].[versionnumber] > [dbo].[account].[versionnumber]" in update
    assert insert.startswith(
        "INSERT INTO [dbo].[account] ([Id], [name], [versionnumber], [SinkModifiedOn], "
        "[IsDelete]) SELECT [#turbodata_stage].[Id]"
    )
    assert "WHERE NOT (EXISTS (SELECT * FROM [dbo].[account] WHERE" in insert
    assert drop == "DROP TABLE [#turbodata_stage]"
    assert not any("MERGE" in statement for statement in conn.sql)


def test_a_column_the_batch_lacks_is_set_to_null_written_in_the_update_not_bound() -> None:
    """mssql-python asks the server the type of a NULL parameter; Babelfish fails that on
    such an UPDATE and rolls the transaction back without an error reaching turbodata (found
    by the live suite): NULL is written into the statement."""
    from turbodata.load.changes import ChangeColumns, newer_condition, staging_table

    types = {"Id": SqlType(Kind.GUID), "name": string_type(20)}
    target = table_object(MSSQL, "account", {**types, "gone": string_type(5)}, "dbo", key=["Id"])
    staging, _ = staging_table(MSSQL, TSQL, target, tuple(types.items()))
    seen: list[sa.sql.Executable] = []
    conn = SimpleNamespace(execute=lambda s, *a: seen.append(s) or SimpleNamespace(rowcount=0))

    newer = newer_condition(ChangeColumns.find(list(types), ["Id"]))
    MSSQL.upsert_from_staging(conn, target, staging, list(types), ["Id"], newer, ["gone"])

    update = seen[0].compile(dialect=TSQL)
    assert "[gone]=NULL" in str(update) and None not in update.params.values()


@pytest.mark.parametrize(
    ("data_type", "length", "advice"),
    [
        ("varchar", 50, "NVARCHAR(50)"),
        ("char", 10, "NVARCHAR(10)"),
        ("nchar", 10, "NVARCHAR(10)"),
        ("varchar", 8000, "NVARCHAR(MAX)"),
        ("varchar", -1, "NVARCHAR(MAX)"),
        ("text", 2147483647, "NVARCHAR(MAX)"),
    ],
)
def test_text_columns_that_alter_values_are_refused_with_the_change_to_make(
    data_type: str, length: int, advice: str
) -> None:
    """The live suite loads into such a table on Babelfish
    (test_a_table_someone_created_with_varchar_fails_until_it_is_nvarchar)."""
    from turbodata.dialects.base import ColumnRefused
    from turbodata.dialects.mssql import _refuse_non_unicode

    with pytest.raises(ColumnRefused, match=rf"column 'name' of t is {data_type.upper()}"):
        _refuse_non_unicode("t", "name", data_type, length)
    with pytest.raises(ColumnRefused, match=rf"ALTER COLUMN \[name\] {re.escape(advice)},"):
        _refuse_non_unicode("t", "name", data_type, length)
    for fine in ("nvarchar", "ntext", "uniqueidentifier", "int"):
        _refuse_non_unicode("t", "name", fine, length)


@pytest.mark.parametrize("kind", [Kind.TINYINT, Kind.SMALLINT, Kind.INTEGER, Kind.BIGINT])
@pytest.mark.parametrize("name", ["mssql", "postgresql", "sqlite"])
def test_an_integer_key_is_created_without_identity_or_sequence(kind: Kind, name: str) -> None:
    """SQLAlchemy makes a lone integer primary key IDENTITY on SQL Server (which refuses the
    lake's values: the table never loaded, found by review) and SERIAL on PostgreSQL."""
    from sqlalchemy.dialects import postgresql, sqlite

    sql = {"mssql": TSQL, "postgresql": postgresql.dialect(), "sqlite": sqlite.dialect()}[name]
    types = {"Id": SqlType(kind), "name": string_type(10)}
    ddl = "\n".join(plan_table(sql, for_name(name), "t", types, None, key=("Id",)).statements)
    assert re.search(r"PRIMARY KEY|UNIQUE INDEX", ddl), ddl  # keyed (SQLite: by an index)
    assert not re.search(r"IDENTITY|SERIAL|AUTOINCREMENT|DEFAULT", ddl.upper()), ddl


def test_the_ledgers_file_key_is_nonclustered_on_sql_server() -> None:
    """A clustered key holds at most 900 bytes on SQL Server; the name and path of a loaded
    file may take up to 1,700 (a nonclustered key's limit). Babelfish enforces neither."""
    from turbodata.ledger.records import files

    create = str(sa.schema.CreateTable(files).compile(dialect=TSQL))
    assert "PRIMARY KEY NONCLUSTERED (table_name, path)" in create

"""End to end on a live T-SQL server, through each driver: `migrate` of generated lakes
compared with the same lake loaded into SQLite (the reference the main suite checks), drift,
rejects, and a run killed with SIGKILL then run again."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.biglake import write_big_lake
from tests.killing import kill_inside_a_write, start_cli
from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from tests.reference import final_state
from turbodata import migrate
from turbodata.dialects import for_name
from turbodata.load.loader import LoadOptions
from turbodata.pipeline import connect
from turbodata.types.sql import Kind, SqlType, string_type


def rows_of(url: str, table: str, schema: str | None = None) -> list[tuple]:
    """A table's rows in a form both databases agree on: GUIDs lower case, decimals as
    Decimal, date/times as text cut to microseconds, booleans as ints."""
    engine = connect(url)[0]
    try:
        with engine.connect() as conn:
            # a plain SELECT: full reflection needs catalog views Babelfish lacks
            # (INFORMATION_SCHEMA.REFERENTIAL_CONSTRAINTS)
            prep = conn.dialect.identifier_preparer
            name = f"{prep.quote(schema)}.{prep.quote(table)}" if schema else prep.quote(table)
            rows = conn.exec_driver_sql(f"SELECT * FROM {name}").all()
    finally:
        engine.dispose()
    return sorted((tuple(_plain(v) for v in row) for row in rows), key=repr)


def _plain(value: object) -> object:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, str) and len(value) >= 26 and value[4] == "-" and value[19] == ".":
        return value[:26]  # SQLite keeps the lake's 7 digits as text
    if isinstance(value, (Decimal, float)) or (
        isinstance(value, str) and value.replace(".", "", 1).lstrip("-").isdigit()
    ):
        return Decimal(str(value)).normalize()
    if isinstance(value, (uuid.UUID, str)):
        text = str(value)
        return text.lower() if len(text) == 36 and text.count("-") == 4 else text
    return value


def sqlite_reference(tmp_path: Path, lake: Path) -> str:
    url = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    assert migrate(lake, url).ok
    return url


def load(lake: Path, url: str, schema: str) -> object:
    summary = migrate(lake, url, options=LoadOptions(db_schema=schema))
    assert summary.ok, summary.to_dict()
    return summary


def test_incremental_upserts_and_deletes_equal_the_reference(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    batches = write_big_lake(tmp_path / "lake", 3, 300)
    summary = load(tmp_path / "lake", mssql_url, schema)

    got = {r[0]: r for r in rows_of(mssql_url, "t", schema)}
    want = final_state(batches)
    assert set(got) == {k.lower() for k in want}
    reference = sqlite_reference(tmp_path, tmp_path / "lake")
    assert rows_of(mssql_url, "t", schema) == rows_of(reference, "t")
    assert summary.tables["t"].rows_deleted > 0  # type: ignore[attr-defined]
    # a second run finds nothing new
    again = migrate(tmp_path / "lake", mssql_url, options=LoadOptions(db_schema=schema))
    assert again.ok and again.tables["t"].files_read == 0


def test_the_example_lake_loads_as_into_sqlite(
    mssql_url: str, schema: str, tmp_path: Path, example_lake: Path
) -> None:
    load(example_lake, mssql_url, schema)
    reference = sqlite_reference(tmp_path, example_lake)
    engine = sa.create_engine(reference)
    names = [n for n in sa.inspect(engine).get_table_names() if not n.startswith("_turbodata")]
    engine.dispose()
    assert names
    for name in names:
        assert rows_of(mssql_url, name, schema) == rows_of(reference, name), name


def test_a_snapshot_replaces_the_table_and_deletes_missing_keys(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    columns = [attribute("Id", "guid"), attribute("name", "string", 50)]
    lake = LakeBuilder(tmp_path / "lake")

    def snapshot(ids: range) -> None:
        csv = "".join(f"00000000-0000-0000-0000-{i:012d},n{i}\n" for i in ids)
        lake.write("model.json", _classic_model(columns))
        lake.write("account/Snapshot/account_1.csv", csv)

    snapshot(range(10))
    load(tmp_path / "lake", mssql_url, schema)
    snapshot(range(5, 12))
    second = load(tmp_path / "lake", mssql_url, schema)
    assert [r[1] for r in rows_of(mssql_url, "account", schema)] == [
        f"n{i}" for i in sorted(range(5, 12), key=lambda i: f"00000000-0000-0000-0000-{i:012d}")
    ]
    assert second.tables["account"].rows_deleted == 5  # type: ignore[attr-defined]


def _classic_model(columns: list[dict]) -> str:
    from tests.lakebuilder import entity, model_json

    return model_json([entity("account", columns, ["account/Snapshot/account_1.csv"])])


def test_drift_adds_and_widens_columns_and_rejects_bad_values(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    narrow = [attribute("Id", "guid"), attribute("name", "string", 5), attribute("n", "int32")]
    lake.folder(
        "2025-01-01T10.00.00Z",
        {"t": narrow},
        {"t/2025.csv": "00000000-0000-0000-0000-000000000001,abc,1\n"},
    )
    load(tmp_path / "lake", mssql_url, schema)
    wide = [*narrow, attribute("added", "decimal", precision=38, scale=10)]
    lake.folder(
        "2025-01-01T11.00.00Z",
        {"t": wide},
        {
            "t/2025.csv": "00000000-0000-0000-0000-000000000002,"
            + "x" * 5000
            + ",2147483648,1.0000000001\n"
            "00000000-0000-0000-0000-000000000003,bad,notanumber,1\n"
        },
    )
    summary = migrate(tmp_path / "lake", mssql_url, options=LoadOptions(db_schema=schema))
    engine = connect(mssql_url)[0]
    try:
        with engine.connect() as conn:
            types = for_name("mssql").reflect_types(conn, "t", schema)
            rejects = conn.execute(
                sa.text("SELECT COUNT(*) FROM _turbodata_rejects WHERE table_name LIKE :t"),
                {"t": f"%{schema}%"},
            ).scalar()
    finally:
        engine.dispose()
    assert types["added"] == SqlType(Kind.DECIMAL, precision=38, scale=10)
    assert types["n"] == SqlType(Kind.BIGINT)  # widened: 2147483648 does not fit INT
    assert types["name"] == string_type(None)  # widened: 5,000 characters
    rows = rows_of(mssql_url, "t", schema)
    assert len(rows) == 2 and rows[1][1] == "x" * 5000 and rows[1][3] == Decimal("1.0000000001")
    assert rejects == 1 and summary.tables["t"].rows_rejected == 1  # type: ignore[attr-defined]


def test_a_key_column_outgrowing_its_type_is_widened_and_stays_the_key(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    """The key is dropped, the column widened (NOT NULL on SQL Server; Babelfish refuses the
    clause and keeps NOT NULL), and the key added again, in the batch's transaction."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("code", "string", 5), attribute("n", "int32")]
    options = LoadOptions(db_schema=schema, keys={"t": ["code", "n"]})
    lake.folder("2025-01-01T10.00.00Z", {"t": columns}, {"t/1.csv": "abc,1\nabd,2\n"})
    assert migrate(tmp_path / "lake", mssql_url, options=options).ok
    wide = "k" * 30
    later = {"t/1.csv": f"{wide},1\nabc,2147483648\nabd,2\n"}
    lake.folder("2025-01-01T11.00.00Z", {"t": columns}, later)

    summary = migrate(tmp_path / "lake", mssql_url, options=options)

    assert summary.ok, summary.to_dict()
    assert any("DROP CONSTRAINT" in s for s in summary.tables["t"].ddl)  # type: ignore[attr-defined]
    assert sorted(rows_of(mssql_url, "t", schema)) == sorted(
        [("abc", 1), ("abd", 2), ("abc", 2147483648), (wide, 1)]
    )
    engine = connect(mssql_url)[0]
    try:
        with engine.connect() as conn:
            types = for_name("mssql").reflect_types(conn, "t", schema)
            key = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM sys.key_constraints WHERE type = 'PK'"
                f" AND parent_object_id = OBJECT_ID(N'[{schema}].[t]')"
            ).scalar()
    finally:
        engine.dispose()
    assert (types["code"], types["n"], key) == (string_type(30), SqlType(Kind.BIGINT), 1)
    again = migrate(tmp_path / "lake", mssql_url, options=options)
    assert again.tables["t"].status == "unchanged"


def others_in_a_transaction(url: str) -> bool:
    """Whether another session has a transaction open (`sys.dm_exec_sessions`, which SQL
    Server and Babelfish both have; Babelfish lacks the views that tell a write transaction
    apart, and a driver's idle connection may hold an empty one open: a kill can come
    between two batches, which the rerun must survive just as well)."""
    engine = connect(url)[0]
    try:
        with engine.connect() as conn:
            return bool(
                conn.exec_driver_sql(
                    "SELECT COUNT(*) FROM sys.dm_exec_sessions"
                    " WHERE open_transaction_count > 0 AND session_id <> @@SPID"
                ).scalar()
            )
    finally:
        engine.dispose()


def committed_files(url: str, schema: str) -> int:
    engine = connect(url)[0]
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("_turbodata_files"):
                return 0
            return sum(
                1
                for (name,) in conn.exec_driver_sql("SELECT table_name FROM _turbodata_files")
                if schema in name
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("kill_after_files", [0, 2])
def test_sigkill_mid_load_then_rerun_equals_an_uninterrupted_load(
    mssql_url: str, schema: str, tmp_path: Path, kill_after_files: int
) -> None:
    folders = 6
    # rows enough that each folder's transaction outlasts the probe's polling: at 20,000 the
    # pytds bulk copy committed a folder between two polls, and the CLI was killed only after
    # its last folder (the test's own timing, not the load's: 6 of 6 committed)
    batches = write_big_lake(tmp_path / "lake", folders, 60_000)
    process = start_cli(tmp_path / "lake", mssql_url, "--schema", schema)
    done_before = kill_inside_a_write(
        process,
        mssql_url,
        kill_after_files,
        committed=lambda: committed_files(mssql_url, schema),
        writing=lambda: others_in_a_transaction(mssql_url),
    )
    assert done_before < folders

    rerun = migrate(tmp_path / "lake", mssql_url, options=LoadOptions(db_schema=schema))

    assert rerun.ok, rerun.to_dict()
    assert rerun.tables["t"].files_read == folders - done_before
    got = {r[0] for r in rows_of(mssql_url, "t", schema)}
    assert got == {k.lower() for k in final_state(batches)}
    assert committed_files(mssql_url, schema) == folders


def test_a_first_load_with_a_repeated_key_falls_back_to_staging(
    mssql_url: str,
    schema: str,
    engine: sa.Engine,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A keyed first load goes straight into the table it creates; the primary key refuses a
    repeated key through this driver's path (bulk copy or INSERT), and the batch loads again
    through staging. A first load whose keys come once stays on the direct path."""
    from tests.mssql.conftest import drop_schema
    from tests.test_changes import ChangeLake, row

    unique, repeated = ChangeLake(tmp_path / "unique"), ChangeLake(tmp_path / "repeated")
    unique.folder([row(1, 1, 1, "a"), row(2, 1, 1, "b")], [row(3, None, 2, delete=True)])
    repeated.folder([row(1, 1, 1, "old"), row(2, 1, 1, "b")], [row(1, 2, 2, "new")])
    unique_schema = f"{schema}_u"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA [{unique_schema}]")
    try:
        with caplog.at_level("INFO", logger="turbodata"):
            load(unique.root, mssql_url, unique_schema)
            assert "loading through staging" not in caplog.text
            load(repeated.root, mssql_url, schema)
            assert "loading through staging" in caplog.text
        for lake, name, where in ((unique, "u", unique_schema), (repeated, "r", schema)):
            (tmp_path / name).mkdir()
            reference = sqlite_reference(tmp_path / name, lake.root)
            assert rows_of(mssql_url, "t", where) == rows_of(reference, "t"), name
    finally:
        drop_schema(engine, unique_schema)


def test_a_cut_last_row_is_mended_when_its_file_is_read_again(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    """A file read while still being written ended in a cut row of the right width; read
    again complete, its row (same versionnumber) replaces the cut one, as on SQLite."""
    from tests.test_changes import cut_row_lake, guid

    builder, complete = cut_row_lake(tmp_path / "lake")
    load(builder.root, mssql_url, schema)
    complete()

    summary = load(builder.root, mssql_url, schema)

    assert summary.tables["t"].rows_updated == 2  # type: ignore[attr-defined]
    codes = {r[0]: r[-1] for r in rows_of(mssql_url, "t", schema)}
    assert codes == {guid(1): "A1", guid(2): "ABCDEF"}


def test_a_soft_deleted_row_stays_marked_when_its_last_upsert_comes_again(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    from tests.test_changes import ChangeLake, row

    lake = ChangeLake(tmp_path / "lake")
    lake.folder([row(1, 5, 1, "alpha")])
    lake.folder([row(1, None, 2, delete=True)])
    lake.folder([row(1, 5, 1, "alpha")])  # the same change: not newer than the mark

    summary = migrate(lake.root, mssql_url, options=LoadOptions(db_schema=schema, soft_delete=True))

    assert summary.ok, summary.to_dict()
    assert [r[-1] for r in rows_of(mssql_url, "t", schema)] == [1]


def test_soft_delete_of_keys_created_or_updated_in_the_same_folder_keeps_them_marked(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    """The upsert rows kept under a delete row of their key are set aside and marked in the
    staging table (`changes.keep_winners(soft_delete=True)`)."""
    from tests.test_changes import ChangeLake, row

    lake = ChangeLake(tmp_path / "lake")
    lake.folder([row(1, 1, 1, "one"), row(2, 1, 1, "two")])
    created = [row(3, 1, 2, "created"), row(2, 2, 2, "two updated")]
    lake.folder(created, [row(3, 2, 3, delete=True), row(2, 3, 3, delete=True)])

    summary = migrate(lake.root, mssql_url, options=LoadOptions(db_schema=schema, soft_delete=True))

    assert summary.ok, summary.to_dict()
    assert [(r[2], r[3], r[4]) for r in rows_of(mssql_url, "t", schema)] == [
        ("one", 1, None),
        ("two updated", 2, 1),
        ("created", 1, 1),
    ]


def test_text_keys_the_collation_makes_one_fail_the_table_instead_of_merging(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    """'abc', 'ABC' and 'abc ' are three rows in the source and one key to a case-insensitive
    collation (and `=` ignores trailing spaces under every collation): the table fails,
    naming the key, instead of keeping one row. SQLite and PostgreSQL keep all three."""
    columns = [attribute("code", "string", 10), attribute("v", "int32")]
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"twice": columns, "later": columns},
        {"twice/2025.csv": "abc,1\nABC,2\n", "later/2025.csv": "abc,1\n"},
    )
    lake.folder("2025-01-02T00.00.00Z", {"later": columns}, {"later/2025.csv": "abc ,2\n"})
    keys = {"twice": ["code"], "later": ["code"]}

    summary = migrate(lake.root, mssql_url, options=LoadOptions(db_schema=schema, keys=keys))

    for table in ("twice", "later"):
        result = summary.tables[table]
        assert result.status == "failed", result
        assert "is spelled more than one way" in (result.error or ""), result.error
    assert rows_of(mssql_url, "later", schema) == [("abc", 1)]  # the first folder's row
    reference = f"sqlite:///{tmp_path / 'reference.sqlite'}"
    assert migrate(lake.root, reference, options=LoadOptions(keys=keys)).ok
    assert len(rows_of(reference, "twice")) == 2 and len(rows_of(reference, "later")) == 2


def test_a_soft_deleted_snapshot_refuses_keys_the_table_spells_otherwise(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    """Snapshot `abc` then `ABC` (or `abc `), soft delete: SQLite marks `abc` deleted and
    inserts `ABC`; here the upsert updated `abc` in place, the run succeeding (found by
    review). The table fails, naming the key, as a batch of changes does."""
    from tests.lakebuilder import entity, model_json

    columns = [attribute("Id", "string", 10), attribute("v", "int32"), attribute("IsDelete")]
    lake = LakeBuilder(tmp_path / "lake")
    part = "t/2024.csv"
    lake.write("model.json", model_json([entity("t", columns, [part])]))
    lake.write(part, "abc,1,\nzzz,1,\n")
    options = LoadOptions(db_schema=schema, soft_delete=True)
    assert migrate(lake.root, mssql_url, options=options).ok
    lake.write(part, "ABC,2,\nzzz,1,\n")

    summary = migrate(lake.root, mssql_url, options=options)

    result = summary.tables["t"]
    assert result.status == "failed" and "is spelled more than one way" in (result.error or "")
    assert sorted(rows_of(mssql_url, "t", schema)) == [("abc", 1, None), ("zzz", 1, None)]


def test_a_bulk_copy_failing_on_the_server_never_loses_the_batchs_earlier_rows(
    mssql_url: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under XACT_ABORT a bulk copy's error can roll back the batch's transaction. pytds bulk
    copies on the load's own connection: the INSERT fallback then committed the later files
    alone, losing the earlier files' rows with the run succeeding (found by review); the
    batch fails now and the rerun loads it. mssql-python bulk copies on a session of its
    own: the fallback is safe there. (pyodbc has no bulk copy.) The server's abort is made by
    a division by zero, which Babelfish aborts on; it does not abort on a bulk-load error."""
    from turbodata.dialects.mssql_drivers import for_driver_name

    driver = for_driver_name(sa.engine.make_url(mssql_url).get_driver_name())
    real = type(driver).bulk_copy
    calls = {"n": 0}

    def failing_second(self, dbapi_connection, *args):  # the folder's second file
        calls["n"] += 1
        if calls["n"] == 2:
            cursor = dbapi_connection.cursor()
            with contextlib.suppress(Exception):
                cursor.execute("SELECT 1/0")  # the server rolls back the transaction
            raise RuntimeError("bulk load failed on the server")
        return real(self, dbapi_connection, *args)

    monkeypatch.setattr(type(driver), "bulk_copy", failing_second)
    columns = [attribute("code", "string", 20), attribute("n", "int32")]  # keyless: appended
    lake = LakeBuilder(tmp_path / "lake")
    files = {"t/2025.csv": "a,1\nb,2\n", "t/2026.csv": "c,3\nd,4\n"}
    lake.folder("2025-01-01T10.00.00Z", {"t": columns}, files)
    every_row = [("a", 1), ("b", 2), ("c", 3), ("d", 4)]

    first = migrate(lake.root, mssql_url, options=LoadOptions(db_schema=schema))
    if first.ok:  # a fallback that kept the batch whole
        assert sorted(rows_of(mssql_url, "t", schema)) == every_row
    again = migrate(lake.root, mssql_url, options=LoadOptions(db_schema=schema))

    assert again.ok, again.to_dict()
    assert sorted(rows_of(mssql_url, "t", schema)) == every_row
    if driver.has_bulk_copy() and not driver.bulk_uses_own_connection:
        assert first.tables["t"].status == "failed" and calls["n"] >= 2  # pytds


def test_a_transaction_the_server_rolls_back_unseen_fails_the_batch(
    mssql_url: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mssql-python asks the server the type of a NULL parameter; Babelfish fails that on an
    UPDATE naming its table's columns, XACT_ABORT rolled the transaction back, and the
    driver went on in a new one without an error: a watermark written with a NULL error
    lost the batch's first part while the run succeeded (found by this suite). NULLs are
    written into the statements now, and a transaction lost any other way fails its batch
    (`MSSQLDialect.whole_transaction`): shown by a rollback the driver does not see."""
    from turbodata.load.batch_writing import BatchWriter

    columns = [attribute("code", "string", 20), attribute("n", "int32")]  # keyless: appended
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T10.00.00Z", {"t": columns}, {"t/2025.csv": "a,1\n"})
    load(lake.root, mssql_url, schema)
    files = {"t/2025.csv": "b,2\n", "t/2026.csv": "c,3\n"}
    lake.folder("2025-01-01T11.00.00Z", {"t": columns}, files)
    real, calls = BatchWriter._record_file, {"n": 0}

    def lost_after_the_first_file(self: BatchWriter, *args: object) -> None:
        real(self, *args)
        calls["n"] += 1
        if calls["n"] == 1:  # the server rolls back; the driver goes on as if not
            self.conn.exec_driver_sql("ROLLBACK TRANSACTION; BEGIN TRANSACTION")

    monkeypatch.setattr(BatchWriter, "_record_file", lost_after_the_first_file)
    lost = migrate(lake.root, mssql_url, options=LoadOptions(db_schema=schema))

    error = lost.tables["t"].error or ""
    # pytds bulk copies through a landing table of the transaction: the next file fails first
    assert "rolled this batch's transaction back" in error or "#turbodata_land_" in error
    assert not lost.ok and lost.tables["t"].status == "failed"
    assert sorted(rows_of(mssql_url, "t", schema)) == [("a", 1)]  # nothing of it committed
    monkeypatch.undo()
    load(lake.root, mssql_url, schema)
    assert sorted(rows_of(mssql_url, "t", schema)) == [("a", 1), ("b", 2), ("c", 3)]


def test_a_string_longer_than_declared_keeps_the_bulk_copy(
    mssql_url: str,
    schema: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    babelfish: bool,
) -> None:
    """The column is widened before the rows go in, and the bulk copy sends them at the
    wider length (sent at the declared one, pytds' bulk copy failed and every later table
    of the process went row by row). On Babelfish mssql-python's bulk copy is never
    trusted (test_statements: it falls back for any rows)."""
    columns = [attribute("Id", "guid"), attribute("name", "string", 5)]
    lake = LakeBuilder(tmp_path / "lake")
    lake.write("model.json", _classic_model(columns))
    rows = [f"00000000-0000-0000-0000-{i:012d},{'x' * (i % 9)}\n" for i in range(2_000)]
    lake.write("account/Snapshot/account_1.csv", "".join(rows))

    load(tmp_path / "lake", mssql_url, schema)

    if not (babelfish and "mssqlpython" in mssql_url):
        assert "cannot be trusted" not in caplog.text
    stored = sorted(r[1] or "" for r in rows_of(mssql_url, "account", schema))
    assert stored == sorted("x" * (i % 9) for i in range(2_000))


def test_a_keyless_table_wider_than_declared_takes_long_strings_in_a_later_folder(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    """The first folder widens `note` past its declared length; the second, declared as
    narrow again, was bulk copied at the declared length into the wider column (found by
    review): every value must arrive whole."""
    columns = [attribute("Id", "guid"), attribute("note", "string", 5)]
    lake = LakeBuilder(tmp_path / "lake")
    for number, folder in enumerate(("2025-01-01T10.00.00Z", "2025-01-01T11.00.00Z")):
        rows = [f"00000000-0000-0000-{number:04d}-{i:012d},{'y' * 30}{i}\n" for i in range(300)]
        lake.folder(folder, {"t": columns}, {"t/2025.csv": "".join(rows)})

    options = LoadOptions(db_schema=schema, keys={"t": []})
    summary = migrate(tmp_path / "lake", mssql_url, options=options)

    assert summary.ok, summary.to_dict()
    stored = sorted(r[1] for r in rows_of(mssql_url, "t", schema))
    assert stored == sorted(f"{'y' * 30}{i}" for i in range(300) for _ in range(2))


def test_a_table_someone_created_with_varchar_fails_until_it_is_nvarchar(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    """VARCHAR stores text outside its code page as '?': `αβγ` loaded as `???`, the run
    succeeding (found by review, on Babelfish as SQL Server documents it)."""
    columns = [attribute("Id", "guid"), attribute("name", "string", 50)]
    lake = LakeBuilder(tmp_path / "lake")
    row = '00000000-0000-0000-0000-000000000001,"αβγ 日本語 café"\n'
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": row})
    engine = connect(mssql_url)[0]
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TABLE [{schema}].t (Id UNIQUEIDENTIFIER PRIMARY KEY, name VARCHAR(50))"
            )
        refused = migrate(lake.root, mssql_url, options=LoadOptions(db_schema=schema))
        assert refused.tables["t"].status == "failed" and not refused.ok
        assert "column 'name' of t is VARCHAR(50)" in refused.tables["t"].error
        assert "ALTER TABLE [t] ALTER COLUMN [name] NVARCHAR(50)" in refused.tables["t"].error
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE [{schema}].t ALTER COLUMN name NVARCHAR(50)")
    finally:
        engine.dispose()

    load(tmp_path / "lake", mssql_url, schema)

    assert [r[1] for r in rows_of(mssql_url, "t", schema)] == ["αβγ 日本語 café"]


def test_text_with_a_nul_character_is_stored_whole_or_fails_never_cut(
    mssql_url: str, schema: str, tmp_path: Path, babelfish: bool
) -> None:
    """mssql-python cut `fo\\x00ur` to `fo` without an error, the run succeeding (found by
    review). SQL Server stores NUL in NVARCHAR; Babelfish (on PostgreSQL) refuses it, so
    there the batch fails, naming the error."""
    columns = [attribute("Id", "guid"), attribute("name", "string", 10)]
    lake = LakeBuilder(tmp_path / "lake")
    rows = (
        "00000000-0000-0000-0000-000000000001,fo\x00ur\n00000000-0000-0000-0000-000000000002,ok\n"
    )
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": rows})

    summary = migrate(lake.root, mssql_url, options=LoadOptions(db_schema=schema))

    if babelfish:
        assert summary.tables["t"].status == "failed", summary.to_dict()
        assert "code point 0" in summary.tables["t"].error
    else:
        assert summary.ok, summary.to_dict()
        assert sorted(r[1] for r in rows_of(mssql_url, "t", schema)) == ["fo\x00ur", "ok"]


def test_a_delta_feed_commit_rewriting_rows_keeps_them(
    mssql_url: str, schema: str, tmp_path: Path
) -> None:
    """An overwrite with a predicate: its feed deletes and inserts the rows in one commit,
    ranked by commit, then the row after it over the delete (`changes._feed_ranking`; the
    commit's file index is the staged sequence divided by ROWS_PER_FILE in T-SQL too)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    columns = [("Id", pa.string()), ("name", pa.string()), ("IsDelete", pa.bool_())]
    table_schema = pa.schema([*columns, ("part", pa.string())])

    def parted(*rows: tuple[str, str, str]) -> pa.Table:
        data = [{"Id": k, "name": n, "IsDelete": None, "part": p} for k, n, p in rows]
        return pa.Table.from_pylist(data, table_schema)

    delta = str(tmp_path / "lake" / "deltalake" / "account_partitioned")
    first = parted(("a", "A1", "x"), ("b", "B1", "x"), ("c", "C1", "y"))
    write_deltalake(delta, first, configuration={"delta.enableChangeDataFeed": "true"})
    load(tmp_path / "lake", mssql_url, schema)
    again = parted(("a", "A2", "x"), ("b", "B1", "x"))
    write_deltalake(delta, again, mode="overwrite", predicate="part = 'x'")

    load(tmp_path / "lake", mssql_url, schema)

    assert [(r[0], r[1]) for r in rows_of(mssql_url, "account", schema)] == [
        ("a", "A2"),
        ("b", "B1"),
        ("c", "C1"),
    ]


@pytest.mark.parametrize("key_type", ["int64", "int32"])
def test_an_integer_key_loads_its_own_values(
    mssql_url: str, schema: str, engine: sa.Engine, tmp_path: Path, key_type: str
) -> None:
    """A single integer key was created IDENTITY (SQLAlchemy's default for an integer primary
    key on SQL Server), which refuses the lake's values: the table never loaded (found by
    review). A snapshot, and folders of changes (staged upsert and delete)."""
    from tests.mssql.conftest import drop_schema

    columns = [attribute("Id", key_type), attribute("name", "string", 20)]
    changes = [*columns, attribute("versionnumber", "int64"), attribute("IsDelete", "boolean")]
    snapshot, incremental = LakeBuilder(tmp_path / "snap"), LakeBuilder(tmp_path / "incr")
    snapshot.write("t/1.csv", "7,seven\n3,three\n")
    snapshot.write("model.json", model_json([entity("t", columns, ["t/1.csv"])]))
    first, later = "2025-01-01T00.00.00Z", "2025-01-02T00.00.00Z"
    incremental.folder(first, {"t": changes}, {"t/1.csv": "7,seven,1,\n3,three,1,\n"})
    incremental.folder(later, {"t": changes}, {"t/1.csv": "7,SEVEN,2,\n3,,2,True\n9,nine,1,\n"})
    changes_schema = f"{schema}_i"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA [{changes_schema}]")
    try:
        for lake, where in ((snapshot, schema), (incremental, changes_schema)):
            load(lake.root, mssql_url, where)
            (tmp_path / where).mkdir()
            reference = sqlite_reference(tmp_path / where, lake.root)
            assert rows_of(mssql_url, "t", where) == rows_of(reference, "t"), where
    finally:
        drop_schema(engine, changes_schema)

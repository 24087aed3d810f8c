"""Schema drift and minimal types, for real on SQLite and PostgreSQL (issue 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.dbcheck import fetch, scalar
from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from turbodata import migrate
from turbodata.cli import main
from turbodata.load.loader import LoadOptions
from turbodata.metadata.override_file import parse_overrides
from turbodata.pipeline import connect
from turbodata.types.sql import Kind, SqlType

ID = attribute("Id", "guid")


def guid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def column_types(db_url: str, table: str) -> dict[str, SqlType]:
    engine, dialect = connect(db_url)
    try:
        with engine.connect() as conn:
            return dialect.reflect_types(conn, table, None)
    finally:
        engine.dispose()


def ddl_log(db_url: str) -> list[str]:
    return [r["statement"] for r in fetch(db_url, "_turbodata_ddl")]


def schema_ddl(db_url: str) -> list[str]:
    """The DDL log without the key added after a table's first load (PostgreSQL's primary
    key, SQLite's unique index)."""
    return [s for s in ddl_log(db_url) if not is_key_ddl(s)]


def is_key_ddl(statement: str) -> bool:
    return statement.endswith('ADD PRIMARY KEY ("Id")') or statement.startswith(
        "CREATE UNIQUE INDEX _turbodata_key_"
    )


def assert_rerun_changes_nothing(lake: Path, db_url: str, tables: list[str]) -> None:
    before = {t: fetch(db_url, t) for t in tables}
    ddl_before = ddl_log(db_url)
    again = migrate(lake, db_url)
    assert all(t.files_read == 0 and not t.ddl for t in again.tables.values())
    assert {t: fetch(db_url, t) for t in tables} == before
    assert ddl_log(db_url) == ddl_before


def test_a_column_appended_mid_stream_with_short_and_long_rows_in_one_file(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    old = [ID, attribute("n", "int64")]
    lake.folder("2025-01-01T00.00.00Z", {"t": old}, {"t/1.csv": f"{guid(1)},1\n"})
    lake.folder(
        "2025-01-01T00.05.00Z",
        {"t": [*old, attribute("tier", "string", 20)]},
        {"t/1.csv": f"{guid(2)},2\n{guid(3)},3,gold\n{guid(4)},4,silver\n"},
    )
    summary = migrate(lake.root, db_url)
    assert summary.ok
    assert sorted((int(r["n"]), r["tier"]) for r in fetch(db_url, "t")) == [
        (1, None),
        (2, None),
        (3, "gold"),
        (4, "silver"),
    ]
    statements = schema_ddl(db_url)
    assert len(statements) == 2 and "ADD COLUMN" in statements[1] and '"tier"' in statements[1]
    assert_rerun_changes_nothing(lake.root, db_url, ["t"])


def test_a_row_between_two_schemas_widths_is_rejected_not_padded(
    tmp_path: Path, db_url: str
) -> None:
    """Schemas of 2 and 4 columns make rows of 2 or 4 values; a row of 3 is one cut short
    (lake-format.md 4.2), not one that proves its 4th column absent."""
    lake = LakeBuilder(tmp_path / "lake")
    old = [ID, attribute("n", "int64")]
    new = [*old, attribute("tier", "string", 20), attribute("note", "string", 20)]
    lake.folder("2025-01-01T00.00.00Z", {"t": old}, {"t/1.csv": f"{guid(1)},1\n"})
    rows = f"{guid(2)},2\n{guid(3)},3,gold\n{guid(4)},4,gold,x\n"
    lake.folder("2025-01-01T00.05.00Z", {"t": new}, {"t/1.csv": rows})

    summary = migrate(lake.root, db_url)

    t = summary.tables["t"]
    assert t.rows_rejected == 1 and not summary.ok
    assert "row 2: row has 3 values, and the table's schemas have 2, 4 columns" in t.problems[0]
    assert sorted(int(r["n"]) for r in fetch(db_url, "t")) == [1, 2, 4]


def test_a_short_row_of_a_width_the_table_had_in_an_earlier_run_still_loads(
    tmp_path: Path, db_url: str
) -> None:
    """The ledger keeps every width the table's batches had, not only the narrowest: a row
    of 5 values written under a 5-column schema loads after the metadata grew to 6."""
    from tests.lakebuilder import entity, model_json

    lake = LakeBuilder(tmp_path / "lake")
    columns = [ID, *(attribute(name, "string", 20) for name in "abcde")]
    snapshot, rows = "t/Snapshot/2025_1.csv", ""
    for run, width in enumerate((4, 5, 6), start=1):  # a column appended before each run
        rows += f"{guid(run)}," + ",".join("v" * (width - 1)) + "\n"
        lake.write("model.json", model_json([entity("t", columns[:width], [snapshot])]))
        lake.write(snapshot, rows)

        summary = migrate(lake.root, db_url)

        assert summary.ok, summary.to_dict()
    assert sorted(str(r["Id"])[-1] for r in fetch(db_url, "t")) == ["1", "2", "3"]


def test_columns_widen_along_the_lattice_when_the_metadata_or_the_data_grows(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    v1 = [
        ID,
        attribute("n", "int32"),
        attribute("amount", "decimal", precision=10, scale=2),
        attribute("name", "string", 5),
    ]
    v2 = [
        ID,
        attribute("n", "int64"),
        attribute("amount", "decimal", precision=12, scale=4),
        attribute("name", "string", 8),
    ]
    lake.folder("2025-01-01T00.00.00Z", {"t": v1}, {"t/1.csv": f'{guid(1)},7,12345678.91,"abc"\n'})
    lake.folder(
        "2025-01-01T00.05.00Z",
        {"t": v2},
        {"t/1.csv": f'{guid(2)},9000000000,12345678.1234,"longer than eight"\n'},
    )
    summary = migrate(lake.root, db_url)
    assert summary.ok, summary.to_dict()
    types = column_types(db_url, "t")
    assert types["n"].kind is Kind.BIGINT
    assert (types["amount"].precision, types["amount"].scale) == (12, 4)
    assert types["name"].length == len("longer than eight")
    rows = {str(r["Id"]): r for r in fetch(db_url, "t")}
    assert str(rows[guid(1)]["amount"]).rstrip("0") == "12345678.91"
    assert str(rows[guid(2)]["amount"]) == "12345678.1234"
    assert rows[guid(2)]["n"] == 9000000000
    assert_rerun_changes_nothing(lake.root, db_url, ["t"])


def test_a_column_that_vanished_from_the_metadata_stays_and_gets_null(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    with_old = [ID, attribute("a", "string", 5), attribute("legacy", "string", 5)]
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"t": with_old},
        {"t/1.csv": f"{guid(1)},x,old\n{guid(3)},z,old\n"},
    )
    lake.folder(  # Id 3 is updated after `legacy` left the metadata
        "2025-01-01T00.05.00Z", {"t": with_old[:2]}, {"t/1.csv": f"{guid(2)},y\n{guid(3)},z2\n"}
    )
    assert migrate(lake.root, db_url).ok
    rows = {str(r["Id"]): (r["a"], r["legacy"]) for r in fetch(db_url, "t")}
    assert rows == {guid(1): ("x", "old"), guid(2): ("y", None), guid(3): ("z2", None)}
    assert_rerun_changes_nothing(lake.root, db_url, ["t"])


def test_an_incompatible_change_stops_its_table_untouched_while_another_table_loads(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"a": [ID, attribute("code", "int64")], "b": [ID]},
        {"a/1.csv": f"{guid(1)},1\n", "b/1.csv": f"{guid(1)}\n"},
    )
    assert migrate(lake.root, db_url).ok
    lake.folder(
        "2025-01-01T00.05.00Z",
        {"a": [ID, attribute("code", "string", 10)], "b": [ID]},
        {"a/1.csv": f"{guid(2)},X-1\n", "b/1.csv": f"{guid(2)}\n"},
    )
    lake.folder(
        "2025-01-01T00.10.00Z",
        {"a": [ID, attribute("code", "string", 10)]},
        {"a/1.csv": f"{guid(3)},X-3\n"},
    )
    ddl_before = ddl_log(db_url)

    summary = migrate(lake.root, db_url)

    a, b = summary.tables["a"], summary.tables["b"]
    assert a.status == "failed" and b.status == "loaded"
    assert "'code'" in a.error and "bigint" in a.error and "string(10)" in a.error
    assert a.files_read == 0 and a.rows_inserted == 0
    assert [str(r["Id"]) for r in fetch(db_url, "a")] == [guid(1)]
    assert len(fetch(db_url, "b")) == 2
    assert ddl_log(db_url) == ddl_before
    again = migrate(lake.root, db_url)
    assert again.tables["a"].status == "failed" and len(fetch(db_url, "a")) == 1


def test_columns_moved_in_the_middle_load_only_when_every_row_has_the_new_width(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    old = [ID, attribute("x", "string", 5), attribute("gone", "string", 5), attribute("y", "int64")]
    new = [ID, attribute("x", "string", 5), attribute("y", "int64")]
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"ok": old, "bad": old},
        {"ok/1.csv": f"{guid(1)},a,g,1\n", "bad/1.csv": f"{guid(1)},a,g,1\n"},
    )
    lake.folder(
        "2025-01-01T00.05.00Z",
        {"ok": new, "bad": new},
        {"ok/1.csv": f"{guid(2)},b,2\n", "bad/1.csv": f"{guid(2)},b,2\n{guid(3)},c,g,3\n"},
    )
    summary = migrate(lake.root, db_url)
    assert summary.tables["ok"].status == "loaded"
    rows = {str(r["Id"]): (r["x"], r["gone"], int(r["y"])) for r in fetch(db_url, "ok")}
    assert rows == {guid(1): ("a", "g", 1), guid(2): ("b", None, 2)}
    bad = summary.tables["bad"]
    assert bad.status == "failed" and "moved or removed in the middle" in bad.error
    assert [str(r["Id"]) for r in fetch(db_url, "bad")] == [guid(1)]


def test_columns_moved_after_the_folders_before_them_are_gone_are_still_seen_moved(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    x, y, z = (attribute(name, "string", 5) for name in ("x", "y", "z"))
    lake.folder("2025-01-01T00.00.00Z", {"t": [ID, x, y]}, {"t/1.csv": f"{guid(1)},x1,y1\n"})
    lake.folder("2025-01-01T00.05.00Z", {"t": [ID, x, y, z]}, {"t/1.csv": f"{guid(2)},x2,y2,z2\n"})
    assert migrate(lake.root, db_url).ok
    for folder in ("2025-01-01T00.00.00Z", "2025-01-01T00.05.00Z"):  # retention
        shutil.rmtree(lake.root / folder)
    # y and x swapped; a row of the old width would bind x's value to y
    short = f"{guid(3)},x3,y3\n{guid(4)},y4,x4,z4\n"
    lake.folder("2025-01-01T00.10.00Z", {"t": [ID, y, x, z]}, {"t/1.csv": short})

    summary = migrate(lake.root, db_url)

    assert summary.tables["t"].status == "failed"
    assert "moved or removed in the middle" in summary.tables["t"].error
    assert sorted(str(r["Id"]) for r in fetch(db_url, "t")) == [guid(1), guid(2)]


def test_weak_metadata_is_narrowed_from_the_data_and_an_override_file_pins_types(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    columns = [
        ID,
        attribute("count", "unclassified"),
        attribute("postal", "string"),
        attribute("price", "unclassified"),
        attribute("memo", "string"),
    ]
    rows = f"{guid(1)},12,01234,9.50,hello\n{guid(2)},300,98052,10.25,a longer note\n"
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": rows})
    overrides = parse_overrides("t:\n  memo: nvarchar(max)\n", "types.yaml")

    summary = migrate(lake.root, db_url, options=LoadOptions(overrides=overrides))

    assert summary.ok, summary.to_dict()
    types = column_types(db_url, "t")
    assert types["count"].kind is Kind.SMALLINT  # 12 and 300
    assert types["postal"] == SqlType(Kind.STRING, 5)  # leading zero: stays a string
    assert (types["price"].kind, types["price"].precision, types["price"].scale) == (
        Kind.DECIMAL,
        4,
        2,
    )
    assert types["memo"] == SqlType(Kind.STRING, None)  # pinned
    postal = sorted(r["postal"] for r in fetch(db_url, "t"))
    assert postal == ["01234", "98052"]


def test_a_time_pinned_with_fewer_fraction_digits_rejects_values_it_would_round(
    tmp_path: Path, db_url: str
) -> None:
    """PostgreSQL rounded them: `…23:59:59.5` into year 10000, `23:59:59.9` to 24:00, while
    the run reported no reject (found by review). A decimal's scale rejects the same way."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [ID, attribute("dt", "dateTime"), attribute("t", "time")]
    rows = (
        f'{guid(1)},"2025-01-01T10:00:00.5Z","10:00:00"\n'
        f'{guid(2)},"9999-12-31T23:59:59Z","23:59:59.9"\n'
        f'{guid(3)},"2025-01-01T10:00:00.000Z","10:00:00.00"\n'
        f'{guid(4)},"1/1/2025 10:00:00 AM","10:00:01"\n'
    )
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": rows})
    overrides = parse_overrides("t:\n  dt: datetime2(0)\n  t: time(0)\n", "types.yaml")

    summary = migrate(lake.root, db_url, options=LoadOptions(overrides=overrides))

    t = summary.tables["t"]
    assert (t.rows_inserted, t.rows_rejected) == (2, 2), summary.to_dict()
    assert [p.split(": ", 1)[1] for p in t.problems] == [
        "row 1, column 'dt': not a datetime(0): '2025-01-01T10:00:00.5Z' (more than 0"
        " fraction digits of a second)",
        "row 2, column 't': not a time(0): '23:59:59.9' (more than 0 fraction digits of a second)",
    ]
    assert sorted(str(r["Id"]) for r in fetch(db_url, "t")) == [guid(3), guid(4)]


def test_inference_can_be_turned_off(tmp_path: Path, db_url: str) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"t": [ID, attribute("count", "unclassified")]},
        {"t/1.csv": f"{guid(1)},12\n"},
    )
    assert migrate(lake.root, db_url, options=LoadOptions(infer=False)).ok
    assert column_types(db_url, "t")["count"] == SqlType(Kind.STRING, None)


def test_a_typo_in_the_override_file_is_an_error_naming_the_line(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(
        "2025-01-01T00.00.00Z", {"t": [ID, attribute("n", "int64")]}, {"t/1.csv": f"{guid(1)},1\n"}
    )
    bad_type = tmp_path / "types.yaml"
    bad_type.write_text("t:\n  n: bigint\n  Id: uniqueidentifer\n")
    assert (
        main(["migrate", "--lake", str(lake.root), "--db", sqlite_url, "--types", str(bad_type)])
        == 2
    )
    assert "types.yaml, line 3: unknown type 'uniqueidentifer'" in capsys.readouterr().err

    bad_column = tmp_path / "columns.yaml"
    bad_column.write_text("t:\n  n: bigint\n  nn: int\n")
    assert (
        main(["migrate", "--lake", str(lake.root), "--db", sqlite_url, "--types", str(bad_column)])
        == 1
    )
    err = capsys.readouterr().err
    assert "columns.yaml, line 3: column 't.nn' matches no column" in err
    assert "t" not in {n for n in sa.inspect(sa.create_engine(sqlite_url)).get_table_names()}


def test_plan_prints_the_ddl_and_changes_nothing_and_dry_run_counts_rows(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"t": [ID, attribute("n", "int64")]},
        {"t/1.csv": f"{guid(1)},1\n{guid(2)},2\n"},
    )
    lake.folder(
        "2025-01-01T00.05.00Z",
        {"t": [ID, attribute("n", "int64"), attribute("extra", "string", 4)]},
        {"t/1.csv": f"{guid(3)},3,abcd\n"},
    )

    assert main(["plan", "--lake", str(lake.root), "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert 't: CREATE TABLE "t"' in out and 't: ALTER TABLE "t" ADD COLUMN "extra"' in out
    assert "t" not in sa.inspect(sa.create_engine(db_url)).get_table_names()

    assert main(["migrate", "--dry-run", "--json", "--lake", str(lake.root), "--db", db_url]) == 0
    planned = json.loads(capsys.readouterr().out)["tables"]["t"]
    assert (planned["status"], planned["rows_inserted"], planned["files_read"]) == ("planned", 3, 2)
    assert scalar(db_url, "SELECT 1") == 1
    assert "t" not in sa.inspect(sa.create_engine(db_url)).get_table_names()


def test_every_type_reads_back_through_the_inspector_as_it_was_created(db_url: str) -> None:
    from turbodata.load.schema import plan_table, reflect

    types = {
        "b": SqlType(Kind.BOOLEAN),
        "t": SqlType(Kind.TINYINT),
        "s": SqlType(Kind.SMALLINT),
        "i": SqlType(Kind.INTEGER),
        "g": SqlType(Kind.BIGINT),
        "d": SqlType(Kind.DECIMAL, precision=38, scale=10),
        "f": SqlType(Kind.FLOAT),
        "r": SqlType(Kind.REAL),
        "n": SqlType(Kind.STRING, 40),
        "m": SqlType(Kind.STRING),
        "u": SqlType(Kind.GUID),
        "dt": SqlType(Kind.DATETIME),
        "do": SqlType(Kind.DATETIMEOFFSET),
        "day": SqlType(Kind.DATE),
        "clock": SqlType(Kind.TIME),
    }
    engine, dialect = connect(db_url)
    with engine.begin() as conn:
        for statement in plan_table(conn.dialect, dialect, "every", types, None).statements:
            conn.exec_driver_sql(statement)
    with engine.connect() as conn:
        assert reflect(conn, dialect, "every", None) == {
            name: dialect.stored_type(t) for name, t in types.items()
        }
    engine.dispose()


def test_a_string_declared_without_length_stays_a_string_whatever_it_first_holds(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    columns = [ID, attribute("phone", "string")]
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": f"{guid(1)},5551234\n"})
    lake.folder("2025-01-01T00.05.00Z", {"t": columns}, {"t/1.csv": f"{guid(2)},555-1234 ext 9\n"})
    assert migrate(lake.root, db_url).ok
    assert column_types(db_url, "t")["phone"] == SqlType(Kind.STRING, len("555-1234 ext 9"))
    assert sorted(r["phone"] for r in fetch(db_url, "t")) == ["555-1234 ext 9", "5551234"]


def test_a_boolean_column_widens_to_an_integer_when_the_metadata_says_so(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder(
        "2025-01-01T00.00.00Z",
        {"t": [ID, attribute("flag", "boolean")]},
        {"t/1.csv": f"{guid(1)},True\n{guid(2)},False\n{guid(3)},\n"},
    )
    lake.folder(
        "2025-01-01T00.05.00Z",
        {"t": [ID, attribute("flag", "int64")]},
        {"t/1.csv": f"{guid(4)},7\n"},
    )
    assert migrate(lake.root, db_url).ok
    assert column_types(db_url, "t")["flag"].kind is Kind.BIGINT
    flags = {str(r["Id"])[-1]: r["flag"] for r in fetch(db_url, "t")}
    assert flags == {"1": 1, "2": 0, "3": None, "4": 7}


def test_numbers_that_outgrow_their_declared_type_widen_the_column_instead_of_failing(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    columns = [
        ID,
        attribute("n", "int32"),
        attribute("amount", "decimal", precision=5, scale=2),
        attribute("note", "string", 10),
    ]
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": f"{guid(1)},7,1.50,a\n"})
    lake.folder(
        "2025-01-01T00.05.00Z",
        {"t": columns},
        {"t/1.csv": f"{guid(2)},9000000000,12345.678,b\n{guid(3)},8,oops,c\n"},
    )

    summary = migrate(lake.root, db_url)

    t = summary.tables["t"]
    assert t.rows_rejected == 1 and "'amount'" in t.problems[0] and "oops" in t.problems[0]
    types = column_types(db_url, "t")
    assert types["n"].kind is Kind.BIGINT
    assert (types["amount"].precision, types["amount"].scale) == (8, 3)
    rows = {str(r["Id"])[-1]: (int(r["n"]), str(r["amount"])) for r in fetch(db_url, "t")}
    assert rows["2"] == (9000000000, "12345.678")
    assert rows["1"][0] == 7 and rows["1"][1].startswith("1.5")
    assert_rerun_changes_nothing(lake.root, db_url, ["t"])


def test_a_fraction_in_an_integer_column_is_a_reject_not_a_decimal_column(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    columns = [ID, attribute("versionnumber", "int64")]
    lake.folder(
        "2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": f"{guid(1)},9\n{guid(2)},1.5\n"}
    )
    summary = migrate(lake.root, db_url)
    assert summary.tables["t"].rows_rejected == 1
    assert column_types(db_url, "t")["versionnumber"].kind is Kind.BIGINT


def test_a_whole_number_written_with_a_fraction_neither_sizes_an_integer_column(
    tmp_path: Path, db_url: str
) -> None:
    """`1.0` beside a value past 2^31 made an int32 column DECIMAL(38,0), its rows text on
    SQLite (found by review); it is a reject, as without the large value, and the column
    becomes BIGINT."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [ID, attribute("n", "int32")]
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": f"{guid(1)},9\n"})
    rows = f"{guid(2)},3000000000\n{guid(3)},1.0\n"
    lake.folder("2025-01-01T00.05.00Z", {"t": columns}, {"t/1.csv": rows})

    summary = migrate(lake.root, db_url)

    assert summary.tables["t"].rows_rejected == 1 and "'1.0'" in summary.tables["t"].problems[0]
    assert column_types(db_url, "t")["n"].kind is Kind.BIGINT
    assert sorted(int(r["n"]) for r in fetch(db_url, "t")) == [9, 3000000000]


def test_an_inferred_boolean_column_stays_boolean_through_a_folder_of_only_ones_and_zeros(
    tmp_path: Path, db_url: str
) -> None:
    """0 and 1 alone infer as an integer: such a folder turned the BOOLEAN column into
    TINYINT, and every later True/False was rejected (found by review)."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [ID, attribute("flag", "unclassified")]
    for n, (minute, rows) in enumerate([("00", "True,False"), ("05", "1,0"), ("10", "True,False")]):
        first, second = rows.split(",")
        content = f"{guid(2 * n + 1)},{first}\n{guid(2 * n + 2)},{second}\n"
        lake.folder(f"2025-01-01T00.{minute}.00Z", {"t": columns}, {"t/1.csv": content})

    summary = migrate(lake.root, db_url)

    assert summary.ok, summary.to_dict()
    assert column_types(db_url, "t")["flag"].kind is Kind.BOOLEAN
    flags = sorted((str(r["Id"]), r["flag"]) for r in fetch(db_url, "t"))
    assert [bool(flag) for _, flag in flags] == [True, False] * 3


def test_numbers_in_an_inferred_boolean_column_are_rejects_not_a_new_integer_type(
    tmp_path: Path, db_url: str
) -> None:
    """It became TINYINT (PostgreSQL smallint), its True rows 1, the run reporting no reject
    (found by review): a value an inferred column cannot take is a reject."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [ID, attribute("flag", "unclassified")]
    lake.folder(
        "2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": f"{guid(1)},True\n{guid(2)},False\n"}
    )
    lake.folder("2025-01-01T00.05.00Z", {"t": columns}, {"t/1.csv": f"{guid(3)},5\n{guid(4)},1\n"})

    summary = migrate(lake.root, db_url)

    t = summary.tables["t"]
    assert (t.rows_inserted, t.rows_rejected) == (3, 1), summary.to_dict()
    assert "row 1, column 'flag': not a boolean: '5'" in t.problems[0]
    assert column_types(db_url, "t")["flag"].kind is Kind.BOOLEAN
    flags = sorted((str(r["Id"]), bool(r["flag"])) for r in fetch(db_url, "t"))
    assert flags == [(guid(1), True), (guid(2), False), (guid(4), True)]


def test_short_rows_stay_valid_after_the_narrower_folder_is_removed_by_retention(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    old = [ID, attribute("n", "int64")]
    new = [*old, attribute("tier", "string", 10)]
    lake.folder("2025-01-01T00.00.00Z", {"t": old}, {"t/1.csv": f"{guid(1)},1\n"})
    lake.folder("2025-01-01T00.05.00Z", {"t": new}, {"t/1.csv": f"{guid(2)},2,gold\n"})
    assert migrate(lake.root, db_url).ok
    shutil.rmtree(lake.root / "2025-01-01T00.00.00Z")  # retention
    lake.folder("2025-01-01T00.10.00Z", {"t": new}, {"t/1.csv": f"{guid(1)},3\n"})

    summary = migrate(lake.root, db_url)

    assert summary.ok, summary.to_dict()
    assert {str(r["Id"]): int(r["n"]) for r in fetch(db_url, "t")} == {guid(1): 3, guid(2): 2}


def test_a_dry_run_reads_a_ledger_from_before_the_widths_table(
    tmp_path: Path, sqlite_url: str
) -> None:
    """A dry run creates no ledger table, so it reads one whose `_turbodata_widths` a real
    run has not created yet (the first run of a newer version)."""
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"t": [ID]}, {"t/1.csv": f"{guid(1)}\n"})
    assert migrate(lake.root, sqlite_url).ok
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE _turbodata_widths")
    engine.dispose()
    lake.folder("2025-01-01T00.05.00Z", {"t": [ID]}, {"t/1.csv": f"{guid(2)}\n"})

    planned = migrate(lake.root, sqlite_url, dry_run=True)

    assert planned.ok, planned.to_dict()
    assert planned.tables["t"].files_read == 1
    assert migrate(lake.root, sqlite_url).ok  # the run creates it


def test_an_inferred_number_column_rejects_codes_it_would_change(tmp_path: Path, db_url: str):
    """`code` was inferred an integer from 1 and 7. Read as numbers, `007` became 7, `+5` 5
    and `1E+2` 100 (a decimal reading takes exponents), with the run succeeding."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = {"t": [ID, attribute("code", "unclassified")]}
    lake.folder("2025-01-01T00.00.00Z", columns, {"t/1.csv": f"{guid(1)},1\n{guid(2)},7\n"})
    assert migrate(lake.root, db_url).ok
    later = f"{guid(3)},007\n{guid(4)},+5\n{guid(5)},1E+2\n{guid(6)},12\n"
    lake.folder("2025-01-02T00.00.00Z", columns, {"t/1.csv": later})

    summary = migrate(lake.root, db_url)

    table = summary.tables["t"]
    assert (table.rows_inserted, table.rows_rejected) == (1, 3)
    assert {str(r["Id"]): r["code"] for r in fetch(db_url, "t")} == {
        guid(1): 1,
        guid(2): 7,
        guid(6): 12,
    }
    rejected = [r["column_name"] for r in fetch(db_url, "_turbodata_rejects")]
    assert rejected == ["code"] * 3


def test_an_inferred_number_key_keeps_two_codes_apart(tmp_path: Path, db_url: str):
    """A key inferred an integer: `007` read as 7 updated the row of key 7 with its name."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = {"item": [attribute("code", "unclassified"), attribute("name", "string", 20)]}
    options = LoadOptions(keys={"item": ["code"]})
    lake.folder("2025-01-01T00.00.00Z", columns, {"item/1.csv": "1,one\n7,seven\n"})
    assert migrate(lake.root, db_url, options=options).ok
    lake.folder("2025-01-02T00.00.00Z", columns, {"item/1.csv": "007,double-oh-seven\n"})

    summary = migrate(lake.root, db_url, options=options)

    assert summary.tables["item"].rows_rejected == 1
    assert sorted((r["code"], r["name"]) for r in fetch(db_url, "item")) == [
        (1, "one"),
        (7, "seven"),
    ]


OLD_ERA, NEW_ERA = [ID, attribute("a"), attribute("x")], [ID, attribute("a"), attribute("d")]


def test_a_column_replaced_at_its_position_in_a_snapshot_fails_instead_of_binding_old_values(
    tmp_path: Path, db_url: str
) -> None:
    """`x` dropped from the metadata and `d` appended (or `x` renamed `d`): the old rows of an
    appended partition have the new width, and their `x` values would load as `d`."""
    lake, part = LakeBuilder(tmp_path / "lake"), "t/2024.csv"
    lake.write(part, f"{guid(1)},a1,x1\n")
    lake.write("model.json", model_json([entity("t", OLD_ERA, [part])]))
    assert migrate(lake.root, db_url).ok
    lake.write("model.json", model_json([entity("t", NEW_ERA, [part])]))
    lake.write(part, f"{guid(1)},a1,x1\n{guid(2)},a2,d2\n")  # the old row is not rewritten

    summary = migrate(lake.root, db_url)

    assert summary.tables["t"].status == "failed" and not summary.ok
    assert "column 'x' at position 3 is now 'd'" in summary.tables["t"].error
    assert "_renamed: {x: d}" in summary.tables["t"].error
    assert [(str(r["Id"]), r["x"]) for r in fetch(db_url, "t")] == [(guid(1), "x1")]


def test_a_column_replaced_in_a_later_folder_fails_unless_the_override_file_says_renamed(
    tmp_path: Path, db_url: str
) -> None:
    """A folder's model.json is written when it closes: rows written early in it can be of
    the schema before. Said renamed, the position binds to the new column."""
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"t": OLD_ERA}, {"t/1.csv": f"{guid(1)},a1,x1\n"})
    lake.folder("2025-01-01T00.05.00Z", {"t": NEW_ERA}, {"t/1.csv": f"{guid(2)},a2,v2\n"})

    refused = migrate(lake.root, db_url)
    assert refused.tables["t"].status == "failed" and "now 'd'" in refused.tables["t"].error
    assert refused.tables["t"].files_read == 0  # the table's batches are checked first

    renamed = LoadOptions(overrides=parse_overrides("t:\n  _renamed: {X: D}\n", "types.yaml"))
    summary = migrate(lake.root, db_url, options=renamed)

    assert summary.ok, summary.to_dict()
    rows = {str(r["Id"]): (r["x"], r["d"]) for r in fetch(db_url, "t")}
    assert rows == {guid(1): ("x1", None), guid(2): (None, "v2")}
    assert migrate(lake.root, db_url).ok  # loaded: no batch to load is replaced any more


@pytest.mark.parametrize(
    ("before", "after", "rows"),
    [
        pytest.param(
            attribute("code", "decimal", precision=10, scale=2),
            attribute("code", "int64"),
            ["1.50", "2.00", "3.00"],
            id="decimal-then-int64",
        ),
        pytest.param(
            attribute("code", "int64"),
            attribute("code", "decimal", precision=10, scale=2),
            ["1.00", "2.00", "3.00"],
            id="int64-then-decimal",
        ),
        pytest.param(
            attribute("code", "decimal", precision=10, scale=2),
            attribute("code", "decimal", precision=12, scale=4),
            ["1.5000", "2.0000", "3.0000"],
            id="more-fraction-digits",
        ),
    ],
)
def test_a_number_key_whose_declared_type_changes_keeps_one_row_per_number(
    tmp_path: Path, db_url: str, before: dict, after: dict, rows: list[str]
) -> None:
    """SQLite keeps decimals as text: `2` or `2.0000` beside the table's `2.00` were a second
    row for key 2, with the run succeeding."""
    lake, name = LakeBuilder(tmp_path / "lake"), attribute("name", "string", 20)
    first = "1.5,a\n2,b\n" if before.get("dataType") == "decimal" else "1,a\n2,b\n"
    lake.folder("2025-01-01T10.00.00Z", {"t": [before, name]}, {"t/0.csv": first})
    options = LoadOptions(keys={"t": ["code"]})
    assert migrate(lake.root, db_url, options=options).ok
    lake.folder("2025-01-01T10.01.00Z", {"t": [after, name]}, {"t/0.csv": "2,c\n3,d\n"})

    summary = migrate(lake.root, db_url, options=options)

    assert summary.ok, summary.to_dict()
    assert (summary.tables["t"].rows_inserted, summary.tables["t"].rows_updated) == (1, 1)
    stored = sorted((str(r["code"]), r["name"]) for r in fetch(db_url, "t"))
    if db_url.startswith("sqlite"):  # the text itself: one form per number
        assert [code for code, _ in stored] == rows
    assert [n for _, n in stored] == (["a", "c", "d"])


def test_a_column_dropped_in_one_folder_and_another_appended_in_a_later_one_loads(
    tmp_path: Path, db_url: str
) -> None:
    """`x` leaves the metadata in a folder without rows of `t`; `d` is appended later: every
    row of the later folder was written after `x` left, and loads by position."""
    lake = LakeBuilder(tmp_path / "lake")
    other = {"u": [ID]}
    lake.folder("2025-01-01T00.00.00Z", {"t": OLD_ERA, **other}, {"t/1.csv": f"{guid(1)},a1,x1\n"})
    lake.folder("2025-01-01T00.05.00Z", {"t": OLD_ERA[:2], **other}, {"u/1.csv": f"{guid(9)}\n"})
    lake.folder("2025-01-01T00.10.00Z", {"t": NEW_ERA, **other}, {"t/1.csv": f"{guid(2)},a2,d2\n"})

    summary = migrate(lake.root, db_url)

    assert summary.ok, summary.to_dict()
    rows = {str(r["Id"]): (r["x"], r["d"]) for r in fetch(db_url, "t")}
    assert rows == {guid(1): ("x1", None), guid(2): (None, "d2")}


def test_the_first_folder_left_by_retention_is_not_judged_against_the_tables_columns(
    tmp_path: Path, db_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"t": OLD_ERA}, {"t/1.csv": f"{guid(1)},a1,x1\n"})
    lake.folder("2025-01-01T00.05.00Z", {"t": OLD_ERA[:2]}, {"t/1.csv": f"{guid(2)},a2\n"})
    assert migrate(lake.root, db_url).ok
    for folder in ("2025-01-01T00.00.00Z", "2025-01-01T00.05.00Z"):  # retention
        shutil.rmtree(lake.root / folder)
    lake.folder("2025-01-01T00.10.00Z", {"t": NEW_ERA}, {"t/1.csv": f"{guid(3)},a3,d3\n"})

    assert migrate(lake.root, db_url).ok
    rows = {str(r["Id"]): (r["x"], r["d"]) for r in fetch(db_url, "t")}
    assert rows == {guid(1): ("x1", None), guid(2): (None, None), guid(3): (None, "d3")}


def test_a_snapshot_with_a_header_row_names_its_columns_and_loads(
    tmp_path: Path, db_url: str
) -> None:
    lake, part = LakeBuilder(tmp_path / "lake"), "t/2024.csv"

    def write(columns: list[dict], text: str) -> None:
        model = json.loads(model_json([entity("t", columns, [part])]))
        model["entities"][0]["partitions"][0]["fileFormatSettings"]["columnHeaders"] = True
        lake.write("model.json", json.dumps(model))
        lake.write(part, text)

    write(OLD_ERA, f"Id,a,x\n{guid(1)},a1,x1\n")
    assert migrate(lake.root, db_url).ok
    write(NEW_ERA, f"Id,a,d\n{guid(1)},a1,d1\n")

    summary = migrate(lake.root, db_url)

    assert summary.ok, summary.to_dict()
    assert [(r["x"], r["d"]) for r in fetch(db_url, "t")] == [(None, "d1")]


def test_a_replaced_column_fails_the_dry_run_too_and_its_way_out_is_a_valid_override(
    tmp_path: Path, sqlite_url: str
) -> None:
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"t": OLD_ERA}, {"t/1.csv": f"{guid(1)},a1,x1\n"})
    lake.folder("2025-01-01T00.05.00Z", {"t": NEW_ERA}, {"t/1.csv": f"{guid(2)},a2,v2\n"})

    planned = migrate(lake.root, sqlite_url, dry_run=True)

    assert planned.tables["t"].status == "failed"
    advice = planned.tables["t"].error.rsplit("`", 2)[-2]  # the override the message gives
    renamed = LoadOptions(overrides=parse_overrides(advice, "types.yaml"))
    assert migrate(lake.root, sqlite_url, options=renamed).ok


def test_an_integer_declared_for_a_decimal_column_is_read_as_that_decimal(
    tmp_path: Path, db_url: str
) -> None:
    """The table's column is the type the value goes into: `2.5` fits `DECIMAL(10,2)` exactly,
    so it loads as `2.50` (an integer column would reject it)."""
    lake = LakeBuilder(tmp_path / "lake")
    amount = attribute("amount", "decimal", precision=10, scale=2)
    lake.folder("2025-01-01T00.00.00Z", {"t": [ID, amount]}, {"t/1.csv": f"{guid(1)},1.5\n"})
    lake.folder(
        "2025-01-01T00.05.00Z",
        {"t": [ID, attribute("amount", "int64")]},
        {"t/1.csv": f"{guid(2)},2.5\n{guid(3)},3\n"},
    )

    summary = migrate(lake.root, db_url)

    assert summary.ok and summary.tables["t"].rows_rejected == 0, summary.to_dict()
    amounts = sorted(str(r["amount"]) for r in fetch(db_url, "t"))
    assert amounts == ["1.50", "2.50", "3.00"]


A, B, C, D = (attribute(name, "string", 10) for name in "abcd")


@pytest.mark.parametrize(
    ("old_era", "new_era", "moved"),
    [
        pytest.param([ID, A, B], [ID, B, A], "b, a", id="reordered"),
        pytest.param([ID, A, B, C], [ID, B, C, D], "b, c", id="middle-dropped-one-appended"),
    ],
)
def test_columns_moved_with_the_width_kept_fail_unless_the_override_file_says_moved(
    tmp_path: Path, db_url: str, old_era: list[dict], new_era: list[dict], moved: str
) -> None:
    """The batch loads only rows of its full width, and rows written before the change (the
    folder's model.json is written when it closes) have that width too: their values loaded
    into the columns now at their positions, the run succeeding (found by review)."""
    lake = LakeBuilder(tmp_path / "lake")
    old_row = ",".join([guid(1), *(f"{c['name']}1" for c in old_era[1:])])
    lake.folder("2025-01-01T00.00.00Z", {"t": old_era}, {"t/1.csv": old_row + "\n"})
    assert migrate(lake.root, db_url).ok
    written_before = ",".join([guid(2), *(f"{c['name']}2" for c in old_era[1:])])
    lake.folder("2025-01-01T00.05.00Z", {"t": new_era}, {"t/1.csv": written_before + "\n"})

    summary = migrate(lake.root, db_url)

    t = summary.tables["t"]
    assert t.status == "failed" and not summary.ok and t.files_read == 0
    assert f"columns {moved} moved in the metadata" in t.error
    assert f"t: {{_moved: [{moved}]}}" in t.error
    assert [str(r["Id"]) for r in fetch(db_url, "t")] == [guid(1)]
    said = LoadOptions(overrides=parse_overrides(f"t:\n  _moved: [{moved}]\n", "types.yaml"))
    assert migrate(lake.root, db_url, options=said).ok  # the user says: the new order
    assert len(fetch(db_url, "t")) == 2


def test_columns_moved_in_a_snapshot_with_the_width_kept_fail(tmp_path: Path, db_url: str) -> None:
    lake, part = LakeBuilder(tmp_path / "lake"), "t/2024.csv"
    lake.write(part, f"{guid(1)},a1,b1\n")
    lake.write("model.json", model_json([entity("t", [ID, A, B], [part])]))
    assert migrate(lake.root, db_url).ok
    lake.write("model.json", model_json([entity("t", [ID, B, A], [part])]))
    lake.write(part, f"{guid(1)},a1,b1\n{guid(2)},b2,a2\n")  # the old row is not rewritten

    summary = migrate(lake.root, db_url)

    assert summary.tables["t"].status == "failed"
    assert "columns b, a moved" in summary.tables["t"].error
    assert [(r["a"], r["b"]) for r in fetch(db_url, "t")] == [("a1", "b1")]


def test_rows_go_to_the_bulk_insert_at_the_lengths_the_table_has(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyless table's `note` widened by a first folder past its declared length: the
    second folder's rows were handed to the bulk insert at the declared length, which
    pytds' bulk copy refused on SQL Server (shown on Babelfish; found by review)."""
    from turbodata.dialects.base import Dialect

    columns = [ID, attribute("note", "string", 5)]
    lake = LakeBuilder(tmp_path / "lake")
    for number, folder in enumerate(("2025-01-01T10.00.00Z", "2025-01-01T11.00.00Z")):
        rows = f"{guid(number)},{'y' * 30}\n"
        lake.folder(folder, {"t": columns}, {"t/2025.csv": rows})
    handed: list[list[SqlType]] = []  # each batch's string types
    bulk_insert = Dialect.bulk_insert

    def spied(self: Dialect, conn: object, types: list[SqlType]) -> object:
        handed.append([t for t in types if t.kind is Kind.STRING])
        return bulk_insert(self, conn, types)  # type: ignore[arg-type]

    monkeypatch.setattr(Dialect, "bulk_insert", spied)

    assert migrate(lake.root, db_url, options=LoadOptions(keys={"t": []})).ok
    _first, second = handed  # the first batch's sink is retyped when it widens the column
    assert second == [SqlType(Kind.STRING, 30)], handed
    assert [r["note"] for r in fetch(db_url, "t")] == ["y" * 30] * 2


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("2024-01-01T10:00:00+02:00", "2024-02-01T10:00:00.5"),  # offsets, then none
        ("2024-01-01T10:00:00", "2024-02-01T10:00:00.5+01:00"),  # none, then offsets
    ],
)
def test_an_inferred_date_time_takes_more_fraction_digits_from_the_other_form(
    tmp_path: Path, db_url: str, first: str, then: str
) -> None:
    """A column inferred DATETIMEOFFSET(0) (or DATETIME(0)) takes the other form's values as
    they are, but rejected those with fraction digits, for good (found by review): it widens
    its fraction now."""
    columns = [ID, attribute("at", "unclassified")]
    lake = LakeBuilder(tmp_path / "lake")
    lake.folder("2025-01-01T00.00.00Z", {"t": columns}, {"t/1.csv": f"{guid(1)},{first}\n"})
    assert migrate(lake.root, db_url).ok
    lake.folder("2025-01-01T00.05.00Z", {"t": columns}, {"t/1.csv": f"{guid(2)},{then}\n"})

    summary = migrate(lake.root, db_url)

    assert summary.ok and summary.tables["t"].rows_rejected == 0, summary.to_dict()
    stored = {str(r["Id"]): r["at"] for r in fetch(db_url, "t")}
    assert ".5" in str(stored[guid(2)])


def test_a_boolean_declared_an_integer_widens_when_a_value_outgrows_the_integer(
    tmp_path: Path, db_url: str
) -> None:
    """`flag` declared boolean, then int32 with a value past 2^31: the batch loaded again
    with its numbers sized took the column as inferred, kept BOOLEAN, and rejected every
    value (found by review). It becomes BIGINT, as without the wide value it becomes INT."""
    lake = LakeBuilder(tmp_path / "lake")
    boolean, integer = attribute("flag", "boolean"), attribute("flag", "int32")
    lake.folder("2025-01-01T00.00.00Z", {"t": [ID, boolean]}, {"t/1.csv": f"{guid(1)},True\n"})
    rows = f"{guid(2)},5\n{guid(3)},3000000000\n"
    lake.folder("2025-01-01T00.05.00Z", {"t": [ID, integer]}, {"t/1.csv": rows})

    summary = migrate(lake.root, db_url)

    assert summary.ok and summary.tables["t"].rows_rejected == 0, summary.to_dict()
    stored = {str(r["Id"]): int(r["flag"]) for r in fetch(db_url, "t")}
    assert stored == {guid(1): 1, guid(2): 5, guid(3): 3_000_000_000}


def test_a_double_column_declared_float_later_keeps_every_digit(
    tmp_path: Path, db_url: str
) -> None:
    """CDM `float` is single precision: a later folder declaring it for a double column had
    its values read as REAL and stored rounded, 0.1 as 0.10000000149011612 (PostgreSQL)."""
    lake = LakeBuilder(tmp_path / "lake")
    double, single = attribute("x", "double"), attribute("x", "float")
    lake.folder("2025-01-01T00.00.00Z", {"t": [ID, double]}, {"t/1.csv": f"{guid(1)},0.1\n"})
    assert migrate(lake.root, db_url).ok
    lake.folder("2025-01-01T00.05.00Z", {"t": [ID, single]}, {"t/1.csv": f"{guid(2)},0.1\n"})

    summary = migrate(lake.root, db_url)

    assert summary.ok, summary.to_dict()
    assert [float(r["x"]) for r in fetch(db_url, "t")] == [0.1, 0.1]


@pytest.mark.parametrize(
    ("eras", "rows"),
    [
        # x inserted in the middle, the snapshot rewritten whole; then unchanged
        ([[ID, A, B], [ID, C, A, B], [ID, C, A, B]], ["a,b", "c,a,b", "c,a,b"]),
        # b dropped from the middle (rewritten whole); then d appended
        ([[ID, A, B, C], [ID, A, C], [ID, A, C, D]], ["a,b,c", "a,c", "a,c,d"]),
    ],
    ids=["inserted-then-unchanged", "dropped-then-appended"],
)
def test_a_snapshot_is_compared_with_the_metadata_it_last_loaded_with_not_the_tables_order(
    tmp_path: Path, db_url: str, eras: list[list[dict]], rows: list[str]
) -> None:
    """The table's order is not any metadata's once a column was inserted or dropped in the
    middle (new columns go to the end, none is dropped): compared with it, a snapshot whose
    metadata had not moved since its last load failed on every run (found by review)."""
    lake, part = LakeBuilder(tmp_path / "lake"), "t/2024.csv"
    for number, (era, values) in enumerate(zip(eras, rows, strict=True), 1):
        lake.write(part, "".join(f"{guid(n)},{values}\n" for n in range(1, number + 1)))
        lake.write("model.json", model_json([entity("t", era, [part])]))

        summary = migrate(lake.root, db_url)

        assert summary.ok, (number, summary.to_dict())
        assert len(fetch(db_url, "t")) == number

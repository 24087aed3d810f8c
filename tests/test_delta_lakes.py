"""Parquet folders, mixed lakes (CSV and Delta side by side), drift, and the same data
exported as CSV and as Delta giving identical tables; on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from deltalake import DeltaTable, write_deltalake

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute, entity, model_json
from tests.test_delta_load import FIRST, SCHEMA, assert_table, expected, row, write
from turbodata import migrate
from turbodata.lake import layouts
from turbodata.lake.storage import LocalLake

CONTACT = pa.schema([("Id", pa.string()), ("versionnumber", pa.int64()), ("age", pa.int32())])


def write_parquet(path: Path, rows: list[dict], schema: pa.Schema = CONTACT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def contacts(db_url: str) -> list[tuple]:
    return sorted((r["Id"], r["versionnumber"], r["age"]) for r in fetch(db_url, "contact"))


def test_a_parquet_folder_is_one_table_with_its_partition_columns(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write_parquet(
        lake / "contact" / "year=2023" / "part-0.parquet",
        [{"Id": "x", "versionnumber": 1, "age": 30}],
    )
    write_parquet(
        lake / "contact" / "year=2024" / "part-0.parquet",
        [{"Id": "y", "versionnumber": 2, "age": None}],
    )

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    rows = sorted((r["Id"], r["age"], int(r["year"])) for r in fetch(db_url, "contact"))
    assert rows == [("x", 30, 2023), ("y", None, 2024)]


def test_a_parquet_folder_is_a_snapshot_reloaded_when_a_file_changes(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write_parquet(lake / "contact" / "a.parquet", [{"Id": "x", "versionnumber": 1, "age": 30}])
    write_parquet(lake / "contact" / "b.parquet", [{"Id": "y", "versionnumber": 1, "age": 40}])
    migrate(lake, db_url)
    unchanged = migrate(lake, db_url)
    (lake / "contact" / "b.parquet").unlink()
    write_parquet(lake / "contact" / "a.parquet", [{"Id": "x", "versionnumber": 2, "age": 31}])

    summary = migrate(lake, db_url)

    assert unchanged.tables["contact"].status == "unchanged"
    assert summary.ok, summary.to_dict()
    assert summary.tables["contact"].rows_deleted == 1
    assert contacts(db_url) == [("x", 2, 31)]


def test_a_parquet_column_widened_from_int32_to_int64_widens_the_sql_column(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write_parquet(lake / "contact" / "a.parquet", [{"Id": "x", "versionnumber": 1, "age": 30}])
    migrate(lake, db_url)
    wide = pa.schema([("Id", pa.string()), ("versionnumber", pa.int64()), ("age", pa.int64())])
    write_parquet(
        lake / "contact" / "a.parquet", [{"Id": "x", "versionnumber": 2, "age": 2**40}], wide
    )

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert contacts(db_url) == [("x", 2, 2**40)]
    assert any("age" in statement for statement in summary.tables["contact"].ddl)


def test_a_column_added_to_the_delta_schema_is_added_to_the_table(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    path = lake / "deltalake" / "account_partitioned"
    write(path, FIRST, cdf=True)
    migrate(lake, db_url)
    wider = SCHEMA.append(pa.field("phone", pa.string()))
    new = [{**row("d", 6, "Delta"), "phone": "+33 1 23"}]
    write_deltalake(
        str(path), pa.Table.from_pylist(new, schema=wider), mode="append", schema_mode="merge"
    )

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    got = {r["Id"]: r["phone"] for r in fetch(db_url, "account")}
    assert got == {"a": None, "b": None, "c": None, "d": "+33 1 23"}
    assert summary.tables["account"].columns_created == 1


def test_a_mixed_lake_loads_csv_tables_and_delta_tables_side_by_side(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    builder = LakeBuilder(lake)
    attributes = [
        attribute("Id", "guid"),
        attribute("versionnumber", "int64"),
        attribute("age", "int32"),
    ]
    builder.write("model.json", model_json([entity("contact", attributes, ["contact/1.csv"])]))
    builder.write("contact/1.csv", '"00000000-0000-0000-0000-000000000001","1","30"\n')
    write(lake / "deltalake" / "account_partitioned", FIRST, cdf=True)

    plan = layouts.discover(LocalLake(lake))
    summary = migrate(lake, db_url)

    assert plan.layout == "model.json + delta"
    assert "layout model.json + delta: Delta/Parquet tables account" in plan.notes
    assert summary.ok, summary.to_dict()
    assert [r["age"] for r in fetch(db_url, "contact")] == [30]
    assert_table(db_url, "account", FIRST)


def _csv_lake(lake: Path) -> None:
    attributes = [
        attribute("Id"),
        attribute("versionnumber", "int64"),
        attribute("name"),
        attribute("amount", "decimal", precision=38, scale=4),
        attribute("createdon", "dateTime"),
        attribute("IsDelete", "boolean"),
        attribute("PartitionId"),
    ]
    builder = LakeBuilder(lake)
    builder.write("model.json", model_json([entity("account", attributes, ["account/1.csv"])]))
    lines = []
    for r in expected(FIRST):
        amount = "" if r["amount"] is None else str(r["amount"])
        values = [
            r["Id"],
            str(r["versionnumber"]),
            r["name"],
            amount,
            r["createdon"],
            "",
            r["PartitionId"],
        ]
        lines.append(",".join(f'"{v}"' if v else "" for v in values))
    builder.write("account/1.csv", "\n".join(lines) + "\n")


def _table_and_types(db_url: str) -> tuple[list[tuple], dict[str, str]]:
    """The rows and each column's type, as reflected."""
    engine = sa.create_engine(db_url)
    try:
        columns = sa.inspect(engine).get_columns("account")
    finally:
        engine.dispose()
    rows = sorted(
        tuple(sorted((k, repr(v)) for k, v in r.items())) for r in fetch(db_url, "account")
    )
    return rows, {c["name"]: _type_text(c["type"]) for c in columns}


def _type_text(sql_type: sa.types.TypeEngine) -> str:
    details = (getattr(sql_type, a, None) for a in ("length", "precision", "scale", "timezone"))
    return f"{type(sql_type).__name__}{tuple(details)}"


def _drop_everything(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        meta.drop_all(engine)
    finally:
        engine.dispose()


def test_the_same_rows_exported_as_csv_and_as_delta_give_identical_tables(
    tmp_path: Path, db_url: str
) -> None:
    _csv_lake(tmp_path / "csv")
    write(tmp_path / "delta" / "deltalake" / "account_partitioned", FIRST, cdf=True)

    from_csv = migrate(tmp_path / "csv", db_url)
    csv_table = _table_and_types(db_url)
    _drop_everything(db_url)
    from_delta = migrate(tmp_path / "delta", db_url)

    assert from_csv.ok and from_delta.ok
    assert _table_and_types(db_url) == csv_table


def test_a_delta_column_widened_by_an_overwrite_widens_the_sql_column(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    path = lake / "deltalake" / "contact_partitioned"
    write_deltalake(
        str(path),
        pa.Table.from_pylist([{"Id": "x", "versionnumber": 1, "age": 30}], schema=CONTACT),
    )
    migrate(lake, db_url)
    wide = pa.schema([("Id", pa.string()), ("versionnumber", pa.int64()), ("age", pa.int64())])
    new = pa.Table.from_pylist([{"Id": "x", "versionnumber": 2, "age": 2**40}], schema=wide)
    write_deltalake(str(path), new, mode="overwrite", schema_mode="overwrite")

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert contacts(db_url) == [("x", 2, 2**40)]
    assert any("age" in statement for statement in summary.tables["contact"].ddl)


def test_a_table_exported_as_csv_and_as_delta_loads_from_delta_only(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    _csv_lake(lake)
    (lake / "account" / "1.csv").write_text('"zz","1","stale","","","",""\n')
    write(lake / "deltalake" / "account_partitioned", FIRST, cdf=True)

    plan = layouts.discover(LocalLake(lake))
    summary = migrate(lake, db_url)

    assert plan.layout == "model.json + delta"
    assert any("loaded from Delta, CSV folders skipped" in note for note in plan.notes)
    assert summary.ok, summary.to_dict()
    assert_table(db_url, "account", FIRST)


def test_a_table_loaded_from_delta_whose_delta_folder_is_gone_waits_for_a_reload(
    tmp_path: Path, db_url: str
) -> None:
    """Its watermark is a Delta version, which has no order against folder names: every CSV
    folder, however new, was skipped as one older than the last applied, the run succeeding
    and the table never changing again (found by review)."""
    lake = LakeBuilder(tmp_path / "lake")
    columns = [attribute("Id", "guid"), attribute("name", "string", 20)]
    columns += [attribute("versionnumber", "int64"), attribute("IsDelete", "boolean")]
    guid = "00000000-0000-0000-0000-00000000000{}".format
    lake.folder(
        "2025-01-01T10.00.00Z", {"account": columns}, {"account/1.csv": f"{guid(1)},a1,1,\n"}
    )
    types = [pa.string(), pa.string(), pa.int64(), pa.bool_()]
    schema = pa.schema([(c["name"], t) for c, t in zip(columns, types, strict=True)])
    rows = [{"Id": guid(1), "name": "a1", "versionnumber": 1, "IsDelete": None}]
    write_deltalake(
        str(lake.root / "deltalake" / "account_partitioned"), pa.Table.from_pylist(rows, schema)
    )
    assert migrate(lake.root, db_url).tables["account"].watermark.startswith("delta:")
    shutil.rmtree(lake.root / "deltalake")  # the export's Delta option turned off
    later = f"{guid(1)},a2,2,\n{guid(2)},b1,1,\n"
    lake.folder("2025-01-01T10.05.00Z", {"account": columns}, {"account/1.csv": later})

    waiting = migrate(lake.root, db_url)

    account = waiting.tables["account"]
    assert not waiting.ok and account.status == "failed"
    assert "not from a timestamp folder" in account.error
    assert "turbodata migrate --reload account" in account.error
    assert [r["name"] for r in fetch(db_url, "account")] == ["a1"]
    reloaded = migrate(lake.root, db_url, reload=["account"])
    assert reloaded.ok, reloaded.to_dict()
    assert sorted(r["name"] for r in fetch(db_url, "account")) == ["a2", "b1"]
    assert migrate(lake.root, db_url).tables["account"].status == "unchanged"


class NotLocalLake:
    """A lake that is no LocalLake (as an Azure lake is): only the Lake protocol."""

    def __init__(self, root: Path) -> None:
        self._inner = LocalLake(root)

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_parquet_folders_load_through_any_lake_and_delta_tables_say_why_they_cannot(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write_parquet(
        lake / "contact" / "year=2024" / "a.parquet", [{"Id": "x", "versionnumber": 1, "age": 30}]
    )
    write(lake / "deltalake" / "account_partitioned", FIRST, cdf=True)

    summary = migrate(NotLocalLake(lake), db_url)  # type: ignore[arg-type]

    assert sorted((r["Id"], r["year"]) for r in fetch(db_url, "contact")) == [("x", 2024)]
    assert summary.tables["account"].status == "failed"
    assert "Delta tables are read from local lake folders, or from lakes that give" in (
        summary.tables["account"].error or ""
    )


def test_parquet_files_with_different_columns_give_the_union_of_their_columns(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write_parquet(lake / "contact" / "a.parquet", [{"Id": "x", "versionnumber": 1, "age": 30}])
    newer = CONTACT.append(pa.field("phone", pa.string()))
    write_parquet(
        lake / "contact" / "b.parquet",
        [{"Id": "y", "versionnumber": 1, "age": 40, "phone": "12"}],
        newer,
    )

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert sorted((r["Id"], r["phone"]) for r in fetch(db_url, "contact")) == [
        ("x", None),
        ("y", "12"),
    ]


def test_a_lake_pointed_at_a_delta_tables_own_folder_loads_nothing_and_says_why(
    tmp_path: Path, db_url: str
) -> None:
    """Its partition folders are no tables: read as Parquet, they would bypass the log (and
    load rows a delete removed, whose files are not vacuumed yet)."""
    table = tmp_path / "lake" / "account"
    write(table, FIRST, cdf=False)
    DeltaTable(str(table)).delete("Id = 'a'")

    summary = migrate(table, db_url)

    assert not summary.ok
    assert any("Delta table's own folder" in p for p in summary.problems), summary.problems
    engine = sa.create_engine(db_url)
    try:
        assert [n for n in sa.inspect(engine).get_table_names() if "Partition" in n] == []
    finally:
        engine.dispose()


def _user_tables(db_url: str) -> list[str]:
    engine = sa.create_engine(db_url)
    try:
        names = sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    return sorted(n for n in names if not n.startswith("_turbodata"))


def test_delta_tables_below_a_folder_of_no_known_name_are_no_parquet_table(
    tmp_path: Path, db_url: str
) -> None:
    """`lake/delta/account/` (not deltalake/ or Tables/), or --lake at a lake's parent: the
    folder was read as one Parquet table of every file the log ever wrote, so a deleted
    row came back while the run succeeded (found by review)."""
    table = tmp_path / "lake" / "delta" / "account"
    write(table, FIRST, cdf=False)
    DeltaTable(str(table)).delete("Id = 'a'")

    for lake in (tmp_path / "lake", tmp_path):  # the lake, and its parent
        summary = migrate(lake, db_url)

        assert not summary.ok
        [problem] = summary.problems
        assert "holds Delta tables in its sub-folders" in problem, problem
        assert "_delta_log/" in problem and "nothing under it is loaded" in problem
        assert _user_tables(db_url) == []


def test_a_lakehouse_schema_folder_loads_its_parquet_tables_beside_its_delta_ones(
    tmp_path: Path, db_url: str
) -> None:
    """A Parquet table beside Delta ones in `Tables/dbo/` was left out without a word; a
    folder of Parquet files in plain sub-folders is no table (it loaded as one table of
    their rows, found by review), wherever it is (found by review)."""
    lake = tmp_path / "lake"
    write(lake / "Tables" / "dbo" / "account", FIRST, cdf=False)
    write_parquet(lake / "Tables" / "dbo" / "contact" / "p.parquet", [{"Id": "c", "age": 3}])
    write_parquet(lake / "Tables" / "sales" / "orders" / "p.parquet", [{"Id": "o", "age": 1}])
    write_parquet(lake / "Tables" / "sales" / "items" / "p.parquet", [{"Id": "i", "age": 2}])

    summary = migrate(lake, db_url)

    assert not summary.ok
    [problem] = summary.problems
    assert problem.startswith("Tables/sales (") and "no name=value partitions" in problem
    assert _user_tables(db_url) == ["account", "contact"]
    assert contacts(db_url) == [("c", None, 3)]


def test_parquet_files_in_plain_sub_folders_are_no_table_of_their_folder(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write_parquet(lake / "sales" / "orders" / "p.parquet", [{"Id": "o", "age": 1}])
    write_parquet(lake / "sales" / "items" / "p.parquet", [{"Id": "i", "age": 2}])

    summary = migrate(lake, db_url)

    assert not summary.ok
    [problem] = summary.problems
    assert problem.startswith("sales (")
    assert "Parquet files in sub-folders that are no name=value partitions" in problem
    assert _user_tables(db_url) == []


def test_a_lake_pointed_at_a_parquet_tables_own_folder_loads_nothing_and_says_why(
    tmp_path: Path, db_url: str
) -> None:
    """Each partition folder loaded as a table of its own (`year=2024`), without its
    partition column, and the run succeeded (found by review)."""
    table = tmp_path / "lake" / "contact"
    write_parquet(table / "year=2024" / "p.parquet", [{"Id": "x", "age": 1}])
    write_parquet(table / "year=2025" / "p.parquet", [{"Id": "y", "age": 2}])

    summary = migrate(table, db_url)

    assert not summary.ok
    assert any("Parquet table's own folder" in p and "year=2024" in p for p in summary.problems)
    assert _user_tables(db_url) == []

"""The same Dataverse table exported as CSV (model.json) and as Delta gives the same SQL table.

Delta/Parquet has no GUID type (Dataverse's `Id` and lookups arrive as strings) and tells ''
from NULL, where the CSV export's metadata says `guid` and an empty field is NULL. Each test
loads both exports with `turbodata.migrate`, on SQLite and PostgreSQL, and compares the
reflected column types and the rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from tests.dbcheck import fetch
from tests.lakebuilder import LakeBuilder, attribute
from turbodata import migrate
from turbodata.load.loader import LoadOptions
from turbodata.pipeline import connect
from turbodata.types.sql import Kind, SqlType

ACCOUNT_ID = "5f1c3a52-0c7b-4e4a-9a55-0d2b9c1e7f1{}"
PARENT_ID = "0a9e2d41-77c3-4b0e-8f1d-3c5b6a7e8d9{}"
GUID_TYPE = SqlType(Kind.GUID)
CREATED = datetime(2024, 5, 1, 10, 15, 0, 123456, tzinfo=UTC)

CSV_ATTRIBUTES = [
    attribute("Id", "guid"),
    attribute("parentaccountid", "guid"),
    attribute("name", "string"),
    attribute("description", "string"),
    attribute("creditlimit", "decimal", precision=38, scale=4),
    attribute("createdon", "dateTime"),
    attribute("versionnumber", "int64"),
]
DELTA_SCHEMA = pa.schema(
    [
        ("Id", pa.string()),
        ("parentaccountid", pa.string()),
        ("name", pa.string()),
        ("description", pa.string()),
        ("creditlimit", pa.decimal128(38, 4)),
        ("createdon", pa.timestamp("us", tz="UTC")),
        ("versionnumber", pa.int64()),
    ]
)
# Id, parent, name, description ('' is the empty string, None a missing value), limit, version
ROWS: list[tuple[str, str | None, str, str | None, str | None, int]] = [
    (ACCOUNT_ID.format(1), PARENT_ID.format(1), "Alpha", "", "1000.5000", 1),
    (ACCOUNT_ID.format(2), None, "Beta", None, None, 2),
    (ACCOUNT_ID.format(3), PARENT_ID.format(3).upper(), "Gamma", "first client", "-0.0001", 3),
]


def csv_text(rows: list[tuple]) -> str:
    """Dataverse's CSV: '' quoted, a missing value as nothing, GUIDs as written."""
    lines = []
    for key, parent, name, description, limit, version in rows:
        fields = [key, parent or "", f'"{name}"', "" if description is None else f'"{description}"']
        fields += [limit or "", CREATED.strftime("%Y-%m-%dT%H:%M:%S.%f0Z"), str(version)]
        lines.append(",".join(fields) + "\n")
    return "".join(lines)


def write_csv_lake(root: Path, table: str, rows: list[tuple], folder: str) -> LakeBuilder:
    lake = LakeBuilder(root)
    lake.folder(folder, {table: CSV_ATTRIBUTES}, {f"{table}/2024.csv": csv_text(rows)})
    return lake


def arrow_table(rows: list[tuple]) -> pa.Table:
    records = [
        {
            "Id": key,
            "parentaccountid": parent,
            "name": name,
            "description": description,
            "creditlimit": Decimal(limit) if limit is not None else None,
            "createdon": CREATED,
            "versionnumber": version,
        }
        for key, parent, name, description, limit, version in rows
    ]
    return pa.Table.from_pylist(records, schema=DELTA_SCHEMA)


def write_delta(root: Path, table: str, rows: list[tuple], mode: str = "overwrite") -> None:
    folder = root / "deltalake" / f"{table}_partitioned"
    write_deltalake(str(folder), arrow_table(rows), mode=mode)  # type: ignore[arg-type]


def write_parquet(root: Path, table: str, rows: list[tuple]) -> None:
    (root / table).mkdir(parents=True)
    pq.write_table(arrow_table(rows), root / table / "part-0.parquet")


def column_types(db_url: str, table: str) -> dict[str, SqlType]:
    """The table's columns as the database reports them (reflected, not as planned)."""
    engine, dialect = connect(db_url)
    try:
        with engine.connect() as conn:
            return dialect.reflect_types(conn, table, None)
    finally:
        engine.dispose()


def sorted_rows(db_url: str, table: str) -> list[dict[str, object]]:
    return sorted(fetch(db_url, table), key=lambda r: str(r["Id"]))


@pytest.mark.parametrize("typed", ["delta", "parquet"])
def test_csv_and_typed_exports_give_identical_types_and_rows(
    tmp_path: Path, db_url: str, typed: str
) -> None:
    write_csv_lake(tmp_path / "csv", "account", ROWS, "2024-05-01T00.00.00Z")
    write = write_delta if typed == "delta" else write_parquet
    write(tmp_path / "delta", "accountdelta", ROWS)

    from_csv = migrate(tmp_path / "csv", db_url)
    from_delta = migrate(tmp_path / "delta", db_url)

    assert from_csv.ok and from_delta.ok, (from_csv.to_dict(), from_delta.to_dict())
    assert from_delta.tables["accountdelta"].rows_rejected == 0
    csv_types = column_types(db_url, "account")
    assert csv_types["Id"] == csv_types["parentaccountid"] == GUID_TYPE
    assert column_types(db_url, "accountdelta") == csv_types
    csv_rows = sorted_rows(db_url, "account")
    assert [r["description"] for r in csv_rows] == [None, None, "first client"]
    assert sorted_rows(db_url, "accountdelta") == csv_rows


@pytest.mark.parametrize("infer", [True, False], ids=["infer", "no-infer"])
def test_a_table_loaded_from_csv_then_from_delta_keeps_its_guid_columns(
    tmp_path: Path, db_url: str, infer: bool
) -> None:
    write_csv_lake(tmp_path / "lake", "account", ROWS[:2], "2024-05-01T00.00.00Z")
    assert migrate(tmp_path / "lake", db_url).ok
    csv_types = column_types(db_url, "account")
    # the export switched to Delta; the new snapshot's lookup column is empty
    switched = [(key, None, name, d, limit, v + 10) for key, _, name, d, limit, v in ROWS]
    write_delta(tmp_path / "delta", "account", switched)

    summary = migrate(tmp_path / "delta", db_url, options=LoadOptions(infer=infer))

    assert summary.ok, summary.to_dict()
    types = column_types(db_url, "account")
    assert types["Id"] == types["parentaccountid"] == GUID_TYPE
    if infer:  # without inference, text columns are unbounded, as on the CSV path
        assert types == csv_types
    assert [(r["versionnumber"], r["parentaccountid"]) for r in sorted_rows(db_url, "account")] == [
        (11, None),
        (12, None),
        (13, None),
    ]


BAD = (ACCOUNT_ID.format(4), "not-a-guid", "Delta", "x", "1.0000", 4)


@pytest.mark.parametrize("export", ["csv", "delta"])
def test_a_non_guid_in_a_guid_column_is_rejected_as_on_the_csv_path(
    tmp_path: Path, db_url: str, export: str
) -> None:
    root = tmp_path / "lake"
    if export == "csv":
        write_csv_lake(root, "account", ROWS, "2024-05-01T00.00.00Z")
    else:
        write_delta(root, "account", ROWS)
    assert migrate(root, db_url).ok
    if export == "csv":
        write_csv_lake(root, "account", [BAD, ROWS[0]], "2024-05-01T01.00.00Z")
    else:
        write_delta(root, "account", [BAD, ROWS[0]], mode="append")

    summary = migrate(root, db_url)

    table = summary.tables["account"]
    assert table.rows_rejected == 1, summary.to_dict()
    assert column_types(db_url, "account")["parentaccountid"] == GUID_TYPE
    assert [r["name"] for r in sorted_rows(db_url, "account")] == ["Alpha", "Beta", "Gamma"]


def test_a_string_column_with_a_non_guid_in_its_first_load_stays_text(
    tmp_path: Path, db_url: str
) -> None:
    write_delta(tmp_path, "account", [*ROWS, BAD])

    summary = migrate(tmp_path, db_url)

    assert summary.ok and summary.tables["account"].rows_rejected == 0, summary.to_dict()
    types = column_types(db_url, "account")
    assert types["Id"] == GUID_TYPE
    assert types["parentaccountid"] != GUID_TYPE
    assert "not-a-guid" in [r["parentaccountid"] for r in fetch(db_url, "account")]


def test_keep_empty_strings_keeps_them_on_both_paths(tmp_path: Path, db_url: str) -> None:
    write_csv_lake(tmp_path / "csv", "account", ROWS, "2024-05-01T00.00.00Z")
    write_delta(tmp_path / "delta", "accountdelta", ROWS)
    options = LoadOptions(keep_empty_strings=True)

    assert migrate(tmp_path / "csv", db_url, options=options).ok
    assert migrate(tmp_path / "delta", db_url, options=options).ok

    csv_rows = sorted_rows(db_url, "account")
    assert [r["description"] for r in csv_rows] == ["", None, "first client"]
    assert sorted_rows(db_url, "accountdelta") == csv_rows


def test_a_dry_run_after_the_switch_to_delta_plans_no_conflict(tmp_path: Path, db_url: str) -> None:
    write_csv_lake(tmp_path / "lake", "account", ROWS[:2], "2024-05-01T00.00.00Z")
    assert migrate(tmp_path / "lake", db_url).ok
    write_delta(tmp_path / "delta", "account", ROWS)

    plan = migrate(tmp_path / "delta", db_url, dry_run=True)

    assert plan.ok, plan.to_dict()  # was: "column 'Id' is guid in the database but ..."

"""Every public sample export in shared/fixtures/real that holds data, migrated end to end.

Expected row counts are counted here with Python's csv module, independently of our reader.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.dbcheck import fetch, table_names
from tests.reference import final_state
from turbodata import migrate

FNO = "sneaksanddata-synapse-link-fno"


def csv_rows(*paths: Path) -> list[list[str]]:
    rows = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as f:
            rows += [row for row in csv.reader(f) if row]
    return rows


def change_rows(lake: Path, folder: str, table: str) -> list[dict[str, object]]:
    """A folder's rows of `table`, in file order, with the columns the change rules read."""
    model = json.loads((lake / folder / "model.json").read_text(encoding="utf-8-sig"))
    names = [a["name"] for e in model["entities"] if e["name"] == table for a in e["attributes"]]
    rows = []
    for path in sorted((lake / folder / table).glob("*.csv")):
        for values in csv_rows(path):
            row = dict(zip(names, values, strict=False))
            rows.append(
                {
                    "Id": row["Id"],
                    "versionnumber": int(row["versionnumber"])
                    if row.get("versionnumber")
                    else None,
                    "SinkModifiedOn": us_time(row["SinkModifiedOn"]),
                    "IsDelete": row.get("IsDelete", "").lower() == "true",
                    "raw": row,
                }
            )
    return rows


def us_time(text: str) -> datetime:
    """`1/1/2020 0:00:01 PM`; .NET reads hour 0 with PM as 12."""
    day, clock, half = text.split()
    hour, minute, second = (int(part) for part in clock.split(":"))
    hour = hour % 12 + (12 if half == "PM" else 0)
    return datetime.strptime(day, "%m/%d/%Y").replace(hour=hour, minute=minute, second=second)


def loaded_versions(db_url: str, table: str) -> dict[str, int]:
    return {str(r["Id"]): r["versionnumber"] for r in fetch(db_url, table)}


def test_fno_incremental_folders_apply_upserts_and_deletes_except_in_progress(
    fixtures_root: Path, db_url: str
) -> None:
    lake = fixtures_root / FNO / "incremental-dimensionattributelevel"
    done = ["2020-01-01T00.00.00Z", "2020-01-01T01.00.00Z"]  # 02.00.00Z is in changelog.info

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    for table in ("dimensionattributelevel", "dimensionattributelevelvalue"):
        batches = [change_rows(lake, f, table) for f in done if (lake / f / table).is_dir()]
        expected = final_state(batches)
        assert loaded_versions(db_url, table) == {
            k: row["versionnumber"] for k, row in expected.items()
        }, table
    # the delete file 4.csv wins over the row 2020.csv creates in the same folder
    values = final_state([change_rows(lake, done[1], "dimensionattributelevelvalue")])
    assert summary.tables["dimensionattributelevelvalue"].rows_inserted == len(values) == 4


def test_fno_inventtrans_without_a_folder_model_json_uses_the_root_schema(
    fixtures_root: Path, db_url: str
) -> None:
    lake = fixtures_root / FNO / "inventtrans"
    expected = csv_rows(*lake.glob("*/inventtrans/*.csv"))

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    rows = fetch(db_url, "inventtrans")
    assert len(rows) == len(expected) == 6
    assert summary.tables["inventtrans"].columns_created == 88
    attributes = json.loads((lake / "model.json").read_text())["entities"][0]["attributes"]
    decimals = [(i, a["name"]) for i, a in enumerate(attributes) if a["dataType"] == "decimal"]
    by_id = {str(r["Id"]): r for r in rows}
    for source in expected:
        loaded = by_id[source[0]]
        for index, name in decimals:
            want = Decimal(source[index]) if source[index] else None
            got = None if loaded[name] is None else Decimal(str(loaded[name]))
            assert got == want, name


def test_fno_schema_change_loads_the_closed_folder_with_boolean_case_variants(
    fixtures_root: Path, db_url: str
) -> None:
    lake = fixtures_root / FNO / "schema-change"
    folder = "2020-01-01T00.00.00Z"  # 01.00.00Z is in progress
    winners = final_state([change_rows(lake, folder, "synapsetable")])

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    loaded = {str(r["Id"]): r["IsDelete2"] for r in fetch(db_url, "synapsetable")}
    assert set(loaded) == set(winners)
    # IsDelete2 is written True, TRUE and tRuE: every spelling loads as true
    words = {key: row["raw"]["IsDelete2"] for key, row in winners.items()}
    assert {"True", "TRUE", "tRuE"} <= {
        row["raw"]["IsDelete2"] for row in change_rows(lake, folder, "synapsetable")
    }
    assert {k: None if v is None else bool(v) for k, v in loaded.items()} == {
        k: (w.lower() == "true") if w else None for k, w in words.items()
    }


def test_malformed_model_json_is_reported_not_guessed(fixtures_root: Path, db_url: str) -> None:
    summary = migrate(fixtures_root / FNO / "malformed-model-json", db_url)
    assert not summary.ok and summary.status == "failed"
    assert summary.problems == ["model.json: no `entities` list, schema not available"]
    assert not {t for t in table_names(db_url) if not t.startswith("_turbodata_")}


def test_cdm_sample_manifest_reports_unresolved_and_missing_entity_documents(
    fixtures_root: Path, db_url: str
) -> None:
    summary = migrate(fixtures_root / "cdm-sample-manifest", db_url)
    tables = summary.tables
    assert "unresolved schema" in tables["Account"].error
    assert "unresolved schema" in tables["CodeableConcept"].error
    assert "entity document not found" in tables["Address"].error
    assert all(t.status == "failed" and t.rows_inserted == 0 for t in tables.values())
    assert summary.status == "failed"


def test_edl_entity_documents_load_and_the_inconsistent_change_feed_is_rejected_row_by_row(
    fixtures_root: Path, db_url: str
) -> None:
    lake = fixtures_root / "sneaksanddata-edl-cdm-changefeed"
    tables_csv = csv_rows(*(lake / "Tables" / "ValidEntity").glob("*.csv"))
    feed_csv = csv_rows(*(lake / "ChangeFeed" / "ValidEntity").glob("*.csv"))

    summary = migrate(lake, db_url)

    assert summary.tables["ValidEntity"].rows_inserted == len(tables_csv) == 11
    # upstream's change feed rows have 9 values where its cdm.json lists 12 attributes
    feed = summary.tables["ValidEntity_ChangeFeed"]
    assert (feed.rows_inserted, feed.rows_rejected) == (0, len(feed_csv))
    assert "row has 9 values, expected at least 12" in feed.problems[0]
    rejects = fetch(db_url, "_turbodata_rejects")
    assert len(rejects) == len(feed_csv)
    assert summary.status == "completed_with_rejects"


@pytest.mark.parametrize(
    "folder",
    [
        "cdm-modeljson-schema/examples/OrdersProducts",
        "cdm-modeljson-schema/examples/OrdersProductsCustomersLinked",
        "cdm-objectmodel-testdata/modeljson-cds-resolved-traits",
        "cdm-objectmodel-testdata/modeljson-odd-fileformatsettings",
        "cdm-objectmodel-testdata/modeljson-csv-partition-traits",
        "cdm-objectmodel-testdata/modeljson-date-time-types",
        "cdm-objectmodel-testdata/modeljson-reference-entities",
    ],
)
def test_metadata_only_samples_fail_and_create_no_table(
    fixtures_root: Path, sqlite_url: str, folder: str
) -> None:
    """These hold model.json files whose partitions point at files not in the sample: a lake
    with nothing to load is not a success, and each missing partition is named."""
    summary = migrate(fixtures_root / folder, sqlite_url)
    assert summary.status == "failed" and not summary.ok
    reasons = [t.error or "" for t in summary.tables.values()] + summary.problems
    assert reasons
    assert all(t.status == "failed" for t in summary.tables.values())
    assert any("not found" in r or "nothing to load" in r for r in reasons)
    created = table_names(sqlite_url)
    assert {name for name in created if not name.startswith("_turbodata")} == set()

"""Every public sample export in shared/fixtures/real that holds data, migrated end to end.

Expected row counts are counted here with Python's csv module, independently of our reader.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.dbcheck import fetch, table_names
from turbodata import migrate

FNO = "sneaksanddata-synapse-link-fno"


def csv_rows(*paths: Path) -> list[list[str]]:
    rows = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as f:
            rows += [row for row in csv.reader(f) if row]
    return rows


def test_fno_incremental_folders_load_except_the_in_progress_one(
    fixtures_root: Path, db_url: str
) -> None:
    lake = fixtures_root / FNO / "incremental-dimensionattributelevel"
    done = ["2020-01-01T00.00.00Z", "2020-01-01T01.00.00Z"]  # 02.00.00Z is in changelog.info
    level = csv_rows(*(lake / f / "dimensionattributelevel" / "2020.csv" for f in done))
    values = csv_rows(*sorted((lake / done[1] / "dimensionattributelevelvalue").glob("*.csv")))

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert summary.tables["dimensionattributelevel"].rows_inserted == len(level) == 10
    assert summary.tables["dimensionattributelevelvalue"].rows_inserted == len(values) == 6
    loaded = fetch(db_url, "dimensionattributelevelvalue")
    deletes = [r for r in loaded if r["IsDelete"]]
    assert len(deletes) == 1  # the delete file 4.csv: Id, Sink dates, versionnumber, True
    assert deletes[0]["versionnumber"] == 3111000001 and deletes[0]["displayvalue"] is None


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
    expected = csv_rows(lake / "2020-01-01T00.00.00Z" / "synapsetable" / "2020.csv")

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    rows = fetch(db_url, "synapsetable")
    assert len(rows) == len(expected)
    flags = sorted(bool(r["IsDelete2"]) for r in rows if r["IsDelete2"] is not None)
    words = sorted(row[-2].lower() == "true" for row in expected if row[-2])
    assert flags == words and any(flags)


def test_malformed_model_json_is_reported_not_guessed(fixtures_root: Path, db_url: str) -> None:
    summary = migrate(fixtures_root / FNO / "malformed-model-json", db_url)
    assert not summary.ok and summary.status == "failed"
    assert summary.problems == ["model.json: model.json: no `entities` list, schema not available"]
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
def test_metadata_only_samples_plan_no_load_and_fail_nothing(
    fixtures_root: Path, sqlite_url: str, folder: str
) -> None:
    """These hold model.json files whose partitions point at files not in the sample."""
    summary = migrate(fixtures_root / folder, sqlite_url)
    assert summary.ok and summary.tables == {}

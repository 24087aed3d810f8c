"""A Delta table's NaN and ±Infinity are rejected rows, as in the CSV export, on every target.

A plain cast of the column would load them: SQLite stores NaN as NULL (the value is lost with
the run reported a success), PostgreSQL stores NaN and Infinity, which the CSV path refuses.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from tests.dbcheck import fetch
from turbodata import migrate

SCHEMA = pa.schema([("Id", pa.string()), ("score", pa.float64())])
ROWS = [
    {"Id": "a", "score": 1.5},
    {"Id": "b", "score": math.nan},
    {"Id": "c", "score": -math.inf},
    {"Id": "d", "score": None},
]


def test_nan_and_infinity_become_rejects_not_nulls_or_stored_values(
    tmp_path: Path, db_url: str
) -> None:
    lake = tmp_path / "lake"
    write_deltalake(
        str(lake / "deltalake" / "account_partitioned"), pa.Table.from_pylist(ROWS, SCHEMA)
    )

    summary = migrate(lake, db_url)

    table = summary.tables["account"]
    assert summary.status == "completed_with_rejects", summary.to_dict()
    assert (table.rows_inserted, table.rows_rejected) == (2, 2)
    stored = sorted((r["Id"], r["score"]) for r in fetch(db_url, "account"))
    assert stored == [("a", 1.5), ("d", None)]
    rejects = sorted((r["row_number"], r["reason"]) for r in fetch(db_url, "_turbodata_rejects"))
    assert rejects == [
        (2, "not a float: 'nan' (not a number; NaN and Infinity are rejected)"),
        (3, "not a float: '-inf' (not a number; NaN and Infinity are rejected)"),
    ]

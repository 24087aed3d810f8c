"""Parquet columns whose Arrow type the compute kernels or the text parser once refused:
float16, and timestamps in a zone other than UTC; end to end on SQLite."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from turbodata import migrate

STAMPS = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 7, 1, 12, 30, tzinfo=UTC)]


def test_float16_and_zoned_timestamps_load_as_real_and_utc_datetime(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    (lake / "acc").mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "Id": ["a", "b"],
                "half": pa.array([0.5, -65504.0], pa.float16()),
                "berlin": pa.array(STAMPS, pa.timestamp("us", tz="Europe/Berlin")),
                "india": pa.array(STAMPS, pa.timestamp("ms", tz="+05:30")),
                "utc": pa.array(STAMPS, pa.timestamp("us", tz="UTC")),
            }
        ),
        lake / "acc" / "part-0.parquet",
    )
    target = tmp_path / "target.sqlite"

    summary = migrate(lake, f"sqlite:///{target}")

    assert summary.ok, summary.to_dict()
    assert summary.tables["acc"].rows_inserted == 2
    assert summary.tables["acc"].rows_rejected == 0
    with sqlite3.connect(target) as db:
        rows = db.execute("SELECT Id, half, berlin, india, utc FROM acc ORDER BY Id").fetchall()
    assert rows == [
        ("a", 0.5, *["2024-01-01 00:00:00.0000000"] * 3),
        ("b", -65504.0, *["2024-07-01 12:30:00.0000000"] * 3),
    ]

"""A Parquet file rewritten between the plan's read of its schema and the read of its rows:
the rows of the new version loaded in the old version's columns (a new column dropped), under
the listed version in the ledger (found by review). Every open is pinned to the listed version."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.dbcheck import fetch
from turbodata import migrate
from turbodata.lake.storage import LocalLake

PATH = "acc/part-0.parquet"


def test_a_parquet_file_rewritten_after_the_listing_loads_nothing_of_it(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    (lake / "acc").mkdir(parents=True)
    pq.write_table(pa.table({"Id": ["a", "b"], "name": ["old a", "old b"]}), lake / PATH)
    first_open, opens = LocalLake.open, {"n": 0}

    def rewritten_second(self: LocalLake, path: str, **kwargs: object) -> object:
        if path == PATH:
            opens["n"] += 1
            if opens["n"] == 2:  # a writer rewrites it after the plan read its schema
                newer = {"Id": ["a", "c"], "name": ["new a", "new c"], "extra": [1, 2]}
                pq.write_table(pa.table(newer), lake / PATH)
        return first_open(self, path, **kwargs)

    monkeypatch.setattr(LocalLake, "open", rewritten_second)

    summary = migrate(lake, db_url)

    assert opens["n"] >= 2 and not summary.ok
    assert f"{PATH} changed while it was read" in summary.tables["acc"].error
    monkeypatch.undo()
    again = migrate(lake, db_url)  # the new version, whole, with its new column
    assert again.ok, again.to_dict()
    rows = sorted((r["Id"], r["name"], r["extra"]) for r in fetch(db_url, "acc"))
    assert rows == [("a", "new a", 1), ("c", "new c", 2)]

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
    assert f"{PATH} changed since this run listed it" in summary.tables["acc"].error
    monkeypatch.undo()
    again = migrate(lake, db_url)  # the new version, whole, with its new column
    assert again.ok, again.to_dict()
    rows = sorted((r["Id"], r["name"], r["extra"]) for r in fetch(db_url, "acc"))
    assert rows == [("a", "new a", 1), ("c", "new c", 2)]


@pytest.mark.parametrize("link_to", ["inside", "outside"])
def test_a_linked_folder_is_read_never_left_out(tmp_path: Path, db_url: str, link_to: str) -> None:
    """`list_dir` followed a linked folder and `iter_files` skipped it: its rows were never
    loaded, the run succeeding (found by review). Followed now, inside the lake or out; a
    link back to a folder above it (a loop) is not walked again."""
    lake = tmp_path / "lake"
    (lake / "sales" / "region=east").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1], "amount": [10]}), lake / "sales/region=east/p.parquet")
    target = lake / ".west" if link_to == "inside" else tmp_path / "west"
    target.mkdir(parents=True)
    pq.write_table(pa.table({"id": [2], "amount": [20]}), target / "p.parquet")
    (lake / "sales" / "region=west").symlink_to(target)
    (lake / "sales" / "region=east" / "up").symlink_to(lake / "sales")  # a loop

    summary = migrate(lake, db_url)

    assert summary.ok, summary.to_dict()
    assert sorted((r["id"], r["region"]) for r in fetch(db_url, "sales")) == [
        (1, "east"),
        (2, "west"),
    ]


def test_a_link_to_a_table_folder_beside_a_model_json_changes_nothing(
    tmp_path: Path, db_url: str
) -> None:
    """`latest -> account` in a classic lake: only listed partitions load; refusing the
    link failed every run (found by the session's review)."""
    from tests.lakebuilder import one_account_lake

    lake = one_account_lake(tmp_path / "lake")
    (lake.root / "latest").symlink_to(lake.root / "account")

    assert migrate(lake.root, db_url).ok
    assert len(fetch(db_url, "account")) == 1

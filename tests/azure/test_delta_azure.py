"""Parquet folders and Delta tables in an Azure lake (Azurite, through the blob API)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from azure.storage.blob import ContainerClient
from deltalake import write_deltalake

from tests.azure.conftest import upload_folder
from tests.dbcheck import fetch
from turbodata import migrate
from turbodata.azure_lake import AzureLake


def test_a_parquet_folder_loads_from_azure_and_a_delta_table_says_it_cannot_yet(
    tmp_path: Path, container: ContainerClient, sqlite_url: str
) -> None:
    lake = tmp_path / "lake"
    (lake / "contact" / "year=2024").mkdir(parents=True)
    rows = pa.table({"Id": ["x", "y"], "versionnumber": [1, 2], "age": [30, None]})
    pq.write_table(rows, lake / "contact" / "year=2024" / "part-0.parquet")
    write_deltalake(str(lake / "deltalake" / "account_partitioned"), rows)
    upload_folder(container, lake, "org")

    summary = migrate(AzureLake(container, "org"), sqlite_url)

    got = sorted((r["Id"], r["age"], r["year"]) for r in fetch(sqlite_url, "contact"))
    assert got == [("x", 30, 2024), ("y", None, 2024)]
    assert summary.tables["contact"].status == "loaded"
    assert summary.tables["account"].status == "failed"
    assert "Delta tables are read from local lake folders only" in (
        summary.tables["account"].error or ""
    )

"""Parquet folders and Delta tables in an Azure lake (Azurite, through the blob API)."""

from __future__ import annotations

from pathlib import Path

import azurite_server  # tests/azure/servers, on the path through conftest
import pyarrow as pa
import pyarrow.parquet as pq
from azure.storage.blob import ContainerClient
from deltalake import DeltaTable, write_deltalake

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
    assert "Delta tables are read from local lake folders, or from lakes that give" in (
        summary.tables["account"].error or ""
    )


class DeltaStorageLake(AzureLake):
    """An Azure lake that gives delta-rs its storage: the method AzureLake itself should have
    (account key from the connection string, the blob endpoint Azurite listens on)."""

    def __init__(self, container: ContainerClient, root: str, blob_endpoint: str) -> None:
        super().__init__(container, root)
        self._endpoint = blob_endpoint

    def delta_storage(self) -> tuple[str, dict[str, str]]:
        options = {
            "account_name": azurite_server.ACCOUNT,
            "account_key": azurite_server.WELL_KNOWN_KEY,
            "endpoint": self._endpoint,
            "allow_http": "true",
        }
        return f"az://{self._container.container_name}/{self.root}", options


def test_a_delta_table_in_azure_loads_then_applies_an_append_and_reconciles_a_delete(
    tmp_path: Path, container: ContainerClient, azurite: azurite_server.Azurite, sqlite_url: str
) -> None:
    """Without change data feed: delta-rs's load_cdf from a version > 0 fails against Azurite
    ("Invalid table version"), so the feed is not exercised here."""
    local = tmp_path / "lake"
    table = local / "deltalake" / "account_partitioned"
    first = pa.table({"Id": ["a", "b"], "versionnumber": [1, 2], "IsDelete": [None, None]})
    schema = _with_bool(first.schema)
    write_deltalake(str(table), first.cast(schema))
    upload_folder(container, local, "org")
    lake = DeltaStorageLake(container, "org", azurite.blob_endpoint)
    loaded = migrate(lake, sqlite_url)
    added = pa.table({"Id": ["c"], "versionnumber": [3], "IsDelete": [None]}).cast(schema)
    write_deltalake(str(table), added, mode="append")
    upload_folder(container, local, "org")
    appended = migrate(lake, sqlite_url)
    DeltaTable(str(table)).delete("Id = 'a'")
    upload_folder(container, local, "org")

    reconciled = migrate(lake, sqlite_url)

    assert loaded.ok and appended.ok and reconciled.ok, reconciled.to_dict()
    assert (appended.tables["account"].rows_read, appended.tables["account"].problems) == (1, [])
    assert reconciled.tables["account"].rows_deleted == 1
    assert reconciled.tables["account"].watermark == "delta:2"
    rows = sorted((r["Id"], r["versionnumber"]) for r in fetch(sqlite_url, "account"))
    assert rows == [("b", 2), ("c", 3)]


def _with_bool(schema: pa.Schema) -> pa.Schema:
    return schema.set(schema.get_field_index("IsDelete"), pa.field("IsDelete", pa.bool_()))

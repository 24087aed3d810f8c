"""A file of an older, already-applied timestamp folder that changes on Azure: every blob has
an etag, so a new etag alone says nothing of the rows (a lake copied to another account gives
every file a new one); its size, against the size the ledger kept, does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from azure.storage.blob import ContainerClient

from tests.lakebuilder import attribute, entity, model_json
from turbodata import migrate
from turbodata.lake.azure import AzureLake

COLUMNS = [attribute("Id", "guid"), attribute("name", "string", 50)]
OLD, NEW = "2025-01-01T00.00.00Z", "2025-01-02T00.00.00Z"
ROW_A = "00000000-0000-0000-0000-000000000001,a\n"


def two_folder_lake(container: ContainerClient) -> AzureLake:
    for folder, row in ((OLD, ROW_A), (NEW, "00000000-0000-0000-0000-000000000002,b\n")):
        container.upload_blob(
            f"{folder}/model.json", model_json([entity("t", COLUMNS, [f"{folder}/t/2025.csv"])])
        )
        container.upload_blob(f"{folder}/t/2025.csv", row.encode())
    return AzureLake(container, "")


def names(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [name for (name,) in conn.execute("SELECT name FROM t ORDER BY name")]


@pytest.mark.parametrize("grown", [True, False])
def test_a_grown_blob_in_an_applied_folder_fails_the_table_and_a_copied_one_is_noted(
    container: ContainerClient, tmp_path: Path, grown: bool
) -> None:
    lake, db = two_folder_lake(container), tmp_path / "t.sqlite"
    assert migrate(lake, f"sqlite:///{db}").ok
    late_row = "00000000-0000-0000-0000-000000000009,late\n" if grown else ""
    container.upload_blob(f"{OLD}/t/2025.csv", (ROW_A + late_row).encode(), overwrite=True)

    summary = migrate(lake, f"sqlite:///{db}")

    t = summary.tables["t"]
    if grown:  # skipping it would lose the late row for good, in a run that succeeded
        assert t.status == "failed" and not summary.ok
        assert f"{OLD}/t/2025.csv was added or changed after the table was loaded" in t.error
        reloaded = migrate(lake, f"sqlite:///{db}", reload=["t"])
        assert reloaded.ok and names(db) == ["a", "b", "late"]
    else:  # the same bytes under a new etag: taken as the same file, and said so
        assert summary.ok and t.files_read == 0
        assert "have another fingerprint and the same size" in t.problems[0]
        assert names(db) == ["a", "b"]

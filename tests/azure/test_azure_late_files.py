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
from turbodata.lake.storage import FileChanged

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


def test_a_blob_rewritten_after_the_listing_loads_nothing_until_the_next_run(
    container: ContainerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its new bytes loaded under the listed etag and size (the next run then took it as
    changed), and a blob rewritten between the CSV reader's two opens (its fast path gives
    up, the exact one opens it again) loaded rows of both versions (found by review)."""
    lake, db = two_folder_lake(container), tmp_path / "t.sqlite"
    path = f"{OLD}/t/2025.csv"
    listed_open = AzureLake.open

    def rewritten_first(self: AzureLake, name: str, **kwargs: object) -> object:
        if name == path:  # a writer rewrites it after the plan listed it
            container.upload_blob(path, (ROW_A + "9,late\n").encode(), overwrite=True)
            monkeypatch.setattr(AzureLake, "open", listed_open)
        return listed_open(self, name, **kwargs)

    monkeypatch.setattr(AzureLake, "open", rewritten_first)

    summary = migrate(lake, f"sqlite:///{db}")

    t = summary.tables["t"]
    assert not summary.ok and t.status == "failed"
    assert f"{path} changed after the lake was listed" in t.error, t.error
    again = migrate(lake, f"sqlite:///{db}")  # the new version, with its row 9 rejected
    assert again.tables["t"].rows_rejected == 1 and names(db) == ["a", "b"]


def test_each_open_of_a_listed_blob_reads_the_listed_version(container: ContainerClient) -> None:
    lake = two_folder_lake(container)
    path = f"{OLD}/t/2025.csv"
    listed = lake.stat(path)
    assert listed is not None
    with lake.open(path, listed=listed) as first:
        assert first.read() == ROW_A.encode()
    container.upload_blob(path, b"rewritten\n", overwrite=True)

    with pytest.raises(FileChanged, match="changed after the lake was listed"):
        lake.open(path, listed=listed)
    with lake.open(path) as unpinned:  # metadata documents are read as they are now
        assert unpinned.read() == b"rewritten\n"

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


def test_a_blob_rewritten_between_two_opens_of_one_read_loads_nothing_of_it(
    container: ContainerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CSV reader opens a file again where its fast path gives up: each open downloaded
    whatever the blob held then, and a blob rewritten in between loaded rows of both
    versions (found by review). Every open of one read is pinned to the first one's etag."""
    lake, db = two_folder_lake(container), tmp_path / "t.sqlite"
    path = f"{OLD}/t/2025.csv"
    keys = [f"00000000-0000-0000-0000-{n:012d}" for n in range(600)]  # past the tiny-file size

    def version(name: str) -> bytes:
        return ("".join(f"{key},{name}\n" for key in keys) + "short\n").encode()

    container.upload_blob(path, version("a"), overwrite=True)  # the exact path opens it again
    first_open = AzureLake.open
    opens = {"n": 0}

    def rewritten_second(self: AzureLake, name: str, **kwargs: object) -> object:
        if name == path:
            opens["n"] += 1
            if opens["n"] == 2:  # a writer rewrites it between the two opens
                container.upload_blob(path, version("new"), overwrite=True)
        return first_open(self, name, **kwargs)

    monkeypatch.setattr(AzureLake, "open", rewritten_second)

    summary = migrate(lake, f"sqlite:///{db}")

    t = summary.tables["t"]
    assert opens["n"] == 2 and not summary.ok and t.status == "failed"
    assert f"{path} changed since this run listed it" in t.error, t.error
    monkeypatch.undo()
    again = migrate(lake, f"sqlite:///{db}")  # the new version, whole
    assert again.tables["t"].rows_rejected == 1 and set(names(db)) == {"b", "new"}


def test_a_blob_rewritten_after_the_listing_fails_its_table_until_the_next_run(
    container: ContainerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blob changed between the plan's listing and the read may be a rewrite cut short
    (ADLS creates a file empty, then appends): its rows were loaded as they stood, and a
    snapshot's table lost the rows the cut file lacked, in a run that succeeded (found by
    review). It now fails its table; the next run lists the new version and loads it, and the
    ledger names that version."""
    lake, db = two_folder_lake(container), tmp_path / "t.sqlite"
    path = f"{OLD}/t/2025.csv"
    first_open = AzureLake.open

    def rewritten_first(self: AzureLake, name: str, **kwargs: object) -> object:
        if name == path:  # a writer rewrites it after the plan listed it
            container.upload_blob(
                path, (ROW_A + ROW_A.replace("1,a", "9,z")).encode(), overwrite=True
            )
            monkeypatch.setattr(AzureLake, "open", first_open)
        return first_open(self, name, **kwargs)

    monkeypatch.setattr(AzureLake, "open", rewritten_first)

    refused = migrate(lake, f"sqlite:///{db}")

    t = refused.tables["t"]
    assert t.status == "failed" and not refused.ok
    assert f"{path} changed since this run listed it" in t.error
    assert migrate(lake, f"sqlite:///{db}").ok
    assert names(db) == ["a", "b", "z"]
    with sqlite3.connect(db) as conn:
        [(etag,)] = conn.execute("SELECT etag FROM _turbodata_files WHERE path = ?", (path,))
    assert etag == lake.stat(path).etag
    again = migrate(lake, f"sqlite:///{db}")
    assert again.ok and again.tables["t"].files_read == 0


def test_each_open_of_a_version_reads_that_version(container: ContainerClient) -> None:
    lake = two_folder_lake(container)
    path = f"{OLD}/t/2025.csv"
    with lake.open(path) as first:
        version = lake.opened_version(first, path)
        assert first.read() == ROW_A.encode()
    assert version == lake.stat(path)
    with lake.open(path, version=version) as again:  # the same version opens again
        assert again.read() == ROW_A.encode()
    container.upload_blob(path, b"rewritten\n", overwrite=True)

    with pytest.raises(FileChanged, match="changed since this run listed it"):
        lake.open(path, version=version)
    with lake.open(path) as unpinned:
        assert unpinned.read() == b"rewritten\n"


def test_a_parquet_blob_rewritten_after_the_listing_loads_nothing_of_it(
    container: ContainerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan reads a Parquet file's schema, the load its rows: each open is pinned to the
    listed etag, so a rewrite in between fails the table instead of loading the new rows in
    the old columns under the old etag (found by review)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    def parquet(table: pa.Table) -> bytes:
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return buffer.getvalue()

    path = "acc/part-0.parquet"
    container.upload_blob(path, parquet(pa.table({"Id": ["a"], "name": ["old"]})))
    lake, db = AzureLake(container, ""), tmp_path / "t.sqlite"
    first_open = AzureLake.open
    opens = {"n": 0}

    def rewritten_second(self: AzureLake, name: str, **kwargs: object) -> object:
        if name == path:
            opens["n"] += 1
            if opens["n"] == 2:
                newer = pa.table({"Id": ["b"], "name": ["new"], "extra": [1]})
                container.upload_blob(path, parquet(newer), overwrite=True)
        return first_open(self, name, **kwargs)

    monkeypatch.setattr(AzureLake, "open", rewritten_second)

    summary = migrate(lake, f"sqlite:///{db}")

    assert opens["n"] >= 2 and not summary.ok
    assert f"{path} changed since this run listed it" in summary.tables["acc"].error
    monkeypatch.undo()
    assert migrate(lake, f"sqlite:///{db}").ok
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT Id, name, extra FROM acc").fetchall() == [("b", "new", 1)]

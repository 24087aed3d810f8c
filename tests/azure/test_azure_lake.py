"""AzureLake: location parsing, and listing / stat / streamed reads against Azurite."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import ContainerClient
from throttle_proxy import ThrottlingProxy

from turbodata import secrets
from turbodata.lake.azure import AzureLake, AzureLakeError, AzureLocation
from turbodata.lake.storage import FileChanged, read_bytes
from turbodata.settings import Settings, open_lake

MiB = 1024 * 1024


# -- locations (no network) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("abfs://raw/dataverse/org1", AzureLocation("abfs", "raw", "dataverse/org1")),
        ("az://raw", AzureLocation("az", "raw", "")),
        (
            "abfss://raw@myacct.dfs.core.windows.net/d/",
            AzureLocation("abfss", "raw", "d", "myacct", "core.windows.net"),
        ),
        (
            "abfs://raw@myacct.blob.core.chinacloudapi.cn/x//y",
            AzureLocation("abfs", "raw", "x/y", "myacct", "core.chinacloudapi.cn"),
        ),
        ("abfs://raw@myacct/p", AzureLocation("abfs", "raw", "p", "myacct", "core.windows.net")),
    ],
)
def test_locations_parse(location: str, expected: AzureLocation) -> None:
    assert AzureLocation.parse(location) == expected


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("abfs:///path", "no container"),
        ("abfs://c@acct.file.core.windows.net/p", "CONTAINER@ACCOUNT"),
        ("abfs://c/p?sv=2024&sig=abc", "no query string"),
        ("s3://bucket/p", "not an abfs"),
    ],
)
def test_bad_locations_say_what_is_wrong(location: str, message: str) -> None:
    with pytest.raises(AzureLakeError, match=message):
        AzureLocation.parse(location)


def test_account_comes_from_the_url_or_the_setting(credential: Any) -> None:
    lake = AzureLake.from_url(
        "abfs://raw@acct1.dfs.core.windows.net/org", Settings(credential=credential)
    )
    assert lake._container.url == "https://acct1.blob.core.windows.net/raw"
    assert lake.url == "abfs://raw@acct1.dfs.core.windows.net/org"
    lake = AzureLake.from_url(
        "abfs://raw/org", Settings(storage_account="acct2", credential=credential)
    )
    assert lake._container.url == "https://acct2.blob.core.windows.net/raw"
    assert lake._container.credential is credential  # the app's credential, no key


def test_blob_endpoint_setting_replaces_the_endpoint(credential: Any) -> None:
    settings = Settings(storage_blob_endpoint="https://pe.example.net/acct", credential=credential)
    lake = AzureLake.from_url("abfs://raw/org", settings)
    assert lake._container.url == "https://pe.example.net/acct/raw"


def test_missing_account_is_a_clear_error(credential: Any) -> None:
    with pytest.raises(AzureLakeError, match="TURBODATA_STORAGE_ACCOUNT"):
        AzureLake.from_url("abfs://raw/org", Settings(credential=credential))


# -- against Azurite --------------------------------------------------------------------------


@pytest.fixture
def lake_settings(azurite: Any) -> Settings:
    return Settings(storage_connection_string=azurite.connection_string)


@pytest.fixture
def seeded(container: ContainerClient) -> ContainerClient:
    """A container shaped like an HNS export: folder placeholder blobs included."""
    blobs = {
        "org/model.json": b'{"name": "cdm"}',
        "org/account/2024-01.csv": b"1,a\n2,b\n",
        "org/account/2024-02.csv": b"3,c\n",
        "org/contact/2024.csv": b"x\n",
        "org/2024-05-01T10.00.00Z/account/part.csv": b"4,d\n",
        "orgsibling/not-mine.csv": b"no\n",  # shares the text prefix "org", not the folder
        "top.csv": b"outside the lake root\n",
    }
    for name, data in blobs.items():
        container.upload_blob(name, data)
    for folder in ("org", "org/account", "org/contact", "org/empty", "org/2024-05-01T10.00.00Z"):
        container.upload_blob(folder, b"", metadata={"hdi_isfolder": "true"})
    container.upload_blob("org/marker/", b"")  # a directory marker blob (non-HNS tools)
    return container


def lake_for(
    container: ContainerClient, settings: Settings, root: str = "org", **kw: Any
) -> AzureLake:
    return AzureLake.from_url(f"abfs://{container.container_name}/{root}", settings, **kw)


def test_list_dir_gives_folders_and_files_of_one_level(
    seeded: ContainerClient, lake_settings: Settings
) -> None:
    lake = lake_for(seeded, lake_settings)
    root = lake.list_dir()
    assert root.folders == ["2024-05-01T10.00.00Z", "account", "contact", "empty", "marker"]
    assert [f.path for f in root.files] == ["model.json"]
    account = lake.list_dir("account")
    assert account.folders == []
    assert [(f.path, f.size) for f in account.files] == [
        ("account/2024-01.csv", 8),
        ("account/2024-02.csv", 4),
    ]
    assert lake.list_dir("nothing/here").folders == lake.list_dir("nothing").files == []
    assert lake.list_dir("marker").files == lake.list_dir("marker").folders == []


def test_iter_files_is_recursive_sorted_and_skips_placeholders(
    seeded: ContainerClient, lake_settings: Settings
) -> None:
    lake = lake_for(seeded, lake_settings)
    assert [f.path for f in lake.iter_files()] == [
        "2024-05-01T10.00.00Z/account/part.csv",
        "account/2024-01.csv",
        "account/2024-02.csv",
        "contact/2024.csv",
        "model.json",
    ]
    assert [f.path for f in lake.iter_files("account")] == [
        "account/2024-01.csv",
        "account/2024-02.csv",
    ]
    whole = lake_for(seeded, lake_settings, root="")
    assert "top.csv" in [f.path for f in whole.iter_files()]


def test_stat_gives_size_time_and_etag_and_etag_changes_on_rewrite(
    seeded: ContainerClient, lake_settings: Settings
) -> None:
    lake = lake_for(seeded, lake_settings)
    info = lake.stat("account/2024-02.csv")
    assert info is not None
    assert (info.path, info.size) == ("account/2024-02.csv", 4)
    assert info.modified.tzinfo is not None and info.modified.utcoffset() == UTC.utcoffset(None)
    listed = {f.path: f for f in lake.iter_files("account")}
    assert listed[info.path] == info  # listing and stat agree (etag without quotes in both)
    assert info.etag and not info.etag.startswith('"')

    seeded.upload_blob("org/account/2024-02.csv", b"3,c\n", overwrite=True)  # same bytes
    again = lake.stat("account/2024-02.csv")
    assert again is not None and again.etag != info.etag
    assert again.fingerprint != info.fingerprint


def test_stat_of_missing_file_or_folder_placeholder_is_none(
    seeded: ContainerClient, lake_settings: Settings
) -> None:
    lake = lake_for(seeded, lake_settings)
    assert lake.stat("account/nope.csv") is None
    assert lake.stat("account") is None  # a folder, not a file
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        lake.open("nope.csv")
    with pytest.raises(ValueError, match="escapes"):
        lake.stat("../top.csv")


def test_small_files_read_whole(seeded: ContainerClient, lake_settings: Settings) -> None:
    lake = lake_for(seeded, lake_settings)
    assert read_bytes(lake, "account/2024-01.csv") == b"1,a\n2,b\n"
    with lake.open("account/2024-01.csv") as stream:
        assert stream.readline() == b"1,a\n"
        assert stream.read() == b"2,b\n"


def test_streams_seek_with_ranged_downloads(
    seeded: ContainerClient, lake_settings: Settings
) -> None:
    """The reader rewinds a file to re-read it on its exact path; seeking must work."""
    lake = lake_for(seeded, lake_settings)
    with lake.open("account/2024-01.csv") as stream:
        assert stream.seekable()
        assert stream.read(4) == b"1,a\n"
        assert stream.seek(0) == 0
        assert stream.read() == b"1,a\n2,b\n"
        assert stream.seek(2) == 2 and stream.read(2) == b"a\n"
        assert stream.tell() == 4
        assert stream.seek(-4, io.SEEK_END) == 4 and stream.read() == b"2,b\n"
        assert stream.seek(100) == 100 and stream.read() == b""


@pytest.mark.parametrize("then", ["read on", "seek back"])
def test_a_blob_rewritten_while_open_fails_instead_of_mixing_versions(
    container: ContainerClient, lake_settings: Settings, then: str
) -> None:
    container.upload_blob("org/t/part.csv", os.urandom(64 * 1024))
    lake = lake_for(container, lake_settings, chunk_size=16 * 1024)
    with lake.open("t/part.csv") as stream:
        stream.read(10)
        container.upload_blob("org/t/part.csv", os.urandom(64 * 1024), overwrite=True)
        with pytest.raises(FileChanged, match=r"t/part\.csv changed since this run listed it"):
            if then == "seek back":
                stream.seek(0)
                stream.seek(30_000)  # past the buffered bytes: a new ranged download
            stream.read()


def test_an_empty_blob_opens_as_its_listed_version(container: ContainerClient) -> None:
    """Its first range is refused (416: an empty blob has no byte 0); read as a whole."""
    container.upload_blob("t/empty.csv", b"")
    lake = AzureLake(container, "")
    listed = lake.stat("t/empty.csv")
    assert listed is not None
    with lake.open("t/empty.csv", version=listed) as stream:
        assert stream.read() == b""
        assert lake.opened_version(stream, "t/empty.csv") == listed


def test_a_blob_deleted_while_open_fails_naming_it(
    container: ContainerClient, lake_settings: Settings
) -> None:
    """A later range of a blob deleted meanwhile failed with the SDK's words alone, naming no
    file (found by review); Azurite answers the etag-pinned range with "condition not met",
    which is the file changed since it was listed."""
    container.upload_blob("org/t/part.csv", os.urandom(64 * 1024))
    lake = lake_for(container, lake_settings, chunk_size=16 * 1024)
    with lake.open("t/part.csv") as stream:
        stream.read(10)
        container.delete_blob("org/t/part.csv")
        with pytest.raises(FileChanged, match=r"t/part\.csv changed since this run listed it"):
            stream.read()


class RecordingTransport(RequestsTransport):
    """Records each response's size and every retry back-off instead of sleeping."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gets: list[int] = []
        self.sleeps: list[float] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        if request.method == "GET" and "x-ms-range" in request.headers:
            self.gets.append(int(response.headers.get("Content-Length", 0)))
        return response

    def sleep(self, duration: float) -> None:
        self.sleeps.append(duration)


@pytest.fixture
def big_blob(container: ContainerClient) -> tuple[str, str]:
    """A 24 MiB blob: twice the memory bound the streaming test allows. Returns its sha256."""
    digest = hashlib.sha256()
    blob = container.get_blob_client("org/big/part-000.csv")
    blocks = []
    for i in range(24):
        block = os.urandom(MiB)
        digest.update(block)
        blocks.append(f"{i:08d}")
        blob.stage_block(blocks[-1], block)
    blob.commit_block_list(blocks)
    return "big/part-000.csv", digest.hexdigest()


def test_large_blob_streams_in_bounded_ranged_gets(
    big_blob: tuple[str, str], container: ContainerClient, lake_settings: Settings
) -> None:
    path, expected = big_blob
    transport = RecordingTransport()
    lake = lake_for(container, lake_settings, chunk_size=1 * MiB, transport=transport)
    with lake.open(path) as stream:
        head = stream.read(100)
        assert len(head) == 100
        assert transport.gets == [1 * MiB]  # one chunk fetched so far, not the blob
        digest = hashlib.sha256(head)
        while block := stream.read(256 * 1024):
            digest.update(block)
    assert digest.hexdigest() == expected
    assert transport.gets == [1 * MiB] * 24


def test_peak_memory_does_not_grow_with_the_file(
    big_blob: tuple[str, str], container: ContainerClient, lake_settings: Settings
) -> None:
    """The SDK holds a chunk plus a transient list of 8 bytes per chunk byte (see azure_lake)."""
    path, expected = big_blob
    lake = lake_for(container, lake_settings, chunk_size=1 * MiB)
    tracemalloc.start()
    try:
        digest = hashlib.sha256()
        with lake.open(path) as stream:
            while block := stream.read(64 * 1024):
                digest.update(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == expected
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB while streaming a 24 MiB blob"


def test_throttling_is_retried_with_backoff(
    seeded: ContainerClient, azurite: Any, make_throttled: Callable[[int], ThrottlingProxy]
) -> None:
    proxy = make_throttled(3)
    settings = Settings(
        storage_connection_string=azurite.connection_string.replace(
            azurite.blob_endpoint, proxy.url
        )
    )
    transport = RecordingTransport()
    lake = lake_for(seeded, settings, transport=transport)  # the default retry policy
    assert [f.path for f in lake.iter_files("account")] == [
        "account/2024-01.csv",
        "account/2024-02.csv",
    ]
    assert proxy.statuses[:4] == [503, 503, 503, 200]
    assert len(transport.sleeps) == 3
    assert all(s >= 10 for s in transport.sleeps)  # exponential back-off, from ~15 s up


@pytest.fixture
def make_throttled(azurite: Any) -> Any:
    proxies: list[ThrottlingProxy] = []

    def make(busy: int) -> ThrottlingProxy:
        proxies.append(ThrottlingProxy(azurite.blob_endpoint, busy))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.stop()


# -- where the connection string comes from ---------------------------------------------------


def test_connection_string_is_read_from_key_vault(
    seeded: ContainerClient,
    azurite: Any,
    keyvault: Any,
    make_settings: Callable[..., Settings],
    secret_name: str,
) -> None:
    keyvault.set_secret(secret_name, azurite.connection_string)
    settings = make_settings({"TURBODATA_STORAGE_CONNECTION_STRING_SECRET": secret_name})
    lake = settings.open_lake(f"abfs://{seeded.container_name}/org")
    assert isinstance(lake, AzureLake)
    assert [f.path for f in lake.list_dir().files] == ["model.json"]
    assert keyvault.secret_reads().count(secret_name) == 1
    key = azurite.connection_string.split("AccountKey=")[1].split(";")[0]
    assert secrets.redact(f"key {key}") == "key ***"


def test_open_lake_uses_environment_settings(
    seeded: ContainerClient, azurite: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI path: `open_lake("abfs://...")` with settings from the environment."""
    monkeypatch.setenv("TURBODATA_STORAGE_CONNECTION_STRING", azurite.connection_string)
    lake = open_lake(f"abfs://{seeded.container_name}/org/account")
    assert [f.path for f in lake.iter_files()] == ["2024-01.csv", "2024-02.csv"]


def test_connection_string_for_another_account_is_refused(
    seeded: ContainerClient, lake_settings: Settings
) -> None:
    with pytest.raises(AzureLakeError, match="otheracct"):
        AzureLake.from_url(
            f"abfs://{seeded.container_name}@otheracct.dfs.core.windows.net/org", lake_settings
        )


def test_missing_azurite_fails_with_the_setup_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import azurite_server

    monkeypatch.setattr(azurite_server, "AZURITE_BIN", tmp_path / "no-azurite")
    with pytest.raises(FileNotFoundError, match=r"run \./scripts/test"):
        azurite_server.start()

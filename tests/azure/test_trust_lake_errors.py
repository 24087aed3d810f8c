"""Azure lake mistakes end fast in one line naming the account, the container and the fix."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import ContainerClient

from turbodata import pipeline
from turbodata.lake.azure import AzureLake, AzureLakeError, abfs_for_web_url
from turbodata.settings import Settings

CHAIN_WARNING = "DefaultAzureCredential failed to retrieve a token from the included credentials."


class NoCredential:
    """What DefaultAzureCredential does on a machine with no sign-in: warn, then raise."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        logging.getLogger("azure.identity._credentials.chained").warning(
            CHAIN_WARNING + "\nAttempted credentials:\n\tAzureCliCredential: Azure CLI not found"
        )
        raise ClientAuthenticationError(CHAIN_WARNING)


class Sleeps(RequestsTransport):
    """The SDK's transport, with every retry back-off recorded instead of slept."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, duration: float) -> None:
        self.sleeps.append(duration)


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and "<?xml" not in text and len(text) < 400, text
    return text


# -- a container that does not exist -----------------------------------------------------------


@pytest.fixture
def missing_container(azurite: Any) -> AzureLake:
    settings = Settings(storage_connection_string=azurite.connection_string)
    return AzureLake.from_url("abfs://nosuchcontainer/org", settings)


@pytest.mark.parametrize(
    "operation",
    [
        lambda lake: lake.list_dir(),
        lambda lake: list(lake.iter_files()),
        lambda lake: lake.stat("model.json"),  # was None: a missing container read as no file
        lambda lake: lake.open("model.json"),
    ],
)
def test_a_wrong_container_is_one_line_naming_account_container_and_fix(
    missing_container: AzureLake, operation: Callable[[AzureLake], Any]
) -> None:
    with pytest.raises(AzureLakeError) as caught:
        operation(missing_container)
    message = one_line(caught.value)
    assert "'nosuchcontainer'" in message and "'devstoreaccount1'" in message
    assert "does not exist" in message and "check the container name" in message


def test_a_run_on_a_wrong_container_fails_with_that_line(missing_container: AzureLake) -> None:
    with pytest.raises(AzureLakeError, match="'nosuchcontainer' in storage account"):
        pipeline.migrate(missing_container, "sqlite://")


def test_a_missing_blob_in_an_existing_container_is_still_just_missing(
    container: ContainerClient, azurite: Any
) -> None:
    settings = Settings(storage_connection_string=azurite.connection_string)
    lake = AzureLake.from_url(f"abfs://{container.container_name}/org", settings)
    assert lake.stat("nope.csv") is None
    assert lake.list_dir().files == []
    with pytest.raises(FileNotFoundError):
        lake.open("nope.csv")


# -- no Azure credential -----------------------------------------------------------------------


def test_no_credential_fails_at_once_saying_az_login(caplog: pytest.LogCaptureFixture) -> None:
    """Was: 7 attempts with back-offs of 15 s and more (about 400 s), the warning each time."""
    credential, transport = NoCredential(), Sleeps()
    lake = AzureLake.from_url(
        "abfs://raw@acct.dfs.core.windows.net/org",
        Settings(credential=credential),
        transport=transport,
    )
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), pytest.raises(AzureLakeError) as caught:
        lake.list_dir()
    assert time.monotonic() - started < 5
    assert credential.calls == 1 and transport.sleeps == []
    message = one_line(caught.value)
    assert "`az login`" in message and "TURBODATA_STORAGE_CONNECTION_STRING_SECRET" in message
    assert "'raw'" in message and "'acct'" in message
    assert CHAIN_WARNING not in caplog.text  # the one line says it; -v shows the chain


def test_the_credential_chain_is_still_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    lake = AzureLake.from_url(
        "abfs://raw@acct.dfs.core.windows.net/org", Settings(credential=NoCredential())
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(AzureLakeError):
        lake.list_dir()
    assert "Azure CLI not found" in caplog.text


def test_no_credential_over_http_is_a_500_naming_the_fix(
    functions_index: dict[str, Any], tmp_path: Path, use_settings: Callable[[Settings], None]
) -> None:
    use_settings(
        Settings(
            lake="abfs://raw@acct.dfs.core.windows.net/org",
            database_url=f"sqlite:///{tmp_path}/t.sqlite",
            credential=NoCredential(),
        )
    )
    started = time.monotonic()
    req = func.HttpRequest(method="POST", url="/api/migrate", body=b"{}")
    resp = functions_index["migrate"].get_user_function()(req)
    assert time.monotonic() - started < 5
    assert resp.status_code == 500
    assert "az login" in json.loads(resp.get_body())["error"]


# -- a host that does not resolve (a mistyped account) -----------------------------------------


def test_an_unresolvable_host_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    class Token:
        def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("t", 2**31)

    transport = Sleeps()
    settings = Settings(storage_blob_endpoint="https://nosuchhost.invalid/acct", credential=Token())
    lake = AzureLake.from_url("abfs://raw/org", settings, transport=transport)
    with pytest.raises(AzureLakeError) as caught:
        lake.list_dir()
    message = one_line(caught.value)
    assert "nosuchhost.invalid" in message and "does not resolve" in message
    assert transport.sleeps == []


# -- https:// URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "suggested"),
    [
        (
            "https://acct.blob.core.windows.net/dataverse-org/model?sv=1&sig=SECRET",
            "abfs://dataverse-org@acct.dfs.core.windows.net/model",
        ),
        ("https://acct.dfs.core.windows.net/raw", "abfs://raw@acct.dfs.core.windows.net"),
        ("http://example.org/x", "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH"),
    ],
)
def test_an_https_lake_says_which_abfs_url_to_write(url: str, suggested: str) -> None:
    assert abfs_for_web_url(url) == suggested
    with pytest.raises(AzureLakeError) as caught:
        Settings().open_lake(url)
    message = one_line(caught.value)
    assert suggested in message and "SECRET" not in message


def test_an_https_lake_over_http_is_a_400_with_the_abfs_url(
    functions_index: dict[str, Any], use_settings: Callable[[Settings], None]
) -> None:
    use_settings(Settings(storage_account="acct"))
    body = json.dumps({"lake": "https://acct.blob.core.windows.net/raw/org"}).encode()
    req = func.HttpRequest(method="POST", url="/api/migrate", body=body)
    resp = functions_index["migrate"].get_user_function()(req)
    assert resp.status_code == 400
    assert "abfs://raw@acct.dfs.core.windows.net/org" in json.loads(resp.get_body())["error"]


def test_a_wrong_account_key_is_one_line_about_access(
    container: ContainerClient, azurite: Any
) -> None:
    wrong_key = "A" * 86 + "=="
    connection_string = azurite.connection_string.replace(
        azurite.connection_string.split("AccountKey=")[1].split(";")[0], wrong_key
    )
    settings = Settings(storage_connection_string=connection_string)
    lake = AzureLake.from_url(f"abfs://{container.container_name}/org", settings)
    started = time.monotonic()
    with pytest.raises(AzureLakeError) as caught:
        lake.list_dir()
    assert time.monotonic() - started < 5
    message = one_line(caught.value)
    assert "refused" in message and container.container_name in message
    assert wrong_key not in message
